"""Finding a city's blueprint from what a user typed: a FILE path or a CITY name.

`citykit validate tallinn` and `citykit validate blueprints/cities/tallinn.yaml` mean the same
thing in a city's project folder. An existing file is used as it is; an argument that looks
like a path (a folder separator, or a .yaml/.yml/.json suffix) stays a path, so a missing file is
reported as one; `-` is standard input; anything else is a city NAME, looked up as
`blueprints/cities/NAME.yaml` in the project folder (the current folder, or --dir, as for
`new-city` and `up`), then among the example cities citykit ships. A local city shadows an
example of the same name.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from citykit.core.load.errors import CitykitError, Problem
from citykit.resources import example_cities

PROJECT_DIR = click.option(
    "--dir",
    "project",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(),
    help="The city's project folder, holding blueprints/cities, infra and playbooks/inventories"
    " (default: the current folder).",
)

PATH_SUFFIXES = (".yaml", ".yml", ".json")


def looks_like_path(argument: str) -> bool:
    """Whether `argument` names a file rather than a city: a separator, a file suffix, or
    `.`/`..` (a folder, refused as one rather than looked up as `blueprints/cities/..yaml`)."""
    separators = {"/", os.sep, *([os.altsep] if os.altsep else [])}
    return (
        any(sep in argument for sep in separators)
        or argument.endswith(PATH_SUFFIXES)
        or argument in (".", "..")
    )


def city_blueprint(argument: str, project: Path, name: str = "CITY") -> Path:
    """The blueprint file `argument` stands for, or a refusal saying where it looked; the
    refusal names the argument as the command's `--help` does (`OLD`, `--from-file`)."""
    given = Path(argument)
    if given.is_file() or looks_like_path(argument) or argument in ("", "-"):
        return given
    # only when a name is given: scaffold is heavier
    from citykit.core.project.scaffold import CityFiles

    local = CityFiles(project, argument).blueprint
    if local.is_file():
        return local
    examples = example_cities()
    if argument in examples:
        return examples[argument]
    raise CitykitError(
        Problem.argument(
            name,
            f"no file or city '{argument}' (looked in {local} and the examples: "
            f"{', '.join(examples)})",
        )
    )
