"""The JSON Schemas that define citykit's documents: one source for `validate` and the CRDs.

Loaded as plain data from the packaged `blueprints/schema/` folder; the pure core validates
with them and `citykit.api.crd` converts them into the CRDs the API server enforces.
"""

from __future__ import annotations

import functools
from typing import Any

import yaml

from citykit.resources import schema_dir

BLUEPRINT = "cityblueprint"
CATALOGUE_ENTRY = "catalogue-entry"
CATALOGUE = "catalogue"
JURISDICTION_PROFILE = "jurisdiction-profile"
INITIATIVE = "initiative"
KPI_REPORT = "kpireport"
STATUS = "status"


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    """The schema `blueprints/schema/<name>.schema.yaml` as plain data."""
    text = (schema_dir() / f"{name}.schema.yaml").read_text()
    schema: dict[str, Any] = yaml.load(
        text, Loader=yaml.CSafeLoader
    )  # libyaml: trusted, shipped data
    return schema


def schema_names() -> list[str]:
    """Every schema the package ships, by name."""
    return sorted(
        path.name.removesuffix(".schema.yaml") for path in schema_dir().glob("*.schema.yaml")
    )
