"""What `citykit status` shows: rows and a progress summary from Initiative objects, and a
KPI table from a CityBlueprint's `status.kpis` (pure)."""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from citykit.api.enums import Area, Phase
from citykit.core.load.errors import number_text
from citykit.core.office.kpi import VERDICTS

PHASE_ORDER = (
    Phase.LIVE,
    Phase.CITYWIDE,
    Phase.AWAITING_APPROVAL,
    Phase.PILOT,
    Phase.WAITING,
    Phase.PENDING,
    Phase.DEGRADED,
    Phase.BLOCKED,
)


@dataclass(frozen=True)
class Row:
    city: str
    initiative: str
    area: str
    phase: str
    wave: str
    ready: str
    age: str
    # the revision running citywide; during an upgrade "A -> B", B the candidate piloting
    revision: str = "-"


def age(created: str | None, now: datetime.datetime) -> str:
    """kubectl-style age: 45s, 12m, 3h, 5d."""
    if not created:
        return "-"
    seconds = int((now - datetime.datetime.fromisoformat(created)).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def rows(initiatives: Iterable[Mapping[str, Any]], now: datetime.datetime) -> list[Row]:
    """One row per Initiative, ordered by city, then area as the catalogue orders them, then id."""
    result = []
    for item in initiatives:
        spec, status = item.get("spec", {}), item.get("status") or {}
        result.append(
            Row(
                city=spec.get("city", "?"),
                initiative=spec.get("ref", item["metadata"]["name"]),
                area=spec.get("area", "?"),
                phase=status.get("phase", "Pending"),
                wave=status.get("wave", "-"),
                ready=status.get("ready", "-"),
                age=age(item["metadata"].get("creationTimestamp"), now),
                revision=" -> ".join(
                    filter(None, (status.get("revision"), status.get("candidateRevision")))
                )
                or "-",
            )
        )
    area_rank = {area: rank for rank, area in enumerate(Area)}
    return sorted(result, key=lambda row: (row.city, area_rank.get(row.area, 99), row.initiative))


def summary(table: list[Row]) -> str:
    """`12/30 live — Live 12, Pilot 5, Waiting 13`."""
    counts = Counter(row.phase for row in table)
    return f"{counts['Live']}/{len(table)} live" + (f" — {phases_text(counts)}" if counts else "")


def by_area(table: list[Row]) -> list[tuple[str, Counter[str]]]:
    """Phase counts per area, areas in catalogue order: the demo's one-screen progress view."""
    counts: dict[str, Counter[str]] = {}
    for row in table:
        counts.setdefault(row.area, Counter())[row.phase] += 1
    area_rank = {area: rank for rank, area in enumerate(Area)}
    return sorted(counts.items(), key=lambda item: area_rank.get(item[0], 99))


def phases_text(counts: Counter[str]) -> str:
    """`Live 3, Pilot 2`, phases in rollout order."""
    return ", ".join(f"{phase} {counts[phase]}" for phase in PHASE_ORDER if counts[phase])


# The KPI table: one row per KPI target, from `status.kpis` (citykit.core.office.kpi.kpi_status).

# A mark beside each verdict, so the table reads without colour too.
VERDICT_MARKS = {"met": "✔ met", "on-track": "↗ on-track", "off-track": "✘ off-track"}


@dataclass(frozen=True)
class KpiRow:
    kpi: str
    commitment: str
    baseline: str
    target: str
    expected: str
    latest: str
    verdict: str  # with its mark
    moved_by: str
    state: str  # the bare verdict, for colour


def kpi_rows(kpis: Iterable[Mapping[str, Any]]) -> list[KpiRow]:
    """One row per target, binding ones first, each group in blueprint order."""
    result = []
    for item in sorted(kpis, key=lambda item: item.get("commitment") != "binding"):
        latest = item.get("latest")
        unit = f" {item['unit']}" if item.get("unit") else ""
        initiatives = item.get("initiatives") or []
        result.append(
            KpiRow(
                kpi=item["kpi"],
                commitment=item["commitment"],
                baseline=f"{number_text(item['baseline'])} ({item['baselineYear']})",
                target=f"{number_text(item['target'])}{unit} by {item['year']}",
                expected=number_text(item["expected"]),
                latest=f"{number_text(latest['value'])} ({latest['date']})" if latest else "-",
                verdict=VERDICT_MARKS.get(item["verdict"], "· " + item["verdict"]),
                moved_by=moved_by(initiatives),
                state=item["verdict"],
            )
        )
    return result


def kpi_summary(kpis: Sequence[Mapping[str, Any]]) -> str:
    """`binding: 2 on-track, 1 off-track — expected: 3 no-data`."""
    parts = []
    for commitment in ("binding", "expected"):
        counts = Counter(k["verdict"] for k in kpis if k["commitment"] == commitment)
        if counts:
            listed = ", ".join(f"{counts[v]} {v}" for v in VERDICTS if counts[v])
            parts.append(f"{commitment}: {listed}")
    return " — ".join(parts) or "no KPI targets"


def moved_by(initiatives: Sequence[Mapping[str, Any]]) -> str:
    """`3: Live 1, Pilot 2`: how many of the city's initiatives move a KPI, by phase."""
    if not initiatives:
        return "-"
    return f"{len(initiatives)}: {phases_text(Counter(item['phase'] for item in initiatives))}"
