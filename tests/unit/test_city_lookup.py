"""`citykit validate | plan` take a FILE path or a CITY name: the project folder's city first
(the current folder, or --dir), then the example cities citykit ships."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from citykit.resources import example_cities_dir
from tests.conftest import run_cli
from tests.problems import PROBLEM_LINE


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty folder, made the current one."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def scaffold(root: Path, name: str) -> Path:
    """`citykit new-city NAME` in `root`, from the example Tallinn (an EU city, under gdpr)."""
    result = run_cli(
        "new-city", name, "--jurisdiction", "gdpr", "--from", "tallinn", "--dir", str(root)
    )
    assert result.exit_code == 0, result.output
    return root / "blueprints" / "cities" / f"{name}.yaml"


def test_a_scaffolded_city_is_found_by_name_in_the_current_folder(project: Path) -> None:
    scaffold(project, "testville")
    result = run_cli("validate", "testville")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("blueprints/cities/testville.yaml: ok — Testville")
    planned = run_cli("plan", "testville", "-o", "json")
    assert planned.exit_code == 0, planned.output
    assert '"name": "city-testville"' in planned.output


def test_a_city_is_found_by_name_in_the_project_folder_given_with_dir(
    project: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    blueprint = scaffold(elsewhere, "testville")
    result = run_cli("validate", "testville", "--dir", str(elsewhere))
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"{blueprint}: ok")
    assert run_cli("plan", "--dir", str(elsewhere), "testville").exit_code == 0
    assert run_cli("validate", "testville").exit_code == 1  # not in the current folder


def test_an_example_city_is_found_by_name_from_an_empty_folder(project: Path) -> None:
    result = run_cli("validate", "tallinn", "hong-kong")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith(
        f"{example_cities_dir() / 'tallinn.yaml'}: ok — Tallinn"
    )
    assert run_cli("plan", "tallinn").exit_code == 0


def test_an_unknown_name_is_one_line_naming_the_argument(project: Path) -> None:
    result = run_cli("validate", "atlantis")
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert re.match(PROBLEM_LINE, lines[0])
    assert lines[0].startswith("CITY: no file or city 'atlantis' (looked in ")
    assert "tallinn" in lines[0]
    planned = run_cli("plan", "atlantis")
    assert planned.exit_code == 1
    assert planned.output.strip() == lines[0]


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("diff", "atlantis", "tallinn"), "OLD"),
        (("diff", "tallinn", "atlantis"), "NEW"),
        (("report", "--from-file", "atlantis"), "--from-file"),
    ],
)
def test_an_unknown_name_is_refused_under_the_name_help_gives_the_argument(
    project: Path, args: tuple[str, ...], named: str
) -> None:
    result = run_cli(*args)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"{named}: no file or city 'atlantis' (looked in ")


def test_an_unknown_name_does_not_hide_the_other_files_verdicts(project: Path) -> None:
    result = run_cli("validate", "atlantis", "tallinn")
    assert result.exit_code == 1
    assert "tallinn.yaml: ok" in result.output
    assert "no file or city 'atlantis'" in result.output


def test_a_local_city_shadows_the_example_of_the_same_name(project: Path) -> None:
    scaffold(project, "tallinn")
    result = run_cli("validate", "tallinn")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("blueprints/cities/tallinn.yaml: ok")


def test_a_missing_path_stays_a_missing_file(project: Path) -> None:
    result = run_cli("validate", "blueprints/cities/tallinn.yaml")
    assert result.exit_code == 1
    assert "blueprints/cities/tallinn.yaml:1:1: (document): cannot read file" in result.output
