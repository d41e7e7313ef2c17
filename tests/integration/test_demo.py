"""`citykit demo` as a user runs it, on the test session's cluster: it resumes after a
timeout and exits 0 once the city is Live, having approved its manual gates itself."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from citykit.core.rollout.demo import enabled
from citykit.kube.wait import wait_for
from citykit.localcluster.state import LocalCluster
from tests.conftest import read_city
from tests.deadlines import EVENTUALLY

# The smallest example city (22 initiatives, 7 behind manual gates, dependencies three deep):
# the demo's approvals, resume and Live are the same for any city, and Hong Kong's 130 going
# Live on the operator is test_hong_kong_upgrade's (its 219 s here were the rollout's size).
CITY = "bay-city"


@pytest.fixture
def demo_env(kube_cluster: LocalCluster) -> Iterator[dict[str, str]]:
    """The demo finds the running session cluster through $CITYKIT_STATE; the city is
    deleted afterwards so later tests see an idle cluster. The demo stops its operator when
    it ends; nothing carries a finalizer, so the objects go without one, by owner references."""
    yield {**os.environ, "CITYKIT_STATE": str(kube_cluster.state_dir)}
    api = config.new_client_from_config(str(kube_cluster.kubeconfig))
    client.CustomObjectsApi(api).delete_cluster_custom_object(
        "citykit.io", "v1alpha1", "cityblueprints", CITY
    )

    def namespace_gone() -> bool:
        try:
            client.CoreV1Api(api).read_namespace(f"city-{CITY}")
        except ApiException as error:
            return error.status == 404
        return False

    wait_for(namespace_gone, EVENTUALLY, "the demo city's namespace to be collected")


def demo(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "citykit", "demo", "--city", CITY, "--gate", "2s", *args],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_demo_rolls_the_city_out_to_live_and_resumes_after_a_timeout(
    demo_env: dict[str, str], kube_cluster: Any
) -> None:
    cut_short = demo(demo_env, "--timeout", "1")
    assert cut_short.returncode == 1, cut_short.stderr
    assert f"demo: {CITY} is not Live after 1s" in cut_short.stderr
    assert "Traceback" not in cut_short.stderr

    finished = demo(demo_env, "--timeout", "600")
    assert finished.returncode == 0, finished.stdout + finished.stderr
    total = len(enabled(read_city(CITY)))
    assert f"{CITY} is Live: {total} initiatives" in finished.stdout

    api = config.new_client_from_config(str(kube_cluster.kubeconfig))
    items = client.CustomObjectsApi(api).list_namespaced_custom_object(
        "citykit.io", "v1alpha1", f"city-{CITY}", "initiatives"
    )["items"]
    assert len(items) == total and all(item["status"]["phase"] == "Live" for item in items)
    manual = [item for item in items if item["spec"]["gate"]["approval"] == "manual"]
    assert manual and all(item["status"].get("approvedBy") == "citykit-demo" for item in manual)
    said = cut_short.stdout + finished.stdout
    assert all(
        said.count(f"approved {item['spec']['ref']} as citykit-demo") == 1 for item in manual
    ), said
