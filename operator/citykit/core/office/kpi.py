"""KPI verdicts: a city's measured KpiReports folded with its blueprint's KPI targets (pure).

A target runs on a straight line from its baseline, measured by the end of `baselineYear`
(default: five years before the due year, a five-year plan), to its target value by the end
of `year`. For each target the latest report decides the verdict:

- `met`: the latest value reaches the target (in the KPI's better direction), early or not;
- `off-track`: the due year has passed without that, or the latest value is worse than the
  line expected on the day it was measured;
- `on-track`: otherwise (at least as good as the line then; annual statistics published
  months later are judged against their own day, not against today);
- `no-data`: no report yet.

`expected` is the line's value today, for the programme office's table. Time is an argument
(`today`), so the verdicts change at most once a day and are unit-tested without a clock.
A report dated after `today` is ignored until its day comes (the API server cannot refuse a
future date: CEL has no clock).
"""

from __future__ import annotations

import calendar
import datetime
import difflib
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from citykit.api import jsonschemas
from citykit.api.crd import PERCENT_UNIT, SIGNED_UNITS
from citykit.api.enums import Commitment, Reason, Verdict
from citykit.core.load import schemas
from citykit.core.load.errors import Problem, listing, number_text, shown
from citykit.core.load.source import Document, FieldPath
from citykit.core.model.catalogue import Catalogue

DEFAULT_BASELINE_YEARS = 5


@dataclass(frozen=True)
class Target:
    """One `spec.kpiTargets[]` item, `baselineYear` defaulted."""

    kpi: str
    baseline: float
    baseline_year: int
    target: float
    year: int
    commitment: str

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Target:
        return cls(
            kpi=data["kpi"],
            baseline=data["baseline"],
            baseline_year=data.get("baselineYear", data["year"] - DEFAULT_BASELINE_YEARS),
            target=data["target"],
            year=data["year"],
            commitment=data["commitment"],
        )

    @property
    def start(self) -> datetime.date:
        """When the line starts: the baseline, by the end of its year."""
        return datetime.date(self.baseline_year, 12, 31)

    @property
    def due(self) -> datetime.date:
        """When the target is due: the end of its year."""
        return datetime.date(self.year, 12, 31)

    def expected(self, day: datetime.date) -> float:
        """The value on the straight line from baseline to target on `day` (flat outside)."""
        span = (self.due - self.start).days
        done = min(max((day - self.start).days / span, 0.0), 1.0) if span > 0 else 1.0
        return self.baseline + (self.target - self.baseline) * done


@dataclass(frozen=True)
class Observation:
    """One KpiReport as the verdicts read it."""

    kpi: str
    value: float
    day: datetime.date  # the date measured, or the last day of the period
    when: str  # as written: `2025-06-30`, `2025-Q2`, `2025`
    source: str
    report: str

    @classmethod
    def from_report(cls, report: Mapping[str, Any]) -> Observation | None:
        """The observation a KpiReport object holds, or None when it is malformed (the API
        server's schema refuses those; a hand-made dict in a test may still hold one)."""
        spec = report.get("spec") or {}
        when = spec.get("date") or spec.get("period")
        value = spec.get("value")
        if not isinstance(when, str) or isinstance(value, bool):
            return None
        if not isinstance(value, int | float) or not math.isfinite(value):
            return None
        day = parse_day(when)
        if day is None or not isinstance(spec.get("kpi"), str):
            return None
        return cls(
            spec["kpi"],
            value,
            day,
            when,
            str(spec.get("source", "")),
            str((report.get("metadata") or {}).get("name", "")),
        )


def parse_day(when: str) -> datetime.date | None:
    """`2025-06-30` -> that day; a period (`2025`, `2025-Q3`, `2025-07`) -> its last day;
    None when `when` is neither."""
    try:
        if len(when) == 10:
            return datetime.date.fromisoformat(when)
        year = int(when[:4])
        if len(when) == 4 and when.isdigit():
            return datetime.date(year, 12, 31)
        if len(when) == 7 and when[4:6] == "-Q" and when[6] in "1234":
            month = int(when[6]) * 3
        elif len(when) == 7 and when[4] == "-" and when[5:].isdigit():
            month = int(when[5:])
        else:
            return None
        return datetime.date(year, month, calendar.monthrange(year, month)[1])
    except ValueError:
        return None


def observations(reports: Iterable[Mapping[str, Any]]) -> list[Observation]:
    """Every well-formed report, oldest first (same day: by report name)."""
    found = [obs for obs in map(Observation.from_report, reports) if obs is not None]
    return sorted(found, key=lambda obs: (obs.day, obs.report))


def at_least(value: float, reference: float, better: str) -> bool:
    """Whether `value` is as good as `reference` or better, for a KPI where `better` is
    `lower` or `higher` (equal within rounding counts as reached)."""
    slack = 1e-9 * max(abs(value), abs(reference), 1.0)
    return value <= reference + slack if better == "lower" else value >= reference - slack


def _direction(target: Target, catalogue: Catalogue) -> tuple[str, str, str]:
    """(title, unit, better) from the catalogue; for a KPI it lacks, from the target itself."""
    kpi = catalogue.kpis.get(target.kpi)
    if kpi is not None:
        return kpi.title, kpi.unit, kpi.better
    return target.kpi, "", "lower" if target.target < target.baseline else "higher"


def rounded(value: float) -> float:
    """Four significant digits: enough for a table and a chart, and it keeps the status still
    between days on which the line barely moves."""
    return float(f"{value:.4g}")


def verdict(
    target: Target, better: str, latest: Observation | None, today: datetime.date
) -> tuple[Verdict, str]:
    """(verdict, why) for one target given its latest observation up to `today`."""
    goal = number_text(target.target)
    if latest is None:
        passed = " and its due year has passed" if today > target.due else ""
        return Verdict.NO_DATA, f"no KpiReport for {target.kpi} yet{passed}"
    seen = f"{number_text(latest.value)} {'on' if len(latest.when) == 10 else 'in'} {latest.when}"
    if at_least(latest.value, target.target, better):
        early = " early" if latest.day < target.due else ""
        return Verdict.MET, f"{seen} reaches the target {goal}{early}"
    if today > target.due:
        return Verdict.OFF_TRACK, f"{target.year} has passed unmet: {seen}, target {goal}"
    then = number_text(rounded(target.expected(latest.day)))
    if at_least(latest.value, target.expected(latest.day), better):
        return Verdict.ON_TRACK, f"{seen}; the line to {goal} by {target.year} expected {then} then"
    return Verdict.OFF_TRACK, f"{seen}; the line to {goal} by {target.year} expected {then} then"


def kpi_status(
    targets: Sequence[Mapping[str, Any]],
    reports: Iterable[Mapping[str, Any]],
    catalogue: Catalogue,
    initiative_phases: Mapping[str, str],
    today: datetime.date,
) -> list[dict[str, Any]]:
    """`status.kpis`: each of `targets` (a blueprint's `spec.kpiTargets`) folded with the
    city's KpiReport objects (`reports`), in target order.

    `initiative_phases` maps each of the blueprint's enabled initiatives (catalogue ref) to
    its phase; the ones whose catalogue entry moves a KPI are listed with it. Reports of
    other KPIs, malformed ones and those dated after `today` are left out."""
    seen = [obs for obs in observations(reports) if obs.day <= today]
    latest: dict[str, Observation] = {obs.kpi: obs for obs in seen}  # oldest first: last wins
    result = []
    for item in targets:
        target = Target.from_dict(item)
        title, unit, better = _direction(target, catalogue)
        found = latest.get(target.kpi)
        outcome, why = verdict(target, better, found, today)
        status: dict[str, Any] = {
            "kpi": target.kpi,
            "title": title,
            "unit": unit,
            "better": better,
            "commitment": target.commitment,
            "baseline": target.baseline,
            "baselineYear": target.baseline_year,
            "target": target.target,
            "year": target.year,
            "expected": rounded(target.expected(today)),
            "verdict": str(outcome),
            "message": why,
            "initiatives": [
                {"ref": ref, "phase": str(initiative_phases[ref])}
                for ref in sorted(initiative_phases)
                if ref in catalogue.entries and target.kpi in catalogue.entries[ref].kpis
            ],
        }
        if found is not None:
            status["latest"] = {
                "value": found.value,
                "date": found.day.isoformat(),
                "source": found.source,
                "report": found.report,
            }
        result.append(status)
    return result


@dataclass(frozen=True)
class BindingCondition:
    """The `BindingTargetsOnTrack` condition's content; the operator sets it with
    `set_condition(conditions, ConditionType.BINDING_TARGETS_ON_TRACK, c.status, c.reason,
    c.message, ...)`."""

    status: bool
    reason: Reason
    message: str
    off_track: tuple[str, ...]  # KPI ids of the binding targets off track


def binding_condition(kpis: Sequence[Mapping[str, Any]]) -> BindingCondition:
    """False, listing them, when any binding target is off track; else True, with counts."""
    binding = [item for item in kpis if item["commitment"] == Commitment.BINDING]
    off = [item for item in binding if item["verdict"] == Verdict.OFF_TRACK]
    if off:
        details = "; ".join(f"{item['kpi']}: {item['message']}" for item in off)
        return BindingCondition(
            False,
            Reason.BINDING_TARGETS_OFF_TRACK,
            f"{len(off)} of {len(binding)} binding targets off track: {details}",
            tuple(item["kpi"] for item in off),
        )
    if not binding:
        return BindingCondition(True, Reason.NO_BINDING_TARGETS, "no binding KPI targets", ())
    counts = {name: sum(item["verdict"] == name for item in binding) for name in Verdict}
    parts = [f"{counts[name]} {name.replace('-', ' ')}" for name in Verdict if counts[name]]
    return BindingCondition(
        True,
        Reason.BINDING_TARGETS_ON_TRACK,
        f"{len(binding)} binding targets: {', '.join(parts)}",
        (),
    )


# Checking one KpiReport (a file a pipeline will `kubectl apply`, or what `kpi record` builds).


def value_range(unit: str) -> tuple[float | None, float | None]:
    """(lowest, highest) value a KPI in `unit` can take; the CRD's CEL rules say the same."""
    if unit == PERCENT_UNIT:
        return 0.0, 100.0
    if unit in SIGNED_UNITS:
        return None, None
    return 0.0, None


def report_problems(
    spec: Mapping[str, Any],
    catalogue: Catalogue,
    today: datetime.date,
    city_kpis: Collection[str] | None = None,
) -> list[tuple[FieldPath, str]]:
    """What is wrong with a schema-valid KpiReport `spec` beyond its schema: an unknown KPI
    (or, given `city_kpis`, one the city neither targets nor moves), a value outside its
    unit's range, no date or period or both, an impossible or future day."""
    found: list[tuple[FieldPath, str]] = []
    kpi = catalogue.kpis.get(spec["kpi"])
    if kpi is None:
        found.append(
            (
                ("spec", "kpi"),
                f"unknown KPI {shown(spec['kpi'])}{_close(spec['kpi'], catalogue.kpis)}",
            )
        )
    elif city_kpis is not None and spec["kpi"] not in city_kpis:
        found.append(
            (
                ("spec", "kpi"),
                f"the city neither targets nor moves KPI {shown(spec['kpi'])} "
                f"(its KPIs: {listing(sorted(city_kpis), limit=12) or 'none'})",
            )
        )
    if kpi is not None:
        low, high = value_range(kpi.unit)
        value = spec["value"]
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = (
                f"{number_text(low or 0)}..{number_text(high)}"
                if high is not None
                else f"at least {number_text(low or 0)}"
            )
            found.append(
                (
                    ("spec", "value"),
                    f"{shown(value)} is outside {kpi.unit} ({bounds}) for {kpi.title}",
                )
            )
    has_date, has_period = "date" in spec, "period" in spec
    if has_date == has_period:
        found.append(
            (("spec",), "give exactly one of date (a day) or period (a year, quarter or month)")
        )
    for field in ("date", "period"):
        if field not in spec:
            continue
        day = parse_day(spec[field])
        if day is None:
            found.append((("spec", field), f"{shown(spec[field])} is not a day of the calendar"))
        elif day > today:
            ends = " ends" if field == "period" else " is"
            found.append(
                (
                    ("spec", field),
                    f"{spec[field]}{ends} in the future (today is {today.isoformat()}); "
                    "record a value once it is measured",
                )
            )
    return found


def check_report(
    document: Document,
    catalogue: Catalogue,
    today: datetime.date,
    city_kpis: Collection[str] | None = None,
) -> list[Problem]:
    """Every problem of a KpiReport document, located: schema first, then `report_problems`."""
    problems = schemas.check(document, jsonschemas.KPI_REPORT)
    if problems:
        return problems
    return sorted(
        document.problem(path, message)
        for path, message in report_problems(document.data["spec"], catalogue, today, city_kpis)
    )


def city_kpis(
    targets: Iterable[Mapping[str, Any]], refs: Iterable[str], catalogue: Catalogue
) -> set[str]:
    """The KPIs a city may report: those it targets and those its initiatives (`refs`) move."""
    moved = {kpi for ref in refs if ref in catalogue.entries for kpi in catalogue.entries[ref].kpis}
    return {item["kpi"] for item in targets} | moved


def _close(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""
