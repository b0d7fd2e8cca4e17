"""Build a Summary-shaped node snapshot from the live probes, the way the kubelet's summary provider does.

One :meth:`Sampler.sample` does what one ``/stats/summary`` request does in the kubelet
(``pkg/kubelet/server/stats/summary.go`` and the stats providers in ``pkg/kubelet/stats``):

1. ``node.fs``: ``GetDirFsInfo(<root dir>)``; used = (f_blocks - f_bfree) * f_frsize and
   inodesUsed = f_files - f_ffree. A failure fails the whole sample (``failed to get rootFs stats``).
2. ``node.runtime.imageFs`` and ``containerFs`` from the container stats provider the kubelet picks
   by endpoint: the cAdvisor provider when the endpoint ends in ``run/crio/crio.sock`` (and the
   ``PodAndContainerStatsFromCRI`` gate is off), the CRI provider otherwise.
   * CRI provider: CRI ``ImageFsInfo`` ``image_filesystems[0]`` gives time, usedBytes and
     inodesUsed; ``GetDirFsInfo(fs_id.mountpoint)`` gives capacity, available, inodes and
     inodesFree. containerFs is a copy of imageFs.
   * cAdvisor provider (CRI-O): the ``crio-images``/``crio-containers`` labelled partitions give
     the statfs numbers, inodesUsed = inodes - inodesFree, and usedBytes is CRI's (gate
     ``KubeletSeparateDiskGC`` on, the default since 1.31) or the sum of image sizes (gate off).
3. ``node.memory`` (root cgroup), the ``pods`` system container (kubepods cgroup), ``node.rlimit``.
4. ``pods`` from an injected source, when one is given.

Every number gets a :class:`~simulator.snapshot.Provenance` keyed by its JSON path.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import os
import socket
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import structlog

from simulator.errors import FsInfoError, InputError, ProbeError
from simulator.probes.fsinfo import DirFsInfo, FsInfoProbe
from simulator.probes.memory import CgroupMemory, MemoryProbe
from simulator.probes.mountinfo import MountInfo, Partition
from simulator.probes.pids import PidProbe
from simulator.snapshot import (
    ContainerStats,
    FsStats,
    MemoryStats,
    NodeStats,
    PodStats,
    Provenance,
    RlimitStats,
    Summary,
)

log = structlog.get_logger(__name__, component="sampler")

DEFAULT_ROOT_DIR = "/var/lib/kubelet"
CRIO_SOCKET_SUFFIX = "run/crio/crio.sock"

FS_FIELDS = ("availableBytes", "capacityBytes", "usedBytes", "inodesFree", "inodes", "inodesUsed")


class ErrorPolicy(str, enum.Enum):
    """Effect of an imageFs lookup failure on the sample.

    ``current`` (kubelets since about 1.23): a device-lookup or statfs failure fails the whole
    sample with the kubelet's message. Only a missing cAdvisor cache sample gives a partial imageFs.
    ``legacy`` (older kubelets): every lookup failure gives the partial imageFs, which has time,
    usedBytes and inodesUsed but no capacity or available bytes.
    """

    CURRENT = "current"
    LEGACY = "legacy"


class StatsProvider(str, enum.Enum):
    """The kubelet's container stats provider; ``auto`` picks it from the endpoint as the kubelet does."""

    AUTO = "auto"
    CRI = "cri"
    CADVISOR = "cadvisor"


class CriSource(Protocol):
    """The CRI client calls the sampler makes (:class:`simulator.cri.client.CriClient` satisfies it)."""

    endpoint: str

    def image_fs_info(self) -> Any: ...

    def list_images(self) -> Sequence[Any]: ...


PodStatsSource = Callable[[], list[PodStats]]
Clock = Callable[[], dt.datetime]


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def uses_cadvisor_stats_provider(endpoint: str, *, pod_and_container_stats_from_cri: bool = False) -> bool:
    """Return whether the kubelet picks the cAdvisor stats provider: for CRI-O's socket with the CRI-stats gate off."""
    return endpoint.endswith(CRIO_SOCKET_SUFFIX) and not pod_and_container_stats_from_cri


def time_from_ns(timestamp_ns: int) -> dt.datetime:
    """Convert a CRI timestamp (ns since the epoch) to an aware UTC datetime, truncated to microseconds."""
    return dt.datetime.fromtimestamp(timestamp_ns // 1000 / 1_000_000, tz=dt.UTC)


@dataclasses.dataclass(slots=True)
class SampleDetails:
    """The intermediate facts of one sample, for ``evictsim explain``.

    ``image_fs_error`` is the lookup error when the imageFs came out partial.
    """

    stats_provider: StatsProvider
    runtime_endpoint: str
    node_fs: DirFsInfo
    image_fs_usage: Any = None
    image_fs_info: DirFsInfo | None = None
    image_fs_error: str | None = None
    container_fs_info: DirFsInfo | None = None
    notes: list[str] = dataclasses.field(default_factory=list)


class Sampler:
    """Sample a node's Summary node section (and pods, through a hook) from CRI, mounts, statfs and cgroups.

    ``cri`` is injected (a :class:`~simulator.cri.client.CriClient` or a test stub with the same
    method names). ``pod_stats_source`` fills ``summary.pods`` when given; without it the list is empty.
    """

    def __init__(
        self,
        cri: CriSource,
        fs_probe: FsInfoProbe,
        *,
        root_dir: str = DEFAULT_ROOT_DIR,
        memory_probe: MemoryProbe | None = None,
        pid_probe: PidProbe | None = None,
        error_policy: ErrorPolicy | str = ErrorPolicy.CURRENT,
        stats_provider: StatsProvider | str = StatsProvider.AUTO,
        separate_disk_gc: bool = True,
        node_name: str | None = None,
        pod_stats_source: PodStatsSource | None = None,
        proc_root: str | os.PathLike[str] = "/proc",
    ) -> None:
        self.cri = cri
        self.fs_probe = fs_probe
        self.root_dir = root_dir
        self.memory_probe = memory_probe
        self.pid_probe = pid_probe
        self.error_policy = _enum_setting(ErrorPolicy, error_policy, "error_policy")
        self.stats_provider = _enum_setting(StatsProvider, stats_provider, "stats_provider")
        self.separate_disk_gc = separate_disk_gc
        self.node_name = node_name if node_name is not None else socket.gethostname()
        self.pod_stats_source = pod_stats_source
        self.proc_root = Path(proc_root)
        self._cached_boot_time: dt.datetime | None = None

    @property
    def effective_stats_provider(self) -> StatsProvider:
        if self.stats_provider is not StatsProvider.AUTO:
            return self.stats_provider
        if uses_cadvisor_stats_provider(getattr(self.cri, "endpoint", "")):
            return StatsProvider.CADVISOR
        return StatsProvider.CRI

    def sample(self) -> Summary:
        """Take one sample; raise FsInfoError or ProbeError with the kubelet's message when it would fail."""
        return self.sample_with_details()[0]

    def sample_with_details(self) -> tuple[Summary, SampleDetails]:
        provenance: dict[str, Provenance] = {}

        # node.fs: the kubelet root dir through GetDirFsInfo
        try:
            node_fs_info = self.fs_probe.dir_fs_info(self.root_dir)
        except FsInfoError as error:
            if is_missing_directory(error):
                # keep the kubelet's message and add what to do, since the default root dir is a guess
                raise FsInfoError(
                    f"failed to get rootFs stats: {error} (kubelet root dir {self.root_dir} not found; pass --root-dir)",
                    kind=error.kind,
                ) from error
            raise FsInfoError(f"failed to get rootFs stats: {error}", kind=error.kind) from error
        node_fs = _fs_stats_from_dir_info(node_fs_info)
        _add_statfs_provenance(provenance, "node.fs", node_fs_info, FS_FIELDS)

        details = SampleDetails(
            stats_provider=self.effective_stats_provider,
            runtime_endpoint=getattr(self.cri, "endpoint", ""),
            node_fs=node_fs_info,
        )

        # node.runtime: imageFs and containerFs from the stats provider the kubelet would use
        if details.stats_provider is StatsProvider.CADVISOR:
            image_fs, container_fs = self._cadvisor_image_fs(provenance, details)
        else:
            image_fs, container_fs = self._cri_image_fs(provenance, details)

        node = NodeStats(
            node_name=self.node_name,
            start_time=self._boot_time(),
            fs=node_fs,
            image_fs=image_fs,
            container_fs=container_fs,
        )

        # memory, the pods system container and rlimit
        if self.memory_probe is not None:
            self._add_memory(self.memory_probe, node, provenance, details)
        if self.pid_probe is not None:
            self._add_rlimit(self.pid_probe, node, provenance)

        pods = self.pod_stats_source() if self.pod_stats_source is not None else []
        return Summary(node=node, pods=pods, provenance=provenance), details

    # -- imageFs through the CRI stats provider --

    def _cri_image_fs(
        self, provenance: dict[str, Provenance], details: SampleDetails
    ) -> tuple[FsStats, FsStats]:
        info = self.cri.image_fs_info()
        if not info.image_filesystems:
            raise ProbeError("failed to get imageFs stats: imageFs information is unavailable")
        usage = info.image_filesystems[0]
        details.image_fs_usage = usage
        if len(info.image_filesystems) > 1:
            details.notes.append(
                f"the runtime reported {len(info.image_filesystems)} image filesystems; "
                "the kubelet uses only the first"
            )
        if usage.used_bytes is None:
            # NOTE: the kubelet dereferences used_bytes without a nil check (read from
            # cri_stats_provider.go), so a real kubelet would fail here too, by a panic.
            raise ProbeError(
                "failed to get imageFs stats: the runtime sent image_filesystems[0] without used_bytes"
            )

        image_fs = FsStats(
            time=time_from_ns(usage.timestamp_ns),
            used_bytes=usage.used_bytes,
            inodes_used=usage.inodes_used,
        )
        rpc = Provenance(
            source="CRI ImageService/ImageFsInfo",
            detail="image_filesystems[0]",
            mountpoint=usage.mountpoint or None,
            time=image_fs.time,
        )
        for key in ("time", "usedBytes", "inodesUsed"):
            if key != "inodesUsed" or usage.inodes_used is not None:
                provenance[f"node.runtime.imageFs.{key}"] = rpc

        fs_info = self._image_fs_lookup(usage.mountpoint, details)
        if fs_info is not None:
            details.image_fs_info = fs_info
            image_fs.available_bytes = fs_info.available_bytes
            image_fs.capacity_bytes = fs_info.capacity_bytes
            image_fs.inodes_free = fs_info.inodes_free
            image_fs.inodes = fs_info.inodes
            _add_statfs_provenance(
                provenance,
                "node.runtime.imageFs",
                fs_info,
                ("availableBytes", "capacityBytes", "inodesFree", "inodes"),
                with_time=False,
            )

        # the CRI provider has no separate containerfs: containerFs is the same object as imageFs
        return image_fs, _copy_fs(image_fs, provenance, "copied from imageFs (CRI stats provider)")

    def _image_fs_lookup(self, mountpoint: str, details: SampleDetails) -> DirFsInfo | None:
        """GetDirFsInfo of CRI's fs_id mountpoint; None means the partial imageFs."""
        if not mountpoint:
            details.notes.append("the runtime sent no fs_id, so imageFs has no capacity or available bytes")
            return None
        try:
            return self.fs_probe.dir_fs_info(mountpoint)
        except FsInfoError as error:
            if self.error_policy is ErrorPolicy.LEGACY or error.kind == "data_not_found":
                details.image_fs_error = str(error)
                details.notes.append(f"imageFs lookup failed ({error}); the result is the partial imageFs")
                log.warning("image_fs_partial", mountpoint=mountpoint, error=str(error))
                return None
            raise FsInfoError(
                "failed to get imageFs stats: get filesystem info: "
                f"Failed to get the info of the filesystem with mountpoint: {error}",
                kind=error.kind,
            ) from error

    # -- imageFs through the cAdvisor stats provider (CRI-O) --

    def _cadvisor_image_fs(
        self, provenance: dict[str, Provenance], details: SampleDetails
    ) -> tuple[FsStats, FsStats]:
        info = self.cri.image_fs_info()
        if not info.image_filesystems:
            raise ProbeError("failed to get imageFs stats: no imagefs label for configured runtime")
        image_usage = info.image_filesystems[0]
        container_usage = info.container_filesystems[0] if info.container_filesystems else None
        details.image_fs_usage = image_usage
        is_split = bool(
            container_usage is not None
            and image_usage.mountpoint
            and container_usage.mountpoint
            and image_usage.mountpoint != container_usage.mountpoint
        )

        images_label, containers_label = crio_label_mounts(
            self.fs_probe.mount_table.mounts,
            image_usage.mountpoint,
            container_usage.mountpoint if is_split else None,
        )
        image_info = self._label_fs_info(images_label, "crio-images")
        details.image_fs_info = image_info
        image_fs = _label_fs_stats(image_info)
        _add_statfs_provenance(provenance, "node.runtime.imageFs", image_info, FS_FIELDS, label="crio-images")

        if self.separate_disk_gc:
            if container_usage is None:
                raise ProbeError(
                    "failed to get imageFs stats: missing image stats: container_filesystems is empty"
                )
            image_fs.used_bytes = image_usage.used_bytes or 0
            provenance["node.runtime.imageFs.usedBytes"] = Provenance(
                source="CRI ImageService/ImageFsInfo",
                detail="image_filesystems[0].used_bytes (KubeletSeparateDiskGC on)",
                mountpoint=image_usage.mountpoint or None,
            )
        else:
            images = self.cri.list_images()
            image_fs.used_bytes = sum(int(image.size_bytes) for image in images)
            provenance["node.runtime.imageFs.usedBytes"] = Provenance(
                source="CRI ImageService/ListImages",
                detail=f"sum of Image.size over {len(images)} images (KubeletSeparateDiskGC off)",
            )

        if not (self.separate_disk_gc and is_split):
            return image_fs, _copy_fs(image_fs, provenance, "same object as imageFs (not split)")

        container_info = self._label_fs_info(containers_label, "crio-containers")
        details.container_fs_info = container_info
        if container_info.device == image_info.device:
            return image_fs, _copy_fs(image_fs, provenance, "same device as imageFs, so the same object")
        container_fs = _label_fs_stats(container_info)
        container_fs.used_bytes = (container_usage.used_bytes if container_usage else None) or 0
        _add_statfs_provenance(
            provenance, "node.runtime.containerFs", container_info, FS_FIELDS, label="crio-containers"
        )
        provenance["node.runtime.containerFs.usedBytes"] = Provenance(
            source="CRI ImageService/ImageFsInfo",
            detail="container_filesystems[0].used_bytes",
            mountpoint=container_usage.mountpoint if container_usage else None,
        )
        return image_fs, container_fs

    def _label_fs_info(self, mount: MountInfo | None, label: str) -> DirFsInfo:
        if mount is None:
            raise ProbeError(f'failed to get imageFs stats: non-existent label "{label}"')
        partition = Partition(mount.source, mount.mountpoint, mount.major, mount.minor, mount.fs_type)
        try:
            sample = self.fs_probe.statfs_partition(partition)
        except FsInfoError as error:
            raise FsInfoError(f"failed to get imageFs stats: {error}", kind=error.kind) from error
        return DirFsInfo.from_statfs(
            partition.mountpoint,
            partition,
            sample,
            device=partition.device,
            major=partition.major,
            minor=partition.minor,
            dir_major=partition.major,
            dir_minor=partition.minor,
            resolution=f"cAdvisor label {label}",
            device_in_table=True,
            time=self.fs_probe.now(),
        )

    # -- memory, pods container, rlimit --

    @staticmethod
    def _add_memory(
        probe: MemoryProbe, node: NodeStats, provenance: dict[str, Provenance], details: SampleDetails
    ) -> None:
        try:
            root = probe.node_memory()
        except ProbeError as error:
            raise ProbeError(f"failed to get root cgroup stats: {error}") from error
        node.memory = _memory_stats(root)
        _add_memory_provenance(provenance, "node.memory", root)

        pods = probe.pods_memory()
        if pods is None:
            details.notes.append(
                "no kubepods cgroup found, so the pods system container and allocatableMemory.available are absent"
            )
            return
        node.system_containers.append(ContainerStats(name="pods", memory=_memory_stats(pods)))
        _add_memory_provenance(provenance, "node.systemContainers[pods].memory", pods)

    @staticmethod
    def _add_rlimit(probe: PidProbe, node: NodeStats, provenance: dict[str, Provenance]) -> None:
        sample = probe.rlimit()
        node.rlimit = RlimitStats(time=sample.time, maxpid=sample.maxpid, curproc=sample.curproc)
        if sample.maxpid is not None:
            provenance["node.rlimit.maxpid"] = Provenance(
                source=sample.maxpid_source, detail="min(pid_max, threads-max)", time=sample.time
            )
        provenance["node.rlimit.curproc"] = Provenance(source=sample.curproc_source, time=sample.time)

    def _boot_time(self) -> dt.datetime | None:
        # The boot time is fixed while the machine runs, so /proc/stat is read until one read
        # succeeds and that value is reused. A failed read is retried on the next sample.
        if self._cached_boot_time is None:
            self._cached_boot_time = self._read_boot_time()
        return self._cached_boot_time

    def _read_boot_time(self) -> dt.datetime | None:
        try:
            text = (self.proc_root / "stat").read_text()
        except OSError:
            return None
        for line in text.splitlines():
            if line.startswith("btime "):
                return dt.datetime.fromtimestamp(int(line.split()[1]), tz=dt.UTC)
        return None


# ---------------------------------------------------------------------------------------------
# CRI-O labels


def crio_label_mounts(
    mounts: Sequence[MountInfo], image_mountpoint: str, container_mountpoint: str | None
) -> tuple[MountInfo | None, MountInfo | None]:
    """cAdvisor's ``crio-images`` and ``crio-containers`` mounts: the longest mountpoint among the candidates.

    cAdvisor takes CRI-O's storage root, driver and image store from CRI-O's info endpoint. This
    function rebuilds them from CRI's mountpoints (``<root>/<driver>-images``, and with an image
    store ``<imagestore>/<driver>-images`` and ``<root>/<driver>-containers``).
    NOTE: a CRI-O whose ImageFsInfo paths do not follow that layout gets a different label here.
    """
    if not image_mountpoint:
        return None, None
    if container_mountpoint is None:
        return _longest_mount(mounts, _crio_candidates(image_mountpoint)), None
    containers = _longest_mount(mounts, _crio_candidates(container_mountpoint))
    images = _longest_mount(mounts, _crio_candidates(image_mountpoint))
    return images, containers


def _crio_candidates(store_subdir: str) -> set[str]:
    """ "/", the storage root and each of its ancestors, and the ``<driver>-images`` (or -containers) dir."""
    candidates = {"/", store_subdir}
    current = os.path.dirname(store_subdir.rstrip("/"))
    while current not in ("/", ".", ""):
        candidates.add(current)
        current = os.path.dirname(current)
    return candidates


def _longest_mount(mounts: Sequence[MountInfo], candidates: set[str]) -> MountInfo | None:
    chosen: MountInfo | None = None
    for mount in mounts:
        if mount.mountpoint in candidates and (
            chosen is None or len(chosen.mountpoint) < len(mount.mountpoint)
        ):
            chosen = mount
    return chosen


# ---------------------------------------------------------------------------------------------
# conversions and provenance


def _enum_setting(kind: type[enum.Enum], value: Any, name: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        accepted = ", ".join(member.value for member in kind)
        raise InputError(
            f"{name}: invalid value {value!r}; expected one of {accepted}", field=name, value=value
        ) from None


def _fs_stats_from_dir_info(info: DirFsInfo) -> FsStats:
    return FsStats(
        time=info.time,
        available_bytes=info.available_bytes,
        capacity_bytes=info.capacity_bytes,
        used_bytes=info.used_bytes,
        inodes_free=info.inodes_free,
        inodes=info.inodes,
        inodes_used=info.inodes_used,
    )


def _label_fs_stats(info: DirFsInfo) -> FsStats:
    """cAdvisor-provider FsStats: statfs numbers, inodesUsed = inodes - inodesFree, cAdvisor's sample time."""
    stats = _fs_stats_from_dir_info(info)
    stats.used_bytes = None
    return stats


def _copy_fs(image_fs: FsStats, provenance: dict[str, Provenance], reason: str) -> FsStats:
    for key, value in list(provenance.items()):
        if key.startswith("node.runtime.imageFs."):
            field = key.removeprefix("node.runtime.imageFs.")
            provenance[f"node.runtime.containerFs.{field}"] = dataclasses.replace(
                value, detail=_join(value.detail, reason)
            )
    return dataclasses.replace(image_fs)


_STATFS_DETAIL = {
    "availableBytes": "f_bavail * f_frsize = {s.bavail} * {s.frsize}",
    "capacityBytes": "f_blocks * f_frsize = {s.blocks} * {s.frsize}",
    "usedBytes": "(f_blocks - f_bfree) * f_frsize = ({s.blocks} - {s.bfree}) * {s.frsize}",
    "inodesFree": "f_ffree",
    "inodes": "f_files",
    "inodesUsed": "f_files - f_ffree = {s.files} - {s.ffree}",
}


def _add_statfs_provenance(
    provenance: dict[str, Provenance],
    prefix: str,
    info: DirFsInfo,
    fields: Sequence[str],
    *,
    label: str | None = None,
    with_time: bool = True,
) -> None:
    lookup = f"cAdvisor label {label}" if label else f"GetDirFsInfo({info.dir}): {info.resolution}"
    for field in fields:
        provenance[f"{prefix}.{field}"] = Provenance(
            source=f"statfs({info.partition_mountpoint})",
            detail=f"{_STATFS_DETAIL[field].format(s=info.statfs)}; {lookup}",
            mountpoint=info.dir,
            device=f"{info.device} ({info.major}:{info.minor})",
            partition=info.partition_mountpoint,
            fs_type=info.fs_type,
            time=info.time,
        )
    if with_time:
        provenance[f"{prefix}.time"] = Provenance(
            source=f"statfs({info.partition_mountpoint}) sampling time",
            detail="the kubelet uses the time of cAdvisor's latest root-cgroup sample",
            time=info.time,
        )


def _memory_stats(memory: CgroupMemory) -> MemoryStats:
    return MemoryStats(
        time=memory.time,
        available_bytes=memory.available_bytes,
        usage_bytes=memory.usage_bytes,
        working_set_bytes=memory.working_set_bytes,
        rss_bytes=memory.rss_bytes,
        page_faults=memory.page_faults,
        major_page_faults=memory.major_page_faults,
    )


def _add_memory_provenance(provenance: dict[str, Provenance], prefix: str, memory: CgroupMemory) -> None:
    inactive_key = "inactive_file" if memory.cgroup_version == 2 else "total_inactive_file"
    entries = {
        "usageBytes": Provenance(source=memory.usage_source),
        "workingSetBytes": Provenance(
            source=f"{memory.cgroup_path}/memory.stat",
            detail=f"usage - {inactive_key} = {memory.usage_bytes} - {memory.inactive_file_bytes}",
        ),
    }
    rss_key = "anon" if memory.cgroup_version == 2 else "total_rss"
    stat_keys = {"rssBytes": (memory.rss_bytes, rss_key), "pageFaults": (memory.page_faults, "pgfault")}
    stat_keys["majorPageFaults"] = (memory.major_page_faults, "pgmajfault")
    for field, (value, key) in stat_keys.items():
        if value is not None:
            entries[field] = Provenance(source=f"{memory.cgroup_path}/memory.stat", detail=key)
    if memory.available_bytes is not None:
        entries["availableBytes"] = Provenance(
            source=memory.limit_source,
            detail=f"limit - working set = {memory.limit_bytes} - {memory.working_set_bytes}",
        )
    for field, value in entries.items():
        provenance[f"{prefix}.{field}"] = dataclasses.replace(value, time=memory.time)


def _join(first: str, second: str) -> str:
    return f"{first}; {second}" if first else second


def is_missing_directory(error: BaseException) -> bool:
    """Return whether ``error`` was caused, at any depth, by a stat that found no such file (ENOENT)."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, FileNotFoundError):
            return True
        cause = cause.__cause__
    return False
