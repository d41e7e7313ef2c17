"""The one Kubernetes client: server-side apply, read, delete, annotate.

What to write is decided by the pure `citykit.core.converge`; this module only talks to
the API server.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from typing import Any

from kubernetes import config
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient

from citykit.api.names import FIELD_MANAGER


@functools.cache
def dynamic_client() -> DynamicClient:
    """One client per process, from in-cluster credentials or the current kubeconfig.

    $KUBECONFIG is read now, not when the kubernetes package was imported, so a command
    that starts the local cluster (`citykit demo`) can point the client at it."""
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config(config_file=os.environ.get("KUBECONFIG"))
    return DynamicClient(ApiClient())


def apply(
    manifest: Mapping[str, Any],
    field_manager: str = FIELD_MANAGER,
    client: DynamicClient | None = None,
) -> None:
    """Server-side apply `manifest` as citykit, taking over fields someone edited by hand."""
    client = client or dynamic_client()
    resource = client.resources.get(api_version=manifest["apiVersion"], kind=manifest["kind"])
    client.server_side_apply(
        resource,
        body=dict(manifest),
        name=manifest["metadata"]["name"],
        namespace=manifest["metadata"].get("namespace"),
        field_manager=field_manager,
        force_conflicts=True,
    )


def read(
    api_version: str,
    kind: str,
    name: str,
    namespace: str | None = None,
    client: DynamicClient | None = None,
) -> dict[str, Any]:
    client = client or dynamic_client()
    resource = client.resources.get(api_version=api_version, kind=kind)
    found: dict[str, Any] = client.get(resource, name=name, namespace=namespace).to_dict()
    return found


def delete(
    api_version: str,
    kind: str,
    name: str,
    namespace: str | None = None,
    client: DynamicClient | None = None,
    propagation: str | None = None,
) -> None:
    """Delete an object; one that is already gone is fine. `propagation="Foreground"` keeps
    it until everything it owns is gone."""
    client = client or dynamic_client()
    resource = client.resources.get(api_version=api_version, kind=kind)
    try:
        client.delete(
            resource,
            name=name,
            namespace=namespace,
            body={"propagationPolicy": propagation} if propagation else None,
        )
    except ApiException as error:
        if error.status != 404:
            raise


def patch_annotation(
    api_version: str, kind: str, name: str, namespace: str | None, key: str, value: str
) -> None:
    client = dynamic_client()
    resource = client.resources.get(api_version=api_version, kind=kind)
    client.patch(
        resource,
        name=name,
        namespace=namespace,
        body={"metadata": {"annotations": {key: value}}},
        content_type="application/merge-patch+json",
    )
