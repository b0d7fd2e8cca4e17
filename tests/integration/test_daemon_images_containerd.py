"""The daemon's image GC accounting on a real containerd whose image filesystem fills with images.

The filesystem is filled by importing images of known sizes (not by writing files), so the
logged image GC run can be checked image by image against the runtime's own list. Expected
values restate the kubelet 1.27-1.35:

- ``pkg/kubelet/images/image_gc_manager.go``: usage percent is
  ``100 - available * 100 // capacity``; at or above ``imageGCHighThresholdPercent`` (85) GC
  frees ``capacity * (100 - low) // 100 - available`` bytes (low is 80). Candidates are the
  images that no container uses and that are not pinned, sorted by ``lastUsed`` and then by
  ``firstDetected``. Images younger than ``imageMinimumGCAge`` are skipped. The walk stops as
  soon as the CRI sizes of the deleted images reach the target, and a shortfall fails with
  the ``FreeDiskSpaceFailed`` message of the version.
- ``pkg/kubelet/eviction/helpers.go``: the ``imagefs.available<15%`` hard threshold is
  ``int64(float64(capacity) * float64(float32(0.15)))`` bytes and is met only when available
  is strictly below it. With a dedicated image filesystem it sets DiskPressure.

Each image is imported on its own and the test waits for two image GC checks before the next
one, so every image has its own ``firstDetected`` and the kubelet's order has no ties.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from harness.containerd import ContainerdNode
from harness.images import BuiltImage, build_sized_image, build_workload_image, import_image
from harness.loopfs import MIB
from harness.pods import SLEEP_FOREVER, PodHandle, remove_pod, run_pod

from simulator._proto.runtime.v1 import api_pb2 as api

pytestmark = pytest.mark.containerd

REPO = Path(__file__).resolve().parents[2]

# A small image filesystem keeps the imports fast: about 120 MB of capacity after ext4's metadata.
IMAGE_FS_BYTES = 128 * MIB
HIGH_THRESHOLD_PERCENT = 85
LOW_THRESHOLD_PERCENT = 80
IMAGEFS_HARD_PERCENT = 0.15
# imageMinimumGCAge of the daemon's policy. The kubelet turns 0s into its 2m default, so the
# smallest useful value is 1s. Two GC checks 1 s apart after each import make every image older.
MIN_GC_AGE = "1s"
# The first two images after the daemon starts are small, so the GC target is reached after a
# few images and the later, larger images are left in place.
FIRST_IMAGE_BYTES = (2 * MIB, 3 * MIB)
MAX_FILL_IMAGE_BYTES = 12 * MIB
MIN_FILL_IMAGE_BYTES = 256 * 1024
# The fill aims at available = 15.5 % of capacity: usage 85 % is reached (available below
# 16 %), but the 15 % eviction threshold is not yet met.
FILL_AIM_FRACTION = 0.155
MAX_IMPORTS = 40
EVENT_TIMEOUT_S = 30.0
# The daemon stops itself after this many ticks (1 s each) if the test dies before its SIGTERM.
DAEMON_MAX_TICKS = 180


def float32(value: float) -> float:
    """Round ``value`` to the nearest float32, as Go's ``float32(...)`` conversion does."""
    return struct.unpack("<f", struct.pack("<f", value))[0]


def fs_numbers(path: Path) -> tuple[int, int]:
    """Return (capacity, available) bytes of the filesystem holding ``path``, as the kubelet reads statfs."""
    stats = os.statvfs(path)
    return stats.f_blocks * stats.f_frsize, stats.f_bavail * stats.f_frsize


def usage_percent(capacity: int, available: int) -> int:
    return 100 - available * 100 // capacity


def imagefs_hard_threshold(capacity: int) -> int:
    return int(float(capacity) * float32(IMAGEFS_HARD_PERCENT))


@dataclass(frozen=True)
class CriImage:
    """One image as CRI ListImages reports it."""

    id: str
    tags: tuple[str, ...]
    size_bytes: int
    pinned: bool


def list_images(node: ContainerdNode) -> dict[str, CriImage]:
    """Return the runtime's images keyed by image id."""
    response = node.cri_call("ImageService/ListImages", api.ListImagesRequest(), api.ListImagesResponse)
    return {
        image.id: CriImage(
            id=image.id, tags=tuple(image.repo_tags), size_bytes=image.size, pinned=image.pinned
        )
        for image in response.images
    }


def image_id_of(images: dict[str, CriImage], tag: str) -> str:
    matches = [image.id for image in images.values() if tag in image.tags]
    assert len(matches) == 1, f"expected one image tagged {tag}, found {matches}"
    return matches[0]


def shortfall_message_parts(version: str, *, target: int, freed: int) -> list[str]:
    """Return texts that the kubelet's FreeDiskSpaceFailed message for ``version`` contains.

    1.27-1.34 state the target and the bytes found. 1.35 states the usage and the capacity
    instead, with the bytes freed.
    """
    minor = int(version.removeprefix("v").split(".")[1])
    if minor >= 35:
        return ["Insufficient free disk space on the node's image filesystem", f"(freed {freed} bytes)"]
    message = (
        "Failed to garbage collect required amount of images. "
        f"Attempted to free {target} bytes, but only found {freed} bytes eligible to free."
    )
    return [message]


class DaemonRun:
    """``evictsim daemon --no-api`` in a subprocess, with its JSON log lines parsed as they arrive."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "simulator", "daemon", "--no-api", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        self._events: list[dict[str, Any]] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._collect, daemon=True)
        self._reader.start()

    def _collect(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if not line.startswith("{"):
                continue
            with self._changed:
                self._events.append(json.loads(line))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        with self._changed:
            return [event for event in self._events if name is None or event["event"] == name]

    def count(self, name: str) -> int:
        return len(self.events(name))

    def wait_for(
        self,
        predicate: Callable[[dict[str, Any]], bool],
        *,
        after: int = 0,
        timeout_s: float = EVENT_TIMEOUT_S,
    ) -> dict[str, Any]:
        """Return the first event from index ``after`` on that matches ``predicate``.

        Raises AssertionError naming the events seen when none matches within ``timeout_s``
        or the daemon exits first.
        """
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                for event in self._events[after:]:
                    if predicate(event):
                        return event
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.process.poll() is not None:
                    break
                self._changed.wait(timeout=min(remaining, 0.5))
            seen = sorted({event["event"] for event in self._events})
        raise AssertionError(
            f"no matching daemon event within {timeout_s} s (exit status {self.process.poll()}); "
            f"events seen: {seen}; stderr: {self._stderr_tail()}"
        )

    def wait_for_gc_checks(self, checks: int, timeout_s: float = EVENT_TIMEOUT_S) -> None:
        """Wait until the daemon has logged ``checks`` more ``image_gc_checked`` events than it has now."""
        expected = self.count("image_gc_checked") + checks
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while sum(event["event"] == "image_gc_checked" for event in self._events) < expected:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.process.poll() is not None:
                    raise AssertionError(
                        f"the daemon logged fewer than {checks} image GC checks within {timeout_s} s "
                        f"(exit status {self.process.poll()})"
                    )
                self._changed.wait(timeout=min(remaining, 0.5))

    def _stderr_tail(self) -> str:
        if self.process.poll() is None or self.process.stderr is None:
            return "(daemon still running)"
        return self.process.stderr.read()[-2000:]

    def stop(self) -> int:
        """Send SIGTERM to the daemon's pid and return its exit status, killing it after 5 s."""
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
def node(containerd_node_factory: Callable[..., ContainerdNode]) -> ContainerdNode:
    """A node of its own with a small image filesystem, because this test fills it."""
    return containerd_node_factory(image_fs_bytes=IMAGE_FS_BYTES)


@pytest.fixture
def running_pod(node: ContainerdNode, tmp_path: Path) -> Iterator[PodHandle]:
    """A running pod, so its image is in use and image GC must keep it."""
    import_image(node, build_workload_image(tmp_path / "images", "evictsim.test/app:1"))
    handle = run_pod(node, "app", "default", "evictsim.test/app:1", ["/bin/sh", "-c", SLEEP_FOREVER])
    try:
        yield handle
    finally:
        remove_pod(node, handle)


@pytest.fixture
def daemon(node: ContainerdNode, running_pod: PodHandle, tmp_path: Path) -> Iterator[DaemonRun]:
    """The daemon on the node, checking image GC every second at watermarks 85/80 (the kubelet's defaults)."""
    config = tmp_path / "kubelet-config.yaml"
    config.write_text(
        "apiVersion: kubelet.config.k8s.io/v1beta1\n"
        "kind: KubeletConfiguration\n"
        f"imageGCHighThresholdPercent: {HIGH_THRESHOLD_PERCENT}\n"
        f"imageGCLowThresholdPercent: {LOW_THRESHOLD_PERCENT}\n"
        f"imageMinimumGCAge: {MIN_GC_AGE}\n"
    )
    run = DaemonRun(
        "--cri-endpoint",
        node.endpoint,
        "--root-dir",
        str(node.kubelet_root),
        "--kubelet-config",
        str(config),
        "--interval",
        "1",
        "--image-gc-period",
        "1",
        "--log-level",
        "debug",
        "--ticks",
        str(DAEMON_MAX_TICKS),
    )
    try:
        yield run
    finally:
        exit_code = run.stop()
    assert exit_code == 0, f"daemon exited with {exit_code}: {run._stderr_tail()}"
    assert run.events("daemon_stopped")[-1]["reason"] == "SIGTERM"


def import_and_sync(node: ContainerdNode, image: BuiltImage) -> None:
    """Import ``image``, delete its archive and flush the filesystem, so statfs shows the import."""
    import_image(node, image)
    image.archive_path.unlink()
    os.sync()


def import_and_wait(node: ContainerdNode, daemon: DaemonRun, image: BuiltImage) -> None:
    """Import ``image`` and wait for two GC checks, so it is detected and older than the minimum age."""
    import_and_sync(node, image)
    daemon.wait_for_gc_checks(2)


def fill_to_gc_threshold(node: ContainerdNode, daemon: DaemonRun, images_dir: Path) -> list[str]:
    """Import images until usage reaches the high threshold; return their tags in import order.

    Each image after the first two is sized to about half of the gap to the aimed available
    bytes. An imported image takes about twice its CRI size on disk, because containerd keeps
    the layer blob in its content store and the unpacked files in a snapshot.
    """
    tags: list[str] = []
    capacity, available = fs_numbers(node.image_fs_mount)
    while usage_percent(capacity, available) < HIGH_THRESHOLD_PERCENT:
        assert len(tags) < MAX_IMPORTS, (
            f"usage still {usage_percent(capacity, available)} % after {len(tags)} images"
        )
        if len(tags) < len(FIRST_IMAGE_BYTES):
            size = FIRST_IMAGE_BYTES[len(tags)]
        else:
            gap = available - int(capacity * FILL_AIM_FRACTION)
            size = min(MAX_FILL_IMAGE_BYTES, max(MIN_FILL_IMAGE_BYTES, gap // 2))
        tag = f"evictsim.test/fill-{len(tags):02d}:1"
        import_and_wait(node, daemon, build_sized_image(images_dir, tag, size))
        tags.append(tag)
        capacity, available = fs_numbers(node.image_fs_mount)
    return tags


def expected_gc_run(order: list[CriImage], target: int) -> tuple[list[str], int, int]:
    """Walk candidates as the kubelet's freeSpace does and return removed ids, bytes freed and the count left."""
    removed: list[str] = []
    freed = 0
    for image in order:
        if freed >= target:
            break
        removed.append(image.id)
        freed += image.size_bytes
    return removed, freed, len(order) - len(removed)


def test_image_gc_with_imported_images(
    node: ContainerdNode, running_pod: PodHandle, daemon: DaemonRun, tmp_path: Path
) -> None:
    """Images filling imagefs past 85 % are GC'd in the kubelet's order, and below 15 % available set DiskPressure."""
    images_dir = tmp_path / "images"

    # stage 1: the daemon's first detection lists the pause image and the running pod's image
    daemon.wait_for(lambda event: event["event"] == "image_gc_checked")
    start_images = list_images(node)
    detection = daemon.wait_for(
        lambda event: event["event"] in ("image_detection_assumed", "image_detection_from_kubelet_start")
    )
    assert detection["images"] == len(start_images)
    app_id = image_id_of(start_images, "evictsim.test/app:1")
    pause_id = image_id_of(start_images, node.sandbox_image)

    # stage 2: import images one at a time until usage reaches 85 %
    fill_tags = fill_to_gc_threshold(node, daemon, images_dir)
    capacity, available = fs_numbers(node.image_fs_mount)
    assert available >= imagefs_hard_threshold(capacity), "the fill overshot the 15 % eviction threshold"
    # two more checks, so the logged plan includes the last image at an age above the minimum
    daemon.wait_for_gc_checks(2)
    images = list_images(node)
    fill_ids = [image_id_of(images, tag) for tag in fill_tags]

    # the latest plan logged, because the daemon logs a plan again whenever its removed images change
    runs = daemon.events("image_gc_would_run")
    assert runs, "image_gc_would_run was never logged"
    gc = runs[-1]
    assert gc["trigger"] == "periodic_threshold"
    assert gc["images_known"] is True
    assert gc["capacity"] == capacity
    # ext4 may settle a few blocks after the last import
    assert abs(gc["available"] - available) <= 64 * 4096
    assert gc["usage_percent"] == 100 - gc["available"] * 100 // gc["capacity"]
    assert gc["usage_percent"] >= HIGH_THRESHOLD_PERCENT
    assert gc["high_threshold_percent"] == HIGH_THRESHOLD_PERCENT
    assert gc["low_threshold_percent"] == LOW_THRESHOLD_PERCENT
    assert gc["bytes_to_free"] == gc["capacity"] * (100 - LOW_THRESHOLD_PERCENT) // 100 - gc["available"]
    assert gc["device"].split()[0] == node.image_fs.device

    # Candidates in order: the pause image (detected at the start) unless the runtime pins it,
    # then the imported images in import order. The running pod's image is in use.
    detection_order = [images[pause_id]] + [images[image_id] for image_id in fill_ids]
    candidates = [image for image in detection_order if not image.pinned]
    removed, freed, not_reached = expected_gc_run(candidates, gc["bytes_to_free"])
    assert gc["images_removed"] == removed
    assert app_id not in gc["images_removed"]
    assert gc["bytes_freed"] == freed
    assert gc["bytes_freed"] == sum(images[image_id].size_bytes for image_id in gc["images_removed"])
    expected_skipped = {"in_use_running": 1}
    if not_reached:
        expected_skipped["target_reached"] = not_reached
    pinned = len(detection_order) - len(candidates)
    if pinned:
        expected_skipped["pinned"] = pinned
    assert gc["images_skipped"] == expected_skipped

    version = daemon.events("daemon_started")[0]["kubelet_version"]
    failures = daemon.events("image_gc_would_fail")
    if gc["bytes_freed"] >= gc["bytes_to_free"]:
        assert gc["shortfall_bytes"] == 0
        assert failures == []
    else:
        assert gc["shortfall_bytes"] == gc["bytes_to_free"] - gc["bytes_freed"]
        failure = failures[-1]
        assert failure["event_reason"] == "FreeDiskSpaceFailed"
        for part in shortfall_message_parts(version, target=gc["bytes_to_free"], freed=gc["bytes_freed"]):
            assert part in failure["error"]

    # nothing crossed the eviction threshold yet
    assert [e for e in daemon.events("threshold_met") if e["signal"] == "imagefs.available"] == []

    # stage 3: import more until available is below 15 % of capacity
    mark = len(daemon.events())
    count = len(fill_tags)
    while available >= imagefs_hard_threshold(capacity):
        assert count < MAX_IMPORTS, f"available still {available} bytes after {count} images"
        size = max(MIN_FILL_IMAGE_BYTES, (available - imagefs_hard_threshold(capacity)) // 2 + MIB)
        import_and_sync(node, build_sized_image(images_dir, f"evictsim.test/fill-{count:02d}:1", size))
        count += 1
        capacity, available = fs_numbers(node.image_fs_mount)

    met = daemon.wait_for(
        lambda event: event["event"] == "threshold_met" and event["signal"] == "imagefs.available", after=mark
    )
    assert met["threshold"] == imagefs_hard_threshold(capacity)
    assert met["threshold_value"] == "15%"
    assert met["capacity"] == capacity
    assert met["observed"] < met["threshold"]
    assert abs(met["observed"] - available) <= 64 * 4096
    assert met["device"].split()[0] == node.image_fs.device
    condition = daemon.wait_for(
        lambda event: (
            event["event"] == "node_condition_would_change" and event["condition"] == "DiskPressure"
        ),
        after=mark,
    )
    assert condition["status"] == "True"
    assert condition["previous_status"] == "False"
    assert "imagefs.available" in condition["signals"]

    # every image GC run logged keeps the kubelet's arithmetic on its own numbers
    for run in daemon.events("image_gc_would_run"):
        assert run["usage_percent"] == 100 - run["available"] * 100 // run["capacity"]
        assert run["usage_percent"] >= HIGH_THRESHOLD_PERCENT
        assert (
            run["bytes_to_free"] == run["capacity"] * (100 - LOW_THRESHOLD_PERCENT) // 100 - run["available"]
        )
        assert app_id not in run["images_removed"]
