"""Inputs for the rollout state machine's unit tests: the moment they start from (T0) and an
initiative's spec with overrides. Shared by the rollout and upgrade-rollout tests, so that no
test module is imported as a library by another."""

from __future__ import annotations

import datetime
from typing import Any

T0 = datetime.datetime(2026, 11, 23, 12, 0, tzinfo=datetime.UTC)


def spec(**overrides: Any) -> dict[str, Any]:
    base = {
        "ref": "mobility.smart-parking",
        "districts": ["a", "b", "c"],
        "pilotDistricts": ["a"],
        "gate": {"healthyFor": "10m", "approval": "auto"},
        "dependsOn": [],
    }
    return {**base, **overrides}
