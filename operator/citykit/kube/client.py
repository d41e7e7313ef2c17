"""The one Kubernetes client: build it for a kubeconfig and context, then server-side apply,
read, list, delete and annotate through it.

Every caller names its cluster: `dynamic_client(kubeconfig, context)`, and each request
takes the client it goes through, so nothing depends on which kubeconfig a process-wide
default happened to load first. What to write is decided by the pure `citykit.core.render.converge`;
this module only talks to the API server.
"""

from __future__ import annotations

import datetime
import functools
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kubernetes import config
from kubernetes.client import ApiClient, Configuration
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.resource import Resource

from citykit.api.names import FIELD_MANAGER
from citykit.core.rollout.conditions import timestamp

_DEFAULT_KUBECONFIG = "~/.kube/config"
# Connections kept per client: the operator's reconcile workers share one client.
_POOL = 16


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
    configuration.connection_pool_maxsize = _POOL
    return DynamicClient(ApiClient(configuration))


@functools.cache
def _kubeconfig_client(path: str, context: str | None) -> DynamicClient:
    configuration = Configuration()
    config.load_kube_config(config_file=path, context=context, client_configuration=configuration)
    configuration.connection_pool_maxsize = _POOL
    return DynamicClient(ApiClient(configuration))


_DISCOVERY = threading.Lock()


def resource_for(client: DynamicClient, api_version: str, kind: str) -> Resource:
    """The API resource serving `kind`. One lookup at a time: the operator's workers share a
    client, and a kind its discovery cache lacks (a CRD installed since) makes it rebuild
    the cache in place, which another thread reading it then finds half-built."""
    with _DISCOVERY:
        found: Resource = client.resources.get(api_version=api_version, kind=kind)
    return found


def apply(
    client: DynamicClient, manifest: Mapping[str, Any], field_manager: str = FIELD_MANAGER
) -> dict[str, Any]:
    """Server-side apply `manifest` as `field_manager`, taking over fields someone edited
    by hand; returns the object as the server stored it."""
    resource = resource_for(client, manifest["apiVersion"], manifest["kind"])
    applied: dict[str, Any] = client.server_side_apply(
        resource,
        body=dict(manifest),
        name=manifest["metadata"]["name"],
        namespace=manifest["metadata"].get("namespace"),
        field_manager=field_manager,
        force_conflicts=True,
    ).to_dict()
    return applied


def read(
    client: DynamicClient, api_version: str, kind: str, name: str, namespace: str | None = None
) -> dict[str, Any]:
    resource = resource_for(client, api_version, kind)
    found: dict[str, Any] = client.get(resource, name=name, namespace=namespace).to_dict()
    return found


def list_objects(
    client: DynamicClient, api_version: str, kind: str, namespace: str | None = None
) -> list[dict[str, Any]]:
    """Every object of `kind` in `namespace`, or in all namespaces when it is None."""
    resource = resource_for(client, api_version, kind)
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
    resource = resource_for(client, api_version, kind)
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


def patch_annotations(
    client: DynamicClient,
    api_version: str,
    kind: str,
    name: str,
    namespace: str | None,
    annotations: Mapping[str, str | None],
) -> dict[str, Any]:
    """JSON-merge-patch `annotations` onto an object (a None value removes one); returns
    the object as stored."""
    resource = resource_for(client, api_version, kind)
    patched: dict[str, Any] = client.patch(
        resource,
        name=name,
        namespace=namespace,
        body={"metadata": {"annotations": dict(annotations)}},
        content_type="application/merge-patch+json",
    ).to_dict()
    return patched


def patch_status(
    client: DynamicClient,
    api_version: str,
    kind: str,
    name: str,
    namespace: str | None,
    patch: Mapping[str, Any],
) -> dict[str, Any]:
    """JSON-merge-patch the status subresource with `patch` (nulls remove keys); returns
    the object as stored."""
    resource = resource_for(client, api_version, kind)
    patched: dict[str, Any] = client.patch(
        resource.subresources["status"],
        name=name,
        namespace=namespace,
        body={"status": dict(patch)},
        content_type="application/merge-patch+json",
    ).to_dict()
    return patched


def post_event(
    client: DynamicClient,
    involved: Mapping[str, Any],
    type_: str,
    reason: str,
    message: str,
    component: str = FIELD_MANAGER,
) -> None:
    """A core/v1 Event about `involved`; a cluster-scoped object's goes to `default`."""
    metadata = involved["metadata"]
    namespace = metadata.get("namespace") or "default"
    now = timestamp(datetime.datetime.now(datetime.UTC))
    resource = resource_for(client, "v1", "Event")
    client.create(
        resource,
        namespace=namespace,
        body={
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{metadata['name']}.", "namespace": namespace},
            "involvedObject": {
                "apiVersion": involved["apiVersion"],
                "kind": involved["kind"],
                "name": metadata["name"],
                "namespace": metadata.get("namespace"),
                "uid": metadata.get("uid"),
            },
            "type": type_,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": component},
            "reportingComponent": component,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        },
    )
