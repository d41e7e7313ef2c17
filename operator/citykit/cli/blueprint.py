"""`citykit validate | plan | diff | catalogue`: the blueprint commands, no cluster needed."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from citykit.api.enums import Area
from citykit.api.names import INITIATIVE
from citykit.cli.citylookup import PROJECT_DIR, city_blueprint
from citykit.cli.say import say
from citykit.core.load.errors import CitykitError, Problem
from citykit.core.load.source import load_file
from citykit.core.model.catalogue import (
    Catalogue,
    catalogue_versions,
    load_catalogue,
    unknown_version,
    version_key,
)
from citykit.core.model.validation import validate_file
from citykit.serialize import dump, dump_yaml

if TYPE_CHECKING:
    from citykit.core.render.diff import BlueprintDiff
    from citykit.core.upgrade.catalogue_diff import CatalogueDiff

# Rendering (plan, diff) and rich (the catalogue table) are imported by the commands that use
# them, so `citykit validate` loads only what validating needs.


@click.command()
@click.argument("files", nargs=-1, required=True, metavar="FILE|CITY...")
@PROJECT_DIR
def validate(files: tuple[str, ...], project: Path) -> None:
    """Check blueprints, given as FILE paths or CITY names: schema, references, cycles,
    parameters and jurisdiction policy.

    A CITY name is looked up as blueprints/cities/CITY.yaml in the project folder, then among
    the example cities citykit ships."""
    problems: list[Problem] = []
    for file in files:
        try:
            path = city_blueprint(file, project)
            validated = validate_file(path)
        except CitykitError as error:
            problems += error.problems
            continue
        blueprint = validated.blueprint
        newest = catalogue_versions()[-1]
        newer = (
            f" ({newest} is out: `citykit catalogue diff {blueprint.catalogue_version} "
            f"{newest}`, `citykit upgrade`)"
            if version_key(newest) > version_key(blueprint.catalogue_version)
            else ""
        )
        say(
            f"{path}: ok — {blueprint.city_name} blueprint {blueprint.version}, "
            f"{len(blueprint.enabled)} initiatives under {blueprint.jurisdiction}, "
            f"catalogue {blueprint.catalogue_version}{newer}"
        )
    if problems:
        raise CitykitError(problems)


@click.command()
@click.argument("file", metavar="FILE|CITY")
@click.option(
    "-o", "--output", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True
)
@PROJECT_DIR
def plan(file: str, output: str, project: Path) -> None:
    """Print every Kubernetes object the operator will create for blueprint FILE or city CITY.

    In YAML each Initiative is headed by a comment with its revision (the
    citykit.io/revision its workloads carry) and its first wave. A CITY name is looked up as
    blueprints/cities/CITY.yaml in the project folder, then among the example cities citykit
    ships."""
    from citykit.core.render import objects

    validated = validate_file(city_blueprint(file, project))
    manifests = objects.plan(validated)
    if output != "yaml":
        click.echo(dump(manifests, output), nl=False)
        return
    revisions = objects.initiative_revisions(validated)
    click.echo(
        "---\n".join(_revision_note(m, revisions) + dump_yaml([m]) for m in manifests), nl=False
    )


def _revision_note(manifest: Mapping[str, Any], revisions: Mapping[str, str]) -> str:
    """`# <ref>: revision <hash>, first wave ...` above an Initiative; nothing above the rest
    (a comment, so whatever reads the YAML reads the same objects)."""
    if manifest["kind"] != INITIATIVE:
        return ""
    spec = manifest["spec"]
    pilots = spec["pilotDistricts"]
    wave = f"pilot in {', '.join(pilots)}" if pilots else "citywide (no pilot districts)"
    return f"# {spec['ref']}: revision {revisions[spec['ref']]}, first wave {wave}\n"


@click.command()
@click.argument("old", metavar="OLD")
@click.argument("new", metavar="NEW")
@PROJECT_DIR
def diff(old: str, new: str, project: Path) -> None:
    """Show what changes from blueprint OLD to blueprint NEW; exits 0 either way."""
    from citykit.core.render.diff import diff_blueprints

    before = validate_file(city_blueprint(old, project, "OLD"))
    after = validate_file(city_blueprint(new, project, "NEW"))
    echo_blueprint_diff(diff_blueprints(before, after))


# Initiative spec fields that record where a spec came from; a change to them alone is
# listed as one line for all the initiatives it touches (an upgrade moves it in every one).
PROVENANCE = ("catalogueVersion",)


def echo_blueprint_diff(result: BlueprintDiff) -> None:
    """Print a blueprint diff as `citykit diff` does: settings, initiatives, then objects."""
    if result.empty:
        say("no changes")
        return
    for field, (before, after) in result.settings.items():
        say(f"~ {field}: {before} -> {after}")
    for ref in result.added:
        say(f"+ initiative {ref}")
    for ref in result.removed:
        say(f"- initiative {ref}")
    provenance_only: list[str] = []
    for ref, fields in result.changed.items():
        if set(fields) <= set(PROVENANCE):
            provenance_only.append(ref)
        else:
            say(f"~ initiative {ref}: {', '.join(fields)}")
    if provenance_only:
        provenance = sorted({f for ref in provenance_only for f in result.changed[ref]})
        say(
            f"~ {len(provenance_only)} other initiative{'s' if len(provenance_only) > 1 else ''}"
            f": {', '.join(provenance)} only"
        )
    echo_revisions(result)
    for sign, keys in (("+", result.create), ("~", result.update), ("-", result.delete)):
        for kind, namespace, name in keys:
            say(f"{sign} {kind} {namespace}/{name}" if namespace else f"{sign} {kind} {name}")
    counts = (
        f"{len(result.create)} to create, {len(result.update)} to update, "
        f"{len(result.delete)} to delete"
    )
    say(f"objects: {counts}")


def echo_revisions(result: BlueprintDiff) -> None:
    """Which initiatives get a new revision (on a running city: an upgrade, piloted first
    where it has pilot districts) and how many keep theirs (the operator does not touch
    their workloads)."""
    for change in result.upgraded:
        first = (
            f"pilots in {', '.join(change.pilot_districts)} first"
            if change.pilot_districts
            else "no pilot districts: citywide after its gate"
        )
        say(f"~ revision {change.ref}: {change.before} -> {change.after} ({first})")
    if result.kept:
        count = len(result.kept)
        say(
            f"= revision kept by {count} initiative{'s' if count > 1 else ''} "
            "(workloads not touched)"
        )


@click.group(invoke_without_command=True)
@click.pass_context
def catalogue(context: click.Context) -> None:
    """Browse the initiative catalogue (default: list)."""
    if context.invoked_subcommand is None:
        context.invoke(catalogue_list)


VERSION_OPTION = click.option(
    "--version",
    "version",
    metavar="VERSION",
    help="Catalogue version (default: the newest; see `citykit catalogue versions`).",
)


def catalogue_version(version: str | None, argument: str = "--version") -> Catalogue:
    """Catalogue `version` (default the newest), or a one-line refusal naming those shipped
    and the `argument` that gave it."""
    if version is not None and version not in catalogue_versions():
        raise CitykitError(Problem.argument(argument, unknown_version(version)))
    return load_catalogue(version)


@catalogue.command("list")
@click.option("--area", type=click.Choice([area.value for area in Area]), help="Only this area.")
@VERSION_OPTION
def catalogue_list(area: str | None, version: str | None = None) -> None:
    """List initiatives, by area."""
    from rich.console import Console
    from rich.table import Table

    loaded = catalogue_version(version)
    table = Table(title=f"citykit catalogue {loaded.version}")
    for column in ("ID", "AREA", "TITLE", "PERSONAL DATA", "PUBLISHES"):
        table.add_column(column)
    for entry in loaded.by_area(area):
        deprecated = entry.deprecated
        table.add_row(
            entry.id,
            entry.area,
            entry.title
            + (
                f" (deprecated: use {deprecated.successor})"
                if deprecated and deprecated.successor
                else " (deprecated)"
                if deprecated
                else ""
            ),
            ", ".join(entry.personal_data),
            ", ".join(entry.publishes),
        )
    Console(width=200).print(table)


@catalogue.command("versions")
def catalogue_versions_command() -> None:
    """List the catalogue versions this citykit ships, oldest first."""
    for version in catalogue_versions():
        loaded = load_catalogue(version)
        deprecated = sum(1 for entry in loaded.entries.values() if entry.deprecated)
        say(
            f"{version}: {len(loaded.entries)} initiatives"
            + (f", {deprecated} deprecated" if deprecated else "")
        )


@catalogue.command("show")
@click.argument("initiative_id", metavar="ID")
@click.option(
    "-o", "--output", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True
)
@VERSION_OPTION
def catalogue_show(initiative_id: str, output: str, version: str | None = None) -> None:
    """Show one catalogue entry in full."""
    loaded = catalogue_version(version)
    entry = loaded.entries.get(initiative_id)
    if entry is None:
        raise CitykitError(
            Problem.argument(
                "ID",
                f"unknown initiative '{initiative_id}' in catalogue {loaded.version} "
                "(see `citykit catalogue list`)",
            )
        )
    click.echo(dump([load_file(entry.source).data], output), nl=False)


@catalogue.command("diff")
@click.argument("old", metavar="OLD")
@click.argument("new", metavar="NEW")
def catalogue_diff(old: str, new: str) -> None:
    """Show what changed from catalogue version OLD to NEW: initiatives added, removed and
    deprecated, images, parameters, and the versions' own notes."""
    from citykit.core.upgrade.catalogue_diff import diff_catalogues

    before, after = catalogue_version(old, "OLD"), catalogue_version(new, "NEW")
    low, high = sorted((before.version, after.version), key=version_key)
    between = [
        load_catalogue(version)
        for version in catalogue_versions()
        if version_key(low) < version_key(version) < version_key(high)
    ]
    echo_catalogue_diff(diff_catalogues(before, after, between))


def echo_catalogue_diff(result: CatalogueDiff) -> None:
    say(f"catalogue {result.old} -> {result.new}")
    if result.empty:
        say("no changes")
    for entry in result.added:
        say(f"+ initiative {entry.id}: {entry.title}")
    for id_, removal in result.removed:
        why = f": {removal.reason.rstrip('.')}" if removal else ""
        successor = f" (successor: {removal.successor})" if removal and removal.successor else ""
        say(f"- initiative {id_}{why}{successor}")
    for id_, deprecation in result.deprecated:
        successor = f"; successor: {deprecation.successor}" if deprecation.successor else ""
        say(
            f"! deprecated {id_} (since {deprecation.since}): "
            f"{deprecation.reason.rstrip('.')}{successor}"
        )
    for sign, id_ in result.services:
        say(f"{sign} platform service {id_}")
    for sign, id_ in result.kpis:
        say(f"{sign} KPI {id_}")
    for image in result.images:
        where = (
            image.owner
            if image.owner.startswith("platform service")
            else f"{image.owner} {image.component}"
        )
        say(f"~ image {where}: {image.before or '(none)'} -> {image.after or '(none)'}")
    for change in result.parameters:
        name = f"{change.initiative} {change.name}"
        if change.after is None:
            say(f"- parameter {name}")
        elif change.before is None:
            say(f"+ parameter {name} (default {json.dumps(change.after.get('default'))})")
        else:
            say(f"~ parameter {name}: {'; '.join(change.details)}")
    for id_, fields in result.fields.items():
        say(f"~ initiative {id_}: {', '.join(fields)}")
    if result.notes:
        say("notes:")
        for where, note in result.notes:
            say(f"  {where}: {note}")
