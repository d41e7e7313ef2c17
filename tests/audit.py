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
