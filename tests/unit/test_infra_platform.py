"""Shared platform services as manifests (pure): which objects, and who may reach them."""

from __future__ import annotations

from citykit.core.model.catalogue import load_catalogue
from citykit.core.render.objects import Manifest
from citykit.core.render.services import SERVICE_LABEL, ServiceNeed, service_objects


def need(service_id: str, *needed_by: str) -> ServiceNeed:
    return ServiceNeed(load_catalogue().platform_services[service_id], needed_by)


def kinds(manifests: list[Manifest]) -> list[str]:
    return [manifest["kind"] for manifest in manifests]


def test_a_stateful_service_gets_a_claim_and_is_replaced_one_pod_at_a_time() -> None:
    manifests = service_objects(need("timeseries-db", "mobility.smart-parking"), "city-x")
    assert kinds(manifests) == ["PersistentVolumeClaim", "Deployment", "Service", "NetworkPolicy"]
    assert manifests[1]["spec"]["strategy"] == {"type": "Recreate"}


def test_a_stateless_service_has_no_claim_and_rolls() -> None:
    manifests = service_objects(need("context-broker", "mobility.smart-parking"), "city-x")
    assert kinds(manifests) == ["Deployment", "Service", "NetworkPolicy"]
    assert manifests[0]["spec"]["strategy"] == {"type": "RollingUpdate"}


def test_a_service_no_initiative_needs_admits_only_other_platform_services() -> None:
    policy = service_objects(need("event-bus"), "city-x")[-1]
    (rule,) = policy["spec"]["ingress"]
    assert rule["from"] == [
        {"podSelector": {"matchExpressions": [{"key": SERVICE_LABEL, "operator": "Exists"}]}}
    ]


def test_the_service_is_reached_under_its_id_on_the_catalogue_port() -> None:
    service = service_objects(need("document-db", "environment.air-quality-sensing"), "city-x")[2]
    assert service["metadata"]["name"] == "document-db"
    assert service["spec"]["ports"][0]["port"] == 27017
