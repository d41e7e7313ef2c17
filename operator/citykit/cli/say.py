"""`say`: how the CLI prints one line meant for a person."""

from __future__ import annotations

import click

from citykit.core.load.errors import one_line


def say(text: str, err: bool = False) -> None:
    """Print `text` as one line, with control, bidi and zero-width characters escaped.

    A message names paths and quotes text from the user's files and arguments, and either can
    hold anything: an OSC escape in a file name would retitle the terminal, a U+202E in a city
    name would show other text than is there, a newline would forge a second line. So every
    line for a person goes through here, as every error line goes through `one_line` already.
    Output for programs (`plan`'s and `catalogue show`'s YAML/JSON, `images`, `cluster env`'s
    quoted exports) is printed as it is: its encoders quote what they must, and escaping it
    again would change the data."""
    click.echo(one_line(text), err=err)
