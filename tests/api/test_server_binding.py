"""Binding the API's addresses: the --socket path, busy ports, and metrics without the gRPC API.

Every failure must be one InputError naming the option and the value, must leave what was
at the path untouched, and must remove any socket file the failed start created.
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.api.live import LiveState
from simulator.api.server import MAX_SOCKET_PATH_BYTES, ServerOptions, prepare_socket_path, start_server
from simulator.errors import InputError

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "recorded-node"


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback TCP port with a listener on it for the duration of the test."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


def test_regular_file_at_socket_kept(tmp_path: Path) -> None:
    path = tmp_path / "f.sock"
    path.write_text("hello\n")
    with pytest.raises(InputError) as raised:
        start_server(LiveState(), ServerOptions(socket=f"unix://{path}"))
    assert "--socket" in str(raised.value)
    assert str(path) in str(raised.value)
    assert "not a socket" in str(raised.value)
    assert path.read_text() == "hello\n"


def test_served_socket_not_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "api.sock"
    first = start_server(LiveState(), ServerOptions(socket=f"unix://{path}"))
    try:
        with pytest.raises(InputError) as raised:
            start_server(LiveState(), ServerOptions(socket=f"unix://{path}"))
        assert f"another process is serving {path}" in str(raised.value)
        assert stat.S_ISSOCK(os.lstat(path).st_mode)
        probe = socket.socket(socket.AF_UNIX)
        try:
            probe.connect(str(path))
        finally:
            probe.close()
    finally:
        first.stop(grace_s=0)
    assert not path.exists()


def test_stale_socket_replaced(tmp_path: Path) -> None:
    path = tmp_path / "api.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()
    assert stat.S_ISSOCK(os.lstat(path).st_mode)
    handle = start_server(LiveState(), ServerOptions(socket=f"unix://{path}"))
    try:
        probe = socket.socket(socket.AF_UNIX)
        try:
            probe.connect(str(path))
        finally:
            probe.close()
    finally:
        handle.stop(grace_s=0)


def test_missing_parent_not_created(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "x.sock"
    with pytest.raises(InputError) as raised:
        start_server(LiveState(), ServerOptions(socket=f"unix://{path}"))
    assert "--socket" in str(raised.value)
    assert "does not exist" in str(raised.value)
    assert not path.parent.exists()


def test_default_directory_create_failure(tmp_path: Path) -> None:
    """A directory that cannot be created (here under a regular file) is one line, not a traceback."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    path = blocker / "evictsim" / "evictsim.sock"
    with pytest.raises(InputError) as raised:
        prepare_socket_path(str(path), create_parent=True)
    assert "--socket: failed to create directory" in str(raised.value)
    assert str(path.parent) in str(raised.value)


def test_socket_path_too_long(tmp_path: Path) -> None:
    path = tmp_path / ("s" * MAX_SOCKET_PATH_BYTES)
    assert len(str(path)) > MAX_SOCKET_PATH_BYTES
    with pytest.raises(InputError) as raised:
        start_server(LiveState(), ServerOptions(socket=f"unix://{path}"))
    assert "--socket" in str(raised.value)
    assert f"{MAX_SOCKET_PATH_BYTES}-byte limit" in str(raised.value)
    assert not path.exists()


def test_unbindable_directory_rejected() -> None:
    with pytest.raises(InputError) as raised:
        start_server(LiveState(), ServerOptions(socket="unix:///proc/evictsim-test.sock"))
    assert "--socket: failed to bind '/proc/evictsim-test.sock'" in str(raised.value)


def test_busy_listen_port_removes_socket(tmp_path: Path, busy_port: int) -> None:
    path = tmp_path / "api.sock"
    with pytest.raises(InputError) as raised:
        start_server(LiveState(), ServerOptions(socket=f"unix://{path}", listen=f"127.0.0.1:{busy_port}"))
    assert f"--listen: failed to bind '127.0.0.1:{busy_port}'" in str(raised.value)
    assert not os.path.lexists(path)


def test_busy_metrics_port_removes_socket(tmp_path: Path, busy_port: int) -> None:
    path = tmp_path / "api.sock"
    with pytest.raises(InputError) as raised:
        start_server(LiveState(), ServerOptions(socket=f"unix://{path}", metrics_listen=f"127.0.0.1:{busy_port}"))
    assert f"--metrics-listen: failed to bind '127.0.0.1:{busy_port}'" in str(raised.value)
    assert not os.path.lexists(path)


@pytest.mark.parametrize("address", ["9100", "localhost:", "127.0.0.1:http", "127.0.0.1:65536"])
def test_invalid_metrics_address_rejected(tmp_path: Path, address: str) -> None:
    with pytest.raises(InputError) as raised:
        start_server(LiveState(), ServerOptions(socket=f"unix://{tmp_path}/api.sock", metrics_listen=address))
    assert f"--metrics-listen: invalid address {address!r}" in str(raised.value)
    assert not (tmp_path / "api.sock").exists()


def test_metrics_served_without_api(tmp_path: Path) -> None:
    path = tmp_path / "api.sock"
    handle = start_server(LiveState(), ServerOptions(socket=f"unix://{path}", no_api=True, metrics_listen="127.0.0.1:0"))
    try:
        assert handle.server is None
        assert not path.exists()
        port = handle.metrics_server.server_port
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            assert response.status == 200
            assert b"evictsim_" in response.read()
    finally:
        handle.stop(grace_s=0)


def test_listen_with_no_api_rejected(tmp_path: Path) -> None:
    with pytest.raises(InputError) as raised:
        start_server(LiveState(), ServerOptions(socket=f"unix://{tmp_path}/api.sock", no_api=True, listen="127.0.0.1:0"))
    assert "--no-api" in str(raised.value)


def run_daemon(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "simulator", "daemon", "--interval", "0.1", "--replay", str(EXAMPLE), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )


def test_cli_socket_file_one_line(tmp_path: Path) -> None:
    path = tmp_path / "f.sock"
    path.write_text("hello\n")
    result = run_daemon("--socket", f"unix://{path}")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"evictsim: error: --socket: {str(path)!r} exists and is not a socket; remove it or choose another path"]
    assert "daemon_started" not in result.stdout
    assert path.read_text() == "hello\n"


def test_cli_busy_metrics_port_one_line(tmp_path: Path, busy_port: int) -> None:
    path = tmp_path / "api.sock"
    result = run_daemon("--socket", f"unix://{path}", "--metrics-listen", f"127.0.0.1:{busy_port}")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"--metrics-listen: failed to bind '127.0.0.1:{busy_port}'" in lines[0]
    assert "daemon_started" not in result.stdout
    assert not os.path.lexists(path)


def test_cli_busy_listen_port_one_line(tmp_path: Path, busy_port: int) -> None:
    result = run_daemon("--socket", f"unix://{tmp_path}/api.sock", "--listen", f"127.0.0.1:{busy_port}")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "--listen" in lines[0]


def test_cli_metrics_port_zero_rejected(tmp_path: Path) -> None:
    """The command line needs a fixed port (1-65535); port 0 is for tests calling start_server."""
    result = run_daemon("--no-api", "--metrics-listen", "127.0.0.1:0")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "evictsim: error: --metrics-listen: invalid address '127.0.0.1:0'; expected HOST:PORT with a port from 1 to 65535"
    ]


def test_unreachable_socket_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A socket whose check fails other than by refusal (here: permission denied) is not removed.

    Root passes every permission check, so the connect failure is injected into the check's socket.
    """
    path = tmp_path / "api.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()

    class DeniedSocket(socket.socket):
        def connect(self, address: object) -> None:
            raise PermissionError(13, "Permission denied")

    import simulator.api.server as server_module

    monkeypatch.setattr(server_module.socket, "socket", DeniedSocket)
    with pytest.raises(InputError) as raised:
        prepare_socket_path(str(path), create_parent=False)
    monkeypatch.undo()
    assert "failed to check whether a process serves" in str(raised.value)
    assert "Permission denied" in str(raised.value)
    assert stat.S_ISSOCK(os.lstat(path).st_mode)
