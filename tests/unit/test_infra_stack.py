"""Stack settings (`infra/Pulumi.<city>.yaml`) are checked completely before provisioning."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from citykit.core.load.errors import CitykitError
from citykit.core.project.citystack import CityStack, load_stack
from tests.conftest import LOCATED_LINE, REPOSITORY

INFRA = REPOSITORY / "infra"
EXAMPLES = sorted(path.stem for path in (REPOSITORY / "blueprints" / "cities").glob("*.yaml"))


@pytest.mark.parametrize("city", EXAMPLES)
def test_every_example_city_has_a_stack_that_passes(city: str) -> None:
    stack = load_stack(INFRA / f"Pulumi.{city}.yaml")
    assert stack.validated.blueprint.name == city
    assert stack.namespace == f"city-{city}"


@pytest.fixture
def stack_variant(tmp_path: Path) -> Callable[[Callable[[dict[str, Any]], None]], Path]:
    """A copy of Tallinn's stack, beside a copy of its blueprint, changed by `edit`."""

    def make(edit: Callable[[dict[str, Any]], None]) -> Path:
        (tmp_path / "tallinn.yaml").write_text(
            (REPOSITORY / "blueprints/cities/tallinn.yaml").read_text()
        )
        data = yaml.safe_load((INFRA / "Pulumi.tallinn.yaml").read_text())
        data["config"]["citykit:blueprint"] = "tallinn.yaml"
        edit(data["config"])
        path = tmp_path / "Pulumi.tallinn.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    return make


def refusal(path: Path) -> str:
    with pytest.raises(CitykitError) as raised:
        load_stack(path)
    lines = str(raised.value).splitlines()
    assert all(re.match(LOCATED_LINE, line) for line in lines), lines
    return str(raised.value)


def test_quota_too_small_for_the_blueprint_names_the_key_and_the_least_it_needs(
    stack_variant: Any,
) -> None:
    path = stack_variant(
        lambda c: c["citykit:sizing"]["quota"].update({"pods": "50", "requests.cpu": "4"})
    )
    message = refusal(path)
    assert re.search(
        r"Pulumi\.tallinn\.yaml:\d+:\d+: config\.citykit:sizing\.quota\.pods: 50 is too small: "
        r"the blueprint's initiatives citywide and its platform services need at least 202",
        message,
    )
    assert "config.citykit:sizing.quota.requests.cpu: 4 is too small" in message


def test_jurisdiction_must_be_the_blueprints(stack_variant: Any) -> None:
    message = refusal(stack_variant(lambda c: c.update({"citykit:jurisdiction": "pipl"})))
    assert (
        "config.citykit:jurisdiction: 'pipl' differs from the blueprint's jurisdiction 'gdpr'"
        in message
    )


def test_missing_blueprint_file_is_named(stack_variant: Any) -> None:
    message = refusal(stack_variant(lambda c: c.update({"citykit:blueprint": "nowhere.yaml"})))
    assert "config.citykit:blueprint: no blueprint file at" in message and "nowhere.yaml" in message


def test_blueprint_of_another_city_is_refused(stack_variant: Any, tmp_path: Path) -> None:
    path = stack_variant(lambda c: None)
    renamed = path.with_name("Pulumi.tartu.yaml")
    path.rename(renamed)
    assert "tallinn.yaml is the blueprint of 'tallinn', not of 'tartu'" in refusal(renamed)


def test_unknown_extra_platform_service_is_refused(stack_variant: Any) -> None:
    message = refusal(
        stack_variant(
            lambda c: c.update({"citykit:extraPlatformServices": ["event-bus", "blockchain"]})
        )
    )
    assert (
        "config.citykit:extraPlatformServices[1]: unknown platform service 'blockchain'" in message
    )


def test_extra_platform_service_is_added_to_the_derived_ones(stack_variant: Any) -> None:
    def add_kafka(config: dict[str, Any]) -> None:
        config["citykit:extraPlatformServices"] = ["event-bus"]
        config["citykit:sizing"]["quota"].update(
            {"requests.storage": "400Gi", "persistentvolumeclaims": "20"}
        )

    stack: CityStack = load_stack(stack_variant(add_kafka))
    kafka = [need for need in stack.services if need.id == "event-bus"]
    assert kafka and kafka[0].needed_by == ()


def test_a_mistyped_citykit_key_is_refused(stack_variant: Any) -> None:
    message = refusal(stack_variant(lambda c: c.update({"citykit:jurisdicton": "gdpr"})))
    assert (
        "config.citykit:jurisdicton: unknown setting (citykit's are: citykit:blueprint," in message
    )


def test_keys_of_other_packages_are_left_alone(stack_variant: Any) -> None:
    assert (
        load_stack(stack_variant(lambda c: c.update({"kubernetes:context": "city-cluster"}))).city
        == "tallinn"
    )


def test_no_stack_file_points_to_new_city(tmp_path: Path) -> None:
    message = refusal(tmp_path / "Pulumi.atlantis.yaml")
    assert (
        "no stack configuration for city 'atlantis' (create it with `citykit new-city atlantis`)"
        in message
    )


def test_kubeconfig_and_context_from_the_stack_name_the_cluster(
    stack_variant: Any, tmp_path: Path
) -> None:
    (tmp_path / "city.kubeconfig").write_text("apiVersion: v1\nkind: Config\n")
    stack = load_stack(
        stack_variant(
            lambda c: c.update(
                {"citykit:kubeconfig": "city.kubeconfig", "citykit:context": "tallinn-prod"}
            )
        )
    )
    assert stack.cluster == {
        "kubeconfig": str(tmp_path / "city.kubeconfig"),
        "context": "tallinn-prod",
    }


def test_without_kubeconfig_or_context_the_environment_decides() -> None:
    assert load_stack(INFRA / "Pulumi.tallinn.yaml").cluster == {"kubeconfig": "", "context": ""}


def test_a_missing_kubeconfig_file_is_named(stack_variant: Any) -> None:
    message = refusal(
        stack_variant(lambda c: c.update({"citykit:kubeconfig": "nowhere.kubeconfig"}))
    )
    assert (
        "config.citykit:kubeconfig: no kubeconfig file at" in message
        and "nowhere.kubeconfig" in message
    )
