"""The operator's settings: read once, by `citykit operator run`, from its options and the
environment variables that set them, into one frozen `Settings` passed down; the chart's
Deployment sets only variables and options that exist, and nothing below the CLI reads the
environment."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

import citykit
from citykit.cli.main import main
from citykit.controller import handlers, runner
from citykit.controller.settings import ALIASES, ENVIRONMENT, Settings

PACKAGE = Path(citykit.__file__).parent
DEPLOYMENT = PACKAGE.parents[1] / "charts" / "citykit-operator" / "templates" / "deployment.yaml"


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[Settings]:
    """The Settings `operator run` would start the operator with; nothing is started."""
    seen: list[Settings] = []

    async def run(settings: Settings) -> None:
        seen.append(settings)

    import kopf

    monkeypatch.setattr(runner, "run", run)
    monkeypatch.setattr(kopf, "configure", lambda **_: None)
    for names in (ENVIRONMENT.values(), *ALIASES.values()):
        for name in names:
            monkeypatch.delenv(name, raising=False)
    return seen


def operator_run(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(main, ["operator", "run", *args], env=env)


def test_defaults_are_the_settings_defaults(started: list[Settings]) -> None:
    result = operator_run()
    assert result.exit_code == 0, result.output
    assert started == [Settings()]


def test_every_setting_is_read_from_its_environment_variable(started: list[Settings]) -> None:
    env = {
        "CITYKIT_LIVENESS": "http://0.0.0.0:8080/healthz",
        "CITYKIT_API_TIMEOUT": "5",
        "CITYKIT_PEERING": "citykit",
        "CITYKIT_PEERING_NAMESPACE": "citykit-system",
        "CITYKIT_RESYNC_SECONDS": "12",
        "CITYKIT_WORKERS": "3",
    }
    assert operator_run(env=env).exit_code == 0
    assert started == [
        Settings(
            liveness="http://0.0.0.0:8080/healthz",
            api_timeout=5,
            peering="citykit",
            peering_namespace="citykit-system",
            resync_seconds=12,
            workers=3,
        )
    ]


def test_an_option_wins_over_its_environment_variable(started: list[Settings]) -> None:
    assert operator_run("--workers", "2", env={"CITYKIT_WORKERS": "5"}).exit_code == 0
    assert started[0].workers == 2


def test_the_older_resync_variable_is_still_read(started: list[Settings]) -> None:
    assert operator_run(env={"CITYKIT_RESYNC": "30"}).exit_code == 0
    assert started[0].resync_seconds == 30


def test_a_bad_value_names_its_option_and_starts_nothing(started: list[Settings]) -> None:
    result = operator_run(env={"CITYKIT_WORKERS": "0"})
    assert result.exit_code == 2
    assert "--workers" in result.output and "Traceback" not in result.output
    assert started == []


def test_help_shows_each_option_with_its_variable() -> None:
    command = main.get_command(click.Context(main), "operator")
    assert isinstance(command, click.Group)
    run = command.commands["run"]
    options = {
        option.opts[0]: option.envvar for option in run.params if isinstance(option, click.Option)
    }
    expected = {name: [variable, *ALIASES.get(name, ())] for name, variable in ENVIRONMENT.items()}
    assert options == expected


def test_the_chart_sets_only_variables_and_options_that_exist() -> None:
    template = DEPLOYMENT.read_text()
    variables = set(re.findall(r"-\s+name:\s+(CITYKIT_[A-Z_]+)", template))
    known = set(ENVIRONMENT.values()) | {name for names in ALIASES.values() for name in names}
    assert variables and variables <= known
    options = set(re.findall(r"^\s*-\s+(--[a-z-]+)\s*$", template, re.MULTILINE))
    assert options and options <= set(ENVIRONMENT)


def test_the_controller_runs_as_its_settings_say() -> None:
    indices: dict[str, Any] = {name: {} for name in handlers._INDEX_NAMES}
    settings = Settings(workers=3, retry_base_delay=0.5, retry_max_delay=4)
    controller = handlers.Controller(indices, settings)
    try:
        assert controller.pool._max_workers == 3
        assert (controller.queue.base_delay, controller.queue.max_delay) == (0.5, 4)
    finally:
        controller.pool.shutdown(wait=True)


def test_settings_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="workers"):
        Settings(workers=0)


def test_nothing_below_the_cli_reads_the_operator_settings_from_the_environment() -> None:
    """The controller's modules take a Settings; only the CLI reads the environment."""
    readers = []
    for path in sorted((PACKAGE / "controller").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv"):
                readers.append(f"{path.name}:{node.lineno}")
    assert readers == []
