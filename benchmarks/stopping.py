"""A benchmark stopped with SIGTERM (`kill`, a CI timeout) tears its local clusters down.

Python's default for SIGTERM ends the process at once, skipping the `finally` blocks that stop
the operator and the cluster, so every component of a stopped benchmark kept running. As
SystemExit, the signal unwinds like Ctrl-C does."""

from __future__ import annotations

import signal
import sys
from types import FrameType


def _exit(signum: int, _: FrameType | None) -> None:
    sys.exit(128 + signum)


def stop_cleanly_on_sigterm() -> None:
    signal.signal(signal.SIGTERM, _exit)
