"""The chart's metrics pieces, rendered by the real helm: the metrics port and Service, the
optional ServiceMonitor, the Grafana dashboard's ConfigMap; and the dashboard itself, whose
queries parse as PromQL and name only metrics and labels the operator exports."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import promql_parser
import pytest

from citykit.controller import metrics
from tests.chart import CHART, one, operator_container, render, run_helm
from tests.pod_security import KUBERNETES_VERSION

DASHBOARD = CHART / "dashboards" / "citykit.json"
ENABLED = ("--set", "metrics.enabled=true")
MONITORED = (*ENABLED, "--set", "metrics.serviceMonitor.enabled=true")


def named(manifests: list[dict[str, Any]], kind: str, suffix: str) -> dict[str, Any]:
    [found] = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"].endswith(suffix)]
    return found


def test_metrics_are_off_by_default_and_nothing_of_them_is_rendered(helm: Path) -> None:
    manifests = render(helm)
    assert not [m for m in manifests if m["kind"] in ("Service", "ServiceMonitor", "ConfigMap")]
    container = operator_container(manifests)
    assert [port["name"] for port in container["ports"]] == ["health"]
    assert "CITYKIT_METRICS_PORT" not in {env["name"] for env in container["env"]}


def test_enabled_metrics_give_the_operator_a_port_and_a_service_in_front_of_it(
    helm: Path,
) -> None:
    manifests = render(helm, *ENABLED, "--set", "metrics.port=9300")
    container = operator_container(manifests)
    assert {"name": "metrics", "containerPort": 9300, "protocol": "TCP"} in container["ports"]
    assert {"name": "CITYKIT_METRICS_PORT", "value": "9300"} in container["env"]
    service = named(manifests, "Service", "-metrics")
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": 9300, "targetPort": "metrics", "protocol": "TCP"}
    ]
    pods = one(manifests, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pods.items()
    assert service["metadata"]["annotations"]["prometheus.io/port"] == "9300"
    assert not [m for m in manifests if m["kind"] == "ServiceMonitor"]


def test_enabled_metrics_pass_lint_and_kubernetes_schema_validation(helm: Path) -> None:
    result = run_helm(helm, "lint", "--strict", str(CHART), *MONITORED)
    assert result.returncode == 0, result.stdout + result.stderr
    for manifest in render(helm, *MONITORED):
        if manifest["kind"] != "ServiceMonitor":  # a CRD's kind: not in Kubernetes' schemas
            kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


def test_service_monitor_is_rendered_only_when_asked_and_scrapes_the_metrics_service(
    helm: Path,
) -> None:
    manifests = render(
        helm, *MONITORED, "--set", "metrics.serviceMonitor.labels.release=prometheus"
    )
    monitor = one(manifests, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    service = named(manifests, "Service", "-metrics")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["citykit-system"]}
    assert monitor["spec"]["endpoints"] == [
        {"port": "metrics", "path": "/metrics", "interval": "30s"}
    ]
    without_metrics = render(helm, "--set", "metrics.serviceMonitor.enabled=true")
    assert not [m for m in without_metrics if m["kind"] == "ServiceMonitor"]


def test_dashboard_configmap_carries_the_dashboard_file_for_grafanas_sidecar(
    helm: Path,
) -> None:
    config_map = one(render(helm, *ENABLED), "ConfigMap")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(config_map["data"]["citykit.json"]) == json.loads(DASHBOARD.read_text())
    off = render(helm, *ENABLED, "--set", "metrics.dashboard.enabled=false")
    assert not [m for m in off if m["kind"] == "ConfigMap"]


def test_a_misspelt_metrics_value_is_refused_by_the_values_schema(helm: Path) -> None:
    result = run_helm(helm, "template", "x", str(CHART), "--set", "metrics.prot=9000")
    assert result.returncode != 0
    assert "prot" in result.stderr


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [panel for panel in dashboard["panels"] if panel["type"] != "row"]


def test_dashboard_is_a_grafana_dashboard(dashboard: dict[str, Any]) -> None:
    assert isinstance(dashboard["schemaVersion"], int) and dashboard["schemaVersion"] >= 36
    assert dashboard["uid"] and dashboard["title"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24 and grid["h"] > 0, panel["title"]
    assert panels(dashboard)
    for panel in panels(dashboard):
        assert panel["title"] and panel["datasource"] == {
            "type": "prometheus",
            "uid": "${datasource}",
        }
        assert panel["targets"], panel["title"]
        refs = [target["refId"] for target in panel["targets"]]
        assert len(refs) == len(set(refs)) and all(t["expr"] for t in panel["targets"])
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"


# Expressions around one other: what they hold is under `.expr`.
WRAPPERS = (
    promql_parser.AggregateExpr,
    promql_parser.ParenExpr,
    promql_parser.UnaryExpr,
    promql_parser.SubqueryExpr,
)


def selectors(node: Any) -> Iterator[Any]:
    """Every vector selector in a parsed PromQL expression."""
    if isinstance(node, promql_parser.VectorSelector):
        yield node
    elif isinstance(node, promql_parser.MatrixSelector):
        yield node.vector_selector
    elif isinstance(node, promql_parser.Call):
        for argument in node.args:
            yield from selectors(argument)
    elif isinstance(node, promql_parser.BinaryExpr):
        yield from selectors(node.lhs)
        yield from selectors(node.rhs)
    elif isinstance(node, WRAPPERS):
        yield from selectors(node.expr)


def groupings(node: Any) -> Iterator[tuple[list[str], list[Any]]]:
    """(labels, the selectors beneath) of every `by (...)` in a parsed expression."""
    if isinstance(node, promql_parser.AggregateExpr):
        if node.modifier is not None and node.modifier.type == promql_parser.AggModifierType.By:
            yield list(node.modifier.labels), list(selectors(node.expr))
        yield from groupings(node.expr)
    elif isinstance(node, promql_parser.BinaryExpr):
        yield from groupings(node.lhs)
        yield from groupings(node.rhs)
    elif isinstance(node, promql_parser.Call):
        for argument in node.args:
            yield from groupings(argument)
    elif isinstance(node, WRAPPERS):
        yield from groupings(node.expr)


@pytest.fixture(scope="module")
def exported() -> Iterator[dict[str, set[str]]]:
    """{sample name: its labels} as a scrape of the operator's registry returns them, with
    one child of each labelled metric made (labelled metrics show no samples before)."""
    metrics.RECONCILE_SECONDS.labels("Initiative")
    metrics.RECONCILE_ERRORS.labels("Initiative")
    metrics.API_WRITES.labels("apply", "Deployment")
    metrics.PHASE_TRANSITIONS.labels("dashboard-test", "mobility", "Pending", "Waiting")
    initiative = {
        "kind": "Initiative",
        "metadata": {"name": "i", "namespace": "city-dashboard-test"},
        "spec": {"city": "dashboard-test", "area": "mobility"},
    }
    city = {
        "kind": "CityBlueprint",
        "metadata": {"name": "dashboard-test"},
        "status": {"kpis": [{"commitment": "binding", "verdict": "met"}]},
    }
    metrics.observe("ADDED", initiative)
    metrics.observe("ADDED", city)
    found: dict[str, set[str]] = {name: set() for name in metrics.exported_names()}
    for family in metrics.REGISTRY.collect():
        for sample in family.samples:
            found.setdefault(sample.name, set()).update(sample.labels)
    yield found
    metrics.observe("DELETED", initiative)
    metrics.observe("DELETED", city)


def expressions(dashboard: dict[str, Any]) -> list[str]:
    return [target["expr"] for panel in panels(dashboard) for target in panel["targets"]]


def test_every_dashboard_query_is_valid_promql(dashboard: dict[str, Any]) -> None:
    for expr in expressions(dashboard):
        promql_parser.parse(expr)  # raises ValueError naming the problem


def test_dashboard_queries_name_only_metrics_and_labels_the_operator_exports(
    dashboard: dict[str, Any], exported: dict[str, set[str]]
) -> None:
    for expr in expressions(dashboard):
        parsed = promql_parser.parse(expr)
        for selector in selectors(parsed):
            assert selector.name in exported, (selector.name, expr)
            matched = {matcher.name for matcher in selector.matchers.matchers}
            assert matched <= exported[selector.name], (matched, expr)
        for labels, beneath in groupings(parsed):
            available = {"le"} | {label for s in beneath for label in exported[s.name]}
            assert set(labels) <= available, (labels, expr)
    city = next(v for v in dashboard["templating"]["list"] if v["name"] == "city")
    [(name, label)] = re.findall(r"label_values\((\w+), (\w+)\)", city["definition"])
    assert label in exported[name]


def test_dashboard_shows_every_citykit_metric(
    dashboard: dict[str, Any], exported: dict[str, set[str]]
) -> None:
    families = {
        family.name for family in metrics.REGISTRY.collect() if family.name.startswith("citykit_")
    }
    shown = {
        family
        for expr in expressions(dashboard)
        for selector in selectors(promql_parser.parse(expr))
        for family in families
        if selector.name.startswith(family)
    }
    assert shown == families
