"""The Pulumi program for one city: `provision(stack, passwords)`.

Its inputs are read once, at the edge: `read_stack` checks the configuration with the same
function `citykit up` checks the stack file with, so a bad stack fails before any resource
is registered. Passwords are Pulumi secrets from the stack configuration (`citykit up`
generates them once); they stay `Output` secrets all the way into the Kubernetes Secrets,
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

from citykit.core.citystack import (
    OPERATOR_NAMESPACE,
    PROJECT,
    SETTINGS,
    CityStack,
    check_stack,
    key,
    stack_file,
)
from citykit.core.errors import CitykitError
from citykit.core.services import endpoint
from citykit.core.source import from_data
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


def program(base: Path | None = None) -> None:
    """The whole program: what `__main__.py` and `citykit up` run."""
    stack, passwords = read_stack(base)
    provision(stack, passwords)


def _value(raw: str) -> Any:
    """The engine hands structured config values over as JSON, strings as they are."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def provision(stack: CityStack, passwords: Mapping[str, pulumi.Output[str]]) -> None:
    """Namespace, operator, platform services, then the CityBlueprint that sets the operator off."""
    blueprint = stack.validated.blueprint
    cluster = provider(stack.cluster)
    namespace = CityNamespace(
        "city", CityNamespaceArgs(cluster, blueprint, stack.quota, stack.container_defaults)
    )
    operator = CitykitOperator(
        "operator", OperatorArgs(cluster, OPERATOR_NAMESPACE, stack.operator_chart, stack.city)
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
        opts=pulumi.ResourceOptions(depends_on=[namespace, operator, *services]),
    )
    pulumi.export("namespace", stack.namespace)
    pulumi.export("operatorNamespace", OPERATOR_NAMESPACE)
    pulumi.export("operatorStatus", f"citykit status {stack.city}")
    pulumi.export("platformServices", [need.id for need in stack.services])
    pulumi.export(
        "endpoints", {need.id: endpoint(need, stack.namespace) for need in stack.services}
    )
