"""`citykit --help` and `citykit validate` start without the heavy edges.

Importing the Kubernetes client, kopf, Pulumi (and urllib3, rich) costs more than validating a
city; only the commands that use them may load them. Start-up time itself is a figure in
benchmarks/cli_startup_bench.py, never a timed assertion here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from kubernetes.client.exceptions import ApiException
from kubernetes.config import ConfigException

from citykit.cli.main import COMMANDS, is_kubernetes_error
from citykit.resources import example_cities_dir

HEAVY = {"kubernetes", "kopf", "pulumi", "urllib3", "rich"}

# Runs the click main as the console script does (standalone mode: it always exits), then
# writes which modules the process had imported.
PROBE = """
import json, sys
from citykit.cli.main import main
try:
    main(sys.argv[2:], prog_name="citykit")
except SystemExit as stop:
    code = stop.code
with open(sys.argv[1], "w") as out:
    json.dump({"code": code, "modules": sorted(sys.modules)}, out)
"""


def imported(tmp_path: Path, *args: str) -> tuple[int, set[str]]:
    """Exit code of `citykit ARGS` in a fresh interpreter, and the top-level packages it loaded."""
    report = tmp_path / "modules.json"
    subprocess.run(
        [sys.executable, "-c", PROBE, str(report), *args],
        capture_output=True,
        check=True,
        timeout=120,
    )
    result = json.loads(report.read_text())
    return result["code"], {name.split(".")[0] for name in result["modules"]}


@pytest.mark.parametrize(
    "args",
    [
        ("--help",),
        ("validate", str(example_cities_dir() / "tallinn.yaml")),
        ("validate", "hangzhou"),
    ],
    ids=["help", "validate-file", "validate-name"],
)
def test_help_and_validate_import_no_cluster_or_engine_client(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    code, modules = imported(tmp_path, *args)
    assert code in (0, None)
    assert "click" in modules
    assert modules & HEAVY == set()


@pytest.mark.parametrize("group", ["operator", "cluster", "catalogue"])
def test_lazily_loaded_groups_still_answer_help(group: str) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "citykit", group, "--help"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert f" {group} [OPTIONS]" in completed.stdout  # click 8.5 writes [COMMAND] where optional
    assert "\nCommands:\n" in completed.stdout


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_help_listing_says_what_each_command_says_of_itself(name: str) -> None:
    """`citykit --help` lists commands from main.COMMANDS without importing them: the line
    kept there must be the command's own short help, and the target the command of that name."""
    command = COMMANDS[name].load()
    assert command.name == name
    listed = click.Command(name, help=COMMANDS[name].short_help)
    assert listed.get_short_help_str(10_000) == command.get_short_help_str(10_000)


def test_kubernetes_errors_are_recognised_and_others_are_not() -> None:
    assert is_kubernetes_error(ApiException(status=403, reason="Forbidden"))
    assert is_kubernetes_error(ConfigException("Invalid kube-config file."))
    assert not is_kubernetes_error(ValueError("not from the client"))
