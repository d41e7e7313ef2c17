"""Where citykit finds its data: schemas, catalogue and jurisdiction profiles.

They live in the repository's `blueprints/` folder (data, not code); the operator image and
tests can point elsewhere with `CITYKIT_BLUEPRINTS`.
"""

from __future__ import annotations

import os
from pathlib import Path


def blueprints_root() -> Path:
    configured = os.environ.get("CITYKIT_BLUEPRINTS")
    return Path(configured) if configured else Path(__file__).resolve().parents[2] / "blueprints"


def schema_dir() -> Path:
    return blueprints_root() / "schema"


def catalogue_dir() -> Path:
    return blueprints_root() / "catalogue"


def policies_dir() -> Path:
    return blueprints_root() / "policies"


def cities_dir() -> Path:
    return blueprints_root() / "cities"
