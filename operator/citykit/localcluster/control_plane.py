"""Bring a local cluster up, report on it, take it down.

`up` is idempotent (a healthy cluster is reused), resumes rather than replaces (a cluster
with a dead component gets that component back, on its ports, with its data and
credentials) and is all-or-nothing: if any component exits or a step times out, everything
that `up` started is stopped again and the error names the component, with the last lines
of its log. `down` stops what the state file records and keeps the data for the next `up`;
only `down --purge` deletes the files `up` created.
"""

from __future__ import annotations

import http.client
import json
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from citykit.api.enums import KubeCondition
from citykit.kube.wait import wait_for
from citykit.localcluster import commandlines, realnode
from citykit.localcluster.bootstrap_client import BootstrapClient
from citykit.localcluster.certs import (
    CertificateAuthority,
    ClientIdentity,
    KeyPair,
    write_service_account_keys,
)
from citykit.localcluster.commandlines import FRONT_PROXY_CLIENT, Layout, NodePorts, Ports
from citykit.localcluster.errors import ClusterError
from citykit.localcluster.kubeconfig import render_kubeconfig, write_kubeconfig
from citykit.localcluster.nodes import NODE_COUNT, fake_nodes
from citykit.localcluster.ports import claim, free_ports
from citykit.localcluster.processes import (
    Process,
    is_alive,
    log_tail,
    spawn,
    stop,
    wait_out_dying,
)
from citykit.localcluster.state import STATE_FILE, LocalCluster, load, save
from citykit.toolchain.image import build_image, build_pause_image, default_output
from citykit.toolchain.kubernetes import ensure_binaries
from citykit.toolchain.locations import cache_root, kubernetes_version, local_cluster_module

Report = Callable[[str], None]
START_TIMEOUT_SECONDS = 180.0

_ADMIN = ClientIdentity("citykit-admin", ("system:masters",))
_COMPONENT_IDENTITIES = {
    # The names the default RBAC roles (system:kube-controller-manager, ...) are bound to.
    "kube-controller-manager": ClientIdentity("system:kube-controller-manager"),
    "kube-scheduler": ClientIdentity("system:kube-scheduler"),
    # KWOK plays kubelet for every fake node at once, which the Node authorizer (one node
    # per identity) cannot express, so it runs as an admin, as in KWOK's own setups; its
    # `system:` name keeps its status writes apart from the operator's in the audit log.
    "kwok": ClientIdentity("system:kwok", ("system:masters",)),
}
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
NODE_COMPONENTS = ("containerd", "kubelet", "kube-proxy")
_NODE_IDENTITIES = {
    "kubelet": ClientIdentity(f"system:node:{realnode.NODE_NAME}", ("system:nodes",)),
    "kube-proxy": ClientIdentity("system:kube-proxy"),  # bound to system:node-proxier
}
# The API server's identity towards kubelets (logs, exec), as kubeadm names it.
_KUBELET_CLIENT = ClientIdentity("kube-apiserver-kubelet-client", ("system:masters",))
_AFTER_APISERVER = (
    ("kube-controller-manager", commandlines.kube_controller_manager),
    ("kube-scheduler", commandlines.kube_scheduler),
    ("kwok", commandlines.kwok),
)


def _quiet(_: str) -> None:
    """The default reporter: say nothing."""


def admin_client(layout: Layout) -> BootstrapClient:
    pki = layout.pki
    return BootstrapClient(
        layout.ports.apiserver, pki / "ca.crt", KeyPair(pki / "admin.crt", pki / "admin.key")
    )


def up(
    name: str,
    state: Path,
    api_port: int | None = None,
    report: Report = _quiet,
    on_package: Report = _quiet,
    real_node: bool = False,
) -> LocalCluster:
    """Starts the cluster whose files live in `state`, or what of it is not running.
    `real_node` adds a kubelet on containerd that runs the operator image for real.

    A recorded cluster is resumed, never replaced: only its dead components are started
    again, on the ports, with the data and the credentials it had, so every object, every
    kubeconfig handed out and every client that knows its address keeps working. Only a
    cluster that never stored anything (no etcd data) is set up afresh.
    """
    existing = load(state)
    if existing is not None and not stored_data(existing.layout):
        stop(list(reversed(existing.processes)))
        _remove_owned(existing.layout)
        existing = None
    if existing is None:
        return _create(name, state, api_port, report, on_package, real_node)
    if real_node and not existing.layout.real_node:
        raise ClusterError(
            f"cluster {name!r} was started without a real node; `citykit cluster down --purge`"
            " deletes it, then `citykit cluster up --real-node` starts one with it"
        )
    return _resume(existing, api_port, report, on_package)


def stored_data(layout: Layout) -> bool:
    """Whether etcd ever wrote into the state folder: then only `down --purge` may delete it."""
    return (layout.state / "etcd").is_dir()


def components(layout: Layout) -> tuple[str, ...]:
    """What the cluster runs, in the order they depend on each other."""
    return (*COMPONENTS, *NODE_COMPONENTS) if layout.real_node else COMPONENTS


def to_start(alive: Mapping[str, bool], layout: Layout) -> tuple[str, ...]:
    """The components a recorded cluster must start again: every one not running, in the
    order they depend on each other (the API server needs etcd, the rest need the API)."""
    return tuple(c for c in components(layout) if not alive.get(c, False))


def missing_credentials(layout: Layout) -> list[str]:
    """The credential files a resumed cluster needs but its state folder lacks."""
    pki = [
        layout.pki / f"{name}.{suffix}"
        for name in ("ca", "apiserver", FRONT_PROXY_CLIENT, "admin", *_COMPONENT_IDENTITIES)
        for suffix in ("crt", "key")
    ]
    needed = [
        *pki,
        layout.pki / "sa.pub",
        layout.pki / "sa.key",
        layout.admin_kubeconfig,
        *(layout.component_kubeconfig(component) for component in _COMPONENT_IDENTITIES),
        *(
            layout.component_kubeconfig(component)
            for component in (_NODE_IDENTITIES if layout.real_node else ())
        ),
    ]
    return [str(path.relative_to(layout.state)) for path in needed if not path.is_file()]


def component_ports(ports: Ports, node: NodePorts | None = None) -> dict[str, tuple[int, ...]]:
    """The ports each component listens on (KWOK and containerd serve none)."""
    return {
        "etcd": (ports.etcd_client, ports.etcd_peer),
        "kube-apiserver": (ports.apiserver,),
        "kube-controller-manager": (ports.controller_manager,),
        "kube-scheduler": (ports.scheduler,),
        "kwok": (),
        "containerd": (),
        "kubelet": (node.kubelet, node.kubelet_healthz) if node else (),
        "kube-proxy": (node.proxy_metrics, node.proxy_healthz) if node else (),
    }


def _create(
    name: str,
    state: Path,
    api_port: int | None,
    report: Report,
    on_package: Report,
    real_node: bool,
) -> LocalCluster:
    """A new cluster: free ports, a new CA and credentials, empty etcd."""
    if (state / "etcd").exists():
        raise ClusterError(
            f"{state} holds etcd data but no {STATE_FILE}; `citykit cluster down --purge`"
            " deletes it"
        )
    if real_node:
        realnode.check_host()
    binaries = ensure_binaries(report, on_package)
    etcd_client, etcd_peer, apiserver, controller_manager, scheduler = free_ports(5)
    ports = Ports(
        etcd_client,
        etcd_peer,
        claim(api_port) if api_port else apiserver,
        controller_manager,
        scheduler,
    )
    layout = Layout(
        bin=binaries,
        state=state,
        infra=local_cluster_module(),
        ports=ports,
        real_node=NodePorts(*free_ports(4)) if real_node else None,
    )
    _remove_owned(layout)
    for folder in (layout.state, layout.pki, layout.logs):
        folder.mkdir(parents=True, exist_ok=True)
    write_credentials(name, layout)
    cluster = LocalCluster(name, kubernetes_version(layout.infra), layout)
    save(cluster)
    return _start_or_stop(cluster, components(layout), report)


def _resume(
    existing: LocalCluster, api_port: int | None, report: Report, on_package: Report
) -> LocalCluster:
    """Starts what of a recorded cluster is dead; what runs is left running."""
    name, layout = existing.name, existing.layout
    if api_port and api_port != layout.ports.apiserver:
        raise ClusterError(
            f"cluster {name!r} serves its API on port {layout.ports.apiserver}; to move it,"
            " `citykit cluster down --purge` deletes the cluster first"
        )
    wait_out_dying(existing.processes)
    alive = {process.name: is_alive(process) for process in existing.processes}
    dead = to_start(alive, layout)
    if not dead and api_ready(existing):
        report(f"cluster {name!r} is already running")
        return existing
    missing = missing_credentials(layout)
    if missing:
        raise ClusterError(
            f"cluster {name!r} in {layout.state} lacks {', '.join(missing[:3])}"
            f"{' ...' if len(missing) > 3 else ''}, so it cannot be started again;"
            " `citykit cluster down --purge` deletes it"
        )
    for component in dead:
        for port in component_ports(layout.ports, layout.real_node)[component]:
            claim(port)
    layout = replace(layout, bin=ensure_binaries(report, on_package))
    running = tuple(process for process in existing.processes if alive[process.name])
    cluster = replace(existing, layout=layout, processes=running)
    save(cluster)
    if dead:
        report(f"starting {', '.join(dead)} again (same ports, data and credentials)")
    return _start_or_stop(cluster, dead, report)


def _start_or_stop(
    cluster: LocalCluster, components: tuple[str, ...], report: Report
) -> LocalCluster:
    """All or nothing: if a start fails, what this call started is stopped again."""
    already = {process.pid for process in cluster.processes}
    try:
        return _start(cluster, components, report)
    except BaseException:  # Ctrl-C included: never leave half a cluster running
        recorded = load(cluster.state_dir)
        started = [p for p in (recorded.processes if recorded else ()) if p.pid not in already]
        stop(list(reversed(started)))
        raise


def down(state: Path, purge: bool = False) -> bool:
    """Stops the recorded processes; with `purge` also deletes the cluster's files (etcd data,
    credentials, kubeconfigs, logs), else they stay for the next `up`. False if no cluster
    was recorded there."""
    cluster = load(state)
    if cluster is None:
        return False
    node = [p for p in cluster.processes if p.name in ("kubelet", "kube-proxy")]
    stop(node)  # first, so no kubelet starts the containers below again
    if cluster.layout.real_node:
        realnode.stop_containers(state)
    stop([p for p in reversed(cluster.processes) if p not in node])
    if cluster.layout.real_node and purge:
        realnode.unmount(state)
    if purge:
        _remove_owned(cluster.layout)
    return True


def api_ready(cluster: LocalCluster) -> bool:
    """Whether kube-apiserver answers /readyz with ok."""
    try:
        status, _ = admin_client(cluster.layout).request("GET", "/readyz")
    except OSError:
        return False
    return status == 200


@dataclass(frozen=True)
class ComponentHealth:
    name: str
    pid: int
    alive: bool
    log: Path


def health(cluster: LocalCluster) -> list[ComponentHealth]:
    return [ComponentHealth(p.name, p.pid, is_alive(p), p.log) for p in cluster.processes]


def _remove_owned(layout: Layout) -> None:
    """Deletes only what `up` writes, so a state folder pointed at $HOME loses nothing else."""
    for path in layout.owned_paths():
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    if layout.state.is_dir() and not any(layout.state.iterdir()):
        layout.state.rmdir()


def write_credentials(name: str, layout: Layout) -> None:
    ca = CertificateAuthority(layout.pki)
    ca.issue_api_serving()
    write_service_account_keys(layout.pki)
    ca.issue_client(FRONT_PROXY_CLIENT, ClientIdentity(FRONT_PROXY_CLIENT))
    admin = ca.issue_client("admin", _ADMIN)
    config = render_kubeconfig(name, layout.server, ca.pair.cert, admin)
    write_kubeconfig(layout.admin_kubeconfig, config)
    node = _NODE_IDENTITIES if layout.real_node else {}
    if layout.real_node:
        ca.issue_client("apiserver-kubelet-client", _KUBELET_CLIENT)
    for component, identity in {**_COMPONENT_IDENTITIES, **node}.items():
        pair = ca.issue_client(component, identity)
        config = render_kubeconfig(name, layout.server, ca.pair.cert, pair)
        write_kubeconfig(layout.component_kubeconfig(component), config)


def _spawn(cluster: LocalCluster, name: str, argv: list[str]) -> LocalCluster:
    log = cluster.layout.logs / f"{name}.log"
    process: Process = spawn(name, argv, log, commandlines.GO_RUNTIME)
    cluster = cluster.with_process(process)
    save(cluster)
    return cluster


def _start(cluster: LocalCluster, components: tuple[str, ...], report: Report) -> LocalCluster:
    """Starts `components` (in COMPONENTS order) and waits until the whole cluster serves."""
    layout = cluster.layout
    api = admin_client(layout)
    if "etcd" in components:
        report("starting etcd")
        cluster = _spawn(cluster, "etcd", commandlines.etcd(layout))
        _wait(cluster, "etcd to be healthy", lambda: _etcd_healthy(layout.ports.etcd_client))
    if "kube-apiserver" in components:
        report("starting kube-apiserver")
        cluster = _spawn(cluster, "kube-apiserver", commandlines.kube_apiserver(layout))
    _wait(cluster, "kube-apiserver to be ready", lambda: api.request("GET", "/readyz")[0] == 200)
    after = [(name, command) for name, command in _AFTER_APISERVER if name in components]
    if after:
        report(f"starting {', '.join(name for name, _ in after)}")
    for name, command in after:
        cluster = _spawn(cluster, name, command(layout))
    report(f"creating {NODE_COUNT} fake nodes")
    for node in fake_nodes():
        status, text = api.request("POST", "/api/v1/nodes", node)
        if status not in (201, 409):
            raise ClusterError(f"creating node {node['metadata']['name']} failed: {text}")
    _wait(cluster, "the fake nodes to be Ready and untainted", lambda: _nodes_ready(api))
    default_sa = "/api/v1/namespaces/default/serviceaccounts/default"
    _wait(cluster, "the default ServiceAccount", lambda: api.get_json(default_sa) is not None)
    if layout.real_node:
        cluster = _start_real_node(cluster, components, api, report)
    return cluster


def _start_real_node(
    cluster: LocalCluster, components: tuple[str, ...], api: BootstrapClient, report: Report
) -> LocalCluster:
    """containerd (with the sandbox and operator images imported), then kubelet and
    kube-proxy; returns once the node is Ready."""
    layout, state = cluster.layout, cluster.layout.state
    assert layout.real_node is not None
    realnode.ensure_bridge()
    realnode.write_configs(
        state, layout.pki / "ca.crt", layout.real_node.kubelet, layout.real_node.kubelet_healthz
    )
    _grant_kubelet_delegated_auth(api)
    if "containerd" in components:
        report("starting containerd")
        cluster = _spawn(cluster, "containerd", realnode.containerd(state))
    _wait(cluster, "containerd to answer", lambda: realnode.containerd_ready(state))
    report("importing the sandbox and operator images into the real node")
    realnode.import_images(state, realnode_images(layout, report))
    if "kubelet" in components:
        report("starting kubelet")
        cluster = _spawn(cluster, "kubelet", realnode.kubelet(layout.bin, state))
    if "kube-proxy" in components:
        ports = layout.real_node
        cluster = _spawn(
            cluster,
            "kube-proxy",
            realnode.kube_proxy(layout.bin, state, ports.proxy_metrics, ports.proxy_healthz),
        )
    _wait(cluster, "the real node to be Ready", lambda: _real_node_ready(api))
    return cluster


def realnode_images(layout: Layout, report: Report) -> list[Path]:
    """The archives the real node imports: the sandbox image and the operator image, built
    from this checkout now (the cached layers make that quick) so it never runs stale code."""
    cache = cache_root() / "image"
    return [
        build_pause_image(layout.bin / "pause", cache),
        build_image(default_output(), cache, report).archive,
    ]


def _grant_kubelet_delegated_auth(api: BootstrapClient) -> None:
    """The kubelet checks the API server's (and anyone's) requests with TokenReviews and
    SubjectAccessReviews, which system:auth-delegator allows, as kubeadm grants it."""
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "citykit:real-node-delegated-auth"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "system:auth-delegator",
        },
        "subjects": [
            {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "User",
                "name": f"system:node:{realnode.NODE_NAME}",
            }
        ],
    }
    path = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"
    status, text = api.request("POST", path, binding)
    if status not in (201, 409):
        raise ClusterError(f"granting the kubelet delegated auth failed: {text}")


def _real_node_ready(api: BootstrapClient) -> bool:
    node = api.get_json(f"/api/v1/nodes/{realnode.NODE_NAME}")
    return node is not None and _ready(node)


def _ready(node: dict[str, Any]) -> bool:
    return any(
        c["type"] == KubeCondition.NODE_READY and c["status"] == "True"
        for c in node.get("status", {}).get("conditions", [])
    )


def _wait(cluster: LocalCluster, what: str, condition: Callable[[], bool]) -> None:
    """Waits for `condition`, failing fast with its log if any started component exits; a
    refused connection is only "not yet" while components start."""

    def holds() -> bool:
        for process in cluster.processes:
            if not is_alive(process):
                raise ClusterError(
                    f"{process.name} exited while waiting for {what}; last lines of "
                    f"{process.log}:\n{log_tail(process.log)}"
                )
        try:
            return condition()
        except OSError:
            return False

    try:
        wait_for(holds, START_TIMEOUT_SECONDS, what, interval=0.2)
    except TimeoutError:
        raise ClusterError(
            f"timed out after {START_TIMEOUT_SECONDS:.0f}s waiting for {what};"
            f" component logs are in {cluster.layout.logs}"
        ) from None


def _etcd_healthy(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/health")
        return bool(json.loads(connection.getresponse().read()).get("health") == "true")
    finally:
        connection.close()


def _nodes_ready(api: BootstrapClient) -> bool:
    """All fake nodes Ready and free of the not-ready taints the node controller puts on first."""
    nodes = api.get_json("/api/v1/nodes?labelSelector=type%3Dkwok")
    if nodes is None or len(nodes["items"]) < NODE_COUNT:
        return False
    return all(not node["spec"].get("taints") and _ready(node) for node in nodes["items"])
