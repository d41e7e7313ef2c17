"""The citykit operator on kopf, the controller-runtime way: react, don't poll.

Run it as a module: `kopf run -m citykit.controller.handlers --all-namespaces` (or
`citykit operator run`). kopf watches CityBlueprints, Initiatives and every child kind
citykit makes; its indices keep slim copies of them (`observed.slim`). Each event is mapped
to its owner's key (`observed.owner_keys`) and queued (`queue.WorkQueue`): one reconcile per
key at a time, bursts coalesce, a gate's opening is requeued for exactly when it opens,
errors back off per key, and a slow safety resync (`Settings.resync_seconds`, default 600)
queues every key again. Settings come from `citykit operator run` through kopf's memo
(`memo.settings`); run with `kopf run`, the handlers use the defaults. There are no timers or
daemons, so kopf adds no finalizers (and removes the one an older citykit operator left); owner
references collect the children.
An idle operator makes no API request beyond its watches.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException

from citykit import kube
from citykit.api.names import (
    BLUEPRINT_LABEL,
    CITY_BLUEPRINT,
    CITY_LABEL,
    CONTROLLER_REVISION,
    GROUP,
    INITIATIVE,
    VERSION,
    city_namespace,
)
from citykit.controller import metrics, reconcile
from citykit.controller.observed import CHILDREN, Key, Written, index_entry, owner_keys, unpack
from citykit.controller.queue import WorkQueue
from citykit.controller.settings import Settings
from citykit.core.load.errors import CitykitError

CHILD_KINDS = (
    ("", "v1", "namespaces"),
    ("", "v1", "serviceaccounts"),
    ("", "v1", "configmaps"),
    ("", "v1", "services"),
    ("apps", "v1", "deployments"),
    ("networking.k8s.io", "v1", "networkpolicies"),
)
log = logging.getLogger(__name__)


class Controller:
    """The work queue, its workers and the write-through cache, over kopf's indices."""

    def __init__(
        self, indices: Mapping[str, kopf.Index[Any, Any]], settings: Settings | None = None
    ) -> None:
        self.indices = indices
        self.settings = settings or Settings()
        self.queue: WorkQueue[Key] = WorkQueue(
            self.settings.retry_base_delay, self.settings.retry_max_delay
        )
        metrics.track_queue(self.queue)
        self.written = Written()
        # status changes a reconcile held back (core.rollout.writes), and since when
        self.held: dict[Key, tuple[dict[str, Any], float]] = {}
        self.pool = concurrent.futures.ThreadPoolExecutor(
            self.settings.workers, "citykit-reconcile"
        )
        self.tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self.tasks = [asyncio.create_task(self._work()) for _ in range(self.settings.workers)]
        self.tasks.append(asyncio.create_task(self._resync(self.settings.resync_seconds)))

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.queue.close()
        self.pool.shutdown(wait=False, cancel_futures=True)

    def observe(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        """A watch event: forget what the watch has now caught up with, queue the owners."""
        self.written.seen(body, deleted=event_type == "DELETED")
        metrics.observe(event_type, body)
        siblings: list[Mapping[str, Any]] = []
        if body.get("kind") == "Initiative":
            siblings = list(
                self.indices["citykit_initiatives"].get(body["metadata"]["namespace"], [])
            )
        for key in owner_keys(body, siblings):
            self.queue.add(key)

    def _store(self, index: str, key: Any) -> list[Mapping[str, Any]]:
        found: Iterable[Any] = self.indices[index].get(key, [])
        return [unpack(item) for item in found] if index in _PACKED else list(found)

    def snapshot(self, key: Key) -> reconcile.Snapshot | None:
        """What `key`'s reconcile reads, copied on the event loop (indices are not
        thread-safe), with the operator's own writes the watches have not delivered yet."""
        if key.kind == CITY_BLUEPRINT:
            found = self._store("citykit_cityblueprints", key.name)
            namespace, initiative = city_namespace(key.name), ""
        else:
            found = [
                item
                for item in self._store("citykit_initiatives", key.namespace)
                if item["metadata"]["name"] == key.name
            ]
            namespace, initiative = key.namespace, key.name
        merged = self.written.merge(found)
        if not merged or merged[0]["metadata"].get("deletionTimestamp"):
            return None
        if key.kind == INITIATIVE and self._city_deleted(merged[0]):
            return None  # the garbage collector is taking it and its children away
        city = self._store("citykit_namespaces", (namespace, ""))
        if city and city[0]["metadata"].get("deletionTimestamp"):
            return None  # being collected: its namespace's DELETED event brings it back
        children = self.written.merge(
            [
                item
                for _, _, plural in CHILD_KINDS
                for item in self._store(f"citykit_{plural}", (namespace, initiative))
            ],
            (CHILDREN, namespace, initiative),
        )
        initiatives = self.written.merge(
            self._store("citykit_initiatives", namespace), (INITIATIVE, namespace)
        )
        reports = self._store("citykit_kpireports", namespace) if not initiative else []
        revisions = (
            self.written.merge(
                self._store("citykit_controllerrevisions", key.name),
                (CONTROLLER_REVISION, key.name),
            )
            if not initiative
            else []
        )
        held, since = self.held.get(key, (None, None))
        return reconcile.Snapshot(
            merged[0],
            children,
            initiatives,
            reports,
            revisions,
            held,
            0.0 if since is None else asyncio.get_running_loop().time() - since,
        )

    def _city_deleted(self, initiative: Mapping[str, Any]) -> bool:
        """Whether the CityBlueprint controlling `initiative` is gone (or is a new one of the
        same name). The garbage collector deletes the Initiative, then its children; a
        child's DELETED event can arrive before the Initiative's, and writing the child
        again would only give the collector one more object to take (and the audit log an
        object created twice)."""
        for owner in initiative["metadata"].get("ownerReferences") or ():
            if owner.get("kind") == CITY_BLUEPRINT and owner.get("controller"):
                blueprints = self._store("citykit_cityblueprints", owner["name"])
                return all(b["metadata"].get("uid") != owner.get("uid") for b in blueprints)
        return False

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        client = kube.dynamic_client()  # the pod's service account, or $KUBECONFIG as kopf's
        while True:
            key = await self.queue.get()
            try:
                snapshot = self.snapshot(key)
                if snapshot is None:
                    self.queue.forget(key)
                    self.held.pop(key, None)
                    continue
                reconciler = (
                    reconcile.reconcile_blueprint
                    if key.kind == CITY_BLUEPRINT
                    else reconcile.reconcile_initiative
                )
                run: Callable[[], reconcile.Outcome] = functools.partial(
                    reconciler, client, snapshot, self.settings.progress_interval
                )
                outcome = await metrics.timed(key.kind, loop.run_in_executor(self.pool, run))
            except asyncio.CancelledError:
                raise
            except Exception as error:  # a failed reconcile is retried, never fatal
                metrics.RECONCILE_ERRORS.labels(key.kind).inc()
                delay = self.queue.failed(key)
                log.warning(
                    "reconciling %s failed (retry in %.1fs): %s",
                    key,
                    delay,
                    error,
                    # the API's refusals say all in their message; anything else is a bug
                    exc_info=not isinstance(error, ApiException | CitykitError),
                )
            else:
                self.queue.forget(key)
                for body in outcome.written:
                    self.written.record(body)
                self._hold(key, outcome.held, loop.time())
                if outcome.recheck_after is not None:
                    self.queue.add_after(key, outcome.recheck_after)
            finally:
                self.queue.done(key)

    def _hold(self, key: Key, status: dict[str, Any] | None, now: float) -> None:
        """Keep `key`'s held status (None: nothing held, it was written or is current), since
        the first change held."""
        if status is None:
            self.held.pop(key, None)
        else:
            self.held[key] = (status, self.held.get(key, (status, now))[1])

    async def _resync(self, interval: float) -> None:
        """The safety net: every key again, in case a watch event was ever missed."""
        while True:
            await asyncio.sleep(interval)
            for name in list(self.indices["citykit_cityblueprints"]):
                self.queue.add(Key(CITY_BLUEPRINT, "", name))
            for namespace in list(self.indices["citykit_initiatives"]):
                for item in self._store("citykit_initiatives", namespace):
                    for key in owner_keys(item)[:1]:
                        self.queue.add(key)


_controller: Controller | None = None


class NoDiffBase(kopf.DiffBaseStorage):
    """kopf builds a diff base for every event, a deep copy of the object's whole body, for
    the change handlers (`kopf.on.create`/`update`/`resume`) to read; citykit has none, and
    at 2,000 initiatives the copies were a quarter of the event loop's busy time. Adding a
    change handler means putting `kopf.AnnotationsDiffBaseStorage` back."""

    def build(
        self, *, body: kopf.Body, extra_fields: Iterable[Any] | None = None
    ) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        pass


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    """Standalone, bookkeeping (if kopf ever needs any) in annotations: status schemas are
    strict. kopf logs every handled event at INFO: too much for thousands of objects."""
    settings.peering.standalone = True
    settings.posting.level = logging.WARNING
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = NoDiffBase()
    settings.watching.server_timeout = 300
    # kopf's worker for an object keeps that object's last event (its whole body, managed
    # fields and all) until it has idled this long: over a city's rollout, thousands at once.
    # 0.5 s instead of 5 (400 initiatives: peak RSS 144 -> 138 MB, benchmarks/scale_bench.py).
    settings.queueing.idle_timeout = 0.5
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)


@kopf.on.startup()
async def start_workers(memo: kopf.Memo, **kwargs: Any) -> None:
    """The indices are kopf's live objects: the workers read them, the watches fill them.
    The settings are what `citykit operator run` read (`runner.run` puts them in the memo)."""
    global _controller
    indices = {name: kwargs[name] for name in _INDEX_NAMES}
    settings = memo.get("settings")
    _controller = Controller(indices, settings if isinstance(settings, Settings) else None)
    _controller.start()


@kopf.on.cleanup()
async def stop_workers(**_: Any) -> None:
    if _controller is not None:
        await _controller.stop()


# Both run on the event loop, where the work queue, the write-through cache and the indices
# live: kopf would run a plain function in a thread of its executor, racing the workers.
async def _index(body: kopf.Body, **_: Any) -> dict[Any, dict[str, Any] | bytes]:
    return index_entry(body)


async def _enqueue(type: str | None, body: kopf.Body, **_: Any) -> None:
    """Every watched event: kopf calls this only after every index is filled."""
    if _controller is not None:
        _controller.observe(type, body)


_INDEX_NAMES: list[str] = []
_PACKED = {f"citykit_{plural}" for _, _, plural in CHILD_KINDS} | {"citykit_controllerrevisions"}
_WATCHED = (
    (GROUP, VERSION, "cityblueprints", None),
    (GROUP, VERSION, "initiatives", None),
    (GROUP, VERSION, "kpireports", None),
    # the cities' history (core.rollout.history): revisions carry the blueprint label,
    # not the city's
    ("apps", "v1", "controllerrevisions", {BLUEPRINT_LABEL: kopf.PRESENT}),
    *(
        (group, version, plural, {CITY_LABEL: kopf.PRESENT})
        for group, version, plural in CHILD_KINDS
    ),
)
for _group, _version, _plural, _labels in _WATCHED:
    _name = f"citykit_{_plural}"
    _INDEX_NAMES.append(_name)
    kopf.index(_group, _version, _plural, labels=_labels, id=_name)(_index)
    kopf.on.event(_group, _version, _plural, labels=_labels, id=f"enqueue_{_plural}")(_enqueue)
