"""The API watchdog: silent while the API answers, armed by kopf's record of a failed
request, and gives up only after the API has not answered for its whole bound."""

from __future__ import annotations

import asyncio
import logging

from citykit.controller.apiwatchdog import (
    ApiWatchdog,
    Outage,
    guarded,
    is_answer,
    is_failed_request,
)
from tests.conftest import run_async

KOPF_FAILURE = (
    "Request attempt #1/9 failed; will retry: GET https://127.0.0.1:6443/apis/citykit.io/v1alpha1"
    "/cityblueprints -> ClientConnectorError('Cannot connect to host 127.0.0.1:6443')"
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record(name: str, level: int, message: str) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, message, None, None)


def test_an_outage_fails_only_once_its_bound_has_passed() -> None:
    outage = Outage(bound=30)

    assert [outage.failed(now) for now in (100, 110, 129.9)] == [False, False, False]
    assert outage.failed(130)


def test_an_answer_restarts_the_outage_clock() -> None:
    outage = Outage(bound=30)
    outage.failed(100)
    outage.answered()

    assert not outage.failed(131)
    assert outage.seconds(140) == 9


def test_kopfs_failed_request_record_arms_it_and_nothing_else_does() -> None:
    assert is_failed_request(record("kopf._cogs.clients.watching", logging.ERROR, KOPF_FAILURE))
    assert not is_failed_request(record("kopf._cogs.clients.api", logging.DEBUG, KOPF_FAILURE))
    assert not is_failed_request(record("citykit.controller", logging.ERROR, KOPF_FAILURE))
    assert not is_failed_request(record("kopf.objects", logging.ERROR, "Handler failed"))


def watch(
    probe_answers: list[bool], failures: int, clock: FakeClock
) -> tuple[ApiWatchdog, list[float]]:
    """Runs a watchdog beside a stand-in operator that logs `failures` kopf failures, while
    each probe advances the clock 2 s; returns it and what it reported as lost."""
    lost: list[float] = []
    answers = iter(probe_answers)

    def probe() -> bool:
        clock.now += 2
        return next(answers)

    watchdog = ApiWatchdog(bound=5, interval=0, probe=probe, on_lost=lost.append, clock=clock)

    async def operator() -> None:
        await asyncio.sleep(0.01)
        for _ in range(failures):
            logging.getLogger("kopf._cogs.clients.watching").error(KOPF_FAILURE)
        for _ in range(50):
            await asyncio.sleep(0.01)

    async def main() -> None:
        await guarded(asyncio.ensure_future(operator()), watchdog)

    run_async(main())
    return watchdog, lost


def test_while_kopf_reports_no_failure_it_makes_no_request() -> None:
    watchdog, lost = watch([], failures=0, clock=FakeClock())

    assert (watchdog.probes, lost) == (0, [])


def test_an_api_that_answers_the_first_probe_disarms_it() -> None:
    watchdog, lost = watch([True], failures=3, clock=FakeClock())

    assert (watchdog.probes, lost) == (1, [])


def test_an_api_silent_for_the_whole_bound_is_given_up() -> None:
    watchdog, lost = watch([False] * 10, failures=1, clock=FakeClock())

    assert watchdog.probes == 4  # at 2, 4, 6 and 8 s on the clock: 8 - 2 >= 5 first
    assert lost == [6.0]


def test_an_answer_within_the_bound_forgives_the_outage() -> None:
    watchdog, lost = watch([False, False, True], failures=1, clock=FakeClock())

    assert (watchdog.probes, lost) == (3, [])


def test_a_throttling_api_server_is_answering_and_an_unusable_one_is_not() -> None:
    assert is_answer(200) and is_answer(429)
    assert not any(is_answer(status) for status in (401, 403, 500, 503))
