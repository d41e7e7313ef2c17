"""`citykit new-city`: a new city's blueprint, Pulumi stack and Ansible inventory.

Everything is built in memory and checked first (the blueprint against its jurisdiction,
the stack settings against the blueprint); only then are the files written, none of them
over an existing one. So a refused scaffold leaves nothing behind.

A copy of an example under another jurisdiction (`export_blueprint`) leaves out what the new
profile refuses, as `validate` reports it, and says what it left out and why.
"""

from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from citykit.api.names import API_VERSION, CITY_BLUEPRINT
from citykit.core.load.errors import CitykitError, Problem
from citykit.core.load.source import Document, from_data, load_bytes
from citykit.core.model.blueprint import parse
from citykit.core.model.catalogue import Catalogue, load_catalogue
from citykit.core.model.policy import privacy_settings
from citykit.core.model.profiles import available_profiles, load_profile
from citykit.core.model.residency import residency_text
from citykit.core.model.validation import ValidatedBlueprint, validate
from citykit.core.project import citystack
from citykit.core.project.roleinputs import required_inputs
from citykit.core.render.services import platform_services
from citykit.core.render.sizing import CONTAINER_DEFAULTS, footprint
from citykit.resources import playbooks_dir
from citykit.serialize import dump_yaml

STARTER_INITIATIVE = (
    "environment.air-quality-sensing"  # collects no personal data: any profile allows it
)


@dataclass(frozen=True)
class CityFiles:
    """Where a city's files go under a project root."""

    root: Path
    city: str

    @property
    def blueprint(self) -> Path:
        return self.root / "blueprints" / "cities" / f"{self.city}.yaml"

    @property
    def infra(self) -> Path:
        return self.root / "infra"

    @property
    def stack(self) -> Path:
        return citystack.stack_file(self.infra, self.city)

    @property
    def inventory(self) -> Path:
        return self.root / "playbooks" / "inventories" / self.city

    @property
    def group_vars(self) -> Path:
        return self.inventory / "group_vars" / "all.yml"

    def relative_blueprint(self, start: Path) -> str:
        return os.path.relpath(self.blueprint, start)


def city_country(jurisdiction: str, example: Document | None, country: str | None) -> str:
    """The new city's country: `--country`, else the example's when it lies inside the
    jurisdiction profile's residency; otherwise a one-line refusal naming the countries.

    An unknown --jurisdiction is refused first, with or without --country: else it is found
    only by validating the new blueprint, at a line of a file that was never written."""
    if jurisdiction not in available_profiles():
        raise CitykitError(
            Problem.argument(
                "--jurisdiction",
                f"unknown jurisdiction profile '{jurisdiction}' "
                f"(available: {', '.join(available_profiles())})",
            )
        )
    if country:
        return country.upper()
    profile = load_profile(jurisdiction)
    theirs = example.data.get("spec", {}).get("city", {}).get("country") if example else None
    if example is not None and theirs in profile.countries:
        return str(theirs)
    reason = (
        f"the example {Path(example.source).stem} is in {theirs}, outside "
        f"{residency_text(profile)}; give the city's ISO 3166-1 alpha-2 code inside it"
        if example is not None
        else "the starter template has no country; give the city's ISO 3166-1 alpha-2 code "
        f"inside {residency_text(profile)}"
    )
    raise CitykitError(Problem.argument("--country", f"required: {reason}"))


def starter_blueprint(city: str, jurisdiction: str, country: str) -> dict[str, Any]:
    """A blueprint to edit: placeholder city facts, one district, one initiative."""
    return {
        "apiVersion": API_VERSION,
        "kind": CITY_BLUEPRINT,
        "metadata": {"name": city},
        "spec": {
            "city": {
                "name": city.replace("-", " ").title(),
                "country": country,
                "timezone": "UTC",
                "population": 100000,
            },
            "version": "0.1.0",
            "catalogueVersion": load_catalogue().version,
            "jurisdiction": jurisdiction,
            "districts": [{"id": "centre", "name": "City centre"}],
            "initiatives": [
                {
                    "ref": STARTER_INITIATIVE,
                    "pilotDistricts": ["centre"],
                    "gate": {"healthyFor": "1h", "approval": "manual"},
                }
            ],
        },
    }


def blueprint_from(example: Document, city: str, jurisdiction: str, country: str) -> dict[str, Any]:
    """An example city's blueprint renamed for `city` in `country`, under `jurisdiction`, at
    0.1.0. In another country the example's hosting is dropped: the platform is then taken
    to be hosted in the city's own country."""
    data = copy.deepcopy(example.data)
    data["metadata"] = {"name": city}
    spec = data["spec"]
    spec["city"]["name"] = city.replace("-", " ").title()
    if spec["city"].get("country") != country:
        spec["city"]["country"] = country
        spec.pop("hosting", None)
    spec["jurisdiction"] = jurisdiction
    spec["version"] = "0.1.0"
    return dict(data)


@dataclass(frozen=True)
class LeftOut:
    """One thing an export left out of the example (`kind` initiative, data sharing or KPI
    target), or, for a retention lowered to the new profile's limit, `before` and `after`;
    `reason` is the validate problem that caused it."""

    kind: str
    name: str
    reason: str
    before: int | None = None
    after: int | None = None

    def __str__(self) -> str:
        if self.after is not None:
            return (
                f"lowered retentionDays of {self.name} from {self.before} to {self.after}: "
                f"{self.reason}"
            )
        return f"left out {self.kind} {self.name}: {self.reason}"


@dataclass(frozen=True)
class Exported:
    """An example's blueprint for a new city, and what had to go for it to validate."""

    data: dict[str, Any]
    left_out: tuple[LeftOut, ...] = ()


_ITEM = re.compile(r"spec\.(initiatives|dataSharing|kpiTargets)\[(\d+)\](?:\.(\w+))?")


def export_blueprint(example: Document, city: str, jurisdiction: str, country: str) -> Exported:
    """`blueprint_from`, then, under a jurisdiction other than the example's, leave out every
    initiative `validate` refuses, then whatever that breaks (initiatives depending on it, its
    data-sharing agreements, KPI targets nothing else moves), round after round until the copy
    validates. Left-out entries are removed, not disabled: a disabled initiative still drags
    its agreements, KPI targets and dependents into refusal, and a blueprint holds only what
    the city runs; `left_out` lists each one with its reason, to re-add with what it needs.

    One adjustment is made instead of leaving out: an initiative refused only for its
    `retentionDays` gets the retention `privacy_settings` gives it (the new profile's limit,
    or the city's ceiling), which is what its ConfigMap would tell the workload anyway.

    Nothing is left out under the example's own jurisdiction (a copy that fails there is a
    bug, for `validate` to report), nor when a problem is one leaving out cannot fix (a
    country outside the residency): the copy comes back untouched and the caller's `validate`
    refuses it with every problem. When no enabled initiative would remain: a refusal located
    in the example."""
    data = blueprint_from(example, city, jurisdiction, country)
    if example.data["spec"].get("jurisdiction") == jurisdiction:
        return Exported(data)
    catalogue = load_catalogue(data["spec"]["catalogueVersion"])
    work = copy.deepcopy(data)
    left_out: list[LeftOut] = []
    lowered: set[str] = set()
    while problems := _problems(work, catalogue):
        found = _by_item(problems)
        if found is None:
            return Exported(data)
        left_out += _one_round(work, found, catalogue, lowered)
        if not any(item.get("enabled", True) for item in work["spec"]["initiatives"]):
            raise _nothing_remains(example, jurisdiction, left_out)
    order = ("initiative", "data sharing", "KPI target", "retention")
    return Exported(work, tuple(sorted(left_out, key=lambda item: order.index(item.kind))))


def _one_round(
    data: dict[str, Any],
    found: dict[str, dict[int, list[tuple[str, str]]]],
    catalogue: Catalogue,
    lowered: set[str],
) -> list[LeftOut]:
    """Lower the retention of, or remove, each initiative `found` names, and remove each
    data-sharing agreement and KPI target it names; what was done, in that order."""
    spec = data["spec"]
    done: list[LeftOut] = []
    drop: dict[str, set[int]] = {"initiatives": set(), "dataSharing": set(), "kpiTargets": set()}
    for index, reasons in found.get("initiatives", {}).items():
        initiative = spec["initiatives"][index]
        ref, before = initiative["ref"], initiative.get("retentionDays")
        if ref not in lowered and all(field == "retentionDays" for field, _ in reasons):
            after = _retention_limit(data, index, catalogue)
            if after is not None and before is not None and after < before:
                done.append(LeftOut("retention", ref, _why(reasons), before, after))
                initiative["retentionDays"] = after
                lowered.add(ref)
                continue
        done.append(LeftOut("initiative", ref, _why(reasons)))
        drop["initiatives"].add(index)
    for index, reasons in found.get("dataSharing", {}).items():
        agreement = spec["dataSharing"][index]
        name = f"{agreement['producer']} -> {agreement['consumer']} ({agreement['dataProduct']})"
        done.append(LeftOut("data sharing", name, _why(reasons)))
        drop["dataSharing"].add(index)
    for index, reasons in found.get("kpiTargets", {}).items():
        done.append(LeftOut("KPI target", str(spec["kpiTargets"][index]["kpi"]), _why(reasons)))
        drop["kpiTargets"].add(index)
    for section, indices in drop.items():
        if section in spec:
            spec[section] = [item for i, item in enumerate(spec[section]) if i not in indices]
            if not spec[section] and section != "initiatives":
                del spec[section]
    return done


def _problems(data: dict[str, Any], catalogue: Catalogue) -> list[Problem]:
    try:
        validate(from_data("(export)", data), catalogue)
    except CitykitError as error:
        return error.problems
    return []


def _by_item(problems: list[Problem]) -> dict[str, dict[int, list[tuple[str, str]]]] | None:
    """{section: {index: [(field, message)]}} for problems of initiatives, data-sharing
    agreements and KPI targets; None when any other problem is among them."""
    found: dict[str, dict[int, list[tuple[str, str]]]] = {}
    for problem in problems:
        match = _ITEM.match(problem.path)
        if match is None:
            return None
        section, index, field = match.groups()
        found.setdefault(section, {}).setdefault(int(index), []).append(
            (field or "", problem.message)
        )
    return {section: dict(sorted(items.items())) for section, items in found.items()}


def _why(reasons: list[tuple[str, str]]) -> str:
    messages = dict.fromkeys(" ".join(message.split()) for _, message in reasons)
    return "; ".join(messages)


def _retention_limit(data: dict[str, Any], index: int, catalogue: Catalogue) -> int | None:
    blueprint = parse(data)
    initiative = blueprint.initiatives[index]
    entry = catalogue.entries[initiative.ref]
    profile = load_profile(blueprint.jurisdiction)
    return privacy_settings(blueprint, initiative, entry, profile).retention_days


def _nothing_remains(example: Document, jurisdiction: str, left_out: list[LeftOut]) -> CitykitError:
    where = {item["ref"]: index for index, item in enumerate(example.data["spec"]["initiatives"])}
    problems = [
        example.problem(
            ("spec", "initiatives", where[item.name], "ref"), f"left out: {item.reason}"
        )
        for item in left_out
        if item.kind == "initiative" and item.name in where
    ]
    problems.append(
        example.problem(
            ("spec", "initiatives"),
            f"nothing would remain under '{jurisdiction}': the profile refuses every enabled "
            f"initiative of the example {Path(example.source).stem}, or what it depends on; "
            "start from another example or the starter template",
        )
    )
    return CitykitError(problems)


def stack_settings(validated: ValidatedBlueprint, files: CityFiles) -> dict[str, Any]:
    """Stack config sized for the blueprint citywide, with headroom for rolling updates."""
    services = platform_services(validated.blueprint, validated.catalogue)
    return {
        "config": {
            citystack.key("blueprint"): files.relative_blueprint(files.infra),
            citystack.key("jurisdiction"): validated.blueprint.jurisdiction,
            citystack.key("sizing"): {
                "quota": footprint(validated, [need.service for need in services]).quota(),
                "containerDefaults": copy.deepcopy(dict(CONTAINER_DEFAULTS)),
            },
        }
    }


def inventory(files: CityFiles) -> dict[Path, dict[str, Any]]:
    """The playbooks' inventory stub: empty host groups and the city's variables."""
    groups: dict[str, dict[str, Any]] = {
        group: {"hosts": {}} for group in ("servers", "agents", "edge_gateways")
    }
    return {
        files.inventory / "hosts.yml": {"all": {"children": groups}},
        files.group_vars: {
            "citykit_city": files.city,
            "citykit_blueprint": files.relative_blueprint(files.root),
        },
    }


def inventory_checklist(provided: set[str]) -> str:
    """Commented placeholders for the role inputs a city must still give, so the first
    `ansible-playbook` run is not where a new city learns of them."""
    missing = [item for item in required_inputs(playbooks_dir()) if item.name not in provided]
    if not missing:
        return ""
    header = "\n# Still to fill in (or pass with -e): the roles refuse to run without these.\n"
    return header + "".join(item.placeholder() + "\n" for item in missing)


@dataclass(frozen=True)
class Scaffold:
    """A new city's files and their text, and what its copy of an example left out."""

    contents: dict[Path, str]
    left_out: tuple[LeftOut, ...] = ()


def city_files(
    files: CityFiles, jurisdiction: str, example: Document | None, country: str | None = None
) -> Scaffold:
    """Every file of a new city and its text, checked first: a blueprint that does not pass
    under `jurisdiction` is refused with its problems, and nothing is returned to write.
    `country` may be left out only when the example's country lies in the profile's
    residency (see `city_country`). A copy of an example under another jurisdiction leaves
    out what that profile refuses (see `export_blueprint`), listed atop the blueprint."""
    country = city_country(jurisdiction, example, country)
    exported = (
        export_blueprint(example, files.city, jurisdiction, country)
        if example
        else Exported(starter_blueprint(files.city, jurisdiction, country))
    )
    origin = f"the example {Path(example.source).stem}" if example else "the starter template"
    blueprint_text = (
        f"# {files.city}: scaffolded by `citykit new-city` from {origin}.\n"
        + left_out_comment(exported, jurisdiction)
        + dump_yaml([exported.data])
    )
    try:
        validated = validate(load_bytes(str(files.blueprint), blueprint_text.encode()))
    except CitykitError as error:
        note = Problem(
            str(files.blueprint),
            1,
            1,
            "(document)",
            f"not written: the blueprint from {origin} does not pass under '{jurisdiction}'",
        )
        raise CitykitError([*error.problems, note]) from None
    contents = {
        files.blueprint: blueprint_text,
        files.stack: dump_yaml([stack_settings(validated, files)]),
    }
    stub = inventory(files)
    contents |= {path: "---\n" + dump_yaml([value]) for path, value in stub.items()}
    contents[files.group_vars] += inventory_checklist(set(stub[files.group_vars]))
    return Scaffold(contents, exported.left_out)


def left_out_comment(exported: Exported, jurisdiction: str) -> str:
    """The comment block atop an exported blueprint: one line per thing left out or lowered."""
    if not exported.left_out:
        return ""
    header = (
        f"#\n# Left out or changed so that it passes under '{jurisdiction}'; re-add from the\n"
        "# example what the city wants, with what each reason asks for (approvals, retention):\n"
    )
    return header + "".join(f"#   {item}\n" for item in exported.left_out) + "#\n"
