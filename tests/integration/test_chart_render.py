"""The operator's Helm chart, rendered by the real helm: lint-clean, valid Kubernetes objects,
a Pod Security restricted operator, least-privilege RBAC and values checked by the schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from citykit import __version__
from citykit.api.crd import crds
from citykit.controller.handlers import CHILD_KINDS
from citykit.toolchain import image
from citykit.toolchain.helm import HELM_VERSION
from tests.chart import CHART, one, operator_container, render, run_helm
from tests.pod_security import KUBERNETES_VERSION, pod_security_restricted_violations

SCENARIOS = sorted((CHART / "ci").glob("*-values.yaml"))
VALUES = [None, *SCENARIOS]
APPLY = {"list", "watch", "create", "patch", "delete"}
# What each values scenario renders besides the objects every install has: all-options runs
# one replica (no PodDisruptionBudget) with the health Service; real-node turns metrics on (their
# Service and the dashboard's ConfigMap) and keeps two replicas.
SCENARIO_KINDS = {
    "defaults": ["PodDisruptionBudget"],
    "all-options-values": ["Service"],
    "real-node-values": ["PodDisruptionBudget", "Service", "ConfigMap"],
}


def values_args(values: Path | None) -> tuple[str, ...]:
    return ("--values", str(values)) if values else ()


def test_helm_is_the_pinned_release(helm: Path) -> None:
    assert run_helm(helm, "version", "--template", "{{.Version}}").stdout == HELM_VERSION


def test_chart_version_and_app_version_are_the_package_version() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert (chart["version"], chart["appVersion"]) == (__version__, __version__)


@pytest.mark.parametrize("values", VALUES, ids=lambda v: v.stem if v else "defaults")
def test_chart_passes_strict_lint(helm: Path, values: Path | None) -> None:
    result = run_helm(helm, "lint", "--strict", str(CHART), *values_args(values))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("values", VALUES, ids=lambda v: v.stem if v else "defaults")
def test_rendered_objects_pass_kubernetes_schema_validation(
    helm: Path, values: Path | None
) -> None:
    manifests = render(helm, *values_args(values))
    kinds = sorted(m["kind"] for m in manifests)
    expected = [
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "CustomResourceDefinition",
        "CustomResourceDefinition",
        "Deployment",
        "NetworkPolicy",
        "Role",
        "RoleBinding",
        "ServiceAccount",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    ] + SCENARIO_KINDS[values.stem if values else "defaults"]
    assert kinds == sorted(expected)
    for manifest in manifests:
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


def test_chart_ships_the_generated_crds(helm: Path) -> None:
    rendered = {
        m["metadata"]["name"]: m for m in render(helm) if m["kind"] == "CustomResourceDefinition"
    }
    assert rendered == {m["metadata"]["name"]: m for m in crds().values()}


@pytest.mark.parametrize("values", VALUES, ids=lambda v: v.stem if v else "defaults")
def test_operator_pod_meets_pod_security_restricted(helm: Path, values: Path | None) -> None:
    pod = one(render(helm, *values_args(values)), "Deployment")["spec"]["template"]["spec"]
    assert pod_security_restricted_violations(pod) == []
    assert pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True


def test_operator_image_runs_as_the_user_the_chart_asks_for(helm: Path) -> None:
    """runAsNonRoot needs a numeric user in the image; the chart pins the same one."""
    pod = one(render(helm), "Deployment")["spec"]["template"]["spec"]["securityContext"]
    assert pod["runAsUser"] == pod["runAsGroup"] == image.USER_ID


def test_deployment_runs_two_operators_that_elect_one_on_a_lease(helm: Path) -> None:
    manifests = render(helm, "--set", "resyncSeconds=12", "--set", "healthPort=9000")
    deployment = one(manifests, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    container = operator_container(manifests)
    assert container["image"] == f"citykit/operator:{__version__}"
    assert container["command"] == [
        "citykit",
        "operator",
        "run",
        "--liveness",
        "http://0.0.0.0:9000/healthz",
        "--peering",
        "citykit-citykit-operator",
    ]
    env = {item["name"]: item for item in container["env"]}
    assert env["CITYKIT_PEERING_NAMESPACE"]["valueFrom"] == {
        "fieldRef": {"fieldPath": "metadata.namespace"}
    }
    assert env["CITYKIT_API_TIMEOUT"]["value"] == "30"
    assert env["CITYKIT_RESYNC_SECONDS"] == {"name": "CITYKIT_RESYNC_SECONDS", "value": "12"}
    assert container["ports"] == [{"name": "health", "containerPort": 9000, "protocol": "TCP"}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert container["resources"]["limits"]["memory"] == "512Mi"
    [term] = deployment["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"][
        "preferredDuringSchedulingIgnoredDuringExecution"
    ]
    assert (
        term["podAffinityTerm"]["labelSelector"]["matchLabels"]
        == (deployment["spec"]["selector"]["matchLabels"])
    )
    budget = one(manifests, "PodDisruptionBudget")["spec"]
    assert budget == {"maxUnavailable": 1, "selector": deployment["spec"]["selector"]}


def test_only_the_health_and_metrics_ports_of_the_operator_are_open(helm: Path) -> None:
    policy = one(render(helm, "--set", "metrics.enabled=true"), "NetworkPolicy")["spec"]
    deployment = one(render(helm), "Deployment")
    assert policy["podSelector"] == deployment["spec"]["selector"]
    assert policy["policyTypes"] == ["Ingress"]
    assert policy["ingress"] == [
        {"ports": [{"port": "health", "protocol": "TCP"}, {"port": "metrics", "protocol": "TCP"}]}
    ]
    default = one(render(helm), "NetworkPolicy")["spec"]["ingress"]
    assert default == [{"ports": [{"port": "health", "protocol": "TCP"}]}]


def test_one_replica_has_no_disruption_budget(helm: Path) -> None:
    manifests = render(helm, "--set", "replicas=1")
    assert one(manifests, "Deployment")["spec"]["replicas"] == 1
    assert not [m for m in manifests if m["kind"] == "PodDisruptionBudget"]


def test_the_lease_role_grants_only_the_operators_lease_in_its_namespace(helm: Path) -> None:
    manifests = render(helm)
    role = one(manifests, "Role")
    assert role["metadata"]["namespace"] == "citykit-system"
    assert role["rules"] == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": ["citykit-citykit-operator"],
            "verbs": ["get", "update"],
        },
    ]
    binding = one(manifests, "RoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == one(manifests, "ClusterRoleBinding")["subjects"]


def test_health_service_is_off_by_default_and_targets_the_probe_port(helm: Path) -> None:
    assert not [m for m in render(helm) if m["kind"] == "Service"]
    service = one(render(helm, "--set", "service.enabled=true"), "Service")
    assert service["spec"]["ports"] == [
        {"name": "health", "port": 8080, "targetPort": "health", "protocol": "TCP"}
    ]
    assert (
        service["spec"]["selector"]
        == one(render(helm), "Deployment")["spec"]["selector"]["matchLabels"]
    )


def cluster_role_rules(helm: Path) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = one(render(helm), "ClusterRole")["rules"]
    return rules


def test_cluster_role_has_no_wildcards(helm: Path) -> None:
    for rule in cluster_role_rules(helm):
        for field in ("apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs"):
            assert "*" not in rule.get(field, []), rule
            assert not any("*" in item for item in rule.get(field, [])), rule


def granted(rules: list[dict[str, Any]], group: str, resource: str) -> set[str]:
    return {
        verb
        for rule in rules
        if group in rule["apiGroups"] and resource in rule["resources"]
        for verb in rule["verbs"]
    }


def test_cluster_role_grants_the_controller_its_child_kinds(helm: Path) -> None:
    """A kind added to controller.CHILD_KINDS without a rule in the chart fails here."""
    rules = cluster_role_rules(helm)
    for group, _version, plural in (*CHILD_KINDS, ("citykit.io", "v1alpha1", "initiatives")):
        expected = APPLY - {"delete"} if plural == "namespaces" else APPLY
        assert granted(rules, group, plural) == expected, plural
    assert granted(rules, "citykit.io", "cityblueprints") == {"list", "watch", "patch"}
    assert granted(rules, "citykit.io", "cityblueprints/status") == {"patch"}
    assert granted(rules, "citykit.io", "initiatives/status") == {"patch"}
    assert granted(rules, "", "events") == {"create"}


def test_cluster_role_grants_nothing_on_secrets_or_rbac(helm: Path) -> None:
    rules = cluster_role_rules(helm)
    assert granted(rules, "", "secrets") == set()
    for resource in ("roles", "rolebindings", "clusterroles", "clusterrolebindings"):
        assert granted(rules, "rbac.authorization.k8s.io", resource) == set()


def test_admission_policy_confines_the_operator_to_city_namespaces(helm: Path) -> None:
    """The policy covers exactly the child kinds, for the chart's ServiceAccount only."""
    manifests = render(helm, "--set", "serviceAccount.name=city-operator")
    policy = one(manifests, "ValidatingAdmissionPolicy")["spec"]
    covered = {
        (group, resource)
        for rule in policy["matchConstraints"]["resourceRules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    assert covered == {(group, plural) for group, _version, plural in CHILD_KINDS} | {
        ("", "events"),
        ("events.k8s.io", "events"),
        ("citykit.io", "initiatives"),
        ("citykit.io", "initiatives/status"),
        ("apps", "controllerrevisions"),  # a city's history
    }
    [condition] = policy["matchConditions"]
    assert (
        condition["expression"]
        == 'request.userInfo.username == "system:serviceaccount:citykit-system:city-operator"'
    )
    assert 'request.namespace.startsWith("city-")' in policy["validations"][0]["expression"]
    binding = one(manifests, "ValidatingAdmissionPolicyBinding")["spec"]
    assert binding == {
        "policyName": one(manifests, "ValidatingAdmissionPolicy")["metadata"]["name"],
        "validationActions": ["Deny"],
    }


def test_rbac_and_service_account_can_be_left_to_the_cluster_admin(helm: Path) -> None:
    manifests = render(
        helm,
        "--set",
        "rbac.create=false",
        "--set",
        "rbac.cityNamespacesOnly=false",
        "--set",
        "serviceAccount.create=false",
        "--set",
        "serviceAccount.name=city-operator",
    )
    assert not {
        "ClusterRole",
        "ClusterRoleBinding",
        "ServiceAccount",
        "ValidatingAdmissionPolicy",
    } & {m["kind"] for m in manifests}
    assert (
        one(manifests, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"]
        == "city-operator"
    )


@pytest.mark.parametrize(
    "command", [("template", "citykit"), ("lint", "--strict")], ids=lambda c: c[0]
)
@pytest.mark.parametrize(
    ("setting", "field"),
    [
        ("resyncSeconds=soon", "resyncSeconds"),
        ("resyncSeconds=0", "resyncSeconds"),
        ("resyncSecond=5", "resyncSecond"),
        ("image.pullPolicy=Sometimes", "pullPolicy"),
        ("healthPort=70000", "healthPort"),
        ("resources.limits.memory=lots", "memory"),
        ("serviceAccount.create=false", "name"),
    ],
)
def test_bad_values_are_rejected_naming_the_field(
    helm: Path, command: tuple[str, str], setting: str, field: str
) -> None:
    result = run_helm(helm, *command, str(CHART), "--set", setting)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "schema" in output and field in output, output
