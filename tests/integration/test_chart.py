"""The operator chart in the real local cluster: `helm install` runs the operator Pod to Ready
(KWOK plays its kubelet), the chart's RBAC lets the operator roll a city out to Live while
its admission policy keeps the operator out of other namespaces, `helm upgrade` to the
chart's every-option scenario changes the Deployment, and `helm uninstall` removes it all.

KWOK runs no containers, so the RBAC proof runs `citykit operator run` here, authenticated
with a token of the chart's ServiceAccount: every request it makes is authorised exactly as
the in-cluster operator's would be, and the audit log shows whose requests they were.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from citykit import kube
from citykit.api.crd import crds
from citykit.kube.wait import wait_for
from citykit.localcluster.kubeconfig import write_kubeconfig
from citykit.localcluster.operator_process import OperatorProcess
from citykit.localcluster.state import LocalCluster
from tests import audit
from tests.cities import (
    all_live,
    approve,
    blueprint,
    create_blueprint,
    custom,
    delete_blueprint,
    initiatives,
)
from tests.conftest import REPOSITORY
from tests.deadlines import EVENTUALLY, PROMPTLY

HELM_WAIT = f"{EVENTUALLY:.0f}s"  # `helm --wait`'s deadline
CHART = REPOSITORY / "charts" / "citykit-operator"
SCENARIO = CHART / "ci" / "all-options-values.yaml"
NAMESPACE = "citykit-system"
RELEASE = "citykit-operator"
OPERATOR_USER = f"system:serviceaccount:{NAMESPACE}:{RELEASE}"
WRITES = ("create", "update", "patch", "delete", "deletecollection")


@pytest.fixture(scope="module")
def api(kube_cluster: LocalCluster) -> client.ApiClient:
    return config.new_client_from_config(str(kube_cluster.kubeconfig))


@pytest.fixture(scope="module")
def run_helm(helm: Path, kube_cluster: LocalCluster) -> Any:
    def run(*args: str) -> str:
        result = subprocess.run(
            [
                str(helm),
                *args,
                "--namespace",
                NAMESPACE,
                "--kubeconfig",
                str(kube_cluster.kubeconfig),
            ],
            check=False,
            capture_output=True,
            text=True,
            timeout=EVENTUALLY + PROMPTLY,  # beyond helm's own --timeout
        )
        assert result.returncode == 0, (
            f"helm {' '.join(args)} failed:\n{result.stdout}{result.stderr}"
        )
        return result.stdout

    return run


@pytest.fixture(scope="module")
def release(api: client.ApiClient, run_helm: Any) -> Iterator[str]:
    """The chart installed with defaults into a namespace that enforces Pod Security restricted."""
    core = client.CoreV1Api(api)
    core.create_namespace(
        client.V1Namespace(
            metadata=client.V1ObjectMeta(
                name=NAMESPACE, labels={"pod-security.kubernetes.io/enforce": "restricted"}
            )
        )
    )
    run_helm("install", RELEASE, str(CHART), "--wait", "--timeout", HELM_WAIT)
    yield RELEASE
    core.delete_namespace(NAMESPACE)


def deployment(api: client.ApiClient) -> client.V1Deployment:
    return client.AppsV1Api(api).read_namespaced_deployment(RELEASE, NAMESPACE)


def operator_pods_ready(api: client.ApiClient, generation: int = 0) -> bool:
    found = deployment(api)
    if found.status.observed_generation is None or found.status.observed_generation < max(
        generation, found.metadata.generation
    ):
        return False
    selector = ",".join(f"{k}={v}" for k, v in found.spec.selector.match_labels.items())
    pods = client.CoreV1Api(api).list_namespaced_pod(NAMESPACE, label_selector=selector).items
    live = [pod for pod in pods if pod.metadata.deletion_timestamp is None]
    return len(live) == found.spec.replicas and all(
        any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])
        for pod in live
    )


def test_helm_install_runs_the_operator_pod_to_ready(api: client.ApiClient, release: str) -> None:
    wait_for(lambda: operator_pods_ready(api), PROMPTLY, "the operator Pods to be Ready")
    found = deployment(api)
    assert found.status.available_replicas == 2  # one active, one standby
    [container] = found.spec.template.spec.containers
    assert container.command[:3] == ["citykit", "operator", "run"]
    extensions = client.ApiextensionsV1Api(api)
    for manifest in crds().values():
        assert (
            extensions.read_custom_resource_definition(manifest["metadata"]["name"]).spec.group
            == "citykit.io"
        )


def service_account_kubeconfig(api: client.ApiClient, admin_kubeconfig: Path, path: Path) -> Path:
    """A kubeconfig that authenticates as the chart's ServiceAccount (TokenRequest API)."""
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600)
    )
    token = (
        client.CoreV1Api(api)
        .create_namespaced_service_account_token(RELEASE, NAMESPACE, request)
        .status.token
    )
    kubeconfig = yaml.safe_load(admin_kubeconfig.read_text())
    kubeconfig["users"] = [{"name": RELEASE, "user": {"token": token}}]
    kubeconfig["contexts"] = [
        {
            "name": RELEASE,
            "context": {"cluster": kubeconfig["clusters"][0]["name"], "user": RELEASE},
        }
    ]
    kubeconfig["current-context"] = RELEASE
    return write_kubeconfig(path, kubeconfig)


def audited_writes(audit_log: Path) -> list[dict[str, Any]]:
    return [
        e
        for e in audit.events(audit_log)
        if e.get("stage") == "ResponseComplete" and e.get("verb") in WRITES
    ]


def touches_city(event: dict[str, Any], city: str) -> bool:
    """A write to the city's namespace, to anything in it, or to its blueprint."""
    ref = event.get("objectRef", {})
    return ref.get("namespace") == f"city-{city}" or ref.get("name") in (city, f"city-{city}")


def test_chart_rbac_is_enough_to_roll_a_city_out(
    api: client.ApiClient, release: str, kube_cluster: LocalCluster, tmp_path: Path
) -> None:
    kubeconfig = service_account_kubeconfig(
        api, kube_cluster.kubeconfig, tmp_path / "operator.kubeconfig"
    )
    operator = OperatorProcess(
        kubeconfig,
        tmp_path / "operator.log",
        args=("--peering", RELEASE, "--peering-namespace", NAMESPACE),  # as the chart runs it
    )
    data = blueprint("tallinn", "chartcity", keep=4)
    # one pilot waits for a person's approval: the Event that says so is written in the
    # city's namespace (the blueprint's, at the end, in default)
    first = data["spec"]["initiatives"][0]
    first.update(
        pilotDistricts=[data["spec"]["districts"][0]["id"]],
        gate={"healthyFor": "1s", "approval": "manual"},
    )
    operator.start()
    try:
        create_blueprint(api, data)
        wait_for(
            lambda: (
                operator.check_alive()
                or any(
                    (item.get("status") or {}).get("phase") == "AwaitingApproval"
                    for item in initiatives(api, "chartcity")
                )
            ),
            EVENTUALLY,
            "the pilot to await approval",
        )
        approve(kube_cluster.kubeconfig, "chartcity", first["ref"], by="council")
        wait_for(
            lambda: (
                operator.check_alive()
                or all_live(api, "chartcity", len(data["spec"]["initiatives"]))
            ),
            EVENTUALLY,
            "every initiative Live with the chart's RBAC",
        )
        delete_blueprint(api, "chartcity")
        wait_for(
            lambda: (
                not any(
                    i["metadata"]["name"] == "chartcity"
                    for i in custom(api).list_cluster_custom_object(
                        "citykit.io", "v1alpha1", "cityblueprints"
                    )["items"]
                )
            ),
            PROMPTLY,
            "the blueprint's finalizer to be released",
        )
    finally:
        operator.stop()
    writes = audited_writes(kube_cluster.audit_log)
    denied = [
        (e["verb"], e["objectRef"])
        for e in writes
        if e["user"]["username"] == OPERATOR_USER and e.get("responseStatus", {}).get("code") == 403
    ]
    assert denied == []
    city = [e for e in writes if touches_city(e, "chartcity")]
    by_admin = {
        (e["verb"], e["objectRef"]["resource"])
        for e in city
        if e["user"]["username"] == "citykit-admin"
    }
    assert by_admin == {
        ("create", "cityblueprints"),
        ("patch", "initiatives"),  # the approval
        ("delete", "cityblueprints"),
    }
    assert {
        e["user"]["username"] for e in city if not e["user"]["username"].startswith("system:")
    } == {"citykit-admin"}
    assert any(
        e["user"]["username"] == OPERATOR_USER and e["objectRef"]["resource"] == "deployments"
        for e in city
    )
    events = {
        e["objectRef"].get("namespace")
        for e in writes
        if e["user"]["username"] == OPERATOR_USER and e["objectRef"]["resource"] == "events"
    }
    assert {"city-chartcity", "default"} <= events  # the awaited approval, the city Live
    log = operator.log.read_text()
    for sign in ("Forbidden", "Not enough permissions"):
        assert sign not in log, f"operator log ({operator.log}) mentions {sign!r}"


def test_operator_may_not_write_outside_city_namespaces(
    api: client.ApiClient, release: str, tmp_path: Path, kube_cluster: LocalCluster
) -> None:
    """What RBAC alone would allow, the chart's admission policy refuses."""
    kubeconfig = service_account_kubeconfig(
        api, kube_cluster.kubeconfig, tmp_path / "operator.kubeconfig"
    )
    as_operator = client.CoreV1Api(config.new_client_from_config(str(kubeconfig)))
    for namespace in ("default", "kube-system"):
        with pytest.raises(ApiException) as refused:
            as_operator.create_namespaced_config_map(
                namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="sneaky"))
            )
        assert refused.value.status == 403 and "only write in city-* namespaces" in str(
            refused.value.body
        )
    with pytest.raises(ApiException) as refused:
        as_operator.create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name="not-a-city"))
        )
    assert refused.value.status == 403


Grant = tuple[str, str, frozenset[str]]  # resource, resource names, verbs
EVERY_IDENTITY = ("selfsubjectreviews.", "selfsubjectaccessreviews.", "selfsubjectrulesreviews.")


def documented_grants() -> list[tuple[Grant, str]]:
    """docs/helm-chart.md's "Who may do what" table: each grant and where it is granted."""
    text = (REPOSITORY / "docs" / "helm-chart.md").read_text()
    section = text.split("### Who may do what", 1)[1].split("\n#", 1)[0]
    grants = []
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        resource, names, verbs, where = (
            cell.strip().strip("`") for cell in line.strip("|").split("|")[:4]
        )
        grants.append(((resource, names, frozenset(verbs.split())), where))
    return grants


def expected_in(namespace: str) -> set[Grant]:
    return {
        grant
        for grant, where in documented_grants()
        if where in ("cluster", "every namespace") or where == namespace
    }


def can_i_list(kubectl: Path, kubeconfig: Path, namespace: str) -> set[Grant]:
    """`kubectl auth can-i --list` as the operator, without what every identity may."""
    shown = subprocess.run(
        [str(kubectl), "auth", "can-i", "--list", f"--as={OPERATOR_USER}", "-n", namespace],
        env={"KUBECONFIG": str(kubeconfig)},
        check=True,
        capture_output=True,
        text=True,
        timeout=PROMPTLY,
    ).stdout.splitlines()
    header = shown[0]
    urls, names, verbs = (
        header.index(title) for title in ("Non-Resource", "Resource Names", "Verbs")
    )
    grants = set()
    for line in shown[1:]:
        resource = line[:urls].strip()
        if not resource or resource.startswith(EVERY_IDENTITY):
            continue  # discovery and health URLs, self-reviews: every authenticated identity's
        grants.add(
            (
                resource,
                line[names:verbs].strip().strip("[]"),
                frozenset(line[verbs:].strip().strip("[]").split()),
            )
        )
    return grants


@pytest.mark.parametrize("namespace", ["city-audited", NAMESPACE, "kube-system"])
def test_the_service_account_may_do_exactly_what_the_readme_table_says(
    release: str, kube_cluster: LocalCluster, namespace: str
) -> None:
    granted = can_i_list(kube_cluster.layout.bin / "kubectl", kube_cluster.kubeconfig, namespace)

    assert granted == expected_in(namespace)
    assert not any(resource.split(".")[0] == "secrets" for resource, _, _ in granted)
    assert not any("*" in resource or "*" in verbs for resource, _, verbs in granted)


def test_the_service_account_writes_nothing_in_kube_system(
    api: client.ApiClient, release: str, tmp_path: Path, kube_cluster: LocalCluster
) -> None:
    """Server-side dry runs: authorised and admitted exactly like real writes, stored never."""
    kubeconfig = service_account_kubeconfig(
        api, kube_cluster.kubeconfig, tmp_path / "operator.kubeconfig"
    )
    dynamic = kube.dynamic_client(kubeconfig)
    meta = {"name": "sneaky", "namespace": "kube-system"}
    labels = {"app": "sneaky"}
    attempts = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta,
            "spec": {"ports": [{"port": 80}]},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta,
            "spec": {
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "c", "image": "citykit/placeholder:1.0"}]},
                },
            },
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": meta,
            "spec": {},
        },
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": meta,
            "involvedObject": {"kind": "ConfigMap", "name": "x", "namespace": "kube-system"},
            "reason": "Sneaky",
        },
    ]
    for body in attempts:
        resource = dynamic.resources.get(api_version=body["apiVersion"], kind=body["kind"])
        with pytest.raises(ApiException) as refused:
            dynamic.create(resource, body=body, namespace="kube-system", dry_run="All")
        assert refused.value.status == 403, body["kind"]
        assert "only write in city-* namespaces" in str(refused.value.body), body["kind"]
    namespaces = dynamic.resources.get(api_version="v1", kind="Namespace")
    with pytest.raises(ApiException) as refused:
        dynamic.delete(namespaces, name="kube-system", dry_run="All")
    assert refused.value.status == 403  # RBAC: the operator deletes no namespace


def test_helm_upgrade_to_every_option_changes_the_deployment(
    api: client.ApiClient, release: str, run_helm: Any
) -> None:
    """The chart's ci/ scenario (every value away from its default) as an upgrade."""
    before = deployment(api).metadata.generation
    run_helm(
        "upgrade", RELEASE, str(CHART), "--values", str(SCENARIO), "--wait", "--timeout", HELM_WAIT
    )
    found = deployment(api)
    assert found.metadata.generation > before
    [container] = found.spec.template.spec.containers
    assert {env.name: env.value for env in container.env}["CITYKIT_RESYNC_SECONDS"] == "30"
    assert found.spec.template.spec.service_account_name == "citykit-operator-ci"
    service = client.CoreV1Api(api).read_namespaced_service(RELEASE, NAMESPACE)
    assert [(p.port, p.target_port) for p in service.spec.ports] == [(80, "health")]
    wait_for(
        lambda: operator_pods_ready(api, found.metadata.generation),
        PROMPTLY,
        "the upgraded operator Pod to be Ready",
    )


def test_helm_uninstall_removes_the_release_and_keeps_the_crds(
    api: client.ApiClient, release: str, run_helm: Any
) -> None:
    run_helm("uninstall", RELEASE, "--wait", "--timeout", HELM_WAIT)
    reads = (
        lambda: client.AppsV1Api(api).read_namespaced_deployment(RELEASE, NAMESPACE),
        lambda: client.CoreV1Api(api).read_namespaced_service_account(RELEASE, NAMESPACE),
        lambda: client.CoreV1Api(api).read_namespaced_service_account(
            "citykit-operator-ci", NAMESPACE
        ),
        lambda: client.CoreV1Api(api).read_namespaced_service(RELEASE, NAMESPACE),
        lambda: client.RbacAuthorizationV1Api(api).read_cluster_role(RELEASE),
        lambda: client.RbacAuthorizationV1Api(api).read_cluster_role_binding(RELEASE),
        lambda: client.AdmissionregistrationV1Api(api).read_validating_admission_policy(
            f"{RELEASE}-city-namespaces"
        ),
    )
    for read in reads:
        with pytest.raises(ApiException) as gone:
            read()
        assert gone.value.status == 404
    assert "citykit-operator" not in run_helm("list", "--short")
    extensions = client.ApiextensionsV1Api(api)
    for manifest in crds().values():
        extensions.read_custom_resource_definition(manifest["metadata"]["name"])  # Helm keeps CRDs
