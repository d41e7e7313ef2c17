"""What `cluster up` started, saved in the state folder so `down` and `status` can find it.

The state file is the clusters' pid file: it lists each component's pid and start time, and
is rewritten after every start, so a failed `up` can still be cleaned up by `down`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from citykit.localcluster.commandlines import Layout, NodePorts, Ports
from citykit.localcluster.processes import Process

STATE_FILE = "cluster.json"


@dataclass(frozen=True)
class LocalCluster:
    """A running (or once-started) local cluster; what the pytest fixture hands to tests."""

    name: str
    kubernetes_version: str
    layout: Layout
    processes: tuple[Process, ...] = ()

    @property
    def state_dir(self) -> Path:
        return self.layout.state

    @property
    def kubeconfig(self) -> Path:
        return self.layout.admin_kubeconfig

    @property
    def audit_log(self) -> Path:
        return self.layout.audit_log

    @property
    def server(self) -> str:
        return self.layout.server

    def with_process(self, process: Process) -> LocalCluster:
        return replace(self, processes=(*self.processes, process))


def save(cluster: LocalCluster) -> None:
    """Written via a temporary file and rename, so a reader never sees half a file."""
    data = {
        "name": cluster.name,
        "kubernetes_version": cluster.kubernetes_version,
        "bin": str(cluster.layout.bin),
        "infra": str(cluster.layout.infra),
        "ports": asdict(cluster.layout.ports),
        "real_node": asdict(cluster.layout.real_node) if cluster.layout.real_node else None,
        "processes": [
            {"name": p.name, "pid": p.pid, "start_ticks": p.start_ticks, "log": str(p.log)}
            for p in cluster.processes
        ],
    }
    path = cluster.state_dir / STATE_FILE
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data, indent=2) + "\n")
    temporary.replace(path)


def load(state: Path) -> LocalCluster | None:
    """The cluster recorded in `state`, or None if nothing was ever started there."""
    path = state / STATE_FILE
    if not path.is_file():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    node = data.get("real_node")
    layout = Layout(
        bin=Path(data["bin"]),
        state=state,
        infra=Path(data["infra"]),
        ports=Ports(**data["ports"]),
        real_node=NodePorts(**node) if node else None,
    )
    processes = tuple(
        Process(p["name"], p["pid"], p["start_ticks"], Path(p["log"])) for p in data["processes"]
    )
    return LocalCluster(data["name"], data["kubernetes_version"], layout, processes)
