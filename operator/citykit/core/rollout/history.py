"""A city's history of applied blueprints, kept as ControllerRevisions (pure).

Kubernetes keeps a StatefulSet's past pod templates as `apps/v1` ControllerRevisions; the
citykit operator keeps every blueprint spec it applied to a city the same way, so that
`citykit history CITY` can list them and `citykit rollback CITY` can re-apply one. This module
builds those objects (for the operator), reads them back into rows (for the CLI), and picks
the revision a rollback re-applies. It reads and writes nothing itself.

The format, one object per applied spec:

    apiVersion: apps/v1
    kind: ControllerRevision
    metadata:
      name: <blueprint>-r<revision>            e.g. hangzhou-r3 (api.names.revision_name)
      namespace: city-<blueprint>              the city namespace (api.names.city_namespace)
      labels:
        app.kubernetes.io/managed-by: citykit
        citykit.io/blueprint: <blueprint>      how the CLI selects a city's revisions
      annotations:
        citykit.io/blueprint-version: 3.2.0    spec.version of the applied spec
        citykit.io/catalogue-version: 1.1.0    spec.catalogueVersion of the applied spec
        citykit.io/applied-at: 2026-12-02T15:04:05Z   when the operator first applied it (UTC)
        citykit.io/outcome: Progressing        or Live, Degraded, RolledBack, Superseded
        citykit.io/outcome-at: 2026-12-02T15:20:00Z   when the outcome last changed (UTC)
        citykit.io/outcome-reason: "..."       optional, one line: why (e.g. what rolled it back)
        citykit.io/restored-from: "2"          optional: the revision `citykit rollback` re-applied
      ownerReferences: [the CityBlueprint]     so the history goes with the city
    revision: 3                                1, 2, 3 ... in the order specs were applied
    data:
      spec: {...}                              the CityBlueprint's spec as the API server
                                               stored it (the CRD's defaults filled in), so
                                               it compares equal to what runs

No `citykit.io/city` label: the operator deletes objects with that label that it did not
render. A new revision is written when the CityBlueprint's spec differs from the newest
revision's `data.spec` (`needs_revision`), re-applying an earlier spec included (a rollback
is history too); its outcome moves from Progressing to Live when every initiative is Live, to
RolledBack when an initiative rolled its revision back, to Degraded when every initiative has
gone as far as it goes and some are Degraded (from which it may still become Live or
RolledBack), and to Superseded when a newer spec arrives before it settled
(`outcome_annotations`; `rollout.settled_outcome` decides).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from citykit.api.enums import Outcome
from citykit.api.names import (
    API_VERSION,
    APPLIED_AT_ANNOTATION,
    BLUEPRINT_LABEL,
    BLUEPRINT_VERSION_ANNOTATION,
    CATALOGUE_VERSION_ANNOTATION,
    CITY_BLUEPRINT,
    CONTROLLER_REVISION,
    MANAGED_BY,
    OUTCOME_ANNOTATION,
    OUTCOME_AT_ANNOTATION,
    OUTCOME_REASON_ANNOTATION,
    RESTORED_FROM_ANNOTATION,
    REVISION_API_VERSION,
    city_namespace,
    revision_name,
)
from citykit.core.load.errors import CitykitError, Problem, listing, one_line, shown


def _stamp(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def revision_object(
    blueprint: str,
    spec: Mapping[str, Any],
    revision: int,
    applied_at: datetime.datetime,
    owner_uid: str | None = None,
    restored_from: int | None = None,
) -> dict[str, Any]:
    """The ControllerRevision recording that `spec` was applied to `blueprint` at
    `applied_at`, as revision `revision` (outcome Progressing)."""
    annotations = {
        BLUEPRINT_VERSION_ANNOTATION: str(spec.get("version", "")),
        CATALOGUE_VERSION_ANNOTATION: str(spec.get("catalogueVersion", "")),
        APPLIED_AT_ANNOTATION: _stamp(applied_at),
        OUTCOME_ANNOTATION: Outcome.PROGRESSING.value,
        OUTCOME_AT_ANNOTATION: _stamp(applied_at),
    }
    if restored_from is not None:
        annotations[RESTORED_FROM_ANNOTATION] = str(restored_from)
    metadata: dict[str, Any] = {
        "name": revision_name(blueprint, revision),
        "namespace": city_namespace(blueprint),
        "labels": {**MANAGED_BY, BLUEPRINT_LABEL: blueprint},
        "annotations": annotations,
    }
    if owner_uid is not None:
        metadata["ownerReferences"] = [
            {
                "apiVersion": API_VERSION,
                "kind": CITY_BLUEPRINT,
                "name": blueprint,
                "uid": owner_uid,
                "controller": True,
                "blockOwnerDeletion": False,
            }
        ]
    return {
        "apiVersion": REVISION_API_VERSION,
        "kind": CONTROLLER_REVISION,
        "metadata": metadata,
        "revision": revision,
        "data": {"spec": dict(spec)},
    }


def outcome_annotations(
    outcome: Outcome, at: datetime.datetime, reason: str | None = None
) -> dict[str, str | None]:
    """The annotations to merge-patch onto a revision when its outcome changes (a None
    value removes a reason left from before)."""
    return {
        OUTCOME_ANNOTATION: outcome.value,
        OUTCOME_AT_ANNOTATION: _stamp(at),
        OUTCOME_REASON_ANNOTATION: one_line(reason) if reason else None,
    }


@dataclass(frozen=True)
class HistoryRow:
    """One applied spec of a city, as `citykit history` lists it."""

    revision: int
    name: str
    blueprint_version: str
    catalogue_version: str
    applied_at: str
    outcome: str
    outcome_at: str
    reason: str
    restored_from: int | None
    spec: Mapping[str, Any]


def revisions_of(blueprint: str, objects: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The ControllerRevisions among `objects` that record `blueprint` (others in the
    namespace, a StatefulSet's, are left out)."""
    return [
        item
        for item in objects
        if item.get("kind", CONTROLLER_REVISION) == CONTROLLER_REVISION
        and ((item.get("metadata") or {}).get("labels") or {}).get(BLUEPRINT_LABEL) == blueprint
    ]


def next_revision(revisions: Iterable[Mapping[str, Any]]) -> int:
    """The number the next revision gets: one more than the highest so far."""
    return max((int(item.get("revision", 0)) for item in revisions), default=0) + 1


def needs_revision(revisions: Iterable[Mapping[str, Any]], spec: Mapping[str, Any]) -> bool:
    """Whether applying `spec` makes history: it differs from the newest revision's spec."""
    newest = max(revisions, key=lambda item: int(item.get("revision", 0)), default=None)
    return newest is None or dict((newest.get("data") or {}).get("spec") or {}) != dict(spec)


def history_rows(blueprint: str, objects: Iterable[Mapping[str, Any]]) -> list[HistoryRow]:
    """`blueprint`'s revisions among `objects`, oldest first. Missing annotations fall back
    to the recorded spec and the object's creation time, so a hand-made or older revision
    still lists."""
    rows = []
    for item in revisions_of(blueprint, objects):
        metadata = item.get("metadata") or {}
        annotations = metadata.get("annotations") or {}
        spec = (item.get("data") or {}).get("spec") or {}
        restored = annotations.get(RESTORED_FROM_ANNOTATION, "")
        applied = annotations.get(APPLIED_AT_ANNOTATION) or _created(metadata)
        rows.append(
            HistoryRow(
                revision=int(item.get("revision", 0)),
                name=str(metadata.get("name", "")),
                blueprint_version=str(
                    annotations.get(BLUEPRINT_VERSION_ANNOTATION) or spec.get("version", "?")
                ),
                catalogue_version=str(
                    annotations.get(CATALOGUE_VERSION_ANNOTATION)
                    or spec.get("catalogueVersion", "?")
                ),
                applied_at=applied,
                outcome=str(annotations.get(OUTCOME_ANNOTATION, "Unknown")),
                outcome_at=str(annotations.get(OUTCOME_AT_ANNOTATION, "")),
                reason=one_line(str(annotations.get(OUTCOME_REASON_ANNOTATION, ""))),
                restored_from=int(restored) if str(restored).isdigit() else None,
                spec=spec,
            )
        )
    return sorted(rows, key=lambda row: row.revision)


def _created(metadata: Mapping[str, Any]) -> str:
    created = metadata.get("creationTimestamp", "")
    if isinstance(created, datetime.datetime):
        return _stamp(created)
    return str(created)


def _refusal(field: str, message: str) -> CitykitError:
    return CitykitError(Problem.argument(field, message))


def _listed(rows: list[HistoryRow]) -> str:
    return listing([f"{row.blueprint_version} (r{row.revision})" for row in rows], limit=12)


def rollback_target(
    blueprint: str, rows: list[HistoryRow], current: Mapping[str, Any], to: str | None = None
) -> HistoryRow:
    """The revision `citykit rollback` re-applies to a city now running spec `current`.

    `to` names a blueprint version (the newest revision that ran it) or a revision number
    (`3` or `r3`). Without it: the newest earlier revision that reached Live and differs from
    what runs now. A refusal lists the history to choose from."""
    if not rows:
        raise _refusal(
            "CITY",
            f"no history for {blueprint}: the operator records a revision each time it "
            "applies a blueprint (is it running, and has it applied this city?)",
        )
    if to is not None:
        number = to.removeprefix("r")
        matches = [
            row
            for row in rows
            if (str(row.revision) == number if number.isdigit() else row.blueprint_version == to)
        ]
        if not matches:
            raise _refusal(
                "--to",
                f"{blueprint} never ran {'revision' if number.isdigit() else 'blueprint version'}"
                f" {shown(to)} (history: {_listed(rows)})",
            )
        return matches[-1]
    earlier = [
        row
        for row in rows
        if row.outcome == Outcome.LIVE and dict(row.spec) != dict(current) and row is not rows[-1]
    ]
    if not earlier:
        raise _refusal(
            "--to",
            f"no earlier revision of {blueprint} reached Live; name one with --to "
            f"(history: {_listed(rows)})",
        )
    return earlier[-1]


def rollback_manifest(blueprint: str, row: HistoryRow) -> dict[str, Any]:
    """The CityBlueprint that re-applies `row`'s spec, saying which revision it restores."""
    return {
        "apiVersion": API_VERSION,
        "kind": CITY_BLUEPRINT,
        "metadata": {
            "name": blueprint,
            "annotations": {RESTORED_FROM_ANNOTATION: str(row.revision)},
        },
        "spec": dict(row.spec),
    }
