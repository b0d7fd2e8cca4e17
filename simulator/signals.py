"""The kubelet's eviction vocabulary: signals, node conditions, resources, filesystem layouts.

This module has no dependencies so every layer can import it. The string values are the
kubelet's own wire names (kubernetes pkg/kubelet/eviction/api/types.go, 1.27-1.35).
"""

from __future__ import annotations

import enum


class Signal(enum.StrEnum):
    """An eviction signal, spelled as in evictionHard keys and the kubelet's metrics."""

    MEMORY_AVAILABLE = "memory.available"
    ALLOCATABLE_MEMORY_AVAILABLE = "allocatableMemory.available"
    NODEFS_AVAILABLE = "nodefs.available"
    NODEFS_INODES_FREE = "nodefs.inodesFree"
    IMAGEFS_AVAILABLE = "imagefs.available"
    IMAGEFS_INODES_FREE = "imagefs.inodesFree"
    CONTAINERFS_AVAILABLE = "containerfs.available"
    CONTAINERFS_INODES_FREE = "containerfs.inodesFree"
    PID_AVAILABLE = "pid.available"


class NodeCondition(enum.StrEnum):
    """A node condition the eviction manager reports."""

    MEMORY_PRESSURE = "MemoryPressure"
    DISK_PRESSURE = "DiskPressure"
    PID_PRESSURE = "PIDPressure"


class Resource(enum.StrEnum):
    """The resource a signal starves, as named in eviction messages and ranking."""

    MEMORY = "memory"
    EPHEMERAL_STORAGE = "ephemeral-storage"
    INODES = "inodes"
    PIDS = "pids"


class FsLayout(enum.StrEnum):
    """How the kubelet root, images and writable layers share filesystems.

    - single: one filesystem for everything.
    - dedicated-imagefs: images and writable layers on another device than the kubelet root.
    - split: images on one filesystem and writable layers on the kubelet root's
      (KEP-4191, KubeletSeparateDiskGC).
    """

    SINGLE = "single"
    DEDICATED_IMAGEFS = "dedicated-imagefs"
    SPLIT = "split"


SIGNAL_TO_CONDITION: dict[Signal, NodeCondition] = {
    Signal.MEMORY_AVAILABLE: NodeCondition.MEMORY_PRESSURE,
    Signal.ALLOCATABLE_MEMORY_AVAILABLE: NodeCondition.MEMORY_PRESSURE,
    Signal.NODEFS_AVAILABLE: NodeCondition.DISK_PRESSURE,
    Signal.NODEFS_INODES_FREE: NodeCondition.DISK_PRESSURE,
    Signal.IMAGEFS_AVAILABLE: NodeCondition.DISK_PRESSURE,
    Signal.IMAGEFS_INODES_FREE: NodeCondition.DISK_PRESSURE,
    Signal.CONTAINERFS_AVAILABLE: NodeCondition.DISK_PRESSURE,
    Signal.CONTAINERFS_INODES_FREE: NodeCondition.DISK_PRESSURE,
    Signal.PID_AVAILABLE: NodeCondition.PID_PRESSURE,
}

SIGNAL_TO_RESOURCE: dict[Signal, Resource] = {
    Signal.MEMORY_AVAILABLE: Resource.MEMORY,
    Signal.ALLOCATABLE_MEMORY_AVAILABLE: Resource.MEMORY,
    Signal.NODEFS_AVAILABLE: Resource.EPHEMERAL_STORAGE,
    Signal.NODEFS_INODES_FREE: Resource.INODES,
    Signal.IMAGEFS_AVAILABLE: Resource.EPHEMERAL_STORAGE,
    Signal.IMAGEFS_INODES_FREE: Resource.INODES,
    Signal.CONTAINERFS_AVAILABLE: Resource.EPHEMERAL_STORAGE,
    Signal.CONTAINERFS_INODES_FREE: Resource.INODES,
    Signal.PID_AVAILABLE: Resource.PIDS,
}

MEMORY_SIGNALS: frozenset[Signal] = frozenset(
    {Signal.MEMORY_AVAILABLE, Signal.ALLOCATABLE_MEMORY_AVAILABLE}
)

# Signals whose quantities are counts (inodes, pids) rather than bytes. The kubelet prints
# their quantities in decimal SI form; byte quantities print in binary SI form.
COUNT_SIGNALS: frozenset[Signal] = frozenset(
    {
        Signal.NODEFS_INODES_FREE,
        Signal.IMAGEFS_INODES_FREE,
        Signal.CONTAINERFS_INODES_FREE,
        Signal.PID_AVAILABLE,
    }
)

# Filesystem signals grouped by the filesystem they observe.
NODEFS_SIGNALS: frozenset[Signal] = frozenset({Signal.NODEFS_AVAILABLE, Signal.NODEFS_INODES_FREE})
IMAGEFS_SIGNALS: frozenset[Signal] = frozenset(
    {Signal.IMAGEFS_AVAILABLE, Signal.IMAGEFS_INODES_FREE}
)
CONTAINERFS_SIGNALS: frozenset[Signal] = frozenset(
    {Signal.CONTAINERFS_AVAILABLE, Signal.CONTAINERFS_INODES_FREE}
)

# Pods with this priority or more are critical and never evicted (system-cluster-critical).
SYSTEM_CRITICAL_PRIORITY = 2_000_000_000
