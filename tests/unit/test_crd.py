"""The committed CRDs are exactly what the JSON Schemas generate."""

from __future__ import annotations

import yaml
from citykit.crd import crd_dir, crds


def test_committed_crds_match_the_schemas() -> None:
    generated = crds()
    committed = {path.name for path in crd_dir().glob("*.yaml")}
    assert committed == set(generated)
    for name, manifest in generated.items():
        assert yaml.safe_load((crd_dir() / name).read_text()) == manifest, (
            f"{name} drifted from blueprints/schema/: run `python -m citykit.crd`"
        )


def test_crds_are_structural_with_descriptions() -> None:
    def walk(node: dict, path: str) -> None:
        if node.get("x-kubernetes-preserve-unknown-fields"):
            return
        assert "type" in node, path
        for name, child in node.get("properties", {}).items():
            assert child.get("description"), f"{path}.{name} has no description"
            walk(child, f"{path}.{name}")
        if "items" in node:
            walk(node["items"], f"{path}[]")

    for manifest in crds().values():
        schema = manifest["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        walk(schema["properties"]["spec"], manifest["spec"]["names"]["kind"] + ".spec")
