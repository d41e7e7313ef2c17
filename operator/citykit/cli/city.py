"""`citykit new-city | up`: scaffold a city, then provision its platform with Pulumi.

`up` is the click command only: it checks CITY's stack file, reads PULUMI_CONFIG_PASSPHRASE
and reaches the cluster before anything starts, then hands over to `citykit.infra.automation`,
which runs the program in infra/ through the Automation API (the engine, the cluster's shared
operator stack and the city's own, their passwords), beside the program it runs.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import click
from kubernetes.client import VersionApi

from citykit import kube
from citykit.cli.citylookup import PROJECT_DIR
from citykit.cli.say import say
from citykit.cli.userfiles import write_files
from citykit.core.load.errors import CitykitError, Problem, RunFailure, shown
from citykit.core.load.source import load_file
from citykit.core.project import citystack
from citykit.core.project.scaffold import CityFiles, city_files
from citykit.resources import example_cities


@click.command("new-city")
@click.argument("name")
@click.option("--jurisdiction", required=True, help="Jurisdiction profile id (gdpr, pipl, …).")
@click.option(
    "--from", "example", metavar="EXAMPLE", help="Start from this example city's blueprint."
)
@click.option(
    "--country",
    metavar="CC",
    help="The city's ISO 3166-1 alpha-2 country, inside the jurisdiction's residency "
    "(required unless --from gives one there).",
)
@PROJECT_DIR
def new_city(
    name: str, jurisdiction: str, example: str | None, country: str | None, project: Path
) -> None:
    """Scaffold city NAME in the project folder: blueprint, Pulumi stack settings and
    Ansible inventory. Checked first; never overwrites. From an example under another
    jurisdiction, what that profile refuses is left out and listed."""
    _check_arguments(name, country)
    files = CityFiles(project, name)
    existing = [path for path in (files.blueprint, files.stack, files.inventory) if path.exists()]
    if existing:
        raise CitykitError(
            [
                Problem(str(path), 1, 1, "(document)", "already exists; new-city never overwrites")
                for path in existing
            ]
        )
    source = load_file(example_city(example)) if example else None
    try:
        scaffold = city_files(files, jurisdiction, source, country)
    except CitykitError as error:
        raise CitykitError(_as_arguments(error.problems, country)) from None
    write_files(
        scaffold.contents,
        inputs=[example_city(example)] if example else [],
        new_only=True,
        make_folders=True,
    )
    for path in scaffold.contents:
        say(f"created {path}")
    for item in scaffold.left_out:
        say(str(item))
    if scaffold.left_out:
        say(f"(listed atop {files.blueprint}: re-add from {example} with what each needs)")
    say(f"next: edit the blueprint, then `citykit up {name}`")


CITY_ID = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
COUNTRY = re.compile(r"[A-Za-z]{2}")


def _check_arguments(name: str, country: str | None) -> None:
    """NAME and --country are refused as arguments, before any file is named after them."""
    problems = []
    if not CITY_ID.fullmatch(name):
        problems.append(
            Problem.argument(
                "NAME",
                f"{shown(name)} is not a city id: lowercase letters, digits and '-', starting "
                "and ending with a letter or digit, at most 63 (a DNS label)",
            )
        )
    if country is not None and not COUNTRY.fullmatch(country):
        problems.append(
            Problem.argument(
                "--country",
                f"{shown(country)} is not an ISO 3166-1 alpha-2 code (two letters: KE)",
            )
        )
    if problems:
        raise CitykitError(problems)


def _as_arguments(problems: list[Problem], country: str | None) -> list[Problem]:
    """A scaffold refused for the --country given is that argument's problem, not a line in
    a file that was never written."""
    moved = [
        Problem.argument("--country", problem.message)
        for problem in problems
        if country is not None and problem.path == "spec.city.country"
    ]
    others = [problem for problem in problems if not moved or problem.path != "spec.city.country"]
    if moved and all(problem.message.startswith("not written:") for problem in others):
        others = []  # the note says the blueprint was not written: nothing else was wrong
    return moved + others


def example_city(name: str) -> Path:
    """The packaged example city `name`, or a located refusal listing the ones there are."""
    examples = example_cities()
    if name not in examples:
        choices = ", ".join(examples)
        raise CitykitError(
            Problem.argument("--from", f"no example city '{name}' (choose one of: {choices})")
        )
    return examples[name]


@click.command()
@click.argument("city")
@click.option(
    "--preview",
    is_flag=True,
    help="Print the plan (with --destroy: what it would remove); change nothing.",
)
@click.option("--destroy", is_flag=True, help="Remove everything the city's stack created.")
@PROJECT_DIR
def up(city: str, preview: bool, destroy: bool, project: Path) -> None:
    """Provision CITY's platform on the current cluster (KUBECONFIG): namespace, operator,
    shared platform services and the CityBlueprint.

    The operator is the cluster's, shared by its cities: brought up once, taken down with
    the last city's --destroy."""
    from citykit.infra import automation

    files = CityFiles(project.resolve(), city)
    if destroy and not files.stack.is_file():
        raise RunFailure("CITY", f"no stack configuration {files.stack}: nothing to destroy")
    settings = (
        None if destroy else citystack.load_stack(files.stack)
    )  # every problem, before anything is touched
    passphrase = os.environ.get("PULUMI_CONFIG_PASSPHRASE")
    if passphrase is None:
        raise RunFailure(
            "PULUMI_CONFIG_PASSPHRASE", "not set: the stack's secrets are encrypted with it"
        )
    cluster_settings = settings.cluster if settings else automation.stack_cluster(files.stack)
    cluster = kube.dynamic_client(cluster_settings["kubeconfig"], cluster_settings["context"])
    VersionApi(cluster.client).get_code()  # unreachable: one line, nothing started
    request = automation.Run(city, files.infra, settings, preview=preview, destroy=destroy)
    automation.run(request, cluster, passphrase, click.echo)
