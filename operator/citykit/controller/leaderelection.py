"""One active operator among replicas: leader election on a coordination.k8s.io Lease.

controller-runtime's model (client-go's leaderelection): every replica tries to hold one
Lease; the holder renews it every `renew` seconds and is the only one that runs kopf;
the others read it every `retry` seconds and take it once it has not changed for
`duration` seconds (timed on their own clock, so clocks need not agree). A holder that
cannot renew for `renew_deadline` seconds (less than `duration`) exits at once, before any
standby may take over, so two operators never act together; its Deployment restarts it as a
standby. Why not kopf's peering: replicas of one Deployment share a priority, and kopf pauses
every operator of the same priority; and a paused kopf still runs our work queue's resync.

Writes: only the holder writes, one Lease update per renewal (60 / `renew` a minute); a
standby only reads.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
import socket
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from citykit import kube
from citykit.controller.apiwatchdog import DEFAULT_BOUND_SECONDS, Outage
from citykit.controller.settings import LeaseTimes

log = logging.getLogger(__name__)
EXIT_CODE = 1
REQUEST_TIMEOUT_SECONDS = 2.0


def own_identity() -> str:
    """The pod's name (a Deployment's pods are named for their host) and a random suffix,
    so two processes on one machine are two candidates."""
    return f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"


def micro_time(now: datetime.datetime) -> str:
    return now.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Observation:
    """The lease as a standby last saw it change, and when (on the standby's own clock)."""

    record: tuple[Any, ...] | None = None
    changed_at: float = 0.0

    def see(self, lease: dict[str, Any] | None, now: float) -> None:
        spec = (lease or {}).get("spec") or {}
        record = (spec.get("holderIdentity"), spec.get("renewTime"), spec.get("acquireTime"))
        if record != self.record:
            self.record, self.changed_at = record, now


def may_take(lease: dict[str, Any] | None, seen: Observation, identity: str, now: float) -> bool:
    """Whether `identity` may take the lease now: nobody holds it, it is already ours, or its
    holder has not renewed it for its duration since this candidate saw it change."""
    spec = (lease or {}).get("spec") or {}
    holder = spec.get("holderIdentity")
    if not holder or holder == identity:
        return True
    duration = float(spec.get("leaseDurationSeconds") or 0)
    return now - seen.changed_at >= duration


def _plain(lease: client.V1Lease) -> dict[str, Any]:
    """The API's answer as the plain dict the rest of this module reads."""
    plain = kube.dynamic_client().client.sanitize_for_serialization(lease)
    return cast(dict[str, Any], plain)


def one_line_error(error: Exception) -> str:
    """The first line of an error, short: ApiException's text spans many lines."""
    lines = str(error).strip().splitlines() or [type(error).__name__]
    return lines[0][:200]


def exit_process(reason: str) -> None:
    """Exits at once: kopf's graceful stop could still write after another took over."""
    log.error(
        "%s; exiting with code %d (restarted, this operator becomes a standby)", reason, EXIT_CODE
    )
    logging.shutdown()
    sys.stderr.flush()
    os._exit(EXIT_CODE)


@dataclass
class LeaderElector:
    """Acquires the Lease `name` in `namespace`, then keeps renewing it."""

    name: str
    namespace: str
    identity: str = field(default_factory=own_identity)
    times: LeaseTimes = field(default_factory=LeaseTimes)
    unreachable_bound: float = DEFAULT_BOUND_SECONDS
    on_lost: Callable[[str], None] = exit_process
    clock: Callable[[], float] = time.monotonic
    held: dict[str, Any] | None = None
    renewals: int = 0

    def _api(self) -> client.CoordinationV1Api:
        return client.CoordinationV1Api(kube.dynamic_client().client)

    def _read(self) -> dict[str, Any] | None:
        try:
            lease = self._api().read_namespaced_lease(
                self.name, self.namespace, _request_timeout=REQUEST_TIMEOUT_SECONDS
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return _plain(lease)

    def _spec(self, lease: dict[str, Any] | None, now: datetime.datetime) -> dict[str, Any]:
        spec = dict((lease or {}).get("spec") or {})
        taken = spec.get("holderIdentity") != self.identity
        spec.update(
            holderIdentity=self.identity,
            leaseDurationSeconds=round(self.times.duration),
            renewTime=micro_time(now),
        )
        if taken:
            spec["acquireTime"] = micro_time(now)
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + (lease is not None)
        return spec

    def _write(
        self, lease: dict[str, Any] | None, spec: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Creates the lease, or replaces it if its resourceVersion is still `lease`'s
        (409 Conflict if anyone wrote it since)."""
        now = datetime.datetime.now(datetime.UTC)
        body: Any = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": spec if spec is not None else self._spec(lease, now),
        }
        api, timeout = self._api(), REQUEST_TIMEOUT_SECONDS
        if lease is None:
            written = api.create_namespaced_lease(self.namespace, body, _request_timeout=timeout)
        else:
            body["metadata"]["resourceVersion"] = lease["metadata"]["resourceVersion"]
            written = api.replace_namespaced_lease(
                self.name, self.namespace, body, _request_timeout=timeout
            )
        return _plain(written)

    def try_acquire(self, seen: Observation) -> bool:
        """One attempt: read the lease and take it if `may_take` says so."""
        lease = self._read()
        seen.see(lease, self.clock())
        if not may_take(lease, seen, self.identity, self.clock()):
            return False
        try:
            self.held = self._write(lease)
        except ApiException as error:
            if error.status == 409:
                return False  # another candidate was quicker
            raise
        return True

    async def acquire(self) -> None:
        """Returns once this process holds the lease; exits if the API stays unreachable."""
        seen, outage = Observation(), Outage(self.unreachable_bound)
        log.info("waiting for lease %s/%s as %s", self.namespace, self.name, self.identity)
        while True:
            try:
                if await asyncio.to_thread(self.try_acquire, seen):
                    log.info(
                        "acquired lease %s/%s: this operator is active", self.namespace, self.name
                    )
                    return
                outage.answered()
            except Exception as error:  # refused, timeout, 5xx, 403: keep trying for the bound
                log.warning("reading lease %s/%s failed: %s", self.namespace, self.name, error)
                now = self.clock()
                if outage.failed(now):
                    self.on_lost(
                        f"lease {self.namespace}/{self.name} could not be read for"
                        f" {outage.seconds(now):.0f}s (last: {one_line_error(error)})"
                    )
                    return
            await asyncio.sleep(self.times.retry)

    def renew_once(self) -> None:
        """One renewal: a single update of the lease as this process last wrote it. On a
        conflict (a renewal that timed out here but reached the server) it reads the lease
        and renews again if it is still ours; else the conflict is raised."""
        try:
            self.held = self._write(self.held)
        except ApiException as error:
            current = self._read() if error.status == 409 else None
            if (current or {}).get("spec", {}).get("holderIdentity") != self.identity:
                raise
            self.held = self._write(current)
        self.renewals += 1

    def release(self) -> None:
        """On a clean exit: the lease says nobody holds it, so a standby takes it at once."""
        if self.held is None:
            return
        spec = {**self.held["spec"], "holderIdentity": None, "leaseDurationSeconds": 1}
        try:
            self._write(self.held, spec)
        except Exception as error:  # it will expire by itself
            log.warning("releasing lease %s/%s failed: %s", self.namespace, self.name, error)
        else:
            log.info("released lease %s/%s", self.namespace, self.name)
        self.held = None

    async def keep(self) -> None:
        """Renews every `renew` seconds for as long as the operator runs; gives up (calls
        `on_lost`) when a renewal conflicts (someone else holds it) or none succeeded for
        `renew_deadline` seconds."""
        last = self.clock()
        while True:
            await asyncio.sleep(self.times.renew)
            try:
                await asyncio.to_thread(self.renew_once)
            except ApiException as error:
                if error.status == 409:
                    self.on_lost(
                        f"lease {self.namespace}/{self.name} was taken by another operator"
                    )
                    return
                log.warning("renewing lease %s/%s failed: %s", self.namespace, self.name, error)
            except Exception as error:
                log.warning("renewing lease %s/%s failed: %s", self.namespace, self.name, error)
            else:
                last = self.clock()
                continue
            if self.clock() - last >= self.times.renew_deadline:
                self.on_lost(
                    f"lease {self.namespace}/{self.name} not renewed for {self.clock() - last:.0f}s"
                )
                return
