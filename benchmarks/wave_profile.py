"""Benchmark: where a city's rollout spends its time on the local cluster.

On one fresh local cluster (etcd, kube-apiserver, controller-manager, scheduler, KWOK):

1. One wave: the city's rendered objects (no pilots, no dependsOn) server-side applied by one
   kubectl at once. Watches on Deployments, ReplicaSets and Pods stamp on this machine's clock
   when each Deployment's steps happened: created (the apply reached it), ReplicaSet created
   (deployment controller), Pod created (replicaset controller), bound (scheduler), Ready
   (KWOK, playing kubelet), Available (deployment controller). Per step: when it happened
   since the apply began (median, last) and what it added (median, 95th percentile).
2. The chain: the city as written, carried out by kubectl as `rollout_bench` does (a thread per
   initiative, apply + `rollout status` per wave, 1 s gates).

For both, the CPU seconds each component and kubectl's processes used: on a small machine a
wave is CPU-bound, and this says whose CPU it is. Beside them, as the floor, one Deployment
alone. Figures, not assertions. Run: `python3 -m benchmarks.wave_profile [--city NAME]`
(default: the largest example city).
"""

from __future__ import annotations

import argparse
import itertools
import resource
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any, TypeVar

from kubernetes import client, config, watch
from urllib3.exceptions import ProtocolError

from benchmarks.rollout_bench import (
    as_list,
    city,
    critical_path,
    kubectl,
    kubectl_orchestrated,
    one_deployment_seconds,
    rendered,
)
from benchmarks.scale_bench import cpu_seconds
from benchmarks.stopping import stop_cleanly_on_sigterm
from citykit.localcluster import control_plane
from citykit.localcluster.state import LocalCluster

T = TypeVar("T")
STEPS = ("created", "replicaset", "pod", "bound", "ready", "available")


class Stamps:
    """First time (monotonic) each step was seen, per Deployment name."""

    def __init__(self) -> None:
        self.seen: dict[str, dict[str, float]] = {}
        self._lock = threading.Lock()

    def stamp(self, deployment: str, step: str) -> None:
        now = time.monotonic()
        with self._lock:
            self.seen.setdefault(deployment, {}).setdefault(step, now)


def _watch(
    stream: watch.Watch, lister: Callable[..., Any], namespace: str, on: Callable[[Any], None]
) -> None:
    with suppress(ProtocolError):
        for event in stream.stream(lister, namespace, timeout_seconds=3600):
            on(event["object"])


def profile_wave(
    api: client.ApiClient, kubeconfig: Path, data: dict[str, Any]
) -> tuple[float, Stamps]:
    """Seconds from the apply to every Deployment Available, and the steps' stamps."""
    objects = [m for m in rendered(data) if m["kind"] != "Initiative"]
    namespace = f"city-{data['metadata']['name']}"
    deployments = {m["metadata"]["name"] for m in objects if m["kind"] == "Deployment"}
    stamps = Stamps()
    replicasets: dict[str, str] = {}
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    available: set[str] = set()  # only the Deployments' watch thread adds to it
    done = threading.Event()

    def on_deployment(item: Any) -> None:
        stamps.stamp(item.metadata.name, "created")
        conditions = item.status.conditions or [] if item.status else []
        if any(c.type == "Available" and c.status == "True" for c in conditions):
            stamps.stamp(item.metadata.name, "available")
            available.add(item.metadata.name)
            if available >= deployments:
                done.set()

    def on_replicaset(item: Any) -> None:
        owners = item.metadata.owner_references or []
        if owners:
            replicasets[item.metadata.name] = owners[0].name
            stamps.stamp(owners[0].name, "replicaset")

    def on_pod(item: Any) -> None:
        owners = item.metadata.owner_references or []
        deployment = replicasets.get(owners[0].name) if owners else None
        if deployment is None:
            return
        stamps.stamp(deployment, "pod")
        if item.spec.node_name:
            stamps.stamp(deployment, "bound")
        conditions = item.status.conditions or [] if item.status else []
        if any(c.type == "Ready" and c.status == "True" for c in conditions):
            stamps.stamp(deployment, "ready")

    streams = [watch.Watch() for _ in range(3)]
    listers = (
        apps.list_namespaced_deployment,
        apps.list_namespaced_replica_set,
        core.list_namespaced_pod,
    )
    handlers = (on_deployment, on_replicaset, on_pod)
    namespace_objects = [m for m in objects if m["kind"] == "Namespace"]
    kubectl(kubeconfig, "apply", "--server-side", "-f", "-", stdin=as_list(namespace_objects))
    threads = [
        threading.Thread(target=_watch, args=(s, lister, namespace, on), daemon=True)
        for s, lister, on in zip(streams, listers, handlers, strict=True)
    ]
    for thread in threads:
        thread.start()
    time.sleep(1)  # the watches are established before the apply
    start = time.monotonic()
    kubectl(kubeconfig, "apply", "--server-side", "-f", "-", stdin=as_list(objects))
    applied = time.monotonic()
    done.wait(900)
    for stream in streams:
        stream.stop()
    for name in deployments:
        stamps.seen.setdefault(name, {})["began"] = start
    print(f"one wave: kubectl apply returned after {applied - start:.2f} s")
    return time.monotonic() - start, stamps


def report(seconds: float, stamps: Stamps) -> None:
    ordered = ("began", *STEPS)
    print(f"one wave: apply -> every Deployment Available {seconds:.2f} s ({len(stamps.seen)})")
    for before, after in itertools.pairwise(ordered):
        added = [s[after] - s[before] for s in stamps.seen.values() if before in s and after in s]
        since = [s[after] - s["began"] for s in stamps.seen.values() if after in s]
        if not added:
            continue
        p95 = statistics.quantiles(added, n=20)[-1] if len(added) > 1 else added[0]
        print(
            f"  {after:<11} at {statistics.median(since):5.2f} s median, {max(since):5.2f} s last;"
            f" step took {statistics.median(added):5.2f} s median, {p95:5.2f} s p95"
        )


class CpuMeter:
    """CPU seconds the cluster's components and this process's finished children (kubectl)
    used while a step ran."""

    def __init__(self, cluster: LocalCluster) -> None:
        self.pids = {process.name: process.pid for process in cluster.processes}

    def _now(self) -> dict[str, float]:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        used = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        return {**used, "kubectl": children.ru_utime + children.ru_stime}

    def measure(self, step: Callable[[], T]) -> tuple[T, dict[str, float]]:
        before = self._now()
        result = step()
        after = self._now()
        return result, {name: after[name] - before[name] for name in after}


def print_cpu(what: str, seconds: float, used: dict[str, float]) -> None:
    total = sum(used.values())
    shares = ", ".join(f"{name} {cpu:.1f}" for name, cpu in used.items())
    print(
        f"{what}: {seconds:.1f} s, {total:.1f} CPU-s ({total / seconds:.2f} cores busy): {shares}"
    )


def main() -> None:
    stop_cleanly_on_sigterm()
    parser = argparse.ArgumentParser()
    parser.add_argument("--city", help="an example city's name (default: the largest)")
    example = parser.parse_args().city
    with tempfile.TemporaryDirectory() as state:
        cluster = control_plane.up("wave", Path(state), report=lambda message: None)
        try:
            meter = CpuMeter(cluster)
            api = config.new_client_from_config(str(cluster.kubeconfig))
            data = city("wave", flat=True, example=example)
            (seconds, stamps), used = meter.measure(
                lambda: profile_wave(api, cluster.kubeconfig, data)
            )
            report(seconds, stamps)
            print_cpu("one wave", seconds, used)
            one = one_deployment_seconds(cluster.kubeconfig, data)
            chain = city("chain", flat=False, example=example)
            schedule, used = meter.measure(lambda: kubectl_orchestrated(cluster.kubeconfig, chain))
            print_cpu("the chain carried out by kubectl", schedule, used)
            path, waves = critical_path(chain, one)
            print(f"one Deployment Available (median of 5): {one:.2f} s")
            print(
                f"critical path {path:.1f} s ({waves} waves, 1 s gates):"
                f" kubectl's schedule is {schedule / path:.2f}x"
            )
        finally:
            control_plane.down(cluster.state_dir)


if __name__ == "__main__":
    main()
