"""Phases, waves and areas as enums: the values the status schema and catalogue schema allow.

StrEnums, so they are the strings the API stores and compare equal to them; a test holds
each enum equal to its schema's `enum`.
"""

from __future__ import annotations

from enum import StrEnum


class Phase(StrEnum):
    """Where one Initiative's rollout stands (`status.phase`)."""

    PENDING = "Pending"
    WAITING = "Waiting"
    PILOT = "Pilot"
    AWAITING_APPROVAL = "AwaitingApproval"
    CITYWIDE = "Citywide"
    LIVE = "Live"
    # Live citywide on one revision while a changed one pilots beside it (an upgrade)
    UPGRADING = "Upgrading"
    DEGRADED = "Degraded"
    BLOCKED = "Blocked"


class BlueprintPhase(StrEnum):
    """Where a whole CityBlueprint stands, folded from its initiatives."""

    BLOCKED = "Blocked"
    ROLLING_OUT = "RollingOut"
    LIVE = "Live"
    DEGRADED = "Degraded"


class Wave(StrEnum):
    """Which districts an initiative's workloads run in."""

    PILOT = "pilot"
    CITYWIDE = "citywide"


class Area(StrEnum):
    """The six smart-city areas, in the order tables and reports show them."""

    MOBILITY = "mobility"
    LIVING = "living"
    ENVIRONMENT = "environment"
    GOVERNMENT = "government"
    PEOPLE = "people"
    ECONOMY = "economy"


# Phases in which an initiative serves citywide: what a dependent initiative waits for. An
# upgrading initiative still serves its last good revision everywhere.
STARTED_PHASES = frozenset({Phase.LIVE, Phase.UPGRADING, Phase.DEGRADED})


class ConditionType(StrEnum):
    """The `status.conditions[].type`s citykit sets, on Initiatives and CityBlueprints."""

    # Initiative and CityBlueprint: serving as the spec asks (the reason is the phase)
    READY = "Ready"
    # Initiative: a revision in flight (piloting, promoted, rolled back, reverted)
    PROGRESSING = "Progressing"
    # Initiative: what it dependsOn serves citywide
    DEPENDENCIES_READY = "DependenciesReady"
    # Initiative: checked with its blueprint against the jurisdiction profile
    POLICY_COMPLIANT = "PolicyCompliant"
    # CityBlueprint: schema, references and policy checks passed
    VALID = "Valid"
    # CityBlueprint: no binding KPI target off track
    BINDING_TARGETS_ON_TRACK = "BindingTargetsOnTrack"


class Reason(StrEnum):
    """The `reason`s of citykit's conditions and Events, beyond the phases (a `Ready`
    condition's reason is the phase itself, and `DependenciesReady` says Waiting or Live)."""

    VALIDATED = "Validated"
    VALIDATION_FAILED = "ValidationFailed"
    # Progressing: a candidate revision pilots, waits for approval, replaced the citywide one,
    # was rolled back, or was withdrawn with the spec back on the running revision
    PILOTING = "Piloting"
    AWAITING_APPROVAL = "AwaitingApproval"
    PROMOTED = "Promoted"
    ROLLED_BACK = "RolledBack"
    REVERTED = "Reverted"
    # BindingTargetsOnTrack
    BINDING_TARGETS_ON_TRACK = "BindingTargetsOnTrack"
    BINDING_TARGETS_OFF_TRACK = "BindingTargetsOffTrack"
    NO_BINDING_TARGETS = "NoBindingTargets"


class EventType(StrEnum):
    """An Event's `type`, as Kubernetes defines it."""

    NORMAL = "Normal"
    WARNING = "Warning"


class Verdict(StrEnum):
    """Where one KPI target stands (`status.kpis[].verdict`), in the order tables list them."""

    MET = "met"
    ON_TRACK = "on-track"
    OFF_TRACK = "off-track"
    NO_DATA = "no-data"


class Commitment(StrEnum):
    """How firmly a city promised a KPI target (`spec.kpiTargets[].commitment`)."""

    BINDING = "binding"
    EXPECTED = "expected"


class Outcome(StrEnum):
    """How the rollout of one applied spec ended, or that it has not yet: the
    `citykit.io/outcome` annotation of its ControllerRevision."""

    PROGRESSING = "Progressing"
    LIVE = "Live"
    DEGRADED = "Degraded"
    ROLLED_BACK = "RolledBack"
    SUPERSEDED = "Superseded"


class KubeCondition(StrEnum):
    """Conditions Kubernetes itself sets that citykit waits for."""

    NODE_READY = "Ready"  # a Node's
    CRD_ESTABLISHED = "Established"  # a CustomResourceDefinition's


# The order tables, summaries and the report's bars list phases in: furthest along first
# (an upgrading initiative still serves its last good revision citywide), trouble last.
PHASE_ORDER: tuple[Phase, ...] = (
    Phase.LIVE,
    Phase.UPGRADING,
    Phase.CITYWIDE,
    Phase.AWAITING_APPROVAL,
    Phase.PILOT,
    Phase.WAITING,
    Phase.PENDING,
    Phase.DEGRADED,
    Phase.BLOCKED,
)
