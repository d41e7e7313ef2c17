"""The citykit operator: kopf handlers that observe, call the pure core, and write the difference.

Run it as a module: `kopf run -m citykit.controller.handlers --all-namespaces` (or
`citykit operator run`). Everything the handlers read comes from kopf's in-memory indices,
fed by watches; a resync that finds nothing to change makes no API request at all.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
from collections.abc import Iterable, Mapping
from typing import Any

import kopf

from citykit import kube
from citykit.api.enums import Phase
from citykit.api.names import (
    API_VERSION,
    APPROVED_BY_ANNOTATION,
    CITY_BLUEPRINT,
    CITY_LABEL,
    GROUP,
    INITIATIVE,
    INITIATIVE_LABEL,
    VERSION,
    city_namespace,
)
from citykit.core import converge
from citykit.core.catalogue import load_catalogue
from citykit.core.errors import CitykitError
from citykit.core.render import initiative_children, initiative_resources, namespace_objects
from citykit.core.rollout import (
    InitiativeView,
    blocked_blueprint_status,
    fold_blueprint_status,
    next_initiative_status,
)
from citykit.core.source import from_data
from citykit.core.validation import validate

RESYNC_SECONDS = float(os.environ.get("CITYKIT_RESYNC_SECONDS", "5"))
CHILD_KINDS = (
    ("", "v1", "namespaces"),
    ("", "v1", "serviceaccounts"),
    ("", "v1", "configmaps"),
    ("", "v1", "services"),
    ("apps", "v1", "deployments"),
    ("networking.k8s.io", "v1", "networkpolicies"),
)
log = logging.getLogger(__name__)


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    """Standalone, bookkeeping in annotations (status schemas are strict), and Events only
    for what a city team should see (phase transitions, warnings), never per resync."""
    settings.peering.standalone = True
    settings.posting.level = logging.WARNING
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=GROUP)
    settings.watching.server_timeout = 300
    # Every timer tick would log "succeeded": hundreds of lines a second for a large city.
    # Failures still show (WARNING and up); phase changes are logged by _patch_status.
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)


def _plain(body: kopf.Body) -> dict[str, Any]:
    return {
        key: body.get(key)
        for key in (
            "apiVersion",
            "kind",
            "metadata",
            "spec",
            "status",
            "data",
            "automountServiceAccountToken",
        )
        if key in body
    }


def _child_key(body: kopf.Body) -> tuple[str, str]:
    metadata = body["metadata"]
    return (
        metadata.get("namespace") or metadata["name"],
        metadata.get("labels", {}).get(INITIATIVE_LABEL, ""),
    )


def index_children(body: kopf.Body, **_: Any) -> dict[tuple[str, str], dict[str, Any]]:
    """Children by (namespace, initiative); city-level objects have initiative ''."""
    return {_child_key(body): _plain(body)}


for _group, _version, _plural in CHILD_KINDS:
    kopf.index(
        _group, _version, _plural, labels={CITY_LABEL: kopf.PRESENT}, id=f"citykit_{_plural}"
    )(index_children)


@kopf.index(GROUP, VERSION, "initiatives")
def citykit_initiatives(body: kopf.Body, namespace: str, **_: Any) -> dict[str, dict[str, Any]]:
    """Initiatives by namespace: for dependencies, folding, and spotting removed ones."""
    return {namespace: _plain(body)}


def _children(
    indices: Mapping[str, kopf.Index[Any, Any]], key: tuple[str, str]
) -> list[dict[str, Any]]:
    return [
        item for _, _, plural in CHILD_KINDS for item in indices[f"citykit_{plural}"].get(key, [])
    ]


def _converge(desired: Iterable[dict[str, Any]], observed: Iterable[Mapping[str, Any]]) -> None:
    """Carry out the pure core's plan: apply what is missing or changed, delete what is
    no longer desired. A plan with nothing in it makes no request."""
    plan = converge.plan_writes(desired, observed)
    if not (plan.apply or plan.delete):
        return
    client = kube.dynamic_client()  # the pod's service account, or $KUBECONFIG as kopf's
    for manifest in plan.apply:
        kube.apply(client, manifest)
    for stale in plan.delete:
        metadata = stale["metadata"]
        kube.delete(
            client, stale["apiVersion"], stale["kind"], metadata["name"], metadata.get("namespace")
        )


def _patch_status(
    patch: kopf.Patch, body: kopf.Body, current: Mapping[str, Any], new: dict[str, Any]
) -> None:
    """Write status only when it changed, and tell the city team about phase changes."""
    changes = converge.merge_patch(current, new)
    if not changes:
        return
    for key, value in changes.items():
        patch.status[key] = value
    if current.get("phase") != new.get("phase"):
        metadata = body["metadata"]
        log.info(
            "%s %s: %s -> %s %s",
            body["kind"],
            "/".join(filter(None, (metadata.get("namespace"), metadata["name"]))),
            current.get("phase", "-"),
            new["phase"],
            new.get("message") or new.get("live", ""),
        )
        kopf.event(
            body,
            type="Warning" if new["phase"] in (Phase.BLOCKED, Phase.DEGRADED) else "Normal",
            reason=new["phase"],
            message=new.get("message") or new.get("live", ""),
        )


@kopf.timer(GROUP, VERSION, "cityblueprints", interval=RESYNC_SECONDS, initial_delay=0)
async def reconcile_blueprint(
    body: kopf.Body,
    name: str,
    meta: kopf.Meta,
    spec: kopf.Spec,
    status: kopf.Status,
    patch: kopf.Patch,
    **indices: Any,
) -> None:
    """Blueprint -> namespace and Initiatives; status folded from the Initiatives."""
    namespace = city_namespace(name)
    # Indices are copied here, on the event loop that updates them; the work runs in a thread.
    city_objects = _children(indices, (namespace, ""))
    initiatives = list(indices["citykit_initiatives"].get(namespace, []))
    await asyncio.to_thread(
        _reconcile_blueprint, body, name, meta, spec, status, patch, city_objects, initiatives
    )


def _reconcile_blueprint(
    body: kopf.Body,
    name: str,
    meta: kopf.Meta,
    spec: kopf.Spec,
    status: kopf.Status,
    patch: kopf.Patch,
    city_objects: list[dict[str, Any]],
    initiatives: list[dict[str, Any]],
) -> None:
    plain = {
        "apiVersion": API_VERSION,
        "kind": CITY_BLUEPRINT,
        "metadata": {"name": name},
        "spec": dict(spec),
    }
    try:
        validated = validate(from_data(f"cityblueprint/{name}", plain))
    except CitykitError as error:
        problems = [f"{problem.path}: {problem.message}" for problem in error.problems]
        _patch_status(
            patch,
            body,
            status,
            blocked_blueprint_status(meta.get("generation", 0), status, problems, now()),
        )
        return
    owner = {**plain, "metadata": {"name": name, "uid": meta["uid"]}}
    desired = [converge.owned(m, owner) for m in namespace_objects(validated.blueprint)]
    _converge(desired, city_objects)
    resources = [converge.owned(m, owner) for m in initiative_resources(validated)]
    _converge(resources, initiatives)
    phases = {
        item["spec"]["ref"]: (item.get("status") or {}).get("phase", Phase.PENDING)
        for item in initiatives
    }
    _patch_status(
        patch,
        body,
        status,
        fold_blueprint_status(plain["spec"], meta.get("generation", 0), status, phases, now()),
    )


@kopf.timer(GROUP, VERSION, "initiatives", interval=RESYNC_SECONDS, initial_delay=0)
async def reconcile_initiative(
    body: kopf.Body,
    name: str,
    namespace: str,
    meta: kopf.Meta,
    spec: kopf.Spec,
    status: kopf.Status,
    patch: kopf.Patch,
    **indices: Any,
) -> None:
    """Initiative -> its workloads in the wave the rollout has reached; status from readiness."""
    siblings = list(indices["citykit_initiatives"].get(namespace, []))
    children = _children(indices, (namespace, name))
    await asyncio.to_thread(
        _reconcile_initiative, body, name, namespace, meta, spec, status, patch, siblings, children
    )


def _reconcile_initiative(
    body: kopf.Body,
    name: str,
    namespace: str,
    meta: kopf.Meta,
    spec: kopf.Spec,
    status: kopf.Status,
    patch: kopf.Patch,
    siblings: list[dict[str, Any]],
    children: list[dict[str, Any]],
) -> None:
    catalogue = load_catalogue()
    entry = catalogue.entries.get(spec["ref"])
    if entry is None:
        log.warning("initiative %s/%s names unknown catalogue id %s", namespace, name, spec["ref"])
        _patch_status(
            patch,
            body,
            status,
            {"phase": Phase.BLOCKED, "message": f"unknown catalogue initiative {spec['ref']}"},
        )
        return
    view = InitiativeView(
        spec=dict(spec),
        generation=meta.get("generation", 0),
        status=dict(status),
        dependency_phases={
            s["spec"]["ref"]: (s.get("status") or {}).get("phase", Phase.PENDING) for s in siblings
        },
        deployments=[child for child in children if child["kind"] == "Deployment"],
        approved_by=meta.get("annotations", {}).get(APPROVED_BY_ANNOTATION),
    )
    decision = next_initiative_status(view, len(entry.components), now())
    if decision.wave is not None:
        owner = {
            "apiVersion": API_VERSION,
            "kind": INITIATIVE,
            "metadata": {"name": name, "uid": meta["uid"]},
        }
        desired = [
            converge.owned(m, owner)
            for m in initiative_children(dict(spec), catalogue, decision.wave)
        ]
        _converge(desired, children)
    _patch_status(patch, body, status, decision.status)
