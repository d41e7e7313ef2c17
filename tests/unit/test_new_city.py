"""`citykit new-city`: a blueprint, a stack and an inventory that pass at once, or nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from citykit.core.load.errors import CitykitError
from citykit.core.load.source import from_data, load_bytes, load_file
from citykit.core.model.catalogue import load_catalogue
from citykit.core.model.validation import validate, validate_file
from citykit.core.project.citystack import load_stack
from citykit.core.project.scaffold import export_blueprint
from citykit.core.render.services import platform_services
from citykit.core.render.sizing import footprint
from citykit.resources import example_cities_dir
from tests.conftest import LOCATED_LINE, PLAYBOOKS, role_requirements, run_cli
from tests.problems import PROBLEM_LINE


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


def test_bay_city_under_gdpr_leaves_out_the_cameras_and_lowers_retention(project: Path) -> None:
    result = run_cli(
        "new-city", "springfield", "--jurisdiction", "gdpr", "--from", "bay-city", "--country", "IE"
    )
    assert result.exit_code == 0, result.output
    blueprint = validate_file(project / "blueprints/cities/springfield.yaml").blueprint
    refs = {initiative.ref for initiative in blueprint.initiatives}
    assert not refs & {"living.cctv-video-analytics", "mobility.parking-enforcement-lpr"}
    assert "government.digital-identity" in refs
    assert (
        "left out initiative living.cctv-video-analytics: 'living.cctv-video-analytics' collects "
        "video data, which needs approval by data-protection-officer under the gdpr profile"
        in result.output
    )
    assert (
        "lowered retentionDays of government.digital-identity from 730 to 365: 730 days exceeds "
        "the 365-day limit for personal data under the gdpr profile" in result.output
    )
    assert not any("cctv" in str(agreement) for agreement in blueprint.data_sharing)


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
    assert "NAME: 'Test_Ville' is not a city id" in result.output
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
        "--country: required: the example hangzhou is in CN, outside the gdpr "
        "profile's residency (EU: AT, BE, BG, HR, CY, CZ, DK, EE, FI, FR, DE, GR, HU, IE, IT, "
        "LV, LT, LU, MT, NL, PL, PT, RO, SK, SI, ES, SE, IS, LI, NO); give the city's "
        "ISO 3166-1 alpha-2 code inside it"
    ]
    assert files_under(project) == {}


def example_city(name: str) -> Path:
    return example_cities_dir() / f"{name}.yaml"


def left_out_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(("left out ", "lowered "))]


def header_lines(text: str) -> list[str]:
    """The `#   ...` lines of the comment block atop a written blueprint."""
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        if line.startswith("#   "):
            lines.append(line.removeprefix("#   "))
    return lines


def test_from_hangzhou_under_gdpr_leaves_out_what_gdpr_refuses_and_says_so(
    project: Path,
) -> None:
    """Face recognition, and the cameras without a DPO's approval, are left out with the
    validate problem that refused them; what depended on them goes too; the rest validates."""
    result = run_cli(
        "new-city", "testville", "--jurisdiction", "gdpr", "--from", "hangzhou", "--country", "EE"
    )
    assert result.exit_code == 0, result.output
    written = project / "blueprints/cities/testville.yaml"
    blueprint = validate_file(written).blueprint
    assert (blueprint.country, blueprint.jurisdiction) == ("EE", "gdpr")
    refs = {initiative.ref for initiative in blueprint.initiatives}
    assert "living.face-recognition-access" not in refs
    assert {"government.digital-identity", "economy.city-e-payments"} <= refs
    lines = left_out_lines(result.output)
    assert (
        "left out initiative living.face-recognition-access: 'living.face-recognition-access' "
        "collects biometric data, which is not allowed under the gdpr profile"
    ) in "\n".join(lines)
    assert any(
        line.startswith("left out initiative living.face-recognition-access:")
        and "uses face-recognition, which is forbidden under the gdpr profile" in line
        for line in lines
    )
    assert (
        "left out data sharing living.face-recognition-access -> "
        "government.integrated-operations-centre (access-events): producer "
        "'living.face-recognition-access' is not an enabled initiative of this blueprint" in lines
    )
    assert (
        "left out KPI target facility-access-time: no enabled initiative moves KPI "
        "'facility-access-time'" in lines
    )
    assert header_lines(written.read_text()) == lines
    assert "# Left out or changed so that it passes under 'gdpr'" in written.read_text()
    left = {line.split(":")[0].split()[-1] for line in lines if line.startswith("left out init")}
    assert left == {
        "living.face-recognition-access",
        "living.cctv-video-analytics",
        "mobility.parking-enforcement-lpr",
    }


def test_export_names_what_it_left_out_of_the_example_blueprint() -> None:
    """The pure function: the blueprint data and, per item, the validate problem behind it."""
    example = load_file(example_city("hangzhou"))
    exported = export_blueprint(example, "testville", "gdpr", "EE")
    left_out = {item.name: item for item in exported.left_out if item.kind == "initiative"}
    assert "forbidden under the gdpr profile" in left_out["living.face-recognition-access"].reason
    kept = {item["ref"] for item in exported.data["spec"]["initiatives"]}
    assert not kept & set(left_out)
    for agreement in exported.data["spec"]["dataSharing"]:
        assert {agreement["producer"], agreement["consumer"]} <= kept
    for initiative in exported.data["spec"]["initiatives"]:
        assert set(initiative.get("dependsOn", ())) <= kept
    validate(from_data("exported", exported.data))
    assert example.data["spec"]["jurisdiction"] == "pipl"  # the example is not touched


def test_an_initiative_refused_only_for_its_retention_is_kept_at_the_profile_limit() -> None:
    exported = export_blueprint(load_file(example_city("hangzhou")), "testville", "gdpr", "EE")
    initiatives = {item["ref"]: item for item in exported.data["spec"]["initiatives"]}
    assert initiatives["government.data-exchange"]["retentionDays"] == 365
    assert initiatives["mobility.bike-share"]["retentionDays"] == 90
    lowered = {item.name: item for item in exported.left_out if item.kind == "retention"}
    assert (
        lowered["government.data-exchange"].before,
        lowered["government.data-exchange"].after,
    ) == (
        1095,
        365,
    )
    assert "government.data-exchange" in initiatives


@pytest.mark.parametrize(
    ("example", "jurisdiction", "country"),
    [("tallinn", "gdpr", "FI"), ("hangzhou", "pipl", "CN"), ("hong-kong", "pdpo", "HK")],
)
def test_under_the_examples_own_jurisdiction_nothing_is_left_out(
    project: Path, example: str, jurisdiction: str, country: str
) -> None:
    result = run_cli(
        "new-city", "copy", "--jurisdiction", jurisdiction, "--from", example, "--country", country
    )
    assert result.exit_code == 0, result.output
    assert left_out_lines(result.output) == []
    text = (project / "blueprints/cities/copy.yaml").read_text()
    assert header_lines(text) == [] and "Left out" not in text
    source = yaml.safe_load(example_city(example).read_text())["spec"]
    written = yaml.safe_load(text)["spec"]
    assert [i["ref"] for i in written["initiatives"]] == [i["ref"] for i in source["initiatives"]]
    assert written.get("dataSharing") == source.get("dataSharing")


def test_hong_kong_under_pipl_in_china_writes_a_city_that_validates(project: Path) -> None:
    result = run_cli(
        "new-city", "shenzhen", "--jurisdiction", "pipl", "--from", "hong-kong", "--country", "CN"
    )
    assert result.exit_code == 0, result.output
    blueprint = validate_file(project / "blueprints/cities/shenzhen.yaml").blueprint
    assert (blueprint.country, blueprint.jurisdiction) == ("CN", "pipl")
    assert header_lines((project / "blueprints/cities/shenzhen.yaml").read_text()) == (
        left_out_lines(result.output)
    )


def test_a_problem_leaving_out_cannot_fix_refuses_the_whole_copy(project: Path) -> None:
    """A country outside the residency is no initiative's fault: nothing is left out, the
    copy is refused with every problem, and nothing is written."""
    result = run_cli(
        "new-city", "testville", "--jurisdiction", "pipl", "--from", "tallinn", "--country", "US"
    )
    assert result.exit_code == 1
    assert "--country: city country US is outside" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert left_out_lines(result.output) == []
    assert files_under(project) == {}


ONLY_FACE_RECOGNITION = """\
apiVersion: citykit.io/v1alpha1
kind: CityBlueprint
metadata: {name: gated}
spec:
  city: {name: Gated, country: CN, timezone: Asia/Shanghai, population: 1000}
  version: 1.0.0
  catalogueVersion: CATALOGUE
  jurisdiction: pipl
  districts: [{id: centre, name: Centre}]
  initiatives:
    - ref: living.face-recognition-access
      retentionDays: 365
      approvals:
        - {approver: cyberspace-administration, reference: filing 1}
"""


def test_an_export_that_would_leave_nothing_is_refused_in_the_example() -> None:
    text = ONLY_FACE_RECOGNITION.replace("CATALOGUE", load_catalogue().version)
    example = load_bytes("gated.yaml", text.encode())
    validate(example)  # a valid example under its own profile
    with pytest.raises(CitykitError) as refused:
        export_blueprint(example, "testville", "gdpr", "EE")
    messages = [str(problem) for problem in refused.value.problems]
    assert all(re.match(LOCATED_LINE, message) for message in messages), messages
    assert any(
        message.startswith("gated.yaml:10:3: spec.initiatives: nothing would remain under 'gdpr'")
        for message in messages
    ), messages
    assert any(
        message.startswith("gated.yaml:11:") and "forbidden under the gdpr profile" in message
        for message in messages
    ), messages


def test_without_a_country_hangzhou_under_gdpr_is_refused_before_anything_is_left_out(
    project: Path,
) -> None:
    result = run_cli("new-city", "testville", "--jurisdiction", "gdpr", "--from", "hangzhou")
    assert result.exit_code == 1
    assert "--country: required: the example hangzhou is in CN" in result.output
    assert left_out_lines(result.output) == []
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


def test_a_country_outside_the_residency_is_refused_as_the_argument(project: Path) -> None:
    result = run_cli("new-city", "testville", "--jurisdiction", "pipl", "--country", "US")
    assert result.exit_code == 1
    assert all(re.match(PROBLEM_LINE, line) for line in result.output.strip().splitlines())
    assert (
        "--country: city country US is outside the pipl profile's residency (CN: CN)"
        in result.output
    )
    assert files_under(project) == {}
