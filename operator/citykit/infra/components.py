"""The program's reusable pieces: Pulumi components with typed arguments.

What each component creates comes from citykit's pure core (`render`, `services`, `sizing`)
and the operator's Helm chart, the same sources the operator, `citykit plan` and `helm
install` use; a component turns those manifests into pulumi-kubernetes resources under itself.
The provider applies them server-side and waits for each the way it knows (a Deployment until
its rollout is available, a Service until it has endpoints, a claim until it is bound, a CRD
until it is established); Pulumi's state holds `kubernetes:*` resources and these components.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from citykit.core.model.blueprint import Blueprint
from citykit.core.render.objects import Manifest, namespace_objects
from citykit.core.render.services import (
    USERNAME,
    ServiceNeed,
    credentials_secret_name,
    platform_labels,
    service_objects,
)
from citykit.core.render.sizing import namespace_sizing

RESTRICTED = {
    f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "audit", "warn")
}
# Pulumi owns what it declares: a field someone changed by hand is taken back by the next
# `up` instead of failing on the server-side apply conflict with that person's field manager.
PATCH_FORCE = {"pulumi.com/patchForce": "true"}

# The kinds the core renders for a city, and the pulumi-kubernetes resource for each.
# Each takes the manifest's fields as keyword arguments (metadata, spec, data ...), which
# pulumi.CustomResource's own signature does not show: a callable returning one.
RESOURCE_TYPES: Mapping[tuple[str, str], Callable[..., pulumi.CustomResource]] = {
    ("v1", "Namespace"): k8s.core.v1.Namespace,
    ("v1", "ResourceQuota"): k8s.core.v1.ResourceQuota,
    ("v1", "LimitRange"): k8s.core.v1.LimitRange,
    ("v1", "PersistentVolumeClaim"): k8s.core.v1.PersistentVolumeClaim,
    ("v1", "Service"): k8s.core.v1.Service,
    ("apps/v1", "Deployment"): k8s.apps.v1.Deployment,
    ("apps/v1", "StatefulSet"): k8s.apps.v1.StatefulSet,
    ("networking.k8s.io/v1", "NetworkPolicy"): k8s.networking.v1.NetworkPolicy,
}


def resource_name(manifest: Mapping[str, Any]) -> str:
    """`Kind/namespace/name`: how an object is named in the stack."""
    metadata = manifest["metadata"]
    return "/".join(
        part for part in (manifest["kind"], metadata.get("namespace"), metadata["name"]) if part
    )


def _owned(metadata: Mapping[str, Any]) -> dict[str, Any]:
    return {**metadata, "annotations": {**metadata.get("annotations", {}), **PATCH_FORCE}}


_IDENTITY = ("apiVersion", "kind", "metadata")  # the resource type and its metadata argument


def kubernetes_object(manifest: Manifest, opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    """The pulumi-kubernetes resource for one rendered manifest (camelCase keys, as the
    Kubernetes API and the SDK's dict inputs have them)."""
    resource_type = RESOURCE_TYPES[(manifest["apiVersion"], manifest["kind"])]
    fields = {key: value for key, value in manifest.items() if key not in _IDENTITY}
    return resource_type(
        resource_name(manifest), metadata=_owned(manifest["metadata"]), opts=opts, **fields
    )


@dataclass(frozen=True)
class CityNamespaceArgs:
    provider: k8s.Provider
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
        mine = pulumi.ResourceOptions(parent=self, provider=args.provider)
        created = kubernetes_object(namespace, mine)
        inside = pulumi.ResourceOptions.merge(mine, pulumi.ResourceOptions(depends_on=[created]))
        sizing = namespace_sizing(
            args.blueprint.namespace,
            {"app.kubernetes.io/managed-by": "pulumi"},
            args.quota,
            args.container_defaults,
        )
        for manifest in [*policies, *sizing]:
            kubernetes_object(manifest, inside)
        self.register_outputs({"name": args.blueprint.namespace})


@dataclass(frozen=True)
class OperatorArgs:
    provider: k8s.Provider
    namespace: str
    chart: Path  # the operator's Helm chart folder


def chart_crds(chart: Path) -> list[Manifest]:
    """The CustomResourceDefinitions in the chart's crds/ folder, as Helm installs them."""
    return [
        document
        for path in sorted((chart / "crds").glob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text())
        if document
    ]


class CitykitOperator(pulumi.ComponentResource):
    """The operator's Helm chart, rendered and applied by the provider's own Helm
    (`kubernetes:helm.sh/v4:Chart`, no helm CLI), in a restricted namespace of its own.

    The chart's CRDs are created beside the chart, and kept when the stack is destroyed, as
    Helm keeps them: deleting a CRD deletes every object of its kind, every city's."""

    def __init__(
        self, name: str, args: OperatorArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("citykit:operator:Operator", name, None, opts)
        mine = pulumi.ResourceOptions(parent=self, provider=args.provider)
        namespace = k8s.core.v1.Namespace(
            f"Namespace/{args.namespace}",
            metadata={"name": args.namespace, "labels": RESTRICTED, "annotations": PATCH_FORCE},
            opts=mine,
        )
        self.crds = [
            k8s.apiextensions.v1.CustomResourceDefinition(
                resource_name(crd),
                metadata=_owned(crd["metadata"]),
                spec=crd["spec"],
                opts=pulumi.ResourceOptions.merge(
                    mine, pulumi.ResourceOptions(retain_on_delete=True)
                ),
            )
            for crd in chart_crds(args.chart)
        ]
        self.chart = k8s.helm.v4.Chart(
            "operator",
            chart=str(args.chart),
            name="citykit",
            namespace=args.namespace,
            skip_crds=True,
            opts=pulumi.ResourceOptions.merge(
                mine, pulumi.ResourceOptions(depends_on=[namespace, *self.crds])
            ),
        )
        self.register_outputs({"namespace": args.namespace})


@dataclass(frozen=True)
class PlatformServiceArgs:
    provider: k8s.Provider
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
        mine = pulumi.ResourceOptions(parent=self, provider=args.provider)
        secrets: list[pulumi.Resource] = []
        if args.need.service.credentials:
            if args.password is None:
                raise ValueError(f"platform service {service_id} needs a password")
            metadata = {
                "name": credentials_secret_name(service_id),
                "namespace": args.namespace,
                "labels": platform_labels(service_id),
            }
            secrets.append(
                k8s.core.v1.Secret(
                    f"Secret/{args.namespace}/{metadata['name']}",
                    metadata=_owned(metadata),
                    type="Opaque",
                    string_data={"username": USERNAME, "password": args.password},
                    opts=mine,
                )
            )
        after_secret = pulumi.ResourceOptions.merge(
            mine, pulumi.ResourceOptions(depends_on=secrets)
        )
        for manifest in service_objects(args.need, args.namespace):
            kubernetes_object(manifest, after_secret)
        self.register_outputs({"service": service_id})


@dataclass(frozen=True)
class CityBlueprintArgs:
    provider: k8s.Provider
    document: Mapping[str, Any]


class CityBlueprint(pulumi.ComponentResource):
    """The city's validated CityBlueprint: once it exists, the operator starts rolling out.

    The provider has no readiness rule for a custom kind and none is added: a rollout runs
    for days through pilot gates and is followed with `citykit status`, not held by `up`."""

    def __init__(
        self, name: str, args: CityBlueprintArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("citykit:city:Blueprint", name, None, opts)
        document = args.document
        unexpected = set(document) - {"apiVersion", "kind", "metadata", "spec"}
        if unexpected:
            raise ValueError(f"a CityBlueprint has no {', '.join(sorted(unexpected))}")
        k8s.apiextensions.CustomResource(
            resource_name(document),
            api_version=document["apiVersion"],
            kind=document["kind"],
            metadata=_owned(document["metadata"]),
            spec=document["spec"],
            opts=pulumi.ResourceOptions(parent=self, provider=args.provider),
        )
        self.register_outputs({"name": document["metadata"]["name"]})


def provider(cluster: Mapping[str, str]) -> k8s.Provider:
    """The one provider every object goes through: the stack's kubeconfig file and context,
    or, where it names neither, the environment's (KUBECONFIG)."""
    return k8s.Provider(
        "cluster",
        kubeconfig=cluster.get("kubeconfig") or None,
        context=cluster.get("context") or None,
    )
