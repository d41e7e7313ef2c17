"""`citykit new-city`: a blueprint, a stack and an inventory that pass at once, or nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from citykit.core.citystack import load_stack
from citykit.core.services import platform_services
from citykit.core.sizing import footprint
from citykit.core.validation import validate_file
from tests.conftest import LOCATED_LINE, PLAYBOOKS, role_requirements, run_cli


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def files_under(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): path.read_text()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_new_city_writes_a_blueprint_a_stack_and_an_inventory(project: Path) -> None:
    result = run_cli("new-city", "testville", "--jurisdiction", "gdpr", "--country", "EE")
    assert result.exit_code == 0, result.output
    assert sorted(files_under(project)) == [
        "blueprints/cities/testville.yaml",
        "infra/Pulumi.testville.yaml",
        "playbooks/inventories/testville/group_vars/all.yml",
        "playbooks/inventories/testville/hosts.yml",
    ]
    assert run_cli("validate", str(project / "blueprints/cities/testville.yaml")).exit_code == 0


def test_scaffolded_stack_names_the_blueprint_and_jurisdiction_and_loads(project: Path) -> None:
    run_cli("new-city", "testville", "--jurisdiction", "pdpo", "--country", "HK")
    config = yaml.safe_load((project / "infra/Pulumi.testville.yaml").read_text())["config"]
    assert config["citykit:blueprint"] == "../blueprints/cities/testville.yaml"
    assert config["citykit:jurisdiction"] == "pdpo"
    stack = load_stack(project / "infra/Pulumi.testville.yaml")
    assert stack.validated.blueprint.jurisdiction == "pdpo"
    assert [need.id for need in stack.services] == [
        "mqtt-broker",
        "context-broker",
        "document-db",
        "timeseries-db",
    ]


def test_scaffolded_quota_covers_the_example_city_citywide_with_headroom(project: Path) -> None:
    run_cli("new-city", "tartu", "--jurisdiction", "gdpr", "--from", "tallinn")
    stack = load_stack(project / "infra/Pulumi.tartu.yaml")
    validated = validate_file(project / "blueprints/cities/tartu.yaml")
    services = [
        need.service for need in platform_services(validated.blueprint, validated.catalogue)
    ]
    assert footprint(validated, services).shortfalls(stack.quota) == {}
    assert int(stack.quota["pods"]) > footprint(validated, services).amounts["pods"]


def test_copy_of_an_example_takes_the_new_name_and_jurisdiction(project: Path) -> None:
    run_cli("new-city", "kowloon", "--jurisdiction", "pdpo", "--from", "hong-kong")
    blueprint = validate_file(project / "blueprints/cities/kowloon.yaml").blueprint
    assert (blueprint.name, blueprint.city_name, blueprint.jurisdiction, blueprint.version) == (
        "kowloon",
        "Kowloon",
        "pdpo",
        "0.1.0",
    )


def test_inventory_stub_has_the_playbooks_groups_and_city_variables(project: Path) -> None:
    run_cli("new-city", "testville", "--jurisdiction", "gdpr", "--country", "EE")
    hosts = yaml.safe_load((project / "playbooks/inventories/testville/hosts.yml").read_text())
    assert sorted(hosts["all"]["children"]) == ["agents", "edge_gateways", "servers"]
    variables = yaml.safe_load(
        (project / "playbooks/inventories/testville/group_vars/all.yml").read_text()
    )
    assert variables == {
        "citykit_city": "testville",
        "citykit_blueprint": "blueprints/cities/testville.yaml",
    }


def test_new_city_never_overwrites(project: Path) -> None:
    run_cli("new-city", "testville", "--jurisdiction", "gdpr", "--country", "EE")
    (project / "blueprints/cities/testville.yaml").write_text("# edited by the city team\n")
    before = files_under(project)
    result = run_cli("new-city", "testville", "--jurisdiction", "pipl")
    assert result.exit_code == 1
    assert (
        "testville.yaml:1:1: (document): already exists; new-city never overwrites" in result.output
    )
    assert files_under(project) == before


def test_example_that_breaks_the_new_jurisdiction_is_refused_and_nothing_written(
    project: Path,
) -> None:
    result = run_cli(
        "new-city", "springfield", "--jurisdiction", "gdpr", "--from", "bay-city", "--country", "IE"
    )
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert all(re.match(LOCATED_LINE, line) for line in lines), result.output
    assert (
        "not written: the blueprint from the example bay-city does not pass under 'gdpr'"
        in result.output
    )
    assert "exceeds the 365-day limit for personal data under the gdpr profile" in result.output
    assert files_under(project) == {}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--jurisdiction", "atlantis"), "unknown jurisdiction profile 'atlantis'"),
        (("--jurisdiction", "gdpr", "--from", "gotham"), "no example city 'gotham'"),
    ],
)
def test_unknown_jurisdiction_or_example_is_one_clear_line(
    project: Path, args: tuple[str, ...], message: str
) -> None:
    result = run_cli("new-city", "testville", *args)
    assert result.exit_code == 1
    assert message in result.output
    assert files_under(project) == {}


def test_a_name_that_is_no_dns_label_is_refused(project: Path) -> None:
    result = run_cli("new-city", "Test_Ville", "--jurisdiction", "gdpr", "--country", "EE")
    assert result.exit_code == 1
    assert "metadata.name: 'Test_Ville' does not match" in result.output
    assert files_under(project) == {}


def test_scaffolded_inventory_lists_every_role_input_still_to_give(project: Path) -> None:
    run_cli("new-city", "testville", "--jurisdiction", "gdpr", "--country", "EE")
    text = (project / "playbooks/inventories/testville/group_vars/all.yml").read_text()
    placeholders = re.findall(r"^# (\w+):", text, flags=re.MULTILINE)
    given = set(yaml.safe_load(text)) | set(
        yaml.safe_load((PLAYBOOKS / "group_vars/all.yml").read_text())
    )
    assert placeholders and not set(placeholders) & given
    for role, required in role_requirements().items():
        assert required <= given | set(placeholders), (
            f"{role}: {sorted(required - given - set(placeholders))}"
        )


def test_from_an_example_outside_the_residency_without_country_is_one_clear_line(
    project: Path,
) -> None:
    result = run_cli("new-city", "testville", "--jurisdiction", "gdpr", "--from", "hangzhou")
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "new-city:0:0: --country: required: the example hangzhou is in CN, outside the gdpr "
        "profile's residency (EU: AT, BE, BG, HR, CY, CZ, DK, EE, FI, FR, DE, GR, HU, IE, IT, "
        "LV, LT, LU, MT, NL, PL, PT, RO, SK, SI, ES, SE, IS, LI, NO); give the city's "
        "ISO 3166-1 alpha-2 code inside it"
    ]
    assert files_under(project) == {}


def test_from_hangzhou_under_gdpr_with_a_country_leaves_only_the_policy_problems(
    project: Path,
) -> None:
    """The country no longer stands in the way; what Hangzhou's programme breaks under GDPR
    (retention, face recognition, approvals) is listed, and nothing is written."""
    result = run_cli(
        "new-city", "testville", "--jurisdiction", "gdpr", "--from", "hangzhou", "--country", "EE"
    )
    assert result.exit_code == 1
    assert all(re.match(LOCATED_LINE, line) for line in result.output.strip().splitlines())
    assert "spec.city.country" not in result.output
    assert "uses face-recognition, which is forbidden under the gdpr profile" in result.output
    assert files_under(project) == {}


def test_from_an_example_inside_the_residency_keeps_its_country(project: Path) -> None:
    assert (
        run_cli("new-city", "ningbo", "--jurisdiction", "pipl", "--from", "hangzhou").exit_code == 0
    )
    assert validate_file(project / "blueprints/cities/ningbo.yaml").blueprint.country == "CN"


def test_country_moves_an_example_within_the_residency(project: Path) -> None:
    result = run_cli(
        "new-city", "espoo", "--jurisdiction", "gdpr", "--from", "tallinn", "--country", "fi"
    )
    assert result.exit_code == 0, result.output
    blueprint = validate_file(project / "blueprints/cities/espoo.yaml").blueprint
    assert (blueprint.country, blueprint.hosting_country) == ("FI", "FI")


def test_the_starter_needs_a_country_and_has_no_placeholder(project: Path) -> None:
    result = run_cli("new-city", "testville", "--jurisdiction", "pdpo")
    assert result.exit_code == 1
    assert (
        "--country: required: the starter template has no country; give the city's "
        "ISO 3166-1 alpha-2 code inside the pdpo profile's residency (HK: HK)" in result.output
    )
    assert files_under(project) == {}
    assert (
        run_cli("new-city", "testville", "--jurisdiction", "pdpo", "--country", "HK").exit_code == 0
    )
    text = (project / "blueprints/cities/testville.yaml").read_text()
    assert "country: HK" in text and "ZZ" not in text


def test_a_country_outside_the_residency_is_refused_at_the_field(project: Path) -> None:
    result = run_cli("new-city", "testville", "--jurisdiction", "pipl", "--country", "US")
    assert result.exit_code == 1
    assert all(re.match(LOCATED_LINE, line) for line in result.output.strip().splitlines())
    assert (
        "spec.city.country: city country US is outside the pipl profile's residency (CN: CN)"
        in result.output
    )
    assert files_under(project) == {}
