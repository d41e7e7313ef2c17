"""Issue 28's write budget, counted in the API server's audit log: a cold rollout of a small
city costs at most 1.5 operator writes per planned object (the objects themselves, a pilot's
workloads again when it goes citywide, and the status and Events the programme office reads),
and an idle operator writes nothing."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from kubernetes import client

from citykit.core.load.source import from_data
from citykit.core.model.validation import validate
from citykit.core.render.objects import plan
from citykit.kube.wait import wait_for
from citykit.localcluster.operator_process import OperatorProcess
from tests import audit
from tests.cities import all_live, blueprint, blueprint_status, create_blueprint
from tests.deadlines import EVENTUALLY, PROMPTLY, quiet

CITY = "budget"
BUDGET = 1.5


def operator_writes(audit_log: Path, since: int) -> list[dict[str, Any]]:
    """The writes about this city after the first `since` audit events, but for the test's
    own create of its blueprint: its namespace's objects, its Initiatives and blueprint, its
    history (ControllerRevisions) and the Events about the (cluster-scoped) blueprint."""
    found = []
    for event in audit.events(audit_log)[since:]:
        ref = event.get("objectRef", {})
        user = event.get("user", {}).get("username", "")
        if (
            event.get("stage") != "ResponseComplete"
            or user.startswith("system:")
            or event.get("verb") not in ("create", "update", "patch", "delete")
            or (event["verb"] == "create" and ref.get("resource") == "cityblueprints")
        ):
            continue
        if (
            ref.get("namespace") == f"city-{CITY}"
            or ref.get("name") == CITY
            or (ref.get("resource") in ("events", "controllerrevisions"))
        ):
            found.append(event)
    return found


def test_a_cold_rollout_stays_within_its_write_budget_and_idle_writes_nothing(
    api: client.ApiClient, operator: OperatorProcess, kube_cluster: Any
) -> None:
    data = blueprint("tallinn", CITY, gate="1s", keep=12)
    planned = len(plan(validate(from_data(f"{CITY}.yaml", data))))
    before = len(audit.events(kube_cluster.audit_log))
    create_blueprint(api, data)
    wait_for(
        lambda: (
            all_live(api, CITY, len(data["spec"]["initiatives"]))
            and blueprint_status(api, CITY).get("phase") == "Live"
        ),
        EVENTUALLY,
        "the city Live",
    )

    def count() -> int:
        return len(operator_writes(kube_cluster.audit_log, before))

    wait_for(quiet(count, seconds=7), PROMPTLY, "the writes of the last watch events to end")
    writes = operator_writes(kube_cluster.audit_log, before)
    kinds = sorted({f"{e['verb']} {e['objectRef'].get('resource')}" for e in writes})
    assert len(writes) <= BUDGET * planned, (len(writes), planned, kinds)
    mark = len(audit.events(kube_cluster.audit_log))
    time.sleep(10)  # the measured idle window
    assert operator_writes(kube_cluster.audit_log, mark) == []
