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
from tests.builds import (
    Background,
    beyond_unit,
    cluster_built,
    needed,
    on_shared_cluster,
    starts_own_cluster,
)

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
END_LINES = pytest.StashKey[list[str]]()
# The xdist groups: the modules on the session's local cluster, and one for each module that
# starts a cluster of its own (its group's name ends with the module's)
SHARED_CLUSTER, OWN_CLUSTER = "shared-cluster", "own-cluster"


def worker(config: pytest.Config) -> str | None:
    """This pytest-xdist worker's id (gw0, gw1, ...), or None in a single-process run."""
    workerinput: dict[str, Any] = getattr(config, "workerinput", {})
    return workerinput.get("workerid")


def say_at_end(config: pytest.Config, line: str) -> None:
    """A line for the end of the test report (a worker's reaches the controller's report)."""
    config.stash.setdefault(END_LINES, []).append(line)


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist: the modules on the session's cluster are one group, first in line,
    since they share that cluster and a module's tests build on the ones before: one worker
    runs them in file order, as one process would. Each module that starts a cluster of its
    own is a group too, next in line on the other worker; the unit tests and the modules that
    need no cluster come last, many small pieces that fill both workers' ends. In a cold run
    they come before the own-cluster modules instead, which would only wait for the cluster's
    binaries while the unit tests could run."""
    if worker(config) is None:
        return
    outside = beyond_unit(items)
    shared = {item.path for item in outside if on_shared_cluster(item)}
    own = {item.path for item in outside if starts_own_cluster(item)} - shared
    for item in items:
        if item.path in shared:
            item.add_marker(pytest.mark.xdist_group(SHARED_CLUSTER))
        elif item.path in own:
            item.add_marker(pytest.mark.xdist_group(f"{OWN_CLUSTER}:{item.path.stem}"))
    own_items = [item for item in items if item.path in own]
    ungrouped = [item for item in items if item.path not in shared | own]
    items[:] = [
        *(item for item in items if item.path in shared),
        *([*own_items, *ungrouped] if cluster_built() else [*ungrouped, *own_items]),
    ]


def pytest_collection_finish(session: pytest.Session) -> None:
    """Starts, in the background, the builds the selected tests need (tests/builds.py says
    how it knows): in one process, or in the first xdist worker (the others' tests wait on
    the builds' locks). Only tests/unit selected: nothing (they need no Go, network or
    cluster)."""
    if session.config.option.collectonly or worker(session.config) not in (None, "gw0"):
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


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A worker that is done waits for its builds: the other worker's tests may still need
    them (stopped, they would be built again, in a test); an interrupted session stops them."""
    background = session.config.stash.get(BACKGROUND, None)
    if background is not None:
        if worker(session.config) is not None and exitstatus != pytest.ExitCode.INTERRUPTED:
            background.wait_all()
        background.stop()
        for line in background.summary():
            say_at_end(session.config, line)
    workeroutput: dict[str, Any] | None = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["end_lines"] = session.config.stash.get(END_LINES, [])


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """xdist's controller: a worker ended; its end-of-report lines join the controller's."""
    for line in getattr(node, "workeroutput", {}).get("end_lines", []):
        say_at_end(node.config, line)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for line in terminalreporter.config.stash.get(END_LINES, []):
        terminalreporter.write_line(line)
