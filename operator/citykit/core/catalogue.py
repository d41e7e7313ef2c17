"""The initiative catalogue: what each initiative deploys, collects, publishes and moves.

The catalogue is versioned as a whole (`catalogue.yaml`) and blueprints pin that version.
Loading checks every entry against the schema and against the index, so a broken entry is
found when the catalogue is read, not when a city tries to deploy it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from citykit.api import jsonschemas
from citykit.api.enums import Area
from citykit.core import schemas
from citykit.core.errors import CitykitError, Problem
from citykit.core.source import Document, load_file
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

    def by_area(self, area: str | None = None) -> list[Entry]:
        return sorted(
            (entry for entry in self.entries.values() if area in (None, entry.area)),
            key=lambda entry: (list(Area).index(Area(entry.area)), entry.id),
        )


@functools.cache
def load_catalogue(root: Path | None = None) -> Catalogue:
    """Read and check the whole catalogue under `root` (default: the project's)."""
    root = root or catalogue_dir()
    index = load_file(root / "catalogue.yaml")
    problems = schemas.check(index, jsonschemas.CATALOGUE)
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
    for path in sorted(root.glob("*/*.yaml")):
        document = load_file(path)
        entry_problems = schemas.check(document, jsonschemas.CATALOGUE_ENTRY)
        if not entry_problems:
            entry_problems = _cross_check(document, services, kpis, entries)
        problems += entry_problems
        if not entry_problems:
            entry = _entry(document)
            entries[entry.id] = entry
    if problems:
        raise CitykitError(problems)
    return Catalogue(index.data["version"], entries, services, kpis)


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
    )
