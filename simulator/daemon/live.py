"""The live sample source: the node's Summary from the probes, and the runtime's lists for GC.

The CRI client is created on the first tick and again after it fails to connect, so a daemon
started before its runtime keeps retrying instead of exiting. The mount table is read once at
start, as the kubelet's cAdvisor does.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from simulator.cri.client import CriClient
from simulator.daemon.daemon import Sample
from simulator.daemon.evaluation import GcInputs
from simulator.errors import NotCriServerError, RuntimeUnavailableError
from simulator.engine.images import containers_from_cri, images_from_cri, sandboxes_from_cri
from simulator.probes.fsinfo import FsInfoProbe
from simulator.probes.memory import MemoryProbe
from simulator.probes.mountinfo import MountTable
from simulator.probes.pids import PidProbe
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
    ) -> None:
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        self.root_dir = root_dir
        self.fs_probe = FsInfoProbe(mount_table)
        self.node_name = node_name
        self._cri: CriClient | None = None
        self._sampler: Sampler | None = None

    @classmethod
    def open(
        cls, *, endpoint: str | None, timeout_s: float, root_dir: str, mountinfo: str, node_name: str | None = None
    ) -> LiveSource:
        """Read the mount table (an unreadable one is an InputError) and return the source."""
        return cls(
            endpoint=endpoint,
            timeout_s=timeout_s,
            root_dir=root_dir,
            mount_table=MountTable.from_file(mountinfo),
            node_name=node_name,
        )

    @property
    def description(self) -> str:
        endpoint = self._cri.endpoint if self._cri is not None else (self.endpoint or "the default CRI endpoints")
        return f"live {endpoint}"

    def next_sample(self, now: dt.datetime) -> Sample:
        """Sample the node; raise RuntimeUnavailableError, NotCriServerError or another ProbeError."""
        sampler, cri = self._connect()
        try:
            summary = sampler.sample()
            gc_inputs = GcInputs(
                images=images_from_cri(cri.list_images()),
                containers=containers_from_cri(cri.list_containers()),
                sandboxes=sandboxes_from_cri(cri.list_pod_sandboxes()),
            )
        except (RuntimeUnavailableError, NotCriServerError):
            # a fresh channel next tick, instead of waiting out gRPC's reconnect backoff
            self.close()
            raise
        return Sample(summary=summary, time=now, origin="live", gc_inputs=gc_inputs)

    def _connect(self) -> tuple[Sampler, CriClient]:
        if self._cri is None or self._sampler is None:
            cri = CriClient(self.endpoint, timeout_s=self.timeout_s)
            self._sampler = Sampler(
                cri,
                self.fs_probe,
                root_dir=self.root_dir,
                memory_probe=MemoryProbe(),
                pid_probe=PidProbe(),
                node_name=self.node_name,
                pod_stats_source=_pod_stats_source(cri),
            )
            self._cri = cri
        return self._sampler, self._cri

    def close(self) -> None:
        if self._cri is not None:
            self._cri.close()
            self._cri = None
            self._sampler = None


def _pod_stats_source(cri: CriClient) -> Any:
    """Return the live pod stats hook when the probes provide one, else ``None`` (no pod stats)."""
    try:
        from simulator.probes.pods import pod_stats_source
    except ImportError:
        return None
    return pod_stats_source(cri)
