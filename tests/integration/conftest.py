"""The integration tests' real Kubernetes: one local control plane per test session.

The cluster is the one `citykit cluster up` starts (binaries built on first use and cached),
but in a state folder of its own under pytest's temporary directory, so it never collides
with a developer's cluster. When any test failed, the components' logs are kept and their
folder is named at the end of the test report.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from citykit import kube
from citykit.kube.crds import install_crds
from citykit.localcluster import control_plane
from citykit.localcluster.operator_process import OperatorProcess
from citykit.localcluster.state import LocalCluster
from citykit.toolchain.helm import ensure_helm
from tests.conftest import BACKGROUND
from tests.own_cluster import take_down


@pytest.fixture(scope="session")
def kube_cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalCluster]:
    """A running cluster; `.kubeconfig` is its admin kubeconfig, `.audit_log` its API writes."""
    terminal = request.config.pluginmanager.get_plugin("terminalreporter")

    def report(message: str) -> None:
        if terminal is not None:
            terminal.write_line(f"kube_cluster: {message}")

    cluster = control_plane.up("pytest", tmp_path_factory.mktemp("kube-cluster"), report=report)
    yield cluster
    take_down(request, cluster)


@pytest.fixture(scope="session")
def helm(request: pytest.FixtureRequest) -> Path:
    """The pinned helm binary, built from its Go module on first use (minutes, once; the
    session's background build has usually done it by the time a test asks)."""
    terminal = request.config.pluginmanager.get_plugin("terminalreporter")
    return ensure_helm(
        lambda message: terminal.write_line(f"helm: {message}") if terminal else None
    )


@pytest.fixture(scope="session")
def operator_image(request: pytest.FixtureRequest) -> None:
    """Asked for by what starts a real node, which builds the operator image itself (quick
    once its layers are cached): it waits for the session's background build of the image
    first, since two builds into one cache at once would write the same partial files."""
    background = request.config.stash.get(BACKGROUND, None)
    if background is not None:
        background.wait("image")


@pytest.fixture(scope="module")
def api(kube_cluster: LocalCluster) -> client.ApiClient:
    """A client of the cluster, with citykit's CRDs installed."""
    dynamic = kube.dynamic_client(kube_cluster.kubeconfig)
    install_crds(dynamic)
    return dynamic.client


@pytest.fixture(scope="module")
def operator(
    kube_cluster: LocalCluster, api: client.ApiClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """`citykit operator run` for this module's tests; its log is named at the end."""
    log = tmp_path_factory.mktemp("operator") / "operator.log"
    running = OperatorProcess(kube_cluster.kubeconfig, log)
    running.start()
    yield running
    running.kill()
    print(f"operator log: {log}")
