"""The initiative rollout state machine: `next_initiative_status`, a pure function.

The operator observes (its in-memory indices of Deployments and Initiatives), parses what it
saw into the types of `status` at its edge, calls `next_initiative_status` and writes the
status it decides only when it differs from what is stored. Time is an argument, so every
transition is unit-testable and an idle operator computes the same status again and writes
nothing. Its transitions stay in this one module: pilot, promotion, upgrade and rollback share
the invariants below.

Initiative phases: Pending -> Waiting (for dependsOn) -> Pilot (pilot districts) ->
AwaitingApproval (gate passed, manual approval needed) -> Citywide (rolling out everywhere) ->
Live; Degraded when a live initiative loses readiness; Blocked when it cannot be deployed.
An initiative without pilot districts whose gate asks for manual approval waits in
AwaitingApproval before anything is deployed: a manual gate is never skipped.

A wave never moves backwards: the wave reached is the furthest of the stored status and the
wave labels of the Deployments that exist, so a crash between writing the citywide children
and writing the status neither sends the rollout back to pilot nor restarts its gate.

Upgrades pilot too. Every rendering of an initiative's workloads has a revision (a hash,
`objects.workload_revision`); once an initiative runs citywide, `status.revision` names the
revision there. When its spec renders a different revision, that candidate is deployed to
the pilot districts beside the citywide objects, which are not touched (phase Upgrading);
after its gate (healthyFor, and approval of that revision when manual) the candidate
replaces the citywide revision (Citywide -> Live). A candidate that is not healthy within
`gate.progressDeadline`, or that loses readiness in the pilot after it was healthy, rolls
back: its objects go, the citywide revision runs on, and `failedRevision` remembers it so
the same spec is not tried again (a changed one is). A newer change arriving mid-upgrade
replaces the candidate and starts its clocks again: the newest wins. Without pilot
districts a changed revision follows its gate only: it waits for approval when the gate is
manual, then rolls out citywide as Kubernetes rolls a Deployment.

The status keeps the last revision that was Live citywide (`lastGood`) with the spec fields
it renders from, so that the operator can render it again while the spec is another
revision's (a deleted citywide Deployment comes back during an upgrade and after a
rollback), and return to it: a revision that replaced it citywide (promoted from its pilot,
or rolled out without one) and is not Live within the progress deadline from then
(`promotedAt`) rolls back too (a promoted revision whose citywide Deployments carry the
last good revision's label was rolled back, even if the status of it was lost). Once a
revision has been Live it is the last good one; if it
later loses readiness it is Degraded, and a new blueprint change (or `citykit rollback`)
fixes it.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from citykit.api.enums import STARTED_PHASES, ConditionType, EventType, Phase, Reason, Wave
from citykit.core.rollout.conditions import (
    Condition,
    ConditionReason,
    parse_timestamp,
    set_condition,
    timestamp,
)
from citykit.core.rollout.status import DeploymentState, InitiativeStatus, LastGood, RolloutSpec


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


def fold_workloads(deployments: Iterable[DeploymentState], expected: int, wave: Wave) -> Workloads:
    """Sum replicas over the Deployments of the current wave; older waves do not count."""
    found = desired = ready = 0
    current = True
    for deployment in deployments:
        if deployment.wave != wave:
            current = False
            continue
        found += 1
        desired += deployment.replicas
        ready += deployment.ready
        current = current and deployment.current
    return Workloads(expected, found, desired, ready, current)


def reached_wave(status: InitiativeStatus, deployments: Iterable[DeploymentState]) -> Wave | None:
    """The furthest wave the status or any existing Deployment shows; None before any.

    Children are written before status, so after a crash between the two the Deployments
    are ahead of the status: they, not the status, say how far the rollout has come."""
    waves = {status.wave, *(deployment.wave for deployment in deployments)}
    if Wave.CITYWIDE in waves:
        return Wave.CITYWIDE
    return Wave.PILOT if Wave.PILOT in waves else None


@dataclass(frozen=True)
class InitiativeView:
    """What the operator knows about one initiative when deciding its next status."""

    spec: RolloutSpec
    generation: int
    status: InitiativeStatus
    dependency_phases: Mapping[str, str]
    deployments: Sequence[DeploymentState]
    approved_by: str | None
    # The revision the spec renders (None: unknown, upgrades are not told apart), and the
    # revision a manual approval was given for.
    revision: str | None = None
    approved_revision: str | None = None
    # The spec fields `revision` renders from (objects.revision_spec): kept as the last good
    # revision's once it is Live.
    revision_spec: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Event:
    """An Event the operator posts with the status (a rollback's Warning)."""

    type: EventType
    reason: Reason
    message: str


@dataclass(frozen=True)
class Decision:
    """The status to store, the wave to deploy the spec in (None: deploy nothing of it), and
    in how many seconds to look again even if nothing changes (a gate opening), None: only
    on change. During an upgrade `candidate` deploys the spec as a candidate in the pilot
    districts, and `hold` keeps the citywide workloads as they are rather than render them
    from the spec (the spec is the candidate's, or a revision that rolled back); without
    `candidate`, a hold removes the candidate objects."""

    status: InitiativeStatus
    wave: Wave | None
    recheck_after: float | None
    candidate: bool = False
    hold: bool = False
    event: Event | None = None


@dataclass(frozen=True)
class _Step:
    """One call of `next_initiative_status`: the view it decides from and the time it decides
    at, which every helper shares; `mark` sets a condition for the view's generation."""

    view: InitiativeView
    now: datetime.datetime

    def mark(
        self,
        conditions: Sequence[Condition],
        type_: ConditionType,
        ok: bool,
        reason: ConditionReason,
        message: str,
    ) -> tuple[Condition, ...]:
        return set_condition(conditions, type_, ok, reason, message, self.view.generation, self.now)


def next_initiative_status(
    view: InitiativeView, components: int, now: datetime.datetime
) -> Decision:
    spec, previous, generation = view.spec, view.status, view.generation
    step = _Step(view, now)

    conditions = step.mark(
        previous.conditions,
        ConditionType.POLICY_COMPLIANT,
        True,
        Reason.VALIDATED,
        "checked with the blueprint against the jurisdiction profile",
    )
    base = InitiativeStatus(observed_generation=generation)
    waiting = sorted(
        ref for ref in spec.depends_on if view.dependency_phases.get(ref) not in STARTED_PHASES
    )
    if waiting:
        message = "waiting for " + ", ".join(waiting)
        conditions = step.mark(
            conditions, ConditionType.DEPENDENCIES_READY, False, Phase.WAITING, message
        )
        conditions = step.mark(
            conditions,
            ConditionType.READY,
            False,
            Phase.WAITING,
            "not deployed until its dependencies are live",
        )
        return Decision(
            replace(base, phase=Phase.WAITING, message=message, conditions=conditions), None, None
        )
    conditions = step.mark(
        conditions,
        ConditionType.DEPENDENCIES_READY,
        True,
        Phase.LIVE,
        "all dependencies are live" if spec.depends_on else "no dependencies",
    )

    running = [deployment for deployment in view.deployments if not deployment.candidate]
    reached = reached_wave(previous, running)
    wave = reached or spec.initial_wave
    stable = running_revision(previous, running) if reached == Wave.CITYWIDE else None
    if view.revision is not None and stable is not None and stable != view.revision:
        return _upgrade(step, stable, components, conditions)
    if reached is None and wave == Wave.CITYWIDE and _awaits_approval(view):
        message = "no pilot districts: deploys citywide once approved; run `citykit approve`"
        conditions = step.mark(
            conditions, ConditionType.READY, False, Phase.AWAITING_APPROVAL, message
        )
        return Decision(
            replace(base, phase=Phase.AWAITING_APPROVAL, message=message, conditions=conditions),
            None,
            None,
        )
    workloads = fold_workloads(running, components, wave)
    since: str | None = None
    recheck: float | None = None
    phase, message = Phase.CITYWIDE, ""
    if wave == Wave.PILOT:
        phase, message, since, recheck, wave = _pilot(view, workloads, now)
        if wave == Wave.CITYWIDE:
            workloads = fold_workloads(running, components, wave)
    if wave == Wave.CITYWIDE:
        phase, message = _citywide(spec, previous, workloads)
    last_good, promoted_at = previous.last_good, None
    if wave == Wave.CITYWIDE and view.revision is not None:
        if phase == Phase.LIVE:
            if view.revision_spec is not None:
                last_good = LastGood(view.revision, view.revision_spec)
        elif last_good is not None and last_good.revision != view.revision:
            # a new revision replacing the last good one citywide, not yet Live
            promoted_at = previous.promoted_at or timestamp(now)
            left = spec.gate.progress_deadline_seconds - _since(promoted_at, now)
            if left <= 0:
                return _roll_back_citywide(step, last_good, workloads, conditions)
            recheck = left
    if previous.candidate_revision is not None and wave == Wave.CITYWIDE:
        # an upgrade ended with the spec back on the revision running citywide
        conditions = step.mark(
            conditions,
            ConditionType.PROGRESSING,
            True,
            Reason.REVERTED,
            f"revision {view.revision} runs citywide; candidate "
            f"{previous.candidate_revision} withdrawn",
        )
    conditions = step.mark(conditions, ConditionType.READY, phase == Phase.LIVE, phase, message)
    status = replace(
        base,
        phase=phase,
        message=message,
        wave=wave,
        ready_replicas=workloads.ready,
        replicas=workloads.desired,
        pilot_healthy_since=since,
        # who let it go citywide stays on record, not just at the transition
        approved_by=view.approved_by or None,
        conditions=conditions,
        revision=view.revision if wave == Wave.CITYWIDE else None,
        failed_revision=previous.failed_revision,
        promoted_at=promoted_at,
        last_good=last_good,
    )
    return Decision(status, wave, recheck)


def _since(moment: str, now: datetime.datetime) -> float:
    return (now - parse_timestamp(moment)).total_seconds()


def _roll_back_citywide(
    step: _Step, last_good: LastGood, workloads: Workloads, conditions: tuple[Condition, ...]
) -> Decision:
    """A revision that replaced the last good one citywide (promoted from its pilot, or
    rolled out without one) and is not Live within the progress deadline: the last good
    revision is rendered again citywide, and the new one is not tried again."""
    failed, spec = step.view.revision, step.view.spec
    reason = (
        f"revision {failed} was not healthy citywide within {spec.gate.progress_deadline}: "
        f"{workloads.ready}/{workloads.desired} ready; rolled back to {last_good.revision}"
    )
    base = _citywide_base(step.view, workloads, last_good.revision, conditions)
    return _settled(step, base, workloads, reason, failed, warn=True)


def _citywide_base(
    view: InitiativeView,
    citywide: Workloads,
    revision: str,
    conditions: tuple[Condition, ...],
) -> InitiativeStatus:
    """The status fields of an initiative running `revision` citywide, whatever it tries,
    with the conditions set so far (the helpers below mark theirs on top of them)."""
    return InitiativeStatus(
        observed_generation=view.generation,
        wave=Wave.CITYWIDE,
        ready_replicas=citywide.ready,
        replicas=citywide.desired,
        approved_by=view.approved_by or None,
        revision=revision,
        failed_revision=view.status.failed_revision,
        last_good=view.status.last_good,
        conditions=conditions,
    )


def _settled(
    step: _Step,
    base: InitiativeStatus,
    citywide: Workloads,
    message: str,
    failed: str | None,
    warn: bool,
) -> Decision:
    """The running revision `base.revision` goes on alone: `failed` rolled back (now, with
    a Warning Event when `warn`, or before), and what runs is held as it is."""
    phase = Phase.LIVE if citywide.healthy else Phase.DEGRADED
    ready = f"{citywide.ready}/{citywide.desired} replicas ready"
    districts = len(step.view.spec.districts)
    summary = f"live in all {districts} districts" if citywide.healthy else ready
    text = f"{summary} on revision {base.revision}; {message}"
    marked = step.mark(
        base.conditions, ConditionType.PROGRESSING, False, Reason.ROLLED_BACK, message
    )
    marked = step.mark(marked, ConditionType.READY, phase == Phase.LIVE, phase, text)
    status = replace(base, phase=phase, message=text, conditions=marked, failed_revision=failed)
    event = Event(EventType.WARNING, Reason.ROLLED_BACK, message) if warn else None
    return Decision(status, None, None, hold=True, event=event)


def running_revision(
    status: InitiativeStatus, deployments: Iterable[DeploymentState]
) -> str | None:
    """The revision running citywide: the one the citywide Deployments carry when they all
    carry the same (written before the status, they are ahead of it after a crash), else
    the stored status's."""
    labels = {d.revision for d in deployments if d.wave == Wave.CITYWIDE and not d.candidate}
    if len(labels) == 1 and None not in labels:
        return labels.pop()
    return status.revision


def _upgrade(
    step: _Step, stable: str, components: int, conditions: tuple[Condition, ...]
) -> Decision:
    """A live initiative whose spec renders `view.revision`, not the `stable` revision
    running citywide: pilot the candidate, promote it, or roll it back."""
    view, now = step.view, step.now
    spec, previous, candidate = view.spec, view.status, view.revision
    assert candidate is not None
    running = [d for d in view.deployments if not d.candidate]
    citywide = fold_workloads(running, components, Wave.CITYWIDE)
    base = _citywide_base(view, citywide, stable, conditions)

    def settled(message: str, warn: bool) -> Decision:
        return _settled(step, base, citywide, message, candidate, warn)

    if (
        previous.promoted_at is not None
        and previous.revision == candidate
        and previous.last_good is not None
        and previous.last_good.revision == stable
    ):
        # the candidate was promoted, yet the last good revision's workloads run citywide:
        # its rollback was written and the status of it lost (children are written first)
        message = f"revision {candidate} was not healthy citywide; rolled back to {stable}"
        return settled(message, warn=True)
    if candidate == previous.failed_revision:
        found = next((c for c in base.conditions if c.type == ConditionType.PROGRESSING), None)
        message = (
            found.message
            if found is not None and found.reason == Reason.ROLLED_BACK
            else f"revision {candidate} rolled back"
        )
        return settled(message, warn=False)

    if not spec.pilot_districts:
        approved = _revision_approved(view, candidate)
        if not approved:
            message = (
                f"revision {candidate} waits for approval to replace {stable} citywide; "
                "run `citykit approve`"
            )
            status = _upgrading_status(
                step, base, Reason.AWAITING_APPROVAL, message, candidate, None, None
            )
            return Decision(status, None, None, hold=True)
        return _promote(step, base, stable)

    same = previous.candidate_revision == candidate
    started = previous.candidate_since if same and previous.candidate_since else timestamp(now)
    healthy_since = previous.pilot_healthy_since if same else None
    pilot = fold_workloads(
        [d for d in view.deployments if d.candidate and d.revision == candidate],
        components,
        Wave.PILOT,
    )
    districts = ", ".join(spec.pilot_districts)
    deadline = spec.gate.progress_deadline_seconds - _since(started, now)
    if not pilot.healthy:
        reason = None
        if healthy_since is not None:
            reason = (
                f"revision {candidate} went Degraded in the pilot ({districts}): "
                f"{pilot.ready}/{pilot.desired} ready; rolled back to {stable}"
            )
        elif deadline <= 0:
            reason = (
                f"revision {candidate} was not healthy within {spec.gate.progress_deadline} "
                f"in the pilot ({districts}): {pilot.ready}/{pilot.desired} ready; "
                f"rolled back to {stable}"
            )
        if reason is not None:
            return settled(reason, warn=True)
        message = (
            f"revision {candidate} piloting in {districts} beside {stable}: "
            f"{pilot.ready}/{pilot.desired} ready"
        )
        return _upgrading(step, base, message, candidate, started, None, deadline)
    healthy_since = healthy_since or timestamp(now)
    remaining = spec.gate.healthy_for_seconds - _since(healthy_since, now)
    if remaining > 0:
        opens = timestamp(
            parse_timestamp(healthy_since)
            + datetime.timedelta(seconds=spec.gate.healthy_for_seconds)
        )
        message = (
            f"revision {candidate} piloting in {districts} beside {stable}: healthy, "
            f"gate opens at {opens}"
        )
        return _upgrading(step, base, message, candidate, started, healthy_since, remaining)
    if not _revision_approved(view, candidate):
        message = (
            f"revision {candidate} healthy in {districts} for {spec.gate.healthy_for}; "
            "run `citykit approve` to let it replace " + stable
        )
        return _upgrading(step, base, message, candidate, started, healthy_since, None)
    return _promote(step, base, stable)


def _upgrading(
    step: _Step,
    base: InitiativeStatus,
    message: str,
    candidate: str,
    started: str,
    healthy_since: str | None,
    recheck: float | None,
) -> Decision:
    status = _upgrading_status(
        step, base, Reason.PILOTING, message, candidate, started, healthy_since
    )
    return Decision(status, None, recheck, candidate=True)


def _upgrading_status(
    step: _Step,
    base: InitiativeStatus,
    reason: Reason,
    message: str,
    candidate: str,
    started: str | None,
    healthy_since: str | None,
) -> InitiativeStatus:
    """An Upgrading status: the candidate revision in progress for `reason`, not Ready."""
    marked = step.mark(base.conditions, ConditionType.PROGRESSING, True, reason, message)
    marked = step.mark(marked, ConditionType.READY, False, Phase.UPGRADING, message)
    return replace(
        base,
        phase=Phase.UPGRADING,
        message=message,
        conditions=marked,
        candidate_revision=candidate,
        candidate_since=started,
        pilot_healthy_since=healthy_since,
    )


def _promote(step: _Step, base: InitiativeStatus, stable: str) -> Decision:
    """The candidate replaces the citywide revision: the spec is deployed citywide (the
    Deployments roll), the candidate objects go. Until it is Live, the progress deadline
    runs again from now (`promotedAt`): past it, the last good revision returns."""
    view = step.view
    message = f"rolling revision {view.revision} out to all {len(view.spec.districts)} districts"
    marked = step.mark(
        base.conditions,
        ConditionType.PROGRESSING,
        True,
        Reason.PROMOTED,
        f"revision {view.revision} replaced {stable}",
    )
    marked = step.mark(marked, ConditionType.READY, False, Phase.CITYWIDE, message)
    status = replace(
        base,
        phase=Phase.CITYWIDE,
        message=message,
        conditions=marked,
        revision=view.revision,
        failed_revision=None,
        promoted_at=timestamp(step.now) if base.last_good else None,
    )
    deadline = view.spec.gate.progress_deadline_seconds if base.last_good else None
    return Decision(status, Wave.CITYWIDE, deadline)


def _revision_approved(view: InitiativeView, revision: str) -> bool:
    return view.spec.gate.approval != "manual" or (
        bool(view.approved_by) and view.approved_revision == revision
    )


def _pilot(
    view: InitiativeView, workloads: Workloads, now: datetime.datetime
) -> tuple[Phase, str, str | None, float | None, Wave]:
    """(phase, message, pilotHealthySince, seconds until the gate opens, wave to deploy)."""
    spec = view.spec
    districts = ", ".join(spec.pilot_districts)
    if not workloads.healthy:
        message = f"piloting in {districts}: {workloads.ready}/{workloads.desired} ready"
        return Phase.PILOT, message, None, None, Wave.PILOT
    since = view.status.pilot_healthy_since or timestamp(now)
    remaining = spec.gate.healthy_for_seconds - (now - parse_timestamp(since)).total_seconds()
    if remaining > 0:
        # A time, not a countdown: the message stays the same until the gate opens, so the
        # reconciles in between write no status.
        opens = timestamp(
            parse_timestamp(since) + datetime.timedelta(seconds=spec.gate.healthy_for_seconds)
        )
        message = f"piloting in {districts}: healthy, gate opens at {opens}"
        return Phase.PILOT, message, since, remaining, Wave.PILOT
    if _awaits_approval(view):
        message = f"pilot healthy for {spec.gate.healthy_for}; run `citykit approve`"
        return Phase.AWAITING_APPROVAL, message, since, None, Wave.PILOT
    return Phase.CITYWIDE, "", None, None, Wave.CITYWIDE


def _citywide(
    spec: RolloutSpec, previous: InitiativeStatus, workloads: Workloads
) -> tuple[Phase, str]:
    if workloads.healthy:
        return Phase.LIVE, f"live in all {len(spec.districts)} districts"
    if previous.phase in (Phase.LIVE, Phase.DEGRADED) and previous.wave == Wave.CITYWIDE:
        return Phase.DEGRADED, f"{workloads.ready}/{workloads.desired} replicas ready"
    return Phase.CITYWIDE, f"rolling out to all {len(spec.districts)} districts"


def _awaits_approval(view: InitiativeView) -> bool:
    return view.spec.gate.approval == "manual" and not view.approved_by


def blocked_initiative_status(
    previous: InitiativeStatus, generation: int, message: str, now: datetime.datetime
) -> InitiativeStatus:
    """An initiative that cannot be deployed (its catalogue entry is unknown): say why."""
    conditions = set_condition(
        previous.conditions, ConditionType.READY, False, Phase.BLOCKED, message, generation, now
    )
    return InitiativeStatus(
        phase=Phase.BLOCKED,
        message=message,
        wave=previous.wave,
        observed_generation=generation,
        conditions=conditions,
    )
