"""One reconcile of one key: read the snapshot the worker took from the indices, call the
pure core, write only the difference, patch status once if it changed (or hold a change that
may wait, `core.rollout.writes`), post an Event only on a phase change a person acts on. Runs
in a worker thread; returns what it wrote, what it holds, and when to look again.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubernetes.dynamic import DynamicClient

from citykit import kube
from citykit.api.enums import ConditionType, EventType, Phase
from citykit.api.enums import Outcome as RevisionOutcome
from citykit.api.names import (
    API_VERSION,
    APPROVED_BY_ANNOTATION,
    APPROVED_REVISION_ANNOTATION,
    CANDIDATE_LABEL,
    CITY_BLUEPRINT,
    INITIATIVE,
    OUTCOME_ANNOTATION,
    RESTORED_FROM_ANNOTATION,
)
from citykit.controller import metrics
from citykit.core.load.errors import CitykitError
from citykit.core.load.source import from_data
from citykit.core.model.catalogue import Catalogue, catalogue_versions, load_catalogue
from citykit.core.model.validation import validate
from citykit.core.office.kpi import kpi_status
from citykit.core.render import converge
from citykit.core.render.objects import (
    WORKLOAD_KINDS,
    candidate_children,
    initiative_children,
    initiative_resources,
    namespace_objects,
    revision_spec,
    revision_workloads,
    shared_children,
    workload_revision,
)
from citykit.core.rollout.fold import (
    blocked_blueprint_status,
    fold_blueprint_status,
    settled_outcome,
)
from citykit.core.rollout.history import (
    needs_revision,
    next_revision,
    outcome_annotations,
    revision_object,
    revisions_of,
)
from citykit.core.rollout.machine import (
    Event,
    InitiativeView,
    blocked_initiative_status,
    next_initiative_status,
)
from citykit.core.rollout.status import DeploymentState, InitiativeStatus, RolloutSpec
from citykit.core.rollout.writes import may_wait, phase_news

log = logging.getLogger(__name__)


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclass(frozen=True)
class Snapshot:
    """What a reconcile reads, copied from the indices on the event loop."""

    body: Mapping[str, Any]
    children: Sequence[Mapping[str, Any]]
    initiatives: Sequence[Mapping[str, Any]]
    reports: Sequence[Mapping[str, Any]] = ()  # a blueprint's: its city's KpiReports
    revisions: Sequence[Mapping[str, Any]] = ()  # a blueprint's: its ControllerRevisions
    # the status the last reconcile decided and held back (None: the stored one is current),
    # and for how many seconds a change of this key has been held
    held: Mapping[str, Any] | None = None
    held_for: float = 0.0

    def status(self) -> Mapping[str, Any]:
        """The status decided last: held back, or else stored."""
        return self.held if self.held is not None else (self.body.get("status") or {})


@dataclass
class Outcome:
    """What a reconcile wrote (for the write-through cache) and when to run it again."""

    written: list[dict[str, Any]] = field(default_factory=list)
    recheck_after: float | None = None
    held: dict[str, Any] | None = None  # a status change that waits (written later)

    def recheck_within(self, seconds: float) -> None:
        self.recheck_after = (
            seconds if self.recheck_after is None else min(self.recheck_after, seconds)
        )


def catalogue(version: str | None) -> Catalogue | None:
    """The catalogue version an Initiative was rendered from (its blueprint's pin), or None
    when this citykit does not ship it; load_catalogue keeps each version it read."""
    return load_catalogue(version) if version in catalogue_versions() else None


Rendered = tuple[list[dict[str, Any]], list[dict[str, Any]]]
_rendered: dict[tuple[str, int], Rendered | list[str]] = {}


def rendered_blueprint(body: Mapping[str, Any]) -> Rendered | list[str]:
    """(namespace objects, Initiatives) of a valid blueprint, or its problems: validated once
    per generation, not on every event about one of its initiatives."""
    metadata = body["metadata"]
    key = (metadata["uid"], metadata.get("generation", 0))
    found = _rendered.get(key)
    if found is not None:
        return found
    name = metadata["name"]
    plain = {
        "apiVersion": API_VERSION,
        "kind": CITY_BLUEPRINT,
        "metadata": {"name": name},
        "spec": dict(body.get("spec") or {}),
    }
    result: Rendered | list[str]
    try:
        validated = validate(from_data(f"cityblueprint/{name}", plain))
    except CitykitError as error:
        result = [f"{problem.path}: {problem.message}" for problem in error.problems]
    else:
        owner = {**plain, "metadata": {"name": name, "uid": metadata["uid"]}}
        result = (
            [converge.owned(m, owner) for m in namespace_objects(validated.blueprint)],
            [converge.owned(m, owner) for m in initiative_resources(validated)],
        )
    if len(_rendered) >= 256:
        _rendered.clear()
    _rendered[key] = result
    return result


def reconcile_blueprint(client: DynamicClient, snapshot: Snapshot, wait: float = 0.0) -> Outcome:
    """Blueprint -> namespace and Initiatives; status folded from the Initiatives, its counts
    held up to `wait` seconds so that a burst of initiative changes is one status write."""
    body = snapshot.body
    metadata = body["metadata"]
    generation = metadata.get("generation", 0)
    status = snapshot.status()
    outcome = Outcome()
    rendered = rendered_blueprint(body)
    if isinstance(rendered, list):
        new = blocked_blueprint_status(generation, status, rendered, now())
        _patch_status(client, body, new, outcome)
        return outcome
    city_objects, resources = rendered
    _converge(client, city_objects, snapshot.children, outcome)
    _converge(client, resources, snapshot.initiatives, outcome)
    phases = {
        item["spec"]["ref"]: (item.get("status") or {}).get("phase", Phase.PENDING)
        for item in snapshot.initiatives
    }
    spec = body.get("spec") or {}
    pinned = catalogue(spec.get("catalogueVersion"))
    today = now()
    kpis = (
        kpi_status(spec.get("kpiTargets") or [], snapshot.reports, pinned, phases, today.date())
        if pinned is not None
        else []
    )
    new = fold_blueprint_status(spec, generation, status, phases, today, kpis)
    _write_status(client, snapshot, new, outcome, wait)
    if outcome.held is None:
        _tell_about_binding_targets(client, body, body.get("status") or {}, new)
    _record_history(client, body, snapshot, new, outcome)
    return outcome


def _record_history(
    client: DynamicClient,
    body: Mapping[str, Any],
    snapshot: Snapshot,
    status: Mapping[str, Any],
    outcome: Outcome,
) -> None:
    """Keep the applied spec as a ControllerRevision (core.rollout.history's format) when it is
    new, marking an unsettled earlier one Superseded; once its rollout ends, record the
    outcome."""
    metadata = body["metadata"]
    name, spec = metadata["name"], dict(body.get("spec") or {})
    revisions = revisions_of(name, snapshot.revisions)
    newest = max(revisions, key=lambda item: int(item.get("revision", 0)), default=None)
    today = now()
    if needs_revision(revisions, spec):
        if newest is not None and _outcome_of(newest) == RevisionOutcome.PROGRESSING:
            _mark(client, newest, RevisionOutcome.SUPERSEDED, today, None, outcome)
        restored = str((metadata.get("annotations") or {}).get(RESTORED_FROM_ANNOTATION, ""))
        source = next((item for item in revisions if str(item.get("revision")) == restored), None)
        made = revision_object(
            name,
            spec,
            next_revision(revisions),
            today,
            owner_uid=metadata["uid"],
            restored_from=(
                int(restored)
                if source is not None and (source.get("data") or {}).get("spec") == spec
                else None
            ),
        )
        outcome.written.append(kube.apply(client, made))
        metrics.API_WRITES.labels("apply", made["kind"]).inc()
        return
    if newest is None:
        return
    recorded = _outcome_of(newest)
    # Degraded is looked at again: the same spec may still end Live or RolledBack
    if recorded not in (RevisionOutcome.PROGRESSING, RevisionOutcome.DEGRADED):
        return
    mine = [item for item in snapshot.initiatives if (item.get("spec") or {}).get("city") == name]
    settled = settled_outcome(status, mine)
    if settled is not None and settled[0] != recorded:
        _mark(client, newest, settled[0], today, settled[1], outcome)


def _outcome_of(revision: Mapping[str, Any]) -> str | None:
    annotations = (revision.get("metadata") or {}).get("annotations") or {}
    found: str | None = annotations.get(OUTCOME_ANNOTATION)
    return found


def _mark(
    client: DynamicClient,
    revision: Mapping[str, Any],
    result: RevisionOutcome,
    at: datetime.datetime,
    reason: str | None,
    outcome: Outcome,
) -> None:
    metadata = revision["metadata"]
    outcome.written.append(
        kube.patch_annotations(
            client,
            revision["apiVersion"],
            revision["kind"],
            metadata["name"],
            metadata.get("namespace"),
            outcome_annotations(result, at, reason),
        )
    )
    metrics.API_WRITES.labels("patch", revision["kind"]).inc()


def _tell_about_binding_targets(
    client: DynamicClient,
    body: Mapping[str, Any],
    current: Mapping[str, Any],
    new: Mapping[str, Any],
) -> None:
    """One Event each time the binding targets' condition changes: a Warning naming the
    targets off track, a Normal one when all are back on track."""
    before, after = (
        next(
            (
                c
                for c in status.get("conditions") or ()
                if c["type"] == ConditionType.BINDING_TARGETS_ON_TRACK
            ),
            None,
        )
        for status in (current, new)
    )
    if after is None or (before is not None and before["message"] == after["message"]):
        return
    if before is None and after["status"] == "True":
        return  # nothing slipped: no news
    warning = after["status"] == "False"
    kube.post_event(
        client,
        body,
        EventType.WARNING if warning else EventType.NORMAL,
        after["reason"],
        after["message"],
    )
    metrics.API_WRITES.labels("create", "Event").inc()


def reconcile_initiative(client: DynamicClient, snapshot: Snapshot, wait: float = 0.0) -> Outcome:
    """Initiative -> its workloads in the wave the rollout has reached; status from readiness.

    A status change that may wait (`writes.may_wait`: ready counts, a passage through Waiting,
    Pilot or Citywide) is held up to `wait` seconds and then written with whatever came
    since: a wave of five replicas, or a pilot healthy and promoted within that time, is one
    status write, not five. The held status is what the next reconcile decides from."""
    body = snapshot.body
    metadata, spec = body["metadata"], body.get("spec") or {}
    generation = metadata.get("generation", 0)
    previous = InitiativeStatus.from_dict(snapshot.status())
    outcome = Outcome()
    pinned = catalogue(spec.get("catalogueVersion"))
    entry = pinned.entries.get(spec.get("ref", "")) if pinned else None
    if pinned is None or entry is None:
        message = (
            f"unknown catalogue initiative {spec.get('ref')}"
            if pinned
            else f"catalogue {spec.get('catalogueVersion')} is not one this operator ships"
        )
        _patch_status(
            client,
            body,
            blocked_initiative_status(previous, generation, message, now()).to_dict(),
            outcome,
        )
        return outcome
    annotations = metadata.get("annotations") or {}
    view = InitiativeView(
        spec=RolloutSpec.from_spec(spec),
        generation=generation,
        status=previous,
        dependency_phases={
            s["spec"]["ref"]: (s.get("status") or {}).get("phase", Phase.PENDING)
            for s in snapshot.initiatives
        },
        deployments=[
            DeploymentState.from_api(child)
            for child in snapshot.children
            if child["kind"] == "Deployment"
        ],
        approved_by=annotations.get(APPROVED_BY_ANNOTATION),
        revision=workload_revision(spec, pinned),
        approved_revision=annotations.get(APPROVED_REVISION_ANNOTATION),
        revision_spec=revision_spec(spec),
    )
    decision = next_initiative_status(view, len(entry.components), now())
    owner = {"apiVersion": API_VERSION, "kind": INITIATIVE, "metadata": metadata}
    if decision.hold or decision.candidate:
        # The citywide workloads run the revision in the status, not the spec's: rendered
        # again from what the status keeps of it (so a deleted one comes back), or else kept
        # as they are; the objects every revision shares follow the spec; the candidate runs
        # beside them.
        candidate = candidate_children(spec, pinned) if decision.candidate else []
        desired = [
            *_running_workloads(decision.status, snapshot.children, owner),
            *(converge.owned(m, owner) for m in [*shared_children(spec, pinned), *candidate]),
        ]
        _converge(client, desired, snapshot.children, outcome)
    elif decision.wave is not None:
        desired = [
            converge.owned(m, owner) for m in initiative_children(spec, pinned, decision.wave)
        ]
        _converge(client, desired, snapshot.children, outcome)
    outcome.recheck_after = decision.recheck_after
    _write_status(client, snapshot, decision.status.to_dict(), outcome, wait, decision.event)
    return outcome


def _write_status(
    client: DynamicClient,
    snapshot: Snapshot,
    new: dict[str, Any],
    outcome: Outcome,
    wait: float,
    event: Event | None = None,
) -> None:
    """Patch `new` now, or hold it when it may wait and has waited less than `wait` seconds
    (looking again when that time is up)."""
    body = snapshot.body
    stored = body.get("status") or {}
    if event is None and snapshot.held_for < wait and may_wait(body["kind"], stored, new):
        outcome.held = new
        outcome.recheck_within(wait - snapshot.held_for)
    else:
        _patch_status(client, body, new, outcome, event)


def _running_workloads(
    status: InitiativeStatus, children: Sequence[Mapping[str, Any]], owner: Mapping[str, Any]
) -> list[Mapping[str, Any]]:
    """The citywide workloads of the revision `status` says runs: rendered from its last
    good revision when that is the one (and this citykit still renders it so), else the
    ones that exist, as they are."""
    good = status.last_good
    if good is not None and good.revision == status.revision:
        pinned = catalogue(good.spec.get("catalogueVersion"))
        rendered = revision_workloads(good.spec, pinned, good.revision) if pinned else None
        if rendered is not None:
            return [converge.owned(m, owner) for m in rendered]
    return [
        child
        for child in children
        if child["kind"] in WORKLOAD_KINDS
        and CANDIDATE_LABEL not in (child["metadata"].get("labels") or {})
    ]


def _converge(
    client: DynamicClient,
    desired: Iterable[Mapping[str, Any]],
    observed: Iterable[Mapping[str, Any]],
    outcome: Outcome,
) -> None:
    """Carry out the pure core's plan: apply what is missing or changed, delete what is no
    longer desired. A plan with nothing in it makes no request."""
    plan = converge.plan_writes(desired, observed)
    for manifest in plan.apply:
        outcome.written.append(kube.apply(client, manifest))
        metrics.API_WRITES.labels("apply", manifest["kind"]).inc()
    for stale in plan.delete:
        meta = stale["metadata"]
        kube.delete(client, stale["apiVersion"], stale["kind"], meta["name"], meta.get("namespace"))
        metrics.API_WRITES.labels("delete", stale["kind"]).inc()


def _patch_status(
    client: DynamicClient,
    body: Mapping[str, Any],
    new: Mapping[str, Any],
    outcome: Outcome,
    event: Event | None = None,
) -> None:
    """Write status only when it changed, and tell the city team about the phase changes it
    acts on (`writes.phase_news`), or post `event`, the decision's own, in place of one."""
    current = body.get("status") or {}
    changes = converge.merge_patch(current, new)
    if not changes:
        return
    metadata = body["metadata"]
    outcome.written.append(
        kube.patch_status(
            client,
            body["apiVersion"],
            body["kind"],
            metadata["name"],
            metadata.get("namespace"),
            changes,
        )
    )
    metrics.API_WRITES.labels("patch", body["kind"]).inc()
    if event is not None:
        kube.post_event(client, body, event.type, event.reason, event.message)
        metrics.API_WRITES.labels("create", "Event").inc()
    if current.get("phase") != new.get("phase"):
        metrics.phase_changed(body, current.get("phase"), new["phase"])
        message = new.get("message") or new.get("live", "")
        log.info(
            "%s %s: %s -> %s %s",
            body["kind"],
            "/".join(filter(None, (metadata.get("namespace"), metadata["name"]))),
            current.get("phase", "-"),
            new["phase"],
            message,
        )
        news = phase_news(body["kind"], current.get("phase"), new["phase"])
        if event is None and news is not None:
            kube.post_event(client, body, news.type, str(news.reason), message)
            metrics.API_WRITES.labels("create", "Event").inc()
