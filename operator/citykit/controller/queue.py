"""A keyed work queue on asyncio, the shape of controller-runtime's workqueue.

- A key is queued at most once: a burst of events for one owner becomes one reconcile.
- A key is handed to one worker at a time; added again while it is being reconciled, it is
  queued once more when that reconcile is `done`, so no event is lost and none runs twice.
- `add_after` requeues a key for later (a gate opening); of several, the earliest wins.
- `failed` requeues a key after a per-key exponential backoff; `forget` resets it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    def __init__(self, base_delay: float = 0.1, max_delay: float = 60.0) -> None:
        self.base_delay, self.max_delay = base_delay, max_delay
        self._ready: asyncio.Queue[K] = asyncio.Queue()
        self._queued: set[K] = set()
        self._processing: set[K] = set()
        self._dirty: set[K] = set()
        self._later: dict[K, asyncio.TimerHandle] = {}
        self._failures: dict[K, int] = {}

    def add(self, key: K) -> None:
        if key in self._processing:
            self._dirty.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            self._ready.put_nowait(key)

    def add_after(self, key: K, delay: float) -> None:
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        pending = self._later.get(key)
        if pending is not None:
            if pending.when() <= loop.time() + delay:
                return
            pending.cancel()
        self._later[key] = loop.call_later(delay, self._fire, key)

    def _fire(self, key: K) -> None:
        self._later.pop(key, None)
        self.add(key)

    async def get(self) -> K:
        key = await self._ready.get()
        self._queued.discard(key)
        self._processing.add(key)
        return key

    def done(self, key: K) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._dirty.discard(key)
            self.add(key)

    def failed(self, key: K) -> float:
        """Requeue `key` after its next backoff delay, and return that delay."""
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        delay = min(self.base_delay * 2.0**failures, self.max_delay)
        self.add_after(key, delay)
        return delay

    def forget(self, key: K) -> None:
        self._failures.pop(key, None)

    def pending_later(self, key: K) -> bool:
        return key in self._later

    def close(self) -> None:
        for handle in self._later.values():
            handle.cancel()
        self._later.clear()

    def __len__(self) -> int:
        return self._ready.qsize()
