"""JSON Schema validation that reports located, readable problems.

The schemas in `blueprints/schema/` are the single source of truth for the shape of
blueprints, catalogue entries and profiles; the CRDs are generated from the same files.

Two keywords are evaluated here rather than by jsonschema's defaults, so that what `validate`
accepts is exactly what the API server accepts, in time linear in the input:
- `pattern`: JSON Schema patterns are ECMA-262 regular expressions and the API server runs
  them with Go's RE2; in both, `$` (without a multiline flag) matches only at the end of the
  text, and `\\d`/`\\w`/`\\s` are ASCII. Python's `$` also matches before a trailing newline
  (so `"tallinn\\n"` passed `^[a-z0-9]...$`). The schemas keep the portable `^...$`; the
  Python side compiles each `$` as `\\Z` with `re.ASCII`.
- `uniqueItems`: jsonschema compares items pairwise (quadratic: 8,000 mappings took 49 s);
  here each item is hashed once in a canonical form.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from citykit.api.jsonschemas import load_schema, schema_names
from citykit.core.load.errors import Problem, listing, number_text, shown
from citykit.core.load.source import Document, FieldPath

# The patterns the schemas give display text (names, purposes, references, sources): no C0 or
# C1 control character, which a terminal would obey (an OSC escape retitles the window) and a
# page would carry; a multi-line field keeps tab and newline.
DISPLAY_TEXT = "^[^\\x00-\\x1f\\x7f-\\x9f]*$"
MULTILINE_TEXT = "^[^\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f]*$"
TEXT_PATTERNS = (DISPLAY_TEXT, MULTILINE_TEXT)


def _is_control(char: str, pattern: str) -> bool:
    code = ord(char)
    if pattern == MULTILINE_TEXT and char in "\t\n":
        return False
    return code < 0x20 or 0x7F <= code <= 0x9F


@functools.lru_cache(maxsize=512)
def compiled_pattern(pattern: str) -> re.Pattern[str]:
    """A schema `pattern` with ECMA-262/RE2 meaning: `$` is the end of the text, classes ASCII."""
    out: list[str] = []
    in_class = escaped = False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "$":
            out.append(r"\Z")
            continue
        out.append(char)
    return re.compile("".join(out), re.ASCII)


def _pattern(
    validator: Any, pattern: str, instance: Any, schema: Mapping[str, Any]
) -> Iterator[jsonschema.ValidationError]:
    if validator.is_type(instance, "string") and not compiled_pattern(pattern).search(instance):
        yield jsonschema.ValidationError(f"{shown(instance)} does not match {pattern!r}")


def _canonical(value: Any) -> Any:
    """A hashable form under which two JSON values are equal exactly when JSON Schema says
    so (1 == 1.0, but true != 1; mappings regardless of key order)."""
    if isinstance(value, dict):
        return ("object", frozenset((key, _canonical(item)) for key, item in value.items()))
    if isinstance(value, list):
        return ("array", tuple(_canonical(item) for item in value))
    if isinstance(value, bool):
        return ("boolean", value)
    if isinstance(value, (int, float)):
        return ("number", value)
    return (type(value).__name__, value)


def _unique_items(
    validator: Any, unique: bool, instance: Any, schema: Mapping[str, Any]
) -> Iterator[jsonschema.ValidationError]:
    if not unique or not validator.is_type(instance, "array"):
        return
    first: dict[Any, int] = {}
    for index, item in enumerate(instance):
        key = _canonical(item)
        if key in first:
            yield jsonschema.ValidationError(
                f"duplicate of item [{first[key]}]; each may appear only once",
                path=(index,),
                instance=item,
            )
            return
        first[key] = index


_Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator, {"pattern": _pattern, "uniqueItems": _unique_items}
)


@functools.cache
def _registry() -> Registry:
    """Every schema under its `$id`, so `status.schema.yaml#/...` references resolve offline."""
    resources = [Resource.from_contents(load_schema(name), DRAFT202012) for name in schema_names()]
    return Registry().with_resources((resource.id(), resource) for resource in resources)  # type: ignore[misc]


@functools.cache
def _validator(name: str) -> jsonschema.protocols.Validator:
    # The shipped schemas are checked against the metaschema by a test, not on every run.
    validator: jsonschema.protocols.Validator = _Validator(load_schema(name), registry=_registry())
    return validator


def check(document: Document, schema_name: str) -> list[Problem]:
    """Every schema violation in `document`, one located problem each."""
    return check_value(document, (), document.data, _validator(schema_name))


def check_value(
    document: Document, base: FieldPath, value: Any, validator: jsonschema.protocols.Validator
) -> list[Problem]:
    """Violations of `validator`'s schema by `value`, which sits at `base` in `document`."""
    problems = []
    for error in validator.iter_errors(value):
        path, message = _explain(error, lambda at: document.texts.get((*base, *at)))
        problems.append(document.problem((*base, *path), message))
    return sorted(set(problems))


def parameter_validator(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    """A validator for a catalogue entry's parameter schema (itself a JSON Schema)."""
    validator: jsonschema.protocols.Validator = _Validator(schema)
    return validator


def _explain(
    error: jsonschema.ValidationError, written: Callable[[FieldPath], str | None]
) -> tuple[FieldPath, str]:
    """Turn jsonschema's messages into ones a city team can act on, at the right field.

    Values are quoted through `shown`, never whole: an input may be megabytes long."""
    path: FieldPath = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    instance, expected = error.instance, error.validator_value
    if "propertyNames" in error.relative_schema_path and isinstance(instance, str):
        path = (*path, instance)  # a key breaks the rule: point at the key
    match error.validator:
        case "required":
            missing = error.message.split("'")[1] if "'" in error.message else error.message
            return path, f"missing required field '{missing}'"
        case "additionalProperties":
            allowed_names = sorted(schema.get("properties", {}))
            extras = sorted(set(instance) - set(allowed_names))
            if extras:
                allowed = listing(allowed_names, limit=40) or "none"
                return (*path, extras[0]), f"unknown field {shown(extras[0])} (allowed: {allowed})"
        case "enum":
            return path, f"{shown(instance)} is not one of {listing(expected, limit=12)}"
        case "const":
            return path, f"expected {shown(expected)}, got {shown(instance)}"
        case "type":
            return path, f"expected {_a(expected)}, got {_json_type(instance)}" + _as_written(
                instance, written(path), expected
            )
        case "pattern" if expected in TEXT_PATTERNS and isinstance(instance, str):
            control = next(char for char in instance if _is_control(char, expected))
            return path, (
                f"{shown(instance)} holds the control character U+{ord(control):04X}; display "
                "text may hold no control characters (C0 or C1"
                + (", except tab and newline)" if expected == MULTILINE_TEXT else ")")
            )
        case "pattern":
            hint = schema.get("description", "").split(";")[0].rstrip(".")
            what = "key " if "propertyNames" in error.relative_schema_path else ""
            return path, f"{what}{shown(instance)} does not match {expected!r}" + (
                f" ({hint})" if hint else ""
            )
        case "maxItems" | "minItems":
            bound = "at most" if error.validator == "maxItems" else "at least"
            return path, f"a list of {len(instance):,} items; {bound} {expected:,} allowed"
        case "maxLength" | "minLength":
            bound = "at most" if error.validator == "maxLength" else "at least"
            return path, f"text of {len(instance):,} characters; {bound} {expected:,} allowed"
        case "maxProperties" | "minProperties":
            bound = "at most" if error.validator == "maxProperties" else "at least"
            return path, f"a mapping of {len(instance):,} fields; {bound} {expected:,} allowed"
        case "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum":
            words = {
                "minimum": "less than the minimum",
                "maximum": "more than the maximum",
                "exclusiveMinimum": "not above the exclusive minimum",
                "exclusiveMaximum": "not below the exclusive maximum",
            }[error.validator]
            return path, f"{shown(instance)} is {words} of {number_text(expected)}"
        case "uniqueItems":
            return path, error.message
    return path, f"{shown(instance)}: {error.message}"


def _as_written(value: Any, text: str | None, expected: Any) -> str:
    """` 1.1`, or for a value YAML typed by its look, how to keep the text as written:
    `country: NO` reads as false, `version: 1.10` as the number 1.1."""
    wants_text = expected == "string" or (isinstance(expected, list) and "string" in expected)
    if value is None:
        described = " (the field is empty)" if text in (None, "", "~") else f" (written {text})"
    elif isinstance(value, bool) and text is not None:
        described = f" (YAML reads an unquoted {text} as {shown(value)})"
    elif isinstance(value, (dict, list)):
        described = ""
    else:
        described = f" {shown(value)}"
    if wants_text and text:
        return f'{described}; write it in quotes to keep the text: "{text}"'
    return described


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
