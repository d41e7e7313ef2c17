"""The rollout state machine and status folding, as pure functions over frozen dataclasses.

The operator observes (its in-memory indices of Deployments and Initiatives), parses what it
saw into the types here at its edge (`RolloutSpec.from_spec`, `InitiativeStatus.from_dict`,
`DeploymentState.from_api`), calls `next_initiative_status` and `fold_blueprint_status`, and
writes `InitiativeStatus.to_dict()` only when it differs from what is stored. Time is an
argument, so every transition is unit-testable and an idle operator computes the same status
again and writes nothing.

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
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from citykit.api.enums import STARTED_PHASES, Area, BlueprintPhase, Phase, Wave
from citykit.api.names import CANDIDATE_LABEL, REVISION_LABEL, WAVE_LABEL, area_of
from citykit.core.model.blueprint import DEFAULT_HEALTHY_FOR, DEFAULT_PROGRESS_DEADLINE, Gate
from citykit.core.office.kpi import CONDITION as KPI_CONDITION
from citykit.core.office.kpi import binding_condition
from citykit.core.rollout.history import Outcome


def timestamp(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(text: str) -> datetime.datetime:
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)


@dataclass(frozen=True)
class Condition:
    """A condition as the Kubernetes API conventions define it."""

    type: str
    status: str
    reason: str
    message: str
    observed_generation: int
    last_transition_time: str

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Condition:
        return cls(
            data["type"],
            data["status"],
            data.get("reason", ""),
            data.get("message", ""),
            data.get("observedGeneration", 0),
            data["lastTransitionTime"],
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "status": self.status,
            "reason": self.reason,
            "message": self.message,
            "observedGeneration": self.observed_generation,
            "lastTransitionTime": self.last_transition_time,
        }


def set_condition(
    conditions: Sequence[Condition],
    type_: str,
    status: bool,
    reason: str,
    message: str,
    generation: int,
    now: datetime.datetime,
) -> tuple[Condition, ...]:
    """Conditions with `type_` set; `lastTransitionTime` moves only when `status` changes."""
    value = "True" if status else "False"
    previous = next((c for c in conditions if c.type == type_), None)
    changed_at = (
        previous.last_transition_time if previous and previous.status == value else timestamp(now)
    )
    condition = Condition(type_, value, reason, message, generation, changed_at)
    return tuple(
        sorted([*(c for c in conditions if c.type != type_), condition], key=lambda c: c.type)
    )


def _conditions(status: Mapping[str, Any]) -> tuple[Condition, ...]:
    return tuple(Condition.from_dict(item) for item in status.get("conditions") or ())


@dataclass(frozen=True)
class RolloutSpec:
    """What the state machine reads of an Initiative's spec."""

    ref: str
    districts: tuple[str, ...]
    pilot_districts: tuple[str, ...]
    gate: Gate
    depends_on: tuple[str, ...]

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> RolloutSpec:
        gate = spec.get("gate") or {}
        return cls(
            ref=spec["ref"],
            districts=tuple(spec.get("districts", ())),
            pilot_districts=tuple(spec.get("pilotDistricts", ())),
            gate=Gate(
                gate.get("healthyFor", DEFAULT_HEALTHY_FOR),
                gate.get("approval", "auto"),
                gate.get("progressDeadline", DEFAULT_PROGRESS_DEADLINE),
            ),
            depends_on=tuple(spec.get("dependsOn", ())),
        )

    @property
    def initial_wave(self) -> Wave:
        """Initiatives with pilot districts start as pilots; the others go straight citywide."""
        return Wave.PILOT if self.pilot_districts else Wave.CITYWIDE


@dataclass(frozen=True)
class DeploymentState:
    """What the state machine reads of one of an initiative's Deployments."""

    wave: Wave | None
    replicas: int
    ready: int
    current: bool
    revision: str | None = None
    candidate: bool = False  # an upgrade's candidate, beside the citywide Deployments

    @classmethod
    def from_api(cls, deployment: Mapping[str, Any]) -> DeploymentState:
        metadata = deployment.get("metadata") or {}
        labels = metadata.get("labels") or {}
        label = labels.get(WAVE_LABEL)
        status = deployment.get("status") or {}
        return cls(
            wave=Wave(label) if label in tuple(Wave) else None,
            replicas=(deployment.get("spec") or {}).get("replicas", 1),
            ready=min(status.get("readyReplicas") or 0, status.get("updatedReplicas") or 0),
            current=(status.get("observedGeneration") or 0) >= metadata.get("generation", 0),
            revision=labels.get(REVISION_LABEL),
            candidate=CANDIDATE_LABEL in labels,
        )


@dataclass(frozen=True)
class LastGood:
    """The last revision that was Live citywide, and the Initiative spec fields it renders
    from (`objects.revision_spec`): kept so that it can be rendered again when the spec is
    another revision's, to restore its objects or to return to it."""

    revision: str
    spec: Mapping[str, Any]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> LastGood | None:
        if not data or "revision" not in data:
            return None
        return cls(data["revision"], dict(data.get("spec") or {}))

    def to_dict(self) -> dict[str, Any]:
        return {"revision": self.revision, "spec": dict(self.spec)}


@dataclass(frozen=True)
class InitiativeStatus:
    """An Initiative's `status`, typed; `to_dict` is the status schema's shape."""

    phase: Phase = Phase.PENDING
    message: str = ""
    wave: Wave | None = None
    ready_replicas: int | None = None
    replicas: int | None = None
    pilot_healthy_since: str | None = None
    approved_by: str | None = None
    observed_generation: int | None = None
    conditions: tuple[Condition, ...] = ()
    revision: str | None = None
    candidate_revision: str | None = None
    candidate_since: str | None = None
    failed_revision: str | None = None
    promoted_at: str | None = None
    last_good: LastGood | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InitiativeStatus:
        phase, wave = data.get("phase"), data.get("wave")
        return cls(
            phase=Phase(phase) if phase in tuple(Phase) else Phase.PENDING,
            message=data.get("message", ""),
            wave=Wave(wave) if wave in tuple(Wave) else None,
            ready_replicas=data.get("readyReplicas"),
            replicas=data.get("replicas"),
            pilot_healthy_since=data.get("pilotHealthySince"),
            approved_by=data.get("approvedBy"),
            observed_generation=data.get("observedGeneration"),
            conditions=_conditions(data),
            revision=data.get("revision"),
            candidate_revision=data.get("candidateRevision"),
            candidate_since=data.get("candidateSince"),
            failed_revision=data.get("failedRevision"),
            promoted_at=data.get("promotedAt"),
            last_good=LastGood.from_dict(data.get("lastGood")),
        )

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"phase": str(self.phase), "message": self.message}
        if self.wave is not None:
            data["wave"] = str(self.wave)
        if self.replicas is not None and self.ready_replicas is not None:
            data["readyReplicas"], data["replicas"] = self.ready_replicas, self.replicas
            data["ready"] = f"{self.ready_replicas}/{self.replicas}"
        if self.pilot_healthy_since is not None:
            data["pilotHealthySince"] = self.pilot_healthy_since
        if self.approved_by is not None:
            data["approvedBy"] = self.approved_by
        if self.observed_generation is not None:
            data["observedGeneration"] = self.observed_generation
        for key, value in (
            ("revision", self.revision),
            ("candidateRevision", self.candidate_revision),
            ("candidateSince", self.candidate_since),
            ("failedRevision", self.failed_revision),
            ("promotedAt", self.promoted_at),
        ):
            if value is not None:
                data[key] = value
        if self.last_good is not None:
            data["lastGood"] = self.last_good.to_dict()
        if self.conditions:
            data["conditions"] = [condition.to_dict() for condition in self.conditions]
        return data


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

    type: str
    reason: str
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


def next_initiative_status(
    view: InitiativeView, components: int, now: datetime.datetime
) -> Decision:
    spec, previous, generation = view.spec, view.status, view.generation

    def condition(
        conditions: Sequence[Condition], type_: str, ok: bool, reason: str, message: str
    ) -> tuple[Condition, ...]:
        return set_condition(conditions, type_, ok, reason, message, generation, now)

    conditions = condition(
        previous.conditions,
        "PolicyCompliant",
        True,
        "Validated",
        "checked with the blueprint against the jurisdiction profile",
    )
    base = InitiativeStatus(observed_generation=generation)
    waiting = sorted(
        ref for ref in spec.depends_on if view.dependency_phases.get(ref) not in STARTED_PHASES
    )
    if waiting:
        message = "waiting for " + ", ".join(waiting)
        conditions = condition(conditions, "DependenciesReady", False, "Waiting", message)
        conditions = condition(
            conditions, "Ready", False, "Waiting", "not deployed until its dependencies are live"
        )
        return Decision(
            replace(base, phase=Phase.WAITING, message=message, conditions=conditions), None, None
        )
    conditions = condition(
        conditions,
        "DependenciesReady",
        True,
        Phase.LIVE,
        "all dependencies are live" if spec.depends_on else "no dependencies",
    )

    running = [deployment for deployment in view.deployments if not deployment.candidate]
    reached = reached_wave(previous, running)
    wave = reached or spec.initial_wave
    stable = running_revision(previous, running) if reached == Wave.CITYWIDE else None
    if view.revision is not None and stable is not None and stable != view.revision:
        return _upgrade(view, stable, components, conditions, condition, now)
    if reached is None and wave == Wave.CITYWIDE and _awaits_approval(view):
        message = "no pilot districts: deploys citywide once approved; run `citykit approve`"
        conditions = condition(conditions, "Ready", False, Phase.AWAITING_APPROVAL, message)
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
                return _roll_back_citywide(view, last_good, workloads, conditions, condition)
            recheck = left
    if previous.candidate_revision is not None and wave == Wave.CITYWIDE:
        # an upgrade ended with the spec back on the revision running citywide
        conditions = condition(
            conditions,
            "Progressing",
            True,
            "Reverted",
            f"revision {view.revision} runs citywide; candidate "
            f"{previous.candidate_revision} withdrawn",
        )
    conditions = condition(conditions, "Ready", phase == Phase.LIVE, phase, message)
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
    view: InitiativeView,
    last_good: LastGood,
    workloads: Workloads,
    conditions: tuple[Condition, ...],
    condition: Any,
) -> Decision:
    """A revision that replaced the last good one citywide (promoted from its pilot, or
    rolled out without one) and is not Live within the progress deadline: the last good
    revision is rendered again citywide, and the new one is not tried again."""
    failed, spec = view.revision, view.spec
    reason = (
        f"revision {failed} was not healthy citywide within {spec.gate.progress_deadline}: "
        f"{workloads.ready}/{workloads.desired} ready; rolled back to {last_good.revision}"
    )
    base = _citywide_base(view, workloads, last_good.revision)
    return _settled(view, base, conditions, condition, workloads, reason, failed, warn=True)


def _citywide_base(view: InitiativeView, citywide: Workloads, revision: str) -> InitiativeStatus:
    """The status fields of an initiative running `revision` citywide, whatever it tries."""
    return InitiativeStatus(
        observed_generation=view.generation,
        wave=Wave.CITYWIDE,
        ready_replicas=citywide.ready,
        replicas=citywide.desired,
        approved_by=view.approved_by or None,
        revision=revision,
        failed_revision=view.status.failed_revision,
        last_good=view.status.last_good,
    )


def _settled(
    view: InitiativeView,
    base: InitiativeStatus,
    conditions: tuple[Condition, ...],
    condition: Any,
    citywide: Workloads,
    message: str,
    failed: str | None,
    warn: bool,
) -> Decision:
    """The running revision `base.revision` goes on alone: `failed` rolled back (now, with
    a Warning Event when `warn`, or before), and what runs is held as it is."""
    phase = Phase.LIVE if citywide.healthy else Phase.DEGRADED
    ready = f"{citywide.ready}/{citywide.desired} replicas ready"
    summary = f"live in all {len(view.spec.districts)} districts" if citywide.healthy else ready
    text = f"{summary} on revision {base.revision}; {message}"
    marked = condition(conditions, "Progressing", False, "RolledBack", message)
    marked = condition(marked, "Ready", phase == Phase.LIVE, phase, text)
    status = replace(base, phase=phase, message=text, conditions=marked, failed_revision=failed)
    event = Event("Warning", "RolledBack", message) if warn else None
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
    view: InitiativeView,
    stable: str,
    components: int,
    conditions: tuple[Condition, ...],
    condition: Any,
    now: datetime.datetime,
) -> Decision:
    """A live initiative whose spec renders `view.revision`, not the `stable` revision
    running citywide: pilot the candidate, promote it, or roll it back."""
    spec, previous, candidate = view.spec, view.status, view.revision
    assert candidate is not None
    running = [d for d in view.deployments if not d.candidate]
    citywide = fold_workloads(running, components, Wave.CITYWIDE)
    base = _citywide_base(view, citywide, stable)

    def settled(message: str, warn: bool) -> Decision:
        return _settled(view, base, conditions, condition, citywide, message, candidate, warn)

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
        found = next((c for c in conditions if c.type == "Progressing"), None)
        message = (
            found.message
            if found is not None and found.reason == "RolledBack"
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
                base, conditions, condition, "AwaitingApproval", message, candidate, None, None
            )
            return Decision(status, None, None, hold=True)
        return _promote(view, base, conditions, condition, stable, now)

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
        return _upgrading(base, conditions, condition, message, candidate, started, None, deadline)
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
        return _upgrading(
            base, conditions, condition, message, candidate, started, healthy_since, remaining
        )
    if not _revision_approved(view, candidate):
        message = (
            f"revision {candidate} healthy in {districts} for {spec.gate.healthy_for}; "
            "run `citykit approve` to let it replace " + stable
        )
        return _upgrading(
            base, conditions, condition, message, candidate, started, healthy_since, None
        )
    return _promote(view, base, conditions, condition, stable, now)


def _upgrading(
    base: InitiativeStatus,
    conditions: tuple[Condition, ...],
    condition: Any,
    message: str,
    candidate: str,
    started: str,
    healthy_since: str | None,
    recheck: float | None,
) -> Decision:
    status = _upgrading_status(
        base, conditions, condition, "Piloting", message, candidate, started, healthy_since
    )
    return Decision(status, None, recheck, candidate=True)


def _upgrading_status(
    base: InitiativeStatus,
    conditions: tuple[Condition, ...],
    condition: Any,
    reason: str,
    message: str,
    candidate: str,
    started: str | None,
    healthy_since: str | None,
) -> InitiativeStatus:
    """An Upgrading status: the candidate revision in progress for `reason`, not Ready."""
    marked = condition(conditions, "Progressing", True, reason, message)
    marked = condition(marked, "Ready", False, Phase.UPGRADING, message)
    return replace(
        base,
        phase=Phase.UPGRADING,
        message=message,
        conditions=marked,
        candidate_revision=candidate,
        candidate_since=started,
        pilot_healthy_since=healthy_since,
    )


def _promote(
    view: InitiativeView,
    base: InitiativeStatus,
    conditions: tuple[Condition, ...],
    condition: Any,
    stable: str,
    now: datetime.datetime,
) -> Decision:
    """The candidate replaces the citywide revision: the spec is deployed citywide (the
    Deployments roll), the candidate objects go. Until it is Live, the progress deadline
    runs again from now (`promotedAt`): past it, the last good revision returns."""
    message = f"rolling revision {view.revision} out to all {len(view.spec.districts)} districts"
    marked = condition(
        conditions, "Progressing", True, "Promoted", f"revision {view.revision} replaced {stable}"
    )
    marked = condition(marked, "Ready", False, Phase.CITYWIDE, message)
    status = replace(
        base,
        phase=Phase.CITYWIDE,
        message=message,
        conditions=marked,
        revision=view.revision,
        failed_revision=None,
        promoted_at=timestamp(now) if base.last_good else None,
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


def blocked_initiative_status(
    previous: InitiativeStatus, generation: int, message: str, now: datetime.datetime
) -> InitiativeStatus:
    """An initiative that cannot be deployed (its catalogue entry is unknown): say why."""
    conditions = set_condition(
        previous.conditions, "Ready", False, Phase.BLOCKED, message, generation, now
    )
    return InitiativeStatus(
        phase=Phase.BLOCKED,
        message=message,
        wave=previous.wave,
        observed_generation=generation,
        conditions=conditions,
    )


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
        _conditions(previous),
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
    if kpis:
        binding = binding_condition(kpis)
        conditions = set_condition(
            conditions,
            KPI_CONDITION,
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
                found.get("type") == "Progressing"
                and found.get("reason") == "RolledBack"
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
        _conditions(previous), "Valid", False, "ValidationFailed", summary, generation, now
    )
    conditions = set_condition(conditions, "Ready", False, "Blocked", summary, generation, now)
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
