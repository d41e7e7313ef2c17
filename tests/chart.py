"""The operator's Helm chart rendered by the real helm: where the chart is, helm run on it, and
the rendered objects the tests look into (one of a kind, the operator's container). Shared by
the chart's rendering and metrics tests, so that no test module is imported as a library by
another."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import REPOSITORY
from tests.deadlines import PROMPTLY

CHART = REPOSITORY / "charts" / "citykit-operator"


def run_helm(helm: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(helm), *args], check=False, capture_output=True, text=True, timeout=PROMPTLY
    )


def render(helm: Path, *args: str) -> list[dict[str, Any]]:
    result = run_helm(
        helm,
        "template",
        "citykit",
        str(CHART),
        "--namespace",
        "citykit-system",
        "--include-crds",
        *args,
    )
    assert result.returncode == 0, result.stderr
    return [document for document in yaml.safe_load_all(result.stdout) if document]


def one(manifests: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    [found] = [m for m in manifests if m["kind"] == kind]
    return found


def operator_container(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    [container] = one(manifests, "Deployment")["spec"]["template"]["spec"]["containers"]
    return container
