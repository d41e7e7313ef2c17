"""The Pulumi program under Pulumi's mocks: what each component asks the engine to create."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi.runtime import rpc

from citykit.core.model.catalogue import load_catalogue
from citykit.core.project.citystack import CityStack, load_stack
from citykit.core.render.services import RUNTIME, SERVICE_LABEL
from citykit.infra.components import chart_crds
from citykit.infra.program import operator_stack_name, provision, provision_operator, read_stack
from tests.conftest import REPOSITORY
from tests.pod_security import pod_security_restricted_violations

INFRA = REPOSITORY / "infra"
PASSWORD = "generated-Z9q-not-for-clear-text"
PROVIDER = "pulumi:providers:kubernetes"
CHART = "kubernetes:helm.sh/v4:Chart"


@dataclass
class Recorder(pulumi.runtime.Mocks):
    """Every resource the program registers, with the inputs it gave the engine."""

    resources: list[pulumi.runtime.MockResourceArgs] = field(default_factory=list)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources.append(args)
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        return {}

    def kubernetes(self) -> list[pulumi.runtime.MockResourceArgs]:
        """The Kubernetes objects (pulumi-kubernetes resources, not the provider or chart)."""
        return [r for r in self.resources if r.typ.startswith("kubernetes:") and r.typ != CHART]

    def objects(self, kind: str, namespace: str = "city-tallinn") -> list[dict[str, Any]]:
        """Manifests of the Kubernetes objects of `kind` the program creates in `namespace`."""
        return [
            _manifest(r) for r in self.kubernetes() if r.name.split("/")[:2] == [kind, namespace]
        ]

    def one(self, name: str) -> dict[str, Any]:
        """The manifest of the object named `Kind/namespace/name` in the stack."""
        (found,) = [_manifest(r) for r in self.kubernetes() if r.name == name]
        return found

    def typed(self, name: str) -> str:
        """The resource type of the object named `name`."""
        (found,) = [r.typ for r in self.resources if r.name == name]
        return found


def _is_secret(value: Any) -> bool:
    """How the engine sees a secret: a value wrapped with Pulumi's secret signature."""
    return isinstance(value, dict) and value.get(rpc._special_sig_key) == rpc._special_secret_sig


def _reveal(value: Any) -> Any:
    if _is_secret(value):
        return _reveal(value["value"])
    if isinstance(value, dict):
        return {key: _reveal(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_reveal(item) for item in value]
    return value


def _blank_secrets(value: Any) -> Any:
    """What the engine would store in the clear: every secret-wrapped value blanked."""
    if _is_secret(value):
        return "<secret>"
    if isinstance(value, dict):
        return {key: _blank_secrets(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_blank_secrets(item) for item in value]
    return value


def _manifest(resource: pulumi.runtime.MockResourceArgs) -> dict[str, Any]:
    return dict(_reveal(resource.inputs))


def run(
    city: str,
    program: Callable[[], None],
    config: dict[str, str] | None = None,
    secret_keys: list[str] | None = None,
) -> Recorder:
    recorder = Recorder()
    pulumi.runtime.set_mocks(recorder, project="citykit", stack=city, preview=False)
    pulumi.runtime.set_all_config(config or {}, secret_keys or [])
    pulumi.runtime.test(program)()
    return recorder


@pytest.fixture(scope="module")
def tallinn() -> CityStack:
    return load_stack(INFRA / "Pulumi.tallinn.yaml")


@pytest.fixture(scope="module")
def program(tallinn: CityStack) -> Iterator[Recorder]:
    passwords = {service: pulumi.Output.secret(PASSWORD) for service in tallinn.credentialed}
    yield run("tallinn", lambda: provision(tallinn, passwords))


@pytest.fixture(scope="module")
def operator(tallinn: CityStack) -> Iterator[Recorder]:
    yield run(
        operator_stack_name("0a1b2c3d-uid"),
        lambda: provision_operator(tallinn.cluster, tallinn.operator_chart),
    )


def test_city_namespace_enforces_pod_security_restricted(program: Recorder) -> None:
    labels = program.one("Namespace/city-tallinn")["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
    assert labels["citykit.io/city"] == "tallinn"


def test_quota_and_container_defaults_come_from_the_stack_config(
    program: Recorder, tallinn: CityStack
) -> None:
    quota = program.one("ResourceQuota/city-tallinn/city-quota")
    assert quota["spec"]["hard"] == {key: str(value) for key, value in tallinn.quota.items()}
    assert quota["spec"]["hard"]["requests.cpu"] == "37"
    (limits,) = program.one("LimitRange/city-tallinn/container-defaults")["spec"]["limits"]
    assert limits["defaultRequest"] == {"cpu": "100m", "memory": "128Mi"}
    assert limits["default"] == {"cpu": "500m", "memory": "512Mi"}


def test_city_namespace_denies_all_traffic_by_default(program: Recorder) -> None:
    policy = program.one("NetworkPolicy/city-tallinn/default-deny")
    assert policy["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_platform_services_are_the_ones_the_initiatives_need(
    program: Recorder, tallinn: CityStack
) -> None:
    catalogue = tallinn.validated.catalogue
    needed = {
        service
        for initiative in tallinn.validated.blueprint.enabled
        for service in catalogue.entries[initiative.ref].platform_services
    }
    deployments = program.objects("Deployment")
    assert {d["metadata"]["labels"][SERVICE_LABEL] for d in deployments} == needed
    assert "event-bus" not in needed, "Tallinn runs no initiative that needs Kafka"
    images = {d["spec"]["template"]["spec"]["containers"][0]["image"] for d in deployments}
    assert images == {catalogue.platform_services[service].image for service in needed}


def test_a_platform_service_admits_exactly_the_initiatives_that_use_it(program: Recorder) -> None:
    policy = program.one("NetworkPolicy/city-tallinn/search-index")
    initiatives, platform = policy["spec"]["ingress"][0]["from"]
    users = sorted(
        entry.id.replace(".", "-")
        for entry in load_catalogue().entries.values()
        if "search-index" in entry.platform_services
    )
    admitted = initiatives["podSelector"]["matchExpressions"][0]["values"]
    assert set(admitted) <= set(users) and admitted
    assert platform["podSelector"]["matchExpressions"] == [
        {"key": SERVICE_LABEL, "operator": "Exists"}
    ]
    assert policy["spec"]["ingress"][0]["ports"] == [{"port": 9200, "protocol": "TCP"}]


def test_platform_workloads_meet_pod_security_restricted(program: Recorder) -> None:
    deployments = program.objects("Deployment")
    assert deployments
    for deployment in deployments:
        pod = deployment["spec"]["template"]["spec"]
        assert pod_security_restricted_violations(pod) == [], deployment["metadata"]["name"]


def test_images_are_pinned_and_name_no_registry_host(program: Recorder) -> None:
    for deployment in program.objects("Deployment"):
        image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        name, _, tag = image.rpartition(":")
        assert tag and tag != "latest", image
        first = name.split("/")[0]
        assert "." not in first and ":" not in first and first != "localhost", image


def test_storage_claims_are_sized_from_the_catalogue(program: Recorder) -> None:
    claim = program.one("PersistentVolumeClaim/city-tallinn/timeseries-db")
    assert claim["spec"]["resources"]["requests"]["storage"] == "50Gi"
    deployment = program.one("Deployment/city-tallinn/timeseries-db")
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "timeseries-db"}} in volumes


def test_passwords_reach_the_engine_only_as_secrets(program: Recorder, tallinn: CityStack) -> None:
    secrets = [r for r in program.resources if r.name.startswith("Secret/")]
    assert sorted(r.name for r in secrets) == sorted(
        f"Secret/city-tallinn/{s}-credentials" for s in tallinn.credentialed
    )
    for secret in secrets:
        assert secret.typ == "kubernetes:core/v1:Secret"
        assert _is_secret(secret.inputs["stringData"]), secret.name
        assert _manifest(secret)["stringData"]["password"] == PASSWORD
    in_the_clear = [
        resource.name
        for resource in program.resources
        if PASSWORD in json.dumps(_blank_secrets(resource.inputs), default=str)
    ]
    assert in_the_clear == []


def test_workloads_read_credentials_from_their_secret(program: Recorder) -> None:
    deployment = program.one("Deployment/city-tallinn/relational-db")
    env = {
        item["name"]: item
        for item in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["POSTGRES_PASSWORD"]["valueFrom"] == {
        "secretKeyRef": {"name": "relational-db-credentials", "key": "password"}
    }
    assert "value" not in env["POSTGRES_PASSWORD"]


def test_operator_is_the_chart_rendered_by_the_providers_helm(
    operator: Recorder, tallinn: CityStack
) -> None:
    (chart,) = [r for r in operator.resources if r.typ == CHART]
    assert chart.inputs["chart"] == str(tallinn.operator_chart)
    assert chart.inputs["name"] == "citykit"
    assert chart.inputs["namespace"] == "citykit-system"
    metadata = operator.one("Namespace/citykit-system")["metadata"]
    assert metadata["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_the_operator_is_owned_once_per_cluster_not_by_a_city(
    program: Recorder, operator: Recorder
) -> None:
    assert not [r for r in program.resources if r.typ == CHART or "citykit-system" in r.name]
    assert {r.typ for r in operator.resources if r.typ.startswith("citykit:")} == {
        "citykit:operator:Operator"
    }
    assert operator_stack_name("0a1b2c3d-4e5f") == "citykit-system-0a1b2c3d"


def test_the_charts_crds_are_created_beside_it_and_kept_on_destroy(
    operator: Recorder, tallinn: CityStack
) -> None:
    """As Helm keeps a chart's CRDs: deleting one would delete every city's objects."""
    (chart,) = [r for r in operator.resources if r.typ == CHART]
    assert chart.inputs["skipCrds"] is True
    crds = [r for r in operator.resources if r.typ.endswith(":CustomResourceDefinition")]
    assert sorted(r.name for r in crds) == sorted(
        f"CustomResourceDefinition/{crd['metadata']['name']}"
        for crd in chart_crds(tallinn.operator_chart)
    )
    assert {r.name.split("/")[1] for r in crds} >= {
        "cityblueprints.citykit.io",
        "initiatives.citykit.io",
    }


def test_the_city_blueprint_object_is_the_validated_blueprint(
    program: Recorder, tallinn: CityStack
) -> None:
    assert program.typed("CityBlueprint/tallinn") == "kubernetes:citykit.io/v1alpha1:CityBlueprint"
    blueprint = program.one("CityBlueprint/tallinn")
    annotations = blueprint["metadata"].pop("annotations")
    assert annotations == {"pulumi.com/patchForce": "true"}
    assert blueprint == tallinn.validated.document.data


def test_every_object_goes_through_the_stacks_provider(tallinn: CityStack) -> None:
    cluster = {"kubeconfig": "/etc/citykit/tallinn.kubeconfig", "context": "tallinn-prod"}
    elsewhere = dataclasses.replace(tallinn, cluster=cluster)
    passwords = {service: pulumi.Output.secret(PASSWORD) for service in tallinn.credentialed}
    recorder = run("tallinn", lambda: provision(elsewhere, passwords))
    (provider,) = [r for r in recorder.resources if r.typ == PROVIDER]
    assert provider.inputs["kubeconfig"] == cluster["kubeconfig"]
    assert provider.inputs["context"] == cluster["context"]
    placed = [r for r in recorder.resources if r.typ.startswith("kubernetes:")]
    assert placed and {r.provider.split("::")[-2] for r in placed} == {"cluster"}, {
        r.provider for r in placed
    }


def test_without_kubeconfig_the_provider_uses_the_environments(program: Recorder) -> None:
    (provider,) = [r for r in program.resources if r.typ == PROVIDER]
    assert "kubeconfig" not in provider.inputs and "context" not in provider.inputs


def test_the_program_is_built_of_citykit_components(program: Recorder) -> None:
    components = {r.typ for r in program.resources if r.typ.startswith("citykit:")}
    assert components == {
        "citykit:city:Namespace",
        "citykit:platform:Service",
        "citykit:city:Blueprint",
    }
    others = {r.typ for r in program.resources} - components - {PROVIDER}
    assert others and all(typ.startswith("kubernetes:") for typ in others), others
    assert {"kubernetes:core/v1:Namespace", "kubernetes:core/v1:ResourceQuota"} <= others
    assert {"kubernetes:core/v1:LimitRange", "kubernetes:networking.k8s.io/v1:NetworkPolicy"} <= (
        others
    )


def test_every_catalogue_platform_service_has_a_runtime() -> None:
    assert set(load_catalogue().platform_services) == set(RUNTIME)


def _stack_config(stack_path: Path) -> dict[str, str]:
    import yaml

    config = yaml.safe_load(stack_path.read_text())["config"]
    return {
        key: value if isinstance(value, str) else json.dumps(value) for key, value in config.items()
    }


def test_read_stack_refuses_a_stack_without_generated_passwords(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(INFRA)
    with pytest.raises(
        pulumi.RunError,
        match=r"Pulumi\.tallinn\.yaml: config\.citykit:credentials: no password for mqtt-broker",
    ):
        run("tallinn", read_stack, _stack_config(INFRA / "Pulumi.tallinn.yaml"))


def test_passwords_from_the_stack_config_stay_secrets(
    monkeypatch: pytest.MonkeyPatch, tallinn: CityStack
) -> None:
    monkeypatch.chdir(INFRA)
    config = _stack_config(INFRA / "Pulumi.tallinn.yaml")
    config["citykit:credentials"] = json.dumps(
        {service: PASSWORD for service in tallinn.credentialed}
    )
    secret: list[bool] = []

    def program() -> None:
        stack, passwords = read_stack()
        assert sorted(passwords) == sorted(stack.credentialed)
        for password in passwords.values():
            pulumi.Output.from_input(password.is_secret()).apply(secret.append)

    run("tallinn", program, config, ["citykit:credentials"])
    assert secret == [True] * len(tallinn.credentialed)


def test_read_stack_reports_bad_settings_as_one_located_line_each(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(INFRA)
    config = _stack_config(INFRA / "Pulumi.tallinn.yaml")
    config["citykit:jurisdiction"] = "pipl"
    with pytest.raises(pulumi.RunError) as raised:
        run("tallinn", read_stack, config)
    assert str(raised.value) == (
        f"{INFRA / 'Pulumi.tallinn.yaml'}:1:1: "
        "config.citykit:jurisdiction: 'pipl' differs from the "
        "blueprint's jurisdiction 'gdpr'; change both together"
    )
