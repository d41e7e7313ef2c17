"""`citykit validate | plan | diff | catalogue`: the blueprint commands, no cluster needed."""

from __future__ import annotations

from pathlib import Path

import click

from citykit.api.enums import Area
from citykit.cli.citylookup import PROJECT_DIR, city_blueprint
from citykit.core.catalogue import load_catalogue
from citykit.core.errors import CitykitError, Problem
from citykit.core.source import load_file
from citykit.core.validation import validate_file
from citykit.serialize import dump

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
        click.echo(
            f"{path}: ok — {blueprint.city_name} blueprint {blueprint.version}, "
            f"{len(blueprint.enabled)} initiatives under {blueprint.jurisdiction}"
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

    A CITY name is looked up as blueprints/cities/CITY.yaml in the project folder, then among
    the example cities citykit ships."""
    from citykit.core import render

    click.echo(dump(render.plan(validate_file(city_blueprint(file, project))), output), nl=False)


@click.command()
@click.argument("old", type=click.Path(dir_okay=False))
@click.argument("new", type=click.Path(dir_okay=False))
def diff(old: str, new: str) -> None:
    """Show what changes from blueprint OLD to blueprint NEW; exits 0 either way."""
    from citykit.core.diff import diff_blueprints

    result = diff_blueprints(validate_file(old), validate_file(new))
    if result.empty:
        click.echo("no changes")
        return
    for field, (before, after) in result.settings.items():
        click.echo(f"~ {field}: {before} -> {after}")
    for ref in result.added:
        click.echo(f"+ initiative {ref}")
    for ref in result.removed:
        click.echo(f"- initiative {ref}")
    for ref, fields in result.changed.items():
        click.echo(f"~ initiative {ref}: {', '.join(fields)}")
    for sign, keys in (("+", result.create), ("~", result.update), ("-", result.delete)):
        for kind, namespace, name in keys:
            click.echo(
                f"{sign} {kind} {namespace}/{name}" if namespace else f"{sign} {kind} {name}"
            )
    counts = (
        f"{len(result.create)} to create, {len(result.update)} to update, "
        f"{len(result.delete)} to delete"
    )
    click.echo(f"objects: {counts}")


@click.group(invoke_without_command=True)
@click.pass_context
def catalogue(context: click.Context) -> None:
    """Browse the initiative catalogue (default: list)."""
    if context.invoked_subcommand is None:
        context.invoke(catalogue_list)


@catalogue.command("list")
@click.option("--area", type=click.Choice([area.value for area in Area]), help="Only this area.")
def catalogue_list(area: str | None) -> None:
    """List initiatives, by area."""
    from rich.console import Console
    from rich.table import Table

    loaded = load_catalogue()
    table = Table(title=f"citykit catalogue {loaded.version}")
    for column in ("ID", "AREA", "TITLE", "PERSONAL DATA", "PUBLISHES"):
        table.add_column(column)
    for entry in loaded.by_area(area):
        table.add_row(
            entry.id,
            entry.area,
            entry.title,
            ", ".join(entry.personal_data),
            ", ".join(entry.publishes),
        )
    Console(width=200).print(table)


@catalogue.command("show")
@click.argument("initiative_id")
@click.option(
    "-o", "--output", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True
)
def catalogue_show(initiative_id: str, output: str) -> None:
    """Show one catalogue entry in full."""
    loaded = load_catalogue()
    entry = loaded.entries.get(initiative_id)
    if entry is None:
        raise CitykitError(
            Problem(
                "catalogue",
                0,
                0,
                "id",
                f"unknown initiative '{initiative_id}' (see `citykit catalogue list`)",
            )
        )
    click.echo(dump([load_file(entry.source).data], output), nl=False)
