"""A test's cities on the local cluster: example blueprints renamed and cut down, and the
reads and writes the integration tests and benchmarks make of them (one place, so that no
test module is imported as a library by another)."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.conftest import read_city

GROUP, VERSION = "citykit.io", "v1alpha1"
MANAGED = "app.kubernetes.io/managed-by=citykit"


def custom(api: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api)


def blueprint(
    city: str, name: str, gate: str = "2s", approval: str | None = "auto", keep: int | None = None
) -> dict[str, Any]:
    """An example city, renamed (so tests don't collide), with short gates."""
    data = copy.deepcopy(read_city(city))
    data["metadata"]["name"] = name
    if keep is not None:
        kept = {item["ref"] for item in data["spec"]["initiatives"][:keep]}
        data["spec"]["initiatives"] = [
            {**item, "dependsOn": [d for d in item.get("dependsOn", []) if d in kept]}
            for item in data["spec"]["initiatives"][:keep]
        ]
        data["spec"]["dataSharing"] = [
            a
            for a in data["spec"].get("dataSharing", [])
            if a["producer"] in kept and a["consumer"] in kept
        ]
        data["spec"]["kpiTargets"] = []
    for item in data["spec"]["initiatives"]:
        item["gate"] = {
            "healthyFor": gate,
            "approval": approval or item.get("gate", {}).get("approval", "auto"),
        }
    return data


def create_blueprint(api: client.ApiClient, data: dict[str, Any]) -> None:
    custom(api).create_cluster_custom_object(GROUP, VERSION, "cityblueprints", data)


def initiatives(api: client.ApiClient, city: str) -> list[dict[str, Any]]:
    return custom(api).list_namespaced_custom_object(GROUP, VERSION, f"city-{city}", "initiatives")[
        "items"
    ]


def blueprint_status(api: client.ApiClient, name: str) -> dict[str, Any]:
    return (
        custom(api).get_cluster_custom_object(GROUP, VERSION, "cityblueprints", name).get("status")
        or {}
    )


def deployments(api: client.ApiClient, city: str, initiative: str | None = None) -> list[Any]:
    selector = MANAGED + (f",citykit.io/initiative={initiative}" if initiative else "")
    return (
        client.AppsV1Api(api)
        .list_namespaced_deployment(f"city-{city}", label_selector=selector)
        .items
    )


def config_maps(api: client.ApiClient, city: str) -> list[Any]:
    return (
        client.CoreV1Api(api)
        .list_namespaced_config_map(f"city-{city}", label_selector=MANAGED)
        .items
    )


def all_live(api: client.ApiClient, city: str, expected: int) -> bool:
    items = initiatives(api, city)
    return len(items) == expected and all(
        (i.get("status") or {}).get("phase") == "Live" for i in items
    )


def delete_blueprint(api: client.ApiClient, name: str) -> None:
    custom(api).delete_cluster_custom_object(GROUP, VERSION, "cityblueprints", name)


def namespace_gone(api: client.ApiClient, name: str) -> bool:
    try:
        client.CoreV1Api(api).read_namespace(name)
    except ApiException as error:
        return error.status == 404
    return False


def approve(kubeconfig: Path, city: str, ref: str, by: str) -> None:
    """`citykit approve CITY REF --by BY` as a person runs it, as the user of `kubeconfig`."""
    subprocess.run(
        [sys.executable, "-m", "citykit", "approve", city, ref, "--by", by],
        check=True,
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
    )
