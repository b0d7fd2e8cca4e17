"""The daemon survives runtime and probe faults and logs each outage once."""

from __future__ import annotations

import json
from pathlib import Path

import structlog.testing

from simulator.daemon.daemon import Daemon, DaemonSettings, ReplaySource
from simulator.errors import FsInfoError, NotCriServerError, RuntimeUnavailableError
from simulator.replay import RecordedSource

from .helpers import GIB, FakeClock, ListSource, disk_policy, node_summary


def events_named(captured: list[dict], name: str) -> list[dict]:
    return [entry for entry in captured if entry["event"] == name]


def test_runtime_unreachable_warns_once_then_recovers() -> None:
    """Five failed ticks give one warning; the first good sample logs the recovery and is evaluated."""
    clock = FakeClock()
    unreachable = RuntimeUnavailableError("unix:///run/containerd/containerd.sock: socket not found")
    items = [unreachable] * 5 + [node_summary(clock.now, imagefs_available=GIB)]
    source = ListSource(items)
    with structlog.testing.capture_logs() as captured:
        daemon = Daemon(source=source, policy=disk_policy(), clock=clock, settings=DaemonSettings(interval_s=10))
        for _ in range(6):
            daemon.tick()
            clock.advance(10)

    warnings = events_named(captured, "runtime_unreachable")
    assert len(warnings) == 1
    assert warnings[0]["log_level"] == "warning"
    assert "socket not found" in warnings[0]["error"]
    assert warnings[0]["retry_interval_s"] == 10
    assert len(events_named(captured, "runtime_still_unreachable")) == 4

    recovered = events_named(captured, "runtime_recovered")
    assert len(recovered) == 1
    assert recovered[0]["unreachable_for_s"] == 50
    assert len(events_named(captured, "sample_taken")) == 1
    assert daemon.ticks == 6


def test_not_a_cri_server_counts_as_unreachable() -> None:
    clock = FakeClock()
    source = ListSource([NotCriServerError("unknown service runtime.v1.RuntimeService")] * 2)
    with structlog.testing.capture_logs() as captured:
        daemon = Daemon(source=source, policy=disk_policy(), clock=clock)
        daemon.tick()
        daemon.tick()
    warnings = events_named(captured, "runtime_unreachable")
    assert len(warnings) == 1
    assert warnings[0]["error_type"] == "NotCriServerError"


def test_probe_failure_logged_on_change() -> None:
    """A repeated probe error is one warning and a different error another. Success logs recovery."""
    clock = FakeClock()
    missing = FsInfoError("device 7:3 not found in the mount table", kind="device_not_found")
    other = FsInfoError("statfs /var/lib/kubelet: permission denied", kind="os_error")
    source = ListSource([missing, missing, other, node_summary(clock.now, imagefs_available=GIB)])
    with structlog.testing.capture_logs() as captured:
        daemon = Daemon(source=source, policy=disk_policy(), clock=clock)
        for _ in range(4):
            daemon.tick()
    failed = events_named(captured, "sample_failed")
    assert [entry["error"] for entry in failed] == [str(missing), str(other)]
    assert len(events_named(captured, "sample_recovered")) == 1


def test_tick_survives_unexpected_error() -> None:
    """A bug in one tick is logged as tick_failed and the next tick still runs."""

    class BrokenPolicy:
        # The engine raises on a policy without kubelet_version, image_gc or thresholds.
        thresholds = None
        image_gc = None

    clock = FakeClock()
    source = ListSource([node_summary(clock.now, imagefs_available=GIB)] * 3)
    with structlog.testing.capture_logs() as captured:
        daemon = Daemon(source=source, policy=BrokenPolicy(), clock=clock)
        for _ in range(3):
            daemon.tick()
    assert len(events_named(captured, "tick_failed")) == 1
    assert len(events_named(captured, "tick_still_failing")) == 2
    assert daemon.ticks == 3


def test_bad_recorded_file_is_skipped(tmp_path: Path) -> None:
    """An invalid file is an error event naming it, and the same tick uses the next file."""
    clock = FakeClock()
    good = node_summary(clock.now, imagefs_available=GIB, device=None).to_json()
    (tmp_path / "00-good.json").write_text(json.dumps(good))
    (tmp_path / "01-broken.json").write_text("{not json")
    (tmp_path / "02-negative.json").write_text(json.dumps({"node": {"fs": {"availableBytes": -1}}}))
    (tmp_path / "03-good.json").write_text(json.dumps(good))
    (tmp_path / "notes.txt").write_text("not a sample")

    source = ReplaySource(RecordedSource(tmp_path))
    with structlog.testing.capture_logs() as captured:
        daemon = Daemon(source=source, policy=disk_policy(), clock=clock)
        daemon.tick()
        daemon.tick()
        daemon.tick()

    invalid = events_named(captured, "recorded_sample_invalid")
    assert [Path(entry["path"]).name for entry in invalid] == ["01-broken.json", "02-negative.json"]
    assert all(entry["log_level"] == "error" for entry in invalid)
    assert "node.fs.availableBytes" in invalid[1]["error"]
    origins = [Path(entry["origin"]).name for entry in events_named(captured, "sample_taken")]
    assert origins == ["00-good.json", "03-good.json"]
    assert len(events_named(captured, "replay_finished")) == 1
    assert daemon.stop_reason == "replay_finished"


def test_tick_limit_requests_stop() -> None:
    clock = FakeClock()
    source = ListSource([node_summary(clock.now, imagefs_available=GIB)] * 5)
    daemon = Daemon(source=source, policy=disk_policy(), clock=clock, settings=DaemonSettings(max_ticks=2))
    daemon.tick()
    assert daemon.stop_reason == ""
    daemon.tick()
    assert daemon.stop_reason == "tick_limit"


def test_node_name_bound_from_first_sample() -> None:
    """Without --node-name, lines after the first sample carry the snapshot's node name."""
    clock = FakeClock()
    source = ListSource([RuntimeUnavailableError("socket not found"), node_summary(clock.now, imagefs_available=GIB)])
    with structlog.testing.capture_logs() as captured:
        daemon = Daemon(source=source, policy=disk_policy(), clock=clock)
        daemon.tick()
        daemon.tick()
    warning = events_named(captured, "runtime_unreachable")[0]
    assert "node" not in warning
    assert events_named(captured, "sample_taken")[0]["node"] == "worker-1"
