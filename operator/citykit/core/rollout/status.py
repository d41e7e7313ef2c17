"""The rollout's typed view of what the operator reads and writes for one initiative.

The operator parses what it observed at its edge: the Initiative's spec (`RolloutSpec`), its
Deployments (`DeploymentState`) and its stored status (`InitiativeStatus.from_dict`); the state
machine (`machine`) decides from these, and the operator writes `InitiativeStatus.to_dict()`,
the status schema's shape, only when it differs from what is stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from citykit.api.enums import Phase, Wave
from citykit.api.names import CANDIDATE_LABEL, REVISION_LABEL, WAVE_LABEL
from citykit.core.model.blueprint import DEFAULT_HEALTHY_FOR, DEFAULT_PROGRESS_DEADLINE, Gate
from citykit.core.rollout.conditions import Condition, conditions_of


@dataclass(frozen=True)
class RolloutSpec:
    """What the state machine reads of an Initiative's spec."""

    ref: str
    districts: tuple[str, ...]
    pilot_districts: tuple[str, ...]
    gate: Gate
    depends_on: tuple[str, ...]

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> RolloutSpec:
        gate = spec.get("gate") or {}
        return cls(
            ref=spec["ref"],
            districts=tuple(spec.get("districts", ())),
            pilot_districts=tuple(spec.get("pilotDistricts", ())),
            gate=Gate(
                gate.get("healthyFor", DEFAULT_HEALTHY_FOR),
                gate.get("approval", "auto"),
                gate.get("progressDeadline", DEFAULT_PROGRESS_DEADLINE),
            ),
            depends_on=tuple(spec.get("dependsOn", ())),
        )

    @property
    def initial_wave(self) -> Wave:
        """Initiatives with pilot districts start as pilots; the others go straight citywide."""
        return Wave.PILOT if self.pilot_districts else Wave.CITYWIDE


@dataclass(frozen=True)
class DeploymentState:
    """What the state machine reads of one of an initiative's Deployments."""

    wave: Wave | None
    replicas: int
    ready: int
    current: bool
    revision: str | None = None
    candidate: bool = False  # an upgrade's candidate, beside the citywide Deployments

    @classmethod
    def from_api(cls, deployment: Mapping[str, Any]) -> DeploymentState:
        metadata = deployment.get("metadata") or {}
        labels = metadata.get("labels") or {}
        label = labels.get(WAVE_LABEL)
        status = deployment.get("status") or {}
        return cls(
            wave=Wave(label) if label in tuple(Wave) else None,
            replicas=(deployment.get("spec") or {}).get("replicas", 1),
            ready=min(status.get("readyReplicas") or 0, status.get("updatedReplicas") or 0),
            current=(status.get("observedGeneration") or 0) >= metadata.get("generation", 0),
            revision=labels.get(REVISION_LABEL),
            candidate=CANDIDATE_LABEL in labels,
        )


@dataclass(frozen=True)
class LastGood:
    """The last revision that was Live citywide, and the Initiative spec fields it renders
    from (`objects.revision_spec`): kept so that it can be rendered again when the spec is
    another revision's, to restore its objects or to return to it."""

    revision: str
    spec: Mapping[str, Any]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> LastGood | None:
        if not data or "revision" not in data:
            return None
        return cls(data["revision"], dict(data.get("spec") or {}))

    def to_dict(self) -> dict[str, Any]:
        return {"revision": self.revision, "spec": dict(self.spec)}


@dataclass(frozen=True)
class InitiativeStatus:
    """An Initiative's `status`, typed; `to_dict` is the status schema's shape."""

    phase: Phase = Phase.PENDING
    message: str = ""
    wave: Wave | None = None
    ready_replicas: int | None = None
    replicas: int | None = None
    pilot_healthy_since: str | None = None
    approved_by: str | None = None
    observed_generation: int | None = None
    conditions: tuple[Condition, ...] = ()
    revision: str | None = None
    candidate_revision: str | None = None
    candidate_since: str | None = None
    failed_revision: str | None = None
    promoted_at: str | None = None
    last_good: LastGood | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InitiativeStatus:
        phase, wave = data.get("phase"), data.get("wave")
        return cls(
            phase=Phase(phase) if phase in tuple(Phase) else Phase.PENDING,
            message=data.get("message", ""),
            wave=Wave(wave) if wave in tuple(Wave) else None,
            ready_replicas=data.get("readyReplicas"),
            replicas=data.get("replicas"),
            pilot_healthy_since=data.get("pilotHealthySince"),
            approved_by=data.get("approvedBy"),
            observed_generation=data.get("observedGeneration"),
            conditions=conditions_of(data),
            revision=data.get("revision"),
            candidate_revision=data.get("candidateRevision"),
            candidate_since=data.get("candidateSince"),
            failed_revision=data.get("failedRevision"),
            promoted_at=data.get("promotedAt"),
            last_good=LastGood.from_dict(data.get("lastGood")),
        )

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"phase": str(self.phase), "message": self.message}
        if self.wave is not None:
            data["wave"] = str(self.wave)
        if self.replicas is not None and self.ready_replicas is not None:
            data["readyReplicas"], data["replicas"] = self.ready_replicas, self.replicas
            data["ready"] = f"{self.ready_replicas}/{self.replicas}"
        if self.pilot_healthy_since is not None:
            data["pilotHealthySince"] = self.pilot_healthy_since
        if self.approved_by is not None:
            data["approvedBy"] = self.approved_by
        if self.observed_generation is not None:
            data["observedGeneration"] = self.observed_generation
        for key, value in (
            ("revision", self.revision),
            ("candidateRevision", self.candidate_revision),
            ("candidateSince", self.candidate_since),
            ("failedRevision", self.failed_revision),
            ("promotedAt", self.promoted_at),
        ):
            if value is not None:
                data[key] = value
        if self.last_good is not None:
            data["lastGood"] = self.last_good.to_dict()
        if self.conditions:
            data["conditions"] = [condition.to_dict() for condition in self.conditions]
        return data
