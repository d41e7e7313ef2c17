"""Which decided status changes may wait to be written, and which phase changes are news
(`core.rollout.writes`, issue 28's write budget)."""

from __future__ import annotations

from typing import Any

from citykit.api.enums import BlueprintPhase, EventType, Phase
from citykit.api.names import CITY_BLUEPRINT, INITIATIVE
from citykit.core.rollout.writes import News, may_wait, phase_news


def status(phase: str, ready: int = 0, **more: Any) -> dict[str, Any]:
    condition = {"type": "Ready", "status": str(phase == "Live"), "reason": phase}
    return {"phase": phase, "readyReplicas": ready, "conditions": [condition], **more}


def test_an_initiative_passing_from_waiting_to_pilot_to_citywide_may_wait() -> None:
    assert may_wait(INITIATIVE, {}, status(Phase.WAITING))
    assert may_wait(INITIATIVE, status(Phase.WAITING), status(Phase.PILOT))
    assert may_wait(INITIATIVE, status(Phase.PILOT), status(Phase.CITYWIDE))


def test_ready_counts_moving_may_wait() -> None:
    assert may_wait(INITIATIVE, status(Phase.LIVE, 2), status(Phase.LIVE, 3))


def test_live_and_what_a_person_acts_on_are_written_at_once() -> None:
    for phase in (Phase.LIVE, Phase.AWAITING_APPROVAL, Phase.DEGRADED, Phase.BLOCKED):
        assert not may_wait(INITIATIVE, status(Phase.CITYWIDE), status(phase)), phase


def test_an_upgrade_in_flight_is_written_at_once() -> None:
    promoted = status(Phase.CITYWIDE, promotedAt="2026-01-01T00:00:00Z")
    assert not may_wait(INITIATIVE, status(Phase.UPGRADING), promoted)
    assert not may_wait(INITIATIVE, status(Phase.PILOT), promoted)


def test_an_unchanged_status_does_not_wait_it_is_not_written_at_all() -> None:
    assert not may_wait(INITIATIVE, status(Phase.PILOT), status(Phase.PILOT))


def test_a_blueprints_counts_wait_while_its_phase_and_conditions_stay() -> None:
    before = {**status(BlueprintPhase.ROLLING_OUT), "live": "3/43"}
    after = {**status(BlueprintPhase.ROLLING_OUT), "live": "4/43"}
    assert may_wait(CITY_BLUEPRINT, before, after)
    assert not may_wait(CITY_BLUEPRINT, {}, before)
    assert not may_wait(CITY_BLUEPRINT, after, {**status(BlueprintPhase.LIVE), "live": "43/43"})


def test_a_blueprint_condition_changing_is_written_at_once() -> None:
    before = status(BlueprintPhase.ROLLING_OUT)
    slipped = {"type": "BindingTargetsOnTrack", "status": "False", "reason": "Off"}
    after = {**before, "conditions": [*before["conditions"], slipped]}
    assert not may_wait(CITY_BLUEPRINT, before, after)


def test_a_cold_rollouts_steps_are_no_news() -> None:
    for before, after in (
        (None, Phase.WAITING),
        (Phase.WAITING, Phase.PILOT),
        (Phase.PILOT, Phase.CITYWIDE),
        (Phase.CITYWIDE, Phase.LIVE),
    ):
        assert phase_news(INITIATIVE, before, after) is None, after


def test_an_awaited_approval_and_trouble_are_news() -> None:
    assert phase_news(INITIATIVE, Phase.PILOT, Phase.AWAITING_APPROVAL) == News(
        EventType.NORMAL, Phase.AWAITING_APPROVAL
    )
    assert phase_news(INITIATIVE, Phase.LIVE, Phase.DEGRADED) == News(
        EventType.WARNING, Phase.DEGRADED
    )
    assert phase_news(INITIATIVE, None, Phase.BLOCKED) == News(EventType.WARNING, Phase.BLOCKED)


def test_live_again_after_degraded_is_news() -> None:
    assert phase_news(INITIATIVE, Phase.DEGRADED, Phase.LIVE) == News(EventType.NORMAL, Phase.LIVE)


def test_a_city_going_live_or_wrong_is_news_rolling_out_is_not() -> None:
    assert phase_news(CITY_BLUEPRINT, None, BlueprintPhase.ROLLING_OUT) is None
    assert phase_news(CITY_BLUEPRINT, BlueprintPhase.ROLLING_OUT, BlueprintPhase.LIVE) == News(
        EventType.NORMAL, BlueprintPhase.LIVE
    )
    assert phase_news(CITY_BLUEPRINT, BlueprintPhase.LIVE, BlueprintPhase.DEGRADED) == News(
        EventType.WARNING, BlueprintPhase.DEGRADED
    )
    assert phase_news(CITY_BLUEPRINT, BlueprintPhase.LIVE, BlueprintPhase.LIVE) is None
