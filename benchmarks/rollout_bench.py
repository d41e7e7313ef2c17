"""Benchmark: apply the largest example city and time it to all-Live on the local cluster.

Prints two figures: seconds from apply to every initiative Live, and the operator's API
writes during the rollout (from the apiserver audit log) against the objects it created.
Gates are shortened to 1s with automatic approval so the figure measures the operator,
not the city's patience. Run: `python3 benchmarks/rollout_bench.py`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from citykit.cluster import control_plane
from citykit.crd import crds
from citykit.paths import cities_dir
from citykit.render import plan
from citykit.source import load_file
from citykit.validation import validate
from kubernetes import client, config

WRITES = ("create", "update", "patch", "delete")


def operator_writes(audit_log: Path) -> int:
    """Writes by the operator: kopf (status, events) and the Kubernetes client (apply, delete).

    The benchmark's own single create of the blueprint is subtracted by the caller."""
    count = 0
    for line in audit_log.read_text().splitlines():
        event = json.loads(line)
        agent = event.get("userAgent", "")
        if event.get("stage") == "ResponseComplete" and event.get("verb") in WRITES \
                and agent.startswith(("kopf/", "OpenAPI-Generator/")):
            count += 1
    return count


def main() -> None:
    largest = max(cities_dir().glob("*.yaml"), key=lambda path: len(load_file(path).data["spec"]["initiatives"]))
    data: dict[str, Any] = yaml.safe_load(largest.read_text())
    for item in data["spec"]["initiatives"]:
        item["gate"] = {"healthyFor": "1s", "approval": "auto"}
    objects = len(plan(validate(load_file(largest))))
    enabled = sum(item.get("enabled", True) for item in data["spec"]["initiatives"])
    with tempfile.TemporaryDirectory() as state:
        cluster = control_plane.up("bench", Path(state), report=lambda message: None)
        try:
            api = config.new_client_from_config(str(cluster.kubeconfig))
            for manifest in crds().values():
                client.ApiextensionsV1Api(api).create_custom_resource_definition(manifest)
            time.sleep(2)
            env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig), "CITYKIT_RESYNC_SECONDS": "1"}
            operator = subprocess.Popen([sys.executable, "-m", "citykit", "operator", "run"], env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                time.sleep(3)
                before = operator_writes(cluster.audit_log)
                start = time.monotonic()
                client.CustomObjectsApi(api).create_cluster_custom_object("citykit.io", "v1alpha1", "cityblueprints", data)
                while True:
                    status = client.CustomObjectsApi(api).get_cluster_custom_object(
                        "citykit.io", "v1alpha1", "cityblueprints", data["metadata"]["name"]).get("status") or {}
                    if status.get("phase") == "Live":
                        break
                    if time.monotonic() - start > 1800:
                        sys.exit(f"not Live after 1800s: {status.get('live')}")
                    time.sleep(0.5)
                seconds = time.monotonic() - start
                writes = operator_writes(cluster.audit_log) - before - 1
            finally:
                operator.kill()
        finally:
            control_plane.down(cluster.state_dir)
    print(f"{largest.stem}: {enabled} initiatives, {objects} objects planned")
    print(f"apply -> all Live: {seconds:.1f} s")
    print(f"operator API writes during rollout: {writes} ({writes / objects:.2f} per planned object)")


if __name__ == "__main__":
    main()
