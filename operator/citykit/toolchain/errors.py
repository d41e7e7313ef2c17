"""A tool that could not be built: Go missing, a module refused, a compile error.

It concerns the machine, not an input file, so the located `Problem` names `citykit` as its
file and `toolchain` as its field; the CLI prints it as one line with exit code 1.
"""

from __future__ import annotations

from citykit.core.load.errors import RunFailure


class ToolchainError(RunFailure):
    """What the user can act on: install Go, free disk, retry when the proxy answers."""

    def __init__(self, message: str) -> None:
        super().__init__("toolchain", message)
