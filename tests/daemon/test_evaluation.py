"""The engine side of a tick: image detection and GC on the kubelet's periods.

The kubelet's image manager detects images every 5 minutes and at each GC run
(pkg/kubelet/images/image_gc_manager.go, Start and GarbageCollect, 1.27-1.35), so an image
pulled between detections is first detected at the next one, not when it appeared.
"""

from __future__ import annotations

import datetime as dt

from simulator.daemon.evaluation import GcInputs, NodeEvaluator
from simulator.engine.images import ImageInfo

from .helpers import GIB, T0, disk_policy, node_summary

BASE = ImageInfo(id="sha256:base", size_bytes=100_000_000)
PULLED = ImageInfo(id="sha256:pulled", size_bytes=200_000_000)


def evaluator() -> NodeEvaluator:
    return NodeEvaluator(disk_policy(), image_gc_period_s=300, container_gc_period_s=60)


def tick(node: NodeEvaluator, seconds: float, images: list[ImageInfo]) -> None:
    now = T0 + dt.timedelta(seconds=seconds)
    node.evaluate(node_summary(now, imagefs_available=5 * GIB), now, GcInputs(images=images))


def test_new_image_detected_at_next_detection() -> None:
    node = evaluator()
    tick(node, 0, [BASE])
    for seconds in range(10, 300, 10):
        tick(node, seconds, [BASE, PULLED])
    assert node.image_gc is not None
    assert "sha256:pulled" not in node.image_gc.detector.records

    tick(node, 300, [BASE, PULLED])
    record = node.image_gc.detector.records["sha256:pulled"]
    assert record.first_detected == T0 + dt.timedelta(seconds=300)


def test_image_gc_only_on_its_period() -> None:
    node = evaluator()
    ran = []
    for seconds in range(0, 610, 10):
        now = T0 + dt.timedelta(seconds=seconds)
        result = node.evaluate(node_summary(now, imagefs_available=5 * GIB), now, GcInputs(images=[BASE]))
        if result.image_gc is not None:
            ran.append(seconds)
    assert ran == [0, 300, 600]


def test_container_gc_needs_runtime_lists() -> None:
    """A recorded Summary has no container list, so container GC is not simulated on it."""
    node = evaluator()
    without = node.evaluate(node_summary(T0, imagefs_available=5 * GIB), T0, None)
    assert without.container_gc is None
    assert without.image_gc is not None
    assert without.image_gc["imagesKnown"] is False
