"""Build etcd, the Kubernetes control plane and KWOK from Go modules into a per-version cache.

No release binaries can be downloaded where citykit runs its tests, but the Go module proxy
is reachable, so every binary is compiled from source: a cold build takes minutes, a warm one
nothing at all. Each `go` invocation writes a stamp next to its binaries once it succeeds;
a binary whose stamp matches what the committed go.mod/go.sum pin is never rebuilt.
"""

from __future__ import annotations

import collections
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from citykit.localcluster.errors import ClusterError
from citykit.toolchain.gomod import pinned_kubernetes_version
from citykit.toolchain.locations import bin_dir, local_cluster_module

KWOK_MODULE = "sigs.k8s.io/kwok"
KWOK_VERSION = "v0.8.0"
KUBERNETES_COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
# Static binaries as upstream ships them; no C toolchain needed on the build machine.
_GO_ENV = {"CGO_ENABLED": "0"}
# -v lists each package as it is compiled: the progress `cluster up` shows. No VCS stamping:
# the binaries do not come from this repository, and git may refuse a CI checkout's owner.
COMMON_FLAGS = ("-v", "-trimpath", "-buildvcs=false")
_ETCD_REQUIRE = re.compile(r"^\s*(?:require\s+)?go\.etcd\.io/etcd/server/v3\s+(v\S+)", re.MULTILINE)

Report = Callable[[str], None]


@dataclass(frozen=True)
class GoBuild:
    """One `go` invocation that leaves `binaries` in the output folder."""

    binaries: tuple[str, ...]
    stamp: str
    argv: tuple[str, ...]
    cwd: Path
    env: Mapping[str, str] = field(default_factory=dict)


def kubernetes_version(infra: Path | None = None) -> str:
    """The release the committed wrapper go.mod builds; it names the binary cache folder."""
    return pinned_kubernetes_version(((infra or local_cluster_module()) / "go.mod").read_text())


def etcd_version(infra: Path) -> str:
    """The etcd server release the committed etcd wrapper go.mod pins."""
    match = _ETCD_REQUIRE.search((infra / "etcd" / "go.mod").read_text())
    if match is None:
        raise ValueError("etcd wrapper go.mod does not require go.etcd.io/etcd/server/v3")
    return match.group(1)


def version_ldflags(version: str, build_date: str) -> str:
    """What Kubernetes' hack/lib/version.sh passes, so /version reports the real release."""
    major, minor = version.removeprefix("v").split(".")[:2]
    values = {
        "gitVersion": version,
        "gitMajor": major,
        "gitMinor": minor,
        "gitTreeState": "clean",
        "buildDate": build_date,
    }
    packages = ("k8s.io/client-go/pkg/version", "k8s.io/component-base/version")
    return " ".join(f"-X {pkg}.{key}={value}" for pkg in packages for key, value in values.items())


def digest(*paths: Path) -> str:
    """Pins what a build depends on besides its version: the wrapper's module files."""
    sha = hashlib.sha256()
    for path in paths:
        sha.update(path.read_bytes())
    return sha.hexdigest()[:16]


def build_steps(infra: Path, out: Path, build_date: str) -> tuple[GoBuild, ...]:
    """The three `go` invocations, etcd first: it is the smallest, so a broken toolchain shows early."""
    k8s = kubernetes_version(infra)
    etcd_dir = infra / "etcd"
    k8s_ldflags = f"-s -w {version_ldflags(k8s, build_date)}"
    return (
        GoBuild(
            binaries=("etcd",),
            stamp=f"etcd {etcd_version(infra)} {digest(etcd_dir / 'go.mod', etcd_dir / 'go.sum')}",
            argv=("go", "build", *COMMON_FLAGS, "-ldflags=-s -w", "-o", str(out / "etcd"), "."),
            cwd=etcd_dir,
        ),
        GoBuild(
            binaries=KUBERNETES_COMMANDS,
            stamp=f"kubernetes {k8s} {digest(infra / 'go.mod', infra / 'go.sum')}",
            argv=(
                "go",
                "build",
                *COMMON_FLAGS,
                f"-ldflags={k8s_ldflags}",
                "-o",
                f"{out}{os.sep}",
                *(f"./cmd/{name}" for name in KUBERNETES_COMMANDS),
            ),
            cwd=infra,
        ),
        GoBuild(
            binaries=("kwok",),
            stamp=f"kwok {KWOK_VERSION}",
            argv=(
                "go",
                "install",
                *COMMON_FLAGS,
                "-ldflags=-s -w",
                f"{KWOK_MODULE}/cmd/kwok@{KWOK_VERSION}",
            ),
            cwd=infra,
            env={"GOBIN": str(out)},
        ),
    )


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
def _build_lock(out: Path) -> Iterator[None]:
    """Two `citykit cluster up`s (or a test session and a developer) must not build at once."""
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
        raise ClusterError(
            f"building {names} failed (go exited {go.returncode}); last output:\n" + "\n".join(tail)
        )


def ensure_binaries(report: Report, on_package: Report = lambda _: None) -> Path:
    """Returns the folder holding the local cluster's binaries, building whatever is missing."""
    infra = local_cluster_module()
    if not (infra / "go.mod").is_file():
        raise ClusterError(f"{infra} is missing: the local cluster is built from a source checkout")
    build_date = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return ensure_built(
        lambda out: build_steps(infra, out, build_date),
        "etcd, Kubernetes and KWOK",
        report,
        on_package,
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
    out = bin_dir(kubernetes_version())
    steps = steps_into(out)
    if all(is_current(out, step) for step in steps):
        return out
    if shutil.which("go") is None:
        raise ClusterError(
            f"the Go toolchain is not on PATH; it is needed once to build {what}"
            f" into {out} (install Go 1.26 or newer)"
        )
    with _build_lock(out):
        for step in steps:
            if is_current(out, step):
                continue
            report(f"building {', '.join(step.binaries)} into {out} (first time only)")
            stamp_path(out, step).unlink(missing_ok=True)
            _run(step, on_package)
            stamp_path(out, step).write_text(step.stamp)
    return out
