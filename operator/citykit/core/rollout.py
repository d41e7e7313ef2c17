"""The rollout state machine and status folding, as pure functions.

The operator observes (its in-memory indices of Deployments and Initiatives), calls
`next_initiative_status` and `fold_blueprint_status`, and writes only when the result differs
from what is stored. Time is an argument, so every transition is unit-testable and an idle
operator computes the same status again and writes nothing.

Initiative phases: Pending -> Waiting (for dependsOn) -> Pilot (pilot districts) ->
AwaitingApproval (gate passed, manual approval needed) -> Citywide (rolling out everywhere) ->
Live; Degraded when a live initiative loses readiness; Blocked when it cannot be deployed.
An initiative without pilot districts whose gate asks for manual approval waits in
AwaitingApproval before anything is deployed: a manual gate is never skipped.
"""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from citykit.api.enums import STARTED_PHASES, Area, BlueprintPhase, Phase, Wave
from citykit.api.names import WAVE_LABEL, area_of
from citykit.core.blueprint import duration_seconds
from citykit.core.render import initial_wave


def timestamp(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(text: str) -> datetime.datetime:
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)


@dataclass(frozen=True)
class Workloads:
    """Readiness folded over an initiative's Deployments."""

    expected: int
    found: int
    desired: int
    ready: int
    current: bool

    @property
    def healthy(self) -> bool:
        return self.found == self.expected and self.current and self.ready >= self.desired > 0


def fold_workloads(
    deployments: Iterable[Mapping[str, Any]], expected: int, wave: Wave
) -> Workloads:
    """Sum replicas over the Deployments of the current wave; older waves do not count."""
    found = desired = ready = 0
    current = True
    for deployment in deployments:
        labels = deployment.get("metadata", {}).get("labels", {})
        if labels.get(WAVE_LABEL) != wave:
            current = False
            continue
        status = deployment.get("status") or {}
        found += 1
        desired += deployment.get("spec", {}).get("replicas", 1)
        ready += min(status.get("readyReplicas", 0) or 0, status.get("updatedReplicas", 0) or 0)
        if (status.get("observedGeneration") or 0) < deployment.get("metadata", {}).get(
            "generation", 0
        ):
            current = False
    return Workloads(expected, found, desired, ready, current)


def set_condition(
    conditions: Sequence[Mapping[str, Any]],
    type_: str,
    status: bool,
    reason: str,
    message: str,
    generation: int,
    now: datetime.datetime,
) -> list[Mapping[str, Any]]:
    """Conditions with `type_` set; `lastTransitionTime` moves only when `status` changes."""
    value = "True" if status else "False"
    previous = next((c for c in conditions if c["type"] == type_), None)
    changed_at = (
        previous["lastTransitionTime"]
        if previous and previous["status"] == value
        else timestamp(now)
    )
    condition: Mapping[str, Any] = {
        "type": type_,
        "status": value,
        "reason": reason,
        "message": message,
        "observedGeneration": generation,
        "lastTransitionTime": changed_at,
    }
    return sorted(
        [*(c for c in conditions if c["type"] != type_), condition], key=lambda c: c["type"]
    )


@dataclass(frozen=True)
class InitiativeView:
    """What the operator knows about one initiative when deciding its next status."""

    spec: Mapping[str, Any]
    generation: int
    status: Mapping[str, Any]
    dependency_phases: Mapping[str, str]
    deployments: Sequence[Mapping[str, Any]]
    approved_by: str | None


@dataclass(frozen=True)
class Decision:
    """The status to store, the wave to deploy (None: deploy nothing yet), when to look again."""

    status: dict[str, Any]
    wave: Wave | None
    recheck_after: float | None


def next_initiative_status(
    view: InitiativeView, components: int, now: datetime.datetime
) -> Decision:
    spec, previous = view.spec, view.status
    conditions: list[Mapping[str, Any]] = list(previous.get("conditions", []))

    def condition(type_: str, ok: bool, reason: str, message: str) -> None:
        nonlocal conditions
        conditions = set_condition(conditions, type_, ok, reason, message, view.generation, now)

    condition(
        "PolicyCompliant",
        True,
        "Validated",
        "checked with the blueprint against the jurisdiction profile",
    )
    waiting = sorted(
        ref for ref in spec["dependsOn"] if view.dependency_phases.get(ref) not in STARTED_PHASES
    )
    if waiting:
        message = "waiting for " + ", ".join(waiting)
        condition("DependenciesReady", False, "Waiting", message)
        condition("Ready", False, "Waiting", "not deployed until its dependencies are live")
        return Decision(
            _finish({"phase": Phase.WAITING, "message": message}, view, conditions, None),
            None,
            None,
        )
    condition(
        "DependenciesReady",
        True,
        Phase.LIVE,
        "all dependencies are live" if spec["dependsOn"] else "no dependencies",
    )

    wave: Wave = Wave(previous.get("wave") or initial_wave(spec))
    if wave == Wave.CITYWIDE and not previous.get("wave") and _awaits_approval(view):
        message = "no pilot districts: deploys citywide once approved; run `citykit approve`"
        condition("Ready", False, Phase.AWAITING_APPROVAL, message)
        return Decision(
            _finish({"phase": Phase.AWAITING_APPROVAL, "message": message}, view, conditions, None),
            None,
            None,
        )
    workloads = fold_workloads(view.deployments, components, wave)
    status: dict[str, Any] = {"wave": wave}
    recheck: float | None = None
    if wave == Wave.PILOT:
        status, wave, recheck = _pilot(view, workloads, now, status)
        if wave == Wave.CITYWIDE:
            workloads = fold_workloads(view.deployments, components, wave)
    if wave == Wave.CITYWIDE:
        if workloads.healthy:
            status["phase"], status["message"] = (
                Phase.LIVE,
                f"live in all {len(spec['districts'])} districts",
            )
        elif previous.get("phase") in STARTED_PHASES and previous.get("wave") == Wave.CITYWIDE:
            status["phase"], status["message"] = (
                Phase.DEGRADED,
                f"{workloads.ready}/{workloads.desired} replicas ready",
            )
        else:
            status["phase"], status["message"] = (
                Phase.CITYWIDE,
                f"rolling out to all {len(spec['districts'])} districts",
            )
    status["readyReplicas"], status["replicas"] = workloads.ready, workloads.desired
    status["ready"] = f"{workloads.ready}/{workloads.desired}"
    if view.approved_by:  # who let it go citywide stays on record, not just at the transition
        status["approvedBy"] = view.approved_by
    condition("Ready", status["phase"] == Phase.LIVE, status["phase"], status["message"])
    return Decision(_finish(status, view, conditions, wave), wave, recheck)


def _pilot(
    view: InitiativeView, workloads: Workloads, now: datetime.datetime, status: dict[str, Any]
) -> tuple[dict[str, Any], Wave, float | None]:
    spec, previous = view.spec, view.status
    districts = ", ".join(spec["pilotDistricts"])
    if not workloads.healthy:
        status.update(
            phase=Phase.PILOT,
            message=f"piloting in {districts}: {workloads.ready}/{workloads.desired} ready",
        )
        return status, Wave.PILOT, None
    since = previous.get("pilotHealthySince") or timestamp(now)
    gate = duration_seconds(spec["gate"]["healthyFor"])
    remaining = gate - (now - parse_timestamp(since)).total_seconds()
    status["pilotHealthySince"] = since
    if remaining > 0:
        status.update(
            phase=Phase.PILOT,
            message=f"piloting in {districts}: healthy, gate opens in {int(remaining) + 1}s",
        )
        return status, Wave.PILOT, remaining
    if _awaits_approval(view):
        status.update(
            phase=Phase.AWAITING_APPROVAL,
            message=f"pilot healthy for {spec['gate']['healthyFor']}; run `citykit approve`",
        )
        return status, Wave.PILOT, None
    status["wave"] = Wave.CITYWIDE
    return status, Wave.CITYWIDE, None


def _awaits_approval(view: InitiativeView) -> bool:
    return view.spec["gate"]["approval"] == "manual" and not view.approved_by


def _finish(
    status: dict[str, Any],
    view: InitiativeView,
    conditions: list[Mapping[str, Any]],
    wave: Wave | None,
) -> dict[str, Any]:
    if wave is None:
        status.pop("wave", None)
    status["observedGeneration"] = view.generation
    status["conditions"] = conditions
    return status


def fold_blueprint_status(
    spec: Mapping[str, Any],
    generation: int,
    previous: Mapping[str, Any],
    initiative_phases: Mapping[str, str],
    now: datetime.datetime,
) -> dict[str, Any]:
    """The blueprint's status from its valid spec and its initiatives' phases (by ref)."""
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
        previous.get("conditions", []),
        "Valid",
        True,
        "Validated",
        "schema, references and policy checks passed",
        generation,
        now,
    )
    conditions = set_condition(
        conditions,
        "Ready",
        phase == BlueprintPhase.LIVE,
        phase,
        f"{live}/{len(phases)} initiatives live",
        generation,
        now,
    )
    return {
        "phase": phase,
        "appliedVersion": spec["version"],
        "live": f"{live}/{len(phases)}",
        "observedGeneration": generation,
        "initiatives": {
            "total": len(phases),
            "byPhase": dict(sorted(Counter(phases.values()).items())),
            "byArea": {area: by_area[area] for area in Area if area in by_area},
        },
        "kpiTargets": [dict(target) for target in spec.get("kpiTargets", [])],
        "conditions": conditions,
    }


def blocked_blueprint_status(
    generation: int, previous: Mapping[str, Any], problems: Sequence[str], now: datetime.datetime
) -> dict[str, Any]:
    """Status of a blueprint that failed validation: nothing new is deployed, and why."""
    summary = f"{len(problems)} problem(s): {problems[0]}" if problems else "invalid"
    conditions = set_condition(
        previous.get("conditions", []), "Valid", False, "ValidationFailed", summary, generation, now
    )
    conditions = set_condition(conditions, "Ready", False, "Blocked", summary, generation, now)
    status = {
        key: value
        for key, value in previous.items()
        if key in ("appliedVersion", "live", "initiatives", "kpiTargets")
    }
    return {
        **status,
        "phase": BlueprintPhase.BLOCKED,
        "observedGeneration": generation,
        "problems": list(problems[:50]),
        "conditions": conditions,
    }
