"""Benchmark: how well the operator rides out faults during a rollout of the largest city.

On a local cluster of its own, each trial creates the largest example city (1 s automatic
gates), waits a random moment into its rollout, injects one fault and brings back what the
fault took (as a cluster's supervisors would), then waits for every initiative to be Live:

- operator: SIGKILL the operator, start it again (its Deployment would);
- kube-apiserver / etcd: SIGKILL it, `cluster up` starts it again on the same ports and
  data; the operator reconnects by itself, or exits after --api-timeout and is started again.

Printed: kills survived / tried (Live within the deadline), seconds from each fault to Live,
operator restarts, duplicate creations (the apiserver audit log: an object created more than
once by the operator; goal 0), stale objects once Live (pilot-wave Deployments left, children
without exactly one controller owner; goal 0). Figures, not assertions.

Run: `python3 benchmarks/chaos.py [--trials N] [--seed S]`. The first trial injects no fault:
its time to Live is the floor the others compare with.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
import signal
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from citykit import kube
from citykit.kube.crds import install_crds
from citykit.kube.wait import wait_for
from citykit.localcluster import control_plane
from citykit.localcluster.operator_process import OperatorProcess
from citykit.localcluster.processes import is_alive
from citykit.localcluster.state import LocalCluster, load
from citykit.resources import example_cities_dir

FAULTS = ("none", "operator", "operator", "operator", "kube-apiserver", "etcd")
DEADLINE_SECONDS = 600.0
API_TIMEOUT_SECONDS = 30
GROUP, VERSION = "citykit.io", "v1alpha1"


@dataclass
class Trial:
    fault: str
    city: str
    after_seconds: float
    converged_seconds: float | None = None
    operator_restarts: int = 0


def largest_city(name: str) -> dict[str, Any]:
    paths = list(example_cities_dir().glob("*.yaml"))
    chosen = max(paths, key=lambda p: len(yaml.safe_load(p.read_text())["spec"]["initiatives"]))
    data: dict[str, Any] = copy.deepcopy(yaml.safe_load(chosen.read_text()))
    data["metadata"]["name"] = name
    for item in data["spec"]["initiatives"]:
        item["gate"] = {"healthyFor": "1s", "approval": "auto"}
    return data


def initiatives(api: client.ApiClient, city: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = client.CustomObjectsApi(api).list_namespaced_custom_object(
        GROUP, VERSION, f"city-{city}", "initiatives"
    )["items"]
    return items


def all_live(api: client.ApiClient, city: str, expected: int) -> bool:
    try:
        items = initiatives(api, city)
    except Exception:  # the API may be coming back
        return False
    return len(items) == expected and all(
        (item.get("status") or {}).get("phase") == "Live" for item in items
    )


def inject(fault: str, cluster: LocalCluster, operator: OperatorProcess) -> None:
    """The fault, then what a supervisor does: start again what was killed."""
    if fault == "none":
        return
    if fault == "operator":
        operator.kill()
        operator.start()
        return
    recorded = load(cluster.state_dir)
    assert recorded is not None
    [process] = [p for p in recorded.processes if p.name == fault]
    os.killpg(process.pid, signal.SIGKILL)
    wait_for(lambda: not is_alive(process), 30, f"{fault} to die")
    control_plane.up(cluster.name, cluster.state_dir)


def stale_objects(api: client.ApiClient, city: str) -> int:
    """Pilot-wave Deployments left once Live, and children without exactly one controller."""
    namespace = f"city-{city}"
    selector = "app.kubernetes.io/managed-by=citykit"
    stale = 0
    for deployment in (
        client.AppsV1Api(api).list_namespaced_deployment(namespace, label_selector=selector).items
    ):
        if (deployment.metadata.labels or {}).get("citykit.io/wave") == "pilot":
            stale += 1
    core = client.CoreV1Api(api)
    children = [
        *client.AppsV1Api(api).list_namespaced_deployment(namespace, label_selector=selector).items,
        *core.list_namespaced_config_map(namespace, label_selector=selector).items,
        *core.list_namespaced_service(namespace, label_selector=selector).items,
    ]
    for child in children:
        controllers = [o for o in child.metadata.owner_references or [] if o.controller]
        stale += len(controllers) != 1
    return stale


def duplicate_creations(audit_log: Path) -> dict[tuple[str, str, str], list[str]]:
    """Objects the operator created (201) more than once, each with every audited write to it
    (who, verb, code, when). Cities are never deleted and re-created within a run."""
    events = [json.loads(line) for line in audit_log.read_text().splitlines()]
    created: Counter[tuple[str, str, str]] = Counter()
    history: dict[tuple[str, str, str], list[str]] = {}
    for event in events:
        ref = event.get("objectRef", {})
        if ref.get("resource") in ("events", "leases") or ref.get("subresource"):
            continue
        key = (ref.get("resource", ""), ref.get("namespace", ""), ref.get("name", ""))
        code = event.get("responseStatus", {}).get("code")
        history.setdefault(key, []).append(
            f"{event.get('stageTimestamp', '')} {event['user']['username']} {event['verb']} {code}"
        )
        if code == 201 and event.get("userAgent", "").startswith(("kopf/", "OpenAPI-Generator/")):
            created[key] += 1
    return {key: history[key] for key, count in created.items() if count > 1}


def run_trial(
    trial: Trial, cluster: LocalCluster, api: client.ApiClient, operator: OperatorProcess
) -> None:
    data = largest_city(trial.city)
    expected = sum(item.get("enabled", True) for item in data["spec"]["initiatives"])
    client.CustomObjectsApi(api).create_cluster_custom_object(
        GROUP, VERSION, "cityblueprints", data
    )
    time.sleep(trial.after_seconds)
    injected = time.monotonic()
    inject(trial.fault, cluster, operator)
    deadline = injected + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if not operator.alive:  # exited after --api-timeout: its Deployment would start it
            trial.operator_restarts += 1
            operator.start()
        if all_live(api, trial.city, expected):
            trial.converged_seconds = time.monotonic() - injected
            return
        time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=len(FAULTS), help="faults to inject")
    parser.add_argument("--seed", type=int, default=13, help="random moments and faults")
    arguments = parser.parse_args()
    rng = random.Random(arguments.seed)
    trials = [
        Trial(
            FAULTS[index] if index < len(FAULTS) else rng.choice(FAULTS[1:]),
            f"chaos-{index}",
            round(rng.uniform(2, 20), 1),
        )
        for index in range(arguments.trials)
    ]
    with tempfile.TemporaryDirectory() as state:
        cluster = control_plane.up("chaos", Path(state))
        dynamic = kube.dynamic_client(cluster.kubeconfig)
        install_crds(dynamic)
        api = dynamic.client
        operator = OperatorProcess(
            cluster.kubeconfig,
            Path(state) / "operator.log",
            args=("--api-timeout", str(API_TIMEOUT_SECONDS)),
        )
        operator.start()
        stale = 0
        try:
            for trial in trials:
                run_trial(trial, cluster, api, operator)
                shown = f"{trial.converged_seconds:.1f}s" if trial.converged_seconds else "NOT Live"
                what = "no fault" if trial.fault == "none" else f"{trial.fault} killed"
                print(
                    f"{trial.city}: {what} {trial.after_seconds}s into the rollout -> Live"
                    f" {shown} after it (operator restarts: {trial.operator_restarts})",
                    flush=True,
                )
                if trial.converged_seconds is not None:
                    stale += stale_objects(api, trial.city)
                client.CustomObjectsApi(api).delete_cluster_custom_object(
                    GROUP, VERSION, "cityblueprints", trial.city
                )
            duplicated = duplicate_creations(cluster.audit_log)
        finally:
            operator.stop()
            control_plane.down(cluster.state_dir, purge=True)
    floor = next((t.converged_seconds for t in trials if t.fault == "none"), None)
    trials = [t for t in trials if t.fault != "none"]
    survived = [t for t in trials if t.converged_seconds is not None]
    seconds = [t.converged_seconds for t in survived if t.converged_seconds is not None]
    print()
    if floor is not None:
        print(f"floor: the same rollout without a fault, Live after {floor:.1f}s")
    print(f"kills survived / tried: {len(survived)} / {len(trials)}")
    for fault in sorted(set(FAULTS) - {"none"}):
        of_kind = [t.converged_seconds for t in survived if t.fault == fault]
        if of_kind:
            print(
                f"  {fault}: {len(of_kind)} survived; seconds to Live after the fault:"
                f" {', '.join(f'{s:.1f}' for s in of_kind if s is not None)}"
            )
    if seconds:
        print(
            f"seconds to converge after a fault: median {statistics.median(seconds):.1f},"
            f" max {max(seconds):.1f}"
        )
    print(f"operator restarts after --api-timeout: {sum(t.operator_restarts for t in trials)}")
    print(f"objects created twice (audit log): {len(duplicated)}")
    for (resource, namespace, name), writes in duplicated.items():
        print(f"  {resource} {namespace}/{name}:")
        for write in writes:
            print(f"    {write}")
    print(f"stale objects once Live: {stale}")


if __name__ == "__main__":
    main()
