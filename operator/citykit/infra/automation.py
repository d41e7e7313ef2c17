"""Running the Pulumi program (`citykit.infra.program`) through the Automation API: the
engine, the two stacks, their passwords and what the engine said, beside the program they run.

The program runs inline (the engine built here has no Python language host), with a local
file backend unless PULUMI_BACKEND_URL names another: no Pulumi Cloud account. Two stacks: the
cluster's shared operator (`citykit-system-<id>`, owned once per cluster, brought up first and
destroyed with the last city) and the city's own. Platform-service passwords are generated once
with `secrets` and kept as the stack's secret config, so a second `up` changes nothing.

`citykit up` (citykit.cli.city) reads its arguments and the stack file, and calls `run`; every
line the engine prints, and one closing summary line per stack, go to its `show`.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ResourceNotFoundError
from pulumi import automation as auto

from citykit import kube
from citykit.api.names import API_VERSION, CITY_BLUEPRINT
from citykit.core.load.errors import RunFailure
from citykit.core.load.source import load_file
from citykit.core.project import citystack
from citykit.core.project.citystack import CityStack
from citykit.infra.program import operator_stack_name, program, provision_operator
from citykit.toolchain.errors import ToolchainError
from citykit.toolchain.locations import cache_root
from citykit.toolchain.pulumi_engine import engine_env, ensure_engine
from citykit.toolchain.pulumi_kubernetes import install_plugin

Show = Callable[[str], None]
Result = auto.UpResult | auto.PreviewResult | auto.DestroyResult


@dataclass(frozen=True)
class Run:
    """One `citykit up`: which city, from which infra/ folder, and what to do."""

    city: str
    infra: Path  # the project's infra/ folder, the stacks' work dir
    stack: CityStack | None  # the checked stack configuration; None to destroy
    preview: bool = False
    destroy: bool = False

    @property
    def action(self) -> str:
        return ("preview of " if self.preview else "") + ("destroy" if self.destroy else "up")


def run(request: Run, cluster: DynamicClient, passphrase: str, show: Show) -> None:
    """Bring the cluster's operator stack up (unless destroying), then run the city's stack;
    after the last city's destroy, take the operator's stack down too. A failure of the engine
    is one RunFailure naming the first resource error it printed."""
    shared = operator_stack_name(cluster_id(cluster))
    use_engine(passphrase, show)
    output: list[str] = []

    def shown(line: str) -> None:
        output.append(line)
        show(line)

    workspace = auto.LocalWorkspaceOptions(work_dir=str(request.infra))
    settings = request.stack
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
            run_operator = operator.preview if request.preview else operator.up
            show(summary(run_operator(on_output=shown, refresh=True), f"{shared}: "))
        stack = auto.create_or_select_stack(
            stack_name=request.city,
            project_name=citystack.PROJECT,
            program=lambda: program(request.infra),
            opts=workspace,
        )
        if settings is not None:
            generate_passwords(stack, settings.credentialed)
        operations: dict[tuple[bool, bool], Callable[..., Result]] = {
            (False, False): partial(stack.up, refresh=True),
            (True, False): partial(stack.preview, refresh=True),
            (False, True): stack.destroy,
            (True, True): stack.preview_destroy,
        }
        show(summary(operations[(request.preview, request.destroy)](on_output=shown)))
        if request.destroy and not request.preview and not blueprints_left(cluster):
            destroy_operator(shared, workspace, shown, show)
    except auto.CommandError as error:
        reason = first_error("\n".join(output)) or str(error).strip().splitlines()[-1]
        raise RunFailure("pulumi", f"{request.action} of {request.city} failed: {reason}") from None


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


def blueprints_left(cluster: DynamicClient) -> bool:
    try:
        return bool(kube.list_objects(cluster, API_VERSION, CITY_BLUEPRINT))
    except ResourceNotFoundError:
        return False


def destroy_operator(
    name: str, workspace: auto.LocalWorkspaceOptions, output: Show, show: Show
) -> None:
    """The last city is gone: the cluster's operator goes too (its CRDs stay, as Helm's do)."""
    try:
        operator = auto.select_stack(
            stack_name=name, project_name=citystack.PROJECT, program=lambda: None, opts=workspace
        )
    except auto.StackNotFoundError:
        return
    show(summary(operator.destroy(on_output=output), f"{name}: "))
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


def use_engine(passphrase: str, report: Show) -> None:
    """Build the engine and the kubernetes provider plugin on first use and point the
    Automation API at them; a local file backend and Pulumi home under citykit's cache unless
    the environment names others."""
    try:
        engine = ensure_engine(report=report)
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


def generate_passwords(stack: auto.Stack, services: tuple[str, ...]) -> None:
    """A password for each credentialed service that has none yet; existing ones are kept."""
    stored = stack.get_all_config().get(citystack.key("credentials"))
    have = set(json.loads(stored.value)) if stored else set()
    for service in services:
        if service not in have:
            value = auto.ConfigValue(secrets.token_urlsafe(24), secret=True)
            stack.set_config(f"{citystack.key('credentials')}.{service}", value, path=True)


def summary(result: Result, stack: str = "") -> str:
    """One closing line the tests and scripts can read; the engine has shown the outputs."""
    changes = (
        result.change_summary
        if isinstance(result, auto.PreviewResult)
        else result.summary.resource_changes
    )
    return f"{stack}changes: " + (
        ", ".join(f"{count} {op}" for op, count in sorted((changes or {}).items())) or "none"
    )
