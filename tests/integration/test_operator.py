"""The operator against the real local control plane: rollout, policy, ordering, approval,
drift repair, deletion, frugality and restarts. Waits are conditions with deadlines."""

from __future__ import annotations

import os
import random
import time
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from citykit.kube.wait import wait_for
from citykit.localcluster.operator_process import OperatorProcess
from tests import audit
from tests.cities import (
    GROUP,
    VERSION,
    all_live,
    approve,
    blueprint,
    blueprint_status,
    config_maps,
    create_blueprint,
    custom,
    delete_blueprint,
    deployments,
    initiatives,
    namespace_gone,
)
from tests.deadlines import EVENTUALLY, PROMPTLY, quiet
from tests.deployment_history import DeploymentHistory

KILLS = 6


def test_example_city_rolls_out_to_live(api: client.ApiClient, operator: OperatorProcess) -> None:
    data = blueprint("tallinn", "rollout", keep=6)
    create_blueprint(api, data)
    wait_for(
        lambda: all_live(api, "rollout", len(data["spec"]["initiatives"])),
        EVENTUALLY,
        "every initiative Live",
    )
    status = wait_for(
        lambda: (s := blueprint_status(api, "rollout")).get("phase") == "Live" and s,
        PROMPTLY,
        "blueprint Live",
    )
    assert (
        status["live"] == f"{len(data['spec']['initiatives'])}/{len(data['spec']['initiatives'])}"
    )
    assert status["appliedVersion"] == data["spec"]["version"]
    for item in initiatives(api, "rollout"):
        assert item["status"]["wave"] == "citywide"
        assert {c["type"]: c["status"] for c in item["status"]["conditions"]}["Ready"] == "True"


def test_idle_operator_makes_no_writes(
    api: client.ApiClient, operator: OperatorProcess, kube_cluster: Any
) -> None:
    wait_for(
        lambda: blueprint_status(api, "rollout").get("phase") == "Live",
        EVENTUALLY,
        "the rollout city to be Live",
    )
    writes = quiet(lambda: audit.city_writes(kube_cluster.audit_log))
    wait_for(writes, PROMPTLY, "the writes of in-flight watch events to end")
    before = audit.city_writes(kube_cluster.audit_log)
    time.sleep(10)  # the measured window itself: ten resync intervals
    assert audit.city_writes(kube_cluster.audit_log) - before == 0


def test_policy_violating_blueprint_is_blocked_and_creates_nothing(
    api: client.ApiClient, operator: OperatorProcess
) -> None:
    data = blueprint("tallinn", "blocked", keep=2)
    data["spec"]["initiatives"].append({"ref": "living.face-recognition-access"})
    create_blueprint(api, data)
    status = wait_for(
        lambda: (s := blueprint_status(api, "blocked")).get("phase") == "Blocked" and s,
        PROMPTLY,
        "Blocked",
    )
    assert any("biometric" in problem for problem in status["problems"])
    assert {c["type"]: c["status"] for c in status["conditions"]}["Valid"] == "False"
    with pytest.raises(ApiException) as missing:
        client.CoreV1Api(api).read_namespace("city-blocked")
    assert missing.value.status == 404
    delete_blueprint(api, "blocked")


def test_dependencies_and_manual_approval_order_the_rollout(
    api: client.ApiClient, operator: OperatorProcess
) -> None:
    data = blueprint("tallinn", "ordered", gate="1s", keep=2)
    first, second = data["spec"]["initiatives"]
    first.update(
        pilotDistricts=[data["spec"]["districts"][0]["id"]],
        gate={"healthyFor": "1s", "approval": "manual"},
        dependsOn=[],
    )
    second.update(dependsOn=[first["ref"]])
    create_blueprint(api, data)
    first_name, second_name = first["ref"].replace(".", "-"), second["ref"].replace(".", "-")

    def phase(name: str) -> str:
        return next(
            (
                (i.get("status") or {}).get("phase", "")
                for i in initiatives(api, "ordered")
                if i["metadata"]["name"] == name
            ),
            "",
        )

    wait_for(lambda: phase(first_name) == "AwaitingApproval", PROMPTLY, "pilot to await approval")
    # a Waiting status may wait up to the progress interval to be written (core.rollout.writes)
    wait_for(lambda: phase(second_name) == "Waiting", PROMPTLY, "the dependent to be Waiting")
    assert deployments(api, "ordered", second_name) == []
    pilot = deployments(api, "ordered", first_name)
    assert pilot and all(d.metadata.labels["citykit.io/wave"] == "pilot" for d in pilot)

    approve(operator.kubeconfig, "ordered", first["ref"], by="test-council")
    wait_for(
        lambda: phase(first_name) == "Live" and phase(second_name) == "Live",
        PROMPTLY,
        "both Live after approval",
    )
    assert all(
        d.metadata.labels["citykit.io/wave"] == "citywide"
        for d in deployments(api, "ordered", first_name)
    )


def test_drift_is_repaired(api: client.ApiClient, operator: OperatorProcess) -> None:
    wait_for(
        lambda: blueprint_status(api, "rollout").get("phase") == "Live",
        EVENTUALLY,
        "the rollout city to be Live",
    )
    apps = client.AppsV1Api(api)
    victim, edited = deployments(api, "rollout")[:2]
    apps.delete_namespaced_deployment(victim.metadata.name, "city-rollout")
    image = edited.spec.template.spec.containers[0].image
    apps.patch_namespaced_deployment(
        edited.metadata.name,
        "city-rollout",
        {
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": edited.spec.template.spec.containers[0].name,
                                "image": "busybox:1.36",
                            }
                        ]
                    }
                }
            }
        },
    )
    wait_for(
        lambda: any(
            d.metadata.name == victim.metadata.name and d.metadata.uid != victim.metadata.uid
            for d in deployments(api, "rollout")
        ),
        PROMPTLY,
        "deleted Deployment recreated",
    )
    wait_for(
        lambda: (
            apps.read_namespaced_deployment(edited.metadata.name, "city-rollout")
            .spec.template.spec.containers[0]
            .image
            == image
        ),
        PROMPTLY,
        "hand-edited image restored",
    )


def test_killed_at_random_moments_the_operator_converges_and_no_wave_goes_back(
    api: client.ApiClient, operator: OperatorProcess
) -> None:
    """SIGKILL the operator KILLS times at random moments of a rollout with pilots and
    dependencies (the seed is printed, so a failure can be replayed with CITYKIT_KILL_SEED)."""
    seed = int(os.environ.get("CITYKIT_KILL_SEED") or time.time())
    print(f"kill seed: {seed}")
    moments = random.Random(seed)
    data = blueprint("hong-kong", "restart", gate="2s", keep=8)
    expected = len(data["spec"]["initiatives"])
    recorder = DeploymentHistory(api, "city-restart")
    try:
        create_blueprint(api, data)
        for _ in range(KILLS):
            time.sleep(moments.uniform(0.2, 4.0))
            operator.kill()
            operator.start()
        wait_for(lambda: all_live(api, "restart", expected), EVENTUALLY, "every initiative Live")
        wait_for(lambda: recorder.caught_up(api), PROMPTLY, "the watch to see every Deployment")
    finally:
        recorder.stop()
    assert recorder.went_back() == {}
    live = deployments(api, "restart")
    assert all(d.metadata.labels["citykit.io/wave"] == "citywide" for d in live)
    assert len(initiatives(api, "restart")) == expected
    for kind_objects in (live, config_maps(api, "restart")):
        names = [item.metadata.name for item in kind_objects]
        assert len(names) == len(set(names))
        for item in kind_objects:
            owners = item.metadata.owner_references
            assert len(owners) == 1 and owners[0].controller, item.metadata.name


def test_deleting_a_blueprint_removes_everything_it_made(
    api: client.ApiClient, operator: OperatorProcess
) -> None:
    data = blueprint("tallinn", "deleted", keep=2)
    create_blueprint(api, data)
    wait_for(lambda: len(deployments(api, "deleted")) > 0, PROMPTLY, "workloads created")
    delete_blueprint(api, "deleted")

    def gone() -> bool:
        try:
            client.CoreV1Api(api).read_namespace("city-deleted")
        except ApiException as error:
            return error.status == 404
        return False

    wait_for(gone, EVENTUALLY, "the city namespace to be garbage-collected")
    with pytest.raises(ApiException):
        custom(api).get_cluster_custom_object(GROUP, VERSION, "cityblueprints", "deleted")


def test_a_hand_scaled_deployment_and_a_deleted_configmap_are_restored(
    api: client.ApiClient, operator: OperatorProcess
) -> None:
    wait_for(
        lambda: blueprint_status(api, "rollout").get("phase") == "Live",
        EVENTUALLY,
        "the rollout city to be Live",
    )
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    scaled = deployments(api, "rollout")[0]
    replicas = scaled.spec.replicas
    config_map = next(
        item
        for item in core.list_namespaced_config_map(
            "city-rollout", label_selector="app.kubernetes.io/managed-by=citykit"
        ).items
    )
    apps.patch_namespaced_deployment(
        scaled.metadata.name, "city-rollout", {"spec": {"replicas": replicas + 3}}
    )
    core.delete_namespaced_config_map(config_map.metadata.name, "city-rollout")
    wait_for(
        lambda: (
            apps.read_namespaced_deployment(scaled.metadata.name, "city-rollout").spec.replicas
            == replicas
        ),
        PROMPTLY,
        "hand-scaled Deployment scaled back",
        interval=0.1,
    )

    def recreated() -> bool:
        try:
            found = core.read_namespaced_config_map(config_map.metadata.name, "city-rollout")
        except ApiException as error:
            if error.status == 404:
                return False
            raise
        return bool(found.metadata.uid != config_map.metadata.uid)

    wait_for(recreated, PROMPTLY, "deleted ConfigMap recreated", interval=0.1)


def test_a_blueprint_deleted_while_no_operator_runs_is_gone_with_all_its_objects(
    api: client.ApiClient, operator: OperatorProcess
) -> None:
    data = blueprint("tallinn", "orphaned", keep=2)
    create_blueprint(api, data)
    wait_for(lambda: len(deployments(api, "orphaned")) > 0, PROMPTLY, "workloads created")
    operator.kill()
    try:
        delete_blueprint(api, "orphaned")
        wait_for(lambda: namespace_gone(api, "city-orphaned"), EVENTUALLY, "everything collected")
        with pytest.raises(ApiException):
            custom(api).get_cluster_custom_object(GROUP, VERSION, "cityblueprints", "orphaned")
    finally:
        operator.start()


def test_the_finalizer_an_older_operator_left_is_removed_on_sight(
    api: client.ApiClient, operator: OperatorProcess
) -> None:
    data = blueprint("tallinn", "upgraded", keep=1)
    data["metadata"]["finalizers"] = ["kopf.zalando.org/KopfFinalizerMarker"]
    create_blueprint(api, data)
    wait_for(
        lambda: (
            not custom(api)
            .get_cluster_custom_object(GROUP, VERSION, "cityblueprints", "upgraded")["metadata"]
            .get("finalizers")
        ),
        PROMPTLY,
        "kopf's finalizer removed",
    )
    operator.kill()
    try:
        delete_blueprint(api, "upgraded")
        wait_for(lambda: namespace_gone(api, "city-upgraded"), EVENTUALLY, "everything collected")
    finally:
        operator.start()


def test_a_kill_right_after_the_flip_to_citywide_never_sends_a_deployment_back_to_pilot(
    api: client.ApiClient, operator: OperatorProcess
) -> None:
    data = blueprint("tallinn", "flipped", gate="2s", keep=3)
    districts = [district["id"] for district in data["spec"]["districts"]]
    for item in data["spec"]["initiatives"]:
        item.update(pilotDistricts=districts[:1], dependsOn=[])
    recorder = DeploymentHistory(api, "city-flipped")
    try:
        create_blueprint(api, data)
        wait_for(
            lambda: any("citywide" in recorder.waves(name) for name in list(recorder.labels)),
            EVENTUALLY,
            "a Deployment to flip to citywide",
            interval=0.05,
        )
        operator.kill()  # SIGKILL the moment the first child flips: its status may lag
        operator.start()
        expected = len(data["spec"]["initiatives"])
        wait_for(lambda: all_live(api, "flipped", expected), EVENTUALLY, "every initiative Live")

        # The crash exactly between the children and the status, made certain: the status
        # says pilot (gate clock running) while every Deployment is citywide.
        operator.kill()
        victim = initiatives(api, "flipped")[0]
        custom(api).patch_namespaced_custom_object_status(
            GROUP,
            VERSION,
            "city-flipped",
            "initiatives",
            victim["metadata"]["name"],
            {"status": {"wave": "pilot", "phase": "Pilot", "pilotHealthySince": None}},
        )
        operator.start()
        wait_for(lambda: all_live(api, "flipped", expected), PROMPTLY, "Live again")
        wait_for(lambda: recorder.caught_up(api), PROMPTLY, "the watch to see every Deployment")
    finally:
        recorder.stop()
    assert recorder.went_back() == {}
    assert all(
        d.metadata.labels["citykit.io/wave"] == "citywide" for d in deployments(api, "flipped")
    )
    for item in deployments(api, "flipped"):
        owners = item.metadata.owner_references
        assert len(owners) == 1 and owners[0].controller
    names = [d.metadata.name for d in deployments(api, "flipped")]
    assert len(names) == len(set(names))
    delete_blueprint(api, "flipped")
