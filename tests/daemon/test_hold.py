"""``--hold``: a finished replay keeps the daemon and its API up until a signal, with one tick count."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import structlog.testing

from simulator.daemon.daemon import Daemon, DaemonSettings, ReplaySource
from simulator.replay import RecordedSource

from .helpers import GIB, T0, FakeClock, disk_policy, node_summary

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "recorded-node"


def write_recording(directory: Path, count: int) -> None:
    for index in range(count):
        summary = node_summary(T0, imagefs_available=5 * GIB)
        (directory / f"{index:02d}.json").write_text(json.dumps(summary.to_json()))


def replay_daemon(directory: Path, *, hold: bool) -> Daemon:
    return Daemon(
        source=ReplaySource(RecordedSource(directory)),
        policy=disk_policy(),
        settings=DaemonSettings(interval_s=1, hold=hold),
        clock=FakeClock(T0),
    )


def test_replay_end_not_counted_as_tick(tmp_path: Path) -> None:
    write_recording(tmp_path, 3)
    daemon = replay_daemon(tmp_path, hold=False)
    with structlog.testing.capture_logs() as logs:
        for _ in range(4):
            daemon.tick()
    finished = [entry for entry in logs if entry["event"] == "replay_finished"]
    assert len(finished) == 1
    assert finished[0]["ticks"] == 3
    assert daemon.ticks == 3
    assert daemon.stop_reason == "replay_finished"


def test_hold_keeps_running_after_replay(tmp_path: Path) -> None:
    write_recording(tmp_path, 2)
    daemon = replay_daemon(tmp_path, hold=True)
    with structlog.testing.capture_logs() as logs:
        for _ in range(6):
            daemon.tick()
    finished = [entry for entry in logs if entry["event"] == "replay_finished"]
    assert len(finished) == 1
    assert finished[0]["hold"] is True
    assert daemon.ticks == 2
    assert daemon.stop_reason == ""


def wait_for(predicate, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_cli_hold_serves_until_sigterm(tmp_path: Path) -> None:
    """After the last file the socket still accepts connections; SIGTERM stops it with equal tick counts."""
    socket_path = tmp_path / "api.sock"
    log_path = tmp_path / "stdout.jsonl"
    with log_path.open("w") as stdout:
        process = subprocess.Popen(
            [sys.executable, "-m", "simulator", "daemon", "--interval", "0.1", "--replay", str(EXAMPLE),
             "--hold", "--socket", f"unix://{socket_path}"],
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        try:
            assert wait_for(lambda: "replay_finished" in log_path.read_text(), 30), process.stderr
            time.sleep(0.5)
            assert process.poll() is None
            probe = socket.socket(socket.AF_UNIX)
            try:
                probe.connect(str(socket_path))
            finally:
                probe.close()
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=10) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            process.stderr.close()
    events = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    finished = [event for event in events if event["event"] == "replay_finished"]
    stopped = [event for event in events if event["event"] == "daemon_stopped"]
    assert len(finished) == 1
    assert stopped[0]["reason"] == "SIGTERM"
    assert stopped[0]["ticks"] == finished[0]["ticks"] == len(list(EXAMPLE.glob("*.json")))
    assert not socket_path.exists()


def test_cli_hold_needs_replay() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "simulator", "daemon", "--hold", "--no-api", "--cri-endpoint", "unix:///nonexistent.sock"],
        capture_output=True, text=True, timeout=60, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "evictsim: error: --hold applies to --replay only; a live daemon already runs until stopped"
    ]
