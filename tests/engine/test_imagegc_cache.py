"""Cached image GC paths give the same decisions as a detector that starts cold.

The image GC model caches the candidate order, built candidates and freeSpace walks between
passes, skips resyncing records when it is passed the same image tuple again, and renders reclaim
details only when they are read. Each test runs the same inputs through a warm detector and
through a fresh copy of its records, and compares the rendered results.

Boundary values come from kubernetes ``pkg/kubelet/images/image_gc_manager.go`` (1.30-1.35):
freeSpace skips an image while ``freeTime.Sub(image.firstDetected) < MinAge``, and the
max-age pass removes an image when ``freeTime.Sub(image.lastUsed) > MaxAge``.
"""

from __future__ import annotations

import datetime as dt
import json

from simulator.engine.containergc import PodState
from simulator.engine.gc_reclaimer import GCReclaimer, LazyDetails
from simulator.engine.imagegc import (
    ImageDetector,
    ImageGCSimulator,
    Outcome,
    plan_delete_unused_images,
    plan_image_gc,
)
from simulator.engine.images import CONTAINER_EXITED, CONTAINER_RUNNING, ContainerInfo, ImageInfo
from simulator.engine.reclaim import ReclaimStep
from simulator.policy.model import ContainerGCPolicy, ImageGCPolicy
from simulator.snapshot import FsStats

T0 = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
POLICY = ImageGCPolicy(high_threshold_percent=85, low_threshold_percent=80, minimum_gc_age_s=120)
IMAGE_FS = FsStats(capacity_bytes=10_000, available_bytes=1_000)


def make_images(count: int) -> tuple[ImageInfo, ...]:
    return tuple(
        ImageInfo(id=f"image-{index:03d}", size_bytes=100 + index, pinned=index % 7 == 0) for index in range(count)
    )


def make_container(index: int, image_id: str, state: str = CONTAINER_RUNNING) -> ContainerInfo:
    return ContainerInfo(
        id=f"container-{index}",
        pod_sandbox_id=f"sandbox-{index}",
        name=f"c{index}",
        state=state,
        created_at_ns=0,
        image_id=image_id,
        pod_uid=f"uid-{index}",
    )


def cold_copy(detector: ImageDetector) -> ImageDetector:
    """Return a detector with the same records and no cached state."""
    copy = ImageDetector.from_json(json.loads(json.dumps(detector.to_json())))
    copy.last_detection = detector.last_detection
    return copy


def test_repeated_passes_match_cold() -> None:
    images = make_images(40)
    warm = ImageGCSimulator(POLICY, "1.31", kubelet_start=T0)
    warm.detect(images, [], T0)
    now = T0
    for step, later in enumerate((0, 60, 60, 0, 300, 3600)):
        now += dt.timedelta(seconds=later)
        containers = [make_container(step, images[step * 3].id)]
        warm.detect(warm.images, containers, now)
        cold = cold_copy(warm.detector)

        warm_periodic = warm.plan(now, IMAGE_FS).to_json()
        cold_periodic = plan_image_gc(cold, POLICY, now, IMAGE_FS, images=list(images), containers=containers)
        assert warm_periodic == cold_periodic.to_json()

        warm_reclaim = warm.plan_delete_unused(now).to_json()
        cold_reclaim = plan_delete_unused_images(cold, POLICY, now, images=list(images), containers=containers)
        assert warm_reclaim == cold_reclaim.to_json()


def test_record_write_invalidates_cache() -> None:
    """Clearing firstDetected, as the offline CLI does, must reach the next pass."""
    images = make_images(10)
    simulator = ImageGCSimulator(POLICY, "1.31", kubelet_start=T0)
    simulator.detect(images, [], T0)
    young = simulator.plan_delete_unused(T0 + dt.timedelta(seconds=60))
    assert {c.outcome for c in young.candidates if not c.outcome == Outcome.PINNED} == {
        Outcome.YOUNGER_THAN_MIN_AGE
    }

    for record in simulator.detector.records.values():
        record.first_detected = None
    old = simulator.plan_delete_unused(T0 + dt.timedelta(seconds=60))
    assert {c.outcome for c in old.candidates if not c.outcome == Outcome.PINNED} == {Outcome.REMOVED}


def test_same_tuple_updates_last_used() -> None:
    """The detection fast path still sets lastUsed to now on every image in use."""
    images = make_images(5)
    simulator = ImageGCSimulator(POLICY, "1.31", kubelet_start=T0)
    simulator.detect(images, [], T0)
    later = T0 + dt.timedelta(minutes=5)
    simulator.detect(simulator.images, [make_container(1, "image-001", CONTAINER_EXITED)], later)
    records = simulator.detector.records
    assert records["image-001"].last_used == later
    assert records["image-002"].last_used is None


def test_restart_resyncs_records() -> None:
    images = make_images(5)
    simulator = ImageGCSimulator(POLICY, "1.31", kubelet_start=T0)
    simulator.detect(images, [], T0)
    restart = T0 + dt.timedelta(hours=1)
    simulator.restart(restart)
    simulator.detect(simulator.images, [], restart)
    assert len(simulator.detector.records) == 5
    assert simulator.detector.records["image-001"].first_detected == restart


def test_min_age_boundary() -> None:
    """An image first detected exactly MinAge ago is old enough (strict < in freeSpace)."""
    images = make_images(3)
    detector = ImageDetector("1.31", kubelet_start=T0)
    detector.detect(images, [], T0)
    at_min_age = plan_delete_unused_images(detector, POLICY, T0 + dt.timedelta(seconds=120), images=images)
    assert at_min_age.candidates[0].outcome == Outcome.REMOVED

    just_before = T0 + dt.timedelta(seconds=120) - dt.timedelta(microseconds=1)
    too_young = plan_delete_unused_images(detector, POLICY, just_before, images=images)
    assert too_young.candidates[0].outcome == Outcome.YOUNGER_THAN_MIN_AGE


def test_max_age_boundary() -> None:
    """An image unused for exactly MaxAge stays, and one microsecond more removes it (strict >)."""
    policy = ImageGCPolicy(high_threshold_percent=100, low_threshold_percent=80, maximum_gc_age_s=600)
    images = make_images(2)
    start = T0 - dt.timedelta(days=1)
    detector = ImageDetector("1.31", kubelet_start=start)
    detector.detect(images, [make_container(1, "image-001")], T0)
    detector.detect(images, [], T0)
    record = detector.records["image-001"]
    assert record.last_used == T0

    exactly = plan_image_gc(detector, policy, T0 + dt.timedelta(seconds=600), None, images=images)
    assert [c.outcome for c in exactly.candidates if c.image_id == "image-001"] == [Outcome.NOT_NEEDED]

    later = T0 + dt.timedelta(seconds=600, microseconds=1)
    removed = plan_image_gc(detector, policy, later, None, images=images)
    assert [c.outcome for c in removed.candidates if c.image_id == "image-001"] == [Outcome.REMOVED]


def test_huge_ages_do_not_overflow() -> None:
    """A min age reaching back past year 1 keeps every image young instead of raising."""
    policy = ImageGCPolicy(high_threshold_percent=85, low_threshold_percent=80, minimum_gc_age_s=1e11)
    images = make_images(2)
    detector = ImageDetector("1.31", kubelet_start=T0)
    detector.detect(images, [], T0)
    result = plan_delete_unused_images(detector, policy, T0, images=images)
    assert result.candidates[0].outcome == Outcome.YOUNGER_THAN_MIN_AGE


def test_lazy_details_render_once() -> None:
    calls: list[int] = []

    def render() -> dict[str, int]:
        calls.append(1)
        return {"bytesFreed": 5}

    details = LazyDetails(render)
    assert calls == []
    assert details["bytesFreed"] == 5
    assert details == {"bytesFreed": 5}
    assert len(calls) == 1

    step = ReclaimStep("imageGC", 5, details)
    assert json.dumps(step.to_json()) == '{"step": "imageGC", "bytesFreed": 5, "details": {"bytesFreed": 5}}'


def test_reclaimer_details_match_results() -> None:
    images = make_images(6)
    containers = [make_container(1, "image-001", CONTAINER_EXITED), make_container(2, "image-002")]
    simulator = ImageGCSimulator(POLICY, "1.31", kubelet_start=T0)
    simulator.detect(images, containers, T0)
    reclaimer = GCReclaimer(
        simulator,
        ContainerGCPolicy(),
        containers=containers,
        pod_states={"uid-1": PodState.TERMINATED, "uid-2": PodState.ACTIVE},
    )
    now = T0 + dt.timedelta(minutes=10)
    container_step = reclaimer.delete_unused_containers(now)
    image_step = reclaimer.delete_unused_images(now)

    assert reclaimer.last_container_result is not None
    assert reclaimer.last_image_result is not None
    assert container_step.to_json()["details"] == reclaimer.last_container_result.to_json()
    assert image_step.to_json()["details"] == reclaimer.last_image_result.to_json()
    outcomes = {c["imageId"]: c["outcome"] for c in image_step.details["candidates"]}
    assert outcomes["image-001"] == "removed"
    assert outcomes["image-002"] == "in_use_running"


def test_replaced_image_reaches_order() -> None:
    """A new image replacing a vanished one, with the record count unchanged, is a candidate."""
    first = (ImageInfo("image-a", 100), ImageInfo("image-b", 200))
    second = (ImageInfo("image-a", 100), ImageInfo("image-c", 300))
    detector = ImageDetector("1.31", kubelet_start=T0)
    now = T0 + dt.timedelta(hours=1)
    detector.detect(first, [], T0)
    before = plan_delete_unused_images(detector, POLICY, now, images=first)
    assert [c.image_id for c in before.candidates] == ["image-a", "image-b"]

    after = plan_delete_unused_images(detector, POLICY, now, images=second)
    assert [c.image_id for c in after.candidates] == ["image-a", "image-c"]
    assert after.candidates[1].outcome == Outcome.YOUNGER_THAN_MIN_AGE
