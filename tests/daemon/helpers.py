"""Shared pieces of the daemon tests: a Summary builder, a list-backed source, a fake clock."""

from __future__ import annotations

import dataclasses
import datetime as dt
import struct
from collections.abc import Iterable
from typing import Any

from simulator.daemon.daemon import Sample
from simulator.policy.model import Policy, Threshold, ThresholdValue
from simulator.replay import ReplayFinished
from simulator.signals import Signal
from simulator.snapshot import FsStats, NodeStats, Provenance, Summary

UTC = dt.UTC
T0 = dt.datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)
GIB = 1024**3


def float32(value: float) -> float:
    """Round to IEEE single precision, as Go's ParseFloat(s, 32) stores eviction percentages."""
    return struct.unpack("<f", struct.pack("<f", value))[0]


def percent_threshold(signal: Signal, percent: float) -> Threshold:
    return Threshold(signal, ThresholdValue(percentage=float32(percent / 100)))


def disk_policy(**overrides: Any) -> Policy:
    """The kubelet's Linux default disk thresholds (1.30+), built here from the documented values."""
    thresholds = (
        percent_threshold(Signal.NODEFS_AVAILABLE, 10),
        percent_threshold(Signal.NODEFS_INODES_FREE, 5),
        percent_threshold(Signal.IMAGEFS_AVAILABLE, 15),
        percent_threshold(Signal.IMAGEFS_INODES_FREE, 5),
    )
    return Policy(kubelet_version="1.35", thresholds=thresholds, **overrides)


def node_summary(
    time: dt.datetime,
    *,
    imagefs_available: int,
    imagefs_capacity: int = 10 * GIB,
    nodefs_available: int = 60 * GIB,
    nodefs_capacity: int = 100 * GIB,
    imagefs_inodes_free: int = 600_000,
    imagefs_inodes: int = 655_360,
    device: str | None = "/dev/loop7",
) -> Summary:
    """A node with a dedicated image filesystem (containerFs equal to imageFs, as containerd reports).

    With ``device`` the provenance names the image filesystem's device and ``/dev/loop8`` for
    the kubelet root, as a live sample does.
    """
    imagefs = FsStats(
        time=time,
        available_bytes=imagefs_available,
        capacity_bytes=imagefs_capacity,
        used_bytes=imagefs_capacity - imagefs_available,
        inodes_free=imagefs_inodes_free,
        inodes=imagefs_inodes,
        inodes_used=imagefs_inodes - imagefs_inodes_free,
    )
    nodefs = FsStats(
        time=time,
        available_bytes=nodefs_available,
        capacity_bytes=nodefs_capacity,
        used_bytes=nodefs_capacity - nodefs_available,
        inodes_free=6_000_000,
        inodes=6_553_600,
        inodes_used=553_600,
    )
    summary = Summary(node=NodeStats(node_name="worker-1", fs=nodefs, image_fs=imagefs, container_fs=dataclasses.replace(imagefs)))
    if device is not None:
        for section, section_device, partition in (
            ("node.runtime.imageFs", device, "/var/lib/containerd"),
            ("node.runtime.containerFs", device, "/var/lib/containerd"),
            ("node.fs", "/dev/loop8", "/var/lib/kubelet"),
        ):
            for field in ("availableBytes", "capacityBytes"):
                summary.provenance[f"{section}.{field}"] = Provenance(
                    source="statfs", mountpoint=partition, device=section_device, partition=partition, fs_type="ext4"
                )
    return summary


class ListSource:
    """A SampleSource over a list of Summaries and exceptions, taken in order."""

    description = "test list"

    def __init__(self, items: Iterable[Summary | Exception], *, gc_inputs: Any = None) -> None:
        self.items = list(items)
        self.calls = 0
        self.gc_inputs = gc_inputs

    def next_sample(self, now: dt.datetime) -> Sample:
        if not self.items:
            raise ReplayFinished("test list")
        item = self.items.pop(0)
        self.calls += 1
        if isinstance(item, Exception):
            raise item
        return Sample(summary=item, time=now, origin=f"item {self.calls}", gc_inputs=self.gc_inputs)

    def close(self) -> None:
        return None


class FakeClock:
    """A clock the test advances by hand."""

    def __init__(self, start: dt.datetime = T0) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)

