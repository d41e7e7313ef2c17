"""`citykit new-city testville && citykit up testville` with the real Pulumi engine and the
real pulumi-kubernetes provider against the real local cluster: the platform appears as
`kubernetes:*` resources, the operator rolls the city out, a second `up` changes nothing, a
hand edit is seen by a refresh and undone by the next `up`, and `up --destroy` leaves nothing
of the city behind.

The commands run as a city team runs them (the console script, in a project folder of the
test's own), with a file backend and passphrase from the environment. The local cluster has
no storage provisioner, so the test provides the PersistentVolumes a cluster admin would.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from pulumi import automation as auto

from citykit.core.project.citystack import load_stack
from citykit.infra.program import operator_stack_name
from citykit.kube.wait import wait_for
from citykit.localcluster.operator_process import OperatorProcess
from citykit.localcluster.state import LocalCluster
from citykit.toolchain.pulumi_engine import engine_env, ensure_engine
from tests.deadlines import EVENTUALLY
from tests.own_cluster import own_cluster

CITY = "testville"
NAMESPACE = f"city-{CITY}"


@pytest.fixture(scope="module")
def pulumi_cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalCluster]:
    """A cluster of this module's own: the last city's --destroy takes the shared operator
    only when no CityBlueprint is left, and other modules leave theirs on the session's."""
    yield from own_cluster(request, tmp_path_factory, "pulumi")


@pytest.fixture(scope="module")
def api(pulumi_cluster: LocalCluster) -> client.ApiClient:
    return config.new_client_from_config(str(pulumi_cluster.kubeconfig))


@pytest.fixture(scope="module")
def citykit(pulumi_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Runs `citykit ARGS…` in the test's project folder; returns the finished process."""
    # the engine and provider builds (minutes, once) are not part of a command's output
    bin_dir = ensure_engine(report=lambda _: None)
    work = tmp_path_factory.mktemp("pulumi-up")
    (work / "state").mkdir()
    env = {
        **os.environ,
        "KUBECONFIG": str(pulumi_cluster.kubeconfig),
        "PULUMI_BACKEND_URL": (work / "state").as_uri(),
        "PULUMI_HOME": str(work / "pulumi-home"),
        "PULUMI_CONFIG_PASSPHRASE": "test only",
    }

    (work / "project").mkdir()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "citykit", *args],
            env=env,
            cwd=work / "project",
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )

    run.project = work / "project"  # type: ignore[attr-defined]
    run.state = work / "state"  # type: ignore[attr-defined]
    run.engine = engine_env(  # type: ignore[attr-defined]
        bin_dir, work / "pulumi-home", work / "state", env["PULUMI_CONFIG_PASSPHRASE"]
    )
    run.engine["KUBECONFIG"] = env["KUBECONFIG"]  # type: ignore[attr-defined]
    return run


def automation_stack(citykit: Any, monkeypatch: pytest.MonkeyPatch, name: str = CITY) -> auto.Stack:
    """A stack as the Automation API sees it, with the test's engine and backend (the
    Automation API finds `pulumi` on this process's PATH)."""
    for key, value in citykit.engine.items():
        monkeypatch.setenv(key, value)
    return auto.select_stack(
        stack_name=name,
        project_name="citykit",
        program=lambda: None,
        opts=auto.LocalWorkspaceOptions(work_dir=str(citykit.project / "infra")),
    )


@pytest.fixture(scope="module")
def volumes(api: client.ApiClient) -> Iterator[None]:
    """What a cluster admin provides where no storage provisioner runs: one volume per claim."""
    core = client.CoreV1Api(api)
    names = [f"testville-volume-{index}" for index in range(8)]  # two cities' claims
    for name in names:
        core.create_persistent_volume(
            {
                "metadata": {"name": name},
                "spec": {
                    "capacity": {"storage": "100Gi"},
                    "accessModes": ["ReadWriteOnce"],
                    "persistentVolumeReclaimPolicy": "Retain",
                    "hostPath": {"path": f"/tmp/{name}"},
                },
            }
        )
    yield
    for name in names:
        try:
            core.delete_persistent_volume(name)
        except ApiException as error:
            if error.status != 404:
                raise


@dataclass(frozen=True)
class FirstUp:
    preview: subprocess.CompletedProcess[str]
    namespace_after_preview: bool
    up: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def first_up(citykit: Any, volumes: None, api: client.ApiClient) -> FirstUp:
    scaffold = citykit("new-city", CITY, "--jurisdiction", "gdpr", "--country", "EE")
    assert scaffold.returncode == 0, scaffold.stderr
    preview = citykit("up", CITY, "--preview")
    assert preview.returncode == 0, preview.stdout[-4000:] + preview.stderr[-4000:]
    namespace_after_preview = exists(client.CoreV1Api(api).read_namespace, NAMESPACE)
    up = citykit("up", CITY)
    assert up.returncode == 0, up.stdout[-4000:] + up.stderr[-4000:]
    return FirstUp(preview, namespace_after_preview, up)


def summary(output: str) -> str:
    return next(line for line in output.splitlines() if line.startswith("changes: "))


def exists(read: Any, *args: str) -> bool:
    try:
        read(*args)
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


def test_up_creates_the_namespace_operator_and_platform_services(
    first_up: FirstUp, api: client.ApiClient, citykit: Any
) -> None:
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    labels = core.read_namespace(NAMESPACE).metadata.labels
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    stack = load_stack(citykit.project / "infra" / f"Pulumi.{CITY}.yaml")
    assert (
        core.read_namespaced_resource_quota("city-quota", NAMESPACE).spec.hard["pods"]
        == stack.quota["pods"]
    )
    (operator,) = apps.list_namespaced_deployment("citykit-system").items
    assert operator.status.available_replicas == operator.spec.replicas >= 1
    for need in stack.services:
        deployment = apps.read_namespaced_deployment(need.id, NAMESPACE)
        assert deployment.status.available_replicas == 1, need.id
        assert (
            core.read_namespaced_service(need.id, NAMESPACE).spec.ports[0].port == need.service.port
        )
    secret = core.read_namespaced_secret("document-db-credentials", NAMESPACE)
    assert set(secret.data) == {"username", "password"}
    assert f"document-db.{NAMESPACE}.svc.cluster.local:27017" in first_up.up.stdout


def test_passwords_are_kept_encrypted_in_the_stack_file_and_state(
    first_up: FirstUp, api: client.ApiClient, citykit: Any
) -> None:
    secret = client.CoreV1Api(api).read_namespaced_secret("timeseries-db-credentials", NAMESPACE)
    password = base64.b64decode(secret.data["password"]).decode()
    stack_text = (citykit.project / "infra" / f"Pulumi.{CITY}.yaml").read_text()
    assert "secure: v1:" in stack_text
    assert password not in stack_text and len(password) >= 24
    state_files = [path for path in citykit.state.rglob("*") if path.is_file()]
    assert state_files and not [
        path for path in state_files if password in path.read_text(errors="replace")
    ]


@pytest.fixture(scope="module")
def operator(
    first_up: FirstUp, pulumi_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """The operator, run as a process: the chart's Deployment is only simulated on KWOK nodes.
    It keeps running through `--destroy`, as the in-cluster one would: it releases the
    blueprint's finalizer when Pulumi deletes the blueprint, before the operator goes."""
    running = OperatorProcess(
        pulumi_cluster.kubeconfig, tmp_path_factory.mktemp("operator") / "operator.log"
    )
    running.start()
    yield running
    running.stop()


def test_the_operator_rolls_the_city_out(operator: OperatorProcess, api: client.ApiClient) -> None:
    custom = client.CustomObjectsApi(api)

    def piloting() -> bool:
        operator.check_alive()
        try:
            initiative = custom.get_namespaced_custom_object(
                "citykit.io",
                "v1alpha1",
                NAMESPACE,
                "initiatives",
                "environment-air-quality-sensing",
            )
        except ApiException as error:
            if error.status == 404:
                return False
            raise
        status = initiative.get("status") or {}
        return status.get("phase") == "Pilot" and "healthy" in status.get("message", "")

    wait_for(piloting, EVENTUALLY, "testville's first initiative to pilot healthily")
    blueprint = custom.get_cluster_custom_object("citykit.io", "v1alpha1", "cityblueprints", CITY)
    assert blueprint["status"]["phase"] == "RollingOut"


def test_preview_prints_the_plan_and_changes_nothing(first_up: FirstUp) -> None:
    assert re.fullmatch(r"changes: \d+ create", summary(first_up.preview.stdout)), (
        first_up.preview.stdout[-2000:]
    )
    assert "citykit:platform:Service" in first_up.preview.stdout
    assert "kubernetes:core/v1:Namespace" in first_up.preview.stdout
    assert "kubernetes:helm.sh/v4:Chart" in first_up.preview.stdout
    assert first_up.namespace_after_preview is False


def operator_stack(api: client.ApiClient) -> str:
    return operator_stack_name(client.CoreV1Api(api).read_namespace("kube-system").metadata.uid)


def state_types(stack: auto.Stack) -> set[str]:
    return {resource["type"] for resource in stack.export_stack().deployment["resources"]}


def test_the_state_holds_kubernetes_resources_and_citykit_components_only(
    first_up: FirstUp, citykit: Any, api: client.ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    city = state_types(automation_stack(citykit, monkeypatch))
    operator = state_types(automation_stack(citykit, monkeypatch, operator_stack(api)))
    assert {
        "kubernetes:core/v1:Namespace",
        "kubernetes:core/v1:ResourceQuota",
        "kubernetes:core/v1:LimitRange",
        "kubernetes:core/v1:Secret",
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        "kubernetes:apps/v1:Deployment",
        "kubernetes:citykit.io/v1alpha1:CityBlueprint",
    } <= city
    assert {
        "kubernetes:helm.sh/v4:Chart",
        "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition",
        "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole",
        "kubernetes:apps/v1:Deployment",
    } <= operator
    assert "kubernetes:helm.sh/v4:Chart" not in city, "the operator is owned once, per cluster"
    # the stack itself, the explicit kubernetes provider and the engine's built-in one
    engine = {"pulumi:pulumi:Stack", "pulumi:providers:kubernetes", "pulumi:providers:pulumi"}
    for types in (city, operator):
        others = {typ for typ in types if not typ.startswith(("kubernetes:", "citykit:"))}
        assert others <= engine, others
        assert not [typ for typ in types if "dynamic" in typ]


def test_second_up_changes_nothing(first_up: FirstUp, citykit: Any) -> None:
    again = citykit("up", CITY)
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-4000:]
    assert re.fullmatch(r"changes: \d+ same", summary(again.stdout)), again.stdout[-2000:]


def test_a_hand_edit_is_seen_by_refresh_and_undone_by_the_next_up(
    first_up: FirstUp, citykit: Any, api: client.ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    core = client.CoreV1Api(api)
    wanted = core.read_namespaced_resource_quota("city-quota", NAMESPACE).spec.hard["pods"]
    core.patch_namespaced_resource_quota(
        "city-quota", NAMESPACE, {"spec": {"hard": {"pods": "7"}}}, field_manager="by-hand"
    )
    # a preview-only refresh writes no history: what it found is in its output
    refresh = automation_stack(citykit, monkeypatch).refresh(preview_only=True).stdout
    assert re.search(r"^\s+~ 1 to update$", refresh, re.MULTILINE), refresh[-3000:]
    quota = "kubernetes:core/v1:ResourceQuota ResourceQuota/city-testville/city-quota"
    assert re.search(rf"~ +{quota} update \[diff: ~spec\]", refresh), refresh[-3000:]
    assert core.read_namespaced_resource_quota("city-quota", NAMESPACE).spec.hard["pods"] == "7"

    again = citykit("up", CITY)
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-4000:]
    assert re.fullmatch(r"changes: \d+ same, 1 update", summary(again.stdout)), again.stdout[-3000:]
    assert core.read_namespaced_resource_quota("city-quota", NAMESPACE).spec.hard["pods"] == wanted


def test_a_second_city_shares_the_operator_and_its_destroy_leaves_it_running(
    first_up: FirstUp, citykit: Any, api: client.ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    scaffold = citykit("new-city", "othertown", "--jurisdiction", "gdpr", "--country", "EE")
    assert scaffold.returncode == 0, scaffold.stderr
    second = citykit("up", "othertown")
    assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-4000:]
    shared = operator_stack(api)
    assert re.search(rf"^{shared}: changes: \d+ same$", second.stdout, re.MULTILINE), second.stdout[
        -3000:
    ]
    assert exists(core.read_namespace, "city-othertown")
    assert "kubernetes:helm.sh/v4:Chart" not in state_types(
        automation_stack(citykit, monkeypatch, "othertown")
    )

    gone = citykit("up", "othertown", "--destroy")
    assert gone.returncode == 0, gone.stdout[-4000:] + gone.stderr[-4000:]
    assert not exists(core.read_namespace, "city-othertown")
    assert shared not in gone.stdout, "the operator stays while testville uses it"
    (operator,) = apps.list_namespaced_deployment("citykit-system").items
    assert operator.status.available_replicas == operator.spec.replicas >= 1
    blueprints = ("citykit.io", "v1alpha1", "cityblueprints")
    assert exists(client.CustomObjectsApi(api).get_cluster_custom_object, *blueprints, CITY)


def test_destroy_leaves_nothing_of_the_city_behind(
    operator: OperatorProcess, citykit: Any, api: client.ApiClient
) -> None:
    """Everything of the city goes, the blueprint's own children (Initiatives and what the
    operator made for them) with it; the CRDs stay, as Helm keeps a chart's CRDs: deleting
    one would delete every city's blueprints."""
    custom = client.CustomObjectsApi(api)
    city = f"citykit.io/city={CITY}"
    assert custom.list_cluster_custom_object(
        "citykit.io", "v1alpha1", "initiatives", label_selector=city
    )["items"]
    plan = citykit("up", CITY, "--destroy", "--preview")
    assert plan.returncode == 0, plan.stdout[-4000:] + plan.stderr[-4000:]
    assert re.fullmatch(r"changes: \d+ delete", summary(plan.stdout)), plan.stdout[-2000:]
    assert exists(client.CoreV1Api(api).read_namespace, NAMESPACE)
    gone = citykit("up", CITY, "--destroy")
    assert gone.returncode == 0, gone.stdout[-4000:] + gone.stderr[-4000:]
    shared = operator_stack(api)
    assert re.search(rf"^{shared}: changes: \d+ delete$", gone.stdout, re.MULTILINE), (
        "the last city takes the operator with it: " + gone.stdout[-3000:]
    )
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    extensions = client.ApiextensionsV1Api(api)
    assert not exists(core.read_namespace, NAMESPACE)
    assert not exists(core.read_namespace, "citykit-system")
    assert not exists(rbac.read_cluster_role, "citykit-citykit-operator")
    assert not exists(rbac.read_cluster_role_binding, "citykit-citykit-operator")
    assert not exists(
        custom.get_cluster_custom_object, "citykit.io", "v1alpha1", "cityblueprints", CITY
    )
    assert (
        custom.list_cluster_custom_object(
            "citykit.io", "v1alpha1", "initiatives", label_selector=city
        )["items"]
        == []
    )
    assert exists(extensions.read_custom_resource_definition, "cityblueprints.citykit.io")
