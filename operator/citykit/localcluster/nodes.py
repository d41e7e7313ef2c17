"""The fake Nodes KWOK plays kubelet for.

They carry no taint (KWOK's own examples taint their nodes so only tolerating pods land on
them), so an ordinary Deployment schedules exactly as it would on a real cluster. Each node is
in its own zone, for topology spread, and has its own podCIDR, so pod IPs are unique.
"""

from __future__ import annotations

from typing import Any

from citykit.localcluster.commandlines import FAKE_NODE_ANNOTATION

NODE_COUNT = 3
# Simulated capacity costs nothing, and a whole city must fit: a 200-initiative blueprint
# runs about 900 Pods citywide, past three kubelet-default nodes (110 Pods each).
# Each node's /20 podCIDR holds its 1000 Pods.
_ALLOCATABLE = {"cpu": "256", "memory": "1Ti", "pods": "1000"}


def fake_node(index: int) -> dict[str, Any]:
    """Node `index`; KWOK's node stage fills in conditions and node info, keeping our sizes."""
    name = f"citykit-node-{index}"
    key, value = FAKE_NODE_ANNOTATION
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {key: value, "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "topology.kubernetes.io/zone": f"zone-{chr(ord('a') + index)}",
                "type": "kwok",
            },
        },
        "spec": {"podCIDR": f"10.244.{16 * index}.0/20", "podCIDRs": [f"10.244.{16 * index}.0/20"]},
        "status": {
            "allocatable": _ALLOCATABLE,
            "capacity": _ALLOCATABLE,
            "addresses": [
                {"type": "InternalIP", "address": f"172.31.0.{index + 10}"},
                {"type": "Hostname", "address": name},
            ],
        },
    }


def fake_nodes(count: int = NODE_COUNT) -> list[dict[str, Any]]:
    return [fake_node(index) for index in range(count)]
