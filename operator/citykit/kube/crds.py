"""Installing citykit's CRDs: server-side apply, then wait until the API serves the kinds."""

from __future__ import annotations

from kubernetes.client import ApiClient, ApiextensionsV1Api
from kubernetes.dynamic import DynamicClient

from citykit.api.crd import crds
from citykit.api.names import FIELD_MANAGER
from citykit.kube.wait import wait_for


def install_crds(api: ApiClient, timeout: float = 60) -> None:
    """Server-side applies citykit's CRDs and waits until the API serves their kinds."""
    dynamic = DynamicClient(api)
    definitions = dynamic.resources.get(
        api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition"
    )
    for manifest in crds().values():
        dynamic.server_side_apply(
            definitions,
            body=manifest,
            name=manifest["metadata"]["name"],
            field_manager=FIELD_MANAGER,
            force_conflicts=True,
        )
    extensions = ApiextensionsV1Api(api)

    def established(name: str) -> bool:
        conditions = extensions.read_custom_resource_definition(name).status.conditions or []
        return any(c.type == "Established" and c.status == "True" for c in conditions)

    for name in (manifest["metadata"]["name"] for manifest in crds().values()):
        wait_for(lambda name=name: established(name), timeout, f"CRD {name} to be established")
