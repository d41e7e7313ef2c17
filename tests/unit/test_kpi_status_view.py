"""The KPI table of `citykit status` (cli.statusview), built from `status.kpis` as
core.office.kpi.kpi_status writes it for Hong Kong's targets; and `citykit kpi check` on files."""

from __future__ import annotations

import datetime
import re
from pathlib import Path
from typing import Any

import pytest

from citykit.cli.statusview import kpi_rows, kpi_summary
from citykit.core.model.catalogue import load_catalogue
from citykit.core.office.kpi import kpi_status
from tests.conftest import LOCATED_LINE, read_city, run_cli

TODAY = datetime.date(2026, 6, 30)


def report(kpi: str, when: dict[str, str], value: float) -> dict[str, Any]:
    return {"metadata": {"name": kpi}, "spec": {"kpi": kpi, **when, "value": value, "source": "x"}}


@pytest.fixture(scope="module")
def hong_kong_kpis() -> list[dict[str, Any]]:
    spec = read_city("hong-kong")["spec"]
    reports = [
        report("pm25-annual-mean", {"period": "2025"}, 21),
        report("online-service-uptake", {"date": "2026-03-31"}, 91),
    ]
    phases = {item["ref"]: "Live" for item in spec["initiatives"]}
    phases["government.digital-identity"] = "Pilot"
    return kpi_status(spec["kpiTargets"], reports, load_catalogue(), phases, TODAY)


def test_one_row_per_target_binding_first(hong_kong_kpis: list[dict[str, Any]]) -> None:
    table = kpi_rows(hong_kong_kpis)
    assert sorted(row.kpi for row in table) == sorted(k["kpi"] for k in hong_kong_kpis)
    commitments = [row.commitment for row in table]
    assert commitments == sorted(commitments, key=lambda c: c != "binding")


def test_rows_say_the_verdict_in_words_beside_any_colour(
    hong_kong_kpis: list[dict[str, Any]],
) -> None:
    rows = {row.kpi: row for row in kpi_rows(hong_kong_kpis)}
    assert rows["pm25-annual-mean"].verdict.endswith("off-track")
    assert rows["online-service-uptake"].verdict.endswith("met")
    assert rows["online-service-uptake"].latest == "91 (2026-03-31)"
    assert rows["public-ev-chargers"].verdict.endswith("no-data")
    assert rows["public-ev-chargers"].latest == "-"


def test_rows_count_the_initiatives_moving_each_kpi_by_phase(
    hong_kong_kpis: list[dict[str, Any]],
) -> None:
    rows = {row.kpi: row for row in kpi_rows(hong_kong_kpis)}
    assert rows["digital-identity-adoption"].moved_by == "1: Pilot 1"
    assert rows["pm25-annual-mean"].target == "15 µg/m³ by 2030"


def test_summary_counts_verdicts_per_commitment(hong_kong_kpis: list[dict[str, Any]]) -> None:
    binding = [k["verdict"] for k in hong_kong_kpis if k["commitment"] == "binding"]
    text = kpi_summary(hong_kong_kpis)
    assert text.startswith("binding: ")
    assert f"{binding.count('off-track')} off-track" in text
    assert kpi_summary([]) == "no KPI targets"


def test_kpi_check_passes_a_good_file_and_locates_a_bad_one(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    head = "apiVersion: citykit.io/v1alpha1\nkind: KpiReport\nmetadata:\n  name: r\nspec:\n"
    good.write_text(
        head + "  kpi: pm25-annual-mean\n  period: '2024'\n  value: 18\n  source: EPD\n"
    )
    bad.write_text(head + "  kpi: pm25-annual-mean\n  period: '2024'\n  value: -1\n  source: EPD\n")
    assert run_cli("kpi", "check", str(good)).exit_code == 0
    result = run_cli("kpi", "check", str(good), str(bad))
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert re.match(LOCATED_LINE, line)
    assert line.startswith(f"{bad}:8:3: spec.value: -1 is outside")
