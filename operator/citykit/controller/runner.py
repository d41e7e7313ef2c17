"""`citykit operator run`'s event loop: kopf, guarded by the API watchdog, and with
`--peering` started only once this process holds the Lease (and stopped if it loses it).

A standby runs no kopf at all (no watches, no work queue, no writes); it answers the
liveness probe itself while it waits, so its Deployment does not restart it for waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import urllib.parse
from collections.abc import AsyncIterator

from aiohttp import web

from citykit.controller.apiwatchdog import ApiWatchdog, guarded
from citykit.controller.leaderelection import LeaderElector
from citykit.controller.settings import Settings

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def standby_health(liveness: str | None) -> AsyncIterator[None]:
    """Serves 200 at the liveness URL while waiting (kopf serves it once it runs)."""
    if not liveness:
        yield
        return
    url = urllib.parse.urlparse(liveness)

    async def healthy(_: web.Request) -> web.Response:
        return web.Response(text="standby: waiting for the lease\n")

    app = web.Application()
    app.router.add_get(url.path or "/", healthy)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, url.hostname or "0.0.0.0", url.port or 80, reuse_address=True)
    await site.start()
    try:
        yield
    finally:
        await runner.cleanup()


async def run(settings: Settings) -> None:
    """Runs the operator until it is stopped (SIGINT/SIGTERM, handled by kopf). The handlers
    find `settings` in kopf's memo (`memo.settings`)."""
    import kopf

    elector = None
    keeping: asyncio.Task[None] | None = None
    if settings.peering is not None:
        elector = LeaderElector(
            settings.peering,
            settings.peering_namespace,
            times=settings.lease,
            unreachable_bound=settings.api_timeout,
        )
        async with standby_health(settings.liveness):
            await elector.acquire()
        keeping = asyncio.create_task(elector.keep())
    operator = kopf.operator(
        clusterwide=True,
        standalone=True,
        liveness_endpoint=settings.liveness,
        memo=kopf.Memo(settings=settings),
    )
    try:
        await guarded(asyncio.ensure_future(operator), ApiWatchdog(bound=settings.api_timeout))
    finally:
        if keeping is not None:
            keeping.cancel()
            await asyncio.gather(keeping, return_exceptions=True)
        if elector is not None:
            await asyncio.to_thread(elector.release)
