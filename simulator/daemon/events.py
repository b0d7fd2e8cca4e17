"""Turn successive daemon ticks into structured log events, emitted only on change.

Each tick is reduced to a :class:`TickView`: the thresholds met, the node conditions, the
last image and container GC outcome, the reclaim and eviction the kubelet would attempt.
:func:`diff_events` compares two views and returns the info-level events for what changed,
so a node that stays under pressure for an hour logs ``threshold_met`` once, not 360 times.
Per-tick detail (``sample_taken``, ``pods_ranked``) is debug-level and built by the daemon.

Every event name and key is listed in the README, section "Log events".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from simulator.signals import (
    CONTAINERFS_SIGNALS,
    COUNT_SIGNALS,
    IMAGEFS_SIGNALS,
    NODEFS_SIGNALS,
    SIGNAL_TO_CONDITION,
    Signal,
)
from simulator.snapshot import Provenance, Summary

# The Summary path of each signal's stats, which is the prefix of their provenance keys.
_SIGNAL_STATS_PATH: dict[Signal, str] = {
    **{signal: "node.fs" for signal in NODEFS_SIGNALS},
    **{signal: "node.runtime.imageFs" for signal in IMAGEFS_SIGNALS},
    **{signal: "node.runtime.containerFs" for signal in CONTAINERFS_SIGNALS},
    Signal.MEMORY_AVAILABLE: "node.memory",
    Signal.ALLOCATABLE_MEMORY_AVAILABLE: "node.systemContainers",
    Signal.PID_AVAILABLE: "node.rlimit",
}


@dataclasses.dataclass(frozen=True, slots=True)
class LogEvent:
    """One structured log line: a level name, a constant event name and its keys."""

    level: str
    event: str
    fields: dict[str, Any]


@dataclasses.dataclass(slots=True)
class TickView:
    """The daemon's conclusions from one tick, keyed so two ticks can be compared.

    ``thresholds_met`` maps (signal, hard, value as written) to the event keys of each met
    threshold. ``image_gc`` and ``container_gc`` are the latest GC outcome, carried over
    between GC periods, or ``None`` before the first run.
    """

    observations: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    thresholds_met: dict[tuple[str, bool, str], dict[str, Any]] = dataclasses.field(default_factory=dict)
    conditions: dict[str, bool] = dataclasses.field(default_factory=dict)
    condition_signals: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    image_gc: dict[str, Any] | None = None
    container_gc: dict[str, Any] | None = None
    reclaim: dict[str, Any] | None = None
    evictions: dict[tuple[str, str], dict[str, Any]] = dataclasses.field(default_factory=dict)
    eviction_blocked: dict[str, Any] | None = None
    error: str | None = None


def signal_unit(signal: str) -> str:
    """Return the unit of a signal's observed and threshold values: bytes, inodes or pids."""
    if signal == Signal.PID_AVAILABLE:
        return "pids"
    if signal in COUNT_SIGNALS:
        return "inodes"
    return "bytes"


def filesystem_of(summary: Summary, signal: str) -> dict[str, Any]:
    """Return the device, mountpoint and fs type behind a signal from the snapshot's provenance.

    Values are ``None`` when the snapshot carries no provenance, as recorded Summaries from a
    real kubelet do not.
    """
    found: dict[str, Any] = {"device": None, "mountpoint": None, "fs_type": None}
    try:
        prefix = _SIGNAL_STATS_PATH[Signal(signal)]
    except (KeyError, ValueError):
        return found
    for key in sorted(summary.provenance):
        if not key.startswith(prefix):
            continue
        provenance: Provenance = summary.provenance[key]
        found["device"] = found["device"] or provenance.device
        found["mountpoint"] = found["mountpoint"] or provenance.partition or provenance.mountpoint
        found["fs_type"] = found["fs_type"] or provenance.fs_type
    return found


def build_view(
    decision: Mapping[str, Any],
    summary: Summary,
    *,
    image_gc: dict[str, Any] | None = None,
    container_gc: dict[str, Any] | None = None,
) -> TickView:
    """Reduce one decision (the engine's camelCase JSON) and the GC outcomes to a TickView."""
    view = TickView(image_gc=image_gc, container_gc=container_gc)
    observations = decision.get("observations") or {}
    view.observations = {str(signal): dict(values) for signal, values in observations.items()}

    for threshold in decision.get("thresholds") or []:
        if not threshold.get("met"):
            continue
        signal = str(threshold["signal"])
        observation = observations.get(signal) or {}
        key = (signal, bool(threshold.get("hard")), str(threshold.get("value", "")))
        view.thresholds_met[key] = {
            "signal": signal,
            "hard": bool(threshold.get("hard")),
            "threshold_value": threshold.get("value"),
            "threshold": threshold.get("quantity"),
            "observed": observation.get("available"),
            "capacity": observation.get("capacity"),
            "unit": signal_unit(signal),
            "grace_period_s": threshold.get("gracePeriodSeconds"),
            **filesystem_of(summary, signal),
        }
        condition = str(SIGNAL_TO_CONDITION[Signal(signal)])
        view.condition_signals.setdefault(condition, [])
        if signal not in view.condition_signals[condition]:
            view.condition_signals[condition].append(signal)

    view.conditions = {str(name): bool(value) for name, value in (decision.get("conditions") or {}).items()}
    view.reclaim = decision.get("reclaim") or None

    ranking = list(decision.get("ranking") or [])
    for eviction in decision.get("evictions") or []:
        pod = str(eviction.get("pod"))
        signal = str(eviction.get("signal"))
        rank, runner_up = _rank_and_runner_up(ranking, pod)
        view.evictions[(pod, signal)] = {
            "pod": pod,
            "signal": signal,
            "resource": eviction.get("resource"),
            "grace_period_s": eviction.get("gracePeriodSeconds"),
            "message": eviction.get("message"),
            "annotations": eviction.get("annotations") or {},
            "rank": rank,
            "runner_up": runner_up,
        }

    view.eviction_blocked = _eviction_blocked(decision)
    view.error = decision.get("error") or None
    return view


def _rank_and_runner_up(ranking: Sequence[Mapping[str, Any]], pod: str) -> tuple[int | None, str | None]:
    """Return the pod's 1-based rank and the next pod after it that is not critical."""
    for index, entry in enumerate(ranking):
        if entry.get("pod") != pod:
            continue
        later = (other.get("pod") for other in ranking[index + 1 :] if not other.get("critical"))
        return index + 1, next(later, None)
    return None, None


def _eviction_blocked(decision: Mapping[str, Any]) -> dict[str, Any] | None:
    """Return the blocked-eviction keys when the decision ranked pods but could evict none.

    That is the case when a threshold is actionable, reclaim was not sufficient, pods were
    ranked and none is evicted (every candidate is critical, static or a mirror pod).
    """
    actionable = [t for t in decision.get("thresholds") or [] if t.get("actionable")]
    reclaim = decision.get("reclaim") or {}
    if not actionable or decision.get("evictions") or not decision.get("ranking"):
        return None
    if reclaim.get("sufficient"):
        return None
    notes = [note for note in decision.get("notes") or [] if str(note).startswith("unable to evict")]
    return {
        "signal": (reclaim.get("signal") or actionable[0].get("signal")),
        "candidates": len(decision.get("ranking") or []),
        "reason": notes[0] if notes else "no ranked pod can be evicted",
    }


def diff_events(previous: TickView | None, current: TickView) -> list[LogEvent]:
    """Return the events for what changed from ``previous`` to ``current`` (info, or warning for a failed pass).

    ``previous`` is ``None`` on the first tick, which is compared with an empty view: no
    threshold met, no condition reported, no GC run yet.
    """
    before = previous if previous is not None else TickView()
    events: list[LogEvent] = []
    if current.error and current.error != before.error:
        events.append(LogEvent("warning", "eviction_pass_failed", {"error": current.error}))
    events.extend(_threshold_events(before, current))
    events.extend(_condition_events(before, current))
    events.extend(_image_gc_events(before, current))
    events.extend(_container_gc_events(before, current))
    events.extend(_reclaim_events(before, current))
    events.extend(_eviction_events(before, current))
    return events


def _threshold_events(before: TickView, current: TickView) -> list[LogEvent]:
    events = []
    for key, fields in current.thresholds_met.items():
        if key not in before.thresholds_met:
            events.append(LogEvent("info", "threshold_met", dict(fields)))
    for key, fields in before.thresholds_met.items():
        if key in current.thresholds_met:
            continue
        # The keys of the threshold as it was met, with the observation of this tick.
        cleared = dict(fields)
        observation = current.observations.get(key[0]) or {}
        cleared["observed"] = observation.get("available")
        cleared["capacity"] = observation.get("capacity", cleared["capacity"])
        events.append(LogEvent("info", "threshold_cleared", cleared))
    return events


def _condition_events(before: TickView, current: TickView) -> list[LogEvent]:
    events = []
    for condition in sorted(set(before.conditions) | set(current.conditions)):
        was = before.conditions.get(condition, False)
        now = current.conditions.get(condition, False)
        if was == now:
            continue
        events.append(
            LogEvent(
                "info",
                "node_condition_would_change",
                {
                    "condition": condition,
                    "status": "True" if now else "False",
                    "previous_status": "True" if was else "False",
                    "signals": current.condition_signals.get(condition, []),
                },
            )
        )
    return events


def image_gc_would_run(result: Mapping[str, Any]) -> bool:
    """Report whether a GC result (the engine's ImageGCResult JSON) would delete or try to delete images."""
    target = result.get("targetBytes")
    return bool(target) and target != "unlimited" or bool(_image_gc_plan(result))


def _image_gc_events(before: TickView, current: TickView) -> list[LogEvent]:
    result = current.image_gc
    if result is None or result is before.image_gc:
        return []
    previous = before.image_gc or {}
    events = []
    if image_gc_would_run(result) and (
        not image_gc_would_run(previous) or _image_gc_plan(previous) != _image_gc_plan(result)
    ):
        events.append(LogEvent("info", "image_gc_would_run", _image_gc_fields(result)))
    # A recorded Summary has no image list, so its runs always free 0 bytes. That failure is not logged.
    error = result.get("error") if result.get("imagesKnown", True) else None
    previous_error = previous.get("error") if previous.get("imagesKnown", True) else None
    if error and error != previous_error:
        fields = _image_gc_fields(result)
        fields["error"] = error
        fields["event_reason"] = result.get("eventReason")
        events.append(LogEvent("info", "image_gc_would_fail", fields))
    return events


def _image_gc_plan(result: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(str(c.get("imageId")) for c in result.get("candidates") or [] if c.get("outcome") == "removed")


def _image_gc_fields(result: Mapping[str, Any]) -> dict[str, Any]:
    skipped: dict[str, int] = {}
    for candidate in result.get("candidates") or []:
        outcome = str(candidate.get("outcome"))
        if outcome != "removed":
            skipped[outcome] = skipped.get(outcome, 0) + 1
    return {
        "trigger": result.get("trigger"),
        "usage_percent": result.get("usagePercent"),
        "high_threshold_percent": result.get("highThresholdPercent"),
        "low_threshold_percent": result.get("lowThresholdPercent"),
        "bytes_to_free": result.get("targetBytes"),
        "bytes_freed": result.get("bytesFreed"),
        "shortfall_bytes": result.get("shortfallBytes"),
        "capacity": result.get("capacityBytes"),
        "available": result.get("availableBytes"),
        "non_image_bytes": result.get("nonImageBytes"),
        "device": result.get("device"),
        "mountpoint": result.get("mountpoint"),
        "images_known": result.get("imagesKnown", True),
        "images_removed": list(_image_gc_plan(result)),
        "images_skipped": skipped,
    }


def _container_gc_events(before: TickView, current: TickView) -> list[LogEvent]:
    result = current.container_gc
    if result is None or result is before.container_gc:
        return []
    removed = _removed_containers(result)
    if not removed or removed == _removed_containers(before.container_gc or {}):
        return []
    return [
        LogEvent(
            "info",
            "container_gc_would_remove",
            {
                "containers": list(removed),
                "count": len(removed),
                "sandboxes_removed": result.get("sandboxesRemoved"),
                "bytes_freed": result.get("bytesFreed"),
            },
        )
    ]


def _removed_containers(result: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(
        str(c.get("containerId")) for c in result.get("containers") or [] if str(c.get("outcome", "")).startswith("removed")
    )


def _reclaim_events(before: TickView, current: TickView) -> list[LogEvent]:
    reclaim = current.reclaim
    if not reclaim:
        return []
    steps = tuple(str(step.get("step")) for step in reclaim.get("steps") or [])
    previous = before.reclaim or {}
    previous_steps = tuple(str(step.get("step")) for step in previous.get("steps") or [])
    if previous and previous.get("signal") == reclaim.get("signal") and previous_steps == steps:
        return []
    return [
        LogEvent(
            "info",
            "reclaim_would_run",
            {
                "signal": reclaim.get("signal"),
                "steps": [dict(step) for step in reclaim.get("steps") or []],
                "bytes_freed": sum(int(step.get("bytesFreed") or 0) for step in reclaim.get("steps") or []),
                "sufficient": reclaim.get("sufficient"),
            },
        )
    ]


def _eviction_events(before: TickView, current: TickView) -> list[LogEvent]:
    events = []
    for key, fields in current.evictions.items():
        if key not in before.evictions:
            events.append(LogEvent("info", "pod_would_be_evicted", dict(fields)))
    for (pod, signal) in before.evictions:
        if (pod, signal) not in current.evictions:
            reason = _eviction_stop_reason(signal, current)
            events.append(LogEvent("info", "eviction_no_longer_predicted", {"pod": pod, "signal": signal, "reason": reason}))
    blocked = current.eviction_blocked
    if blocked and blocked != before.eviction_blocked:
        events.append(LogEvent("info", "eviction_blocked", dict(blocked)))
    return events


def _eviction_stop_reason(signal: str, current: TickView) -> str:
    """Return why the eviction predicted for ``signal`` on the previous tick is not predicted now."""
    if current.error:
        return "eviction_pass_failed"
    if not any(key[0] == signal for key in current.thresholds_met):
        return "threshold_not_met"
    reclaim = current.reclaim or {}
    if reclaim.get("sufficient"):
        return "reclaim_sufficient"
    if any(key[1] == signal for key in current.evictions):
        return "another_pod_selected"
    if current.eviction_blocked:
        return "no_pod_evictable"
    # a threshold still met but not yet actionable: a soft threshold within its grace period
    return "threshold_not_actionable"
