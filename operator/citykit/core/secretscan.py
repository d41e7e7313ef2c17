"""Spotting secret values pasted into a blueprint.

Blueprints are reviewed, versioned and shown in `kubectl get -o yaml`; a password typed into
`parameters` leaks everywhere. Secrets belong in Kubernetes Secrets, named under
`secretRefs`. This check looks at parameter names and at value shapes.
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
    (
        re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
        "a JSON Web Token",
    ),
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
        for pattern, what in _SECRET_SHAPES:
            if pattern.search(value):
                yield path, f"the value looks like {what}"
                return
