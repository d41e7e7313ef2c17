"""citykit's dynamic provider for Kubernetes objects: what it replaces, and when it calls
an object ready (its apply and delete paths run against the real cluster in
tests/integration/test_pulumi_up.py)."""

from __future__ import annotations

import copy
from typing import Any

from citykit.infra.kubeprovider import ENVIRONMENT, KubernetesObjectProvider, identity, ready

DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "document-db", "namespace": "city-testville"},
    "spec": {"replicas": 1},
}


def changed(edit: Any) -> dict[str, Any]:
    new = copy.deepcopy(DEPLOYMENT)
    edit(new)
    return new


def props(manifest: dict[str, Any], cluster: Any = ENVIRONMENT) -> dict[str, Any]:
    return {"manifest": manifest, "cluster": dict(cluster)}


def test_an_unchanged_manifest_is_no_change() -> None:
    diff = KubernetesObjectProvider().diff(
        "id", props(DEPLOYMENT), props(copy.deepcopy(DEPLOYMENT))
    )
    assert diff.changes is False


def test_a_changed_spec_is_updated_in_place() -> None:
    new = changed(lambda m: m["spec"].update(replicas=2))
    diff = KubernetesObjectProvider().diff("id", props(DEPLOYMENT), props(new))
    assert (diff.changes, diff.replaces) == (True, [])


def test_a_new_name_or_namespace_replaces_the_object() -> None:
    for edit in (
        lambda m: m["metadata"].update(name="mongo"),
        lambda m: m["metadata"].update(namespace="city-b"),
    ):
        diff = KubernetesObjectProvider().diff("id", props(DEPLOYMENT), props(changed(edit)))
        assert (diff.changes, diff.replaces, diff.delete_before_replace) == (
            True,
            ["manifest"],
            True,
        )


def test_another_cluster_replaces_the_object() -> None:
    moved = props(DEPLOYMENT, {"kubeconfig": "/etc/city/kubeconfig", "context": "city-cluster"})
    diff = KubernetesObjectProvider().diff("id", props(DEPLOYMENT), moved)
    assert (diff.changes, diff.replaces) == (True, ["manifest"])


def test_identity_names_cluster_scoped_objects_without_namespace() -> None:
    assert identity(DEPLOYMENT) == "apps/v1/Deployment/city-testville/document-db"
    assert (
        identity({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "city-b"}})
        == "v1/Namespace/city-b"
    )


def test_a_deployment_is_ready_when_its_rollout_is_complete() -> None:
    def observed(**status: int) -> dict[str, Any]:
        return {
            **DEPLOYMENT,
            "metadata": {**DEPLOYMENT["metadata"], "generation": 2},
            "status": status,
        }

    assert not ready(DEPLOYMENT, None)
    assert not ready(
        DEPLOYMENT, observed(observedGeneration=1, updatedReplicas=1, availableReplicas=1)
    )
    assert not ready(
        DEPLOYMENT, observed(observedGeneration=2, updatedReplicas=1, availableReplicas=0)
    )
    assert ready(DEPLOYMENT, observed(observedGeneration=2, updatedReplicas=1, availableReplicas=1))


def test_a_crd_is_ready_once_established() -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "x"},
    }
    assert not ready(
        crd, {**crd, "status": {"conditions": [{"type": "NamesAccepted", "status": "True"}]}}
    )
    assert ready(
        crd, {**crd, "status": {"conditions": [{"type": "Established", "status": "True"}]}}
    )
