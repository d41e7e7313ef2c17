"""Command lines of the five components, as pure functions of the cluster's layout.

Everything listens on 127.0.0.1 only, on ports chosen free at `up`; the flags mirror what
kubeadm sets where it matters for the operator (RBAC + Node authorization, PodSecurity,
service-account tokens, an audit log), and turn off what a single local member does not need
(leader election, fsync).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from citykit.localcluster import realnode
from citykit.localcluster.certs import SERVICE_CIDR

NODE_LEASE_SECONDS = 40
FAKE_NODE_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
POD_CIDR = "10.244.0.0/16"
FRONT_PROXY_CLIENT = "front-proxy-client"
# Every component is a Go program, and a city's wave keeps both cores of a small machine busy
# (the API server alone takes about half). Go collects garbage whenever the heap doubles;
# collecting at five times the live heap cut the API server's CPU for a Hangzhou rollout by
# about a tenth (docs/performance.md), and the soft limit puts the collector back to work
# before a country-sized run grows a component past it.
GO_RUNTIME = {"GOGC": "400", "GOMEMLIMIT": "3GiB"}


@dataclass(frozen=True)
class Ports:
    """The loopback ports one cluster uses."""

    etcd_client: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int


@dataclass(frozen=True)
class NodePorts:
    """The ports of a real node's kubelet and kube-proxy (`cluster up --real-node`)."""

    kubelet: int
    kubelet_healthz: int
    proxy_metrics: int
    proxy_healthz: int


@dataclass(frozen=True)
class Layout:
    """Where one cluster's binaries, PKI, data, configs and logs are."""

    bin: Path
    state: Path
    infra: Path
    ports: Ports
    real_node: NodePorts | None = None

    @property
    def pki(self) -> Path:
        return self.state / "pki"

    @property
    def logs(self) -> Path:
        return self.state / "logs"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.state / "kubeconfig"

    @property
    def audit_log(self) -> Path:
        return self.state / "audit.log"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports.apiserver}"

    def component_kubeconfig(self, component: str) -> Path:
        return self.state / f"{component}.kubeconfig"

    def owned_paths(self) -> list[Path]:
        """Everything `up` writes into the state folder, and nothing else."""
        names = (
            *("pki", "logs", "etcd", "node", "kubeconfig", "audit.log"),
            *("cluster.json", "cluster.tmp"),
        )
        kubeconfigs = self.state.glob("*.kubeconfig")
        return [*(self.state / name for name in names), *kubeconfigs]


def etcd(layout: Layout) -> list[str]:
    """A single member on plain HTTP over loopback; fsync off because the data is disposable."""
    client = f"http://127.0.0.1:{layout.ports.etcd_client}"
    peer = f"http://127.0.0.1:{layout.ports.etcd_peer}"
    return [
        str(layout.bin / "etcd"),
        "--name=citykit",
        f"--data-dir={layout.state / 'etcd'}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=citykit={peer}",
        "--unsafe-no-fsync",
        "--log-level=warn",
    ]


def kube_apiserver(layout: Layout) -> list[str]:
    """TLS with client certs, Node+RBAC authorization, PodSecurity, writes in the audit log."""
    pki = layout.pki
    node = (
        realnode.apiserver_flags(
            (pki / "apiserver-kubelet-client.crt", pki / "apiserver-kubelet-client.key")
        )
        if layout.real_node
        else [
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            # The pods are simulated; nothing in them can reach the API through a Service.
            "--endpoint-reconciler-type=none",
        ]
    )
    return [
        str(layout.bin / "kube-apiserver"),
        *node,
        f"--etcd-servers=http://127.0.0.1:{layout.ports.etcd_client}",
        f"--secure-port={layout.ports.apiserver}",
        f"--tls-cert-file={pki / 'apiserver.crt'}",
        f"--tls-private-key-file={pki / 'apiserver.key'}",
        f"--client-ca-file={pki / 'ca.crt'}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={pki / 'sa.pub'}",
        f"--service-account-signing-key-file={pki / 'sa.key'}",
        # The aggregation layer's front proxy, as kubeadm sets it up; without it every
        # delegated-auth client (controller-manager, scheduler) logs a missing CA bundle.
        f"--requestheader-client-ca-file={pki / 'ca.crt'}",
        f"--requestheader-allowed-names={FRONT_PROXY_CLIENT}",
        "--requestheader-username-headers=X-Remote-User",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        f"--proxy-client-cert-file={pki / f'{FRONT_PROXY_CLIENT}.crt'}",
        f"--proxy-client-key-file={pki / f'{FRONT_PROXY_CLIENT}.key'}",
        "--authorization-mode=Node,RBAC",
        "--enable-admission-plugins=NodeRestriction,PodSecurity",
        "--allow-privileged=true",
        f"--audit-policy-file={layout.infra / 'audit-policy.yaml'}",
        f"--audit-log-path={layout.audit_log}",
        "--profiling=false",
    ]


def _delegated_auth(layout: Layout, component: str, port: int) -> list[str]:
    kubeconfig = layout.component_kubeconfig(component)
    return [
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        "--leader-elect=false",
        "--profiling=false",
    ]


def kube_controller_manager(layout: Layout) -> list[str]:
    """Signs SA tokens and publishes the root CA, so namespaces get a usable `default` SA."""
    pki = layout.pki
    return [
        str(layout.bin / "kube-controller-manager"),
        *_delegated_auth(layout, "kube-controller-manager", layout.ports.controller_manager),
        "--use-service-account-credentials=true",
        f"--service-account-private-key-file={pki / 'sa.key'}",
        f"--root-ca-file={pki / 'ca.crt'}",
        f"--cluster-signing-cert-file={pki / 'ca.crt'}",
        f"--cluster-signing-key-file={pki / 'ca.key'}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        # A city's rollout moves hundreds of Pods at once on fake nodes; the stock limits
        # (20 QPS, 5 concurrent syncs) are sized for real kubelets and made every wave wait
        # on the controller-manager's client-side throttle, not on the operator.
        "--kube-api-qps=200",
        "--kube-api-burst=400",
        "--concurrent-deployment-syncs=20",
        "--concurrent-replicaset-syncs=20",
    ]


def kube_scheduler(layout: Layout) -> list[str]:
    """The stock scheduler; KWOK's nodes are ordinary Nodes to it."""
    return [
        str(layout.bin / "kube-scheduler"),
        *_delegated_auth(layout, "kube-scheduler", layout.ports.scheduler),
    ]


def kwok(layout: Layout) -> list[str]:
    """Plays kubelet for the annotated fake nodes, following our stage files."""
    stages = layout.infra / "kwok"
    key, value = FAKE_NODE_ANNOTATION
    return [
        str(layout.bin / "kwok"),
        f"--kubeconfig={layout.component_kubeconfig('kwok')}",
        f"--config={stages / 'node-stages.yaml'}",
        f"--config={stages / 'pod-stages.yaml'}",
        f"--manage-nodes-with-annotation-selector={key}={value}",
        f"--node-lease-duration-seconds={NODE_LEASE_SECONDS}",
        f"--cidr={POD_CIDR}",
    ]
