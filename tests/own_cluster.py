"""Local clusters a test module starts for itself, and how every test cluster ends: purged
when every test so far passed; otherwise stopped with their files kept, and the logs' folder
named at the end of the test report (a component that exited says why only there)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from citykit.localcluster import control_plane
from citykit.localcluster.state import LocalCluster
from tests.conftest import say_at_end


def own_cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, name: str
) -> Iterator[LocalCluster]:
    """For a module-scoped fixture to `yield from`: a module with a cluster of its own runs
    beside the shared cluster's modules, on the other pytest-xdist worker."""
    started = control_plane.up(name, tmp_path_factory.mktemp(f"{name}-cluster"))
    yield started
    take_down(request, started)


def take_down(request: pytest.FixtureRequest, cluster: LocalCluster) -> None:
    if request.session.testsfailed:
        control_plane.down(cluster.state_dir)
        say_at_end(
            request.config, f"{cluster.name} cluster's component logs kept in {cluster.layout.logs}"
        )
    else:
        control_plane.down(cluster.state_dir, purge=True)
