"""The daemon on a node whose image filesystem fills up and recovers, stepped with a fake clock.

Expected values restate the kubelet (pkg/kubelet/eviction/helpers.go and eviction_manager.go,
pkg/kubelet/images/image_gc_manager.go, pkg/kubelet/kubelet.go; 1.27-1.35):

* threshold = int64(float64(capacity) * float64(float32(pct))), met only when available < threshold;
* DiskPressure stays reported while now - last observed < evictionPressureTransitionPeriod (5m);
* image GC runs at start and then every ImageGCPeriod (5m); it frees when
  100 - floor(available * 100 / capacity) >= high (85), and the bytes to free are
  floor(capacity * (100 - low) / 100) - available with low 80;
* the eviction manager samples every evictionMonitoringPeriod (10s);
* with a dedicated image filesystem the kubelet (1.29+) copies the imagefs thresholds to the
  containerfs signals (helpers.go, addContainerFsThresholds), and containerd reports containerFs
  equal to imageFs, so both signals are met together;
* a hard threshold met with nothing to reclaim runs node-level reclaim (container GC, then image GC).
"""

from __future__ import annotations

import datetime as dt

import structlog.testing

from simulator.daemon.daemon import Daemon, DaemonSettings
from simulator.signals import Signal

from .helpers import GIB, FakeClock, ListSource, disk_policy, float32, node_summary

CAPACITY = 10 * GIB
IMAGEFS_THRESHOLD = int(float(CAPACITY) * float32(0.15))
TICK_S = 10


def info_events(captured: list[dict]) -> list[dict]:
    return [entry for entry in captured if entry["log_level"] != "debug"]


def decisions(captured: list[dict]) -> list[tuple[str, str]]:
    """Each info event as (event, signal or condition)."""
    return [(e["event"], e.get("signal") or e.get("condition") or "") for e in info_events(captured)]


class Stepper:
    """Runs one daemon tick per call with the given imagefs available bytes, 10 s apart."""

    def __init__(self, daemon: Daemon, source: ListSource, clock: FakeClock) -> None:
        self.daemon = daemon
        self.source = source
        self.clock = clock
        self.first = True

    def step(self, available: int) -> None:
        if not self.first:
            self.clock.advance(TICK_S)
        self.first = False
        self.source.items.append(node_summary(self.clock.now, imagefs_available=available, imagefs_capacity=CAPACITY))
        self.daemon.tick()


def make_stepper(clock: FakeClock) -> Stepper:
    source = ListSource([])
    daemon = Daemon(source=source, policy=disk_policy(), clock=clock, settings=DaemonSettings(interval_s=TICK_S))
    return Stepper(daemon, source, clock)


def test_float32_threshold_differs_from_exact_percentage() -> None:
    """The float32 percentage makes the byte threshold differ from 15 % computed exactly."""
    assert IMAGEFS_THRESHOLD != CAPACITY * 15 // 100
    assert IMAGEFS_THRESHOLD == 1610612800


def test_image_gc_watermark_then_pressure_then_recovery() -> None:
    """Events appear once per change through fill-up, pressure, recovery and the transition period."""
    clock = FakeClock()
    with structlog.testing.capture_logs() as captured:
        stepper = make_stepper(clock)

        # stage 1: 70 % used; image GC runs at start and finds nothing to do
        stepper.step(CAPACITY * 30 // 100)
        assert info_events(captured) == []
        assert [e["event"] for e in captured] == ["sample_taken", "image_gc_checked"]

        # stage 2: usage 85 % (15.5 % available) is seen at once, but image GC waits for its period
        watermark_available = CAPACITY * 155 // 1000
        for _ in range(29):
            stepper.step(watermark_available)
        assert info_events(captured) == []

        # stage 3: 300 s after the first run image GC runs again and would free down to 80 %
        stepper.step(watermark_available)
        gc_events = info_events(captured)
        assert [e["event"] for e in gc_events] == ["image_gc_would_run"]
        assert gc_events[0]["usage_percent"] == 85
        assert gc_events[0]["bytes_to_free"] == CAPACITY * 20 // 100 - watermark_available
        assert gc_events[0]["device"] == "/dev/loop7"
        assert gc_events[0]["images_known"] is False
        captured.clear()

        # stage 4: available equal to the threshold is not below it
        stepper.step(IMAGEFS_THRESHOLD)
        assert info_events(captured) == []

        # stage 5: one byte below the threshold meets it, raises DiskPressure and starts reclaim
        stepper.step(IMAGEFS_THRESHOLD - 1)
        assert decisions(captured) == [
            ("threshold_met", "imagefs.available"),
            ("threshold_met", "containerfs.available"),
            ("node_condition_would_change", "DiskPressure"),
            ("reclaim_would_run", "imagefs.available"),
        ]
        met = info_events(captured)[0]
        assert met["observed"] == IMAGEFS_THRESHOLD - 1
        assert met["threshold"] == IMAGEFS_THRESHOLD
        assert met["threshold_value"] == "15%"
        assert met["capacity"] == CAPACITY
        assert met["unit"] == "bytes"
        assert met["device"] == "/dev/loop7"
        condition = info_events(captured)[2]
        assert condition["status"] == "True"
        assert condition["signals"] == [str(Signal.IMAGEFS_AVAILABLE), str(Signal.CONTAINERFS_AVAILABLE)]
        reclaim = info_events(captured)[3]
        assert [step["step"] for step in reclaim["steps"]] == ["containerGC", "imageGC"]
        assert reclaim["sufficient"] is False
        captured.clear()

        # stage 6: still below for a minute: nothing new
        for _ in range(6):
            stepper.step(IMAGEFS_THRESHOLD - 4096)
        assert info_events(captured) == []
        last_met = clock.now

        # stage 7: relieved; the threshold clears but the condition stays for the transition period
        stepper.step(CAPACITY * 25 // 100)
        assert decisions(captured) == [
            ("threshold_cleared", "imagefs.available"),
            ("threshold_cleared", "containerfs.available"),
        ]
        assert info_events(captured)[0]["observed"] == CAPACITY * 25 // 100
        captured.clear()

        while (clock.now + dt.timedelta(seconds=TICK_S) - last_met).total_seconds() < 300:
            stepper.step(CAPACITY * 25 // 100)
        assert all(e["event"] != "node_condition_would_change" for e in captured)

        # stage 8: the tick at exactly 300 s after the last observation reports the condition cleared
        stepper.step(CAPACITY * 25 // 100)
        assert (clock.now - last_met).total_seconds() == 300
        events = [e for e in info_events(captured) if e["event"] == "node_condition_would_change"]
        assert len(events) == 1
        assert events[0]["status"] == "False"
        assert events[0]["previous_status"] == "True"


def test_threshold_met_once_while_pressure_lasts() -> None:
    """Sixty ticks under pressure log threshold_met once, not sixty times."""
    clock = FakeClock()
    with structlog.testing.capture_logs() as captured:
        stepper = make_stepper(clock)
        for _ in range(60):
            stepper.step(IMAGEFS_THRESHOLD - 1)
    names = [e["event"] for e in captured]
    assert decisions(captured).count(("threshold_met", "imagefs.available")) == 1
    assert names.count("node_condition_would_change") == 1
    assert names.count("reclaim_would_run") == 1
    assert names.count("sample_taken") == 60


def test_inode_threshold_reports_counts() -> None:
    """An inode signal's values are inode counts: 5 % of 655360 inodes as float32 is 32768."""
    clock = FakeClock()
    inodes = 655_360
    threshold = int(float(inodes) * float32(0.05))
    with structlog.testing.capture_logs() as captured:
        source = ListSource([node_summary(clock.now, imagefs_available=CAPACITY // 2, imagefs_inodes=inodes,
                                          imagefs_inodes_free=threshold - 1)])
        Daemon(source=source, policy=disk_policy(), clock=clock).tick()
    met = [e for e in captured if e["event"] == "threshold_met"]
    assert [e["signal"] for e in met] == [str(Signal.IMAGEFS_INODES_FREE), str(Signal.CONTAINERFS_INODES_FREE)]
    assert met[0]["threshold"] == threshold
    assert met[0]["observed"] == threshold - 1
    assert met[0]["unit"] == "inodes"
