"""How long a test waits before it gives up: one pair of deadlines for every wait in tests/.

The CI machine has 2 cores shared with other work (Go builds, other sessions' tests), where
what takes a second on an idle machine can take a minute: a deadline says when waiting has
become hopeless, never how fast something must be. How fast things are is measured in
benchmarks/, beside a floor. A generous deadline costs nothing when the test passes.
"""

from __future__ import annotations

import time
from collections.abc import Callable

# What takes seconds on an idle machine: an answer, a reconcile, a write, a lease changing hands.
PROMPTLY = 180.0
# What takes a minute or more on an idle machine: a city rolled out, a namespace collected,
# Pods Ready, a control plane started again.
EVENTUALLY = 900.0
# For work that is linear in its input and takes milliseconds on an idle machine (refusing a
# hostile file, scanning for secrets): only a super-linear blow-up (a quadratic scan, a regex
# that backtracks) takes longer, however busy the machine.
BLOW_UP = 30.0


def quiet(count: Callable[[], object], seconds: float = 3.0) -> Callable[[], bool]:
    """A condition for `wait_for`: `count()` (writes in the audit log, say) has not changed
    for `seconds`, so the events in flight have been handled. Unlike a fixed sleep it waits
    longer on a busy machine, where handling them takes longer."""
    last = count()
    since = time.monotonic()

    def settled() -> bool:
        nonlocal last, since
        now = count()
        if now != last:
            last, since = now, time.monotonic()
            return False
        return time.monotonic() - since >= seconds

    return settled
