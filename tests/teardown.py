"""How the tests' own local clusters end: purged when every test so far passed; otherwise
stopped with their files kept, and the logs' folder named at the end of the test report
(a component that exited says why only there)."""

from __future__ import annotations

import pytest

from citykit.localcluster import control_plane
from citykit.localcluster.state import LocalCluster
from tests.conftest import say_at_end


def take_down(request: pytest.FixtureRequest, cluster: LocalCluster) -> None:
    if request.session.testsfailed:
        control_plane.down(cluster.state_dir)
        say_at_end(
            request.config, f"{cluster.name} cluster's component logs kept in {cluster.layout.logs}"
        )
    else:
        control_plane.down(cluster.state_dir, purge=True)
