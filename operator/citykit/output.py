"""Printing manifests and documents: deterministic YAML or JSON."""

from __future__ import annotations

import io
import json
from typing import Any

from ruamel.yaml import YAML


def dump_yaml(documents: list[Any]) -> str:
    """Multi-document YAML, keys in the order they were built (so output is stable)."""
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    stream = io.StringIO()
    yaml.dump_all(documents, stream)
    return stream.getvalue()


def dump(documents: list[Any], output: str) -> str:
    """`output` is "yaml" or "json"; JSON is one object, or a list when there are several."""
    if output == "json":
        return json.dumps(documents if len(documents) != 1 else documents[0], indent=2) + "\n"
    return dump_yaml(documents)
