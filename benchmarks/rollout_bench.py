"""Benchmark: the operator against the cluster's own floor, side by side in one run.

On one local cluster (etcd, kube-apiserver, controller-manager, scheduler, KWOK), with the
largest example city and 1 s automatic gates:

- flat: the city without pilots or dependsOn, apply -> every initiative Live, against
  `kubectl apply --server-side` of the same rendered objects + `kubectl wait` on every
  Deployment (goal <= 1.1x).
- chain: the city as written, apply -> Live, against its critical path: on the longest
  dependsOn chain, per initiative its waves x the measured time for one Deployment to become
  Available, plus its 1 s gate if it pilots (goal <= 1.5x); and, as a second floor, the same
  schedule carried out by kubectl: one thread per initiative waits for its dependencies,
  server-side applies each wave's rendered objects, `kubectl rollout status` until they are
  available, and sleeps the 1 s gate after a pilot (the cluster's pace with the same load).
- writes: the operator's API writes (apiserver audit log) per planned object during the
  cold chain rollout (goal <= 1.5), and its writes while idle afterwards (goal 0).

Figures, not assertions. Run: `python3 -m benchmarks.rollout_bench [--idle SECONDS]
[--city NAME] [--writes-only]`; `--writes-only` skips the floors and the flat rollout and
measures the chain's writes alone. The writes are broken down by verb and resource (a server-
side apply, create or change, is a `patch`), by Initiative phase transition, by Event reason,
and into Deployment patches that changed the object and ones that did not.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config, watch
from urllib3.exceptions import ProtocolError

from benchmarks.stopping import stop_cleanly_on_sigterm
from citykit import kube
from citykit.api.enums import Wave
from citykit.api.names import object_name
from citykit.core.load.source import from_data, load_file
from citykit.core.model.validation import validate
from citykit.core.render.objects import (
    initiative_children,
    initiative_resources,
    namespace_objects,
    plan,
)
from citykit.kube.crds import install_crds
from citykit.kube.wait import wait_for
from citykit.localcluster import control_plane
from citykit.localcluster.operator_process import OperatorProcess
from citykit.localcluster.state import LocalCluster
from citykit.resources import example_cities_dir
from citykit.toolchain.locations import bin_dir
from tests import audit

WRITES = ("create", "update", "patch", "delete")
GATE_SECONDS = 1.0


@contextmanager
def cluster_and_operator(
    name: str,
) -> Iterator[tuple[LocalCluster, OperatorProcess, client.ApiClient]]:
    """A fresh local cluster with citykit's CRDs and an operator for it, not yet started (a
    benchmark measures its floor first), stopped and torn down afterwards."""
    with tempfile.TemporaryDirectory() as state:
        cluster = control_plane.up(name, Path(state), report=lambda message: None)
        operator = OperatorProcess(cluster.kubeconfig, Path(state) / "operator.log")
        try:
            install_crds(kube.dynamic_client(cluster.kubeconfig))
            yield cluster, operator, config.new_client_from_config(str(cluster.kubeconfig))
        finally:
            operator.stop()
            control_plane.down(cluster.state_dir)


def operator_writes(audit_log: Path, since: int) -> Counter[str]:
    """Writes by the operator (kopf and the Kubernetes client) after the first `since`
    audit events, by resource (and subresource)."""
    counts: Counter[str] = Counter()
    for event in audit.events(audit_log)[since:]:
        agent = event.get("userAgent", "")
        if (
            event.get("stage") == "ResponseComplete"
            and event.get("verb") in WRITES
            and agent.startswith(("kopf/", "OpenAPI-Generator/"))
        ):
            ref = event.get("objectRef", {})
            resource = ref.get("resource", "?")
            if ref.get("subresource"):
                resource += "/" + ref["subresource"]
            counts[f"{event['verb']} {resource}"] += 1
    return counts


class Changes:
    """What the chain's writes changed, seen by watches during its rollout: each Initiative
    status change as its phase transition, and each Deployment change the operator can have
    made (a new generation, or new labels or annotations)."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.transitions: Counter[str] = Counter()
        self.deployment_changes: Counter[str] = Counter()
        self._watches = [watch.Watch(), watch.Watch()]
        custom, apps = client.CustomObjectsApi(api), client.AppsV1Api(api)
        self._threads = [
            threading.Thread(
                target=self._initiatives,
                args=(self._watches[0], custom, namespace),
                daemon=True,
            ),
            threading.Thread(
                target=self._deployments,
                args=(self._watches[1], apps, namespace),
                daemon=True,
            ),
        ]
        for thread in self._threads:
            thread.start()

    def _initiatives(
        self, stream: watch.Watch, custom: client.CustomObjectsApi, namespace: str
    ) -> None:
        seen: dict[str, dict[str, Any]] = {}
        events = stream.stream(
            custom.list_namespaced_custom_object,
            *("citykit.io", "v1alpha1", namespace, "initiatives"),
            timeout_seconds=3600,
        )
        with suppress(ProtocolError):  # the watch was stopped
            for event in events:
                item = event["object"]
                name, status = item["metadata"]["name"], item.get("status") or {}
                old = seen.get(name, {})
                if status != old:
                    before, after = old.get("phase", "-"), status.get("phase", "-")
                    self.transitions[f"{before} -> {after}"] += 1
                seen[name] = status

    def _deployments(self, stream: watch.Watch, apps: client.AppsV1Api, namespace: str) -> None:
        seen: dict[str, tuple[Any, ...]] = {}
        events = stream.stream(apps.list_namespaced_deployment, namespace, timeout_seconds=3600)
        with suppress(ProtocolError):  # the watch was stopped
            for event in events:
                meta = event["object"].metadata
                key = (meta.generation, meta.labels, meta.annotations)
                if meta.name in seen and seen[meta.name] != key:
                    self.deployment_changes[meta.name] += 1
                seen[meta.name] = key

    def stop(self) -> None:
        for stream in self._watches:
            stream.stop()


def events_by_reason(api: client.ApiClient, namespace: str) -> Counter[str]:
    """The Events citykit posted about the city's objects, by reason."""
    found = client.CoreV1Api(api).list_namespaced_event(namespace).items
    return Counter(str(e.reason) for e in found if e.source and e.source.component == "citykit")


def deployment_patches(audit_log: Path, since: int, namespace: str) -> Counter[str]:
    """The operator's Deployment patches after the first `since` audit events, by name."""
    counts: Counter[str] = Counter()
    for event in audit.events(audit_log)[since:]:
        ref = event.get("objectRef", {})
        if (
            event.get("stage") == "ResponseComplete"
            and event.get("verb") == "patch"
            and ref.get("resource") == "deployments"
            and not ref.get("subresource")
            and ref.get("namespace") == namespace
            and event.get("userAgent", "").startswith(("kopf/", "OpenAPI-Generator/"))
        ):
            counts[ref["name"]] += 1
    return counts


def print_breakdown(
    api: client.ApiClient, changes: Changes, patches: Counter[str], namespace: str
) -> None:
    print("  Initiative status changes by phase transition:")
    for transition, count in changes.transitions.most_common():
        print(f"    {transition}: {count}")
    print(
        "  Events by reason: "
        + ", ".join(
            f"{reason} {count}" for reason, count in events_by_reason(api, namespace).most_common()
        )
    )
    changed = sum(min(count, changes.deployment_changes[name]) for name, count in patches.items())
    print(
        f"  Deployment patches: {sum(patches.values())} on {len(patches)} Deployments,"
        f" {changed} changed the object, {sum(patches.values()) - changed} changed nothing;"
        " patches per Deployment: "
        + ", ".join(f"{n}x {c}" for n, c in sorted(Counter(patches.values()).items()))
    )


def city(name: str, flat: bool, example: str | None = None) -> dict[str, Any]:
    """An example city (`example`, or the largest) under `name`, with 1 s automatic gates."""
    source = (
        example_cities_dir() / f"{example}.yaml"
        if example
        else max(
            example_cities_dir().glob("*.yaml"),
            key=lambda path: len(load_file(path).data["spec"]["initiatives"]),
        )
    )
    data: dict[str, Any] = copy.deepcopy(yaml.safe_load(source.read_text()))
    data["metadata"]["name"] = name
    for item in data["spec"]["initiatives"]:
        item["gate"] = {"healthyFor": f"{GATE_SECONDS:g}s", "approval": "auto"}
        if flat:
            item["pilotDistricts"], item["dependsOn"] = [], []
    return data


def rendered(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    return plan(validate(from_data(f"{data['metadata']['name']}.yaml", dict(data))))


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> None:
    """The kubectl built with the cluster (its release, not whatever is on PATH)."""
    subprocess.run(
        [str(bin_dir() / "kubectl"), "--kubeconfig", str(kubeconfig), *args],
        input=stdin,
        text=True,
        check=True,
        capture_output=True,
    )


def as_list(objects: list[dict[str, Any]]) -> str:
    """Objects as one JSON `List` for `kubectl apply -f -` (enum values are strings)."""
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})


def kubectl_floor(kubeconfig: Path, data: Mapping[str, Any]) -> float:
    """Seconds for kubectl to server-side apply the city's objects (not its Initiatives,
    which only the operator reads) and wait until every Deployment is Available."""
    objects = [m for m in rendered(data) if m["kind"] != "Initiative"]
    namespace = f"city-{data['metadata']['name']}"
    start = time.monotonic()
    kubectl(kubeconfig, "apply", "--server-side", "-f", "-", stdin=as_list(objects))
    kubectl(
        kubeconfig,
        "wait",
        "--for=condition=Available",
        "deployment",
        "--all",
        "-n",
        namespace,
        "--timeout=900s",
    )
    return time.monotonic() - start


def one_deployment_seconds(kubeconfig: Path, data: Mapping[str, Any], runs: int = 5) -> float:
    """Median seconds for one of the city's Deployments to become Available when applied."""
    deployment = next(m for m in rendered(data) if m["kind"] == "Deployment")
    namespace = deployment["metadata"]["namespace"]
    times = []
    for run in range(runs):
        probe = copy.deepcopy(deployment)
        probe["metadata"]["name"] = f"probe-{run}"
        start = time.monotonic()
        kubectl(kubeconfig, "apply", "--server-side", "-f", "-", stdin=as_list([probe]))
        kubectl(
            kubeconfig,
            "wait",
            "--for=condition=Available",
            f"deployment/probe-{run}",
            "-n",
            namespace,
            "--timeout=120s",
        )
        times.append(time.monotonic() - start)
    return statistics.median(times)


def critical_path(data: Mapping[str, Any], deployment_seconds: float) -> tuple[float, int]:
    """(seconds, waves) along the longest dependsOn chain of the enabled initiatives."""
    items = {i["ref"]: i for i in data["spec"]["initiatives"] if i.get("enabled", True)}
    memo: dict[str, tuple[float, int]] = {}

    def cost(ref: str) -> tuple[float, int]:
        if ref not in memo:
            item = items[ref]
            pilots = bool(item.get("pilotDistricts"))
            waves = 2 if pilots else 1
            own = waves * deployment_seconds + (GATE_SECONDS if pilots else 0)
            before = max((cost(d) for d in item.get("dependsOn", []) if d in items), default=(0, 0))
            memo[ref] = (before[0] + own, before[1] + waves)
        return memo[ref]

    return max(cost(ref) for ref in items)


def kubectl_orchestrated(kubeconfig: Path, data: Mapping[str, Any]) -> float:
    """Seconds for kubectl to carry out the chain's schedule (see the module docstring)."""
    validated = validate(from_data(f"{data['metadata']['name']}.yaml", dict(data)))
    namespace = f"city-{data['metadata']['name']}"
    specs = [resource["spec"] for resource in initiative_resources(validated)]
    live = {spec["ref"]: threading.Event() for spec in specs}
    failures: list[BaseException] = []

    def roll_out(spec: Mapping[str, Any]) -> None:
        try:
            for dependency in spec.get("dependsOn", []):
                live[dependency].wait()
            waves = [Wave.PILOT, Wave.CITYWIDE] if spec.get("pilotDistricts") else [Wave.CITYWIDE]
            for wave in waves:
                objects = initiative_children(spec, validated.catalogue, wave)
                kubectl(kubeconfig, "apply", "--server-side", "-f", "-", stdin=as_list(objects))
                kubectl(
                    kubeconfig,
                    *("rollout", "status", "deployment", "-n", namespace, "--timeout=900s"),
                    f"--selector=citykit.io/initiative={object_name(spec['ref'])}",
                )
                if wave == Wave.PILOT:
                    time.sleep(GATE_SECONDS)
        except BaseException as error:
            failures.append(error)
        finally:
            live[spec["ref"]].set()

    start = time.monotonic()
    city_objects = namespace_objects(validated.blueprint)
    kubectl(kubeconfig, "apply", "--server-side", "-f", "-", stdin=as_list(city_objects))
    threads = [threading.Thread(target=roll_out, args=(spec,)) for spec in specs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return time.monotonic() - start


def operator_rollout(api: client.ApiClient, operator: OperatorProcess, data: Any) -> float:
    blueprints = client.CustomObjectsApi(api)
    start = time.monotonic()
    blueprints.create_cluster_custom_object("citykit.io", "v1alpha1", "cityblueprints", data)

    def live() -> bool:
        operator.check_alive()
        found = blueprints.get_cluster_custom_object(
            "citykit.io", "v1alpha1", "cityblueprints", data["metadata"]["name"]
        )
        return (found.get("status") or {}).get("phase") == "Live"

    wait_for(live, 1800, f"{data['metadata']['name']} to be Live", interval=0.1)
    return time.monotonic() - start


def main() -> None:
    stop_cleanly_on_sigterm()
    parser = argparse.ArgumentParser()
    parser.add_argument("--idle", type=float, default=60, help="idle window in seconds")
    parser.add_argument("--writes-only", action="store_true", help="the chain's writes alone")
    parser.add_argument("--city", help="an example city's name (default: the largest)")
    arguments = parser.parse_args()
    idle, example = arguments.idle, arguments.city
    chain = city("chain", flat=False, example=example)
    namespace = f"city-{chain['metadata']['name']}"
    with cluster_and_operator("bench") as (cluster, operator, api):
        kubeconfig = cluster.kubeconfig
        if not arguments.writes_only:
            flat_floor = kubectl_floor(kubeconfig, city("floor", flat=True, example=example))
            deployment_seconds = one_deployment_seconds(
                kubeconfig, city("floor", flat=True, example=example)
            )
            chain_floor, waves = critical_path(chain, deployment_seconds)
            orchestrated = kubectl_orchestrated(
                kubeconfig, city("orchestrated", flat=False, example=example)
            )

        operator.start()
        time.sleep(3)  # the operator's startup (CRD scan, first list) is not the rollout
        if not arguments.writes_only:
            flat_seconds = operator_rollout(api, operator, city("flat", flat=True, example=example))
        changes = Changes(api, namespace)
        before = len(audit.events(cluster.audit_log))
        chain_seconds = operator_rollout(api, operator, chain)
        time.sleep(3)
        writes = operator_writes(cluster.audit_log, before)
        patches = deployment_patches(cluster.audit_log, before, namespace)
        changes.stop()
        before_idle = len(audit.events(cluster.audit_log))
        time.sleep(idle)
        idle_writes = sum(operator_writes(cluster.audit_log, before_idle).values())
        planned = len(rendered(chain))
        enabled = sum(item.get("enabled", True) for item in chain["spec"]["initiatives"])
        total = sum(writes.values())
        print(f"{example or 'the largest example'}: {enabled} initiatives")
        print(
            f"writes during the chain rollout ({chain_seconds:.1f} s): {total} for {planned}"
            f" planned objects ({total / planned:.2f} per object): "
            + ", ".join(f"{k} {v}" for k, v in sorted(writes.items()))
        )
        print_breakdown(api, changes, patches, namespace)
        print(f"writes while idle for {idle:g} s: {idle_writes}")
    if arguments.writes_only:
        return
    print(f"one Deployment Available (median of 5): {deployment_seconds:.2f} s")
    print(
        f"flat  operator {flat_seconds:6.1f} s | kubectl apply+wait {flat_floor:6.1f} s"
        f" | {flat_seconds / flat_floor:.2f}x"
    )
    print(
        f"chain operator {chain_seconds:6.1f} s | critical path {chain_floor:6.1f} s"
        f" ({waves} waves, 1 s gates) | {chain_seconds / chain_floor:.2f}x"
    )
    print(
        f"chain operator {chain_seconds:6.1f} s | kubectl, same schedule {orchestrated:6.1f} s"
        f" | {chain_seconds / orchestrated:.2f}x"
    )


if __name__ == "__main__":
    main()
