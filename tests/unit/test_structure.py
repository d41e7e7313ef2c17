"""The package's shape, held by tests: the pure core and the API contract import no cluster,
engine or terminal library; imports point one way (cli -> controller/infra/localcluster ->
kube -> core -> api), inside the core too (load <- model <- the concerns built on them); and
the Phase / Wave / Area enums are the values the schemas allow."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator, Mapping
from enum import StrEnum
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any

import pytest

import citykit
from citykit.api import jsonschemas
from citykit.api.enums import Area, BlueprintPhase, Commitment, Phase, Verdict, Wave

PACKAGE = Path(citykit.__file__).parent
Path_ = tuple[str, ...]  # keys from a schema's root to an object in it
FORBIDDEN = ("kubernetes", "kopf", "pulumi", "click", "rich")
PURE_LAYERS = ("api", "core")
# What each pure layer may import from citykit itself (a prefix matches a module and its
# submodules). `resources` finds the packaged data, `serialize` writes YAML: both are pure.
ALLOWED_CITYKIT_IMPORTS = {
    "api": ("citykit.api", "citykit.resources", "citykit.serialize"),
    "core": ("citykit.api", "citykit.core", "citykit.resources", "citykit.serialize"),
}
# The core's sub-packages, one per concern, by rank: each imports its own rank and those
# below, never one above (loading knows no model; the model knows nothing of rendering,
# rollout, upgrades, the programme office or a city's project folder).
CORE_CONCERNS = {
    "load": 0,
    "model": 1,
    "render": 2,
    "rollout": 2,
    "upgrade": 2,
    "office": 2,
    "project": 2,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_files(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).rglob("*.py"))


def imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) for every import in `path`, at any depth (function-level ones too);
    `from package import name` yields `package.name`, since the name may be a module."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = (
        module_name(path) if path.name == "__init__.py" else module_name(path).rsplit(".", 1)[0]
    )
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"


def within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == prefix or module.startswith(f"{prefix}.") for prefix in prefixes)


def test_layer_files_are_found() -> None:
    """Guards the tests below against passing because they looked at nothing."""
    assert len(layer_files("api")) >= 4
    assert len(layer_files("core")) >= 10


@pytest.mark.parametrize("layer", PURE_LAYERS)
def test_pure_layers_import_no_cluster_engine_or_terminal_library(layer: str) -> None:
    offences = [
        f"{path.relative_to(PACKAGE)}:{line}: {module}"
        for path in layer_files(layer)
        for line, module in imported_modules(path)
        if within(module, FORBIDDEN)
    ]
    assert offences == []


def test_importing_every_pure_module_loads_no_cluster_engine_or_terminal_library() -> None:
    """What the static check cannot see (an import through a helper, a dependency that pulls
    one in) shows in a fresh interpreter's sys.modules."""
    modules = [module_name(path) for layer in PURE_LAYERS for path in layer_files(layer)]
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(completed.stdout) == []


@pytest.mark.parametrize("layer", PURE_LAYERS)
def test_pure_layers_import_only_layers_below_them(layer: str) -> None:
    allowed = ALLOWED_CITYKIT_IMPORTS[layer]
    offences = []
    for path in layer_files(layer):
        for line, module in imported_modules(path):
            if within(module, ("citykit",)) and not within(module, allowed):
                offences.append(f"{path.relative_to(PACKAGE)}:{line}: {module}")
    assert offences == []


def core_concern(module: str) -> str | None:
    """`render` for citykit.core.render.objects; None outside the core's sub-packages."""
    parts = module.split(".")
    return parts[2] if parts[:2] == ["citykit", "core"] and len(parts) > 2 else None


def core_imports() -> Iterator[tuple[str, str, str]]:
    """(where, importing concern, imported concern) for every import from one of the core's
    sub-packages into another."""
    for path in layer_files("core"):
        concern = core_concern(module_name(path))
        for line, module in imported_modules(path):
            imported = core_concern(module)
            if concern is not None and imported is not None and imported != concern:
                yield f"{path.relative_to(PACKAGE)}:{line}: {module}", concern, imported


# Every package of citykit by rank: a package imports only packages of a lower rank, so the
# arrows of DESIGN.md (cli -> controller/infra/localcluster -> kube/toolchain -> core -> api)
# hold for the edges too. `resources` and `serialize` are leaf helpers any layer may use.
PACKAGE_RANKS = {
    "__init__": 0,  # citykit/__init__.py: the version
    "resources": 0,
    "serialize": 0,
    "api": 1,
    "core": 2,
    "kube": 3,
    "toolchain": 3,
    "controller": 4,
    "infra": 4,
    "localcluster": 4,
    "cli": 5,
    "__main__": 6,
}


def top_package(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def test_every_package_has_a_rank() -> None:
    assert {top_package(path) for path in PACKAGE.rglob("*.py")} == set(PACKAGE_RANKS)


def test_packages_import_only_packages_of_a_lower_rank() -> None:
    offences = [
        f"{path.relative_to(PACKAGE)}:{line}: {module}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for line, module in imported_modules(path)
        if module.startswith("citykit.")
        and (target := module.split(".")[1]) in PACKAGE_RANKS
        and target != top_package(path)
        and PACKAGE_RANKS[target] >= PACKAGE_RANKS[top_package(path)]
    ]

    assert offences == []


def test_every_core_module_lives_in_a_concern() -> None:
    """A new module goes where its concern is (or a new concern is ranked here)."""
    loose = [
        str(path.relative_to(PACKAGE))
        for path in layer_files("core")
        if module_name(path) != "citykit.core"
        and core_concern(module_name(path)) not in CORE_CONCERNS
    ]
    assert loose == []
    assert {core_concern(module_name(path)) for path in layer_files("core")} >= set(CORE_CONCERNS)


def test_core_concerns_import_only_their_rank_or_below() -> None:
    offences = [
        where
        for where, concern, imported in core_imports()
        if CORE_CONCERNS[imported] > CORE_CONCERNS[concern]
    ]
    assert offences == []


def test_core_concerns_import_each_other_without_a_cycle() -> None:
    """Concerns of one rank may build on each other (project on render, rollout on office's
    KPI verdicts), one way only."""
    graph: dict[str, set[str]] = {concern: set() for concern in CORE_CONCERNS}
    for _, concern, imported in core_imports():
        graph[concern].add(imported)
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as error:
        pytest.fail(f"core concerns import each other in a circle: {error.args[1]}")


def test_no_problem_is_built_at_a_made_up_place() -> None:
    """A `Problem` built at line 0, column 0 reads as a place in a file that does not exist: a
    problem with an argument is `Problem.argument(NAME, ...)`, one in a file has the file's own
    line and column."""
    offences = [
        f"{path.relative_to(PACKAGE)}:{node.lineno}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path)))
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", getattr(node.func, "attr", None)) == "Problem"
        and len(node.args) >= 3
        and any(isinstance(arg, ast.Constant) and arg.value == 0 for arg in node.args[1:3])
    ]
    assert offences == []


# The enums and the schemas: one set of values.


def enums_of(schema: Any, name: str, path: Path_ = ()) -> Iterator[tuple[Path_, list[Any]]]:
    """(path of the object, values) for every property called `name` with an `enum`, found
    by walking the whole schema ($defs included)."""
    if isinstance(schema, Mapping):
        properties = schema.get("properties")
        if isinstance(properties, Mapping):
            found = properties.get(name)
            if isinstance(found, Mapping) and "enum" in found:
                yield path, list(found["enum"])
        for key, value in schema.items():
            yield from enums_of(value, name, (*path, str(key)))
    elif isinstance(schema, list):
        for index, item in enumerate(schema):
            yield from enums_of(item, name, (*path, str(index)))


def enum_at(schema_name: str, path: Path_, name: str) -> list[Any]:
    """The enum of property `name` of the object at `path` in schema `schema_name`."""
    found = dict(enums_of(jsonschemas.load_schema(schema_name), name))
    assert path in found, f"{schema_name}: no `{name}` enum at {'/'.join(path) or 'the top'}"
    return found[path]


def every_enum(name: str) -> list[tuple[str, Path_, list[Any]]]:
    return [
        (schema, path, enum_values)
        for schema in jsonschemas.schema_names()
        for path, enum_values in enums_of(jsonschemas.load_schema(schema), name)
    ]


def values(enum: type[StrEnum]) -> list[str]:
    return [member.value for member in enum]


def test_phase_is_the_initiative_status_phase_enum() -> None:
    assert values(Phase) == enum_at(jsonschemas.STATUS, ("$defs", "initiativeStatus"), "phase")


def test_blueprint_phase_is_the_city_blueprint_status_phase_enum() -> None:
    assert values(BlueprintPhase) == enum_at(
        jsonschemas.STATUS, ("$defs", "cityBlueprintStatus"), "phase"
    )


def test_wave_is_the_initiative_status_wave_enum_and_every_other() -> None:
    assert values(Wave) == enum_at(jsonschemas.STATUS, ("$defs", "initiativeStatus"), "wave")
    assert [found for found in every_enum("wave") if found[2] != values(Wave)] == []


def test_area_is_the_catalogue_entry_area_enum() -> None:
    assert values(Area) == enum_at(jsonschemas.CATALOGUE_ENTRY, (), "area")


def test_area_is_the_initiative_spec_area_enum() -> None:
    assert values(Area) == enum_at(jsonschemas.INITIATIVE, ("properties", "spec"), "area")


def test_no_schema_has_another_area_enum() -> None:
    assert [found for found in every_enum("area") if found[2] != values(Area)] == []


def test_verdict_is_the_kpi_status_verdict_enum_and_every_other() -> None:
    found = every_enum("verdict")
    assert found and [item for item in found if item[2] != values(Verdict)] == []


def test_commitment_is_every_commitment_enum() -> None:
    found = every_enum("commitment")
    assert found and [item for item in found if item[2] != values(Commitment)] == []
