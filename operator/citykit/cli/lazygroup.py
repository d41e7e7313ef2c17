"""A click group whose subcommands are imported only when they run (click's LazyGroup pattern).

`citykit validate` needs jsonschema and YAML, not the Kubernetes client, kopf or Pulumi; importing
every command module up front made each invocation pay for all of them. Each subcommand is named
by "module:attribute" and imported in `get_command`. `--help` lists the subcommands with a
one-line help kept beside that name, so listing them imports nothing;
tests/unit/test_cli_imports.py holds those lines equal to the commands' own docstrings.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import click


@dataclass(frozen=True)
class LazyCommand:
    """Where a subcommand lives ("module:attribute") and its one-line help for listings."""

    target: str
    short_help: str

    def load(self) -> click.Command:
        module_name, attribute = self.target.split(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self.target} is not a click command")
        return command


class LazyGroup(click.Group):
    """A group whose `lazy` subcommands are imported on first use."""

    def __init__(self, *args: Any, lazy: Mapping[str, LazyCommand], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            self.add_command(self.lazy[cmd_name].load(), cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Like click's, but a lazy subcommand not yet imported is listed from its table entry."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            if name in self.lazy and name not in self.commands:
                # Shortened as click shortens a command's help (its helper for it is private).
                listed = click.Command(name, help=self.lazy[name].short_help)
                rows.append((name, listed.get_short_help_str(limit)))
                continue
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
