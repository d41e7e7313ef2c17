"""The playbooks, run for real by `ansible-playbook`.

Host roles run against throwaway roots: every host of a copied example inventory gets its own
directory as `citykit_root`, with `connection: local` and `citykit_live=false`, so they write
their files there and leave the machine's packages, kernel, firewall and services alone: the
tasks `citykit_live` guards (apt, systemd, sysctl, nft loading) do not run here. What they would
act on is checked directly where this machine allows: the firewall ruleset is loaded into a
network namespace of its own, and the gateway's bridge configuration runs in a real Mosquitto.
The `citykit` role runs against the session's local cluster, and the operator, run as a
process, rolls the applied city out.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config

from citykit.kube.wait import wait_for
from citykit.localcluster.certs import CertificateAuthority, ClientIdentity
from citykit.localcluster.operator_process import OperatorProcess
from citykit.localcluster.ports import free_ports
from citykit.localcluster.state import LocalCluster
from citykit.toolchain.helm import ensure_helm
from citykit.toolchain.image import archive_name, image_reference
from citykit.toolchain.locations import bin_dir
from tests.cities import blueprint
from tests.conftest import PLAYBOOKS
from tests.deadlines import EVENTUALLY, PROMPTLY

ROOT = PLAYBOOKS.parent
CITY = "tallinn"
SERVER, SECOND_SERVER, AGENT = "tln-k8s-1", "tln-k8s-2", "tln-node-1"
GATEWAY, NORTH_GATEWAY = "tln-gw-kesklinn", "tln-gw-north"
HOST_PLAYBOOKS = ["hosts.yml", "cluster.yml", "edge.yml"]  # site.yml but the city play
HOSTS = [SERVER, SECOND_SERVER, AGENT, NORTH_GATEWAY]  # what they run on, twice
RECAP_LINE = re.compile(r"^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$", re.MULTILINE)


def ansible(
    *args: str, tool: str = "ansible-playbook", environ: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        **(environ or {}),
        "ANSIBLE_CONFIG": str(PLAYBOOKS / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
    }
    return subprocess.run(
        [tool, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False
    )


def recap(run: subprocess.CompletedProcess[str]) -> dict[str, dict[str, int]]:
    """PLAY RECAP as {host: {"ok": n, "changed": n, "failed": n, ...}}, summed over the plays."""
    assert "PLAY RECAP" in run.stdout, run.stdout + run.stderr
    totals: dict[str, dict[str, int]] = {}
    for host, counts in RECAP_LINE.findall(run.stdout.split("PLAY RECAP", 1)[1]):
        for key, value in (pair.split("=") for pair in counts.split()):
            totals.setdefault(host, {}).setdefault(key, 0)
            totals[host][key] += int(value)
    return totals


def assert_succeeded(
    run: subprocess.CompletedProcess[str], hosts: list[str]
) -> dict[str, dict[str, int]]:
    counts = recap(run)
    assert run.returncode == 0 and sorted(counts) == sorted(hosts), run.stdout[-4000:] + run.stderr
    assert all(counts[host]["failed"] == 0 and counts[host]["unreachable"] == 0 for host in hosts)
    return counts


@dataclass(frozen=True)
class Throwaway:
    """A copy of an example inventory whose hosts are directories under `roots`."""

    inventory: Path
    roots: Path

    def root(self, host: str) -> Path:
        return self.roots / host

    def run(
        self,
        playbooks: list[str],
        hosts: list[str],
        *extra: str,
        environ: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return ansible(
            "-i",
            str(self.inventory / "hosts.yml"),
            *(str(PLAYBOOKS / name) for name in playbooks),
            "--limit",
            ",".join(hosts),
            "-e",
            f"citykit_root={self.roots}/{{{{ inventory_hostname }}}}",
            "-e",
            "citykit_live=false",
            "-e",
            "ansible_connection=local",
            "-e",
            "ansible_become=false",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            *extra,
            environ=environ,
        )


def bare_root(path: Path) -> None:
    """What a freshly bootstrapped Debian root has that the roles rely on: the account files."""
    etc = path / "etc"
    etc.mkdir(parents=True)
    for name, text in {
        "passwd": "root:x:0:0:root:/root:/bin/bash\n",
        "group": "root:x:0:\n",
        "shadow": "root:*:19000:0:99999:7:::\n",
        "gshadow": "root:*::\n",
    }.items():
        (etc / name).write_text(text)


@pytest.fixture(scope="module")
def throwaway(tmp_path_factory: pytest.TempPathFactory) -> Throwaway:
    base = tmp_path_factory.mktemp("playbooks")
    inventory = base / "inventory"
    shutil.copytree(PLAYBOOKS / "inventories" / CITY, inventory)
    for host in (*HOSTS, GATEWAY):
        bare_root(base / "roots" / host)
    return Throwaway(inventory, base / "roots")


# --- static checks -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "city", sorted(path.name for path in (PLAYBOOKS / "inventories").iterdir())
)
def test_site_playbook_passes_syntax_check_with_each_example_inventory(city: str) -> None:
    run = ansible(
        "--syntax-check",
        "-i",
        str(PLAYBOOKS / "inventories" / city / "hosts.yml"),
        str(PLAYBOOKS / "site.yml"),
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_playbooks_pass_ansible_lint_production_profile() -> None:
    run = ansible("playbooks", tool="ansible-lint")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Profile 'production' was required, and it passed" in run.stderr + run.stdout


# --- the host roles, in one run of their three playbooks, twice -----------------------------


@pytest.fixture(scope="module")
def host_runs(
    throwaway: Throwaway, bundle: Bundle, city_ca: CertificateAuthority
) -> tuple[dict[str, dict[str, int]], ...]:
    # What k3s writes on the first server when it starts (starting it is citykit_live's part).
    written = throwaway.root(SERVER) / "etc" / "rancher" / "k3s" / "k3s.yaml"
    written.parent.mkdir(parents=True)
    written.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "default", "cluster": {"server": "https://127.0.0.1:6443"}}],
            }
        )
    )
    return tuple(
        assert_succeeded(throwaway.run(HOST_PLAYBOOKS, HOSTS, *bundle.args()), HOSTS)
        for _ in range(2)
    )


def test_host_roles_second_run_changes_nothing(
    host_runs: tuple[dict[str, dict[str, int]], ...],
) -> None:
    first, second = host_runs
    assert all(counts["changed"] > 0 for counts in first.values())
    assert {host: counts["changed"] for host, counts in second.items()} == dict.fromkeys(HOSTS, 0)


# --- host_prep -----------------------------------------------------------------------------


def test_host_prep_writes_kernel_settings_time_servers_and_a_service_user(
    host_runs: Any, throwaway: Throwaway
) -> None:
    etc = throwaway.root(AGENT) / "etc"
    assert (
        "net.ipv4.ip_forward = 1" in (etc / "sysctl.d" / "90-citykit.conf").read_text().splitlines()
    )
    assert (etc / "modules-load.d" / "citykit.conf").read_text().splitlines()[1:] == [
        "overlay",
        "br_netfilter",
    ]
    assert (
        "server ntp1.tallinn.citykit.internal iburst"
        in (etc / "chrony" / "chrony.conf").read_text()
    )
    assert (
        "citykit:x:990:990::/var/lib/citykit:/usr/sbin/nologin"
        in (etc / "passwd").read_text().splitlines()
    )
    assert "citykit:x:990:" in (etc / "group").read_text()
    home = throwaway.root(AGENT) / "var" / "lib" / "citykit"
    assert (home.stat().st_uid, home.stat().st_gid, oct(home.stat().st_mode & 0o777)) == (
        990,
        990,
        "0o750",
    )


def test_firewall_baseline_is_valid_nftables_and_opens_ports_by_host_group(
    host_runs: Any, throwaway: Throwaway
) -> None:
    rulesets = {
        host: throwaway.root(host) / "etc" / "nftables.conf"
        for host in (SERVER, AGENT, NORTH_GATEWAY)
    }
    for path in rulesets.values():
        check = subprocess.run(
            ["nft", "--check", "--file", str(path)], capture_output=True, text=True, check=False
        )
        assert check.returncode == 0, check.stderr
    server, agent, gateway = (path.read_text() for path in rulesets.values())
    assert "policy drop;" in server and "tcp dport 6443 ip saddr @admin_networks accept" in server
    assert "tcp dport 2379-2380" in server and "tcp dport 2379-2380" not in agent
    assert "tcp dport 10250 ip saddr @cluster_networks accept" in agent and "6443" not in agent
    assert "tcp dport 1883 ip saddr { 10.61.64.0/18 } accept" in gateway
    assert "10250" not in gateway and "6443" not in gateway


def test_firewall_baseline_reloads_in_a_kernel_and_leaves_kubernetes_tables_alone(
    host_runs: Any, throwaway: Throwaway
) -> None:
    """Loaded for real, in a network namespace of its own, next to a table as kube-proxy keeps:
    loading it twice (as the handler does on every change) replaces only `inet citykit`."""
    ruleset = throwaway.root(SERVER) / "etc" / "nftables.conf"
    script = (
        "nft add table ip kube-proxy && nft add chain ip kube-proxy services && "
        f"nft --file {ruleset} && nft --file {ruleset} && nft list tables && "
        "nft list chain inet citykit input"
    )
    loaded = subprocess.run(
        ["unshare", "--net", "sh", "-c", script], capture_output=True, text=True, check=False
    )
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.splitlines()[:2] == ["table ip kube-proxy", "table inet citykit"]
    assert loaded.stdout.count("tcp dport 6443 ip saddr @admin_networks accept") == 1


def test_host_prep_refuses_live_actions_against_a_prefix_root(throwaway: Throwaway) -> None:
    run = throwaway.run(["hosts.yml"], [AGENT], "-e", "citykit_live=true")
    assert run.returncode != 0 and recap(run)[AGENT]["failed"] == 1
    assert "set citykit_live=false to only write files there" in run.stdout


# --- edge_gateway --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def city_ca(throwaway: Throwaway) -> CertificateAuthority:
    """The city's MQTT PKI where the inventory expects it: the CA, each gateway's client
    certificate, and the city broker's serving certificate (for 127.0.0.1)."""
    folder = throwaway.inventory / "credentials" / "mqtt"
    folder.mkdir(parents=True)
    ca = CertificateAuthority(folder)
    for name in (GATEWAY, NORTH_GATEWAY, "subscriber"):
        ca.issue_client(name, ClientIdentity(name))
    return ca


def test_edge_gateway_bridges_its_blueprint_districts_to_the_city_broker(
    host_runs: Any, throwaway: Throwaway
) -> None:
    conf = (
        throwaway.root(NORTH_GATEWAY) / "etc" / "citykit" / "mqtt-bridge" / "bridge.conf"
    ).read_text()
    assert "address mqtt.tallinn.citykit.internal:8883" in conf
    assert (
        "# Tallinn: gateway tln-gw-north bridges the sensors of\n# Haabersti, Põhja-Tallinn" in conf
    )
    topics = [line for line in conf.splitlines() if line.startswith("topic ")]
    assert topics == [
        "topic # out 1 sensors/haabersti/ citykit/tallinn/haabersti/sensors/",
        "topic # in 1 commands/haabersti/ citykit/tallinn/haabersti/commands/",
        "topic # out 1 sensors/pohja-tallinn/ citykit/tallinn/pohja-tallinn/sensors/",
        "topic # in 1 commands/pohja-tallinn/ citykit/tallinn/pohja-tallinn/commands/",
    ]


def test_edge_gateway_runs_the_bridge_as_the_service_user_with_its_key_private(
    host_runs: Any, throwaway: Throwaway
) -> None:
    root = throwaway.root(NORTH_GATEWAY)
    unit = (root / "etc" / "systemd" / "system" / "citykit-mqtt-bridge.service").read_text()
    assert (
        "User=citykit" in unit
        and "ExecStart=/usr/sbin/mosquitto -c /etc/citykit/mqtt-bridge/bridge.conf" in unit
    )
    key = (root / "etc" / "citykit" / "mqtt-bridge" / "tls" / "gateway.key").stat()
    assert (key.st_uid, key.st_gid, oct(key.st_mode & 0o777)) == (0, 990, "0o640")
    assert (root / "etc/citykit/mqtt-bridge/tls/gateway.key").read_bytes() == (
        throwaway.inventory / "credentials" / "mqtt" / f"{NORTH_GATEWAY}.key"
    ).read_bytes()


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def mosquitto(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:
        return subprocess.Popen(
            ["mosquitto", "-c", str(config)], stdout=output, stderr=subprocess.STDOUT
        )


def test_edge_gateway_bridge_carries_a_district_sensor_reading_to_the_city_broker_over_mutual_tls(
    tmp_path: Path, throwaway: Throwaway, city_ca: CertificateAuthority
) -> None:
    """Two real Mosquitto brokers on 127.0.0.1: the city's (TLS, client certificates required)
    and the gateway's, started from the bridge.conf the role wrote, its absolute paths pointed
    into the throwaway root. A reading published locally arrives on the city broker, renamed."""
    broker_port, sensor_port = free_ports(2)
    roots = tmp_path / "roots"
    bare_root(roots / GATEWAY)
    run = Throwaway(throwaway.inventory, roots).run(
        ["edge.yml"],
        [GATEWAY],
        "-e",
        "edge_gateway_broker=127.0.0.1",
        "-e",
        f"edge_gateway_broker_port={broker_port}",
        "-e",
        f"citykit_mqtt_port={sensor_port}",
        "-e",
        "edge_gateway_listen_address=127.0.0.1",
    )
    assert_succeeded(run, [GATEWAY])
    root = roots / GATEWAY
    conf = (root / "etc/citykit/mqtt-bridge/bridge.conf").read_text()
    # Run as root here (the service runs as the citykit user), with the paths inside the root.
    (tmp_path / "gateway.conf").write_text(
        "user root\n"
        + conf.replace(" /etc/citykit/", f" {root}/etc/citykit/").replace(
            " /var/lib/citykit/", f" {root}/var/lib/citykit/"
        )
    )
    server = city_ca.issue_api_serving()
    (tmp_path / "city.conf").write_text(
        f"user root\nlistener {broker_port} 127.0.0.1\ncafile {city_ca.pair.cert}\n"
        f"certfile {server.cert}\nkeyfile {server.key}\n"
        "require_certificate true\nallow_anonymous true\n"
    )
    folder = throwaway.inventory / "credentials" / "mqtt"
    brokers = [
        mosquitto(tmp_path / "city.conf", tmp_path / "city.log"),
        mosquitto(tmp_path / "gateway.conf", tmp_path / "gateway.log"),
    ]
    try:
        wait_for(lambda: listening(broker_port), PROMPTLY, "the city broker to listen")
        subscriber = subprocess.Popen(
            [
                "mosquitto_sub",
                "-h",
                "127.0.0.1",
                "-p",
                str(broker_port),
                "--cafile",
                str(city_ca.pair.cert),
                "--cert",
                str(folder / "subscriber.crt"),
                "--key",
                str(folder / "subscriber.key"),
                "-t",
                "citykit/tallinn/+/sensors/#",
                "-v",
                "-C",
                "1",
                "-W",
                "60",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

        def delivered() -> bool:
            subprocess.run(
                [
                    "mosquitto_pub",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(sensor_port),
                    "-q",
                    "1",
                    "-t",
                    "sensors/kesklinn/air/pm25",
                    "-m",
                    "12.5",
                ],
                capture_output=True,
                timeout=10,
                check=False,
            )
            return subscriber.poll() is not None

        wait_for(delivered, PROMPTLY, "the reading to cross the bridge", interval=1)
        out, err = subscriber.communicate()
        assert subscriber.returncode == 0, err + (tmp_path / "gateway.log").read_text()
        assert out == "citykit/tallinn/kesklinn/sensors/air/pm25 12.5\n"
    finally:
        for broker in brokers:
            broker.terminate()
            broker.wait(timeout=10)


def test_edge_gateway_with_a_district_missing_from_the_blueprint_fails_naming_it(
    throwaway: Throwaway, city_ca: CertificateAuthority
) -> None:
    run = throwaway.run(
        ["edge.yml"], [GATEWAY], "-e", '{"edge_gateway_districts": ["kesklinn", "old-town"]}'
    )
    assert run.returncode != 0 and recap(run)[GATEWAY]["failed"] == 1
    assert (
        "edge_gateway_districts of tln-gw-kesklinn: old-town not among the districts of"
        in run.stdout
    )
    assert "blueprints/cities/tallinn.yaml (haabersti, kesklinn," in run.stdout


# --- k8s_airgap ----------------------------------------------------------------------------


CITYKIT_CLI = Path(sys.executable).parent / "citykit"  # the console script of this install
OPERATOR_ARCHIVE = archive_name()  # what `citykit image build` writes


@dataclass(frozen=True)
class Bundle:
    folder: Path
    binary: bytes

    def args(self) -> tuple[str, ...]:
        return (
            "-e",
            f"k8s_airgap_bundle={self.folder}",
            "-e",
            "k8s_airgap_images=k3s-airgap-images-amd64.tar.gz",
            "-e",
            f"k8s_airgap_citykit_cli={CITYKIT_CLI}",
        )


def make_bundle(folder: Path, binary: Path) -> Bundle:
    """An air-gapped bundle laid out as a k3s release: a real binary, a real images tarball
    and the release's sha256 list (which names other files too, as k3s's does), plus the
    operator's image archive, listed there too. The archive is a small stand-in with Docker's
    manifest.json and the operator's tag (the real build takes minutes; tests/e2e build it)."""
    folder.mkdir()
    shutil.copy(binary, folder / "k3s")
    image = folder.parent / "image-manifest.json"
    image.write_text('{"images": []}\n')
    with tarfile.open(folder / "k3s-airgap-images-amd64.tar.gz", "w:gz") as tar:
        tar.add(image, arcname="manifest.json")
    operator = folder.parent / "operator-manifest.json"
    operator.write_text(
        json.dumps([{"Config": "config.json", "RepoTags": [image_reference()], "Layers": []}])
    )
    with tarfile.open(folder / OPERATOR_ARCHIVE, "w") as tar:
        tar.add(operator, arcname="manifest.json")
    sums = [
        f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}"
        for path in sorted(folder.iterdir())
    ]
    (folder / "sha256sum-amd64.txt").write_text("\n".join([*sums, f"{'0' * 64}  k3s-arm64"]) + "\n")
    return Bundle(folder, binary.read_bytes())


# A real executable standing in for k3s: this test run's Python interpreter.
EXECUTABLE = Path(sys.executable).resolve()


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    return make_bundle(tmp_path_factory.mktemp("bundle") / "k3s-v1", EXECUTABLE)


def test_k8s_airgap_installs_the_bundle_in_the_k3s_layout(
    host_runs: Any, throwaway: Throwaway, bundle: Bundle
) -> None:
    for host in (SERVER, AGENT):
        root = throwaway.root(host)
        binary = root / "usr" / "local" / "bin" / "k3s"
        assert binary.read_bytes() == bundle.binary and os.access(binary, os.X_OK)
        assert all(
            os.readlink(root / "usr" / "local" / "bin" / tool) == "k3s"
            for tool in ("kubectl", "crictl", "ctr")
        )
        images = root / "var/lib/rancher/k3s/agent/images/k3s-airgap-images-amd64.tar.gz"
        assert images.read_bytes() == (bundle.folder / images.name).read_bytes()
    assert (throwaway.root(SERVER) / "etc/systemd/system/k3s.service").is_file()
    assert (
        "ExecStart=/usr/local/bin/k3s agent"
        in (throwaway.root(AGENT) / "etc/systemd/system/k3s-agent.service").read_text()
    )


def test_k8s_airgap_joins_servers_and_agents_to_the_first_server_with_one_token(
    host_runs: Any, throwaway: Throwaway
) -> None:
    def k3s(host: str, name: str) -> Path:
        return throwaway.root(host) / "etc" / "rancher" / "k3s" / name

    configs = {
        host: yaml.safe_load(k3s(host, "config.yaml").read_text())
        for host in (SERVER, SECOND_SERVER, AGENT)
    }
    assert configs[SERVER]["cluster-init"] is True and "server" not in configs[SERVER]
    assert configs[SECOND_SERVER]["server"] == configs[AGENT]["server"] == "https://10.61.0.11:6443"
    assert configs[SERVER]["tls-san"] == ["10.61.0.11"] and "tls-san" not in configs[AGENT]
    assert {config["token-file"] for config in configs.values()} == {
        "/etc/rancher/k3s/cluster-token"
    }
    tokens = {k3s(host, "cluster-token").read_text() for host in configs}
    assert len(tokens) == 1 and re.fullmatch(r"[A-Za-z0-9]{48}\n", tokens.pop())
    assert oct(k3s(AGENT, "cluster-token").stat().st_mode & 0o777) == "0o600"


def test_k8s_airgap_places_the_operator_image_where_k3s_imports_it_at_start(
    host_runs: Any, throwaway: Throwaway, bundle: Bundle
) -> None:
    for host in (SERVER, SECOND_SERVER, AGENT):
        archive = throwaway.root(host) / "var/lib/rancher/k3s/agent/images" / OPERATOR_ARCHIVE
        assert archive.read_bytes() == (bundle.folder / OPERATOR_ARCHIVE).read_bytes(), host
        assert (archive.stat().st_uid, oct(archive.stat().st_mode & 0o777)) == (0, "0o644")


def test_chart_runs_the_imported_operator_image_without_a_registry() -> None:
    """The image k3s imports is the one the chart asks for, and the kubelet uses it as is."""
    chart = ROOT / "charts" / "citykit-operator"
    app_version = yaml.safe_load((chart / "Chart.yaml").read_text())["appVersion"]
    assert archive_name(app_version) == OPERATOR_ARCHIVE
    values = yaml.safe_load((chart / "values.yaml").read_text())["image"]
    assert values == {"repository": "citykit/operator", "tag": "", "pullPolicy": "IfNotPresent"}
    role = yaml.safe_load((PLAYBOOKS / "roles/citykit/defaults/main.yml").read_text())
    assert role["citykit_chart_values"] == {}


def test_k8s_airgap_mirrors_the_registry_of_the_city_images_to_the_city_registry(
    host_runs: Any, throwaway: Throwaway
) -> None:
    """Tallinn's images name no registry host: they are all the default registry's, which
    k3s's "*" entry mirrors."""
    for host in (SERVER, AGENT):
        registries = throwaway.root(host) / "etc" / "rancher" / "k3s" / "registries.yaml"
        assert yaml.safe_load(registries.read_text()) == {
            "mirrors": {"*": {"endpoint": ["https://registry.tallinn.citykit.internal"]}}
        }


def test_k8s_airgap_fetches_the_kubeconfig_with_the_api_address(
    host_runs: Any, throwaway: Throwaway
) -> None:
    kubeconfig = throwaway.inventory / "credentials" / "kubeconfig"
    assert (
        yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
        == "https://10.61.0.11:6443"
    )
    assert oct(kubeconfig.stat().st_mode & 0o777) == "0o600"


def test_k8s_airgap_refuses_a_bundle_whose_checksum_does_not_match_and_installs_nothing(
    tmp_path: Path, throwaway: Throwaway
) -> None:
    bad = make_bundle(tmp_path / "k3s-tampered", EXECUTABLE)
    with (bad.folder / "k3s").open("ab") as binary:
        binary.write(b"\0")
    fresh = tmp_path / "roots"
    bare_root(fresh / AGENT)
    run = Throwaway(throwaway.inventory, fresh).run(["cluster.yml"], [AGENT], *bad.args())
    assert run.returncode != 0 and recap(run)[AGENT]["failed"] == 1
    expected = hashlib.sha256(EXECUTABLE.read_bytes()).hexdigest()
    actual = hashlib.sha256((bad.folder / "k3s").read_bytes()).hexdigest()
    assert f"{bad.folder}/k3s: sha256 is {actual}," in run.stdout
    assert f"sha256sum-amd64.txt says {expected}; nothing was installed" in run.stdout
    assert sorted(path.name for path in (fresh / AGENT).iterdir()) == ["etc"]
    assert not (fresh / AGENT / "etc" / "rancher").exists()


def test_k8s_airgap_refuses_a_bundle_missing_its_images(
    tmp_path: Path, throwaway: Throwaway
) -> None:
    bad = make_bundle(tmp_path / "k3s-incomplete", EXECUTABLE)
    (bad.folder / "k3s-airgap-images-amd64.tar.gz").unlink()
    run = Throwaway(throwaway.inventory, tmp_path / "roots").run(
        ["cluster.yml"], [AGENT], *bad.args()
    )
    assert run.returncode != 0
    assert (
        f"{bad.folder}/k3s-airgap-images-amd64.tar.gz: "
        "missing from the bundle; nothing was installed" in run.stdout
    )


def test_k8s_airgap_refuses_a_bundle_whose_operator_image_does_not_match_and_installs_nothing(
    tmp_path: Path, throwaway: Throwaway
) -> None:
    bad = make_bundle(tmp_path / "k3s-tampered", EXECUTABLE)
    archive = bad.folder / OPERATOR_ARCHIVE
    expected = hashlib.sha256(archive.read_bytes()).hexdigest()
    with archive.open("ab") as tar:
        tar.write(b"\0")
    fresh = tmp_path / "roots"
    bare_root(fresh / AGENT)
    run = Throwaway(throwaway.inventory, fresh).run(["cluster.yml"], [AGENT], *bad.args())
    assert run.returncode != 0 and recap(run)[AGENT]["failed"] == 1
    actual = hashlib.sha256(archive.read_bytes()).hexdigest()
    assert f"{archive}: sha256 is {actual}," in run.stdout
    assert f"sha256sum-amd64.txt says {expected}; nothing was installed" in run.stdout
    assert sorted(path.name for path in (fresh / AGENT).iterdir()) == ["etc"]
    assert not (fresh / AGENT / "etc" / "rancher").exists()


def test_k8s_airgap_refuses_a_bundle_missing_the_operator_image(
    tmp_path: Path, throwaway: Throwaway
) -> None:
    bad = make_bundle(tmp_path / "k3s-incomplete", EXECUTABLE)
    (bad.folder / OPERATOR_ARCHIVE).unlink()
    fresh = tmp_path / "roots"
    bare_root(fresh / AGENT)
    run = Throwaway(throwaway.inventory, fresh).run(["cluster.yml"], [AGENT], *bad.args())
    assert run.returncode != 0 and recap(run)[AGENT]["failed"] == 1
    assert (
        f"{bad.folder}/{OPERATOR_ARCHIVE}: missing from the bundle; nothing was installed"
        in run.stdout
    )
    assert not (fresh / AGENT / "etc" / "rancher").exists()


def test_k8s_airgap_replaces_an_earlier_operator_image_in_the_import_folder(
    tmp_path: Path, throwaway: Throwaway, bundle: Bundle
) -> None:
    fresh = tmp_path / "roots"
    bare_root(fresh / AGENT)
    images = fresh / AGENT / "var/lib/rancher/k3s/agent/images"
    images.mkdir(parents=True)
    (images / archive_name("0.0.1")).write_bytes(b"an earlier release's image")
    run = Throwaway(throwaway.inventory, fresh).run(["cluster.yml"], [AGENT], *bundle.args())
    assert_succeeded(run, [AGENT])
    assert sorted(path.name for path in images.iterdir()) == [
        OPERATOR_ARCHIVE,
        "k3s-airgap-images-amd64.tar.gz",
    ]


# A city's catalogue fork whose images come from registries of their own, and one image the
# city builds itself, already in its registry.
FORKED_IMAGES = {
    "fiware/orion-ld:1.6.0": "images.example.org/fiware/orion-ld:1.6.0",
    "grafana/grafana:11.2.0": "oci.example.net/grafana/grafana:11.2.0",
    "postgres:16.4": "registry.city.example/library/postgres:16.4",
}


@pytest.fixture
def catalogue_fork(tmp_path: Path) -> Path:
    """A copy of the blueprint data (CITYKIT_BLUEPRINTS) with FORKED_IMAGES changed."""
    fork = tmp_path / "blueprints"
    shutil.copytree(ROOT / "blueprints", fork)
    for path in (fork / "catalogue").rglob("*.yaml"):
        text = path.read_text()
        for image, forked in FORKED_IMAGES.items():
            text = text.replace(f"image: {image}\n", f"image: {forked}\n")
        path.write_text(text)
    return fork


def test_k8s_airgap_mirrors_each_registry_the_city_images_come_from_to_the_city_registry(
    tmp_path: Path, throwaway: Throwaway, bundle: Bundle, catalogue_fork: Path
) -> None:
    fresh = tmp_path / "roots"
    bare_root(fresh / AGENT)
    run = Throwaway(throwaway.inventory, fresh).run(
        ["cluster.yml"],
        [AGENT],
        *bundle.args(),
        "-e",
        "k8s_airgap_registry_mirror=https://registry.city.example",
        environ={"CITYKIT_BLUEPRINTS": str(catalogue_fork)},
    )
    assert_succeeded(run, [AGENT])
    registries = fresh / AGENT / "etc" / "rancher" / "k3s" / "registries.yaml"
    city = {"endpoint": ["https://registry.city.example"]}
    assert yaml.safe_load(registries.read_text()) == {
        "mirrors": {"*": city, "images.example.org": city, "oci.example.net": city}
    }


# --- citykit, against the local cluster ----------------------------------------------------

RELEASE = "citykit-ansible"  # its own release and namespace: the chart's tests use the default ones
CITY_NAME = "ansible-tallinn"


def test_citykit_role_refuses_an_invalid_blueprint_before_touching_the_cluster(
    throwaway: Throwaway, city_variant: Callable[..., Path], tmp_path: Path
) -> None:
    def unknown_initiative(data: dict[str, Any]) -> None:
        data["spec"]["initiatives"][0]["ref"] = "government.no-such-thing"

    run = ansible(
        "-i",
        str(throwaway.inventory / "hosts.yml"),
        str(PLAYBOOKS / "city.yml"),
        "-e",
        f"citykit_blueprint={city_variant(CITY, unknown_initiative)}",
        "-e",
        f"citykit_kubeconfig={tmp_path / 'no-cluster'}",
        "-e",
        f"citykit_cli={CITYKIT_CLI}",
    )
    assert run.returncode != 0 and recap(run)[SERVER]["failed"] == 1
    assert (
        "spec.initiatives[0].ref: unknown catalogue initiative 'government.no-such-thing'"
        in run.stdout
    )
    assert "Look up the operator's release" not in run.stdout


@pytest.fixture(scope="module")
def city_runs(
    kube_cluster: LocalCluster, throwaway: Throwaway, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Any, ...]]:
    city = tmp_path_factory.mktemp("city") / f"{CITY_NAME}.yaml"
    city.write_text(
        yaml.safe_dump(
            blueprint(CITY, CITY_NAME, gate="1s", approval="auto", keep=6), sort_keys=False
        )
    )
    helm = ensure_helm(lambda _: None)
    args = [
        "-i",
        str(throwaway.inventory / "hosts.yml"),
        str(PLAYBOOKS / "city.yml"),
        "-e",
        f"citykit_kubeconfig={kube_cluster.kubeconfig}",
        "-e",
        f"citykit_blueprint={city}",
        "-e",
        f"citykit_helm={helm}",
        "-e",
        f"citykit_kubectl={bin_dir() / 'kubectl'}",
        "-e",
        f"citykit_release={RELEASE}",
        "-e",
        f"citykit_namespace={RELEASE}",
        "-e",
        f"citykit_cli={CITYKIT_CLI}",
    ]
    runs = tuple(assert_succeeded(ansible(*args), [SERVER]) for _ in range(2))
    changed_values = assert_succeeded(
        ansible(*args, "-e", '{"citykit_chart_values": {"resyncSeconds": 7}}'), [SERVER]
    )
    yield (*runs, changed_values, helm)
    subprocess.run(
        [str(helm), "uninstall", RELEASE, "--namespace", RELEASE, "--wait"],
        env={**os.environ, "KUBECONFIG": str(kube_cluster.kubeconfig)},
        capture_output=True,
        check=True,
    )


def test_citykit_role_second_run_changes_nothing_and_a_new_value_upgrades(
    city_runs: tuple[Any, ...],
) -> None:
    first, second, changed_values, _ = city_runs
    assert first[SERVER]["changed"] == 2  # chart installed, blueprint applied
    assert second[SERVER]["changed"] == 0
    assert changed_values[SERVER]["changed"] == 1  # helm upgrade, blueprint unchanged


def test_citykit_role_installs_the_chart_and_the_city_rolls_out(
    city_runs: tuple[Any, ...], kube_cluster: LocalCluster, tmp_path: Path
) -> None:
    helm = city_runs[-1]
    env = {**os.environ, "KUBECONFIG": str(kube_cluster.kubeconfig)}
    listed = subprocess.run(
        [str(helm), "list", "--namespace", RELEASE, "--output", "yaml"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    release = yaml.safe_load(listed.stdout)[0]
    assert (release["name"], release["status"], release["revision"]) == (RELEASE, "deployed", "2")
    api = config.new_client_from_config(str(kube_cluster.kubeconfig))
    ready = client.AppsV1Api(api).list_namespaced_deployment(RELEASE).items
    # the chart's two operator replicas (one active on the Lease, one standby), both ready
    assert [(d.spec.replicas, d.status.ready_replicas) for d in ready] == [(2, 2)]
    objects = client.CustomObjectsApi(api)
    applied = objects.get_cluster_custom_object(
        "citykit.io", "v1alpha1", "cityblueprints", CITY_NAME
    )
    assert applied["metadata"]["managedFields"][0]["manager"] == "citykit"

    operator = OperatorProcess(kube_cluster.kubeconfig, tmp_path / "operator.log")
    operator.start()
    try:

        def live() -> bool:
            operator.check_alive()
            status = objects.get_cluster_custom_object(
                "citykit.io", "v1alpha1", "cityblueprints", CITY_NAME
            ).get("status")
            return (status or {}).get("phase") == "Live"

        wait_for(live, EVENTUALLY, f"{CITY_NAME} to be Live")
        objects.delete_cluster_custom_object("citykit.io", "v1alpha1", "cityblueprints", CITY_NAME)
    finally:
        operator.stop()
