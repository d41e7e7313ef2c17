"""The CLI's place for checked catalogues: `catalogue/` in citykit's user cache.

Every `citykit` command is a new process, and checking a catalogue version anew (135 files of
YAML, each against its JSON Schema) took most of a second of `citykit validate`. The core keeps
a checked catalogue here under a digest of every byte it was checked from (see
`citykit.core.model.cataloguestore`); this module only reads and writes the files.

The folder is under citykit's cache root (`CITYKIT_CACHE`, else `$XDG_CACHE_HOME/citykit`, else
`~/.cache/citykit`). A cache must never cost a command its answer: a folder that cannot be
written (a read-only home, a full disk, no home at all) or a file that cannot be read is passed
over in silence, and a file is written whole (temporary file, rename) or not at all. One file
per catalogue folder, catalogue version and citykit version, at most MAX_FILES of them (the
least recently written go first): deleting the folder is always safe.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from citykit import __version__
from citykit.core.load.errors import CitykitError
from citykit.resources import cache_root

MAX_FILES = 16
# A file per citykit version too: a kept catalogue was checked by the citykit that kept it.
SUFFIX = f"-citykit-{__version__}.json"


class UserCatalogueCache:
    """Checked catalogues kept in `folder` (default: `catalogue/` under the cache root)."""

    def __init__(self, folder: Path | None = None) -> None:
        self._folder = folder

    def folder(self) -> Path | None:
        """Where the files go; None when there is no absolute place (no home folder)."""
        try:
            folder = self._folder or cache_root() / "catalogue"
        except (RuntimeError, KeyError):  # Path.home() without HOME or a passwd entry
            return None
        return folder if folder.is_absolute() else None

    def read(self, name: str) -> str | None:
        folder = self.folder()
        if folder is None:
            return None
        try:
            return (folder / f"{name}{SUFFIX}").read_text(encoding="ascii")
        except (OSError, ValueError):
            return None

    def write(self, name: str, text: str) -> None:
        folder = self.folder()
        if folder is None:
            return
        from citykit.cli.userfiles import write_files  # tempfile: only a command that writes

        try:
            write_files({folder / f"{name}{SUFFIX}": text}, make_folders=True)
        except (CitykitError, OSError):
            return
        _prune(folder)


def _prune(folder: Path) -> None:
    """Remove all but the MAX_FILES most recently written files (a city's own catalogue folder
    in each temporary checkout would otherwise leave one file each)."""
    with contextlib.suppress(OSError):
        kept = sorted(folder.glob("*.json"), key=lambda path: path.stat().st_mtime, reverse=True)
        for path in kept[MAX_FILES:]:
            path.unlink(missing_ok=True)
