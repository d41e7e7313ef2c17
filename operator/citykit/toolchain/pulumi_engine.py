"""The Pulumi engine, compiled from Go modules into the cache beside the cluster's binaries.

`pulumi up` needs, besides the Python SDK, the `pulumi` CLI (the engine), a language host to
run the program and a resource plugin per provider. Release binaries and plugin downloads
cannot be had here, so each comes from the Go module proxy, and what the proxy serves decides
what the engine can run (issue 5's note has the refusals word for word):

- `pulumi` is built from github.com/pulumi/pulumi/pkg/v3 through the wrapper module in
  gomodules/pulumi-engine/cli, whose go.mod repeats pkg/v3's replace directives (a dependency's
  are ignored) and pins sdk/v3 where pkg/v3 points at a folder of its own repository.
  v3.259.0 is the one pkg/v3 release the proxy serves; the Python SDK is pinned to match.
- No language host is built: the separate pulumi-language-python module is refused. Programs
  run inline through the Automation API need none, because the SDK serves the language
  protocol itself (`pulumi up --client`); a `runtime: python` project cannot be run by a bare
  `pulumi` CLI here.
- The `kubernetes` resource plugin is built by `citykit.toolchain.pulumi_kubernetes` from
  the provider/v4 module into the same folder; `ensure_engine` builds both.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from citykit.resources import go_module
from citykit.toolchain.errors import ToolchainError
from citykit.toolchain.gobuild import COMMON_FLAGS, GoBuild, Report, digest, ensure_built
from citykit.toolchain.pulumi_kubernetes import ensure_kubernetes_provider

PKG_MODULE = "github.com/pulumi/pulumi/pkg/v3"
SDK_MODULE = "github.com/pulumi/pulumi/sdk/v3"
_PKG_REQUIRE = re.compile(
    r"^\s*(?:require\s+)?github\.com/pulumi/pulumi/pkg/v3\s+(v\S+)", re.MULTILINE
)


def engine_module() -> Path:
    """The wrapper module that builds the CLI."""
    return go_module("pulumi-engine") / "cli"


def pulumi_version(module: Path) -> str:
    """The pkg/v3 release the committed wrapper go.mod pins: the CLI's version."""
    match = _PKG_REQUIRE.search((module / "go.mod").read_text())
    if match is None:
        raise ValueError(f"{module / 'go.mod'} does not require {PKG_MODULE}")
    return match.group(1)


def pulumi_steps(module: Path, out: Path) -> tuple[GoBuild, ...]:
    """One `go build` of pkg/v3's cmd/pulumi; the -X is what pulumi's own release build sets,
    so `pulumi version` names the release and the Automation API's version check passes."""
    version = pulumi_version(module)
    ldflags = f"-s -w -X {SDK_MODULE}/go/common/version.Version={version}"
    return (
        GoBuild(
            binaries=("pulumi",),
            stamp=f"pulumi {version} {digest(module / 'go.mod', module / 'go.sum')}",
            argv=(
                "go",
                "build",
                *COMMON_FLAGS,
                f"-ldflags={ldflags}",
                "-o",
                str(out / "pulumi"),
                f"{PKG_MODULE}/cmd/pulumi",
            ),
            cwd=module,
        ),
    )


def ensure_pulumi(report: Report, on_package: Report = lambda _: None) -> Path:
    """The cache folder holding `pulumi`, built on first use."""
    module = engine_module()
    if not (module / "go.mod").is_file():
        raise ToolchainError(
            f"{module} is missing: the Pulumi engine is built from a source checkout"
        )
    version = pulumi_version(module)
    return ensure_built(
        lambda out: pulumi_steps(module, out), f"the Pulumi engine {version}", report, on_package
    )


def ensure_engine(report: Report, on_package: Report = lambda _: None) -> Path:
    """The cache folder holding `pulumi` and the `kubernetes` resource plugin, both built on
    first use: everything `citykit up` runs besides the Python SDKs."""
    engine = ensure_pulumi(report, on_package)
    ensure_kubernetes_provider(report, on_package)  # into the same folder (`bin_dir()`)
    return engine


def engine_env(bin_dir: Path, home: Path, backend: Path, passphrase: str) -> dict[str, str]:
    """What `pulumi` needs to run here: no account, no network, and plugins from `home`.

    The Automation API's `PulumiCommand()` looks `pulumi` up on this process's PATH, so callers
    put these into `os.environ` (or pass them as a workspace's `env_vars` and a PATH of their
    own). Resource plugins come from `home`'s plugin folder only (`pulumi_kubernetes.
    install_plugin` links the built provider there): ambient plugins are ignored, so the
    provider beside `pulumi` on PATH is not taken with a warning on every run, and automatic
    plugin acquisition is off, so a missing plugin fails at once by name instead of being
    downloaded.
    """
    return {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', os.defpath)}",
        "PULUMI_HOME": str(home),
        "PULUMI_BACKEND_URL": backend.resolve().as_uri(),
        "PULUMI_CONFIG_PASSPHRASE": passphrase,
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_IGNORE_AMBIENT_PLUGINS": "true",
    }
