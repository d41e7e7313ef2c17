"""Installing citykit's CRDs: the one way, for `citykit install`, the demo and the tests.

Applying a CRD is not enough: until the API server reports it Established, creating a
CityBlueprint fails with "no matches for kind". So install waits for that too.
"""

from __future__ import annotations

import functools

from kubernetes.dynamic import DynamicClient

from citykit.api.crd import crds
from citykit.api.enums import KubeCondition
from citykit.kube.client import apply, read
from citykit.kube.wait import wait_for

CRD_API_VERSION = "apiextensions.k8s.io/v1"


def established(client: DynamicClient, name: str) -> bool:
    status = read(client, CRD_API_VERSION, "CustomResourceDefinition", name).get("status") or {}
    return any(
        c.get("type") == KubeCondition.CRD_ESTABLISHED and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


def install_crds(client: DynamicClient, timeout: float = 60) -> list[str]:
    """Server-side applies citykit's CRDs, waits until the API serves their kinds, and
    returns their names."""
    manifests = list(crds().values())
    for manifest in manifests:
        apply(client, manifest)
    names = [manifest["metadata"]["name"] for manifest in manifests]
    for name in names:
        wait_for(
            functools.partial(established, client, name),
            timeout,
            f"CRD {name} to be established",
        )
    return names
