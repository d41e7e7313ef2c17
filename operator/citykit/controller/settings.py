"""The operator's settings, read once at the edge into one frozen value: controller-runtime's
`ctrl.Options`.

`citykit operator run` reads them from its options, each of which an environment variable can
set (the chart sets the variables and a few options); nothing below the CLI reads the
environment. The value is passed down: to the runner (liveness, API watchdog, Lease), and
through kopf's memo to the handlers (workers, resync, progress coalescing, retry backoff). A
test builds the `Settings` it needs instead of patching the environment.

The defaults are these fields' (`citykit operator run --help` shows them); the chart's values
and the README's settings table name the same variables.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class LeaseTimes:
    """Seconds; a killed holder is replaced within `duration + retry` (plus kopf's start)."""

    duration: float = 9.0
    renew: float = 3.0
    renew_deadline: float = 6.0
    retry: float = 1.0

    def __post_init__(self) -> None:
        if not self.renew < self.renew_deadline < self.duration:
            raise ValueError("lease times need renew < renew_deadline < duration")


# Every setting `citykit operator run` takes: option -> environment variable. The chart's
# Deployment sets these variables (a test holds the two the same).
ENVIRONMENT = {
    "--liveness": "CITYKIT_LIVENESS",
    "--metrics-port": "CITYKIT_METRICS_PORT",
    "--api-timeout": "CITYKIT_API_TIMEOUT",
    "--peering": "CITYKIT_PEERING",
    "--peering-namespace": "CITYKIT_PEERING_NAMESPACE",
    "--resync-seconds": "CITYKIT_RESYNC_SECONDS",
    "--workers": "CITYKIT_WORKERS",
}
# Older names still read, after the one above: the local cluster's operator process set it.
ALIASES = {"--resync-seconds": ("CITYKIT_RESYNC",)}


@dataclass(frozen=True)
class Settings:
    """How one operator process runs."""

    # kopf's health probe, e.g. http://0.0.0.0:8080/healthz; None: no probe served
    liveness: str | None = None
    # Prometheus metrics at http://0.0.0.0:PORT/metrics; None: not served
    metrics_port: int | None = None
    # exit with code 1 once the API has not answered for this long, so a Deployment restarts
    # the operator (kopf would retry the address it started with forever)
    api_timeout: float = 30.0
    # the coordination.k8s.io Lease the replicas elect one active operator on; None: standalone
    peering: str | None = None
    peering_namespace: str = "default"
    lease: LeaseTimes = field(default_factory=LeaseTimes)
    # the safety resync: every blueprint and initiative queued again this often
    resync_seconds: float = 600.0
    # reconciles run at once (each key one at a time)
    workers: int = 8
    # a status change that may wait (core.rollout.writes: ready counts, a cold rollout's
    # Waiting, Pilot and Citywide, a blueprint's counts) is held at most this long and then
    # written with whatever came since; what a person acts on, and Live, are written at once
    progress_interval: float = 10.0
    # a failed reconcile is retried after base * 2**failures seconds, at most max
    retry_base_delay: float = 0.1
    retry_max_delay: float = 60.0

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError("workers must be at least 1")
        if self.resync_seconds <= 0 or self.api_timeout <= 0:
            raise ValueError("resync_seconds and api_timeout must be positive")
