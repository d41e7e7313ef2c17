"""The local cluster's user-facing failure, printed by the CLI as one line with exit code 1.

These failures concern the machine, not an input file, so the located `Problem` names
`citykit` as its file and `cluster` as its field.
"""

from __future__ import annotations

from citykit.core.load.errors import RunFailure


class ClusterError(RunFailure):
    """Go missing, a port taken, a component that crashed: something the user can act on."""

    def __init__(self, message: str) -> None:
        super().__init__("cluster", message)
