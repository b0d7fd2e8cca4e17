"""The live sample source: the node's Summary from the probes, and the runtime's lists for GC.

The CRI client is created on the first tick and again after it fails to connect, so a daemon
started before its runtime keeps retrying instead of exiting. The mount table is read once at
start, as the kubelet's cAdvisor does.

The imagefs explanation published for the API reuses the tick's ImageFsInfo reply and
filesystem lookups. The runtime's directories (Version and verbose Status) are read at most
once per image GC period, so the explanation adds no CRI call to most ticks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

from simulator.cri.client import CriClient
from simulator.daemon.daemon import IMAGE_GC_PERIOD_S, Sample
from simulator.daemon.evaluation import GcInputs
from simulator.engine.containergc import ContainerUsage
from simulator.engine.images import containers_from_cri, images_from_cri, sandboxes_from_cri
from simulator.errors import NotCriServerError, RuntimeUnavailableError
from simulator.explain import add_runtime_dirs, explain_image_fs
from simulator.probes.fsinfo import DirFsInfo, FsInfoProbe
from simulator.probes.memory import MemoryProbe
from simulator.probes.mountinfo import MountTable
from simulator.probes.pids import PidProbe
from simulator.probes.pods import (
    DEFAULT_POD_LOG_DIR,
    CriPodStatsSource,
    container_log_bytes,
    pod_log_dir_bytes,
)
from simulator.probes.sampler import Sampler


class LiveSource:
    """Samples the node through CRI, the mount table, statfs and cgroups."""

    def __init__(
        self,
        *,
        endpoint: str | None,
        timeout_s: float,
        root_dir: str,
        mount_table: MountTable,
        node_name: str | None = None,
        interval_s: float = 10.0,
        log_root: str = DEFAULT_POD_LOG_DIR,
        runtime_dirs_period_s: float = IMAGE_GC_PERIOD_S,
    ) -> None:
        self.endpoint = endpoint
        self.runtime_dirs_period_s = runtime_dirs_period_s
        self.interval_s = interval_s
        self.log_root = Path(log_root)
        self.timeout_s = timeout_s
        self.root_dir = root_dir
        self.fs_probe = _TickFsProbe(FsInfoProbe(mount_table))
        self.node_name = node_name
        self._cri: CriClient | None = None
        self._recording_cri: _RecordingCri | None = None
        # Version and verbose Status for the runtime-directories check, and when they were read
        self._runtime_info: tuple[Any, Any] | None = None
        self._runtime_info_at: dt.datetime | None = None
        self._sampler: Sampler | None = None
        self._pod_stats: CriPodStatsSource | None = None

    @classmethod
    def open(
        cls,
        *,
        endpoint: str | None,
        timeout_s: float,
        root_dir: str,
        mountinfo: str,
        node_name: str | None = None,
        interval_s: float = 10.0,
        runtime_dirs_period_s: float = IMAGE_GC_PERIOD_S,
        log_root: str = DEFAULT_POD_LOG_DIR,
    ) -> LiveSource:
        """Read the mount table (an unreadable one is an InputError) and return the source."""
        return cls(
            endpoint=endpoint,
            timeout_s=timeout_s,
            root_dir=root_dir,
            mount_table=MountTable.from_file(mountinfo),
            node_name=node_name,
            interval_s=interval_s,
            runtime_dirs_period_s=runtime_dirs_period_s,
            log_root=log_root,
        )

    @property
    def description(self) -> str:
        endpoint = self._cri.endpoint if self._cri is not None else (self.endpoint or "the default CRI endpoints")
        return f"live {endpoint}"

    def next_sample(self, now: dt.datetime) -> Sample:
        """Sample the node; raise RuntimeUnavailableError, NotCriServerError or another ProbeError."""
        sampler, cri, pod_stats = self._connect()
        assert self._recording_cri is not None
        self._recording_cri.image_fs_reply = None
        self.fs_probe.clear()
        try:
            summary = sampler.sample()
            containers = containers_from_cri(cri.list_containers())
            sandboxes = sandboxes_from_cri(cri.list_pod_sandboxes())
            gc_inputs = GcInputs(
                images=images_from_cri(cri.list_images()),
                containers=containers,
                sandboxes=sandboxes,
                usage=self._container_usage(pod_stats, containers),
                pod_log_dir_bytes=pod_log_dir_bytes(self.log_root, sandboxes),
            )
            # the same chain as `evictsim explain imagefs`, for the API's ExplainImageFs, built
            # from this tick's replies
            explain_cri = _ExplainCri(self._recording_cri, lambda: self._runtime_status(cri, now))
            chain = explain_image_fs(explain_cri, self.fs_probe, root_dir=self.root_dir)
            add_runtime_dirs(chain, explain_cri, self.fs_probe, root_dir=self.root_dir)
            explanation = chain.to_json()
        except (RuntimeUnavailableError, NotCriServerError):
            # a fresh channel next tick, instead of waiting out gRPC's reconnect backoff
            self.close()
            raise
        return Sample(
            summary=summary, time=now, origin="live", gc_inputs=gc_inputs, image_fs_explanation=explanation
        )

    def _runtime_status(self, cri: CriClient, now: dt.datetime) -> tuple[Any, Any]:
        """Return (Version, verbose Status), read again only once per ``runtime_dirs_period_s``."""
        due = self._runtime_info_at is None or (now - self._runtime_info_at).total_seconds() >= self.runtime_dirs_period_s
        if self._runtime_info is None or due:
            self._runtime_info = (cri.version(), cri.status(verbose=True))
            self._runtime_info_at = now
        return self._runtime_info

    def _container_usage(self, pod_stats: CriPodStatsSource, containers: list[Any]) -> dict[str, ContainerUsage]:
        """Return the bytes each container's removal would free: writable layer and this attempt's logs."""
        layers = {stat.id: stat for stat in pod_stats.container_stats()}
        usage = {}
        for container in containers:
            stat = layers.get(container.id)
            layer = getattr(stat, "writable_layer", None) if stat is not None else None
            layer_bytes = (layer.used_bytes or 0) if layer is not None else 0
            usage[container.id] = ContainerUsage(
                writable_layer_bytes=layer_bytes, log_bytes=container_log_bytes(self.log_root, container)
            )
        return usage

    def _connect(self) -> tuple[Sampler, CriClient, CriPodStatsSource]:
        if self._cri is None or self._sampler is None or self._pod_stats is None:
            cri = CriClient(self.endpoint, timeout_s=self.timeout_s)
            recording = _RecordingCri(cri)
            # CriPodStatsSource calls ListContainerStats at most once per interval, the kubelet's polling rate.
            pod_stats = CriPodStatsSource(cri, root_dir=self.root_dir, log_root=str(self.log_root),
                                          min_interval_s=self.interval_s)
            self._sampler = Sampler(
                recording,
                self.fs_probe,
                root_dir=self.root_dir,
                memory_probe=MemoryProbe(),
                pid_probe=PidProbe(),
                node_name=self.node_name,
                pod_stats_source=pod_stats,
            )
            self._cri, self._pod_stats, self._recording_cri = cri, pod_stats, recording
        return self._sampler, self._cri, self._pod_stats

    def close(self) -> None:
        if self._cri is not None:
            self._cri.close()
            self._cri = None
            self._sampler = None
            self._pod_stats = None
            self._recording_cri = None
            self._runtime_info = None
            self._runtime_info_at = None


class _RecordingCri:
    """A CRI client that keeps this tick's ImageFsInfo reply; other calls pass through."""

    def __init__(self, cri: CriClient) -> None:
        self._cri = cri
        self.image_fs_reply: Any = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cri, name)

    def image_fs_info(self) -> Any:
        self.image_fs_reply = self._cri.image_fs_info()
        return self.image_fs_reply


class _ExplainCri:
    """The CRI view of the imagefs explanation: the tick's ImageFsInfo and the cached runtime status."""

    def __init__(self, recording: _RecordingCri, runtime_status: Callable[[], tuple[Any, Any]]) -> None:
        self._recording = recording
        self._runtime_status = runtime_status
        self.endpoint = recording.endpoint

    def image_fs_info(self) -> Any:
        # The CRI-O path (cAdvisor stats provider) samples without ImageFsInfo, so it is called here.
        if self._recording.image_fs_reply is None:
            return self._recording.image_fs_info()
        return self._recording.image_fs_reply

    def version(self) -> Any:
        return self._runtime_status()[0]

    def status(self, *, verbose: bool = False) -> Any:
        return self._runtime_status()[1]


class _TickFsProbe:
    """An FsInfoProbe whose ``dir_fs_info`` results are kept until :meth:`clear` (once per tick).

    The explanation repeats the sampler's lookups of the root and imagefs directories, which
    would otherwise statfs them again within the same tick.
    """

    def __init__(self, probe: FsInfoProbe) -> None:
        self._probe = probe
        self._cache: dict[str, DirFsInfo] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._probe, name)

    def clear(self) -> None:
        self._cache = {}

    def dir_fs_info(self, path: str) -> DirFsInfo:
        found = self._cache.get(path)
        if found is None:
            found = self._probe.dir_fs_info(path)
            self._cache[path] = found
        return found
