"""`citykit upgrade FILE --catalogue VERSION`: move a city's blueprint to a newer catalogue.

The pure `citykit.core.upgrade.blueprint` decides; this edge reads the file, prints the warnings and
the diff, and writes the new text through `citykit.cli.userfiles` (a temporary file renamed
over the old one; a symlink keeps pointing at the upgraded file), so the file is either the old
one or the upgraded one, never half of each.
"""

from __future__ import annotations

from pathlib import Path

import click

from citykit.cli.blueprint import catalogue_version, echo_blueprint_diff
from citykit.cli.citylookup import PROJECT_DIR, city_blueprint
from citykit.cli.say import say
from citykit.cli.userfiles import check_writable, write_file
from citykit.core.load.errors import CitykitError, Problem
from citykit.core.load.source import load_bytes, read_bounded
from citykit.core.model.catalogue import catalogue_versions, load_catalogue, version_key
from citykit.core.model.validation import validate
from citykit.resources import example_cities


@click.command()
@click.argument("file", metavar="FILE|CITY")
@click.option(
    "--catalogue",
    "version",
    required=True,
    metavar="VERSION",
    help="The catalogue version to move to (see `citykit catalogue versions`).",
)
@click.option("--dry-run", is_flag=True, help="Show the warnings and the diff; write nothing.")
@PROJECT_DIR
def upgrade(file: str, version: str, dry_run: bool, project: Path) -> None:
    """Move blueprint FILE (or city CITY) to catalogue VERSION: rewrite the pin, bump the
    blueprint's minor version, keep every comment, and show what changes."""
    from citykit.core.render.diff import diff_blueprints
    from citykit.core.upgrade.blueprint import upgrade_blueprint

    path = city_blueprint(file, project)
    if not dry_run and path == example_cities().get(file):
        raise CitykitError(
            Problem.argument(
                "CITY",
                f"'{file}' is an example city citykit ships, never written to; make it yours "
                f"with `citykit new-city NAME --from {file}` and upgrade that (or use --dry-run)",
            )
        )
    target = catalogue_version(version, "--catalogue")
    raw = read_bounded(str(path))
    if not dry_run:
        check_writable(path)
    document = load_bytes(str(path), raw)
    current = validate(document)
    pinned = current.blueprint.catalogue_version
    between = [
        load_catalogue(each)
        for each in catalogue_versions()
        if version_key(pinned) < version_key(each) < version_key(target.version)
    ]
    result = upgrade_blueprint(current, raw.decode("utf-8"), target, between)
    for warning in result.warnings:
        say(f"warning: {warning}", err=True)
    if not result.changed:
        say(f"{path}: already on catalogue {target.version}; nothing to change")
        return
    echo_blueprint_diff(diff_blueprints(result.before, result.after))
    before, after = result.before.blueprint, result.after.blueprint
    summary = (
        f"blueprint {before.version} -> {after.version}, "
        f"catalogue {before.catalogue_version} -> {after.catalogue_version}"
    )
    if dry_run:
        say(f"{path}: would upgrade: {summary} (dry run, nothing written)")
        return
    write_file(path, result.text)
    say(f"{path}: upgraded: {summary}")
    say(
        f"what changed in the catalogue: `citykit catalogue diff {before.catalogue_version} "
        f"{after.catalogue_version}`"
    )
