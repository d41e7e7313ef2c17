"""The Pulumi engine's pins agree with each other, and a machine without Go hears why it needs it.

The engine itself is exercised by tests/integration/test_pulumi_engine.py; these checks are
the ones that need no build: a CLI built against one SDK release while Python imports another
is the mismatch that only shows later as an engine/SDK protocol error.
"""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

import pytest

from citykit.toolchain.errors import ToolchainError
from citykit.toolchain.pulumi_engine import SDK_MODULE, engine_module, ensure_pulumi, pulumi_version


def test_wrapper_builds_the_cli_against_the_sdk_of_its_own_release() -> None:
    gomod = (engine_module() / "go.mod").read_text()
    sdk = re.search(rf"^\s*{re.escape(SDK_MODULE)}\s+(v\S+)", gomod, re.MULTILINE)
    assert sdk is not None
    assert sdk.group(1) == pulumi_version(engine_module())


def test_installed_python_sdk_is_the_engine_release() -> None:
    assert version("pulumi") == pulumi_version(engine_module()).removeprefix("v")


def test_without_go_the_engine_build_names_what_it_needs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CITYKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(
        ToolchainError, match=r"the Go toolchain is not on PATH.*the Pulumi engine v3\.\d+\.\d+"
    ):
        ensure_pulumi(report=lambda _: None)
