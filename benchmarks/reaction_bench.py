"""Benchmark: how fast the operator reacts to a change, against the API server's own watch
round trip, side by side in one run (issue 12's goal: within 1 s on an idle cluster).

On one local cluster with the operator running and a small city Live, each of these is timed
REPEATS times from the moment the change is written to the moment a watch sees the
operator's answer (median and worst):

- drift, scaled: a Deployment scaled to 0 by hand -> its replicas restored;
- drift, deleted: a ConfigMap deleted by hand -> created again;
- approval: the approval annotation on an initiative awaiting it -> its first Deployment
  relabelled citywide;
- dependency: an initiative going Live -> the first Deployment of the one waiting for it.

The floor is the same watch seeing our own write come back (a label patch): the part of
every figure that is the API server's and the watch's, not the operator's.
Figures, not assertions. Run from the repository root: `python3 -m benchmarks.reaction_bench`.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

from kubernetes import client, watch

from benchmarks.rollout_bench import cluster_and_operator
from benchmarks.stopping import stop_cleanly_on_sigterm
from citykit.api.names import APPROVED_BY_ANNOTATION, object_name
from citykit.kube.wait import wait_for
from tests.cities import blueprint, create_blueprint, initiatives

CITY = "reaction"
Matcher = Callable[[str, Any], bool]
Round = tuple[float, float, float, float, float]


class FirstMatch:
    """A watch on one list call, from now, that notes the moment an event first `matches`."""

    def __init__(self, matches: Matcher, list_call: Callable[..., Any], *args: Any) -> None:
        self.matches, self.found, self.at = matches, threading.Event(), 0.0
        self.stream = watch.Watch()
        listed = list_call(*args)
        version = (
            listed["metadata"]["resourceVersion"]
            if isinstance(listed, dict)
            else listed.metadata.resource_version
        )
        threading.Thread(target=self._run, args=(list_call, args, version), daemon=True).start()

    def _run(self, list_call: Callable[..., Any], args: tuple[Any, ...], version: str) -> None:
        for event in self.stream.stream(
            list_call, *args, resource_version=version, timeout_seconds=120
        ):
            if self.matches(event["type"], event["object"]):
                self.at = time.monotonic()
                self.found.set()
                self.stream.stop()

    def moment(self, timeout: float = 120) -> float:
        if not self.found.wait(timeout):
            self.stream.stop()
            raise TimeoutError("the change was not answered")
        return self.at


def answered(
    write: Callable[[], object], matches: Matcher, list_call: Callable[..., Any], *args: Any
) -> float:
    """Seconds from the start of `write` to the first event that `matches`."""
    first = FirstMatch(matches, list_call, *args)
    start = time.monotonic()
    write()
    return first.moment() - start


def phase_of(api: client.ApiClient, name: str) -> str:
    found = [i for i in initiatives(api, CITY) if i["metadata"]["name"] == name]
    return str((found[0].get("status") or {}).get("phase", "")) if found else ""


def one_round(api: client.ApiClient, index: int, name: str, dependant: str) -> Round:
    """(floor, scaled, deleted, approved, dependency) seconds for initiative `name`, which
    awaits approval, and `dependant`, which waits for it."""
    namespace = f"city-{CITY}"
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    custom = client.CustomObjectsApi(api)
    deployments = (apps.list_namespaced_deployment, namespace)
    config_maps = (core.list_namespaced_config_map, namespace)
    selector = f"citykit.io/initiative={name}"
    victim = apps.list_namespaced_deployment(namespace, label_selector=selector)
    victim_name, replicas = victim.items[0].metadata.name, victim.items[0].spec.replicas
    mark = {"metadata": {"labels": {"citykit-bench": str(index)}}}
    floor = answered(
        lambda: apps.patch_namespaced_deployment(victim_name, namespace, mark),
        lambda _, d: (d.metadata.labels or {}).get("citykit-bench") == str(index),
        *deployments,
    )
    scaled = answered(
        lambda: apps.patch_namespaced_deployment_scale(
            victim_name, namespace, {"spec": {"replicas": 0}}
        ),
        lambda _, d: d.metadata.name == victim_name and d.spec.replicas == replicas,
        *deployments,
    )
    gone = core.list_namespaced_config_map(namespace, label_selector=selector)
    gone_name = gone.items[0].metadata.name
    deleted = answered(
        lambda: core.delete_namespaced_config_map(gone_name, namespace),
        lambda kind, cm: kind == "ADDED" and cm.metadata.name == gone_name,
        *config_maps,
    )
    # The approval is answered by the first citywide Deployment; the gated one
    # then going Live by the dependant's first Deployment (both moments from
    # watches started before the approval).
    live = FirstMatch(
        lambda _, item: (
            item["metadata"]["name"] == name and (item.get("status") or {}).get("phase") == "Live"
        ),
        custom.list_namespaced_custom_object,
        "citykit.io",
        "v1alpha1",
        namespace,
        "initiatives",
    )
    deployed = FirstMatch(
        lambda kind, d: (
            kind == "ADDED" and (d.metadata.labels or {}).get("citykit.io/initiative") == dependant
        ),
        *deployments,
    )
    approval = {"metadata": {"annotations": {APPROVED_BY_ANNOTATION: "bench"}}}
    approved = answered(
        lambda: custom.patch_namespaced_custom_object(
            "citykit.io", "v1alpha1", namespace, "initiatives", name, approval
        ),
        lambda _, d: (
            (d.metadata.labels or {}).get("citykit.io/initiative") == name
            and d.metadata.labels.get("citykit.io/wave") == "citywide"
        ),
        *deployments,
    )
    return floor, scaled, deleted, approved, deployed.moment() - live.moment()


def figures(label: str, samples: list[float], floor: float) -> str:
    median = statistics.median(samples)
    return (
        f"{label:<28} median {1000 * median:6.0f} ms, worst {1000 * max(samples):6.0f} ms"
        f" | watch round trip {1000 * floor:5.0f} ms | {median / floor:5.1f}x"
    )


def main() -> None:
    stop_cleanly_on_sigterm()
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    repeats = parser.parse_args().repeats
    with cluster_and_operator("reaction") as (_, operator, api):
        operator.start()
        # Two manual gates held at AwaitingApproval per repeat, each with a dependant.
        data = blueprint("tallinn", CITY, gate="1s", keep=2 * repeats)
        items = data["spec"]["initiatives"]
        gated, dependants = items[:repeats], items[repeats:]
        for first, second in zip(gated, dependants, strict=True):
            first.update(gate={"healthyFor": "1s", "approval": "manual"}, dependsOn=[])
            first["pilotDistricts"] = [data["spec"]["districts"][0]["id"]]
            second.update(dependsOn=[first["ref"]], pilotDistricts=[])
        create_blueprint(api, data)
        wait_for(
            lambda: all(phase_of(api, object_name(i["ref"])) == "AwaitingApproval" for i in gated),
            300,
            "every gated pilot awaiting approval",
        )

        rounds = [
            one_round(api, index, object_name(first["ref"]), object_name(second["ref"]))
            for index, (first, second) in enumerate(zip(gated, dependants, strict=True))
        ]
    floor, scaled, deleted, approved, followed = (
        list(column) for column in zip(*rounds, strict=True)
    )
    median_floor = statistics.median(floor)
    print(f"{repeats} repeats each, on an idle local cluster; operator and floor in one run")
    print(figures("drift: Deployment scaled", scaled, median_floor))
    print(figures("drift: ConfigMap deleted", deleted, median_floor))
    print(figures("approval -> citywide", approved, median_floor))
    print(figures("dependency Live -> deployed", followed, median_floor))


if __name__ == "__main__":
    main()
