"""Hostile input (issue 13, part 1): every one ends as exit 1 with located one-line messages,
or is valid and renders. One behaviour per test, seen through the CLI as a city team sees it."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from citykit.resources import example_cities_dir
from tests.conftest import LOCATED_LINE, run_cli

TALLINN = (example_cities_dir() / "tallinn.yaml").read_text()


@pytest.fixture
def tallinn_with(tmp_path: Path) -> Callable[[str, str], Path]:
    """Tallinn's blueprint with one piece of its YAML text replaced, written to a file."""

    def write(old: str, new: str) -> Path:
        assert old in TALLINN, old
        path = tmp_path / "tallinn.yaml"
        path.write_text(TALLINN.replace(old, new, 1))
        return path

    return write


@pytest.fixture
def yaml_file(tmp_path: Path) -> Callable[[str | bytes], Path]:
    def write(content: str | bytes) -> Path:
        path = tmp_path / "hostile.yaml"
        if isinstance(content, str):
            content = content.encode()
        path.write_bytes(content)
        return path

    return write


def refused(path: Path, *args: str) -> list[str]:
    """Run `citykit validate` (or `args`) on `path`: exit 1, every line located; the lines."""
    result: Result = run_cli(*(args or ("validate",)), str(path))
    assert result.exit_code == 1, result.output
    lines = result.output.rstrip("\n").split("\n")
    assert lines and all(re.match(LOCATED_LINE, line) for line in lines), result.output
    assert all(line.startswith(f"{path}:") for line in lines), result.output
    return lines


# 1. The YAML loader and scalars that look typed but are not valid


@pytest.mark.parametrize(
    ("scalar", "reads_as"),
    [
        ("2024-13-45", "a date"),
        ("0x_", "an integer"),
        ("!!int ''", "an integer"),
        ("!!bool maybe", "a boolean"),
        ("!!timestamp nope", "a date"),
    ],
)
def test_scalar_that_looks_typed_but_is_invalid_is_a_located_problem(
    tallinn_with: Callable[[str, str], Path], scalar: str, reads_as: str
) -> None:
    lines = refused(tallinn_with("  version: 1.2.0", f"  version: {scalar}"))
    assert lines == [lines[0]]
    assert re.search(
        rf":15:12: spec\.version: .* reads as {reads_as} but is not a valid one", lines[0]
    )


def test_date_lookalike_says_to_quote_it(tallinn_with: Callable[[str, str], Path]) -> None:
    [line] = refused(tallinn_with("  version: 1.2.0", "  version: 2024-13-45"))
    assert line.endswith('write it in quotes: "2024-13-45"')


def test_decimal_integer_over_python_digit_limit_is_out_of_range(
    tallinn_with: Callable[[str, str], Path],
) -> None:
    [line] = refused(tallinn_with("population: 457572", "population: " + "9" * 5000))
    assert "spec.city.population: integer of 5,000 characters is out of range" in line


def test_hex_integer_thousands_of_digits_long_is_out_of_range(
    tallinn_with: Callable[[str, str], Path],
) -> None:
    [line] = refused(tallinn_with("population: 457572", "population: 0x" + "f" * 4000))
    assert "is out of range (Kubernetes stores 64-bit integers" in line


def test_integer_just_past_64_bits_is_out_of_range(
    tallinn_with: Callable[[str, str], Path],
) -> None:
    [line] = refused(tallinn_with("population: 457572", f"population: {2**63}"))
    assert f"integer {2**63} is out of range" in line


def test_kpi_target_of_400_digits_is_a_located_problem(
    tallinn_with: Callable[[str, str], Path],
) -> None:
    lines = refused(tallinn_with("target: 5,", "target: 1" + "0" * 400 + ","))
    assert any("spec.kpiTargets[0].target: integer of 401 characters" in line for line in lines)


@pytest.mark.parametrize("number", [".nan", ".inf", "-.inf", "1.0e+400"])
def test_non_finite_number_is_refused(
    tallinn_with: Callable[[str, str], Path], number: str
) -> None:
    [line] = refused(tallinn_with("baseline: 6.1,", f"baseline: {number},"))
    assert "spec.kpiTargets[0].baseline:" in line
    assert "is not a finite number; JSON and Kubernetes have no NaN or infinity" in line


def test_unquoted_equals_sign_says_to_quote_it(tallinn_with: Callable[[str, str], Path]) -> None:
    [line] = refused(tallinn_with("ocdsPublisherPrefix: ocds-tln", "ocdsPublisherPrefix: ="))
    assert 'not text; to mean the text, write it in quotes: "="' in line
    assert "tag:yaml.org" not in line


# 4. One problem, one line: user text is escaped, parser errors located at the character


def test_control_character_is_located_at_the_character(
    yaml_file: Callable[[str | bytes], Path],
) -> None:
    [line] = refused(yaml_file(b"apiVersion: citykit.io/v1alpha1\nkind: Ci\x07ty\n"))
    assert ":2:9: (document): invalid YAML: character U+0007 is not allowed" in line
    assert '"\\x07"' in line


def test_escaped_newline_in_an_id_stays_on_one_line(
    tallinn_with: Callable[[str, str], Path],
) -> None:
    [line] = refused(tallinn_with("id: kesklinn,", 'id: "kes\\nklinn",'))
    assert "spec.districts[1].id: 'kes\\nklinn' does not match" in line


@pytest.mark.parametrize(
    ("escape", "shown"),
    [("\\e[2J", "\\x1b[2J"), ("\\u202e", "\\u202e"), ("\\L", "\\u2028"), ("\\r", "\\r")],
)
def test_terminal_and_bidi_characters_are_escaped_in_messages(
    tallinn_with: Callable[[str, str], Path], escape: str, shown: str
) -> None:
    [line] = refused(tallinn_with("- ref: government.e-procurement", f'- ref: "gov{escape}x"'))
    assert shown in line
    assert "\x1b" not in line and "\u202e" not in line and "\u2028" not in line


def test_unknown_key_with_a_newline_is_named_on_one_line(
    tallinn_with: Callable[[str, str], Path],
) -> None:
    [line] = refused(tallinn_with("  jurisdiction: gdpr", '  jurisdiction: gdpr\n  "a b\\nc": 1'))
    assert 'spec["a\\x20b\\nc"]: unknown field' in line
