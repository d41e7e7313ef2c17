"""How big a city's namespace must be, from what its blueprint runs citywide (pure).

A ResourceQuota that is too small does not fail loudly: the ReplicaSet simply cannot create
its pods and the rollout stalls. So `citykit new-city` sizes the quota from the blueprint
(every initiative citywide, plus the shared platform services, plus headroom for rolling
updates), and the Pulumi program refuses a stack whose quota no longer covers its blueprint.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction

from citykit.core.model.catalogue import Catalogue, PlatformService
from citykit.core.model.validation import ValidatedBlueprint
from citykit.core.render.objects import DEFAULT_REPLICAS

_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")
_UNITS = {
    None: Fraction(1),
    "m": Fraction(1, 1000),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "Ki": Fraction(2**10),
    "Mi": Fraction(2**20),
    "Gi": Fraction(2**30),
    "Ti": Fraction(2**40),
}
GI = Fraction(2**30)
# Pods a Deployment may add during a rolling update (maxSurge 25%) and a margin for jobs.
HEADROOM = Fraction(5, 4)
# What a container without resources gets (the LimitRange); platform services use it too.
CONTAINER_DEFAULTS: Mapping[str, Mapping[str, str]] = {
    "request": {"cpu": "100m", "memory": "128Mi"},
    "limit": {"cpu": "500m", "memory": "512Mi"},
}
QUOTA_KEYS = (
    "requests.cpu",
    "requests.memory",
    "limits.cpu",
    "limits.memory",
    "pods",
    "requests.storage",
    "persistentvolumeclaims",
)


def quantity(text: str | int) -> Fraction:
    """A Kubernetes quantity (`500m`, `2`, `128Mi`, `1.5Gi`) as an exact number."""
    match = _QUANTITY.match(str(text))
    if match is None:
        raise ValueError(f"not a Kubernetes quantity: {text!r}")
    return Fraction(match.group(1)) * _UNITS[match.group(2)]


@dataclass(frozen=True)
class Footprint:
    """What a city's namespace holds when every initiative runs citywide, keyed like a quota."""

    amounts: Mapping[str, Fraction]

    def quota(self, headroom: Fraction = HEADROOM) -> dict[str, str]:
        """ResourceQuota `hard` values: whole cores, whole GiB, whole counts, rounded up."""
        hard = {}
        for key in QUOTA_KEYS:
            amount = self.amounts[key] * headroom
            is_bytes = key.endswith(("memory", "storage"))
            hard[key] = f"{math.ceil(amount / GI)}Gi" if is_bytes else str(math.ceil(amount))
        return hard

    def shortfalls(self, hard: Mapping[str, str | int]) -> dict[str, str]:
        """Quota keys whose value is below the footprint, with what is needed at least."""
        need = self.quota(Fraction(1))
        return {key: need[key] for key in QUOTA_KEYS if quantity(hard[key]) < self.amounts[key]}


def footprint(
    validated: ValidatedBlueprint,
    services: Iterable[PlatformService],
    defaults: Mapping[str, Mapping[str, str]] = CONTAINER_DEFAULTS,
) -> Footprint:
    """Every enabled initiative's components at their citywide replicas, and one pod per
    shared platform service at the container defaults with its storage claim."""
    totals = dict.fromkeys(QUOTA_KEYS, Fraction(0))

    def add(replicas: int, resources: Mapping[str, Mapping[str, str]]) -> None:
        totals["pods"] += replicas
        for bound, values in (("requests", resources["requests"]), ("limits", resources["limits"])):
            for resource in ("cpu", "memory"):
                totals[f"{bound}.{resource}"] += replicas * quantity(values[resource])

    catalogue: Catalogue = validated.catalogue
    for initiative in validated.blueprint.enabled:
        for component in catalogue.entries[initiative.ref].components:
            replicas = {**DEFAULT_REPLICAS, **component.spec.get("replicas", {})}
            add(max(replicas.values()), component.spec["resources"])
    for service in services:
        add(1, {"requests": defaults["request"], "limits": defaults["limit"]})
        if service.storage:
            totals["requests.storage"] += quantity(service.storage)
            totals["persistentvolumeclaims"] += 1
    return Footprint(totals)


def namespace_sizing(
    namespace: str,
    labels: Mapping[str, str],
    hard: Mapping[str, str | int],
    defaults: Mapping[str, Mapping[str, str]],
) -> list[dict[str, object]]:
    """The namespace's ResourceQuota and the LimitRange that gives containers defaults."""
    metadata = {"namespace": namespace, "labels": dict(labels)}
    return [
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "city-quota", **metadata},
            "spec": {"hard": {key: str(hard[key]) for key in QUOTA_KEYS}},
        },
        {
            "apiVersion": "v1",
            "kind": "LimitRange",
            "metadata": {"name": "container-defaults", **metadata},
            "spec": {
                "limits": [
                    {
                        "type": "Container",
                        "defaultRequest": dict(defaults["request"]),
                        "default": dict(defaults["limit"]),
                    }
                ]
            },
        },
    ]
