"""The rollout state machine: dependencies, pilot gate, approval, citywide, degradation."""

from __future__ import annotations

import datetime
from typing import Any

from citykit.core.rollout.conditions import set_condition, timestamp
from citykit.core.rollout.fold import fold_blueprint_status, progress_only
from citykit.core.rollout.machine import InitiativeView, next_initiative_status
from citykit.core.rollout.status import DeploymentState, InitiativeStatus, RolloutSpec
from tests.rollout_inputs import T0, spec


def deployment(
    wave: str, ready: int, replicas: int = 1, generation: int = 1, observed: int = 1
) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"citykit.io/wave": wave}, "generation": generation},
        "spec": {"replicas": replicas},
        "status": {
            "readyReplicas": ready,
            "updatedReplicas": ready,
            "observedGeneration": observed,
        },
    }


def view(
    status: dict[str, Any] | InitiativeStatus | None = None,
    deployments: list[dict[str, Any]] | None = None,
    approved_by: str | None = None,
    phases: dict[str, str] | None = None,
    **spec_overrides: Any,
) -> InitiativeView:
    return InitiativeView(
        RolloutSpec.from_spec(spec(**spec_overrides)),
        1,
        status
        if isinstance(status, InitiativeStatus)
        else InitiativeStatus.from_dict(status or {}),
        phases or {},
        [DeploymentState.from_api(item) for item in deployments or []],
        approved_by,
    )


def test_initiative_waits_for_dependencies_that_are_not_live() -> None:
    decision = next_initiative_status(
        view(
            dependsOn=["government.digital-identity"],
            phases={"government.digital-identity": "Pilot"},
        ),
        1,
        T0,
    )
    assert decision.wave is None
    assert decision.status.phase == "Waiting"
    assert "government.digital-identity" in decision.status.message


def test_initiative_starts_once_dependencies_are_live() -> None:
    decision = next_initiative_status(
        view(
            dependsOn=["government.digital-identity"],
            phases={"government.digital-identity": "Live"},
        ),
        1,
        T0,
    )
    assert decision.wave == "pilot"
    assert decision.status.phase == "Pilot"


def test_initiative_without_pilot_districts_goes_straight_citywide() -> None:
    decision = next_initiative_status(view(pilotDistricts=[]), 1, T0)
    assert decision.wave == "citywide"
    assert decision.status.phase == "Citywide"


def test_manual_gate_without_pilot_districts_deploys_nothing_until_approved() -> None:
    manual = {"pilotDistricts": [], "gate": {"healthyFor": "10m", "approval": "manual"}}
    waiting = next_initiative_status(view(**manual), 1, T0)
    assert (waiting.wave, waiting.status.phase) == (None, "AwaitingApproval")
    assert "citykit approve" in waiting.status.message
    approved = next_initiative_status(view(waiting.status, approved_by="council", **manual), 1, T0)
    assert (approved.wave, approved.status.phase, approved.status.approved_by) == (
        "citywide",
        "Citywide",
        "council",
    )


def test_manual_gate_does_not_hold_back_an_initiative_already_deployed_citywide() -> None:
    """A gate changed to manual after the rollout must not take a running service down."""
    decision = next_initiative_status(
        view(
            {"wave": "citywide"},
            [deployment("citywide", 1)],
            pilotDistricts=[],
            gate={"healthyFor": "10m", "approval": "manual"},
        ),
        1,
        T0,
    )
    assert (decision.wave, decision.status.phase) == ("citywide", "Live")


def test_healthy_pilot_waits_for_its_gate() -> None:
    decision = next_initiative_status(view(deployments=[deployment("pilot", 1)]), 1, T0)
    assert decision.status.phase == "Pilot"
    assert decision.status.pilot_healthy_since == timestamp(T0)
    assert decision.recheck_after == 600


def test_pilot_healthy_for_its_gate_goes_citywide() -> None:
    earlier = {"wave": "pilot", "pilotHealthySince": timestamp(T0)}
    decision = next_initiative_status(
        view(earlier, [deployment("pilot", 1)]), 1, T0 + datetime.timedelta(minutes=10)
    )
    assert decision.wave == "citywide"
    assert decision.status.phase == "Citywide"


def test_unhealthy_pilot_restarts_the_gate_clock() -> None:
    earlier = {"wave": "pilot", "pilotHealthySince": timestamp(T0)}
    decision = next_initiative_status(
        view(earlier, [deployment("pilot", 0)]), 1, T0 + datetime.timedelta(minutes=20)
    )
    assert decision.wave == "pilot"
    assert decision.status.pilot_healthy_since is None


def test_manual_gate_waits_for_approval() -> None:
    earlier = {"wave": "pilot", "pilotHealthySince": timestamp(T0)}
    later = T0 + datetime.timedelta(hours=1)
    waiting = next_initiative_status(
        view(earlier, [deployment("pilot", 1)], gate={"healthyFor": "10m", "approval": "manual"}),
        1,
        later,
    )
    assert (waiting.wave, waiting.status.phase) == ("pilot", "AwaitingApproval")
    approved = next_initiative_status(
        view(
            earlier,
            [deployment("pilot", 1)],
            approved_by="mayor",
            gate={"healthyFor": "10m", "approval": "manual"},
        ),
        1,
        later,
    )
    assert (approved.wave, approved.status.approved_by) == ("citywide", "mayor")
    live = next_initiative_status(
        view(
            approved.status,
            [deployment("citywide", 2, 2)],
            approved_by="mayor",
            gate={"healthyFor": "10m", "approval": "manual"},
        ),
        1,
        later,
    )
    assert (live.status.phase, live.status.approved_by) == ("Live", "mayor")


def test_citywide_ready_is_live_and_losing_readiness_is_degraded() -> None:
    live = next_initiative_status(view({"wave": "citywide"}, [deployment("citywide", 2, 2)]), 1, T0)
    assert live.status.phase == "Live"
    assert live.status.to_dict()["ready"] == "2/2"
    degraded = next_initiative_status(view(live.status, [deployment("citywide", 1, 2)]), 1, T0)
    assert degraded.status.phase == "Degraded"


def test_deployment_not_yet_observed_is_not_ready() -> None:
    decision = next_initiative_status(
        view({"wave": "citywide"}, [deployment("citywide", 2, 2, generation=3, observed=2)]), 1, T0
    )
    assert decision.status.phase == "Citywide"


def test_missing_component_deployment_is_not_ready() -> None:
    decision = next_initiative_status(
        view({"wave": "citywide"}, [deployment("citywide", 2, 2)]), 2, T0
    )
    assert decision.status.phase == "Citywide"


def test_recomputing_an_unchanged_status_gives_the_same_status() -> None:
    first = next_initiative_status(
        view({"wave": "citywide"}, [deployment("citywide", 2, 2)]), 1, T0
    )
    again = next_initiative_status(
        view(first.status, [deployment("citywide", 2, 2)]), 1, T0 + datetime.timedelta(hours=3)
    )
    assert again.status == first.status


def test_condition_transition_time_moves_only_when_status_changes() -> None:
    first = set_condition([], "Ready", False, "Pilot", "m", 1, T0)
    same = set_condition(
        first, "Ready", False, "Pilot", "other message", 2, T0 + datetime.timedelta(minutes=5)
    )
    flipped = set_condition(same, "Ready", True, "Live", "m", 2, T0 + datetime.timedelta(minutes=9))
    assert same[0].last_transition_time == timestamp(T0)
    assert flipped[0].last_transition_time == timestamp(T0 + datetime.timedelta(minutes=9))


def test_blueprint_status_counts_by_phase_and_area() -> None:
    blueprint_spec = {
        "version": "2.0.0",
        "initiatives": [
            {"ref": "mobility.a"},
            {"ref": "mobility.b"},
            {"ref": "people.c"},
            {"ref": "people.d", "enabled": False},
        ],
        "kpiTargets": [
            {"kpi": "k", "baseline": 1, "target": 2, "year": 2030, "commitment": "binding"}
        ],
    }
    status = fold_blueprint_status(
        blueprint_spec, 4, {}, {"mobility.a": "Live", "mobility.b": "Pilot"}, T0
    )
    assert status["live"] == "1/3"
    assert status["phase"] == "RollingOut"
    assert status["initiatives"]["byPhase"] == {"Live": 1, "Pending": 1, "Pilot": 1}
    assert status["initiatives"]["byArea"] == {
        "mobility": {"live": 1, "total": 2},
        "people": {"live": 0, "total": 1},
    }
    assert status["kpiTargets"][0]["commitment"] == "binding"
    assert status["appliedVersion"] == "2.0.0"


def test_status_patch_removes_map_keys_that_went_away() -> None:
    from citykit.core.render.converge import merge_patch

    stored = {
        "phase": "RollingOut",
        "initiatives": {"byPhase": {"Pilot": 1, "Live": 1}, "total": 2},
    }
    wanted = {"phase": "Live", "initiatives": {"byPhase": {"Live": 2}, "total": 2}}
    assert merge_patch(stored, wanted) == {
        "phase": "Live",
        "initiatives": {"byPhase": {"Pilot": None, "Live": 2}},
    }
    assert merge_patch(wanted, wanted) == {}


def test_citywide_deployments_keep_the_wave_when_the_status_still_says_pilot() -> None:
    """Killed after writing the citywide children, before writing status: no way back."""
    stale = {"wave": "pilot", "phase": "Pilot", "pilotHealthySince": timestamp(T0)}
    decision = next_initiative_status(
        view(stale, [deployment("citywide", 0), deployment("pilot", 1)]),
        2,
        T0 + datetime.timedelta(seconds=1),
    )
    assert decision.wave == "citywide"
    assert decision.status.wave == "citywide"
    assert decision.status.phase == "Citywide"


def test_a_partly_flipped_rollout_goes_on_citywide_and_becomes_live() -> None:
    stale = {"wave": "pilot", "phase": "Pilot", "pilotHealthySince": timestamp(T0)}
    decision = next_initiative_status(
        view(stale, [deployment("citywide", 1), deployment("citywide", 1)]), 2, T0
    )
    assert (decision.wave, decision.status.phase) == ("citywide", "Live")


def test_a_pilot_whose_status_was_lost_keeps_its_wave_and_starts_no_new_one() -> None:
    decision = next_initiative_status(view({}, [deployment("pilot", 1)]), 1, T0)
    assert decision.wave == "pilot"


def test_manual_gate_without_pilot_does_not_hold_back_deployments_that_exist() -> None:
    manual = {"pilotDistricts": [], "gate": {"healthyFor": "10m", "approval": "manual"}}
    decision = next_initiative_status(view({}, [deployment("citywide", 1)], **manual), 1, T0)
    assert (decision.wave, decision.status.phase) == ("citywide", "Live")


def test_the_gate_is_rechecked_exactly_when_it_opens() -> None:
    earlier = {"wave": "pilot", "pilotHealthySince": timestamp(T0)}
    decision = next_initiative_status(
        view(earlier, [deployment("pilot", 1)]), 1, T0 + datetime.timedelta(seconds=450)
    )
    assert decision.recheck_after == 150
    assert decision.status.pilot_healthy_since == timestamp(T0)


def test_status_round_trips_through_the_schema_dict() -> None:
    decision = next_initiative_status(
        view({"wave": "citywide"}, [deployment("citywide", 2, 2)], approved_by="mayor"), 1, T0
    )
    stored = decision.status.to_dict()
    assert InitiativeStatus.from_dict(stored) == decision.status
    assert stored["ready"] == "2/2"
    assert stored["conditions"][0]["type"] == "DependenciesReady"


def test_more_ready_replicas_in_the_same_phase_is_progress_only() -> None:
    citywide = {"phase": "Citywide", "wave": "citywide"}
    one = next_initiative_status(view(citywide, [deployment("citywide", 1, replicas=3)]), 1, T0)
    two = next_initiative_status(view(citywide, [deployment("citywide", 2, replicas=3)]), 1, T0)
    assert progress_only(one.status.to_dict(), two.status.to_dict())


def test_a_pilot_counting_up_its_ready_replicas_is_progress_only() -> None:
    one = next_initiative_status(
        view({"phase": "Pilot", "wave": "pilot"}, [deployment("pilot", 0, 2)]), 1, T0
    )
    two = next_initiative_status(
        view({"phase": "Pilot", "wave": "pilot"}, [deployment("pilot", 1, 2)]), 1, T0
    )
    assert one.status.message != two.status.message
    assert progress_only(one.status.to_dict(), two.status.to_dict())


def test_a_phase_change_or_a_started_gate_clock_is_not_progress_only() -> None:
    citywide = {"phase": "Citywide", "wave": "citywide"}
    rolling = next_initiative_status(view(citywide, [deployment("citywide", 1, 2)]), 1, T0)
    live = next_initiative_status(view(citywide, [deployment("citywide", 2, 2)]), 1, T0)
    assert not progress_only(rolling.status.to_dict(), live.status.to_dict())
    pilot = {"phase": "Pilot", "wave": "pilot"}
    unhealthy = next_initiative_status(view(pilot, [deployment("pilot", 0)]), 1, T0)
    healthy = next_initiative_status(view(pilot, [deployment("pilot", 1)]), 1, T0)
    assert healthy.status.pilot_healthy_since is not None
    assert not progress_only(unhealthy.status.to_dict(), healthy.status.to_dict())


def test_an_unchanged_status_is_not_a_change_at_all() -> None:
    status = next_initiative_status(view(), 1, T0).status.to_dict()
    assert not progress_only(status, dict(status))


def test_blueprint_status_carries_kpi_verdicts_and_a_binding_condition() -> None:
    spec = {"version": "1.0.0", "initiatives": [{"ref": "mobility.a"}]}
    slipping = [
        {"kpi": "k", "commitment": "binding", "verdict": "off-track", "message": "behind"},
        {"kpi": "e", "commitment": "expected", "verdict": "off-track", "message": "behind"},
    ]
    status = fold_blueprint_status(spec, 1, {}, {"mobility.a": "Live"}, T0, slipping)
    condition = next(c for c in status["conditions"] if c["type"] == "BindingTargetsOnTrack")
    assert (condition["status"], condition["reason"]) == ("False", "BindingTargetsOffTrack")
    assert "k: behind" in condition["message"] and "e:" not in condition["message"]
    assert status["kpis"] == slipping

    recovered = [{**slipping[0], "verdict": "on-track"}, slipping[1]]
    later = fold_blueprint_status(spec, 1, status, {"mobility.a": "Live"}, T0, recovered)
    condition = next(c for c in later["conditions"] if c["type"] == "BindingTargetsOnTrack")
    assert condition["status"] == "True"
    no_targets = fold_blueprint_status(spec, 1, {}, {"mobility.a": "Live"}, T0)
    assert "kpis" not in no_targets
    assert all(c["type"] != "BindingTargetsOnTrack" for c in no_targets["conditions"])
