"""The local cluster's real node: a kubelet, containerd and runc that run real containers.

KWOK's nodes run every initiative Pod as a simulation; the operator image must run for real
(in-cluster credentials, probes, a read-only root, a non-root user), so a cluster started
with `--real-node` adds one Node that a real kubelet serves. It is tainted, so only Pods that
tolerate it (the operator chart's, by its `ci/real-node-values.yaml`) land there; initiative
Pods stay on the KWOK nodes.

What a host needs: root, cgroups (v1 or v2; this kubelet is told to accept v1), Debian's
containerd, runc and containernetworking-plugins (tests/debian-packages.sh), and nftables
for kube-proxy. One real node per host: kube-proxy's nftables table and the kubelet's
`kubepods` cgroups have fixed names.

Pods reach the API through the `kubernetes` Service as in any cluster: kube-proxy routes its
ClusterIP to the API server, which then also listens on the node bridge's address.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from citykit.localcluster.certs import REAL_NODE_IP
from citykit.localcluster.errors import ClusterError
from citykit.toolchain.image import PAUSE_IMAGE

NODE_NAME = "citykit-real-node"
TAINT = {"key": "citykit.io/real-node", "value": "true", "effect": "NoSchedule"}
BRIDGE = "citykit0"
POD_SUBNET = "10.87.0.0/24"
NODE_IP = REAL_NODE_IP  # the bridge's address: the Pods' gateway, the API's and kubelet's
CNI_PLUGINS = Path("/usr/lib/cni")
_RUNTIME_ROOT = Path("/run/citykit")


def node_dir(state: Path) -> Path:
    return state / "node"


def runtime_dir(state: Path) -> Path:
    """Sockets live under /run, named by the state folder: a unix socket's path is limited to
    107 bytes, and a test's state folder can be deeper than that."""
    return _RUNTIME_ROOT / hashlib.sha256(str(state).encode()).hexdigest()[:12]


def containerd_socket(state: Path) -> Path:
    return runtime_dir(state) / "containerd.sock"


def containerd_config(state: Path) -> str:
    """containerd's own settings (config version 2, as Debian's 1.6 reads them)."""
    node = node_dir(state)
    return f"""version = 2
root = "{node / "containerd"}"
state = "{runtime_dir(state) / "containerd"}"

[grpc]
  address = "{containerd_socket(state)}"

[plugins."io.containerd.internal.v1.opt"]
  path = "{node / "containerd-opt"}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  disable_apparmor = true
  restrict_oom_score_adj = true

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_PLUGINS}"
    conf_dir = "{node / "cni"}"
"""


def cni_config(state: Path) -> dict[str, Any]:
    """One bridge, addresses from host-local; the bridge's address is the Pods' gateway, so
    traffic to the API (through kube-proxy's DNAT) is delivered on the host itself."""
    return {
        "cniVersion": "1.0.0",
        "name": "citykit",
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": POD_SUBNET, "gateway": NODE_IP}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(node_dir(state) / "ipam"),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def kubelet_config(state: Path, ca: Path, port: int, healthz_port: int) -> dict[str, Any]:
    """Client certificates and webhook authorization as kubeadm sets them (so `kubectl logs`
    goes through the API server's identity); cgroupfs, since no systemd runs here; cgroup v1
    accepted; images never garbage-collected (they were imported, not pulled)."""
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": NODE_IP,
        "port": port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": healthz_port,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(ca)},
        },
        "authorization": {"mode": "Webhook"},
        "containerRuntimeEndpoint": f"unix://{containerd_socket(state)}",
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": False,
        "failSwapOn": False,
        "registerWithTaints": [TAINT],
        "resolvConf": "/etc/resolv.conf",
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
        },
        "serializeImagePulls": False,
    }


_HOST_TOOLS = {
    "containerd": "containerd",
    "ctr": "containerd",
    "runc": "runc",
    "nft": "nftables",
    "ip": "iproute2",
}


def check_host() -> None:
    """What a real node needs of the host, checked before anything starts: one line naming
    what is missing and the Debian package that has it."""
    if os.geteuid() != 0:
        raise ClusterError(
            "a real node runs containers as root: run `cluster up --real-node` as root"
        )
    missing = {package for tool, package in _HOST_TOOLS.items() if shutil.which(tool) is None}
    if not (CNI_PLUGINS / "bridge").is_file():
        missing.add("containernetworking-plugins")
    if missing:
        packages = " ".join(sorted(missing))
        raise ClusterError(f"a real node needs {packages}: apt-get install {packages}")


def containerd(state: Path) -> list[str]:
    return [_tool("containerd"), f"--config={node_dir(state) / 'containerd.toml'}"]


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise ClusterError(f"{name} is not on PATH (apt-get install {_HOST_TOOLS[name]})")
    return found


def kubelet(bin_dir: Path, state: Path) -> list[str]:
    node = node_dir(state)
    return [
        str(bin_dir / "kubelet"),
        f"--config={node / 'kubelet.yaml'}",
        f"--kubeconfig={state / 'kubelet.kubeconfig'}",
        f"--root-dir={node / 'kubelet'}",
        f"--cert-dir={node / 'kubelet-pki'}",
        f"--hostname-override={NODE_NAME}",
        f"--node-ip={NODE_IP}",
        "--node-labels=type=real,citykit.io/real-node=true",
    ]


def kube_proxy(bin_dir: Path, state: Path, metrics_port: int, healthz_port: int) -> list[str]:
    """nftables mode (GA since 1.33): Debian 12 ships nft, and it leaves iptables alone."""
    return [
        str(bin_dir / "kube-proxy"),
        f"--kubeconfig={state / 'kube-proxy.kubeconfig'}",
        "--proxy-mode=nftables",
        f"--hostname-override={NODE_NAME}",
        f"--cluster-cidr={POD_SUBNET}",
        f"--metrics-bind-address=127.0.0.1:{metrics_port}",
        f"--healthz-bind-address=127.0.0.1:{healthz_port}",
        "--conntrack-max-per-core=0",  # leave the host's conntrack table size as it is
    ]


def apiserver_flags(kubelet_client: tuple[Path, Path]) -> list[str]:
    """What the API server adds for a real node: it listens on the bridge too (Pods dial it
    through the `kubernetes` Service, whose endpoint it keeps on its Lease) and presents a
    client certificate to the kubelet (logs, exec)."""
    cert, key = kubelet_client
    return [
        "--bind-address=0.0.0.0",
        f"--advertise-address={NODE_IP}",
        "--endpoint-reconciler-type=lease",
        f"--kubelet-client-certificate={cert}",
        f"--kubelet-client-key={key}",
        "--kubelet-preferred-address-types=InternalIP",
    ]


def write_configs(state: Path, ca: Path, kubelet_port: int, healthz_port: int) -> None:
    node = node_dir(state)
    (node / "cni").mkdir(parents=True, exist_ok=True)
    (node / "containerd.toml").write_text(containerd_config(state))
    (node / "cni" / "10-citykit.conflist").write_text(json.dumps(cni_config(state), indent=2))
    (node / "kubelet.yaml").write_text(
        json.dumps(kubelet_config(state, ca, kubelet_port, healthz_port), indent=2)
    )
    runtime_dir(state).mkdir(parents=True, exist_ok=True)


def ensure_bridge() -> None:
    """The bridge exists before the API server advertises its address (the CNI plugin would
    make it only with the first Pod)."""
    if subprocess.run(["ip", "link", "show", BRIDGE], capture_output=True).returncode != 0:
        subprocess.run(["ip", "link", "add", BRIDGE, "type", "bridge"], check=True)
    addresses = subprocess.run(
        ["ip", "-o", "-4", "addr", "show", "dev", BRIDGE], capture_output=True, text=True
    ).stdout
    if f" {NODE_IP}/" not in addresses:
        subprocess.run(["ip", "addr", "add", f"{NODE_IP}/24", "dev", BRIDGE], check=True)
    subprocess.run(["ip", "link", "set", BRIDGE, "up"], check=True)


def ctr(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`ctr` against the node's containerd, in the namespace the kubelet's images and
    containers live in; the caller decides what a failure means."""
    return subprocess.run(
        ["ctr", f"--address={containerd_socket(state)}", "--namespace=k8s.io", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def containerd_ready(state: Path) -> bool:
    return ctr(state, "version").returncode == 0


def import_images(state: Path, archives: list[Path]) -> None:
    """No registry: the images go straight into the node's image store, as k3s's air-gap
    folder does at start. Re-importing the same archive changes nothing."""
    for archive in archives:
        done = ctr(state, "images", "import", "--no-unpack=false", str(archive))
        if done.returncode != 0:
            raise ClusterError(f"importing {archive} into the real node failed: {done.stderr}")


def stop_containers(state: Path) -> None:
    """Kills every container of the node: they outlive containerd (their shims are their
    parents), so stopping the cluster without this would leave the operator running."""
    if not containerd_ready(state):
        return
    for task in ctr(state, "tasks", "list", "--quiet").stdout.split():
        ctr(state, "tasks", "kill", "--signal=SIGKILL", task)
    for task in ctr(state, "tasks", "list", "--quiet").stdout.split():
        ctr(state, "tasks", "delete", "--force", task)


def unmount(state: Path) -> None:
    """Unmounts what the kubelet and containerd mounted (volumes, image snapshots, sandbox
    /dev/shm), deepest first, then deletes the node's runtime folder, so nothing is left."""
    prefixes = (f"{node_dir(state)}/", f"{runtime_dir(state)}/")
    mounts = [
        fields[4]
        for fields in (
            line.split() for line in Path("/proc/self/mountinfo").read_text().splitlines()
        )
        if fields[4].startswith(prefixes)
    ]
    for mount in sorted(mounts, key=len, reverse=True):
        subprocess.run(["umount", "--lazy", mount], capture_output=True, check=False)
    shutil.rmtree(runtime_dir(state), ignore_errors=True)
