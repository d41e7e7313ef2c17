"""The real node's settings, as pure functions of the cluster's state folder: they agree with
each other and with the chart's real-node values (the taint it tolerates, the label it picks)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml

from citykit.localcluster import commandlines, realnode
from citykit.localcluster.commandlines import Layout, NodePorts, Ports
from citykit.toolchain.image import PAUSE_IMAGE
from tests.conftest import REPOSITORY

DEEP_STATE = Path("/tmp") / ("very-deep-folder/" * 12) / "state"
LAYOUT = Layout(Path("/bin"), DEEP_STATE, Path("/infra"), Ports(1, 2, 3, 4, 5))


def test_containerd_uses_the_built_sandbox_image_cgroupfs_and_our_cni_folder() -> None:
    config = tomllib.loads(realnode.containerd_config(DEEP_STATE))
    cri = config["plugins"]["io.containerd.grpc.v1.cri"]

    assert cri["sandbox_image"] == PAUSE_IMAGE
    assert cri["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is False
    assert cri["cni"]["conf_dir"] == str(DEEP_STATE / "node" / "cni")
    assert config["grpc"]["address"] == str(realnode.containerd_socket(DEEP_STATE))


def test_the_sockets_path_fits_a_unix_socket_whatever_the_state_folder() -> None:
    assert len(str(DEEP_STATE)) > 108
    assert len(str(realnode.containerd_socket(DEEP_STATE))) < 100


def test_the_kubelet_accepts_cgroup_v1_and_registers_tainted_on_the_bridge() -> None:
    config = realnode.kubelet_config(DEEP_STATE, Path("/pki/ca.crt"), 10250, 10248)

    assert config["failCgroupV1"] is False
    assert config["registerWithTaints"] == [realnode.TAINT]
    assert config["address"] == realnode.NODE_IP
    assert config["containerRuntimeEndpoint"].endswith(str(realnode.containerd_socket(DEEP_STATE)))
    assert config["authentication"]["anonymous"]["enabled"] is False


def test_pods_get_addresses_on_the_bridge_whose_address_is_their_gateway() -> None:
    [bridge, _] = realnode.cni_config(DEEP_STATE)["plugins"]
    [[subnet]] = bridge["ipam"]["ranges"]

    assert bridge["bridge"] == realnode.BRIDGE
    assert subnet == {"subnet": realnode.POD_SUBNET, "gateway": realnode.NODE_IP}


def test_the_api_server_listens_on_the_bridge_only_with_a_real_node() -> None:
    plain = commandlines.kube_apiserver(LAYOUT)
    with_node = commandlines.kube_apiserver(
        Layout(LAYOUT.bin, LAYOUT.state, LAYOUT.infra, LAYOUT.ports, NodePorts(6, 7, 8, 9))
    )

    assert "--bind-address=127.0.0.1" in plain
    assert "--endpoint-reconciler-type=none" in plain
    assert f"--advertise-address={realnode.NODE_IP}" in with_node
    assert "--endpoint-reconciler-type=lease" in with_node


def test_the_charts_real_node_values_tolerate_the_taint_and_pick_the_node() -> None:
    values = yaml.safe_load(
        (REPOSITORY / "charts" / "citykit-operator" / "ci" / "real-node-values.yaml").read_text()
    )
    [toleration] = values["tolerations"]
    labels = dict(
        label.split("=")
        for flag in realnode.kubelet(Path("/bin"), DEEP_STATE)
        if flag.startswith("--node-labels=")
        for label in flag.removeprefix("--node-labels=").split(",")
    )

    assert {k: toleration[k] for k in ("key", "value", "effect")} == realnode.TAINT
    assert values["nodeSelector"].items() <= labels.items()
    assert values["image"]["pullPolicy"] == "Never"
