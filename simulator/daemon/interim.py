"""A stand-in for the eviction engine until ``simulator.engine`` lands.

NOTE: this module exists only so the daemon can log decisions before the engine exists. It
models hard and soft thresholds met now (no grace periods, no min-reclaim, no ranking, no
reclaim) and the pressure transition period of node conditions. Delete it when
``simulator.engine.eviction.synchronize`` is importable; the daemon then uses the engine.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from simulator.signals import SIGNAL_TO_CONDITION, NodeCondition, Signal
from simulator.snapshot import FsStats, Summary, format_time


@dataclasses.dataclass
class InterimState:
    """Last time each node condition was observed, for the pressure transition period."""

    condition_last_observed: dict[NodeCondition, dt.datetime] = dataclasses.field(default_factory=dict)


def interim_decision(summary: Summary, policy: Any, state: InterimState, now: dt.datetime) -> dict[str, Any]:
    """Return a decision shaped like the engine's JSON: observations, thresholds, conditions.

    A threshold is met when the observed available value is strictly below its quantity
    (the kubelet's only operator is LessThan). A condition stays reported until
    ``pressure_transition_period_s`` has passed since it was last observed, compared
    strictly as the kubelet's nodeConditionsObservedSince does.
    """
    from simulator.policy.model import threshold_quantity

    observations = _observations(summary)
    thresholds = []
    observed_conditions: set[NodeCondition] = set()
    for threshold in policy.thresholds:
        observation = observations.get(threshold.signal)
        entry: dict[str, Any] = {
            "signal": str(threshold.signal),
            "hard": threshold.hard,
            "value": str(threshold.value),
            "quantity": None,
            "gracePeriodSeconds": threshold.grace_period_s,
            "met": False,
            "actionable": False,
        }
        if observation is not None:
            quantity = threshold_quantity(threshold.value, observation["capacity"])
            entry["quantity"] = quantity
            entry["met"] = observation["available"] < quantity
            entry["actionable"] = entry["met"] and threshold.hard
        if entry["met"]:
            observed_conditions.add(SIGNAL_TO_CONDITION[threshold.signal])
        thresholds.append(entry)

    for condition in observed_conditions:
        state.condition_last_observed[condition] = now
    transition = dt.timedelta(seconds=policy.pressure_transition_period_s)
    conditions = {
        str(condition): condition in state.condition_last_observed
        and now - state.condition_last_observed[condition] < transition
        for condition in NodeCondition
    }
    return {
        "observations": {
            str(signal): {**values, "time": format_time(values["time"]) if values["time"] else None}
            for signal, values in observations.items()
        },
        "thresholds": thresholds,
        "conditions": conditions,
        "reclaim": None,
        "ranking": [],
        "evictions": [],
        "notes": ["interim evaluation: thresholds and conditions only, no reclaim or ranking"],
    }


def _observations(summary: Summary) -> dict[Signal, dict[str, Any]]:
    node = summary.node
    out: dict[Signal, dict[str, Any]] = {}
    memory = node.memory
    if memory and memory.available_bytes is not None and memory.working_set_bytes is not None:
        out[Signal.MEMORY_AVAILABLE] = _observation(
            memory.available_bytes, memory.available_bytes + memory.working_set_bytes, memory.time
        )
    pods = node.system_container("pods")
    if pods and pods.memory and pods.memory.available_bytes is not None and pods.memory.working_set_bytes is not None:
        out[Signal.ALLOCATABLE_MEMORY_AVAILABLE] = _observation(
            pods.memory.available_bytes, pods.memory.available_bytes + pods.memory.working_set_bytes, pods.memory.time
        )
    for stats, bytes_signal, inodes_signal in (
        (node.fs, Signal.NODEFS_AVAILABLE, Signal.NODEFS_INODES_FREE),
        (node.image_fs, Signal.IMAGEFS_AVAILABLE, Signal.IMAGEFS_INODES_FREE),
        (node.container_fs, Signal.CONTAINERFS_AVAILABLE, Signal.CONTAINERFS_INODES_FREE),
    ):
        out.update(_fs_observations(stats, bytes_signal, inodes_signal))
    rlimit = node.rlimit
    if rlimit and rlimit.maxpid is not None and rlimit.curproc is not None:
        out[Signal.PID_AVAILABLE] = _observation(rlimit.maxpid - rlimit.curproc, rlimit.maxpid, rlimit.time)
    return out


def _fs_observations(stats: FsStats | None, bytes_signal: Signal, inodes_signal: Signal) -> dict[Signal, dict[str, Any]]:
    out: dict[Signal, dict[str, Any]] = {}
    if stats is None:
        return out
    if stats.available_bytes is not None and stats.capacity_bytes is not None:
        out[bytes_signal] = _observation(stats.available_bytes, stats.capacity_bytes, stats.time)
    if stats.inodes_free is not None and stats.inodes is not None:
        out[inodes_signal] = _observation(stats.inodes_free, stats.inodes, stats.time)
    return out


def _observation(available: int, capacity: int, time: dt.datetime | None) -> dict[str, Any]:
    return {"available": available, "capacity": capacity, "time": time}


def interim_image_gc(summary: Summary, image_gc_policy: Any) -> dict[str, Any]:
    """Return the periodic image GC's watermark check on the imageFs stats, without images.

    The arithmetic is the kubelet's GarbageCollect (pkg/kubelet/images/image_gc_manager.go,
    1.27-1.35): available is capped at capacity, usage percent is
    ``100 - floor(available * 100 / capacity)``, and at or above the high watermark the bytes
    to free are ``floor(capacity * (100 - low) / 100) - available``. Capacity 0 is the
    kubelet's "invalid capacity 0 on image filesystem" error.
    """
    high = image_gc_policy.high_threshold_percent
    low = image_gc_policy.low_threshold_percent
    result: dict[str, Any] = {
        "trigger": "threshold",
        "highThresholdPercent": high,
        "lowThresholdPercent": low,
        "usagePercent": None,
        "capacity": None,
        "available": None,
        "wouldRun": False,
        "bytesToFree": 0,
        "bytesFreed": None,
        "candidates": [],
        "error": None,
    }
    image_fs = summary.node.image_fs
    if image_fs is None:
        result["error"] = "imageFs stats are missing from the snapshot"
        return result

    capacity = image_fs.capacity_bytes or 0
    available = min(image_fs.available_bytes or 0, capacity)
    result["capacity"] = capacity
    result["available"] = available
    if capacity == 0:
        result["error"] = "invalid capacity 0 on image filesystem"
        return result

    usage_percent = 100 - (available * 100) // capacity
    result["usagePercent"] = usage_percent
    if usage_percent >= high:
        result["wouldRun"] = True
        result["bytesToFree"] = capacity * (100 - low) // 100 - available
    return result
