"""The operator's metrics, without a cluster: what each hook counts, and the gauges kept from
watch events. Counters are process-wide, so each test reads them before and after."""

from __future__ import annotations

import asyncio
import socket
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from citykit import kube
from citykit.controller import handlers, metrics, reconcile
from citykit.controller.metrics import REGISTRY, WatchedState
from citykit.controller.observed import Key
from tests.conftest import run_async, run_cli


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def initiative(
    name: str, phase: str | None, area: str = "mobility", city: str = "x"
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "citykit.io/v1alpha1",
        "kind": "Initiative",
        "metadata": {"name": name, "namespace": f"city-{city}"},
        "spec": {"city": city, "area": area, "ref": f"{area}.{name}"},
    }
    if phase is not None:
        body["status"] = {"phase": phase}
    return body


def gauge(state: WatchedState, name: str) -> dict[tuple[str, ...], float]:
    [family] = [f for f in state.collect() if f.name == name]
    return {tuple(sample.labels.values()): sample.value for sample in family.samples}


def test_initiatives_are_counted_by_city_area_and_phase_with_zero_for_the_other_phases() -> None:
    state = WatchedState()
    state.observe(None, initiative("parking", "Pilot"))
    state.observe("ADDED", initiative("signals", "Pilot"))
    state.observe("ADDED", initiative("air", "Live", area="environment"))
    counts = gauge(state, "citykit_initiatives")
    assert counts[("x", "mobility", "Pilot")] == 2
    assert counts[("x", "environment", "Live")] == 1
    assert counts[("x", "mobility", "Live")] == 0
    assert len(counts) == 2 * 9  # two (city, area) pairs, every phase


def test_an_initiatives_phase_change_moves_it_and_its_deletion_removes_it() -> None:
    state = WatchedState()
    state.observe("ADDED", initiative("parking", "Pilot"))
    state.observe("MODIFIED", initiative("parking", "Citywide"))
    assert gauge(state, "citykit_initiatives")[("x", "mobility", "Citywide")] == 1
    assert gauge(state, "citykit_initiatives")[("x", "mobility", "Pilot")] == 0
    state.observe("DELETED", initiative("parking", "Citywide"))
    assert gauge(state, "citykit_initiatives") == {}


def test_an_initiative_without_status_is_pending_as_the_blueprint_fold_counts_it() -> None:
    state = WatchedState()
    state.observe("ADDED", initiative("parking", None))
    assert gauge(state, "citykit_initiatives")[("x", "mobility", "Pending")] == 1


def test_other_kinds_leave_the_initiative_counts_alone() -> None:
    state = WatchedState()
    state.observe("ADDED", {"kind": "Deployment", "metadata": {"name": "d", "namespace": "n"}})
    assert gauge(state, "citykit_initiatives") == {}


def blueprint(name: str, status: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "CityBlueprint", "metadata": {"name": name}, "status": status}


def test_kpi_targets_are_counted_by_city_commitment_and_verdict() -> None:
    state = WatchedState()
    kpis = [
        {"kpi": "co2", "commitment": "binding", "verdict": "off-track"},
        {"kpi": "pm25", "commitment": "binding", "verdict": "on-track"},
        {"kpi": "trips", "commitment": "expected", "verdict": "on-track"},
        {"kpi": "waste", "commitment": "expected", "verdict": "no-data"},
    ]
    state.observe("ADDED", blueprint("x", {"phase": "Live", "kpis": kpis}))
    counts = gauge(state, "citykit_kpi_targets")
    assert counts[("x", "binding", "off-track")] == 1
    assert counts[("x", "binding", "on-track")] == 1
    assert counts[("x", "expected", "on-track")] == 1
    assert counts[("x", "expected", "no-data")] == 1
    assert counts[("x", "binding", "met")] == 0
    assert len(counts) == 2 * 4  # every commitment and verdict, 0 included


def test_a_blueprint_without_verdicts_or_deleted_reports_no_kpi_targets() -> None:
    state = WatchedState()
    state.observe("ADDED", blueprint("x", {"phase": "Live"}))
    assert gauge(state, "citykit_kpi_targets") == {}
    kpis = [{"commitment": "binding", "verdict": "met"}]
    state.observe("MODIFIED", blueprint("x", {"kpis": kpis}))
    assert gauge(state, "citykit_kpi_targets")[("x", "binding", "met")] == 1
    state.observe("DELETED", blueprint("x", {"kpis": kpis}))
    assert gauge(state, "citykit_kpi_targets") == {}


def test_an_initiatives_phase_change_is_counted_with_its_city_area_and_phases() -> None:
    labels = {"city": "m1", "area": "mobility", "from": "Pilot", "to": "Citywide"}
    before = value("citykit_phase_transitions_total", **labels)
    metrics.phase_changed(initiative("parking", "Pilot", city="m1"), "Pilot", "Citywide")
    assert value("citykit_phase_transitions_total", **labels) == before + 1


def test_a_first_status_counts_from_pending_and_pending_to_pending_is_no_transition() -> None:
    body = initiative("parking", None, city="m2")
    metrics.phase_changed(body, None, "Pending")
    metrics.phase_changed(body, None, "Waiting")
    samples = {
        (s.labels["from"], s.labels["to"]): s.value
        for family in REGISTRY.collect()
        if family.name == "citykit_phase_transitions"
        for s in family.samples
        if s.name.endswith("_total") and s.labels["city"] == "m2"
    }
    assert samples == {("Pending", "Waiting"): 1}


def test_a_blueprints_phase_change_is_not_an_initiative_transition() -> None:
    metrics.phase_changed(blueprint("m3", {}), "RollingOut", "Live")
    assert not [
        s for family in REGISTRY.collect() for s in family.samples if s.labels.get("city") == "m3"
    ]


CLIENT: Any = None  # the `api` fixture's fakes take the place of the client's calls


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """The kube calls a reconcile makes, recorded instead of sent."""
    calls: list[tuple[str, str]] = []

    def apply(client: Any, manifest: dict[str, Any]) -> dict[str, Any]:
        calls.append(("apply", manifest["kind"]))
        return manifest

    def delete(client: Any, api_version: str, kind: str, *_: Any) -> None:
        calls.append(("delete", kind))

    def patch_status(client: Any, api_version: str, kind: str, *_: Any) -> dict[str, Any]:
        calls.append(("patch", kind))
        return {"kind": kind, "metadata": {"name": "n"}}

    def post_event(client: Any, involved: Any, *_: Any) -> None:
        calls.append(("create", "Event"))

    for name, fake in [
        ("apply", apply),
        ("delete", delete),
        ("patch_status", patch_status),
        ("post_event", post_event),
    ]:
        monkeypatch.setattr(kube, name, fake)
    return calls


def writes() -> dict[tuple[str, str], float]:
    return {
        (verb, kind): value("citykit_api_writes_total", verb=verb, kind=kind)
        for verb, kind in [
            ("apply", "ConfigMap"),
            ("delete", "Service"),
            ("patch", "Initiative"),
            ("create", "Event"),
        ]
    }


def config_map(name: str, data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "city-x", "labels": {"citykit.io/city": "x"}},
        "data": data,
    }


def test_each_apply_and_delete_a_reconcile_makes_is_counted(api: list[tuple[str, str]]) -> None:
    before = writes()
    stale = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "old", "namespace": "city-x", "labels": {"citykit.io/city": "x"}},
    }
    reconcile._converge(
        CLIENT,
        [config_map("a", {"k": "v"})],
        [config_map("a", {"k": "old"}), stale],
        reconcile.Outcome(),
    )
    after = writes()
    assert api == [("apply", "ConfigMap"), ("delete", "Service")]
    assert after[("apply", "ConfigMap")] == before[("apply", "ConfigMap")] + 1
    assert after[("delete", "Service")] == before[("delete", "Service")] + 1


def test_a_converged_object_makes_no_write_and_counts_none(api: list[tuple[str, str]]) -> None:
    before = writes()
    same = config_map("a", {"k": "v"})
    reconcile._converge(CLIENT, [same], [same], reconcile.Outcome())
    assert api == [] and writes() == before


def test_a_phase_change_counts_the_status_patch_the_event_and_the_transition(
    api: list[tuple[str, str]],
) -> None:
    body = initiative("parking", "Pilot", city="m4")
    transition = {"city": "m4", "area": "mobility", "from": "Pilot", "to": "AwaitingApproval"}
    before, moved = writes(), value("citykit_phase_transitions_total", **transition)
    reconcile._patch_status(CLIENT, body, {"phase": "AwaitingApproval"}, reconcile.Outcome())
    after = writes()
    assert api == [("patch", "Initiative"), ("create", "Event")]
    assert after[("patch", "Initiative")] == before[("patch", "Initiative")] + 1
    assert after[("create", "Event")] == before[("create", "Event")] + 1
    assert value("citykit_phase_transitions_total", **transition) == moved + 1


def test_a_phase_change_no_one_acts_on_counts_the_transition_and_posts_no_event(
    api: list[tuple[str, str]],
) -> None:
    body = initiative("parking", "Pilot", city="m6")
    transition = {"city": "m6", "area": "mobility", "from": "Pilot", "to": "Citywide"}
    moved = value("citykit_phase_transitions_total", **transition)
    reconcile._patch_status(CLIENT, body, {"phase": "Citywide"}, reconcile.Outcome())
    assert api == [("patch", "Initiative")]
    assert value("citykit_phase_transitions_total", **transition) == moved + 1


def test_a_status_change_that_may_wait_is_held_and_looked_at_again_when_its_time_is_up(
    api: list[tuple[str, str]],
) -> None:
    snapshot = reconcile.Snapshot(initiative("parking", "Waiting", city="m7"), [], [])
    outcome = reconcile.Outcome()
    reconcile._write_status(CLIENT, snapshot, {"phase": "Pilot"}, outcome, wait=5.0)
    assert api == [] and outcome.held == {"phase": "Pilot"} and outcome.recheck_after == 5.0


@pytest.mark.parametrize(
    ("held_for", "new_phase"),
    [(5.0, "Citywide"), (0.5, "Live")],
    ids=["a held step once it has waited long enough", "Live at once whatever was held"],
)
def test_a_held_status_is_written_when_its_time_is_up_or_it_reaches_live(
    api: list[tuple[str, str]], held_for: float, new_phase: str
) -> None:
    body = initiative("parking", "Waiting", city="m8")
    snapshot = reconcile.Snapshot(body, [], [], held={"phase": "Pilot"}, held_for=held_for)
    outcome = reconcile.Outcome()
    reconcile._write_status(CLIENT, snapshot, {"phase": new_phase}, outcome, wait=5.0)
    assert api == [("patch", "Initiative")] and outcome.held is None


def test_an_unchanged_status_writes_and_counts_nothing(api: list[tuple[str, str]]) -> None:
    before = writes()
    body = initiative("parking", "Pilot", city="m5")
    reconcile._patch_status(CLIENT, body, {"phase": "Pilot"}, reconcile.Outcome())
    assert api == [] and writes() == before


def test_timed_observes_the_duration_of_failed_work_too() -> None:
    before = value("citykit_reconcile_duration_seconds_count", kind="Probe")

    async def fails() -> None:
        await asyncio.sleep(0.01)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        run_async(metrics.timed("Probe", fails()))
    assert value("citykit_reconcile_duration_seconds_count", kind="Probe") == before + 1
    assert value("citykit_reconcile_duration_seconds_sum", kind="Probe") >= 0.01


@pytest.fixture
def failing_controller(monkeypatch: pytest.MonkeyPatch) -> Iterator[handlers.Controller]:
    """A controller whose one Initiative's reconcile always fails."""
    monkeypatch.setattr(kube, "dynamic_client", lambda *_: None)

    def fail(*_: Any) -> reconcile.Outcome:
        raise RuntimeError("the API server is away")

    monkeypatch.setattr(reconcile, "reconcile_initiative", fail)
    indices: dict[str, Any] = {name: {} for name in handlers._INDEX_NAMES}
    indices["citykit_initiatives"] = {"city-x": [initiative("parking", "Pilot")]}
    controller = handlers.Controller(indices)
    yield controller
    controller.pool.shutdown(wait=True)


def test_a_failed_reconcile_is_counted_as_an_error_and_timed(
    failing_controller: handlers.Controller,
) -> None:
    errors = value("citykit_reconcile_errors_total", kind="Initiative")
    timed = value("citykit_reconcile_duration_seconds_count", kind="Initiative")

    async def scenario() -> None:
        worker = asyncio.create_task(failing_controller._work())
        failing_controller.queue.add(Key("Initiative", "city-x", "parking"))
        for _ in range(200):
            if value("citykit_reconcile_errors_total", kind="Initiative") > errors:
                break
            await asyncio.sleep(0.01)
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
        failing_controller.queue.close()

    run_async(scenario())
    assert value("citykit_reconcile_errors_total", kind="Initiative") == errors + 1
    assert value("citykit_reconcile_duration_seconds_count", kind="Initiative") == timed + 1


def test_queue_depth_is_the_controllers_queued_keys(
    failing_controller: handlers.Controller,
) -> None:
    async def scenario() -> float:
        failing_controller.queue.add(Key("Initiative", "city-x", "a"))
        failing_controller.queue.add(Key("Initiative", "city-x", "b"))
        failing_controller.queue.add(Key("Initiative", "city-x", "a"))
        return value("citykit_work_queue_depth")

    assert run_async(scenario()) == 2


def test_metrics_port_serves_the_registry_in_prometheus_text_format() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    metrics.serve(port, "127.0.0.1")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    names = {family.name for family in text_string_to_metric_families(text)}
    assert {
        "citykit_initiatives",
        "citykit_phase_transitions",
        "citykit_reconcile_duration_seconds",
        "citykit_reconcile_errors",
        "citykit_api_writes",
        "citykit_work_queue_depth",
        "citykit_kpi_targets",
    } <= names


def test_a_metrics_port_in_use_is_a_one_line_error() -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("operator", "run", "--metrics-port", str(port))
    assert result.exit_code == 1
    assert result.output == f"Error: --metrics-port {port}: Address already in use\n"


def test_every_metric_is_named_citykit_or_process() -> None:
    assert {
        name for name in metrics.exported_names() if not name.startswith(("citykit_", "process_"))
    } == set()
