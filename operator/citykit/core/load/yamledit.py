"""Changing scalar values in a YAML text without touching anything else (pure).

`citykit upgrade` rewrites two values of a city's blueprint (`spec.version`,
`spec.catalogueVersion`) in a file its team wrote by hand: comments, blank lines, key order,
flow mappings padded as `{ id: xihu, name: ... }`, quoting and line endings must all stay as
they were. A round-trip YAML library re-emits the whole document (ruamel.yaml keeps comments
but rewrites flow mappings' spacing and may re-indent), so instead the parser's own marks
say where each value starts and ends, and only those characters are replaced.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import yaml

from citykit.core.load.errors import CitykitError, Problem
from citykit.core.load.source import FieldPath, dotted

_STR = "tag:yaml.org,2002:str"


@dataclass
class _Frame:
    path: FieldPath
    is_mapping: bool
    key: str | None = None
    index: int = 0
    seen: set[str] = field(default_factory=set)


def replace_scalars(source: str, text: str, values: Mapping[FieldPath, str]) -> str:
    """`text` with the string scalar at each path of `values` replaced by its value, written
    in the style the old one was (plain stays plain when YAML would still read it as text,
    quoted stays quoted). A path that is missing, not a scalar, an alias or a block scalar is
    a located refusal: the caller then changes nothing."""
    spans: dict[FieldPath, tuple[int, int, str]] = {}
    # where each path written in the text starts (1-based), to place a refusal of a path that
    # is not written there (it comes from a merge key `<<` or an alias) at its nearest parent
    starts: dict[FieldPath, tuple[int, int]] = {}
    stack: list[_Frame] = []
    problems: list[Problem] = []

    def child_path() -> FieldPath:
        frame = stack[-1]
        if frame.is_mapping:
            return (*frame.path, frame.key or "")
        return (*frame.path, frame.index)

    def placed() -> None:
        frame = stack[-1]
        if frame.is_mapping:
            frame.key = None
        else:
            frame.index += 1

    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            expects_key = bool(stack) and stack[-1].is_mapping and stack[-1].key is None
            if isinstance(event, yaml.ScalarEvent) and expects_key:
                stack[-1].key = event.value
                continue
            path = child_path() if stack else ()
            if event.start_mark is not None:
                starts.setdefault(path, (event.start_mark.line + 1, event.start_mark.column + 1))
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                stack.append(_Frame(path, isinstance(event, yaml.MappingStartEvent)))
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                stack.pop()
                if stack:
                    placed()
            elif isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent)):
                if path in values:
                    start, end = event.start_mark, event.end_mark
                    assert start is not None and end is not None  # the parser marks every event
                    if isinstance(event, yaml.AliasEvent) or event.style in ("|", ">"):
                        problems.append(
                            Problem(
                                source,
                                start.line + 1,
                                start.column + 1,
                                dotted(path),
                                "write this value as a plain or quoted scalar, not an alias "
                                "or a block, so citykit can change it in place",
                            )
                        )
                    else:
                        spans[path] = (start.index, end.index, event.style or "")
                if stack:
                    placed()
    except yaml.YAMLError as error:
        raise CitykitError(Problem(source, 1, 1, "", f"invalid YAML: {error}")) from None
    missing = [path for path in values if path not in spans]
    problems += [
        Problem(
            source,
            *_nearest(starts, path),
            dotted(path),
            "not written here as a scalar (it comes from a merge key `<<` or an alias, or is "
            "missing): write it out under its mapping so citykit can change it in place",
        )
        for path in missing
        if not any(problem.path == dotted(path) for problem in problems)
    ]
    if problems:
        raise CitykitError(problems)
    for path, (begin, finish, style) in sorted(spans.items(), key=lambda item: -item[1][0]):
        text = text[:begin] + _written(values[path], style) + text[finish:]
    return text


def _nearest(starts: Mapping[FieldPath, tuple[int, int]], path: FieldPath) -> tuple[int, int]:
    for end in range(len(path), -1, -1):
        if path[:end] in starts:
            return starts[path[:end]]
    return (1, 1)


def _written(value: str, style: str) -> str:
    if style == "'":
        return "'" + value.replace("'", "''") + "'"
    if style == "" and _reads_as_text(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _reads_as_text(value: str) -> bool:
    """Whether `value` written plain is read back as this same string."""
    try:
        loaded = yaml.safe_load(value)
    except yaml.YAMLError:
        return False
    return isinstance(loaded, str) and loaded == value and "\n" not in value
