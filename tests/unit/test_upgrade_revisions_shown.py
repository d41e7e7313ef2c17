"""Revisions outside the operator: what `citykit plan` and `citykit diff` say of them, the
Initiative spec that an unrelated blueprint change leaves alone, and the last good revision
an Initiative's status keeps so that it can be rendered again."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from citykit.api import jsonschemas
from citykit.api.enums import Wave
from citykit.core.load import schemas
from citykit.core.load.source import from_data
from citykit.core.model.validation import ValidatedBlueprint, validate, validate_file
from citykit.core.render.converge import plan_writes
from citykit.core.render.objects import (
    WORKLOAD_KINDS,
    initiative_children,
    initiative_resources,
    initiative_revisions,
    plan,
    revision_spec,
    revision_workloads,
    workload_revision,
)
from citykit.resources import example_cities_dir
from tests.conftest import read_city, run_cli

SIGNALS = "mobility.adaptive-traffic-signals"
HANGZHOU = example_cities_dir() / "hangzhou.yaml"


def validated(edit: Callable[[dict[str, Any]], None] | None = None) -> ValidatedBlueprint:
    data = copy.deepcopy(read_city("hangzhou"))
    if edit is not None:
        edit(data)
    return validate(from_data("hangzhou", data))


def signals_spec(blueprint: ValidatedBlueprint) -> dict[str, Any]:
    return next(r["spec"] for r in initiative_resources(blueprint) if r["spec"]["ref"] == SIGNALS)


def test_a_new_blueprint_version_leaves_every_initiative_spec_as_it_was() -> None:
    def bumped(data: dict[str, Any]) -> None:
        data["spec"]["version"] = "3.9.0"

    assert initiative_resources(validated(bumped)) == initiative_resources(validated())


def test_a_field_taken_out_of_an_initiative_is_written_and_nothing_else_is() -> None:
    """An Initiative keeps no field the blueprint no longer gives it (a rollback to a spec
    without the secretRefs and progressDeadline a later one added), and the blueprint's
    other Initiatives are not written."""

    def later(data: dict[str, Any]) -> None:
        data["spec"]["version"] = "3.2.0"
        for item in data["spec"]["initiatives"]:
            if item["ref"] == SIGNALS:
                item["secretRefs"] = {"TOKEN": {"name": "signals", "key": "token"}}
                item["gate"]["progressDeadline"] = "15s"

    running = initiative_resources(validated(later))
    plan_ = plan_writes(initiative_resources(validated()), running)
    assert [m["spec"]["ref"] for m in plan_.apply] == [SIGNALS]
    assert "secretRefs" not in plan_.apply[0]["spec"]
    assert plan_writes(running, running).apply == ()


def test_the_running_revision_renders_again_from_the_spec_fields_the_status_keeps() -> None:
    blueprint = validated()
    spec = signals_spec(blueprint)
    revision = workload_revision(spec, blueprint.catalogue)
    kept = revision_spec(spec)
    assert set(kept) < set(spec) and "gate" not in kept and "sharing" not in kept
    citywide = [
        m
        for m in initiative_children(spec, blueprint.catalogue, Wave.CITYWIDE)
        if m["kind"] in WORKLOAD_KINDS
    ]
    assert revision_workloads(kept, blueprint.catalogue, revision) == citywide
    # a revision the fields do not render (another citykit's) is not made up
    assert revision_workloads(kept, blueprint.catalogue, "0000000000") is None


def test_the_last_good_revision_in_an_initiatives_status_passes_its_schema() -> None:
    blueprint = validated()
    resource = next(r for r in initiative_resources(blueprint) if r["spec"]["ref"] == SIGNALS)
    spec = resource["spec"]
    revision = workload_revision(spec, blueprint.catalogue)
    good = {"revision": revision, "spec": revision_spec(spec)}
    document = from_data("initiative", {**resource, "status": {"lastGood": good}})
    assert schemas.check(document, jsonschemas.INITIATIVE) == []
    wrong = from_data("initiative", {**resource, "status": {"lastGood": {"spec": {}}}})
    assert schemas.check(wrong, jsonschemas.INITIATIVE) != []


def test_plan_heads_each_initiative_with_its_revision_and_first_wave() -> None:
    result = run_cli("plan", str(HANGZHOU))
    assert result.exit_code == 0, result.output
    blueprint = validate_file(HANGZHOU)
    revisions = initiative_revisions(blueprint)
    assert (
        f"# {SIGNALS}: revision {revisions[SIGNALS]}, first wave pilot in xiaoshan, shangcheng\n"
        "apiVersion: citykit.io/v1alpha1\nkind: Initiative\n"
    ) in result.output
    notes = [line for line in result.output.splitlines() if line.startswith("# ")]
    assert len(notes) == len(revisions)
    # comments only: the objects read back are the ones planned
    assert list(yaml.safe_load_all(result.output)) == plan(blueprint)


def test_plan_names_the_revision_its_workloads_carry() -> None:
    blueprint = validate_file(HANGZHOU)
    revisions = initiative_revisions(blueprint)
    for manifest in plan(blueprint):
        labels = manifest["metadata"].get("labels", {})
        if manifest["kind"] in WORKLOAD_KINDS:
            ref = next(ref for ref in revisions if ref.replace(".", "-") in labels.values())
            assert labels["citykit.io/revision"] == revisions[ref]


def signals(**changes: Any) -> Callable[[dict[str, Any]], None]:
    """An edit of Hangzhou: version 3.1.1 (or `version`), catalogue `catalogue` if given,
    and the traffic signals' fields in `changes` set (a parameter: `parameters={...}`)."""

    def edit(data: dict[str, Any]) -> None:
        spec, fields = data["spec"], dict(changes)
        spec["version"] = fields.pop("version", "3.1.1")
        spec["catalogueVersion"] = fields.pop("catalogue", spec["catalogueVersion"])
        for item in spec["initiatives"]:
            if item["ref"] == SIGNALS:
                for field, value in fields.items():
                    item[field] = {**item[field], **value} if isinstance(value, dict) else value

    return edit


def diffed(
    city_variant: Callable[..., Path], edit: Callable[[dict[str, Any]], None]
) -> tuple[str, Path]:
    """`citykit diff` from Hangzhou to Hangzhou changed by `edit`, and the changed file."""
    new = city_variant("hangzhou", edit)
    result = run_cli("diff", str(HANGZHOU), str(new))
    assert result.exit_code == 0, result.output
    return result.output, new


def test_diff_says_which_initiatives_get_a_new_revision_and_how_they_go_out(
    city_variant: Callable[..., Path],
) -> None:
    upgrade = signals(version="3.2.0", catalogue="1.1.0", pilotDistricts=[])
    output, new = diffed(city_variant, upgrade)
    before = initiative_revisions(validate_file(HANGZHOU))[SIGNALS]
    after = initiative_revisions(validate_file(new))[SIGNALS]
    assert before != after
    assert (
        f"~ revision {SIGNALS}: {before} -> {after} (no pilot districts: citywide after its gate)"
    ) in output
    assert "= revision kept by 42 initiatives (workloads not touched)" in output
    assert output.count("~ revision ") == 1


def test_diff_of_a_new_parameter_pilots_it_and_keeps_every_other_revision(
    city_variant: Callable[..., Path],
) -> None:
    output, _ = diffed(city_variant, signals(parameters={"cycleLengthSeconds": 90}))
    assert f"~ revision {SIGNALS}: " in output
    assert "(pilots in xiaoshan, shangcheng first)" in output
    assert "= revision kept by 42 initiatives" in output
    # only the changed initiative's spec (and its workloads) change: the version is not in it
    assert f"~ initiative {SIGNALS}: parameters\n" in output
    assert "other initiative" not in output
    assert output.count("~ citykit.io/v1alpha1/Initiative ") == 1


def test_diff_of_a_version_bump_alone_keeps_every_revision_and_object(
    city_variant: Callable[..., Path],
) -> None:
    assert diffed(city_variant, signals())[0].splitlines() == [
        "~ version: 3.1.0 -> 3.1.1",
        "= revision kept by 43 initiatives (workloads not touched)",
        "objects: 0 to create, 0 to update, 0 to delete",
    ]
