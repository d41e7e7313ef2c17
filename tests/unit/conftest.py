"""Unit tests keep citykit's user cache (checked catalogues) in a folder of the session's own,
never in the user's home: the commands they run in process and in subprocesses find it through
CITYKIT_CACHE.

And the fixtures the `cluster up` unit tests share (test_cluster_failures.py,
test_cluster_resume.py), here so that no test module imports another for them: a throw-away
binaries cache, and tiny crashing scripts in it stamped with the pinned versions, so `up`
skips the Go build and runs them."""

from __future__ import annotations

from pathlib import Path

import pytest

from citykit.toolchain.gobuild import stamp_path
from citykit.toolchain.kubernetes import build_steps
from citykit.toolchain.locations import bin_dir, local_cluster_module


@pytest.fixture(scope="session")
def session_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("citykit-cache")


@pytest.fixture(autouse=True)
def isolated_cache(session_cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Set for each unit test and undone after it, so that no test run after the unit tests
    (an integration test's builds and clusters) inherits the throw-away cache."""
    monkeypatch.setenv("CITYKIT_CACHE", str(session_cache_dir))


CRASHING = "#!/bin/sh\necho 'listen tcp 127.0.0.1:2379: bind: address already in use' >&2\nexit 1\n"


@pytest.fixture
def empty_binaries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The binaries folder of a throw-away citykit cache and state, so that no test touches
    (or is helped by) the real one; pytest's own `cache` fixture keeps its name."""
    monkeypatch.setenv("CITYKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CITYKIT_STATE", str(tmp_path / "state"))
    return bin_dir()


@pytest.fixture
def crashing_binaries(empty_binaries: Path) -> Path:
    empty_binaries.mkdir(parents=True)
    for step in build_steps(local_cluster_module(), empty_binaries, build_date="unused"):
        for name in step.binaries:
            (empty_binaries / name).write_text(CRASHING)
            (empty_binaries / name).chmod(0o755)
        stamp_path(empty_binaries, step).write_text(step.stamp)
    return empty_binaries
