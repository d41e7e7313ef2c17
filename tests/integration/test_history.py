"""`citykit history` and `citykit rollback` against a real kube-apiserver.

The ControllerRevisions are written here in the format `citykit.core.rollout.history` defines (what
the operator will write), so the commands' reads and their one write (a replace of the
CityBlueprint's spec) meet the real API: the apps/v1 kind, RawExtension data, the CRD's schema
and optimistic concurrency. No operator runs: nothing else writes meanwhile.
"""

from __future__ import annotations

import copy
import datetime
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from citykit import kube
from citykit.core.rollout.history import Outcome, outcome_annotations, revision_object
from citykit.kube.crds import install_crds
from citykit.localcluster.state import LocalCluster
from tests.conftest import read_city, run_cli

CITIES = iter(range(1, 100))
T0 = datetime.datetime(2026, 12, 1, 9, 0, tzinfo=datetime.UTC)


def spec(version: str, catalogue: str) -> dict[str, Any]:
    data = copy.deepcopy(read_city("hangzhou")["spec"])
    data["version"], data["catalogueVersion"] = version, catalogue
    return data


@dataclass
class City:
    name: str
    client: Any
    stored: dict[int, dict[str, Any]]  # revision number -> the spec it recorded


@pytest.fixture
def city(kube_cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch) -> Iterator[City]:
    """A blueprint applied at 3.1.0, 3.2.0, then 3.3.0 (with a hosting field another
    manager set), and the three revisions the operator would have kept: 3.1.0 Live, 3.2.0
    Live, 3.3.0 RolledBack. Each test has a city of its own (a namespace takes a while to go)."""
    name = f"historic-{next(CITIES)}"
    monkeypatch.setenv("KUBECONFIG", str(kube_cluster.kubeconfig))
    client = kube.dynamic_client(kube_cluster.kubeconfig)
    install_crds(client)
    kube.apply(
        client, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"city-{name}"}}
    )

    def applied(data: dict[str, Any], manager: str = "citykit") -> dict[str, Any]:
        """Apply the city with spec `data`; the spec as stored, defaults filled in (what the
        operator records)."""
        stored = kube.apply(
            client,
            {
                "apiVersion": "citykit.io/v1alpha1",
                "kind": "CityBlueprint",
                "metadata": {"name": name},
                "spec": data,
            },
            field_manager=manager,
        )
        return dict(stored["spec"])

    history = [
        (applied(spec("3.1.0", "1.0.0")), Outcome.LIVE),
        (applied(spec("3.2.0", "1.1.0")), Outcome.LIVE),
        # 3.3.0 came with a field only another manager set, and was rolled back
        (
            applied({**spec("3.3.0", "1.1.0"), "hosting": {"country": "CN"}}, "kubectl"),
            Outcome.ROLLED_BACK,
        ),
    ]
    for number, (stored, outcome) in enumerate(history, start=1):
        made = revision_object(name, stored, number, T0 + datetime.timedelta(hours=number))
        settled = outcome_annotations(outcome, T0 + datetime.timedelta(hours=number, minutes=20))
        made["metadata"]["annotations"].update(
            {key: value for key, value in settled.items() if value is not None}
        )
        kube.apply(client, made)
    yield City(name, client, {n: stored for n, (stored, _) in enumerate(history, start=1)})
    kube.delete(client, "citykit.io/v1alpha1", "CityBlueprint", name)
    kube.delete(client, "v1", "Namespace", f"city-{name}")


def test_history_lists_the_revisions_the_api_server_holds(city: City) -> None:
    result = run_cli("history", city.name)
    assert result.exit_code == 0, result.output
    rows = [line.split()[:5] for line in result.output.splitlines()[1:4]]
    assert rows == [
        ["r1", "3.1.0", "1.0.0", "2026-12-01T10:00:00Z", "Live"],
        ["r2", "3.2.0", "1.1.0", "2026-12-01T11:00:00Z", "Live"],
        ["*r3", "3.3.0", "1.1.0", "2026-12-01T12:00:00Z", "RolledBack"],
    ]


def test_rollback_replaces_the_whole_spec_with_the_last_live_revision(city: City) -> None:
    result = run_cli("rollback", city.name)
    assert result.exit_code == 0, result.output
    stored = kube.read(city.client, "citykit.io/v1alpha1", "CityBlueprint", city.name)
    assert stored["spec"] == city.stored[2]  # hosting, set by another manager, is gone
    assert "hosting" not in stored["spec"]
    assert stored["metadata"]["annotations"]["citykit.io/restored-from"] == "2"
    again = run_cli("rollback", city.name, "--to", "3.2.0")
    assert again.exit_code == 0
    assert "already runs blueprint 3.2.0 (revision 2); nothing to roll back" in again.output


def test_rollback_across_catalogue_versions(city: City) -> None:
    result = run_cli("rollback", city.name, "--to", "r1")
    assert result.exit_code == 0, result.output
    stored = kube.read(city.client, "citykit.io/v1alpha1", "CityBlueprint", city.name)
    assert stored["spec"]["catalogueVersion"] == "1.0.0"
    assert "~ catalogue_version: 1.1.0 -> 1.0.0" in result.output
