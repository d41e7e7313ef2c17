"""The demo's pure decisions: which city, which gates, what to approve, when it is done."""

from __future__ import annotations

import copy
import re

import pytest

from citykit.core.load.errors import RunFailure
from citykit.core.rollout.demo import (
    awaiting_approval,
    choose_city,
    demo_blueprint,
    enabled,
    finished,
)
from citykit.resources import example_cities
from tests.conftest import read_city, run_cli
from tests.problems import PROBLEM_LINE


def test_the_default_city_is_the_one_with_the_most_enabled_initiatives() -> None:
    counts = {name: len(enabled(read_city(name))) for name in example_cities()}

    assert len(enabled(read_city(choose_city(None).stem))) == max(counts.values())


def test_an_unknown_city_names_the_option_and_the_choices() -> None:
    with pytest.raises(RunFailure, match=r"no example city 'atlantis'; choose one of: .*tallinn"):
        choose_city("atlantis")
    result = run_cli("demo", "--city", "atlantis")
    assert result.exit_code == 1
    assert result.output.startswith("--city: no example city 'atlantis'; choose one of: ")


def test_gates_are_shortened_and_manual_approval_stays_manual() -> None:
    original = read_city("hong-kong")
    before = copy.deepcopy(original)
    manual = {
        item["ref"]
        for item in original["spec"]["initiatives"]
        if item.get("gate", {}).get("approval") == "manual"
    }
    assert manual, "the example needs a manual gate for this test to mean something"

    shortened = demo_blueprint(original, "3s")

    assert original == before
    assert {item["gate"]["healthyFor"] for item in shortened["spec"]["initiatives"]} == {"3s"}
    assert {
        item["ref"]
        for item in shortened["spec"]["initiatives"]
        if item["gate"].get("approval") == "manual"
    } == manual


def initiative(ref: str, phase: str | None) -> dict[str, object]:
    return {"spec": {"ref": ref}, "status": {"phase": phase} if phase else None}


def test_only_pilots_awaiting_approval_are_approved() -> None:
    items = [
        initiative("a.one", "AwaitingApproval"),
        initiative("b.two", "Pilot"),
        initiative("c.three", None),
    ]

    assert awaiting_approval(items) == ["a.one"]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ({"phase": "Live", "observedGeneration": 1}, False),  # Live, but for the previous spec
        ({"phase": "RollingOut", "observedGeneration": 2}, False),
        ({"phase": "Live", "observedGeneration": 2}, True),
        ({}, False),
    ],
)
def test_finished_means_live_for_the_applied_generation(
    status: dict[str, object], expected: bool
) -> None:
    assert finished(status, generation=2) is expected


def test_a_blocked_blueprint_ends_the_demo_with_the_operator_s_reasons() -> None:
    status = {
        "phase": "Blocked",
        "observedGeneration": 2,
        "problems": ["spec.initiatives[3]: biometric data is forbidden"],
    }

    with pytest.raises(
        RunFailure, match=r"blocked the blueprint: spec.initiatives\[3\]: biometric"
    ):
        finished(status, generation=2)


@pytest.mark.parametrize("args", [("--gate", "5x"), ("--city", "atlantis"), ("--gate", "")])
def test_bad_demo_options_fail_in_one_line_before_touching_a_cluster(args: tuple[str, ...]) -> None:
    result = run_cli("demo", *args)

    assert result.exit_code == 1
    assert re.fullmatch(PROBLEM_LINE, result.stderr.strip())
