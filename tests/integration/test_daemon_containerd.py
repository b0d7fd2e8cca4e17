"""The daemon against a real containerd whose image filesystem is a small loop-mounted ext4.

Expected values restate the kubelet (1.27-1.35): a percentage threshold is
int64(float64(capacity) * float64(float32(pct))) and is met only when available is strictly
below it (pkg/kubelet/eviction/helpers.go); periodic image GC runs when
100 - floor(available * 100 / capacity) >= imageGCHighThresholdPercent and would free
floor(capacity * (100 - low) / 100) - available bytes (pkg/kubelet/images/image_gc_manager.go).
"""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from harness.containerd import ContainerdNode

pytestmark = pytest.mark.containerd

REPO = Path(__file__).resolve().parents[2]
BLOCK = 1024 * 1024


def float32(value: float) -> float:
    return struct.unpack("<f", struct.pack("<f", value))[0]


def fs_numbers(path: Path) -> tuple[int, int]:
    """Return (capacity, available) bytes of the filesystem holding ``path``, as statfs gives them."""
    stats = os.statvfs(path)
    return stats.f_blocks * stats.f_frsize, stats.f_bavail * stats.f_frsize


class DaemonProcess:
    """``evictsim daemon`` in a subprocess, with its JSON log events collected by a reader thread."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "simulator", "daemon", "--no-api", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        self.events: list[dict] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("{"):
                with self._lock:
                    self.events.append(json.loads(line))

    def named(self, name: str) -> list[dict]:
        with self._lock:
            return [event for event in self.events if event["event"] == name]

    def wait_for(self, predicate: Callable[[dict], bool], timeout_s: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                for event in self.events:
                    if predicate(event):
                        return event
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        stderr = self.process.stderr.read() if self.process.poll() is not None and self.process.stderr else ""
        with self._lock:
            seen = [event["event"] for event in self.events]
        raise AssertionError(f"no matching event within {timeout_s} s; events: {seen}; stderr: {stderr}")

    def stop(self) -> int:
        """Send SIGTERM to the daemon's pid and return its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout=5)
        return self.process.returncode


@pytest.fixture
def private_node(containerd_node_factory: Callable[..., ContainerdNode]) -> ContainerdNode:
    """A node of its own, because these tests fill its image filesystem."""
    return containerd_node_factory()


@pytest.fixture
def filler(private_node: ContainerdNode) -> Iterator[Callable[[float], Path]]:
    """Write filler files into the image filesystem until its available bytes drop below a fraction."""
    directory = private_node.image_fs_mount / "evictsim-filler"
    directory.mkdir()
    count = 0

    def fill_until(fraction: float) -> Path:
        nonlocal count
        capacity, available = fs_numbers(directory)
        target = int(capacity * fraction)
        chunk = b"\0" * BLOCK
        while available >= target:
            path = directory / f"fill-{count:05d}"
            count += 1
            size = min(64 * BLOCK, max(BLOCK, available - target + BLOCK))
            with open(path, "wb") as handle:
                handle.writelines(chunk for _ in range(size // BLOCK))
                handle.flush()
                os.fsync(handle.fileno())
            capacity, available = fs_numbers(directory)
        return directory

    yield fill_until
    for path in directory.iterdir():
        path.unlink()
    directory.rmdir()


def test_image_gc_then_disk_pressure(private_node: ContainerdNode, filler: Callable[[float], Path]) -> None:
    """Filling imagefs past 85 % logs image_gc_would_run; below 15 % available, threshold_met and DiskPressure."""
    daemon = DaemonProcess(
        "--cri-endpoint", private_node.endpoint,
        "--root-dir", str(private_node.kubelet_root),
        "--interval", "1",
        "--image-gc-period", "1",
    )
    try:
        daemon.wait_for(lambda e: e["event"] == "sample_taken" or e["event"] == "daemon_started")

        # usage 85 % or more: available below 16 % of capacity (floor(available * 100 / capacity) <= 15)
        filler(0.155)
        capacity, available = fs_numbers(private_node.image_fs_mount)
        gc = daemon.wait_for(lambda e: e["event"] == "image_gc_would_run")
        assert gc["capacity"] == capacity
        assert gc["usage_percent"] == 100 - gc["available"] * 100 // gc["capacity"]
        assert gc["usage_percent"] >= 85
        assert gc["bytes_to_free"] == gc["capacity"] * (100 - 80) // 100 - gc["available"]
        assert gc["images_known"] is True
        # ext4 may still settle a few blocks of metadata after the last write
        assert abs(gc["available"] - available) <= 64 * 4096
        # filler files are not images: GC cannot free the bytes, so the kubelet's run would fail
        failed = daemon.wait_for(lambda e: e["event"] == "image_gc_would_fail")
        assert failed["bytes_freed"] < failed["bytes_to_free"]
        assert failed["event_reason"] == "FreeDiskSpaceFailed"

        # below 15 % available: the imagefs.available hard threshold and DiskPressure
        filler(0.14)
        met = daemon.wait_for(lambda e: e["event"] == "threshold_met" and e["signal"] == "imagefs.available")
        assert met["threshold"] == int(float(capacity) * float32(0.15))
        assert met["observed"] < met["threshold"]
        assert met["capacity"] == capacity
        assert met["device"].split()[0] == private_node.image_fs.device
        condition = daemon.wait_for(lambda e: e["event"] == "node_condition_would_change")
        assert condition["condition"] == "DiskPressure"
        assert condition["status"] == "True"
    finally:
        exit_code = daemon.stop()
    assert exit_code == 0
    assert daemon.named("daemon_stopped")[-1]["reason"] == "SIGTERM"
    assert len(daemon.named("threshold_met")) == len({(e["signal"], e["threshold_value"]) for e in daemon.named("threshold_met")})


def test_policy_thresholds_around_real_available_bytes(containerd_node: ContainerdNode, tmp_path: Path) -> None:
    """Thresholds 1 MiB above nodefs's available bytes and 1 MiB below imagefs's: only nodefs is met."""
    _, node_available = fs_numbers(containerd_node.kubelet_root)
    _, image_available = fs_numbers(containerd_node.image_fs_mount)
    config = tmp_path / "kubelet-config.yaml"
    config.write_text(
        "apiVersion: kubelet.config.k8s.io/v1beta1\n"
        "kind: KubeletConfiguration\n"
        "evictionHard:\n"
        f'  nodefs.available: "{node_available + BLOCK}"\n'
        f'  imagefs.available: "{image_available - BLOCK}"\n'
    )
    daemon = DaemonProcess(
        "--cri-endpoint", containerd_node.endpoint,
        "--root-dir", str(containerd_node.kubelet_root),
        "--kubelet-config", str(config),
        "--interval", "0.5",
        "--ticks", "3",
    )
    try:
        daemon.wait_for(lambda e: e["event"] == "daemon_stopped", timeout_s=30)
        daemon.process.wait(timeout=10)
    finally:
        exit_code = daemon.stop()
    assert exit_code == 0
    met = daemon.named("threshold_met")
    assert [e["signal"] for e in met] == ["nodefs.available"]
    assert met[0]["threshold"] == node_available + BLOCK
    assert met[0]["observed"] < met[0]["threshold"]
    assert met[0]["device"].split()[0] == containerd_node.node_fs.device
