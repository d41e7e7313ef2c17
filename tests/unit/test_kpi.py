"""KPI verdicts (citykit.core.office.kpi): the straight line from baseline to target, the verdict of
each target on a given day, the BindingTargetsOnTrack condition, and what a KpiReport must be.
Time is an argument everywhere; the catalogue is the real one."""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from citykit.api.crd import crds
from citykit.core.load.source import load_file
from citykit.core.model.catalogue import Catalogue, load_catalogue
from citykit.core.office import kpi
from tests.conftest import LOCATED_LINE, read_city, run_cli

D = datetime.date


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue()


def target(kpi_id: str = "digital-identity-adoption", **fields: Any) -> dict[str, Any]:
    """A higher-is-better target by default: 40 (end of 2020) -> 60 (end of 2025)."""
    return {
        "kpi": kpi_id,
        "baseline": 40,
        "baselineYear": 2020,
        "target": 60,
        "year": 2025,
        "commitment": "binding",
        **fields,
    }


def report(kpi_id: str, value: float, when: str, name: str | None = None) -> dict[str, Any]:
    field = "period" if len(when) != 10 else "date"
    return {
        "apiVersion": "citykit.io/v1alpha1",
        "kind": "KpiReport",
        "metadata": {"name": name or f"{kpi_id}-{when}".lower()},
        "spec": {"kpi": kpi_id, field: when, "value": value, "source": "statistics office"},
    }


def status_of(
    catalogue: Catalogue,
    targets: list[dict[str, Any]],
    reports: list[dict[str, Any]],
    today: datetime.date,
    phases: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    return kpi.kpi_status(targets, reports, catalogue, phases or {}, today)


# The line.


def test_line_runs_from_baseline_at_end_of_baseline_year_to_target_at_end_of_due_year() -> None:
    line = kpi.Target.from_dict(target())
    assert line.expected(D(2020, 12, 31)) == 40
    assert line.expected(D(2025, 12, 31)) == 60
    halfway = line.start + (line.due - line.start) / 2
    assert line.expected(halfway) == pytest.approx(50)


def test_line_is_flat_before_the_baseline_and_after_the_due_year() -> None:
    line = kpi.Target.from_dict(target())
    assert line.expected(D(2019, 1, 1)) == 40
    assert line.expected(D(2030, 6, 1)) == 60


def test_line_falls_for_a_lower_is_better_target() -> None:
    line = kpi.Target.from_dict(target("pm25-annual-mean", baseline=20, target=15))
    assert line.expected(D(2023, 1, 1)) == pytest.approx(20 - 5 * (731 / 1826))


def test_baseline_year_defaults_to_five_years_before_the_due_year() -> None:
    item = target()
    del item["baselineYear"]
    assert kpi.Target.from_dict(item).baseline_year == 2020
    assert kpi.DEFAULT_BASELINE_YEARS == 5


# Verdicts.


def test_higher_is_better_above_the_line_is_on_track(catalogue: Catalogue) -> None:
    (status,) = status_of(
        catalogue,
        [target()],
        [report("digital-identity-adoption", 52, "2023-06-30")],
        D(2024, 1, 1),
    )
    assert status["verdict"] == "on-track"
    assert status["latest"] == {
        "value": 52,
        "date": "2023-06-30",
        "source": "statistics office",
        "report": "digital-identity-adoption-2023-06-30",
    }


def test_higher_is_better_below_the_line_is_off_track(catalogue: Catalogue) -> None:
    (status,) = status_of(
        catalogue,
        [target()],
        [report("digital-identity-adoption", 45, "2023-06-30")],
        D(2024, 1, 1),
    )
    assert status["verdict"] == "off-track"
    assert "expected 49" in status["message"]


def test_lower_is_better_below_the_line_is_on_track(catalogue: Catalogue) -> None:
    item = target("pm25-annual-mean", baseline=20, target=15)
    (status,) = status_of(
        catalogue, [item], [report("pm25-annual-mean", 17, "2023")], D(2024, 3, 1)
    )
    assert (status["better"], status["verdict"]) == ("lower", "on-track")


def test_lower_is_better_above_the_line_is_off_track(catalogue: Catalogue) -> None:
    item = target("pm25-annual-mean", baseline=20, target=15)
    (status,) = status_of(
        catalogue, [item], [report("pm25-annual-mean", 19, "2023")], D(2024, 3, 1)
    )
    assert status["verdict"] == "off-track"


def test_a_target_reached_before_its_year_is_met_early(catalogue: Catalogue) -> None:
    (status,) = status_of(
        catalogue, [target()], [report("digital-identity-adoption", 61, "2022-Q4")], D(2023, 2, 1)
    )
    assert status["verdict"] == "met"
    assert "early" in status["message"]


def test_a_lower_is_better_target_reached_is_met(catalogue: Catalogue) -> None:
    item = target("pm25-annual-mean", baseline=20, target=15)
    (status,) = status_of(
        catalogue, [item], [report("pm25-annual-mean", 15, "2024")], D(2025, 2, 1)
    )
    assert status["verdict"] == "met"


def test_no_report_is_no_data(catalogue: Catalogue) -> None:
    (status,) = status_of(catalogue, [target()], [], D(2024, 1, 1))
    assert status["verdict"] == "no-data"
    assert "latest" not in status
    assert status["expected"] == pytest.approx(
        kpi.rounded(kpi.Target.from_dict(target()).expected(D(2024, 1, 1)))
    )


def test_reports_of_other_kpis_are_no_data_for_this_one(catalogue: Catalogue) -> None:
    (status,) = status_of(
        catalogue, [target()], [report("online-service-uptake", 99, "2023")], D(2024, 1, 1)
    )
    assert status["verdict"] == "no-data"


def test_a_target_year_passed_unmet_is_off_track_even_if_it_was_on_the_line(
    catalogue: Catalogue,
) -> None:
    on_line = [report("digital-identity-adoption", 59.8, "2025-11-30")]  # the line: 59.66
    (before,) = status_of(catalogue, [target()], on_line, D(2025, 12, 31))
    (after,) = status_of(catalogue, [target()], on_line, D(2026, 1, 1))
    assert (before["verdict"], after["verdict"]) == ("on-track", "off-track")
    assert "2025 has passed unmet" in after["message"]


def test_a_target_year_passed_and_met_stays_met(catalogue: Catalogue) -> None:
    (status,) = status_of(
        catalogue, [target()], [report("digital-identity-adoption", 60, "2025")], D(2027, 1, 1)
    )
    assert status["verdict"] == "met"


def test_the_latest_report_decides_not_the_best(catalogue: Catalogue) -> None:
    reports = [
        report("digital-identity-adoption", 62, "2022"),
        report("digital-identity-adoption", 41, "2023-03-31"),
    ]
    (status,) = status_of(catalogue, [target()], reports, D(2023, 6, 1))
    assert (status["latest"]["value"], status["verdict"]) == (41, "off-track")


def test_a_period_counts_as_measured_on_its_last_day(catalogue: Catalogue) -> None:
    reports = [
        report("digital-identity-adoption", 50, "2023-Q3"),  # 2023-09-30
        report("digital-identity-adoption", 45, "2023-09-15"),
    ]
    (status,) = status_of(catalogue, [target()], reports, D(2024, 1, 1))
    assert status["latest"]["date"] == "2023-09-30"
    assert [kpi.parse_day(p) for p in ("2024", "2024-Q1", "2024-02", "2024-02-30")] == [
        D(2024, 12, 31),
        D(2024, 3, 31),
        D(2024, 2, 29),
        None,
    ]


def test_a_report_dated_after_today_is_ignored_until_its_day(catalogue: Catalogue) -> None:
    reports = [report("digital-identity-adoption", 61, "2024-06-30")]
    (before,) = status_of(catalogue, [target()], reports, D(2024, 6, 29))
    (on_the_day,) = status_of(catalogue, [target()], reports, D(2024, 6, 30))
    assert (before["verdict"], on_the_day["verdict"]) == ("no-data", "met")


def test_malformed_reports_are_left_out(catalogue: Catalogue) -> None:
    broken = report("digital-identity-adoption", 61, "2023")
    broken["spec"]["value"] = "lots"
    (status,) = status_of(catalogue, [target()], [broken, {"spec": {}}], D(2024, 1, 1))
    assert status["verdict"] == "no-data"


def test_initiatives_that_move_the_kpi_are_listed_with_their_phases(catalogue: Catalogue) -> None:
    phases = {
        "government.digital-identity": "Pilot",
        "mobility.smart-parking": "Live",
    }
    (status,) = status_of(catalogue, [target()], [], D(2024, 1, 1), phases)
    assert status["initiatives"] == [{"ref": "government.digital-identity", "phase": "Pilot"}]
    assert "digital-identity-adoption" in catalogue.entries["government.digital-identity"].kpis


def test_status_carries_the_catalogue_facts_and_the_target(catalogue: Catalogue) -> None:
    (status,) = status_of(catalogue, [target()], [], D(2024, 1, 1))
    facts = catalogue.kpis["digital-identity-adoption"]
    assert (status["title"], status["unit"], status["better"]) == (
        facts.title,
        facts.unit,
        "higher",
    )
    assert {k: status[k] for k in ("baseline", "baselineYear", "target", "year")} == {
        "baseline": 40,
        "baselineYear": 2020,
        "target": 60,
        "year": 2025,
    }


def test_status_is_the_same_for_the_same_day(catalogue: Catalogue) -> None:
    """An idle operator computes the same status again and writes nothing."""
    city = read_city("hong-kong")["spec"]
    reports = [report("pm25-annual-mean", 18, "2025")]
    first = status_of(catalogue, city["kpiTargets"], reports, D(2026, 3, 1))
    assert first == status_of(catalogue, city["kpiTargets"], list(reversed(reports)), D(2026, 3, 1))


# The condition.


def kpis_with(*verdicts: tuple[str, str, str]) -> list[dict[str, Any]]:
    return [
        {"kpi": name, "commitment": commitment, "verdict": verdict, "message": f"{name} says why"}
        for name, commitment, verdict in verdicts
    ]


def test_binding_condition_is_false_listing_each_off_track_binding_target() -> None:
    condition = kpi.binding_condition(
        kpis_with(
            ("pm25-annual-mean", "binding", "off-track"),
            ("public-ev-chargers", "binding", "on-track"),
            ("online-service-uptake", "binding", "off-track"),
            ("waste-recycling-rate", "expected", "off-track"),
        )
    )
    assert (condition.status, condition.reason) == (False, "BindingTargetsOffTrack")
    assert condition.off_track == ("pm25-annual-mean", "online-service-uptake")
    assert "2 of 3 binding targets off track" in condition.message
    assert "pm25-annual-mean: pm25-annual-mean says why" in condition.message
    assert "waste-recycling-rate" not in condition.message


def test_binding_condition_ignores_expected_targets_off_track() -> None:
    condition = kpi.binding_condition(
        kpis_with(
            ("pm25-annual-mean", "binding", "met"),
            ("public-ev-chargers", "binding", "no-data"),
            ("waste-recycling-rate", "expected", "off-track"),
        )
    )
    assert (condition.status, condition.reason) == (True, "BindingTargetsOnTrack")
    assert condition.message == "2 binding targets: 1 met, 1 no data"


def test_binding_condition_without_binding_targets_holds() -> None:
    condition = kpi.binding_condition(kpis_with(("waste-recycling-rate", "expected", "off-track")))
    assert (condition.status, condition.reason) == (True, "NoBindingTargets")


# What a KpiReport must be.


@pytest.fixture
def report_file(tmp_path: Path) -> Callable[[str], Path]:
    def write(spec_lines: str) -> Path:
        path = tmp_path / "report.yaml"
        path.write_text(
            "apiVersion: citykit.io/v1alpha1\nkind: KpiReport\nmetadata:\n  name: r\nspec:\n"
            + spec_lines
        )
        return path

    return write


NEW_YEAR_2026 = D(2026, 1, 1)


def problems_in(
    path: Path, catalogue: Catalogue, today: datetime.date = NEW_YEAR_2026
) -> list[str]:
    return [str(p) for p in kpi.check_report(load_file(path), catalogue, today)]


def test_a_good_report_has_no_problems(
    report_file: Callable[[str], Path], catalogue: Catalogue
) -> None:
    path = report_file("  kpi: pm25-annual-mean\n  period: '2025'\n  value: 17.2\n  source: EPD\n")
    assert problems_in(path, catalogue) == []


def test_report_with_an_unknown_kpi_is_refused_at_its_line(
    report_file: Callable[[str], Path], catalogue: Catalogue
) -> None:
    path = report_file("  kpi: pm25-anual-mean\n  date: 2025-06-30\n  value: 17\n  source: EPD\n")
    (problem,) = problems_in(path, catalogue)
    assert re.match(LOCATED_LINE, problem)
    assert problem.startswith(f"{path}:6:3: spec.kpi: unknown KPI 'pm25-anual-mean'")
    assert "did you mean 'pm25-annual-mean'" in problem


@pytest.mark.parametrize(("option", "text"), [("--date", "30/06/2025"), ("--period", "2025-Q5")])
def test_kpi_record_refuses_a_malformed_date_or_period_before_it_asks_the_cluster(
    option: str, text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-such-kubeconfig"))
    result = run_cli("kpi", "record", "tallinn", "pm25-annual-mean", "7", option, text)
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"{option}: '{text}' does not match "), line


def test_report_with_a_percent_over_100_is_refused(
    report_file: Callable[[str], Path], catalogue: Catalogue
) -> None:
    path = report_file(
        "  kpi: online-service-uptake\n  period: 2025-Q1\n  value: 120\n  source: x\n"
    )
    (problem,) = problems_in(path, catalogue)
    assert f"{path}:8:3: spec.value: 120 is outside percent (0..100)" in problem


def test_report_with_a_negative_time_is_refused(
    report_file: Callable[[str], Path], catalogue: Catalogue
) -> None:
    path = report_file("  kpi: average-commute-time\n  period: '2025'\n  value: -3\n  source: x\n")
    (problem,) = problems_in(path, catalogue)
    assert "spec.value: -3 is outside minutes (at least 0)" in problem


def test_a_temperature_difference_may_be_negative(
    report_file: Callable[[str], Path], catalogue: Catalogue
) -> None:
    path = report_file(
        "  kpi: urban-heat-island-intensity\n  period: '2025'\n  value: -0.4\n  source: x\n"
    )
    assert problems_in(path, catalogue) == []


def test_report_dated_in_the_future_is_refused(
    report_file: Callable[[str], Path], catalogue: Catalogue
) -> None:
    path = report_file("  kpi: pm25-annual-mean\n  date: 2026-01-02\n  value: 17\n  source: x\n")
    (problem,) = problems_in(path, catalogue, today=D(2026, 1, 1))
    assert "spec.date: 2026-01-02 is in the future (today is 2026-01-01)" in problem


def test_report_of_a_period_not_yet_over_is_refused(
    report_file: Callable[[str], Path], catalogue: Catalogue
) -> None:
    path = report_file("  kpi: pm25-annual-mean\n  period: '2026'\n  value: 17\n  source: x\n")
    (problem,) = problems_in(path, catalogue, today=D(2026, 6, 1))
    assert "spec.period: 2026 ends in the future" in problem


def test_report_with_both_date_and_period_is_refused(
    report_file: Callable[[str], Path], catalogue: Catalogue
) -> None:
    path = report_file(
        "  kpi: pm25-annual-mean\n  date: 2025-01-01\n  period: '2025'\n  value: 17\n  source: x\n"
    )
    (problem,) = problems_in(path, catalogue)
    assert "spec: give exactly one of date (a day) or period" in problem


def test_report_of_an_impossible_day_is_refused(
    report_file: Callable[[str], Path], catalogue: Catalogue
) -> None:
    path = report_file("  kpi: pm25-annual-mean\n  date: '2025-02-30'\n  value: 17\n  source: x\n")
    (problem,) = problems_in(path, catalogue)
    assert "spec.date: '2025-02-30' is not a day of the calendar" in problem


def test_report_schema_refuses_a_missing_source_and_a_bad_period(
    report_file: Callable[[str], Path], catalogue: Catalogue
) -> None:
    path = report_file("  kpi: pm25-annual-mean\n  period: 2025-H1\n  value: 17\n")
    problems = problems_in(path, catalogue)
    assert any("spec: missing required field 'source'" in p for p in problems)
    assert any("spec.period: '2025-H1' does not match" in p for p in problems)


def test_report_a_city_neither_targets_nor_moves_is_refused_for_that_city(
    catalogue: Catalogue,
) -> None:
    city = read_city("hong-kong")["spec"]
    allowed = kpi.city_kpis(city["kpiTargets"], [i["ref"] for i in city["initiatives"]], catalogue)
    # face recognition's KPI: Hong Kong runs no face recognition and sets it no target
    spec = {"kpi": "facility-access-time", "period": "2025", "value": 2, "source": "x"}
    ((path, message),) = kpi.report_problems(spec, catalogue, D(2026, 1, 1), allowed)
    assert path == ("spec", "kpi")
    assert "neither targets nor moves KPI 'facility-access-time'" in message
    assert "pm25-annual-mean" in allowed and "intersection-delay" in allowed  # moved, untargeted


def test_crd_rules_name_every_catalogue_kpi_and_its_unit_range(catalogue: Catalogue) -> None:
    spec = crds()["kpireports.citykit.io.yaml"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    rules: dict[str, str] = {}
    for rule in spec["properties"]["spec"]["x-kubernetes-validations"]:
        rules[rule.get("fieldPath", "")] = rules.get(rule.get("fieldPath", ""), "") + rule["rule"]
    assert all(f"'{name}'" in rules[".kpi"] for name in catalogue.kpis)
    percent = [name for name, facts in catalogue.kpis.items() if facts.unit == "percent"]
    assert percent and all(f"'{name}'" in rules[".value"] for name in percent)


# baselineYear in a blueprint.


def test_blueprint_baseline_year_not_before_the_due_year_is_refused(
    city_variant: Callable[..., Path],
) -> None:
    def edit(data: dict[str, Any]) -> None:
        data["spec"]["kpiTargets"][0]["baselineYear"] = data["spec"]["kpiTargets"][0]["year"]

    result = run_cli("validate", str(city_variant("hong-kong", edit)))
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert re.match(LOCATED_LINE, line)
    assert "spec.kpiTargets[0].baselineYear: baselineYear 2026 must be before" in line


def test_blueprint_with_a_baseline_year_validates(city_variant: Callable[..., Path]) -> None:
    def edit(data: dict[str, Any]) -> None:
        data["spec"]["kpiTargets"][0]["baselineYear"] = 2021

    assert run_cli("validate", str(city_variant("hong-kong", edit))).exit_code == 0
