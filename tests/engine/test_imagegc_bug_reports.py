"""Image GC on the node reports that operators file, with the outcome the kubelet's code gives.

Each case restates a report's input as data. The expected values come from
``pkg/kubelet/images/image_gc_manager.go`` and ``pkg/kubelet/kubelet.go`` (1.27-1.35): integer
usage percent, target = capacity*(100-low)//100 - available, in-use and pinned images never
deleted, eviction reclaim with an unlimited target, records kept only in memory.
"""

from __future__ import annotations

import datetime as dt

from simulator.engine.imagegc import (
    UNLIMITED_BYTES,
    ImageDetector,
    ImageGCSimulator,
    Outcome,
    Trigger,
    plan_delete_unused_images,
    plan_image_gc,
)
from simulator.engine.images import CONTAINER_EXITED, CONTAINER_RUNNING, ContainerInfo, ImageInfo
from simulator.policy.model import ImageGCPolicy
from simulator.snapshot import FsStats

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
GB = 10**9


def _container(image_id: str, state: str, index: int) -> ContainerInfo:
    return ContainerInfo(
        id=f"c{index}", pod_sandbox_id="s", name=f"c{index}", state=state, created_at_ns=0, image_id=image_id
    )


def test_disk_full_all_images_in_use() -> None:
    """A full 40 GB disk whose images are all in use: a positive target and nothing eligible."""
    images = [ImageInfo(f"img-{i}", 2 * GB) for i in range(3)]
    containers = [_container(f"img-{i}", CONTAINER_RUNNING, i) for i in range(3)]
    detector = ImageDetector("1.31", kubelet_start=T0)
    result = plan_image_gc(
        detector,
        ImageGCPolicy(),
        T0 + dt.timedelta(hours=1),
        FsStats(capacity_bytes=40 * GB, available_bytes=0),
        images=images,
        containers=containers,
    )

    assert result.usage_percent == 100
    assert result.target_bytes == 8 * GB
    assert result.bytes_freed == 0
    assert {c.outcome for c in result.candidates} == {Outcome.IN_USE_RUNNING}
    assert result.non_image_bytes == 34 * GB
    assert "Attempted to free 8000000000 bytes, but only found 0 bytes eligible to free." in result.error


def test_exited_containers_hold_images() -> None:
    """Images of exited containers not yet removed are in use, so GC frees 0 bytes."""
    images = [ImageInfo("img-job", 3 * GB), ImageInfo("img-web", 1 * GB)]
    containers = [_container("img-job", CONTAINER_EXITED, 0), _container("img-web", CONTAINER_RUNNING, 1)]
    detector = ImageDetector("1.31", kubelet_start=T0)
    result = plan_image_gc(
        detector,
        ImageGCPolicy(),
        T0 + dt.timedelta(hours=1),
        FsStats(capacity_bytes=100 * GB, available_bytes=10 * GB),
        images=images,
        containers=containers,
    )

    outcomes = {c.image_id: c.outcome for c in result.candidates}
    assert outcomes == {"img-job": Outcome.IN_USE_EXITED, "img-web": Outcome.IN_USE_RUNNING}
    assert result.target_bytes == 10 * GB
    assert result.shortfall_bytes == 10 * GB
    assert result.non_image_bytes == 86 * GB


def test_high_threshold_100_disables_periodic_gc() -> None:
    """High threshold 100 without a max age means the kubelet never starts periodic image GC."""
    detector = ImageDetector("1.31", kubelet_start=T0)
    result = plan_image_gc(
        detector,
        ImageGCPolicy(high_threshold_percent=100, low_threshold_percent=90),
        T0,
        FsStats(capacity_bytes=100, available_bytes=0),
        images=[ImageInfo("a", 10)],
        containers=[],
    )

    assert result.ran is False
    assert result.target_bytes == 0
    assert "eviction reclaim can still delete unused images" in result.disabled_reason


def test_eviction_reclaim_ignores_low_threshold() -> None:
    """Eviction reclaim targets math.MaxInt64 bytes, so every eligible image goes, below the low threshold too."""
    images = [ImageInfo(f"img-{i}", GB) for i in range(5)]
    detector = ImageDetector("1.31", kubelet_start=T0)
    detector.detect(images, [], T0)
    result = plan_delete_unused_images(
        detector, ImageGCPolicy(), T0 + dt.timedelta(hours=1), images=images, containers=[]
    )

    assert result.trigger is Trigger.EVICTION_RECLAIM
    assert result.target_bytes == UNLIMITED_BYTES
    assert len(result.removed) == 5
    assert all(c.trigger is Trigger.EVICTION_RECLAIM for c in result.removed)


def test_restart_resets_ages() -> None:
    """Records live in memory, so after a restart (1.30+) max-age GC waits a full max age and min age protects."""
    policy = ImageGCPolicy(minimum_gc_age_s=1200, maximum_gc_age_s=3600)
    sim = ImageGCSimulator(policy, "1.31", kubelet_start=T0)
    images = [ImageInfo("old", GB)]
    sim.detect(images, [], T0)
    restart = T0 + dt.timedelta(days=10)
    sim.restart(restart)
    sim.detect(images, [], restart)
    fs = FsStats(capacity_bytes=100 * GB, available_bytes=90 * GB)

    soon = sim.plan(restart + dt.timedelta(seconds=10), fs)
    reclaim = sim.plan_delete_unused(restart + dt.timedelta(seconds=10))
    later = sim.plan(restart + dt.timedelta(seconds=3601), fs)

    assert soon.removed == []
    assert any("2026-01-11T01:00:00Z" in note for note in soon.notes)
    assert [c.outcome for c in reclaim.candidates] == [Outcome.YOUNGER_THAN_MIN_AGE]
    assert [c.trigger for c in later.removed] == [Trigger.MAX_AGE]
