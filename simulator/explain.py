"""Explain how the kubelet arrives at its imageFs numbers, step by step, next to what ``df`` prints.

The chain follows the kubelet's CRI stats provider (``ImageFsStats``) and cAdvisor v0.53
``GetDirFsInfo``: CRI ``ImageFsInfo`` -> ``fs_id.mountpoint`` and ``used_bytes`` -> ``stat`` for the
device major:minor -> partition in the mount table read at start -> ``statfs`` of the partition
mountpoint -> capacity and available.

The ``df`` figures follow GNU coreutils df, checked against coreutils 9.1. Size is f_blocks, Used
is f_blocks - f_bfree and Avail is f_bavail, each times f_frsize and rounded up to the block unit
(``-B KB`` means 1000-byte units). Use% is used / (used + avail), rounded up.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from simulator.errors import FsInfoError, ProbeError
from simulator.probes.fsinfo import DirFsInfo, FsInfoProbe
from simulator.probes.runtime_dirs import RuntimeDirsReport, StatusSource, check_runtime_dirs
from simulator.probes.sampler import CriSource, is_missing_directory, time_from_ns, uses_cadvisor_stats_provider
from simulator.snapshot import format_time


def ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


@dataclasses.dataclass(frozen=True, slots=True)
class DfLine:
    """One line of ``df -B <unit>`` for a filesystem, in that unit."""

    unit: str
    unit_bytes: int
    filesystem: str
    size: int
    used: int
    available: int
    use_percent: int
    mounted_on: str

    def to_json(self) -> dict[str, Any]:
        return {
            "command": f"df -B{self.unit if self.unit_bytes == 1 else ' ' + self.unit} {self.mounted_on}",
            "filesystem": self.filesystem,
            "size": self.size,
            "used": self.used,
            "available": self.available,
            "usePercent": self.use_percent,
            "mountedOn": self.mounted_on,
        }

    def render(self) -> str:
        """Format the line as df prints it: sizes with a ``kB`` suffix for ``-B KB``, none for ``-B1``."""
        suffix = "" if self.unit_bytes == 1 else "kB"
        header = f"{'1B' if self.unit_bytes == 1 else '1kB'}-blocks"
        table = _align_columns(
            ["Filesystem", header, "Used", "Available", "Use%", "Mounted on"],
            [
                [
                    self.filesystem,
                    f"{self.size}{suffix}",
                    f"{self.used}{suffix}",
                    f"{self.available}{suffix}",
                    f"{self.use_percent}%",
                    self.mounted_on,
                ]
            ],
        )
        return f"$ df -B{self.unit if self.unit_bytes == 1 else ' ' + self.unit} {self.mounted_on}\n{table}"


def _align_columns(headers: list[str], rows: list[list[str]]) -> str:
    cells = [headers, *rows]
    widths = [max(len(row[index]) for row in cells) for index in range(len(headers))]
    return "\n".join("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in cells)


def df_line(info: DirFsInfo, *, unit: str, unit_bytes: int, filesystem: str) -> DfLine:
    """Compute what GNU df prints for the statfs sample in ``info``, in ``unit_bytes`` units rounded up."""
    sample = info.statfs
    used_bytes = (sample.blocks - sample.bfree) * sample.frsize
    available_bytes = sample.bavail * sample.frsize
    nonroot_total = used_bytes + available_bytes
    use_percent = ceil_div(used_bytes * 100, nonroot_total) if nonroot_total else 0
    return DfLine(
        unit=unit,
        unit_bytes=unit_bytes,
        filesystem=filesystem,
        size=ceil_div(sample.blocks * sample.frsize, unit_bytes),
        used=ceil_div(used_bytes, unit_bytes),
        available=ceil_div(available_bytes, unit_bytes),
        use_percent=use_percent,
        mounted_on=info.partition_mountpoint,
    )


@dataclasses.dataclass(slots=True)
class Step:
    """One numbered step of the chain: what was requested, and the numbers that came back."""

    number: int
    title: str
    text: str
    values: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"step": self.number, "title": self.title, "text": self.text, "values": self.values}


@dataclasses.dataclass(slots=True)
class ImageFsExplanation:
    """The whole explanation: steps, the resulting imageFs, df lines and notes."""

    runtime_endpoint: str
    steps: list[Step]
    image_fs: dict[str, Any]
    df: list[DfLine]
    notes: list[str]
    error: str | None = None
    #: The imagefs device name once step 4 resolved it, else empty.
    image_fs_device: str = ""
    #: Runtime directories outside imagefs and nodefs, set by :func:`add_runtime_dirs`.
    runtime_dirs: RuntimeDirsReport | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "filesystem": "imagefs",
            "runtimeEndpoint": self.runtime_endpoint,
            "steps": [step.to_json() for step in self.steps],
            "imageFs": self.image_fs,
            "df": [line.to_json() for line in self.df],
            "notes": self.notes,
        }
        if self.error is not None:
            out["error"] = self.error
        if self.runtime_dirs is not None:
            out["runtimeDirectories"] = self.runtime_dirs.to_json()
        return out


def explain_image_fs(
    cri: CriSource, probe: FsInfoProbe, *, root_dir: str | None = None
) -> ImageFsExplanation:
    """Walk the kubelet's imageFs chain against a live runtime and mount table.

    With ``root_dir`` (the kubelet's root dir), a note states whether imagefs is a dedicated
    filesystem, which the kubelet decides by comparing the two device names.

    A lookup failure stops the chain at that step and is reported in ``error`` (current kubelets
    fail the whole Summary there) instead of raising. A failing CRI call raises ProbeError.
    """
    endpoint = getattr(cri, "endpoint", "")
    steps: list[Step] = []
    notes: list[str] = []
    explanation = ImageFsExplanation(endpoint, steps, {}, [], notes)
    if uses_cadvisor_stats_provider(endpoint):
        notes.append(
            "this endpoint is CRI-O's: the kubelet uses its cAdvisor stats provider, which takes capacity and "
            "available from the crio-images labelled partition, not from this directory lookup"
        )

    # 1. CRI ImageFsInfo
    info = cri.image_fs_info()
    usages = info.image_filesystems
    steps.append(
        Step(
            1,
            "CRI ImageService/ImageFsInfo",
            f"the runtime at {endpoint} reported {len(usages)} image filesystem(s); the kubelet uses only the first",
            {"imageFilesystems": len(usages), "containerFilesystems": len(info.container_filesystems)},
        )
    )
    if not usages:
        explanation.error = "failed to get imageFs stats: imageFs information is unavailable"
        return explanation
    usage = usages[0]

    # 2. mountpoint and used bytes, as the runtime counts them
    time = time_from_ns(usage.timestamp_ns)
    steps.append(
        Step(
            2,
            "mountpoint and used bytes",
            f"fs_id.mountpoint {usage.mountpoint or '(none)'}; usedBytes {usage.used_bytes} and inodesUsed "
            f"{usage.inodes_used} are the runtime's own count, sampled at {format_time(time)}",
            {
                "mountpoint": usage.mountpoint,
                "usedBytes": usage.used_bytes,
                "inodesUsed": usage.inodes_used,
                "time": format_time(time),
            },
        )
    )
    explanation.image_fs = {
        "time": format_time(time),
        "usedBytes": usage.used_bytes,
        "inodesUsed": usage.inodes_used,
    }
    if not usage.mountpoint:
        notes.append(
            "the runtime sent no fs_id: the kubelet reports imageFs without capacity or available bytes"
        )
        return explanation

    # 3-4. device major:minor, then the partition
    try:
        device = probe.dir_fs_device(usage.mountpoint)
    except FsInfoError as error:
        explanation.error = f'failed to get device for dir "{usage.mountpoint}": {error}'
        notes.append(_failure_note(explanation.error))
        return explanation
    steps.append(
        Step(
            3,
            "device",
            f"stat({usage.mountpoint}).st_dev is {device.dir_major}:{device.dir_minor}",
            {"major": device.dir_major, "minor": device.dir_minor},
        )
    )
    try:
        fs_info = probe.dir_fs_info(usage.mountpoint)
    except (FsInfoError, ProbeError) as error:
        explanation.error = str(error)
        notes.append(_failure_note(explanation.error))
        return explanation
    explanation.image_fs_device = fs_info.device
    steps.append(
        Step(
            4,
            "partition",
            f"{fs_info.resolution}: partition {fs_info.device} ({fs_info.major}:{fs_info.minor}, {fs_info.fs_type}) "
            f"mounted at {fs_info.partition_mountpoint}",
            {
                "device": fs_info.device,
                "major": fs_info.major,
                "minor": fs_info.minor,
                "fsType": fs_info.fs_type,
                "partitionMountpoint": fs_info.partition_mountpoint,
                "resolution": fs_info.resolution,
            },
        )
    )

    # 5. statfs of the partition mountpoint
    sample = fs_info.statfs
    steps.append(
        Step(
            5,
            "statfs",
            f"statfs({fs_info.partition_mountpoint}): f_frsize {sample.frsize}, f_blocks {sample.blocks}, "
            f"f_bfree {sample.bfree}, f_bavail {sample.bavail}, f_files {sample.files}, f_ffree {sample.ffree}",
            dataclasses.asdict(sample),
        )
    )

    # 6. capacity and available
    steps.append(
        Step(
            6,
            "capacity and available",
            f"capacityBytes = f_blocks * f_frsize = {fs_info.capacity_bytes}; availableBytes = f_bavail * f_frsize = "
            f"{fs_info.available_bytes}; inodes = {fs_info.inodes}; inodesFree = {fs_info.inodes_free}",
            {
                "capacityBytes": fs_info.capacity_bytes,
                "availableBytes": fs_info.available_bytes,
                "inodes": fs_info.inodes,
                "inodesFree": fs_info.inodes_free,
            },
        )
    )
    explanation.image_fs.update(
        availableBytes=fs_info.available_bytes,
        capacityBytes=fs_info.capacity_bytes,
        inodesFree=fs_info.inodes_free,
        inodes=fs_info.inodes,
    )

    filesystem = _df_filesystem_name(probe, fs_info)
    explanation.df = [
        df_line(fs_info, unit="1", unit_bytes=1, filesystem=filesystem),
        df_line(fs_info, unit="KB", unit_bytes=1000, filesystem=filesystem),
    ]
    notes.extend(_reconcile_notes(fs_info, usage.used_bytes, probe.mount_table.source))
    if root_dir is not None:
        notes.append(_dedicated_note(probe, fs_info, root_dir))
    return explanation


def add_runtime_dirs(
    explanation: ImageFsExplanation, cri: StatusSource, probe: FsInfoProbe, *, root_dir: str
) -> RuntimeDirsReport:
    """Check the runtime's own directories against imagefs and nodefs and attach the result.

    Without a resolved imagefs or nodefs device the check is skipped, because a directory
    on the unknown device would be reported as unmonitored by mistake.

    NOTE: containerfs is not a separate monitored device here, because the kubelet's CRI stats
    provider returns its imageFs stats as containerFs too (it does not support split disks).
    """
    monitored: dict[str, str] = {}
    reason = ""
    if explanation.image_fs_device:
        monitored["imagefs"] = explanation.image_fs_device
    else:
        reason = "the imagefs device is unknown because the imageFs chain stopped early"
    try:
        monitored["nodefs"] = probe.dir_fs_info(root_dir).device
    except FsInfoError as error:
        reason = reason or _root_dir_failure(root_dir, error)

    if reason:
        report = RuntimeDirsReport("", False, monitored, reason=reason)
    else:
        report = check_runtime_dirs(cri, probe, monitored=monitored)
    explanation.runtime_dirs = report
    return report


def _root_dir_failure(root_dir: str, error: FsInfoError) -> str:
    if is_missing_directory(error):
        return f"the kubelet root dir {root_dir} not found; pass --root-dir"
    return f"the nodefs lookup of the root dir {root_dir} failed: {error}"


def _dedicated_note(probe: FsInfoProbe, image_info: DirFsInfo, root_dir: str) -> str:
    """Compare device names as the kubelet's HasDedicatedImageFs does (CRI stats provider)."""
    try:
        node_info = probe.dir_fs_info(root_dir)
    except FsInfoError as error:
        return f"{_root_dir_failure(root_dir, error)}, so the kubelet would not start"
    if node_info.device == image_info.device:
        return (
            f"imagefs shares device {image_info.device} with nodefs (root dir {root_dir}), so the kubelet "
            "treats them as one filesystem"
        )
    return (
        f"imagefs is on {image_info.device} and nodefs (root dir {root_dir}) on {node_info.device}, so the "
        "kubelet treats imagefs as a dedicated filesystem"
    )


def _df_filesystem_name(probe: FsInfoProbe, info: DirFsInfo) -> str:
    """df's Filesystem column is the mount source, which differs from the partition key for tmpfs and overlay."""
    mount = probe.mount_table.mounts_by_mountpoint.get(info.partition_mountpoint)
    return mount.raw_source if mount is not None else info.device


def _failure_note(error: str) -> str:
    return (
        f"the lookup failed: {error}. Current kubelets fail the whole Summary here; kubelets before about 1.23 "
        "reported imageFs without capacity or available bytes"
    )


def _reconcile_notes(info: DirFsInfo, used_bytes: int | None, mount_table_source: str) -> list[str]:
    sample = info.statfs
    drift = (
        "availableBytes drifts between samples: the kubelet reads cAdvisor's last housekeeping statfs (10 to 15 s "
        "old), while df and this command read it now"
    )
    used = (
        f"imageFs usedBytes ({used_bytes}) is the runtime's own count of its images and layers, not capacity - "
        f"available ({info.capacity_bytes - info.available_bytes}) and not df's Used "
        f"({(sample.blocks - sample.bfree) * sample.frsize})"
    )
    reserved = (
        f"{sample.bfree - sample.bavail} blocks ({(sample.bfree - sample.bavail) * sample.frsize} bytes) are reserved "
        "for root: they are free but not available, so neither the kubelet nor df counts them as available"
    )
    notes = [drift, used, reserved]
    if not info.device_in_table:
        source = mount_table_source or "the mount table"
        notes.append(
            f"the device {info.dir_major}:{info.dir_minor} of {info.dir} is missing from the mount table read at start "
            f"({source}); like cAdvisor, the lookup fell back to the mount at {info.partition_mountpoint}, which may be "
            "another filesystem. A kubelet restart rereads the table"
        )
    return notes


def render_text(explanation: ImageFsExplanation) -> str:
    """Render the explanation as numbered plain-text steps, then df lines and notes."""
    lines = [f"How the kubelet computes imageFs (runtime {explanation.runtime_endpoint})", ""]
    for step in explanation.steps:
        lines.append(f"{step.number}. {step.title}: {step.text}")
    if explanation.error is not None:
        lines += ["", f"error: {explanation.error}"]
    if explanation.image_fs:
        lines += [
            "",
            "imageFs: " + ", ".join(f"{key} {value}" for key, value in explanation.image_fs.items()),
        ]
    for line in explanation.df:
        lines += ["", line.render()]
    if explanation.notes:
        lines += ["", "Notes:"]
        lines += [f"- {note}" for note in explanation.notes]
    if explanation.runtime_dirs is not None:
        lines += ["", *_render_runtime_dirs(explanation.runtime_dirs)]
    return "\n".join(lines) + "\n"


def _render_runtime_dirs(report: RuntimeDirsReport) -> list[str]:
    lines = [report.summary_line()]
    for finding in report.findings:
        if finding.error:
            detail = f"{finding.status}: {finding.error}"
        elif finding.monitored_as:
            detail = f"{finding.status} on {finding.device} as {', '.join(finding.monitored_as)}"
        else:
            detail = f"{finding.status} on {finding.device}"
        lines.append(f"- {finding.directory.path} ({finding.directory.key}): {detail}")
    lines += [f"warning: {warning}" for warning in report.warnings]
    lines += [f"note: {note}" for note in report.notes]
    return lines
