"""Cleanup shared by node teardown and by the sweep of nodes a killed test run left behind.

Every node directory gets an ``owner.json`` naming the process that created it (pid and
start time) and, once started, containerd's pid. A directory whose owner has exited while
its node still exists is stale: a test run or demo died (SIGKILL, OOM, a crash) before its
teardown ran. ``sweep_stale_nodes`` releases such nodes the way ``ContainerdNode.stop`` does,
minus the CRI calls.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import structlog

from harness.mounts import mounts_under, unmount_all_under
from harness.processes import descendant_pids, is_alive, read_cmdline, shim_pids, start_ticks, terminate

log = structlog.get_logger("evictsim.tests.harness")

NODE_DIR_PREFIX = "evictsim-node-"
OWNER_FILE = "owner.json"
BACKING_FILES = ("imagefs.img", "nodefs.img")
STOP_TIMEOUT_S = 10.0


def log_safely(level: str, event: str, **fields: object) -> None:
    """Log a teardown event without ever raising, because cleanup must go on when logging fails.

    A logger that writes to a stream pytest has already closed raises ValueError.
    """
    try:
        getattr(log, level)(event, **fields)
    except Exception:  # noqa: BLE001, S110 - nothing left to report the logging failure to
        pass


def remove_cgroups(cgroup_root: str, hierarchy_root: Path = Path("/sys/fs/cgroup")) -> None:
    """Remove the empty cgroup directories runc left under ``cgroup_root`` in every hierarchy.

    runc removes a container's own cgroup but not the pod-level parents the harness named.
    Only rmdir is used, so a cgroup that still has processes stays and is logged.
    """
    relative = cgroup_root.strip("/")
    candidates = [hierarchy_root / relative]
    if hierarchy_root.is_dir():
        candidates += [child / relative for child in hierarchy_root.iterdir() if child.is_dir()]
    for top in candidates:
        if not top.is_dir():
            continue
        for directory, _, _ in sorted(os.walk(top), key=lambda item: item[0].count("/"), reverse=True):
            try:
                os.rmdir(directory)
            except OSError as error:
                log_safely("warning", "cgroup_remove_failed", path=directory, error=str(error))


@dataclass(frozen=True)
class OwnerRecord:
    """Contents of ``owner.json``: who created a node directory, and containerd's pid once started."""

    owner_pid: int
    owner_start_ticks: int
    containerd_pid: int | None = None

    def owner_alive(self) -> bool:
        """Report whether the creating process still runs (same pid and same start time)."""
        return is_alive(self.owner_pid) and start_ticks(self.owner_pid) == self.owner_start_ticks


def write_owner_record(base_dir: Path, containerd_pid: int | None = None) -> None:
    """Record the current process as the owner of ``base_dir`` (and containerd's pid, if given)."""
    pid = os.getpid()
    record = {"owner_pid": pid, "owner_start_ticks": start_ticks(pid), "containerd_pid": containerd_pid}
    (base_dir / OWNER_FILE).write_text(json.dumps(record))


def read_owner_record(base_dir: Path) -> OwnerRecord | None:
    """Return the directory's owner record, or None when it is missing or unreadable."""
    try:
        data = json.loads((base_dir / OWNER_FILE).read_text())
        return OwnerRecord(int(data["owner_pid"]), int(data["owner_start_ticks"]), data.get("containerd_pid"))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def find_stale_nodes(parent: Path | None = None) -> list[Path]:
    """Return node directories under ``parent`` (default: the temp dir) whose owner has exited."""
    parent = Path(parent or tempfile.gettempdir())
    stale = []
    for candidate in sorted(parent.glob(NODE_DIR_PREFIX + "*")):
        record = read_owner_record(candidate)
        if candidate.is_dir() and record is not None and not record.owner_alive():
            stale.append(candidate)
    return stale


def release_node_dir(base_dir: Path, record: OwnerRecord | None) -> None:
    """Stop a dead owner's containerd and shims, then unmount, detach and delete the node directory."""
    config_path = str(base_dir / "config.toml")
    if (
        record is not None
        and record.containerd_pid is not None
        and config_path in read_cmdline(record.containerd_pid)
    ):
        terminate([record.containerd_pid], timeout_s=STOP_TIMEOUT_S)
    shims = shim_pids(base_dir / "containerd.sock")
    if shims:
        terminate(descendant_pids(shims), timeout_s=2.0)
        terminate(shims, timeout_s=STOP_TIMEOUT_S)
    remove_cgroups("/" + base_dir.name)
    unmount_all_under(base_dir)
    for name in BACKING_FILES:
        detach_loop_devices(base_dir / name)
    if mounts_under(base_dir):
        log_safely("error", "mounts_left_behind", base_dir=str(base_dir))
        return
    shutil.rmtree(base_dir, ignore_errors=True)


def detach_loop_devices(backing_file: Path) -> None:
    """Detach every loop device attached to ``backing_file``."""
    result = subprocess.run(["losetup", "-j", str(backing_file)], capture_output=True, text=True, check=False)
    for line in result.stdout.splitlines():
        device = line.split(":", 1)[0]
        if device.startswith("/dev/loop"):
            subprocess.run(["losetup", "-d", device], capture_output=True, check=False)


def sweep_stale_nodes(parent: Path | None = None) -> list[Path]:
    """Release every stale node directory under ``parent`` and return the ones released."""
    released = []
    for base_dir in find_stale_nodes(parent):
        log_safely("warning", "stale_node_released", base_dir=str(base_dir))
        release_node_dir(base_dir, read_owner_record(base_dir))
        released.append(base_dir)
    return released
