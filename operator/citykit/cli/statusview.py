"""What `citykit status` shows: rows and a progress summary from Initiative objects, and a
KPI table from a CityBlueprint's `status.kpis` (pure)."""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from citykit.api.enums import Area, Commitment, Phase, Verdict
from citykit.core.load.errors import number_text, one_line
from citykit.core.office.report import shown_order


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
                city=one_line(str(spec.get("city", "?"))),
                initiative=one_line(str(spec.get("ref", item["metadata"]["name"]))),
                area=one_line(str(spec.get("area", "?"))),
                phase=status.get("phase", Phase.PENDING),
                wave=status.get("wave", "-"),
                ready=status.get("ready", "-"),
                age=age(item["metadata"].get("creationTimestamp"), now),
                revision=revision_text(status),
            )
        )
    area_rank = {str(area): rank for rank, area in enumerate(Area)}
    return sorted(result, key=lambda row: (row.city, area_rank.get(row.area, 99), row.initiative))


def revision_text(status: Mapping[str, Any]) -> str:
    """`r3`, `r3 -> r4` while r4 pilots, `r3 (r4 failed)` after a rollback, and `(last good r2)`
    when the revision running is not the last one that was Live citywide."""
    running = status.get("revision")
    text = " -> ".join(filter(None, (running, status.get("candidateRevision")))) or "-"
    if status.get("failedRevision"):
        text += f" ({status['failedRevision']} failed)"
    last_good = (status.get("lastGood") or {}).get("revision")
    if last_good and last_good != running:
        text += f" (last good {last_good})"
    return one_line(text)


def summary(table: list[Row]) -> str:
    """`12/30 live — Live 12, Pilot 5, Waiting 13`."""
    counts = Counter(row.phase for row in table)
    return f"{counts[Phase.LIVE]}/{len(table)} live" + (
        f" — {phases_text(counts)}" if counts else ""
    )


def by_area(table: list[Row]) -> list[tuple[str, Counter[str]]]:
    """Phase counts per area, areas in catalogue order: the demo's one-screen progress view."""
    counts: dict[str, Counter[str]] = {}
    for row in table:
        counts.setdefault(row.area, Counter())[row.phase] += 1
    area_rank = {str(area): rank for rank, area in enumerate(Area)}
    return sorted(counts.items(), key=lambda item: area_rank.get(item[0], 99))


def phases_text(counts: Counter[str]) -> str:
    """`Live 3, Pilot 2`, phases in rollout order (any the order does not know last)."""
    return ", ".join(f"{phase} {counts[phase]}" for phase in shown_order(counts))


# The KPI table: one row per KPI target, from `status.kpis` (citykit.core.office.kpi.kpi_status).

# A mark beside each verdict, so the table reads without colour too.
VERDICT_MARKS: dict[str, str] = {
    Verdict.MET: "✔ met",
    Verdict.ON_TRACK: "↗ on-track",
    Verdict.OFF_TRACK: "✘ off-track",
    Verdict.NO_DATA: "· no-data",
}


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
    for item in sorted(kpis, key=lambda item: item.get("commitment") != Commitment.BINDING):
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
    for commitment in Commitment:
        counts = Counter(k["verdict"] for k in kpis if k["commitment"] == commitment)
        if counts:
            listed = ", ".join(f"{counts[v]} {v}" for v in Verdict if counts[v])
            parts.append(f"{commitment}: {listed}")
    return " — ".join(parts) or "no KPI targets"


def moved_by(initiatives: Sequence[Mapping[str, Any]]) -> str:
    """`3: Live 1, Pilot 2`: how many of the city's initiatives move a KPI, by phase."""
    if not initiatives:
        return "-"
    return f"{len(initiatives)}: {phases_text(Counter(item['phase'] for item in initiatives))}"
