"""The mount table as cAdvisor reads it once at kubelet start, and the partition table built from it.

The kubelet's cAdvisor parses ``/proc/self/mountinfo`` a single time, when it starts, and never
refreshes it. A disk mounted later is unknown to it until the kubelet restarts. :class:`MountTable`
reproduces that snapshot for the cAdvisor releases that kubelets 1.27 to 1.35 vendor (v0.47 to
v0.53, the built-in filesystem type switch, called "cAdvisor <= 0.54" here). The rules follow
cAdvisor v0.53.0 ``fs/fs.go`` (``processMounts``, ``addSystemRootLabel``) and the mountinfo parser
of moby/sys ``mountinfo``:

* the first mountinfo line for a mount source wins, so bind mounts never displace the original;
* tmpfs partitions are keyed by their mountpoint, overlay partitions by ``<source>_<major>-<minor>``;
* btrfs major:minor numbers are replaced by ``stat(mountpoint).st_dev`` when the source is a block device;
* the first line mounted at ``/`` always becomes a partition, whatever its type;
* other unsupported types (fuse.*, 9p, vfat, ...) never become partitions.

cAdvisor v0.53 rewrites the mount records in place while it builds the table, so the mount map and
the root entry see the rewritten sources and numbers. This module does the same.
"""

from __future__ import annotations

import dataclasses
import os
import stat as stat_module
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from simulator.errors import InputError

log = structlog.get_logger(__name__)

StatFunction = Callable[[str], Any]
"""A function like :func:`os.stat`: takes a path, returns an object with ``st_dev`` and ``st_mode``."""

# Filesystem types cAdvisor <= 0.54 collects statistics for; "ext*" and "nfs*" match by prefix.
SUPPORTED_FS_TYPES = frozenset({"btrfs", "overlay", "tmpfs", "xfs", "zfs"})
SUPPORTED_FS_PREFIXES = ("ext", "nfs")

# cAdvisor skips docker devicemapper container mounts. Without a docker daemon at kubelet start,
# the docker root is empty and the prefix becomes this one.
EXCLUDED_MOUNTPOINT_PREFIXES = ("/devicemapper/mnt",)

_MIN_FIELDS = 10


def split_dev(dev: int) -> tuple[int, int]:
    """Split ``st_dev`` into (major, minor) with cAdvisor's 32-bit encoding (8-bit low minor, 12-bit major).

    glibc's ``major()``/``minor()`` also read bits 32 and up. The two agree for every major below
    4096 and minor below 2**20.
    """
    major = (dev >> 8) & 0xFFF
    minor = (dev & 0xFF) | ((dev >> 12) & 0xFFF00)
    return major, minor


def unescape(text: str) -> str:
    """Decode the kernel's octal escapes (``\\040`` space, ``\\011`` tab, ``\\012`` newline, ``\\134`` backslash).

    Like moby/sys ``mountinfo``, only ``\\NNN`` with a first digit 0 or 1 and two more octal digits is
    decoded. Any other backslash stays literal.
    """
    if "\\" not in text:
        return text
    out = bytearray()
    raw = text.encode("utf-8", "surrogateescape")
    index = 0
    while index < len(raw):
        char = raw[index]
        triple = raw[index + 1 : index + 4]
        if (
            char == 0x5C
            and len(triple) == 3
            and triple[0] in b"01"
            and all(0x30 <= digit <= 0x37 for digit in triple[1:])
        ):
            out.append(int(triple.decode(), 8))
            index += 4
            continue
        out.append(char)
        index += 1
    return out.decode("utf-8", "surrogateescape")


@dataclasses.dataclass(slots=True)
class MountInfo:
    """One line of ``/proc/<pid>/mountinfo``, with escapes in paths, type and source decoded.

    ``source`` and the numbers may be rewritten while the partition table is built, as cAdvisor
    v0.53 does; ``raw_source`` keeps the text of the line.
    """

    line_number: int
    mount_id: int
    parent_id: int
    major: int
    minor: int
    root: str
    mountpoint: str
    options: str
    optional_fields: str
    fs_type: str
    source: str
    super_options: str
    raw_source: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class Partition:
    """A partition-table entry: cAdvisor's ``partition`` struct plus its key (the "device" name)."""

    device: str
    mountpoint: str
    major: int
    minor: int
    fs_type: str


def _parse_int(text: str, field: str, line_number: int, line: str, source: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise _line_error(
            f"invalid {field} {text!r}: expected a decimal number", line_number, line, source
        ) from None
    if value < 0:
        raise _line_error(f"invalid {field} {text!r}: expected a number >= 0", line_number, line, source)
    return value


def _line_error(reason: str, line_number: int, line: str, source: str) -> InputError:
    excerpt = line if len(line) <= 200 else line[:200] + "..."
    return InputError(
        f"mountinfo line {line_number}: {reason} in {excerpt!r}",
        field=f"mountinfo line {line_number}",
        value=line,
        source=source,
    )


def parse_mountinfo_line(line: str, line_number: int = 1, *, source: str = "") -> MountInfo:
    """Parse one mountinfo line; raise InputError naming the line number and text when it is malformed."""
    fields = line.split(" ")
    if len(fields) < _MIN_FIELDS:
        raise _line_error(
            f"expected at least {_MIN_FIELDS} space-separated fields, found {len(fields)}",
            line_number,
            line,
            source,
        )

    # The separator "-" is searched backwards from field n-4, so a space in the super options is
    # tolerated. It can be no earlier than field 6, which means no optional fields.
    separator = -1
    for index in range(len(fields) - 4, 5, -1):
        if fields[index] == "-":
            separator = index
            break
    if separator < 0:
        raise _line_error('missing the "-" separator before the filesystem type', line_number, line, source)

    major_minor = fields[2].split(":")
    if len(major_minor) != 2:
        raise _line_error(f"invalid major:minor {fields[2]!r}", line_number, line, source)
    raw_source = fields[separator + 2]
    return MountInfo(
        line_number=line_number,
        mount_id=_parse_int(fields[0], "mount ID", line_number, line, source),
        parent_id=_parse_int(fields[1], "parent ID", line_number, line, source),
        major=_parse_int(major_minor[0], "major number", line_number, line, source),
        minor=_parse_int(major_minor[1], "minor number", line_number, line, source),
        root=unescape(fields[3]),
        mountpoint=unescape(fields[4]),
        options=fields[5],
        optional_fields=" ".join(fields[6:separator]),
        fs_type=unescape(fields[separator + 1]),
        source=unescape(raw_source),
        super_options=" ".join(fields[separator + 3 :]),
        raw_source=unescape(raw_source),
    )


def parse_mountinfo(text: str, *, source: str = "") -> list[MountInfo]:
    """Parse a whole mountinfo file; blank lines are skipped."""
    mounts = []
    for line_number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        mounts.append(parse_mountinfo_line(line, line_number, source=source))
    return mounts


def is_supported_fs_type(fs_type: str) -> bool:
    """Return whether cAdvisor <= 0.54 collects statistics for this filesystem type."""
    return fs_type in SUPPORTED_FS_TYPES or fs_type.startswith(SUPPORTED_FS_PREFIXES)


def btrfs_major_minor(mount: MountInfo, stat: StatFunction) -> tuple[int, int] | None:
    """Apply the btrfs rule: when the source is a block device, take major:minor from ``stat(mountpoint)``.

    mountinfo shows the btrfs superblock's anonymous device, while ``stat`` of a file returns the
    subvolume's. Returns None when the source is not a block device or a stat fails; cAdvisor then
    logs a warning and keeps the mountinfo numbers.
    """
    try:
        source_stat = stat(mount.source)
    except OSError as error:
        log.warning("btrfs_source_stat_failed", source=mount.source, error=str(error))
        return None
    if not stat_module.S_ISBLK(source_stat.st_mode):
        log.warning("btrfs_source_not_block_device", source=mount.source)
        return None
    try:
        mountpoint_stat = stat(mount.mountpoint)
    except OSError as error:
        log.warning("btrfs_mountpoint_stat_failed", mountpoint=mount.mountpoint, error=str(error))
        return None
    return split_dev(mountpoint_stat.st_dev)


def build_partitions(
    mounts: list[MountInfo],
    *,
    stat: StatFunction = os.stat,
    excluded_prefixes: tuple[str, ...] = EXCLUDED_MOUNTPOINT_PREFIXES,
) -> dict[str, Partition]:
    """Build cAdvisor v0.53's partition table (key -> partition) from mounts in file order.

    The mount records are rewritten in place (tmpfs and overlay sources, btrfs numbers), as
    cAdvisor v0.53 does, so callers that build a mount map afterwards see the same values.
    """
    partitions: dict[str, Partition] = {}
    for mount in mounts:
        if not is_supported_fs_type(mount.fs_type):
            continue
        # the first line for a source wins (a bind mount of the same device is skipped), except tmpfs
        if mount.source in partitions and mount.fs_type != "tmpfs":
            continue
        if mount.mountpoint.startswith(excluded_prefixes):
            continue

        if mount.fs_type == "tmpfs":
            mount.source = mount.mountpoint
        if mount.fs_type == "btrfs" and mount.major == 0 and mount.source.startswith("/dev/"):
            fixed = btrfs_major_minor(mount, stat)
            if fixed is not None:
                mount.major, mount.minor = fixed
        if mount.fs_type == "overlay":
            mount.source = f"{mount.source}_{mount.major}-{mount.minor}"

        partitions[mount.source] = Partition(
            mount.source, mount.mountpoint, mount.major, mount.minor, mount.fs_type
        )

    # the root label: the first "/" line always becomes a partition, even of an unsupported type
    for mount in mounts:
        if mount.mountpoint == "/":
            partitions[mount.source] = Partition(mount.source, "/", mount.major, mount.minor, mount.fs_type)
            break
    return partitions


@dataclasses.dataclass(slots=True)
class MountTable:
    """The mounts and partitions cAdvisor holds for its whole life: read once, never refreshed.

    ``mounts_by_mountpoint`` maps each mountpoint to the last line mounted there (the top of an
    overmount stack), as cAdvisor's mount map does. ``source`` names the file it was read from.
    """

    mounts: list[MountInfo]
    partitions: dict[str, Partition]
    mounts_by_mountpoint: dict[str, MountInfo]
    source: str = ""

    @classmethod
    def parse(cls, text: str, *, stat: StatFunction = os.stat, source: str = "") -> MountTable:
        """Build the table from mountinfo text; ``stat`` serves the btrfs rule and is injectable for tests."""
        mounts = parse_mountinfo(text, source=source)
        partitions = build_partitions(mounts, stat=stat)
        by_mountpoint = {mount.mountpoint: mount for mount in mounts}
        return cls(mounts=mounts, partitions=partitions, mounts_by_mountpoint=by_mountpoint, source=source)

    @classmethod
    def from_file(
        cls, path: str | os.PathLike[str] = "/proc/self/mountinfo", *, stat: StatFunction = os.stat
    ) -> MountTable:
        """Read and build the table from a mountinfo file; raise InputError when it cannot be read."""
        name = os.fspath(path)
        try:
            data = Path(name).read_bytes()
        except OSError as error:
            raise InputError(
                f"failed to read mount table {name!r}: {error.strerror or error}; "
                "pass --mountinfo with a readable file such as /proc/self/mountinfo",
                field="mountinfo",
                value=name,
            ) from error
        text = data.decode("utf-8", "surrogateescape")
        return cls.parse(text, stat=stat, source=name)

    def partitions_with_mountpoint(self, mountpoint: str) -> list[Partition]:
        """Return all partitions whose mountpoint equals ``mountpoint``, in table order."""
        return [partition for partition in self.partitions.values() if partition.mountpoint == mountpoint]

    def mount_for_dir(self, directory: str) -> MountInfo | None:
        """Find the mount cAdvisor's parent walk finds: the one at ``directory`` or at its nearest listed ancestor.

        Paths are handled as strings: symlinks and ``..`` are not resolved, as in cAdvisor.
        """
        current = directory
        while True:
            mount = self.mounts_by_mountpoint.get(current)
            if mount is not None:
                return mount
            parent, _, _ = current.rpartition("/")
            if parent == "" and current.startswith("/"):
                return self.mounts_by_mountpoint.get("/")
            if parent == "" or parent == current:
                return None
            current = parent
