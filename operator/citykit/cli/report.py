"""`citykit report CITY -o FILE.html`: the programme office's page, from the cluster or, with
`--from-file`, from a blueprint alone (plan only). `citykit.core.office.report` decides what it
says; this module reads the cluster and renders the packaged Jinja2 template into one file that
loads nothing (cities run air-gapped): inline CSS, inline SVG, no scripts, fonts or images.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import click
import jinja2

from citykit import __version__
from citykit.api.names import API_VERSION, INITIATIVE, KPI_REPORT, city_namespace
from citykit.cli.citylookup import PROJECT_DIR, city_blueprint
from citykit.cli.say import say
from citykit.cli.userfiles import write_file
from citykit.core.load.errors import CitykitError, Problem
from citykit.core.load.source import from_data
from citykit.core.model.validation import ValidatedBlueprint, validate, validate_file
from citykit.core.office.report import assemble

TEMPLATE = "report.html.j2"


def render(content: dict[str, Any]) -> str:
    """The report page for `content` (from `core.office.report.assemble`); text is escaped,
    the SVG that core.office.svg built (escaped there) goes in as it is."""
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("citykit", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return environment.get_template(TEMPLATE).render(**content, version=__version__)


@click.command()
@click.argument("city", required=False)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    help="The HTML file to write (default: CITY-report.html in the current folder).",
)
@click.option(
    "--from-file",
    "blueprint_file",
    metavar="BLUEPRINT",
    help="Report on blueprint FILE (or example city name) alone, without a cluster: plan only.",
)
@PROJECT_DIR
def report(
    city: str | None, output: Path | None, blueprint_file: str | None, project: Path
) -> None:
    """Write CITY's rollout and KPI report as one self-contained HTML file."""
    now = datetime.datetime.now(datetime.UTC)
    inputs: list[Path] = []
    if blueprint_file:
        path = city_blueprint(blueprint_file, project, "--from-file")
        inputs.append(path)
        validated = validate_file(path)
        content = assemble(validated, today=now.date(), generated=now, source=f"blueprint {path}")
    elif city:
        validated, content = _from_cluster(city, now)
    else:
        raise CitykitError(
            Problem.argument("CITY", "name a CITY (from the cluster) or --from-file")
        )
    target = output or Path(f"{validated.blueprint.name}-report.html")
    write_file(target, render(content), inputs=inputs)
    say(
        f"wrote {target}: {len(content['initiatives'])} initiatives, "
        f"{len(content['kpis'])} KPI targets" + (" (plan only)" if content["plan_only"] else "")
    )


def _from_cluster(city: str, now: datetime.datetime) -> tuple[ValidatedBlueprint, dict[str, Any]]:
    from citykit import kube
    from citykit.cli.kpi import city_blueprint as read_blueprint

    client = kube.dynamic_client()
    stored = read_blueprint(client, city)
    validated = validate(from_data(f"cityblueprint/{city}", stored))
    namespace = city_namespace(city)
    initiatives = kube.list_objects(client, API_VERSION, INITIATIVE, namespace)
    events = [
        *kube.list_objects(client, "v1", "Event", namespace),
        *kube.list_objects(client, "v1", "Event", "default"),  # a cluster-scoped blueprint's
    ]
    content = assemble(
        validated,
        today=now.date(),
        generated=now,
        source=f"the cluster (cityblueprint/{city})",
        blueprint_status=stored.get("status") or {},
        initiatives=initiatives,
        reports=kube.list_objects(client, API_VERSION, KPI_REPORT, namespace),
        events=events,
    )
    return validated, content
