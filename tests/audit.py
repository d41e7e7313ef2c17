"""The local cluster's audit log, read whole, for the tests and benchmarks that count writes.

The API server rotates its audit log at 100 MB (the full file moves to `audit-<time>.log`
beside it), which a long benchmark or a long-lived test cluster passes; reading `audit.log`
alone would then undercount, and a count taken before and after a rotation would go
backwards. Positions (`len(events(log))` as a mark) stay valid across a rotation.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def events(audit_log: Path) -> list[dict[str, Any]]:
    """Every audit event the cluster has written, oldest first."""
    rotated = sorted(audit_log.parent.glob(f"{audit_log.stem}-*{audit_log.suffix}"))
    return [
        json.loads(line) for path in (*rotated, audit_log) for line in path.read_text().splitlines()
    ]


def city_writes(audit_log: Path) -> int:
    """Write requests to citykit's objects and their children by non-system users."""
    count = 0
    for event in events(audit_log):
        user = event.get("user", {}).get("username", "")
        if event.get("stage") != "ResponseComplete" or user.startswith("system:"):
            continue
        if event.get("verb") in ("create", "update", "patch", "delete"):
            ref = event.get("objectRef", {})
            if ref.get("namespace", "").startswith("city-") or ref.get("apiGroup") == "citykit.io":
                count += 1
    return count
