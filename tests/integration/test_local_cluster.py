"""The local cluster is a real one: controllers, scheduler, admission, CRDs, GC, kubectl.

Every wait is a condition polled against a deadline; the images are never pulled (KWOK
only simulates the containers), so their names are placeholders.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from citykit.kube.wait import wait_for
from citykit.localcluster.processes import is_alive
from citykit.localcluster.state import LocalCluster, load
from tests.cluster_faults import sigkill
from tests.deadlines import PROMPTLY
from tests.own_cluster import own_cluster

IMAGE = "citykit/placeholder:1.0"


@pytest.fixture(scope="module")
def api(kube_cluster: LocalCluster) -> client.ApiClient:
    return config.new_client_from_config(str(kube_cluster.kubeconfig))


@pytest.fixture
def namespace(api: client.ApiClient) -> Iterator[str]:
    """A fresh namespace per test, so tests never see each other's objects."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(api)
    core.create_namespace({"metadata": {"name": name}})
    yield name
    core.delete_namespace(name)


def deployment(name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": IMAGE}]},
            },
        },
    }


def ready_replicas(apps: client.AppsV1Api, name: str, namespace: str) -> int:
    return apps.read_namespaced_deployment_status(name, namespace).status.ready_replicas or 0


def test_deployment_pods_are_scheduled_on_fake_nodes_and_become_ready(
    api: client.ApiClient, namespace: str
) -> None:
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    apps.create_namespaced_deployment(namespace, deployment("web", replicas=3))

    wait_for(lambda: ready_replicas(apps, "web", namespace) == 3, PROMPTLY, "3 ready replicas")

    pods = core.list_namespaced_pod(namespace, label_selector="app=web").items
    assert len(pods) == 3
    for pod in pods:
        assert pod.status.phase == "Running"
        assert pod.spec.node_name.startswith("citykit-node-")
        assert pod.status.pod_ip


def test_restricted_namespace_rejects_privileged_pod(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    core.patch_namespace(
        namespace, {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}}
    )
    privileged = {
        "metadata": {"name": "privileged"},
        "spec": {
            "containers": [{"name": "app", "image": IMAGE, "securityContext": {"privileged": True}}]
        },
    }

    with pytest.raises(ApiException) as rejected:
        core.create_namespaced_pod(namespace, privileged)

    message = json.loads(rejected.value.body)["message"]
    assert rejected.value.status == 403
    assert 'violates PodSecurity "restricted:latest": privileged' in message


def test_custom_resource_definition_serves_objects_of_its_kind(
    api: client.ApiClient, namespace: str
) -> None:
    group = f"g{uuid.uuid4().hex[:8]}.citykit.test"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"gadgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {"size": {"type": "integer"}},
                                }
                            },
                        }
                    },
                }
            ],
        },
    }
    extensions, custom = client.ApiextensionsV1Api(api), client.CustomObjectsApi(api)
    extensions.create_custom_resource_definition(crd)
    try:
        wait_for(
            lambda: any(
                c.type == "Established" and c.status == "True"
                for c in extensions.read_custom_resource_definition(
                    f"gadgets.{group}"
                ).status.conditions
                or []
            ),
            PROMPTLY,
            "the CRD to be established",
        )
        gadget = {
            "apiVersion": f"{group}/v1",
            "kind": "Gadget",
            "metadata": {"name": "g1"},
            "spec": {"size": 3},
        }
        custom.create_namespaced_custom_object(group, "v1", namespace, "gadgets", gadget)

        stored = custom.get_namespaced_custom_object(group, "v1", namespace, "gadgets", "g1")
        assert stored["spec"] == {"size": 3}
    finally:
        extensions.delete_custom_resource_definition(f"gadgets.{group}")


def test_deleting_a_deployment_garbage_collects_its_replicasets_and_pods(
    api: client.ApiClient, namespace: str
) -> None:
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    apps.create_namespaced_deployment(namespace, deployment("doomed", replicas=2))
    wait_for(lambda: ready_replicas(apps, "doomed", namespace) == 2, PROMPTLY, "2 ready replicas")

    apps.delete_namespaced_deployment(
        "doomed", namespace, body=client.V1DeleteOptions(propagation_policy="Background")
    )

    wait_for(
        lambda: not apps.list_namespaced_replica_set(namespace, label_selector="app=doomed").items,
        PROMPTLY,
        "the ReplicaSet to be collected",
    )
    wait_for(
        lambda: not core.list_namespaced_pod(namespace, label_selector="app=doomed").items,
        PROMPTLY,
        "the Pods to be collected",
    )


def test_new_namespace_gets_a_default_service_account_and_the_root_ca(
    api: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(api)

    def exists(read: Callable[[], object]) -> bool:
        try:
            read()
        except ApiException as error:
            if error.status == 404:
                return False
            raise
        return True

    wait_for(
        lambda: exists(lambda: core.read_namespaced_service_account("default", namespace)),
        PROMPTLY,
        "the default ServiceAccount",
    )
    wait_for(
        lambda: exists(lambda: core.read_namespaced_config_map("kube-root-ca.crt", namespace)),
        PROMPTLY,
        "the kube-root-ca.crt ConfigMap",
    )


def test_audit_log_records_each_write_once_without_its_body(
    api: client.ApiClient, namespace: str, kube_cluster: LocalCluster
) -> None:
    name = f"audited-{uuid.uuid4().hex[:8]}"
    client.CoreV1Api(api).create_namespaced_config_map(
        namespace, {"metadata": {"name": name}, "data": {"k": "v"}}
    )

    def events() -> list[dict[str, Any]]:
        lines = kube_cluster.audit_log.read_text().splitlines()
        found = [json.loads(line) for line in lines if name in line]
        return [e for e in found if e.get("objectRef", {}).get("name") == name]

    (event,) = wait_for(events, PROMPTLY, "the audit event")
    assert event["verb"] == "create"
    assert event["level"] == "Metadata"
    assert event["stage"] == "ResponseComplete"
    assert "requestObject" not in event


def test_kubectl_with_the_written_kubeconfig_sees_ready_nodes(kube_cluster: LocalCluster) -> None:
    kubectl = shutil.which(
        "kubectl", path=f"{kube_cluster.layout.bin}{os.pathsep}{os.environ['PATH']}"
    )
    assert kubectl, "kubectl is neither in the cluster's bin folder nor on PATH"

    result = subprocess.run(
        [kubectl, "get", "nodes", "--no-headers"],
        env={**os.environ, "KUBECONFIG": str(kube_cluster.kubeconfig)},
        capture_output=True,
        text=True,
        timeout=PROMPTLY,
        check=True,
    )

    statuses = {line.split()[0]: line.split()[1] for line in result.stdout.splitlines()}
    assert statuses == {f"citykit-node-{i}": "Ready" for i in range(3)}


def test_cluster_up_env_and_down_purge_from_the_command_line_leave_no_process_nor_file(
    tmp_path: Path,
) -> None:
    """What a developer types: `eval "$(citykit cluster up)"`, kubectl, `cluster down --purge`."""
    env = {**os.environ, "CITYKIT_STATE": str(tmp_path / "state")}
    script = 'set -e; eval "$(citykit cluster up --name cli)"; kubectl get nodes --no-headers'
    shown = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    started = load(tmp_path / "state")
    assert started is not None and started.processes, shown.stderr

    down = subprocess.run(
        [sys.executable, "-m", "citykit", "cluster", "down", "--purge", "--name", "cli"],
        env=env,
        capture_output=True,
        text=True,
        timeout=PROMPTLY,
        check=False,
    )

    assert shown.returncode == 0, shown.stderr
    assert [line.split()[1] for line in shown.stdout.splitlines()] == ["Ready"] * 3
    assert down.returncode == 0, down.stderr
    assert [p.name for p in started.processes if is_alive(p)] == []
    assert not (tmp_path / "state").exists()


@pytest.fixture(scope="module")
def second_cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalCluster]:
    """A cluster of the tests' own, for killing its components without disturbing others."""
    yield from own_cluster(request, tmp_path_factory, "resumed")


def cluster_cli(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "citykit", "cluster", *args, "--name", "resumed"],
        env={**os.environ, "CITYKIT_STATE": str(state)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def a_config_map(cluster: LocalCluster) -> str:
    """An object written before the fault, to look for after it."""
    name = f"kept-{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(config.new_client_from_config(str(cluster.kubeconfig)))
    core.create_namespaced_config_map("default", {"metadata": {"name": name}, "data": {"k": name}})
    return name


@pytest.mark.parametrize("component", ["kube-apiserver", "etcd"])
def test_cluster_up_restarts_only_a_killed_component_and_keeps_every_object(
    second_cluster: LocalCluster, component: str
) -> None:
    before = load(second_cluster.state_dir)
    assert before is not None
    kept = a_config_map(before)
    kubeconfig = before.kubeconfig.read_bytes()
    sigkill(before, component)

    result = cluster_cli(before.state_dir, "up")

    after = load(before.state_dir)
    assert result.returncode == 0, result.stderr
    assert after is not None and after.layout.ports == before.layout.ports
    assert after.kubeconfig.read_bytes() == kubeconfig  # same CA, same admin credentials
    assert {p.name: p.pid for p in after.processes if p.name != component} == {
        p.name: p.pid for p in before.processes if p.name != component
    }
    assert all(is_alive(p) for p in after.processes)
    core = client.CoreV1Api(config.new_client_from_config(str(after.kubeconfig)))
    assert core.read_namespaced_config_map(kept, "default").data == {"k": kept}


def test_plain_down_keeps_the_data_and_up_brings_the_same_cluster_back(
    second_cluster: LocalCluster,
) -> None:
    before = load(second_cluster.state_dir)
    assert before is not None
    kept = a_config_map(before)

    stopped = cluster_cli(before.state_dir, "down")
    assert stopped.returncode == 0, stopped.stderr
    assert [p.name for p in before.processes if is_alive(p)] == []
    started = cluster_cli(before.state_dir, "up")

    after = load(before.state_dir)
    assert started.returncode == 0, started.stderr
    assert after is not None and after.server == before.server
    core = client.CoreV1Api(config.new_client_from_config(str(after.kubeconfig)))
    assert core.read_namespaced_config_map(kept, "default").data == {"k": kept}
