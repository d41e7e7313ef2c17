"""A city's Pulumi stack settings, checked completely before anything is provisioned (pure).

`infra/Pulumi.<city>.yaml` names the city's blueprint, its jurisdiction, the namespace's
sizing and any platform services beyond those its initiatives need. `citykit up` checks the
file (located problems, nothing provisioned when one is found); the Pulumi program runs the
same check on the configuration the engine hands it, so `pulumi up` refuses the same stacks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from citykit.core.load import schemas
from citykit.core.load.errors import CitykitError, Problem
from citykit.core.load.source import Document, load_file
from citykit.core.model.validation import ValidatedBlueprint, validate_file
from citykit.core.render.services import ServiceNeed, platform_services
from citykit.core.render.sizing import CONTAINER_DEFAULTS, footprint
from citykit.resources import chart_dir

STACK_SCHEMA = "city-stack"
PROJECT = "citykit"
SETTINGS = (
    "blueprint",
    "jurisdiction",
    "sizing",
    "extraPlatformServices",
    "operatorChart",
    "kubeconfig",
    "context",
)
OPERATOR_NAMESPACE = "citykit-system"


def stack_file(infra: Path, city: str) -> Path:
    return infra / f"Pulumi.{city}.yaml"


def key(name: str) -> str:
    return f"{PROJECT}:{name}"


@dataclass(frozen=True)
class CityStack:
    """Everything the Pulumi program provisions for one city, checked."""

    city: str
    validated: ValidatedBlueprint
    quota: Mapping[str, str | int]
    container_defaults: Mapping[str, Mapping[str, str]]
    services: tuple[ServiceNeed, ...]
    operator_chart: Path
    cluster: Mapping[str, str]  # kubeconfig file and context; empty: the environment's

    @property
    def namespace(self) -> str:
        return self.validated.blueprint.namespace

    @property
    def credentialed(self) -> tuple[str, ...]:
        """Ids of the services that get generated credentials."""
        return tuple(need.id for need in self.services if need.service.credentials)


def load_stack(path: Path) -> CityStack:
    """Check `infra/Pulumi.<city>.yaml`; relative paths in it are relative to its folder."""
    city = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
    if not path.is_file():
        raise CitykitError(
            Problem(
                str(path),
                1,
                1,
                "(document)",
                f"no stack configuration for city '{city}' "
                f"(create it with `citykit new-city {city}`)",
            )
        )
    return check_stack(load_file(path), city, path.parent)


def check_stack(document: Document, city: str, base: Path) -> CityStack:
    """Raise `CitykitError` with every problem of the stack settings in `document`."""
    problems = schemas.check(document, STACK_SCHEMA)
    if problems:
        raise CitykitError(problems)
    config: Mapping[str, Any] = document.data["config"]
    problems = [
        document.problem(
            ("config", name),
            f"unknown setting (citykit's are: {', '.join(map(key, (*SETTINGS, 'credentials')))})",
        )
        for name in config
        if name.startswith(key("")) and name.removeprefix(key("")) not in (*SETTINGS, "credentials")
    ]

    def at(name: str, *rest: str | int) -> tuple[str | int, ...]:
        return ("config", key(name), *rest)

    blueprint_path = (base / config[key("blueprint")]).resolve()
    if not blueprint_path.is_file():
        raise CitykitError(
            document.problem(at("blueprint"), f"no blueprint file at {blueprint_path}")
        )
    validated = validate_file(blueprint_path)
    blueprint = validated.blueprint
    if blueprint.name != city:
        problems.append(
            document.problem(
                at("blueprint"),
                f"{blueprint_path.name} is the blueprint of '{blueprint.name}', not of '{city}'",
            )
        )
    if config[key("jurisdiction")] != blueprint.jurisdiction:
        problems.append(
            document.problem(
                at("jurisdiction"),
                f"'{config[key('jurisdiction')]}' differs from the blueprint's "
                f"jurisdiction '{blueprint.jurisdiction}'; change both together",
            )
        )
    extra = config.get(key("extraPlatformServices"), [])
    known = validated.catalogue.platform_services
    problems += [
        document.problem(
            at("extraPlatformServices", index),
            f"unknown platform service '{name}' (known: {', '.join(known)})",
        )
        for index, name in enumerate(extra)
        if name not in known
    ]
    services = platform_services(
        blueprint, validated.catalogue, [name for name in extra if name in known]
    )
    sizing = config[key("sizing")]
    defaults = sizing.get("containerDefaults", CONTAINER_DEFAULTS)
    needed = footprint(validated, [need.service for need in services], defaults)
    problems += [
        document.problem(
            at("sizing", "quota", quota_key),
            f"{sizing['quota'][quota_key]} is too small: the blueprint's initiatives citywide "
            f"and its platform services need at least {least}",
        )
        for quota_key, least in needed.shortfalls(sizing["quota"]).items()
    ]
    chart = config.get(key("operatorChart"))
    kubeconfig = (
        (base / config[key("kubeconfig")]).resolve() if key("kubeconfig") in config else None
    )
    if kubeconfig and not kubeconfig.is_file():
        problems.append(document.problem(at("kubeconfig"), f"no kubeconfig file at {kubeconfig}"))
    if problems:
        raise CitykitError(problems)
    return CityStack(
        city=city,
        validated=validated,
        quota=sizing["quota"],
        container_defaults=defaults,
        services=tuple(services),
        operator_chart=(base / chart).resolve() if chart else chart_dir(),
        cluster={"kubeconfig": str(kubeconfig or ""), "context": config.get(key("context"), "")},
    )
