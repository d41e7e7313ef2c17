"""What of a decided status is written now, what may wait, and which phase changes are news.

A cold rollout passes every initiative through short phases (Waiting, Pilot, Citywide) and
counts its ready replicas up one by one. Writing each of them, with an Event per phase, cost
2.5 API writes per planned object (issue 28). Here, pure, is the policy that keeps that to the
objects themselves plus what the programme office reads: a status change that is only a step
on the way (progress, or a passage through a transitional phase of a cold rollout) may wait
up to the operator's progress interval and is then written with whatever came since, so a
phase that lasts less than that is never written on its own; a phase a person acts on, or
one that ends a rollout, is written at once. Events are posted only for what a person acts
on: an approval awaited, trouble (Degraded, Blocked, a rollback), a recovery, and a city's
rollout ending; the Ready condition's `lastTransitionTime` keeps when each initiative went
Live.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from citykit.api.enums import BlueprintPhase, EventType, Phase
from citykit.api.names import CITY_BLUEPRINT
from citykit.core.rollout.fold import progress_only

# Phases a cold rollout passes through on its way to Live: their statuses may wait.
TRANSITIONAL = frozenset({Phase.PENDING, Phase.WAITING, Phase.PILOT, Phase.CITYWIDE})
# Status fields that mean an upgrade is in flight: such a status is written at once.
UPGRADE_FIELDS = ("candidateRevision", "promotedAt")


def may_wait(kind: str, stored: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether the change of a `kind` object's status from `stored` to `new` may wait to be
    written with the next: progress only (ready counts), an Initiative moving between the
    transitional phases of a cold rollout (no upgrade in flight), or a CityBlueprint's counts
    (by phase and area, `live`) while its phase and conditions stay."""
    if stored == new:
        return False
    if progress_only(stored, new):
        return True
    before, after = stored.get("phase", Phase.PENDING), new.get("phase")
    if kind == CITY_BLUEPRINT:
        return before == after and _conditions(stored) == _conditions(new)
    return (
        before in TRANSITIONAL
        and after in TRANSITIONAL
        and not any(new.get(key) or stored.get(key) for key in UPGRADE_FIELDS)
    )


def _conditions(status: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    return sorted(
        (c.get("type"), c.get("status"), c.get("reason"), c.get("observedGeneration"))
        for c in status.get("conditions") or ()
    )


@dataclass(frozen=True)
class News:
    """An Event worth posting about a phase change: its type and reason (the new phase)."""

    type: EventType
    reason: Phase | BlueprintPhase


# Initiative phases a person acts on (approve; look at what is wrong)
_INITIATIVE_NEWS = {
    Phase.AWAITING_APPROVAL: EventType.NORMAL,
    Phase.DEGRADED: EventType.WARNING,
    Phase.BLOCKED: EventType.WARNING,
}
# A city's rollout ending, or going wrong
_BLUEPRINT_NEWS = {
    BlueprintPhase.LIVE: EventType.NORMAL,
    BlueprintPhase.DEGRADED: EventType.WARNING,
    BlueprintPhase.BLOCKED: EventType.WARNING,
}


def phase_news(kind: str, before: str | None, after: str) -> News | None:
    """The Event a written phase change from `before` to `after` deserves, or None: for an
    Initiative, awaiting approval, Degraded, Blocked, and Live again after Degraded or
    Blocked; for a CityBlueprint, Live, Degraded and Blocked."""
    if before == after:
        return None
    if kind == CITY_BLUEPRINT:
        if after not in tuple(BlueprintPhase):
            return None
        phase: Phase | BlueprintPhase = BlueprintPhase(after)
        found = _BLUEPRINT_NEWS.get(BlueprintPhase(after))
    else:
        if after not in tuple(Phase):
            return None
        phase = Phase(after)
        recovered = phase == Phase.LIVE and before in (Phase.DEGRADED, Phase.BLOCKED)
        found = EventType.NORMAL if recovered else _INITIATIVE_NEWS.get(phase)
    return News(found, phase) if found is not None else None
