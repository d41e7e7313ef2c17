"""Loading YAML documents safely, keeping the line and column of every field.

Blueprints come from city teams and, through the operator, from anyone allowed to create a
CityBlueprint; so loading refuses what would hurt: oversized files, binary data, duplicate
keys, custom tags, and alias bombs (aliases share nodes while parsing, so the expansion is
bounded while converting to plain data, before anything walks the result).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from citykit.errors import CitykitError, Problem

MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_NODES = 100_000
MAX_DEPTH = 64

FieldPath = tuple[str | int, ...]


def dotted(path: FieldPath) -> str:
    """`("spec", "initiatives", 3, "ref")` -> `spec.initiatives[3].ref`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


@dataclass(frozen=True)
class Document:
    """Plain data from one YAML document, with the position of every field it holds.

    `data` is built only of dict, list, str, int, float, bool and None, so it can go
    straight to JSON Schema and to the Kubernetes API.
    """

    source: str
    data: Any
    positions: Mapping[FieldPath, tuple[int, int]] = field(default_factory=dict)

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
    """Read and parse one YAML file into a located `Document`, or raise `CitykitError`."""
    path = Path(path)
    name = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise _whole_file(
                name, f"file is {size:,} bytes; citykit reads at most {MAX_FILE_BYTES:,}"
            )
        raw = path.read_bytes()
    except OSError as error:
        raise _whole_file(name, f"cannot read file: {error.strerror or error}") from None
    return load_bytes(name, raw)


def load_bytes(source: str, raw: bytes) -> Document:
    """Parse YAML bytes (one document) into a located `Document`, or raise `CitykitError`."""
    if len(raw) > MAX_FILE_BYTES:
        raise _whole_file(source, f"input is {len(raw):,} bytes; citykit reads at most {MAX_FILE_BYTES:,}")
    if b"\x00" in raw:
        raise _whole_file(source, "binary data (NUL bytes): expected a YAML text file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise CitykitError(Problem(source, line, 1, "", "not UTF-8 text: expected a YAML text file")) from None
    if not text.strip():
        raise _whole_file(source, "empty file: expected a YAML document")
    try:
        documents = list(YAML(typ="rt", pure=True).load_all(text))
    except MarkedYAMLError as error:
        raise CitykitError(_parse_problem(source, error)) from None
    except (YAMLError, RecursionError) as error:
        raise _whole_file(source, f"invalid YAML: {error}") from None
    documents = [d for d in documents if d is not None]
    if len(documents) != 1:
        raise _whole_file(source, f"expected exactly one YAML document, found {len(documents)}")
    converter = _Converter(source)
    data = converter.convert(documents[0], (), (1, 1), depth=0)
    return Document(source, data, converter.positions)


def _whole_file(source: str, message: str) -> CitykitError:
    return CitykitError(Problem(source, 1, 1, "", message))


def _parse_problem(source: str, error: MarkedYAMLError) -> Problem:
    mark = error.problem_mark or error.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    what = " ".join(str(part) for part in (error.context, error.problem) if part)
    return Problem(source, line, column, "", f"invalid YAML: {what or error}")


class _Converter:
    """Turns ruamel's round-trip nodes into plain data while recording positions."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.positions: dict[FieldPath, tuple[int, int]] = {}
        self.nodes = 0

    def convert(self, node: Any, path: FieldPath, at: tuple[int, int], depth: int) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise CitykitError(
                self._problem(path, f"document expands to more than {MAX_NODES:,} values "
                              "(a YAML alias bomb?); refusing to load it", at)
            )
        if depth > MAX_DEPTH:
            raise CitykitError(self._problem(path, f"nested deeper than {MAX_DEPTH} levels", at))
        self.positions.setdefault(path, at)
        if isinstance(node, TaggedScalar) or (
            isinstance(node, (CommentedMap, CommentedSeq)) and node.tag.value is not None
            and not node.tag.value.startswith("tag:yaml.org,2002:")
        ):
            raise CitykitError(self._problem(path, "custom YAML tags are not supported", at))
        if isinstance(node, CommentedMap):
            return self._mapping(node, path, depth)
        if isinstance(node, CommentedSeq):
            return [
                self.convert(item, (*path, index), _position(node.lc.item(index), at), depth + 1)
                for index, item in enumerate(node)
            ]
        return _scalar(node)

    def _problem(self, path: FieldPath, message: str, at: tuple[int, int] | None = None) -> Problem:
        line, column = at or self.positions.get(path, (1, 1))
        return Problem(self.source, line, column, dotted(path), message)

    def _mapping(self, node: CommentedMap, path: FieldPath, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in node.items():
            if isinstance(key, bool) or not isinstance(key, (str, int)):
                raise CitykitError(
                    self._problem(path, f"mapping key {key!r} is not a plain string")
                )
            name = str(key)
            try:
                at = _position(node.lc.key(key), self.positions[path])
            except KeyError:  # merged in through `<<`: report at the mapping itself
                at = self.positions[path]
            result[name] = self.convert(value, (*path, name), at, depth + 1)
        return result


def _position(lc: Any, fallback: tuple[int, int]) -> tuple[int, int]:
    if lc is None:
        return fallback
    return (lc[0] + 1, lc[1] + 1)


def _scalar(node: Any) -> Any:
    if node is None or isinstance(node, bool):
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    if isinstance(node, (datetime.date, datetime.datetime)):
        return node.isoformat()
    return str(node)
