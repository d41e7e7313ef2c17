"""The slow builds the integration tests need, started once, up front, in the background.

A cold run builds the Go programs (the local cluster's etcd, Kubernetes commands and KWOK;
helm; the Pulumi engine and its kubernetes provider), installs checkov and builds the operator
image. Built inside the
fixtures of the first tests that need them, they ran one after another, each after the tests
before it; started as soon as the session's tests are collected, they build while tests/unit
runs (pytest's testpaths put it first), so a cold run costs about the longest build plus the
tests, not their sum.

Nothing here hands a result to a test. A test's fixture calls the same `ensure_*` as it would
without this: each takes the build's file lock and skips what is current, so it waits for the
background build and then finds its binary; when the background build failed, it builds again
and fails with the build's own error, in the test that needs it. The background's outcome is
also in its log, named at the end of the test report.

The builds run in child processes (`python -m tests.builds KEY...`), not threads: tests change
this process's environment (`monkeypatch.setenv("PATH", ...)`, `CITYKIT_CACHE`), which a
thread's `go` would inherit mid-build; a child keeps the environment the session started with,
and its whole process group (go, its compilers, mmdebstrap, pip) stops with the session.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from citykit.toolchain.checkov import ensure_checkov
from citykit.toolchain.gobuild import Report, bin_dir, is_current
from citykit.toolchain.helm import ensure_helm
from citykit.toolchain.image import build_image, default_output
from citykit.toolchain.kubernetes import build_steps, ensure_binaries, local_cluster_module
from citykit.toolchain.locations import cache_root
from citykit.toolchain.pulumi_engine import ensure_engine

REPOSITORY = Path(__file__).resolve().parents[1]


def _image(report: Report) -> object:
    return build_image(default_output(), cache_root() / "image", report)


def asks_for(item: pytest.Item, *names: str) -> bool:
    """Whether the test asks for one of `names` as a fixture, or its module imports one."""
    fixtures = getattr(item, "fixturenames", ())
    module = getattr(item, "module", None)
    return any(name in fixtures or hasattr(module, name) for name in names)


def cluster_built() -> bool:
    """Whether the local cluster's binaries are in the cache (a warm run)."""
    out = bin_dir()
    return all(is_current(out, step) for step in build_steps(local_cluster_module(), out, ""))


def on_shared_cluster(item: pytest.Item) -> bool:
    return asks_for(item, "kube_cluster")


def starts_own_cluster(item: pytest.Item) -> bool:
    """tests.own_cluster, or the control plane itself (the local-cluster and real-node tests)."""
    return asks_for(item, "own_cluster", "control_plane")


@dataclass(frozen=True)
class Build:
    key: str
    what: str
    run: Callable[[Report], object]
    needed_by: Callable[[pytest.Item], bool]
    lane: str  # the builds of one lane run one after another, in one child process


# The Go builds share one lock (they land in one binary folder), so they share a lane, in the
# order the integration tests first need them; checkov's virtualenv and the image, each with
# a lock or cache of its own, build beside them. Only what a selected test names is built: a
# run of one test file does not start (and then stop) a half-hour build it never uses.
BUILDS = (
    Build(
        "cluster",
        "etcd, Kubernetes and KWOK",
        ensure_binaries,
        lambda item: on_shared_cluster(item) or starts_own_cluster(item),
        "go",
    ),
    Build("helm", "helm", ensure_helm, lambda item: asks_for(item, "helm", "ensure_helm"), "go"),
    Build(
        "engine",
        "the Pulumi engine and its kubernetes provider",
        ensure_engine,
        lambda item: asks_for(item, "ensure_engine"),
        "go",
    ),
    Build("checkov", "checkov", ensure_checkov, lambda item: asks_for(item, "checkov"), "checkov"),
    Build(
        "image",
        "the operator image",
        _image,
        lambda item: asks_for(item, "operator_image"),
        "image",
    ),
)
BY_KEY = {build.key: build for build in BUILDS}


def beyond_unit(items: Sequence[pytest.Item]) -> list[pytest.Item]:
    """The selected tests outside tests/unit: the unit tests need no build and no cluster,
    whatever they import (some test the cluster's pure pieces)."""
    return [item for item in items if not item.path.is_relative_to(REPOSITORY / "tests" / "unit")]


def needed(items: Sequence[pytest.Item]) -> dict[str, list[str]]:
    """{lane: the keys of the builds the selected `items` need, in the lane's order}; the
    unit tests need none (`beyond_unit`)."""
    items = beyond_unit(items)
    lanes: dict[str, list[str]] = {}
    for build in BUILDS:
        if any(build.needed_by(item) for item in items):
            lanes.setdefault(build.lane, []).append(build.key)
    return lanes


@dataclass
class Background:
    """The background builds of one test session, each lane a child process writing `log`."""

    log: Path
    _children: dict[str, tuple[list[str], subprocess.Popen[bytes]]] = field(default_factory=dict)
    _stopped: set[str] = field(default_factory=set)

    def start(self, lane: str, keys: list[str]) -> None:
        with self.log.open("ab") as out:
            child = subprocess.Popen(
                [sys.executable, "-m", "tests.builds", *keys],
                cwd=REPOSITORY,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # one process group: stopped whole at the end
            )
        self._children[lane] = (keys, child)

    def wait(self, lane: str) -> None:
        """Until the lane (if started) has finished; what it built is read by calling the
        build again, which also raises its error."""
        if lane in self._children:
            self._children[lane][1].wait()

    def wait_all(self) -> None:
        for lane in self._children:
            self.wait(lane)

    def stop(self) -> None:
        """Stops what still runs when the session ends (stopped early, or its tests were
        deselected or skipped): a build cut short writes no stamp, and the next run picks it
        up from Go's build cache."""
        for lane, (_, child) in self._children.items():
            if child.poll() is None:
                self._stopped.add(lane)
                os.killpg(child.pid, signal.SIGTERM)
                try:
                    child.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    os.killpg(child.pid, signal.SIGKILL)
                    child.wait()

    def summary(self) -> list[str]:
        lines = []
        for lane, (keys, child) in self._children.items():
            names = ", ".join(BY_KEY[key].what for key in keys)
            if lane in self._stopped:
                state = "stopped at the end of the session, unfinished"
            elif child.returncode == 0:
                state = "done"
            else:
                state = f"FAILED (exit {child.returncode}); the tests that need it say why"
            lines.append(f"background build of {names}: {state}")
        if lines:
            lines.append(f"background build log: {self.log}")
        return lines


def main(keys: Sequence[str]) -> int:
    def report(message: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)

    failed = False
    for key in keys:
        what, started = BY_KEY[key].what, time.monotonic()
        report(f"{what}: starting (nothing to do when current)")
        try:
            BY_KEY[key].run(report)
        except Exception as error:  # the test whose fixture builds it again raises it there
            failed = True
            report(f"{what}: FAILED after {time.monotonic() - started:.0f} s: {error}")
        else:
            report(f"{what}: done in {time.monotonic() - started:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
