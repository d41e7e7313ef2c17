"""The one error type a user can cause, and the located problems it carries.

Every check in citykit (YAML loading, schema, semantics, policy) reports `Problem`s rather
than raising at the first one, so a city team sees every mistake in a file in one run.
The CLI prints them one per line as `FILE:LINE:COL: field.path: message` and exits 1.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """One located mistake in an input file."""

    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.path or '(document)'}: {self.message}"


class CitykitError(Exception):
    """Raised for input a user can fix; carries one or more located problems."""

    def __init__(self, problems: list[Problem] | Problem) -> None:
        self.problems = sorted(problems) if isinstance(problems, list) else [problems]
        super().__init__("\n".join(str(p) for p in self.problems))


class RunFailure(CitykitError):
    """A failure of the machine or the cluster, not of an input file: one line naming `field`."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(Problem(file="citykit", line=0, column=0, path=field, message=message))
        self.message = message
