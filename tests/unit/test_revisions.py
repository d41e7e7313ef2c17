"""Workload revisions and an upgrade's candidate objects, as the renderer makes them."""

from __future__ import annotations

import copy
import datetime
from typing import Any

from citykit.api.enums import Wave
from citykit.cli.statusview import rows
from citykit.core.load.source import from_data
from citykit.core.model.validation import ValidatedBlueprint, validate
from citykit.core.render.objects import (
    candidate_children,
    initiative_children,
    initiative_resources,
    workload_revision,
)
from tests.conftest import read_city

SIGNALS = "mobility.adaptive-traffic-signals"


def validated(catalogue: str = "1.0.0", **changes: Any) -> ValidatedBlueprint:
    data = copy.deepcopy(read_city("hangzhou"))
    data["spec"]["catalogueVersion"] = catalogue
    data["spec"].update(changes)
    return validate(from_data("hangzhou", data))


def initiative(blueprint: ValidatedBlueprint, ref: str = SIGNALS) -> dict[str, Any]:
    return next(r["spec"] for r in initiative_resources(blueprint) if r["spec"]["ref"] == ref)


def test_a_revision_is_a_short_stable_hash_of_the_rendered_workloads() -> None:
    before = validated()
    revision = workload_revision(initiative(before), before.catalogue)
    assert len(revision) == 10
    assert workload_revision(initiative(validated()), before.catalogue) == revision
    # the blueprint's own version is not rendered into workloads: same revision
    bumped = validated(version="3.9.0")
    assert workload_revision(initiative(bumped), bumped.catalogue) == revision


def test_a_newer_catalogue_with_a_new_image_is_a_new_revision_only_where_it_renders() -> None:
    old, new = validated("1.0.0"), validated("1.1.0")
    assert workload_revision(initiative(old), old.catalogue) != workload_revision(
        initiative(new), new.catalogue
    )
    parking = "mobility.smart-parking"
    assert workload_revision(initiative(old, parking), old.catalogue) == workload_revision(
        initiative(new, parking), new.catalogue
    )


def test_workloads_carry_their_revision_in_both_waves() -> None:
    blueprint = validated()
    spec = initiative(blueprint)
    revision = workload_revision(spec, blueprint.catalogue)
    for wave in Wave:
        for manifest in initiative_children(spec, blueprint.catalogue, wave):
            labels = manifest["metadata"]["labels"]
            if manifest["kind"] in ("Deployment", "ConfigMap"):
                assert labels["citykit.io/revision"] == revision
            else:
                assert "citykit.io/revision" not in labels


def test_a_candidate_runs_in_the_pilot_districts_under_names_and_a_selector_of_its_own() -> None:
    blueprint = validated()
    spec = initiative(blueprint)
    stable = {
        (m["kind"], m["metadata"]["name"])
        for m in initiative_children(spec, blueprint.catalogue, Wave.CITYWIDE)
    }
    candidate = candidate_children(spec, blueprint.catalogue)
    assert {m["kind"] for m in candidate} == {"Deployment", "ConfigMap"}
    assert not stable & {(m["kind"], m["metadata"]["name"]) for m in candidate}
    [config] = [m for m in candidate if m["kind"] == "ConfigMap"]
    assert config["metadata"]["name"] == "mobility-adaptive-traffic-signals-config-candidate"
    assert config["data"]["CITYKIT_DISTRICTS"] == ",".join(spec["pilotDistricts"])
    for deployment in (m for m in candidate if m["kind"] == "Deployment"):
        labels = deployment["metadata"]["labels"]
        assert deployment["metadata"]["name"].endswith("-candidate")
        assert labels["citykit.io/candidate"] == "true"
        assert labels["citykit.io/wave"] == "pilot"
        assert deployment["spec"]["selector"]["matchLabels"]["citykit.io/candidate"] == "true"
        pod = deployment["spec"]["template"]
        assert pod["metadata"]["labels"]["citykit.io/candidate"] == "true"
        [source] = pod["spec"]["containers"][0]["envFrom"]
        assert source["configMapRef"]["name"] == config["metadata"]["name"]


def test_citykit_status_shows_the_revision_and_during_an_upgrade_the_candidate() -> None:
    def item(name: str, status: dict[str, str]) -> dict[str, Any]:
        spec = {"city": "x", "ref": f"mobility.{name}", "area": "mobility"}
        return {"metadata": {"name": name}, "spec": spec, "status": status}

    shown = rows(
        [
            item("a", {"phase": "Upgrading", "revision": "aaa", "candidateRevision": "bbb"}),
            item("b", {"phase": "Live", "revision": "ccc"}),
            item("c", {"phase": "Pending"}),
        ],
        datetime.datetime.now(datetime.UTC),
    )
    assert [row.revision for row in shown] == ["aaa -> bbb", "ccc", "-"]
