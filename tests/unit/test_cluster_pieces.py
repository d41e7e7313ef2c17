"""The local cluster's pure pieces: locations, version stamps, PKI, component flags, processes."""

from __future__ import annotations

import ipaddress
import socket
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from citykit.kube.wait import wait_for
from citykit.localcluster import commandlines
from citykit.localcluster.certs import CertificateAuthority, ClientIdentity
from citykit.localcluster.commandlines import Layout, Ports
from citykit.localcluster.errors import ClusterError
from citykit.localcluster.ports import EPHEMERAL_RANGE, claim, free_ports
from citykit.localcluster.processes import (
    Process,
    _stat_fields,
    dying,
    is_alive,
    log_tail,
    spawn,
    stop,
    wait_out_dying,
)
from citykit.toolchain.gobuild import GoBuild, is_current
from citykit.toolchain.kubernetes import version_ldflags
from citykit.toolchain.locations import bin_dir, kubernetes_version, state_dir

LAYOUT = Layout(
    bin=Path("/cache/bin"), state=Path("/state"), infra=Path("/infra"), ports=Ports(1, 2, 3, 4, 5)
)


def test_cache_prefers_citykit_cache_then_xdg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", "/xdg")
    monkeypatch.delenv("CITYKIT_CACHE", raising=False)
    version = kubernetes_version()
    assert bin_dir() == Path("/xdg/citykit/bin") / version
    monkeypatch.setenv("CITYKIT_CACHE", "/ck")
    assert bin_dir() == Path("/ck/bin") / version


def test_citykit_state_overrides_the_per_name_state_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITYKIT_CACHE", "/ck")
    monkeypatch.delenv("CITYKIT_STATE", raising=False)
    assert state_dir("demo") == Path("/ck/clusters/demo")
    monkeypatch.setenv("CITYKIT_STATE", "/elsewhere")
    assert state_dir("demo") == Path("/elsewhere")


def test_a_build_is_current_only_with_all_binaries_and_a_matching_stamp(tmp_path: Path) -> None:
    step = GoBuild(binaries=("a", "b"), stamp="kubernetes v1.35.4 abc", argv=(), cwd=tmp_path)
    (tmp_path / "a").write_text("")
    (tmp_path / ".a.stamp").write_text("kubernetes v1.35.4 abc")
    assert not is_current(tmp_path, step)
    (tmp_path / "b").write_text("")
    assert is_current(tmp_path, step)
    (tmp_path / ".a.stamp").write_text("kubernetes v1.35.3 abc")
    assert not is_current(tmp_path, step)


def test_version_ldflags_set_what_the_version_endpoint_reports() -> None:
    flags = version_ldflags("v1.35.4", "2026-01-01T00:00:00Z")

    assert "-X k8s.io/component-base/version.gitVersion=v1.35.4" in flags
    assert "-X k8s.io/component-base/version.gitMinor=35" in flags
    assert "-X k8s.io/client-go/pkg/version.gitMajor=1" in flags


def test_api_serving_cert_is_valid_for_loopback_and_in_cluster_names(tmp_path: Path) -> None:
    pair = CertificateAuthority(tmp_path).issue_api_serving()
    cert = x509.load_pem_x509_certificate(pair.cert.read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value

    assert ipaddress.ip_address("127.0.0.1") in sans.get_values_for_type(x509.IPAddress)
    assert "kubernetes.default.svc" in sans.get_values_for_type(x509.DNSName)
    assert oct(pair.key.stat().st_mode & 0o777) == "0o600"


def test_client_cert_carries_user_as_cn_and_groups_as_o(tmp_path: Path) -> None:
    identity = ClientIdentity("system:kube-scheduler", ("a", "b"))
    pair = CertificateAuthority(tmp_path).issue_client("scheduler", identity)
    subject = x509.load_pem_x509_certificate(pair.cert.read_bytes()).subject

    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "system:kube-scheduler"
    assert [a.value for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == [
        "a",
        "b",
    ]


def test_apiserver_enforces_rbac_node_authz_podsecurity_and_audits_writes() -> None:
    argv = commandlines.kube_apiserver(LAYOUT)

    assert "--authorization-mode=Node,RBAC" in argv
    assert "--enable-admission-plugins=NodeRestriction,PodSecurity" in argv
    assert "--audit-log-path=/state/audit.log" in argv
    assert "--audit-policy-file=/infra/audit-policy.yaml" in argv
    assert "--bind-address=127.0.0.1" in argv


def test_controller_manager_can_mint_service_account_tokens() -> None:
    argv = commandlines.kube_controller_manager(LAYOUT)

    assert "--service-account-private-key-file=/state/pki/sa.key" in argv
    assert "--root-ca-file=/state/pki/ca.crt" in argv


def test_kwok_manages_only_annotated_nodes_with_our_stages() -> None:
    argv = commandlines.kwok(LAYOUT)

    assert "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake" in argv
    assert "--config=/infra/kwok/node-stages.yaml" in argv
    assert "--config=/infra/kwok/pod-stages.yaml" in argv


def test_owned_paths_stay_inside_the_state_folder() -> None:
    assert all(path.parent == LAYOUT.state for path in LAYOUT.owned_paths())


def test_free_ports_are_distinct_and_below_the_range_outgoing_connections_take() -> None:
    first_ephemeral = int(Path(EPHEMERAL_RANGE).read_text().split()[0])
    ports = free_ports(5)
    assert len(set(ports)) == 5
    assert all(port < first_ephemeral for port in ports)


def test_claiming_a_port_in_use_names_it() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ClusterError, match=f"port {port} on 127.0.0.1 is already in use"):
            claim(port)


def test_stop_ends_a_spawned_process(tmp_path: Path) -> None:
    process = spawn(
        "sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "sleeper.log"
    )
    assert is_alive(process)

    stop([process])

    assert not is_alive(process)


def dying_process(tmp_path: Path, seconds: float) -> tuple[Process, int]:
    """What a SIGKILLed Go component looks like for a moment: its first thread a zombie, its
    other threads still running with its listening socket (here for `seconds`). The process
    and its port, once the first thread has ended."""
    script = (
        "import ctypes, socket, sys, threading, time\n"
        "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
        "print(s.getsockname()[1], flush=True)\n"
        f"threading.Thread(target=time.sleep, args=({seconds},)).start()\n"
        "ctypes.CDLL(None).syscall(60, 0)  # exit(2): this thread alone, not the process\n"
    )
    log = tmp_path / "leader.log"
    process = spawn("leader", [sys.executable, "-c", script], log)
    wait_for(lambda: (_stat_fields(process.pid) or ["?"])[0] == "Z", 30, "the first thread to end")
    return process, int(log.read_text().split()[0])


def test_a_process_whose_first_thread_ended_is_alive_while_another_holds_its_port(
    tmp_path: Path,
) -> None:
    process, port = dying_process(tmp_path, 60)
    try:
        assert is_alive(process) and dying(process)
        with socket.socket() as again, pytest.raises(OSError):
            again.bind(("127.0.0.1", port))
    finally:
        stop([process])
    assert not is_alive(process)


def test_a_dying_process_is_waited_out_until_its_port_is_free(tmp_path: Path) -> None:
    """`cluster up` right after a component was killed from outside starts it again."""
    process, port = dying_process(tmp_path, 1.5)

    wait_out_dying([process])

    assert not is_alive(process) and not dying(process)
    assert claim(port) == port


def test_log_tail_shows_the_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "c.log"
    log.write_text("".join(f"line {i}\n" for i in range(30)))

    assert log_tail(log, lines=2) == "line 28\nline 29"
    assert log_tail(tmp_path / "missing.log") == "(no log written)"


def test_a_recycled_pid_is_not_mistaken_for_the_component(tmp_path: Path) -> None:
    process = spawn(
        "sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "s.log"
    )
    impostor = type(process)(process.name, process.pid, process.start_ticks + 1, process.log)
    try:
        assert not is_alive(impostor)
    finally:
        stop([process])


def test_a_component_runs_in_our_environment_with_its_go_runtime_settings_over_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CITYKIT_PROBE", "kept")
    monkeypatch.setenv("GOGC", "100")
    log = tmp_path / "env.log"
    script = "import os; print(os.environ['CITYKIT_PROBE'], os.environ['GOGC'])"
    process = spawn("env", [sys.executable, "-c", script], log, {"GOGC": "400"})
    wait_for(lambda: not is_alive(process), 30, "the probe to exit")

    assert log.read_text().split() == ["kept", "400"]
