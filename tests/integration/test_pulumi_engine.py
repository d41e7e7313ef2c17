"""The Pulumi engine and the kubernetes provider plugin citykit builds run a real `pulumi up`
against the local cluster.

The program runs inline through the Automation API, as `citykit up` runs the city's, with a
file backend in a temporary folder. Its resource is a pulumi-kubernetes ConfigMap: the engine
finds the plugin in its plugin folder (linked there; downloads and ambient plugins are off),
the plugin creates, diffs and deletes the object through the Kubernetes API, and each step is
checked in the cluster.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s
import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from pulumi import automation as auto

from citykit.localcluster.state import LocalCluster
from citykit.toolchain.pulumi_engine import engine_env, engine_module, ensure_engine, pulumi_version
from citykit.toolchain.pulumi_kubernetes import PLUGIN, PROVIDER_VERSION, install_plugin
from tests.deadlines import PROMPTLY

NAMESPACE = "default"
NAME = "pulumi-engine-check"


@pytest.fixture(scope="module")
def bin_dir() -> Path:
    return ensure_engine(report=lambda _: None)


@pytest.fixture
def environment(bin_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = engine_env(bin_dir, tmp_path / "home", tmp_path / "state", passphrase="test only")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    (tmp_path / "state").mkdir()
    install_plugin(bin_dir, tmp_path / "home")
    return env


@pytest.fixture
def stack(
    environment: dict[str, str], kube_cluster: LocalCluster, tmp_path: Path
) -> Iterator[auto.Stack]:
    kubeconfig = str(kube_cluster.kubeconfig)

    def program() -> None:
        cluster = k8s.Provider("cluster", kubeconfig=kubeconfig)
        k8s.core.v1.ConfigMap(
            "check",
            metadata={"name": NAME, "namespace": NAMESPACE},
            data={"engine": "pulumi"},
            opts=pulumi.ResourceOptions(provider=cluster),
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


def test_pulumi_reports_the_release_its_wrapper_module_pins(bin_dir: Path) -> None:
    shown = subprocess.run(
        [bin_dir / "pulumi", "version"], capture_output=True, text=True, check=True
    )
    assert shown.stdout.strip() == pulumi_version(engine_module())


def test_the_plugin_serves_the_providers_schema_at_the_sdks_release(
    bin_dir: Path, environment: dict[str, str]
) -> None:
    """The engine loads the plugin binary and asks for its schema: the one embedded from the
    provider module, with the release the Python SDK was generated at."""
    shown = subprocess.run(
        [bin_dir / "pulumi", "package", "get-schema", str(bin_dir / PLUGIN)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    schema = json.loads(shown.stdout)
    assert schema["name"] == "kubernetes"
    assert schema["version"] == PROVIDER_VERSION == version("pulumi-kubernetes")
    assert "kubernetes:helm.sh/v4:Chart" in schema["resources"]
    assert "kubernetes:core/v1:Namespace" in schema["resources"]


def test_the_engine_lists_the_plugin_at_the_sdks_release(
    bin_dir: Path, environment: dict[str, str]
) -> None:
    shown = subprocess.run(
        [bin_dir / "pulumi", "plugin", "ls", "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=PROMPTLY,
    )
    plugins = [(p["kind"], p["name"], p["version"]) for p in json.loads(shown.stdout)]
    assert plugins == [("resource", "kubernetes", PROVIDER_VERSION)]


def test_up_creates_in_the_cluster_a_second_up_changes_nothing_destroy_removes(
    stack: auto.Stack, kube_cluster: LocalCluster
) -> None:
    first = stack.up()
    # the stack, the explicit provider and the ConfigMap
    assert first.summary.resource_changes == {"create": 3}
    assert read_config_map(kube_cluster.kubeconfig) == {"engine": "pulumi"}
    state = stack.export_stack().deployment
    (provider,) = [r for r in state["resources"] if r["type"] == "pulumi:providers:kubernetes"]
    assert provider["inputs"]["version"] == PROVIDER_VERSION

    second = stack.up()
    assert second.summary.resource_changes == {"same": 3}

    stack.destroy()
    assert read_config_map(kube_cluster.kubeconfig) is None
