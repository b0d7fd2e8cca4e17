"""TCP serving with TLS and client certificates on loopback, and history export replayed by evaluate."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import subprocess
from pathlib import Path

import grpc
import pytest
import yaml

from simulator._proto.evictsim.v1 import evictsim_pb2 as pb
from simulator._proto.evictsim.v1 import evictsim_pb2_grpc as pb_grpc
from simulator.api.live import LiveState
from simulator.api.server import ServerOptions, start_server
from simulator.cli.main import main
from simulator.errors import InputError
from tests.api.conftest import load_summary, make_sample
from tests.api.test_servicer import IMAGEFS, IMAGEFS_HARD


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture
def certificates(tmp_path: Path) -> dict[str, Path]:
    """A CA, a server certificate for localhost/127.0.0.1 and a client certificate, all from openssl."""
    files = {name: tmp_path / name for name in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem", "client.key", "client.csr", "client.pem", "ext.cnf")}
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(files["ca.key"]), "-out", str(files["ca.pem"]), "-days", "1", "-subj", "/CN=evictsim-test-ca")
    files["ext.cnf"].write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    for role in ("server", "client"):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(files[f"{role}.key"]), "-out", str(files[f"{role}.csr"]), "-subj", f"/CN={role}")
        extra = ["-extfile", str(files["ext.cnf"])] if role == "server" else []
        openssl("x509", "-req", "-in", str(files[f"{role}.csr"]), "-CA", str(files["ca.pem"]), "-CAkey", str(files["ca.key"]), "-CAcreateserial", "-out", str(files[f"{role}.pem"]), "-days", "1", *extra)
    return files


def test_tcp_plaintext_on_loopback(tmp_path: Path) -> None:
    live = LiveState()
    live.publish(make_sample())
    handle = start_server(live, ServerOptions(socket=f"unix://{tmp_path}/api.sock", listen="127.0.0.1:0"))
    try:
        assert handle.tcp_port
        with grpc.insecure_channel(f"127.0.0.1:{handle.tcp_port}") as channel:
            assert pb_grpc.WhatIfServiceStub(channel).GetSnapshot(pb.GetSnapshotRequest()).sequence == 1
    finally:
        handle.stop(0)


def test_tls_requires_client_certificate(tmp_path: Path, certificates: dict[str, Path]) -> None:
    live = LiveState()
    live.publish(make_sample())
    options = ServerOptions(
        socket=f"unix://{tmp_path}/api.sock",
        listen="127.0.0.1:0",
        tls_cert=str(certificates["server.pem"]),
        tls_key=str(certificates["server.key"]),
        tls_client_ca=str(certificates["ca.pem"]),
    )
    handle = start_server(live, options)
    try:
        target = f"localhost:{handle.tcp_port}"
        ca = certificates["ca.pem"].read_bytes()
        with_client = grpc.ssl_channel_credentials(ca, certificates["client.key"].read_bytes(), certificates["client.pem"].read_bytes())
        with grpc.secure_channel(target, with_client) as channel:
            assert pb_grpc.WhatIfServiceStub(channel).GetSnapshot(pb.GetSnapshotRequest(), timeout=10).sequence == 1
        with grpc.secure_channel(target, grpc.ssl_channel_credentials(ca)) as channel, pytest.raises(grpc.RpcError) as raised:
            pb_grpc.WhatIfServiceStub(channel).GetSnapshot(pb.GetSnapshotRequest(), timeout=10)
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        handle.stop(0)


def test_tls_key_without_certificate_rejected(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="--tls-cert and --tls-key must be given together"):
        start_server(LiveState(), ServerOptions(socket=f"unix://{tmp_path}/api.sock", listen="127.0.0.1:0", tls_key="key.pem"))


def test_history_export_replays_with_evaluate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The exported scenario replays the same imagefs series; the step below the threshold sets DiskPressure."""
    live = LiveState()
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    availables = [IMAGEFS_HARD + 2000, IMAGEFS_HARD + 1000, IMAGEFS_HARD, IMAGEFS_HARD - 1]
    for step, available in enumerate(availables):
        summary = load_summary()
        summary.node = dataclasses.replace(summary.node, image_fs=dataclasses.replace(IMAGEFS, available_bytes=available))
        live.publish(make_sample(summary, sampled_at=start + dt.timedelta(seconds=10 * step)))
    handle = start_server(live, ServerOptions(socket=f"unix://{tmp_path}/api.sock"))
    try:
        scenario = tmp_path / "scenario.yaml"
        assert main(["history", "export", "--server", f"unix://{handle.socket_path}", "-f", str(scenario)]) == 0
    finally:
        handle.stop(0)
    capsys.readouterr()
    document = yaml.safe_load(scenario.read_text())
    assert [s["after"] for s in document["steps"]] == ["0s", "10s", "10s", "10s"]
    assert [s["summary"]["node"]["runtime"]["imageFs"]["availableBytes"] for s in document["steps"]] == availables

    assert main(["evaluate", "--scenario", str(scenario), "-o", "json"]) == 0
    results = json.loads(capsys.readouterr().out)
    disk_pressure = [step["decision"]["conditions"]["DiskPressure"] for step in results]
    assert disk_pressure == [False, False, False, True]


def test_tls_invalid_pem_named(tmp_path: Path) -> None:
    """A certificate file that is not PEM is reported as such, not as a port that cannot be bound."""
    not_pem = tmp_path / "cert.pem"
    not_pem.write_text("not a certificate\n")
    options = ServerOptions(
        socket=f"unix://{tmp_path}/api.sock", listen="127.0.0.1:0", tls_cert=str(not_pem), tls_key=str(not_pem)
    )
    with pytest.raises(InputError, match=r"--tls-cert .*invalid PEM certificate or key") as caught:
        start_server(LiveState(), options)
    assert "bind" not in str(caught.value)
    assert not (tmp_path / "api.sock").exists()


def test_tls_key_mismatch_named(tmp_path: Path, certificates: dict[str, Path]) -> None:
    """A key that does not belong to the certificate is rejected before anything serves."""
    options = ServerOptions(
        socket=f"unix://{tmp_path}/api.sock",
        listen="127.0.0.1:0",
        tls_cert=str(certificates["server.pem"]),
        tls_key=str(certificates["client.key"]),
    )
    with pytest.raises(InputError, match=r"do not match"):
        start_server(LiveState(), options)


def test_history_retention_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    """--history-retention names itself and the value when it is not positive (exit 2 on the CLI)."""
    recording = Path(__file__).resolve().parents[2] / "examples" / "recorded-node"
    code = main(["daemon", "--replay", str(recording), "--no-api", "--history-retention", "-3"])
    assert code == 2
    assert "--history-retention: invalid value -3" in capsys.readouterr().err
