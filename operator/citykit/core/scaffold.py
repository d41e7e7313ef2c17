"""`citykit new-city`: a new city's blueprint, Pulumi stack and Ansible inventory.

Everything is built in memory and checked first (the blueprint against its jurisdiction,
the stack settings against the blueprint); only then are the files written, none of them
over an existing one. So a refused scaffold leaves nothing behind.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from citykit.api.names import API_VERSION, CITY_BLUEPRINT
from citykit.core import citystack
from citykit.core.catalogue import load_catalogue
from citykit.core.errors import CitykitError, Problem
from citykit.core.profiles import available_profiles, load_profile
from citykit.core.residency import residency_text
from citykit.core.roleinputs import required_inputs
from citykit.core.services import platform_services
from citykit.core.sizing import CONTAINER_DEFAULTS, footprint
from citykit.core.source import Document, load_bytes
from citykit.core.validation import ValidatedBlueprint, validate
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
    jurisdiction profile's residency; otherwise a one-line refusal naming the countries."""
    if country:
        return country.upper()
    if jurisdiction not in available_profiles():
        raise CitykitError(
            Problem(
                "new-city",
                0,
                0,
                "--jurisdiction",
                f"unknown jurisdiction profile '{jurisdiction}' "
                f"(available: {', '.join(available_profiles())})",
            )
        )
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
    raise CitykitError(Problem("new-city", 0, 0, "--country", f"required: {reason}"))


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


def city_files(
    files: CityFiles, jurisdiction: str, example: Document | None, country: str | None = None
) -> dict[Path, str]:
    """Every file of a new city and its text, checked first: a blueprint that does not pass
    under `jurisdiction` is refused with its problems, and nothing is returned to write.
    `country` may be left out only when the example's country lies in the profile's
    residency (see `city_country`)."""
    country = city_country(jurisdiction, example, country)
    data = (
        blueprint_from(example, files.city, jurisdiction, country)
        if example
        else starter_blueprint(files.city, jurisdiction, country)
    )
    origin = f"the example {Path(example.source).stem}" if example else "the starter template"
    blueprint_text = (
        f"# {files.city}: scaffolded by `citykit new-city` from {origin}.\n" + dump_yaml([data])
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
    return contents
