"""Loading YAML documents safely, keeping the line and column of every field.

Blueprints come from city teams and, through the operator, from anyone allowed to create a
CityBlueprint; so loading refuses what would hurt: oversized files, binary data, duplicate
keys, custom tags, deep nesting and alias bombs. PyYAML's libyaml parser emits events
lazily; composing them here, iteratively, lets every limit stop the parse early (libyaml's
own recursive composer crashes the process on deeply nested input) and counts what aliases
would expand to before anything walks the result.
"""

from __future__ import annotations

import datetime
import functools
import math
import os
import re
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import yaml

from citykit.core.load.errors import CitykitError, Problem, one_line, shown

MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_NODES = 100_000
MAX_DEPTH = 64
# Kubernetes stores integers as 64-bit: a larger one would come back changed (or refused).
MIN_INTEGER, MAX_INTEGER = -(2**63), 2**63 - 1

FieldPath = tuple[str | int, ...]


def dotted(path: FieldPath) -> str:
    """`("spec", "initiatives", 3, "ref")` -> `spec.initiatives[3].ref`.

    A key that is not a plain word (a space, a quote, a bracket, a control character) is written
    `["..."]` with its whitespace escaped, so the path stays one unambiguous word."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif len(part) <= 60 and part.isprintable() and _PLAIN_KEY.fullmatch(part):
            text += f".{part}" if text else part
        else:
            text += f'["{_quoted_key(part)}"]'
    return text


_PLAIN_KEY = re.compile(r"[^\s\"'\[\]\\]+")


def _quoted_key(key: str) -> str:
    short = key if len(key) <= 60 else key[:57] + "..."
    escaped = one_line(short.replace("\\", "\\\\").replace('"', '\\"'))
    return "".join("\\x20" if char == " " else char for char in escaped)


@dataclass(frozen=True)
class Document:
    """Plain data from one YAML document, with the position of every field it holds.

    `data` is built only of dict, list, str, int (64-bit), float (finite), bool and None, so
    it can go straight to JSON Schema, to JSON and to the Kubernetes API.
    """

    source: str
    data: Any
    positions: Mapping[FieldPath, tuple[int, int]] = field(default_factory=dict)
    # How a value YAML typed by its look (`NO` -> false, `1.10` -> 1.1) was written, so a
    # message can say what to quote.
    texts: Mapping[FieldPath, str] = field(default_factory=dict)

    def locate(self, path: FieldPath) -> tuple[int, int]:
        """1-based (line, column) of `path`, or of its nearest located ancestor."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.positions:
                return self.positions[path[:end]]
        return (1, 1)

    def problem(self, path: FieldPath, message: str) -> Problem:
        line, column = self.locate(path)
        return Problem(self.source, line, column, dotted(path), message)


def from_data(source: str, data: Any) -> Document:
    """A document that came from the API rather than a file: no positions to report."""
    return Document(source, data, {})


def load_file(path: Path | str) -> Document:
    """Read and parse one YAML file (`-`: standard input) into a located `Document`, or raise
    `CitykitError`."""
    name = str(path)
    return load_bytes(name, read_bounded(name))


def read_bounded(name: str, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of file `name` (`-`: standard input), reading at most `limit` + 1 of them, so
    a pipe, a device (`/dev/zero`) or a file that grows is refused as soon as it is too big
    rather than read until memory runs out. Every failure is one located line."""
    try:
        if name == "-":
            raw = _read_at_most(sys.stdin.buffer, limit + 1)
        else:
            with open(name, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                if stat.S_ISREG(os.fstat(handle.fileno()).st_mode) and size > limit:
                    raise _whole_file(
                        name, f"file is {size:,} bytes; citykit reads at most {limit:,}"
                    )
                raw = _read_at_most(handle, limit + 1)
    except OSError as error:
        raise _whole_file(name, f"cannot read file: {error.strerror or error}") from None
    if len(raw) > limit:
        raise _whole_file(
            name, f"input is more than {limit:,} bytes; citykit reads at most {limit:,}"
        )
    return raw


def _read_at_most(handle: BinaryIO, size: int) -> bytes:
    chunks: list[bytes] = []
    left = size
    while left > 0:
        chunk = handle.read(min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def load_bytes(source: str, raw: bytes) -> Document:
    """Parse YAML bytes (one document) into a located `Document`, or raise `CitykitError`."""
    if len(raw) > MAX_FILE_BYTES:
        raise _whole_file(
            source, f"input is {len(raw):,} bytes; citykit reads at most {MAX_FILE_BYTES:,}"
        )
    if b"\x00" in raw:
        raise _whole_file(source, "binary data (NUL bytes): expected a YAML text file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise CitykitError(
            Problem(source, line, 1, "", "not UTF-8 text: expected a YAML text file")
        ) from None
    if not text.strip():
        raise _whole_file(source, "empty file: expected a YAML document")
    unprintable = _UNPRINTABLE.search(text)
    if unprintable:
        raise CitykitError(_character_problem(source, text, unprintable.start()))
    composer = _Composer(source)
    try:
        for event in yaml.parse(text, Loader=_LOADER):
            composer.feed(event)
    except yaml.MarkedYAMLError as error:
        raise CitykitError(_parse_problem(source, error)) from None
    except yaml.reader.ReaderError as error:
        raise CitykitError(_character_problem(source, text, error.position)) from None
    except yaml.YAMLError as error:
        raise _whole_file(source, f"invalid YAML: {error}") from None
    if len(composer.documents) != 1:
        raise _whole_file(
            source, f"expected exactly one YAML document, found {len(composer.documents)}"
        )
    return Document(source, composer.documents[0], composer.positions, composer.texts)


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_CORE = "tag:yaml.org,2002:"
_SCALAR_TAGS = {f"{_CORE}{name}" for name in ("str", "int", "float", "bool", "null", "timestamp")}


# What YAML 1.1 allows in a stream (its "printable" set); anything else is refused by the
# parser with a message over two lines placed at 1:1, so it is found and located here.
_UNPRINTABLE = re.compile(
    r"[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)


def _character_problem(source: str, text: str, position: int) -> Problem:
    position = max(0, min(position, len(text) - 1))
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    code = ord(text[position])
    escape = f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    return Problem(
        source,
        line,
        column,
        "",
        f"invalid YAML: character U+{code:04X} is not allowed in a YAML file; "
        f'to mean it, write it escaped inside double quotes ("{escape}")',
    )


def _whole_file(source: str, message: str) -> CitykitError:
    return CitykitError(Problem(source, 1, 1, "", message))


def _parse_problem(source: str, error: yaml.MarkedYAMLError) -> Problem:
    mark = error.problem_mark or error.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    what = " ".join(str(part) for part in (error.context, error.problem) if part)
    return Problem(source, line, column, "", f"invalid YAML: {what or error}")


@dataclass
class _Frame:
    """A mapping or sequence being built; `key` waits for its value inside a mapping."""

    value: dict[str, Any] | list[Any]
    path: FieldPath
    anchor: str | None
    nodes_at_start: int
    key: str | None = None
    key_at: tuple[int, int] = (1, 1)
    merged: set[str] = field(default_factory=set)


class _Composer:
    """Builds plain data from parser events, bounded in depth and in alias expansion."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.documents: list[Any] = []
        self.positions: dict[FieldPath, tuple[int, int]] = {}
        self.texts: dict[FieldPath, str] = {}
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.stack: list[_Frame] = []
        self.nodes = 0

    def fail(
        self, at: tuple[int, int], message: str, path: FieldPath | None = None
    ) -> CitykitError:
        where = path if path is not None else self._child_path()
        return CitykitError(Problem(self.source, at[0], at[1], dotted(where), message))

    def feed(self, event: yaml.Event) -> None:
        mark = event.start_mark
        at = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            self._check_tag(
                event.tag, ("map",) if isinstance(event, yaml.MappingStartEvent) else ("seq",), at
            )
            if len(self.stack) >= MAX_DEPTH:
                raise self.fail(at, f"nested deeper than {MAX_DEPTH} levels")
            path = self._child_path()
            self.positions.setdefault(path, self._position_for_child(at))
            self._count(1, at)
            container: dict[str, Any] | list[Any] = (
                {} if isinstance(event, yaml.MappingStartEvent) else []
            )
            self.stack.append(_Frame(container, path, event.anchor, self.nodes - 1))
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            frame = self.stack.pop()
            weight = self.nodes - frame.nodes_at_start
            if frame.anchor:
                self.anchors[frame.anchor] = (frame.value, weight)
            self._place(frame.value, at, is_merge=False)
        elif isinstance(event, yaml.ScalarEvent):
            tag = (
                event.tag
                if event.tag and event.tag != "!"
                else _resolve(event.value, event.implicit)
            )
            is_merge = tag == f"{_CORE}merge" and event.implicit[0]
            if tag == f"{_CORE}value" and event.implicit[0]:
                raise self.fail(
                    at,
                    "a plain = is YAML's 'value' key, not text; "
                    'to mean the text, write it in quotes: "="',
                )
            if not is_merge:
                self._check_tag(tag, (), at)
            self._count(1, at)
            value = event.value if is_merge else self._construct(tag, event, at)
            if event.anchor:
                self.anchors[event.anchor] = (value, 1)
            if not isinstance(value, str) and event.implicit[0] and not self._expects_key():
                self.texts[self._child_path()] = event.value
            self._place(value, at, is_merge=is_merge)
        elif isinstance(event, yaml.AliasEvent):
            if event.anchor not in self.anchors:
                raise self.fail(at, f"unknown alias *{event.anchor}")
            value, weight = self.anchors[event.anchor]
            self._count(weight, at)
            self._place(value, at, is_merge=False)

    def _construct(self, tag: str, event: yaml.ScalarEvent, at: tuple[int, int]) -> Any:
        """The scalar's value, or a located problem when it cannot be one: YAML resolves
        `2024-13-45` to a date and `0x_` to an integer by their look, and then fails."""
        implicit = bool(event.implicit[0]) and not event.tag
        kind = tag.removeprefix(_CORE)
        hint = (
            f"; if it is text, write it in quotes: {_quote(event.value)}"
            if implicit
            else f"; fix the value or drop the !!{kind} tag"
        )
        if kind == "int" and len(event.value) > _MAX_INTEGER_TEXT:
            raise self.fail(
                at, f"integer of {len(event.value):,} characters is out of range{_RANGE}{hint}"
            )
        try:
            value = _construct(tag, event.value)
        except (ValueError, KeyError, IndexError, AttributeError, TypeError, OverflowError):
            what = _KINDS.get(kind, f"!!{kind}")
            raise self.fail(
                at, f"{shown(event.value)} reads as {what} but is not a valid one{hint}"
            ) from None
        if isinstance(value, int) and not isinstance(value, bool):
            if not MIN_INTEGER <= value <= MAX_INTEGER:
                raise self.fail(at, f"integer {shown(value)} is out of range{_RANGE}{hint}")
        elif isinstance(value, float) and not math.isfinite(value):
            raise self.fail(
                at,
                f"{shown(event.value)} is not a finite number; JSON and Kubernetes have no NaN "
                f"or infinity{hint}",
            )
        return value

    def _count(self, weight: int, at: tuple[int, int]) -> None:
        self.nodes += weight
        if self.nodes > MAX_NODES:
            raise self.fail(
                at,
                f"document expands to more than {MAX_NODES:,} values, counting what "
                "aliases repeat (a YAML alias bomb?); refusing to load it",
            )

    def _check_tag(self, tag: str | None, kinds: tuple[str, ...], at: tuple[int, int]) -> None:
        allowed = {f"{_CORE}{kind}" for kind in kinds} if kinds else _SCALAR_TAGS
        if tag not in (None, "!") and tag not in allowed:
            raise self.fail(at, f"custom YAML tags are not supported: {tag}")

    def _expects_key(self) -> bool:
        return (
            bool(self.stack)
            and isinstance(self.stack[-1].value, dict)
            and (self.stack[-1].key is None)
        )

    def _child_path(self) -> FieldPath:
        if not self.stack:
            return ()
        frame = self.stack[-1]
        if isinstance(frame.value, list):
            return (*frame.path, len(frame.value))
        return (*frame.path, frame.key) if frame.key is not None else frame.path

    def _position_for_child(self, at: tuple[int, int]) -> tuple[int, int]:
        frame = self.stack[-1] if self.stack else None
        return frame.key_at if frame is not None and isinstance(frame.value, dict) else at

    def _place(self, value: Any, at: tuple[int, int], is_merge: bool) -> None:
        if not self.stack:
            self.documents.append(value)
            self.positions.setdefault((), at)
            return
        frame = self.stack[-1]
        if isinstance(frame.value, list):
            self.positions.setdefault((*frame.path, len(frame.value)), at)
            frame.value.append(value)
        elif frame.key is None:
            self._take_key(frame, value, at, is_merge)
        else:
            self._take_value(frame, value)

    def _take_key(self, frame: _Frame, key: Any, at: tuple[int, int], is_merge: bool) -> None:
        if is_merge:
            frame.key, frame.key_at = "<<", at
            return
        if isinstance(key, bool) or not isinstance(key, (str, int)):
            raise self.fail(at, f"mapping key {shown(key)} is not a plain string")
        name = str(key)
        if name in frame.value and name not in frame.merged:
            raise self.fail(at, f"duplicate key '{name}'", (*frame.path, name))
        frame.key, frame.key_at = name, at
        self.positions[(*frame.path, name)] = at

    def _take_value(self, frame: _Frame, value: Any) -> None:
        assert isinstance(frame.value, dict) and frame.key is not None
        if frame.key == "<<":
            sources = value if isinstance(value, list) else [value]
            if not all(isinstance(source, dict) for source in sources):
                raise self.fail(
                    frame.key_at, "a merge key (<<) takes a mapping or a list of mappings"
                )
            for source in sources:
                for name, item in source.items():
                    if name not in frame.value:
                        frame.value[name] = item
                        frame.merged.add(name)
                        self.positions.setdefault((*frame.path, name), frame.key_at)
        else:
            frame.merged.discard(frame.key)
            frame.value[frame.key] = value
        frame.key = None


_MAX_INTEGER_TEXT = 80  # characters: more than any 64-bit integer in any YAML notation
_RANGE = " (Kubernetes stores 64-bit integers: -2^63 to 2^63-1)"
_KINDS = {"int": "an integer", "float": "a number", "bool": "a boolean", "timestamp": "a date"}


def _quote(text: str) -> str:
    """`text` as a double-quoted YAML scalar, for a hint."""
    short = text if len(text) <= 40 else text[:37] + "..."
    return '"' + short.replace("\\", "\\\\").replace('"', '\\"') + '"'


@functools.cache
def _constructor() -> yaml.constructor.SafeConstructor:
    return yaml.constructor.SafeConstructor()


@functools.cache
def _resolver() -> yaml.resolver.Resolver:
    return yaml.resolver.Resolver()


def _resolve(value: str, implicit: tuple[bool, bool]) -> str:
    tag: str = _resolver().resolve(yaml.ScalarNode, value, implicit)  # type: ignore[no-untyped-call]
    return tag


def _construct(tag: str, value: str) -> Any:
    """A scalar's plain value; dates become ISO strings (JSON has no date type)."""
    constructor = _constructor()
    constructed = constructor.yaml_constructors[tag](constructor, yaml.ScalarNode(tag, value))
    if isinstance(constructed, (datetime.date, datetime.datetime)):
        return constructed.isoformat()
    return constructed
