"""checkov (pinned, in a virtualenv of its own) on what citykit puts in a cluster: the
operator chart as helm renders it, and `citykit plan -o yaml` of every example city. Zero
failures; the only skipped checks are the ones tests/checkov/*.yaml list, each with its
reason on its line."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from citykit.resources import example_cities_dir
from citykit.toolchain.checkov import ensure_checkov
from tests.conftest import REPOSITORY, run_cli
from tests.deadlines import PROMPTLY

CONFIGS = REPOSITORY / "tests" / "checkov"
CHART = REPOSITORY / "charts" / "citykit-operator"
SCENARIOS = sorted((CHART / "ci").glob("*-values.yaml"))
CITIES = sorted(path.stem for path in example_cities_dir().glob("*.yaml"))
SKIP_LINE = re.compile(r"^  - (CKV2?_K8S_\d+)  # (.+)$")


@pytest.fixture(scope="session")
def checkov(request: pytest.FixtureRequest) -> Path:
    terminal = request.config.pluginmanager.get_plugin("terminalreporter")
    return ensure_checkov(
        lambda message: terminal.write_line(f"checkov: {message}") if terminal else None
    )


def lint(checkov: Path, folder: Path, config: Path) -> dict[str, Any]:
    """checkov's JSON report on every manifest file in `folder`."""
    result = subprocess.run(
        [str(checkov), "--config-file", str(config), "-d", str(folder), "-o", "json"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr  # 1: failed checks, shown below
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def failures(report: dict[str, Any]) -> list[str]:
    return [
        f"{check['check_id']} {check['check_name']}: {check['resource']} ({check['file_path']})"
        for check in report["results"]["failed_checks"]
    ]


def test_the_rendered_chart_passes_checkov(helm: Path, checkov: Path, tmp_path: Path) -> None:
    for values in (None, *SCENARIOS):
        args = ("--values", str(values)) if values else ()
        rendered = subprocess.run(
            [str(helm), "template", "citykit-operator", str(CHART), "-n", "citykit-system", *args],
            capture_output=True,
            text=True,
            timeout=PROMPTLY,
            check=True,
        ).stdout
        (tmp_path / f"{values.stem if values else 'defaults'}.yaml").write_text(rendered)

    report = lint(checkov, tmp_path, CONFIGS / "chart.yaml")

    assert failures(report) == []
    assert report["summary"]["passed"] > 0
    kinds = {check["resource"].split(".")[0] for check in report["results"]["passed_checks"]}
    assert {"Deployment", "ClusterRole", "Role"} <= kinds


def test_every_example_citys_plan_passes_checkov(checkov: Path, tmp_path: Path) -> None:
    for city in CITIES:
        planned = run_cli("plan", city, "-o", "yaml")
        assert planned.exit_code == 0, planned.stderr
        (tmp_path / f"{city}.yaml").write_text(planned.stdout)

    report = lint(checkov, tmp_path, CONFIGS / "cities.yaml")

    assert failures(report) == []
    files = {check["file_path"].lstrip("/") for check in report["results"]["passed_checks"]}
    assert files == {f"{city}.yaml" for city in CITIES}


@pytest.mark.parametrize("config", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_skipped_check_is_justified_on_its_line(config: Path) -> None:
    lines = config.read_text().split("skip-check:\n", 1)[1].splitlines()
    skips = [SKIP_LINE.match(line) for line in lines if line.strip()]
    assert skips and all(skips), "each skip: `  - CKV_K8S_n  # why`"
    assert all(len(match.group(2)) >= 40 for match in skips if match)
