"""Upgrades in the rollout state machine: a changed revision of a live initiative pilots
beside the citywide one, goes citywide after its gate, or rolls back by itself."""

from __future__ import annotations

import datetime
from dataclasses import replace
from typing import Any

from citykit.core.rollout.conditions import timestamp
from citykit.core.rollout.fold import settled_outcome
from citykit.core.rollout.history import Outcome
from citykit.core.rollout.machine import Decision, InitiativeView, next_initiative_status
from citykit.core.rollout.status import DeploymentState, InitiativeStatus, LastGood, RolloutSpec
from tests.rollout_inputs import T0, spec

OLD, NEW, NEWER = "aaaaaaaaaa", "bbbbbbbbbb", "cccccccccc"


def minutes(n: float) -> datetime.datetime:
    return T0 + datetime.timedelta(minutes=n)


def deployment(
    wave: str, revision: str, ready: int, replicas: int = 1, candidate: bool = False
) -> DeploymentState:
    labels = {"citykit.io/wave": wave, "citykit.io/revision": revision}
    if candidate:
        labels["citykit.io/candidate"] = "true"
    return DeploymentState.from_api(
        {
            "metadata": {"labels": labels, "generation": 1},
            "spec": {"replicas": replicas},
            "status": {"readyReplicas": ready, "updatedReplicas": ready, "observedGeneration": 1},
        }
    )


LIVE = InitiativeStatus.from_dict(
    {"phase": "Live", "wave": "citywide", "revision": OLD, "observedGeneration": 1}
)
CITYWIDE_OK = [deployment("citywide", OLD, 2, 2)]


def view(
    status: InitiativeStatus,
    deployments: list[DeploymentState],
    revision: str = NEW,
    approved_by: str | None = None,
    approved_revision: str | None = None,
    revision_spec: dict[str, Any] | None = None,
    **spec_overrides: Any,
) -> InitiativeView:
    return InitiativeView(
        RolloutSpec.from_spec(spec(**spec_overrides)),
        2,
        status,
        {},
        deployments,
        approved_by,
        revision=revision,
        approved_revision=approved_revision,
        revision_spec=revision_spec,
    )


def step(v: InitiativeView, at: datetime.datetime) -> Decision:
    return next_initiative_status(v, 1, at)


def candidate(ready: int, revision: str = NEW) -> DeploymentState:
    return deployment("pilot", revision, ready, 1, candidate=True)


def progressing(decision: Decision) -> dict[str, str]:
    found = next(c for c in decision.status.conditions if c.type == "Progressing")
    return {"status": found.status, "reason": found.reason, "message": found.message}


def test_an_unchanged_live_initiative_stays_live_and_deploys_as_before() -> None:
    decision = step(view(LIVE, CITYWIDE_OK, revision=OLD), minutes(0))
    assert decision.status.phase == "Live"
    assert decision.status.revision == OLD
    assert decision.status.candidate_revision is None
    assert (decision.wave, decision.candidate, decision.hold) == ("citywide", False, False)


def test_a_changed_revision_pilots_beside_the_citywide_one() -> None:
    decision = step(view(LIVE, CITYWIDE_OK), minutes(0))
    assert decision.status.phase == "Upgrading"
    assert decision.candidate and decision.wave is None  # citywide objects are not rendered
    assert (decision.status.revision, decision.status.candidate_revision) == (OLD, NEW)
    assert decision.status.candidate_since == timestamp(minutes(0))
    assert decision.status.to_dict()["revision"] == OLD
    assert decision.status.to_dict()["candidateRevision"] == NEW
    assert "piloting in a beside" in decision.status.message
    assert decision.recheck_after == 600  # the progress deadline


def test_an_upgrade_pilots_then_goes_citywide_after_its_gate() -> None:
    started = step(view(LIVE, CITYWIDE_OK), minutes(0)).status
    healthy = step(view(started, [*CITYWIDE_OK, candidate(1)]), minutes(1))
    assert healthy.status.phase == "Upgrading"
    assert healthy.status.pilot_healthy_since == timestamp(minutes(1))
    assert healthy.recheck_after == 600
    waiting = step(view(healthy.status, [*CITYWIDE_OK, candidate(1)]), minutes(6))
    assert waiting.status.phase == "Upgrading" and waiting.candidate
    promoted = step(view(waiting.status, [*CITYWIDE_OK, candidate(1)]), minutes(11))
    assert promoted.status.phase == "Citywide"
    assert promoted.wave == "citywide" and not promoted.candidate and not promoted.hold
    assert promoted.status.revision == NEW and promoted.status.candidate_revision is None
    assert progressing(promoted)["reason"] == "Promoted"
    # the citywide Deployments roll to the new revision, the candidate's are gone
    live = step(view(promoted.status, [deployment("citywide", NEW, 2, 2)]), minutes(12))
    assert live.status.phase == "Live" and live.status.revision == NEW


def test_a_rolling_citywide_revision_after_promotion_is_not_degraded() -> None:
    promoted = InitiativeStatus.from_dict(
        {"phase": "Citywide", "wave": "citywide", "revision": NEW, "observedGeneration": 2}
    )
    rolling = step(view(promoted, [deployment("citywide", NEW, 1, 2)]), minutes(12))
    assert rolling.status.phase == "Citywide"


def test_a_manual_gate_waits_for_approval_of_the_candidate_revision() -> None:
    gate = {"healthyFor": "10m", "approval": "manual"}
    started = step(view(LIVE, CITYWIDE_OK, gate=gate), minutes(0)).status
    healthy = step(view(started, [*CITYWIDE_OK, candidate(1)], gate=gate), minutes(1)).status
    # approved for the first rollout, or for another revision: not for this one
    old_approval = view(
        healthy,
        [*CITYWIDE_OK, candidate(1)],
        approved_by="office",
        approved_revision=OLD,
        gate=gate,
    )
    waiting = step(old_approval, minutes(20))
    assert waiting.status.phase == "Upgrading"
    assert "citykit approve" in waiting.status.message
    assert waiting.recheck_after is None  # nothing but the approval opens it
    approved = view(
        waiting.status,
        [*CITYWIDE_OK, candidate(1)],
        approved_by="office",
        approved_revision=NEW,
        gate=gate,
    )
    promoted = step(approved, minutes(21))
    assert promoted.status.phase == "Citywide" and promoted.status.revision == NEW


def test_a_candidate_not_healthy_by_its_deadline_rolls_back() -> None:
    started = step(view(LIVE, CITYWIDE_OK), minutes(0)).status
    trying = step(view(started, [*CITYWIDE_OK, candidate(0)]), minutes(5))
    assert trying.status.phase == "Upgrading" and trying.candidate
    assert trying.recheck_after == 300
    rolled = step(view(trying.status, [*CITYWIDE_OK, candidate(0)]), minutes(10))
    assert rolled.status.phase == "Live"  # the citywide revision never stopped
    assert rolled.hold and not rolled.candidate  # the candidate's objects go
    assert (rolled.status.revision, rolled.status.failed_revision) == (OLD, NEW)
    assert rolled.status.candidate_revision is None
    assert progressing(rolled)["status"] == "False"
    assert progressing(rolled)["reason"] == "RolledBack"
    assert "not healthy within 10m" in progressing(rolled)["message"]
    assert rolled.event is not None and rolled.event.type == "Warning"
    assert "rolled back to " + OLD in rolled.event.message


def test_the_progress_deadline_comes_from_the_gate() -> None:
    gate = {"healthyFor": "10m", "approval": "auto", "progressDeadline": "30s"}
    started = step(view(LIVE, CITYWIDE_OK, gate=gate), minutes(0)).status
    assert step(view(started, [*CITYWIDE_OK, candidate(0)], gate=gate), minutes(0.4)).candidate
    rolled = step(view(started, [*CITYWIDE_OK, candidate(0)], gate=gate), minutes(0.5))
    assert rolled.hold and "within 30s" in progressing(rolled)["message"]


def test_a_candidate_degraded_in_the_pilot_rolls_back_before_its_deadline() -> None:
    started = step(view(LIVE, CITYWIDE_OK), minutes(0)).status
    healthy = step(view(started, [*CITYWIDE_OK, candidate(1)]), minutes(1)).status
    degraded = step(view(healthy, [*CITYWIDE_OK, candidate(0)]), minutes(2))
    assert degraded.hold and degraded.status.failed_revision == NEW
    assert "went Degraded in the pilot" in progressing(degraded)["message"]
    assert degraded.event is not None and degraded.event.reason == "RolledBack"


def test_a_failed_revision_is_not_retried_and_posts_no_second_event() -> None:
    started = step(view(LIVE, CITYWIDE_OK), minutes(0)).status
    rolled = step(view(started, [*CITYWIDE_OK, candidate(0)]), minutes(10)).status
    again = step(view(rolled, CITYWIDE_OK), minutes(11))
    later = step(view(again.status, CITYWIDE_OK), minutes(500))
    for decision in (again, later):
        assert decision.hold and not decision.candidate and decision.event is None
        assert decision.status.phase == "Live" and decision.status.revision == OLD
    assert later.status == again.status  # nothing to write
    assert progressing(later)["reason"] == "RolledBack"


def test_a_new_spec_after_a_rollback_is_tried() -> None:
    started = step(view(LIVE, CITYWIDE_OK), minutes(0)).status
    rolled = step(view(started, [*CITYWIDE_OK, candidate(0)]), minutes(10)).status
    retried = step(view(rolled, CITYWIDE_OK, revision=NEWER), minutes(11))
    assert retried.candidate and retried.status.candidate_revision == NEWER
    assert retried.status.candidate_since == timestamp(minutes(11))


def test_a_second_change_mid_upgrade_replaces_the_candidate_and_restarts_its_clocks() -> None:
    started = step(view(LIVE, CITYWIDE_OK), minutes(0)).status
    healthy = step(view(started, [*CITYWIDE_OK, candidate(1)]), minutes(5)).status
    newer = step(view(healthy, [*CITYWIDE_OK, candidate(1)], revision=NEWER), minutes(9))
    assert newer.candidate and newer.status.candidate_revision == NEWER
    assert newer.status.candidate_since == timestamp(minutes(9))
    assert newer.status.pilot_healthy_since is None  # NEW's health does not count for NEWER
    # NEW's healthy Deployments are not NEWER's: the gate waits for NEWER's own health
    still = step(view(newer.status, [*CITYWIDE_OK, candidate(1)], revision=NEWER), minutes(16))
    assert still.status.phase == "Upgrading" and still.status.pilot_healthy_since is None
    ready = step(
        view(newer.status, [*CITYWIDE_OK, candidate(1, NEWER)], revision=NEWER), minutes(16)
    )
    done = step(
        view(ready.status, [*CITYWIDE_OK, candidate(1, NEWER)], revision=NEWER), minutes(26)
    )
    assert done.status.phase == "Citywide" and done.status.revision == NEWER


def test_going_back_to_the_running_revision_mid_upgrade_withdraws_the_candidate() -> None:
    started = step(view(LIVE, CITYWIDE_OK), minutes(0)).status
    back = step(view(started, [*CITYWIDE_OK, candidate(0)], revision=OLD), minutes(1))
    assert back.wave == "citywide" and not back.candidate and not back.hold
    assert back.status.phase == "Live" and back.status.candidate_revision is None
    assert progressing(back)["reason"] == "Reverted"


def test_an_initiative_without_pilot_districts_follows_its_gate_only() -> None:
    auto = step(view(LIVE, CITYWIDE_OK, pilotDistricts=[]), minutes(0))
    assert auto.wave == "citywide" and not auto.candidate
    assert auto.status.phase == "Citywide" and auto.status.revision == NEW
    gate = {"healthyFor": "10m", "approval": "manual"}
    manual = step(view(LIVE, CITYWIDE_OK, pilotDistricts=[], gate=gate), minutes(0))
    assert manual.hold and not manual.candidate and manual.wave is None
    assert manual.status.phase == "Upgrading" and "citykit approve" in manual.status.message
    approved = view(
        manual.status,
        CITYWIDE_OK,
        approved_by="office",
        approved_revision=NEW,
        pilotDistricts=[],
        gate=gate,
    )
    assert step(approved, minutes(1)).wave == "citywide"


def test_the_citywide_labels_say_which_revision_runs_after_a_crash() -> None:
    """Promoted, children written, status lost: the Deployments say NEW runs citywide."""
    crashed = InitiativeStatus.from_dict(
        {"phase": "Upgrading", "wave": "citywide", "revision": OLD, "candidateRevision": NEW}
    )
    decision = step(view(crashed, [deployment("citywide", NEW, 2, 2)]), minutes(3))
    assert decision.wave == "citywide" and decision.status.revision == NEW


def test_dependents_of_an_upgrading_initiative_keep_running() -> None:
    upgrading = step(view(LIVE, CITYWIDE_OK), minutes(0)).status.phase
    dependent = InitiativeView(
        RolloutSpec.from_spec(spec(dependsOn=["mobility.other"], pilotDistricts=[])),
        1,
        InitiativeStatus(),
        {"mobility.other": upgrading},
        [],
        None,
    )
    assert next_initiative_status(dependent, 1, T0).status.phase != "Waiting"


def initiative(generation: int, observed: int, conditions: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "metadata": {"generation": generation},
        "spec": {"ref": "mobility.smart-parking"},
        "status": {"observedGeneration": observed, "conditions": conditions},
    }


def test_a_revisions_outcome_waits_for_statuses_of_the_current_generation() -> None:
    assert settled_outcome({"phase": "Live"}, [initiative(2, 1, [])]) is None
    assert settled_outcome({"phase": "Live"}, [initiative(2, 2, [])]) == (Outcome.LIVE, None)
    assert settled_outcome({"phase": "RollingOut"}, [initiative(2, 2, [])]) is None


def test_a_rollback_makes_the_revisions_outcome_rolled_back() -> None:
    rolled = {
        "type": "Progressing",
        "status": "False",
        "reason": "RolledBack",
        "message": "not healthy",
        "observedGeneration": 2,
    }
    found = settled_outcome({"phase": "Live"}, [initiative(2, 2, [rolled])])
    assert found == (Outcome.ROLLED_BACK, "mobility.smart-parking: not healthy")


# What the status keeps of a revision (objects.revision_spec), as the operator passes it.
OLD_SPEC = {"city": "x", "ref": "mobility.smart-parking", "parameters": {"p": 1}}
NEW_SPEC = {**OLD_SPEC, "parameters": {"p": 2}}
LIVE_KEPT = replace(LIVE, last_good=LastGood(OLD, OLD_SPEC))


def test_a_revision_live_citywide_is_kept_as_the_last_good_with_what_it_renders_from() -> None:
    decision = step(view(LIVE, CITYWIDE_OK, revision=OLD, revision_spec=OLD_SPEC), minutes(0))
    assert decision.status.last_good == LastGood(OLD, OLD_SPEC)
    stored = decision.status.to_dict()["lastGood"]
    assert stored == {"revision": OLD, "spec": OLD_SPEC}
    assert InitiativeStatus.from_dict(decision.status.to_dict()) == decision.status
    # not Live yet (the first rollout still rolling): nothing is good yet
    rolling = InitiativeStatus.from_dict({"phase": "Citywide", "wave": "citywide"})
    first = step(view(rolling, [deployment("citywide", OLD, 1, 2)], revision=OLD), minutes(0))
    assert first.status.last_good is None


def test_the_last_good_revision_is_kept_through_an_upgrade_and_its_rollback() -> None:
    """So the operator can render the citywide objects of the running revision again (a
    deleted Deployment comes back) while the spec is the candidate's or a failed one's."""
    started = step(view(LIVE_KEPT, CITYWIDE_OK, revision_spec=NEW_SPEC), minutes(0))
    assert started.candidate and started.status.last_good == LastGood(OLD, OLD_SPEC)
    rolled = step(view(started.status, [*CITYWIDE_OK, candidate(0)]), minutes(10))
    assert rolled.hold and rolled.status.failed_revision == NEW
    assert rolled.status.revision == rolled.status.last_good.revision == OLD  # type: ignore[union-attr]
    later = step(view(rolled.status, CITYWIDE_OK), minutes(11))
    assert later.status.last_good == LastGood(OLD, OLD_SPEC)


def promoted_at(at: float, pilot: bool = True) -> Decision:
    """LIVE_KEPT upgraded to NEW and promoted at minute `at`: after its pilot's gate, or
    (`pilot` False) straight away, as an initiative without pilot districts is."""
    if not pilot:
        return step(view(LIVE_KEPT, CITYWIDE_OK, pilotDistricts=[]), minutes(at))
    started = step(view(LIVE_KEPT, CITYWIDE_OK), minutes(at - 11)).status
    healthy = step(view(started, [*CITYWIDE_OK, candidate(1)]), minutes(at - 10)).status
    return step(view(healthy, [*CITYWIDE_OK, candidate(1)]), minutes(at))


def test_a_promoted_revision_has_its_progress_deadline_citywide() -> None:
    promoted = promoted_at(20)
    assert promoted.status.phase == "Citywide" and promoted.status.revision == NEW
    assert promoted.status.promoted_at == timestamp(minutes(20))
    assert promoted.recheck_after == 600  # looked at again when the deadline passes
    rolling = step(view(promoted.status, [deployment("citywide", NEW, 1, 2)]), minutes(25))
    assert rolling.status.phase == "Citywide" and rolling.wave == "citywide"
    assert rolling.status.promoted_at == promoted.status.promoted_at
    assert rolling.recheck_after == 300


def test_a_promoted_revision_not_live_within_its_deadline_returns_to_the_last_good() -> None:
    promoted = promoted_at(20)
    stuck = [deployment("citywide", NEW, 1, 2)]
    rolled = step(view(promoted.status, stuck), minutes(30))
    assert rolled.hold and not rolled.candidate and rolled.wave is None
    assert (rolled.status.revision, rolled.status.failed_revision) == (OLD, NEW)
    assert rolled.status.last_good == LastGood(OLD, OLD_SPEC)
    assert rolled.status.promoted_at is None
    assert rolled.status.phase == "Degraded"  # until the last good revision is back
    assert progressing(rolled)["reason"] == "RolledBack"
    assert "not healthy citywide within 10m: 1/2 ready" in progressing(rolled)["message"]
    assert rolled.event is not None and rolled.event.type == "Warning"
    # written back: the Deployments carry OLD again, and NEW is not tried again
    back = step(view(rolled.status, CITYWIDE_OK), minutes(31))
    assert back.hold and back.event is None
    assert back.status.phase == "Live" and back.status.revision == OLD
    assert progressing(back)["reason"] == "RolledBack"


def test_a_promoted_revision_live_in_time_becomes_the_last_good() -> None:
    promoted = promoted_at(20)
    live = step(
        view(promoted.status, [deployment("citywide", NEW, 2, 2)], revision_spec=NEW_SPEC),
        minutes(29),
    )
    assert live.status.phase == "Live" and live.status.last_good == LastGood(NEW, NEW_SPEC)
    assert live.status.promoted_at is None
    # degraded later: it was Live, so it stays (no rollback past the deadline)
    later = step(view(live.status, [deployment("citywide", NEW, 1, 2)]), minutes(60))
    assert later.status.phase == "Degraded" and not later.hold
    assert later.status.revision == NEW


def test_a_no_pilot_revision_not_live_within_its_deadline_returns_to_the_last_good() -> None:
    promoted = promoted_at(0, pilot=False)
    assert promoted.wave == "citywide" and promoted.status.revision == NEW
    stuck = [deployment("citywide", NEW, 0, 2)]
    waiting = step(view(promoted.status, stuck, pilotDistricts=[]), minutes(9))
    assert waiting.wave == "citywide" and waiting.status.phase == "Citywide"
    rolled = step(view(waiting.status, stuck, pilotDistricts=[]), minutes(10))
    assert rolled.hold and rolled.status.revision == OLD
    assert rolled.status.failed_revision == NEW
    assert rolled.event is not None and rolled.event.reason == "RolledBack"


def test_without_a_last_good_revision_a_slow_citywide_rollout_is_not_rolled_back() -> None:
    promoted = step(view(LIVE, CITYWIDE_OK, pilotDistricts=[]), minutes(0))
    assert promoted.recheck_after is None and promoted.status.promoted_at is None
    slow = step(view(promoted.status, [deployment("citywide", NEW, 0, 2)]), minutes(60))
    assert slow.status.phase == "Citywide" and not slow.hold and slow.event is None


def test_a_crash_after_promotion_starts_the_citywide_deadline_from_the_labels() -> None:
    """Promoted, children written, status lost: the deadline counts from the first look."""
    crashed = replace(
        InitiativeStatus.from_dict(
            {"phase": "Upgrading", "wave": "citywide", "revision": OLD, "candidateRevision": NEW}
        ),
        last_good=LastGood(OLD, OLD_SPEC),
    )
    seen = step(view(crashed, [deployment("citywide", NEW, 1, 2)]), minutes(3))
    assert seen.status.promoted_at == timestamp(minutes(3)) and seen.recheck_after == 600


def test_a_rollout_ending_with_an_initiative_degraded_is_recorded_degraded() -> None:
    def item(ref: str, phase: str, message: str = "") -> dict[str, Any]:
        return {
            "metadata": {"generation": 2},
            "spec": {"ref": ref},
            "status": {"observedGeneration": 2, "phase": phase, "message": message},
        }

    ended = [item("living.a", "Live"), item("living.b", "Degraded", "1/2 replicas ready")]
    found = settled_outcome({"phase": "Degraded"}, ended)
    assert found == (Outcome.DEGRADED, "living.b: 1/2 replicas ready")
    under_way = [*ended, item("living.c", "Upgrading")]
    assert settled_outcome({"phase": "Degraded"}, under_way) is None


def test_a_citywide_rollback_whose_status_was_lost_is_not_tried_again() -> None:
    """Rolled back citywide, children written (the Deployments carry OLD again), status
    lost: the promoted revision is not piloted or promoted a second time."""
    promoted = promoted_at(20)
    crashed = step(view(promoted.status, CITYWIDE_OK), minutes(31))
    assert crashed.hold and not crashed.candidate and crashed.wave is None
    assert (crashed.status.revision, crashed.status.failed_revision) == (OLD, NEW)
    assert progressing(crashed)["reason"] == "RolledBack"
    assert crashed.event is not None and crashed.event.type == "Warning"
