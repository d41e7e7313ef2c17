"""`citykit operator run | install | apply | status | approve`: the commands that talk to a
cluster, the one $KUBECONFIG (or the pod's service account) names, through `citykit.kube`."""

from __future__ import annotations

import asyncio
import datetime
import time
from typing import Any

import click
from kubernetes.dynamic import DynamicClient
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from citykit import kube
from citykit.api.enums import Phase, Verdict
from citykit.api.names import (
    API_VERSION,
    APPROVED_BY_ANNOTATION,
    APPROVED_REVISION_ANNOTATION,
    INITIATIVE,
    city_namespace,
    object_name,
)
from citykit.cli.say import say
from citykit.cli.statusview import Row, kpi_rows, kpi_summary, rows, summary
from citykit.controller.settings import ALIASES, ENVIRONMENT, Settings
from citykit.core.model.cataloguestore import keep_catalogues_in
from citykit.core.model.validation import validate_file
from citykit.kube.crds import install_crds

DEFAULTS = Settings()


def list_initiatives(client: DynamicClient, city: str | None) -> list[dict[str, Any]]:
    """CITY's Initiatives, or every city's."""
    return kube.list_objects(
        client, API_VERSION, INITIATIVE, city_namespace(city) if city else None
    )


@click.group("operator")
def operator_group() -> None:
    """Run the citykit operator."""


def _setting(name: str) -> list[str]:
    """The environment variables that set option `name`, the current one first."""
    return [ENVIRONMENT[name], *ALIASES.get(name, ())]


@operator_group.command("run")
@click.option(
    "--liveness",
    envvar=_setting("--liveness"),
    show_envvar=True,
    metavar="URL",
    help="Serve kopf's health probe here, e.g. http://0.0.0.0:8080/healthz.",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    envvar=_setting("--metrics-port"),
    show_envvar=True,
    metavar="PORT",
    help="Serve Prometheus metrics at http://0.0.0.0:PORT/metrics.",
)
@click.option(
    "--api-timeout",
    type=click.FloatRange(1, 3600),
    default=DEFAULTS.api_timeout,
    show_default=True,
    envvar=_setting("--api-timeout"),
    show_envvar=True,
    metavar="SECONDS",
    help="Exit with code 1 once the API has not answered for this long (kopf would retry"
    " the address it started with forever), so the operator's Deployment restarts it.",
)
@click.option(
    "--peering",
    envvar=_setting("--peering"),
    show_envvar=True,
    metavar="NAME",
    help="Run as one of several replicas: only the holder of the coordination.k8s.io Lease"
    " NAME acts, the others wait as standbys. Without it the operator runs standalone.",
)
@click.option(
    "--peering-namespace",
    default=DEFAULTS.peering_namespace,
    show_default=True,
    envvar=_setting("--peering-namespace"),
    show_envvar=True,
    metavar="NAMESPACE",
    help="Namespace of the --peering Lease (the chart sets its own namespace).",
)
@click.option(
    "--resync-seconds",
    type=click.FloatRange(1, 86400),
    default=DEFAULTS.resync_seconds,
    show_default=True,
    envvar=_setting("--resync-seconds"),
    show_envvar=True,
    metavar="SECONDS",
    help="Queue every blueprint and initiative again this often: the safety net for a"
    " missed watch event (an idle resync writes nothing).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=DEFAULTS.workers,
    show_default=True,
    envvar=_setting("--workers"),
    show_envvar=True,
    metavar="N",
    help="Reconciles run at once (each blueprint or initiative one at a time).",
)
def operator_run(
    liveness: str | None,
    metrics_port: int | None,
    api_timeout: float,
    peering: str | None,
    peering_namespace: str,
    resync_seconds: float,
    workers: int,
) -> None:
    """Run the operator in the foreground against the current kubeconfig (Ctrl-C stops it).

    Every setting is read here, once, into one frozen `Settings` passed down to the runner and
    the handlers; each option can be set by the environment variable shown."""
    # One long-lived process: each catalogue version is checked once and kept in memory; the
    # pod's root file system is read-only.
    keep_catalogues_in(None)
    settings = Settings(
        liveness=liveness or None,
        metrics_port=metrics_port,
        api_timeout=api_timeout,
        peering=peering or None,
        peering_namespace=peering_namespace,
        resync_seconds=resync_seconds,
        workers=workers,
    )
    import kopf

    import citykit.controller.handlers  # noqa: F401  (registers the handlers)
    from citykit.controller import metrics, runner

    if settings.metrics_port is not None:
        try:
            metrics.serve(settings.metrics_port)
        except OSError as error:
            raise click.ClickException(
                f"--metrics-port {settings.metrics_port}: {error.strerror}"
            ) from None
    kopf.configure(verbose=False)
    asyncio.run(runner.run(settings))


@click.command()
def install() -> None:
    """Install (or update) the citykit CRDs; returns once the API serves their kinds."""
    for name in install_crds(kube.dynamic_client()):
        say(f"customresourcedefinition/{name} established")


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
def apply(file: str) -> None:
    """Validate blueprint FILE, then server-side apply it as a CityBlueprint."""
    validated = validate_file(file)
    kube.apply(kube.dynamic_client(), validated.document.data)
    say(f"cityblueprint/{validated.blueprint.name} applied ({validated.blueprint.version})")


# Rich styles of the status table's PHASE and VERDICT columns ("" keeps the terminal's own):
# total over Phase and Verdict (tests/unit/test_total_tables.py).
PHASE_COLOURS: dict[str, str] = {
    Phase.LIVE: "green",
    Phase.UPGRADING: "yellow",
    Phase.CITYWIDE: "",
    Phase.AWAITING_APPROVAL: "yellow",
    Phase.PILOT: "",
    Phase.WAITING: "",
    Phase.PENDING: "",
    Phase.DEGRADED: "red",
    Phase.BLOCKED: "red",
}
VERDICT_COLOURS: dict[str, str] = {
    Verdict.MET: "green",
    Verdict.ON_TRACK: "green",
    Verdict.OFF_TRACK: "red",
    Verdict.NO_DATA: "dim",
}


def status_table(table: list[Row]) -> Group:
    grid = Table(box=None, pad_edge=False)
    for column in ("CITY", "AREA", "INITIATIVE", "PHASE", "WAVE", "REVISION", "READY", "AGE"):
        grid.add_column(column)
    for row in table:
        grid.add_row(
            row.city,
            row.area,
            row.initiative,
            Text(row.phase, style=PHASE_COLOURS.get(row.phase, "")),
            row.wave,
            row.revision,
            row.ready,
            row.age,
        )
    return Group(grid, Text(summary(table), style="bold"))


@click.command()
@click.argument("city", required=False)
@click.option("--watch", "-w", is_flag=True, help="Keep refreshing until interrupted.")
def status(city: str | None, watch: bool) -> None:
    """Show each initiative's rollout: phase, wave, ready replicas, age."""

    client = kube.dynamic_client()

    def current() -> Group:
        initiatives = list_initiatives(client, city)
        table = status_table(rows(initiatives, datetime.datetime.now(datetime.UTC)))
        if not city:
            return table
        from citykit.cli.kpi import city_blueprint, city_kpi_status

        kpis = city_kpi_status(client, city_blueprint(client, city), initiatives)
        grid = Table(box=None, pad_edge=False, title="KPI targets", title_justify="left")
        for column in ("KPI", "COMMITMENT", "BASELINE", "TARGET", "EXPECTED NOW", "LATEST"):
            grid.add_column(column)
        grid.add_column("VERDICT")
        grid.add_column("MOVED BY", overflow="fold")
        for row in kpi_rows(kpis):
            grid.add_row(
                row.kpi,
                row.commitment,
                row.baseline,
                row.target,
                row.expected,
                row.latest,
                Text(row.verdict, style=VERDICT_COLOURS.get(row.state, "dim")),
                row.moved_by,
            )
        return Group(table, Text(""), grid, Text(kpi_summary(kpis), style="bold"))

    if not watch:
        Console().print(current())
        return
    with Live(current(), refresh_per_second=1) as live:
        while True:
            time.sleep(2)
            live.update(current())


@click.command()
@click.argument("city")
@click.argument("initiative")
@click.option(
    "--by", "approver", default="city-programme-office", show_default=True, help="Who approves."
)
def approve(city: str, initiative: str, approver: str) -> None:
    """Approve INITIATIVE (catalogue id) of CITY to go citywide after its pilot."""
    name = approve_initiative(kube.dynamic_client(), city, initiative, approver)
    say(f"initiative/{name} approved by {approver}")


def approve_initiative(client: DynamicClient, city: str, ref: str, approver: str) -> str:
    """Records who approved the pilot, which is what the operator's gate waits for; during
    an upgrade also which candidate revision was approved (an approval is for one revision)."""
    name = object_name(ref)
    found = kube.read(client, API_VERSION, INITIATIVE, name, city_namespace(city))
    candidate = (found.get("status") or {}).get("candidateRevision")
    annotations = {APPROVED_BY_ANNOTATION: approver}
    if candidate:
        annotations[APPROVED_REVISION_ANNOTATION] = candidate
    kube.patch_annotations(client, API_VERSION, INITIATIVE, name, city_namespace(city), annotations)
    return name
