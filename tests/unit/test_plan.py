"""`citykit plan`: deterministic, valid Kubernetes objects that meet Pod Security restricted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from citykit.api import jsonschemas
from citykit.core.load import schemas
from citykit.core.load.source import from_data
from citykit.core.model.validation import validate_file
from citykit.core.render.objects import plan
from citykit.resources import example_cities_dir
from tests.conftest import run_cli
from tests.pod_security import KUBERNETES_VERSION, pod_security_restricted_violations

CITIES = sorted(example_cities_dir().glob("*.yaml"))


def planned(city: Path) -> list[dict[str, Any]]:
    return plan(validate_file(city))


@pytest.mark.parametrize("city", CITIES, ids=lambda path: path.stem)
def test_plan_passes_kubernetes_schema_validation(city: Path) -> None:
    for manifest in planned(city):
        if manifest["apiVersion"].startswith("citykit.io/"):
            document = from_data(manifest["metadata"]["name"], manifest)
            assert schemas.check(document, jsonschemas.INITIATIVE) == []
        else:
            kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("city", CITIES, ids=lambda path: path.stem)
def test_plan_meets_pod_security_restricted(city: Path) -> None:
    manifests = planned(city)
    namespace = next(m for m in manifests if m["kind"] == "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for deployment in (m for m in manifests if m["kind"] == "Deployment"):
        assert pod_security_restricted_violations(deployment["spec"]["template"]["spec"]) == [], (
            deployment["metadata"]["name"]
        )


@pytest.mark.parametrize("city", CITIES, ids=lambda path: path.stem)
def test_every_object_carries_the_citykit_labels(city: Path) -> None:
    for manifest in planned(city):
        labels = manifest["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "citykit"
        assert labels["citykit.io/city"] == city.stem
        if not (manifest["kind"] == "Namespace" or manifest["metadata"]["name"] == "default-deny"):
            assert {"citykit.io/area", "citykit.io/initiative"} <= set(labels), manifest[
                "metadata"
            ]["name"]


def test_plan_output_is_deterministic() -> None:
    city = str(CITIES[0])
    first, second = run_cli("plan", city, "-o", "json"), run_cli("plan", city, "-o", "json")
    assert first.exit_code == 0
    assert first.output == second.output
    kinds = {item["kind"] for item in json.loads(first.output)}
    assert {
        "Namespace",
        "ServiceAccount",
        "ConfigMap",
        "Deployment",
        "Service",
        "NetworkPolicy",
        "Initiative",
    } <= kinds


def test_service_accounts_do_not_mount_tokens() -> None:
    for manifest in planned(CITIES[0]):
        if manifest["kind"] == "ServiceAccount":
            assert manifest["automountServiceAccountToken"] is False
        if manifest["kind"] == "Deployment":
            assert manifest["spec"]["template"]["spec"]["automountServiceAccountToken"] is False


def test_namespace_denies_all_traffic_by_default() -> None:
    default_deny = next(m for m in planned(CITIES[0]) if m["metadata"]["name"] == "default-deny")
    assert default_deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_network_policies_allow_exactly_the_declared_sharing_flows() -> None:
    validated = validate_file(max(CITIES, key=lambda path: path.stat().st_size))
    manifests = plan(validated)
    policies = {m["metadata"]["name"]: m["spec"] for m in manifests if m["kind"] == "NetworkPolicy"}
    declared = {
        (a.producer.replace(".", "-"), a.consumer.replace(".", "-"))
        for a in validated.blueprint.data_sharing
    }
    assert declared, "the largest example city should declare data-sharing agreements"
    allowed_in = set()
    for name, policy in policies.items():
        for rule in policy.get("ingress", []):
            for peer in rule.get("from", []):
                source = peer["podSelector"]["matchLabels"]["citykit.io/initiative"]
                if source != name:
                    allowed_in.add((name, source))
    assert allowed_in == declared


def test_personal_data_under_opt_in_profile_renders_opt_in_consent() -> None:
    for city in CITIES:
        validated = validate_file(city)
        if validated.blueprint.minimum_consent != "opt-in":
            continue
        for manifest in plan(validated):
            if manifest["kind"] == "ConfigMap":
                categories = set(manifest["data"]["CITYKIT_DATA_CATEGORIES"].split(","))
                if categories - {"none", "aggregate"}:
                    assert manifest["data"]["CITYKIT_CONSENT_MODE"] == "opt-in", manifest[
                        "metadata"
                    ]["name"]
        return
    pytest.fail("no example city sets privacy.minimumConsent: opt-in")


def test_plan_of_invalid_blueprint_prints_nothing_to_stdout(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "apiVersion: citykit.io/v1alpha1\nkind: CityBlueprint\nmetadata: {name: x}\nspec: {}\n"
    )
    result = run_cli("plan", str(path))
    assert result.exit_code == 1
    assert "apiVersion" not in result.stdout
