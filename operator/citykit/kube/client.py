"""The one Kubernetes client: build it for a kubeconfig and context, then server-side apply,
read, list, delete and annotate through it.

Every caller names its cluster: `dynamic_client(kubeconfig, context)`, and each request
takes the client it goes through, so nothing depends on which kubeconfig a process-wide
default happened to load first. What to write is decided by the pure `citykit.core.converge`;
this module only talks to the API server.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kubernetes import config
from kubernetes.client import ApiClient, Configuration
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient

from citykit.api.names import FIELD_MANAGER

_DEFAULT_KUBECONFIG = "~/.kube/config"


def dynamic_client(
    kubeconfig: str | Path | None = None, context: str | None = None
) -> DynamicClient:
    """The client for `kubeconfig` and `context` (one per pair, reused).

    With neither (None or empty): the pod's service account when running in a cluster,
    else the default loading rules: $KUBECONFIG as it is now (not when the kubernetes
    package was imported), else ~/.kube/config, and the file's current context."""
    if not kubeconfig and not context:
        try:
            return _in_cluster_client()
        except config.ConfigException:
            pass
    path = str(kubeconfig) if kubeconfig else os.environ.get("KUBECONFIG", _DEFAULT_KUBECONFIG)
    return _kubeconfig_client(path, context or None)


@functools.cache
def _in_cluster_client() -> DynamicClient:
    configuration = Configuration()
    config.load_incluster_config(client_configuration=configuration)
    return DynamicClient(ApiClient(configuration))


@functools.cache
def _kubeconfig_client(path: str, context: str | None) -> DynamicClient:
    return DynamicClient(config.new_client_from_config(config_file=path, context=context))


def apply(
    client: DynamicClient, manifest: Mapping[str, Any], field_manager: str = FIELD_MANAGER
) -> None:
    """Server-side apply `manifest` as `field_manager`, taking over fields someone edited
    by hand."""
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
    client: DynamicClient, api_version: str, kind: str, name: str, namespace: str | None = None
) -> dict[str, Any]:
    resource = client.resources.get(api_version=api_version, kind=kind)
    found: dict[str, Any] = client.get(resource, name=name, namespace=namespace).to_dict()
    return found


def list_objects(
    client: DynamicClient, api_version: str, kind: str, namespace: str | None = None
) -> list[dict[str, Any]]:
    """Every object of `kind` in `namespace`, or in all namespaces when it is None."""
    resource = client.resources.get(api_version=api_version, kind=kind)
    items: list[dict[str, Any]] = client.get(resource, namespace=namespace).to_dict()["items"]
    return items


def delete(
    client: DynamicClient,
    api_version: str,
    kind: str,
    name: str,
    namespace: str | None = None,
    propagation: str | None = None,
) -> None:
    """Delete an object; one that is already gone is fine. `propagation="Foreground"` keeps
    it until everything it owns is gone."""
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
    client: DynamicClient,
    api_version: str,
    kind: str,
    name: str,
    namespace: str | None,
    key: str,
    value: str,
) -> None:
    resource = client.resources.get(api_version=api_version, kind=kind)
    client.patch(
        resource,
        name=name,
        namespace=namespace,
        body={"metadata": {"annotations": {key: value}}},
        content_type="application/merge-patch+json",
    )
