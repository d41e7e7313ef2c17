"""Hong Kong's Smart City Blueprint 1.0 (76 initiatives) rolled out on a real kube-apiserver
with the operator running, then Blueprint 2.0 (130) applied over it, the way a programme
office moves from one blueprint version to the next.

Gates are 2 s and automatic (the programme's manual approvals would wait for a person); pilot
districts stay as the blueprints give them, so the 54 added initiatives pilot first. The
audit log says what the operator wrote: nothing to the workloads of the 76 initiatives 2.0
keeps, and to the 11 whose data-sharing agreements 2.0 extends only their NetworkPolicy.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from citykit.api.names import object_name
from citykit.kube.wait import wait_for
from citykit.localcluster.operator_process import OperatorProcess
from citykit.localcluster.state import LocalCluster
from tests import audit
from tests.conftest import read_city
from tests.deployment_history import DeploymentHistory

GROUP, VERSION = "citykit.io", "v1alpha1"
CITY = "hk-programme"
NAMESPACE = f"city-{CITY}"
WORKLOADS = ("deployments", "configmaps", "services", "serviceaccounts")


def blueprint(example: str) -> dict[str, Any]:
    """An example Hong Kong blueprint under this test's name, with 2 s automatic gates."""
    data: dict[str, Any] = copy.deepcopy(read_city(example))
    data["metadata"]["name"] = CITY
    for item in data["spec"]["initiatives"]:
        item["gate"] = {**item.get("gate", {}), "healthyFor": "2s", "approval": "auto"}
    return data


ONE, TWO = blueprint("earlier-versions/hong-kong-1.0.0"), blueprint("hong-kong")
KEPT = [item["ref"] for item in ONE["spec"]["initiatives"]]
ADDED = [item["ref"] for item in TWO["spec"]["initiatives"] if item["ref"] not in KEPT]


def flows(data: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(a["producer"], a["consumer"], a["dataProduct"]) for a in data["spec"]["dataSharing"]}


# Initiatives of 1.0 with an agreement 2.0 adds: their NetworkPolicy allows the new flow.
NEW_FLOWS = flows(TWO) - flows(ONE)
RESHARED = sorted({ref for flow in NEW_FLOWS for ref in flow[:2] if ref in KEPT})


def custom(api: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api)


def cityblueprint(api: client.ApiClient) -> dict[str, Any]:
    found: dict[str, Any] = custom(api).get_cluster_custom_object(
        GROUP, VERSION, "cityblueprints", CITY
    )
    return found


def live(api: client.ApiClient, count: int) -> bool:
    found = cityblueprint(api)
    items = custom(api).list_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "initiatives")
    return (
        (found.get("status") or {}).get("phase") == "Live"
        and (found.get("status") or {}).get("observedGeneration") == found["metadata"]["generation"]
        and len(items["items"]) == count
        and all(
            (item.get("status") or {}).get("observedGeneration") == item["metadata"]["generation"]
            and item["status"]["phase"] == "Live"
            for item in items["items"]
        )
    )


def owner(name: str) -> str | None:
    """The initiative an object belongs to: the longest initiative object name that is the
    object's name or its prefix before a `-` (e.g. `living-public-wifi-portal`)."""
    matches = [
        ref
        for ref in KEPT + ADDED
        if name == object_name(ref) or name.startswith(f"{object_name(ref)}-")
    ]
    return max(matches, key=len, default=None)


def writes(audit_log: Path, refs: list[str], after: int, resources: tuple[str, ...]) -> list[str]:
    """Writes from audit event `after` on to `resources` of the initiatives `refs`, by anyone
    but the cluster's own controllers."""
    found = []
    for event in audit.events(audit_log)[after:]:
        ref = event.get("objectRef", {})
        if (
            event.get("stage") == "ResponseComplete"
            and not event.get("user", {}).get("username", "").startswith("system:")
            and event.get("verb") in ("create", "update", "patch", "delete")
            and ref.get("namespace") == NAMESPACE
            and ref.get("resource") in resources
            and owner(ref.get("name", "")) in refs
        ):
            found.append(f"{event['verb']} {ref['resource']}/{ref['name']}")
    return found


@pytest.fixture(scope="module")
def programme(api: client.ApiClient, operator: OperatorProcess) -> Iterator[client.ApiClient]:
    """Blueprint 1.0 Live: 76 initiatives, each through its pilot and gate."""
    custom(api).create_cluster_custom_object(GROUP, VERSION, "cityblueprints", ONE)
    wait_for(lambda: live(api, len(KEPT)), 900, "Hong Kong Blueprint 1.0 Live")
    yield api
    custom(api).delete_cluster_custom_object(GROUP, VERSION, "cityblueprints", CITY)


def test_blueprint_2_0_over_1_0_pilots_the_54_added_and_leaves_the_76_untouched(
    programme: client.ApiClient, kube_cluster: LocalCluster
) -> None:
    assert (len(KEPT), len(ADDED), len(RESHARED)) == (76, 54, 11)
    mark = len(audit.events(kube_cluster.audit_log))
    waves = DeploymentHistory(programme, NAMESPACE)
    try:
        found = cityblueprint(programme)
        found["spec"] = TWO["spec"]
        custom(programme).replace_cluster_custom_object(
            GROUP, VERSION, "cityblueprints", CITY, found
        )
        wait_for(lambda: live(programme, len(KEPT) + len(ADDED)), 900, "Blueprint 2.0 Live")
    finally:
        waves.stop()

    # the added initiatives with pilot districts ran there first, then citywide
    piloted = [item for item in TWO["spec"]["initiatives"] if item.get("pilotDistricts")]
    assert [
        item["ref"]
        for item in piloted
        if item["ref"] in ADDED
        and not {"pilot", "citywide"}
        <= {wave for name, _, wave in waves.seen() if owner(name) == item["ref"]}
    ] == []
    # nothing of the 76 was re-rendered; 11 had their NetworkPolicy extended, no more
    assert writes(kube_cluster.audit_log, KEPT, mark, WORKLOADS) == []
    untouched = [ref for ref in KEPT if ref not in RESHARED]
    assert writes(kube_cluster.audit_log, untouched, mark, ("networkpolicies",)) == []
    assert sorted(set(writes(kube_cluster.audit_log, RESHARED, mark, ("networkpolicies",)))) == (
        sorted(f"patch networkpolicies/{object_name(ref)}" for ref in RESHARED)
    )
