"""Jurisdiction profiles: the privacy and surveillance rules a blueprint is checked against.

Exporting a blueprint to another country is changing `spec.jurisdiction` and reading what
`citykit validate` says; the rules themselves are data in `blueprints/policies/`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from citykit.api import jsonschemas
from citykit.core.load import schemas
from citykit.core.load.errors import CitykitError
from citykit.core.load.source import load_file
from citykit.resources import policies_dir

CONSENT_STRICTNESS = ("none", "notice", "opt-out", "opt-in")


@dataclass(frozen=True)
class CategoryRule:
    allowed: bool
    consent: str
    retention_days: int | None
    approver: str | None
    reason: str | None


@dataclass(frozen=True)
class Profile:
    id: str
    title: str
    rules: Mapping[str, CategoryRule]
    forbidden_capabilities: Mapping[str, str]
    capability_approvers: Mapping[str, str]
    region: str
    countries: tuple[str, ...]
    cross_border_transfer: str
    safeguards: tuple[str, ...]
    source: str

    def rule(self, category: str) -> CategoryRule:
        """The rule for `category`; a category the profile does not mention is not allowed."""
        return self.rules.get(
            category,
            CategoryRule(False, "opt-in", None, None, f"the {self.id} profile has no rule for it"),
        )


def available_profiles(root: Path | None = None) -> list[str]:
    return sorted(path.stem for path in (root or policies_dir()).glob("*.yaml"))


@functools.cache
def load_profile(profile_id: str, root: Path | None = None) -> Profile:
    """Read and check `blueprints/policies/<profile_id>.yaml`."""
    path = (root or policies_dir()) / f"{profile_id}.yaml"
    document = load_file(path)
    problems = schemas.check(document, jsonschemas.JURISDICTION_PROFILE)
    if not problems and document.data["id"] != profile_id:
        problems = [document.problem(("id",), f"id must match the file name '{profile_id}'")]
    if problems:
        raise CitykitError(problems)
    data = document.data
    return Profile(
        id=data["id"],
        title=data["title"],
        rules={
            category: CategoryRule(
                allowed=rule["allowed"],
                consent=rule.get("consent", "none"),
                retention_days=rule.get("retentionDays"),
                approver=rule.get("approver"),
                reason=rule.get("reason"),
            )
            for category, rule in data["dataCategories"].items()
        },
        forbidden_capabilities={
            item["capability"]: item["reason"] for item in data.get("forbiddenCapabilities", [])
        },
        capability_approvers={
            item["capability"]: item["approver"] for item in data.get("capabilityApprovals", [])
        },
        region=data["residency"]["region"],
        countries=tuple(data["residency"]["countries"]),
        cross_border_transfer=data["residency"]["crossBorderTransfer"],
        safeguards=tuple(data["residency"].get("safeguards", ())),
        source=str(path),
    )
