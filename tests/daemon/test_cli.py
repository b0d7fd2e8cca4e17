"""``evictsim daemon`` as a command: policy errors, replay runs and a stop signal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "recorded-node"


def evictsim(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "simulator", "daemon", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )


def json_events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def test_invalid_policy_exits_2_with_one_line(tmp_path: Path) -> None:
    """An unknown signal is rejected before the daemon starts, as the kubelet refuses to start."""
    result = evictsim("--replay", str(EXAMPLE), "--no-api", "--flags=--eviction-hard=disk.available<10%")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "disk.available" in lines[0]
    assert "daemon_started" not in result.stdout


def test_missing_replay_path_exits_2(tmp_path: Path) -> None:
    result = evictsim("--replay", str(tmp_path / "absent"), "--no-api")
    assert result.returncode == 2
    assert "not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_replay_without_valid_sample_exits_2(tmp_path: Path) -> None:
    """A replay that ends with every recorded file invalid is an input error, not a clean run."""
    (tmp_path / "00-broken.json").write_text("{not json")
    (tmp_path / "01-negative.json").write_text(json.dumps({"node": {"fs": {"availableBytes": -1}}}))

    result = evictsim("--replay", str(tmp_path), "--no-api", "--interval", "0.05")

    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"evictsim: error: --replay {tmp_path}: no valid recorded sample")
    assert [e["event"] for e in json_events(result.stdout)].count("recorded_sample_invalid") == 2


def test_replay_ticks_limit() -> None:
    result = evictsim("--replay", str(EXAMPLE), "--no-api", "--interval", "0.05", "--ticks", "4")
    assert result.returncode == 0, result.stderr
    events = json_events(result.stdout)
    assert events[0]["event"] == "daemon_started"
    assert events[0]["max_ticks"] == 4
    assert events[-1] == {**events[-1], "event": "daemon_stopped", "reason": "tick_limit", "ticks": 4}
    names = [event["event"] for event in events]
    assert "image_gc_would_run" in names
    assert "threshold_met" in names


def test_replay_to_the_end_with_policy_file(tmp_path: Path) -> None:
    """A KubeletConfiguration with imagefs.available<20% is met at exactly 20 % available (float32)."""
    config = tmp_path / "kubelet.yaml"
    config.write_text(
        "apiVersion: kubelet.config.k8s.io/v1beta1\n"
        "kind: KubeletConfiguration\n"
        "evictionHard:\n"
        "  imagefs.available: 20%\n"
        "  nodefs.available: 10%\n"
        "  memory.available: 100Mi\n"
    )
    result = evictsim("--replay", str(EXAMPLE), "--no-api", "--interval", "0.05", "--kubelet-config", str(config))
    assert result.returncode == 0, result.stderr
    events = json_events(result.stdout)
    met = [e for e in events if e["event"] == "threshold_met" and e["signal"] == "imagefs.available"]
    assert len(met) == 1
    assert met[0]["threshold_value"] == "20%"
    # 01-summary.json has exactly 20 % of 50 GiB available (10737418240 bytes), yet the threshold is
    # met there: float32(0.2) is 0.2000000029..., so the kubelet's threshold is 160 bytes higher.
    second = json.loads((EXAMPLE / "01-summary.json").read_text())["node"]["runtime"]["imageFs"]
    assert second["availableBytes"] * 5 == second["capacityBytes"]
    assert met[0]["threshold"] == second["availableBytes"] + 160
    assert met[0]["observed"] == second["availableBytes"]
    assert events[-1]["event"] == "daemon_stopped"
    assert events[-1]["reason"] == "replay_finished"


def test_sigterm_stops_live_daemon_without_runtime(tmp_path: Path) -> None:
    """With no runtime the daemon keeps running (one warning) and SIGTERM stops it within a second."""
    process = subprocess.Popen(
        [
            sys.executable, "-m", "simulator", "daemon", "--no-api", "--interval", "0.2",
            "--cri-endpoint", f"unix://{tmp_path / 'missing.sock'}", "--root-dir", str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert process.stdout is not None
        seen = []
        while "runtime_unreachable" not in seen:
            line = process.stdout.readline()
            assert line, process.stderr.read() if process.stderr else ""
            seen.append(json.loads(line)["event"])
        time.sleep(1.0)  # several more failing ticks
        sent_at = time.monotonic()
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=5)
        elapsed = time.monotonic() - sent_at
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == 0, stderr
    assert elapsed < 1.0
    events = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    names = seen + [event["event"] for event in events]
    assert names.count("runtime_unreachable") == 1
    assert events[-1]["event"] == "daemon_stopped"
    assert events[-1]["reason"] == "SIGTERM"


def pod(name: str, namespace: str, uid: str, priority: int) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "uid": uid},
        "spec": {
            "priority": priority,
            "containers": [{"name": name.split("-")[0], "image": "example.test/app:1", "resources": {}}],
        },
        "status": {"phase": "Running"},
    }


def test_replay_with_pod_specs_skips_critical_pod(tmp_path: Path) -> None:
    """Pod specs change the ranking: priority orders before usage, and a critical pod is no runner-up.

    The kubelet ranks disk pressure by exceeding requests, then priority, then usage
    (pkg/kubelet/eviction/helpers.go, rankDiskPressureFunc). Without specs the batch pod's
    1 GiB writable layer ranks it first; with priority 0 for web and the system-node-critical
    priority for batch, web is first and batch (priority >= 2000000000) cannot follow it.
    """
    pods = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            pod("web-7d9c5b8f6-x2k4q", "shop", "5f0c7a52-1b0e-4d0e-9c51-2f2d7a1c9e01", 0),
            pod("batch-report-28513-abcde", "reports", "9a1d3b77-6c2e-4f51-8e0a-7b3c2d1e4f02", 2_000_001_000),
        ],
    }
    pods_file = tmp_path / "pods.json"
    pods_file.write_text(json.dumps(pods))
    result = evictsim("--replay", str(EXAMPLE), "--no-api", "--interval", "0.05", "--pods", str(pods_file))
    assert result.returncode == 0, result.stderr
    evictions = [e for e in json_events(result.stdout) if e["event"] == "pod_would_be_evicted"]
    assert len(evictions) == 1
    assert evictions[0]["pod"] == "shop/web-7d9c5b8f6-x2k4q"
    assert evictions[0]["rank"] == 1
    assert evictions[0]["runner_up"] is None


def test_sigterm_during_slow_runtime_call(tmp_path: Path) -> None:
    """A tick blocked in a CRI call (the runtime replies after 5 s) does not delay the stop."""
    from tests.fakes.fake_cri import FakeCriServer

    with FakeCriServer() as server:
        server.set_delay("ImageFsInfo", 5.0)
        process = subprocess.Popen(
            [
                sys.executable, "-m", "simulator", "daemon", "--no-api", "--interval", "0.2", "--timeout", "4",
                "--cri-endpoint", f"unix://{server.socket_path}", "--root-dir", str(tmp_path),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        try:
            deadline = time.monotonic() + 10
            while server.count("ImageFsInfo") == 0:
                assert time.monotonic() < deadline, "the daemon never called ImageFsInfo"
                time.sleep(0.05)
            time.sleep(0.5)  # the call is in flight and later ticks are skipped
            sent_at = time.monotonic()
            process.send_signal(signal.SIGTERM)
            stdout, stderr = process.communicate(timeout=10)
            elapsed = time.monotonic() - sent_at
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()

    assert process.returncode == 0, stderr
    assert elapsed < 1.0
    assert "skipped" not in stderr
    events = json_events(stdout)
    assert events[-1]["event"] == "daemon_stopped"
    assert events[-1]["reason"] == "SIGTERM"


def test_sigterm_with_api_serving(tmp_path: Path) -> None:
    """With the gRPC API on its Unix socket, SIGTERM still stops the daemon within a second."""
    socket_path = tmp_path / "api" / "evictsim.sock"
    socket_path.parent.mkdir()
    process = subprocess.Popen(
        [
            sys.executable, "-m", "simulator", "daemon", "--interval", "1",
            "--replay", str(EXAMPLE),
            "--socket", f"unix://{socket_path}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        deadline = time.monotonic() + 20
        while not socket_path.exists():
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "the API socket never appeared"
            time.sleep(0.05)
        time.sleep(0.3)
        sent_at = time.monotonic()
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=5)
        elapsed = time.monotonic() - sent_at
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == 0, stderr
    assert elapsed < 1.0
    assert not socket_path.exists()
    stopped = [event for event in json_events(stdout) if event["event"] == "daemon_stopped"]
    assert [event["reason"] for event in stopped] == ["SIGTERM"]
