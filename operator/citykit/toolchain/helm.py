"""helm, built from its Go module into the same cache as the local cluster's binaries.

Helm 4 rather than 3: it is the supported major (Helm 3's fixes end in 2026), it builds with
the Go toolchain the cluster already needs, and it installs with server-side apply as the
operator does. Charts stay `apiVersion: v2`, so Helm 3 users (and the Helm 3 library inside
pulumi-kubernetes) install the same chart.
"""

from __future__ import annotations

from pathlib import Path

from citykit.toolchain.gobuild import COMMON_FLAGS, GoBuild, Report, ensure_built

HELM_MODULE = "helm.sh/helm/v4"
HELM_VERSION = "v4.3.1"


def helm_steps(out: Path) -> tuple[GoBuild, ...]:
    """`go install` at the pinned tag; the -X makes `helm version` name the release, as
    Helm's own Makefile does (without it a module build reports only `v4.3`)."""
    ldflags = f"-s -w -X {HELM_MODULE}/internal/version.version={HELM_VERSION}"
    return (
        GoBuild(
            binaries=("helm",),
            stamp=f"helm {HELM_VERSION}",
            argv=(
                "go",
                "install",
                *COMMON_FLAGS,
                f"-ldflags={ldflags}",
                f"{HELM_MODULE}/cmd/helm@{HELM_VERSION}",
            ),
            cwd=out,
            env={"GOBIN": str(out)},
        ),
    )


def ensure_helm(report: Report, on_package: Report = lambda _: None) -> Path:
    """The path of the pinned helm binary, built on first use (a few minutes, once)."""
    return ensure_built(helm_steps, f"helm {HELM_VERSION}", report, on_package) / "helm"
