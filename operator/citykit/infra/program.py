"""The Pulumi program: `provision(stack, passwords)` for one city, `provision_operator` for
the cluster's shared operator.

The operator (its `citykit-system` namespace, CRDs and chart) is shared by every city on a
cluster, so it is owned once, by a stack of its own per cluster (`operator_stack_name`):
`citykit up CITY` brings it up before the city's stack, and the last city's `--destroy` takes
it down. Destroying one city of several leaves the others' operator running.

A city's inputs are read once, at the edge: `read_stack` checks the configuration with the
same function `citykit up` checks the stack file with, so a bad stack fails before any
resource is registered. Passwords are Pulumi secrets from the stack configuration (`citykit
up` generates them once); they stay `Output` secrets all the way into the Kubernetes Secrets,
which the provider stores encrypted in the state. Every object is a pulumi-kubernetes
resource through one explicit provider for the stack's cluster; the operator's chart is
rendered by the provider's own Helm, so `up` needs no helm CLI.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pulumi

from citykit.core.load.errors import CitykitError
from citykit.core.load.source import from_data
from citykit.core.project.citystack import (
    OPERATOR_NAMESPACE,
    PROJECT,
    SETTINGS,
    CityStack,
    check_stack,
    key,
    stack_file,
)
from citykit.core.render.services import endpoint
from citykit.infra.components import (
    CityBlueprint,
    CityBlueprintArgs,
    CitykitOperator,
    CityNamespace,
    CityNamespaceArgs,
    OperatorArgs,
    PlatformService,
    PlatformServiceArgs,
    provider,
)
from citykit.resources import chart_dir


def read_stack(base: Path | None = None) -> tuple[CityStack, dict[str, pulumi.Output[str]]]:
    """The checked stack settings and one secret password per credentialed service; `base`
    is the stack file's folder (the project folder, where `pulumi up` runs programs)."""
    base = base or Path.cwd()
    config = pulumi.Config(PROJECT)
    city = pulumi.get_stack()
    data = {
        key(name): _value(raw)
        for name in SETTINGS
        if (raw := pulumi.runtime.get_config(key(name))) is not None
    }
    source = str(stack_file(base, city))
    try:
        stack = check_stack(from_data(source, {"config": data}), city, base)
    except CitykitError as error:
        raise pulumi.RunError("\n".join(str(problem) for problem in error.problems)) from None
    stored = set(json.loads(pulumi.runtime.get_config(key("credentials")) or "{}"))
    missing = [service for service in stack.credentialed if service not in stored]
    if missing:
        raise pulumi.RunError(
            f"{source}: config.{key('credentials')}: no password for {', '.join(missing)}; "
            f"`citykit up {city}` generates them (or: pulumi config set --secret --path "
            f"'{key('credentials')}.{missing[0]}' …)"
        )
    secrets = config.require_secret_object("credentials")
    return stack, {service: secrets.apply(_password(service)) for service in stack.credentialed}


def _password(service: str) -> Callable[[Any], str]:
    return lambda values: str(values[service])


OPERATOR_STACK = "citykit-system"


def operator_stack_name(cluster_id: str) -> str:
    """The operator's stack for the cluster whose kube-system namespace has uid `cluster_id`:
    one per cluster, whichever kubeconfig or context reaches it."""
    return f"{OPERATOR_STACK}-{cluster_id[:8]}"


def program(base: Path | None = None) -> None:
    """The whole program: what `__main__.py` runs for a city's stack or an operator stack."""
    if pulumi.get_stack().startswith(f"{OPERATOR_STACK}-"):
        config = pulumi.Config(PROJECT)
        chart = config.get("operatorChart")
        cluster = {
            "kubeconfig": config.get("kubeconfig") or "",
            "context": config.get("context") or "",
        }
        provision_operator(cluster, (base or Path.cwd()) / chart if chart else chart_dir())
        return
    stack, passwords = read_stack(base)
    provision(stack, passwords)


def provision_operator(cluster: Mapping[str, str], chart: Path) -> None:
    """The operator every city on the cluster shares, in its restricted namespace."""
    CitykitOperator("operator", OperatorArgs(provider(cluster), OPERATOR_NAMESPACE, chart))
    pulumi.export("operatorNamespace", OPERATOR_NAMESPACE)


def _value(raw: str) -> Any:
    """The engine hands structured config values over as JSON, strings as they are."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def provision(stack: CityStack, passwords: Mapping[str, pulumi.Output[str]]) -> None:
    """Namespace and platform services, then the CityBlueprint that sets the cluster's
    operator (its own stack's, `provision_operator`) off."""
    blueprint = stack.validated.blueprint
    cluster = provider(stack.cluster)
    namespace = CityNamespace(
        "city", CityNamespaceArgs(cluster, blueprint, stack.quota, stack.container_defaults)
    )
    services = [
        PlatformService(
            need.id,
            PlatformServiceArgs(cluster, need, stack.namespace, passwords.get(need.id)),
            opts=pulumi.ResourceOptions(depends_on=[namespace]),
        )
        for need in stack.services
    ]
    CityBlueprint(
        "blueprint",
        CityBlueprintArgs(cluster, stack.validated.document.data),
        opts=pulumi.ResourceOptions(depends_on=[namespace, *services]),
    )
    pulumi.export("namespace", stack.namespace)
    pulumi.export("operatorNamespace", OPERATOR_NAMESPACE)
    pulumi.export("operatorStatus", f"citykit status {stack.city}")
    pulumi.export("platformServices", [need.id for need in stack.services])
    pulumi.export(
        "endpoints", {need.id: endpoint(need, stack.namespace) for need in stack.services}
    )
