"""cAdvisor's ``GetDirFsInfo``: from a directory to its device, its partition and a statfs sample.

The steps, as in cAdvisor v0.53.0 (``fs/fs.go`` ``GetDirFsDevice``, ``manager/manager.go``
``GetDirFsInfo``), which kubelets 1.27 to 1.35 vendor:

1. ``stat(dir).st_dev``, split into major:minor with cAdvisor's 32-bit encoding;
2. the partition whose major:minor equal those (a direct match);
3. otherwise the parent walk: the mount at ``dir`` or its nearest ancestor in the mount table read
   at start, accepted only when its source starts with ``/dev/``;
4. ``statfs`` of the partition's mountpoint (not of ``dir``): capacity = f_blocks * f_frsize,
   available = f_bavail * f_frsize, free = f_bfree * f_frsize, inodes = f_files, inodes free = f_ffree.

cAdvisor serves step 4 from its last housekeeping sample, taken every 10 to 15 s. This probe runs
statfs at call time, so its numbers are newer than the kubelet's by up to one housekeeping period.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import errno
import os
from collections.abc import Callable
from typing import Any

from simulator.errors import FsInfoError
from simulator.probes.mountinfo import (
    MountInfo,
    MountTable,
    Partition,
    StatFunction,
    btrfs_major_minor,
    split_dev,
)

StatfsFunction = Callable[[str], Any]
"""A function like :func:`os.statvfs`: returns f_frsize, f_blocks, f_bfree, f_bavail, f_files, f_ffree."""

Clock = Callable[[], dt.datetime]

RESOLUTION_DIRECT = "direct major:minor match"
RESOLUTION_FALLBACK = "fallback: parent walk found mount {mountpoint}"

__all__ = ["DirFsInfo", "FsInfoProbe", "MountTable", "Partition", "StatfsSample"]


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclasses.dataclass(frozen=True, slots=True)
class StatfsSample:
    """The raw statfs numbers of one filesystem: blocks in units of ``frsize`` bytes, inode counts."""

    frsize: int
    blocks: int
    bfree: int
    bavail: int
    files: int
    ffree: int

    @classmethod
    def from_statvfs(cls, result: Any) -> StatfsSample:
        return cls(
            frsize=int(result.f_frsize),
            blocks=int(result.f_blocks),
            bfree=int(result.f_bfree),
            bavail=int(result.f_bavail),
            files=int(result.f_files),
            ffree=int(result.f_ffree),
        )


@dataclasses.dataclass(frozen=True, slots=True)
class DirFsInfo:
    """Result of ``GetDirFsInfo(dir)`` with the facts behind it.

    ``device``, ``major`` and ``minor`` are cAdvisor's ``DeviceInfo`` (the partition key, which is a
    mountpoint for tmpfs and ``<source>_<major>-<minor>`` for overlay). ``dir_major``/``dir_minor``
    are the numbers ``stat(dir)`` returned. ``device_in_table`` is False when the directory's own
    device is missing from the mount table read at start, so the result came from the parent walk
    and may describe another filesystem.
    """

    dir: str
    device: str
    major: int
    minor: int
    partition_mountpoint: str
    fs_type: str
    capacity_bytes: int
    available_bytes: int
    free_bytes: int
    inodes: int
    inodes_free: int
    dir_major: int
    dir_minor: int
    resolution: str
    device_in_table: bool
    statfs: StatfsSample
    time: dt.datetime

    @property
    def used_bytes(self) -> int:
        """cAdvisor's ``Usage``: capacity - free, so root-reserved blocks count as used."""
        return self.capacity_bytes - self.free_bytes

    @property
    def inodes_used(self) -> int:
        return self.inodes - self.inodes_free

    @classmethod
    def from_statfs(
        cls,
        directory: str,
        partition: Partition,
        sample: StatfsSample,
        *,
        device: str,
        major: int,
        minor: int,
        dir_major: int,
        dir_minor: int,
        resolution: str,
        device_in_table: bool,
        time: dt.datetime,
    ) -> DirFsInfo:
        """Build the result from a statfs of the partition, with cAdvisor's statfs mapping."""
        return cls(
            dir=directory,
            device=device,
            major=major,
            minor=minor,
            partition_mountpoint=partition.mountpoint,
            fs_type=partition.fs_type,
            capacity_bytes=sample.blocks * sample.frsize,
            available_bytes=sample.bavail * sample.frsize,
            free_bytes=sample.bfree * sample.frsize,
            inodes=sample.files,
            inodes_free=sample.ffree,
            dir_major=dir_major,
            dir_minor=dir_minor,
            resolution=resolution,
            device_in_table=device_in_table,
            statfs=sample,
            time=time,
        )


@dataclasses.dataclass(frozen=True, slots=True)
class DeviceInfo:
    """cAdvisor's ``DeviceInfo`` plus how it was found."""

    device: str
    major: int
    minor: int
    dir_major: int
    dir_minor: int
    resolution: str
    device_in_table: bool


class FsInfoProbe:
    """Resolve directories the way the kubelet's cAdvisor does, against a fixed :class:`MountTable`.

    ``stat`` and ``statfs`` are injectable so tests can replay a node without its disks.
    """

    def __init__(
        self,
        mount_table: MountTable,
        *,
        stat: StatFunction = os.stat,
        statfs: StatfsFunction = os.statvfs,
        clock: Clock = _utc_now,
    ) -> None:
        self.mount_table = mount_table
        self._stat = stat
        self._statfs = statfs
        self._clock = clock

    def now(self) -> dt.datetime:
        """Return the time from the probe's clock, which stamps each statfs sample."""
        return self._clock()

    def dir_fs_device(self, directory: str) -> DeviceInfo:
        """cAdvisor's ``GetDirFsDevice``; raise FsInfoError with cAdvisor's message text on failure."""
        try:
            dir_stat = self._stat(directory)
        except OSError as error:
            raise FsInfoError(
                f"stat failed on {directory} with error: {_go_errno_text(error)}", kind="os_error"
            ) from error
        major, minor = split_dev(dir_stat.st_dev)

        for partition in self.mount_table.partitions.values():
            if partition.major == major and partition.minor == minor:
                return DeviceInfo(partition.device, major, minor, major, minor, RESOLUTION_DIRECT, True)

        mount = self.mount_table.mount_for_dir(directory)
        if mount is not None and mount.source.startswith("/dev/"):
            found_major, found_minor = self._fallback_numbers(mount)
            resolution = RESOLUTION_FALLBACK.format(mountpoint=mount.mountpoint)
            return DeviceInfo(mount.source, found_major, found_minor, major, minor, resolution, False)

        raise FsInfoError(
            f"with major: {major}, minor: {minor}: could not find device in cached partitions map",
            kind="device_not_found",
        )

    def _fallback_numbers(self, mount: MountInfo) -> tuple[int, int]:
        if mount.fs_type == "btrfs" and mount.major == 0:
            fixed = btrfs_major_minor(mount, self._stat)
            if fixed is not None:
                return fixed
        return mount.major, mount.minor

    def dir_fs_info(self, directory: str) -> DirFsInfo:
        """cAdvisor's ``GetDirFsInfo``: device lookup, partition mountpoint, then statfs of that mountpoint.

        Raises FsInfoError whose message and ``kind`` follow cAdvisor v0.53: ``failed to get device
        for dir ...`` (kind ``os_error`` or ``device_not_found``), ``failed to get mount point for
        device ...`` (``device_not_found``) or ``cannot find filesystem info for device ...`` (``os_error``).
        """
        try:
            device = self.dir_fs_device(directory)
        except FsInfoError as error:
            # cAdvisor wraps this with %v, so the kubelet cannot match the cause with errors.Is
            raise FsInfoError(
                f'failed to get device for dir "{directory}": {error}', kind=error.kind
            ) from error

        partition = self.mount_table.partitions.get(device.device)
        if partition is None:
            raise FsInfoError(
                f'failed to get mount point for device "{device.device}": no partition info for device "{device.device}"',
                kind="device_not_found",
            )

        sample = self.statfs_partition(partition)
        return DirFsInfo.from_statfs(
            directory,
            partition,
            sample,
            device=device.device,
            major=device.major,
            minor=device.minor,
            dir_major=device.dir_major,
            dir_minor=device.dir_minor,
            resolution=device.resolution,
            device_in_table=device.device_in_table,
            time=self._clock(),
        )

    def statfs_partition(self, partition: Partition) -> StatfsSample:
        """statfs of a partition's mountpoint; a failure leaves no sample, as in cAdvisor's housekeeping."""
        try:
            return StatfsSample.from_statvfs(self._statfs(partition.mountpoint))
        except OSError as error:
            raise FsInfoError(
                f'cannot find filesystem info for device "{partition.device}" '
                f"(statfs {partition.mountpoint} failed: {_go_errno_text(error)})",
                kind="os_error",
            ) from error


def _go_errno_text(error: OSError) -> str:
    """Return the errno text as Go prints it (strerror without the capital), for cAdvisor-like messages."""
    if error.errno is not None:
        text = os.strerror(error.errno)
        if error.errno == errno.ENOENT:
            return "no such file or directory"
        return text[:1].lower() + text[1:]
    return str(error)
