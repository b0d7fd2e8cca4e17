"""Dating the images of the daemon's first detection from the kubelet's start.

The kubelet's image manager keeps its records in memory from the kubelet's start
(pkg/kubelet/images/image_gc_manager.go: detectImages runs from Start, and an image's
firstDetected is the detection time). imageMinimumGCAge (default 2m) protects an image
only until that long after firstDetected, so a kubelet running for an hour protects no
image found at its start, whenever evictsim itself started.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import structlog.testing

from simulator.daemon.daemon import Daemon, DaemonSettings
from simulator.daemon.evaluation import UNKNOWN_KUBELET_START, GcInputs, NodeEvaluator
from simulator.engine.images import ImageInfo
from simulator.probes.kubelet_process import find_kubelet_process

from .helpers import GIB, T0, FakeClock, ListSource, disk_policy, node_summary

BOOT_TIME = 1_772_000_000
IMAGE = ImageInfo(id="sha256:aaaa", size_bytes=GIB)
# imagefs 95% used: above the default 85% high threshold, so periodic GC wants the image
FULL = node_summary(T0, imagefs_available=GIB // 2)


def fake_proc(root: Path, processes: dict[int, tuple[str, str]], *, btime: int | None = BOOT_TIME) -> Path:
    """Write a /proc tree: ``processes`` maps a PID to (comm, stat line)."""
    root.mkdir(exist_ok=True)
    lines = ["cpu  1 2 3 4", "intr 0"]
    if btime is not None:
        lines.append(f"btime {btime}")
    (root / "stat").write_text("\n".join(lines) + "\n")
    for pid, (comm, stat) in processes.items():
        (root / str(pid)).mkdir()
        (root / str(pid) / "comm").write_text(comm + "\n")
        (root / str(pid) / "stat").write_text(stat + "\n")
    return root


def stat_line(pid: int, name: str, start_ticks: int) -> str:
    """A /proc/PID/stat line with ``start_ticks`` in field 22 (proc(5))."""
    fields_3_to_21 = ["S"] + ["0"] * 18
    return f"{pid} ({name}) " + " ".join([*fields_3_to_21, str(start_ticks), "0", "0"])


def test_kubelet_found_with_start_time(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path / "proc", {
        42: ("bash", stat_line(42, "bash", 100)),
        1234: ("kubelet", stat_line(1234, "kubelet", 12_345)),
    })
    process = find_kubelet_process(proc, clock_ticks=100)
    assert process is not None
    assert process.pid == 1234
    assert process.started_at == dt.datetime.fromtimestamp(BOOT_TIME + 123.45, dt.UTC)


def test_process_name_with_parenthesis(tmp_path: Path) -> None:
    """Fields are counted after the last ')', since the name itself may contain one."""
    proc = fake_proc(tmp_path / "proc", {7: ("kubelet", stat_line(7, "kube) let", 500))})
    process = find_kubelet_process(proc, clock_ticks=100)
    assert process is not None
    assert process.started_at == dt.datetime.fromtimestamp(BOOT_TIME + 5, dt.UTC)


def test_no_kubelet_or_boot_time(tmp_path: Path) -> None:
    no_kubelet = fake_proc(tmp_path / "a", {1: ("systemd", stat_line(1, "systemd", 1))})
    assert find_kubelet_process(no_kubelet, clock_ticks=100) is None
    no_btime = fake_proc(tmp_path / "b", {1: ("kubelet", stat_line(1, "kubelet", 1))}, btime=None)
    assert find_kubelet_process(no_btime, clock_ticks=100) is None


def evaluator(probe) -> NodeEvaluator:
    return NodeEvaluator(disk_policy(), image_gc_period_s=300, container_gc_period_s=60, kubelet_start_probe=probe)


def removed_images(image_gc: dict) -> list[str]:
    return [candidate["imageId"] for candidate in image_gc["candidates"] if candidate["outcome"] == "removed"]


def test_images_dated_from_kubelet_start() -> None:
    """A kubelet started an hour ago: its image found at the daemon's start is past the 2m minimum age."""
    kubelet_start = T0 - dt.timedelta(hours=1)
    engine = evaluator(lambda: kubelet_start)
    result = engine.evaluate(FULL, T0, GcInputs(images=[IMAGE]))
    record = engine.image_gc.detector.records[IMAGE.id]
    assert record.first_detected == kubelet_start
    assert engine.image_gc.detector.kubelet_start == kubelet_start
    assert removed_images(result.image_gc) == [IMAGE.id]
    assert engine.image_detection_start.kubelet_start == kubelet_start


def test_kubelet_just_started_protects_images() -> None:
    """A kubelet started 30 s ago has recorded its images 30 s ago: the minimum age protects them."""
    engine = evaluator(lambda: T0 - dt.timedelta(seconds=30))
    result = engine.evaluate(FULL, T0, GcInputs(images=[IMAGE]))
    assert removed_images(result.image_gc) == []


def test_no_kubelet_counts_images_old() -> None:
    engine = evaluator(lambda: None)
    result = engine.evaluate(FULL, T0, GcInputs(images=[IMAGE]))
    assert engine.image_gc.detector.records[IMAGE.id].first_detected is None
    assert engine.image_gc.detector.kubelet_start == UNKNOWN_KUBELET_START
    assert removed_images(result.image_gc) == [IMAGE.id]
    assert engine.image_detection_start.kubelet_start is None


def test_later_images_dated_at_detection() -> None:
    """Only the first detection is backdated: an image pulled later is new to the kubelet too."""
    engine = evaluator(lambda: T0 - dt.timedelta(hours=1))
    engine.evaluate(FULL, T0, GcInputs(images=[IMAGE]))
    later = T0 + dt.timedelta(minutes=5)
    pulled = ImageInfo(id="sha256:bbbb", size_bytes=GIB)
    engine.evaluate(FULL, later, GcInputs(images=[IMAGE, pulled]))
    assert engine.image_gc.detector.records[pulled.id].first_detected == later


def test_without_probe_first_sample_time() -> None:
    """Replays pass no probe: images are dated from the first sample, as before."""
    engine = evaluator(None)
    engine.evaluate(FULL, T0, GcInputs(images=[IMAGE]))
    assert engine.image_gc.detector.records[IMAGE.id].first_detected == T0
    assert engine.image_detection_start is None


def test_assumption_logged_once() -> None:
    source = ListSource([FULL, FULL, FULL], gc_inputs=GcInputs(images=[IMAGE]))
    daemon = Daemon(source=source, policy=disk_policy(), settings=DaemonSettings(), clock=FakeClock(T0),
                    kubelet_start_probe=lambda: None)
    with structlog.testing.capture_logs() as logs:
        for _ in range(3):
            daemon.tick()
    assumed = [entry for entry in logs if entry["event"] == "image_detection_assumed"]
    assert len(assumed) == 1
    assert assumed[0]["images"] == 1
    assert "imageMinimumGCAge" in assumed[0]["note"]
