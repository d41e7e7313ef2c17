"""`citykit images`: what an air-gapped city mirrors is exactly what it will run."""

from __future__ import annotations

import json

import pytest
import yaml

from citykit.resources import example_cities
from citykit.toolchain.image import image_reference
from tests.conftest import run_cli


def rendered_images(city: str) -> set[str]:
    """Every container image of every object `citykit plan` prints."""
    manifests = yaml.safe_load_all(run_cli("plan", city).output)
    return {
        container["image"]
        for manifest in manifests
        if manifest and manifest["kind"] == "Deployment"
        for container in manifest["spec"]["template"]["spec"]["containers"]
    }


@pytest.mark.parametrize("city", sorted(example_cities()))
def test_every_image_the_plan_runs_is_listed_once_and_pinned(city: str) -> None:
    result = run_cli("images", city)
    listed = result.output.split()

    assert result.exit_code == 0
    assert len(listed) == len(set(listed))
    assert rendered_images(city) <= set(listed)
    assert image_reference() in listed
    for image in listed:
        name, _, tag = image.rpartition(":")
        assert name and "/" not in tag and tag not in ("", "latest"), image


def test_json_says_which_initiatives_use_each_image() -> None:
    uses = json.loads(run_cli("images", "tallinn", "-o", "json").output)
    by_image = {use["image"]: use["usedBy"] for use in uses}

    assert by_image[image_reference()] == ["citykit-operator"]
    initiatives = {ref for users in by_image.values() for ref in users if "." in ref}
    refs = {
        item["ref"]
        for item in yaml.safe_load(example_cities()["tallinn"].read_text())["spec"]["initiatives"]
        if item.get("enabled", True)
    }
    assert initiatives == refs


def test_an_unknown_city_is_one_line_and_exit_1() -> None:
    result = run_cli("images", "atlantis")

    assert result.exit_code == 1
    assert result.output.count("\n") == 1
