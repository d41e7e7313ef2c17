"""`citykit diff` between blueprint versions, and `citykit catalogue`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from citykit.resources import example_cities_dir
from tests.conftest import run_cli


def test_diff_of_a_blueprint_with_itself_is_empty() -> None:
    city = str(example_cities_dir() / "tallinn.yaml")
    result = run_cli("diff", city, city)
    assert result.exit_code == 0
    assert result.output == "no changes\n"


def test_diff_names_added_removed_and_changed_initiatives(
    city_variant: Callable[..., Path],
) -> None:
    def next_version(data: dict[str, Any]) -> None:
        spec = data["spec"]
        spec["version"] = "1.3.0"
        removed = spec["initiatives"].pop()
        for item in spec["initiatives"]:
            item["dependsOn"] = [d for d in item.get("dependsOn", []) if d != removed["ref"]]
        spec["dataSharing"] = [
            a
            for a in spec.get("dataSharing", [])
            if removed["ref"] not in (a["producer"], a["consumer"])
        ]
        spec["kpiTargets"] = []
        spec["initiatives"][0]["gate"] = {"healthyFor": "77d", "approval": "manual"}

    old = example_cities_dir() / "tallinn.yaml"
    result = run_cli("diff", str(old), str(city_variant("tallinn", next_version)))
    assert result.exit_code == 0, result.output
    assert "~ version: 1.2.0 -> 1.3.0" in result.output
    assert "- initiative " in result.output
    first = result.output.split("~ initiative ")[1].splitlines()[0]
    assert "gate" in first
    assert "- apps/v1/Deployment city-tallinn/" in result.output
    assert "to delete" in result.output


def test_catalogue_list_filters_by_area() -> None:
    result = run_cli("catalogue", "list", "--area", "mobility")
    assert result.exit_code == 0
    assert "mobility.adaptive-traffic-signals" in result.output
    assert "government." not in result.output


def test_catalogue_show_prints_the_entry_and_refuses_unknown_ids() -> None:
    shown = run_cli("catalogue", "show", "environment.flood-sensing")
    assert shown.exit_code == 0
    assert "id: environment.flood-sensing" in shown.output
    missing = run_cli("catalogue", "show", "environment.nope")
    assert missing.exit_code == 1
    assert "unknown initiative 'environment.nope'" in missing.output
