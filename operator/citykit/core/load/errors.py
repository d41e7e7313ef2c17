"""The one error type a user can cause, and the located problems it carries.

Every check in citykit (YAML loading, schema, semantics, policy) reports `Problem`s rather
than raising at the first one, so a city team sees every mistake in a file in one run.
The CLI prints them one per line as `FILE:LINE:COL: field.path: message` and exits 1. A
problem that is not in a file names what it is about instead of a made-up place: the
command-line argument (`--catalogue: unknown catalogue version '9.9.9' ...`, `CITY: ...`), or
for a failure of the machine or the cluster, the part that failed (`pulumi: ...`).

Messages echo what the user wrote, and a blueprint can hold any text: a newline would split
one problem over two lines, a terminal escape would rewrite the screen, a bidi override would
show other text than is there. So a `Problem` escapes its text when it is made (`one_line`),
and values are shown through `shown`/`listing`, which stay short whatever the input's size.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

MAX_MESSAGE = 600  # characters; a message quotes values, never whole inputs
_SHOWN = 60  # characters of one quoted value
_LISTED = 8  # names in one listing


def one_line(text: str) -> str:
    """`text` with every control, format (bidi, zero-width) and line/paragraph-separator
    character written as an escape (`\\n`, `\\x1b`, `\\u202e`), so it prints as one honest line.

    Idempotent (the result holds only printable characters), so text escaped once may be
    quoted again in another message."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() or char == " " else _escape(char) for char in text)


def _escape(char: str) -> str:
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
    if char in named:
        return named[char]
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def shown(value: Any) -> str:
    """A value as a message quotes it: short, on one line, and safe for any size of number
    (Python refuses to print integers over 4,300 digits; `:g` overflows past 1e308)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return number_text(value)
    if isinstance(value, str):
        if len(value) <= _SHOWN:
            return repr(value)  # repr escapes what is not printable, as one_line does
        return repr(value[: _SHOWN - 3] + "...") + f" ({len(value):,} characters)"
    if isinstance(value, list):
        return f"a list of {len(value):,} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, dict):
        return f"a mapping of {len(value):,} field{'s' if len(value) != 1 else ''}"
    return one_line(type(value).__name__)


def number_text(value: int | float) -> str:
    """`12`, `0.25`, `1e+30`, `100.0000001`, or `an integer of 5,000 digits`: never raises,
    and never rounds a number into another one."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value.bit_length() > 64:
            digits = int(value.bit_length() * math.log10(2)) + 1
            return f"an integer of about {digits:,} digits"
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "infinity" if value > 0 else "-infinity"
    text = f"{value:g}"
    # `:g` keeps six digits: 100.0000001 would read as 100, and a refusal of it as nonsense
    return text if float(text) == value else repr(value)


def listing(names: Iterable[Any], limit: int = _LISTED) -> str:
    """`a, b, c` or `a, b, c, ... (120 in all)`: a list of names that stays short."""
    items = list(names)
    texts = [name if isinstance(name, str) else shown(name) for name in items[:limit]]
    texts = [
        one_line(text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "...") for text in texts
    ]
    if len(items) > limit:
        return ", ".join(texts) + f", ... ({len(items):,} in all)"
    return ", ".join(texts)


@dataclass(frozen=True, order=True)
class Problem:
    """One located mistake in an input file, or (`file` empty) one about a command-line
    argument or a run, which `path` names; path and message are escaped to one line."""

    file: str
    line: int
    column: int
    path: str
    message: str

    def __post_init__(self) -> None:
        message = one_line(self.message)
        if len(message) > MAX_MESSAGE:
            message = message[: MAX_MESSAGE - 3] + "..."
        object.__setattr__(self, "file", one_line(self.file))
        object.__setattr__(self, "path", one_line(self.path))
        object.__setattr__(self, "message", message)

    @classmethod
    def argument(cls, name: str, message: str) -> Problem:
        """A problem with a command-line argument or option, named as `--help` names it
        (`--catalogue`, `CITY`, `NAME`, `VALUE`): there is no file or line to point at."""
        return cls("", 0, 0, name, message)

    @property
    def located(self) -> bool:
        """Whether the problem is at a place in a file (else it names an argument or a part)."""
        return bool(self.file)

    def __str__(self) -> str:
        if not self.located:
            return f"{self.path}: {self.message}"
        return f"{self.file}:{self.line}:{self.column}: {self.path or '(document)'}: {self.message}"


class CitykitError(Exception):
    """Raised for input a user can fix; carries one or more located problems."""

    def __init__(self, problems: list[Problem] | Problem) -> None:
        self.problems = sorted(problems) if isinstance(problems, list) else [problems]
        super().__init__("\n".join(str(p) for p in self.problems))


class RunFailure(CitykitError):
    """A failure of the machine or the cluster, not of an input file: one line naming `field`,
    the part that failed (`pulumi`, `operator`) or the argument it was run for."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(Problem.argument(field, message))
        self.message = message
