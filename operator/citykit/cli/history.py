"""`citykit history CITY` and `citykit rollback CITY [--to VERSION]`: a city's applied
blueprints, as the operator keeps them (ControllerRevisions in the city namespace, in the
format `citykit.core.rollout.history` describes), and re-applying one of them.

Reading the cluster and writing the CityBlueprint happen here; which revisions there are, what
they say and which one a rollback re-applies is decided by the pure core.
"""

from __future__ import annotations

from typing import Any

import click
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient
from rich.console import Console
from rich.table import Table
from rich.text import Text

from citykit import kube
from citykit.api.names import (
    API_VERSION,
    CITY_BLUEPRINT,
    CONTROLLER_REVISION,
    REVISION_API_VERSION,
    city_namespace,
)
from citykit.cli.blueprint import echo_blueprint_diff
from citykit.cli.say import say
from citykit.core.load.errors import CitykitError, Problem, one_line
from citykit.core.load.source import from_data
from citykit.core.model.validation import ValidatedBlueprint, validate
from citykit.core.rollout.history import (
    HistoryRow,
    history_rows,
    rollback_manifest,
    rollback_target,
)


def read_blueprint(client: DynamicClient, city: str) -> dict[str, Any] | None:
    """CITY's CityBlueprint as the API server holds it, or None when there is none."""
    try:
        return kube.read(client, API_VERSION, CITY_BLUEPRINT, city)
    except ApiException as error:
        if error.status == 404:
            return None
        raise


def read_history(client: DynamicClient, city: str) -> list[HistoryRow]:
    """CITY's revisions, oldest first."""
    try:
        objects = kube.list_objects(
            client, REVISION_API_VERSION, CONTROLLER_REVISION, city_namespace(city)
        )
    except ApiException as error:
        if error.status == 404:
            return []
        raise
    return history_rows(city, objects)


def _no_city(city: str) -> CitykitError:
    return CitykitError(Problem.argument("CITY", f"no CityBlueprint '{city}' in the cluster"))


@click.command()
@click.argument("city")
def history(city: str) -> None:
    """List the blueprint revisions the operator applied to CITY: version, catalogue, time
    and outcome."""
    client = kube.dynamic_client()
    rows = read_history(client, city)
    blueprint = read_blueprint(client, city)
    if not rows:
        if blueprint is None:
            raise _no_city(city)
        say(
            f"no revisions recorded for {city} yet: the operator records one each time it "
            "applies a blueprint"
        )
        return
    running = (blueprint or {}).get("spec")
    table = Table(box=None, pad_edge=False)
    for column in ("REVISION", "BLUEPRINT", "CATALOGUE", "APPLIED", "OUTCOME", "REASON"):
        table.add_column(column)
    current = next((row for row in reversed(rows) if dict(row.spec) == running), None)
    for row in rows:
        restored = f" (restores r{row.restored_from})" if row.restored_from else ""
        cells = (
            f"{'*' if row is current else ' '}r{row.revision}",
            row.blueprint_version + restored,
            row.catalogue_version,
            row.applied_at,
            row.outcome,
            row.reason,
        )
        # what the cluster holds, shown as written: escaped, and never read as rich markup
        table.add_row(*(Text(one_line(cell)) for cell in cells))
    Console(width=200).print(table)
    if current is not None:
        say(f"* what {city} runs now")


@click.command()
@click.argument("city")
@click.option(
    "--to",
    "to",
    metavar="VERSION",
    help="Blueprint version (or revision number, r3) to re-apply; default: the last earlier "
    "revision that reached Live.",
)
@click.option("--dry-run", is_flag=True, help="Show what would change; apply nothing.")
def rollback(city: str, to: str | None, dry_run: bool) -> None:
    """Re-apply an earlier blueprint revision of CITY: the last one that reached Live, or
    --to VERSION."""
    from citykit.core.render.diff import diff_blueprints

    client = kube.dynamic_client()
    blueprint = read_blueprint(client, city)
    if blueprint is None:
        raise _no_city(city)
    running = blueprint.get("spec") or {}
    target = rollback_target(city, read_history(client, city), running, to)
    if dict(target.spec) == dict(running):
        say(
            f"{city} already runs blueprint {target.blueprint_version} "
            f"(revision {target.revision}); nothing to roll back"
        )
        return
    manifest = rollback_manifest(city, target)
    restored = validate(from_data(f"revision/{target.name}", manifest))
    now = _validated_or_none(city, running)
    if now is not None:
        echo_blueprint_diff(diff_blueprints(now, restored))
    summary = (
        f"blueprint {target.blueprint_version} (revision {target.revision}, "
        f"catalogue {target.catalogue_version})"
    )
    if dry_run:
        say(f"cityblueprint/{city}: would roll back to {summary} (dry run)")
        return
    _replace_spec(client, blueprint, manifest)
    say(
        f"cityblueprint/{city} rolled back to {summary}; the operator records it as a new "
        "revision (`citykit history` lists it)"
    )


def _validated_or_none(city: str, spec: dict[str, Any]) -> ValidatedBlueprint | None:
    """What runs now, validated for the diff; None (no diff) when it does not validate
    here (say, it pins a catalogue this citykit does not ship)."""
    try:
        return validate(
            from_data(
                f"cityblueprint/{city}",
                {
                    "apiVersion": API_VERSION,
                    "kind": CITY_BLUEPRINT,
                    "metadata": {"name": city},
                    "spec": spec,
                },
            )
        )
    except CitykitError:
        say(f"(what {city} runs now does not validate here: no diff shown)", err=True)
        return None


def _replace_spec(
    client: DynamicClient, blueprint: dict[str, Any], manifest: dict[str, Any], attempts: int = 5
) -> None:
    """Replace the whole spec (a PUT at the version read), so fields the old spec did not
    have go too, whoever wrote them. A change to the spec made meanwhile is a conflict, not
    overwritten; one to the status only (the operator writes it as a rollout moves) is no
    reason to refuse: the PUT is made again at the new version, as client-go's
    RetryOnConflict does."""
    name = blueprint["metadata"]["name"]
    resource = kube.resource_for(client, API_VERSION, CITY_BLUEPRINT)
    for _ in range(attempts):
        try:
            client.replace(resource, body=_replacement(blueprint, manifest), name=name)
            return
        except ApiException as error:
            if error.status != 409:
                raise
        current = read_blueprint(client, name)
        if current is None or current.get("spec") != blueprint.get("spec"):
            break
        blueprint = current
    raise CitykitError(
        Problem.argument(
            "CITY",
            f"cityblueprint/{name} changed while rolling back; run `citykit rollback` again",
        )
    )


def _replacement(blueprint: dict[str, Any], manifest: dict[str, Any]) -> dict[str, Any]:
    """The CityBlueprint `blueprint` (as read) with `manifest`'s spec and annotations."""
    metadata = dict(blueprint["metadata"])
    metadata["annotations"] = {
        **(metadata.get("annotations") or {}),
        **manifest["metadata"]["annotations"],
    }
    return {
        "apiVersion": API_VERSION,
        "kind": CITY_BLUEPRINT,
        "metadata": {
            key: metadata[key]
            for key in ("name", "resourceVersion", "labels", "annotations")
            if metadata.get(key) is not None
        },
        "spec": manifest["spec"],
    }
