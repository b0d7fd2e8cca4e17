"""The node snapshot: a Summary API (stats/v1alpha1) shaped view of one node at one time.

Live probes and recorded Summary JSON both produce a :class:`Summary`; the policy engine
reads only this type. Field names follow the kubelet's Go structs in snake_case, and
:meth:`Summary.to_json` writes the kubelet's camelCase JSON back. A ``None`` value means the
kubelet would leave the field out (absent), which is different from zero: absent stats make a
signal unobserved instead of observed at zero.

Every number may carry a :class:`Provenance` keyed by its JSON path, for example
``node.runtime.imageFs.capacityBytes``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from simulator.errors import InputError

UTC = dt.timezone.utc


@dataclasses.dataclass(frozen=True, slots=True)
class Provenance:
    """The origin of one number: ``source`` is an RPC or syscall, ``detail`` the rest."""

    source: str
    detail: str = ""
    mountpoint: str | None = None
    device: str | None = None
    partition: str | None = None
    fs_type: str | None = None
    time: dt.datetime | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.source}
        for key in ("detail", "mountpoint", "device", "partition", "fs_type"):
            value = getattr(self, key)
            if value:
                out[_camel(key)] = value
        if self.time is not None:
            out["time"] = format_time(self.time)
        return out


@dataclasses.dataclass(slots=True)
class FsStats:
    """Filesystem numbers in bytes and inode counts (Summary ``FsStats``)."""

    time: dt.datetime | None = None
    available_bytes: int | None = None
    capacity_bytes: int | None = None
    used_bytes: int | None = None
    inodes_free: int | None = None
    inodes: int | None = None
    inodes_used: int | None = None


@dataclasses.dataclass(slots=True)
class MemoryStats:
    """Memory numbers of a cgroup in bytes (Summary ``MemoryStats``)."""

    time: dt.datetime | None = None
    available_bytes: int | None = None
    usage_bytes: int | None = None
    working_set_bytes: int | None = None
    rss_bytes: int | None = None
    page_faults: int | None = None
    major_page_faults: int | None = None


@dataclasses.dataclass(slots=True)
class RlimitStats:
    """Process limits of the node (Summary ``RlimitStats``): ``maxpid`` and ``curproc``."""

    time: dt.datetime | None = None
    maxpid: int | None = None
    curproc: int | None = None


@dataclasses.dataclass(slots=True)
class ContainerStats:
    """One container of a pod, or a node system container such as ``pods`` or ``kubelet``."""

    name: str
    start_time: dt.datetime | None = None
    memory: MemoryStats | None = None
    rootfs: FsStats | None = None
    logs: FsStats | None = None


@dataclasses.dataclass(slots=True)
class VolumeStats:
    """Usage of one pod volume (Summary ``VolumeStats``), by the volume's name in the pod spec."""

    name: str
    fs: FsStats = dataclasses.field(default_factory=FsStats)
    pvc_ref: dict[str, str] | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class PodRef:
    """The pod's name, namespace and UID."""

    name: str
    namespace: str
    uid: str = ""

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclasses.dataclass(slots=True)
class PodStats:
    """Usage of one pod (Summary ``PodStats``)."""

    pod_ref: PodRef
    start_time: dt.datetime | None = None
    containers: list[ContainerStats] = dataclasses.field(default_factory=list)
    memory: MemoryStats | None = None
    volume_stats: list[VolumeStats] = dataclasses.field(default_factory=list)
    ephemeral_storage: FsStats | None = None
    process_count: int | None = None


@dataclasses.dataclass(slots=True)
class NodeStats:
    """The node section of the Summary."""

    node_name: str = ""
    start_time: dt.datetime | None = None
    memory: MemoryStats | None = None
    system_containers: list[ContainerStats] = dataclasses.field(default_factory=list)
    fs: FsStats | None = None
    image_fs: FsStats | None = None
    container_fs: FsStats | None = None
    rlimit: RlimitStats | None = None

    def system_container(self, name: str) -> ContainerStats | None:
        for container in self.system_containers:
            if container.name == name:
                return container
        return None


@dataclasses.dataclass(slots=True)
class Summary:
    """A whole node snapshot: node stats, pod stats and per-number provenance."""

    node: NodeStats = dataclasses.field(default_factory=NodeStats)
    pods: list[PodStats] = dataclasses.field(default_factory=list)
    provenance: dict[str, Provenance] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_json(cls, document: Any, *, source: str = "") -> Summary:
        """Parse a Summary API document (``kubectl get --raw .../stats/summary``).

        Raises InputError naming the JSON path and value when a field has the wrong type or a
        negative number. Missing sections stay ``None``, as the kubelet leaves them out.
        """
        return _SummaryReader(source).read(document)

    def node_stats_times(self) -> list[dt.datetime]:
        """Times of the node-level stats the eviction signals come from (memory, fs, runtime, rlimit)."""
        node = self.node
        return [
            stats.time
            for stats in (node.memory, node.fs, node.image_fs, node.container_fs, node.rlimit)
            if stats is not None and stats.time is not None
        ]

    def newest_node_stats_time(self) -> dt.datetime | None:
        """Return the newest node-level stats time, or None when the Summary has no times."""
        times = self.node_stats_times()
        return max(times) if times else None

    def stamp_node_times(self, when: dt.datetime) -> None:
        """Set every node-level stats time that is present to ``when`` (absent times stay absent)."""
        node = self.node
        for stats in (node.memory, node.fs, node.image_fs, node.container_fs, node.rlimit):
            if stats is not None and stats.time is not None:
                stats.time = when
        for container in node.system_containers:
            if container.memory is not None and container.memory.time is not None:
                container.memory.time = when

    def to_json(self, *, with_provenance: bool = False) -> dict[str, Any]:
        """Write the kubelet's camelCase JSON; provenance goes under an ``evictsim`` key."""
        out: dict[str, Any] = {"node": _node_to_json(self.node), "pods": [_pod_to_json(p) for p in self.pods]}
        if with_provenance and self.provenance:
            out["evictsim"] = {"provenance": {k: v.to_json() for k, v in sorted(self.provenance.items())}}
        return out


# ---------------------------------------------------------------------------------------------
# time helpers

_FRACTION = re.compile(r"\.(\d+)")


def parse_time(text: str, *, field: str = "time", source: str = "") -> dt.datetime:
    """Parse an RFC 3339 time such as ``2024-05-14T09:21:30.123456789Z`` into an aware UTC datetime.

    Fractions beyond microseconds are truncated, since Python datetimes stop there.
    """
    if not isinstance(text, str):
        raise InputError(f"{field}: expected an RFC 3339 time string, got {text!r}", field=field, value=text, source=source)
    trimmed = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), text, count=1)
    try:
        parsed = dt.datetime.fromisoformat(trimmed.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InputError(
            f"{field}: invalid time {text!r}; expected RFC 3339 such as 2024-05-14T09:21:30Z",
            field=field,
            value=text,
            source=source,
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_time(value: dt.datetime) -> str:
    """Format a datetime as the kubelet does in JSON: RFC 3339 in UTC with a ``Z`` suffix."""
    value = value.astimezone(UTC)
    if value.microsecond:
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------------------------
# JSON reading


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class _SummaryReader:
    """Reads Summary JSON with path-qualified errors."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, value: object, expected: str) -> InputError:
        return InputError(f"{path}: invalid value {value!r}; expected {expected}", field=path, value=value, source=self.source)

    def mapping(self, value: object, path: str) -> Mapping[str, Any] | None:
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise self.fail(path, value, "a JSON object")
        return value

    def integer(self, value: object, path: str) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
            raise self.fail(path, value, "a whole number")
        if value < 0:
            raise self.fail(path, value, "a number >= 0")
        return int(value)

    def time(self, value: object, path: str) -> dt.datetime | None:
        if value is None:
            return None
        return parse_time(value, field=path, source=self.source)  # type: ignore[arg-type]

    def fs(self, value: object, path: str) -> FsStats | None:
        data = self.mapping(value, path)
        if data is None:
            return None
        return FsStats(
            time=self.time(data.get("time"), f"{path}.time"),
            **{
                f.name: self.integer(data.get(_camel(f.name)), f"{path}.{_camel(f.name)}")
                for f in dataclasses.fields(FsStats)
                if f.name != "time"
            },
        )

    def memory(self, value: object, path: str) -> MemoryStats | None:
        data = self.mapping(value, path)
        if data is None:
            return None
        return MemoryStats(
            time=self.time(data.get("time"), f"{path}.time"),
            **{
                f.name: self.integer(data.get(_camel(f.name)), f"{path}.{_camel(f.name)}")
                for f in dataclasses.fields(MemoryStats)
                if f.name != "time"
            },
        )

    def container(self, value: object, path: str) -> ContainerStats:
        data = self.mapping(value, path) or {}
        name = data.get("name")
        if not isinstance(name, str):
            raise self.fail(f"{path}.name", name, "a container name")
        return ContainerStats(
            name=name,
            start_time=self.time(data.get("startTime"), f"{path}.startTime"),
            memory=self.memory(data.get("memory"), f"{path}.memory"),
            rootfs=self.fs(data.get("rootfs"), f"{path}.rootfs"),
            logs=self.fs(data.get("logs"), f"{path}.logs"),
        )

    def listing(self, value: object, path: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(path, value, "a JSON array")
        return value

    def read(self, document: Any) -> Summary:
        root = self.mapping(document, "summary")
        if root is None:
            raise self.fail("summary", document, "a Summary API JSON object with a node section")
        node_data = self.mapping(root.get("node"), "node")
        if node_data is None:
            raise self.fail("node", None, "a node section (this does not look like a Summary API document)")
        runtime = self.mapping(node_data.get("runtime"), "node.runtime") or {}
        rlimit_data = self.mapping(node_data.get("rlimit"), "node.rlimit")
        node = NodeStats(
            node_name=str(node_data.get("nodeName") or ""),
            start_time=self.time(node_data.get("startTime"), "node.startTime"),
            memory=self.memory(node_data.get("memory"), "node.memory"),
            system_containers=[
                self.container(c, f"node.systemContainers[{i}]")
                for i, c in enumerate(self.listing(node_data.get("systemContainers"), "node.systemContainers"))
            ],
            fs=self.fs(node_data.get("fs"), "node.fs"),
            image_fs=self.fs(runtime.get("imageFs"), "node.runtime.imageFs"),
            container_fs=self.fs(runtime.get("containerFs"), "node.runtime.containerFs"),
            rlimit=None
            if rlimit_data is None
            else RlimitStats(
                time=self.time(rlimit_data.get("time"), "node.rlimit.time"),
                maxpid=self.integer(rlimit_data.get("maxpid"), "node.rlimit.maxpid"),
                curproc=self.integer(rlimit_data.get("curproc"), "node.rlimit.curproc"),
            ),
        )
        pods = [self.pod(p, f"pods[{i}]") for i, p in enumerate(self.listing(root.get("pods"), "pods"))]
        return Summary(node=node, pods=pods)

    def pod(self, value: object, path: str) -> PodStats:
        data = self.mapping(value, path) or {}
        ref = self.mapping(data.get("podRef"), f"{path}.podRef") or {}
        name, namespace = ref.get("name"), ref.get("namespace")
        if not isinstance(name, str) or not isinstance(namespace, str):
            raise self.fail(f"{path}.podRef", dict(ref), "an object with name and namespace strings")
        volumes = []
        for j, item in enumerate(self.listing(data.get("volume"), f"{path}.volume")):
            volume_path = f"{path}.volume[{j}]"
            volume = self.mapping(item, volume_path) or {}
            volume_name = volume.get("name")
            if not isinstance(volume_name, str):
                raise self.fail(f"{volume_path}.name", volume_name, "a volume name")
            volumes.append(
                VolumeStats(name=volume_name, fs=self.fs(volume, volume_path) or FsStats(), pvc_ref=volume.get("pvcRef"))
            )
        process = self.mapping(data.get("process_stats"), f"{path}.process_stats") or {}
        return PodStats(
            pod_ref=PodRef(name=name, namespace=namespace, uid=str(ref.get("uid") or "")),
            start_time=self.time(data.get("startTime"), f"{path}.startTime"),
            containers=[
                self.container(c, f"{path}.containers[{k}]")
                for k, c in enumerate(self.listing(data.get("containers"), f"{path}.containers"))
            ],
            memory=self.memory(data.get("memory"), f"{path}.memory"),
            volume_stats=volumes,
            ephemeral_storage=self.fs(data.get("ephemeral-storage"), f"{path}.ephemeral-storage"),
            process_count=self.integer(process.get("process_count"), f"{path}.process_stats.process_count"),
        )


# ---------------------------------------------------------------------------------------------
# JSON writing


def _stats_to_json(stats: Any) -> dict[str, Any] | None:
    if stats is None:
        return None
    out: dict[str, Any] = {}
    for f in dataclasses.fields(stats):
        value = getattr(stats, f.name)
        if value is None:
            continue
        out[_camel(f.name)] = format_time(value) if isinstance(value, dt.datetime) else value
    return out


def _container_to_json(container: ContainerStats) -> dict[str, Any]:
    out: dict[str, Any] = {"name": container.name}
    if container.start_time is not None:
        out["startTime"] = format_time(container.start_time)
    for key in ("memory", "rootfs", "logs"):
        value = _stats_to_json(getattr(container, key))
        if value is not None:
            out[key] = value
    return out


def _node_to_json(node: NodeStats) -> dict[str, Any]:
    out: dict[str, Any] = {"nodeName": node.node_name}
    if node.system_containers:
        out["systemContainers"] = [_container_to_json(c) for c in node.system_containers]
    if node.start_time is not None:
        out["startTime"] = format_time(node.start_time)
    for key, value in (("memory", node.memory), ("fs", node.fs)):
        encoded = _stats_to_json(value)
        if encoded is not None:
            out[key] = encoded
    runtime = {
        key: encoded
        for key, encoded in (("imageFs", _stats_to_json(node.image_fs)), ("containerFs", _stats_to_json(node.container_fs)))
        if encoded is not None
    }
    if runtime:
        out["runtime"] = runtime
    rlimit = _stats_to_json(node.rlimit)
    if rlimit is not None:
        out["rlimit"] = rlimit
    return out


def _pod_to_json(pod: PodStats) -> dict[str, Any]:
    out: dict[str, Any] = {
        "podRef": {"name": pod.pod_ref.name, "namespace": pod.pod_ref.namespace, "uid": pod.pod_ref.uid},
    }
    if pod.start_time is not None:
        out["startTime"] = format_time(pod.start_time)
    out["containers"] = [_container_to_json(c) for c in pod.containers]
    memory = _stats_to_json(pod.memory)
    if memory is not None:
        out["memory"] = memory
    if pod.volume_stats:
        volumes = []
        for volume in pod.volume_stats:
            entry = _stats_to_json(volume.fs) or {}
            entry["name"] = volume.name
            if volume.pvc_ref:
                entry["pvcRef"] = volume.pvc_ref
            volumes.append(entry)
        out["volume"] = volumes
    ephemeral = _stats_to_json(pod.ephemeral_storage)
    if ephemeral is not None:
        out["ephemeral-storage"] = ephemeral
    if pod.process_count is not None:
        out["process_stats"] = {"process_count": pod.process_count}
    return out
