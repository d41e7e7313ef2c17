"""Printing manifests and documents: deterministic YAML or JSON."""

from __future__ import annotations

import json
from typing import Any

import yaml


def dump_yaml(documents: list[Any]) -> str:
    """Multi-document YAML, keys in the order they were built (so output is stable)."""
    return yaml.safe_dump_all(documents, default_flow_style=False, sort_keys=False, width=100)


def dump(documents: list[Any], output: str) -> str:
    """`output` is "yaml" or "json"; JSON is one object, or a list when there are several."""
    if output == "json":
        return json.dumps(documents if len(documents) != 1 else documents[0], indent=2) + "\n"
    return dump_yaml(documents)
