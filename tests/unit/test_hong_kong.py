"""Hong Kong's two programmes as example cities: Smart City Blueprint 1.0 (76 initiatives) and
2.0 (130), the same city on catalogue 1.2.0, and what `citykit diff` says between them."""

from __future__ import annotations

from collections import Counter
from functools import cache
from pathlib import Path

from citykit.core.model.validation import ValidatedBlueprint, validate_file
from citykit.core.render.diff import diff_blueprints
from citykit.core.render.objects import plan
from citykit.core.rollout.demo import choose_city
from citykit.resources import example_cities, example_cities_dir
from tests.conftest import read_city, run_cli

# The city's earlier blueprint version sits beside the examples, not among them: an example
# city is one file per city, and Blueprint 2.0 is Hong Kong's current one.
BLUEPRINT_1, BLUEPRINT_2 = "earlier-versions/hong-kong-1.0.0", "hong-kong"


def path_of(name: str) -> Path:
    return example_cities_dir() / f"{name}.yaml"


@cache
def validated(name: str) -> ValidatedBlueprint:
    return validate_file(path_of(name))


def refs(name: str) -> list[str]:
    return [item.ref for item in validated(name).blueprint.initiatives]


def test_blueprint_1_0_has_76_initiatives_and_2_0_has_130_of_the_same_city() -> None:
    one, two = validated(BLUEPRINT_1).blueprint, validated(BLUEPRINT_2).blueprint

    assert (one.version, len(refs(BLUEPRINT_1))) == ("1.0.0", 76)
    assert (two.version, len(refs(BLUEPRINT_2))) == ("2.0.0", 130)
    assert one.name == two.name == "hong-kong"
    assert one.catalogue_version == two.catalogue_version == "1.2.0"


def test_blueprint_2_0_covers_every_area_as_its_header_counts_them() -> None:
    per_area = Counter(ref.split(".")[0] for ref in refs(BLUEPRINT_2))
    assert per_area == {
        "mobility": 22,
        "living": 24,
        "environment": 20,
        "people": 16,
        "government": 26,
        "economy": 22,
    }


def test_both_blueprints_plan_an_initiative_resource_per_initiative() -> None:
    for name in (BLUEPRINT_1, BLUEPRINT_2):
        initiatives = [m for m in plan(validated(name)) if m["kind"] == "Initiative"]
        assert sorted(m["spec"]["ref"] for m in initiatives) == sorted(refs(name)), name


def test_every_initiative_of_1_0_is_in_2_0_unchanged() -> None:
    one = {item["ref"]: item for item in read_city(BLUEPRINT_1)["spec"]["initiatives"]}
    two = {item["ref"]: item for item in read_city(BLUEPRINT_2)["spec"]["initiatives"]}
    assert {ref: two[ref] == item for ref, item in one.items() if ref in two} == dict.fromkeys(
        one, True
    )


def test_both_blueprints_carry_binding_and_expected_targets() -> None:
    for name in (BLUEPRINT_1, BLUEPRINT_2):
        commitments = {t.commitment for t in validated(name).blueprint.kpi_targets}
        assert commitments == {"binding", "expected"}, name


def test_diff_names_the_54_added_initiatives_and_keeps_every_revision() -> None:
    diff = diff_blueprints(validated(BLUEPRINT_1), validated(BLUEPRINT_2))

    assert sorted(diff.added) == sorted(set(refs(BLUEPRINT_2)) - set(refs(BLUEPRINT_1)))
    assert len(diff.added) == 54
    assert (diff.removed, diff.upgraded, len(diff.kept)) == ((), (), 76)
    assert diff.delete == ()


def test_citykit_diff_prints_the_54_added_initiatives() -> None:
    result = run_cli("diff", str(path_of(BLUEPRINT_1)), str(path_of(BLUEPRINT_2)))

    assert result.exit_code == 0, result.output
    added = [line for line in result.output.splitlines() if line.startswith("+ initiative ")]
    assert sorted(line.split()[2] for line in added) == sorted(
        set(refs(BLUEPRINT_2)) - set(refs(BLUEPRINT_1))
    )
    assert "~ version: 1.0.0 -> 2.0.0" in result.output
    assert "= revision kept by 76 initiatives (workloads not touched)" in result.output


def test_hong_kong_is_one_example_city_its_current_blueprint_2_0() -> None:
    assert choose_city("hong-kong") == path_of(BLUEPRINT_2)
    assert [name for name in example_cities() if name.startswith("hong-kong")] == ["hong-kong"]
