"""What changes between two versions of a blueprint: initiatives and Kubernetes objects."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from citykit.core.render import Manifest, initiative_resources, plan
from citykit.core.validation import ValidatedBlueprint

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
class BlueprintDiff:
    settings: Mapping[str, tuple[Any, Any]]
    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: Mapping[str, tuple[str, ...]]
    create: tuple[ObjectKey, ...]
    update: tuple[ObjectKey, ...]
    delete: tuple[ObjectKey, ...]

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
    )


def _changed_fields(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(field for field in sorted(set(old) | set(new)) if old.get(field) != new.get(field))
