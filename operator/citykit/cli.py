"""The `citykit` command line: thin commands over the pure core.

Every user-caused error becomes `CitykitError`, printed one problem per line, exit code 1,
never a traceback.
"""

from __future__ import annotations

import sys

import click

from citykit import __version__
from citykit.commands.blueprint import catalogue, diff, plan, validate
from citykit.errors import CitykitError


class _CitykitGroup(click.Group):
    """Turns user errors raised anywhere below into located one-line messages and exit 1."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except CitykitError as error:
            for problem in error.problems:
                click.echo(str(problem), err=True)
            sys.exit(1)


@click.group(cls=_CitykitGroup)
@click.version_option(__version__, prog_name="citykit")
def main() -> None:
    """citykit: export a smart city, turnkey."""


for _command in (validate, plan, diff, catalogue):
    main.add_command(_command)
