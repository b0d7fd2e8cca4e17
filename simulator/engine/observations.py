"""Eviction signal observations, built from one Summary as the kubelet's makeSignalObservations does.

Each observation is (available, capacity, time) for one signal (kubernetes
pkg/kubelet/eviction/helpers.go, 1.27-1.35):

=============================  ===========================================  =================================
signal                         available                                    capacity
=============================  ===========================================  =================================
memory.available               node.memory.availableBytes                   availableBytes + workingSetBytes
allocatableMemory.available    systemContainers["pods"].memory.available     available + workingSet of "pods"
nodefs.available / inodesFree  node.fs.availableBytes / inodesFree           capacityBytes / inodes
imagefs.*                      node.runtime.imageFs (same fields)           same
containerfs.*                  node.runtime.containerFs (same fields)       same
pid.available                  rlimit.maxpid - rlimit.curproc (may be < 0)  rlimit.maxpid
=============================  ===========================================  =================================

A signal whose source fields are missing has no observation, so every threshold on it is
skipped. ``time`` is ``None`` when the Summary has no timestamp for the section, which the
kubelet treats as the zero time (always "fresh").
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from simulator.errors import InputError
from simulator.signals import Signal
from simulator.snapshot import FsStats, MemoryStats, Summary

# The kubelet converts every Summary number to int64; larger values wrap around in Go, so a
# snapshot carrying them is rejected here instead of producing a silently wrong observation.
MAX_INT64 = 2**63 - 1

# The node system container whose memory is the kubepods cgroup (statsapi.SystemContainerPods).
PODS_SYSTEM_CONTAINER = "pods"


@dataclasses.dataclass(frozen=True, slots=True)
class Observation:
    """The observed value of one signal: available and capacity in bytes, inodes or pids."""

    available: int
    capacity: int
    time: dt.datetime | None = None

    def to_json(self) -> dict[str, object]:
        from simulator.snapshot import format_time

        return {
            "available": self.available,
            "capacity": self.capacity,
            "time": format_time(self.time) if self.time is not None else None,
        }


Observations = dict[Signal, Observation]


def _checked(value: int, field: str) -> int:
    if value > MAX_INT64:
        raise InputError(
            f"{field}: value {value} exceeds the int64 range the kubelet's quantities hold (max {MAX_INT64})",
            field=field,
            value=value,
        )
    return value


def _memory_observation(memory: MemoryStats | None, field: str) -> Observation | None:
    if memory is None or memory.available_bytes is None or memory.working_set_bytes is None:
        return None
    available = _checked(memory.available_bytes, f"{field}.availableBytes")
    working_set = _checked(memory.working_set_bytes, f"{field}.workingSetBytes")
    return Observation(available, _checked(available + working_set, f"{field} capacity"), memory.time)


def _fs_observations(fs: FsStats | None, field: str, bytes_signal: Signal, inodes_signal: Signal) -> Observations:
    result: Observations = {}
    if fs is None:
        return result
    if fs.available_bytes is not None and fs.capacity_bytes is not None:
        result[bytes_signal] = Observation(
            _checked(fs.available_bytes, f"{field}.availableBytes"),
            _checked(fs.capacity_bytes, f"{field}.capacityBytes"),
            fs.time,
        )
    if fs.inodes_free is not None and fs.inodes is not None:
        result[inodes_signal] = Observation(
            _checked(fs.inodes_free, f"{field}.inodesFree"), _checked(fs.inodes, f"{field}.inodes"), fs.time
        )
    return result


def make_observations(summary: Summary) -> Observations:
    """Build the observation of every signal the Summary supports, keyed by signal.

    Raises InputError when a number exceeds the int64 range. Missing sections are not
    errors: their signals are simply absent, as in the kubelet.
    """
    node = summary.node
    result: Observations = {}

    memory = _memory_observation(node.memory, "node.memory")
    if memory is not None:
        result[Signal.MEMORY_AVAILABLE] = memory

    pods_container = node.system_container(PODS_SYSTEM_CONTAINER)
    if pods_container is not None:
        allocatable = _memory_observation(pods_container.memory, "node.systemContainers[pods].memory")
        if allocatable is not None:
            result[Signal.ALLOCATABLE_MEMORY_AVAILABLE] = allocatable

    result.update(_fs_observations(node.fs, "node.fs", Signal.NODEFS_AVAILABLE, Signal.NODEFS_INODES_FREE))
    result.update(
        _fs_observations(node.image_fs, "node.runtime.imageFs", Signal.IMAGEFS_AVAILABLE, Signal.IMAGEFS_INODES_FREE)
    )
    result.update(
        _fs_observations(
            node.container_fs, "node.runtime.containerFs", Signal.CONTAINERFS_AVAILABLE, Signal.CONTAINERFS_INODES_FREE
        )
    )

    rlimit = node.rlimit
    if rlimit is not None and rlimit.maxpid is not None and rlimit.curproc is not None:
        maxpid = _checked(rlimit.maxpid, "node.rlimit.maxpid")
        curproc = _checked(rlimit.curproc, "node.rlimit.curproc")
        result[Signal.PID_AVAILABLE] = Observation(maxpid - curproc, maxpid, rlimit.time)
    return result


def missing_signal_notes(summary: Summary, observations: Observations) -> list[str]:
    """Explain, one line per signal, why a signal has no observation in this Summary.

    Also notes a filesystem section whose free amount exceeds its capacity: the kubelet
    uses such numbers as given, and so does this model, but the input is suspect.
    """
    node = summary.node
    notes: list[str] = []
    for field, fs in (
        ("node.fs", node.fs),
        ("node.runtime.imageFs", node.image_fs),
        ("node.runtime.containerFs", node.container_fs),
    ):
        notes.extend(_larger_than_capacity_notes(fs, field))
    reasons: dict[Signal, str] = {
        Signal.MEMORY_AVAILABLE: "node.memory.availableBytes or workingSetBytes is missing",
        Signal.ALLOCATABLE_MEMORY_AVAILABLE: (
            'node.systemContainers has no "pods" container'
            if node.system_container(PODS_SYSTEM_CONTAINER) is None
            else 'the "pods" system container has no memory availableBytes or workingSetBytes'
        ),
        Signal.NODEFS_AVAILABLE: "node.fs.availableBytes or capacityBytes is missing",
        Signal.NODEFS_INODES_FREE: "node.fs.inodesFree or inodes is missing",
        Signal.IMAGEFS_AVAILABLE: "node.runtime.imageFs.availableBytes or capacityBytes is missing",
        Signal.IMAGEFS_INODES_FREE: "node.runtime.imageFs.inodesFree or inodes is missing",
        Signal.CONTAINERFS_AVAILABLE: "node.runtime.containerFs.availableBytes or capacityBytes is missing",
        Signal.CONTAINERFS_INODES_FREE: "node.runtime.containerFs.inodesFree or inodes is missing",
        Signal.PID_AVAILABLE: "node.rlimit.maxpid or curproc is missing",
    }
    notes.extend(f"{signal} not observed: {reason}" for signal, reason in reasons.items() if signal not in observations)
    return notes


def _larger_than_capacity_notes(fs: FsStats | None, field: str) -> list[str]:
    if fs is None:
        return []
    notes = []
    if fs.available_bytes is not None and fs.capacity_bytes is not None and fs.available_bytes > fs.capacity_bytes:
        notes.append(f"{field}: availableBytes {fs.available_bytes} is larger than capacityBytes {fs.capacity_bytes}")
    if fs.inodes_free is not None and fs.inodes is not None and fs.inodes_free > fs.inodes:
        notes.append(f"{field}: inodesFree {fs.inodes_free} is larger than inodes {fs.inodes}")
    return notes
