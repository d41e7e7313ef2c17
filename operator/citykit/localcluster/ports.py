"""Loopback ports for the components: free ones by default, or a fixed API port on request.

Free ports let a developer's cluster, a test session's cluster and CI jobs on one machine run
side by side without any configuration.
"""

from __future__ import annotations

import contextlib
import errno
import random
import socket
from pathlib import Path

from citykit.localcluster.errors import ClusterError

EPHEMERAL_RANGE = "/proc/sys/net/ipv4/ip_local_port_range"
LISTENER_FLOOR = 20000


def free_ports(count: int) -> list[int]:
    """`count` distinct ports free on 127.0.0.1, below the kernel's ephemeral range.

    A port the kernel hands out for `bind(0)` comes from the range it also gives every
    outgoing connection: once a component is killed, any client's next connection may take its
    port, and the component cannot listen there again (a resumed cluster keeps its ports).
    Below that range only listeners ever bind, so a killed component gets its port back."""
    low, high = _listener_range()
    chosen: list[int] = []
    for port in random.sample(range(low, high), high - low):
        if len(chosen) == count:
            break
        with contextlib.suppress(ClusterError):
            chosen.append(claim(port))
    if len(chosen) < count:
        raise ClusterError(f"fewer than {count} free ports on 127.0.0.1 in {low}-{high - 1}")
    return chosen


def _listener_range() -> tuple[int, int]:
    """[low, high): the ports below the kernel's ephemeral range, from a floor well above the
    well-known ports and the ones common local services listen on."""
    try:
        first_ephemeral = int(Path(EPHEMERAL_RANGE).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        first_ephemeral = 32768  # Linux's default
    return min(LISTENER_FLOOR, first_ephemeral - 1000), first_ephemeral


def claim(port: int) -> int:
    """Checks a port is free, failing with a clear message if it is not.

    SO_REUSEADDR as Go's listeners set it: a component killed a moment ago leaves its
    connections in TIME_WAIT, which must not count as the port being taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise ClusterError(f"port {port} on 127.0.0.1 is already in use") from None
            raise ClusterError(f"cannot use port {port} on 127.0.0.1: {error.strerror}") from None
    return port
