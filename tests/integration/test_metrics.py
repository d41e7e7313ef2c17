"""The operator's /metrics against the real local control plane: scraped during a rollout and
after it, its initiatives-by-phase gauge matches the Initiatives the API serves (what
`kubectl get ini` shows), every phase an Initiative is in is accounted for by the transitions
counted, and the write counters stop growing once the operator is idle. The chart with
metrics on installs, and its metrics Service routes to the operator Pod's metrics port."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from prometheus_client.parser import text_string_to_metric_families

from citykit.api.enums import Phase
from citykit.kube.wait import wait_for
from citykit.localcluster.operator_process import OperatorProcess
from tests.cities import (
    GROUP,
    VERSION,
    blueprint,
    blueprint_status,
    create_blueprint,
    custom,
    deployments,
    initiatives,
)
from tests.conftest import REPOSITORY
from tests.deadlines import EVENTUALLY, PROMPTLY, quiet

CITY = "metered"
CHART = REPOSITORY / "charts" / "citykit-operator"
CHART_NAMESPACE, RELEASE = "citykit-metrics", "metrics"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def metrics_url(
    kube_cluster: Any, api: client.ApiClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """`citykit operator run` with its metrics port given through CITYKIT_METRICS_PORT."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path_factory.mktemp("operator") / "operator.log"
    running = OperatorProcess(kube_cluster.kubeconfig, log, env={"CITYKIT_METRICS_PORT": str(port)})
    running.start()
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        wait_for(lambda: running.check_alive() or answers(url), PROMPTLY, f"{url} to answer")
        yield url
    finally:
        running.stop()
        print(f"operator log: {log}")


def answers(url: str) -> bool:
    try:
        scrape(url)
    except (urllib.error.URLError, ConnectionError):
        return False
    return True


def scrape(url: str) -> Samples:
    with urllib.request.urlopen(url, timeout=PROMPTLY) as response:
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(
        value for (found, pairs), value in samples.items() if found == name and wanted <= pairs
    )


def scraped_phases(samples: Samples) -> Counter[tuple[str, str]]:
    """(area, phase) -> count in the city, from `citykit_initiatives` (zeros left out)."""
    counts: Counter[tuple[str, str]] = Counter()
    for (name, pairs), value in samples.items():
        labels = dict(pairs)
        if name == "citykit_initiatives" and labels["city"] == CITY and value:
            counts[labels["area"], labels["phase"]] += int(value)
    return counts


def api_phases(api: client.ApiClient) -> Counter[tuple[str, str]]:
    """(area, phase) -> count of the city's Initiatives as the API serves them; one with no
    status yet is Pending, as the blueprint's own fold counts it."""
    return Counter(
        (item["spec"]["area"], (item.get("status") or {}).get("phase") or Phase.PENDING)
        for item in initiatives(api, CITY)
    )


def matching_phases(api: client.ApiClient, url: str) -> Counter[tuple[str, str]] | None:
    """The phase counts when the API read before and after a scrape agree with it: the
    watch that feeds the gauge lags the API by an event, so a moving rollout is compared
    when it holds still for one scrape."""
    before = api_phases(api)
    scraped = scraped_phases(scrape(url))
    after = api_phases(api)
    return before if before == scraped == after else None


def settled(api: client.ApiClient) -> bool:
    """Every blueprint in the cluster has finished rolling out (or is blocked): nothing left
    for the operator to do, whatever earlier tests left behind."""
    items = custom(api).list_cluster_custom_object(GROUP, VERSION, "cityblueprints")["items"]
    return all((item.get("status") or {}).get("phase") in ("Live", "Blocked") for item in items)


@pytest.fixture(scope="module")
def rollout(api: client.ApiClient, metrics_url: str) -> list[Counter[tuple[str, str]]]:
    """Roll a city out while scraping; the phase counts each matching scrape saw, in order."""
    data = blueprint("bay-city", CITY, gate="4s", keep=8)  # four areas
    expected = len(data["spec"]["initiatives"])
    create_blueprint(api, data)
    seen: list[Counter[tuple[str, str]]] = []
    deadline = time.monotonic() + EVENTUALLY
    while time.monotonic() < deadline:
        found = wait_for(lambda: matching_phases(api, metrics_url), PROMPTLY, "a scrape to match")
        if not seen or found != seen[-1]:
            seen.append(found)
        if sum(found.values()) == expected and {phase for _, phase in found} == {"Live"}:
            return seen
        time.sleep(0.3)
    raise AssertionError(f"the city was not Live within {EVENTUALLY:g} s; scrapes matched: {seen}")


def test_initiatives_by_phase_match_the_api_during_the_rollout_and_after(
    rollout: list[Counter[tuple[str, str]]],
) -> None:
    during = [counts for counts in rollout if {phase for _, phase in counts} != {"Live"}]
    assert during, f"no scrape matched the API while the rollout was under way: {rollout}"
    assert {phase for _, phase in rollout[-1]} == {"Live"}
    assert len({area for area, _ in rollout[-1]}) > 1


def test_transitions_account_for_every_initiatives_phase(
    api: client.ApiClient, metrics_url: str, rollout: list[Counter[tuple[str, str]]]
) -> None:
    """Each Initiative started Pending; what came into a phase minus what left it is what
    the phase holds now."""
    samples = scrape(metrics_url)
    now = Counter(phase for _, phase in api_phases(api).elements())
    started = Counter({str(Phase.PENDING): sum(now.values())})
    for phase in Phase:
        came = total(samples, "citykit_phase_transitions_total", city=CITY, to=phase)
        left = total(samples, "citykit_phase_transitions_total", city=CITY, **{"from": phase})
        assert started[phase] + came - left == now[phase], phase
    assert total(samples, "citykit_phase_transitions_total", city=CITY, to="Live") >= sum(
        now.values()
    )


def test_writes_are_counted_and_stop_growing_while_the_operator_is_idle(
    api: client.ApiClient, metrics_url: str, rollout: list[Counter[tuple[str, str]]]
) -> None:
    wait_for(lambda: blueprint_status(api, CITY).get("phase") == "Live", PROMPTLY, "the city Live")
    wait_for(lambda: settled(api), PROMPTLY, "every blueprint in the cluster to settle")
    samples = scrape(metrics_url)
    assert total(samples, "citykit_api_writes_total", verb="apply", kind="Deployment") >= len(
        deployments(api, CITY)
    )
    assert total(samples, "citykit_api_writes_total", verb="patch", kind="Initiative") >= len(
        initiatives(api, CITY)
    )
    assert total(samples, "citykit_api_writes_total", verb="create", kind="Event") > 0
    assert total(samples, "citykit_reconcile_duration_seconds_count", kind="Initiative") > 0
    assert total(samples, "citykit_reconcile_duration_seconds_count", kind="CityBlueprint") > 0

    def writes() -> float:
        return total(scrape(metrics_url), "citykit_api_writes_total")

    wait_for(quiet(writes), PROMPTLY, "the writes of the last watch events to end")
    before = writes()
    time.sleep(10)  # the measured window
    idle = scrape(metrics_url)
    assert total(idle, "citykit_api_writes_total") == before
    assert total(idle, "citykit_work_queue_depth") == 0


def helm_run(helm: Path, kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(helm), *args, "--namespace", CHART_NAMESPACE, "--kubeconfig", str(kubeconfig)],
        check=False,
        capture_output=True,
        text=True,
        timeout=EVENTUALLY + PROMPTLY,  # beyond helm's own --timeout
    )


@pytest.fixture
def chart_namespace(api: client.ApiClient, helm: Path, kube_cluster: Any) -> Iterator[str]:
    """A Pod Security restricted namespace for a release of the chart, removed afterwards."""
    core = client.CoreV1Api(api)
    labels = {"pod-security.kubernetes.io/enforce": "restricted"}
    core.create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=CHART_NAMESPACE, labels=labels))
    )
    yield CHART_NAMESPACE
    helm_run(helm, kube_cluster.kubeconfig, "uninstall", RELEASE, "--wait")
    core.delete_namespace(CHART_NAMESPACE)
    wait_for(
        lambda: CHART_NAMESPACE not in {n.metadata.name for n in core.list_namespace().items},
        PROMPTLY,
        f"namespace {CHART_NAMESPACE} to be gone",
    )


def ready_metrics_endpoints(api: client.ApiClient, service: str) -> list[tuple[str, int]]:
    """(port name, port) of the Service's EndpointSlices that have a ready endpoint."""
    slices = client.DiscoveryV1Api(api).list_namespaced_endpoint_slice(
        CHART_NAMESPACE, label_selector=f"kubernetes.io/service-name={service}"
    )
    return [
        (port.name, port.port)
        for found in slices.items
        if any(e.conditions and e.conditions.ready for e in found.endpoints or [])
        for port in found.ports or []
    ]


def test_chart_with_metrics_routes_its_service_to_the_operator_pods_metrics_port(
    api: client.ApiClient, helm: Path, kube_cluster: Any, chart_namespace: str
) -> None:
    """KWOK runs no containers, so this proves the wiring (Service -> ready Pod -> named
    port), not the scrape, which the tests above make against the real operator."""
    installed = helm_run(
        helm,
        kube_cluster.kubeconfig,
        *(
            "install",
            RELEASE,
            str(CHART),
            "--skip-crds",
            "--wait",
            "--timeout",
            f"{EVENTUALLY:.0f}s",
        ),
        *("--set", "metrics.enabled=true", "--set", "metrics.port=9300"),
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    service = f"{RELEASE}-citykit-operator-metrics"
    endpoints = wait_for(
        lambda: ready_metrics_endpoints(api, service), PROMPTLY, "a ready metrics endpoint"
    )
    assert endpoints == [("metrics", 9300)]
    [dashboard] = (
        client.CoreV1Api(api)
        .list_namespaced_config_map(CHART_NAMESPACE, label_selector="grafana_dashboard=1")
        .items
    )
    assert json.loads(dashboard.data["citykit.json"])["uid"] == "citykit-operator"


def test_service_monitor_without_its_crd_fails_the_install_as_documented(
    api: client.ApiClient, helm: Path, kube_cluster: Any, chart_namespace: str
) -> None:
    result = helm_run(
        helm,
        kube_cluster.kubeconfig,
        *("install", RELEASE, str(CHART), "--skip-crds"),
        *("--set", "metrics.enabled=true", "--set", "metrics.serviceMonitor.enabled=true"),
    )
    assert result.returncode != 0
    assert 'no matches for kind "ServiceMonitor"' in result.stderr
