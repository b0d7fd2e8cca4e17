"""Prometheus metrics on a loopback port, the history ring and its SQLite persistence."""

from __future__ import annotations

import dataclasses
import datetime as dt
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from simulator.api.history import HistoryPoint, HistoryRing, SqliteHistory, load_history_file
from simulator.api.live import LiveState
from simulator.api.server import ServerOptions, start_server
from simulator.errors import InputError
from tests.api.conftest import SAMPLED_AT, load_summary, make_sample
from tests.api.test_servicer import IMAGEFS, IMAGEFS_HARD, TO_PRESSURE


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def test_metrics_follow_samples(tmp_path: Path) -> None:
    live = LiveState()
    handle = start_server(live, ServerOptions(socket=f"unix://{tmp_path}/api.sock", metrics_listen="127.0.0.1:0"))
    try:
        port = handle.metrics_server.server_port
        live.publish(make_sample())
        values = scrape(port)
        signal = (("eviction_signal", "imagefs.available"),)
        assert values[("evictsim_signal_available", signal)] == IMAGEFS.available_bytes
        assert values[("evictsim_threshold", (("eviction_signal", "imagefs.available"), ("kind", "hard")))] == IMAGEFS_HARD
        assert values[("evictsim_headroom", signal)] == TO_PRESSURE
        assert values[("evictsim_node_condition", (("condition", "DiskPressure"),))] == 0
        assert values[("evictsim_sample_age_seconds", ())] > 0

        summary = load_summary()
        summary.node = dataclasses.replace(summary.node, image_fs=dataclasses.replace(IMAGEFS, available_bytes=IMAGEFS_HARD - 1))
        live.publish(make_sample(summary))
        values = scrape(port)
        assert values[("evictsim_node_condition", (("condition", "DiskPressure"),))] == 1
        evicting = (("eviction_signal", "imagefs.available"), ("reason", "EvictionThresholdMet"))
        assert values[("evictsim_would_evict_total", evicting)] == 1
        assert values[("evictsim_would_image_gc_total", (("reason", "HighThresholdExceeded"),))] == 1

        live.record_runtime_error("cri_unavailable")
        assert scrape(port)[("evictsim_runtime_errors_total", (("kind", "cri_unavailable"),))] == 1
    finally:
        handle.stop(0)


def point(time: float, available: int = 100) -> HistoryPoint:
    return HistoryPoint(time, int(time), {"imagefs.available": (available, 1000)}, ("DiskPressure",))


def test_history_ring_drops_old_points() -> None:
    ring = HistoryRing(retention_s=100, interval_s=10)
    for t in range(0, 300, 10):
        ring.append(point(float(t)))
    times = [p.time for p in ring.window()]
    assert times[0] == 190.0
    assert times[-1] == 290.0
    assert [p.time for p in ring.window(20)] == [270.0, 280.0, 290.0]


def test_history_ring_rejects_bad_retention() -> None:
    with pytest.raises(InputError, match="must be positive"):
        HistoryRing(retention_s=0)


def test_sqlite_history_survives_restart(tmp_path: Path) -> None:
    """Points written by one LiveState are loaded by the next one that opens the same file."""
    path = tmp_path / "history.db"
    first = LiveState(store=SqliteHistory(path))
    now = dt.datetime.now(dt.UTC)
    for step in range(5):
        first.publish(make_sample(sampled_at=now - dt.timedelta(seconds=50 - 10 * step)))
    assert first.store is not None
    first.store.close()

    second = LiveState(store=SqliteHistory(path))
    points = second.history.window()
    assert len(points) == 5
    assert points[-1].signals["imagefs.available"] == (IMAGEFS.available_bytes, IMAGEFS.capacity_bytes)
    assert [p.time for p in load_history_file(path)] == [p.time for p in points]


def test_load_history_file_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_history_file(tmp_path / "missing.db")
    bad = tmp_path / "bad.json"
    bad.write_text('{"points": [{"time": "x"}]}')
    with pytest.raises(InputError, match="invalid history point"):
        load_history_file(bad)


def test_live_state_sequence_and_read() -> None:
    live = LiveState()
    assert live.read() is None
    first = live.publish(make_sample(sampled_at=SAMPLED_AT))
    second = live.publish(make_sample(sampled_at=SAMPLED_AT + dt.timedelta(seconds=10)))
    assert (first.sequence, second.sequence) == (1, 2)
    assert live.read() is second
    assert live.wait_for_newer(1, 0.01) is second
    assert live.wait_for_newer(2, 0.01) is None


def test_sample_age_replay_clock(tmp_path: Path) -> None:
    """A replayed sample from months ago is as old as the time since it was published, not its recording time."""
    live = LiveState()
    handle = start_server(live, ServerOptions(socket=f"unix://{tmp_path}/api.sock", metrics_listen="127.0.0.1:0"))
    try:
        port = handle.metrics_server.server_port
        recorded = dataclasses.replace(make_sample(), provenance={"origin": "examples/recorded-node/00-summary.json"})
        live.publish(recorded)
        replay_age = scrape(port)[("evictsim_sample_age_seconds", ())]
        assert 0 <= replay_age < 60

        live.publish(dataclasses.replace(make_sample(), provenance={"origin": "live"}))
        live_age = scrape(port)[("evictsim_sample_age_seconds", ())]
        expected = (dt.datetime.now(dt.UTC) - SAMPLED_AT).total_seconds()
        assert live_age == pytest.approx(expected, abs=60)
    finally:
        handle.stop(0)


def test_load_history_file_one_line(tmp_path: Path) -> None:
    with pytest.raises(InputError) as raised:
        load_history_file(tmp_path)
    assert str(raised.value) == f"--from-file {tmp_path}: is a directory, expected a history file"
    empty = tmp_path / "empty.json"
    empty.write_text("")
    with pytest.raises(InputError, match="--from-file .*empty.json: invalid JSON: the file is empty"):
        load_history_file(empty)


def test_history_ring_keeps_points_exactly() -> None:
    """After wrapping around, the ring returns each kept point as appended, with its own signals and conditions."""
    ring = HistoryRing(retention_s=40, interval_s=10)  # 5 slots
    appended = []
    for step in range(12):
        signals = {"memory.available": (-5 - step, 1 << 40)}
        if step % 3:
            signals["imagefs.available"] = (step * 1000, 10**12)
        if step % 4 == 0:
            signals["pid.available"] = (4_000_000 - step, 4_194_304)
        conditions = ("DiskPressure",) if step % 2 else ()
        appended.append(HistoryPoint(float(step * 10), step + 100, signals, conditions))
        ring.append(appended[-1])

    assert len(ring) == 5
    assert ring.window() == appended[-5:]
    assert ring.window(10) == appended[-2:]
    assert ring.window(10, end=80.0) == appended[7:9]


def test_history_ring_out_of_order_time() -> None:
    """A point older than the newest one stays in arrival order, as with the earlier deque."""
    ring = HistoryRing(retention_s=100, interval_s=10)
    for t in (10.0, 30.0, 20.0):
        ring.append(point(t))
    assert [p.time for p in ring.window()] == [10.0, 30.0, 20.0]


def test_history_ring_clamps_to_int64() -> None:
    ring = HistoryRing(retention_s=100, interval_s=10)
    ring.append(HistoryPoint(1.0, 1, {"nodefs.available": (2**64, -(2**70))}))
    assert ring.window()[0].signals["nodefs.available"] == (2**63 - 1, -(2**63))


def test_full_history_ring_is_compact() -> None:
    """A full 24 h ring of 9 signals allocates under 2 MiB (it was about 13 MiB as HistoryPoint objects)."""
    import tracemalloc

    names = ["memory.available", "allocatableMemory.available", "nodefs.available", "nodefs.inodesFree",
             "imagefs.available", "imagefs.inodesFree", "containerfs.available", "containerfs.inodesFree",
             "pid.available"]  # fmt: skip
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        ring = HistoryRing()
        for step in range(ring.capacity):
            signals = {name: (10**9 + step * 4096 + i, 10**11 + i) for i, name in enumerate(names)}
            ring.append(HistoryPoint(1_000_000.0 + step * 10, step, signals, ("DiskPressure",)))
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(ring) == 8641
    assert after - before < 2 * 2**20
    assert ring.window(10)[-1].signals["pid.available"] == (10**9 + 8640 * 4096 + 8, 10**11 + 8)


def test_history_ring_grows_with_points() -> None:
    """A year-long retention allocates per point, not up front, and wraps once it reaches its capacity."""
    ring = HistoryRing(retention_s=366 * 86400.0, interval_s=10)
    for step in range(3):
        ring.append(point(float(step)))
    assert len(ring._times) == 3
    assert [p.time for p in ring.window()] == [0.0, 1.0, 2.0]

    small = HistoryRing(retention_s=20, interval_s=10)  # 3 slots
    for t in (0.0, 5.0, 10.0, 15.0, 40.0, 41.0):
        small.append(point(t))
    assert len(small._times) == 3
    assert [p.time for p in small.window()] == [40.0, 41.0]
