"""Faults during a rollout, on a local cluster of this module's own (its components are
killed): the API server and etcd killed and restarted, and an API that stays away. The
operator reconnects by itself, or exits non-zero to be restarted, and the city reaches
Live with nothing created twice. Waits are conditions with deadlines."""

from __future__ import annotations

import base64
import http.client
import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from citykit import kube
from citykit.kube.crds import install_crds
from citykit.kube.wait import wait_for
from citykit.localcluster import control_plane
from citykit.localcluster.operator_process import OperatorProcess
from citykit.localcluster.state import LocalCluster
from tests import audit
from tests.cities import (
    GROUP,
    VERSION,
    all_live,
    blueprint,
    create_blueprint,
    delete_blueprint,
    deployments,
    initiatives,
    namespace_gone,
)
from tests.cluster_faults import (
    THROTTLE_FLAGS,
    apiserver_with,
    current,
    plain_user_kubeconfig,
    sigkill,
)
from tests.deadlines import EVENTUALLY, PROMPTLY
from tests.own_cluster import own_cluster


@pytest.fixture(scope="module")
def cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalCluster]:
    for started in own_cluster(request, tmp_path_factory, "faults"):
        install_crds(kube.dynamic_client(started.kubeconfig))
        yield started


@pytest.fixture(scope="module")
def api(cluster: LocalCluster) -> client.ApiClient:
    return kube.dynamic_client(cluster.kubeconfig).client


@pytest.fixture
def operator(cluster: LocalCluster, tmp_path: Path) -> Iterator[OperatorProcess]:
    running = OperatorProcess(cluster.kubeconfig, tmp_path / "operator.log")
    yield running
    running.kill()


def started(operator: OperatorProcess, *args: str) -> OperatorProcess:
    operator.args = args
    operator.start()
    wait_for(
        lambda: operator.check_alive() or "Activity 'start_workers' succeeded" in log(operator),
        PROMPTLY,
        "the operator to start",
    )
    return operator


def log(operator: OperatorProcess) -> str:
    return operator.log.read_text(errors="replace") if operator.log.is_file() else ""


def rolling_out(api: client.ApiClient, name: str) -> dict[str, Any]:
    """A city of 8 initiatives with short gates, created and past its first writes."""
    data = blueprint("hong-kong", name, gate="3s", keep=8)
    create_blueprint(api, data)
    wait_for(
        lambda: len(initiatives(api, name)) == len(data["spec"]["initiatives"]),
        PROMPTLY,
        "the initiatives created",
    )
    return data


def converged(
    api: client.ApiClient, name: str, data: dict[str, Any], operator: OperatorProcess
) -> None:
    expected = len(data["spec"]["initiatives"])
    wait_for(
        lambda: operator.check_alive() or all_live(api, name, expected),
        EVENTUALLY,  # how fast: benchmarks/chaos.py's figure (an etcd restart took 382 s there)
        "every initiative Live after the fault",
    )
    names = [d.metadata.name for d in deployments(api, name)]
    assert len(names) == len(set(names))
    for item in deployments(api, name):
        owners = item.metadata.owner_references
        assert len(owners) == 1 and owners[0].controller


@pytest.mark.parametrize("component", ["kube-apiserver", "etcd"])
def test_a_component_killed_mid_rollout_and_restarted_the_city_still_goes_live(
    cluster: LocalCluster, api: client.ApiClient, operator: OperatorProcess, component: str
) -> None:
    # A bound far beyond the restart, however loaded the machine: this test is about kopf
    # reconnecting by itself (the next one is about the bound).
    started(operator, "--api-timeout", "600")
    name = f"restarted-{component.split('-')[-1]}"
    data = rolling_out(api, name)

    sigkill(current(cluster), component)
    control_plane.up("faults", cluster.state_dir)

    converged(api, name, data, operator)
    assert operator.alive, "the outage was shorter than the bound: kopf reconnects by itself"


def test_an_api_away_past_the_bound_makes_the_operator_exit_1_and_a_restart_converges(
    cluster: LocalCluster, api: client.ApiClient, operator: OperatorProcess
) -> None:
    bound = 5.0
    started(operator, "--api-timeout", f"{bound:g}")
    data = rolling_out(api, "outlived")

    sigkill(current(cluster), "kube-apiserver")
    killed = time.monotonic()
    wait_for(lambda: operator.returncode is not None, PROMPTLY, "the operator to exit")
    exited = time.monotonic() - killed

    assert operator.returncode == 1
    assert exited >= bound
    assert "the Kubernetes API has not answered for" in log(operator)
    control_plane.up("faults", cluster.state_dir)
    started(operator, "--api-timeout", f"{bound:g}")  # what its Deployment does
    converged(api, "outlived", data, operator)


def test_another_field_manager_loses_citykits_fields_and_keeps_its_own(
    cluster: LocalCluster, api: client.ApiClient, operator: OperatorProcess
) -> None:
    started(operator)
    data = blueprint("tallinn", "shared", gate="1s", keep=2)
    create_blueprint(api, data)
    wait_for(lambda: all_live(api, "shared", 2), EVENTUALLY, "the city Live")
    apps = client.AppsV1Api(api)
    target = deployments(api, "shared")[0]
    name, replicas = target.metadata.name, target.spec.replicas
    ours = {"metadata": {"annotations": {"example.org/on-call": "team-7"}}}

    apps.patch_namespaced_deployment(
        name,
        "city-shared",
        {**ours, "spec": {"replicas": replicas + 2}},
        field_manager="someone-else",
    )

    def restored() -> bool:
        found = apps.read_namespaced_deployment(name, "city-shared")
        return bool(found.spec.replicas == replicas)

    wait_for(restored, PROMPTLY, "citykit's replicas taken back", interval=0.2)
    found = apps.read_namespaced_deployment(name, "city-shared")
    assert found.metadata.annotations["example.org/on-call"] == "team-7"
    managers = {entry.manager for entry in found.metadata.managed_fields}
    assert {"citykit", "someone-else"} <= managers


def test_a_deleted_citys_children_are_left_to_the_garbage_collector(
    cluster: LocalCluster, api: client.ApiClient, operator: OperatorProcess
) -> None:
    """The collector deletes a deleted city's Initiatives, then their children; a child's
    DELETED event seen before its Initiative's must not make the operator write it again.
    Without a controller-manager nothing is collected, so the Initiative stays for good."""
    started(operator)
    create_blueprint(api, blueprint("tallinn", "deleted", gate="1s", keep=1))
    wait_for(lambda: all_live(api, "deleted", 1), EVENTUALLY, "the city Live")
    name = deployments(api, "deleted")[0].metadata.name
    apps = client.AppsV1Api(api)
    sigkill(current(cluster), "kube-controller-manager")
    try:
        delete_blueprint(api, "deleted")
        # Events of one kind arrive in order: once the operator made the next city's
        # namespace, it has seen the deletion.
        create_blueprint(api, blueprint("tallinn", "after-deleted", gate="1s", keep=1))
        wait_for(lambda: not namespace_gone(api, "city-after-deleted"), PROMPTLY, "the next city")
        apps.delete_namespaced_deployment(name, "city-deleted")  # as the collector would

        time.sleep(10)  # the measured window: the operator writes a missing child within 1 s
        assert name not in [d.metadata.name for d in deployments(api, "deleted")]
    finally:
        control_plane.up(cluster.name, cluster.state_dir)
        delete_blueprint(api, "after-deleted")


def etcd(cluster: LocalCluster, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """etcd's v3 JSON gateway, straight to the cluster's etcd."""
    connection = http.client.HTTPConnection(
        "127.0.0.1", cluster.layout.ports.etcd_client, timeout=10
    )
    try:
        connection.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        answer: dict[str, Any] = json.loads(connection.getresponse().read())
        return answer
    finally:
        connection.close()


def lists_of(api: client.ApiClient, resource: str) -> float:
    """LIST requests the API server has served for `resource` since it started."""
    text = api.call_api("GET", f"{api.configuration.host}/metrics").read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("apiserver_request_total{")
        and f'resource="{resource}"' in line
        and 'verb="LIST"' in line
    )


def test_history_compacted_while_the_api_was_down_is_relisted_without_a_hot_loop(
    cluster: LocalCluster, api: client.ApiClient, operator: OperatorProcess
) -> None:
    started(operator)
    create_blueprint(api, blueprint("tallinn", "compacted", gate="1s", keep=1))
    wait_for(lambda: all_live(api, "compacted", 1), EVENTUALLY, "the first city Live")
    custom = client.CustomObjectsApi(api)
    seen = custom.get_cluster_custom_object(GROUP, VERSION, "cityblueprints", "compacted")[
        "metadata"
    ]["resourceVersion"]

    sigkill(current(cluster), "kube-apiserver")
    key = base64.b64encode(b"/citykit-test/compaction").decode()
    revision = int(etcd(cluster, "/v3/kv/put", {"key": key, "value": key})["header"]["revision"])
    etcd(cluster, "/v3/kv/compaction", {"revision": revision, "physical": True})
    control_plane.up("faults", cluster.state_dir)

    resumed = custom.list_cluster_custom_object(  # what the operator's resumed watch meets
        GROUP,
        VERSION,
        "cityblueprints",
        watch=True,
        resource_version=seen,
        timeout_seconds=1,
        _preload_content=False,
    )
    first = json.loads(resumed.read().decode().splitlines()[0])
    assert (first["type"], first["object"]["code"]) == ("ERROR", 410)
    create_blueprint(api, blueprint("tallinn", "after-compaction", gate="1s", keep=1))
    wait_for(
        lambda: operator.check_alive() or all_live(api, "after-compaction", 1),
        EVENTUALLY,
        "a city created after the compaction Live",
    )
    before = lists_of(api, "cityblueprints")
    time.sleep(10)  # the measured window: an operator stuck relisting would LIST again and again
    assert lists_of(api, "cityblueprints") - before == 0


THROTTLED_USER = "citykit-throttled"


def test_a_throttling_api_server_429s_are_backed_off_and_the_city_goes_live(
    cluster: LocalCluster, api: client.ApiClient, tmp_path: Path
) -> None:
    kubeconfig = plain_user_kubeconfig(cluster, THROTTLED_USER, tmp_path / "throttled.kubeconfig")
    operator = OperatorProcess(kubeconfig, tmp_path / "operator.log")
    data = blueprint("tallinn", "throttled", gate="1s", keep=6)
    expected = len(data["spec"]["initiatives"])
    with apiserver_with(cluster, *THROTTLE_FLAGS):
        started(operator)
        try:
            create_blueprint(api, data)
            wait_for(
                lambda: operator.check_alive() or all_live(api, "throttled", expected),
                EVENTUALLY,
                "every initiative Live under throttling",
            )
        finally:
            operator.kill()
    answered: Counter[int] = Counter()
    for event in audit.events(cluster.audit_log):
        if event.get("user", {}).get("username") == THROTTLED_USER:
            answered[event.get("responseStatus", {}).get("code", 0)] += 1
    print(f"throttled operator's writes by response code: {dict(answered)}")

    assert answered[429] > 0, "the limit was reached: the test throttled something"
    assert answered[429] <= sum(n for code, n in answered.items() if code != 429)
