"""The pulumi-kubernetes resource plugin, built from its Go module beside the Pulumi engine.

The provider is the nested module github.com/pulumi/pulumi-kubernetes/provider/v4, which has
no tags of its own (the repository tags `v4.x.y` at its root), so the wrapper module in
gomodules/pulumi-kubernetes requires it at a pseudo-version: v4.0.0-20260115033456-f47bc2d6f199 is
the commit upstream tagged v4.25.0, and the `pulumi-kubernetes` Python SDK is pinned to 4.25.0.

Upstream's main.go embeds schema-embed.json and terraform-mapping-embed.json, which its build
generates (generate.go) and the module zip does not hold. Here the build step stages the
wrapper's main.go, go.mod and go.sum in a folder of the cache, writes both files there from
the zip's schema.json (with the version set) and terraform-mapping.json, minified as upstream
writes them, and builds that folder.

The binary lands in the same cache folder as `pulumi`; `install_plugin` links it into a
Pulumi home's plugin folder (`plugins/resource-kubernetes-v4.25.0/`), the layout the engine
itself installs plugins in, so the engine selects it by the version the SDK asks for.
Automatic plugin acquisition is off, so the engine never downloads one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from citykit.resources import go_module
from citykit.toolchain.errors import ToolchainError
from citykit.toolchain.gobuild import COMMON_FLAGS, GoBuild, Report, digest, ensure_built
from citykit.toolchain.locations import cache_root

PROVIDER_MODULE = "github.com/pulumi/pulumi-kubernetes/provider/v4"
# The release the pinned commit is: the plugin reports it, the schema carries it, and the
# Python SDK pinned in pyproject.toml is the one generated at the same commit.
PROVIDER_VERSION = "4.25.0"
PLUGIN = "pulumi-resource-kubernetes"
WRAPPER_FILES = ("main.go", "go.mod", "go.sum")
SCHEMA_EMBED = "schema-embed.json"
MAPPING_EMBED = "terraform-mapping-embed.json"
_PROVIDER_REQUIRE = re.compile(
    r"^\s*(?:require\s+)?github\.com/pulumi/pulumi-kubernetes/provider/v4\s+(v\S+)", re.MULTILINE
)


def provider_wrapper() -> Path:
    """The wrapper module (main.go, go.mod, go.sum) the plugin is built from."""
    return go_module("pulumi-kubernetes")


def provider_pseudo_version(module: Path) -> str:
    """The provider/v4 version the committed wrapper go.mod pins."""
    match = _PROVIDER_REQUIRE.search((module / "go.mod").read_text())
    if match is None:
        raise ValueError(f"{module / 'go.mod'} does not require {PROVIDER_MODULE}")
    return match.group(1)


def embedded_schema(schema_json: str, version: str) -> str:
    """What upstream's generate.go writes: the package schema with `version` set, minified."""
    spec = json.loads(schema_json)
    spec["version"] = version
    return json.dumps(spec, separators=(",", ":"), ensure_ascii=False)


def embedded_mapping(mapping_json: str) -> str:
    """The terraform mapping (what `pulumi convert` from Terraform reads), minified."""
    return json.dumps(json.loads(mapping_json), separators=(",", ":"), ensure_ascii=False)


def _provider_source(module: Path) -> Path:
    """The provider module's folder in the Go module cache, downloaded through the proxy."""
    pinned = f"{PROVIDER_MODULE}@{provider_pseudo_version(module)}"
    download = subprocess.run(
        ("go", "mod", "download", "-json", pinned),
        check=False,
        cwd=module,
        capture_output=True,
        text=True,
    )
    if download.returncode != 0:
        refusal = f"{download.stdout}{download.stderr}".strip()
        raise ToolchainError(f"cannot download {pinned}: {refusal}")
    return Path(json.loads(download.stdout)["Dir"]) / "cmd" / PLUGIN


def stage(module: Path, into: Path) -> None:
    """Lays out the folder `go build` runs in: our main and module files, the embeds."""
    source = _provider_source(module)
    shutil.rmtree(into, ignore_errors=True)
    into.mkdir(parents=True)
    for name in WRAPPER_FILES:
        shutil.copyfile(module / name, into / name)
    schema = embedded_schema((source / "schema.json").read_text(), PROVIDER_VERSION)
    (into / SCHEMA_EMBED).write_text(schema)
    mapping = embedded_mapping((source / "terraform-mapping.json").read_text())
    (into / MAPPING_EMBED).write_text(mapping)


def provider_steps(module: Path, staging: Path, out: Path) -> tuple[GoBuild, ...]:
    """One `go build` of the staged wrapper; the -X is what upstream's Makefile sets, so the
    plugin reports its release to the engine (and in its user agent)."""
    pseudo = provider_pseudo_version(module)
    ldflags = f"-s -w -X {PROVIDER_MODULE}/pkg/version.Version={PROVIDER_VERSION}"
    return (
        GoBuild(
            binaries=(PLUGIN,),
            stamp=(
                f"{PLUGIN} {PROVIDER_VERSION} {pseudo} "
                f"{digest(*(module / name for name in WRAPPER_FILES))}"
            ),
            argv=(
                "go",
                "build",
                *COMMON_FLAGS,
                f"-ldflags={ldflags}",
                "-o",
                str(out / PLUGIN),
                ".",
            ),
            cwd=staging,
            prepare=lambda: stage(module, staging),
        ),
    )


def ensure_kubernetes_provider(report: Report, on_package: Report = lambda _: None) -> Path:
    """The cache folder holding `pulumi-resource-kubernetes`, built on first use."""
    module = provider_wrapper()
    if not (module / "go.mod").is_file():
        raise ToolchainError(
            f"{module} is missing: the kubernetes provider is built from a source checkout"
        )
    staging = cache_root() / "build" / PLUGIN
    return ensure_built(
        lambda out: provider_steps(module, staging, out),
        f"the pulumi-kubernetes provider {PROVIDER_VERSION}",
        report,
        on_package,
    )


def plugin_folder(home: Path) -> Path:
    """Where the engine looks for this release of the plugin under a Pulumi home."""
    return home / "plugins" / f"resource-kubernetes-v{PROVIDER_VERSION}"


def install_plugin(bin_dir: Path, home: Path) -> Path:
    """Links the built plugin into `home`'s plugin folder (a link, not a 100 MB copy per home);
    what `pulumi plugin install resource kubernetes v4.25.0 --file` would leave there."""
    target = plugin_folder(home) / PLUGIN
    built = bin_dir / PLUGIN
    if target.is_symlink() and target.resolve() == built.resolve():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = target.with_name(f".{PLUGIN}.tmp")
    staged.unlink(missing_ok=True)
    staged.symlink_to(built)
    os.replace(staged, target)
    return target
