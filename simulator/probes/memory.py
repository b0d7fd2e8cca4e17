"""Memory of the node (root cgroup) and of the ``pods`` system container (the kubepods cgroup), Linux only.

The kubelet takes these numbers from cAdvisor, which reads them through runc's cgroup library.
The rules reproduced here, and where they come from:

* usage: cgroup v1 ``memory.usage_in_bytes``; cgroup v2 ``memory.current``. The v2 root cgroup has
  no ``memory.current``, so the library emulates it as ``anon + file`` from the root's
  ``memory.stat``. Source: ``rootStatsFromMeminfo`` in opencontainers/cgroups ``fs2/memory.go``
  (commit f3ce2ac), the rule runc adopted in its pull request 3933 (2023, runc 1.2). runc 1.1's
  ``statsFromMeminfo`` (runc commit 13c4182) used (MemTotal - MemFree) * 1024 instead. Choose it
  with ``v2_root_usage="meminfo"``.
* working set = usage - inactive file, floored at 0, where the inactive file key is
  ``total_inactive_file`` on v1 and ``inactive_file`` on v2 (cAdvisor
  ``container/libcontainer/handler.go`` ``setMemoryStats``).
* RSS: v1 ``total_rss`` (``rss`` without hierarchy); v2 ``anon``. Page faults: ``pgfault`` and
  ``pgmajfault`` of ``memory.stat``.
* limit: for the root cgroup, the machine's memory, ``MemTotal`` of ``/proc/meminfo`` in bytes
  (cAdvisor ``container/common/helpers.go`` ``GetSpec``); for other cgroups
  ``memory.limit_in_bytes`` (v1) or ``memory.max`` (v2).
* available = limit - working set, present only when the limit is finite: the kubelet treats
  limits above 2**62 (and v2 ``max``) as unlimited (``pkg/kubelet/stats/helper.go``).

The kubelet's ``memory.available`` is the root's available bytes, and its capacity is
available + working set. ``allocatableMemory.available`` uses the ``pods`` container the same way.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path

from simulator.errors import InputError, ProbeError

Clock = Callable[[], dt.datetime]

# The kubelet's cut-off for "no memory limit" (isMemoryUnlimited in pkg/kubelet/stats/helper.go).
UNLIMITED_MEMORY_BYTES = 1 << 62

# The pod cgroup root: "kubepods" with the cgroupfs driver, "kubepods.slice" with the systemd driver.
KUBEPODS_NAMES = ("kubepods.slice", "kubepods")

# Rules for emulating the v2 root's usage: runc 1.2 and later ("anon_file") or runc 1.1 ("meminfo").
# NOTE: which kubelet minor first vendors runc 1.2 was not checked; read the kubelet's go.mod.
V2_ROOT_USAGE_RULES = ("anon_file", "meminfo")


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclasses.dataclass(frozen=True, slots=True)
class CgroupMemory:
    """Memory of one cgroup as cAdvisor reports it, in bytes, with the files the numbers came from."""

    cgroup_path: str
    cgroup_version: int
    usage_bytes: int
    working_set_bytes: int
    inactive_file_bytes: int | None
    rss_bytes: int | None
    page_faults: int | None
    major_page_faults: int | None
    limit_bytes: int | None
    available_bytes: int | None
    usage_source: str
    limit_source: str
    time: dt.datetime


def read_memory_stat(path: Path) -> dict[str, int]:
    """Parse a ``memory.stat`` file (``key value`` lines); raise ProbeError naming the file on bad lines."""
    stats: dict[str, int] = {}
    text = _read_text(path)
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            raise ProbeError(
                f"{path}: line {line_number}: invalid memory.stat entry {line!r}; expected 'key value'"
            )
        stats[parts[0]] = int(parts[1])
    return stats


def read_meminfo_total_bytes(proc_root: str | os.PathLike[str] = "/proc") -> int:
    """Read the machine's memory: ``MemTotal`` of ``/proc/meminfo`` (kB) times 1024, as cAdvisor reads it."""
    (total,) = _read_meminfo_fields(Path(proc_root), ("MemTotal",))
    return total * 1024


def _read_meminfo_fields(proc_root: Path, keys: tuple[str, ...]) -> tuple[int, ...]:
    """Read ``/proc/meminfo`` fields in kB; raise ProbeError when one is missing or not a number."""
    path = proc_root / "meminfo"
    found: dict[str, int] = {}
    for line in _read_text(path).splitlines():
        key, _, rest = line.partition(":")
        if key not in keys:
            continue
        value = rest.strip().removesuffix("kB").strip()
        if not value.isdigit():
            raise ProbeError(f"{path}: invalid {key} value {rest.strip()!r}; expected a number of kB")
        found[key] = int(value)
    missing = [key for key in keys if key not in found]
    if missing:
        raise ProbeError(f"{path}: {', '.join(missing)} not found")
    return tuple(found[key] for key in keys)


def _read_text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as error:
        raise ProbeError(f"failed to read {path}: {error.strerror or error}") from error


def _read_uint(path: Path) -> int | None:
    """Read a single-number cgroup file; return None for ``max`` and raise ProbeError on other content."""
    text = _read_text(path).strip()
    if text == "max":
        return None
    if not text.isdigit():
        raise ProbeError(f"{path}: invalid value {text!r}; expected a number of bytes or 'max'")
    return int(text)


class MemoryProbe:
    """Read node and kubepods memory from a cgroup tree; ``cgroup_root`` and ``proc_root`` are injectable."""

    def __init__(
        self,
        *,
        cgroup_root: str | os.PathLike[str] = "/sys/fs/cgroup",
        proc_root: str | os.PathLike[str] = "/proc",
        clock: Clock = _utc_now,
        v2_root_usage: str = "anon_file",
    ) -> None:
        if v2_root_usage not in V2_ROOT_USAGE_RULES:
            raise InputError(
                f"v2_root_usage: invalid value {v2_root_usage!r}; expected one of {', '.join(V2_ROOT_USAGE_RULES)}",
                field="v2_root_usage",
                value=v2_root_usage,
            )
        self.cgroup_root = Path(cgroup_root)
        self.proc_root = Path(proc_root)
        self._clock = clock
        self.v2_root_usage = v2_root_usage

    @property
    def cgroup_version(self) -> int:
        """2 when the root is a unified hierarchy (it has ``cgroup.controllers``), else 1."""
        return 2 if (self.cgroup_root / "cgroup.controllers").exists() else 1

    def _memory_root(self) -> Path:
        return self.cgroup_root if self.cgroup_version == 2 else self.cgroup_root / "memory"

    def node_memory(self) -> CgroupMemory:
        """Read the root cgroup, whose limit is the machine's memory (``MemTotal``)."""
        machine_bytes = read_meminfo_total_bytes(self.proc_root)
        return self._cgroup_memory(self._memory_root(), is_root=True, root_limit=machine_bytes)

    def pods_memory(self) -> CgroupMemory | None:
        """Read the kubepods cgroup (``kubepods.slice`` or ``kubepods``); return None when neither exists."""
        memory_root = self._memory_root()
        for name in KUBEPODS_NAMES:
            candidate = memory_root / name
            if candidate.is_dir():
                return self._cgroup_memory(candidate, is_root=False, root_limit=None)
        return None

    def _cgroup_memory(self, path: Path, *, is_root: bool, root_limit: int | None) -> CgroupMemory:
        version = self.cgroup_version
        stats = read_memory_stat(path / "memory.stat")
        if version == 2:
            usage, usage_source = self._usage_v2(path, stats, is_root=is_root)
            inactive_key, rss = "inactive_file", stats.get("anon")
        else:
            usage_file = path / "memory.usage_in_bytes"
            usage = _read_uint(usage_file) or 0
            usage_source = str(usage_file)
            inactive_key = "total_inactive_file"
            hierarchical = self._use_hierarchy(path)
            rss = stats.get("total_rss" if hierarchical else "rss")

        inactive = stats.get(inactive_key)
        working_set = usage if inactive is None else max(usage - inactive, 0)

        if is_root:
            limit, limit_source = root_limit, str(self.proc_root / "meminfo") + " MemTotal"
        else:
            limit_file = path / ("memory.max" if version == 2 else "memory.limit_in_bytes")
            limit, limit_source = _read_uint(limit_file), str(limit_file)
        if limit is not None and limit > UNLIMITED_MEMORY_BYTES:
            limit = None
        # NOTE: the kubelet subtracts in uint64, so a working set above the limit would wrap around;
        # this probe reports 0 available instead.
        available = None if limit is None else max(limit - working_set, 0)

        return CgroupMemory(
            cgroup_path=str(path),
            cgroup_version=version,
            usage_bytes=usage,
            working_set_bytes=working_set,
            inactive_file_bytes=inactive,
            rss_bytes=rss,
            page_faults=stats.get("pgfault"),
            major_page_faults=stats.get("pgmajfault"),
            limit_bytes=limit,
            available_bytes=available,
            usage_source=usage_source,
            limit_source=limit_source,
            time=self._clock(),
        )

    def _usage_v2(self, path: Path, stats: dict[str, int], *, is_root: bool) -> tuple[int, str]:
        current = path / "memory.current"
        if current.exists() or not is_root:
            return _read_uint(current) or 0, str(current)
        # the v2 root cgroup has no memory.current, so runc's cgroup library emulates it
        if self.v2_root_usage == "meminfo":
            total, free = _read_meminfo_fields(self.proc_root, ("MemTotal", "MemFree"))
            return (total - free) * 1024, f"{self.proc_root / 'meminfo'} MemTotal - MemFree"
        return stats.get("anon", 0) + stats.get("file", 0), f"{path / 'memory.stat'} anon + file"

    @staticmethod
    def _use_hierarchy(path: Path) -> bool:
        flag = path / "memory.use_hierarchy"
        if not flag.exists():
            return True
        return _read_text(flag).strip() == "1"
