"""Loopback ports for the components: free ones by default, or a fixed API port on request.

Free ports let a developer's cluster, a test session's cluster and CI jobs on one machine run
side by side without any configuration.
"""

from __future__ import annotations

import errno
import socket

from citykit.localcluster.errors import ClusterError


def free_ports(count: int) -> list[int]:
    """Ports the kernel just handed out for 127.0.0.1; held together, so all are distinct."""
    probes = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]
    finally:
        for probe in probes:
            probe.close()


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
