"""The Kubernetes edge: server-side apply only what differs, delete what is no longer wanted.

`covers` decides whether an observed object already holds every field citykit would set;
when it does, no request is made, which is what keeps an idle operator at zero writes.
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

FIELD_MANAGER = "citykit"


def covers(actual: Any, desired: Any) -> bool:
    """Whether `actual` already has every field of `desired` (server defaults may add more)."""
    if isinstance(desired, Mapping):
        return isinstance(actual, Mapping) and all(
            covers(actual.get(key), value) for key, value in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(actual, list) and len(actual) == len(desired)
            and all(covers(a, d) for a, d in zip(actual, desired, strict=True))
        )
    return bool(actual == desired)


def merge_patch(current: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON merge patch (RFC 7386) turning `current` into `desired`: keys that went away
    are set to null at every depth, or a map such as `byPhase` would keep stale keys forever."""
    patch: dict[str, Any] = {key: None for key in current if key not in desired}
    for key, value in desired.items():
        old = current.get(key)
        if isinstance(value, Mapping) and isinstance(old, Mapping):
            nested = merge_patch(old, value)
            if nested:
                patch[key] = nested
        elif old != value or key not in current:
            patch[key] = value
    return patch


def owner_reference(owner: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True,
    }


def owned(manifest: Mapping[str, Any], owner: Mapping[str, Any]) -> dict[str, Any]:
    """`manifest` with `owner` as its controller, so deleting the owner collects it."""
    metadata = {**manifest["metadata"], "ownerReferences": [owner_reference(owner)]}
    return {**manifest, "metadata": metadata}


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
    manifest: Mapping[str, Any], field_manager: str = FIELD_MANAGER, client: DynamicClient | None = None
) -> None:
    """Server-side apply `manifest` as citykit, taking over fields someone edited by hand."""
    client = client or dynamic_client()
    resource = client.resources.get(api_version=manifest["apiVersion"], kind=manifest["kind"])
    client.server_side_apply(
        resource, body=dict(manifest), name=manifest["metadata"]["name"],
        namespace=manifest["metadata"].get("namespace"), field_manager=field_manager, force_conflicts=True,
    )


def read(
    api_version: str, kind: str, name: str, namespace: str | None = None, client: DynamicClient | None = None
) -> dict[str, Any]:
    client = client or dynamic_client()
    resource = client.resources.get(api_version=api_version, kind=kind)
    found: dict[str, Any] = client.get(resource, name=name, namespace=namespace).to_dict()
    return found


def delete(
    api_version: str, kind: str, name: str, namespace: str | None = None, client: DynamicClient | None = None,
    propagation: str | None = None,
) -> None:
    """Delete an object; one that is already gone is fine. `propagation="Foreground"` keeps
    it until everything it owns is gone."""
    client = client or dynamic_client()
    resource = client.resources.get(api_version=api_version, kind=kind)
    try:
        client.delete(resource, name=name, namespace=namespace,
                      body={"propagationPolicy": propagation} if propagation else None)
    except ApiException as error:
        if error.status != 404:
            raise


def patch_annotation(api_version: str, kind: str, name: str, namespace: str | None, key: str, value: str) -> None:
    client = dynamic_client()
    resource = client.resources.get(api_version=api_version, kind=kind)
    client.patch(
        resource, name=name, namespace=namespace, body={"metadata": {"annotations": {key: value}}},
        content_type="application/merge-patch+json",
    )
