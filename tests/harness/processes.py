"""Find and stop the processes a harness node started, by pid, using /proc.

The harness signals only pids it recorded, or containerd shims whose ``-address`` is its own
socket, and their descendants.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def read_cmdline(pid: int) -> list[str]:
    """Return a process's argv, or an empty list when it has exited."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _stat_fields(pid: int) -> list[str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name in field 2 may contain spaces, so split after its closing bracket.
    # The returned list starts at field 3 (state).
    return stat.rsplit(")", 1)[1].split()


def parent_pid(pid: int) -> int | None:
    """Return a process's parent pid, or None when it has exited."""
    fields = _stat_fields(pid)
    return int(fields[1]) if fields else None


def start_ticks(pid: int) -> int | None:
    """Return a process's start time in clock ticks since boot (field 22 of /proc/PID/stat).

    A pid and its start time together name one process, even after the pid is reused.
    """
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def all_pids() -> list[int]:
    """Return the pids of every process visible in /proc."""
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def is_alive(pid: int) -> bool:
    """Report whether a process exists and is not a zombie."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def terminate(pids: list[int], *, timeout_s: float) -> None:
    """Send SIGTERM to each pid, wait up to ``timeout_s``, then SIGKILL the survivors."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and any(is_alive(pid) for pid in pids):
            time.sleep(0.05)
        if not any(is_alive(pid) for pid in pids):
            return


def descendant_pids(roots: list[int]) -> list[int]:
    """Return every descendant of the ``roots`` processes, parents before children."""
    children: dict[int, list[int]] = {}
    for pid in all_pids():
        parent = parent_pid(pid)
        if parent is not None:
            children.setdefault(parent, []).append(pid)
    found: list[int] = []
    stack = list(roots)
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def shim_pids(socket_path: Path) -> list[int]:
    """Return the pids of containerd-shim processes whose ``-address`` is ``socket_path``."""
    socket = str(socket_path)
    pids = []
    for pid in all_pids():
        cmdline = read_cmdline(pid)
        if cmdline and "containerd-shim" in os.path.basename(cmdline[0]) and socket in cmdline:
            pids.append(pid)
    return pids
