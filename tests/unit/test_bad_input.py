"""Hostile and broken files: each is refused with located one-line messages and exit 1."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import LOCATED_LINE, run_cli

BOMB = "\n".join(
    [f"l0: &l0 [{', '.join(['lol'] * 9)}]"]
    + [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 10)]
)

BAD_INPUTS = {
    "malformed": (
        b"apiVersion: citykit.io/v1alpha1\nspec: [unclosed\n",
        r":\d+:\d+: \(document\): invalid YAML",
    ),
    "alias-bomb": (BOMB.encode(), r"alias bomb"),
    "duplicate-keys": (b"kind: CityBlueprint\nkind: CityBlueprint\n", r":2:1: .*duplicate key"),
    "empty": (b"", r":1:1: \(document\): empty file"),
    "whitespace-only": (b"\n  \n", r"empty file"),
    "binary-garbage": (bytes(range(256)) * 4, r"binary data"),
    "not-utf8": (b"name: caf\xe9\n", r"not UTF-8"),
    "two-documents": (b"a: 1\n---\nb: 2\n", r"exactly one YAML document"),
    "custom-tag": (b"apiVersion: !!python/object:os.system x\n", r"custom YAML tags"),
    "scalar-document": (b"just a string\n", r"\(document\): expected a mapping"),
    "list-document": (b"- a\n- b\n", r"\(document\): expected a mapping"),
    "deep-nesting": (b"[" * 200 + b"]" * 200, r"nested deeper than"),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_is_refused_with_located_message(tmp_path: Path, name: str) -> None:
    content, expected = BAD_INPUTS[name]
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(content)
    result = run_cli("validate", str(path))
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines, "no message"
    assert all(re.match(LOCATED_LINE, line) for line in lines), result.output
    assert all(line.startswith(str(path)) for line in lines)
    assert re.search(expected, result.output), result.output


def test_fifty_megabyte_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as stream:
        stream.truncate(50 * 1024 * 1024)
    result = run_cli("validate", str(path))
    assert result.exit_code == 1
    assert re.search(r"huge\.yaml:1:1: \(document\): file is 52,428,800 bytes", result.output)


def test_missing_file_is_a_located_error(tmp_path: Path) -> None:
    result = run_cli("validate", str(tmp_path / "nowhere.yaml"))
    assert result.exit_code == 1
    assert "nowhere.yaml:1:1: (document): cannot read file" in result.output


def test_console_script_prints_no_traceback_on_garbage(tmp_path: Path) -> None:
    path = tmp_path / "garbage.yaml"
    path.write_bytes(b"{{{{ ::: \t\x07 ]]]\n")
    completed = subprocess.run(
        [sys.executable, "-m", "citykit", "validate", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 1
    assert "Traceback" not in completed.stderr + completed.stdout
    assert re.match(LOCATED_LINE, completed.stderr.strip().splitlines()[0])
