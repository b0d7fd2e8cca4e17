"""Find container runtime directories on filesystems the kubelet does not monitor.

The kubelet watches exactly two filesystems for eviction: nodefs, the filesystem of its root dir,
and imagefs, the filesystem of the first ``image_filesystems`` mountpoint that CRI ``ImageFsInfo``
reports (containerd reports its snapshotter directory). The kubelet checks nothing else. A runtime
directory on a third filesystem can fill up with no DiskPressure condition, no image GC and no
ephemeral-storage eviction.

The runtime's directories come from CRI ``Status`` with ``verbose`` set:

- containerd 1.6 and 1.7 return the CRI plugin config as JSON under info key ``"config"``. Its keys
  ``containerdRootDir`` (containerd's ``root``), ``rootDir`` (``<root>/io.containerd.grpc.v1.cri``)
  and ``stateDir`` (``<state>/io.containerd.grpc.v1.cri``) are checked. They are the JSON names of
  the ``Config`` struct in containerd's ``pkg/cri/config/config.go``, and containerd 1.6.20 returns
  them. containerd's own ``state`` dir, which also contains the task bundles, is the parent of
  ``stateDir`` and is checked as well. The keys are read whatever name the runtime reports, so
  any runtime that sends them is checked.
- CRI-O (``server/runtime_status.go``) and cri-dockerd put only ``sandboxImage`` in that document,
  so their directories are not checked.

Each directory is resolved with cAdvisor's ``GetDirFsInfo`` (:class:`FsInfoProbe`) and its device
name is compared with the monitored devices, as the kubelet compares device names.
"""

from __future__ import annotations

import dataclasses
import json
import posixpath
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from simulator.errors import FsInfoError, ProbeError
from simulator.probes.fsinfo import DirFsInfo, FsInfoProbe

#: The info key under which containerd and CRI-O put their config document.
CONFIG_INFO_KEY = "config"

#: The containerd CRI plugin's id, which names its subdirectory of containerd's root and state.
CONTAINERD_CRI_PLUGIN_ID = "io.containerd.grpc.v1.cri"

#: containerd's config keys that name directories, with what each directory stores.
CONTAINERD_DIRECTORY_KEYS: tuple[tuple[str, str], ...] = (
    ("containerdRootDir", "containerd root: content store, snapshots, metadata"),
    ("rootDir", "CRI plugin root: container status files, sandbox hosts and resolv.conf"),
    ("stateDir", "CRI plugin state: sandbox shm mounts, container IO FIFOs"),
)

#: Filesystems whose pages live in memory, so filling them lowers memory.available instead.
MEMORY_BACKED_FS_TYPES = frozenset({"tmpfs", "ramfs"})

STATUS_MONITORED = "monitored"
STATUS_UNMONITORED = "unmonitored"
STATUS_MEMORY_BACKED = "memory-backed"
STATUS_LOOKUP_FAILED = "lookup failed"


class StatusSource(Protocol):
    """The CRI calls this check makes (:class:`simulator.cri.client.CriClient` satisfies it)."""

    def version(self) -> Any: ...

    def status(self, *, verbose: bool = False) -> Any: ...


@dataclasses.dataclass(frozen=True, slots=True)
class RuntimeDirectory:
    """A directory the runtime writes to, as its Status info names it."""

    path: str
    key: str
    purpose: str


@dataclasses.dataclass(frozen=True, slots=True)
class RuntimeDirFinding:
    """The filesystem of one runtime directory, and whether the kubelet monitors it.

    ``monitored_as`` lists the kubelet filesystems (``imagefs``, ``nodefs``) on the same device.
    ``status`` is one of ``monitored``, ``unmonitored``, ``memory-backed`` or ``lookup failed``.
    """

    directory: RuntimeDirectory
    status: str
    device: str = ""
    fs_type: str = ""
    partition_mountpoint: str = ""
    capacity_bytes: int | None = None
    available_bytes: int | None = None
    monitored_as: tuple[str, ...] = ()
    device_in_table: bool = True
    #: The path actually resolved: the directory itself, or its nearest existing parent.
    resolved_path: str = ""
    error: str = ""

    @property
    def exists(self) -> bool:
        """Whether the directory itself was found (False when a parent stood in for it)."""
        return self.resolved_path == self.directory.path

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "path": self.directory.path,
            "key": self.directory.key,
            "purpose": self.directory.purpose,
            "status": self.status,
            "device": self.device,
            "fsType": self.fs_type,
            "partitionMountpoint": self.partition_mountpoint,
            "capacityBytes": self.capacity_bytes,
            "availableBytes": self.available_bytes,
            "monitoredAs": list(self.monitored_as),
            "deviceInTable": self.device_in_table,
            "resolvedPath": self.resolved_path,
        }
        if self.error:
            out["error"] = self.error
        return out


@dataclasses.dataclass(frozen=True, slots=True)
class RuntimeDirsReport:
    """The result of the check: findings per directory, or why the runtime was not checked.

    ``monitored`` maps each kubelet filesystem (``imagefs``, ``nodefs``) to its device name.
    """

    runtime_name: str
    checked: bool
    monitored: dict[str, str]
    findings: tuple[RuntimeDirFinding, ...] = ()
    reason: str = ""

    @property
    def warnings(self) -> list[str]:
        """One warning per unmonitored device, naming the outermost directory on it."""
        return [_warning_text(finding) for finding in _outermost_unmonitored(self.findings)]

    @property
    def notes(self) -> list[str]:
        """Notes on memory-backed directories, failed lookups and mount table fallbacks."""
        notes: list[str] = []
        for finding in self.findings:
            if finding.status == STATUS_MEMORY_BACKED:
                notes.append(
                    f"runtime directory {finding.directory.path} is on {finding.fs_type} ({finding.device}): "
                    "its files use memory, which memory.available counts, not a filesystem signal"
                )
            elif finding.status == STATUS_LOOKUP_FAILED:
                notes.append(f"runtime directory {finding.directory.path} was not checked: {finding.error}")
            if finding.resolved_path and not finding.exists:
                notes.append(
                    f"runtime directory {finding.directory.path} does not exist yet: the runtime will create it on "
                    f"the filesystem of {finding.resolved_path} ({finding.device}), which was checked in its place"
                )
            if finding.device and not finding.device_in_table:
                notes.append(
                    f"the device of runtime directory {finding.directory.path} is missing from the mount table, "
                    f"so the lookup fell back to the mount at {finding.partition_mountpoint}, which may be "
                    "another filesystem"
                )
        return notes

    def summary_line(self) -> str:
        """Return one line: "not checked" with the reason, or the counts of unmonitored devices and failed lookups."""
        if not self.checked:
            return f"runtime directories not checked: {self.reason}"
        count = len(self.warnings)
        failed = sum(1 for finding in self.findings if finding.status == STATUS_LOOKUP_FAILED)
        if count == 0 and failed == 0:
            return (
                f"runtime directories of {self.runtime_name}: all on monitored or memory-backed filesystems"
            )
        plural = "" if count == 1 else "s"
        line = f"runtime directories of {self.runtime_name}: {count} unmonitored filesystem{plural}"
        if failed:
            line += f", {failed} not checked"
        return line

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "runtimeName": self.runtime_name,
            "checked": self.checked,
            "monitored": dict(self.monitored),
            "directories": [finding.to_json() for finding in self.findings],
            "warnings": self.warnings,
            "notes": self.notes,
        }
        if not self.checked:
            out["reason"] = self.reason
        return out


def runtime_directories(runtime_name: str, info: Mapping[str, str]) -> tuple[list[RuntimeDirectory], str]:
    """Read the runtime's directories from a verbose Status ``info`` map.

    Returns the directories and an empty reason, or no directories and the reason they are
    unknown (a runtime other than containerd, a missing key or an invalid document).
    """
    document_text = info.get(CONFIG_INFO_KEY)
    if document_text is None:
        return (
            [],
            f"runtime {runtime_name or '(unnamed)'} sent no {CONFIG_INFO_KEY!r} key in its verbose Status info",
        )
    try:
        document = json.loads(document_text)
    except json.JSONDecodeError as error:
        return [], f"invalid JSON in Status info key {CONFIG_INFO_KEY!r}: {error}"
    if not isinstance(document, dict):
        return (
            [],
            f"Status info key {CONFIG_INFO_KEY!r} is a JSON {type(document).__name__}, expected an object",
        )

    directories: list[RuntimeDirectory] = []
    for key, purpose in CONTAINERD_DIRECTORY_KEYS:
        value = document.get(key)
        if isinstance(value, str) and value.startswith("/"):
            directories.append(RuntimeDirectory(posixpath.normpath(value), key, purpose))
    if not directories:
        return [], (
            f"runtime {runtime_name or '(unnamed)'} names no directories in its Status info "
            "(only containerd's CRI plugin config lists them)"
        )

    state_parent = _containerd_state_dir(directories)
    if state_parent is not None:
        directories.append(state_parent)
    return directories, ""


def _containerd_state_dir(directories: Sequence[RuntimeDirectory]) -> RuntimeDirectory | None:
    """Derive containerd's ``state`` dir: the CRI plugin's state dir is ``<state>/io.containerd.grpc.v1.cri``."""
    for directory in directories:
        if directory.key == "stateDir" and posixpath.basename(directory.path) == CONTAINERD_CRI_PLUGIN_ID:
            return RuntimeDirectory(
                posixpath.dirname(directory.path),
                "stateDir/..",
                "containerd state: task bundles with container rootfs mountpoints and shim logs",
            )
    return None


def check_runtime_dirs(
    cri: StatusSource, probe: FsInfoProbe, *, monitored: Mapping[str, str]
) -> RuntimeDirsReport:
    """Compare the runtime's directories with the monitored devices (``{"imagefs": dev, "nodefs": dev}``).

    A CRI failure or an unknown runtime gives a report with ``checked`` False and the reason.
    A directory whose lookup fails gets a ``lookup failed`` finding. Neither raises, and nothing
    is logged, because the CLI prints to stdout: the caller shows or logs the report.
    """
    monitored = dict(monitored)
    try:
        runtime_name = cri.version().runtime_name
        status = cri.status(verbose=True)
    except ProbeError as error:
        return RuntimeDirsReport("", False, monitored, reason=f"CRI Status failed: {error}")

    directories, reason = runtime_directories(runtime_name, status.info)
    if reason:
        return RuntimeDirsReport(runtime_name, False, monitored, reason=reason)

    findings = tuple(_resolve(probe, directory, monitored) for directory in directories)
    return RuntimeDirsReport(runtime_name, True, monitored, findings)


def _resolve(
    probe: FsInfoProbe, directory: RuntimeDirectory, monitored: Mapping[str, str]
) -> RuntimeDirFinding:
    try:
        info = _dir_fs_info_of_nearest_existing(probe, directory.path)
    except FsInfoError as error:
        return RuntimeDirFinding(directory, STATUS_LOOKUP_FAILED, error=str(error))

    monitored_as = tuple(name for name, device in monitored.items() if device == info.device)
    if monitored_as:
        status = STATUS_MONITORED
    elif info.fs_type in MEMORY_BACKED_FS_TYPES:
        status = STATUS_MEMORY_BACKED
    else:
        status = STATUS_UNMONITORED
    return RuntimeDirFinding(
        directory,
        status,
        device=info.device,
        fs_type=info.fs_type,
        partition_mountpoint=info.partition_mountpoint,
        capacity_bytes=info.capacity_bytes,
        available_bytes=info.available_bytes,
        monitored_as=monitored_as,
        device_in_table=info.device_in_table,
        resolved_path=info.dir,
    )


def _dir_fs_info_of_nearest_existing(probe: FsInfoProbe, path: str) -> DirFsInfo:
    """Resolve ``path``, or its nearest existing parent when it does not exist yet.

    containerd creates some directories on first use (the CRI plugin's root dir appears with the
    first sandbox), and they land on the filesystem of the nearest existing parent. Any failure
    other than a missing path raises the directory's own FsInfoError.
    """
    candidate = path
    while True:
        try:
            return probe.dir_fs_info(candidate)
        except FsInfoError as error:
            parent = posixpath.dirname(candidate)
            if not _is_missing_path(error) or parent == candidate:
                if candidate == path:
                    raise
                raise FsInfoError(
                    f"neither {path} nor its parents up to {candidate} exist: {error}", kind=error.kind
                ) from error
            candidate = parent


def _is_missing_path(error: BaseException) -> bool:
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, FileNotFoundError):
            return True
        cause = cause.__cause__
    return False


def _outermost_unmonitored(findings: Sequence[RuntimeDirFinding]) -> list[RuntimeDirFinding]:
    """Keep one unmonitored finding per device: the one with the shortest path, in input order."""
    chosen: dict[str, RuntimeDirFinding] = {}
    for finding in findings:
        if finding.status != STATUS_UNMONITORED:
            continue
        current = chosen.get(finding.device)
        if current is None or len(finding.directory.path) < len(current.directory.path):
            chosen[finding.device] = finding
    return list(chosen.values())


def _warning_text(finding: RuntimeDirFinding) -> str:
    return (
        f"runtime directory {finding.directory.path} on an unmonitored filesystem ({finding.device}, "
        f"{finding.fs_type} mounted at {finding.partition_mountpoint}): no eviction protection. The kubelet "
        "watches only nodefs and imagefs, so filling it sets no DiskPressure and triggers no image GC "
        "or eviction"
    )
