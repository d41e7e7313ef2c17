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
import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from citykit.api import jsonschemas
from citykit.api.enums import Area
from citykit.core.load import schemas, source
from citykit.core.load.errors import CitykitError, Problem, listing, shown
from citykit.core.load.source import Document, load_bytes, load_file, read_bounded
from citykit.core.model.cataloguestore import catalogue_store
from citykit.resources import catalogue_dir, schema_dir


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
    project's catalogue folder, which holds one folder per version).

    Where a place to keep checked catalogues was given (`cataloguestore`), a catalogue
    checked before from the very same bytes is taken from there instead of checked again."""
    root = root or catalogue_dir()
    version = version or latest_version(root)
    if version not in catalogue_versions(root):
        raise CitykitError(
            Problem(str(root), 1, 1, "catalogueVersion", unknown_version(version, root))
        )
    folder = root / version
    paths = [folder / "catalogue.yaml", *sorted(folder.glob("*/*.yaml"))]
    store = catalogue_store()
    raw = _read_all(paths) if store is not None else None
    if store is None or raw is None:
        return _checked(version, folder, paths, load_file)[0]
    # The bytes checked are the bytes the key is made of: a file edited meanwhile cannot be
    # kept under the key of its earlier text.
    key = _key(version, folder, raw)
    if key is None:
        return _checked(version, folder, paths, load_file)[0]
    name = f"{version}-{hashlib.sha256(os.fsencode(os.path.abspath(folder))).hexdigest()[:16]}"
    kept = _from_kept(store.read(name), key, version, folder)
    if kept is not None:
        return kept
    catalogue, data = _checked(
        version, folder, paths, lambda path: load_bytes(str(path), raw[path])
    )
    store.write(name, _kept_text(key, data))
    return catalogue


def _checked(
    version: str, folder: Path, paths: list[Path], load: Callable[[Path], Document]
) -> tuple[Catalogue, dict[str, Any]]:
    """Catalogue `version` from `paths` (its index, then its entries), checked completely;
    with the plain data it was made from, which is what is kept."""
    index = load(paths[0])
    problems = schemas.check(index, jsonschemas.CATALOGUE)
    if not problems and index.data["version"] != version:
        problems.append(
            index.problem(
                ("version",), f"the index says {index.data['version']} but sits in folder {version}"
            )
        )
    if problems:
        raise CitykitError(problems)
    services, kpis = _services(index.data), _kpis(index.data)
    entries: dict[str, Entry] = {}
    entries_data = []
    for path in paths[1:]:
        document = load(path)
        entry_problems = schemas.check(document, jsonschemas.CATALOGUE_ENTRY)
        if not entry_problems:
            entry_problems = _cross_check(document, services, kpis, entries)
        problems += entry_problems
        if not entry_problems:
            entry = _entry(document.data, document.source)
            entries[entry.id] = entry
            entries_data.append([str(path.relative_to(folder)), document.data])
    catalogue = _catalogue(version, index.data, entries)
    if not problems:
        problems += _successors(index, entries, catalogue.removed)
    if problems:
        raise CitykitError(problems)
    return catalogue, {"index": index.data, "entries": entries_data}


def _catalogue(version: str, index: Mapping[str, Any], entries: dict[str, Entry]) -> Catalogue:
    return Catalogue(
        version,
        entries,
        _services(index),
        _kpis(index),
        tuple(index.get("changes", ())),
        _removed(index),
    )


def _services(index: Mapping[str, Any]) -> dict[str, PlatformService]:
    return {
        id_: PlatformService(
            id=id_,
            title=spec["title"],
            image=spec["image"],
            port=spec["port"],
            run_as_user=spec.get("runAsUser"),
            storage=spec.get("storage"),
            credentials=bool(spec.get("credentials", False)),
        )
        for id_, spec in index["platformServices"].items()
    }


def _kpis(index: Mapping[str, Any]) -> dict[str, Kpi]:
    return {
        id_: Kpi(id_, spec["title"], spec["unit"], spec["better"])
        for id_, spec in index["kpis"].items()
    }


def _removed(index: Mapping[str, Any]) -> dict[str, Removal]:
    return {
        id_: Removal(spec["reason"], spec.get("successor"))
        for id_, spec in index.get("removed", {}).items()
    }


# ── keeping a checked catalogue (see cataloguestore) ────────────────────────────────────────

# Bump when what is kept changes shape.
KEPT_FORMAT = 1
# Besides the catalogue's own files, what a check's outcome depends on: the schemas, and the
# code that checks (a source checkout changes it without changing citykit's version, which
# the store keeps apart: see citykit.cli.cataloguecache).
_CHECKING_CODE = tuple(Path(str(path)) for path in (__file__, schemas.__file__, source.__file__))


def _read_all(paths: list[Path]) -> dict[Path, bytes] | None:
    """Every file's bytes, or None when one cannot be read (checking then says why)."""
    try:
        return {path: read_bounded(str(path)) for path in paths}
    except CitykitError:
        return None


def _key(version: str, folder: Path, raw: Mapping[Path, bytes]) -> str | None:
    """A digest of everything the check of catalogue `version` depends on (None when a
    schema or the checking code cannot be read: then nothing is kept)."""
    digest = hashlib.sha256(f"{KEPT_FORMAT}\0{version}\0".encode())
    depends_on = [*sorted(schema_dir().glob("*.schema.yaml")), *_CHECKING_CODE]
    try:
        inputs = [
            *((str(path.relative_to(folder)), data) for path, data in raw.items()),
            *((path.name, path.read_bytes()) for path in depends_on),
        ]
    except OSError:
        return None
    for name, data in inputs:
        digest.update(f"{len(name)}:{name}{len(data)}:".encode())
        digest.update(data)
    return digest.hexdigest()


def _kept_text(key: str, data: Mapping[str, Any]) -> str:
    """The plain data of a checked catalogue as JSON (which keeps the types of YAML's plain
    data exactly), after a line with the digest of that JSON, so a damaged copy is never
    believed."""
    body = json.dumps({"format": KEPT_FORMAT, "key": key, **data}, separators=(",", ":"))
    return f"{hashlib.sha256(body.encode()).hexdigest()}\n{body}"


def _from_kept(text: str | None, key: str, version: str, folder: Path) -> Catalogue | None:
    """The catalogue kept in `text` when it is whole and was checked under `key`, else None."""
    if text is None:
        return None
    try:
        checksum, _, body = text.partition("\n")
        if hashlib.sha256(body.encode()).hexdigest() != checksum:
            return None
        kept = json.loads(body)
        if kept["format"] != KEPT_FORMAT or kept["key"] != key:
            return None
        entries = {}
        for relative, data in kept["entries"]:
            entry = _entry(data, str(folder / relative))
            entries[entry.id] = entry
        return _catalogue(version, kept["index"], entries)
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return None


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


def _entry(data: Mapping[str, Any], source: str) -> Entry:
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
        source=source,
        deprecated=(
            Deprecation(deprecated["since"], deprecated["reason"], deprecated.get("successor"))
            if (deprecated := data.get("deprecated"))
            else None
        ),
        changes=tuple(data.get("changes", ())),
    )
