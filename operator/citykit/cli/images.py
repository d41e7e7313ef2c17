"""`citykit images CITY|FILE`: every image a city needs, for its registry mirror."""

from __future__ import annotations

import json
from pathlib import Path

import click

from citykit.cli.citylookup import PROJECT_DIR, city_blueprint
from citykit.core.model.validation import validate_file
from citykit.core.render.images import city_images
from citykit.toolchain.image import image_reference


@click.command()
@click.argument("file", metavar="FILE|CITY")
@click.option(
    "-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@PROJECT_DIR
def images(file: str, output: str, project: Path) -> None:
    """List every image city CITY (or blueprint FILE) runs, pinned, one per line: the
    operator's, its initiatives' and its platform services'; -o json says who uses each."""
    uses = city_images(validate_file(city_blueprint(file, project)), image_reference())
    if output == "json":
        payload = [{"image": use.image, "usedBy": list(use.used_by)} for use in uses]
        click.echo(json.dumps(payload, indent=2))
        return
    for use in uses:
        click.echo(use.image)
