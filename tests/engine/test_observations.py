"""Observations and threshold bookkeeping restating the kubelet's helpers_test.go.

Sources: kubernetes pkg/kubelet/eviction/helpers_test.go (1.30-1.35) TestMakeSignalObservations,
TestThresholdsMet, TestThresholdsUpdatedStats, TestThresholdsFirstObservedAt,
TestThresholdsMetGracePeriod, TestNodeConditionsLastObservedAt, TestNodeConditionsObservedSince,
TestSortByEvictionPriority and TestGetReclaimableThreshold.
"""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

import pytest

from simulator.engine.observations import Observation, make_observations, missing_signal_notes
from simulator.engine.thresholds import (
    merge_thresholds,
    node_conditions,
    node_conditions_last_observed_at,
    node_conditions_observed_since,
    reclaimable_threshold,
    sort_by_eviction_priority,
    thresholds_first_observed_at,
    thresholds_met,
    thresholds_met_grace_period,
    thresholds_updated_stats,
)
from simulator.errors import InputError
from simulator.policy.model import Threshold, ThresholdValue, round_to_float32
from simulator.quantity import Quantity
from simulator.signals import NodeCondition, Resource, Signal
from simulator.snapshot import ContainerStats, FsStats, MemoryStats, NodeStats, RlimitStats, Summary

NOW = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def q(text: str) -> int:
    return Quantity.parse(text).to_int_ceil()


def threshold(signal: Signal, value: str, *, grace_s: float = 0, min_reclaim: str | None = None) -> Threshold:
    """Build a quantity threshold such as ``memory.available<1Gi``."""
    min_value = ThresholdValue(quantity=Quantity.parse(min_reclaim)) if min_reclaim else None
    return Threshold(signal, ThresholdValue(quantity=Quantity.parse(value)), grace_s, min_value)


def full_summary() -> Summary:
    """TestMakeSignalObservations' summary."""
    return Summary(
        node=NodeStats(
            memory=MemoryStats(available_bytes=q("1Gi"), working_set_bytes=q("1Gi")),
            system_containers=[ContainerStats("pods", memory=MemoryStats(available_bytes=q("1Gi"), working_set_bytes=q("1Gi")))],
            fs=FsStats(available_bytes=1024, capacity_bytes=2048, inodes_free=1024, inodes=q("1Mi")),
            image_fs=FsStats(available_bytes=q("1Mi"), capacity_bytes=q("2Mi"), inodes_free=1024, inodes=q("1Mi")),
            container_fs=FsStats(available_bytes=q("2Mi"), capacity_bytes=q("8Mi"), inodes_free=2048, inodes=2048),
            rlimit=RlimitStats(maxpid=255816, curproc=1000),
        )
    )


def test_make_observations_all_signals() -> None:
    """TestMakeSignalObservations: each signal's available and capacity."""
    observations = make_observations(full_summary())
    expected = {
        Signal.MEMORY_AVAILABLE: (q("1Gi"), q("2Gi")),
        Signal.ALLOCATABLE_MEMORY_AVAILABLE: (q("1Gi"), q("2Gi")),
        Signal.NODEFS_AVAILABLE: (1024, 2048),
        Signal.NODEFS_INODES_FREE: (1024, q("1Mi")),
        Signal.IMAGEFS_AVAILABLE: (q("1Mi"), q("2Mi")),
        Signal.IMAGEFS_INODES_FREE: (1024, q("1Mi")),
        Signal.CONTAINERFS_AVAILABLE: (q("2Mi"), q("8Mi")),
        Signal.CONTAINERFS_INODES_FREE: (2048, 2048),
        Signal.PID_AVAILABLE: (254816, 255816),
    }
    for signal, (available, capacity) in expected.items():
        assert observations[signal].available == available, signal
        assert observations[signal].capacity == capacity, signal


@pytest.mark.parametrize(
    ("section", "missing"),
    [
        ("memory", {Signal.MEMORY_AVAILABLE}),
        ("system_containers", {Signal.ALLOCATABLE_MEMORY_AVAILABLE}),
        ("fs", {Signal.NODEFS_AVAILABLE, Signal.NODEFS_INODES_FREE}),
        ("image_fs", {Signal.IMAGEFS_AVAILABLE, Signal.IMAGEFS_INODES_FREE}),
        ("container_fs", {Signal.CONTAINERFS_AVAILABLE, Signal.CONTAINERFS_INODES_FREE}),
        ("rlimit", {Signal.PID_AVAILABLE}),
    ],
)
def test_missing_section_drops_signals(section: str, missing: set[Signal]) -> None:
    """makeSignalObservations: a missing section leaves its signals unobserved, nothing else."""
    summary = full_summary()
    setattr(summary.node, section, [] if section == "system_containers" else None)
    observations = make_observations(summary)
    assert set(Signal) - set(observations) == missing
    notes = missing_signal_notes(summary, observations)
    assert len(notes) == len(missing)


def test_partial_fs_drops_only_that_signal() -> None:
    """A section with capacity but no inode numbers still yields the byte signal."""
    summary = full_summary()
    summary.node.fs = FsStats(available_bytes=10, capacity_bytes=20)
    observations = make_observations(summary)
    assert Signal.NODEFS_AVAILABLE in observations
    assert Signal.NODEFS_INODES_FREE not in observations


def test_pid_available_can_be_negative() -> None:
    """pid.available is maxpid - curproc as signed 64-bit, so it can go below zero."""
    summary = full_summary()
    summary.node.rlimit = RlimitStats(maxpid=100, curproc=150)
    assert make_observations(summary)[Signal.PID_AVAILABLE].available == -50


def test_absurd_number_rejected() -> None:
    """A value beyond int64 is rejected with the field named, instead of wrapping as in Go."""
    summary = full_summary()
    summary.node.fs = FsStats(available_bytes=2**64, capacity_bytes=2**64)
    with pytest.raises(InputError, match=r"node\.fs\.availableBytes"):
        make_observations(summary)


def test_thresholds_met_strictly_below() -> None:
    """TestThresholdsMet: met only when available < threshold; min-reclaim raises the bar."""
    memory = threshold(Signal.MEMORY_AVAILABLE, "1Gi", min_reclaim="500Mi")
    at = {Signal.MEMORY_AVAILABLE: Observation(q("1Gi"), q("2Gi"))}
    below = {Signal.MEMORY_AVAILABLE: Observation(q("1Gi") - 1, q("2Gi"))}
    reclaiming = {Signal.MEMORY_AVAILABLE: Observation(q("1.2Gi"), q("2Gi"))}
    assert thresholds_met([memory], at, enforce_min_reclaim=False) == []
    assert thresholds_met([memory], below, enforce_min_reclaim=False) == [memory]
    assert thresholds_met([memory], reclaiming, enforce_min_reclaim=False) == []
    assert thresholds_met([memory], reclaiming, enforce_min_reclaim=True) == [memory]
    assert thresholds_met([memory], {}, enforce_min_reclaim=False) == []


def test_percentage_threshold_uses_float32() -> None:
    """GetThresholdQuantity: 10% of 2Gi is 214748368 bytes because 10% is a float32."""
    ten_percent = Threshold(Signal.NODEFS_AVAILABLE, ThresholdValue(percentage=round_to_float32(Fraction(1, 10))))
    edge = {Signal.NODEFS_AVAILABLE: Observation(214748367, q("2Gi"))}
    above = {Signal.NODEFS_AVAILABLE: Observation(214748368, q("2Gi"))}
    assert thresholds_met([ten_percent], edge, enforce_min_reclaim=False) == [ten_percent]
    assert thresholds_met([ten_percent], above, enforce_min_reclaim=False) == []


@pytest.mark.parametrize(
    ("last_time", "new_time", "acted"),
    [
        (None, NOW, True),  # no previous observation
        (NOW, None, True),  # zero time: always acted on
        (NOW, NOW - dt.timedelta(minutes=1), False),  # older than last: "time machine"
        (NOW, NOW, False),  # equal: stats did not refresh
        (NOW, NOW + dt.timedelta(minutes=1), True),  # newer
    ],
    ids=["no-last", "zero-time", "time-machine", "equal", "newer"],
)
def test_thresholds_updated_stats(last_time: dt.datetime | None, new_time: dt.datetime | None, acted: bool) -> None:
    """TestThresholdsUpdatedStats."""
    memory = threshold(Signal.MEMORY_AVAILABLE, "1Gi")
    observations = {Signal.MEMORY_AVAILABLE: Observation(0, 1, new_time)}
    last = {} if last_time is None else {Signal.MEMORY_AVAILABLE: Observation(0, 1, last_time)}
    assert thresholds_updated_stats([memory], observations, last) == ([memory] if acted else [])


def test_thresholds_first_observed_at() -> None:
    """TestThresholdsFirstObservedAt: new thresholds get now, known ones keep their time."""
    memory = threshold(Signal.MEMORY_AVAILABLE, "1Gi")
    earlier = NOW - dt.timedelta(minutes=1)
    assert thresholds_first_observed_at([memory], {}, NOW) == {memory: NOW}
    assert thresholds_first_observed_at([memory], {memory: earlier}, NOW) == {memory: earlier}
    assert thresholds_first_observed_at([], {memory: earlier}, NOW) == {}


def test_thresholds_met_grace_period() -> None:
    """TestThresholdsMetGracePeriod."""
    hard = threshold(Signal.MEMORY_AVAILABLE, "1Gi")
    soft = threshold(Signal.MEMORY_AVAILABLE, "2Gi", grace_s=60)
    assert thresholds_met_grace_period({hard: NOW}, NOW) == [hard]
    assert thresholds_met_grace_period({soft: NOW}, NOW) == []
    assert thresholds_met_grace_period({soft: NOW - dt.timedelta(minutes=2)}, NOW) == [soft]


def test_node_conditions_last_observed_and_since() -> None:
    """TestNodeConditionsLastObservedAt and TestNodeConditionsObservedSince."""
    earlier = NOW - dt.timedelta(minutes=1)
    last = {NodeCondition.MEMORY_PRESSURE: earlier}
    assert node_conditions_last_observed_at([NodeCondition.MEMORY_PRESSURE], last, NOW) == {NodeCondition.MEMORY_PRESSURE: NOW}
    assert node_conditions_last_observed_at([], last, NOW) == last
    assert node_conditions_observed_since(last, 120, NOW) == [NodeCondition.MEMORY_PRESSURE]
    assert node_conditions_observed_since(last, 30, NOW) == []


def test_node_conditions_deduplicated() -> None:
    """nodeConditions: one condition per kind, soft thresholds included."""
    thresholds = [
        threshold(Signal.NODEFS_AVAILABLE, "1Gi"),
        threshold(Signal.IMAGEFS_AVAILABLE, "1Gi", grace_s=60),
        threshold(Signal.PID_AVAILABLE, "100"),
    ]
    assert node_conditions(thresholds) == [NodeCondition.DISK_PRESSURE, NodeCondition.PID_PRESSURE]


@pytest.mark.parametrize("memory_signal", [Signal.MEMORY_AVAILABLE, Signal.ALLOCATABLE_MEMORY_AVAILABLE])
def test_sort_by_eviction_priority(memory_signal: Signal) -> None:
    """TestSortByEvictionPriority: memory signals move to the front."""
    nodefs = threshold(Signal.NODEFS_AVAILABLE, "1Gi")
    pid = threshold(Signal.PID_AVAILABLE, "100")
    memory = threshold(memory_signal, "1Gi")
    assert sort_by_eviction_priority([nodefs, pid, memory])[0] == memory


def test_reclaimable_threshold() -> None:
    """TestGetReclaimableThreshold: the first threshold maps to its resource."""
    thresholds = [threshold(Signal.CONTAINERFS_AVAILABLE, "1Gi"), threshold(Signal.NODEFS_INODES_FREE, "100")]
    assert reclaimable_threshold(thresholds) == (thresholds[0], Resource.EPHEMERAL_STORAGE)
    assert reclaimable_threshold([]) is None


def test_merge_thresholds_ignores_min_reclaim() -> None:
    """mergeThresholds deduplicates by signal, value and grace period."""
    plain = threshold(Signal.MEMORY_AVAILABLE, "1Gi")
    with_reclaim = threshold(Signal.MEMORY_AVAILABLE, "1Gi", min_reclaim="100Mi")
    other = threshold(Signal.MEMORY_AVAILABLE, "2Gi")
    assert merge_thresholds([plain], [with_reclaim, other]) == [plain, other]
