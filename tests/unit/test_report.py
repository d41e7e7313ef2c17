"""`citykit report`: what core.office.report assembles from a blueprint and what the cluster
holds, and the page cli.report renders from it: self-contained, accessible, escaped. Parsed
with the standard library's HTML parser, not matched as text. (The page in a real browser is
in tests/integration/test_kpi.py.)"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from citykit.cli.report import render
from citykit.core.model.validation import ValidatedBlueprint, validate_file
from citykit.core.office.report import assemble
from citykit.core.office.svg import Flow, sharing_graph
from citykit.resources import example_cities
from tests.conftest import read_city, run_cli

TODAY = datetime.date(2026, 6, 30)
NOW = datetime.datetime(2026, 6, 30, 9, 0, tzinfo=datetime.UTC)


class Page(HTMLParser):
    """Every element with its attributes, the text inside each tag name, and the nesting."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: dict[str, list[str]] = {}
        self.stack: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        if tag not in ("meta", "br", "line", "circle", "rect", "polyline", "path"):
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if tag in self.stack:
            while self.stack and self.stack.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        for tag in set(self.stack):
            self.text.setdefault(tag, []).append(data)

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.elements if name == tag]

    def words(self, tag: str = "body") -> str:
        return " ".join(" ".join(self.text.get(tag, [])).split())


@pytest.fixture(scope="module")
def hong_kong() -> ValidatedBlueprint:
    return validate_file(example_cities()["hong-kong"])


def kpi_report(kpi: str, when: str, value: float) -> dict[str, Any]:
    field = "date" if len(when) == 10 else "period"
    return {
        "metadata": {"name": f"{kpi}-{when}".lower()},
        "spec": {"kpi": kpi, field: when, "value": value, "source": "statistics office"},
    }


def initiative(ref: str, phase: str, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": ref.replace(".", "-")},
        "spec": {"ref": ref},
        "status": {"phase": phase, **status},
    }


def rolling_out(hong_kong: ValidatedBlueprint, **read: Any) -> dict[str, Any]:
    """The report of Hong Kong rolling out, from what was read of the cluster (`read`)."""
    return assemble(
        hong_kong,
        today=TODAY,
        generated=NOW,
        source="the cluster",
        blueprint_status={"phase": "RollingOut"},
        **read,
    )


@pytest.fixture(scope="module")
def rolled_out(hong_kong: ValidatedBlueprint) -> dict[str, Any]:
    """Hong Kong part way through: a few initiatives live or piloting, three KPIs measured,
    the operator's Events for two transitions."""
    initiatives = [
        initiative("government.data-exchange", "Live", wave="citywide", ready="2/2"),
        initiative(
            "government.digital-identity",
            "Pilot",
            wave="pilot",
            ready="1/1",
            pilotHealthySince="2026-06-29T08:00:00Z",
        ),
    ]
    events = [
        {
            "involvedObject": {"kind": "Initiative", "name": "government-data-exchange"},
            "reason": "Live",
            "message": "citywide and ready",
            "type": "Normal",
            "lastTimestamp": "2026-06-29T07:00:00Z",
        },
        {
            "involvedObject": {"kind": "Initiative", "name": "government-digital-identity"},
            "reason": "Pilot",
            "message": "piloting in central-western",
            "type": "Normal",
            "lastTimestamp": "2026-06-29T07:30:00Z",
        },
        {  # another city's: not in this report
            "involvedObject": {"kind": "CityBlueprint", "name": "tallinn"},
            "reason": "Live",
            "message": "x",
            "type": "Normal",
            "lastTimestamp": "2026-06-29T06:00:00Z",
        },
    ]
    reports = [
        kpi_report("digital-identity-adoption", "2025", 50),
        kpi_report("digital-identity-adoption", "2026-03-31", 57),
        kpi_report("pm25-annual-mean", "2025", 19.9),
        kpi_report("online-service-uptake", "2026-05-31", 91),
    ]
    return rolling_out(hong_kong, initiatives=initiatives, reports=reports, events=events)


def test_plan_only_report_lists_every_initiative_as_planned(hong_kong: ValidatedBlueprint) -> None:
    content = assemble(hong_kong, today=TODAY, generated=NOW, source="file")
    refs = [item["ref"] for item in read_city("hong-kong")["spec"]["initiatives"]]
    assert sorted(row["ref"] for row in content["initiatives"]) == sorted(refs)
    assert {row["phase"] for row in content["initiatives"]} == {"Planned"}
    assert content["plan_only"] and content["timeline"] == []


def test_plan_steps_start_nothing_before_what_it_depends_on(hong_kong: ValidatedBlueprint) -> None:
    content = assemble(hong_kong, today=TODAY, generated=NOW, source="file")
    step_of = {ref: index for index, step in enumerate(content["plan_steps"]) for ref in step}
    for row in content["initiatives"]:
        assert all(step_of[need] < step_of[row["ref"]] for need in row["depends_on"])


def test_areas_count_live_initiatives(rolled_out: dict[str, Any]) -> None:
    government = next(area for area in rolled_out["areas"] if area["id"] == "government")
    assert government["live"] == 1
    assert "Live 1" in government["phases"] and "Pilot 1" in government["phases"]


def test_kpis_fold_the_reports_when_status_has_none(rolled_out: dict[str, Any]) -> None:
    verdicts = {item["kpi"]: item["verdict"] for item in rolled_out["kpis"]}
    assert verdicts["online-service-uptake"] == "met"
    assert verdicts["pm25-annual-mean"] == "off-track"  # 19.9 at the end of 2025, the baseline 19.5
    assert verdicts["public-ev-chargers"] == "no-data"
    assert not rolled_out["binding"]["holds"]


def test_kpis_come_from_status_when_the_operator_wrote_them(hong_kong: ValidatedBlueprint) -> None:
    written = assemble(
        hong_kong, today=TODAY, generated=NOW, source="the cluster", blueprint_status={}
    )["kpis"]
    written[0] = {**written[0], "verdict": "met", "message": "the operator says so"}
    content = assemble(
        hong_kong,
        today=TODAY,
        generated=NOW,
        source="the cluster",
        blueprint_status={"kpis": [dict(item) for item in written]},
    )
    assert content["kpis"][0]["message"] == "the operator says so"


def test_timeline_holds_this_citys_events_and_status_transitions_in_order(
    rolled_out: dict[str, Any],
) -> None:
    timeline = rolled_out["timeline"]
    assert [entry["time"] for entry in timeline] == sorted(entry["time"] for entry in timeline)
    whats = [(entry["subject"], entry["what"]) for entry in timeline]
    assert ("government.data-exchange", "→ Live") in whats
    assert ("government.digital-identity", "pilot healthy") in whats
    assert not any("tallinn" in entry["subject"] for entry in timeline)


def test_timeline_shows_an_initiative_going_live_from_its_ready_condition_without_events(
    hong_kong: ValidatedBlueprint,
) -> None:
    ready = {
        "type": "Ready",
        "status": "True",
        "reason": "Live",
        "message": "live in all 18 districts",
        "lastTransitionTime": "2026-06-29T07:00:00Z",
    }
    live = initiative("government.data-exchange", "Live", conditions=[ready])
    timeline = rolling_out(hong_kong, initiatives=[live])["timeline"]
    assert [(e["subject"], e["what"], e["time"][:10]) for e in timeline] == [
        ("government.data-exchange", "→ Live", "2026-06-29")
    ]


def test_jurisdiction_rows_carry_the_consent_and_retention_workloads_get(
    rolled_out: dict[str, Any],
) -> None:
    rows = {row["ref"]: row for row in rolled_out["jurisdiction"]["initiatives"]}
    assert rolled_out["jurisdiction"]["id"] == "pdpo"
    assert rows["living.elderly-care-alerts"]["retention"] == "180 days"
    assert rows["living.e-health-appointments"]["consent"] == "opt-in"  # health data under pdpo


def test_sharing_graph_has_an_arrow_per_agreement(rolled_out: dict[str, Any]) -> None:
    page = Page(rolled_out["sharing"]["graph"])
    agreements = read_city("hong-kong")["spec"]["dataSharing"]
    assert len(page.all("path")) - 1 == len(agreements)  # one path is the arrowhead marker
    assert len(rolled_out["sharing"]["agreements"]) == len(agreements)


# The page.


@pytest.fixture(scope="module")
def page(rolled_out: dict[str, Any]) -> Page:
    return Page(render(rolled_out))


def test_page_loads_nothing_from_anywhere(page: Page) -> None:
    assert page.all("script") == [] and page.all("link") == [] and page.all("img") == []
    assert page.all("iframe") == [] and page.all("object") == []
    sources = [attrs for _, attrs in page.elements if "src" in attrs]
    assert sources == []
    links = [attrs["href"] for attrs in page.all("a")]
    assert links and all(str(href).startswith("#") for href in links)
    style = page.words("style")
    assert "url(" not in style and "@import" not in style and "@font-face" not in style


def test_page_names_every_area_initiative_and_kpi_target(page: Page) -> None:
    city = read_city("hong-kong")["spec"]
    text = page.words()
    for area in ("Mobility", "Living", "Environment", "Government", "People", "Economy"):
        assert area in text
    for item in city["initiatives"]:
        assert item["ref"] in text
    rows = {attrs.get("data-kpi") for attrs in page.all("tr") if attrs.get("data-kpi")}
    assert rows == {target["kpi"] for target in city["kpiTargets"]}


def test_every_chart_is_an_image_with_a_title_and_a_description(page: Page) -> None:
    charts = page.all("svg")
    city = read_city("hong-kong")["spec"]
    # one per KPI target, one bar per area, the sharing graph
    assert len(charts) == len(city["kpiTargets"]) + 6 + 1
    for chart in charts:
        assert chart["role"] == "img"
        assert chart["aria-labelledby"]
    assert len(page.all("title")) >= len(charts) + 1  # the page's own <title> too


def test_every_table_has_header_cells(page: Page) -> None:
    assert page.all("table")
    assert len(page.all("thead")) == len(page.all("table"))
    assert all(attrs.get("scope") in ("col", "row") for attrs in page.all("th"))


def test_verdicts_are_written_in_words_not_only_coloured(page: Page) -> None:
    text = page.words("td")
    for word in ("met", "off-track", "no-data"):
        assert re.search(rf"\s{word}\b", text), word


def test_page_has_print_styles_and_one_h1(page: Page) -> None:
    assert "@media print" in page.words("style")
    assert len(page.all("h1")) == 1 and len(page.all("h2")) >= 6


def test_text_from_a_blueprint_is_escaped(
    city_variant: Callable[..., Path], tmp_path: Path
) -> None:
    def edit(data: dict[str, Any]) -> None:
        data["spec"]["dataSharing"][0]["purpose"] = "<script>alert(1)</script> shared for reasons"

    output = tmp_path / "page.html"
    result = run_cli(
        "report", "--from-file", str(city_variant("hong-kong", edit)), "-o", str(output)
    )
    assert result.exit_code == 0, result.output
    escaped = Page(output.read_text())
    assert escaped.all("script") == []
    assert "<script>alert(1)</script> shared for reasons" in escaped.words("td")


def test_report_command_writes_a_plan_only_page(tmp_path: Path) -> None:
    output = tmp_path / "hk.html"
    result = run_cli("report", "--from-file", "hong-kong", "-o", str(output))
    assert result.exit_code == 0
    assert result.output.strip() == f"wrote {output}: 130 initiatives, 19 KPI targets (plan only)"
    assert "plan only" in Page(output.read_text()).words("header")


def test_report_command_without_a_city_says_so_in_one_line() -> None:
    result = run_cli("report")
    assert result.exit_code == 1
    assert result.output.strip() == "CITY: name a CITY (from the cluster) or --from-file"


def test_every_drawing_is_well_formed_svg(rolled_out: dict[str, Any]) -> None:
    drawings = [item["chart"] for item in rolled_out["kpis"]]
    drawings += [area["bar"] for area in rolled_out["areas"]]
    drawings.append(rolled_out["sharing"]["graph"])
    for drawing in drawings:
        root = ElementTree.fromstring(drawing)
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        assert root.find("{http://www.w3.org/2000/svg}title") is not None


def test_text_inside_a_drawing_is_escaped() -> None:
    graph = sharing_graph(
        [("a.one", "mobility", "One <b>"), ("b.two", "living", "Two & co")],
        [Flow("a.one", "b.two", "<counts>", external='Ex "quoted" <org>')],
        "g",
    )
    root = ElementTree.fromstring(graph)
    texts = [element.text for element in root.iter() if element.text]
    assert "One <b>" in texts and "Two & co" in texts
    assert "a.one → b.two: <counts>" in texts


def test_an_area_with_upgrading_initiatives_counts_and_draws_them(
    hong_kong: ValidatedBlueprint,
) -> None:
    """1 Live and 2 Upgrading once read "Live 1" over a bar two-thirds blank: an upgrading
    initiative was in no phase the report knew."""
    refs = [spec.ref for spec in hong_kong.blueprint.enabled if spec.ref.startswith("mobility.")]
    live, *upgrading = refs[:3]
    content = rolling_out(
        hong_kong,
        initiatives=[
            initiative(live, "Live", wave="citywide"),
            *(initiative(ref, "Upgrading", wave="citywide") for ref in upgrading),
        ],
    )
    mobility = next(area for area in content["areas"] if area["id"] == "mobility")
    assert (mobility["live"], mobility["total"]) == (1, len(refs))
    assert mobility["phases"].startswith("Live 1, Upgrading 2, ")
    bar = ElementTree.fromstring(mobility["bar"])
    parts = {
        rect.findtext("{http://www.w3.org/2000/svg}title", ""): float(rect.get("width", 0))
        for rect in bar.iter("{http://www.w3.org/2000/svg}rect")
    }
    assert parts["Upgrading: 2"] == pytest.approx(2 * parts["Live: 1"], abs=0.2)
    assert sum(parts.values()) == pytest.approx(320, abs=0.5)  # the whole bar, no gap
    assert parts["Upgrading: 2"] > 0 and "Upgrading 2" in (bar.findtext(".//{*}desc") or "")
