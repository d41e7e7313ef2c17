"""One reconcile of one key: read the snapshot the worker took from the indices, call the
pure core, write only the difference, patch status once if it changed, post an Event only
on a phase change. Runs in a worker thread; returns what it wrote and when to look again.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubernetes.dynamic import DynamicClient

from citykit import kube
from citykit.api.enums import Phase
from citykit.api.names import (
    API_VERSION,
    APPROVED_BY_ANNOTATION,
    CITY_BLUEPRINT,
    INITIATIVE,
)
from citykit.controller import metrics
from citykit.core import converge
from citykit.core.catalogue import Catalogue, catalogue_versions, load_catalogue
from citykit.core.errors import CitykitError
from citykit.core.kpi import CONDITION as KPI_CONDITION
from citykit.core.kpi import kpi_status
from citykit.core.render import initiative_children, initiative_resources, namespace_objects
from citykit.core.rollout import (
    DeploymentState,
    InitiativeStatus,
    InitiativeView,
    RolloutSpec,
    blocked_blueprint_status,
    blocked_initiative_status,
    fold_blueprint_status,
    next_initiative_status,
    progress_only,
)
from citykit.core.source import from_data
from citykit.core.validation import validate

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


@dataclass
class Outcome:
    """What a reconcile wrote (for the write-through cache) and when to run it again."""

    written: list[dict[str, Any]] = field(default_factory=list)
    recheck_after: float | None = None
    status_written: bool = False

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


def reconcile_blueprint(client: DynamicClient, snapshot: Snapshot) -> Outcome:
    """Blueprint -> namespace and Initiatives; status folded from the Initiatives."""
    body = snapshot.body
    metadata = body["metadata"]
    generation = metadata.get("generation", 0)
    status = body.get("status") or {}
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
    _patch_status(client, body, new, outcome)
    _tell_about_binding_targets(client, body, status, new)
    return outcome


def _tell_about_binding_targets(
    client: DynamicClient,
    body: Mapping[str, Any],
    current: Mapping[str, Any],
    new: Mapping[str, Any],
) -> None:
    """One Event each time the binding targets' condition changes: a Warning naming the
    targets off track, a Normal one when all are back on track."""
    before, after = (
        next((c for c in status.get("conditions") or () if c["type"] == KPI_CONDITION), None)
        for status in (current, new)
    )
    if after is None or (before is not None and before["message"] == after["message"]):
        return
    if before is None and after["status"] == "True":
        return  # nothing slipped: no news
    warning = after["status"] == "False"
    kube.post_event(
        client, body, "Warning" if warning else "Normal", after["reason"], after["message"]
    )
    metrics.API_WRITES.labels("create", "Event").inc()


def reconcile_initiative(
    client: DynamicClient, snapshot: Snapshot, progress_wait: float = 0.0
) -> Outcome:
    """Initiative -> its workloads in the wave the rollout has reached; status from readiness.

    A status change that is only progress (ready counts) waits `progress_wait` seconds, the
    rest of this initiative's progress interval, and is then written with whatever came
    since: a wave of five replicas is one or two status writes, not five."""
    body = snapshot.body
    metadata, spec = body["metadata"], body.get("spec") or {}
    generation = metadata.get("generation", 0)
    previous = InitiativeStatus.from_dict(body.get("status") or {})
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
        approved_by=(metadata.get("annotations") or {}).get(APPROVED_BY_ANNOTATION),
    )
    decision = next_initiative_status(view, len(entry.components), now())
    if decision.wave is not None:
        owner = {"apiVersion": API_VERSION, "kind": INITIATIVE, "metadata": metadata}
        desired = [
            converge.owned(m, owner) for m in initiative_children(spec, pinned, decision.wave)
        ]
        _converge(client, desired, snapshot.children, outcome)
    outcome.recheck_after = decision.recheck_after
    new = decision.status.to_dict()
    if progress_wait > 0 and progress_only(body.get("status") or {}, new):
        outcome.recheck_within(progress_wait)
    else:
        _patch_status(client, body, new, outcome)
    return outcome


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
    client: DynamicClient, body: Mapping[str, Any], new: Mapping[str, Any], outcome: Outcome
) -> None:
    """Write status only when it changed, and tell the city team about phase changes."""
    current = body.get("status") or {}
    changes = converge.merge_patch(current, new)
    if not changes:
        return
    metadata = body["metadata"]
    outcome.status_written = True
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
        warning = new["phase"] in (Phase.BLOCKED, Phase.DEGRADED)
        kube.post_event(
            client, body, "Warning" if warning else "Normal", str(new["phase"]), message
        )
        metrics.API_WRITES.labels("create", "Event").inc()
