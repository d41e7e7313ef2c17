"""`cluster up` fails clearly and cleanly: Go missing, port taken, a component that exits.

The binaries here are tiny scripts placed in a throw-away cache with stamps that match the
pinned versions, so `up` skips the Go build and runs them; what is under test is how `up`
reports and cleans up, not Kubernetes.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from citykit.localcluster import control_plane
from citykit.localcluster.errors import ClusterError
from citykit.toolchain.errors import ToolchainError
from citykit.toolchain.kubernetes import ensure_binaries
from tests.conftest import run_cli
from tests.problems import PROBLEM_LINE


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield int(taken.getsockname()[1])


def test_missing_go_is_named_when_binaries_must_be_built(
    empty_binaries: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))

    with pytest.raises(ToolchainError, match="the Go toolchain is not on PATH"):
        ensure_binaries(report=lambda _: None)


def test_a_crashed_component_is_named_with_its_last_log_lines(
    crashing_binaries: Path, tmp_path: Path
) -> None:
    with pytest.raises(ClusterError) as failed:
        control_plane.up("t", tmp_path / "state")

    assert "etcd exited while waiting for etcd to be healthy" in failed.value.message
    assert "bind: address already in use" in failed.value.message
    assert (tmp_path / "state" / "logs" / "etcd.log").is_file(), "logs are kept for diagnosis"


def test_cli_reports_a_taken_api_port_in_one_line_and_exits_1(
    crashing_binaries: Path, taken_port: int
) -> None:
    result = run_cli("cluster", "up", "--api-port", str(taken_port))

    assert result.exit_code == 1
    assert result.stdout == ""
    assert re.fullmatch(PROBLEM_LINE, result.stderr.strip())
    assert f"port {taken_port} on 127.0.0.1 is already in use" in result.stderr


def test_down_without_a_cluster_changes_nothing_and_succeeds(empty_binaries: Path) -> None:
    result = run_cli("cluster", "down")

    assert result.exit_code == 0
    assert "no cluster 'citykit' to stop" in result.stderr
