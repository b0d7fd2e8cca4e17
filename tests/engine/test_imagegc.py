"""Image GC against the kubelet's own cases, restated as data with a fake clock.

Unless a test's docstring names another source, the expected values come from kubernetes
``pkg/kubelet/images/image_gc_manager_test.go`` (1.30-1.35 sources) and the formulas of
``image_gc_manager.go``: usage = 100 - available*100 // capacity, target =
capacity*(100-low) // 100 - available.
"""

from __future__ import annotations

import datetime as dt

import pytest

from simulator.engine.imagegc import (
    UNLIMITED_BYTES,
    ImageDetector,
    ImageGCSimulator,
    Outcome,
    Trigger,
    format_size,
    plan_delete_unused_images,
    plan_image_gc,
    read_state_file,
    shortfall_message,
    validate_policy,
    write_state_file,
)
from simulator.engine.images import CONTAINER_EXITED, CONTAINER_RUNNING, ContainerInfo, ImageInfo
from simulator.errors import InputError
from simulator.policy.model import ImageGCPolicy
from simulator.snapshot import FsStats

T0 = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
NO_MIN_AGE = ImageGCPolicy(high_threshold_percent=90, low_threshold_percent=80, minimum_gc_age_s=0)


def image(index: int, size: int, *, pinned: bool = False) -> ImageInfo:
    return ImageInfo(id=f"image-{index}", size_bytes=size, pinned=pinned, repo_tags=(f"example/{index}:1",))


def container(index: int, *, state: str = CONTAINER_RUNNING) -> ContainerInfo:
    return ContainerInfo(
        id=f"container-{index}",
        pod_sandbox_id="sandbox",
        name=f"c{index}",
        state=state,
        created_at_ns=0,
        image_id=f"image-{index}",
    )


def seconds(value: float) -> dt.timedelta:
    return dt.timedelta(seconds=value)


def outcomes(result) -> dict[str, Outcome]:
    return {candidate.image_id: candidate.outcome for candidate in result.candidates}


class TestDetection:
    def test_initial_detect_records(self) -> None:
        """TestDetectImagesInitialDetect: 3 records; used images get lastUsed, image 0 keeps zero time."""
        detector = ImageDetector("1.31", kubelet_start=T0)
        detector.detect([image(0, 1024), image(1, 2048), image(2, 2048)], [container(1), container(2)], T0)

        assert len(detector.records) == 3
        assert detector.records["image-0"].last_used is None
        assert detector.records["image-1"].last_used == T0
        assert detector.records["image-2"].last_used == T0
        assert detector.records["image-0"].first_detected == T0

    def test_new_image_detected_later(self) -> None:
        """TestDetectImagesWithNewImage: a new image gets the later detection time, others keep theirs."""
        detector = ImageDetector("1.31", kubelet_start=T0)
        detector.detect([image(0, 1024), image(1, 2048)], [container(1)], T0)
        later = T0 + seconds(1)
        detector.detect([image(0, 1024), image(1, 2048), image(2, 1024)], [container(1)], later)

        assert detector.records["image-2"].first_detected == later
        assert detector.records["image-0"].first_detected == T0
        assert detector.records["image-1"].first_detected == T0
        assert detector.records["image-1"].last_used == later

    def test_stopped_container_keeps_last_used(self) -> None:
        """TestDetectImagesContainerStopped: lastUsed is kept when the container list empties."""
        detector = ImageDetector("1.31", kubelet_start=T0)
        detector.detect([image(0, 1024), image(1, 2048)], [container(1)], T0)
        detector.detect([image(0, 1024), image(1, 2048)], [], T0 + seconds(5))

        assert detector.records["image-1"].last_used == T0

    def test_removed_images_dropped(self) -> None:
        """TestDetectImagesWithRemovedImages: records of images that disappeared are dropped."""
        detector = ImageDetector("1.31", kubelet_start=T0)
        detector.detect([image(0, 1024), image(1, 2048)], [container(1)], T0)
        detector.detect([], [], T0 + seconds(1))

        assert detector.records == {}

    def test_exited_container_marks_in_use(self) -> None:
        """detectImages lists all containers (GetPods(all=true)), so an exited container's image is in use too."""
        detector = ImageDetector("1.31", kubelet_start=T0)
        detection = detector.detect([image(0, 1024)], [container(0, state=CONTAINER_EXITED)], T0)

        assert detection.in_use == {"image-0": Outcome.IN_USE_EXITED}
        assert detector.records["image-0"].last_used == T0

    def test_size_and_pinned_follow_runtime(self) -> None:
        """Size and pinned are overwritten on every detection (image_gc_manager.go detectImages)."""
        detector = ImageDetector("1.31", kubelet_start=T0)
        detector.detect([image(0, 1024)], [], T0)
        detector.detect([image(0, 4096, pinned=True)], [], T0 + seconds(1))

        assert detector.records["image-0"].size_bytes == 4096
        assert detector.records["image-0"].pinned is True


class TestFreeSpace:
    """Cases that call freeSpace directly in the kubelet; here via DeleteUnusedImages or a forced pass."""

    def test_in_use_images_ignored(self) -> None:
        """TestFreeSpaceImagesInUseContainersAreIgnored: target 2048 frees 1024, image 1 in use stays."""
        detector = ImageDetector("1.31", kubelet_start=T0)
        detector.detect([image(0, 1024), image(1, 2048)], [container(1)], T0)
        result = _forced_pass(detector, NO_MIN_AGE, T0 + seconds(1), target=2048, containers=[container(1)])

        assert result.bytes_freed == 1024
        assert outcomes(result) == {"image-0": Outcome.REMOVED, "image-1": Outcome.IN_USE_RUNNING}

    def test_delete_unused_removes_all_unused(self) -> None:
        """TestDeleteUnusedImagesRemoveAllUnusedImages: only the in-use image 2 is left."""
        detector = ImageDetector("1.31", kubelet_start=T0)
        images = [image(0, 1024), image(1, 2048), image(2, 2048)]
        result = plan_delete_unused_images(detector, NO_MIN_AGE, T0, images=images, containers=[container(2)])

        assert result.trigger is Trigger.EVICTION_RECLAIM
        assert result.target_bytes == UNLIMITED_BYTES
        assert result.bytes_freed == 3072
        assert [c.image_id for c in result.removed] == ["image-0", "image-1"]

    def test_delete_unused_limited_by_min_age(self) -> None:
        """TestDeleteUnusedImagesLimitByImageLiveTime: min age 3 s protects all, then only the in-use one stays."""
        policy = ImageGCPolicy(minimum_gc_age_s=3)
        detector = ImageDetector("1.31", kubelet_start=T0)
        images = [image(0, 1024), image(1, 2048), image(2, 2048)]
        detector.detect(images, [container(2)], T0)

        first = plan_delete_unused_images(detector, policy, T0, images=images, containers=[container(2)])
        later = plan_delete_unused_images(
            detector, policy, T0 + seconds(3), images=images, containers=[container(2)]
        )

        assert first.bytes_freed == 0
        assert outcomes(first)["image-0"] is Outcome.YOUNGER_THAN_MIN_AGE
        assert later.bytes_freed == 3072
        assert outcomes(later)["image-2"] is Outcome.IN_USE_RUNNING

    def test_least_recently_used_first(self) -> None:
        """TestFreeSpaceRemoveByLeastRecentlyUsed: image 0 used earlier goes first; target 1024 frees 1024."""
        detector = ImageDetector("1.31", kubelet_start=T0)
        images = [image(0, 1024), image(1, 2048)]
        detector.detect(images, [container(0), container(1)], T0)
        detector.detect(images, [container(1)], T0 + seconds(1))
        detector.detect(images, [], T0 + seconds(2))
        result = _forced_pass(detector, NO_MIN_AGE, T0 + seconds(62), target=1024)

        assert result.bytes_freed == 1024
        assert outcomes(result) == {"image-0": Outcome.REMOVED, "image-1": Outcome.TARGET_REACHED}

    def test_ties_broken_by_detected_time(self) -> None:
        """TestFreeSpaceTiesBrokenByDetectedTime: never-used image 1 has the oldest lastUsed and goes first."""
        detector = ImageDetector("1.31", kubelet_start=T0)
        detector.detect([image(0, 1024)], [container(0)], T0)
        detector.detect([image(0, 1024), image(1, 2048)], [container(0)], T0 + seconds(1))
        detector.detect([image(0, 1024), image(1, 2048)], [], T0 + seconds(2))
        result = _forced_pass(detector, NO_MIN_AGE, T0 + seconds(3), target=1024)

        assert result.bytes_freed == 2048
        assert [c.image_id for c in result.removed] == ["image-1"]

    def test_equal_last_used_earlier_detected_first(self) -> None:
        """byLastUsedAndDetected: equal lastUsed (both never used) orders by firstDetected."""
        detector = ImageDetector("1.31", kubelet_start=T0)
        detector.detect([image(5, 10)], [], T0 + seconds(1))
        detector.detect([image(5, 10), image(4, 10)], [], T0 + seconds(2))
        result = _forced_pass(detector, NO_MIN_AGE, T0 + seconds(3), target=10)

        assert [c.image_id for c in result.removed] == ["image-5"]

    @pytest.mark.parametrize(
        ("pinned", "target", "freed", "left"),
        [
            pytest.param((True, False), 4096, 1024, 1, id="TestDoNotDeletePinnedImage"),
            pytest.param((False, False), 2048, 2048, 0, id="TestDeleteUnPinnedImage"),
            pytest.param((True, True), 2048, 0, 2, id="TestAllPinnedImages"),
        ],
    )
    def test_pinned_images(self, pinned: tuple[bool, bool], target: int, freed: int, left: int) -> None:
        """The pinned-image cases: two 1024-byte images, pinned ones are never candidates."""
        detector = ImageDetector("1.31", kubelet_start=T0)
        detector.detect([image(0, 1024, pinned=pinned[0]), image(1, 1024, pinned=pinned[1])], [], T0)
        result = _forced_pass(detector, NO_MIN_AGE, T0 + seconds(1), target=target)

        assert result.bytes_freed == freed
        assert len(result.candidates) - len(result.removed) == left

    def test_pinned_sandbox_image_kept(self) -> None:
        """TestDeleteUnusedImagesExemptSandboxImage: a pinned pause image survives delete-all-unused."""
        detector = ImageDetector("1.31", kubelet_start=T0)
        pause = ImageInfo(
            id="sha256:pause", size_bytes=2048, pinned=True, repo_tags=("registry.k8s.io/pause:3.9",)
        )
        result = plan_delete_unused_images(detector, NO_MIN_AGE, T0, images=[pause], containers=[])

        assert result.bytes_freed == 0
        assert outcomes(result) == {"sha256:pause": Outcome.PINNED}

    def test_not_old_enough_then_old_enough(self) -> None:
        """TestGarbageCollectImageNotOldEnough: min age 1 m frees 0, then 1024 after the clock moves 1 m."""
        policy = ImageGCPolicy(high_threshold_percent=90, low_threshold_percent=80, minimum_gc_age_s=60)
        detector = ImageDetector("1.31", kubelet_start=T0)
        detector.detect([image(0, 1024), image(1, 2048)], [container(1)], T0)

        first = _forced_pass(detector, policy, T0, target=1024, containers=[container(1)])
        second = _forced_pass(detector, policy, T0 + seconds(60), target=1024, containers=[container(1)])

        assert first.bytes_freed == 0
        assert outcomes(first)["image-0"] is Outcome.YOUNGER_THAN_MIN_AGE
        assert second.bytes_freed == 1024


class TestGarbageCollect:
    def test_below_low_threshold(self) -> None:
        """TestGarbageCollectBelowLowThreshold: 40 % usage with high 90 needs no GC and no error."""
        result = _gc([image(0, 100)], [], FsStats(capacity_bytes=1000, available_bytes=600))

        assert result.usage_percent == 40
        assert result.error is None
        assert result.target_bytes == 0
        assert outcomes(result) == {"image-0": Outcome.NOT_NEEDED}

    def test_stats_failure(self) -> None:
        """TestGarbageCollectCadvisorFailure: no image filesystem stats is an error."""
        result = _gc([image(0, 100)], [], None)

        assert result.error is not None

    def test_below_success(self) -> None:
        """TestGarbageCollectBelowSuccess: 95 % usage, target 150, a 450-byte image frees enough."""
        result = _gc([image(0, 450)], [], FsStats(capacity_bytes=1000, available_bytes=50))

        assert result.usage_percent == 95
        assert result.target_bytes == 150
        assert result.bytes_freed == 450
        assert result.error is None

    def test_not_enough_freed(self) -> None:
        """TestGarbageCollectNotEnoughFreed: a 50-byte image cannot free 150 bytes, so GC fails."""
        result = _gc([image(0, 50)], [], FsStats(capacity_bytes=1000, available_bytes=50), version="1.31")

        assert result.shortfall_bytes == 100
        assert result.event_reason == "FreeDiskSpaceFailed"
        assert result.error == (
            "Failed to garbage collect required amount of images. "
            "Attempted to free 150 bytes, but only found 50 bytes eligible to free."
        )

    def test_capacity_zero(self) -> None:
        """image_gc_manager.go GarbageCollect: capacity 0 fails with InvalidDiskCapacity."""
        result = _gc([image(0, 50)], [], FsStats(capacity_bytes=0, available_bytes=0))

        assert result.error == "invalid capacity 0 on image filesystem"
        assert result.event_reason == "InvalidDiskCapacity"

    def test_available_capped_at_capacity(self) -> None:
        """GarbageCollect lowers available to capacity when stats report more available than capacity."""
        result = _gc([image(0, 50)], [], FsStats(capacity_bytes=1000, available_bytes=5000))

        assert result.available_bytes == 1000
        assert result.usage_percent == 0

    def test_usage_rounds_up(self) -> None:
        """Integer math: available 15.9 % of capacity reads as 85 % usage, so GC starts below 16 % free."""
        result = _gc(
            [image(0, 50)],
            [],
            FsStats(capacity_bytes=1000, available_bytes=159),
            policy=ImageGCPolicy(minimum_gc_age_s=0),
        )

        assert result.usage_percent == 85
        assert result.target_bytes == 1000 * 20 // 100 - 159

    def test_hand_derived_target(self) -> None:
        """Fact sheet hand check: 100 GiB, 15998753177 available, 85/80: usage 86, target 5476083303."""
        capacity = 100 * 1024**3
        result = _gc(
            [image(0, 50)],
            [],
            FsStats(capacity_bytes=capacity, available_bytes=15998753177),
            policy=ImageGCPolicy(),
        )

        assert result.usage_percent == 86
        assert result.target_bytes == 5476083303

    def test_non_image_bytes_reported(self) -> None:
        """Used space not explained by image sizes is reported, so an operator sees GC cannot help."""
        result = _gc([image(0, 100)], [container(0)], FsStats(capacity_bytes=1000, available_bytes=50))

        assert result.images_bytes == 100
        assert result.non_image_bytes == 1000 - 50 - 100
        assert result.bytes_freed == 0

    def test_zero_target_still_removes_one(self) -> None:
        """freeSpace checks freed >= target after each deletion, so a target of 0 still deletes one image."""
        policy = ImageGCPolicy(high_threshold_percent=85, low_threshold_percent=85, minimum_gc_age_s=0)
        result = _gc(
            [image(0, 10), image(1, 10)], [], FsStats(capacity_bytes=1000, available_bytes=150), policy=policy
        )

        assert result.usage_percent == 85
        assert result.target_bytes == 0
        assert len(result.removed) == 1
        assert result.error is None

    def test_disabled_at_high_100(self) -> None:
        """kubelet.go: high threshold 100 and no max age means periodic GC never starts."""
        policy = ImageGCPolicy(high_threshold_percent=100, low_threshold_percent=80)
        result = _gc([image(0, 100)], [], FsStats(capacity_bytes=1000, available_bytes=0), policy=policy)

        assert result.ran is False
        assert "disabled" in result.disabled_reason
        assert result.candidates == []

    def test_high_100_with_max_age_runs(self) -> None:
        """With a max age, high 100 still runs the max-age pass; full disk reads as 100 % usage."""
        policy = ImageGCPolicy(high_threshold_percent=100, low_threshold_percent=80, maximum_gc_age_s=60)
        detector = ImageDetector("1.31", kubelet_start=T0)
        detector.detect([image(0, 100)], [], T0)
        result = plan_image_gc(
            detector,
            policy,
            T0 + seconds(120),
            FsStats(capacity_bytes=1000, available_bytes=0),
            images=[image(0, 100)],
            containers=[],
        )

        assert result.ran is True
        assert result.usage_percent == 100
        assert outcomes(result)["image-0"] is Outcome.REMOVED

    def test_stops_once_target_met(self) -> None:
        """freeSpace stops as soon as freed >= target; later candidates stay."""
        images = [image(0, 100), image(1, 100), image(2, 100)]
        detector = ImageDetector("1.31", kubelet_start=T0)
        for step, index in enumerate((0, 1, 2)):
            detector.detect(images, [container(index)], T0 + seconds(step))
        result = plan_image_gc(
            detector,
            NO_MIN_AGE,
            T0 + seconds(10),
            FsStats(capacity_bytes=1000, available_bytes=50),
            images=images,
            containers=[],
        )

        assert result.target_bytes == 150
        assert [c.image_id for c in result.removed] == ["image-0", "image-1"]
        assert outcomes(result)["image-2"] is Outcome.TARGET_REACHED

    def test_shortfall_text_135(self) -> None:
        """1.35 FreeDiskSpaceFailed text, with formatSize of the capacity (1.35 image_gc_manager.go)."""
        capacity = 10 * 1024**3
        result = _gc(
            [image(0, 50)],
            [],
            FsStats(capacity_bytes=capacity, available_bytes=capacity // 20),
            version="1.35",
        )

        assert result.error == (
            "Insufficient free disk space on the node's image filesystem (95% of 10.0 GiB used). "
            "Failed to free sufficient space by deleting unused images (freed 50 bytes). "
            "Investigate disk usage, as it could be used by active images, logs, volumes, or other data."
        )


class TestMaxAge:
    def test_image_too_old(self) -> None:
        """TestGarbageCollectImageTooOld: kept at uptime 0, removed once unused for MaxAge + 1 ns."""
        policy = ImageGCPolicy(
            high_threshold_percent=90, low_threshold_percent=80, minimum_gc_age_s=0, maximum_gc_age_s=60
        )
        images = [image(0, 1024), image(1, 2048)]
        detector = ImageDetector("1.31", kubelet_start=T0)
        detector.detect(images, [container(0), container(1)], T0)
        fs = FsStats(capacity_bytes=10_000, available_bytes=9_000)

        first = plan_image_gc(detector, policy, T0, fs, images=images, containers=[container(1)])
        second = plan_image_gc(
            detector,
            policy,
            T0 + seconds(60) + dt.timedelta(microseconds=1),
            fs,
            images=images,
            containers=[container(1)],
        )

        assert first.removed == []
        assert [c.image_id for c in second.removed] == ["image-0"]
        assert second.trigger is Trigger.MAX_AGE
        assert second.max_age_bytes_freed == 1024

    def test_max_age_strict(self) -> None:
        """freeOldImages compares with >: unused for exactly the max age is kept."""
        policy = ImageGCPolicy(minimum_gc_age_s=0, maximum_gc_age_s=60)
        detector = ImageDetector("1.31", kubelet_start=T0 - seconds(3600))
        detector.detect([image(0, 10)], [container(0)], T0)
        result = plan_image_gc(
            detector,
            policy,
            T0 + seconds(60),
            FsStats(capacity_bytes=1000, available_bytes=900),
            images=[image(0, 10)],
            containers=[],
        )

        assert result.removed == []

    def test_max_age_ignores_min_age(self) -> None:
        """The max-age pass does not check the min age: a never-used image goes once uptime passes."""
        policy = ImageGCPolicy(minimum_gc_age_s=3600, maximum_gc_age_s=60)
        detector = ImageDetector("1.31", kubelet_start=T0)
        result = plan_image_gc(
            detector,
            policy,
            T0 + seconds(61),
            FsStats(capacity_bytes=1000, available_bytes=900),
            images=[image(0, 10)],
            containers=[],
        )

        assert [c.trigger for c in result.removed] == [Trigger.MAX_AGE]

    def test_max_age_disabled(self) -> None:
        """TestGarbageCollectImageMaxAgeDisabled: MaxAge 0 removes nothing even far in the future."""
        policy = ImageGCPolicy(minimum_gc_age_s=0, maximum_gc_age_s=0)
        detector = ImageDetector("1.31", kubelet_start=T0)
        detector.detect([image(0, 1024)], [], T0)
        far = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)
        result = plan_image_gc(
            detector,
            policy,
            far,
            FsStats(capacity_bytes=1000, available_bytes=900),
            images=[image(0, 1024)],
            containers=[],
        )

        assert result.removed == []

    def test_max_age_gate_off_in_129(self) -> None:
        """ImageMaximumGCAge is alpha (off) in 1.29: the max age has no effect unless the gate is on."""
        policy = ImageGCPolicy(minimum_gc_age_s=0, maximum_gc_age_s=60)
        fs = FsStats(capacity_bytes=1000, available_bytes=900)
        off = plan_image_gc(
            ImageDetector("1.29", kubelet_start=T0),
            policy,
            T0 + seconds(600),
            fs,
            images=[image(0, 10)],
            containers=[],
        )
        on = plan_image_gc(
            ImageDetector("1.29", kubelet_start=T0),
            policy,
            T0 + seconds(600),
            fs,
            images=[image(0, 10)],
            containers=[],
            feature_gates={"ImageMaximumGCAge": True},
        )

        assert off.removed == []
        assert len(on.removed) == 1


class TestRestart:
    """Kubelet restart: the records live in memory only, and Start() decides the first detection time."""

    def test_min_age_protects_after_restart_130(self) -> None:
        """1.30+: the first detection after a start records the current time, so min age protects."""
        sim = ImageGCSimulator(ImageGCPolicy(minimum_gc_age_s=600), "1.31", kubelet_start=T0)
        images = [image(0, 100)]
        sim.detect(images, [], T0)
        sim.restart(T0 + seconds(3600))
        sim.detect(images, [], T0 + seconds(3600))
        result = sim.plan_delete_unused(T0 + seconds(3610))

        assert outcomes(result)["image-0"] is Outcome.YOUNGER_THAN_MIN_AGE

    def test_min_age_lost_after_restart_128(self) -> None:
        """Up to 1.29 the first detection records zero time: images are deletable seconds after a restart."""
        sim = ImageGCSimulator(ImageGCPolicy(minimum_gc_age_s=1200), "1.28", kubelet_start=T0)
        images = [image(0, 100)]
        sim.restart(T0 + seconds(3600))
        sim.detect(images, [], T0 + seconds(3600))
        result = sim.plan_delete_unused(T0 + seconds(3610))

        assert sim.detector.records["image-0"].first_detected is None
        assert outcomes(result)["image-0"] is Outcome.REMOVED

    def test_max_age_waits_after_restart(self) -> None:
        """1.30+ freeOldImages: max-age GC waits until the kubelet has run longer than the max age."""
        policy = ImageGCPolicy(minimum_gc_age_s=0, maximum_gc_age_s=600)
        sim = ImageGCSimulator(policy, "1.31", kubelet_start=T0)
        restart = T0 + seconds(7200)
        sim.restart(restart)
        sim.detect([image(0, 100)], [], restart)
        fs = FsStats(capacity_bytes=1000, available_bytes=900)

        early = sim.plan(restart + seconds(600), fs)
        late = sim.plan(restart + seconds(601), fs)

        assert early.removed == []
        assert any("earliest age-based deletion" in note for note in early.notes)
        assert len(late.removed) == 1

    def test_state_file_round_trip(self, tmp_path) -> None:
        """write_state_file and read_state_file keep records, zero times and the start time."""
        detector = ImageDetector("1.28", kubelet_start=T0)
        detector.detect([image(0, 100)], [], T0)
        path = tmp_path / "state.json"
        write_state_file(detector, path)
        restored = read_state_file(path)

        assert restored.records["image-0"].first_detected is None
        assert restored.records == detector.records
        assert restored.kubelet_version == "1.28"

    def test_state_file_invalid(self, tmp_path) -> None:
        """A state file with a bad time names the field."""
        path = tmp_path / "state.json"
        path.write_text('{"kind": "ImageGCState", "kubeletVersion": "1.31", "kubeletStart": "yesterday"}')
        with pytest.raises(InputError, match="kubeletStart"):
            read_state_file(path)

    def test_state_round_trip(self) -> None:
        """The exported state restores the same records and start time."""
        detector = ImageDetector("1.31", kubelet_start=T0)
        detector.detect([image(0, 100), image(1, 5)], [container(1)], T0 + seconds(5))
        restored = ImageDetector.from_json(detector.to_json())

        assert restored.kubelet_start == T0
        assert restored.records == detector.records


class TestPolicyValidation:
    @pytest.mark.parametrize(
        ("high", "low", "message"),
        [
            pytest.param(2, 1, None, id="low-below-high"),
            pytest.param(
                -1, 0, "invalid HighThresholdPercent -1, must be in range [0-100]", id="high-negative"
            ),
            pytest.param(101, 0, "invalid HighThresholdPercent 101, must be in range [0-100]", id="high-101"),
            pytest.param(
                0, -1, "invalid LowThresholdPercent -1, must be in range [0-100]", id="low-negative"
            ),
            pytest.param(0, 101, "invalid LowThresholdPercent 101, must be in range [0-100]", id="low-101"),
            pytest.param(
                1, 2, "LowThresholdPercent 2 can not be higher than HighThresholdPercent 1", id="low-above"
            ),
        ],
    )
    def test_validate(self, high: int, low: int, message: str | None) -> None:
        """TestValidateImageGCPolicy: the image GC manager's own messages."""
        policy = ImageGCPolicy(high_threshold_percent=high, low_threshold_percent=low)
        if message is None:
            validate_policy(policy)
            return
        with pytest.raises(InputError) as error:
            validate_policy(policy)
        assert str(error.value) == message


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (512, "512 B"),
        (2048, "2.0 KiB"),
        (10 * 1024**3, "10.0 GiB"),
        (int(26.4 * 1024**3), "26.4 GiB"),
        (3 * 1024**4, "3.0 TiB"),
    ],
)
def test_format_size(size: int, text: str) -> None:
    """formatSize in 1.35's image_gc_manager.go: one decimal, binary units, whole bytes below 1 KiB."""
    assert format_size(size) == text


def test_shortfall_message_versions() -> None:
    """1.34 keeps the 'Attempted to free' text; 1.35 switches to the usage text."""
    old = shortfall_message("v1.34.2", target_bytes=10, freed_bytes=0, usage_percent=90, capacity_bytes=100)
    new = shortfall_message("1.35.0", target_bytes=10, freed_bytes=0, usage_percent=90, capacity_bytes=100)

    assert old.startswith("Failed to garbage collect required amount of images. Attempted to free 10 bytes")
    assert new.startswith("Insufficient free disk space on the node's image filesystem (90% of 100 B used)")


# ---------------------------------------------------------------------------------------------


def _gc(images, containers, fs, *, policy=NO_MIN_AGE, version="1.31"):
    detector = ImageDetector(version, kubelet_start=T0)
    return plan_image_gc(detector, policy, T0 + seconds(1), fs, images=images, containers=containers)


def _forced_pass(
    detector: ImageDetector,
    policy: ImageGCPolicy,
    now: dt.datetime,
    *,
    target: int,
    containers: list[ContainerInfo] | None = None,
):
    """Run freeSpace with a target of exactly ``target`` bytes: capacity ``target``, nothing available, low 0.

    Like the kubelet tests' getImagesAndFreeSpace, it detects again at ``now`` with the
    containers present then.
    """
    forced = ImageGCPolicy(
        high_threshold_percent=0, low_threshold_percent=0, minimum_gc_age_s=policy.minimum_gc_age_s
    )
    fs = FsStats(capacity_bytes=target, available_bytes=0)
    images = [
        ImageInfo(id=r.image_id, size_bytes=r.size_bytes, pinned=r.pinned) for r in detector.records.values()
    ]
    return plan_image_gc(detector, forced, now, fs, images=images, containers=containers or [])
