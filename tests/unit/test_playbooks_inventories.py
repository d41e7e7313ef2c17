"""The example cities' Ansible inventories agree with their blueprints, with the shape
`citykit new-city` scaffolds, and give the roles every input their argument specs require."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from citykit.core.project.scaffold import CityFiles, inventory
from citykit.resources import example_cities_dir
from tests.conftest import PLAYBOOKS, read_city, role_requirements

ROOT = PLAYBOOKS.parent
CITIES = sorted(path.stem for path in example_cities_dir().glob("*.yaml"))
GIVEN_AT_RUN_TIME = {"k8s_airgap_bundle"}  # the bundle's folder: `-e k8s_airgap_bundle=...`


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def hosts(city: str) -> dict[str, dict[str, Any]]:
    """{group: {host: host vars}} of a city's inventory."""
    groups = load(PLAYBOOKS / "inventories" / city / "hosts.yml")["all"]["children"]
    return {group: body["hosts"] or {} for group, body in groups.items()}


def city_vars(city: str) -> dict[str, Any]:
    return {
        **load(PLAYBOOKS / "group_vars" / "all.yml"),
        **load(PLAYBOOKS / "inventories" / city / "group_vars" / "all.yml"),
    }


@pytest.mark.parametrize("city", CITIES)
def test_example_inventory_has_the_scaffolded_shape(city: str) -> None:
    scaffold = {
        path.relative_to(ROOT): content
        for path, content in inventory(CityFiles(ROOT, city)).items()
    }
    inventory_dir = Path("playbooks", "inventories", city)
    assert set(hosts(city)) == set(scaffold[inventory_dir / "hosts.yml"]["all"]["children"])
    written = load(ROOT / inventory_dir / "group_vars" / "all.yml")
    assert {key: written[key] for key in ("citykit_city", "citykit_blueprint")} == scaffold[
        inventory_dir / "group_vars" / "all.yml"
    ]


@pytest.mark.parametrize("city", CITIES)
def test_example_inventory_has_servers_and_gateways_of_its_blueprint_districts(city: str) -> None:
    groups = hosts(city)
    assert groups["servers"] and groups["edge_gateways"]
    districts = {district["id"] for district in read_city(city)["spec"]["districts"]}
    for gateway, variables in groups["edge_gateways"].items():
        assert set(variables["edge_gateway_districts"]) <= districts, gateway


@pytest.mark.parametrize("city", CITIES)
def test_example_inventory_gives_every_role_its_required_inputs(city: str) -> None:
    defined = set(city_vars(city)) | GIVEN_AT_RUN_TIME
    for role, required in role_requirements().items():
        assert required <= defined, f"{role}: {sorted(required - defined)}"


def test_host_roles_target_the_real_root_and_act_on_the_running_system_by_default() -> None:
    shared = load(PLAYBOOKS / "group_vars" / "all.yml")
    assert (shared["citykit_root"], shared["citykit_live"]) == ("/", True)
