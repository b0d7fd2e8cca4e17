"""Headroom arithmetic against the kubelet's threshold and image GC rules, byte for byte."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import pytest

from simulator.api.headroom import (
    HeadroomInputs,
    amount_until_below,
    filesystem_groups,
    image_gc_start_available,
    signal_headroom,
)
from simulator.api.observe import SignalObservation
from simulator.api.trend import given_trend
from simulator.policy.model import Threshold, ThresholdValue, round_to_float32, threshold_quantity
from simulator.quantity import Quantity
from simulator.signals import FsLayout, Signal

GI = 1024**3
MI = 1024**2


def percent(value: int) -> ThresholdValue:
    return ThresholdValue(percentage=round_to_float32(Fraction(value, 100)))


def kubelet_threshold_met(available: int, threshold: int) -> bool:
    """The kubelet's LessThan comparison: met only when available is strictly below."""
    return available < threshold


def kubelet_usage_percent(available: int, capacity: int) -> int:
    """image_gc_manager.go: usagePercent := 100 - int(available*100/capacity)."""
    return 100 - available * 100 // capacity


@pytest.mark.parametrize(
    ("value", "capacity", "expected"),
    [
        (10, 2 * GI, 214748368),
        (20, 1000 * MI, 209715203),
        (5, 1000 * MI, 52428800),
    ],
    ids=["10pct-of-2Gi", "20pct-of-1000Mi", "5pct-of-1000Mi"],
)
def test_percentage_threshold_float32(value: int, capacity: int, expected: int) -> None:
    """Percentages go through float32 (GetThresholdQuantity); expected values from the kubelet's rule."""
    assert threshold_quantity(percent(value), capacity) == expected


def test_amount_until_below_is_byte_exact() -> None:
    """Writing the returned amount meets the threshold; one byte less does not (strict LessThan)."""
    capacity, available = 2 * GI, 900 * MI
    threshold = threshold_quantity(percent(10), capacity)
    amount = amount_until_below(available, threshold)
    assert kubelet_threshold_met(available - amount, threshold)
    assert not kubelet_threshold_met(available - amount + 1, threshold)


def test_amount_until_below_already_met() -> None:
    assert amount_until_below(100, 101) == 0
    assert amount_until_below(101, 101) == 1


@pytest.mark.parametrize("capacity", [1000, 4096, 2 * GI + 7, 977896124416])
@pytest.mark.parametrize("high", [0, 1, 50, 85, 99, 100])
def test_image_gc_start_matches_usage_percent(capacity: int, high: int) -> None:
    """The start point is the largest available at which usagePercent >= high (image_gc_manager.go)."""
    start = image_gc_start_available(capacity, high)
    assert start is not None
    assert kubelet_usage_percent(start, capacity) >= high
    if start + 1 <= capacity:
        assert kubelet_usage_percent(start + 1, capacity) < high


def test_image_gc_start_zero_capacity() -> None:
    """The kubelet reports 'invalid capacity 0 on image filesystem' and frees nothing."""
    assert image_gc_start_available(0, 85) is None


def hard(signal: Signal, value: ThresholdValue, min_reclaim: ThresholdValue | None = None) -> Threshold:
    return Threshold(signal, value, 0.0, min_reclaim, text=f"{signal.value}<{value}")


def inputs(*thresholds: Threshold, reclaimable: dict[Signal, int] | None = None) -> HeadroomInputs:
    return HeadroomInputs(
        thresholds=thresholds,
        image_gc_high_threshold_percent=85,
        image_gc_low_threshold_percent=80,
        reclaimable_bytes=reclaimable or {},
    )


def test_headroom_imagefs_crossings() -> None:
    """imagefs: image GC at 85 % usage, then the 15 % hard threshold; eviction with nothing to reclaim."""
    capacity, available = 10 * GI, 5 * GI
    threshold = hard(Signal.IMAGEFS_AVAILABLE, percent(15))
    result = signal_headroom(Signal.IMAGEFS_AVAILABLE, SignalObservation(available, capacity), inputs(threshold))
    by_event = {c.event: c for c in result.crossings}
    assert [c.event for c in result.crossings] == ["image_gc", "hard_threshold", "eviction"]

    gc_at = available - by_event["image_gc"].amount
    assert kubelet_usage_percent(gc_at, capacity) >= 85
    assert kubelet_usage_percent(gc_at + 1, capacity) < 85

    limit = threshold_quantity(percent(15), capacity)
    assert by_event["hard_threshold"].at_available == limit - 1
    assert by_event["eviction"].amount == by_event["hard_threshold"].amount


def test_headroom_eviction_after_reclaim_with_min_reclaim() -> None:
    """Eviction needs available + reclaimed < threshold + minimum reclaim (reclaimNodeLevelResources)."""
    capacity, available = 10 * GI, 5 * GI
    threshold = hard(Signal.IMAGEFS_AVAILABLE, ThresholdValue(quantity=Quantity.parse("1Gi")),
                     ThresholdValue(quantity=Quantity.parse("500Mi")))
    reclaimable = 2 * GI
    result = signal_headroom(
        Signal.IMAGEFS_AVAILABLE,
        SignalObservation(available, capacity),
        inputs(threshold, reclaimable={Signal.IMAGEFS_AVAILABLE: reclaimable}),
    )
    eviction = next(c for c in result.crossings if c.event == "eviction")
    after = available - eviction.amount
    assert after + reclaimable < GI + 500 * MI
    assert not (after + 1 + reclaimable < GI + 500 * MI)


def test_headroom_reclaim_smaller_than_min_reclaim() -> None:
    """With little to reclaim the first eviction comes when the threshold is met, not before it."""
    threshold = hard(Signal.NODEFS_AVAILABLE, ThresholdValue(quantity=Quantity.parse("1Gi")),
                     ThresholdValue(quantity=Quantity.parse("2Gi")))
    result = signal_headroom(
        Signal.NODEFS_AVAILABLE,
        SignalObservation(5 * GI, 10 * GI),
        inputs(threshold, reclaimable={Signal.NODEFS_AVAILABLE: 0}),
    )
    by_event = {c.event: c for c in result.crossings}
    assert by_event["eviction"].amount == by_event["hard_threshold"].amount == 4 * GI + 1


def test_headroom_times_from_rate() -> None:
    """Crossing time is amount / rate for a positive rate."""
    threshold = hard(Signal.NODEFS_AVAILABLE, ThresholdValue(quantity=Quantity.parse("1Gi")))
    result = signal_headroom(
        Signal.NODEFS_AVAILABLE, SignalObservation(2 * GI, 10 * GI), inputs(threshold), trend=given_trend(1024.0)
    )
    crossing = next(c for c in result.crossings if c.event == "hard_threshold")
    assert crossing.seconds == pytest.approx((GI + 1) / 1024.0)


def test_eviction_checks_every_threshold_on_the_filesystem() -> None:
    """After reclaim the kubelet checks every threshold (reclaimNodeLevelResources).

    On one filesystem, nodefs.available<10Gi with a 10Gi minimum reclaim is still met after
    imagefs reclaim frees 2Gi, so the first imagefs eviction comes as soon as imagefs<15Gi is met.
    """
    imagefs = hard(Signal.IMAGEFS_AVAILABLE, ThresholdValue(quantity=Quantity.parse("15Gi")))
    nodefs = hard(Signal.NODEFS_AVAILABLE, ThresholdValue(quantity=Quantity.parse("10Gi")), ThresholdValue(quantity=Quantity.parse("10Gi")))
    observation = SignalObservation(40 * GI, 100 * GI)
    alone = inputs(imagefs, nodefs, reclaimable={Signal.IMAGEFS_AVAILABLE: 2 * GI})
    shared = dataclasses.replace(alone, same_filesystem=filesystem_groups(FsLayout.SINGLE))

    by_itself = next(c for c in signal_headroom(Signal.IMAGEFS_AVAILABLE, observation, alone).crossings if c.event == "eviction")
    together = next(c for c in signal_headroom(Signal.IMAGEFS_AVAILABLE, observation, shared).crossings if c.event == "eviction")
    assert by_itself.amount == 40 * GI + 2 * GI - 15 * GI + 1
    assert together.amount == 40 * GI - 15 * GI + 1


def test_eviction_blocked_by_other_met_threshold() -> None:
    """A threshold met on another resource makes every reclaim insufficient, so eviction comes at the trigger."""
    imagefs = hard(Signal.IMAGEFS_AVAILABLE, ThresholdValue(quantity=Quantity.parse("1Gi")))
    memory = Threshold(Signal.MEMORY_AVAILABLE, ThresholdValue(quantity=Quantity.parse("1Gi")), 60.0, text="memory.available<1Gi")
    blocked = dataclasses.replace(
        inputs(imagefs, memory, reclaimable={Signal.IMAGEFS_AVAILABLE: 5 * GI}), thresholds_met=(memory,)
    )
    eviction = next(c for c in signal_headroom(Signal.IMAGEFS_AVAILABLE, SignalObservation(10 * GI, 100 * GI), blocked).crossings if c.event == "eviction")
    assert eviction.amount == 9 * GI + 1
    assert "memory.available<1Gi" in eviction.note


def test_filesystem_groups_by_layout() -> None:
    assert Signal.NODEFS_AVAILABLE in filesystem_groups(FsLayout.SINGLE)[Signal.IMAGEFS_AVAILABLE]
    assert Signal.NODEFS_AVAILABLE not in filesystem_groups(FsLayout.DEDICATED_IMAGEFS)[Signal.IMAGEFS_AVAILABLE]
    assert filesystem_groups(FsLayout.SPLIT)[Signal.CONTAINERFS_AVAILABLE] == frozenset({Signal.NODEFS_AVAILABLE, Signal.CONTAINERFS_AVAILABLE})
