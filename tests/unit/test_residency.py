"""Data residency over the four profiles: where a city and its platform may be, which external
transfers each `crossBorderTransfer` rule lets through, and the city's own retention ceiling."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from citykit.api.jsonschemas import load_schema
from citykit.core.load.source import from_data
from citykit.core.model import residency
from citykit.core.model.blueprint import parse
from citykit.core.model.catalogue import load_catalogue
from citykit.core.model.profiles import load_profile
from citykit.core.model.validation import validate
from tests.conftest import LOCATED_LINE, run_cli

# profile -> (a country inside its residency, one outside it)
PLACES = {
    "gdpr": ("EE", "US"),
    "pipl": ("CN", "US"),
    "pdpo": ("HK", "CN"),
    "us-surveillance-ordinance": ("US", "CA"),
}
# profile -> a safeguard it accepts for a transfer out of its residency (None: none needed)
ACCEPTED = {
    "gdpr": "standard-contractual-clauses",
    "pipl": "security-assessment",
    "pdpo": "standard-contractual-clauses",
    "us-surveillance-ordinance": None,
}


def blueprint(
    jurisdiction: str, country: str, *, external: dict[str, Any] | None = None, **spec: Any
) -> dict[str, Any]:
    """A blueprint that passes under `jurisdiction` in `country`: two personal-data initiatives
    sharing resident identity assertions, and an air-quality one with no personal data."""
    agreement: dict[str, Any] = {
        "producer": "government.digital-identity",
        "consumer": "government.citizen-service-portal",
        "dataProduct": "resident-identity-assertions",
        "purpose": "One resident login for city services",
    }
    if external is not None:
        agreement["external"] = external
    return {
        "apiVersion": "citykit.io/v1alpha1",
        "kind": "CityBlueprint",
        "metadata": {"name": "testville"},
        "spec": {
            "city": {"name": "Testville", "country": country, "timezone": "UTC", "population": 1},
            "version": "1.0.0",
            "catalogueVersion": "1.0.0",
            "jurisdiction": jurisdiction,
            "districts": [{"id": "north", "name": "North"}],
            "initiatives": [
                {"ref": "government.digital-identity"},
                {"ref": "government.citizen-service-portal"},
                {"ref": "environment.air-quality-sensing", "retentionDays": 30},
            ],
            "dataSharing": [agreement],
            **spec,
        },
    }


def problems(data: dict[str, Any], transfer: str | None = None) -> list[tuple[str, str]]:
    """(field, message) of every residency problem; `transfer` overrides the profile's rule."""
    profile = load_profile(data["spec"]["jurisdiction"])
    if transfer is not None:
        profile = dataclasses.replace(profile, cross_border_transfer=transfer)
    document = from_data("blueprint.yaml", data)
    found = residency.check(document, parse(data), load_catalogue(), profile)
    return [(problem.path, problem.message) for problem in found]


@pytest.fixture
def check(write_yaml: Callable[[str, Any], Path]) -> Callable[[dict[str, Any]], tuple[int, str]]:
    def run(data: dict[str, Any]) -> tuple[int, str]:
        result = run_cli("validate", str(write_yaml("blueprint.yaml", data)))
        if result.exit_code:
            lines = result.output.strip().splitlines()
            assert all(re.match(LOCATED_LINE, line) for line in lines), result.output
        return result.exit_code, result.output

    return run


@pytest.mark.parametrize("jurisdiction", sorted(PLACES))
def test_every_profile_lists_its_residency_countries(jurisdiction: str) -> None:
    profile = load_profile(jurisdiction)
    inside, outside = PLACES[jurisdiction]
    assert inside in profile.countries
    assert outside not in profile.countries


def test_gdpr_residency_is_the_eu_and_eea() -> None:
    countries = load_profile("gdpr").countries
    assert len(countries) == 30
    assert {"DE", "FR", "EE", "IS", "LI", "NO"} <= set(countries)
    assert not {"GB", "CH", "US"} & set(countries)


@pytest.mark.parametrize("jurisdiction", sorted(PLACES))
def test_the_base_blueprint_passes_every_check(jurisdiction: str) -> None:
    validate(from_data("blueprint.yaml", blueprint(jurisdiction, PLACES[jurisdiction][0])))


@pytest.mark.parametrize("jurisdiction", sorted(PLACES))
@pytest.mark.parametrize("inside", [True, False])
def test_city_country_inside_and_outside_the_residency(jurisdiction: str, inside: bool) -> None:
    country = PLACES[jurisdiction][0 if inside else 1]
    found = problems(blueprint(jurisdiction, country))
    if inside:
        assert found == []
    else:
        assert found == [
            (
                "spec.city.country",
                f"city country {country} is outside "
                f"{residency.residency_text(load_profile(jurisdiction))}; "
                f"a city under {jurisdiction} must be in one of its countries",
            )
        ]


@pytest.mark.parametrize("jurisdiction", sorted(PLACES))
@pytest.mark.parametrize("inside", [True, False])
def test_hosting_country_inside_and_outside_the_residency(jurisdiction: str, inside: bool) -> None:
    city, outside = PLACES[jurisdiction]
    hosting = "FI" if inside and jurisdiction == "gdpr" else city if inside else outside
    found = problems(blueprint(jurisdiction, city, hosting={"country": hosting}))
    if inside:
        assert found == []
    else:
        assert [path for path, _ in found] == ["spec.hosting.country"]
        assert f"hosting country {outside} is outside" in found[0][1]


def test_hosting_defaults_to_the_city_country() -> None:
    assert parse(blueprint("gdpr", "EE")).hosting_country == "EE"
    hosted = parse(blueprint("gdpr", "EE", hosting={"country": "FI", "provider": "a cloud"}))
    assert hosted.hosting_country == "FI"


# (profile, crossBorderTransfer override) covering every value of the enum
TRANSFER_RULES = [
    ("us-surveillance-ordinance", None),  # allowed
    ("gdpr", None),  # with-safeguards
    ("pdpo", None),  # with-safeguards
    ("pipl", None),  # security-assessment
    ("gdpr", "forbidden"),
    ("pipl", "forbidden"),
    ("pdpo", "allowed"),
]


@pytest.mark.parametrize(("jurisdiction", "override"), TRANSFER_RULES)
@pytest.mark.parametrize("with_safeguard", [True, False])
def test_external_consumer_outside_the_residency(
    jurisdiction: str, override: str | None, with_safeguard: bool
) -> None:
    city, abroad = PLACES[jurisdiction]
    rule = override or load_profile(jurisdiction).cross_border_transfer
    external: dict[str, Any] = {"recipient": "National identity hub", "country": abroad}
    safeguard = ACCEPTED[jurisdiction] or "standard-contractual-clauses"
    if with_safeguard:
        external["safeguard"] = safeguard
    found = problems(blueprint(jurisdiction, city, external=external), override)
    base = "spec.dataSharing[0].external"
    if rule == "allowed" or (rule != "forbidden" and with_safeguard):
        assert found == []
    elif rule == "forbidden":
        assert [path for path, _ in found] == [f"{base}.country"]
        assert f"the {jurisdiction} profile forbids cross-border transfer" in found[0][1]
    else:
        assert [path for path, _ in found] == [base]
        assert f"needs a declared safeguard ({rule})" in found[0][1]
        assert safeguard in found[0][1]
        assert f"'resident-identity-assertions' to National identity hub in {abroad}" in found[0][1]


@pytest.mark.parametrize(("jurisdiction", "override"), TRANSFER_RULES)
def test_external_consumer_inside_the_residency_is_no_transfer(
    jurisdiction: str, override: str | None
) -> None:
    city, _ = PLACES[jurisdiction]
    neighbour = {"gdpr": "FI"}.get(jurisdiction, city)
    external = {"recipient": "Neighbouring city's service", "country": neighbour}
    assert problems(blueprint(jurisdiction, city, external=external), override) == []


@pytest.mark.parametrize(
    ("jurisdiction", "safeguard"),
    [
        ("pipl", "standard-contractual-clauses"),
        ("pdpo", "adequacy-decision"),
        ("gdpr", "security-assessment"),
    ],
)
def test_a_safeguard_the_profile_does_not_accept_is_refused(
    jurisdiction: str, safeguard: str
) -> None:
    city, abroad = PLACES[jurisdiction]
    external = {"recipient": "Overseas platform", "country": abroad, "safeguard": safeguard}
    found = problems(blueprint(jurisdiction, city, external=external))
    assert [path for path, _ in found] == ["spec.dataSharing[0].external.safeguard"]
    assert f"{safeguard} is not a safeguard the {jurisdiction} profile accepts" in found[0][1]


def test_data_without_personal_data_may_leave_even_where_transfer_is_forbidden() -> None:
    data = blueprint("pipl", "CN")
    data["spec"]["initiatives"].append({"ref": "government.open-data-portal"})
    data["spec"]["dataSharing"] = [
        {
            "producer": "environment.air-quality-sensing",
            "consumer": "government.open-data-portal",
            "dataProduct": "air-quality-observations",
            "purpose": "Publish air quality to a regional research network",
            "external": {"recipient": "Regional research network", "country": "JP"},
        }
    ]
    assert problems(data, "forbidden") == []


@pytest.mark.parametrize("jurisdiction", sorted(PLACES))
@pytest.mark.parametrize(("retention", "refused"), [(30, False), (31, True)])
def test_retention_at_and_one_day_above_the_city_ceiling(
    jurisdiction: str, retention: int, refused: bool
) -> None:
    data = blueprint(jurisdiction, PLACES[jurisdiction][0], privacy={"maxRetentionDays": 30})
    data["spec"]["initiatives"][2]["retentionDays"] = retention
    expected = [
        (
            "spec.initiatives[2].retentionDays",
            "31 days exceeds the city's own ceiling of 30 days (spec.privacy.maxRetentionDays)",
        )
    ]
    assert problems(data) == (expected if refused else [])


def test_a_us_city_under_pipl_is_refused_at_its_country(
    check: Callable[..., tuple[int, str]],
) -> None:
    code, output = check(blueprint("pipl", "US"))
    assert code == 1
    assert re.search(
        r":\d+:\d+: spec\.city\.country: city country US is outside the pipl profile's "
        r"residency \(CN: CN\)",
        output,
    )


def test_validate_reports_every_residency_problem_located(
    check: Callable[..., tuple[int, str]],
) -> None:
    data = blueprint(
        "gdpr",
        "EE",
        hosting={"country": "US"},
        privacy={"maxRetentionDays": 20},
        external={"recipient": "US analytics vendor", "country": "US"},
    )
    code, output = check(data)
    assert code == 1
    fields = re.findall(r"^[^:]+:\d+:\d+: (\S+):", output, flags=re.MULTILINE)
    assert sorted(fields) == [
        "spec.dataSharing[0].external",
        "spec.hosting.country",
        "spec.initiatives[2].retentionDays",
    ]


def test_an_unknown_safeguard_is_a_schema_error(check: Callable[..., tuple[int, str]]) -> None:
    external = {"recipient": "Overseas platform", "country": "US", "safeguard": "a-promise"}
    code, output = check(blueprint("gdpr", "EE", external=external))
    assert code == 1
    assert "spec.dataSharing[0].external.safeguard" in output


def test_the_blueprint_and_the_profile_schema_name_the_same_safeguards() -> None:
    agreement = load_schema("cityblueprint")["properties"]["spec"]["properties"]["dataSharing"]
    external = agreement["items"]["properties"]["external"]["properties"]
    assert (
        external["safeguard"]["enum"]
        == load_schema("jurisdiction-profile")["$defs"]["safeguard"]["enum"]
    )


@pytest.mark.parametrize("jurisdiction", sorted(PLACES))
def test_a_declared_accepted_safeguard_validates(
    jurisdiction: str, check: Callable[..., tuple[int, str]]
) -> None:
    city, abroad = PLACES[jurisdiction]
    external: dict[str, Any] = {"recipient": "Overseas platform", "country": abroad}
    if ACCEPTED[jurisdiction]:
        external["safeguard"] = ACCEPTED[jurisdiction]
    code, output = check(blueprint(jurisdiction, city, external=external))
    assert code == 0, output
