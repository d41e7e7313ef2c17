"""Exit when the API server stays unreachable, so that whatever runs the operator restarts it.

kopf retries a failed API request forever, at the address and with the credentials it read
at start-up: it never reads the kubeconfig again. An API server that comes back elsewhere
(another port, a new CA) is never found, and an operator whose address is dead looks alive
to its liveness probe while it does nothing. So the operator gives up instead: once the API
has not answered for `bound` seconds, the process exits with code 1 and its Deployment (or
whoever started it) starts it again, with a fresh look at its configuration.

It makes no request while the API answers (an idle operator makes none): kopf's own log
record of a failed request arms it, and only then does it probe (GET /api, which needs a
valid identity but no etcd), every `interval` seconds, until the API answers again or the
bound has passed. A failure that is not about reaching the API (403, a conflict) arms it
too, and the first probe disarms it again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from citykit import kube

DEFAULT_BOUND_SECONDS = 30.0
PROBE_INTERVAL_SECONDS = 2.0
PROBE_TIMEOUT_SECONDS = 5.0
EXIT_CODE = 1
log = logging.getLogger(__name__)


@dataclass
class Outage:
    """The clock of one outage: when the API was first found unreachable."""

    bound: float
    since: float | None = None

    def failed(self, now: float) -> bool:
        """A failed probe at `now`; True once the API has been unreachable for the bound."""
        if self.since is None:
            self.since = now
        return now - self.since >= self.bound

    def answered(self) -> None:
        self.since = None

    def seconds(self, now: float) -> float:
        return 0.0 if self.since is None else now - self.since


def is_failed_request(record: logging.LogRecord) -> bool:
    """kopf's record of an API request that failed (it retries it, forever for watches)."""
    return (
        record.name.startswith("kopf")
        and record.levelno >= logging.ERROR
        and record.getMessage().startswith("Request attempt")
    )


def probe_api() -> bool:
    """One GET /api with the operator's own client: True if the API server answered."""
    try:
        api = kube.dynamic_client().client
        method, url, headers, _, _ = api.param_serialize(
            "GET", "/api", auth_settings=["BearerToken"]
        )
        # The client's own connection pool (its TLS and credentials), without its retries:
        # one probe is one request, and a failed one logs nothing.
        response = api.rest_client.pool_manager.request(
            method, url, headers=headers, retries=False, timeout=PROBE_TIMEOUT_SECONDS
        )
    except Exception as error:  # refused, TLS, timeout: all are "not answering"
        log.debug("API probe failed: %s", error)
        return False
    return is_answer(response.status)


def is_answer(status: int) -> bool:
    """A 429 is an API server shedding load: it is there, kopf backs off and retries, and a
    restart would only add the operator's start-up lists to its load. Anything else but 200
    (401 after a credentials change, 503 without etcd) is an API the operator cannot use."""
    return status in (200, 429)


def exit_process(seconds: float) -> None:
    """Exits at once: kopf's graceful stop would retry the dead address first."""
    log.error(
        "the Kubernetes API has not answered for %.0fs; exiting with code %d so the operator"
        " is restarted with a fresh look at its configuration",
        seconds,
        EXIT_CODE,
    )
    logging.shutdown()
    sys.stderr.flush()
    os._exit(EXIT_CODE)


class ApiWatchdog(logging.Handler):
    """Armed by kopf's failed-request records; probes until the API answers or the bound
    passes, then calls `on_lost` with the seconds of the outage."""

    def __init__(
        self,
        bound: float = DEFAULT_BOUND_SECONDS,
        interval: float = PROBE_INTERVAL_SECONDS,
        probe: Callable[[], bool] = probe_api,
        on_lost: Callable[[float], None] = exit_process,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(logging.ERROR)
        self.outage = Outage(bound)
        self.interval, self.probe, self.on_lost, self.clock = interval, probe, on_lost, clock
        self.probes = 0
        self._armed: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self._loop is not None and self._armed is not None and is_failed_request(record):
            self._loop.call_soon_threadsafe(self._armed.set)

    async def run(self) -> None:
        """Watches for as long as the operator runs; attach it to the `kopf` logger first."""
        self._loop, self._armed = asyncio.get_running_loop(), asyncio.Event()
        while True:
            await self._armed.wait()
            while True:
                self.probes += 1
                answered = await asyncio.to_thread(self.probe)
                now = self.clock()
                if answered:
                    if self.outage.since is not None:
                        log.info("the API answers again after %.1fs", self.outage.seconds(now))
                    self.outage.answered()
                    self._armed.clear()
                    break
                if self.outage.failed(now):
                    self.on_lost(self.outage.seconds(now))
                    return
                await asyncio.sleep(self.interval)


async def guarded(
    operator: asyncio.Future[None] | asyncio.Task[None], watchdog: ApiWatchdog
) -> None:
    """Runs `operator` (kopf.operator's task) with `watchdog` attached to kopf's loggers."""
    kopf_logger = logging.getLogger("kopf")
    kopf_logger.addHandler(watchdog)
    watching = asyncio.create_task(watchdog.run())
    try:
        await operator
    finally:
        watching.cancel()
        kopf_logger.removeHandler(watchdog)
