"""Inline SVG for the report: one chart per KPI target, a bar per area, the data-sharing graph.

Plain strings built here (pure, no drawing library, no JavaScript), every piece of text escaped,
each drawing with a `<title>` and `<desc>` so a screen reader says what it shows, and every
colour repeated in words or shapes beside it: the page reads in black and white on paper.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from citykit.api.enums import Area, Phase, Verdict
from citykit.core.load.errors import number_text

# A plan-only report's initiatives: nothing deployed yet, so not a phase of the API.
PLANNED = "Planned"

# Verdict -> (colour, mark): the mark says it without the colour. Every table below is total
# over its enum (tests/unit/test_total_tables.py): a new member without an entry fails there.
VERDICT_STYLE: dict[str, tuple[str, str]] = {
    Verdict.MET: ("#1a7f37", "✔"),
    Verdict.ON_TRACK: ("#1f6feb", "↗"),
    Verdict.OFF_TRACK: ("#c62828", "✘"),
    Verdict.NO_DATA: ("#6b7280", "?"),
}
# Phase -> (colour, whether the count on it is written dark: light colours)
PHASE_STYLE: dict[str, tuple[str, bool]] = {
    Phase.LIVE: ("#1a7f37", False),
    # live citywide on its last good revision, a new one piloting beside it
    Phase.UPGRADING: ("#4ac26b", False),
    Phase.CITYWIDE: ("#2da44e", False),
    Phase.AWAITING_APPROVAL: ("#bf8700", False),
    Phase.PILOT: ("#1f6feb", False),
    Phase.WAITING: ("#8c959f", True),
    Phase.PENDING: ("#d0d7de", True),
    PLANNED: ("#d0d7de", True),
    Phase.DEGRADED: ("#c62828", False),
    Phase.BLOCKED: ("#82071e", False),
}
AREA_COLOURS: dict[str, str] = {
    Area.MOBILITY: "#1f6feb",
    Area.LIVING: "#bf3989",
    Area.ENVIRONMENT: "#1a7f37",
    Area.GOVERNMENT: "#6639ba",
    Area.PEOPLE: "#bc4c00",
    Area.ECONOMY: "#0a7480",
}


def _svg(width: int, height: int, title: str, desc: str, body: Sequence[str], ident: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" '
        f'aria-labelledby="{ident}-title {ident}-desc">'
        f'<title id="{ident}-title">{escape(title)}</title>'
        f'<desc id="{ident}-desc">{escape(desc)}</desc>' + "".join(body) + "</svg>"
    )


MAX_VALUE = 1e12  # the largest KPI value the schemas allow, either sign


def _bounded(value: float) -> float:
    """`value` within ±MAX_VALUE; a non-finite one (never valid) as 0."""
    number = float(value)
    return min(max(number, -MAX_VALUE), MAX_VALUE) if math.isfinite(number) else 0.0


def _coordinate(value: float) -> str:
    if not math.isfinite(value):
        raise ValueError(f"non-finite SVG coordinate {value}")  # a bug: inputs are bounded
    return f"{value:.1f}"


def _el(tag: str, content: str = "", /, **attributes: str | float) -> str:
    """`<tag a="1" b-c="2">content</tag>`: attribute names with `_` become `-`, floats one
    decimal (never nan or inf), every value quoted and escaped."""
    attrs = "".join(
        f" {key.rstrip('_').replace('_', '-')}="
        + quoteattr(_coordinate(value) if isinstance(value, float) else str(value))
        for key, value in attributes.items()
    )
    return f"<{tag}{attrs}>{content}</{tag}>" if content else f"<{tag}{attrs}/>"


def _line(x1: float, y1: float, x2: float, y2: float, **attributes: str | float) -> str:
    return _el("line", x1=float(x1), y1=float(y1), x2=float(x2), y2=float(y2), **attributes)


def _text(x: float, y: float, text: str, **attributes: str | float) -> str:
    return _el("text", escape(text), x=float(x), y=float(y), **attributes)


@dataclass(frozen=True)
class Point:
    day: datetime.date
    value: float
    label: str


def kpi_chart(
    kpi: Mapping[str, Any], points: Sequence[Point], today: datetime.date, ident: str
) -> str:
    """One KPI target: the dashed line from baseline to target, the target level, each
    observation as a dot (the latest larger), today as a vertical rule, framed in the
    verdict's colour with its mark and word."""
    width, height, left, right, top, bottom = 420, 200, 56, 16, 28, 30
    points = [point for point in points if math.isfinite(point.value)]  # none is a reading
    start = datetime.date(kpi["baselineYear"], 12, 31)
    due = datetime.date(kpi["year"], 12, 31)
    first = min([start, *(p.day for p in points)])
    last = max([due, today, *(p.day for p in points)])
    # Bounded and finite whatever was stored (the schemas bound KPI values to ±1e12): a
    # chart never holds nan or inf, and the scale below cannot overflow.
    values = [
        _bounded(kpi["baseline"]),
        _bounded(kpi["target"]),
        *(_bounded(p.value) for p in points),
    ]
    low, high = min(values), max(values)
    pad = (high - low) * 0.12 or abs(high) * 0.1 or 1.0
    low, high = low - pad, high + pad
    if all(v >= 0 for v in values):
        low = max(low, 0.0)
    span_days = max((last - first).days, 1)

    def x(day: datetime.date) -> float:
        return left + (width - left - right) * (day - first).days / span_days

    def y(value: float) -> float:
        return top + (height - top - bottom) * (high - _bounded(value)) / (high - low)

    colour, mark = VERDICT_STYLE.get(kpi["verdict"], ("#6b7280", "?"))
    unit = str(kpi.get("unit", ""))
    body = [
        _el(
            "rect",
            x=0.5,
            y=0.5,
            width=width - 1,
            height=height - 1,
            fill="#fff",
            stroke=colour,
            stroke_width=2,
            rx=6,
        ),
        _text(left, 18, f"{mark} {kpi['verdict']}", fill=colour, font_weight="bold", font_size=13),
        _text(
            width - right,
            18,
            f"{kpi['commitment']} target",
            text_anchor="end",
            font_size=11,
            fill="#444",
        ),
    ]
    # axes: a y tick at low, target, baseline, high; an x tick at each new year
    base = height - bottom
    body.append(_line(left, base, width - right, base, stroke="#999"))
    body.append(_line(left, top, left, base, stroke="#999"))
    ticks: list[float] = []
    for value in sorted(
        {kpi["baseline"], kpi["target"], low, high},
        key=lambda v: (v not in (kpi["baseline"], kpi["target"]), v),
    ):
        if all(abs(y(value) - y(kept)) >= 12 for kept in ticks):
            ticks.append(value)
    for value in ticks:
        body.append(
            _text(
                left - 4, y(value) + 4, _short(value), text_anchor="end", font_size=10, fill="#444"
            )
        )
    years = range(first.year + 1, last.year + 1)
    step = max(1, math.ceil(len(years) / 8))
    for year in list(years)[::step]:
        tick = x(datetime.date(year, 1, 1))
        body.append(_line(tick, base, tick, base + 4, stroke="#999"))
        body.append(
            _text(tick, base + 16, str(year), text_anchor="middle", font_size=10, fill="#444")
        )
    # the target level, and the trajectory: flat at the baseline, the line, flat at the target
    goal, start_value = y(kpi["target"]), y(kpi["baseline"])
    body.append(_line(left, goal, width - right, goal, stroke="#999", stroke_dasharray="2 3"))
    trajectory = [(x(first), start_value), (x(start), start_value), (x(due), goal), (x(last), goal)]
    body.append(
        _el(
            "polyline",
            points=" ".join(f"{_coordinate(px)},{_coordinate(py)}" for px, py in trajectory),
            fill="none",
            stroke="#555",
            stroke_width=1.5,
            stroke_dasharray="6 4",
        )
    )
    body.append(_line(x(today), top, x(today), base, stroke="#bbb"))
    body.append(_text(x(today), top + 10, "today", text_anchor="middle", font_size=9, fill="#666"))
    if points:
        path = " ".join(f"{_coordinate(x(p.day))},{_coordinate(y(p.value))}" for p in points)
        body.append(_el("polyline", points=path, fill="none", stroke=colour, stroke_width=1.5))
        for index, point in enumerate(points):
            label = escape(f"{point.label}: {number_text(point.value)} {unit}")
            body.append(
                _el(
                    "circle",
                    f"<title>{label}</title>",
                    cx=x(point.day),
                    cy=y(point.value),
                    r=5.0 if index == len(points) - 1 else 3.5,
                    fill=colour,
                )
            )
    seen = (
        f"latest {number_text(points[-1].value)} {unit} in {points[-1].label}"
        if points
        else "no observation yet"
    )
    desc = (
        f"{kpi['kpi']}: baseline {number_text(kpi['baseline'])} {unit} in {kpi['baselineYear']}, "
        f"target {number_text(kpi['target'])} {unit} by {kpi['year']} ({kpi['better']} is better); "
        f"{seen}; line expects {number_text(kpi['expected'])} today; verdict {kpi['verdict']}."
    )
    return _svg(width, height, f"{kpi['kpi']}: {kpi['verdict']}", desc, body, ident)


def _short(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return number_text(float(f"{value:.3g}"))


def phase_bar(counts: Mapping[str, int], order: Sequence[str], ident: str, title: str) -> str:
    """A horizontal bar split by phase, each part labelled with its count when it fits."""
    width, height = 320, 22
    total = sum(counts.values()) or 1
    body, offset = [], 0.0
    for phase in order:
        count = counts.get(phase, 0)
        if not count:
            continue
        part = width * count / total
        colour, light = PHASE_STYLE.get(phase, ("#999", False))
        body.append(
            f'<rect x="{offset:.1f}" y="0" width="{part:.1f}" height="{height}" fill="{colour}" '
            f'stroke="#fff"><title>{escape(f"{phase}: {count}")}</title></rect>'
        )
        if part > 18:
            body.append(
                _text(
                    offset + part / 2,
                    15,
                    str(count),
                    text_anchor="middle",
                    font_size=11,
                    fill="#000" if light else "#fff",
                )
            )
        offset += part
    desc = ", ".join(f"{phase} {counts[phase]}" for phase in order if counts.get(phase))
    return _svg(width, height, title, desc or "no initiatives", body, ident)


@dataclass(frozen=True)
class Flow:
    producer: str
    consumer: str
    product: str
    external: str | None = None


def sharing_graph(nodes: Sequence[tuple[str, str, str]], flows: Sequence[Flow], ident: str) -> str:
    """Producer -> consumer arrows between initiatives laid out in one column per area.

    `nodes`: (ref, area, label) in the order to draw them; an agreement whose consumer hands
    the data on outside the platform gets a dashed arrow to an external box."""
    areas = list(dict.fromkeys(area for _, area, _ in nodes))
    column_width, row_height, box_w, box_h, top = 200, 34, 170, 24, 30
    position: dict[str, tuple[float, float]] = {}
    rows: dict[str, int] = {}
    for ref, area, _ in nodes:
        row = rows.get(area, 0)
        rows[area] = row + 1
        position[ref] = (10 + areas.index(area) * column_width, top + row * row_height)
    externals = list(dict.fromkeys(flow.external for flow in flows if flow.external))
    width = 10 + max(len(areas), 1) * column_width + (column_width if externals else 0)
    height = top + max([*rows.values(), len(externals), 1]) * row_height + 10
    body = [
        '<defs><marker id="' + ident + '-arrow" viewBox="0 0 10 10" refX="10" refY="5" '
        'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        '<path d="M0,0 L10,5 L0,10 z" fill="#444"/></marker></defs>'
    ]
    for area in areas:
        body.append(
            _text(
                10 + areas.index(area) * column_width,
                16,
                area.capitalize(),
                font_weight="bold",
                font_size=12,
                fill=AREA_COLOURS.get(area, "#333"),
            )
        )
    for index, name in enumerate(externals):
        position[f"external:{name}"] = (10 + len(areas) * column_width, top + index * row_height)
    for flow in flows:
        pairs = [(flow.producer, flow.consumer)]
        if flow.external:
            pairs.append((flow.consumer, f"external:{flow.external}"))
        for source, target in pairs:
            if source not in position or target not in position:
                continue
            (sx, sy), (tx, ty) = position[source], position[target]
            start = (sx + box_w, sy + box_h / 2) if tx > sx else (sx, sy + box_h / 2)
            end = (tx, ty + box_h / 2) if tx > sx else (tx + box_w, ty + box_h / 2)
            if tx == sx:  # same column: bulge out to the right
                start, end = (sx + box_w, sy + box_h / 2), (tx + box_w, ty + box_h / 2)
                bend = 30 + abs(ty - sy) / 4
                curve = f"C{start[0] + bend:.1f},{start[1]:.1f} {end[0] + bend:.1f},{end[1]:.1f}"
            else:
                middle = (start[0] + end[0]) / 2
                curve = f"C{middle:.1f},{start[1]:.1f} {middle:.1f},{end[1]:.1f}"
            label = f"{source} → {target.removeprefix('external:')}: {flow.product}"
            body.append(
                _el(
                    "path",
                    f"<title>{escape(label)}</title>",
                    d=f"M{start[0]:.1f},{start[1]:.1f} {curve} {end[0]:.1f},{end[1]:.1f}",
                    fill="none",
                    stroke="#444",
                    stroke_opacity=0.55,
                    stroke_width=1.2,
                    stroke_dasharray="5 3" if target.startswith("external:") else "none",
                    marker_end=f"url(#{ident}-arrow)",
                )
            )
    boxes = [(ref, label, AREA_COLOURS.get(area, "#333"), "none") for ref, area, label in nodes]
    boxes += [(f"external:{name}", name, "#444", "4 2") for name in externals]
    for ref, label, colour, dashes in boxes:
        bx, by = position[ref]
        title = ref if not ref.startswith("external:") else f"{label} (outside the platform)"
        box = _el(
            "rect",
            x=bx,
            y=by,
            width=box_w,
            height=box_h,
            rx=4,
            fill="#fff",
            stroke=colour,
            stroke_width=1.5,
            stroke_dasharray=dashes,
        )
        text = _text(bx + 6, by + 16, _fit(label, 26), font_size=11, fill="#111")
        body.append(_el("g", f"<title>{escape(title)}</title>{box}{text}"))
    desc = f"{len(flows)} data-sharing agreements between {len(nodes)} initiatives" + (
        f"; {len(externals)} hand data on outside the platform (dashed)" if externals else ""
    )
    return _svg(width, height, "Data-sharing agreements, producer to consumer", desc, body, ident)


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
