"""Shared test helpers: run the CLI as users do, write blueprint variants; and the session's
background builds (tests/builds.py), started once the tests are collected."""

from __future__ import annotations

import asyncio
import copy
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from citykit.cli.main import main
from citykit.resources import example_cities_dir
from tests.builds import Background, needed

REPOSITORY = Path(__file__).resolve().parents[1]
PLAYBOOKS = REPOSITORY / "playbooks"
LOCATED_LINE = r"^[^:\n]+:\d+:\d+: \S+: .+$"


def run_async(coroutine: Any) -> Any:
    """On a loop of its own, leaving the thread's current loop alone: `asyncio.run` would
    clear it, and Pulumi's mocks in later tests ask for it."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


def run_cli(*args: str) -> Result:
    """Invoke `citykit` in-process, the way the console script does."""
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def role_requirements() -> dict[str, set[str]]:
    """{role: its required inputs}, read straight from each role's argument specs."""
    requirements = {}
    for spec in sorted(PLAYBOOKS.glob("roles/*/meta/argument_specs.yml")):
        options = yaml.safe_load(spec.read_text())["argument_specs"]["main"].get("options", {})
        requirements[spec.parents[1].name] = {
            name for name, option in options.items() if option.get("required")
        }
    return requirements


def read_city(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((example_cities_dir() / f"{name}.yaml").read_text())
    return data


@pytest.fixture
def write_yaml(tmp_path: Path) -> Callable[[str, Any], Path]:
    def write(name: str, data: Any) -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    return write


@pytest.fixture
def city_variant(write_yaml: Callable[[str, Any], Path]) -> Callable[..., Path]:
    """Write a copy of an example city, changed by `edit`, and return its path."""

    def make(city: str, edit: Callable[[dict[str, Any]], None]) -> Path:
        data = copy.deepcopy(read_city(city))
        edit(data)
        return write_yaml(f"{city}-variant.yaml", data)

    return make


BACKGROUND = pytest.StashKey[Background]()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Starts, in the background, the builds the selected tests need (tests/builds.py says
    how it knows). Only tests/unit selected: nothing (they need no Go, network or cluster)."""
    if session.config.option.collectonly:
        return
    lanes = needed(session.items)
    if not lanes:
        return
    descriptor, log = tempfile.mkstemp(prefix="citykit-background-builds-", suffix=".log")
    os.close(descriptor)
    background = Background(Path(log))
    for lane, keys in lanes.items():
        background.start(lane, keys)
    session.config.stash[BACKGROUND] = background
    terminal = session.config.pluginmanager.get_plugin("terminalreporter")
    if terminal is not None:
        names = ", ".join(key for keys in lanes.values() for key in keys)
        terminal.write_line(f"building in the background: {names} (log: {log})")


def pytest_sessionfinish(session: pytest.Session) -> None:
    background = session.config.stash.get(BACKGROUND, None)
    if background is not None:
        background.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    background = terminalreporter.config.stash.get(BACKGROUND, None)
    if background is not None:
        for line in background.summary():
            terminalreporter.write_line(line)
