"""Where the toolchain's sources and binaries, and the local cluster's state, live.

Binaries are cached per version outside the repository (they are large and reusable across
checkouts); each cluster's state (certs, etcd data, logs, pid files) has its own folder so
a developer's cluster and a test session's cluster never collide.
"""

from __future__ import annotations

import os
from pathlib import Path

# cache_root moved to citykit.resources (the CLI's catalogue cache uses it too); kept here for
# the toolchain's modules and tests.
from citykit.resources import cache_root as cache_root
from citykit.resources import go_module
from citykit.toolchain.gomod import pinned_kubernetes_version


def local_cluster_module() -> Path:
    """The Go wrapper modules and KWOK stage files the local cluster is built and run from."""
    return go_module("local-cluster")


def kubernetes_version(module: Path | None = None) -> str:
    """The release the wrapper go.mod builds; it names the binary cache folder."""
    return pinned_kubernetes_version(((module or local_cluster_module()) / "go.mod").read_text())


def bin_dir() -> Path:
    """One folder per Kubernetes release, so bumping the version never mixes binaries; every
    tool citykit builds lands there, so one PATH entry (`citykit cluster env`) finds them all."""
    return cache_root() / "bin" / kubernetes_version()


def state_dir(cluster_name: str) -> Path:
    """`$CITYKIT_STATE` if set, else a per-name folder under the cache."""
    explicit = os.environ.get("CITYKIT_STATE")
    if explicit:
        return Path(explicit)
    return cache_root() / "clusters" / cluster_name
