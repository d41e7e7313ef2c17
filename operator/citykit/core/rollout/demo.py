"""What `citykit demo` rolls out, and when it is done (pure).

A real city's pilot gates last days; the demo keeps each gate's approval mode but shortens
its duration, and plays the programme office by approving every initiative whose manual gate waits.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from citykit.api.enums import BlueprintPhase, Phase
from citykit.core.load.errors import RunFailure
from citykit.core.load.source import load_file
from citykit.resources import example_cities


def choose_city(name: str | None) -> Path:
    """The named example city, or the one with the most enabled initiatives."""
    cities = example_cities()
    if name is None:
        return max(cities.values(), key=lambda path: len(enabled(load_file(path).data)))
    if name not in cities:
        raise RunFailure("--city", f"no example city {name!r}; choose one of: {', '.join(cities)}")
    return cities[name]


def enabled(blueprint: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [item for item in blueprint["spec"]["initiatives"] if item.get("enabled", True)]


def demo_blueprint(blueprint: Mapping[str, Any], gate: str) -> dict[str, Any]:
    """`blueprint` with every pilot gate lasting `gate`; manual approval stays manual."""
    shortened = copy.deepcopy(dict(blueprint))
    for item in shortened["spec"]["initiatives"]:
        item["gate"] = {**item.get("gate", {}), "healthyFor": gate}
    return shortened


def awaiting_approval(initiatives: Iterable[Mapping[str, Any]]) -> list[str]:
    """Catalogue ids of the initiatives whose manual gate waits for someone to approve them."""
    return [
        item["spec"]["ref"]
        for item in initiatives
        if (item.get("status") or {}).get("phase") == Phase.AWAITING_APPROVAL
    ]


def finished(status: Mapping[str, Any], generation: int) -> bool:
    """Live for the blueprint as applied, not for an earlier generation of it.

    Raises when the operator has blocked the blueprint: waiting longer would not help."""
    if status.get("observedGeneration") != generation:
        return False
    if status.get("phase") == BlueprintPhase.BLOCKED:
        problems = status.get("problems") or ["no reason given"]
        raise RunFailure("demo", "the operator blocked the blueprint: " + "; ".join(problems[:5]))
    return status.get("phase") == BlueprintPhase.LIVE
