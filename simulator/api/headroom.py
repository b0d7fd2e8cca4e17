"""Headroom: how much more usage a signal takes before image GC, each threshold and eviction.

All amounts are in the signal's unit (bytes, inodes or pids). They assume that extra usage lowers
the signal's available amount one for one while its capacity stays the same, as writing files or
pulling images does to a filesystem.

The kubelet's rules, restated (kubernetes pkg/kubelet/eviction/helpers.go and
pkg/kubelet/images/image_gc_manager.go, 1.27-1.35):

- a threshold is met when available < threshold (strictly); a percentage threshold is
  int64(float64(capacity) * float64(float32 percent / 100)), so 10 % of 2 GiB is 214748368;
- periodic image GC runs when 100 - floor(available * 100 / capacity) >= the high threshold
  percent, on the image filesystem's stats;
- when a filesystem threshold is acted on, node-level reclaim runs first (container GC, then
  image GC with no byte limit). The kubelet evicts a pod only if, after reclaim, some threshold
  is still met with its minimum reclaim added (reclaimNodeLevelResources, which checks every
  configured threshold).

Signals on one filesystem (nodefs, imagefs and containerfs on a single-filesystem node) move
together, so a signal's eviction crossing considers the thresholds of all of them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Iterable, Mapping

from simulator.api.observe import SignalObservation
from simulator.api.trend import Trend
from simulator.policy.model import Threshold, threshold_quantity
from simulator.signals import COUNT_SIGNALS, FsLayout, Signal


def amount_until_below(available: int, threshold: int) -> int:
    """Return the extra usage after which available < threshold; 0 when it already is."""
    return max(0, available - threshold + 1)


def image_gc_start_available(capacity: int, high_threshold_percent: int) -> int | None:
    """Return the largest imagefs available amount at which periodic image GC runs.

    GC runs when floor(available * 100 / capacity) <= 100 - high, that is when
    available * 100 < (101 - high) * capacity. Returns None when capacity is 0, because the
    kubelet then reports an invalid capacity and frees nothing.
    """
    if capacity <= 0:
        return None
    limit = (101 - high_threshold_percent) * capacity
    largest = -(-limit // 100) - 1
    return min(largest, capacity)


def image_gc_bytes_to_free(available: int, capacity: int, low_threshold_percent: int) -> int:
    """Return how many bytes periodic image GC tries to free: down to the low threshold percent."""
    return capacity * (100 - low_threshold_percent) // 100 - available


# Events at the same amount are listed in the order the kubelet acts on them.
_EVENT_ORDER = {"image_gc": 0, "soft_threshold": 1, "hard_threshold": 2, "eviction": 3}


@dataclasses.dataclass(frozen=True, slots=True)
class Crossing:
    """The extra usage (``amount``) after which ``event`` happens, and when at the trend's rate."""

    event: str
    amount: int
    at_available: int
    threshold: str = ""
    seconds: float | None = None
    at_time: dt.datetime | None = None
    note: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class SignalHeadroom:
    """The crossings of one signal, nearest first."""

    signal: Signal
    unit: str
    available: int
    capacity: int
    crossings: tuple[Crossing, ...]
    trend: Trend | None


@dataclasses.dataclass(frozen=True, slots=True)
class HeadroomInputs:
    """The inputs of headroom besides observations.

    ``reclaimable_bytes`` is, per filesystem signal, how many bytes node-level reclaim would free
    on that signal's filesystem now. A signal missing from it has no reclaim step, as for memory,
    pids, and nodefs on a node with a dedicated imagefs. ``same_filesystem`` maps a signal to
    every signal on its filesystem (see filesystem_groups). ``thresholds_met`` are the thresholds
    met now, ignoring grace periods.
    """

    thresholds: tuple[Threshold, ...]
    image_gc_high_threshold_percent: int
    image_gc_low_threshold_percent: int
    reclaimable_bytes: Mapping[Signal, int]
    image_gc_enabled: bool = True
    same_filesystem: Mapping[Signal, frozenset[Signal]] = dataclasses.field(default_factory=dict)
    thresholds_met: tuple[Threshold, ...] = ()


# Signals that observe one filesystem, per layout: filling it moves all of them together.
_FILESYSTEM_GROUPS: dict[FsLayout, tuple[frozenset[Signal], ...]] = {
    FsLayout.SINGLE: (
        frozenset({Signal.NODEFS_AVAILABLE, Signal.IMAGEFS_AVAILABLE, Signal.CONTAINERFS_AVAILABLE}),
        frozenset({Signal.NODEFS_INODES_FREE, Signal.IMAGEFS_INODES_FREE, Signal.CONTAINERFS_INODES_FREE}),
    ),
    FsLayout.DEDICATED_IMAGEFS: (
        frozenset({Signal.IMAGEFS_AVAILABLE, Signal.CONTAINERFS_AVAILABLE}),
        frozenset({Signal.IMAGEFS_INODES_FREE, Signal.CONTAINERFS_INODES_FREE}),
    ),
    FsLayout.SPLIT: (
        frozenset({Signal.NODEFS_AVAILABLE, Signal.CONTAINERFS_AVAILABLE}),
        frozenset({Signal.NODEFS_INODES_FREE, Signal.CONTAINERFS_INODES_FREE}),
    ),
}


def filesystem_groups(layout: FsLayout) -> dict[Signal, frozenset[Signal]]:
    """Return, for each filesystem signal that shares its filesystem with others, the whole group."""
    groups: dict[Signal, frozenset[Signal]] = {}
    for group in _FILESYSTEM_GROUPS[layout]:
        for signal in group:
            groups[signal] = group
    return groups


def _label(threshold: Threshold) -> str:
    return threshold.text or threshold.describe()


def signal_unit(signal: Signal) -> str:
    if signal is Signal.PID_AVAILABLE:
        return "pids"
    if signal in COUNT_SIGNALS:
        return "inodes"
    return "bytes"


def _eviction_crossing(
    observation: SignalObservation,
    thresholds: list[Threshold],
    reclaimable: int | None,
    other_thresholds_met: tuple[str, ...],
) -> Crossing:
    """Find the extra usage after which the eviction manager evicts a pod.

    ``thresholds`` are those of every signal on the filesystem. The first one to be met triggers
    the pass (a soft one only after its grace period). With reclaim, eviction needs
    available + reclaimable < threshold + minimum reclaim for one of them, or any threshold on
    another resource met now, because the kubelet checks every threshold after reclaim.
    """
    available, capacity = observation.available, observation.capacity
    triggers = [(amount_until_below(available, threshold_quantity(t.value, capacity)), t) for t in thresholds]
    trigger_amount, trigger = min(triggers, key=lambda pair: pair[0])
    note = ""
    if not trigger.hard:
        note = f"after the soft threshold's grace period of {trigger.grace_period_s:g} s"
    if reclaimable is None:
        return Crossing("eviction", trigger_amount, available - trigger_amount, _label(trigger), note=note)
    if other_thresholds_met:
        blocked = f"reclaim cannot succeed while {', '.join(other_thresholds_met)} is met"
        note = f"{note}; {blocked}" if note else blocked
        return Crossing("eviction", trigger_amount, available - trigger_amount, _label(trigger), note=note)

    still_met_below = max(
        threshold_quantity(t.value, capacity)
        + (threshold_quantity(t.min_reclaim, capacity) if t.min_reclaim is not None else 0)
        for t in thresholds
    )
    after_reclaim_amount = amount_until_below(available + reclaimable, still_met_below)
    amount = max(trigger_amount, after_reclaim_amount)
    reclaim_note = f"node-level reclaim frees {reclaimable} bytes first"
    note = f"{note}; {reclaim_note}" if note else reclaim_note
    return Crossing("eviction", amount, available - amount, _label(trigger), note=note)


def signal_headroom(
    signal: Signal,
    observation: SignalObservation,
    inputs: HeadroomInputs,
    trend: Trend | None = None,
    now: dt.datetime | None = None,
) -> SignalHeadroom:
    """Compute the crossings of one signal, sorted by amount, with times when the trend allows."""
    available, capacity = observation.available, observation.capacity
    crossings: list[Crossing] = []

    if signal is Signal.IMAGEFS_AVAILABLE and inputs.image_gc_enabled:
        start = image_gc_start_available(capacity, inputs.image_gc_high_threshold_percent)
        if start is not None:
            amount = max(0, available - start)
            note = f"high threshold {inputs.image_gc_high_threshold_percent}%"
            crossings.append(Crossing("image_gc", amount, available - amount, note=note))

    own = [t for t in inputs.thresholds if t.signal == signal]
    for threshold in own:
        amount = amount_until_below(available, threshold_quantity(threshold.value, capacity))
        event = "hard_threshold" if threshold.hard else "soft_threshold"
        crossings.append(Crossing(event, amount, available - amount, _label(threshold)))
    group = inputs.same_filesystem.get(signal, frozenset({signal}))
    shared = [t for t in inputs.thresholds if t.signal in group]
    if shared:
        reclaimable = inputs.reclaimable_bytes.get(signal)
        others = tuple(_label(t) for t in inputs.thresholds_met if t.signal not in group)
        crossings.append(_eviction_crossing(observation, shared, reclaimable, others))

    if trend is not None:
        crossings = [_with_time(c, trend, now) for c in crossings]
    crossings.sort(key=lambda c: (c.amount, _EVENT_ORDER[c.event]))
    return SignalHeadroom(signal, signal_unit(signal), available, capacity, tuple(crossings), trend)


def _with_time(crossing: Crossing, trend: Trend, now: dt.datetime | None) -> Crossing:
    if crossing.amount == 0:
        return dataclasses.replace(crossing, seconds=0.0, at_time=now)
    if not trend.usable:
        return crossing
    seconds = crossing.amount / trend.rate_per_second
    if not math.isfinite(seconds):
        return crossing
    at_time = now + dt.timedelta(seconds=seconds) if now is not None and seconds < 1e10 else None
    return dataclasses.replace(crossing, seconds=seconds, at_time=at_time)


def node_headroom(
    observations: Mapping[Signal, SignalObservation],
    inputs: HeadroomInputs,
    trends: Mapping[Signal, Trend],
    *,
    signals: Iterable[Signal] | None = None,
    now: dt.datetime | None = None,
) -> list[SignalHeadroom]:
    """Compute headroom for each observed signal (or only ``signals``), in Signal order."""
    selected = set(signals) if signals is not None else set(observations)
    result = []
    for signal in Signal:
        if signal in selected and signal in observations:
            result.append(signal_headroom(signal, observations[signal], inputs, trends.get(signal), now))
    return result
