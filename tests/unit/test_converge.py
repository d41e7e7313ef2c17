"""What the operator writes, decided without a cluster: `covers` (is an observed object already
what citykit would set), `merge_patch` (the status change), `plan_writes` (which objects a
reconcile applies and deletes). An idle operator's zero writes rest on these."""

from __future__ import annotations

import copy
from typing import Any

from citykit.core.render.converge import WritePlan, covers, merge_patch, plan_writes


def config_map(name: str, **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "city-testville", "labels": {"a": "1"}},
        "data": data,
    }


def as_observed(manifest: dict[str, Any]) -> dict[str, Any]:
    """`manifest` as the API server returns it: with fields the server adds."""
    observed = copy.deepcopy(manifest)
    observed["metadata"].update(uid="u-1", resourceVersion="7", creationTimestamp="2025-01-01")
    observed["metadata"].setdefault("labels", {})["added-by-someone"] = "x"
    return observed


DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "orion", "namespace": "city-testville"},
    "spec": {
        "replicas": 2,
        "template": {"spec": {"containers": [{"name": "orion", "image": "orion:1.0"}]}},
    },
}


# covers


def test_fields_the_server_adds_still_cover() -> None:
    observed = as_observed(DEPLOYMENT)
    observed["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "IfNotPresent"
    observed["status"] = {"readyReplicas": 2}

    assert covers(observed, DEPLOYMENT)


def test_a_changed_value_does_not_cover() -> None:
    observed = as_observed(DEPLOYMENT)
    observed["spec"]["replicas"] = 3

    assert not covers(observed, DEPLOYMENT)


def test_a_changed_value_inside_a_list_does_not_cover() -> None:
    observed = as_observed(DEPLOYMENT)
    observed["spec"]["template"]["spec"]["containers"][0]["image"] = "orion:0.9"

    assert not covers(observed, DEPLOYMENT)


def test_a_list_of_another_length_does_not_cover() -> None:
    observed = as_observed(DEPLOYMENT)
    containers = observed["spec"]["template"]["spec"]["containers"]
    containers.append({"name": "sidecar", "image": "envoy:1"})

    assert not covers(observed, DEPLOYMENT)
    assert not covers({"items": []}, {"items": [1]})


def test_a_missing_field_does_not_cover() -> None:
    observed = as_observed(DEPLOYMENT)
    del observed["spec"]["replicas"]

    assert not covers(observed, DEPLOYMENT)
    assert not covers(None, DEPLOYMENT)


# merge_patch


def test_an_unchanged_status_is_an_empty_patch() -> None:
    status = {"phase": "Live", "byPhase": {"Live": 3}, "conditions": [{"type": "Ready"}]}

    assert merge_patch(status, copy.deepcopy(status)) == {}


def test_changed_and_new_keys_are_in_the_patch_and_unchanged_ones_are_not() -> None:
    current = {"phase": "Pilot", "wave": "pilot", "ready": "1/1"}
    desired = {"phase": "Citywide", "wave": "pilot", "ready": "1/1", "message": "gate passed"}

    assert merge_patch(current, desired) == {"phase": "Citywide", "message": "gate passed"}


def test_removed_keys_become_null_at_every_depth() -> None:
    current = {
        "phase": "RollingOut",
        "message": "3 pending",
        "byPhase": {"Pending": 3, "Live": 1},
        "areas": {"mobility": {"live": 1, "total": 4, "stale": True}},
    }
    desired = {
        "phase": "RollingOut",
        "byPhase": {"Live": 4},
        "areas": {"mobility": {"live": 4, "total": 4}},
    }

    assert merge_patch(current, desired) == {
        "message": None,
        "byPhase": {"Pending": None, "Live": 4},
        "areas": {"mobility": {"live": 4, "stale": None}},
    }


def test_a_value_that_became_null_is_set_to_null() -> None:
    assert merge_patch({"wave": "pilot"}, {"wave": None}) == {"wave": None}


# plan_writes


def test_nothing_is_written_when_the_observed_objects_cover_the_desired_ones() -> None:
    desired = [config_map("settings", mode="pilot"), DEPLOYMENT]
    observed = [as_observed(manifest) for manifest in desired]

    assert plan_writes(desired, observed) == WritePlan(apply=(), delete=())


def test_everything_is_applied_in_order_when_nothing_exists_yet() -> None:
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "city-testville"}}
    desired = [namespace, config_map("settings", mode="pilot"), DEPLOYMENT]

    assert plan_writes(desired, []) == WritePlan(apply=tuple(desired), delete=())


def test_only_the_changed_child_is_applied() -> None:
    unchanged, changed = config_map("settings", mode="pilot"), config_map("thresholds", pm25="25")
    observed = [as_observed(unchanged), as_observed(changed), as_observed(DEPLOYMENT)]
    edited = {**changed, "data": {"pm25": "15"}}

    plan = plan_writes([unchanged, edited, DEPLOYMENT], observed)

    assert plan == WritePlan(apply=(edited,), delete=())


def test_an_observed_child_no_longer_desired_is_deleted() -> None:
    kept, dropped = config_map("settings", mode="pilot"), config_map("old-settings", mode="x")
    observed = [as_observed(kept), as_observed(dropped)]

    plan = plan_writes([kept], observed)

    assert plan.apply == ()
    assert [item["metadata"]["name"] for item in plan.delete] == ["old-settings"]
    assert plan.delete[0] is observed[1]


def test_objects_are_matched_by_kind_and_name() -> None:
    """A ConfigMap and a Service may share a name; one does not stand in for the other."""
    settings = config_map("orion")
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "orion", "namespace": "city-testville"},
        "spec": {"ports": [{"port": 1026}]},
    }

    plan = plan_writes([service], [as_observed(settings)])

    assert plan.apply == (service,)
    assert [item["kind"] for item in plan.delete] == ["ConfigMap"]


def test_only_what_was_observed_can_be_deleted() -> None:
    """The operator observes only objects labelled with a city (its indices), so objects
    citykit did not make are never among the deletions: the plan deletes nothing else."""
    desired = [config_map("settings", mode="pilot")]

    assert plan_writes(desired, []).delete == ()
    assert plan_writes([], []) == WritePlan()
