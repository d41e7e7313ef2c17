"""`citykit up` refuses what it can check itself before it starts the Pulumi engine."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import LOCATED_LINE, run_cli


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project with testville scaffolded; citykit's cache is the test's, to see it untouched."""
    monkeypatch.setenv("CITYKIT_PROJECT", str(tmp_path / "project"))
    monkeypatch.setenv("CITYKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "test only")
    assert run_cli("new-city", "testville", "--jurisdiction", "gdpr").exit_code == 0
    return tmp_path


def refused(*args: str) -> str:
    result = run_cli("up", *args)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) >= 1 and all(re.match(LOCATED_LINE, line) for line in lines), result.output
    return result.output


def test_a_city_without_stack_is_pointed_to_new_city(project: Path) -> None:
    assert "no stack configuration for city 'atlantis' (create it with `citykit new-city atlantis`)" in refused("atlantis")
    assert not (project / "cache").exists()


def test_a_bad_stack_is_refused_before_the_engine_starts(project: Path) -> None:
    stack = project / "project/infra/Pulumi.testville.yaml"
    data = yaml.safe_load(stack.read_text())
    data["config"]["citykit:sizing"]["quota"]["pods"] = "3"
    stack.write_text(yaml.safe_dump(data, sort_keys=False))
    output = refused("testville")
    assert "Pulumi.testville.yaml:" in output and "config.citykit:sizing.quota.pods: 3 is too small" in output
    assert not (project / "cache").exists()


def test_without_a_passphrase_nothing_starts(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE")
    assert "PULUMI_CONFIG_PASSPHRASE: not set: the stack's secrets are encrypted with it" in refused("testville")
    assert not (project / "cache").exists()


def test_destroying_a_city_that_has_no_stack_says_so(project: Path) -> None:
    assert "nothing to destroy" in refused("atlantis", "--destroy")
