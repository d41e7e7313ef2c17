"""The shipped JSON Schemas are themselves valid draft 2020-12 schemas.

Checked here rather than on every `citykit validate` run, where it cost a third of start-up.
"""

from __future__ import annotations

import jsonschema
import pytest

from citykit.api.jsonschemas import load_schema, schema_names


@pytest.mark.parametrize("name", schema_names())
def test_shipped_schema_is_valid_draft_2020_12(name: str) -> None:
    jsonschema.Draft202012Validator.check_schema(load_schema(name))


def test_a_broken_schema_is_caught_by_the_metaschema() -> None:
    with pytest.raises(jsonschema.SchemaError):
        jsonschema.Draft202012Validator.check_schema({"type": "not-a-type"})
