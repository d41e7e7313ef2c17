"""The one entry point that turns a blueprint document into something safe to deploy.

The CLI (`validate`, `plan`, `diff`, `apply`) and the operator both call `validate`; a
blueprint either passes every check (schema, semantics, jurisdiction policy, residency) or
yields the full list of located problems and nothing is rendered.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from citykit.api import jsonschemas
from citykit.core.load import schemas
from citykit.core.load.errors import CitykitError, listing
from citykit.core.load.source import Document, load_file
from citykit.core.model import policy, residency, semantics
from citykit.core.model.blueprint import Blueprint, parse
from citykit.core.model.catalogue import Catalogue, catalogue_versions, load_catalogue
from citykit.core.model.profiles import Profile, available_profiles, load_profile


@dataclass(frozen=True)
class ValidatedBlueprint:
    document: Document
    blueprint: Blueprint
    catalogue: Catalogue
    profile: Profile


def validate(document: Document, catalogue: Catalogue | None = None) -> ValidatedBlueprint:
    """Check `document` completely; raise `CitykitError` with every problem found.

    The blueprint is checked against the catalogue version it pins (`catalogue` overrides
    that, and then the pin must match it)."""
    problems = schemas.check(document, jsonschemas.BLUEPRINT)
    if problems:
        raise CitykitError(problems)
    blueprint = parse(document.data)
    if catalogue is None:
        if blueprint.catalogue_version not in catalogue_versions():
            raise CitykitError(
                document.problem(
                    ("spec", "catalogueVersion"),
                    f"blueprint pins catalogue {blueprint.catalogue_version}, which this "
                    f"citykit does not ship (available: {listing(catalogue_versions())})",
                )
            )
        catalogue = load_catalogue(blueprint.catalogue_version)
    problems = semantics.check(document, blueprint, catalogue)
    if blueprint.jurisdiction not in available_profiles():
        problems.append(
            document.problem(
                ("spec", "jurisdiction"),
                f"unknown jurisdiction profile '{blueprint.jurisdiction}' "
                f"(available: {', '.join(available_profiles())})",
            )
        )
        raise CitykitError(problems)
    profile = load_profile(blueprint.jurisdiction)
    problems += policy.check(document, blueprint, catalogue, profile)
    problems += residency.check(document, blueprint, catalogue, profile)
    if problems:
        raise CitykitError(problems)
    return ValidatedBlueprint(document, blueprint, catalogue, profile)


def validate_file(path: Path | str) -> ValidatedBlueprint:
    return validate(load_file(path))
