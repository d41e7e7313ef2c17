"""The operator's Prometheus metrics: rollout progress a city's monitoring can graph, and the
operator's own health (reconcile time, errors, API writes, queue depth).

Counters and histograms are updated where things happen: a worker times each reconcile and
counts its failures (`handlers.Controller._work`); a reconcile counts each API write and each
phase change it makes (`reconcile._converge`, `reconcile._patch_status`, in worker threads:
prometheus_client's metrics are thread-safe). The gauges of what the cluster holds (initiatives
by phase, KPI targets by verdict) are kept from the watch events the operator receives anyway
(`observe`, on the event loop) and read under a lock when scraped: a scrape makes no API
request. Everything is in this module's own `REGISTRY`, which `serve` exposes over HTTP.
"""

from __future__ import annotations

import threading
import time
from collections import Counter as Tally
from collections.abc import Awaitable, Iterable, Mapping, Sized
from typing import Any, TypeVar

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from citykit.api.enums import Commitment, Phase, Verdict
from citykit.api.names import AREA_LABEL, CITY_BLUEPRINT, CITY_LABEL, INITIATIVE

T = TypeVar("T")

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)  # process_*: the operator's CPU, memory, open files

RECONCILE_SECONDS = Histogram(
    "citykit_reconcile_duration_seconds",
    "Time one reconcile of a CityBlueprint or an Initiative took, failed ones included.",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
RECONCILE_ERRORS = Counter(
    "citykit_reconcile_errors_total",
    "Reconciles that failed and were requeued with backoff.",
    ["kind"],
    registry=REGISTRY,
)
API_WRITES = Counter(
    "citykit_api_writes_total",
    "Write requests the operator made: apply (server-side apply), delete, patch (status"
    " subresource), create (Events).",
    ["verb", "kind"],
    registry=REGISTRY,
)
PHASE_TRANSITIONS = Counter(
    "citykit_phase_transitions_total",
    "Initiative phase changes the operator wrote (an Initiative without status is Pending).",
    ["city", "area", "from", "to"],
    registry=REGISTRY,
)
QUEUE_DEPTH = Gauge(
    "citykit_work_queue_depth",
    "Reconciles queued and waiting for a worker (not those scheduled for later).",
    registry=REGISTRY,
)


def phase_changed(body: Mapping[str, Any], old: str | None, new: str) -> None:
    """Count an Initiative's phase change (a blueprint's phase is folded, not counted)."""
    old = old or Phase.PENDING
    if body.get("kind") == INITIATIVE and old != new:
        city, area = _city_and_area(body)
        PHASE_TRANSITIONS.labels(city, area, str(old), str(new)).inc()


async def timed(kind: str, work: Awaitable[T]) -> T:
    """Await `work`, observing how long it took under `kind`, whether it succeeds or not."""
    start = time.perf_counter()
    try:
        return await work
    finally:
        RECONCILE_SECONDS.labels(kind).observe(time.perf_counter() - start)


def track_queue(queue: Sized) -> None:
    """The queue-depth gauge reads `len(queue)` at each scrape."""
    QUEUE_DEPTH.set_function(lambda: len(queue))


def _city_and_area(body: Mapping[str, Any]) -> tuple[str, str]:
    spec = body.get("spec") or {}
    labels = (body.get("metadata") or {}).get("labels") or {}
    return (
        str(spec.get("city") or labels.get(CITY_LABEL, "")),
        str(spec.get("area") or labels.get(AREA_LABEL, "")),
    )


def kpi_verdicts(status: Mapping[str, Any]) -> Tally[tuple[str, str]] | None:
    """How many of a CityBlueprint's KPI targets have each (commitment, verdict), from the
    verdicts the operator folds into `status.kpis` (`core.office.kpi.kpi_status`: one item per
    target, with its `commitment` and `verdict`); None when the status carries none."""
    kpis = status.get("kpis")
    if not isinstance(kpis, list):
        return None
    return Tally(
        (str(item.get("commitment", "")), str(item.get("verdict", "")))
        for item in kpis
        if isinstance(item, Mapping)
    )


class WatchedState(Collector):
    """`citykit_initiatives` and `citykit_kpi_targets`, from the watched objects.

    `observe` runs on the event loop for every watch event; `collect` runs in the HTTP
    server's thread. Each (city, area) with initiatives reports every phase, 0 included, and
    each city with KPI verdicts every (commitment, verdict), so a graph never has a gap
    where a count dropped to zero."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._initiatives: dict[tuple[str, str], tuple[str, str, str]] = {}
        self._verdicts: dict[str, Tally[tuple[str, str]]] = {}

    def observe(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        kind, metadata = body.get("kind"), body.get("metadata") or {}
        deleted = event_type == "DELETED"
        with self._lock:
            if kind == INITIATIVE:
                key = (metadata.get("namespace", ""), metadata.get("name", ""))
                if deleted:
                    self._initiatives.pop(key, None)
                else:
                    phase = (body.get("status") or {}).get("phase") or Phase.PENDING
                    self._initiatives[key] = (*_city_and_area(body), str(phase))
            elif kind == CITY_BLUEPRINT:
                verdicts = None if deleted else kpi_verdicts(body.get("status") or {})
                if verdicts is None:
                    self._verdicts.pop(metadata.get("name", ""), None)
                else:
                    self._verdicts[metadata.get("name", "")] = verdicts

    def describe(self) -> Iterable[Metric]:
        return self._families(Tally(), {})

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            initiatives = Tally(self._initiatives.values())
            verdicts = {city: Tally(counts) for city, counts in self._verdicts.items()}
        return self._families(initiatives, verdicts)

    @staticmethod
    def _families(
        initiatives: Tally[tuple[str, str, str]], verdicts: Mapping[str, Tally[tuple[str, str]]]
    ) -> list[Metric]:
        by_phase = GaugeMetricFamily(
            "citykit_initiatives",
            "Initiatives by city, area and phase, as the operator's watches last saw them.",
            labels=["city", "area", "phase"],
        )
        phases = sorted({*map(str, Phase), *(phase for _, _, phase in initiatives)})
        for city, area in sorted({(city, area) for city, area, _ in initiatives}):
            for phase in phases:
                by_phase.add_metric([city, area, phase], initiatives[city, area, phase])
        by_verdict = GaugeMetricFamily(
            "citykit_kpi_targets",
            "A city's KPI targets by commitment (binding or expected) and verdict.",
            labels=["city", "commitment", "verdict"],
        )
        known = {(commitment, verdict) for commitment in Commitment for verdict in Verdict}
        for city, counts in sorted(verdicts.items()):
            for commitment, verdict in sorted(known | set(counts)):
                by_verdict.add_metric([city, commitment, verdict], counts[commitment, verdict])
        return [by_phase, by_verdict]


WATCHED = WatchedState()
REGISTRY.register(WATCHED)


def observe(event_type: str | None, body: Mapping[str, Any]) -> None:
    """A watch event, for the gauges of initiatives by phase and KPI targets by verdict."""
    WATCHED.observe(event_type, body)


def serve(port: int, address: str = "0.0.0.0") -> None:
    """Serve /metrics on `port` from a daemon thread (Prometheus's text format)."""
    start_http_server(port, address, registry=REGISTRY)


def exported_names(registry: CollectorRegistry = REGISTRY) -> set[str]:
    """Every sample name a scrape of `registry` can return, the dashboard's vocabulary."""
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "gauge": ("",),
        "summary": ("", "_sum", "_count", "_created"),
    }
    return {
        family.name + suffix
        for family in registry.collect()
        for suffix in suffixes.get(family.type, ("",))
    }
