"""Start, watch and stop the cluster's component processes.

Each component runs in its own session (so Ctrl-C in the shell that ran `cluster up` does
not kill it, and stopping its process group also stops anything it forked), logs to a file in
the state folder, and is recorded with its start time so a recycled pid is never signalled.
Liveness is read from /proc, so this needs Linux (where CI and the dev containers run).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from citykit.localcluster.errors import ClusterError


@dataclass(frozen=True)
class Process:
    """A component process as recorded in the cluster's state file."""

    name: str
    pid: int
    start_ticks: int
    log: Path


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (which may contain spaces)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()


def _start_ticks(pid: int) -> int:
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else 0


def spawn(name: str, argv: Sequence[str], log: Path, env: Mapping[str, str] = {}) -> Process:
    """Starts `argv` detached, stdout and stderr appended to `log`, stdin from /dev/null, in
    this process's environment with `env` over it."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        pid = os.posix_spawn(
            argv[0],
            list(argv),
            {**os.environ, **env},
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, fd, 1),
                (os.POSIX_SPAWN_DUP2, fd, 2),
            ],
            setsid=True,
        )
    finally:
        os.close(fd)
    return Process(name, pid, _start_ticks(pid), log)


def _reap(pid: int) -> None:
    """Collects the exit status if the process is our child, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def is_alive(process: Process) -> bool:
    """True while the recorded process (not another one that got its pid) still runs.

    A killed multi-threaded process (every Go component) shows its first thread as a zombie
    before the other threads have ended, and they still hold its files and listening ports:
    started again on the same port at that moment, kube-apiserver failed with "address
    already in use". So a zombie is alive until it is its last thread."""
    _reap(process.pid)
    fields = _recorded_stat(process)
    return fields is not None and (fields[0] not in _ENDED or _threads(process.pid) > 1)


def dying(process: Process) -> bool:
    """Killed, with threads still ending: its first thread a zombie, the others still
    holding its files and ports (see `is_alive`)."""
    fields = _recorded_stat(process)
    return fields is not None and fields[0] in _ENDED and _threads(process.pid) > 1


_ENDED = ("Z", "X")  # a process's states, in /proc/PID/stat, once its first thread has exited


def _recorded_stat(process: Process) -> list[str] | None:
    """The /proc stat fields of `process`, None if it is gone (or its pid is another's now)."""
    fields = _stat_fields(process.pid)
    return fields if fields is not None and int(fields[19]) == process.start_ticks else None


def wait_out_dying(processes: Sequence[Process], seconds: float = 10.0) -> None:
    """Waits (at most `seconds`) until none of `processes` is dying, so each is plainly alive
    or dead: a component killed from outside a moment ago is then started again, on its
    ports, instead of being taken for running."""
    deadline = time.monotonic() + seconds
    while any(dying(process) for process in processes) and time.monotonic() < deadline:
        time.sleep(0.05)


def _threads(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0


def stop(processes: Sequence[Process], grace_seconds: float = 10.0) -> None:
    """Stops the processes one after another, in the order given.

    Waiting for each to exit before signalling the next lets kube-apiserver drain while etcd
    still answers; signalled together, the API server hangs on etcd until it is killed.
    """
    for process in processes:
        _stop_one(process, grace_seconds)


def _stop_one(process: Process, grace_seconds: float) -> None:
    """SIGTERM the process group, wait for a clean exit, then SIGKILL it."""
    for signum in (signal.SIGTERM, signal.SIGKILL):
        if not is_alive(process):
            return
        _signal_group(process, signum)
        deadline = time.monotonic() + grace_seconds
        while is_alive(process) and time.monotonic() < deadline:
            time.sleep(0.05)
    if is_alive(process):
        raise ClusterError(f"could not stop {process.name} (pid {process.pid}) even with SIGKILL")


def _signal_group(process: Process, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


def log_tail(log: Path, lines: int = 15) -> str:
    """The last lines of a component's log, to show why it stopped."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return "(no log written)"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"
