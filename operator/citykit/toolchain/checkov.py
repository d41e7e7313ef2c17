"""checkov, the manifest linter, pip-installed at a pinned release into a virtualenv of its own
in the tool cache, beside the Go-built binaries.

Why its own virtualenv: checkov 3.3 pins `packaging<24` and resolves `python-dateutil` 2.x,
while our test tools need `packaging>=24` (build; twine wants >=26.1) and the kubernetes client
`python-dateutil>=3`; installed beside citykit it would downgrade them. It is a command-line
tool, so it runs as one, from its own environment. kube-linter, the Go alternative, is not
available from the Go module proxy.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import venv
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from citykit.toolchain.errors import ToolchainError
from citykit.toolchain.gobuild import Report
from citykit.toolchain.locations import cache_root

CHECKOV_VERSION = "3.3.30"


def checkov_home() -> Path:
    return cache_root() / "tools" / f"checkov-{CHECKOV_VERSION}"


@contextmanager
def _install_lock(folder: Path) -> Iterator[None]:
    """Two test sessions must not install into one virtualenv at once."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_checkov(report: Report = lambda _: None) -> Path:
    """The path of the pinned checkov command, installed on first use (a minute or two,
    once); the stamp is written only after pip succeeded, so a broken install is redone."""
    home = checkov_home()
    command, stamp = home / "bin" / "checkov", home / ".installed"
    if command.is_file() and stamp.is_file():
        return command
    with _install_lock(home):
        if command.is_file() and stamp.is_file():
            return command
        report(f"installing checkov {CHECKOV_VERSION} into {home} (first time only)")
        venv.EnvBuilder(clear=True, with_pip=True).create(home)
        installed = subprocess.run(
            [
                str(home / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "--quiet",
                f"checkov=={CHECKOV_VERSION}",
            ],
            env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
            capture_output=True,
            text=True,
            check=False,
        )
        if installed.returncode != 0:
            tail = "\n".join((installed.stdout + installed.stderr).splitlines()[-15:])
            raise ToolchainError(f"installing checkov {CHECKOV_VERSION} failed:\n{tail}")
        stamp.write_text(f"checkov {CHECKOV_VERSION} for Python {sys.version.split()[0]}\n")
    return command
