"""The API's view of one eviction-manager pass: observations, thresholds, conditions and victims.

Thresholds, node conditions and image GC are computed here from the Summary and the Policy
with the kubelet's rules, so a what-if needs only a Summary. Victims come from the engine's
decision when the sample carries one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Mapping
from typing import Any

from simulator.api.headroom import HeadroomInputs, filesystem_groups, image_gc_start_available
from simulator.api.observe import SignalObservation, observe_signals
from simulator.api.policy_adapter import containerfs_thresholds
from simulator.policy.model import Policy, Threshold, ThresholdValue, threshold_quantity
from simulator.signals import MEMORY_SIGNALS, SIGNAL_TO_CONDITION, FsLayout, Signal
from simulator.snapshot import FsStats, Summary, format_time


@dataclasses.dataclass(frozen=True, slots=True)
class ThresholdResult:
    """One threshold resolved against its signal's observation; ``met`` ignores the grace period."""

    threshold: Threshold
    amount: int
    observed_available: int
    met: bool


@dataclasses.dataclass(frozen=True)
class DecisionView:
    """The kubelet's decision on one Summary under one Policy.

    ``node_conditions`` are the conditions of the thresholds met on this pass. They ignore the
    pressure transition period, which would keep a condition set for a while after it clears.
    For the live sample the servicer uses the daemon's conditions instead, which include it.
    ``reclaim_signal`` is the signal an actionable threshold makes the kubelet reclaim for:
    memory signals first, then the first other one in signal order. ``engine`` is the engine's
    ``Decision`` (or its JSON) when the engine's pass ran, converted only by ``to_json``.
    """

    sampled_at: dt.datetime | None
    kubelet_version: str
    layout: FsLayout
    observations: Mapping[Signal, SignalObservation]
    thresholds: tuple[ThresholdResult, ...]
    signals_met: tuple[Signal, ...]
    node_conditions: tuple[str, ...]
    reclaim_signal: Signal | None
    image_gc_would_run: bool
    image_gc_bytes_to_free: int
    victims: tuple[Mapping[str, str], ...] = ()
    notes: tuple[str, ...] = ()
    engine: Any = None

    def to_json(self) -> dict[str, Any]:
        return {
            "sampledAt": format_time(self.sampled_at) if self.sampled_at else None,
            "kubeletVersion": self.kubelet_version,
            "layout": self.layout.value,
            "observations": {
                s.value: {"available": o.available, "capacity": o.capacity} for s, o in self.observations.items()
            },
            "thresholds": [
                {
                    "signal": r.threshold.signal.value,
                    "value": _value_text(r.threshold.value),
                    "threshold": r.amount,
                    "observedAvailable": r.observed_available,
                    "hard": r.threshold.hard,
                    "gracePeriodSeconds": r.threshold.grace_period_s,
                    "met": r.met,
                }
                for r in self.thresholds
            ],
            "signalsMet": [s.value for s in self.signals_met],
            "nodeConditions": list(self.node_conditions),
            "reclaimSignal": self.reclaim_signal.value if self.reclaim_signal else None,
            "imageGC": {"wouldRun": self.image_gc_would_run, "bytesToFree": self.image_gc_bytes_to_free},
            "victims": [dict(v) for v in self.victims],
            "notes": list(self.notes),
            "engine": _engine_json(self.engine),
        }


def headroom_inputs(view: DecisionView, policy: Policy, reclaimable_bytes: Mapping[Signal, int]) -> HeadroomInputs:
    """Collect what headroom needs from a decision: its thresholds, GC policy, layout and reclaim."""
    return HeadroomInputs(
        thresholds=tuple(r.threshold for r in view.thresholds),
        image_gc_high_threshold_percent=policy.image_gc.high_threshold_percent,
        image_gc_low_threshold_percent=policy.image_gc.low_threshold_percent,
        reclaimable_bytes=reclaimable_bytes,
        image_gc_enabled=policy.image_gc.high_threshold_percent < 100,
        same_filesystem=filesystem_groups(view.layout),
        thresholds_met=tuple(r.threshold for r in view.thresholds if r.met),
    )


def _engine_json(engine: Any) -> dict[str, Any] | None:
    if engine is None:
        return None
    if isinstance(engine, Mapping):
        return dict(engine)
    return engine.to_json()


@functools.lru_cache(maxsize=1024)
def _value_text(value: ThresholdValue) -> str:
    return str(value)


def _same_fs(a: FsStats | None, b: FsStats | None) -> bool:
    if a is None or b is None:
        return a is b
    return (a.capacity_bytes, a.available_bytes, a.inodes) == (b.capacity_bytes, b.available_bytes, b.inodes)


def detect_layout(summary: Summary) -> FsLayout:
    """Guess the filesystem layout from the Summary's numbers.

    NOTE: the kubelet compares device numbers; a Summary carries only sizes, so two distinct
    filesystems with identical numbers are taken as one.
    """
    node = summary.node
    image_fs = node.image_fs
    container_fs = node.container_fs if node.container_fs is not None else image_fs
    if image_fs is None or _same_fs(node.fs, image_fs):
        return FsLayout.SINGLE
    if _same_fs(container_fs, image_fs):
        return FsLayout.DEDICATED_IMAGEFS
    return FsLayout.SPLIT


def resolve_thresholds(
    thresholds: tuple[Threshold, ...], observations: Mapping[Signal, SignalObservation]
) -> tuple[ThresholdResult, ...]:
    """Resolve each threshold whose signal is observed; unobserved signals are skipped, as the kubelet does."""
    results = []
    for threshold in thresholds:
        observation = observations.get(threshold.signal)
        if observation is None:
            continue
        amount = threshold_quantity(threshold.value, observation.capacity)
        results.append(ThresholdResult(threshold, amount, observation.available, observation.available < amount))
    return tuple(results)


def _reclaim_signal(results: tuple[ThresholdResult, ...], elapsed_s: float) -> Signal | None:
    actionable = {r.threshold.signal for r in results if r.met and r.threshold.grace_period_s <= elapsed_s}
    return first_reclaim_signal(actionable)


def first_reclaim_signal(actionable: set[Signal]) -> Signal | None:
    """Return the signal the kubelet reclaims for among ``actionable``: memory signals first, then signal order."""
    for signal in sorted(MEMORY_SIGNALS):
        if signal in actionable:
            return signal
    for signal in Signal:
        if signal in actionable:
            return signal
    return None


def decide(
    summary: Summary,
    policy: Policy,
    *,
    sampled_at: dt.datetime | None = None,
    layout: FsLayout | None = None,
    elapsed_s: float = 0.0,
    observations: Mapping[Signal, SignalObservation] | None = None,
    victims: tuple[Mapping[str, str], ...] = (),
    notes: tuple[str, ...] = (),
    engine: Any = None,
) -> DecisionView:
    """Evaluate one pass; a soft threshold is actionable when ``elapsed_s`` covers its grace period."""
    if observations is None:
        observations = observe_signals(summary)
    if layout is None:
        layout = detect_layout(summary)

    thresholds = containerfs_thresholds(policy.thresholds, layout)
    results = resolve_thresholds(thresholds, observations)
    signals_met = tuple(dict.fromkeys(r.threshold.signal for r in results if r.met))
    conditions = tuple(sorted({SIGNAL_TO_CONDITION[s].value for s in signals_met}))

    gc_runs, to_free = False, 0
    image_fs = observations.get(Signal.IMAGEFS_AVAILABLE)
    if image_fs is not None and policy.image_gc.high_threshold_percent < 100:
        start = image_gc_start_available(image_fs.capacity, policy.image_gc.high_threshold_percent)
        if start is not None and image_fs.available <= start:
            gc_runs = True
            to_free = image_fs.capacity * (100 - policy.image_gc.low_threshold_percent) // 100 - image_fs.available

    return DecisionView(
        sampled_at=sampled_at,
        kubelet_version=policy.kubelet_version,
        layout=layout,
        observations=observations,
        thresholds=results,
        signals_met=signals_met,
        node_conditions=conditions,
        reclaim_signal=_reclaim_signal(results, elapsed_s),
        image_gc_would_run=gc_runs,
        image_gc_bytes_to_free=max(0, to_free),
        victims=victims,
        notes=notes,
        engine=engine,
    )


def engine_victims(decision: Any) -> tuple[dict[str, str], ...]:
    """Read the evictions of an engine Decision, or of its JSON form as the daemon publishes it."""
    if decision is None:
        return ()
    if isinstance(decision, Mapping):
        found = [dict(e) for e in decision.get("evictions") or ()]
    else:
        found = [e.to_json() for e in getattr(decision, "evictions", None) or ()]
    return tuple(
        {
            "pod": str(e.get("pod", "")),
            "reason": str(e.get("reason", "Evicted")),
            "evictionSignal": str(e.get("signal", "")),
            "gracePeriodSeconds": str(e.get("gracePeriodSeconds", "")),
            "message": str(e.get("message", "")),
        }
        for e in found
    )
