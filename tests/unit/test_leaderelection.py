"""Who may take the operators' Lease: timed on the candidate's own clock from when it saw
the Lease change, so the holder's clock never matters."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from citykit.controller.leaderelection import LeaderElector, LeaseTimes, Observation, may_take
from tests.deadlines import PROMPTLY


def lease(holder: str | None, renewed: str = "2026-01-01T00:00:00.000000Z") -> dict[str, Any]:
    return {"spec": {"holderIdentity": holder, "leaseDurationSeconds": 9, "renewTime": renewed}}


def seen_at(found: dict[str, Any] | None, now: float) -> Observation:
    observation = Observation()
    observation.see(found, now)
    return observation


def test_a_missing_or_released_lease_may_be_taken_at_once() -> None:
    assert may_take(None, seen_at(None, 0), "me", 0)
    assert may_take(lease(None), seen_at(lease(None), 0), "me", 0)


def test_a_lease_held_by_another_is_not_taken_before_its_duration_has_passed() -> None:
    held = lease("other")

    assert not may_take(held, seen_at(held, 100), "me", 108.9)
    assert may_take(held, seen_at(held, 100), "me", 109)


def test_a_renewal_seen_restarts_the_wait_whatever_time_it_names() -> None:
    observation = seen_at(lease("other", "2020-01-01T00:00:00.000000Z"), 100)
    observation.see(lease("other", "2020-01-01T00:00:03.000000Z"), 105)

    assert not may_take(lease("other"), observation, "me", 112)
    assert may_take(lease("other"), observation, "me", 114)


def test_the_same_lease_seen_again_does_not_restart_the_wait() -> None:
    held = lease("other")
    observation = seen_at(held, 100)
    observation.see(held, 105)

    assert may_take(held, observation, "me", 109)


def test_its_own_lease_is_always_its_own() -> None:
    assert may_take(lease("me"), seen_at(lease("me"), 0), "me", 0)


def test_the_holder_gives_up_before_a_standby_may_take_over() -> None:
    with pytest.raises(ValueError, match="renew < renew_deadline < duration"):
        LeaseTimes(duration=6, renew=3, renew_deadline=6)
    times = LeaseTimes()
    assert times.renew < times.renew_deadline < times.duration


class Unreachable(LeaderElector):
    """Every read of the Lease fails; each attempt takes 4 s on the fake clock."""

    def try_acquire(self, seen: Observation) -> bool:
        self.now += 4
        raise ConnectionRefusedError("[Errno 111] Connection refused\nsecond line")


def test_a_candidate_that_cannot_read_the_lease_gives_up_after_the_bound_naming_why() -> None:
    lost: list[str] = []
    elector = Unreachable(
        "ops",
        "citykit-system",
        identity="me",
        times=LeaseTimes(retry=0),
        unreachable_bound=10,
        on_lost=lost.append,
    )
    elector.now = 0.0
    elector.clock = lambda: elector.now
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(asyncio.wait_for(elector.acquire(), PROMPTLY))
    finally:
        loop.close()

    assert lost == [
        "lease citykit-system/ops could not be read for 12s (last: [Errno 111] Connection refused)"
    ]
