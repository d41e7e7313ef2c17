"""Spotting secret values pasted into a blueprint.

Blueprints are reviewed, versioned and shown in `kubectl get -o yaml`; a password typed into
`parameters` leaks everywhere. Secrets belong in Kubernetes Secrets, named under
`secretRefs`. This check looks at parameter names and at value shapes.

Every shape is found in time linear in the value's length: a value is user input of up to
megabytes, and a backtracking search for a JSON Web Token over a repeated token-like
fragment took 12 s for 250 KB. The token is found by splitting on dots instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

_SECRET_NAME = re.compile(
    r"(pass(word|wd|phrase)?|secret|token|api[-_]?key|private[-_]?key|credential|auth)",
    re.IGNORECASE,
)
_SECRET_SHAPES = (
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a PEM private key"),
    (re.compile(r"\bAKIA[0-9A-Z]{16}\b"), "a cloud access key id"),
    (re.compile(r"\b(gh[pousr]|glpat|xox[abpr])[-_][A-Za-z0-9_-]{16,}"), "an access token"),
    (re.compile(r"://[^/\s:@]+:[^/\s@]+@"), "a URL with an embedded password"),
)


def find_secrets(
    value: Any, path: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Yield (path, what it looks like) for every value that looks like a secret."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str) and item and _SECRET_NAME.search(key):
                yield (*path, key), f"'{key}' holds a literal value"
            else:
                yield from find_secrets(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from find_secrets(item, (*path, index))
    elif isinstance(value, str):
        what = _shape(value)
        if what:
            yield path, f"the value looks like {what}"


def _shape(value: str) -> str | None:
    if _has_json_web_token(value):
        return "a JSON Web Token"
    for pattern, what in _SECRET_SHAPES:
        if pattern.search(value):
            return what
    return None


_TOKEN_RUN = re.compile(r"[A-Za-z0-9_.-]+")
_TOKEN_START = re.compile(r"(?<![A-Za-z0-9_])eyJ")


def _has_json_web_token(value: str) -> bool:
    """Whether `value` holds `eyJ` + 8 or more token characters, `.`, 8 or more, `.`, 8 or
    more (header, payload, signature), in one pass over dot-separated segments."""
    if "eyJ" not in value:
        return False
    for run in _TOKEN_RUN.finditer(value):
        segments = run.group().split(".")
        for index, segment in enumerate(segments[:-2]):
            start = _TOKEN_START.search(segment)
            if (
                start is not None
                and len(segment) - start.end() >= 8
                and len(segments[index + 1]) >= 8
                and len(segments[index + 2]) >= 8
            ):
                return True
    return False
