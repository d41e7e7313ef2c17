"""`cluster up` resumes a recorded cluster instead of replacing it, and only `down --purge`
deletes data. The binaries are the failure tests' tiny crashing scripts, so what is under
test is the decision (what to start, on which ports, what to keep), not Kubernetes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from citykit.localcluster import control_plane
from citykit.localcluster.commandlines import Layout, NodePorts, Ports
from citykit.localcluster.errors import ClusterError
from citykit.localcluster.ports import free_ports
from citykit.localcluster.state import LocalCluster, load, save
from citykit.toolchain.locations import local_cluster_module
from tests.conftest import run_cli

ALL_ALIVE = dict.fromkeys(control_plane.COMPONENTS, True)
KWOK_ONLY = Layout(Path("/bin"), Path("/state"), Path("/infra"), Ports(1, 2, 3, 4, 5))
WITH_REAL_NODE = replace(KWOK_ONLY, real_node=NodePorts(6, 7, 8, 9))


def test_a_running_cluster_needs_nothing_started() -> None:
    assert control_plane.to_start(ALL_ALIVE, KWOK_ONLY) == ()


def test_only_the_dead_components_are_started_again_in_dependency_order() -> None:
    alive = {**ALL_ALIVE, "kube-scheduler": False, "etcd": False}

    assert control_plane.to_start(alive, KWOK_ONLY) == ("etcd", "kube-scheduler")


def test_a_component_that_never_started_is_started() -> None:
    alive = {"etcd": True, "kube-apiserver": True}

    assert control_plane.to_start(alive, KWOK_ONLY) == (
        "kube-controller-manager",
        "kube-scheduler",
        "kwok",
    )


def test_a_real_nodes_components_start_after_the_control_plane() -> None:
    alive = {**ALL_ALIVE, "kwok": False, "containerd": True}

    assert control_plane.to_start(alive, WITH_REAL_NODE) == ("kwok", "kubelet", "kube-proxy")


def test_every_listening_component_has_its_recorded_ports() -> None:
    ports = Ports(1, 2, 3, 4, 5)

    assert control_plane.component_ports(ports) == {
        "etcd": (1, 2),
        "kube-apiserver": (3,),
        "kube-controller-manager": (4,),
        "kube-scheduler": (5,),
        "kwok": (),
        "containerd": (),
        "kubelet": (),
        "kube-proxy": (),
    }
    assert control_plane.component_ports(ports, NodePorts(6, 7, 8, 9))["kubelet"] == (6, 7)


@pytest.fixture
def recorded(crashing_binaries: Path, tmp_path: Path) -> LocalCluster:
    """A stopped cluster with credentials, etcd data and five recorded ports."""
    state = tmp_path / "state"
    layout = Layout(crashing_binaries, state, local_cluster_module(), Ports(*free_ports(5)))
    for folder in (layout.pki, layout.logs, state / "etcd"):
        folder.mkdir(parents=True)
    (state / "etcd" / "member").write_text("every object of the cluster")
    control_plane.write_credentials("t", layout)
    cluster = LocalCluster("t", "v0", layout)
    save(cluster)
    return cluster


def test_a_failed_restart_keeps_the_data_the_ports_and_the_credentials(
    recorded: LocalCluster,
) -> None:
    ca = (recorded.layout.pki / "ca.crt").read_bytes()

    with pytest.raises(ClusterError, match="etcd exited while waiting for etcd to be healthy"):
        control_plane.up("t", recorded.state_dir)

    assert (recorded.state_dir / "etcd" / "member").read_text() == "every object of the cluster"
    assert (recorded.layout.pki / "ca.crt").read_bytes() == ca
    reloaded = load(recorded.state_dir)
    assert reloaded is not None and reloaded.layout.ports == recorded.layout.ports


def test_lost_credentials_are_named_and_nothing_is_deleted(recorded: LocalCluster) -> None:
    (recorded.layout.pki / "ca.key").unlink()

    with pytest.raises(ClusterError) as refused:
        control_plane.up("t", recorded.state_dir)

    assert "lacks pki/ca.key" in refused.value.message
    assert "`citykit cluster down --purge` deletes it" in refused.value.message
    assert (recorded.state_dir / "etcd" / "member").is_file()


def test_another_api_port_for_a_recorded_cluster_is_refused(recorded: LocalCluster) -> None:
    [other] = free_ports(1)

    with pytest.raises(ClusterError, match=r"serves its API on port \d+; to move it"):
        control_plane.up("t", recorded.state_dir, api_port=other)


def test_down_keeps_the_cluster_files_and_down_purge_deletes_them(
    recorded: LocalCluster,
) -> None:
    kept = run_cli("cluster", "down")

    assert kept.exit_code == 0
    assert "its data stays in" in kept.stderr
    assert (recorded.state_dir / "etcd" / "member").is_file()
    assert load(recorded.state_dir) is not None

    purged = run_cli("cluster", "down", "--purge")

    assert purged.exit_code == 0
    assert "stopped and its files deleted" in purged.stderr
    assert not recorded.state_dir.exists()
