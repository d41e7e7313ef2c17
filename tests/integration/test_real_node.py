"""What a city installs, run as it runs there: the operator image, built here without Docker,
imported into a real node's containerd (no registry), installed by `helm install` as the
README says, its two replicas real containers under a real kubelet: in-cluster credentials,
probes, a read-only root, a non-root user. Initiative Pods stay on the KWOK nodes.
"""

from __future__ import annotations

import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from citykit.kube.wait import wait_for
from citykit.localcluster import control_plane, realnode
from citykit.localcluster.state import LocalCluster
from citykit.toolchain.image import USER_ID, image_reference
from tests.cities import all_live, blueprint, create_blueprint, deployments
from tests.conftest import REPOSITORY

CHART = REPOSITORY / "charts" / "citykit-operator"
VALUES = CHART / "ci" / "real-node-values.yaml"
NAMESPACE = "citykit-system"
RELEASE = "citykit-operator"
SELECTOR = f"app.kubernetes.io/name={RELEASE}"
# Deadlines a busy 2-core machine meets; how fast each step is belongs to benchmarks/.
READY_SECONDS = 600


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, operator_image: None
) -> Iterator[LocalCluster]:
    """A cluster of its own with the real node (one per host), purged afterwards: the
    node's containers are stopped and its mounts released."""
    state = tmp_path_factory.mktemp("real-node")
    started = control_plane.up("real-node", state, real_node=True)
    yield started
    control_plane.down(state, purge=True)


@pytest.fixture(scope="module")
def api(cluster: LocalCluster) -> client.ApiClient:
    return config.new_client_from_config(str(cluster.kubeconfig))


@pytest.fixture(scope="module")
def kubectl(cluster: LocalCluster) -> Any:
    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(cluster.layout.bin / "kubectl"), f"--kubeconfig={cluster.kubeconfig}", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert not check or done.returncode == 0, f"kubectl {args}: {done.stderr}"
        return done

    return run


@pytest.fixture(scope="module")
def release(helm: Path, cluster: LocalCluster, api: client.ApiClient) -> str:
    """The README's `helm install` line, with the real node's values, into a namespace that
    enforces Pod Security restricted."""
    client.CoreV1Api(api).create_namespace(
        client.V1Namespace(
            metadata=client.V1ObjectMeta(
                name=NAMESPACE, labels={"pod-security.kubernetes.io/enforce": "restricted"}
            )
        )
    )
    done = subprocess.run(
        [
            str(helm),
            "install",
            RELEASE,
            str(CHART),
            "--namespace",
            NAMESPACE,
            "--values",
            str(VALUES),
            "--kubeconfig",
            str(cluster.kubeconfig),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    wait_for(lambda: len(ready_pods(api)) == 2, READY_SECONDS, "both operator Pods Ready")
    return RELEASE


def operator_pods(api: client.ApiClient) -> list[client.V1Pod]:
    pods = client.CoreV1Api(api).list_namespaced_pod(NAMESPACE, label_selector=SELECTOR).items
    return [pod for pod in pods if pod.metadata.deletion_timestamp is None]


def ready_pods(api: client.ApiClient) -> list[client.V1Pod]:
    return [
        pod
        for pod in operator_pods(api)
        if any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])
    ]


def lease_holder(api: client.ApiClient) -> str | None:
    lease = client.CoordinationV1Api(api).read_namespaced_lease(RELEASE, NAMESPACE)
    return lease.spec.holder_identity


def active_pod(api: client.ApiClient) -> str | None:
    """The Pod whose operator holds the Lease (identities are `<pod name>_<suffix>`)."""
    holder = lease_holder(api) or ""
    names = [pod.metadata.name for pod in ready_pods(api)]
    return next((name for name in names if holder.startswith(f"{name}_")), None)


def roll_out(api: client.ApiClient, city: str, initiatives: int) -> None:
    """Tallinn's first `initiatives`, renamed `city`, created and waited for until Live."""
    create_blueprint(api, blueprint("tallinn", city, keep=initiatives))
    wait_for(lambda: all_live(api, city, initiatives), READY_SECONDS, f"{city} Live")


def test_both_replicas_run_the_built_image_on_the_real_node(
    api: client.ApiClient, release: str
) -> None:
    pods = ready_pods(api)
    assert {pod.spec.node_name for pod in pods} == {realnode.NODE_NAME}
    for pod in pods:
        [status] = pod.status.container_statuses
        assert status.image.endswith(image_reference())
        assert status.container_id.startswith("containerd://")
        assert pod.status.pod_ip.startswith(realnode.POD_SUBNET.rsplit(".", 2)[0])


def test_the_container_is_non_root_with_a_read_only_root_and_no_shell(
    api: client.ApiClient, release: str, kubectl: Any
) -> None:
    pod = ready_pods(api)[0].metadata.name
    probe = (
        "import os\n"
        "print(os.getuid(), os.getgid())\n"
        "print(open('/var/run/secrets/kubernetes.io/serviceaccount/namespace').read())\n"
        "print('KUBECONFIG' in os.environ, os.path.exists(os.path.expanduser('~/.kube')))\n"
        "try:\n    open('/usr/local/probe', 'w')\nexcept OSError as error:\n"
        "    print(error.strerror)\n"
    )
    done = kubectl("exec", "-n", NAMESPACE, pod, "--", "python3.11", "-c", probe)
    assert done.stdout.split("\n") == [
        f"{USER_ID} {USER_ID}",
        NAMESPACE,
        "False False",
        "Read-only file system",
        "",
    ]
    shell = kubectl("exec", "-n", NAMESPACE, pod, "--", "/bin/sh", "-c", "true", check=False)
    assert shell.returncode != 0
    assert "no such file or directory" in shell.stderr.lower()


def test_the_active_replica_holds_the_lease_and_logs_it(
    api: client.ApiClient, release: str, kubectl: Any
) -> None:
    active = wait_for(lambda: active_pod(api), READY_SECONDS, "a Pod holding the Lease")
    logs = kubectl("logs", "-n", NAMESPACE, active).stdout
    assert f"acquired lease {NAMESPACE}/{RELEASE}: this operator is active" in logs
    [standby] = [pod.metadata.name for pod in ready_pods(api) if pod.metadata.name != active]
    assert "waiting for lease" in kubectl("logs", "-n", NAMESPACE, standby).stdout


def test_a_city_reaches_live_through_the_containerised_operator(
    api: client.ApiClient, release: str
) -> None:
    roll_out(api, "real-node", 4)
    pods = client.CoreV1Api(api).list_namespaced_pod("city-real-node").items
    assert pods and all(pod.spec.node_name != realnode.NODE_NAME for pod in pods)


def test_the_metrics_service_answers_through_its_cluster_ip(
    api: client.ApiClient, release: str
) -> None:
    """kube-proxy routes the Service's ClusterIP on the node, as for any in-cluster client."""
    service = client.CoreV1Api(api).read_namespaced_service(f"{RELEASE}-metrics", NAMESPACE)
    port = service.spec.ports[0].port
    url = f"http://{service.spec.cluster_ip}:{port}/metrics"

    def scrape() -> str | None:
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                text: str = answer.read().decode()
                return text
        except OSError:
            return None

    assert "citykit_api_writes_total" in wait_for(scrape, READY_SECONDS, f"an answer from {url}")


def test_the_standby_takes_over_when_the_active_pod_is_deleted(
    api: client.ApiClient, release: str, kubectl: Any
) -> None:
    active = wait_for(lambda: active_pod(api), READY_SECONDS, "a Pod holding the Lease")
    kubectl("delete", "pod", "-n", NAMESPACE, active, "--wait=false")
    successor = wait_for(
        lambda: (name := active_pod(api)) != active and name,
        READY_SECONDS,
        "another Pod to hold the Lease",
    )
    assert successor != active
    roll_out(api, "after-handover", 2)
    assert deployments(api, "real-node")  # the first city is still there, converged
    assert all_live(api, "real-node", 4)


def test_the_nodes_image_store_holds_the_operator_image_by_its_digest(
    cluster: LocalCluster, release: str
) -> None:
    """Imported, not pulled: containerd names it as the chart asks for it."""
    listed = realnode.ctr(cluster.state_dir, "images", "list", "--quiet")
    assert listed.returncode == 0, listed.stderr
    names = listed.stdout.split()
    assert any(name.endswith(image_reference()) for name in names), names
