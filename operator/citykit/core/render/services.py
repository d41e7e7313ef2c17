"""The shared platform services a city runs, derived from its blueprint (pure).

A catalogue entry names the platform services it needs (`platformServices`); a city runs
each service that one of its enabled initiatives needs, once, in the city namespace, under
the service's id as host name (initiatives' settings say `context-broker`, `document-db` …).
What the catalogue index does not say about an image (where it keeps its data, which
variables set its admin credentials, how it is started) is in `RUNTIME` below.

Platform objects carry no `citykit.io/city` label: the operator converges every object with
that label in a city namespace, and would delete these as stale.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from citykit.api.names import INITIATIVE_LABEL, PLATFORM_SERVICE_LABEL, object_name
from citykit.core.model.blueprint import Blueprint
from citykit.core.model.catalogue import Catalogue, PlatformService
from citykit.core.render.objects import DEFAULT_USER, DNS_EGRESS, Manifest, restricted_pod_security

SERVICE_LABEL = PLATFORM_SERVICE_LABEL
USERNAME = "citykit"


@dataclass(frozen=True)
class Runtime:
    """How one service's image is run: data folder, credential variables, arguments."""

    data_path: str | None = None
    username_env: str | None = None
    password_env: str | None = None
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)


_POSTGRES = Runtime(
    "/var/lib/postgresql/data",
    "POSTGRES_USER",
    "POSTGRES_PASSWORD",
    env={"PGDATA": "/var/lib/postgresql/data/pgdata"},
)
RUNTIME: Mapping[str, Runtime] = {
    "mqtt-broker": Runtime("/mosquitto/data"),
    "context-broker": Runtime(env={"ORIONLD_MONGO_HOST": "document-db"}),
    "document-db": Runtime("/data/db", "MONGO_INITDB_ROOT_USERNAME", "MONGO_INITDB_ROOT_PASSWORD"),
    "timeseries-db": _POSTGRES,
    "geo-database": _POSTGRES,
    "relational-db": _POSTGRES,
    "identity-provider": Runtime(None, "KEYCLOAK_ADMIN", "KEYCLOAK_ADMIN_PASSWORD", ("start-dev",)),
    "object-storage": Runtime(
        "/data", "MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD", ("server", "/data")
    ),
    "event-bus": Runtime("/var/lib/kafka/data"),
    "message-queue": Runtime("/var/lib/rabbitmq", "RABBITMQ_DEFAULT_USER", "RABBITMQ_DEFAULT_PASS"),
    "cache": Runtime(None, None, "REDIS_PASSWORD", ("--requirepass", "$(REDIS_PASSWORD)")),
    "search-index": Runtime(
        "/usr/share/opensearch/data", None, "OPENSEARCH_INITIAL_ADMIN_PASSWORD"
    ),
    "api-gateway": Runtime(env={"KONG_DATABASE": "off"}),
}


@dataclass(frozen=True)
class ServiceNeed:
    """A platform service the city runs, and the initiatives that use it (in blueprint order;
    empty when only the stack configuration asks for it)."""

    service: PlatformService
    needed_by: tuple[str, ...]

    @property
    def id(self) -> str:
        return self.service.id


def platform_services(
    blueprint: Blueprint, catalogue: Catalogue, extra: Iterable[str] = ()
) -> list[ServiceNeed]:
    """The services the blueprint's enabled initiatives need plus `extra`, in catalogue order."""
    users: dict[str, list[str]] = {service_id: [] for service_id in catalogue.platform_services}
    for initiative in blueprint.enabled:
        for service_id in catalogue.entries[initiative.ref].platform_services:
            users[service_id].append(initiative.ref)
    wanted = set(extra)
    return [
        ServiceNeed(catalogue.platform_services[service_id], tuple(refs))
        for service_id, refs in users.items()
        if refs or service_id in wanted
    ]


def platform_labels(service_id: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/managed-by": "pulumi",
        "app.kubernetes.io/part-of": "citykit-platform",
        "app.kubernetes.io/name": service_id,
        SERVICE_LABEL: service_id,
    }


def credentials_secret_name(service_id: str) -> str:
    return f"{service_id}-credentials"


def endpoint(need: ServiceNeed, namespace: str) -> str:
    return f"{need.id}.{namespace}.svc.cluster.local:{need.service.port}"


def service_objects(need: ServiceNeed, namespace: str) -> list[Manifest]:
    """The storage claim (when the service keeps data), Deployment, Service and the
    NetworkPolicy letting in exactly the initiatives that use it."""
    service = need.service
    labels = platform_labels(service.id)
    metadata = {"name": service.id, "namespace": namespace, "labels": labels}
    manifests: list[Manifest] = []
    if service.storage:
        manifests.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": metadata,
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": service.storage}},
                },
            }
        )
    manifests += [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": metadata,
            "spec": _deployment_spec(service, labels),
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": metadata,
            "spec": {
                "selector": {SERVICE_LABEL: service.id},
                "ports": [
                    {"name": "main", "port": service.port, "targetPort": "main", "protocol": "TCP"}
                ],
            },
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": metadata,
            "spec": _network_policy_spec(need),
        },
    ]
    return manifests


def _deployment_spec(service: PlatformService, labels: Mapping[str, str]) -> dict[str, Any]:
    runtime = RUNTIME[service.id]
    user = service.run_as_user or DEFAULT_USER
    env: list[dict[str, Any]] = [
        {"name": key, "value": value} for key, value in sorted(runtime.env.items())
    ]
    for key, env_name in (("username", runtime.username_env), ("password", runtime.password_env)):
        if service.credentials and env_name:
            env.append(
                {
                    "name": env_name,
                    "valueFrom": {
                        "secretKeyRef": {"name": credentials_secret_name(service.id), "key": key}
                    },
                }
            )
    mounts = [{"name": "tmp", "mountPath": "/tmp"}]
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {}}]
    if service.storage and runtime.data_path:
        mounts.append({"name": "data", "mountPath": runtime.data_path})
        volumes.append({"name": "data", "persistentVolumeClaim": {"claimName": service.id}})
    container: dict[str, Any] = {
        "name": service.id,
        "image": service.image,
        "ports": [{"name": "main", "containerPort": service.port, "protocol": "TCP"}],
        "readinessProbe": {
            "tcpSocket": {"port": "main"},
            "initialDelaySeconds": 5,
            "periodSeconds": 10,
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": mounts,
    }
    if env:
        container["env"] = env
    if runtime.args:
        container["args"] = list(runtime.args)
    return {
        "replicas": 1,
        # One pod at a time: a storage claim is ReadWriteOnce.
        "strategy": {"type": "Recreate"} if service.storage else {"type": "RollingUpdate"},
        "selector": {"matchLabels": {SERVICE_LABEL: service.id}},
        "template": {
            "metadata": {"labels": dict(labels)},
            "spec": {
                "automountServiceAccountToken": False,
                "securityContext": restricted_pod_security(user),
                "containers": [container],
                "volumes": volumes,
            },
        },
    }


def _network_policy_spec(need: ServiceNeed) -> dict[str, Any]:
    """In: the initiatives that use it and the other platform services, on its port.
    Out: DNS and the other platform services (the context broker keeps its state in the
    document store)."""
    platform_peer = {
        "podSelector": {"matchExpressions": [{"key": SERVICE_LABEL, "operator": "Exists"}]}
    }
    peers: list[dict[str, Any]] = [platform_peer]
    if need.needed_by:
        peers.insert(
            0,
            {
                "podSelector": {
                    "matchExpressions": [
                        {
                            "key": INITIATIVE_LABEL,
                            "operator": "In",
                            "values": [object_name(ref) for ref in need.needed_by],
                        }
                    ]
                }
            },
        )
    return {
        "podSelector": {"matchLabels": {SERVICE_LABEL: need.id}},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [{"from": peers, "ports": [{"port": need.service.port, "protocol": "TCP"}]}],
        "egress": [
            DNS_EGRESS,
            {"to": [platform_peer]},
        ],
    }
