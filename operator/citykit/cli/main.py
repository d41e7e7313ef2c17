"""The `citykit` command line: thin commands over the pure core.

Every user-caused error becomes `CitykitError`, printed one problem per line, exit code 1,
never a traceback.
"""

from __future__ import annotations

import sys

import click
import urllib3
from kubernetes.client.exceptions import ApiException
from kubernetes.config import ConfigException

from citykit import __version__
from citykit.cli.blueprint import catalogue, diff, plan, validate
from citykit.cli.city import new_city, up
from citykit.cli.cluster import cluster
from citykit.cli.demo import demo
from citykit.cli.operate import apply, approve, install, operator_group, status
from citykit.core.errors import CitykitError


class _CitykitGroup(click.Group):
    """Turns user errors raised anywhere below into located one-line messages and exit 1."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except CitykitError as error:
            for problem in error.problems:
                click.echo(str(problem), err=True)
            sys.exit(1)
        except (ApiException, ConfigException, urllib3.exceptions.HTTPError) as error:
            reason = getattr(error, "reason", None) or str(error).splitlines()[0]
            click.echo(
                f"citykit: the Kubernetes API refused or could not be reached: {reason}", err=True
            )
            sys.exit(1)


@click.group(cls=_CitykitGroup)
@click.version_option(__version__, prog_name="citykit")
def main() -> None:
    """citykit: export a smart city, turnkey."""


for _command in (
    validate,
    plan,
    diff,
    catalogue,
    install,
    apply,
    status,
    approve,
    operator_group,
    demo,
    new_city,
    up,
):
    main.add_command(_command)
main.add_command(cluster)
