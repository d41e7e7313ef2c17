"""A 200-initiative blueprint on the real cluster.

The catalogue has fewer entries than that, so the test writes a catalogue of its own
(`tests.fleet`): the project's, plus numbered copies of the entries Hangzhou uses, and a
blueprint that enables all of them with Hangzhou's settings. What must hold at that size:
every Initiative exists once, the blueprint's status folds all of them, kopf keeps no copy
of the large spec in an annotation (the operator has no change handlers, only watch events
and indices), no object carries a finalizer, and once the city is Live the operator makes
no writes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config

from citykit import kube
from citykit.kube.crds import install_crds
from citykit.kube.wait import wait_for
from citykit.localcluster.operator_process import OperatorProcess
from citykit.localcluster.state import LocalCluster
from tests import audit, fleet
from tests.deadlines import PROMPTLY, quiet
from tests.own_cluster import own_cluster

SIZE = 200
NAME = "metropolis"


@pytest.fixture(scope="module")
def cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalCluster]:
    """Its own: the longest rollout of the suite runs beside the shared cluster's modules."""
    yield from own_cluster(request, tmp_path_factory, "scale")


@pytest.fixture(scope="module")
def big_city(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("blueprints")
    return root, fleet.city(NAME, fleet.enlarge(root, SIZE))


@pytest.fixture(scope="module")
def operator(
    cluster: LocalCluster,
    big_city: tuple[Path, dict[str, Any]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    install_crds(kube.dynamic_client(cluster.kubeconfig))
    running = OperatorProcess(
        cluster.kubeconfig,
        tmp_path_factory.mktemp("operator") / "operator.log",
        env={"CITYKIT_BLUEPRINTS": str(big_city[0])},
    )
    running.start()
    yield running
    running.stop()


def test_the_enlarged_city_is_valid(big_city: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    root, city = big_city
    path = tmp_path / f"{NAME}.yaml"
    path.write_text(yaml.safe_dump(city, sort_keys=False))

    result = subprocess.run(
        [sys.executable, "-m", "citykit", "validate", str(path)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "CITYKIT_BLUEPRINTS": str(root)},
    )

    assert result.returncode == 0, result.stderr
    assert len(city["spec"]["initiatives"]) == SIZE


def test_two_hundred_initiatives_roll_out_and_the_operator_then_idles(
    cluster: LocalCluster, big_city: tuple[Path, dict[str, Any]], operator: OperatorProcess
) -> None:
    api = config.new_client_from_config(str(cluster.kubeconfig))
    objects = client.CustomObjectsApi(api)
    objects.create_cluster_custom_object("citykit.io", "v1alpha1", "cityblueprints", big_city[1])

    def blueprint() -> dict[str, Any]:
        operator.check_alive()
        found: dict[str, Any] = objects.get_cluster_custom_object(
            "citykit.io", "v1alpha1", "cityblueprints", NAME
        )
        return found

    wait_for(
        lambda: (blueprint().get("status") or {}).get("phase") == "Live",
        1500,
        f"all {SIZE} initiatives Live",
    )
    items = objects.list_namespaced_custom_object(
        "citykit.io", "v1alpha1", f"city-{NAME}", "initiatives"
    )["items"]
    assert sorted(i["spec"]["ref"] for i in items) == sorted(
        i["ref"] for i in big_city[1]["spec"]["initiatives"]
    )
    assert blueprint()["status"]["initiatives"]["total"] == SIZE
    annotations = blueprint()["metadata"].get("annotations") or {}
    assert len(json.dumps(annotations)) < 4096, (
        f"kopf keeps large state in annotations: {list(annotations)}"
    )
    assert not blueprint()["metadata"].get("finalizers")
    assert not any(item["metadata"].get("finalizers") for item in items)

    writes = quiet(lambda: audit.city_writes(cluster.audit_log))
    wait_for(writes, PROMPTLY, "the writes of in-flight watch events to end")
    before = audit.city_writes(cluster.audit_log)
    time.sleep(10)  # the measured window
    assert audit.city_writes(cluster.audit_log) - before == 0
    objects.delete_cluster_custom_object("citykit.io", "v1alpha1", "cityblueprints", NAME)
