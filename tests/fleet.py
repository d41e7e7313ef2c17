"""Cities larger and more numerous than the examples, for the scale test and benchmark.

The catalogue has fewer entries than a large city needs, so `enlarge` copies the project's
blueprints folder and adds numbered copies of the catalogue entries Hangzhou uses; the
operator reads that folder through CITYKIT_BLUEPRINTS. Every city made from it enables
Hangzhou's initiatives (its disabled ones are left out: nothing may refer to them) plus as
many copies as its size asks for, with Hangzhou's settings and 1 s automatic gates.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import yaml

from citykit.resources import blueprints_root
from tests.conftest import read_city


def entry_folder(root: Path, version: str, area: str) -> Path:
    """Where `area`'s entries of catalogue `version` live, in either catalogue layout."""
    versioned = root / "catalogue" / version / area
    return versioned if versioned.is_dir() else root / "catalogue" / area


def enlarge(root: Path, size: int, citywide_replicas: int | None = None) -> list[dict[str, Any]]:
    """Copies the blueprints folder to `root` with enough catalogue entries for a city of
    `size` initiatives, and returns that city's initiative list. `citywide_replicas` sets
    every component's citywide replicas in the entries it uses (Pods are the cluster's work,
    not the operator's: fewer let a benchmark reach a larger count of initiatives)."""
    shutil.copytree(blueprints_root(), root, dirs_exist_ok=True)
    template = read_city("hangzhou")
    version = template["spec"]["catalogueVersion"]
    originals = [item for item in template["spec"]["initiatives"] if item.get("enabled", True)]

    def entry_file(ref: str) -> Path:
        area, stem = ref.split(".")
        return entry_folder(root, version, area) / f"{stem}.yaml"

    def write(path: Path, entry: dict[str, Any]) -> None:
        if citywide_replicas is not None:
            for component in entry["components"]:
                component["replicas"] = {"pilot": 1, "citywide": citywide_replicas}
        path.write_text(yaml.safe_dump(entry, sort_keys=False))

    if citywide_replicas is not None:  # else the copied originals stand as they are
        for item in originals:
            path = entry_file(item["ref"])
            write(path, yaml.safe_load(path.read_text()))
    clones: list[dict[str, Any]] = []
    while len(originals) + len(clones) < size:
        item = originals[len(clones) % len(originals)]
        entry = yaml.safe_load(entry_file(item["ref"]).read_text())
        entry["id"] = f"{item['ref'].split('.')[0]}.c{len(clones):04d}"
        write(entry_file(entry["id"]), entry)
        clones.append({**copy.deepcopy(item), "ref": entry["id"]})
    return (originals + clones)[:size]


def city(name: str, initiatives: list[dict[str, Any]], flat: bool = False) -> dict[str, Any]:
    """Hangzhou renamed to `name` with `initiatives` and 1 s automatic gates; `flat` drops
    pilots and dependsOn, so the rollout is one wave the cluster can take at its own pace.
    Dependencies and data-sharing agreements on initiatives left out are dropped, and the KPI
    targets too unless every one of Hangzhou's initiatives is in (they may move none)."""
    data = read_city("hangzhou")
    template = data["spec"]["initiatives"]
    kept = {item["ref"] for item in initiatives}
    data["metadata"]["name"] = name
    data["spec"]["initiatives"] = [
        {
            **copy.deepcopy(item),
            "gate": {"healthyFor": "1s", "approval": "auto"},
            "dependsOn": [] if flat else [d for d in item.get("dependsOn", []) if d in kept],
            **({"pilotDistricts": []} if flat else {}),
        }
        for item in initiatives
    ]
    data["spec"]["dataSharing"] = [
        agreement
        for agreement in data["spec"].get("dataSharing", [])
        if agreement["producer"] in kept and agreement["consumer"] in kept
    ]
    if any(item.get("enabled", True) and item["ref"] not in kept for item in template):
        data["spec"]["kpiTargets"] = []
    return data
