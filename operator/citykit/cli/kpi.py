"""`citykit kpi record | check`: a city's measured KPI values, as KpiReport objects in its
namespace, where the operator folds them with the blueprint's targets into verdicts.

`record` checks what it writes as the API server would (the schema and the catalogue's CEL
rules), and more: the KPI must be one the city targets or moves, and the day must have come.
A pipeline that writes KpiReport files for `kubectl apply` checks them first with `check`.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping
from typing import Any

import click

from citykit.api import jsonschemas
from citykit.api.enums import Phase
from citykit.api.names import (
    API_VERSION,
    CITY_BLUEPRINT,
    KPI_REPORT,
    city_labels,
    city_namespace,
)
from citykit.cli.say import say
from citykit.core.load import schemas
from citykit.core.load.errors import CitykitError, Problem, shown
from citykit.core.load.source import from_data, load_file
from citykit.core.model.catalogue import load_catalogue
from citykit.core.office import kpi

DEFAULT_SOURCE = "recorded with citykit kpi record"
# Where each field of a report came from on the command line, for the one-line messages.
ARGUMENTS = {
    "spec.kpi": "KPI",
    "spec.value": "VALUE",
    "spec.date": "--date",
    "spec.period": "--period",
    "spec.source": "--source",
    "spec": "--date/--period",
}


@click.group("kpi")
def kpi_group() -> None:
    """Record and check a city's measured KPI values (KpiReports)."""


def report_manifest(
    city: str, kpi_id: str, value: float, when: Mapping[str, str], source: str
) -> dict[str, Any]:
    """The KpiReport `record` writes: named `<kpi>-<date or period>`, so recording the same KPI
    for the same day again corrects the value instead of adding a second one."""
    stamp = "-".join(when.values()).lower()
    return {
        "apiVersion": API_VERSION,
        "kind": KPI_REPORT,
        "metadata": {
            "name": f"{kpi_id}-{stamp}",
            "namespace": city_namespace(city),
            "labels": city_labels(city),
        },
        "spec": {"kpi": kpi_id, **when, "value": value, "source": source},
    }


def _refusal(field: str, message: str) -> Problem:
    return Problem.argument(ARGUMENTS.get(field, field), message)


def parse_value(text: str) -> float | int:
    """VALUE as a number (an integer stays one), or a one-line refusal."""
    try:
        number: float | int = int(text)
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            raise CitykitError(_refusal("spec.value", f"{shown(text)} is not a number")) from None
    if not math.isfinite(number):
        raise CitykitError(_refusal("spec.value", f"{shown(text)} is not a finite number"))
    return number


# A VALUE may be negative (°C of an urban heat island, a change in a rate): an unknown "option"
# such as -1 or -0.5 is then taken as the argument it is, not refused as an option.
@kpi_group.command("record", context_settings={"ignore_unknown_options": True})
@click.argument("city")
@click.argument("kpi_id", metavar="KPI")
@click.argument("value")
@click.option("--date", "day", metavar="YYYY-MM-DD", help="Day measured (default: today, UTC).")
@click.option("--period", metavar="PERIOD", help="Or the period covered: 2025, 2025-Q3 or 2025-07.")
@click.option(
    "--source", default=DEFAULT_SOURCE, show_default=True, help="Where the value comes from."
)
def record(
    city: str, kpi_id: str, value: str, day: str | None, period: str | None, source: str
) -> None:
    """Record VALUE of KPI for CITY as a KpiReport in the city's namespace."""
    from citykit import kube

    today = datetime.datetime.now(datetime.UTC).date()
    when = {"date": day or today.isoformat()} if day or not period else {}
    if period:
        when["period"] = period  # with --date too: refused below, as the API server would
    manifest = report_manifest(city, "kpi-report", parse_value(value), when, source)
    manifest["spec"]["kpi"] = kpi_id
    # the arguments' own form first: a bad --date is refused as one, cluster or none
    checked = schemas.check(from_data("citykit kpi record", manifest), jsonschemas.KPI_REPORT)
    # the name is made of --date or --period: a problem of theirs is told once, as theirs
    told = [problem for problem in checked if not problem.path.startswith("metadata.")]
    if checked:
        raise CitykitError([_refusal(problem.path, problem.message) for problem in told or checked])
    client = kube.dynamic_client()
    blueprint = city_blueprint(client, city)
    spec = blueprint.get("spec") or {}
    refs = [item["ref"] for item in spec.get("initiatives", []) if item.get("enabled", True)]
    catalogue = load_catalogue(spec.get("catalogueVersion"))  # the version the city pins
    allowed = kpi.city_kpis(spec.get("kpiTargets", []), refs, catalogue)
    problems = [
        _refusal(".".join(map(str, path)), message)
        for path, message in kpi.report_problems(manifest["spec"], catalogue, today, allowed)
    ]
    if problems:
        raise CitykitError(problems)
    manifest = report_manifest(city, kpi_id, manifest["spec"]["value"], when, source)
    kube.apply(client, manifest)
    unit = catalogue.kpis[kpi_id].unit
    say(
        f"kpireport/{manifest['metadata']['name']} recorded in {city_namespace(city)}: "
        f"{kpi_id} = {value} {unit} ({'-'.join(when.values())})"
    )


def city_kpi_status(
    client: Any, blueprint: Mapping[str, Any], initiatives: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """`status.kpis` as the operator wrote it; while it has not (no operator running, or one
    without KPI verdicts), the same fold of the city's KpiReports, computed here for today."""
    written = (blueprint.get("status") or {}).get("kpis")
    if written is not None:
        return list(written)
    from citykit import kube

    city = blueprint["metadata"]["name"]
    spec = blueprint.get("spec") or {}
    reports = kube.list_objects(client, API_VERSION, KPI_REPORT, city_namespace(city))
    today = datetime.datetime.now(datetime.UTC).date()
    phases = initiative_phases(spec, initiatives)
    catalogue = load_catalogue(spec.get("catalogueVersion"))
    return kpi.kpi_status(spec.get("kpiTargets", []), reports, catalogue, phases, today)


def initiative_phases(spec: Mapping[str, Any], initiatives: list[dict[str, Any]]) -> dict[str, str]:
    """Each enabled initiative of the blueprint `spec` -> its phase (Pending until it exists)."""
    seen = {
        (item.get("spec") or {}).get("ref"): (item.get("status") or {}).get("phase", Phase.PENDING)
        for item in initiatives
    }
    return {
        item["ref"]: seen.get(item["ref"]) or Phase.PENDING
        for item in spec.get("initiatives", [])
        if item.get("enabled", True)
    }


def city_blueprint(client: Any, city: str) -> dict[str, Any]:
    from kubernetes.client.exceptions import ApiException

    from citykit import kube

    try:
        return kube.read(client, API_VERSION, CITY_BLUEPRINT, city)
    except ApiException as error:
        if error.status != 404:
            raise
    raise CitykitError(
        _refusal("CITY", f"no CityBlueprint {shown(city)} in the cluster; apply the city first")
    )


@kpi_group.command("check")
@click.argument("files", nargs=-1, required=True, metavar="FILES...")
def check(files: tuple[str, ...]) -> None:
    """Check KpiReport FILES (for `kubectl apply`) against the schema and the catalogue."""
    today = datetime.datetime.now(datetime.UTC).date()
    catalogue = load_catalogue()  # the newest: a file does not say which city it is for
    problems = [
        problem for file in files for problem in kpi.check_report(load_file(file), catalogue, today)
    ]
    if problems:
        raise CitykitError(problems)
    for file in files:
        say(f"{file}: ok")
