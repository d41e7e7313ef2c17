"""`citykit demo`: an example city rolled out to Live on the local cluster, watched live."""

from __future__ import annotations

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
from citykit.api.enums import Phase
from citykit.api.names import API_VERSION, APPROVED_BY_ANNOTATION, CITY_BLUEPRINT, city_namespace
from citykit.cli.cluster import start_with_progress
from citykit.cli.operate import approve_initiative, list_initiatives, status_table
from citykit.cli.statusview import Row, by_area, phases_text, rows, summary
from citykit.core.load.errors import RunFailure
from citykit.core.model.blueprint import duration_seconds
from citykit.core.model.validation import validate_file
from citykit.core.rollout.demo import awaiting_approval, choose_city, demo_blueprint, finished
from citykit.kube.crds import install_crds
from citykit.kube.wait import wait_for
from citykit.localcluster.operator_process import OperatorProcess

APPROVER = "citykit-demo"


def progress_view(city: str, table: list[Row], elapsed: float) -> Group:
    grid = Table(box=None, pad_edge=False)
    for column in ("AREA", "LIVE", "PHASES"):
        grid.add_column(column)
    for area, counts in by_area(table):
        grid.add_row(area, f"{counts[Phase.LIVE]}/{sum(counts.values())}", phases_text(counts))
    return Group(Text(f"{city}: {summary(table)} ({elapsed:.0f}s)", style="bold"), grid)


def already_approved(initiatives: list[dict[str, Any]]) -> set[str]:
    """Initiatives someone approved (an earlier, interrupted demo among them) whose status
    the operator has not caught up with yet: approving them again would say so twice."""
    return {
        item["spec"]["ref"]
        for item in initiatives
        if APPROVED_BY_ANNOTATION in (item["metadata"].get("annotations") or {})
    }


def follow(
    client: DynamicClient,
    city: str,
    generation: int,
    operator: OperatorProcess,
    timeout: float,
    console: Console,
) -> list[Row]:
    """Shows progress until the blueprint is Live, approving (and saying so) every
    initiative whose manual gate waits."""
    started = time.monotonic()
    table: list[Row] = []
    approved: set[str] = set()  # the phase shows it only once the operator has seen the approval
    with Live(progress_view(city, table, 0), console=console, refresh_per_second=2) as live:

        def live_now() -> bool:
            """One look: fails fast if the operator died, approves, redraws."""
            nonlocal table
            operator.check_alive()
            initiatives = list_initiatives(client, city)
            approved.update(already_approved(initiatives))
            for ref in [ref for ref in awaiting_approval(initiatives) if ref not in approved]:
                approve_initiative(client, city, ref, APPROVER)
                approved.add(ref)
                live.console.print(f"approved {ref} as {APPROVER}")
            table = rows(initiatives, datetime.datetime.now(datetime.UTC))
            live.update(progress_view(city, table, time.monotonic() - started))
            status = kube.read(client, API_VERSION, CITY_BLUEPRINT, city).get("status") or {}
            return finished(status, generation)

        try:
            wait_for(live_now, timeout, f"{city} to be Live", interval=1)
        except TimeoutError:
            raise RunFailure(
                "demo",
                f"{city} is not Live after {timeout:g}s: {summary(table)};"
                f" operator log: {operator.log}",
            ) from None
    return table


def _duration(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    try:
        duration_seconds(value)
    except ValueError as error:
        raise RunFailure(
            "--gate", f"{error}; expected a number and a unit s, m, h or d, e.g. 5s"
        ) from None
    return value


@click.command()
@click.option(
    "--city", help="Example city to roll out (default: the one with the most initiatives)."
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=1200,
    show_default=True,
    help="Seconds to wait for every initiative to be Live.",
)
@click.option(
    "--gate",
    default="5s",
    show_default=True,
    callback=_duration,
    help="How long each pilot must be healthy in the demo (30s, 2m, ...).",
)
def demo(city: str | None, timeout: float, gate: str) -> None:
    """Start the local cluster if needed, run the operator, and roll an example city out to Live.

    Pilot gates are shortened to --gate; initiatives that need manual approval are approved as
    `citykit-demo`. Exits 0 when every initiative is Live, 1 with the reason otherwise.
    """
    path = choose_city(city)
    validated = validate_file(path)
    blueprint: dict[str, Any] = demo_blueprint(validated.document.data, gate)
    name = validated.blueprint.name
    cluster = start_with_progress("citykit")
    client = kube.dynamic_client(cluster.kubeconfig)
    install_crds(client)
    operator = OperatorProcess(cluster.kubeconfig, cluster.state_dir / "operator.log")
    operator.start()
    console = Console()
    started = time.monotonic()
    try:
        kube.apply(client, blueprint)
        generation = kube.read(client, API_VERSION, CITY_BLUEPRINT, name)["metadata"]["generation"]
        table = follow(client, name, generation, operator, timeout, console)
    finally:
        operator.stop()
    console.print()  # a Live display on a pipe ends without a newline
    console.print(status_table(table))
    console.print(
        f"\n{name} is Live: {len(table)} initiatives in {time.monotonic() - started:.0f}s."
    )
    console.print(
        'The cluster keeps running (the operator has stopped): eval "$(citykit cluster env)",'
        f" then `kubectl get ini -n {city_namespace(name)}`, `citykit operator run`,"
        " `citykit cluster down`."
    )
