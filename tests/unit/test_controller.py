"""The controller's queue and event mapping, without a cluster: coalescing, one reconcile per
key at a time, requeue at a given time, per-key backoff, owners of every watched kind."""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import threading
import time
from typing import Any

import kopf

from citykit import kube
from citykit.controller import handlers
from citykit.controller.observed import (
    CHILDREN,
    Key,
    Written,
    bucket,
    index_entry,
    owner_keys,
    slim,
)
from citykit.controller.queue import WorkQueue
from tests.conftest import run_async


def test_a_burst_of_adds_for_one_key_is_one_item() -> None:
    async def scenario() -> int:
        queue: WorkQueue[str] = WorkQueue()
        for _ in range(50):
            queue.add("a")
        queue.add("b")
        return len(queue)

    assert run_async(scenario()) == 2


def test_a_key_added_while_it_is_reconciled_runs_again_after_not_during() -> None:
    async def scenario() -> list[str]:
        queue: WorkQueue[str] = WorkQueue()
        queue.add("a")
        key = await queue.get()
        queue.add("a")
        queue.add("a")
        seen = [f"queued while running: {len(queue)}"]
        queue.done(key)
        seen.append(f"queued after done: {len(queue)}")
        return seen

    assert run_async(scenario()) == ["queued while running: 0", "queued after done: 1"]


def test_a_delayed_add_arrives_after_its_delay_and_the_earliest_wins() -> None:
    async def scenario() -> float:
        queue: WorkQueue[str] = WorkQueue()
        loop = asyncio.get_running_loop()
        start = loop.time()
        queue.add_after("a", 5)
        queue.add_after("a", 0.05)
        queue.add_after("a", 3)
        await asyncio.wait_for(queue.get(), 2.5)  # before the 3 s add is due, however busy
        return loop.time() - start

    assert 0.04 <= run_async(scenario()) < 2.5


def test_failures_back_off_exponentially_per_key_and_reset_on_success() -> None:
    async def scenario() -> list[float]:
        queue: WorkQueue[str] = WorkQueue(base_delay=0.1, max_delay=1)
        delays = [queue.failed("a") for _ in range(6)]
        queue.forget("a")
        delays.append(queue.failed("a"))
        delays.append(queue.failed("b"))
        queue.close()
        return delays

    assert run_async(scenario()) == [0.1, 0.2, 0.4, 0.8, 1, 1, 0.1, 0.1]


def child(kind: str, labels: dict[str, str], namespace: str = "city-x") -> dict[str, Any]:
    return {"kind": kind, "metadata": {"name": "n", "namespace": namespace, "labels": labels}}


def test_a_childs_event_queues_its_initiative() -> None:
    labels = {"citykit.io/city": "x", "citykit.io/initiative": "mobility-parking"}
    assert owner_keys(child("Deployment", labels)) == [
        Key("Initiative", "city-x", "mobility-parking")
    ]


def test_a_city_level_objects_event_queues_its_blueprint() -> None:
    assert owner_keys(child("NetworkPolicy", {"citykit.io/city": "x"})) == [
        Key("CityBlueprint", "", "x")
    ]


def test_a_kpi_reports_event_queues_the_blueprint_of_its_namespaces_city() -> None:
    assert owner_keys(child("KpiReport", {})) == [Key("CityBlueprint", "", "x")]
    assert owner_keys(child("KpiReport", {}, namespace="elsewhere")) == []


def test_an_initiatives_event_queues_itself_its_blueprint_and_its_dependents() -> None:
    initiative = {
        "kind": "Initiative",
        "metadata": {"name": "government-id", "namespace": "city-x"},
        "spec": {"city": "x", "ref": "government.id", "dependsOn": []},
    }
    dependent = {
        "kind": "Initiative",
        "metadata": {"name": "mobility-app", "namespace": "city-x"},
        "spec": {"city": "x", "ref": "mobility.app", "dependsOn": ["government.id"]},
    }
    other = {**dependent, "metadata": {"name": "o"}, "spec": {"dependsOn": []}}
    assert owner_keys(initiative, [dependent, other]) == [
        Key("Initiative", "city-x", "government-id"),
        Key("CityBlueprint", "", "x"),
        Key("Initiative", "city-x", "mobility-app"),
    ]


def test_the_index_keeps_no_managed_fields_and_only_readiness_of_a_deployments_status() -> None:
    kept = slim(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "d", "managedFields": [{"manager": "x"}], "generation": 2},
            "spec": {"replicas": 2},
            "status": {"readyReplicas": 2, "conditions": [{"type": "Available"}]},
        }
    )
    assert kept["metadata"] == {"name": "d", "generation": 2}
    assert kept["status"] == {"readyReplicas": 2}


def body(version: str, replicas: int) -> dict[str, Any]:
    return {
        "kind": "Deployment",
        "metadata": {"name": "d", "namespace": "city-x", "resourceVersion": version},
        "spec": {"replicas": replicas},
    }


def test_a_written_object_stands_in_for_the_older_watched_one_until_the_watch_catches_up() -> None:
    written = Written()
    written.record(body("7", 3))
    assert written.merge([body("5", 1)])[0]["spec"]["replicas"] == 3
    assert written.merge([body("9", 2)])[0]["spec"]["replicas"] == 2
    assert len(written) == 0


def test_a_written_object_the_watch_has_not_delivered_is_seen_in_its_scope() -> None:
    written = Written()
    written.record(body("7", 3))
    filed = bucket(body("7", 3))
    assert filed == (CHILDREN, "city-x", "")
    assert [b["spec"]["replicas"] for b in written.merge([], filed)] == [3]
    assert written.merge([], (CHILDREN, "city-x", "parking")) == []
    assert written.merge([], ("Initiative", "city-x")) == []
    written.seen(body("7", 3))
    assert written.merge([], filed) == []
    assert len(written) == 0


def test_written_objects_are_filed_where_a_snapshot_looks_for_them() -> None:
    labels = {"citykit.io/city": "x", "citykit.io/initiative": "parking"}
    assert bucket(child("Deployment", labels)) == (CHILDREN, "city-x", "parking")
    initiative = {**child("Initiative", labels), "metadata": {"name": "p", "namespace": "city-x"}}
    assert bucket(initiative) == ("Initiative", "city-x")
    revision = child("ControllerRevision", {"citykit.io/blueprint": "x"})
    assert bucket(revision) == ("ControllerRevision", "x")
    blueprint = {"kind": "CityBlueprint", "metadata": {"name": "x"}}
    assert bucket(blueprint) == ("CityBlueprint", "x")


def test_an_object_written_again_with_other_labels_moves_to_its_new_bucket() -> None:
    written = Written()
    first = child("Deployment", {"citykit.io/initiative": "parking"})
    written.record(first)
    moved = child("Deployment", {"citykit.io/initiative": "lighting"})
    written.record(moved)
    assert written.merge([], bucket(first)) == []
    assert written.merge([], bucket(moved)) == [moved]
    written.seen({**moved, "metadata": {**moved["metadata"], "resourceVersion": "1"}})
    assert len(written) == 0 and written.merge([], bucket(moved)) == []


def test_a_history_revisions_event_queues_its_blueprint_and_the_index_keeps_its_number() -> None:
    revision = {
        **child("ControllerRevision", {"citykit.io/blueprint": "x"}),
        "revision": 3,
        "data": {"spec": {"version": "3.2.0"}},
    }
    assert owner_keys(revision) == [Key("CityBlueprint", "", "x")]
    assert slim(revision)["revision"] == 3
    assert slim(revision)["data"] == {"spec": {"version": "3.2.0"}}
    assert owner_keys(child("ControllerRevision", {})) == []  # a StatefulSet's: not ours


def test_children_are_indexed_packed_and_a_snapshot_reads_them_back_as_they_were() -> None:
    labels = {"citykit.io/city": "x", "citykit.io/initiative": "parking"}
    initiative = {
        **child("Initiative", labels),
        "metadata": {"name": "parking", "namespace": "city-x", "labels": labels},
        "spec": {"ref": "mobility.parking", "city": "x"},
    }
    deployment = {
        **child("Deployment", labels),
        "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "api"}]}}},
        "status": {"readyReplicas": 2, "conditions": [{"type": "Available"}]},
    }
    indices: dict[str, Any] = {name: {} for name in handlers._INDEX_NAMES}
    for index, body in (("citykit_initiatives", initiative), ("citykit_deployments", deployment)):
        indices[index] = {key: [kept] for key, kept in index_entry(body).items()}
    assert isinstance(indices["citykit_deployments"][("city-x", "parking")][0], bytes)
    controller = handlers.Controller(indices)
    try:
        snapshot = controller.snapshot(Key("Initiative", "city-x", "parking"))
    finally:
        controller.pool.shutdown(wait=True)
    assert snapshot is not None
    assert snapshot.body == slim(initiative)
    assert list(snapshot.children) == [slim(deployment)]


def test_every_watch_handler_runs_on_the_event_loop() -> None:
    """kopf runs a plain function in a thread of its executor: an event handler there would
    add to the work queue and prune the write-through cache while the workers read them on
    the loop ("dictionary changed size during iteration", wake-ups the loop never sees)."""
    registry = kopf.get_default_registry()
    ours = [
        handler
        for handlers_of_kind in (registry._watching, registry._indexing)
        for handler in handlers_of_kind.get_all_handlers()
        if handler.fn.__module__ == handlers.__name__
    ]
    assert len(ours) == 2 * len(handlers._INDEX_NAMES)
    assert all(inspect.iscoroutinefunction(handler.fn) for handler in ours)


def test_concurrent_lookups_of_a_new_kind_share_one_discovery_refresh() -> None:
    """The workers share one client; a kind its discovery cache lacks rebuilds that cache in
    place, so lookups take turns (`kube.resource_for`)."""
    inside, most = 0, 0
    lock = threading.Lock()

    class Resources:
        def get(self, api_version: str, kind: str) -> str:
            nonlocal inside, most
            with lock:
                inside += 1
                most = max(most, inside)
            time.sleep(0.01)
            with lock:
                inside -= 1
            return f"{api_version}/{kind}"

    client: Any = type("Client", (), {"resources": Resources()})()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        found = list(pool.map(lambda n: kube.resource_for(client, "v1", f"K{n}"), range(16)))
    assert found == [f"v1/K{n}" for n in range(16)]
    assert most == 1


def test_no_diff_base_is_built_while_no_change_handler_would_read_it() -> None:
    """kopf deep-copies every event's body into a diff base for change handlers; citykit
    registers none (`handlers.NoDiffBase`). A change handler added later fails here first."""
    registry = kopf.get_default_registry()
    readers = [
        handler
        for handlers_of_kind in (registry._changing, registry._spawning)
        for handler in handlers_of_kind.get_all_handlers()
        if handler.fn.__module__.startswith("citykit.")
    ]
    assert readers == []
    settings = kopf.OperatorSettings()
    handlers.configure(settings)
    body = kopf.Body({"metadata": {"name": "a", "labels": {"x": "y"}}, "spec": {"replicas": 2}})
    assert settings.persistence.diffbase_storage.build(body=body) == {}
    assert settings.persistence.diffbase_storage.fetch(body=body) is None
