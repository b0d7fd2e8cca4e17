"""SIGTERM and SIGINT stop a running daemon within one second, logging daemon_stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# A daemon ticking every 0.1 s on an endless synthetic source whose samples take 0.05 s.
SCRIPT = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, sys.argv[1])
    from simulator.daemon.daemon import Daemon, DaemonSettings, Sample
    from simulator.daemon.logging import configure_logging
    from tests.daemon.helpers import disk_policy, node_summary, GIB

    class Endless:
        description = "endless test source"
        def next_sample(self, now):
            time.sleep(0.05)
            return Sample(summary=node_summary(now, imagefs_available=GIB), time=now, origin="synthetic")
        def close(self):
            pass

    configure_logging("info")
    daemon = Daemon(source=Endless(), policy=disk_policy(), settings=DaemonSettings(interval_s=0.1))
    sys.exit(daemon.run())
    """
)


def start_daemon() -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(REPO)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    assert process.stdout is not None
    first = json.loads(process.stdout.readline())
    assert first["event"] == "daemon_started"
    return process


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_daemon_within_one_second(signum: signal.Signals) -> None:
    process = start_daemon()
    try:
        time.sleep(0.5)  # let a few ticks run
        sent_at = time.monotonic()
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=5)
        elapsed = time.monotonic() - sent_at
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == 0, stderr
    assert elapsed < 1.0
    events = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    assert events[-1]["event"] == "daemon_stopped"
    assert events[-1]["reason"] == signum.name
    assert events[-1]["ticks"] >= 2
