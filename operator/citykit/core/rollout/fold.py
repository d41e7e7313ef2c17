"""A city's rollout seen whole: the CityBlueprint's status folded from its initiatives'
phases and KPI verdicts, how the rollout of an applied spec ended (for its history), and which
status changes may wait to be written together (rollout progress only), so that a wave rolling
out does not write the status once per ready replica.
"""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from citykit.api.enums import Area, BlueprintPhase, ConditionType, Outcome, Phase, Reason
from citykit.api.names import area_of
from citykit.core.office.kpi import binding_condition
from citykit.core.rollout.conditions import conditions_of, set_condition

# Status fields that move with every ready replica while a wave rolls out.
PROGRESS_FIELDS = frozenset({"readyReplicas", "replicas", "ready", "message"})


def progress_only(current: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether `new` differs from `current` only in rollout progress: ready counts and the
    messages that quote them, with phase, wave, gate clock and every condition's status the
    same. Such a change can wait a moment and be written together with the next one."""

    def standing(status: Mapping[str, Any]) -> dict[str, Any]:
        kept = {key: value for key, value in status.items() if key not in PROGRESS_FIELDS}
        kept["conditions"] = sorted(
            (c.get("type"), c.get("status"), c.get("reason"), c.get("observedGeneration"))
            for c in status.get("conditions") or ()
        )
        return kept

    return current != new and standing(current) == standing(new)


def fold_blueprint_status(
    spec: Mapping[str, Any],
    generation: int,
    previous: Mapping[str, Any],
    initiative_phases: Mapping[str, str],
    now: datetime.datetime,
    kpis: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The blueprint's status from its valid spec, its initiatives' phases (by ref) and its
    KPI targets' verdicts (`kpi.kpi_status`), which set the BindingTargetsOnTrack condition."""
    enabled = [item for item in spec["initiatives"] if item.get("enabled", True)]
    phases = {item["ref"]: initiative_phases.get(item["ref"], Phase.PENDING) for item in enabled}
    live = sum(phase == Phase.LIVE for phase in phases.values())
    by_area: dict[str, dict[str, int]] = {}
    for ref, phase in phases.items():
        counts = by_area.setdefault(area_of(ref), {"live": 0, "total": 0})
        counts["total"] += 1
        counts["live"] += phase == Phase.LIVE
    if live == len(phases):
        phase = BlueprintPhase.LIVE
    elif any(p == Phase.DEGRADED for p in phases.values()):
        phase = BlueprintPhase.DEGRADED
    else:
        phase = BlueprintPhase.ROLLING_OUT
    conditions = set_condition(
        conditions_of(previous),
        ConditionType.VALID,
        True,
        Reason.VALIDATED,
        "schema, references and policy checks passed",
        generation,
        now,
    )
    conditions = set_condition(
        conditions,
        ConditionType.READY,
        phase == BlueprintPhase.LIVE,
        phase,
        f"{live}/{len(phases)} initiatives live",
        generation,
        now,
    )
    if kpis:
        binding = binding_condition(kpis)
        conditions = set_condition(
            conditions,
            ConditionType.BINDING_TARGETS_ON_TRACK,
            binding.status,
            binding.reason,
            binding.message,
            generation,
            now,
        )
    return {
        "phase": str(phase),
        "appliedVersion": spec["version"],
        "live": f"{live}/{len(phases)}",
        "observedGeneration": generation,
        "initiatives": {
            "total": len(phases),
            "byPhase": {str(k): v for k, v in sorted(Counter(phases.values()).items())},
            "byArea": {str(area): by_area[area] for area in Area if area in by_area},
        },
        "kpiTargets": [dict(target) for target in spec.get("kpiTargets", [])],
        **({"kpis": [dict(item) for item in kpis]} if kpis else {}),
        "conditions": [condition.to_dict() for condition in conditions],
    }


def settled_outcome(
    blueprint_status: Mapping[str, Any], initiatives: Iterable[Mapping[str, Any]]
) -> tuple[Outcome, str | None] | None:
    """How the rollout of the blueprint spec now applied ended, for its ControllerRevision:
    RolledBack (with why) when an initiative rolled this spec's revision back, Live when
    every initiative is live on it, Degraded (naming which, and why) when every initiative
    has gone as far as it goes, Live or Degraded, and some are Degraded; None while it is
    still under way. Degraded is not final: the same spec recovering is Live. Only statuses
    written for an initiative's current generation count: right after a change the statuses
    still describe the spec before it."""
    items = list(initiatives)
    if any(
        (item.get("status") or {}).get("observedGeneration")
        != (item.get("metadata") or {}).get("generation")
        for item in items
    ):
        return None
    for item in items:
        for found in (item.get("status") or {}).get("conditions") or ():
            if (
                found.get("type") == ConditionType.PROGRESSING
                and found.get("reason") == Reason.ROLLED_BACK
                and found.get("observedGeneration") == item["metadata"].get("generation")
            ):
                return Outcome.ROLLED_BACK, f"{item['spec']['ref']}: {found.get('message', '')}"
    if blueprint_status.get("phase") == BlueprintPhase.LIVE:
        return Outcome.LIVE, None
    statuses = [(item["spec"]["ref"], item.get("status") or {}) for item in items]
    degraded = [
        f"{ref}: {status.get('message', '')}"
        for ref, status in statuses
        if status.get("phase") == Phase.DEGRADED
    ]
    if degraded and all(s.get("phase") in (Phase.LIVE, Phase.DEGRADED) for _, s in statuses):
        return Outcome.DEGRADED, "; ".join(degraded)
    return None


def blocked_blueprint_status(
    generation: int, previous: Mapping[str, Any], problems: Sequence[str], now: datetime.datetime
) -> dict[str, Any]:
    """Status of a blueprint that failed validation: nothing new is deployed, and why."""
    summary = f"{len(problems)} problem(s): {problems[0]}" if problems else "invalid"
    conditions = set_condition(
        conditions_of(previous),
        ConditionType.VALID,
        False,
        Reason.VALIDATION_FAILED,
        summary,
        generation,
        now,
    )
    conditions = set_condition(
        conditions, ConditionType.READY, False, BlueprintPhase.BLOCKED, summary, generation, now
    )
    status = {
        key: value
        for key, value in previous.items()
        if key in ("appliedVersion", "live", "initiatives", "kpiTargets")
    }
    return {
        **status,
        "phase": str(BlueprintPhase.BLOCKED),
        "observedGeneration": generation,
        "problems": list(problems[:50]),
        "conditions": [condition.to_dict() for condition in conditions],
    }
