"""What the operator keeps of what it watches, and whose reconcile an event concerns.

Indices hold slim copies (no managedFields, no status beyond what readiness needs), keyed
by scope: children by (namespace, initiative), city-level objects by (namespace, ""),
Initiatives and KpiReports by namespace, CityBlueprints and the ControllerRevisions of
their history by the blueprint's name. `owner_keys` maps any
watched object to the reconcile keys it concerns (controller-runtime's
EnqueueRequestForOwner; a KpiReport concerns its namespace's city), and `Written` holds what
the operator's own writes returned until the watches catch up, so a reconcile that runs
before its own previous writes are seen does not write them again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from citykit.api.names import (
    BLUEPRINT_LABEL,
    CITY_BLUEPRINT,
    CITY_LABEL,
    CONTROLLER_REVISION,
    INITIATIVE,
    INITIATIVE_LABEL,
    KPI_REPORT,
    namespace_city,
)

# What an object is kept with: the fields citykit writes (to see drift) and what it reads.
_KEPT = ("apiVersion", "kind", "spec", "data", "revision", "automountServiceAccountToken")
_KEPT_METADATA = (
    "name",
    "namespace",
    "uid",
    "labels",
    "annotations",
    "generation",
    "resourceVersion",
    "ownerReferences",
    "deletionTimestamp",
    "finalizers",
)
_DEPLOYMENT_STATUS = ("replicas", "readyReplicas", "updatedReplicas", "observedGeneration")


@dataclass(frozen=True, order=True)
class Key:
    """One reconcile: a CityBlueprint (namespace "") or an Initiative."""

    kind: str
    namespace: str
    name: str


def slim(body: Mapping[str, Any]) -> dict[str, Any]:
    metadata = body.get("metadata") or {}
    kept: dict[str, Any] = {key: body[key] for key in _KEPT if key in body}
    kept["metadata"] = {key: metadata[key] for key in _KEPT_METADATA if key in metadata}
    status = body.get("status")
    if status is not None:
        if body.get("kind") == "Deployment":
            status = {key: status[key] for key in _DEPLOYMENT_STATUS if key in status}
        kept["status"] = dict(status)
    return kept


def pack(body: Mapping[str, Any]) -> bytes:
    """A slim copy as compact JSON text. Parsed, a Deployment takes six times the memory of
    its text, and a country's operator keeps tens of thousands of children it reads only
    when their initiative reconciles (2,000 initiatives: 160 MB of dicts, 25 MB of text)."""
    return json.dumps(slim(body), separators=(",", ":")).encode()


def unpack(packed: bytes) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(packed)
    return loaded


def index_key(body: Mapping[str, Any]) -> str | tuple[str, str]:
    """Where the indices keep an object: a blueprint by its name, Initiatives and KpiReports
    by namespace, the ControllerRevisions of a city's history by their blueprint, children by
    `scope`."""
    kind, metadata = body["kind"], body["metadata"]
    if kind == CITY_BLUEPRINT:
        return str(metadata["name"])
    if kind in (INITIATIVE, KPI_REPORT):
        return str(metadata["namespace"])
    if kind == CONTROLLER_REVISION:
        return str(metadata["labels"][BLUEPRINT_LABEL])
    return scope(body)


def index_entry(body: Mapping[str, Any]) -> dict[Any, dict[str, Any] | bytes]:
    """{index key: what is kept} for one watched object. Blueprints, Initiatives and
    KpiReports as dicts (an Initiative's siblings are read on each of its events); children
    and revisions, the bulk, packed."""
    kept = slim(body) if body["kind"] in (CITY_BLUEPRINT, INITIATIVE, KPI_REPORT) else pack(body)
    return {index_key(body): kept}


def scope(body: Mapping[str, Any]) -> tuple[str, str]:
    """A child's index key: (namespace, initiative); city-level objects have initiative ""."""
    metadata = body["metadata"]
    return (
        metadata.get("namespace") or metadata["name"],
        (metadata.get("labels") or {}).get(INITIATIVE_LABEL, ""),
    )


def owner_keys(body: Mapping[str, Any], siblings: Iterable[Mapping[str, Any]] = ()) -> list[Key]:
    """The reconciles an event on `body` concerns. For an Initiative: itself, its blueprint,
    and the `siblings` that depend on it (its phase is what they wait for)."""
    metadata = body["metadata"]
    labels = metadata.get("labels") or {}
    kind = body["kind"]
    if kind == CITY_BLUEPRINT:
        return [Key(CITY_BLUEPRINT, "", metadata["name"])]
    namespace = metadata.get("namespace") or ""
    if kind == INITIATIVE:
        spec = body.get("spec") or {}
        ref = spec.get("ref")
        keys = [Key(INITIATIVE, namespace, metadata["name"])]
        city = spec.get("city") or labels.get(CITY_LABEL)
        if city:
            keys.append(Key(CITY_BLUEPRINT, "", city))
        keys += [
            Key(INITIATIVE, namespace, sibling["metadata"]["name"])
            for sibling in siblings
            if ref in ((sibling.get("spec") or {}).get("dependsOn") or ())
        ]
        return keys
    if kind == CONTROLLER_REVISION:  # a city's history: its blueprint's
        blueprint = labels.get(BLUEPRINT_LABEL)
        return [Key(CITY_BLUEPRINT, "", blueprint)] if blueprint else []
    if kind == KPI_REPORT:  # written by pipelines, often unlabelled: the namespace says
        city = namespace_city(namespace)
        return [Key(CITY_BLUEPRINT, "", city)] if city else []
    if labels.get(INITIATIVE_LABEL):
        return [Key(INITIATIVE, namespace, labels[INITIATIVE_LABEL])]
    if labels.get(CITY_LABEL):
        return [Key(CITY_BLUEPRINT, "", labels[CITY_LABEL])]
    return []


def _version(body: Mapping[str, Any]) -> int:
    try:
        return int(body["metadata"].get("resourceVersion") or 0)
    except ValueError:
        return 0


def _identity(body: Mapping[str, Any]) -> tuple[str, str, str]:
    metadata = body["metadata"]
    return body["kind"], metadata.get("namespace") or "", metadata["name"]


Bucket = tuple[str, ...]
CHILDREN = "children"  # a bucket of a scope's children: (CHILDREN, namespace, initiative)


def bucket(body: Mapping[str, Any]) -> Bucket:
    """Where a reconcile's snapshot looks for an object: its kind and `index_key`, with all
    kinds of a scope's children in one bucket."""
    key = index_key(body)
    return (CHILDREN, *key) if isinstance(key, tuple) else (body["kind"], key)


@dataclass(frozen=True)
class _Copy:
    """A written object as the cache keeps it: packed, with what is compared without
    unpacking it."""

    version: int
    filed: Bucket
    packed: bytes


class Written:
    """The objects the operator's writes returned, until the watches deliver them too.

    resourceVersions are etcd revisions: comparing them as numbers is what tells whether
    the watched copy has caught up (the API promises nothing more; if one is not a number
    the watched copy wins, which at worst costs one redundant, idempotent write).

    Filed by `bucket` as well: in a country's rollout thousands of writes wait for their
    watch events, and a snapshot that looked through all of them for its scope's took the
    event loop's whole time (2,000 initiatives: 93% of it), so the watches fell further
    behind and more writes stayed waiting. Kept packed, as the indices keep children: at
    that size about 9,000 writes waited at once, and as dicts they were most of the
    operator's memory."""

    def __init__(self) -> None:
        self._objects: dict[tuple[str, str, str], _Copy] = {}
        self._buckets: dict[Bucket, set[tuple[str, str, str]]] = {}

    def record(self, body: Mapping[str, Any]) -> None:
        identity = _identity(body)
        if identity in self._objects:  # its labels, so its bucket, may have changed
            self._forget(identity)
        filed = bucket(body)
        self._objects[identity] = _Copy(_version(body), filed, pack(body))
        self._buckets.setdefault(filed, set()).add(identity)

    def _forget(self, identity: tuple[str, str, str]) -> None:
        filed = self._objects.pop(identity).filed
        self._buckets[filed].discard(identity)
        if not self._buckets[filed]:
            del self._buckets[filed]

    def seen(self, body: Mapping[str, Any], deleted: bool = False) -> None:
        """A watch delivered `body`: its written copy is no longer needed once it is older."""
        identity = _identity(body)
        written = self._objects.get(identity)
        if written is not None and (deleted or written.version <= _version(body)):
            self._forget(identity)

    def merge(
        self, watched: Iterable[Mapping[str, Any]], filed: Bucket | None = None
    ) -> list[Mapping[str, Any]]:
        """`watched`, each replaced by a newer written copy, plus the written objects of
        bucket `filed` the watches have not delivered yet."""
        merged: dict[tuple[str, str, str], Mapping[str, Any]] = {}
        for body in watched:
            identity = _identity(body)
            written = self._objects.get(identity)
            if written is not None and written.version > _version(body):
                merged[identity] = unpack(written.packed)
            else:
                if written is not None:
                    self._forget(identity)
                merged[identity] = body
        if filed is not None:
            for identity in self._buckets.get(filed, ()):
                if identity not in merged:
                    merged[identity] = unpack(self._objects[identity].packed)
        return list(merged.values())

    def __len__(self) -> int:
        return len(self._objects)
