"""Running `go build` / `go install` steps into the binary cache, each once.

No release binaries can be downloaded where citykit runs, but the Go module proxy is
reachable, so every tool is compiled from source: a cold build takes minutes, a warm one
nothing at all. Each `go` invocation writes a stamp next to its binaries once it succeeds;
a binary whose stamp matches what the committed go.mod/go.sum pin is never rebuilt.
"""

from __future__ import annotations

import collections
import fcntl
import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from citykit.toolchain.errors import ToolchainError
from citykit.toolchain.locations import bin_dir

# Static binaries as upstream ships them; no C toolchain needed on the build machine.
_GO_ENV = {"CGO_ENABLED": "0"}
# -v lists each package as it is compiled: the progress `cluster up` shows. No VCS stamping:
# the binaries do not come from this repository, and git may refuse a CI checkout's owner.
COMMON_FLAGS = ("-v", "-trimpath", "-buildvcs=false")

Report = Callable[[str], None]


@dataclass(frozen=True)
class GoBuild:
    """One `go` invocation that leaves `binaries` in the output folder."""

    binaries: tuple[str, ...]
    stamp: str
    argv: tuple[str, ...]
    cwd: Path
    env: Mapping[str, str] = field(default_factory=dict)
    # Writes what the build needs into `cwd` first (generated sources); run under the build
    # lock and only when the step is not current.
    prepare: Callable[[], None] | None = None


def digest(*paths: Path) -> str:
    """Pins what a build depends on besides its version: the wrapper's module files."""
    sha = hashlib.sha256()
    for path in paths:
        sha.update(path.read_bytes())
    return sha.hexdigest()[:16]


def stamp_path(out: Path, step: GoBuild) -> Path:
    """Written only after the step succeeded, so an interrupted build is redone."""
    return out / f".{step.binaries[0]}.stamp"


def is_current(out: Path, step: GoBuild) -> bool:
    """A step is done when all its binaries exist and its stamp names the pinned versions."""
    stamp = stamp_path(out, step)
    return (
        all((out / name).is_file() for name in step.binaries)
        and stamp.is_file()
        and stamp.read_text() == step.stamp
    )


@contextmanager
def build_lock(out: Path) -> Iterator[None]:
    """Two `citykit cluster up`s (or a test session and a developer) must not build into one
    folder at once; the second waits, then finds the work done."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _run(step: GoBuild, on_package: Report) -> None:
    """Runs one `go` command, reporting each compiled package as it goes."""
    env = {**os.environ, **_GO_ENV, **step.env}
    tail: collections.deque[str] = collections.deque(maxlen=25)
    with subprocess.Popen(
        step.argv,
        cwd=step.cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as go:
        assert go.stdout is not None
        for line in go.stdout:
            tail.append(line.rstrip())
            on_package(line.strip())
    if go.returncode != 0:
        names = ", ".join(step.binaries)
        raise ToolchainError(
            f"building {names} failed (go exited {go.returncode}); last output:\n" + "\n".join(tail)
        )


def ensure_built(
    steps_into: Callable[[Path], tuple[GoBuild, ...]],
    what: str,
    report: Report,
    on_package: Report = lambda _: None,
) -> Path:
    """Runs whichever of `steps_into(cache folder)` are not current, one build at a time.

    Every tool citykit builds (the cluster's, helm, the Pulumi engine) lands in the same
    per-Kubernetes-version folder, so one PATH entry (`citykit cluster env`) finds them all.
    """
    out = bin_dir()
    steps = steps_into(out)
    if all(is_current(out, step) for step in steps):
        return out
    if shutil.which("go") is None:
        raise ToolchainError(
            f"the Go toolchain is not on PATH; it is needed once to build {what}"
            f" into {out} (install Go 1.26 or newer)"
        )
    with build_lock(out):
        for step in steps:
            if is_current(out, step):
                continue
            report(f"building {', '.join(step.binaries)} into {out} (first time only)")
            stamp_path(out, step).unlink(missing_ok=True)
            if step.prepare is not None:
                step.prepare()
            _run(step, on_package)
            stamp_path(out, step).write_text(step.stamp)
    return out
