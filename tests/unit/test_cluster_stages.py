"""KWOK's stage files make fake Nodes Ready and scheduled Pods Running, Ready and deletable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from citykit.localcluster.nodes import fake_nodes
from citykit.toolchain.locations import local_cluster_module


def stages(file: str) -> dict[str, dict[str, Any]]:
    documents = yaml.safe_load_all(Path(local_cluster_module() / "kwok" / file).read_text())
    return {doc["metadata"]["name"]: doc for doc in documents}


def selector(stage: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["key"]: e for e in stage["spec"]["selector"]["matchExpressions"]}


@pytest.mark.parametrize(
    ("file", "kind", "names"),
    [
        ("node-stages.yaml", "Node", {"node-initialize", "node-heartbeat-with-lease"}),
        ("pod-stages.yaml", "Pod", {"pod-ready", "pod-complete", "pod-delete"}),
    ],
)
def test_stage_files_hold_kwok_stages_for_their_kind(file: str, kind: str, names: set[str]) -> None:
    found = stages(file)

    assert set(found) == names
    for stage in found.values():
        assert stage["apiVersion"] == "kwok.x-k8s.io/v1alpha1" and stage["kind"] == "Stage"
        assert stage["spec"]["resourceRef"] == {"apiGroup": "v1", "kind": kind}


def test_node_initialize_marks_a_not_ready_node_ready_and_running() -> None:
    stage = stages("node-stages.yaml")["node-initialize"]
    ready = '.status.conditions.[] | select( .type == "Ready" ) | .status'

    assert selector(stage)[ready] == {"key": ready, "operator": "NotIn", "values": ["True"]}
    template = stage["spec"]["next"]["statusTemplate"]
    assert "range NodeConditions" in template and "phase: Running" in template
    assert "with .status.allocatable" in template, "the sizes set on our fake nodes are kept"


def test_pod_ready_makes_a_pending_pod_running_ready_with_an_ip() -> None:
    stage = stages("pod-stages.yaml")["pod-ready"]

    assert selector(stage)[".status.phase"]["values"] == ["Pending"]
    assert selector(stage)[".metadata.deletionTimestamp"]["operator"] == "DoesNotExist"
    template = stage["spec"]["next"]["statusTemplate"]
    for field in ("type: Ready", "type: ContainersReady", "phase: Running", "podIP:"):
        assert field in template


def test_pod_delete_removes_pods_marked_for_deletion() -> None:
    stage = stages("pod-stages.yaml")["pod-delete"]

    assert selector(stage)[".metadata.deletionTimestamp"]["operator"] == "Exists"
    assert stage["spec"]["next"] == {"delete": True}


def test_fake_nodes_are_untainted_and_annotated_for_kwok() -> None:
    nodes = fake_nodes()

    assert [n["metadata"]["name"] for n in nodes] == [f"citykit-node-{i}" for i in range(3)]
    for node in nodes:
        assert "taints" not in node["spec"]
        assert node["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake"
    assert len({n["spec"]["podCIDR"] for n in nodes}) == 3
