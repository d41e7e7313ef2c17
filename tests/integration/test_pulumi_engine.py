"""The Pulumi engine citykit builds runs a real `pulumi up` against the local cluster.

The program runs inline through the Automation API, as `citykit up` runs the city's, with a
file backend in a temporary folder. Its one resource is a ConfigMap made by a dynamic
provider: the engine starts the provider plugin, which creates, diffs and deletes the object
through the Kubernetes API, so every step is checked in the cluster, not in Pulumi's state.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from pulumi import automation as auto
from pulumi.dynamic import CreateResult, Resource, ResourceProvider

from citykit.localcluster.state import LocalCluster
from citykit.toolchain.pulumi_engine import engine_env, engine_module, ensure_pulumi, pulumi_version

NAMESPACE = "default"
NAME = "pulumi-engine-check"


class ConfigMapProvider(ResourceProvider):
    """Runs in the plugin process, which imports this module by name (see PYTHONPATH below)."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        core = client.CoreV1Api(config.new_client_from_config(props["kubeconfig"]))
        body = {"metadata": {"name": props["name"]}, "data": props["data"]}
        core.create_namespaced_config_map(props["namespace"], body)
        return CreateResult(id_=f"{props['namespace']}/{props['name']}", outs=props)

    def delete(self, id: str, props: dict[str, Any]) -> None:
        core = client.CoreV1Api(config.new_client_from_config(props["kubeconfig"]))
        core.delete_namespaced_config_map(props["name"], props["namespace"])


class ConfigMap(Resource):
    def __init__(self, name: str, props: dict[str, Any]) -> None:
        super().__init__(ConfigMapProvider(), name, props)


@pytest.fixture(scope="module")
def pulumi_bin() -> Path:
    return ensure_pulumi(report=lambda _: None)


@pytest.fixture
def stack(
    pulumi_bin: Path, kube_cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[auto.Stack]:
    env = engine_env(pulumi_bin, tmp_path / "home", tmp_path / "state", passphrase="test only")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))
    (tmp_path / "state").mkdir()
    kubeconfig = str(kube_cluster.kubeconfig)

    def program() -> None:
        ConfigMap(
            "check",
            {
                "kubeconfig": kubeconfig,
                "namespace": NAMESPACE,
                "name": NAME,
                "data": {"engine": "pulumi"},
            },
        )

    yield auto.create_stack(
        "engine-check",
        project_name="citykit-engine-check",
        program=program,
        opts=auto.LocalWorkspaceOptions(work_dir=str(tmp_path)),
    )


def read_config_map(kubeconfig: Path) -> dict[str, str] | None:
    core = client.CoreV1Api(config.new_client_from_config(str(kubeconfig)))
    try:
        return core.read_namespaced_config_map(NAME, NAMESPACE).data
    except ApiException as error:
        if error.status == 404:
            return None
        raise


def test_pulumi_reports_the_release_its_wrapper_module_pins(pulumi_bin: Path) -> None:
    shown = subprocess.run(
        [pulumi_bin / "pulumi", "version"], capture_output=True, text=True, check=True
    )
    assert shown.stdout.strip() == pulumi_version(engine_module())


def test_up_creates_in_the_cluster_a_second_up_changes_nothing_destroy_removes(
    stack: auto.Stack, kube_cluster: LocalCluster
) -> None:
    first = stack.up()
    assert first.summary.resource_changes == {"create": 2}  # the stack and the ConfigMap
    assert read_config_map(kube_cluster.kubeconfig) == {"engine": "pulumi"}

    second = stack.up()
    assert second.summary.resource_changes == {"same": 2}

    stack.destroy()
    assert read_config_map(kube_cluster.kubeconfig) is None
