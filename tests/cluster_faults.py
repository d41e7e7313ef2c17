"""Faults for a local cluster's tests and benchmarks: a component killed (and waited for
dead), the cluster as its state file records it after restarts, and an API server restarted
with extra flags (throttling) beside a cluster-admin user it throttles. Shared by the
local-cluster and fault tests and benchmarks/chaos.py, so that no test module is imported as
a library by another."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from kubernetes import client

from citykit import kube
from citykit.kube.wait import wait_for
from citykit.localcluster import commandlines, control_plane
from citykit.localcluster.certs import CertificateAuthority, ClientIdentity
from citykit.localcluster.errors import ClusterError
from citykit.localcluster.kubeconfig import render_kubeconfig, write_kubeconfig
from citykit.localcluster.processes import is_alive, log_tail, spawn
from citykit.localcluster.state import LocalCluster, load, save
from tests.deadlines import EVENTUALLY, PROMPTLY

# One request in flight (and one mutating) at a time and no queueing (priority and fairness
# off): whatever exceeds it is answered 429 at once.
THROTTLE_FLAGS = (
    "--enable-priority-and-fairness=false",
    "--max-requests-inflight=1",
    "--max-mutating-requests-inflight=1",
)


def sigkill(cluster: LocalCluster, component: str) -> None:
    [process] = [p for p in cluster.processes if p.name == component]
    os.killpg(process.pid, signal.SIGKILL)
    wait_for(lambda: not is_alive(process), PROMPTLY, f"{component} to die")


def current(cluster: LocalCluster) -> LocalCluster:
    """The cluster as its state file records it now (restarts change the pids)."""
    recorded = load(cluster.state_dir)
    assert recorded is not None
    return recorded


def plain_user_kubeconfig(cluster: LocalCluster, user: str, path: Path) -> Path:
    """A cluster-admin `user` that is not in system:masters: the API server throttles it like
    any client (system:masters is exempt from the in-flight limits), and the audit log tells
    its requests apart from the admin's."""
    pair = CertificateAuthority.load(cluster.layout.pki).issue_client(user, ClientIdentity(user))
    rbac = client.RbacAuthorizationV1Api(kube.dynamic_client(cluster.kubeconfig).client)
    with contextlib.suppress(client.exceptions.ApiException):  # bound by an earlier run
        rbac.create_cluster_role_binding(
            {
                "metadata": {"name": user},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "cluster-admin",
                },
                "subjects": [
                    {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}
                ],
            }
        )
    config = render_kubeconfig(cluster.name, cluster.server, cluster.layout.pki / "ca.crt", pair)
    return write_kubeconfig(path, config)


@contextlib.contextmanager
def apiserver_with(cluster: LocalCluster, *flags: str) -> Iterator[None]:
    """kube-apiserver restarted with `flags` after its own (a later flag overrides an earlier
    one); on leaving, `cluster up` starts it again as it always runs."""
    recorded = current(cluster)
    sigkill(recorded, "kube-apiserver")
    argv = [*commandlines.kube_apiserver(recorded.layout), *flags]
    log = recorded.layout.logs / "kube-apiserver-with-flags.log"  # apart from the usual one's
    others = tuple(p for p in recorded.processes if p.name != "kube-apiserver")
    restarted = spawn("kube-apiserver", argv, log)
    save(replace(recorded, processes=(*others, restarted)))

    def ready() -> bool:
        if not is_alive(restarted):  # e.g. its port was taken meanwhile: say so, at once
            raise ClusterError(f"kube-apiserver with {flags} exited ({log}): {log_tail(log, 3)}")
        return control_plane.api_ready(recorded)

    wait_for(ready, EVENTUALLY, f"the API server with {flags}")
    try:
        yield
    finally:
        sigkill(current(cluster), "kube-apiserver")
        control_plane.up(cluster.name, cluster.state_dir)
