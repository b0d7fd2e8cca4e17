"""Every sample reaches the API's live state: snapshot, decision, GC results and time."""

from __future__ import annotations

import structlog.testing

from simulator.api.live import LiveState
from simulator.daemon.daemon import Daemon
from simulator.signals import FsLayout

from .helpers import GIB, FakeClock, ListSource, disk_policy, node_summary


def test_each_tick_published() -> None:
    clock = FakeClock()
    first = node_summary(clock.now, imagefs_available=5 * GIB)
    second = node_summary(clock.now, imagefs_available=1 * GIB)
    live = LiveState()
    with structlog.testing.capture_logs():
        daemon = Daemon(source=ListSource([first, second]), policy=disk_policy(), clock=clock, live_state=live)
        daemon.tick()
        assert live.read() is not None
        assert live.read().sequence == 1
        clock.advance(10)
        daemon.tick()

    latest = live.read()
    assert latest is not None
    assert latest.sequence == 2
    assert latest.summary is second
    assert latest.sampled_at == clock.now
    assert latest.layout == FsLayout.DEDICATED_IMAGEFS
    assert latest.node_conditions == ("DiskPressure",)
    assert latest.decision["conditions"]["DiskPressure"] is True
    assert latest.gc["imageGC"]["usagePercent"] == 50


def test_failed_samples_counted_for_metrics() -> None:
    """Every failed sample is counted by kind, although the warning is logged only once."""
    from simulator.errors import FsInfoError, RuntimeUnavailableError

    kinds: list[str] = []
    live = LiveState()
    live.on_runtime_error(kinds.append)
    clock = FakeClock()
    source = ListSource(
        [RuntimeUnavailableError("socket not found")] * 3
        + [FsInfoError("device 7:3 not found", kind="device_not_found")]
    )
    with structlog.testing.capture_logs():
        daemon = Daemon(source=source, policy=disk_policy(), clock=clock, live_state=live)
        for _ in range(4):
            daemon.tick()
    assert kinds == ["cri_unavailable"] * 3 + ["probe_device_not_found"]
