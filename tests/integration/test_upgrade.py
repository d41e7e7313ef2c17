"""Pilot-first upgrades, automatic rollback and the city's history, on a real kube-apiserver
with the operator running.

One city made from Hangzhou (three of its initiatives, 2 s automatic gates) goes Live on
catalogue 1.0.0, then the tests follow its life in order: the blueprint changed the way
`citykit upgrade` changes it (the pin to 1.1.0, the minor version bumped), under which only
mobility.adaptive-traffic-signals renders differently; a deliberately broken revision of that
initiative (its Pods read CITYKIT_TEST_NEVER_READY, which the local cluster's KWOK stage keeps
unready, as a kubelet would a Pod whose Secret is missing); `citykit rollback`; and
`citykit history`.
"""

from __future__ import annotations

import copy
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from citykit.core.upgrade.blueprint import bumped_minor
from citykit.kube.wait import wait_for
from citykit.localcluster.operator_process import OperatorProcess
from citykit.localcluster.state import LocalCluster
from tests import audit
from tests.conftest import read_city, run_cli
from tests.deadlines import EVENTUALLY, PROMPTLY
from tests.deployment_history import DeploymentHistory

GROUP, VERSION = "citykit.io", "v1alpha1"
CITY = "upgraded"
NAMESPACE = f"city-{CITY}"
CHANGED = "mobility-adaptive-traffic-signals"  # the one 1.1.0 renders differently
TRANSIT, LIGHTING = "mobility-real-time-transit-info", "living-smart-street-lighting"
UNCHANGED = (TRANSIT, LIGHTING)
KEPT = ("mobility.adaptive-traffic-signals", *(name.replace("-", ".", 1) for name in UNCHANGED))
# REVISION  BLUEPRINT [(restores rN)]  CATALOGUE  APPLIED  OUTCOME ...
HISTORY_ROW = re.compile(r"^ ?(\*?r\d+)\s+(\S+)(?: \(restores (r\d+)\))?\s+(\S+)\s+\S+\s+(\S+)")
CHILD_RESOURCES = ("deployments", "configmaps", "services", "serviceaccounts", "networkpolicies")


def custom(api: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api)


def city_spec() -> dict[str, Any]:
    """Hangzhou's spec with three initiatives that depend on nothing, and short gates."""
    spec: dict[str, Any] = copy.deepcopy(read_city("hangzhou")["spec"])
    spec["initiatives"] = [item for item in spec["initiatives"] if item["ref"] in KEPT]
    for item in spec["initiatives"]:
        item["gate"] = {"healthyFor": "2s", "approval": "auto"}
        item["dependsOn"] = []
    spec["dataSharing"] = [
        a for a in spec.get("dataSharing", []) if a["producer"] in KEPT and a["consumer"] in KEPT
    ]
    spec["kpiTargets"] = []
    return spec


def stored_spec(api: client.ApiClient) -> dict[str, Any]:
    found = custom(api).get_cluster_custom_object(GROUP, VERSION, "cityblueprints", CITY)
    return dict(found["spec"])


def replace_spec(api: client.ApiClient, spec: dict[str, Any]) -> None:
    found = custom(api).get_cluster_custom_object(GROUP, VERSION, "cityblueprints", CITY)
    found["spec"] = spec
    custom(api).replace_cluster_custom_object(GROUP, VERSION, "cityblueprints", CITY, found)


def initiative(api: client.ApiClient, name: str) -> dict[str, Any]:
    found: dict[str, Any] = custom(api).get_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, "initiatives", name
    )
    return found


def status(api: client.ApiClient, name: str) -> dict[str, Any]:
    return initiative(api, name).get("status") or {}


def condition(api: client.ApiClient, name: str, type_: str) -> dict[str, Any]:
    return next((c for c in status(api, name).get("conditions") or () if c["type"] == type_), {})


def deployments(api: client.ApiClient, name: str) -> list[Any]:
    return (
        client.AppsV1Api(api)
        .list_namespaced_deployment(NAMESPACE, label_selector=f"citykit.io/initiative={name}")
        .items
    )


def revisions(api: client.ApiClient) -> dict[int, dict[str, str]]:
    """Revision number -> annotations of the city's ControllerRevisions."""
    items = (
        client.AppsV1Api(api)
        .list_namespaced_controller_revision(
            NAMESPACE, label_selector=f"citykit.io/blueprint={CITY}"
        )
        .items
    )
    return {item.revision: dict(item.metadata.annotations or {}) for item in items}


def outcome(api: client.ApiClient, number: int) -> str:
    return revisions(api).get(number, {}).get("citykit.io/outcome", "")


def blueprint_live(api: client.ApiClient) -> bool:
    found = custom(api).get_cluster_custom_object(GROUP, VERSION, "cityblueprints", CITY)
    items = custom(api).list_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "initiatives")
    return (found.get("status") or {}).get("phase") == "Live" and all(
        (item.get("status") or {}).get("observedGeneration") == item["metadata"]["generation"]
        and item["status"]["phase"] == "Live"
        for item in items["items"]
    )


def child_writes(
    audit_log: Path,
    names: tuple[str, ...],
    after: int,
    resources: tuple[str, ...] = CHILD_RESOURCES,
) -> list[str]:
    """Writes (from event `after` of the audit log on) to children of the initiatives
    `names` (or to whichever of their `resources`), by anyone but the cluster's own
    controllers."""
    found = []
    for event in audit.events(audit_log)[after:]:
        ref = event.get("objectRef", {})
        if (
            event.get("stage") == "ResponseComplete"
            and not event.get("user", {}).get("username", "").startswith("system:")
            and event.get("verb") in ("create", "update", "patch", "delete")
            and ref.get("namespace") == NAMESPACE
            and ref.get("resource") in resources
            and ref.get("name", "").startswith(names)
        ):
            subresource = f"/{ref['subresource']}" if ref.get("subresource") else ""
            found.append(f"{event['verb']} {ref['resource']}/{ref['name']}{subresource}")
    return found


@pytest.fixture(scope="module")
def city(
    api: client.ApiClient,
    operator: OperatorProcess,
    kube_cluster: LocalCluster,
    monkeypatch_module: pytest.MonkeyPatch,
) -> Iterator[client.ApiClient]:
    """The city Live on catalogue 1.0.0; the CLI talks to the same cluster."""
    monkeypatch_module.setenv("KUBECONFIG", str(kube_cluster.kubeconfig))
    monkeypatch_module.setenv("COLUMNS", "200")  # citykit status's table, unabridged
    custom(api).create_cluster_custom_object(
        GROUP,
        VERSION,
        "cityblueprints",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "CityBlueprint",
            "metadata": {"name": CITY},
            "spec": city_spec(),
        },
    )
    wait_for(lambda: blueprint_live(api), EVENTUALLY, "the city Live on catalogue 1.0.0")
    yield api
    custom(api).delete_cluster_custom_object(GROUP, VERSION, "cityblueprints", CITY)


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_the_first_applied_spec_is_history_and_settles_live(city: client.ApiClient) -> None:
    wait_for(lambda: outcome(city, 1) == "Live", PROMPTLY, "revision 1 Live")
    first = revisions(city)[1]
    assert first["citykit.io/blueprint-version"] == "3.1.0"
    assert first["citykit.io/catalogue-version"] == "1.0.0"
    running = status(city, CHANGED)
    assert running["revision"] and "candidateRevision" not in running
    assert {d.metadata.labels["citykit.io/revision"] for d in deployments(city, CHANGED)} == {
        running["revision"]
    }


def test_kubectl_get_ini_shows_wave_and_revision(
    city: client.ApiClient, kube_cluster: LocalCluster, tmp_path: Path
) -> None:
    shown = subprocess.run(
        [str(kube_cluster.layout.bin / "kubectl"), "get", "ini", "-n", NAMESPACE, CHANGED],
        # HOME: kubectl's discovery cache goes there, not into the working directory
        env={"KUBECONFIG": str(kube_cluster.kubeconfig), "HOME": str(tmp_path)},
        check=True,
        capture_output=True,
        text=True,
        timeout=PROMPTLY,
    ).stdout.splitlines()
    header, row = shown[0].split(), shown[1].split()
    assert header[:6] == ["NAME", "AREA", "PHASE", "WAVE", "REVISION", "CANDIDATE"]
    assert row[1:5] == ["mobility", "Live", "citywide", status(city, CHANGED)["revision"]]


def test_an_upgrade_pilots_the_changed_initiative_then_goes_citywide_and_touches_no_other(
    city: client.ApiClient, kube_cluster: LocalCluster
) -> None:
    before = status(city, CHANGED)["revision"]
    mark = len(audit.events(kube_cluster.audit_log))
    recorder = DeploymentHistory(city, NAMESPACE)
    try:
        spec = stored_spec(city)
        spec["catalogueVersion"], spec["version"] = "1.1.0", bumped_minor(spec["version"])
        replace_spec(city, spec)
        upgrading = wait_for(
            lambda: (s := status(city, CHANGED)).get("phase") == "Upgrading" and s,
            PROMPTLY,
            "the changed initiative Upgrading",
        )
        candidate = upgrading["candidateRevision"]
        assert upgrading["revision"] == before and candidate != before
        wait_for(
            lambda: (
                status(city, CHANGED).get("revision") == candidate
                and status(city, CHANGED).get("phase") == "Live"
            ),
            PROMPTLY,
            "the candidate promoted and Live",
        )
        wait_for(lambda: blueprint_live(city), PROMPTLY, "the city Live on catalogue 1.1.0")
        wait_for(lambda: outcome(city, 2) == "Live", PROMPTLY, "revision 2 Live")
    finally:
        recorder.stop()
    changed = {seen for seen in recorder.seen() if seen[0].startswith(CHANGED)}
    # the candidate ran in the pilot beside the citywide Deployments, under names of its own
    assert {(rev, wave) for name, rev, wave in changed if name.endswith("-candidate")} == {
        (candidate, "pilot")
    }
    assert {(before, "citywide"), (candidate, "citywide")} <= {
        (rev, wave) for name, rev, wave in changed if not name.endswith("-candidate")
    }
    assert not any(name.endswith("-candidate") for name in _names(city, CHANGED))
    assert child_writes(kube_cluster.audit_log, UNCHANGED, mark) == []
    # the new pin is written into their specs, and their statuses say they saw it: no more
    for name in UNCHANGED:
        assert sorted(child_writes(kube_cluster.audit_log, (name,), mark, ("initiatives",))) == [
            f"patch initiatives/{name}",
            f"patch initiatives/{name}/status",
        ]
    for name in UNCHANGED:
        assert "Progressing" not in {c["type"] for c in status(city, name)["conditions"]}
    assert condition(city, CHANGED, "Progressing")["reason"] == "Promoted"
    assert revisions(city)[2]["citykit.io/catalogue-version"] == "1.1.0"


def _names(api: client.ApiClient, name: str) -> set[str]:
    return {d.metadata.name for d in deployments(api, name)}


def test_a_broken_revision_rolls_back_by_itself_and_only_the_pilot_saw_it(
    city: client.ApiClient,
) -> None:
    good = status(city, CHANGED)["revision"]
    recorder = DeploymentHistory(city, NAMESPACE)
    try:
        spec = stored_spec(city)
        spec["version"] = bumped_minor(spec["version"])
        for item in spec["initiatives"]:
            if item["ref"] == "mobility.adaptive-traffic-signals":
                item["secretRefs"] = {
                    "CITYKIT_TEST_NEVER_READY": {"name": "never-made", "key": "token"}
                }
                item["gate"]["progressDeadline"] = "15s"
        replace_spec(city, spec)
        broken = wait_for(
            lambda: status(city, CHANGED).get("candidateRevision"), PROMPTLY, "the broken candidate"
        )
        shown = run_cli("status", CITY)  # within the 15 s the candidate has
        assert f"{good} -> {broken}" in shown.output, shown.output
        rolled = wait_for(
            lambda: (s := status(city, CHANGED)).get("failedRevision") == broken and s,
            PROMPTLY,
            "the broken revision rolled back",
        )
        wait_for(lambda: outcome(city, 3) == "RolledBack", PROMPTLY, "revision 3 RolledBack")
    finally:
        recorder.stop()
    assert rolled["phase"] == "Live" and rolled["revision"] == good
    assert "candidateRevision" not in rolled
    progressing = condition(city, CHANGED, "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("False", "RolledBack")
    assert "not healthy within 15s" in progressing["message"]
    assert "not healthy within 15s" in revisions(city)[3]["citykit.io/outcome-reason"]
    events = client.CoreV1Api(city).list_namespaced_event(
        NAMESPACE, field_selector=f"involvedObject.name={CHANGED},reason=RolledBack"
    )
    assert [event.type for event in events.items] == ["Warning"]
    # only the pilot's candidate Deployments ever ran the broken revision, and they are gone
    ran_broken = {(name, wave) for name, rev, wave in recorder.seen() if rev == broken}
    assert ran_broken and all(
        name.endswith("-candidate") and wave == "pilot" for name, wave in ran_broken
    )
    assert not any(name.endswith("-candidate") for name in _names(city, CHANGED))
    for item in deployments(city, CHANGED):
        assert item.metadata.labels["citykit.io/revision"] == good
        assert item.status.ready_replicas == item.spec.replicas
    # the broken spec still stands; a citywide Deployment deleted by hand comes back as the
    # revision that runs, rendered from what the status keeps of it
    assert_restored(city, good)


def applied(api: client.ApiClient, spec: dict[str, Any]) -> int:
    """Replace the city's spec with `spec`; the number of the history revision recording it."""
    known = max(revisions(api))
    replace_spec(api, spec)
    return int(
        wait_for(lambda: max(revisions(api)) > known and max(revisions(api)), PROMPTLY, "history")
    )


def assert_restored(api: client.ApiClient, revision: str) -> None:
    """Delete one of CHANGED's citywide Deployments; it comes back on `revision`, ready."""
    (name, *_) = sorted(n for n in _names(api, CHANGED) if not n.endswith("-candidate"))
    gone = client.AppsV1Api(api).read_namespaced_deployment(name, NAMESPACE).metadata.uid
    client.AppsV1Api(api).delete_namespaced_deployment(name, NAMESPACE)
    back = wait_for(
        lambda: next(
            (
                d
                for d in deployments(api, CHANGED)
                if d.metadata.name == name
                and d.metadata.uid != gone
                and (d.status.ready_replicas or 0) == d.spec.replicas
            ),
            None,
        ),
        PROMPTLY,
        f"{name} restored",
    )
    assert back.metadata.labels["citykit.io/revision"] == revision
    assert back.metadata.labels["citykit.io/wave"] == "citywide"


def test_citykit_rollback_to_the_previous_version_converges(city: client.ApiClient) -> None:
    result = run_cli("rollback", CITY)
    assert result.exit_code == 0, result.output
    spec = stored_spec(city)
    assert spec["version"] == "3.2.0" and spec["catalogueVersion"] == "1.1.0"
    wait_for(lambda: outcome(city, 4) == "Live", PROMPTLY, "revision 4 (the rollback) Live")
    wait_for(lambda: blueprint_live(city), PROMPTLY, "the city Live again")
    assert revisions(city)[4]["citykit.io/restored-from"] == "2"
    restored = status(city, CHANGED)
    assert restored["phase"] == "Live" and "candidateRevision" not in restored


def test_citykit_history_lists_every_version_with_its_outcome(
    city: client.ApiClient, kube_cluster: LocalCluster
) -> None:
    wait_for(lambda: outcome(city, 4) == "Live", PROMPTLY, "revision 4 Live")
    rewritten = [
        (event["verb"], event["objectRef"]["name"])
        for event in audit.events(kube_cluster.audit_log)
        if event.get("stage") == "ResponseComplete"
        and event.get("objectRef", {}).get("resource") == "controllerrevisions"
        and event.get("objectRef", {}).get("namespace") == NAMESPACE
        and event.get("verb") in ("delete", "update")
    ]
    assert rewritten == []  # history is only ever added to (and its outcomes patched)
    result = run_cli("history", CITY)
    assert result.exit_code == 0, result.output
    rows = [
        found.groups() for line in result.output.splitlines() if (found := HISTORY_ROW.match(line))
    ]
    assert rows == [
        ("r1", "3.1.0", None, "1.0.0", "Live"),
        ("r2", "3.2.0", None, "1.1.0", "Live"),
        ("r3", "3.3.0", None, "1.1.0", "RolledBack"),
        ("*r4", "3.2.0", "r2", "1.1.0", "Live"),
    ]


def test_a_manual_gate_lets_a_new_revision_through_only_with_its_own_approval(
    city: client.ApiClient,
) -> None:
    approved = run_cli("approve", CITY, "mobility.adaptive-traffic-signals", "--by", "office")
    assert approved.exit_code == 0, approved.output  # an approval of what runs now
    assert "citykit.io/approved-revision" not in initiative(city, CHANGED)["metadata"].get(
        "annotations", {}
    )
    running = status(city, CHANGED)["revision"]
    spec = stored_spec(city)
    spec["version"] = bumped_minor(spec["version"])
    for item in spec["initiatives"]:
        if item["ref"] == "mobility.adaptive-traffic-signals":
            item["gate"]["approval"] = "manual"
            item["secretRefs"] = {"SIGNALS_TOKEN": {"name": "signals", "key": "token"}}
    replace_spec(city, spec)
    waiting = wait_for(
        lambda: "citykit approve" in (s := status(city, CHANGED)).get("message", "") and s,
        PROMPTLY,
        "the healthy candidate waiting for approval of its revision",
    )
    assert waiting["phase"] == "Upgrading" and waiting["revision"] == running
    candidate = waiting["candidateRevision"]
    assert_restored(city, running)  # mid-upgrade: the running revision, not the candidate's
    assert status(city, CHANGED)["candidateRevision"] == candidate
    again = run_cli("approve", CITY, "mobility.adaptive-traffic-signals", "--by", "office")
    assert again.exit_code == 0, again.output
    annotations = initiative(city, CHANGED)["metadata"]["annotations"]
    assert annotations["citykit.io/approved-revision"] == candidate
    wait_for(
        lambda: (
            (s := status(city, CHANGED)).get("revision") == candidate and s.get("phase") == "Live"
        ),
        PROMPTLY,
        "the approved revision Live citywide",
    )
    assert not any(name.endswith("-candidate") for name in _names(city, CHANGED))


def test_a_second_change_mid_upgrade_wins_and_the_first_is_superseded(
    city: client.ApiClient,
) -> None:
    def change(env: str) -> None:
        spec = stored_spec(city)
        spec["version"] = bumped_minor(spec["version"])
        for item in spec["initiatives"]:
            if item["ref"] == "mobility.adaptive-traffic-signals":
                item["secretRefs"] = {env: {"name": "signals", "key": "token"}}
        replace_spec(city, spec)

    running = status(city, CHANGED)["revision"]
    change("SIGNALS_KEY")  # the manual gate of the test before still holds
    first = wait_for(
        lambda: status(city, CHANGED).get("candidateRevision"), PROMPTLY, "the first candidate"
    )
    numbers = sorted(revisions(city))
    change("SIGNALS_SECRET")
    newest = wait_for(
        lambda: (c := status(city, CHANGED).get("candidateRevision")) not in (None, first) and c,
        PROMPTLY,
        "the second change's candidate",
    )
    wait_for(lambda: outcome(city, numbers[-1]) == "Superseded", PROMPTLY, "the first superseded")
    assert status(city, CHANGED)["revision"] == running
    waiting = wait_for(
        lambda: "citykit approve" in (s := status(city, CHANGED)).get("message", "") and s,
        PROMPTLY,
        "the newest candidate healthy and waiting for approval",
    )
    assert waiting["candidateRevision"] == newest
    approved = run_cli("approve", CITY, "mobility.adaptive-traffic-signals", "--by", "office")
    assert approved.exit_code == 0, approved.output
    wait_for(
        lambda: status(city, CHANGED).get("revision") == newest,
        PROMPTLY,
        "the newest revision Live",
    )
    wait_for(lambda: outcome(city, numbers[-1] + 1) == "Live", PROMPTLY, "its history Live")
    # promoted: the candidate objects (replaced in place by the second change) are gone
    assert not any(name.endswith("-candidate") for name in _names(city, CHANGED))


def test_an_unrelated_change_writes_nothing_to_the_other_initiatives(
    city: client.ApiClient, kube_cluster: LocalCluster
) -> None:
    """A new blueprint version that changes one initiative's parameter: that one pilots its
    new revision; the others' Initiatives (spec and status) and children see no write."""
    others = (CHANGED, LIGHTING)
    before = status(city, TRANSIT)["revision"]
    generations = {name: initiative(city, name)["metadata"]["generation"] for name in others}
    mark = len(audit.events(kube_cluster.audit_log))
    spec = stored_spec(city)
    spec["version"] = bumped_minor(spec["version"])
    for item in spec["initiatives"]:
        if item["ref"] == "mobility.real-time-transit-info":
            item["parameters"]["realtimeRefreshSeconds"] = 20
    number = applied(city, spec)
    wait_for(
        lambda: (
            (s := status(city, TRANSIT)).get("revision") not in (None, before)
            and s.get("phase") == "Live"
        ),
        PROMPTLY,
        "the changed initiative Live on its new revision",
    )
    wait_for(lambda: outcome(city, number) == "Live", PROMPTLY, "the new version's history Live")
    assert revisions(city)[number]["citykit.io/blueprint-version"] == spec["version"]
    writes = child_writes(kube_cluster.audit_log, others, mark, (*CHILD_RESOURCES, "initiatives"))
    assert writes == []
    assert {name: initiative(city, name)["metadata"]["generation"] for name in others} == (
        generations
    )
    assert condition(city, TRANSIT, "Progressing")["reason"] == "Promoted"


def test_a_version_whose_rollout_ends_degraded_is_recorded_so_until_it_recovers(
    city: client.ApiClient,
) -> None:
    core = client.CoreV1Api(city)
    (pod, *_) = core.list_namespaced_pod(
        NAMESPACE, label_selector=f"citykit.io/initiative={TRANSIT}"
    ).items
    # as a kubelet reports a failing readiness probe (no KWOK stage makes a running Pod ready)
    core.patch_namespaced_pod_status(
        pod.metadata.name,
        NAMESPACE,
        {"status": {"conditions": [{"type": "Ready", "status": "False"}]}},
    )
    wait_for(lambda: status(city, TRANSIT).get("phase") == "Degraded", PROMPTLY, "transit Degraded")
    spec = stored_spec(city)
    spec["version"] = bumped_minor(spec["version"])
    number = applied(city, spec)
    wait_for(
        lambda: outcome(city, number) == "Degraded", PROMPTLY, "the new version's history Degraded"
    )
    reason = revisions(city)[number]["citykit.io/outcome-reason"]
    assert reason.startswith("mobility.real-time-transit-info: ") and "ready" in reason
    core.delete_namespaced_pod(pod.metadata.name, NAMESPACE)  # its replacement is ready
    wait_for(lambda: outcome(city, number) == "Live", PROMPTLY, "the same version's history Live")


def test_a_revision_without_pilot_districts_not_live_in_time_returns_to_the_last_good(
    city: client.ApiClient,
) -> None:
    good = status(city, LIGHTING)["revision"]
    spec = stored_spec(city)
    spec["version"] = bumped_minor(spec["version"])
    for item in spec["initiatives"]:
        if item["ref"] == "living.smart-street-lighting":
            item["pilotDistricts"] = []
            item["secretRefs"] = {
                "CITYKIT_TEST_NEVER_READY": {"name": "never-made", "key": "token"}
            }
            item["gate"]["progressDeadline"] = "15s"
    number = applied(city, spec)
    broken = wait_for(
        lambda: (r := status(city, LIGHTING).get("revision")) != good and r,
        PROMPTLY,
        "the new revision rolled out citywide (no pilot)",
    )
    rolled = wait_for(
        lambda: (s := status(city, LIGHTING)).get("failedRevision") == broken and s,
        PROMPTLY,
        "the new revision rolled back",
    )
    assert rolled["revision"] == good and "promotedAt" not in rolled
    progressing = condition(city, LIGHTING, "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("False", "RolledBack")
    assert "not healthy citywide within 15s" in progressing["message"]
    wait_for(
        lambda: status(city, LIGHTING).get("phase") == "Live", PROMPTLY, "Live on the last good"
    )
    for item in deployments(city, LIGHTING):
        assert item.metadata.labels["citykit.io/revision"] == good
    wait_for(lambda: outcome(city, number) == "RolledBack", PROMPTLY, "its history RolledBack")
    events = client.CoreV1Api(city).list_namespaced_event(
        NAMESPACE, field_selector=f"involvedObject.name={LIGHTING},reason=RolledBack"
    )
    assert [event.type for event in events.items] == ["Warning"]
