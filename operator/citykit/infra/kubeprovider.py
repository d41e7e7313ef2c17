"""Kubernetes objects as Pulumi resources, applied by citykit's own dynamic provider.

The pulumi-kubernetes provider plugin cannot be built here (the Go module proxy refuses its
provider module; see `citykit.toolchain.pulumi_engine`), so the city's Pulumi program creates
every object through this provider instead: server-side apply as its own field manager (so
it never takes fields from the operator's), replace when an object's identity changes,
wait for CRDs to be served and Deployments to roll out, and on delete wait until the object
is gone, so `pulumi destroy` leaves nothing behind. The engine's dynamic-provider plugin
process imports this module by name. Each object names its cluster (`Cluster`): a kubeconfig
file and context, or, where both are empty, KUBECONFIG from the engine's environment; the
client for it is `citykit.kube`'s, like every other.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import pulumi
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ResourceNotFoundError
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider, UpdateResult

from citykit import kube
from citykit.core.render import Manifest
from citykit.kube.wait import wait_for

FIELD_MANAGER = "citykit-pulumi"
# How long an object may take to be ready or gone; the plugin inherits the engine's environment.
TIMEOUT_SECONDS = float(os.environ.get("CITYKIT_READY_TIMEOUT", "600"))


Cluster = Mapping[str, str]  # {"kubeconfig": path or "", "context": name or ""}
ENVIRONMENT: Cluster = {"kubeconfig": "", "context": ""}


def _client(props: Mapping[str, Any]) -> DynamicClient:
    """The client for the object's cluster; the environment's when it names neither a
    kubeconfig file nor a context."""
    cluster: Cluster = props["cluster"]
    return kube.dynamic_client(cluster["kubeconfig"], cluster["context"])


def identity(manifest: Mapping[str, Any]) -> str:
    """`apps/v1/Deployment/city-x/name`: what an object is, whatever its content."""
    metadata = manifest["metadata"]
    return "/".join(
        part
        for part in (
            manifest["apiVersion"],
            manifest["kind"],
            metadata.get("namespace"),
            metadata["name"],
        )
        if part
    )


def _read(manifest: Mapping[str, Any], client: DynamicClient) -> dict[str, Any] | None:
    metadata = manifest["metadata"]
    try:
        return kube.read(
            client,
            manifest["apiVersion"],
            manifest["kind"],
            metadata["name"],
            metadata.get("namespace"),
        )
    except ApiException as error:
        if error.status == 404:
            return None
        raise


def ready(manifest: Mapping[str, Any], observed: Mapping[str, Any] | None) -> bool:
    """A CRD is ready when the API serves it; a Deployment when its rollout is complete;
    everything else once it exists."""
    if observed is None:
        return False
    status = observed.get("status") or {}
    if manifest["kind"] == "CustomResourceDefinition":
        return any(
            c["type"] == "Established" and c["status"] == "True"
            for c in status.get("conditions") or []
        )
    if manifest["kind"] == "Deployment":
        replicas = observed["spec"].get("replicas", 1)
        return bool(
            status.get("observedGeneration", 0) >= observed["metadata"]["generation"]
            and status.get("updatedReplicas", 0) == replicas == status.get("availableReplicas", 0)
        )
    return True


class KubernetesObjectProvider(ResourceProvider):
    """CRUD of one Kubernetes object whose whole desired state is the `manifest` input."""

    serialize_as_secret_always = (
        False  # the provider holds nothing secret; secret inputs stay secret
    )

    def create(self, props: dict[str, Any]) -> CreateResult:
        self._apply(props["manifest"], _client(props))
        return CreateResult(identity(props["manifest"]), outs=props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        old, new = olds["manifest"], news["manifest"]
        moved = identity(old) != identity(new) or olds["cluster"] != news["cluster"]
        if old == new and not moved:
            return DiffResult(changes=False)
        return DiffResult(
            changes=True, replaces=["manifest"] if moved else [], delete_before_replace=True
        )

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        self._apply(news["manifest"], _client(news))
        return UpdateResult(outs=news)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        """Foreground: an object is gone only when everything it owns is (a blueprint's
        namespace and Initiatives). A CRD that other cities' objects still use is left, as
        Helm leaves CRDs: deleting it would delete their blueprints."""
        manifest, client = props["manifest"], _client(props)
        if manifest["kind"] == "CustomResourceDefinition" and _live_instances(manifest, client):
            return
        metadata = manifest["metadata"]
        kube.delete(
            client,
            manifest["apiVersion"],
            manifest["kind"],
            metadata["name"],
            metadata.get("namespace"),
            propagation="Foreground",
        )
        wait_for(
            lambda: _read(manifest, client) is None,
            TIMEOUT_SECONDS,
            f"{identity(manifest)} to be deleted",
            interval=1,
        )

    @staticmethod
    def _apply(manifest: Manifest, client: DynamicClient) -> None:
        kube.apply(client, manifest, field_manager=FIELD_MANAGER)
        try:
            wait_for(
                lambda: ready(manifest, _read(manifest, client)),
                TIMEOUT_SECONDS,
                f"{identity(manifest)} to be ready",
                interval=1,
            )
        except TimeoutError as error:
            raise TimeoutError(f"{error}{_why_pods_wait(manifest, client)}") from None


def _live_instances(crd: Mapping[str, Any], client: DynamicClient) -> list[str]:
    """Names of the CRD's objects, in any namespace, that nobody is deleting."""
    spec = crd["spec"]
    version = next(v["name"] for v in spec["versions"] if v.get("storage"))
    try:
        resource = client.resources.get(
            api_version=f"{spec['group']}/{version}", kind=spec["names"]["kind"]
        )
    except ResourceNotFoundError:
        return []
    items = client.get(resource).to_dict()["items"]
    return [
        item["metadata"]["name"] for item in items if not item["metadata"].get("deletionTimestamp")
    ]


def _why_pods_wait(manifest: Mapping[str, Any], client: DynamicClient) -> str:
    """For a Deployment: what keeps its first waiting pod from running (an unbound claim, a
    full quota, an image that cannot be pulled), as the scheduler or kubelet said it."""
    if manifest["kind"] != "Deployment":
        return ""
    selector = ",".join(f"{k}={v}" for k, v in manifest["spec"]["selector"]["matchLabels"].items())
    pods = client.resources.get(api_version="v1", kind="Pod")
    for pod in client.get(
        pods, namespace=manifest["metadata"]["namespace"], label_selector=selector
    ).to_dict()["items"]:
        status = pod.get("status") or {}
        reasons = [
            c.get("message")
            for c in status.get("conditions") or []
            if c.get("status") == "False" and c.get("message")
        ]
        reasons += [
            s["state"]["waiting"].get("message") or s["state"]["waiting"]["reason"]
            for s in status.get("containerStatuses") or []
            if (s.get("state") or {}).get("waiting")
        ]
        if reasons:
            return f": pod {pod['metadata']['name']}: {reasons[0]}"
    return (
        ": no pod created (see the ReplicaSet's events: a full quota, a refused security context)"
    )


class KubernetesObject(Resource, module="citykit", name="KubernetesObject"):
    """One Kubernetes object in `cluster`; named `Kind/namespace/name` in the stack."""

    def __init__(
        self,
        manifest: pulumi.Input[Manifest],
        name: str,
        cluster: Cluster = ENVIRONMENT,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(
            KubernetesObjectProvider(), name, {"manifest": manifest, "cluster": dict(cluster)}, opts
        )
