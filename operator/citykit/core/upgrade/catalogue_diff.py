"""What changed from one catalogue version to another (pure): the data `citykit catalogue
diff` prints and `citykit upgrade` checks a city against.

Initiatives added, removed (with the successor the newer version names) and newly
deprecated; every image that moved, in initiatives and platform services; every parameter
added, removed or whose schema changed (a tighter minimum, a new default, a shorter enum);
other fields of an entry that changed; and the `changes:` notes the versions in between
wrote for the people who upgrade.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from citykit.core.model.catalogue import Catalogue, Deprecation, Entry, Removal, version_key


@dataclass(frozen=True)
class ImageChange:
    """An image that moved: `owner` is an initiative id or `platform service <id>`."""

    owner: str
    component: str
    before: str | None
    after: str | None


@dataclass(frozen=True)
class ParameterChange:
    """A parameter added (`before` None), removed (`after` None) or with a changed schema."""

    initiative: str
    name: str
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    details: tuple[str, ...]

    @property
    def kind(self) -> str:
        if self.before is None:
            return "added"
        return "removed" if self.after is None else "changed"


@dataclass(frozen=True)
class CatalogueDiff:
    old: str
    new: str
    added: tuple[Entry, ...]
    removed: tuple[tuple[str, Removal | None], ...]
    deprecated: tuple[tuple[str, Deprecation], ...]
    images: tuple[ImageChange, ...]
    parameters: tuple[ParameterChange, ...]
    fields: Mapping[str, tuple[str, ...]]
    services: tuple[tuple[str, str], ...]  # (sign, id): "+" added, "-" removed
    kpis: tuple[tuple[str, str], ...]
    notes: tuple[tuple[str, str], ...]  # (where: a version or an initiative id, note)

    @property
    def empty(self) -> bool:
        return not (
            self.added
            or self.removed
            or self.deprecated
            or self.images
            or self.parameters
            or self.fields
            or self.services
            or self.kpis
        )


def diff_catalogues(
    old: Catalogue, new: Catalogue, between: Sequence[Catalogue] = ()
) -> CatalogueDiff:
    """`old` -> `new`; `between` are the versions released in between (their notes and
    removals count too). Going back to an older version carries no notes."""
    forward = version_key(new.version) > version_key(old.version)
    steps = [*sorted(between, key=lambda c: version_key(c.version)), new] if forward else []
    removals: dict[str, Removal] = {}
    for step in steps:
        removals.update(step.removed)
    shared = [id_ for id_ in new.entries if id_ in old.entries]
    return CatalogueDiff(
        old=old.version,
        new=new.version,
        added=tuple(new.entries[id_] for id_ in _ordered(new, set(new.entries) - set(old.entries))),
        removed=tuple(
            (id_, removals.get(id_)) for id_ in _ordered(old, set(old.entries) - set(new.entries))
        ),
        deprecated=tuple(
            (id_, deprecation)
            for id_ in _ordered(new, set(new.entries))
            if (deprecation := new.entries[id_].deprecated) is not None
            and (id_ not in old.entries or old.entries[id_].deprecated is None)
        ),
        images=(
            *_service_images(old, new),
            *(
                change
                for id_ in _ordered(new, set(shared))
                for change in _images(old.entries[id_], new.entries[id_])
            ),
        ),
        parameters=tuple(
            change
            for id_ in _ordered(new, set(shared))
            for change in _parameters(old.entries[id_], new.entries[id_])
        ),
        fields={
            id_: changed
            for id_ in _ordered(new, set(shared))
            if (changed := _fields(old.entries[id_], new.entries[id_]))
        },
        services=_signed(old.platform_services, new.platform_services),
        kpis=_signed(old.kpis, new.kpis),
        notes=tuple(
            (where, note)
            for step in steps
            for where, note in (
                *((f"catalogue {step.version}", note) for note in step.changes),
                *(
                    (entry.id, note)
                    for entry in step.by_area()
                    if step is new or entry.id in new.entries
                    for note in entry.changes
                ),
            )
        ),
    )


def _ordered(catalogue: Catalogue, ids: set[str]) -> list[str]:
    """`ids` in the catalogue's own order (area, then id)."""
    return [entry.id for entry in catalogue.by_area() if entry.id in ids]


def _signed(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    return (
        *(("+", id_) for id_ in new if id_ not in old),
        *(("-", id_) for id_ in old if id_ not in new),
    )


def _service_images(old: Catalogue, new: Catalogue) -> tuple[ImageChange, ...]:
    return tuple(
        ImageChange(f"platform service {id_}", id_, old.platform_services[id_].image, after.image)
        for id_, after in new.platform_services.items()
        if id_ in old.platform_services and old.platform_services[id_].image != after.image
    )


def _images(old: Entry, new: Entry) -> list[ImageChange]:
    before = {component.name: component.spec["image"] for component in old.components}
    after = {component.name: component.spec["image"] for component in new.components}
    return [
        ImageChange(new.id, name, before.get(name), after.get(name))
        for name in [*after, *(name for name in before if name not in after)]
        if before.get(name) != after.get(name)
    ]


def _parameters(old: Entry, new: Entry) -> list[ParameterChange]:
    before = old.parameter_schema["properties"]
    after = new.parameter_schema["properties"]
    changes = []
    for name in [*after, *(name for name in before if name not in after)]:
        was, now = before.get(name), after.get(name)
        if was == now:
            continue
        details = _schema_details(was, now) if was is not None and now is not None else ()
        if was is not None and now is not None and not details:
            continue  # only the description changed
        changes.append(ParameterChange(new.id, name, was, now, details))
    return changes


def _schema_details(was: Mapping[str, Any], now: Mapping[str, Any]) -> tuple[str, ...]:
    """`minimum 10 -> 15`, `enum +dcat-ap-3, -dcat-2`: what a city team must check."""
    details = []
    for key in sorted(set(was) | set(now)):
        if key == "description" or was.get(key) == now.get(key):
            continue
        before, after = was.get(key), now.get(key)
        if key == "enum" and isinstance(before, list) and isinstance(after, list):
            gained = [value for value in after if value not in before]
            lost = [value for value in before if value not in after]
            signed = [f"+{_text(value)}" for value in gained] + [
                f"-{_text(value)}" for value in lost
            ]
            details.append(f"enum {', '.join(signed)}")
        else:
            details.append(f"{key} {_text(before)} -> {_text(after)}")
    return tuple(details)


def _text(value: Any) -> str:
    """A schema value as JSON, short: `15`, `"delay"`, `none` when absent."""
    if value is None:
        return "none"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= 60 else text[:57] + "..."


_ENTRY_FIELDS = (
    ("title", "title"),
    ("summary", "summary"),
    ("personal_data", "personalData"),
    ("capabilities", "capabilities"),
    ("publishes", "dataProducts.publishes"),
    ("consumes", "dataProducts.consumes"),
    ("platform_services", "platformServices"),
    ("kpis", "kpis"),
)


def _fields(old: Entry, new: Entry) -> tuple[str, ...]:
    """The entry's other fields that changed, by their name in the entry file; components
    are compared without their image (images are listed on their own)."""
    changed = [
        name
        for attribute, name in _ENTRY_FIELDS
        if getattr(old, attribute) != getattr(new, attribute)
    ]
    before = {c.name: {k: v for k, v in c.spec.items() if k != "image"} for c in old.components}
    after = {c.name: {k: v for k, v in c.spec.items() if k != "image"} for c in new.components}
    for name in [*after, *(name for name in before if name not in after)]:
        if name not in before:
            changed.append(f"components.{name} (added)")
        elif name not in after:
            changed.append(f"components.{name} (removed)")
        elif before[name] != after[name]:
            keys = sorted(
                k
                for k in set(before[name]) | set(after[name])
                if before[name].get(k) != after[name].get(k)
            )
            changed.append(f"components.{name}: {', '.join(keys)}")
    return tuple(changed)
