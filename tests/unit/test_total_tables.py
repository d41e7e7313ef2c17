"""Every table keyed by an API enum has an entry for each member: a phase, verdict or area
added to `citykit.api.enums` without a colour, an order or a mark fails here, not in a city's
report (the report once left out Upgrading: "Live 1" over a bar two-thirds blank)."""

from __future__ import annotations

import re
from collections.abc import Collection
from enum import StrEnum
from importlib.resources import files

import pytest

from citykit.api.enums import PHASE_ORDER, Area, Phase, Verdict
from citykit.cli import operate, statusview
from citykit.cli.report import TEMPLATE
from citykit.core.office import report, svg


def missing(table: Collection[str], enum: type[StrEnum]) -> list[str]:
    return [member.value for member in enum if member not in table]


def test_phase_order_holds_every_phase_once() -> None:
    assert sorted(PHASE_ORDER) == sorted(Phase)


def test_report_order_holds_every_phase_and_planned() -> None:
    assert missing(report.PHASE_ORDER, Phase) == []
    assert report.PLANNED in report.PHASE_ORDER
    assert len(set(report.PHASE_ORDER)) == len(report.PHASE_ORDER)


@pytest.mark.parametrize(
    ("table", "enum"),
    [
        (svg.PHASE_STYLE, Phase),
        (svg.VERDICT_STYLE, Verdict),
        (svg.AREA_COLOURS, Area),
        (operate.PHASE_COLOURS, Phase),
        (operate.VERDICT_COLOURS, Verdict),
        (statusview.VERDICT_MARKS, Verdict),
    ],
    ids=lambda value: getattr(value, "__name__", ""),
)
def test_table_has_an_entry_for_every_member(table: Collection[str], enum: type[StrEnum]) -> None:
    assert missing(table, enum) == []


def test_the_report_page_styles_every_verdict() -> None:
    """The page colours a verdict by its CSS class (`verdict-off-track`): a verdict without a
    rule would read in plain ink beside coloured ones."""
    page = (files("citykit") / "templates" / TEMPLATE).read_text()
    styled = set(re.findall(r"\.verdict-([a-z-]+)\s*\{", page))
    assert missing(styled, Verdict) == []


def test_the_report_colours_planned_too() -> None:
    assert report.PLANNED in svg.PHASE_STYLE


def test_a_phase_the_order_does_not_know_is_still_counted() -> None:
    counts = {"Live": 1, "Hibernating": 2}
    assert report.shown_order(counts) == ["Live", "Hibernating"]
