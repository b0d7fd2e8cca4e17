"""Read the mount table and unmount what the harness left behind.

The harness passes only directories it created, so the host's own mounts stay untouched.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

MOUNTINFO_PATH = Path("/proc/self/mountinfo")


@dataclass(frozen=True)
class MountEntry:
    """One line of /proc/self/mountinfo, with octal escapes such as ``\\040`` decoded."""

    mount_id: int
    major_minor: str
    mountpoint: str
    fs_type: str
    source: str


def _decode_octal_escapes(field: str) -> str:
    # The kernel escapes space, tab, newline and backslash as a backslash and three octal digits.
    out: list[str] = []
    i = 0
    while i < len(field):
        if field[i] == "\\" and i + 3 < len(field) and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
            continue
        out.append(field[i])
        i += 1
    return "".join(out)


def read_mounts(path: Path = MOUNTINFO_PATH) -> list[MountEntry]:
    """Parse the mount table, in the kernel's order (parents before children)."""
    entries: list[MountEntry] = []
    for line in path.read_text().splitlines():
        before, _, after = line.partition(" - ")
        fields = before.split()
        tail = after.split()
        entries.append(
            MountEntry(
                mount_id=int(fields[0]),
                major_minor=fields[2],
                mountpoint=_decode_octal_escapes(fields[4]),
                fs_type=tail[0] if tail else "",
                source=_decode_octal_escapes(tail[1]) if len(tail) > 1 else "",
            )
        )
    return entries


def _is_under(path: str, prefix: str) -> bool:
    prefix = prefix.rstrip("/")
    return path == prefix or path.startswith(prefix + "/")


def mounts_under(prefix: str | Path, path: Path = MOUNTINFO_PATH) -> list[MountEntry]:
    """Return the mounts at or below ``prefix``, deepest mountpoint first."""
    real_prefix = os.path.realpath(prefix)
    found = [entry for entry in read_mounts(path) if _is_under(entry.mountpoint, real_prefix)]
    found.sort(key=lambda entry: (entry.mountpoint.count("/"), entry.mount_id), reverse=True)
    return found


def unmount(mountpoint: str, *, attempts: int = 5) -> None:
    """Unmount one mountpoint, retrying while busy, then detach it lazily (``umount -l``)."""
    for _ in range(attempts):
        result = subprocess.run(["umount", mountpoint], capture_output=True, text=True, check=False)
        if result.returncode == 0 or not _is_mounted(mountpoint):
            return
        time.sleep(0.2)
    subprocess.run(["umount", "-l", mountpoint], capture_output=True, text=True, check=False)


def _is_mounted(mountpoint: str) -> bool:
    return any(entry.mountpoint == mountpoint for entry in read_mounts())


def unmount_all_under(prefix: str | Path) -> list[str]:
    """Unmount every mount at or below ``prefix``, children first, and return the mountpoints handled."""
    handled: list[str] = []
    # A lazy unmount of a parent also drops its children, so re-read the table after each step.
    while True:
        remaining = [entry for entry in mounts_under(prefix) if entry.mountpoint not in handled]
        if not remaining:
            return handled
        target = remaining[0].mountpoint
        unmount(target)
        handled.append(target)
