"""Where checked catalogues are kept between processes, when the caller gives a place.

Checking a catalogue version (135 files: YAML with positions, JSON Schema, cross-checks) takes
most of a second, and every `citykit` command is a new process. The core writes nothing, so
the place is given from outside: the CLI gives its user cache (`citykit.cli.cataloguecache`);
the operator, one long-lived process that keeps each version it read in memory, gives none.
What is kept is only ever a catalogue that had no problems, under a digest of every byte it
was checked from (`catalogue.load_catalogue`), so a kept copy gives the same answer as
checking again. This module imports nothing heavy: the CLI gives the place before it knows
whether the command reads a catalogue at all.
"""

from __future__ import annotations

from typing import Protocol


class CatalogueStore(Protocol):
    def read(self, name: str) -> str | None:
        """The text kept under `name`, or None when there is none or it cannot be read."""

    def write(self, name: str, text: str) -> None:
        """Keep `text` under `name`, whole or not at all; a failure is passed over silently."""


_given: list[CatalogueStore] = []


def keep_catalogues_in(store: CatalogueStore | None) -> None:
    """From now on keep checked catalogues in `store` (None: keep them in memory only)."""
    _given[:] = [store] if store is not None else []


def catalogue_store() -> CatalogueStore | None:
    """The place given with `keep_catalogues_in`, if any."""
    return _given[0] if _given else None
