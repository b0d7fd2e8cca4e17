"""Live pods from CRI, shaped as the Summary's pod section for the sampler's ``pod_stats_source`` hook.

Pods are the runtime's sandboxes joined to their containers by the kubelet's
``io.kubernetes.pod.*`` labels. Per pod, like the kubelet's CRI stats provider:

* each running container's writable layer from ``ListContainerStats`` (``rootfs``);
* each container's log usage: the blocks and inodes under
  ``<log root>/<namespace>_<name>_<uid>/<container>/`` (``logs``);
* each volume under ``<root dir>/pods/<uid>/volumes/<plugin>/<name>``, measured by walking it
  the way cAdvisor's du-style ``GetDirUsage`` does (``volume_stats``);
* ``ephemeral_storage``: writable layers + logs + local ephemeral volumes (emptyDir not backed by
  memory, configMap, secret, downwardAPI, projected).

One probe object calls ``ListContainerStats`` at most once per ``min_interval_s``, because
containerd computes CPU rates from the time between two callers' requests: polling more often
than the kubelet does would change the rates the kubelet reads. In between, the last reply is
reused.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import stat as stat_module
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

from simulator.engine.images import (
    CONTAINER_RUNNING,
    ContainerInfo,
    SandboxInfo,
    containers_from_cri,
    sandboxes_from_cri,
)
from simulator.errors import InputError
from simulator.snapshot import ContainerStats, FsStats, PodRef, PodStats, VolumeStats

UTC = dt.UTC
DEFAULT_ROOT_DIR = "/var/lib/kubelet"
DEFAULT_POD_LOG_DIR = "/var/log/pods"
# du counts 512-byte blocks (st_blocks), as cAdvisor's GetDirUsage does.
BLOCK_BYTES = 512
# Volume plugins whose data lives on the node filesystem and counts as local ephemeral storage.
LOCAL_EPHEMERAL_PLUGINS = frozenset(
    {
        "kubernetes.io~empty-dir",
        "kubernetes.io~configmap",
        "kubernetes.io~secret",
        "kubernetes.io~downward-api",
        "kubernetes.io~projected",
    }
)


class PodCriSource(Protocol):
    """The CRI calls the pod probe makes (a :class:`~simulator.cri.client.CriClient` has them)."""

    def list_pod_sandboxes(self) -> list[Any]: ...

    def list_containers(self) -> list[Any]: ...

    def list_container_stats(self) -> list[Any]: ...


@dataclasses.dataclass(frozen=True, slots=True)
class DirUsage:
    """Bytes (allocated blocks) and inodes under a directory, hard links counted once."""

    bytes: int
    inodes: int


def dir_usage(path: str | os.PathLike[str]) -> DirUsage | None:
    """Walk ``path`` without crossing into other filesystems; ``None`` when it does not exist.

    Files that vanish during the walk are skipped, as du does.
    """
    root = Path(path)
    try:
        root_stat = root.lstat()
    except FileNotFoundError:
        return None
    seen: set[tuple[int, int]] = set()
    total_bytes = 0
    inodes = 0
    stack = [root]
    while stack:
        current = stack.pop()
        try:
            info = current.lstat()
        except (FileNotFoundError, PermissionError):
            continue
        if info.st_dev != root_stat.st_dev:
            continue
        key = (info.st_dev, info.st_ino)
        if key not in seen:
            seen.add(key)
            inodes += 1
            total_bytes += info.st_blocks * BLOCK_BYTES
        if stat_module.S_ISDIR(info.st_mode):
            try:
                stack.extend(current.iterdir())
            except (FileNotFoundError, PermissionError, NotADirectoryError):
                continue
    return DirUsage(total_bytes, inodes)


def pod_log_directory(log_root: Path, namespace: str, name: str, uid: str) -> Path:
    """Return the kubelet's log directory of a pod: ``<log root>/<namespace>_<name>_<uid>``."""
    return log_root / f"{namespace}_{name}_{uid}"


def container_log_bytes(log_root: Path, container: ContainerInfo) -> int:
    """Return the disk bytes of one container instance's log files, or 0 when there are none.

    The kubelet writes ``<container>/<attempt>.log`` (rotated copies get a suffix) and removes
    those files with the container, so only this attempt's files count.
    """
    directory = pod_log_directory(log_root, container.pod_namespace, container.pod_name, container.pod_uid)
    total = 0
    for path in (directory / container.name).glob(f"{container.attempt}.log*"):
        usage = dir_usage(path)
        total += usage.bytes if usage else 0
    return total


def pod_log_dir_bytes(log_root: Path, sandboxes: Iterable[SandboxInfo]) -> dict[str, int]:
    """Return each pod UID's log directory size in bytes, for pods whose directory exists."""
    sizes: dict[str, int] = {}
    for sandbox in sandboxes:
        if sandbox.uid in sizes:
            continue
        usage = dir_usage(pod_log_directory(log_root, sandbox.namespace, sandbox.name, sandbox.uid))
        if usage is not None:
            sizes[sandbox.uid] = usage.bytes
    return sizes


class CriPodStatsSource:
    """A callable ``pod_stats_source``: one ``list[PodStats]`` per call, from CRI and the kubelet's directories."""

    def __init__(
        self,
        cri: PodCriSource,
        *,
        root_dir: str = DEFAULT_ROOT_DIR,
        log_root: str = DEFAULT_POD_LOG_DIR,
        min_interval_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(UTC),
    ) -> None:
        if not min_interval_s >= 0:
            raise InputError(
                f"invalid container stats interval {min_interval_s!r}: expected seconds >= 0",
                field="min_interval_s",
                value=min_interval_s,
            )
        self.cri = cri
        self.root_dir = Path(root_dir)
        self.log_root = Path(log_root)
        self.min_interval_s = float(min_interval_s)
        self._clock = clock
        self._now = now
        self._stats: list[Any] = []
        self._stats_at: float | None = None
        self.stats_calls = 0

    def __call__(self) -> list[PodStats]:
        return self.collect()

    def container_stats(self) -> list[Any]:
        """Return ListContainerStats, calling the runtime at most once per ``min_interval_s``."""
        moment = self._clock()
        if self._stats_at is None or moment - self._stats_at >= self.min_interval_s:
            self._stats = list(self.cri.list_container_stats())
            self._stats_at = moment
            self.stats_calls += 1
        return self._stats

    def collect(self) -> list[PodStats]:
        """Build one PodStats per pod with a current sandbox, sorted by namespace and name."""
        sandboxes = sandboxes_from_cri(self.cri.list_pod_sandboxes())
        containers = containers_from_cri(self.cri.list_containers())
        layers = {stat.id: stat for stat in self.container_stats()}
        sample_time = self._now()
        pods = []
        for sandbox in current_sandboxes(sandboxes):
            members = [
                c for c in containers if c.pod_sandbox_id == sandbox.id and c.state == CONTAINER_RUNNING
            ]
            pods.append(self._pod_stats(sandbox, members, layers, sample_time))
        pods.sort(key=lambda pod: (pod.pod_ref.namespace, pod.pod_ref.name))
        return pods

    def _pod_stats(
        self,
        sandbox: SandboxInfo,
        members: list[ContainerInfo],
        layers: dict[str, Any],
        sample_time: dt.datetime,
    ) -> PodStats:
        pod_logs = pod_log_directory(self.log_root, sandbox.namespace, sandbox.name, sandbox.uid)
        container_stats = []
        ephemeral_bytes = 0
        ephemeral_inodes = 0
        # NOTE: the kubelet lists a pod's containers in the order of the runtime's
        # ListContainerStats reply, and that order sets the order of container lines in its
        # eviction message. This sorts them by name, so the output is stable across samples.
        for container in sorted(members, key=lambda c: c.name):
            rootfs = _rootfs(layers.get(container.id), sample_time)
            logs_usage = dir_usage(pod_logs / container.name)
            logs = FsStats(
                time=sample_time,
                used_bytes=logs_usage.bytes if logs_usage else 0,
                inodes_used=logs_usage.inodes if logs_usage else 0,
            )
            container_stats.append(
                ContainerStats(
                    name=container.name,
                    start_time=_ns_time(container.created_at_ns),
                    rootfs=rootfs,
                    logs=logs,
                )
            )
            ephemeral_bytes += (rootfs.used_bytes or 0) + (logs.used_bytes or 0)
            ephemeral_inodes += (rootfs.inodes_used or 0) + (logs.inodes_used or 0)
        volumes, local_bytes, local_inodes = self._volumes(sandbox.uid, sample_time)
        return PodStats(
            pod_ref=PodRef(name=sandbox.name, namespace=sandbox.namespace, uid=sandbox.uid),
            start_time=_ns_time(sandbox.created_at_ns),
            containers=container_stats,
            volume_stats=volumes,
            ephemeral_storage=FsStats(
                time=sample_time,
                used_bytes=ephemeral_bytes + local_bytes,
                inodes_used=ephemeral_inodes + local_inodes,
            ),
        )

    def _volumes(self, uid: str, sample_time: dt.datetime) -> tuple[list[VolumeStats], int, int]:
        volumes_dir = self.root_dir / "pods" / uid / "volumes"
        stats: list[VolumeStats] = []
        local_bytes = 0
        local_inodes = 0
        try:
            plugins = sorted(volumes_dir.iterdir())
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            return stats, 0, 0
        for plugin_dir in plugins:
            try:
                volume_dirs = sorted(plugin_dir.iterdir())
            except (NotADirectoryError, PermissionError, FileNotFoundError):
                continue
            for volume_dir in volume_dirs:
                usage = dir_usage(volume_dir)
                if usage is None:
                    continue
                stats.append(
                    VolumeStats(
                        name=volume_dir.name,
                        fs=FsStats(time=sample_time, used_bytes=usage.bytes, inodes_used=usage.inodes),
                    )
                )
                # A mount point here is a tmpfs (emptyDir medium Memory, secrets): not node disk.
                if plugin_dir.name in LOCAL_EPHEMERAL_PLUGINS and not os.path.ismount(volume_dir):
                    local_bytes += usage.bytes
                    local_inodes += usage.inodes
        return stats, local_bytes, local_inodes


def current_sandboxes(sandboxes: Iterable[SandboxInfo]) -> list[SandboxInfo]:
    """Pick one sandbox per pod UID: a ready one, else the newest."""
    # NOTE: the kubelet's CRI stats provider may drop pods whose sandboxes are all not ready.
    # Here such pods stay, with their newest sandbox and no running containers.
    chosen: dict[str, SandboxInfo] = {}
    for sandbox in sandboxes:
        current = chosen.get(sandbox.uid)
        if current is None or (sandbox.ready, sandbox.created_at_ns) > (current.ready, current.created_at_ns):
            chosen[sandbox.uid] = sandbox
    return list(chosen.values())


def _rootfs(stat: Any, sample_time: dt.datetime) -> FsStats:
    layer = getattr(stat, "writable_layer", None) if stat is not None else None
    if layer is None:
        return FsStats(time=sample_time, used_bytes=0, inodes_used=0)
    return FsStats(
        time=_ns_time(layer.timestamp_ns) if layer.timestamp_ns else sample_time,
        used_bytes=layer.used_bytes or 0,
        inodes_used=layer.inodes_used or 0,
    )


def _ns_time(value_ns: int) -> dt.datetime | None:
    if not value_ns:
        return None
    return dt.datetime.fromtimestamp(value_ns / 1e9, tz=UTC)


def pod_stats_source(
    cri: PodCriSource,
    *,
    root_dir: str = DEFAULT_ROOT_DIR,
    log_root: str = DEFAULT_POD_LOG_DIR,
    min_interval_s: float = 10.0,
) -> CriPodStatsSource:
    """Return the sampler's ``pod_stats_source`` hook for a live node reached through ``cri``.

    ``min_interval_s`` should be the sampling interval, so ListContainerStats is not polled
    more often than the daemon samples.
    """
    return CriPodStatsSource(cri, root_dir=root_dir, log_root=log_root, min_interval_s=min_interval_s)
