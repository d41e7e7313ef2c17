"""CustomResourceDefinitions generated from the project's JSON Schemas.

One source of truth: `blueprints/schema/*.schema.yaml` describe blueprints for `validate`
and, converted here to Kubernetes' structural OpenAPI subset, for the API server (so
`kubectl explain` shows the same descriptions). The generated files are committed under
`charts/citykit-operator/crds/` and a test fails when they drift; regenerate with
`python -m citykit.crd`.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from citykit import schemas
from citykit.output import dump_yaml
from citykit.paths import blueprints_root

GROUP = "citykit.io"
VERSION = "v1alpha1"
_KEPT = {
    "type", "description", "required", "enum", "pattern", "minimum", "maximum", "minLength",
    "maxLength", "minItems", "maxItems", "maxProperties", "format", "default", "nullable",
}


def crd_dir() -> Path:
    return blueprints_root().parent / "charts" / "citykit-operator" / "crds"


def crds() -> dict[str, dict[str, Any]]:
    """File name -> CRD manifest, for both kinds."""
    return {
        "cityblueprints.citykit.io.yaml": _crd(
            schemas.BLUEPRINT, kind="CityBlueprint", plural="cityblueprints", short="cbp", scope="Cluster",
            columns=[
                ("City", "string", ".spec.city.name", "City display name"),
                ("Version", "string", ".spec.version", "Blueprint version"),
                ("Jurisdiction", "string", ".spec.jurisdiction", "Jurisdiction profile"),
                ("Phase", "string", ".status.phase", "Rollout phase"),
                ("Live", "string", ".status.live", "Live initiatives over enabled ones"),
            ],
        ),
        "initiatives.citykit.io.yaml": _crd(
            schemas.INITIATIVE, kind="Initiative", plural="initiatives", short="ini", scope="Namespaced",
            columns=[
                ("Area", "string", ".spec.area", "Smart-city area"),
                ("Phase", "string", ".status.phase", "Rollout phase"),
                ("Wave", "string", ".status.wave", "Wave deployed"),
                ("Ready", "string", ".status.ready", "Ready replicas over desired"),
            ],
        ),
    }


def _crd(
    schema_name: str, *, kind: str, plural: str, short: str, scope: str,
    columns: list[tuple[str, str, str, str]],
) -> dict[str, Any]:
    source = schemas.load_schema(schema_name)
    properties = source["properties"]
    root: dict[str, Any] = {
        "type": "object",
        "description": source["description"],
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string", "description": properties["apiVersion"]["description"]},
            "kind": {"type": "string", "description": properties["kind"]["description"]},
            "metadata": {"type": "object"},
            "spec": _structural(properties["spec"], source),
            "status": _structural(properties["status"], source),
        },
    }
    name_schema = properties["metadata"].get("properties", {}).get("name")
    if name_schema:
        root["x-kubernetes-validations"] = [{
            "rule": f"self.metadata.name.size() <= {name_schema['maxLength']}",
            "message": f"metadata.name must be at most {name_schema['maxLength']} characters",
        }]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}", "labels": {"app.kubernetes.io/part-of": "citykit"}},
        "spec": {
            "group": GROUP,
            "scope": scope,
            "names": {
                "kind": kind, "listKind": f"{kind}List", "plural": plural, "singular": kind.lower(),
                "shortNames": [short], "categories": ["citykit"],
            },
            "versions": [{
                "name": VERSION, "served": True, "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": [
                    {"name": name, "type": type_, "jsonPath": path, "description": description}
                    for name, type_, path, description in columns
                ] + [{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}],
                "schema": {"openAPIV3Schema": root},
            }],
        },
    }


def _structural(node: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    """JSON Schema (2020-12) -> the structural OpenAPI v3 subset Kubernetes accepts.

    `propertyNames` has no cheap CEL form (key lengths are unbounded, so the API server's
    cost estimate refuses it); the operator's own validation checks those keys."""
    if "$ref" in node:
        target, document = _resolve(node["$ref"], document)
        merged = {**target, **{key: value for key, value in node.items() if key != "$ref"}}
        return _structural(merged, document)
    result = {key: copy.deepcopy(value) for key, value in node.items() if key in _KEPT}
    result.update({key: copy.deepcopy(value) for key, value in node.items() if key.startswith("x-kubernetes-")})
    if "const" in node:
        result["enum"] = [node["const"]]
    if "enum" in result and "type" not in result:
        result["type"] = "string" if all(isinstance(value, str) for value in result["enum"]) else "number"
    if "properties" in node:
        result["type"] = "object"
        result["properties"] = {name: _structural(child, document) for name, child in node["properties"].items()}
    if isinstance(node.get("additionalProperties"), dict):
        result["type"] = "object"
        result["additionalProperties"] = _structural(node["additionalProperties"], document)
    if result.get("type") == "object" and "properties" not in result and "additionalProperties" not in result:
        result["x-kubernetes-preserve-unknown-fields"] = True
    if "items" in node:
        result["items"] = _structural(node["items"], document)
        if node.get("uniqueItems") and result["items"].get("type") in ("string", "integer", "number"):
            result["x-kubernetes-list-type"] = "set"
    return result


def _resolve(reference: str, document: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    file, _, pointer = reference.partition("#")
    if file:
        document = schemas.load_schema(file.removesuffix(".schema.yaml"))
    target: Any = document
    for part in pointer.strip("/").split("/"):
        target = target[part]
    return target, document


def main() -> None:
    """Write the generated CRDs into the chart (run after changing a schema)."""
    crd_dir().mkdir(parents=True, exist_ok=True)
    for file_name, manifest in crds().items():
        text = "# Generated by `python -m citykit.crd` from blueprints/schema/; do not edit.\n"
        (crd_dir() / file_name).write_text(text + dump_yaml([manifest]))
        print(crd_dir() / file_name)


if __name__ == "__main__":
    main()
