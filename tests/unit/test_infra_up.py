"""`citykit up` refuses what it can check itself before it starts the Pulumi engine."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import citykit.cli
from citykit.infra.automation import first_error
from tests.conftest import run_cli
from tests.problems import PROBLEM_LINE


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project with testville scaffolded; citykit's cache is the test's, to see it untouched."""
    (tmp_path / "project").mkdir()
    monkeypatch.chdir(tmp_path / "project")
    monkeypatch.setenv("CITYKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "test only")
    assert (
        run_cli("new-city", "testville", "--jurisdiction", "gdpr", "--country", "EE").exit_code == 0
    )
    return tmp_path


def engine_untouched(project: Path) -> bool:
    """Nothing built or started: the cache holds at most the catalogue the blueprint was
    checked against (citykit.cli.cataloguecache)."""
    cache = project / "cache"
    return not cache.exists() or [path.name for path in cache.iterdir()] == ["catalogue"]


def refused(*args: str) -> str:
    result = run_cli("up", *args)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) >= 1 and all(re.match(PROBLEM_LINE, line) for line in lines), result.output
    return result.output


def test_a_city_without_stack_is_pointed_to_new_city(project: Path) -> None:
    assert (
        "no stack configuration for city 'atlantis' (create it with `citykit new-city atlantis`)"
        in refused("atlantis")
    )
    assert engine_untouched(project)


def test_a_bad_stack_is_refused_before_the_engine_starts(project: Path) -> None:
    stack = project / "project/infra/Pulumi.testville.yaml"
    data = yaml.safe_load(stack.read_text())
    data["config"]["citykit:sizing"]["quota"]["pods"] = "3"
    stack.write_text(yaml.safe_dump(data, sort_keys=False))
    output = refused("testville")
    assert (
        "Pulumi.testville.yaml:" in output
        and "config.citykit:sizing.quota.pods: 3 is too small" in output
    )
    assert engine_untouched(project)


def test_without_a_passphrase_nothing_starts(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE")
    assert (
        "PULUMI_CONFIG_PASSPHRASE: not set: the stack's secrets are encrypted with it"
        in refused("testville")
    )
    assert engine_untouched(project)


def test_destroying_a_city_that_has_no_stack_says_so(project: Path) -> None:
    assert "nothing to destroy" in refused("atlantis", "--destroy")


def test_an_unreachable_cluster_is_one_line_before_the_engine_starts(project: Path) -> None:
    env = {**os.environ, "KUBECONFIG": str(project / "no-such-kubeconfig")}
    completed = subprocess.run(
        [sys.executable, "-m", "citykit", "up", "testville"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 1
    assert completed.stderr.strip().splitlines() == [
        "citykit: the Kubernetes API refused or could not be reached: "
        "Invalid kube-config file. No configuration found."
    ]
    assert engine_untouched(project)


ENGINE_OUTPUT = """\
 +  pulumi:pulumi:Stack citykit-testville **creating failed (1s)** 1 error
Diagnostics:
  pulumi:pulumi:Stack (citykit-testville):
    error: update failed

  kubernetes:apps/v1:Deployment (Deployment/city-testville/document-db):
    error: 1 error occurred:
    \t* resource city-testville/document-db was successfully created, but the Kubernetes \
API server reported that it failed to fully initialize or become live: timed out waiting \
for the condition

Outputs:
"""


def test_a_failed_run_is_summed_up_by_its_first_resource_error() -> None:
    assert first_error(ENGINE_OUTPUT) == (
        "Deployment/city-testville/document-db: resource city-testville/document-db was "
        "successfully created, but the Kubernetes API server reported that it failed to fully "
        "initialize or become live: timed out waiting for the condition"
    )
    assert (
        first_error("Diagnostics:\n  pulumi:pulumi:Stack (x):\n    error: update failed\n") is None
    )


def test_a_single_line_resource_error_is_taken_as_it_is() -> None:
    output = (
        "Diagnostics:\n  kubernetes:core/v1:Namespace (Namespace/city-x):\n"
        '    error: namespaces "city-x" is forbidden: quota exceeded\n'
    )
    assert first_error(output) == (
        'Namespace/city-x: namespaces "city-x" is forbidden: quota exceeded'
    )


def test_the_cli_leaves_the_automation_api_to_infra() -> None:
    """The Automation API calls live beside the Pulumi program (citykit.infra.automation);
    the CLI's modules only parse arguments and call it."""
    cli = Path(citykit.cli.__file__).parent
    importing = [
        f"{path.name}:{node.lineno}"
        for path in sorted(cli.glob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Import | ast.ImportFrom)
        and any(
            name.split(".")[0] == "pulumi"
            for name in (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [alias.name for alias in node.names]
            )
        )
    ]
    assert importing == []
