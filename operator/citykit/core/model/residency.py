"""Data residency: where a city, its platform and the data it shares may be.

A jurisdiction profile lists the countries its residency covers and whether personal data
may leave them (`crossBorderTransfer`). So exporting a blueprint to another jurisdiction
shows here every place it would break: a city or hosting country outside the residency, and
every data-sharing agreement whose external recipient is outside it without what the profile
asks for. The city's own retention ceiling (`privacy.maxRetentionDays`) is held here too.
"""

from __future__ import annotations

from collections.abc import Iterator

from citykit.core.load.errors import Problem
from citykit.core.load.source import Document
from citykit.core.model.blueprint import Blueprint, SharingAgreement
from citykit.core.model.catalogue import Catalogue
from citykit.core.model.policy import NOT_PERSONAL
from citykit.core.model.profiles import Profile

SPEC = ("spec",)
NEEDS_SAFEGUARD = frozenset({"with-safeguards", "security-assessment"})


def check(
    document: Document, blueprint: Blueprint, catalogue: Catalogue, profile: Profile
) -> list[Problem]:
    """Every way the blueprint leaves the profile's residency or its own retention ceiling."""
    return [
        *_places(document, blueprint, profile),
        *_transfers(document, blueprint, catalogue, profile),
        *_retention_ceiling(document, blueprint),
    ]


def residency_text(profile: Profile) -> str:
    """`pipl profile's residency (CN: CN)`: what a message names as the allowed countries."""
    return (
        f"the {profile.id} profile's residency ({profile.region}: {', '.join(profile.countries)})"
    )


def _places(document: Document, blueprint: Blueprint, profile: Profile) -> Iterator[Problem]:
    if blueprint.country not in profile.countries:
        yield document.problem(
            (*SPEC, "city", "country"),
            f"city country {blueprint.country} is outside {residency_text(profile)}; "
            f"a city under {profile.id} must be in one of its countries",
        )
    if blueprint.hosting_country != blueprint.country and (
        blueprint.hosting_country not in profile.countries
    ):
        yield document.problem(
            (*SPEC, "hosting", "country"),
            f"hosting country {blueprint.hosting_country} is outside {residency_text(profile)}; "
            "the platform must store the city's data inside it",
        )


def _transfers(
    document: Document, blueprint: Blueprint, catalogue: Catalogue, profile: Profile
) -> Iterator[Problem]:
    for agreement in blueprint.data_sharing:
        external = agreement.external
        if external is None or external.country in profile.countries:
            continue
        if not _personal(agreement, catalogue):
            continue  # no personal data leaves: the profile's transfer rule is not engaged
        path = (*SPEC, "dataSharing", agreement.index, "external")
        transfer = (
            f"'{agreement.data_product}' to {external.recipient} in {external.country} "
            f"leaves {residency_text(profile)}"
        )
        rule = profile.cross_border_transfer
        if rule == "forbidden":
            yield document.problem(
                (*path, "country"),
                f"{transfer}, and the {profile.id} profile forbids cross-border transfer of "
                "personal data, whatever the safeguard",
            )
        elif rule in NEEDS_SAFEGUARD and external.safeguard is None:
            yield document.problem(
                path,
                f"{transfer}; under the {profile.id} profile that needs a declared safeguard "
                f"({rule}): set external.safeguard to one of {', '.join(profile.safeguards)}",
            )
        elif rule in NEEDS_SAFEGUARD and external.safeguard not in profile.safeguards:
            yield document.problem(
                (*path, "safeguard"),
                f"{transfer}; {external.safeguard} is not a safeguard the {profile.id} profile "
                f"accepts ({rule}: {', '.join(profile.safeguards)})",
            )


def _personal(agreement: SharingAgreement, catalogue: Catalogue) -> bool:
    """Whether the shared data may be personal: its producer collects a personal category
    (or is unknown to the catalogue, which semantics reports; assume the worst)."""
    entry = catalogue.entries.get(agreement.producer)
    return entry is None or any(category not in NOT_PERSONAL for category in entry.personal_data)


def _retention_ceiling(document: Document, blueprint: Blueprint) -> Iterator[Problem]:
    ceiling = blueprint.max_retention_days
    if ceiling is None:
        return
    for initiative in blueprint.initiatives:
        if initiative.retention_days is not None and initiative.retention_days > ceiling:
            yield document.problem(
                (*SPEC, "initiatives", initiative.index, "retentionDays"),
                f"{initiative.retention_days} days exceeds the city's own ceiling of {ceiling} "
                "days (spec.privacy.maxRetentionDays)",
            )
