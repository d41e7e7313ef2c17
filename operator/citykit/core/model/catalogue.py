"""The initiative catalogue: what each initiative deploys, collects, publishes and moves.

The catalogue is versioned as a whole and blueprints pin one version. Versions sit side by
side, one folder each (`catalogue/1.0.0/catalogue.yaml` plus `catalogue/1.0.0/<area>/<id>.yaml`),
so a city stays on the version it pinned while another moves on (`citykit upgrade`). A version
says what changed since the one before (`changes:` in the index and in each entry), which
initiatives it deprecates (with a successor) and which it removed.

Loading checks every entry against the schema and against the index, so a broken entry is
found when the catalogue is read, not when a city tries to deploy it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from citykit.api import jsonschemas
from citykit.api.enums import Area
from citykit.core.load import schemas
from citykit.core.load.errors import CitykitError, Problem, listing, shown
from citykit.core.load.source import Document, load_file
from citykit.resources import catalogue_dir


@dataclass(frozen=True)
class Component:
    """One workload of an initiative; the raw catalogue mapping is what rendering reads."""

    name: str
    spec: Mapping[str, Any]

    @property
    def ports(self) -> list[Mapping[str, Any]]:
        return list(self.spec.get("ports", []))


@dataclass(frozen=True)
class Deprecation:
    """An initiative that still works in this version but is on its way out."""

    since: str
    reason: str
    successor: str | None = None


@dataclass(frozen=True)
class Removal:
    """An initiative the version before had and this version no longer has."""

    reason: str
    successor: str | None = None


@dataclass(frozen=True)
class Entry:
    """One catalogue initiative."""

    id: str
    area: str
    title: str
    summary: str
    components: tuple[Component, ...]
    personal_data: tuple[str, ...]
    capabilities: tuple[str, ...]
    publishes: tuple[str, ...]
    consumes: tuple[str, ...]
    platform_services: tuple[str, ...]
    kpis: tuple[str, ...]
    parameter_schema: Mapping[str, Any]
    source: str
    deprecated: Deprecation | None = None
    changes: tuple[str, ...] = ()

    @property
    def parameter_defaults(self) -> dict[str, Any]:
        return {name: spec["default"] for name, spec in self.parameter_schema["properties"].items()}


@dataclass(frozen=True)
class PlatformService:
    id: str
    title: str
    image: str
    port: int
    run_as_user: int | None
    storage: str | None
    credentials: bool


@dataclass(frozen=True)
class Kpi:
    id: str
    title: str
    unit: str
    better: str


@dataclass(frozen=True)
class Catalogue:
    version: str
    entries: Mapping[str, Entry]
    platform_services: Mapping[str, PlatformService]
    kpis: Mapping[str, Kpi]
    changes: tuple[str, ...] = ()
    removed: Mapping[str, Removal] = field(default_factory=dict)

    def by_area(self, area: str | None = None) -> list[Entry]:
        return sorted(
            (entry for entry in self.entries.values() if area in (None, entry.area)),
            key=lambda entry: (list(Area).index(Area(entry.area)), entry.id),
        )


def version_key(version: str) -> tuple[int, ...]:
    """`"1.10.0"` -> `(1, 10, 0)`: catalogue versions in release order, not text order."""
    return tuple(int(part) for part in version.split("."))


_VERSION = re.compile(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")


@functools.cache
def catalogue_versions(root: Path | None = None) -> tuple[str, ...]:
    """The catalogue versions this citykit ships, oldest first: the folders under `root`
    (default: the project's catalogue) named by a version that hold a `catalogue.yaml`."""
    root = root or catalogue_dir()
    found = (
        [
            path.name
            for path in root.iterdir()
            if _VERSION.fullmatch(path.name) and (path / "catalogue.yaml").is_file()
        ]
        if root.is_dir()
        else []
    )
    return tuple(sorted(found, key=version_key))


def latest_version(root: Path | None = None) -> str:
    """The newest catalogue version: what a new city pins."""
    versions = catalogue_versions(root)
    if not versions:
        raise CitykitError(
            Problem(str(root or catalogue_dir()), 1, 1, "", "no catalogue versions found")
        )
    return versions[-1]


def unknown_version(version: str, root: Path | None = None) -> str:
    """The message for a catalogue version citykit does not ship, naming the ones it does."""
    return (
        f"unknown catalogue version {shown(version)} "
        f"(available: {listing(catalogue_versions(root), limit=20) or 'none'})"
    )


@functools.cache
def load_catalogue(version: str | None = None, root: Path | None = None) -> Catalogue:
    """Read and check catalogue `version` (default: the newest) under `root` (default: the
    project's catalogue folder, which holds one folder per version)."""
    root = root or catalogue_dir()
    version = version or latest_version(root)
    if version not in catalogue_versions(root):
        raise CitykitError(
            Problem(str(root), 1, 1, "catalogueVersion", unknown_version(version, root))
        )
    folder = root / version
    index = load_file(folder / "catalogue.yaml")
    problems = schemas.check(index, jsonschemas.CATALOGUE)
    if not problems and index.data["version"] != version:
        problems.append(
            index.problem(
                ("version",), f"the index says {index.data['version']} but sits in folder {version}"
            )
        )
    if problems:
        raise CitykitError(problems)
    services = {
        id_: PlatformService(
            id=id_,
            title=spec["title"],
            image=spec["image"],
            port=spec["port"],
            run_as_user=spec.get("runAsUser"),
            storage=spec.get("storage"),
            credentials=bool(spec.get("credentials", False)),
        )
        for id_, spec in index.data["platformServices"].items()
    }
    kpis = {
        id_: Kpi(id_, spec["title"], spec["unit"], spec["better"])
        for id_, spec in index.data["kpis"].items()
    }
    entries: dict[str, Entry] = {}
    for path in sorted(folder.glob("*/*.yaml")):
        document = load_file(path)
        entry_problems = schemas.check(document, jsonschemas.CATALOGUE_ENTRY)
        if not entry_problems:
            entry_problems = _cross_check(document, services, kpis, entries)
        problems += entry_problems
        if not entry_problems:
            entry = _entry(document)
            entries[entry.id] = entry
    removed = {
        id_: Removal(spec["reason"], spec.get("successor"))
        for id_, spec in index.data.get("removed", {}).items()
    }
    if not problems:
        problems += _successors(index, entries, removed)
    if problems:
        raise CitykitError(problems)
    return Catalogue(
        version,
        entries,
        services,
        kpis,
        tuple(index.data.get("changes", ())),
        removed,
    )


def _successors(
    index: Document, entries: Mapping[str, Entry], removed: Mapping[str, Removal]
) -> list[Problem]:
    """A successor is an initiative of the same version that is not itself deprecated; a
    removed initiative is no longer in the version."""
    problems = []
    for id_, removal in removed.items():
        if id_ in entries:
            problems.append(
                index.problem(("removed", id_), f"{id_} is listed as removed but is still here")
            )
        if removal.successor is not None and removal.successor not in entries:
            problems.append(
                index.problem(
                    ("removed", id_, "successor"),
                    f"successor {shown(removal.successor)} is not in this catalogue version",
                )
            )
    for entry in entries.values():
        deprecation = entry.deprecated
        if deprecation is None or deprecation.successor is None:
            continue
        successor = entries.get(deprecation.successor)
        if successor is None or successor.deprecated is not None or successor.id == entry.id:
            document = load_file(entry.source)
            problems.append(
                document.problem(
                    ("deprecated", "successor"),
                    f"successor {shown(deprecation.successor)} must be an initiative of this "
                    "catalogue version that is not itself deprecated",
                )
            )
    return problems


def _cross_check(
    document: Document,
    services: Mapping[str, PlatformService],
    kpis: Mapping[str, Kpi],
    seen: Mapping[str, Entry],
) -> list[Problem]:
    data = document.data
    problems = []
    path = Path(document.source)
    if data["id"] != f"{data['area']}.{path.stem}" or path.parent.name != data["area"]:
        problems.append(
            document.problem(
                ("id",),
                f"id must be '<area>.<file name>' and the file must sit in the area's folder; "
                f"expected {path.parent.name}.{path.stem}",
            )
        )
    if data["id"] in seen:
        problems.append(
            document.problem(("id",), f"duplicate id, also in {seen[data['id']].source}")
        )
    problems += [
        document.problem(("platformServices", i), f"unknown platform service '{name}'")
        for i, name in enumerate(data["platformServices"])
        if name not in services
    ]
    problems += [
        document.problem(("kpis", i), f"unknown KPI '{name}'")
        for i, name in enumerate(data["kpis"])
        if name not in kpis
    ]
    names = [component["name"] for component in data["components"]]
    problems += [
        document.problem(("components", i, "name"), f"duplicate component name '{name}'")
        for i, name in enumerate(names)
        if name in names[:i]
    ]
    problems += [
        document.problem(
            ("components", i, "resources", bound, resource),
            f"{quantity!r} is not in canonical form; write {canonical!r} "
            "(the API server rewrites it, and citykit compares what it applied)",
        )
        for i, component in enumerate(data["components"])
        for bound, values in component["resources"].items()
        for resource, quantity in values.items()
        if (canonical := canonical_quantity(quantity)) != quantity
    ]
    defaults = {name: spec["default"] for name, spec in data["parameters"]["properties"].items()}
    problems += schemas.check_value(
        document, ("parameters",), defaults, schemas.parameter_validator(data["parameters"])
    )
    return problems


def canonical_quantity(quantity: str) -> str:
    """The form the API server stores a CPU or memory quantity in (for the forms we accept)."""
    if quantity.endswith("m"):
        millis = int(quantity[:-1])
        return f"{millis // 1000}" if millis % 1000 == 0 else f"{millis}m"
    for unit, next_unit in (("Ki", "Mi"), ("Mi", "Gi")):
        if quantity.endswith(unit):
            amount = int(quantity[:-2])
            return (
                canonical_quantity(f"{amount // 1024}{next_unit}")
                if amount % 1024 == 0
                else f"{amount}{unit}"
            )
    if "." in quantity:
        millis = round(float(quantity) * 1000)
        return canonical_quantity(f"{millis}m")
    return quantity


def _entry(document: Document) -> Entry:
    data = document.data
    return Entry(
        id=data["id"],
        area=data["area"],
        title=data["title"],
        summary=data["summary"],
        components=tuple(Component(spec["name"], spec) for spec in data["components"]),
        personal_data=tuple(data["personalData"]),
        capabilities=tuple(data.get("capabilities", ())),
        publishes=tuple(data["dataProducts"]["publishes"]),
        consumes=tuple(data["dataProducts"]["consumes"]),
        platform_services=tuple(data["platformServices"]),
        kpis=tuple(data["kpis"]),
        parameter_schema=data["parameters"],
        source=document.source,
        deprecated=(
            Deprecation(deprecated["since"], deprecated["reason"], deprecated.get("successor"))
            if (deprecated := data.get("deprecated"))
            else None
        ),
        changes=tuple(data.get("changes", ())),
    )
