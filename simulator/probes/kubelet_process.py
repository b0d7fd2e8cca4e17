"""Find the kubelet process in /proc and when it started.

The kubelet's image manager records an image's first detection when the kubelet starts, so the
daemon dates the images it finds on its first sample from the kubelet's start, not its own.
The kubelet is visible only when evictsim shares the host's PID namespace.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from pathlib import Path

UTC = dt.UTC
KUBELET_COMM = "kubelet"
# Field 22 of /proc/PID/stat (proc(5)): the process start time in clock ticks after boot.
_STARTTIME_FIELD = 22


@dataclasses.dataclass(frozen=True, slots=True)
class KubeletProcess:
    """The kubelet process found in /proc: its PID and start time (UTC)."""

    pid: int
    started_at: dt.datetime


def find_kubelet_process(proc_root: str | Path = "/proc", *, clock_ticks: int | None = None) -> KubeletProcess | None:
    """Return the oldest process named ``kubelet`` under ``proc_root``, or ``None`` when there is none.

    The start time is ``btime`` from ``/proc/stat`` plus field 22 of ``/proc/PID/stat`` divided
    by ``SC_CLK_TCK``. Unreadable entries (processes that exited, no permission) are skipped.
    """
    root = Path(proc_root)
    boot_time = _boot_time(root)
    if boot_time is None:
        return None
    ticks_per_second = clock_ticks or os.sysconf("SC_CLK_TCK")
    found: KubeletProcess | None = None
    try:
        entries = list(root.iterdir())
    except OSError:
        return None
    for entry in entries:
        if not entry.name.isdigit():
            continue
        start_ticks = _kubelet_start_ticks(entry)
        if start_ticks is None:
            continue
        started_at = dt.datetime.fromtimestamp(boot_time + start_ticks / ticks_per_second, UTC)
        if found is None or started_at < found.started_at:
            found = KubeletProcess(pid=int(entry.name), started_at=started_at)
    return found


def _boot_time(root: Path) -> int | None:
    try:
        text = (root / "stat").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == "btime" and value.strip().isdigit():
            return int(value.strip())
    return None


def _kubelet_start_ticks(process_dir: Path) -> int | None:
    """Return field 22 of ``stat`` when the process is named kubelet, else ``None``."""
    try:
        if (process_dir / "comm").read_text().strip() != KUBELET_COMM:
            return None
        stat = (process_dir / "stat").read_text()
    except OSError:
        return None
    # The name in field 2 is in parentheses and may contain spaces, so fields are counted
    # after the last closing parenthesis, where field 3 starts.
    after_name = stat[stat.rfind(")") + 1 :].split()
    index = _STARTTIME_FIELD - 3
    if index >= len(after_name) or not after_name[index].isdigit():
        return None
    return int(after_name[index])
