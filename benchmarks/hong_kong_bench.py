"""Benchmark: Hong Kong at full scale, Smart City Blueprint 1.0 (76 initiatives) -> 2.0 (130).

Three figures, each beside its floor, printed, never asserted:

- validate + plan of Blueprint 2.0 in process, warm (the catalogue and schemas loaded once, as
  in the operator and in a long-lived CLI test): median of 20 (goal < 100 ms).
- `citykit validate hong-kong.yaml` as a whole process against `python3 -c 'import jsonschema,
  yaml, click'`, the libraries validating cannot do without (goal within 3x); as
  benchmarks/cli_startup_bench.py measures it: one warm-up each, alternated, median of 5.
- the upgrade on one local cluster (etcd, kube-apiserver, controller-manager, scheduler, KWOK)
  with 1 s automatic gates and the blueprints' pilot districts: the operator rolls 1.0 out, then
  2.0 is applied and timed until the city is Live again; beside it kubectl does the same to
  another namespace: server-side apply of 1.0's rendered objects and `kubectl wait` until every
  Deployment is Available, then the same for 2.0's (the 54 added initiatives' objects and the
  11 extended NetworkPolicies; kubectl has no pilots or gates, so it is the cluster's floor).
  Also the operator's API writes during the upgrade (apiserver audit log) per object 2.0 adds,
  and its writes to the 76 kept initiatives' workloads (goal 0).

Run: `python3 benchmarks/hong_kong_bench.py [--no-cluster]`.
"""

from __future__ import annotations

import argparse
import copy
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from benchmarks.cli_startup_bench import FLOOR, RUNS, side_by_side
from benchmarks.rollout_bench import (
    GATE_SECONDS,
    as_list,
    cluster_and_operator,
    kubectl,
    operator_writes,
    rendered,
)
from benchmarks.stopping import stop_cleanly_on_sigterm
from citykit.api.names import object_name
from citykit.core.model.validation import validate_file
from citykit.core.render.diff import object_key
from citykit.core.render.objects import plan
from citykit.kube.wait import wait_for
from citykit.localcluster.operator_process import OperatorProcess
from citykit.resources import example_cities_dir
from tests import audit

BLUEPRINT_1 = example_cities_dir() / "earlier-versions" / "hong-kong-1.0.0.yaml"
BLUEPRINT_2 = example_cities_dir() / "hong-kong.yaml"
WARM_RUNS = 20


def in_process_ms() -> tuple[float, float, int]:
    """(median, best) ms of validate + plan of Blueprint 2.0, warm; objects planned."""
    objects = plan(validate_file(BLUEPRINT_2))  # warm-up: schemas, catalogue, profiles cached
    samples = []
    for _ in range(WARM_RUNS):
        start = time.perf_counter()
        plan(validate_file(BLUEPRINT_2))
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), min(samples), len(objects)


def cli_ms() -> tuple[float, float]:
    script = shutil.which("citykit")
    if script is None:
        raise SystemExit("no `citykit` on PATH: python3 -m pip install -e .")
    python = shutil.which("python3") or sys.executable
    env = dict(os.environ)
    return side_by_side([script, "validate", str(BLUEPRINT_2)], [python, *FLOOR], env, env)


def programme(path: Path, name: str) -> dict[str, Any]:
    data: dict[str, Any] = copy.deepcopy(yaml.safe_load(path.read_text()))
    data["metadata"]["name"] = name
    for item in data["spec"]["initiatives"]:
        item["gate"] = {**item.get("gate", {}), "healthyFor": f"{GATE_SECONDS:g}s"}
        item["gate"]["approval"] = "auto"
    return data


def kubectl_apply_and_wait(
    kubeconfig: Path, objects: list[dict[str, Any]], namespace: str
) -> float:
    start = time.monotonic()
    kubectl(kubeconfig, "apply", "--server-side", "-f", "-", stdin=as_list(objects))
    kubectl(
        kubeconfig,
        *("wait", "--for=condition=Available", "deployment", "--all", "-n", namespace),
        "--timeout=1200s",
    )
    return time.monotonic() - start


def live(api: client.ApiClient, operator: OperatorProcess, name: str, generation: int) -> bool:
    operator.check_alive()
    found = client.CustomObjectsApi(api).get_cluster_custom_object(
        "citykit.io", "v1alpha1", "cityblueprints", name
    )
    status = found.get("status") or {}
    return status.get("observedGeneration", 0) >= generation and status.get("phase") == "Live"


def kept_workload_writes(
    audit_log: Path, since: int, namespace: str, kept: list[str], every: list[str]
) -> int:
    """Writes to the workloads of the `kept` initiatives; an object belongs to the initiative
    with the longest name it equals or starts with (`<initiative>-<component>`), of `every`."""
    names = sorted((object_name(ref) for ref in every), key=len, reverse=True)
    kept_names = {object_name(ref) for ref in kept}
    count = 0
    for event in audit.events(audit_log)[since:]:
        ref = event.get("objectRef", {})
        name = ref.get("name", "")
        owner = next((n for n in names if name == n or name.startswith(f"{n}-")), None)
        if (
            event.get("stage") == "ResponseComplete"
            and event.get("verb") in ("create", "update", "patch", "delete")
            and ref.get("namespace") == namespace
            and ref.get("resource") in ("deployments", "configmaps", "services", "serviceaccounts")
            and owner in kept_names
            and event.get("userAgent", "").startswith(("kopf/", "OpenAPI-Generator/"))
        ):
            count += 1
    return count


def upgrade_on_cluster() -> None:
    with cluster_and_operator("hk-bench") as (cluster, operator, api):
        kubeconfig = cluster.kubeconfig
        one_k, two_k = programme(BLUEPRINT_1, "hk-kubectl"), programme(BLUEPRINT_2, "hk-kubectl")
        before = {object_key(m): m for m in rendered(one_k)}
        one_objects = [m for m in rendered(one_k) if m["kind"] != "Initiative"]
        two_objects = [m for m in rendered(two_k) if m["kind"] != "Initiative"]
        changed = [m for m in two_objects if before.get(object_key(m)) != m]
        kubectl_one = kubectl_apply_and_wait(kubeconfig, one_objects, "city-hk-kubectl")
        kubectl_two = kubectl_apply_and_wait(kubeconfig, changed, "city-hk-kubectl")

        operator.start()
        time.sleep(3)  # the operator's startup is not the rollout
        blueprints = client.CustomObjectsApi(api)
        one, two = programme(BLUEPRINT_1, "hk-operator"), programme(BLUEPRINT_2, "hk-operator")
        start = time.monotonic()
        blueprints.create_cluster_custom_object("citykit.io", "v1alpha1", "cityblueprints", one)
        wait_for(lambda: live(api, operator, "hk-operator", 1), 1800, "1.0 Live", interval=0.2)
        operator_one = time.monotonic() - start
        mark = len(audit.events(cluster.audit_log))
        found = blueprints.get_cluster_custom_object(
            "citykit.io", "v1alpha1", "cityblueprints", "hk-operator"
        )
        found["spec"] = two["spec"]
        start = time.monotonic()
        replaced = blueprints.replace_cluster_custom_object(
            "citykit.io", "v1alpha1", "cityblueprints", "hk-operator", found
        )
        generation = replaced["metadata"]["generation"]
        wait_for(
            lambda: live(api, operator, "hk-operator", generation), 1800, "2.0 Live", interval=0.2
        )
        operator_two = time.monotonic() - start
        writes = operator_writes(cluster.audit_log, mark)
        kept = [item["ref"] for item in one["spec"]["initiatives"]]
        every = [item["ref"] for item in two["spec"]["initiatives"]]
        kept_writes = kept_workload_writes(cluster.audit_log, mark, "city-hk-operator", kept, every)
    total = sum(writes.values())
    print(f"objects: 1.0 {len(one_objects)}, 2.0 adds or changes {len(changed)} (kubectl applies)")
    print(
        f"1.0 rollout: operator {operator_one:6.1f} s (pilots, 1 s gates, dependsOn) | "
        f"kubectl apply+wait {kubectl_one:6.1f} s | {operator_one / kubectl_one:.2f}x"
    )
    print(
        f"1.0 -> 2.0:  operator {operator_two:6.1f} s (54 added pilot first) | "
        f"kubectl apply+wait {kubectl_two:6.1f} s | {operator_two / kubectl_two:.2f}x"
    )
    print(
        f"operator writes during the upgrade: {total} ({total / len(changed):.2f} per object "
        "2.0 adds or changes): " + ", ".join(f"{k} {v}" for k, v in sorted(writes.items()))
    )
    print(f"operator writes to the 76 kept initiatives' workloads: {kept_writes}")


def main() -> None:
    stop_cleanly_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-cluster", action="store_true", help="only the in-process and CLI")
    arguments = parser.parse_args()
    median, best, objects = in_process_ms()
    print(
        f"validate + plan {BLUEPRINT_2.name} (130 initiatives, {objects} objects), warm: "
        f"median {median:.1f} ms, best {best:.1f} ms (of {WARM_RUNS})"
    )
    measured, floor = cli_ms()
    print(
        f"citykit validate {BLUEPRINT_2.name}: {measured:.1f} ms | floor {floor:.1f} ms | "
        f"ratio {measured / floor:.2f} (median of {RUNS})"
    )
    sys.stdout.flush()
    if not arguments.no_cluster:
        upgrade_on_cluster()


if __name__ == "__main__":
    main()
