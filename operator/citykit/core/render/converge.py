"""What to write: the difference between observed and desired objects (pure).

`covers` decides whether an observed object already holds every field citykit would set;
when it does, no request is made, which is what keeps an idle operator at zero writes.
`plan_writes` is the whole decision a reconcile makes; the operator only carries it out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


def covers(actual: Any, desired: Any) -> bool:
    """Whether `actual` already has every field of `desired` (server defaults may add more)."""
    if isinstance(desired, Mapping):
        return isinstance(actual, Mapping) and all(
            covers(actual.get(key), value) for key, value in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(desired)
            and all(covers(a, d) for a, d in zip(actual, desired, strict=True))
        )
    return bool(actual == desired)


@dataclass(frozen=True)
class WritePlan:
    """The requests one reconcile makes: server-side apply `apply` in order (a namespace
    before what lives in it), then delete `delete`. Both empty when nothing changed."""

    apply: tuple[Mapping[str, Any], ...] = ()
    delete: tuple[Mapping[str, Any], ...] = ()


def _key(manifest: Mapping[str, Any]) -> tuple[str, str]:
    return manifest["kind"], manifest["metadata"]["name"]


# Kinds whose whole spec citykit renders and the API server adds nothing to (citykit's own
# CRDs declare no defaults): their spec must equal the desired one, or a field taken out of
# the blueprint (an initiative's secretRefs, its gate's progressDeadline) would stay.
EXACT_SPEC_KINDS = frozenset({"Initiative"})


def up_to_date(actual: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    """Whether `actual` needs no write to be `desired`: it covers it, and for a kind whose
    spec is citykit's alone, holds that spec exactly."""
    exact = desired["kind"] not in EXACT_SPEC_KINDS or actual.get("spec") == desired.get("spec")
    return exact and covers(actual, desired)


def plan_writes(
    desired: Iterable[Mapping[str, Any]], observed: Iterable[Mapping[str, Any]]
) -> WritePlan:
    """Apply each desired object that no observed object of its kind and name covers; delete
    each observed object no longer desired. `observed` is what citykit made in one scope (a
    city's namespace, or one initiative's children): everything in it not desired goes."""
    existing = {_key(item): item for item in observed}
    manifests = list(desired)
    wanted = {_key(manifest) for manifest in manifests}
    return WritePlan(
        apply=tuple(
            manifest
            for manifest in manifests
            if _key(manifest) not in existing or not up_to_date(existing[_key(manifest)], manifest)
        ),
        delete=tuple(item for key, item in existing.items() if key not in wanted),
    )


def merge_patch(current: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON merge patch (RFC 7386) turning `current` into `desired`: keys that went away
    are set to null at every depth, or a map such as `byPhase` would keep stale keys forever."""
    patch: dict[str, Any] = {key: None for key in current if key not in desired}
    for key, value in desired.items():
        old = current.get(key)
        if isinstance(value, Mapping) and isinstance(old, Mapping):
            nested = merge_patch(old, value)
            if nested:
                patch[key] = nested
        elif old != value or key not in current:
            patch[key] = value
    return patch


def owner_reference(owner: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def owned(manifest: Mapping[str, Any], owner: Mapping[str, Any]) -> dict[str, Any]:
    """`manifest` with `owner` as its controller, so deleting the owner collects it."""
    metadata = {**manifest["metadata"], "ownerReferences": [owner_reference(owner)]}
    return {**manifest, "metadata": metadata}
