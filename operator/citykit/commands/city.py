"""`citykit new-city`: scaffold a city whose platform Pulumi then provisions."""

from __future__ import annotations

import click

from citykit import citystack
from citykit.errors import CitykitError, Problem
from citykit.paths import cities_dir
from citykit.scaffold import CityFiles, new_city as scaffold_city


@click.command("new-city")
@click.argument("name")
@click.option("--jurisdiction", required=True, help="Jurisdiction profile id (gdpr, pipl, …).")
@click.option("--from", "example", metavar="EXAMPLE", help="Start from this example city's blueprint.")
def new_city(name: str, jurisdiction: str, example: str | None) -> None:
    """Scaffold city NAME: blueprint, Pulumi stack settings and Ansible inventory."""
    source = None
    if example:
        source = cities_dir() / f"{example}.yaml"
        if not source.is_file():
            choices = ", ".join(sorted(path.stem for path in cities_dir().glob("*.yaml")))
            raise CitykitError(Problem("new-city", 0, 0, "--from", f"no example city '{example}' (choose one of: {choices})"))
    written = scaffold_city(CityFiles(citystack.project_root(), name), jurisdiction, source)
    for path in written:
        click.echo(f"created {path}")
    click.echo(f"next: edit the blueprint, then `citykit up {name}`")

