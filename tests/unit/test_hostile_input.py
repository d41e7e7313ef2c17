"""Hostile input (issue 13, part 1): every one ends as exit 1 with located one-line messages,
or is valid and renders. One behaviour per test, seen through the CLI as a city team sees it."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from citykit.core.load.errors import number_text, shown
from citykit.core.load.schemas import compiled_pattern
from citykit.core.load.secretscan import find_secrets
from citykit.core.model.blueprint import duration_seconds
from citykit.core.render.objects import as_stored
from citykit.resources import example_cities_dir
from tests.conftest import LOCATED_LINE, run_cli
from tests.deadlines import BLOW_UP

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


# 3. Time bounded by input size


def test_pilot_districts_of_8000_mappings_is_refused_without_a_blow_up(
    tallinn_with: Callable[[str, str], Path],
) -> None:
    mappings = ", ".join(f"{{a: {index}}}" for index in range(8000))
    path = tallinn_with("pilotDistricts: [kesklinn]", f"pilotDistricts: [{mappings}]")
    started = time.monotonic()
    lines = refused(path)
    assert time.monotonic() - started < BLOW_UP
    assert any(
        line.endswith("pilotDistricts: a list of 8,000 items; at most 50 allowed") for line in lines
    )


def test_repeated_token_fragment_parameter_is_scanned_in_linear_time(
    tallinn_with: Callable[[str, str], Path],
) -> None:
    fragment = "eyJ-" * 15_000  # 60 KB: under the parameters' size limit, so it is scanned
    path = tallinn_with("ocdsPublisherPrefix: ocds-tln", f"ocdsPublisherPrefix: {fragment}")
    started = time.monotonic()
    [line] = refused(path)
    assert time.monotonic() - started < BLOW_UP
    assert "ocdsPublisherPrefix: 'eyJ-eyJ-" in line and "(60,000 characters) does not match" in line


@pytest.mark.parametrize("fragment", ["eyJhbGciOi.", "eyJ-", "-----BEGIN A", "://a:", "AKIA"])
def test_secret_scan_of_two_megabytes_has_no_blow_up(fragment: str) -> None:
    value = fragment * (2_000_000 // len(fragment))
    started = time.monotonic()
    list(find_secrets({"value": value}))
    assert time.monotonic() - started < BLOW_UP


def test_secret_scan_still_finds_a_json_web_token() -> None:
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N"
    assert list(find_secrets({"header": f"Bearer {token}"})) == [
        (("header",), "the value looks like a JSON Web Token")
    ]


def test_oversized_parameters_are_refused_before_rendering(
    tallinn_with: Callable[[str, str], Path],
) -> None:
    [line] = refused(
        tallinn_with("ocdsPublisherPrefix: ocds-tln", "ocdsPublisherPrefix: " + "x" * 70_000)
    )
    assert re.search(
        r"spec\.initiatives\[4\]\.parameters: parameters are 70,0\d\d bytes as JSON", line
    )


# 5. Whatever validate accepts renders: `$` is the end of the text, numbers are finite


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("name: tallinn", 'name: "tallinn\\n"', "metadata.name"),
        (
            "NATIONAL_EID_CLIENT_SECRET:",
            '"NATIONAL_EID_CLIENT_SECRET\\n":',
            'spec.initiatives[1].secretRefs["NATIONAL_EID_CLIENT_SECRET\\n"]',
        ),
        ("healthyFor: 10m,", 'healthyFor: "10m\\n",', "spec.initiatives[0].gate.healthyFor"),
    ],
)
def test_trailing_newline_does_not_satisfy_an_anchored_pattern(
    tallinn_with: Callable[[str, str], Path], old: str, new: str, field: str
) -> None:
    [line] = refused(tallinn_with(old, new))
    assert f": {field}: " in line and "does not match" in line


def test_pattern_dollar_is_the_end_of_the_text_as_in_ecma_and_re2() -> None:
    assert compiled_pattern("^[a-z]+$").search("tallinn\n") is None
    assert compiled_pattern("^[a-z$]+$").search("a$") is not None  # a `$` in a class stays
    assert compiled_pattern(r"^\d+$").search("١٢") is None  # ASCII digits, as RE2


def test_healthy_for_of_400_digits_is_refused(tallinn_with: Callable[[str, str], Path]) -> None:
    lines = refused(tallinn_with("healthyFor: 10m,", f"healthyFor: {'9' * 400}m,"))
    assert all(": spec.initiatives[0].gate.healthyFor: " in line for line in lines)


def test_largest_healthy_for_the_schema_allows_is_a_duration() -> None:
    assert duration_seconds("999999d") == 999999 * 86400
    with pytest.raises(ValueError):
        duration_seconds("9999999d")


def test_float_parameter_is_planned_as_the_api_server_stores_it(
    tallinn_with: Callable[[str, str], Path],
) -> None:
    whole = run_cli(
        "plan", "-o", "json", str(tallinn_with("pm25AlertThreshold: 25", "pm25AlertThreshold: 25"))
    )
    written_as_float = run_cli(
        "plan",
        "-o",
        "json",
        str(tallinn_with("pm25AlertThreshold: 25", "pm25AlertThreshold: 25.0")),
    )
    assert whole.exit_code == written_as_float.exit_code == 0
    assert written_as_float.output == whole.output
    json.loads(written_as_float.output)


def test_numbers_are_normalised_as_go_writes_them() -> None:
    assert as_stored({"a": [200.0, 0.5, -0.0, 1e20, 1e21, 3]}) == {
        "a": [200, 0.5, 0, 100000000000000000000, 1e21, 3]
    }


# Also: messages that say what to write, and stay short


def test_country_no_says_to_quote_it(tallinn_with: Callable[[str, str], Path]) -> None:
    [line] = refused(tallinn_with("country: EE", "country: NO"))
    assert line.endswith(
        "spec.city.country: expected a string, got a boolean (YAML reads an unquoted NO as "
        'false); write it in quotes to keep the text: "NO"'
    )


def test_empty_field_says_it_is_empty(tallinn_with: Callable[[str, str], Path]) -> None:
    [line] = refused(tallinn_with("country: EE", "country:"))
    assert line.endswith("spec.city.country: expected a string, got null (the field is empty)")
    assert "None" not in line


def test_version_read_as_a_number_says_to_quote_it(
    tallinn_with: Callable[[str, str], Path],
) -> None:
    [line] = refused(tallinn_with("version: 1.2.0", "version: 1.10"))
    assert line.endswith('got a number 1.1; write it in quotes to keep the text: "1.10"')


def test_data_product_message_says_publishes(tallinn_with: Callable[[str, str], Path]) -> None:
    lines = refused(
        tallinn_with(
            "dataProduct: traffic-flow, purpose: Attribute",
            "dataProduct: nothing-here, purpose: Attribute",
        )
    )
    assert any("(it publishes: " in line for line in lines)
    assert any("(it consumes: " in line for line in lines)
    assert not any("publishs" in line for line in lines)


def test_too_long_list_message_names_its_size_not_its_items(
    tallinn_with: Callable[[str, str], Path],
) -> None:
    ids = ", ".join(["kesklinn"] * 60)
    lines = refused(tallinn_with("pilotDistricts: [kesklinn]", f"pilotDistricts: [{ids}]"))
    assert any(line.endswith("a list of 60 items; at most 50 allowed") for line in lines)
    assert all(len(line) < 400 for line in lines)


def test_too_long_text_message_names_its_length_not_the_text(
    tallinn_with: Callable[[str, str], Path],
) -> None:
    [line] = refused(tallinn_with("name: Tallinn", "name: " + "T" * 5000))
    assert line.endswith("spec.city.name: text of 5,000 characters; at most 100 allowed")


def test_a_huge_integer_is_quoted_by_its_size_in_messages() -> None:
    assert shown(16**4000) == "an integer of about 4,817 digits"
    assert number_text(10**400) == "an integer of about 401 digits"
