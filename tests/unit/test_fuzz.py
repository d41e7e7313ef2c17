"""Property-based fuzzing of hostile input (issue 13): mutated example cities, hostile YAML
text and schema-shaped blueprints, checked against the contracts every input must meet:

- `validate` never prints a traceback: it exits 0, or 1 with one located line per problem;
- it takes under 2 s (whatever the input; a 1 MB input included);
- whatever validates plans to JSON (no NaN), to objects the Kubernetes schemas accept and
  Initiatives the Initiative schema accepts, diffs against its city, and the operator's pure
  rollout step decides its status without raising.

A fixed seed (`derandomize`) makes the CI run repeatable; `benchmarks/fuzz_bench.py` runs the
same strategies longer with a random seed and prints cases/s and defects found.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings

from tests.fuzzing import (
    CITIES,
    blueprint_shaped,
    contract_defects,
    mutated_data,
    mutated_text,
)

CI = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# --- the CI run -----------------------------------------------------------------------------


def _holds(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "fuzzed.yaml"
    path.write_bytes(content)
    assert contract_defects(path) == []


@settings(CI, max_examples=900)
@given(content=mutated_text())
def test_hostile_edits_of_example_city_text_meet_the_contract(
    tmp_path_factory: Any, content: bytes
) -> None:
    _holds(tmp_path_factory.mktemp("text"), content)


@settings(CI, max_examples=700)
@given(content=mutated_data())
def test_any_value_in_any_field_of_an_example_city_meets_the_contract(
    tmp_path_factory: Any, content: bytes
) -> None:
    _holds(tmp_path_factory.mktemp("data"), content)


@settings(CI, max_examples=50)
@given(content=blueprint_shaped)
def test_schema_shaped_blueprints_meet_the_contract(tmp_path_factory: Any, content: bytes) -> None:
    _holds(tmp_path_factory.mktemp("shaped"), content)


def test_every_example_city_meets_the_contract(tmp_path: Path) -> None:
    for path in CITIES.values():
        assert contract_defects(path) == []
