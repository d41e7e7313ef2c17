"""`citykit new-city | up`: scaffold a city, then provision its platform with Pulumi.

`up` runs the program in infra/ through the Automation API, inline (the engine built here has
no Python language host), with a local file backend unless PULUMI_BACKEND_URL names another:
no Pulumi Cloud account. Two stacks: the cluster's shared operator (`citykit-system-<id>`,
owned once per cluster, brought up first and destroyed with the last city) and the city's
own. Platform-service passwords are generated once with `secrets` and kept as the stack's
secret config, so a second `up` changes nothing.
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
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ResourceNotFoundError
from pulumi import automation as auto

from citykit import kube
from citykit.api.names import API_VERSION
from citykit.cli.citylookup import PROJECT_DIR
from citykit.core.load.errors import CitykitError, Problem, RunFailure
from citykit.core.load.source import load_file
from citykit.core.project import citystack
from citykit.core.project.scaffold import CityFiles, city_files
from citykit.infra.program import operator_stack_name, program, provision_operator
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
    cluster_settings = settings.cluster if settings else stack_cluster(files.stack)
    cluster = kube.dynamic_client(cluster_settings["kubeconfig"], cluster_settings["context"])
    VersionApi(cluster.client).get_code()  # unreachable: one line, nothing started
    shared = operator_stack_name(cluster_id(cluster))
    _use_engine(passphrase)
    action = ("preview of " if preview else "") + ("destroy" if destroy else "up")
    output: list[str] = []

    def show(line: str) -> None:
        output.append(line)
        click.echo(line)

    workspace = auto.LocalWorkspaceOptions(work_dir=str(files.infra))
    try:
        if settings is not None:
            operator = auto.create_or_select_stack(
                stack_name=shared,
                project_name=citystack.PROJECT,
                program=lambda: provision_operator(settings.cluster, settings.operator_chart),
                opts=workspace,
            )
            # `up` and its preview refresh first: what was changed by hand since the last
            # `up` shows in the plan and is taken back.
            run_operator = operator.preview if preview else operator.up
            _summary(run_operator(on_output=show, refresh=True), f"{shared}: ")
        stack = auto.create_or_select_stack(
            stack_name=city,
            project_name=citystack.PROJECT,
            program=lambda: program(files.infra),
            opts=workspace,
        )
        if settings is not None:
            _generate_passwords(stack, settings.credentialed)
        operations: dict[
            tuple[bool, bool],
            Callable[..., auto.UpResult | auto.PreviewResult | auto.DestroyResult],
        ] = {
            (False, False): partial(stack.up, refresh=True),
            (True, False): partial(stack.preview, refresh=True),
            (False, True): stack.destroy,
            (True, True): stack.preview_destroy,
        }
        result = operations[(preview, destroy)](on_output=show)
        _summary(result)
        if destroy and not preview and not _blueprints_left(cluster):
            _destroy_operator(shared, workspace, show)
    except auto.CommandError as error:
        reason = first_error("\n".join(output)) or str(error).strip().splitlines()[-1]
        raise RunFailure("pulumi", f"{action} of {city} failed: {reason}") from None


def stack_cluster(path: Path) -> dict[str, str]:
    """The cluster a stack file names, read without checking the rest of it: a city whose
    blueprint no longer validates can still be destroyed."""
    config = (load_file(path).data or {}).get("config") or {}
    kubeconfig = config.get(citystack.key("kubeconfig"))
    return {
        "kubeconfig": str((path.parent / kubeconfig).resolve()) if kubeconfig else "",
        "context": config.get(citystack.key("context"), ""),
    }


def cluster_id(cluster: DynamicClient) -> str:
    """The uid of the cluster's kube-system namespace: the same whichever kubeconfig reaches it."""
    uid: str = kube.read(cluster, "v1", "Namespace", "kube-system")["metadata"]["uid"]
    return uid


def _blueprints_left(cluster: DynamicClient) -> bool:
    try:
        return bool(kube.list_objects(cluster, API_VERSION, "CityBlueprint"))
    except ResourceNotFoundError:
        return False


def _destroy_operator(
    name: str, workspace: auto.LocalWorkspaceOptions, show: Callable[[str], None]
) -> None:
    """The last city is gone: the cluster's operator goes too (its CRDs stay, as Helm's do)."""
    try:
        operator = auto.select_stack(
            stack_name=name, project_name=citystack.PROJECT, program=lambda: None, opts=workspace
        )
    except auto.StackNotFoundError:
        return
    _summary(operator.destroy(on_output=show), f"{name}: ")
    operator.workspace.remove_stack(name)


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


def _summary(
    result: auto.UpResult | auto.PreviewResult | auto.DestroyResult, stack: str = ""
) -> None:
    """One closing line the tests and scripts can read; the engine has shown the outputs."""
    changes = (
        result.change_summary
        if isinstance(result, auto.PreviewResult)
        else result.summary.resource_changes
    )
    click.echo(
        f"{stack}changes: "
        + (", ".join(f"{count} {op}" for op, count in sorted((changes or {}).items())) or "none")
    )
