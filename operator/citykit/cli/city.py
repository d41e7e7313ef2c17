"""`citykit new-city | up`: scaffold a city, then provision its platform with Pulumi.

`up` runs the program in infra/ through the Automation API, inline (the engine built here has
no Python language host), with a local file backend unless PULUMI_BACKEND_URL names another:
no Pulumi Cloud account. Platform-service passwords are generated once with `secrets` and
kept as the stack's secret config, so a second `up` changes nothing.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Callable
from functools import partial
from pathlib import Path

import click
from kubernetes.client import VersionApi
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient
from pulumi import automation as auto

from citykit import kube
from citykit.cli.citylookup import PROJECT_DIR
from citykit.core import citystack
from citykit.core.errors import CitykitError, Problem, RunFailure
from citykit.core.scaffold import CityFiles, city_files
from citykit.core.source import load_file
from citykit.infra.components import INSTALLED_BY
from citykit.infra.program import program
from citykit.resources import example_cities
from citykit.toolchain.errors import ToolchainError
from citykit.toolchain.locations import cache_root
from citykit.toolchain.pulumi_engine import engine_env, ensure_engine
from citykit.toolchain.pulumi_kubernetes import install_plugin


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
    scaffold = city_files(files, jurisdiction, source, country)
    for path, text in scaffold.contents.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        click.echo(f"created {path}")
    for item in scaffold.left_out:
        click.echo(str(item))
    if scaffold.left_out:
        click.echo(f"(listed atop {files.blueprint}: re-add from {example} with what each needs)")
    click.echo(f"next: edit the blueprint, then `citykit up {name}`")


def example_city(name: str) -> Path:
    """The packaged example city `name`, or a located refusal listing the ones there are."""
    examples = example_cities()
    if name not in examples:
        choices = ", ".join(examples)
        raise CitykitError(
            Problem(
                "new-city", 0, 0, "--from", f"no example city '{name}' (choose one of: {choices})"
            )
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
    shared platform services and the CityBlueprint."""
    files = CityFiles(project.resolve(), city)
    if destroy and not files.stack.is_file():
        raise RunFailure("city", f"no stack configuration {files.stack}: nothing to destroy")
    settings = (
        None if destroy else citystack.load_stack(files.stack)
    )  # every problem, before anything is touched
    passphrase = os.environ.get("PULUMI_CONFIG_PASSPHRASE")
    if passphrase is None:
        raise RunFailure(
            "PULUMI_CONFIG_PASSPHRASE", "not set: the stack's secrets are encrypted with it"
        )
    if settings is not None and not preview:  # unreachable: one line, nothing started
        cluster = kube.dynamic_client(settings.cluster["kubeconfig"], settings.cluster["context"])
        VersionApi(cluster.client).get_code()
        owner = operator_owner(cluster)
        if owner not in (None, city):
            raise RunFailure(
                "city",
                f"the operator on this cluster was installed by the stack of city '{owner}'; "
                "citykit runs one city per cluster (destroying either would remove it from "
                f"under the other): `citykit up {owner} --destroy` first, or use another cluster",
            )
    _use_engine(passphrase)
    action = ("preview of " if preview else "") + ("destroy" if destroy else "up")
    output: list[str] = []

    def show(line: str) -> None:
        output.append(line)
        click.echo(line)

    try:
        stack = auto.create_or_select_stack(
            stack_name=city,
            project_name=citystack.PROJECT,
            program=lambda: program(files.infra),
            opts=auto.LocalWorkspaceOptions(work_dir=str(files.infra)),
        )
        if settings is not None:
            _generate_passwords(stack, settings.credentialed)
        # `up` and its preview refresh first: what was changed by hand since the last `up`
        # shows in the plan and is taken back.
        operations: dict[
            tuple[bool, bool],
            Callable[..., auto.UpResult | auto.PreviewResult | auto.DestroyResult],
        ] = {
            (False, False): partial(stack.up, refresh=True),
            (True, False): partial(stack.preview, refresh=True),
            (False, True): stack.destroy,
            (True, True): stack.preview_destroy,
        }
        run = operations[(preview, destroy)]
        result = run(on_output=show)
    except auto.CommandError as error:
        reason = first_error("\n".join(output)) or str(error).strip().splitlines()[-1]
        raise RunFailure("pulumi", f"{action} of {city} failed: {reason}") from None
    _summary(result)


def operator_owner(cluster: DynamicClient) -> str | None:
    """The city whose stack installed the operator on this cluster, if any did."""
    try:
        namespace = kube.read(cluster, "v1", "Namespace", citystack.OPERATOR_NAMESPACE)
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    owner: str | None = (namespace["metadata"].get("annotations") or {}).get(INSTALLED_BY)
    return owner


def first_error(output: str) -> str | None:
    """`Kind/namespace/name: message` of the first resource error in the engine's Diagnostics;
    of the provider's "N errors occurred:" lists, the first item."""
    resource = None
    lines = output.split("Diagnostics:", 1)[-1].splitlines()
    for index, line in enumerate(lines):
        header = re.fullmatch(r"  \S+ \((.+)\):", line)
        if header:
            resource = header.group(1)
        error = re.fullmatch(r"    error: (.+)", line)
        if (
            error
            and resource
            and not error.group(1).endswith(("update failed", "preview failed", "destroy failed"))
        ):
            message = error.group(1)
            if re.fullmatch(r"\d+ errors? occurred:", message):
                items = (item.strip() for item in lines[index + 1 :])
                message = next((i.removeprefix("* ") for i in items if i.startswith("* ")), message)
            return f"{resource}: {message}"
    return None


def _use_engine(passphrase: str) -> None:
    """Build the engine and the kubernetes provider plugin on first use and point the
    Automation API at them; a local file backend and Pulumi home under citykit's cache unless
    the environment names others."""
    try:
        engine = ensure_engine(report=click.echo)
    except ToolchainError as error:
        raise RunFailure(
            "pulumi", f"the Pulumi engine or its kubernetes provider could not be built: {error}"
        ) from None
    state = cache_root() / "pulumi" / "state"
    state.mkdir(parents=True, exist_ok=True)
    environment = engine_env(engine, cache_root() / "pulumi" / "home", state, passphrase)
    for kept in ("PULUMI_BACKEND_URL", "PULUMI_HOME"):
        environment[kept] = os.environ.get(kept, environment[kept])
    install_plugin(engine, Path(environment["PULUMI_HOME"]))
    os.environ.update(environment)  # the Automation API finds `pulumi` on this process's PATH


def _generate_passwords(stack: auto.Stack, services: tuple[str, ...]) -> None:
    """A password for each credentialed service that has none yet; existing ones are kept."""
    stored = stack.get_all_config().get(citystack.key("credentials"))
    have = set(json.loads(stored.value)) if stored else set()
    for service in services:
        if service not in have:
            value = auto.ConfigValue(secrets.token_urlsafe(24), secret=True)
            stack.set_config(f"{citystack.key('credentials')}.{service}", value, path=True)


def _summary(result: auto.UpResult | auto.PreviewResult | auto.DestroyResult) -> None:
    """One closing line the tests and scripts can read; the engine has shown the outputs."""
    changes = (
        result.change_summary
        if isinstance(result, auto.PreviewResult)
        else result.summary.resource_changes
    )
    click.echo(
        "changes: "
        + (", ".join(f"{count} {op}" for op, count in sorted((changes or {}).items())) or "none")
    )
