"""The kubernetes provider plugin's pins agree with the Python SDK, and its embeds are upstream's.

The plugin itself is exercised by tests/integration/test_pulumi_engine.py and test_pulumi_up.py;
these checks need no build: an SDK generated from another schema than the plugin serves is the
mismatch that only shows later, as a resource input the plugin does not know.
"""

from __future__ import annotations

import json
import re
from importlib.metadata import version
from importlib.resources import files
from pathlib import Path

import pytest

from citykit.toolchain.errors import ToolchainError
from citykit.toolchain.pulumi_kubernetes import (
    PROVIDER_MODULE,
    PROVIDER_VERSION,
    embedded_mapping,
    embedded_schema,
    ensure_kubernetes_provider,
    provider_pseudo_version,
    provider_wrapper,
)


def test_the_python_sdk_is_the_release_the_plugin_reports() -> None:
    assert version("pulumi-kubernetes") == PROVIDER_VERSION
    plugin = json.loads(files("pulumi_kubernetes").joinpath("pulumi-plugin.json").read_text())
    assert plugin == {"resource": True, "name": "kubernetes", "version": PROVIDER_VERSION}


def test_the_wrapper_pins_the_provider_commit_and_the_sdk_module_of_the_same_release() -> None:
    gomod = (provider_wrapper() / "go.mod").read_text()
    assert provider_pseudo_version(provider_wrapper()) == "v4.0.0-20260115033456-f47bc2d6f199"
    sdk = "github.com/pulumi/pulumi-kubernetes/sdk/v4"
    assert re.search(
        rf"^replace {re.escape(sdk)} => {re.escape(sdk)} v{PROVIDER_VERSION}$", gomod, re.MULTILINE
    )
    assert f"require {PROVIDER_MODULE} " in gomod


def test_the_wrapper_main_embeds_what_the_build_stages() -> None:
    main = (provider_wrapper() / "main.go").read_text()
    assert "//go:embed schema-embed.json" in main
    assert "//go:embed terraform-mapping-embed.json" in main
    assert 'provider.Serve("kubernetes", version.Version, pulumiSchema, terraformMapping)' in main


def test_the_embedded_schema_carries_the_release_and_is_minified() -> None:
    source = json.dumps({"name": "kubernetes", "version": "", "resources": {"a": {}}}, indent=4)
    embedded = embedded_schema(source, "4.25.0")
    assert json.loads(embedded) == {
        "name": "kubernetes",
        "version": "4.25.0",
        "resources": {"a": {}},
    }
    assert "\n" not in embedded and ": " not in embedded


def test_the_embedded_mapping_is_the_mapping_minified() -> None:
    source = '{\n  "provider": {"kubeconfig": "config_path"}\n}\n'
    assert embedded_mapping(source) == '{"provider":{"kubeconfig":"config_path"}}'


def test_without_go_the_provider_build_names_what_it_needs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CITYKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(
        ToolchainError,
        match=rf"the Go toolchain is not on PATH.*pulumi-kubernetes provider {PROVIDER_VERSION}",
    ):
        ensure_kubernetes_provider(report=lambda _: None)
