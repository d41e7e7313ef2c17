"""Printing manifests and documents: deterministic YAML or JSON."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

import yaml


class _Dumper(yaml.SafeDumper):
    """Safe YAML that writes citykit's StrEnums (phases, waves, areas) as the strings they are."""


_Dumper.add_multi_representer(StrEnum, lambda dumper, value: dumper.represent_str(str(value)))


def dump_yaml(documents: list[Any]) -> str:
    """Multi-document YAML, keys in the order they were built (so output is stable)."""
    return yaml.dump_all(
        documents, Dumper=_Dumper, default_flow_style=False, sort_keys=False, width=100
    )


def dump(documents: list[Any], output: str) -> str:
    """`output` is "yaml" or "json"; JSON is one object, or a list when there are several."""
    if output == "json":
        return json.dumps(documents if len(documents) != 1 else documents[0], indent=2) + "\n"
    return dump_yaml(documents)
