"""What changes between two versions of a blueprint: initiatives, their revisions and
Kubernetes objects.

An initiative whose workloads render a new revision (`objects.workload_revision`, the
`citykit.io/revision` the operator labels them with) is upgraded on a running city: it
pilots in its pilot districts first, or without them follows its gate citywide. One whose
revision is the same is not touched by the operator, whatever else changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from citykit.core.model.validation import ValidatedBlueprint
from citykit.core.render.objects import Manifest, initiative_resources, initiative_revisions, plan

ObjectKey = tuple[str, str, str]


def object_key(manifest: Manifest) -> ObjectKey:
    """`("apps/v1/Deployment", namespace, name)`: how objects are matched across versions."""
    metadata = manifest["metadata"]
    return (
        f"{manifest['apiVersion']}/{manifest['kind']}",
        metadata.get("namespace", ""),
        metadata["name"],
    )


@dataclass(frozen=True)
class RevisionChange:
    """An initiative of both blueprints whose workloads render a new revision: an upgrade,
    which pilots in `pilot_districts` first (none: citywide after its gate)."""

    ref: str
    before: str
    after: str
    pilot_districts: tuple[str, ...]


@dataclass(frozen=True)
class BlueprintDiff:
    settings: Mapping[str, tuple[Any, Any]]
    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: Mapping[str, tuple[str, ...]]
    create: tuple[ObjectKey, ...]
    update: tuple[ObjectKey, ...]
    delete: tuple[ObjectKey, ...]
    # initiatives of both blueprints: those with a new revision, and those keeping theirs
    upgraded: tuple[RevisionChange, ...] = ()
    kept: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (
            self.settings
            or self.added
            or self.removed
            or self.changed
            or self.create
            or self.update
            or self.delete
        )


def diff_blueprints(old: ValidatedBlueprint, new: ValidatedBlueprint) -> BlueprintDiff:
    old_specs = {
        resource["spec"]["ref"]: resource["spec"] for resource in initiative_resources(old)
    }
    new_specs = {
        resource["spec"]["ref"]: resource["spec"] for resource in initiative_resources(new)
    }
    old_revisions, new_revisions = initiative_revisions(old), initiative_revisions(new)
    both = [ref for ref in new_specs if ref in old_specs]
    old_objects = {object_key(manifest): manifest for manifest in plan(old)}
    new_objects = {object_key(manifest): manifest for manifest in plan(new)}
    settings = {
        field: (getattr(old.blueprint, field), getattr(new.blueprint, field))
        for field in ("name", "version", "catalogue_version", "jurisdiction", "districts")
        if getattr(old.blueprint, field) != getattr(new.blueprint, field)
    }
    return BlueprintDiff(
        settings=settings,
        added=tuple(ref for ref in new_specs if ref not in old_specs),
        removed=tuple(ref for ref in old_specs if ref not in new_specs),
        changed={
            ref: fields
            for ref, spec in new_specs.items()
            if ref in old_specs and (fields := _changed_fields(old_specs[ref], spec))
        },
        create=tuple(key for key in new_objects if key not in old_objects),
        update=tuple(
            key
            for key in new_objects
            if key in old_objects and new_objects[key] != old_objects[key]
        ),
        delete=tuple(key for key in old_objects if key not in new_objects),
        upgraded=tuple(
            RevisionChange(
                ref,
                old_revisions[ref],
                new_revisions[ref],
                tuple(new_specs[ref]["pilotDistricts"]),
            )
            for ref in both
            if old_revisions[ref] != new_revisions[ref]
        ),
        kept=tuple(ref for ref in both if old_revisions[ref] == new_revisions[ref]),
    )


def _changed_fields(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(field for field in sorted(set(old) | set(new)) if old.get(field) != new.get(field))
