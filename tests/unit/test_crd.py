"""The committed CRDs are exactly what the JSON Schemas generate."""

from __future__ import annotations

import yaml

from citykit.api.crd import crds
from tests.conftest import REPOSITORY


def test_committed_crds_match_the_schemas() -> None:
    generated = crds()
    committed = {
        path.name for path in (REPOSITORY / "charts" / "citykit-operator" / "crds").glob("*.yaml")
    }
    assert committed == set(generated)
    for name, manifest in generated.items():
        assert (
            yaml.safe_load(
                ((REPOSITORY / "charts" / "citykit-operator" / "crds") / name).read_text()
            )
            == manifest
        ), f"{name} drifted from blueprints/schema/: run `python -m citykit.api.crd`"


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
