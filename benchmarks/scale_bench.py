"""Benchmark: one operator process for a country's worth of initiatives, against the
cluster's own floor for the same objects, side by side in one run.

For each size (default 200, 1,000 and 2,000 Initiatives) spread over CITIES cities made from
Hangzhou (`tests.fleet`: numbered copies of its catalogue entries make up the numbers), flat
(no pilots, no dependsOn: one wave, as a kubectl user would apply it) with 1 s gates:

- floor: on a fresh local cluster, `kubectl apply --server-side` of every city's rendered
  objects, then `kubectl wait` until every Deployment is Available;
- operator: on another fresh cluster, one `citykit operator run` process; every
  CityBlueprint created at once, until every one is Live (goal <= 1.2x the floor at 2,000);
- the operator's peak RSS (VmHWM, goal < 300 MB at 2,000), and its CPU and API writes over
  an idle window once all is Live (goal < 2% of a core, 0 writes).

The clusters get enough KWOK nodes for the Pods (each takes 1,000). Figures, not
assertions. Run from the repository root: `python3 -m benchmarks.scale_bench
[--sizes 200,1000,2000] [--cities 20] [--idle 300] [--citywide-replicas N] [--no-floor]`;
`--no-floor` skips the kubectl run (for the operator's memory and idle figures alone); with
`--citywide-replicas 1` the cluster has half the Pods to run for the same objects, which makes
the floor faster and the ratio harder for the operator (it does not watch Pods).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kubernetes import client, config

from benchmarks.rollout_bench import kubectl
from benchmarks.stopping import stop_cleanly_on_sigterm
from citykit import kube
from citykit.core.load.source import from_data
from citykit.core.model.validation import validate
from citykit.core.render.objects import plan
from citykit.kube.crds import install_crds
from citykit.kube.wait import wait_for
from citykit.localcluster import control_plane
from citykit.localcluster.nodes import fake_node
from citykit.localcluster.operator_process import OperatorProcess
from citykit.localcluster.state import LocalCluster
from tests import audit, fleet

PODS_PER_NODE = 1000
Cities = list[dict[str, Any]]


@contextmanager
def local_cluster(state: Path, pods: int) -> Iterator[LocalCluster]:
    """A fresh local cluster with enough KWOK nodes for `pods` Pods, and the citykit CRDs."""
    state.mkdir(parents=True, exist_ok=True)
    cluster = control_plane.up(state.name, state, report=lambda message: None)
    try:
        core = client.CoreV1Api(config.new_client_from_config(str(cluster.kubeconfig)))
        present = len(core.list_node().items)
        wanted = max(present, -(-pods * 5 // 4 // PODS_PER_NODE))
        for index in range(present, wanted):
            core.create_node(fake_node(index))
        wait_for(
            lambda: sum(ready(node) for node in core.list_node().items) >= wanted,
            120,
            f"{wanted} Ready nodes",
        )
        install_crds(kube.dynamic_client(cluster.kubeconfig))
        yield cluster
    finally:
        control_plane.down(state)


def ready(node: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])


def rendered(cities: Cities) -> list[dict[str, Any]]:
    """Every city's objects but its Initiatives, which only the operator reads."""
    return [
        manifest
        for data in cities
        for manifest in plan(validate(from_data(f"{data['metadata']['name']}.yaml", data)))
        if manifest["kind"] != "Initiative"
    ]


def timed(step: Callable[[], object]) -> float:
    start = time.monotonic()
    step()
    return time.monotonic() - start


def kubectl_floor(state: Path, cities: Cities, objects: list[dict[str, Any]]) -> float:
    with local_cluster(state, pods(objects)) as cluster:

        def apply_and_wait() -> None:
            listed = json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})
            kubectl(cluster.kubeconfig, "apply", "--server-side", "-f", "-", stdin=listed)
            for data in cities:
                kubectl(
                    cluster.kubeconfig,
                    *("wait", "--for=condition=Available", "deployment", "--all"),
                    *("-n", f"city-{data['metadata']['name']}", "--timeout=1800s"),
                )

        return timed(apply_and_wait)


def pods(objects: list[dict[str, Any]]) -> int:
    return sum(m["spec"].get("replicas", 1) for m in objects if m["kind"] == "Deployment")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_mb(pid: int, field: str) -> float:
    """`VmHWM` (peak RSS) or `VmRSS` (now) of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for process {pid}")


def operator_run(
    state: Path, cities: Cities, objects: list[dict[str, Any]], root: Path, idle: float
) -> dict[str, float]:
    with local_cluster(state, pods(objects)) as cluster:
        operator = OperatorProcess(
            cluster.kubeconfig,
            state.parent / f"{state.name}-operator.log",
            env={"CITYKIT_BLUEPRINTS": str(root)},
        )
        operator.start()
        try:
            blueprints = client.CustomObjectsApi(
                config.new_client_from_config(str(cluster.kubeconfig))
            )
            time.sleep(3)  # the operator's start-up (CRD scan, first lists) is not the rollout

            def roll_out() -> None:
                for data in cities:
                    blueprints.create_cluster_custom_object(
                        "citykit.io", "v1alpha1", "cityblueprints", data
                    )

                def all_live() -> bool:
                    operator.check_alive()
                    items = blueprints.list_cluster_custom_object(
                        "citykit.io", "v1alpha1", "cityblueprints"
                    )["items"]
                    return sum(
                        (i.get("status") or {}).get("phase") == "Live" for i in items
                    ) == len(cities)

                wait_for(all_live, 3600, "every city Live", interval=0.5)

            seconds = timed(roll_out)
            assert operator.process is not None
            pid = operator.process.pid
            time.sleep(3)  # in-flight watch events settle
            cpu, writes = cpu_seconds(pid), audit.city_writes(cluster.audit_log)
            time.sleep(idle)
            return {
                "seconds": seconds,
                "rss": memory_mb(pid, "VmHWM"),
                "rss_idle": memory_mb(pid, "VmRSS"),
                "idle_cpu": (cpu_seconds(pid) - cpu) / idle,
                "idle_writes": audit.city_writes(cluster.audit_log) - writes,
            }
        finally:
            operator.stop()


def main() -> None:
    stop_cleanly_on_sigterm()
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="200,1000,2000", help="Initiatives, comma-separated")
    parser.add_argument("--cities", type=int, default=20)
    parser.add_argument("--idle", type=float, default=300, help="idle window in seconds")
    parser.add_argument(
        "--citywide-replicas", type=int, help="every component's (default: the catalogue's)"
    )
    parser.add_argument(
        "--no-floor", action="store_true", help="the operator's figures alone (RSS, idle)"
    )
    arguments = parser.parse_args()
    sizes = [int(size) for size in arguments.sizes.split(",")]
    with tempfile.TemporaryDirectory() as work:
        root = Path(work) / "blueprints"
        initiatives = fleet.enlarge(
            root, max(sizes) // arguments.cities, arguments.citywide_replicas
        )
        os.environ["CITYKIT_BLUEPRINTS"] = str(root)  # this process renders with it too
        for size in sizes:
            per_city = size // arguments.cities
            cities = [
                fleet.city(f"scale-{index:02d}", initiatives[:per_city], flat=True)
                for index in range(arguments.cities)
            ]
            objects = rendered(cities)
            floor = (
                float("nan")
                if arguments.no_floor
                else kubectl_floor(Path(work) / f"floor-{size}", cities, objects)
            )
            ours = operator_run(
                Path(work) / f"operator-{size}", cities, objects, root, arguments.idle
            )
            print(
                f"{per_city * arguments.cities:5d} initiatives in {arguments.cities} cities"
                f" ({len(objects)} objects, {pods(objects)} pods):"
                f" operator {ours['seconds']:6.1f} s | kubectl apply+wait {floor:6.1f} s"
                f" | {ours['seconds'] / floor:.2f}x; peak RSS {ours['rss']:.0f} MB"
                f" ({ours['rss_idle']:.0f} MB after the idle window);"
                f" idle {arguments.idle:g} s: {100 * ours['idle_cpu']:.2f}% of a core,"
                f" {ours['idle_writes']:.0f} writes",
                flush=True,
            )


if __name__ == "__main__":
    main()
