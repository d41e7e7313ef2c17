"""What `citykit status` shows: rows and a progress summary from Initiative objects (pure)."""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from citykit.api.enums import Area, Phase

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
