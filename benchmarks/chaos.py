"""Benchmark: how well the operator rides out faults during a rollout of the largest city.

On a local cluster of its own, each trial creates the largest example city (1 s automatic
gates), waits a random moment into its rollout, injects one fault and brings back what the
fault took (as a cluster's supervisors would), then waits for every initiative to be Live:

- operator: SIGKILL the operator, start it again (its Deployment would);
- kube-apiserver / etcd: SIGKILL it, `cluster up` starts it again on the same ports and
  data; the operator reconnects by itself, or exits after --api-timeout and is started again.

Before the faults, the same rollout twice with a fresh operator, each on a freshly started
API server that audits every request of the operator's user: once as the API server
normally runs (the floor), once throttled (one request in flight and one mutating, no
queueing, so the rest is answered 429 at once). Their request counts side by side show
whether 429s are backed off or retried in a hot loop.

Printed: kills survived / tried (Live within the deadline), seconds from each fault to Live,
operator restarts, the operator's requests apply -> Live without and with throttling (and
how many were answered 429), objects the operator created more than once while their city
existed (goal 0), objects it created after the benchmark had deleted their city (goal 0),
stale objects once Live (pilot-wave Deployments left, children without exactly one
controller owner; goal 0). Figures, not assertions.

Run from the repository root: `python3 -m benchmarks.chaos [--trials N] [--seed S]`.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import random
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from benchmarks.stopping import stop_cleanly_on_sigterm
from citykit import kube
from citykit.api.names import city_namespace, namespace_city
from citykit.kube.crds import install_crds
from citykit.localcluster import control_plane
from citykit.localcluster.operator_process import OperatorProcess
from citykit.localcluster.state import LocalCluster, load
from citykit.resources import example_cities_dir
from tests import audit
from tests.cities import namespace_gone
from tests.cluster_faults import THROTTLE_FLAGS, apiserver_with, plain_user_kubeconfig, sigkill

FAULTS = ("none", "operator", "operator", "operator", "kube-apiserver", "etcd")
DEADLINE_SECONDS = 600.0
MEASURED_DEADLINE_SECONDS = 1200.0  # a throttled rollout is slow, and measured whole
API_TIMEOUT_SECONDS = 30
GROUP, VERSION = "citykit.io", "v1alpha1"
# The operator runs as a user of its own, outside system:masters (which the in-flight
# limits exempt), so the audit log tells its requests from the benchmark's polling.
OPERATOR_USER = "citykit-operator"
WRITES = ("create", "update", "patch", "delete", "deletecollection")

ObjectKey = tuple[str, str, str]  # resource, namespace, name


@dataclass
class Trial:
    fault: str
    city: str
    after_seconds: float
    converged_seconds: float | None = None
    operator_restarts: int = 0
    created_at: float = 0.0  # wall-clock times, to compare with the audit log's
    live_at: float | None = None


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
        GROUP, VERSION, city_namespace(city), "initiatives"
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
    """The fault, then what a supervisor does: start again what was killed. Anything but
    the operator or a component of the cluster (the floor, the throttled rollout) is no kill."""
    if fault == "operator":
        operator.kill()
        operator.start()
    elif fault in control_plane.COMPONENTS:
        recorded = load(cluster.state_dir)
        assert recorded is not None
        sigkill(recorded, fault)
        control_plane.up(cluster.name, cluster.state_dir)


def stale_objects(api: client.ApiClient, city: str) -> int:
    """Pilot-wave Deployments left once Live, and children without exactly one controller."""
    namespace = city_namespace(city)
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


def audit_events(audit_log: Path) -> list[dict[str, Any]]:
    """Every event (rotated files too: a run of this benchmark passes 100 MB) with its
    request's time as `at` (seconds since the epoch), oldest first."""
    events = audit.events(audit_log)
    for event in events:
        stamp = event.get("requestReceivedTimestamp") or event["stageTimestamp"]
        event["at"] = datetime.datetime.fromisoformat(stamp).timestamp()
    return events


def city_of(key: ObjectKey) -> str | None:
    resource, namespace, name = key
    return namespace_city(name if resource == "namespaces" else namespace)


@dataclass(frozen=True)
class Creations:
    """Objects the operator created (201) more than once while their city existed, and
    objects it created after their city was deleted; each with every audited write to it
    (when, who, verb, code)."""

    twice: dict[ObjectKey, list[str]]
    after_deletion: dict[ObjectKey, list[str]]


def creations(events: Sequence[Mapping[str, Any]], deleted_at: Mapping[str, float]) -> Creations:
    """A create after the benchmark deleted the city is told apart: the operator wrote from
    a view of a city the garbage collector was already taking away."""
    before: Counter[ObjectKey] = Counter()
    after: set[ObjectKey] = set()
    history: dict[ObjectKey, list[str]] = {}
    for event in events:
        ref = event.get("objectRef", {})
        if event["verb"] not in WRITES or event.get("stage") != "ResponseComplete":
            continue
        if ref.get("resource") in ("events", "leases") or ref.get("subresource"):
            continue
        key = (ref.get("resource", ""), ref.get("namespace", ""), ref.get("name", ""))
        code = event.get("responseStatus", {}).get("code")
        history.setdefault(key, []).append(
            f"{event['stageTimestamp']} {event['user']['username']} {event['verb']} {code}"
        )
        if code != 201 or event["user"]["username"] != OPERATOR_USER:
            continue
        city = city_of(key)
        if city in deleted_at and event["at"] >= deleted_at[city]:
            after.add(key)
        else:
            before[key] += 1
    return Creations(
        twice={key: history[key] for key, count in before.items() if count > 1},
        after_deletion={key: history[key] for key in sorted(after)},
    )


def operator_requests(
    events: Sequence[Mapping[str, Any]], start: float, end: float
) -> Counter[tuple[str, int]]:
    """The operator's requests received in [start, end], by verb and response code (a watch
    is counted when it ends, so one still open at `end` is not)."""
    found: Counter[tuple[str, int]] = Counter()
    for event in events:
        if (
            event["user"]["username"] == OPERATOR_USER
            and event.get("stage") == "ResponseComplete"
            and start <= event["at"] <= end
        ):
            found[event["verb"], event.get("responseStatus", {}).get("code", 0)] += 1
    return found


def audit_every_operator_request(cluster: LocalCluster, path: Path) -> Path:
    """The cluster's audit policy with a first rule that records every request of the
    operator's user, reads too (the cluster's own policy records only writes)."""
    policy = yaml.safe_load((cluster.layout.infra / "audit-policy.yaml").read_text())
    policy["rules"].insert(0, {"level": "Metadata", "users": [OPERATOR_USER]})
    path.write_text(yaml.safe_dump(policy))
    return path


def run_trial(
    trial: Trial,
    cluster: LocalCluster,
    api: client.ApiClient,
    operator: OperatorProcess,
    deadline_seconds: float = DEADLINE_SECONDS,
) -> None:
    data = largest_city(trial.city)
    expected = sum(item.get("enabled", True) for item in data["spec"]["initiatives"])
    trial.created_at = time.time()
    client.CustomObjectsApi(api).create_cluster_custom_object(
        GROUP, VERSION, "cityblueprints", data
    )
    time.sleep(trial.after_seconds)
    injected = time.monotonic()
    inject(trial.fault, cluster, operator)
    deadline = injected + deadline_seconds
    while time.monotonic() < deadline:
        if not operator.alive:  # exited after --api-timeout: its Deployment would start it
            trial.operator_restarts += 1
            operator.start()
        if all_live(api, trial.city, expected):
            trial.converged_seconds = time.monotonic() - injected
            trial.live_at = time.time()
            return
        time.sleep(0.5)


def delete_city(api: client.ApiClient, city: str, deleted_at: dict[str, float]) -> None:
    deleted_at[city] = time.time()
    client.CustomObjectsApi(api).delete_cluster_custom_object(
        GROUP, VERSION, "cityblueprints", city
    )


def collected(api: client.ApiClient, city: str, seconds: float = 600) -> bool:
    """Whether the city's namespace is gone within `seconds`: its garbage collected, so the
    next measured rollout does not share the machine and the operator with it."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if namespace_gone(api, city_namespace(city)):
            return True
        time.sleep(1)
    return False


def describe(trial: Trial) -> str:
    shown = f"{trial.converged_seconds:.1f}s" if trial.converged_seconds else "NOT Live"
    what = {"none": "no fault", "429": "throttled API server"}.get(
        trial.fault, f"{trial.fault} killed {trial.after_seconds}s into the rollout"
    )
    return (
        f"{trial.city}: {what} -> Live {shown} after it"
        f" (operator restarts: {trial.operator_restarts})"
    )


def measured_rollout(
    trial: Trial,
    cluster: LocalCluster,
    api: client.ApiClient,
    operator: OperatorProcess,
    flags: Sequence[str],
    deleted_at: dict[str, float],
) -> None:
    """`trial` by a fresh operator on an API server freshly started with `flags`; then its
    city deleted and collected, and the API server started again as it always runs."""
    with apiserver_with(cluster, *flags):
        operator.start()
        try:
            run_trial(trial, cluster, api, operator, MEASURED_DEADLINE_SECONDS)
        finally:
            operator.stop()
    print(describe(trial), flush=True)
    delete_city(api, trial.city, deleted_at)
    if not collected(api, trial.city):
        print("  (its namespace was not collected within 600s)", flush=True)


def print_requests(what: str, trial: Trial, events: Sequence[Mapping[str, Any]]) -> int:
    """One line of the comparison; returns the request count (0 if it never went Live)."""
    if trial.live_at is None:
        print(f"  {what}: never Live, not counted")
        return 0
    found = operator_requests(events, trial.created_at, trial.live_at)
    total = sum(found.values())
    writes = sum(n for (verb, _), n in found.items() if verb in WRITES)
    rejected = sum(n for (_, code), n in found.items() if code == 429)
    print(
        f"  {what}: {total} requests ({writes} writes), {rejected} answered 429,"
        f" Live after {trial.live_at - trial.created_at:.1f}s,"
        f" operator restarts {trial.operator_restarts}"
    )
    return total


def main() -> None:
    stop_cleanly_on_sigterm()
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--trials", type=int, default=len(FAULTS), help="trials, the first a fault-free floor"
    )
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
    floor, faults = trials[0], trials[1:]
    floor.after_seconds = 0
    throttled = Trial("429", "chaos-throttled", 0)
    deleted_at: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as state:
        cluster = control_plane.up("chaos", Path(state))
        dynamic = kube.dynamic_client(cluster.kubeconfig)
        install_crds(dynamic)
        api = dynamic.client
        operator = OperatorProcess(
            plain_user_kubeconfig(cluster, OPERATOR_USER, Path(state) / "operator.kubeconfig"),
            Path(state) / "operator.log",
            args=("--api-timeout", str(API_TIMEOUT_SECONDS)),
        )
        policy = audit_every_operator_request(cluster, Path(state) / "audit-all.yaml")
        audit_all = f"--audit-policy-file={policy}"
        stale = 0
        try:
            measured_rollout(floor, cluster, api, operator, [audit_all], deleted_at)
            measured_rollout(
                throttled, cluster, api, operator, [audit_all, *THROTTLE_FLAGS], deleted_at
            )
            operator.start()
            for trial in faults:
                run_trial(trial, cluster, api, operator)
                print(describe(trial), flush=True)
                if trial.converged_seconds is not None:
                    stale += stale_objects(api, trial.city)
                delete_city(api, trial.city, deleted_at)
            for trial in faults:  # the operator runs on: creations after a deletion count
                collected(api, trial.city)
            events = audit_events(cluster.audit_log)
        finally:
            operator.stop()
            control_plane.down(cluster.state_dir, purge=True)
    survived = [t for t in faults if t.converged_seconds is not None]
    seconds = [t.converged_seconds for t in survived if t.converged_seconds is not None]
    print()
    if floor.converged_seconds is not None:
        print(f"floor: the same rollout without a fault, Live after {floor.converged_seconds:.1f}s")
    print(f"kills survived / tried: {len(survived)} / {len(faults)}")
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
    print(f"operator restarts after --api-timeout: {sum(t.operator_restarts for t in faults)}")
    print("the operator's requests from apply to Live (audit log):")
    normal = print_requests("API server as it normally runs", floor, events)
    limited = print_requests(f"throttled ({' '.join(THROTTLE_FLAGS)})", throttled, events)
    if normal and limited:
        print(f"  throttled / normal: {limited / normal:.2f}x")
    created = creations(events, deleted_at)
    for title, found in (
        ("objects created more than once while their city existed", created.twice),
        ("objects created after their city was deleted", created.after_deletion),
    ):
        print(f"{title} (audit log): {len(found)}")
        for (resource, namespace, name), writes in found.items():
            print(f"  {resource} {namespace}/{name}:")
            for write in writes:
                print(f"    {write}")
    print(f"stale objects once Live: {stale}")


if __name__ == "__main__":
    main()
