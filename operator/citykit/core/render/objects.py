"""Pure rendering: a validated blueprint -> the Kubernetes objects that run it.

Two steps, matching the operator's two controllers:
- `initiative_resources` turns the blueprint into one `Initiative` object per enabled
  initiative, whose spec holds everything needed to render its workloads (resolved
  parameters, privacy settings, data-sharing flows), so the Initiative controller never has to
  read the blueprint again;
- `initiative_children` turns one Initiative spec and a wave (pilot or citywide) into its
  ServiceAccount, ConfigMap, Deployments, Services and NetworkPolicy.
`citykit plan` prints exactly what these return.

Workloads (the ConfigMap and Deployments) carry their revision, `workload_revision`: a short
hash of what the spec renders citywide, so a change to an image or a parameter (what a new
catalogue version usually brings) is a new revision, and an unchanged spec is the same one.
The rest (`shared_children`: ServiceAccount, Services, NetworkPolicy) is shared by every
revision. During an upgrade `candidate_children` renders the new revision for the pilot
districts under names of its own, beside the citywide objects, and `revision_workloads`
renders the running revision again from the spec fields an Initiative's status keeps of it
(`revision_spec`), so the operator can restore it while the spec is the candidate's.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from citykit.api.enums import Wave
from citykit.api.names import (
    API_VERSION,
    CANDIDATE_LABEL,
    CANDIDATE_SUFFIX,
    CONFIG_HASH_ANNOTATION,
    INITIATIVE,
    INITIATIVE_LABEL,
    PLATFORM_SERVICE_LABEL,
    REVISION_LABEL,
    WAVE_LABEL,
    city_labels,
    city_namespace,
    initiative_labels,
    object_name,
)
from citykit.core.model.blueprint import DEFAULT_PROGRESS_DEADLINE, Blueprint, InitiativeSpec
from citykit.core.model.catalogue import Catalogue, Component, Entry
from citykit.core.model.policy import privacy_settings
from citykit.core.model.validation import ValidatedBlueprint

DEFAULT_REPLICAS = {Wave.PILOT: 1, Wave.CITYWIDE: 2}
DEFAULT_USER = 65532
Manifest = dict[str, Any]
# Every workload may resolve names: egress to the cluster DNS.
DNS_EGRESS: Manifest = {
    "to": [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ],
    "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
}


def initial_wave(spec: Mapping[str, Any]) -> Wave:
    """Initiatives with pilot districts start as pilots; the others go straight citywide."""
    return Wave.PILOT if spec.get("pilotDistricts") else Wave.CITYWIDE


def plan(validated: ValidatedBlueprint) -> list[Manifest]:
    """Every object the operator creates for a blueprint, each initiative in its first wave."""
    manifests = namespace_objects(validated.blueprint)
    for resource in initiative_resources(validated):
        manifests.append(resource)
        manifests += initiative_children(
            resource["spec"], validated.catalogue, initial_wave(resource["spec"])
        )
    return manifests


def namespace_objects(blueprint: Blueprint) -> list[Manifest]:
    """The city namespace (Pod Security restricted) and its default-deny NetworkPolicy."""
    labels = city_labels(blueprint.name)
    pod_security = {
        f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "audit", "warn")
    }
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": blueprint.namespace, "labels": {**labels, **pod_security}},
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {
                "name": "default-deny",
                "namespace": blueprint.namespace,
                "labels": labels,
            },
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        },
    ]


def initiative_resources(validated: ValidatedBlueprint) -> list[Manifest]:
    """One Initiative object per enabled initiative, in blueprint order."""
    return [
        _initiative_resource(validated, initiative) for initiative in validated.blueprint.enabled
    ]


def _initiative_resource(validated: ValidatedBlueprint, initiative: InitiativeSpec) -> Manifest:
    blueprint, catalogue = validated.blueprint, validated.catalogue
    entry = catalogue.entries[initiative.ref]
    privacy = privacy_settings(blueprint, initiative, entry, validated.profile)
    spec: dict[str, Any] = {
        "city": blueprint.name,
        "ref": entry.id,
        "area": entry.area,
        "title": entry.title,
        # not the blueprint's own version: a new blueprint version that does not change this
        # initiative writes nothing to it (the city's history keeps blueprint versions)
        "catalogueVersion": catalogue.version,
        "jurisdiction": blueprint.jurisdiction,
        "parameters": as_stored({**entry.parameter_defaults, **initiative.parameters}),
        "districts": list(blueprint.districts),
        "pilotDistricts": list(initiative.pilot_districts),
        "gate": {
            "healthyFor": initiative.gate.healthy_for,
            "approval": initiative.gate.approval,
            # the default is left out, so Initiatives made before the field keep their spec
            **(
                {"progressDeadline": initiative.gate.progress_deadline}
                if initiative.gate.progress_deadline != DEFAULT_PROGRESS_DEADLINE
                else {}
            ),
        },
        "dependsOn": list(initiative.depends_on),
        "privacy": {"consent": privacy.consent, "categories": list(privacy.categories)},
        "sharing": {
            "provides": [
                {"consumer": a.consumer, "dataProduct": a.data_product}
                for a in blueprint.data_sharing
                if a.producer == entry.id
            ],
            "receives": [
                {"producer": a.producer, "dataProduct": a.data_product}
                for a in blueprint.data_sharing
                if a.consumer == entry.id
            ],
        },
    }
    if privacy.retention_days is not None:
        spec["privacy"]["retentionDays"] = privacy.retention_days
    if initiative.secret_refs:
        spec["secretRefs"] = {key: dict(ref) for key, ref in initiative.secret_refs.items()}
    return {
        "apiVersion": API_VERSION,
        "kind": INITIATIVE,
        "metadata": {
            "name": object_name(entry.id),
            "namespace": blueprint.namespace,
            "labels": initiative_labels(blueprint.name, entry.id),
        },
        "spec": spec,
    }


WORKLOAD_KINDS = frozenset({"ConfigMap", "Deployment"})
# The text revisions and config hashes are taken of: `json.dumps(value, sort_keys=True)`, made
# by one encoder that skips the check for circular references (the objects are built here, as
# trees): a third of the time of hashing a plan of 1,268 objects.
_HASHED = json.JSONEncoder(sort_keys=True, check_circular=False)
# The Initiative spec fields its workloads (ConfigMap and Deployments) render from, with the
# catalogue entry: all a revision is made of, so a revision can be rendered again from them
# (an Initiative's status keeps its last good revision's, see `revision_spec`).
REVISION_FIELDS = (
    "city",
    "ref",
    "catalogueVersion",
    "jurisdiction",
    "parameters",
    "districts",
    "privacy",
    "secretRefs",
)


def revision_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of an Initiative `spec` that its citywide workloads render from."""
    return {key: spec[key] for key in REVISION_FIELDS if key in spec}


_REVISIONS: dict[tuple[int, str], tuple[Catalogue, str]] = {}
_REVISIONS_KEPT = 4096  # a country's initiatives (each key about half a kilobyte)


def workload_revision(spec: Mapping[str, Any], catalogue: Catalogue) -> str:
    """The revision of what `spec` runs: a short stable hash of its citywide workloads."""
    return _kept_revision(spec, catalogue)


def _kept_revision(
    spec: Mapping[str, Any], catalogue: Catalogue, citywide: list[Manifest] | None = None
) -> str:
    """`workload_revision`, kept per catalogue and revision fields: the operator asks again
    for the same spec on every event of an initiative's children and on every resync, and
    rendering the citywide workloads to hash them was most of such a reconcile's time.
    `citywide`: those workloads, not yet labelled, when the caller has rendered them anyway.
    The catalogue is kept with its revisions, so the identity they are filed under is never
    another catalogue's."""
    key = (id(catalogue), _HASHED.encode(revision_spec(spec)))
    kept = _REVISIONS.get(key)
    if kept is None:
        rendered = _workloads(spec, catalogue, Wave.CITYWIDE) if citywide is None else citywide
        kept = (catalogue, _revision(rendered))
        if len(_REVISIONS) >= _REVISIONS_KEPT:
            _REVISIONS.clear()
        _REVISIONS[key] = kept
    return kept[1]


def _revision(citywide: list[Manifest]) -> str:
    """The hash of citywide workloads not yet labelled with it."""
    return hashlib.sha256(_HASHED.encode(citywide).encode()).hexdigest()[:10]


def initiative_revisions(validated: ValidatedBlueprint) -> dict[str, str]:
    """Each enabled initiative's revision (catalogue id -> the `citykit.io/revision` its
    workloads carry), as `citykit plan` and `citykit diff` show them."""
    return {
        resource["spec"]["ref"]: workload_revision(resource["spec"], validated.catalogue)
        for resource in initiative_resources(validated)
    }


def initiative_children(
    spec: Mapping[str, Any], catalogue: Catalogue, wave: Wave
) -> list[Manifest]:
    """ServiceAccount, ConfigMap, Deployments, Services and NetworkPolicy of one initiative;
    the workloads labelled with their revision."""
    account, *shared = shared_children(spec, catalogue)
    return [account, *_labelled(spec, catalogue, wave), *shared]


def revision_workloads(
    spec: Mapping[str, Any], catalogue: Catalogue, revision: str
) -> list[Manifest] | None:
    """The citywide ConfigMap and Deployments of `revision`, rendered again from `spec` (its
    `revision_spec`, as an Initiative's status keeps its last good revision's), so a running
    revision is restored while the Initiative's own spec is another's (an upgrade's
    candidate, a revision that rolled back). None when `spec` no longer renders `revision`
    (a citykit that renders differently): then what runs is left as it is."""
    manifests = _workloads(spec, catalogue, Wave.CITYWIDE)
    if _kept_revision(spec, catalogue, manifests) != revision:
        return None
    return _with_revision(manifests, revision)


def _labelled(spec: Mapping[str, Any], catalogue: Catalogue, wave: Wave) -> list[Manifest]:
    """`spec`'s workloads in `wave`, each labelled with the revision `spec` renders (hashed
    from these very workloads when they are the citywide ones and the revision is not kept)."""
    manifests = _workloads(spec, catalogue, wave)
    revision = _kept_revision(spec, catalogue, manifests if wave == Wave.CITYWIDE else None)
    return _with_revision(manifests, revision)


def _with_revision(manifests: list[Manifest], revision: str) -> list[Manifest]:
    for manifest in manifests:
        manifest["metadata"]["labels"][REVISION_LABEL] = revision
    return manifests


def candidate_children(spec: Mapping[str, Any], catalogue: Catalogue) -> list[Manifest]:
    """An upgrade's candidate: `spec`'s ConfigMap and Deployments for the pilot districts,
    named with CANDIDATE_SUFFIX and labelled CANDIDATE_LABEL, so they run beside the
    citywide objects of the running revision (the initiative's Services reach both)."""
    revision = workload_revision(spec, catalogue)
    config = f"{object_name(spec['ref'])}-config"
    manifests = _workloads(spec, catalogue, Wave.PILOT)
    for manifest in manifests:
        metadata = manifest["metadata"]
        metadata["name"] += CANDIDATE_SUFFIX
        metadata["labels"].update({REVISION_LABEL: revision, CANDIDATE_LABEL: "true"})
        if manifest["kind"] == "Deployment":
            template = manifest["spec"]["template"]
            template["metadata"]["labels"][CANDIDATE_LABEL] = "true"
            # its own selector: the citywide Deployment's ReplicaSets never count its Pods
            manifest["spec"]["selector"]["matchLabels"][CANDIDATE_LABEL] = "true"
            for container in template["spec"]["containers"]:
                for source in container["envFrom"]:
                    if source["configMapRef"]["name"] == config:
                        source["configMapRef"]["name"] = config + CANDIDATE_SUFFIX
    return manifests


def _meta(spec: Mapping[str, Any], name: str, extra: Mapping[str, str] | None = None) -> Manifest:
    labels = initiative_labels(spec["city"], spec["ref"])
    return {
        "name": name,
        "namespace": city_namespace(spec["city"]),
        "labels": {**labels, **(extra or {})},
    }


def _component_labels(spec: Mapping[str, Any], component: Component) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": component.name,
        "app.kubernetes.io/part-of": object_name(spec["ref"]),
    }


def _workloads(spec: Mapping[str, Any], catalogue: Catalogue, wave: Wave) -> list[Manifest]:
    """The ConfigMap and one Deployment per component: what changes from one revision to the
    next. They read only the spec's REVISION_FIELDS."""
    entry = catalogue.entries[spec["ref"]]
    name = object_name(entry.id)
    config = _config_data(spec, wave)
    config_hash = hashlib.sha256(_HASHED.encode(config).encode()).hexdigest()[:16]
    manifests: list[Manifest] = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _meta(spec, f"{name}-config"),
            "data": config,
        }
    ]
    for component in entry.components:
        component_labels = _component_labels(spec, component)
        manifests.append(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": _meta(
                    spec, f"{name}-{component.name}", {**component_labels, WAVE_LABEL: str(wave)}
                ),
                "spec": _deployment_spec(
                    spec,
                    name,
                    component,
                    wave,
                    {**initiative_labels(spec["city"], entry.id), **component_labels},
                    config_hash,
                ),
            }
        )
    return manifests


def shared_children(spec: Mapping[str, Any], catalogue: Catalogue) -> list[Manifest]:
    """The ServiceAccount, Services and NetworkPolicy: what every revision of the initiative
    shares, following its spec at once."""
    entry = catalogue.entries[spec["ref"]]
    name = object_name(entry.id)
    manifests: list[Manifest] = [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": _meta(spec, name),
            "automountServiceAccountToken": False,
        }
    ]
    for component in entry.components:
        if component.ports:
            manifests.append(
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": _meta(
                        spec, f"{name}-{component.name}", _component_labels(spec, component)
                    ),
                    "spec": {
                        "selector": {
                            INITIATIVE_LABEL: name,
                            "app.kubernetes.io/name": component.name,
                        },
                        "ports": [
                            {
                                "name": port["name"],
                                "port": port["port"],
                                "targetPort": port["name"],
                                "protocol": "TCP",
                            }
                            for port in component.ports
                        ],
                    },
                }
            )
    manifests.append(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": _meta(spec, name),
            "spec": _network_policy_spec(spec, entry, catalogue),
        }
    )
    return manifests


def as_stored(value: Any) -> Any:
    """`value` with its numbers as the API server hands them back.

    The API server decodes a JSON number to an int64 when its text is an integer and to a
    float64 otherwise, and Go writes a float64 without a fraction and below 1e21 as an
    integer: `200.0` is stored and read back as `200`. The operator renders from the stored
    Initiative, so `plan` renders (and hashes) from the same numbers, and shows exactly what
    will be deployed."""
    if isinstance(value, dict):
        return {key: as_stored(item) for key, item in value.items()}
    if isinstance(value, list):
        return [as_stored(item) for item in value]
    if (
        isinstance(value, float)
        and math.isfinite(value)
        and value.is_integer()
        and abs(value) < 1e21
    ):
        return int(Decimal(repr(value)))  # Go's shortest digits, as the API server writes
    return value


def _config_data(spec: Mapping[str, Any], wave: Wave) -> dict[str, str]:
    privacy = spec["privacy"]
    districts = spec["pilotDistricts"] if wave == Wave.PILOT else spec["districts"]
    return {
        "CITYKIT_CITY": spec["city"],
        "CITYKIT_INITIATIVE": spec["ref"],
        "CITYKIT_WAVE": wave,
        "CITYKIT_DISTRICTS": ",".join(districts),
        "CITYKIT_JURISDICTION": spec["jurisdiction"],
        "CITYKIT_CONSENT_MODE": privacy["consent"],
        "CITYKIT_DATA_CATEGORIES": ",".join(privacy["categories"]),
        "CITYKIT_RETENTION_DAYS": str(privacy.get("retentionDays", "")),
        "parameters.json": json.dumps(as_stored(spec["parameters"]), sort_keys=True, indent=2),
    }


def _deployment_spec(
    spec: Mapping[str, Any],
    name: str,
    component: Component,
    wave: Wave,
    pod_labels: Mapping[str, str],
    config_hash: str,
) -> dict[str, Any]:
    component_spec = component.spec
    user = component_spec.get("runAsUser", DEFAULT_USER)
    writable = [
        "/tmp",
        *[path for path in component_spec.get("writablePaths", []) if path != "/tmp"],
    ]
    volumes = [{"name": f"writable-{index}", "emptyDir": {}} for index in range(len(writable))]
    container: dict[str, Any] = {
        "name": component.name,
        "image": component_spec["image"],
        "envFrom": [{"configMapRef": {"name": f"{name}-config"}}],
        "resources": component_spec["resources"],
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": f"writable-{index}", "mountPath": path} for index, path in enumerate(writable)
        ],
    }
    if component_spec.get("args"):
        container["args"] = list(component_spec["args"])
    env = [
        {"name": key, "value": value}
        for key, value in sorted(component_spec.get("env", {}).items())
    ]
    env += [
        {"name": key, "valueFrom": {"secretKeyRef": {"name": ref["name"], "key": ref["key"]}}}
        for key, ref in sorted(spec.get("secretRefs", {}).items())
    ]
    if env:
        container["env"] = env
    if component.ports:
        container["ports"] = [
            {"name": port["name"], "containerPort": port["port"], "protocol": "TCP"}
            for port in component.ports
        ]
    for kind, probe in sorted(component_spec.get("probes", {}).items()):
        container[f"{kind}Probe"] = _probe(probe, component)
    replicas = component_spec.get("replicas", {}).get(wave, DEFAULT_REPLICAS[wave])
    selector = {INITIATIVE_LABEL: name, "app.kubernetes.io/name": component.name}
    return {
        "replicas": replicas,
        "selector": {"matchLabels": selector},
        "template": {
            "metadata": {
                "labels": {**pod_labels, WAVE_LABEL: str(wave)},
                "annotations": {CONFIG_HASH_ANNOTATION: config_hash},
            },
            "spec": {
                "serviceAccountName": name,
                "automountServiceAccountToken": False,
                "securityContext": restricted_pod_security(user),
                "containers": [container],
                "volumes": volumes,
            },
        },
    }


def restricted_pod_security(user: int) -> dict[str, Any]:
    """The pod-level settings Pod Security "restricted" asks for, running as `user`."""
    return {
        "runAsNonRoot": True,
        "runAsUser": user,
        "runAsGroup": user,
        "fsGroup": user,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _probe(probe: Mapping[str, Any], component: Component) -> dict[str, Any]:
    port = probe.get("port") or component.ports[0]["name"]
    action: dict[str, Any] = (
        {"tcpSocket": {"port": port}}
        if probe.get("tcp") or "httpPath" not in probe
        else {"httpGet": {"path": probe["httpPath"], "port": port}}
    )
    return {
        **action,
        "initialDelaySeconds": probe.get("initialDelaySeconds", 5),
        "periodSeconds": 10,
    }


def _network_policy_spec(
    spec: Mapping[str, Any], entry: Entry, catalogue: Catalogue
) -> dict[str, Any]:
    """Allow exactly: traffic inside the initiative, DNS, its platform services, the
    declared data-sharing flows in both directions, and public ports from anywhere."""
    own = {"podSelector": {"matchLabels": {INITIATIVE_LABEL: object_name(entry.id)}}}
    ingress: list[dict[str, Any]] = [{"from": [own]}]
    for flow in spec["sharing"]["provides"]:
        ingress.append(
            {
                "from": [
                    {
                        "podSelector": {
                            "matchLabels": {INITIATIVE_LABEL: object_name(flow["consumer"])}
                        }
                    }
                ],
                **_all_ports(entry),
            }
        )
    public = [
        {"port": port["port"], "protocol": "TCP"}
        for component in entry.components
        for port in component.ports
        if port.get("public")
    ]
    if public:
        ingress.append({"ports": public})
    egress: list[dict[str, Any]] = [
        {"to": [own]},
        DNS_EGRESS,
    ]
    for service_id in entry.platform_services:
        service = catalogue.platform_services[service_id]
        egress.append(
            {
                "to": [{"podSelector": {"matchLabels": {PLATFORM_SERVICE_LABEL: service_id}}}],
                "ports": [{"port": service.port, "protocol": "TCP"}],
            }
        )
    for flow in spec["sharing"]["receives"]:
        producer = catalogue.entries[flow["producer"]]
        egress.append(
            {
                "to": [
                    {"podSelector": {"matchLabels": {INITIATIVE_LABEL: object_name(producer.id)}}}
                ],
                **_all_ports(producer),
            }
        )
    return {
        "podSelector": own["podSelector"],
        "policyTypes": ["Ingress", "Egress"],
        "ingress": ingress,
        "egress": egress,
    }


def _all_ports(entry: Entry) -> dict[str, Any]:
    """`{"ports": [...]}` for every port the initiative serves; none means no restriction."""
    ports = sorted({port["port"] for component in entry.components for port in component.ports})
    return {"ports": [{"port": port, "protocol": "TCP"} for port in ports]} if ports else {}
