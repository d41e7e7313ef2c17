"""Jurisdiction policy: may this city run this initiative, and under which privacy settings.

The same `privacy_settings` decides what `validate` accepts and what the rendered
ConfigMap tells the workload (consent mode, retention), so the two can never disagree.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from citykit.core.load.errors import Problem
from citykit.core.load.source import Document
from citykit.core.model.blueprint import Blueprint, InitiativeSpec
from citykit.core.model.catalogue import Catalogue, Entry
from citykit.core.model.profiles import CONSENT_STRICTNESS, Profile

NOT_PERSONAL = frozenset({"none", "aggregate"})


@dataclass(frozen=True)
class PrivacySettings:
    """What a workload must honour, rendered into its ConfigMap."""

    consent: str
    retention_days: int | None
    categories: tuple[str, ...]


def privacy_settings(
    blueprint: Blueprint, initiative: InitiativeSpec, entry: Entry, profile: Profile
) -> PrivacySettings:
    """Strictest consent and shortest retention that the profile, the city and the
    initiative ask for, over every data category the initiative collects."""
    personal = [category for category in entry.personal_data if category not in NOT_PERSONAL]
    consents = [profile.rule(category).consent for category in entry.personal_data]
    if personal:
        consents.append(blueprint.minimum_consent)
    limits = [profile.rule(category).retention_days for category in entry.personal_data]
    limits += [blueprint.max_retention_days, initiative.retention_days]
    known_limits = [limit for limit in limits if limit is not None]
    return PrivacySettings(
        consent=max(consents, key=CONSENT_STRICTNESS.index, default="none"),
        retention_days=min(known_limits, default=None),
        categories=entry.personal_data,
    )


def check(
    document: Document, blueprint: Blueprint, catalogue: Catalogue, profile: Profile
) -> list[Problem]:
    """Every way the enabled initiatives break the jurisdiction's rules."""
    return [
        problem
        for initiative in blueprint.enabled
        if initiative.ref in catalogue.entries
        for problem in _initiative_problems(
            document, initiative, catalogue.entries[initiative.ref], profile
        )
    ]


def _initiative_problems(
    document: Document, initiative: InitiativeSpec, entry: Entry, profile: Profile
) -> Iterator[Problem]:
    path = ("spec", "initiatives", initiative.index)
    where = f"under the {profile.id} profile"
    for category in entry.personal_data:
        rule = profile.rule(category)
        if not rule.allowed:
            yield document.problem(
                (*path, "ref"),
                f"'{entry.id}' collects {category} data, which is not allowed {where}"
                + (f": {rule.reason}" if rule.reason else ""),
            )
            continue
        if rule.approver and rule.approver not in initiative.approvers:
            yield document.problem(
                (*path, "approvals"),
                f"'{entry.id}' collects {category} data, which needs approval by "
                f"{rule.approver} {where}; record it under approvals",
            )
        if (
            rule.retention_days
            and initiative.retention_days
            and initiative.retention_days > rule.retention_days
        ):
            yield document.problem(
                (*path, "retentionDays"),
                f"{initiative.retention_days} days exceeds the {rule.retention_days}-day limit "
                f"for {category} data {where}",
            )
    for capability in entry.capabilities:
        if capability in profile.forbidden_capabilities:
            yield document.problem(
                (*path, "ref"),
                f"'{entry.id}' uses {capability}, which is forbidden {where}: "
                f"{profile.forbidden_capabilities[capability]}",
            )
        approver = profile.capability_approvers.get(capability)
        if approver and approver not in initiative.approvers:
            yield document.problem(
                (*path, "approvals"),
                f"'{entry.id}' uses {capability}, which needs approval by {approver} {where}; "
                "record it under approvals",
            )
