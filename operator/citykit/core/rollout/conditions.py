"""Conditions as the Kubernetes API conventions define them, and the timestamps they carry.

`set_condition` does what kubebuilder's `meta.SetStatusCondition` does: `lastTransitionTime`
moves only when a condition's status does, so a reconcile that changes nothing computes the
same status and writes nothing. The Kubernetes client stamps its Events with `timestamp`:
that is why these live apart from the state machine, which the client has no use for.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from citykit.api.enums import BlueprintPhase, ConditionType, Phase, Reason

# What a condition's reason may be: a `Ready` condition's is the phase.
ConditionReason = Reason | Phase | BlueprintPhase


def timestamp(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(text: str) -> datetime.datetime:
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)


@dataclass(frozen=True)
class Condition:
    """A condition as the Kubernetes API conventions define it."""

    type: str
    status: str
    reason: str
    message: str
    observed_generation: int
    last_transition_time: str

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Condition:
        return cls(
            data["type"],
            data["status"],
            data.get("reason", ""),
            data.get("message", ""),
            data.get("observedGeneration", 0),
            data["lastTransitionTime"],
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "status": self.status,
            "reason": self.reason,
            "message": self.message,
            "observedGeneration": self.observed_generation,
            "lastTransitionTime": self.last_transition_time,
        }


def set_condition(
    conditions: Sequence[Condition],
    type_: ConditionType,
    status: bool,
    reason: ConditionReason,
    message: str,
    generation: int,
    now: datetime.datetime,
) -> tuple[Condition, ...]:
    """Conditions with `type_` set; `lastTransitionTime` moves only when `status` changes."""
    value = "True" if status else "False"
    previous = next((c for c in conditions if c.type == type_), None)
    changed_at = (
        previous.last_transition_time if previous and previous.status == value else timestamp(now)
    )
    condition = Condition(str(type_), value, str(reason), message, generation, changed_at)
    return tuple(
        sorted([*(c for c in conditions if c.type != type_), condition], key=lambda c: c.type)
    )


def conditions_of(status: Mapping[str, Any]) -> tuple[Condition, ...]:
    """The conditions of a stored status (an Initiative's or a CityBlueprint's)."""
    return tuple(Condition.from_dict(item) for item in status.get("conditions") or ())
