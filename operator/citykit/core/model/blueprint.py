"""The CityBlueprint as typed, immutable data, parsed from a schema-valid document."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from citykit.api.names import city_namespace

_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
DEFAULT_HEALTHY_FOR = "10m"
# How long an upgrade's candidate revision may take to become healthy before it rolls back.
DEFAULT_PROGRESS_DEADLINE = "10m"


def duration_seconds(text: str) -> int:
    """`"90s"`, `"10m"`, `"72h"`, `"14d"` -> seconds (the schema guarantees the shape).

    At most six ASCII digits, as the schema says: a longer number would overflow the
    operator's date arithmetic (`\\d` would also take other scripts' digits)."""
    match = re.fullmatch(r"([0-9]{1,6})([smhd])", text)
    if not match:
        raise ValueError(f"not a duration: {text!r}")
    return int(match.group(1)) * _DURATION_UNITS[match.group(2)]


@dataclass(frozen=True)
class Gate:
    healthy_for: str
    approval: str
    progress_deadline: str = DEFAULT_PROGRESS_DEADLINE

    @property
    def healthy_for_seconds(self) -> int:
        return duration_seconds(self.healthy_for)

    @property
    def progress_deadline_seconds(self) -> int:
        return duration_seconds(self.progress_deadline)


@dataclass(frozen=True)
class InitiativeSpec:
    """One initiative as the blueprint asks for it; `index` locates it in the file."""

    index: int
    ref: str
    enabled: bool
    parameters: Mapping[str, Any]
    secret_refs: Mapping[str, Mapping[str, str]]
    pilot_districts: tuple[str, ...]
    gate: Gate
    depends_on: tuple[str, ...]
    retention_days: int | None
    approvers: tuple[str, ...]


@dataclass(frozen=True)
class KpiTarget:
    index: int
    kpi: str
    baseline: float
    target: float
    year: int
    commitment: str
    baseline_year: int | None = None  # None: DEFAULT_BASELINE_YEARS before `year`


@dataclass(frozen=True)
class ExternalRecipient:
    """Who outside the city's platform a consumer hands shared data on to, and where."""

    recipient: str
    country: str
    safeguard: str | None


@dataclass(frozen=True)
class SharingAgreement:
    index: int
    producer: str
    consumer: str
    data_product: str
    purpose: str
    external: ExternalRecipient | None = None


@dataclass(frozen=True)
class Blueprint:
    name: str
    city_name: str
    country: str
    hosting_country: str
    timezone: str
    population: int
    version: str
    catalogue_version: str
    jurisdiction: str
    minimum_consent: str
    max_retention_days: int | None
    districts: tuple[str, ...]
    initiatives: tuple[InitiativeSpec, ...]
    kpi_targets: tuple[KpiTarget, ...]
    data_sharing: tuple[SharingAgreement, ...]

    @property
    def namespace(self) -> str:
        return city_namespace(self.name)

    @property
    def enabled(self) -> tuple[InitiativeSpec, ...]:
        return tuple(initiative for initiative in self.initiatives if initiative.enabled)


def parse(data: Mapping[str, Any]) -> Blueprint:
    """Typed view of a blueprint that has already passed the schema."""
    spec = data["spec"]
    privacy = spec.get("privacy", {})
    return Blueprint(
        name=data["metadata"]["name"],
        city_name=spec["city"]["name"],
        country=spec["city"]["country"],
        hosting_country=spec.get("hosting", {}).get("country", spec["city"]["country"]),
        timezone=spec["city"]["timezone"],
        population=spec["city"]["population"],
        version=spec["version"],
        catalogue_version=spec["catalogueVersion"],
        jurisdiction=spec["jurisdiction"],
        minimum_consent=privacy.get("minimumConsent", "none"),
        max_retention_days=privacy.get("maxRetentionDays"),
        districts=tuple(district["id"] for district in spec["districts"]),
        initiatives=tuple(_initiative(i, item) for i, item in enumerate(spec["initiatives"])),
        kpi_targets=tuple(
            KpiTarget(
                i,
                t["kpi"],
                t["baseline"],
                t["target"],
                t["year"],
                t["commitment"],
                t.get("baselineYear"),
            )
            for i, t in enumerate(spec.get("kpiTargets", []))
        ),
        data_sharing=tuple(_agreement(i, a) for i, a in enumerate(spec.get("dataSharing", []))),
    )


def _agreement(index: int, item: Mapping[str, Any]) -> SharingAgreement:
    external = item.get("external")
    return SharingAgreement(
        index,
        item["producer"],
        item["consumer"],
        item["dataProduct"],
        item["purpose"],
        ExternalRecipient(external["recipient"], external["country"], external.get("safeguard"))
        if external
        else None,
    )


def _initiative(index: int, item: Mapping[str, Any]) -> InitiativeSpec:
    gate = item.get("gate", {})
    return InitiativeSpec(
        index=index,
        ref=item["ref"],
        enabled=item.get("enabled", True),
        parameters=item.get("parameters", {}),
        secret_refs=item.get("secretRefs", {}),
        pilot_districts=tuple(item.get("pilotDistricts", ())),
        gate=Gate(
            gate.get("healthyFor", DEFAULT_HEALTHY_FOR),
            gate.get("approval", "auto"),
            gate.get("progressDeadline", DEFAULT_PROGRESS_DEADLINE),
        ),
        depends_on=tuple(item.get("dependsOn", ())),
        retention_days=item.get("retentionDays"),
        approvers=tuple(approval["approver"] for approval in item.get("approvals", ())),
    )
