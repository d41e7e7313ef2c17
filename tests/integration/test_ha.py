"""Two operators with `--peering` on the real local cluster: one acts, one waits on the
Lease; SIGKILL the active one mid-rollout and the standby holds the Lease and runs, and the
city reaches Live with nothing created twice. Waits are conditions with deadlines a busy
machine meets (tests/deadlines.py); how long the handover takes is printed, a figure to
measure beside a floor, not to assert (the README states its bound of 15 s)."""

from __future__ import annotations

import calendar
import http.client
import math
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from citykit import kube
from citykit.controller.leaderelection import LeaseTimes
from citykit.kube.crds import install_crds
from citykit.kube.wait import wait_for
from citykit.localcluster.operator_process import OperatorProcess
from citykit.localcluster.ports import free_ports
from citykit.localcluster.state import LocalCluster
from tests import audit
from tests.cities import (
    all_live,
    blueprint,
    create_blueprint,
    delete_blueprint,
    deployments,
    initiatives,
)
from tests.deadlines import EVENTUALLY, PROMPTLY, quiet

LEASE, NAMESPACE = "citykit-ha-test", "default"
WAITING = re.compile(r"waiting for lease \S+ as (\S+)")
WRITES = ("create", "update", "patch", "delete", "deletecollection")


@pytest.fixture(scope="module")
def api(kube_cluster: LocalCluster) -> client.ApiClient:
    dynamic = kube.dynamic_client(kube_cluster.kubeconfig)
    install_crds(dynamic)
    return dynamic.client


@pytest.fixture
def pair(kube_cluster: LocalCluster, tmp_path: Path) -> Iterator[list[OperatorProcess]]:
    """Two `citykit operator run --peering` processes, as the chart's two replicas."""
    operators = [
        OperatorProcess(
            kube_cluster.kubeconfig,
            tmp_path / f"operator-{index}.log",
            args=("--peering", LEASE, "--peering-namespace", NAMESPACE),
        )
        for index in range(2)
    ]
    yield operators
    for operator in operators:
        operator.kill()


def log(operator: OperatorProcess) -> str:
    return operator.log.read_text(errors="replace") if operator.log.is_file() else ""


def identity(operator: OperatorProcess) -> str:
    found = wait_for(
        lambda: operator.check_alive() or WAITING.search(log(operator)),
        PROMPTLY,
        "the operator to name itself",
    )
    return str(found.group(1))


def active(operator: OperatorProcess) -> bool:
    operator.check_alive()
    return "Activity 'start_workers' succeeded" in log(operator)


def holder(api: client.ApiClient) -> str | None:
    try:
        lease = client.CoordinationV1Api(api).read_namespaced_lease(LEASE, NAMESPACE)
    except client.exceptions.ApiException as error:
        if error.status == 404:
            return None
        raise
    return lease.spec.holder_identity


def active_and_standby(api: client.ApiClient, pair: list[OperatorProcess]) -> tuple[str, str]:
    """The first operator started and running kopf on the Lease, then the second started and
    waiting for it: their identities, as the Lease names them."""
    first, second = pair
    first.start()
    first_id = identity(first)
    wait_for(lambda: active(first) and holder(api) == first_id, PROMPTLY, "the first to be active")
    second.start()
    return first_id, identity(second)


def writes_between(audit_log: Path, start: float, end: float) -> list[dict[str, Any]]:
    """Every write by a user that is not a cluster component, stamped in [start, end)."""
    found = []
    for event in audit.events(audit_log):
        at = calendar.timegm(time.strptime(event["stageTimestamp"][:19], "%Y-%m-%dT%H:%M:%S"))
        user = event.get("user", {}).get("username", "")
        if start <= at < end and not user.startswith("system:") and event["verb"] in WRITES:
            found.append(event)
    return found


def test_killing_the_active_operator_mid_rollout_hands_over_to_the_standby(
    api: client.ApiClient, pair: list[OperatorProcess], kube_cluster: LocalCluster
) -> None:
    first, second = pair
    first_id, second_id = active_and_standby(api, pair)
    data = blueprint("hong-kong", "handover", gate="3s", keep=8)
    create_blueprint(api, data)
    wait_for(lambda: len(deployments(api, "handover")) > 0, PROMPTLY, "the rollout under way")
    assert not all_live(api, "handover", len(data["spec"]["initiatives"]))
    assert not active(second), "a standby runs no kopf"
    assert holder(api) == first_id

    first.kill()
    killed = time.monotonic()
    wait_for(
        lambda: holder(api) == second_id, PROMPTLY, "the standby to hold the lease", interval=0.1
    )
    held = time.monotonic() - killed
    wait_for(lambda: active(second), PROMPTLY, "the standby to run", interval=0.1)
    running = time.monotonic() - killed
    print(f"handover: lease after {held:.1f}s, operator running after {running:.1f}s")

    expected = len(data["spec"]["initiatives"])
    wait_for(
        lambda: second.check_alive() or all_live(api, "handover", expected),
        EVENTUALLY,
        "every initiative Live under the new active operator",
    )
    names = [d.metadata.name for d in deployments(api, "handover")]
    assert len(names) == len(set(names))
    assert len(initiatives(api, "handover")) == expected
    delete_blueprint(api, "handover")


def test_the_lease_is_the_only_write_of_an_idle_pair_at_its_stated_rate(
    api: client.ApiClient, pair: list[OperatorProcess], kube_cluster: LocalCluster
) -> None:
    active_and_standby(api, pair)
    window = 30.0

    def startup_writes() -> int:  # all but the Lease's renewals, which go on
        everything = writes_between(kube_cluster.audit_log, 0, math.inf)
        return sum(event["objectRef"]["resource"] != "leases" for event in everything)

    wait_for(quiet(startup_writes, 5), PROMPTLY, "the active operator's start-up writes to end")
    start = time.time()
    time.sleep(window)  # the measured window
    writes = writes_between(kube_cluster.audit_log, start, start + window)
    per_minute = len(writes) * 60 / window
    print(f"writes of the idle pair: {len(writes)} in {window:.0f}s = {per_minute:.0f}/min")

    assert {(e["objectRef"]["resource"], e["objectRef"]["name"]) for e in writes} == {
        ("leases", LEASE)
    }
    assert len(writes) <= window / LeaseTimes().renew + 1


def healthz(port: int) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/healthz")
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def test_a_standby_answers_its_liveness_probe_and_hands_the_port_to_kopf_when_it_takes_over(
    api: client.ApiClient, pair: list[OperatorProcess]
) -> None:
    first, second = pair
    first_port, second_port = free_ports(2)
    first.args = (*first.args, "--liveness", f"http://127.0.0.1:{first_port}/healthz")
    second.args = (*second.args, "--liveness", f"http://127.0.0.1:{second_port}/healthz")
    active_and_standby(api, pair)

    status, text = wait_for(
        lambda: second.check_alive() or _answer(second_port), PROMPTLY, "the standby's probe"
    )
    assert (status, text) == (200, "standby: waiting for the lease\n")

    first.kill()
    wait_for(lambda: active(second), PROMPTLY, "the standby to run")
    status, text = wait_for(lambda: _answer(second_port), PROMPTLY, "kopf's probe")
    assert status == 200 and "standby" not in text


def _answer(port: int) -> tuple[int, str] | None:
    try:
        return healthz(port)
    except OSError:
        return None
