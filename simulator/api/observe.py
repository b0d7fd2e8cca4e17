"""Signal observations read from a Summary, the way the kubelet's eviction manager builds them.

Each signal maps to an (available, capacity) pair of Summary fields; a signal whose fields are
absent has no observation (kubernetes pkg/kubelet/eviction/helpers.go, makeSignalObservations,
1.27-1.35).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

from simulator.signals import Signal
from simulator.snapshot import FsStats, Summary


@dataclasses.dataclass(frozen=True, slots=True)
class SignalObservation:
    """The available amount of one signal and the capacity that percentages refer to."""

    available: int
    capacity: int
    time: dt.datetime | None = None


def _fs_bytes(stats: FsStats | None) -> SignalObservation | None:
    if stats is None or stats.available_bytes is None or stats.capacity_bytes is None:
        return None
    return SignalObservation(stats.available_bytes, stats.capacity_bytes, stats.time)


def _fs_inodes(stats: FsStats | None) -> SignalObservation | None:
    if stats is None or stats.inodes_free is None or stats.inodes is None:
        return None
    return SignalObservation(stats.inodes_free, stats.inodes, stats.time)


def _memory(summary: Summary) -> SignalObservation | None:
    memory = summary.node.memory
    if memory is None or memory.available_bytes is None or memory.working_set_bytes is None:
        return None
    capacity = memory.available_bytes + memory.working_set_bytes
    return SignalObservation(memory.available_bytes, capacity, memory.time)


def _allocatable_memory(summary: Summary) -> SignalObservation | None:
    pods = summary.node.system_container("pods")
    memory = pods.memory if pods is not None else None
    if memory is None or memory.available_bytes is None or memory.working_set_bytes is None:
        return None
    capacity = memory.available_bytes + memory.working_set_bytes
    return SignalObservation(memory.available_bytes, capacity, memory.time)


def _pids(summary: Summary) -> SignalObservation | None:
    rlimit = summary.node.rlimit
    if rlimit is None or rlimit.maxpid is None or rlimit.curproc is None:
        return None
    return SignalObservation(rlimit.maxpid - rlimit.curproc, rlimit.maxpid, rlimit.time)


_OBSERVERS: dict[Signal, Callable[[Summary], SignalObservation | None]] = {
    Signal.MEMORY_AVAILABLE: _memory,
    Signal.ALLOCATABLE_MEMORY_AVAILABLE: _allocatable_memory,
    Signal.NODEFS_AVAILABLE: lambda s: _fs_bytes(s.node.fs),
    Signal.NODEFS_INODES_FREE: lambda s: _fs_inodes(s.node.fs),
    Signal.IMAGEFS_AVAILABLE: lambda s: _fs_bytes(s.node.image_fs),
    Signal.IMAGEFS_INODES_FREE: lambda s: _fs_inodes(s.node.image_fs),
    Signal.CONTAINERFS_AVAILABLE: lambda s: _fs_bytes(s.node.container_fs),
    Signal.CONTAINERFS_INODES_FREE: lambda s: _fs_inodes(s.node.container_fs),
    Signal.PID_AVAILABLE: _pids,
}


def observe_signals(summary: Summary) -> dict[Signal, SignalObservation]:
    """Return the observation of every signal whose Summary fields are all present."""
    observations: dict[Signal, SignalObservation] = {}
    for signal, observer in _OBSERVERS.items():
        observation = observer(summary)
        if observation is not None:
            observations[signal] = observation
    return observations
