"""Benchmark: apply the largest example city and time it to all-Live on the local cluster.

Prints two figures: seconds from apply to every initiative Live, and the operator's API
writes during the rollout (from the apiserver audit log) against the objects it created.
Gates are shortened to 1s with automatic approval so the figure measures the operator,
not the city's patience. Run: `python3 benchmarks/rollout_bench.py`.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config

from citykit import kube
from citykit.core.render import plan
from citykit.core.source import load_file
from citykit.core.validation import validate
from citykit.kube.crds import install_crds
from citykit.kube.wait import wait_for
from citykit.localcluster import control_plane
from citykit.localcluster.operator_process import OperatorProcess
from citykit.resources import example_cities_dir

WRITES = ("create", "update", "patch", "delete")


def operator_writes(audit_log: Path) -> int:
    """Writes by the operator: kopf (status, events) and the Kubernetes client (apply, delete).

    The benchmark's own single create of the blueprint is subtracted by the caller."""
    count = 0
    for line in audit_log.read_text().splitlines():
        event = json.loads(line)
        agent = event.get("userAgent", "")
        if (
            event.get("stage") == "ResponseComplete"
            and event.get("verb") in WRITES
            and agent.startswith(("kopf/", "OpenAPI-Generator/"))
        ):
            count += 1
    return count


def main() -> None:
    largest = max(
        example_cities_dir().glob("*.yaml"),
        key=lambda path: len(load_file(path).data["spec"]["initiatives"]),
    )
    data: dict[str, Any] = yaml.safe_load(largest.read_text())
    for item in data["spec"]["initiatives"]:
        item["gate"] = {"healthyFor": "1s", "approval": "auto"}
    objects = len(plan(validate(load_file(largest))))
    enabled = sum(item.get("enabled", True) for item in data["spec"]["initiatives"])
    with tempfile.TemporaryDirectory() as state:
        cluster = control_plane.up("bench", Path(state), report=lambda message: None)
        operator = OperatorProcess(cluster.kubeconfig, Path(state) / "operator.log")
        try:
            api = config.new_client_from_config(str(cluster.kubeconfig))
            install_crds(kube.dynamic_client(cluster.kubeconfig))
            operator.start()
            time.sleep(3)  # the operator's startup (CRD scan, first list) is not the rollout
            before = operator_writes(cluster.audit_log)
            start = time.monotonic()
            blueprints = client.CustomObjectsApi(api)
            blueprints.create_cluster_custom_object(
                "citykit.io", "v1alpha1", "cityblueprints", data
            )

            def live() -> bool:
                operator.check_alive()
                status = (
                    blueprints.get_cluster_custom_object(
                        "citykit.io", "v1alpha1", "cityblueprints", data["metadata"]["name"]
                    ).get("status")
                    or {}
                )
                return status.get("phase") == "Live"

            wait_for(live, 1800, f"{largest.stem} to be Live")
            seconds = time.monotonic() - start
            writes = operator_writes(cluster.audit_log) - before - 1
        finally:
            operator.stop()
            control_plane.down(cluster.state_dir)
    print(f"{largest.stem}: {enabled} initiatives, {objects} objects planned")
    print(f"apply -> all Live: {seconds:.1f} s")
    print(
        f"operator API writes during rollout: {writes} ({writes / objects:.2f} per planned object)"
    )


if __name__ == "__main__":
    main()
