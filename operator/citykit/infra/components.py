"""The program's reusable pieces: Pulumi components with typed arguments.

What each component creates comes from citykit's pure core (`render`, `platform`, `sizing`)
and the operator's Helm chart, the same sources the operator, `citykit plan` and `helm
install` use; a component only turns those manifests into resources under itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi

from citykit.core.blueprint import Blueprint
from citykit.core.render import Manifest, namespace_objects
from citykit.core.services import (
    USERNAME,
    ServiceNeed,
    credentials_secret_name,
    platform_labels,
    service_objects,
)
from citykit.core.sizing import namespace_sizing
from citykit.infra.kubeprovider import Cluster, KubernetesObject

RESTRICTED = {
    f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "audit", "warn")
}


def _create(manifest: Manifest, cluster: Cluster, opts: pulumi.ResourceOptions) -> KubernetesObject:
    """One Kubernetes object, named in the stack `Kind/namespace/name`."""
    metadata = manifest["metadata"]
    name = "/".join(
        part for part in (manifest["kind"], metadata.get("namespace"), metadata["name"]) if part
    )
    return KubernetesObject(manifest, name, cluster, opts)


@dataclass(frozen=True)
class CityNamespaceArgs:
    cluster: Cluster
    blueprint: Blueprint
    quota: Mapping[str, str | int]
    container_defaults: Mapping[str, Mapping[str, str]]


class CityNamespace(pulumi.ComponentResource):
    """The city namespace (Pod Security restricted) with its default-deny NetworkPolicy —
    the operator's own `namespace_objects` — and the quota and container defaults."""

    def __init__(
        self, name: str, args: CityNamespaceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("citykit:city:Namespace", name, None, opts)
        namespace, *policies = namespace_objects(args.blueprint)
        inside = pulumi.ResourceOptions(
            parent=self,
            depends_on=[_create(namespace, args.cluster, pulumi.ResourceOptions(parent=self))],
        )
        sizing = namespace_sizing(
            args.blueprint.namespace,
            {"app.kubernetes.io/managed-by": "pulumi"},
            args.quota,
            args.container_defaults,
        )
        for manifest in [*policies, *sizing]:
            _create(manifest, args.cluster, inside)
        self.register_outputs({"name": args.blueprint.namespace})


@dataclass(frozen=True)
class OperatorArgs:
    cluster: Cluster
    namespace: str
    manifests: Sequence[Manifest]  # the operator chart rendered by helm, CRDs included


class CitykitOperator(pulumi.ComponentResource):
    """The operator as its Helm chart renders it (CRDs, least-privilege RBAC, Deployment), in
    a restricted namespace of its own: the chart is the one source of truth for the install."""

    def __init__(
        self, name: str, args: OperatorArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("citykit:operator:Operator", name, None, opts)
        namespace = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": args.namespace, "labels": RESTRICTED},
        }
        inside = pulumi.ResourceOptions(
            parent=self,
            depends_on=[_create(namespace, args.cluster, pulumi.ResourceOptions(parent=self))],
        )
        for manifest in args.manifests:
            _create(manifest, args.cluster, inside)
        self.register_outputs({"namespace": args.namespace})


@dataclass(frozen=True)
class PlatformServiceArgs:
    cluster: Cluster
    need: ServiceNeed
    namespace: str
    password: pulumi.Output[str] | None


class PlatformService(pulumi.ComponentResource):
    """One shared platform service: credentials Secret (a Pulumi secret end to end), storage
    claim, Deployment, Service and the NetworkPolicy admitting the initiatives that use it."""

    def __init__(
        self, name: str, args: PlatformServiceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("citykit:platform:Service", name, None, opts)
        service_id = args.need.id
        secrets = []
        if args.need.service.credentials:
            if args.password is None:
                raise ValueError(f"platform service {service_id} needs a password")
            secret: Manifest = {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "Opaque",
                "metadata": {
                    "name": credentials_secret_name(service_id),
                    "namespace": args.namespace,
                    "labels": platform_labels(service_id),
                },
                "stringData": {"username": USERNAME, "password": args.password},
            }
            secrets.append(_create(secret, args.cluster, pulumi.ResourceOptions(parent=self)))
        after_secret = pulumi.ResourceOptions(parent=self, depends_on=secrets)
        for manifest in service_objects(args.need, args.namespace):
            _create(manifest, args.cluster, after_secret)
        self.register_outputs({"service": service_id})


@dataclass(frozen=True)
class CityBlueprintArgs:
    cluster: Cluster
    document: Mapping[str, Any]


class CityBlueprint(pulumi.ComponentResource):
    """The city's validated CityBlueprint: once it exists, the operator starts rolling out."""

    def __init__(
        self, name: str, args: CityBlueprintArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("citykit:city:Blueprint", name, None, opts)
        _create(dict(args.document), args.cluster, pulumi.ResourceOptions(parent=self))
        self.register_outputs({"name": args.document["metadata"]["name"]})
