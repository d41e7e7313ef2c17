"""What `citykit report` shows, assembled from plain data (pure): the validated blueprint, what
the cluster holds (the blueprint's status, its Initiatives, KpiReports and Events) or nothing
(a plan-only report), and the day. `citykit.cli.report` reads the cluster and renders this with
the packaged Jinja2 template; everything a reader sees is decided here, so it is unit-tested
without a cluster or a browser.
"""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from citykit.api.enums import PHASE_ORDER as PHASE_ORDER_API
from citykit.api.enums import Area, Commitment, ConditionType, EventType, Phase, Verdict
from citykit.core.load.errors import number_text
from citykit.core.model.policy import NOT_PERSONAL, privacy_settings
from citykit.core.model.validation import ValidatedBlueprint
from citykit.core.office import kpi, svg
from citykit.core.office.svg import PLANNED

# The report's bars and counts: the API's phases in their order, Planned beside Pending.
PHASE_ORDER: tuple[str, ...] = (
    *PHASE_ORDER_API[: PHASE_ORDER_API.index(Phase.PENDING) + 1],
    PLANNED,
    *PHASE_ORDER_API[PHASE_ORDER_API.index(Phase.PENDING) + 1 :],
)
TRACKED_KINDS = ("Initiative", "CityBlueprint")


def shown_order(counts: Mapping[str, int]) -> list[str]:
    """The phases `counts` holds in PHASE_ORDER, then any the order does not know (a newer
    operator's) by name: every initiative is counted somewhere."""
    return [
        *(phase for phase in PHASE_ORDER if counts.get(phase)),
        *sorted(phase for phase in counts if phase not in PHASE_ORDER and counts[phase]),
    ]


def assemble(
    validated: ValidatedBlueprint,
    *,
    today: datetime.date,
    generated: datetime.datetime,
    source: str,
    blueprint_status: Mapping[str, Any] | None = None,
    initiatives: Sequence[Mapping[str, Any]] = (),
    reports: Sequence[Mapping[str, Any]] = (),
    events: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The report's whole content. `blueprint_status` None means plan-only: nothing has been
    deployed, every initiative is Planned and the timeline is the planned order."""
    blueprint, catalogue = validated.blueprint, validated.catalogue
    plan_only = blueprint_status is None
    status = blueprint_status or {}
    observed = {
        (item.get("spec") or {}).get("ref"): item
        for item in initiatives
        if (item.get("spec") or {}).get("ref")
    }
    district_names = {
        district["id"]: district["name"]
        for district in validated.document.data["spec"]["districts"]
    }
    rows = []
    for spec in blueprint.enabled:
        entry = catalogue.entries[spec.ref]
        item_status = (observed.get(spec.ref) or {}).get("status") or {}
        rows.append(
            {
                "ref": spec.ref,
                "title": entry.title,
                "area": entry.area,
                "phase": PLANNED if plan_only else item_status.get("phase", Phase.PENDING),
                "wave": item_status.get("wave", "-"),
                "ready": item_status.get("ready", "-"),
                "message": item_status.get("message", ""),
                "pilot_districts": [district_names.get(d, d) for d in spec.pilot_districts],
                "gate": f"healthy {spec.gate.healthy_for}, {spec.gate.approval} approval",
                "depends_on": list(spec.depends_on),
            }
        )
    area_rank = {str(area): rank for rank, area in enumerate(Area)}
    rows.sort(key=lambda row: (area_rank.get(row["area"], 99), row["ref"]))
    phases = {row["ref"]: row["phase"] for row in rows}
    kpis = _kpis(validated, status, reports, phases, today, plan_only)
    points = _points(reports, today)
    for index, item in enumerate(kpis):
        colour, mark = svg.VERDICT_STYLE.get(item["verdict"], ("#6b7280", "?"))
        item["mark"], item["colour"] = mark, colour
        latest = item.get("latest")
        item["shown"] = {
            "baseline": number_text(item["baseline"]),
            "target": number_text(item["target"]),
            "expected": number_text(item["expected"]),
            "latest": f"{number_text(latest['value'])} ({latest['date']})" if latest else "-",
        }
        item["chart"] = svg.kpi_chart(item, points.get(item["kpi"], []), today, f"kpi-{index}")
        item["observations"] = [
            {"when": p.label, "value": number_text(p.value)} for p in points.get(item["kpi"], [])
        ]
    live = sum(row["phase"] == Phase.LIVE for row in rows)
    condition = kpi.binding_condition(kpis)
    return {
        "city": {
            "id": blueprint.name,
            "name": blueprint.city_name,
            "country": blueprint.country,
            "population": f"{blueprint.population:,}",
            "version": blueprint.version,
            "catalogue": blueprint.catalogue_version,
            "jurisdiction": blueprint.jurisdiction,
            "districts": len(blueprint.districts),
        },
        "plan_only": plan_only,
        "source": source,
        "generated": generated.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "today": today.isoformat(),
        "phase": PLANNED if plan_only else status.get("phase", Phase.PENDING),
        "live": f"{live}/{len(rows)}",
        "areas": _areas(rows),
        "initiatives": rows,
        "timeline": [] if plan_only else _timeline(blueprint.name, initiatives, status, events),
        "plan_steps": _plan_steps(rows) if plan_only else [],
        "kpis": kpis,
        "kpi_counts": _kpi_counts(kpis),
        "binding": {
            "holds": condition.status,
            "reason": condition.reason,
            "message": condition.message,
        },
        "sharing": _sharing(validated, rows),
        "jurisdiction": _jurisdiction(validated),
    }


def _kpis(
    validated: ValidatedBlueprint,
    status: Mapping[str, Any],
    reports: Sequence[Mapping[str, Any]],
    phases: Mapping[str, str],
    today: datetime.date,
    plan_only: bool,
) -> list[dict[str, Any]]:
    """The operator's `status.kpis` when it wrote them, else the same fold done here."""
    written = status.get("kpis")
    if written is not None and not plan_only:
        return [dict(item) for item in written]
    targets = validated.document.data["spec"].get("kpiTargets", [])
    return kpi.kpi_status(targets, reports, validated.catalogue, phases, today)


def _points(
    reports: Sequence[Mapping[str, Any]], today: datetime.date
) -> dict[str, list[svg.Point]]:
    found: dict[str, list[svg.Point]] = {}
    for obs in kpi.observations(reports):
        if obs.day <= today:
            found.setdefault(obs.kpi, []).append(svg.Point(obs.day, obs.value, obs.when))
    return found


def _areas(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    result = []
    for area in Area:
        members = [row for row in rows if row["area"] == area]
        if not members:
            continue
        counts = Counter(str(row["phase"]) for row in members)
        order = shown_order(counts)
        result.append(
            {
                "id": str(area),
                "title": str(area).capitalize(),
                "total": len(members),
                "live": counts.get(Phase.LIVE, 0),
                "phases": ", ".join(f"{phase} {counts[phase]}" for phase in order if counts[phase]),
                "bar": svg.phase_bar(
                    counts,
                    order,
                    f"area-{area}",
                    f"{str(area).capitalize()} rollout by phase",
                ),
            }
        )
    return result


def _timeline(
    city: str,
    initiatives: Sequence[Mapping[str, Any]],
    status: Mapping[str, Any],
    events: Sequence[Mapping[str, Any]],
) -> list[dict[str, str]]:
    """Phase transitions, oldest first: the Events the operator posted about this city's
    Initiatives and blueprint, and the transition times its status keeps (conditions, the
    start of a healthy pilot)."""
    names = {
        (item.get("metadata") or {}).get("name"): (item.get("spec") or {}).get("ref")
        for item in initiatives
    }
    entries: list[dict[str, str]] = []
    for event in events:
        involved = event.get("involvedObject") or event.get("involved_object") or {}
        kind, name = involved.get("kind"), involved.get("name")
        if kind not in TRACKED_KINDS or (kind == "CityBlueprint" and name != city):
            continue
        if kind == "Initiative" and name not in names:
            continue
        when = (
            event.get("lastTimestamp")
            or event.get("last_timestamp")
            or event.get("eventTime")
            or event.get("firstTimestamp")
            or (event.get("metadata") or {}).get("creationTimestamp")
        )
        entries.append(
            {
                "time": _time(when),
                "subject": str(names.get(name) or name)
                if kind == "Initiative"
                else f"blueprint {name}",
                "what": f"→ {event.get('reason', '')}",
                "detail": str(event.get("message", "")),
                "kind": "event" if event.get("type") != EventType.WARNING else "warning",
            }
        )
    for item in initiatives:
        ref = (item.get("spec") or {}).get("ref", "?")
        item_status = item.get("status") or {}
        if item_status.get("pilotHealthySince"):
            entries.append(
                {
                    "time": _time(item_status["pilotHealthySince"]),
                    "subject": ref,
                    "what": "pilot healthy",
                    "detail": "gate clock started",
                    "kind": "status",
                }
            )
        entries += [
            _condition_entry(ref, condition, initiative=True)
            for condition in item_status.get("conditions") or []
        ]
    entries += [
        _condition_entry(f"blueprint {city}", condition)
        for condition in status.get("conditions") or []
    ]
    return sorted(entries, key=lambda entry: (entry["time"], entry["subject"]))


def _condition_entry(
    subject: str, condition: Mapping[str, Any], initiative: bool = False
) -> dict[str, str]:
    """A condition's last transition; an initiative's Ready turning True is its going Live
    (the operator posts no Event for that: `core.rollout.writes`)."""
    ready = condition.get("type") == ConditionType.READY and condition.get("status") == "True"
    return {
        "time": _time(condition.get("lastTransitionTime")),
        "subject": subject,
        "what": (
            f"→ {condition.get('reason')}"
            if initiative and ready
            else f"{condition.get('type')} = {condition.get('status')}"
        ),
        "detail": f"{condition.get('reason', '')}: {condition.get('message', '')}".strip(": "),
        "kind": "status",
    }


def _time(value: Any) -> str:
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")
    return str(value or "").replace("T", " ").removesuffix("Z")


def _plan_steps(rows: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    """The order the operator will start initiatives in: each step holds those whose
    dependencies are all in earlier steps."""
    remaining = {row["ref"]: set(row["depends_on"]) for row in rows}
    done: set[str] = set()
    steps = []
    while remaining:
        ready = sorted(ref for ref, needs in remaining.items() if needs <= done)
        if not ready:  # a cycle: validate refuses these, so list what is left as one step
            ready = sorted(remaining)
        steps.append(ready)
        done.update(ready)
        for ref in ready:
            del remaining[ref]
    return steps


def _kpi_counts(kpis: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    result = []
    for commitment in Commitment:
        counts = Counter(item["verdict"] for item in kpis if item["commitment"] == commitment)
        result.append(
            {
                "commitment": str(commitment),
                "total": sum(counts.values()),
                "verdicts": [
                    {"verdict": str(v), "count": counts[v], "mark": svg.VERDICT_STYLE[v][1]}
                    for v in Verdict
                    if counts[v]
                ],
            }
        )
    return result


def _sharing(validated: ValidatedBlueprint, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    agreements = validated.blueprint.data_sharing
    involved = {a.producer for a in agreements} | {a.consumer for a in agreements}
    nodes = [(row["ref"], row["area"], row["title"]) for row in rows if row["ref"] in involved]
    flows = [
        svg.Flow(
            a.producer, a.consumer, a.data_product, a.external.recipient if a.external else None
        )
        for a in agreements
    ]
    return {
        "graph": svg.sharing_graph(nodes, flows, "sharing") if agreements else "",
        "agreements": [
            {
                "producer": a.producer,
                "consumer": a.consumer,
                "product": a.data_product,
                "purpose": a.purpose,
                "external": (
                    f"{a.external.recipient} ({a.external.country}"
                    + (f", {a.external.safeguard}" if a.external.safeguard else "")
                    + ")"
                )
                if a.external
                else "",
            }
            for a in agreements
        ],
    }


def _jurisdiction(validated: ValidatedBlueprint) -> dict[str, Any]:
    """The profile's verdict per initiative: what it collects, the consent mode and retention
    it must honour (the same `privacy_settings` the rendered ConfigMap carries), approvals."""
    blueprint, catalogue, profile = validated.blueprint, validated.catalogue, validated.profile
    rows = []
    for spec in blueprint.enabled:
        entry = catalogue.entries[spec.ref]
        settings = privacy_settings(blueprint, spec, entry, profile)
        approvers = [profile.rule(c).approver for c in entry.personal_data]
        approvers += [profile.capability_approvers.get(c) for c in entry.capabilities]
        needed = sorted({approver for approver in approvers if approver})
        limits = [
            limit
            for limit in (profile.rule(c).retention_days for c in entry.personal_data)
            if limit is not None
        ]
        rows.append(
            {
                "ref": spec.ref,
                "area": entry.area,
                "categories": ", ".join(entry.personal_data) or "none",
                "personal": any(c not in NOT_PERSONAL for c in entry.personal_data),
                "consent": settings.consent,
                "retention": f"{settings.retention_days} days"
                if settings.retention_days
                else "not limited",
                "limit": f"{min(limits)} days" if limits else "none",
                "approvals": ", ".join(needed) or "none needed",
                "recorded": ", ".join(spec.approvers) or "-",
                "verdict": "complies",
            }
        )
    rank = {str(area): index for index, area in enumerate(Area)}
    rows.sort(key=lambda row: (rank.get(str(row["area"]), 99), str(row["ref"])))
    return {
        "id": profile.id,
        "title": profile.title,
        "residency": f"{profile.region}: {', '.join(profile.countries)}",
        "hosting": blueprint.hosting_country,
        "transfer": profile.cross_border_transfer,
        "minimum_consent": blueprint.minimum_consent,
        "max_retention": f"{blueprint.max_retention_days} days"
        if blueprint.max_retention_days
        else "none",
        "initiatives": rows,
    }
