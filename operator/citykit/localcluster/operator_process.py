"""The operator as a child process of this machine, as `citykit operator run` runs it.

Shared by `citykit demo`, the benchmarks and the integration tests, so all three drive the
operator the way a developer does.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path

from citykit.core.load.errors import RunFailure


class OperatorProcess:
    """`citykit operator run` as a child process, its output kept in `log` for diagnosis."""

    def __init__(
        self,
        kubeconfig: Path,
        log: Path,
        resync_seconds: float | None = None,
        env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
    ) -> None:
        self.kubeconfig, self.log, self.resync_seconds = kubeconfig, log, resync_seconds
        self.extra_env = dict(env or {})
        self.args = tuple(args)  # `operator run`'s options, e.g. ("--peering", "citykit")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            **self.extra_env,
            "KUBECONFIG": str(self.kubeconfig),
        }
        if self.resync_seconds is not None:  # else the operator's default (10 minutes)
            env["CITYKIT_RESYNC_SECONDS"] = f"{self.resync_seconds:g}"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "citykit", "operator", "run", *self.args],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    @property
    def returncode(self) -> int | None:
        """None while it runs (or before it started), else its exit code."""
        return None if self.process is None else self.process.poll()

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def check_alive(self) -> None:
        """Raises with the operator's last log lines if it has exited."""
        if self.process is not None and self.process.poll() is not None:
            raise RunFailure(
                "operator",
                f"exited with code {self.process.returncode}; last log lines"
                f" ({self.log}):\n" + "\n".join(self.last_lines()),
            )

    def last_lines(self, count: int = 15) -> list[str]:
        if not self.log.is_file():
            return []
        with self.log.open(errors="replace") as lines:
            return [line.rstrip() for line in deque(lines, maxlen=count)]

    def stop(self, grace: float = 10) -> None:
        """SIGTERM lets kopf finish its current handlers; SIGKILL if it does not within `grace`."""
        self._signal(signal.SIGTERM, grace)

    def kill(self) -> None:
        """SIGKILL, as a crash would: what the restart test needs."""
        self._signal(signal.SIGKILL, 30)

    def _signal(self, signum: int, grace: float) -> None:
        if not self.alive:
            return
        assert self.process is not None
        self.process.send_signal(signum)
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)
