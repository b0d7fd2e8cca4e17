"""The node's process limits (Summary ``node.rlimit``), Linux only.

Restated from the kubelet's ``pkg/kubelet/stats/pidlimit/pidlimit_linux.go`` (1.27 and later):

* ``maxpid`` is the smaller of ``/proc/sys/kernel/pid_max`` and ``/proc/sys/kernel/threads-max``,
  because both limit the number of tasks. A file that cannot be read or parsed is skipped, and
  ``maxpid`` is absent when both are. Kubelets before 1.21 read ``pid_max`` only.
* ``curproc`` is the total number of tasks (threads included): the number after the slash in the
  fourth field of ``/proc/loadavg``. When that fails, it is sysinfo(2)'s ``procs``, a 16-bit
  counter that stops being exact above 65535.

``pid.available`` is then maxpid - curproc with capacity maxpid.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path

import structlog

from simulator.errors import ProbeError

log = structlog.get_logger(__name__)

Clock = Callable[[], dt.datetime]


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclasses.dataclass(frozen=True, slots=True)
class RlimitSample:
    """``maxpid`` and ``curproc`` with the files (or call) each came from."""

    maxpid: int | None
    curproc: int
    maxpid_source: str
    curproc_source: str
    time: dt.datetime


class _Sysinfo(ctypes.Structure):
    # struct sysinfo from <sys/sysinfo.h>; only the fields up to procs are read.
    _fields_ = [
        ("uptime", ctypes.c_long),
        ("loads", ctypes.c_ulong * 3),
        ("totalram", ctypes.c_ulong),
        ("freeram", ctypes.c_ulong),
        ("sharedram", ctypes.c_ulong),
        ("bufferram", ctypes.c_ulong),
        ("totalswap", ctypes.c_ulong),
        ("freeswap", ctypes.c_ulong),
        ("procs", ctypes.c_ushort),
        ("pad", ctypes.c_ushort),
        ("totalhigh", ctypes.c_ulong),
        ("freehigh", ctypes.c_ulong),
        ("mem_unit", ctypes.c_uint),
        ("reserved", ctypes.c_char * 8),
    ]


def sysinfo_procs() -> int:
    """Return the ``procs`` field of sysinfo(2); raise ProbeError when the call fails."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    info = _Sysinfo()
    if libc.sysinfo(ctypes.byref(info)) != 0:
        code = ctypes.get_errno()
        raise ProbeError(f"sysinfo(2) failed: {os.strerror(code)}")
    return int(info.procs)


def parse_loadavg_tasks(text: str) -> int:
    """Parse the total task count from ``/proc/loadavg`` text such as ``1.36 3.49 4.53 2/3518 3715089``."""
    fields = text.split()
    if len(fields) < 5:
        raise ValueError(f"expected 5 fields in /proc/loadavg, found {len(fields)}")
    running_total = fields[3].split("/")
    if len(running_total) != 2 or not running_total[1].isdigit():
        raise ValueError(f"invalid fourth field {fields[3]!r} of /proc/loadavg; expected running/total")
    return int(running_total[1])


class PidProbe:
    """Read ``maxpid`` and ``curproc`` under ``proc_root``; sysinfo(2) and the clock are injectable."""

    def __init__(
        self,
        *,
        proc_root: str | os.PathLike[str] = "/proc",
        sysinfo: Callable[[], int] = sysinfo_procs,
        clock: Clock = _utc_now,
    ) -> None:
        self.proc_root = Path(proc_root)
        self._sysinfo = sysinfo
        self._clock = clock

    def rlimit(self) -> RlimitSample:
        maxpid, maxpid_source = self._maxpid()
        curproc, curproc_source = self._curproc()
        return RlimitSample(maxpid, curproc, maxpid_source, curproc_source, self._clock())

    def _maxpid(self) -> tuple[int | None, str]:
        limits: list[tuple[int, str]] = []
        for name in ("pid_max", "threads-max"):
            path = self.proc_root / "sys" / "kernel" / name
            try:
                text = path.read_text().strip()
            except OSError as error:
                log.warning("pid_limit_unreadable", path=str(path), error=str(error))
                continue
            if not text.isdigit():
                log.warning("pid_limit_invalid", path=str(path), value=text)
                continue
            limits.append((int(text), str(path)))
        if not limits:
            return None, ""
        value, source = min(limits, key=lambda item: item[0])
        return value, source

    def _curproc(self) -> tuple[int, str]:
        path = self.proc_root / "loadavg"
        try:
            return parse_loadavg_tasks(path.read_text()), f"{path} field 4"
        except (OSError, ValueError) as error:
            log.warning("loadavg_unusable", path=str(path), error=str(error))
        return self._sysinfo(), "sysinfo(2) procs"
