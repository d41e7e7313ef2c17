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
