"""JSON Schema validation that reports located, readable problems.

The schemas in `blueprints/schema/` are the single source of truth for the shape of
blueprints, catalogue entries and profiles; the CRDs are generated from the same files.
"""

from __future__ import annotations

import functools
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from citykit.api.jsonschemas import load_schema, schema_names
from citykit.core.errors import Problem
from citykit.core.source import Document, FieldPath


@functools.cache
def _registry() -> Registry:
    """Every schema under its `$id`, so `status.schema.yaml#/...` references resolve offline."""
    resources = [Resource.from_contents(load_schema(name), DRAFT202012) for name in schema_names()]
    return Registry().with_resources((resource.id(), resource) for resource in resources)  # type: ignore[misc]


@functools.cache
def _validator(name: str) -> jsonschema.Draft202012Validator:
    # The shipped schemas are checked against the metaschema by a test, not on every run.
    return jsonschema.Draft202012Validator(load_schema(name), registry=_registry())


def check(document: Document, schema_name: str) -> list[Problem]:
    """Every schema violation in `document`, one located problem each."""
    return check_value(document, (), document.data, _validator(schema_name))


def check_value(
    document: Document, base: FieldPath, value: Any, validator: jsonschema.protocols.Validator
) -> list[Problem]:
    """Violations of `validator`'s schema by `value`, which sits at `base` in `document`."""
    problems = []
    for error in validator.iter_errors(value):
        path, message = _explain(error)
        problems.append(document.problem((*base, *path), message))
    return sorted(set(problems))


def parameter_validator(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    """A validator for a catalogue entry's parameter schema (itself a JSON Schema)."""
    return jsonschema.Draft202012Validator(schema)


def _explain(error: jsonschema.ValidationError) -> tuple[FieldPath, str]:
    """Turn jsonschema's messages into ones a city team can act on, at the right field."""
    path: FieldPath = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    match error.validator:
        case "required":
            missing = error.message.split("'")[1] if "'" in error.message else error.message
            return path, f"missing required field '{missing}'"
        case "additionalProperties":
            extras = sorted(set(error.instance) - set(schema.get("properties", {})))
            if extras:
                allowed = ", ".join(sorted(schema.get("properties", {}))) or "none"
                return (*path, extras[0]), f"unknown field '{extras[0]}' (allowed: {allowed})"
        case "enum":
            options = ", ".join(repr(option) for option in error.validator_value)
            return path, f"{error.instance!r} is not one of {options}"
        case "const":
            return path, f"expected {error.validator_value!r}, got {error.instance!r}"
        case "type":
            expected = error.validator_value
            return (
                path,
                f"expected {_a(expected)}, "
                f"got {_json_type(error.instance)} {_short(error.instance)}",
            )
        case "pattern":
            hint = schema.get("description", "").split(";")[0].rstrip(".")
            return path, f"{error.instance!r} does not match {error.validator_value!r}" + (
                f" ({hint})" if hint else ""
            )
    return path, error.message


def _a(expected: Any) -> str:
    if isinstance(expected, list):
        return " or ".join(_a(option) for option in expected)
    return {"object": "a mapping", "array": "a list", "integer": "an integer"}.get(
        expected, f"a {expected}"
    )


def _json_type(value: Any) -> str:
    return {
        dict: "a mapping",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
