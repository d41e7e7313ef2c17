"""`citykit image build`: the operator image as an archive any runtime imports, no daemon."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import click

from citykit.cli.say import say
from citykit.toolchain.image import build_image, default_output, image_reference
from citykit.toolchain.locations import cache_root


@click.group()
def image() -> None:
    """Build the operator image (an OCI archive) without Docker."""


@image.command("build")
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the archive (default ~/.cache/citykit/images).",
)
@click.option(
    "--no-cache",
    is_flag=True,
    help="Unpack the Debian base and download the packages again, not from the cache.",
)
def build(output: Path | None, no_cache: bool) -> None:
    """Build the citykit/operator:<version> image as a tar archive in `docker save`'s shape
    that `ctr images import`, `podman load` and k3s's air-gap folder take. Prints the
    archive's path; its image id, digest and size go to stderr."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="citykit-image-cache-") as scratch:
        cache = Path(scratch) if no_cache else cache_root() / "image"
        built = build_image(output or default_output(), cache, lambda line: say(line, err=True))
    say(
        f"{image_reference()} image id {built.image_id}, archive {built.archive_digest}, "
        f"{built.layers_size / 1e6:.1f} MB unpacked, {time.monotonic() - started:.0f} s",
        err=True,
    )
    click.echo(str(built.archive))
