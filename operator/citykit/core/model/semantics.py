"""Checks a schema cannot express: references between initiatives, districts, data
products and KPIs, dependency cycles, parameter values, and secrets pasted in by mistake."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Iterator

from citykit.api.crd import PERCENT_UNIT, SIGNED_UNITS
from citykit.core.load import schemas
from citykit.core.load.errors import Problem, listing, number_text, shown
from citykit.core.load.secretscan import find_secrets
from citykit.core.load.source import Document, FieldPath
from citykit.core.model.blueprint import Blueprint, InitiativeSpec
from citykit.core.model.catalogue import Catalogue, Kpi

SPEC = ("spec",)
# Parameters are rendered into a ConfigMap (at most 1 MiB) and the Initiative object: bound
# them, whatever the catalogue's parameter schema allows, so what validates also applies.
MAX_PARAMETERS_JSON = 64 * 1024


def check(document: Document, blueprint: Blueprint, catalogue: Catalogue) -> list[Problem]:
    """Every semantic problem of a schema-valid blueprint."""
    checks = (
        _catalogue_pin,
        _initiative_refs,
        _districts,
        _dependencies,
        _parameters,
        _sharing,
        _kpi_targets,
    )
    return [problem for each in checks for problem in each(document, blueprint, catalogue)]


def _initiative_path(initiative: InitiativeSpec, *rest: str | int) -> tuple[str | int, ...]:
    return (*SPEC, "initiatives", initiative.index, *rest)


def _catalogue_pin(
    document: Document, blueprint: Blueprint, catalogue: Catalogue
) -> Iterator[Problem]:
    if blueprint.catalogue_version != catalogue.version:
        yield document.problem(
            (*SPEC, "catalogueVersion"),
            f"blueprint pins catalogue {blueprint.catalogue_version}, but is checked against "
            f"catalogue {catalogue.version}; see `citykit catalogue diff "
            f"{blueprint.catalogue_version} {catalogue.version}` and `citykit upgrade`",
        )


def _initiative_refs(
    document: Document, blueprint: Blueprint, catalogue: Catalogue
) -> Iterator[Problem]:
    seen: dict[str, int] = {}
    for initiative in blueprint.initiatives:
        path = _initiative_path(initiative, "ref")
        if initiative.ref not in catalogue.entries:
            yield document.problem(
                path,
                f"unknown catalogue initiative {shown(initiative.ref)}"
                f"{_suggest(initiative.ref, catalogue.entries)}",
            )
        if initiative.ref in seen:
            yield document.problem(
                path,
                f"duplicate initiative {shown(initiative.ref)}, "
                f"first listed at initiatives[{seen[initiative.ref]}]",
            )
        seen.setdefault(initiative.ref, initiative.index)


def _districts(document: Document, blueprint: Blueprint, catalogue: Catalogue) -> Iterator[Problem]:
    known: set[str] = set()
    for index, district in enumerate(blueprint.districts):
        if district in known:
            yield document.problem(
                (*SPEC, "districts", index, "id"), f"duplicate district {shown(district)}"
            )
        known.add(district)
    for initiative in blueprint.initiatives:
        for index, district in enumerate(initiative.pilot_districts):
            if district not in known:
                yield document.problem(
                    _initiative_path(initiative, "pilotDistricts", index),
                    f"unknown district {shown(district)} "
                    f"(districts: {listing(blueprint.districts)})",
                )


def _dependencies(
    document: Document, blueprint: Blueprint, catalogue: Catalogue
) -> Iterator[Problem]:
    enabled = {initiative.ref for initiative in blueprint.enabled}
    for initiative in blueprint.enabled:
        for index, dependency in enumerate(initiative.depends_on):
            path = _initiative_path(initiative, "dependsOn", index)
            if dependency == initiative.ref:
                yield document.problem(path, "an initiative cannot depend on itself")
            elif dependency not in enabled:
                yield document.problem(
                    path,
                    f"depends on {shown(dependency)}, "
                    "which is not an enabled initiative of this blueprint",
                )
    for cycle in _cycles(
        {i.ref: [d for d in i.depends_on if d in enabled and d != i.ref] for i in blueprint.enabled}
    ):
        first = next(i for i in blueprint.enabled if i.ref == cycle[0])
        yield document.problem(
            _initiative_path(first, "dependsOn"),
            "dependency cycle: " + " -> ".join([*cycle, cycle[0]]),
        )


def _cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """One representative cycle per strongly connected component with a cycle (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in graph.get(node, []):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_cycle_through(component, graph) for component in components]


def _cycle_through(component: list[str], graph: dict[str, list[str]]) -> list[str]:
    """A concrete cycle inside one strongly connected component, starting at its first node."""
    members = set(component)
    path = [component[0]]
    while True:
        successor = min(s for s in graph[path[-1]] if s in members)
        if successor in path:
            return path[path.index(successor) :]
        path.append(successor)


def _parameters(
    document: Document, blueprint: Blueprint, catalogue: Catalogue
) -> Iterator[Problem]:
    for initiative in blueprint.initiatives:
        base = _initiative_path(initiative, "parameters")
        size = len(json.dumps(initiative.parameters))
        if size > MAX_PARAMETERS_JSON:
            yield document.problem(
                base,
                f"parameters are {size:,} bytes as JSON; at most {MAX_PARAMETERS_JSON:,} "
                "(they are rendered into the initiative's ConfigMap)",
            )
            continue
        for path, what in find_secrets(dict(initiative.parameters)):
            yield document.problem(
                (*base, *path),
                f"looks like a secret ({what}); put it in a Kubernetes Secret and reference it "
                "under secretRefs",
            )
        entry = catalogue.entries.get(initiative.ref)
        if entry is not None:
            validator = schemas.parameter_validator(dict(entry.parameter_schema))
            yield from schemas.check_value(document, base, dict(initiative.parameters), validator)


def _sharing(document: Document, blueprint: Blueprint, catalogue: Catalogue) -> Iterator[Problem]:
    enabled = {initiative.ref for initiative in blueprint.enabled}
    for agreement in blueprint.data_sharing:
        path = (*SPEC, "dataSharing", agreement.index)
        for role in ("producer", "consumer"):
            ref = getattr(agreement, role)
            if ref not in enabled:
                yield document.problem(
                    (*path, role),
                    f"{role} {shown(ref)} is not an enabled initiative of this blueprint",
                )
        if agreement.producer == agreement.consumer:
            yield document.problem(
                (*path, "consumer"), "an initiative does not need an agreement with itself"
            )
        for ref, verb, verbs in (
            (agreement.producer, "publish", "publishes"),
            (agreement.consumer, "consume", "consumes"),
        ):
            entry = catalogue.entries.get(ref)
            offered = (entry.publishes if verb == "publish" else entry.consumes) if entry else ()
            if entry and agreement.data_product not in offered:
                yield document.problem(
                    (*path, "dataProduct"),
                    f"'{ref}' does not {verb} {shown(agreement.data_product)} "
                    f"(it {verbs}: {listing(offered) or 'nothing'})",
                )
    seen: set[tuple[str, str, str]] = set()
    for agreement in blueprint.data_sharing:
        key = (agreement.producer, agreement.consumer, agreement.data_product)
        if key in seen:
            yield document.problem(
                (*SPEC, "dataSharing", agreement.index), "duplicate data-sharing agreement"
            )
        seen.add(key)


def _kpi_targets(
    document: Document, blueprint: Blueprint, catalogue: Catalogue
) -> Iterator[Problem]:
    moved = {
        kpi
        for initiative in blueprint.enabled
        if initiative.ref in catalogue.entries
        for kpi in catalogue.entries[initiative.ref].kpis
    }
    for target in blueprint.kpi_targets:
        path = (*SPEC, "kpiTargets", target.index)
        kpi = catalogue.kpis.get(target.kpi)
        if kpi is None:
            yield document.problem(
                (*path, "kpi"),
                f"unknown KPI {shown(target.kpi)}{_suggest(target.kpi, catalogue.kpis)}",
            )
            continue
        if target.baseline_year is not None and target.baseline_year >= target.year:
            yield document.problem(
                (*path, "baselineYear"),
                f"baselineYear {target.baseline_year} must be before the target's year "
                f"{target.year}",
            )
        if target.kpi not in moved:
            yield document.problem(
                (*path, "kpi"), f"no enabled initiative moves KPI '{target.kpi}'"
            )
        yield from _in_unit_range(document, path, target.baseline, target.target, kpi)
        improves = (
            target.target < target.baseline
            if kpi.better == "lower"
            else target.target > target.baseline
        )
        if not improves:
            yield document.problem(
                (*path, "target"),
                f"target {number_text(target.target)} does not improve on baseline "
                f"{number_text(target.baseline)} "
                f"({kpi.title}: {kpi.better} is better)",
            )


def _in_unit_range(
    document: Document, path: FieldPath, baseline: float, target: float, kpi: Kpi
) -> Iterator[Problem]:
    """A baseline or target its KPI's unit cannot take (a percent over 100, a negative
    count), as `kpi record` refuses such a measured value (`core.office.kpi.value_range`,
    the CRD's CEL rules: the same ranges)."""
    low, high = _unit_range(kpi.unit)
    for field, value in (("baseline", baseline), ("target", target)):
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = (
                f"{number_text(low or 0)}..{number_text(high)}"
                if high is not None
                else f"at least {number_text(low or 0)}"
            )
            yield document.problem(
                (*path, field),
                f"{field} {number_text(value)} is outside {kpi.unit} ({bounds}) for {kpi.title}",
            )


def _unit_range(unit: str) -> tuple[float | None, float | None]:
    if unit == PERCENT_UNIT:
        return 0.0, 100.0
    if unit in SIGNED_UNITS:
        return None, None
    return 0.0, None


def _suggest(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""
