"""`citykit validate`: semantic and jurisdiction checks, each reported at its field."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from citykit.resources import example_cities_dir
from tests.conftest import LOCATED_LINE, run_cli

Edit = Callable[[dict[str, Any]], None]


# A country inside each profile's residency, so a minimal city is hosted where it may be.
HOME_COUNTRY = {"gdpr": "DE", "pipl": "CN", "pdpo": "HK", "us-surveillance-ordinance": "US"}


def minimal(
    jurisdiction: str = "gdpr", *initiatives: dict[str, Any], **spec: Any
) -> dict[str, Any]:
    """A small valid blueprint; tests break one thing at a time."""
    return {
        "apiVersion": "citykit.io/v1alpha1",
        "kind": "CityBlueprint",
        "metadata": {"name": "testville"},
        "spec": {
            "city": {
                "name": "Testville",
                "country": HOME_COUNTRY.get(jurisdiction, "DE"),
                "timezone": "Europe/Berlin",
                "population": 120000,
            },
            "version": "1.0.0",
            "catalogueVersion": "1.0.0",
            "jurisdiction": jurisdiction,
            "districts": [{"id": "north", "name": "North"}, {"id": "south", "name": "South"}],
            "initiatives": list(initiatives)
            or [
                {"ref": "environment.air-quality-sensing", "pilotDistricts": ["north"]},
                {"ref": "government.open-data-portal"},
            ],
            **spec,
        },
    }


@pytest.fixture
def check(write_yaml: Callable[[str, Any], Path]) -> Callable[[dict[str, Any]], tuple[int, str]]:
    def run(data: dict[str, Any]) -> tuple[int, str]:
        result = run_cli("validate", str(write_yaml("blueprint.yaml", data)))
        if result.exit_code:
            assert all(
                re.match(LOCATED_LINE, line) for line in result.output.strip().splitlines()
            ), result.output
        return result.exit_code, result.output

    return run


def test_every_example_city_validates() -> None:
    cities = sorted(str(path) for path in example_cities_dir().glob("*.yaml"))
    assert len(cities) >= 3
    result = run_cli("validate", *cities)
    assert result.exit_code == 0, result.output


def test_minimal_blueprint_validates(check: Callable[..., tuple[int, str]]) -> None:
    code, output = check(minimal())
    assert code == 0, output
    assert "ok — Testville blueprint 1.0.0, 2 initiatives under gdpr" in output


def test_wrong_type_is_located_at_the_field(check: Callable[..., tuple[int, str]]) -> None:
    data = minimal()
    data["spec"]["city"]["population"] = "lots"
    code, output = check(data)
    assert code == 1
    assert re.search(
        r":\d+:\d+: spec\.city\.population: expected an integer, got a string 'lots'", output
    )


def test_unknown_field_is_named(check: Callable[..., tuple[int, str]]) -> None:
    data = minimal()
    data["spec"]["initiatives"][0]["pilotDistrict"] = ["north"]
    code, output = check(data)
    assert code == 1
    assert "spec.initiatives[0].pilotDistrict: unknown field 'pilotDistrict'" in output


def test_unknown_catalogue_id_suggests_the_closest(check: Callable[..., tuple[int, str]]) -> None:
    code, output = check(minimal("gdpr", {"ref": "environment.air-quality-sensor"}))
    assert code == 1
    assert (
        "spec.initiatives[0].ref: unknown catalogue initiative 'environment.air-quality-sensor'; "
        "did you mean 'environment.air-quality-sensing'?" in output
    )


def test_duplicate_initiative(check: Callable[..., tuple[int, str]]) -> None:
    code, output = check(
        minimal(
            "gdpr", {"ref": "government.open-data-portal"}, {"ref": "government.open-data-portal"}
        )
    )
    assert code == 1
    assert "spec.initiatives[1].ref: duplicate initiative 'government.open-data-portal'" in output


def test_unknown_pilot_district(check: Callable[..., tuple[int, str]]) -> None:
    code, output = check(
        minimal("gdpr", {"ref": "government.open-data-portal", "pilotDistricts": ["east"]})
    )
    assert code == 1
    assert "spec.initiatives[0].pilotDistricts[0]: unknown district 'east'" in output


def test_dependency_cycle_is_reported_once_with_its_path(
    check: Callable[..., tuple[int, str]],
) -> None:
    code, output = check(
        minimal(
            "gdpr",
            {
                "ref": "government.open-data-portal",
                "dependsOn": ["environment.air-quality-sensing"],
            },
            {
                "ref": "environment.air-quality-sensing",
                "dependsOn": ["environment.noise-monitoring"],
            },
            {"ref": "environment.noise-monitoring", "dependsOn": ["government.open-data-portal"]},
        )
    )
    assert code == 1
    assert output.count("dependency cycle") == 1
    assert (
        "environment.air-quality-sensing -> environment.noise-monitoring -> "
        "government.open-data-portal -> environment.air-quality-sensing" in output
    )


def test_dependency_on_disabled_initiative(check: Callable[..., tuple[int, str]]) -> None:
    code, output = check(
        minimal(
            "gdpr",
            {
                "ref": "government.open-data-portal",
                "dependsOn": ["environment.air-quality-sensing"],
            },
            {"ref": "environment.air-quality-sensing", "enabled": False},
        )
    )
    assert code == 1
    assert (
        "spec.initiatives[0].dependsOn[0]: depends on 'environment.air-quality-sensing', "
        "which is not an enabled initiative" in output
    )


def test_parameter_checked_against_the_entry_schema(check: Callable[..., tuple[int, str]]) -> None:
    code, output = check(
        minimal(
            "gdpr", {"ref": "government.open-data-portal", "parameters": {"noSuchParameter": 1}}
        )
    )
    assert code == 1
    assert "spec.initiatives[0].parameters" in output


@pytest.mark.parametrize(
    "parameters",
    [
        {"adminPassword": "hunter2hunter2"},
        {"endpoint": "postgres://city:s3cret@db:5432/city"},
        {"note": "-----BEGIN RSA PRIVATE KEY-----\nMIIB..."},
    ],
)
def test_secret_pasted_into_parameters_is_refused(
    check: Callable[..., tuple[int, str]], parameters: dict[str, str]
) -> None:
    code, output = check(
        minimal("gdpr", {"ref": "government.open-data-portal", "parameters": parameters})
    )
    assert code == 1
    assert "looks like a secret" in output
    assert "secretRefs" in output


def test_sharing_a_product_the_producer_does_not_publish(
    check: Callable[..., tuple[int, str]],
) -> None:
    data = minimal(
        dataSharing=[
            {
                "producer": "environment.air-quality-sensing",
                "consumer": "government.open-data-portal",
                "dataProduct": "traffic-flow",
                "purpose": "publish open data for residents",
            }
        ]
    )
    code, output = check(data)
    assert code == 1
    assert (
        "spec.dataSharing[0].dataProduct: 'environment.air-quality-sensing' "
        "does not publish 'traffic-flow'" in output
    )


def test_sharing_with_an_initiative_not_enabled(check: Callable[..., tuple[int, str]]) -> None:
    data = minimal(
        dataSharing=[
            {
                "producer": "environment.air-quality-sensing",
                "consumer": "mobility.adaptive-traffic-signals",
                "dataProduct": "air-quality-observations",
                "purpose": "adapt signals to pollution",
            }
        ]
    )
    code, output = check(data)
    assert code == 1
    assert (
        "spec.dataSharing[0].consumer: consumer 'mobility.adaptive-traffic-signals' "
        "is not an enabled initiative" in output
    )


def test_kpi_target_must_improve_on_baseline(check: Callable[..., tuple[int, str]]) -> None:
    data = minimal(
        kpiTargets=[
            {
                "kpi": "pm25-annual-mean",
                "baseline": 20,
                "target": 25,
                "year": 2030,
                "commitment": "binding",
            }
        ]
    )
    code, output = check(data)
    assert code == 1
    assert "spec.kpiTargets[0].target: target 25 does not improve on baseline 20" in output


def test_catalogue_pin_mismatch(check: Callable[..., tuple[int, str]]) -> None:
    code, output = check(minimal(catalogueVersion="0.9.0"))
    assert code == 1
    assert "spec.catalogueVersion: blueprint pins catalogue 0.9.0" in output


def test_unknown_jurisdiction_lists_the_available_ones(
    check: Callable[..., tuple[int, str]],
) -> None:
    code, output = check(minimal("atlantis"))
    assert code == 1
    assert "spec.jurisdiction: unknown jurisdiction profile 'atlantis' (available: " in output


def test_blueprint_under_ordinance_blocks_face_recognition(
    check: Callable[..., tuple[int, str]],
) -> None:
    code, output = check(
        minimal(
            "us-surveillance-ordinance",
            {
                "ref": "living.face-recognition-access",
                "approvals": [{"approver": "city-council", "reference": "R-2026-1"}],
            },
        )
    )
    assert code == 1
    assert re.search(
        r"spec\.initiatives\[0\]\.ref: 'living\.face-recognition-access' uses face-recognition, "
        r"which is forbidden under the us-surveillance-ordinance profile",
        output,
    )


def test_cctv_under_ordinance_needs_council_approval(check: Callable[..., tuple[int, str]]) -> None:
    code, output = check(
        minimal("us-surveillance-ordinance", {"ref": "living.cctv-video-analytics"})
    )
    assert code == 1
    assert "needs approval by city-council" in output
    approved = {
        "ref": "living.cctv-video-analytics",
        "approvals": [{"approver": "city-council", "reference": "Resolution 2026-17"}],
    }
    assert check(minimal("us-surveillance-ordinance", approved))[0] == 0


def test_biometric_data_is_refused_under_gdpr(check: Callable[..., tuple[int, str]]) -> None:
    code, output = check(minimal("gdpr", {"ref": "living.face-recognition-access"}))
    assert code == 1
    assert "collects biometric data, which is not allowed under the gdpr profile" in output


def test_retention_longer_than_the_profile_allows(check: Callable[..., tuple[int, str]]) -> None:
    code, output = check(
        minimal("gdpr", {"ref": "government.issue-reporting-311", "retentionDays": 36500})
    )
    assert code == 1
    assert re.search(
        r"spec\.initiatives\[0\]\.retentionDays: 36500 days exceeds the \d+-day limit", output
    )


def test_exporting_a_surveillance_blueprint_to_gdpr_names_what_must_change(
    city_variant: Callable[..., Path],
) -> None:
    def to_gdpr(data: dict[str, Any]) -> None:
        data["spec"]["jurisdiction"] = "gdpr"
        data["spec"]["initiatives"].append({"ref": "living.face-recognition-access"})

    result = run_cli("validate", str(city_variant("hangzhou", to_gdpr)))
    assert result.exit_code == 1
    assert (
        "'living.face-recognition-access' collects biometric data, "
        "which is not allowed under the gdpr profile" in result.output
    )
