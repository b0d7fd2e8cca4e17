"""Domain types for what the CRI runtime reports, free of protobuf.

The CRI client translates each protobuf reply into these frozen dataclasses at the edge
(``simulator.cri._translate``), so no other layer imports generated code.

Conventions:
- Times are integers in nanoseconds since the Unix epoch, as CRI sends them (``*_ns``).
- A CRI wrapper value (``UInt64Value``, ``Int64Value``) that the runtime left unset becomes
  ``None``, never 0. The kubelet treats an unset value as "no data" (for example an observation
  that is not made), which is different from a measured zero.
- Enum values are their CRI names, such as ``"CONTAINER_RUNNING"`` or ``"SANDBOX_READY"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SANDBOX_READY = "SANDBOX_READY"
SANDBOX_NOTREADY = "SANDBOX_NOTREADY"

CONTAINER_CREATED = "CONTAINER_CREATED"
CONTAINER_RUNNING = "CONTAINER_RUNNING"
CONTAINER_EXITED = "CONTAINER_EXITED"
CONTAINER_UNKNOWN = "CONTAINER_UNKNOWN"


@dataclass(frozen=True)
class FilesystemUsage:
    """One filesystem's usage as the runtime counts it (CRI ``FilesystemUsage``).

    ``mountpoint`` is CRI's ``fs_id.mountpoint``: a directory on the filesystem, not necessarily
    a mount point. It is ``""`` when the runtime sent no ``fs_id``, in which case the kubelet
    cannot look up capacity and reports a partial imageFs. ``used_bytes`` is the runtime's own
    count of bytes used by images or a writable layer, not capacity minus available.

    NOTE: the kubelet's CRI stats provider reads ``used_bytes`` of ``image_filesystems[0]``
    without a nil check, so a runtime that leaves it unset would make the kubelet panic. Here it
    is ``None`` and the caller decides.
    """

    timestamp_ns: int
    mountpoint: str
    used_bytes: int | None
    inodes_used: int | None


@dataclass(frozen=True)
class ImageFsInfo:
    """Reply of ``ImageService/ImageFsInfo``.

    The kubelet uses only ``image_filesystems[0]``. ``container_filesystems`` is empty on
    containerd and means "same as the image filesystem".
    """

    image_filesystems: list[FilesystemUsage]
    container_filesystems: list[FilesystemUsage]


@dataclass(frozen=True)
class Image:
    """One image from ``ListImages`` or ``ImageStatus``; ``size_bytes`` is CRI's ``Image.size``."""

    id: str
    repo_tags: list[str]
    repo_digests: list[str]
    size_bytes: int
    pinned: bool
    username: str = ""
    uid: int | None = None


@dataclass(frozen=True)
class PodSandbox:
    """One pod sandbox from ``ListPodSandbox``; name, namespace, uid and attempt are its metadata."""

    id: str
    name: str
    namespace: str
    uid: str
    attempt: int
    state: str
    created_at_ns: int
    labels: dict[str, str]
    annotations: dict[str, str]
    runtime_handler: str


@dataclass(frozen=True)
class Container:
    """One container from ``ListContainers``.

    ``image`` is ``ImageSpec.image`` as the runtime reports it, ``image_ref`` the resolved
    reference (usually the image ID), and ``image_id`` the field added in CRI for Kubernetes 1.30
    (empty on older runtimes). ``attempt`` is the restart count.
    """

    id: str
    pod_sandbox_id: str
    name: str
    attempt: int
    image: str
    image_ref: str
    image_id: str
    state: str
    created_at_ns: int
    labels: dict[str, str]
    annotations: dict[str, str]


@dataclass(frozen=True)
class ContainerStatus:
    """Reply of ``RuntimeService/ContainerStatus``: a container with its lifecycle details.

    ``started_at_ns`` and ``finished_at_ns`` are 0 until the container starts or exits.
    """

    id: str
    name: str
    attempt: int
    state: str
    created_at_ns: int
    started_at_ns: int
    finished_at_ns: int
    exit_code: int
    image: str
    image_ref: str
    image_id: str
    reason: str
    message: str
    labels: dict[str, str]
    annotations: dict[str, str]
    log_path: str


@dataclass(frozen=True)
class ContainerStats:
    """One container's statistics from ``ListContainerStats``.

    ``timestamp_ns`` is the memory sample's time, or the CPU sample's when there is no memory
    sample, or 0. containerd reports a writable layer with ``used_bytes`` 0 and timestamp 0 until
    its snapshot usage syncer has seen the container.
    """

    id: str
    name: str
    labels: dict[str, str]
    annotations: dict[str, str]
    writable_layer: FilesystemUsage | None
    memory_working_set_bytes: int | None
    memory_usage_bytes: int | None
    timestamp_ns: int
    attempt: int = 0
    memory_rss_bytes: int | None = None
    memory_available_bytes: int | None = None
    cpu_usage_core_nano_seconds: int | None = None
    cpu_usage_nano_cores: int | None = None


@dataclass(frozen=True)
class PodSandboxStats:
    """One pod's Linux statistics from ``ListPodSandboxStats``.

    Only the Linux part is translated. ``process_count`` is ``None`` when the runtime sent no
    process statistics. ``timestamp_ns`` follows the same rule as :class:`ContainerStats`.
    """

    id: str
    name: str
    namespace: str
    uid: str
    labels: dict[str, str]
    annotations: dict[str, str]
    memory_working_set_bytes: int | None
    memory_usage_bytes: int | None
    cpu_usage_core_nano_seconds: int | None
    cpu_usage_nano_cores: int | None
    process_count: int | None
    containers: list[ContainerStats]
    timestamp_ns: int


@dataclass(frozen=True)
class RuntimeVersion:
    """Reply of ``RuntimeService/Version``; ``runtime_name`` is for example ``"containerd"``."""

    version: str
    runtime_name: str
    runtime_version: str
    runtime_api_version: str


@dataclass(frozen=True)
class RuntimeCondition:
    """One runtime condition, such as ``RuntimeReady`` or ``NetworkReady``."""

    type: str
    status: bool
    reason: str
    message: str


@dataclass(frozen=True)
class RuntimeStatus:
    """Reply of ``RuntimeService/Status``: the runtime's conditions and its runtime handler names."""

    conditions: list[RuntimeCondition]
    runtime_handlers: list[str] = field(default_factory=list)
    #: The runtime's free-form ``info`` map, filled only for a verbose request. containerd puts
    #: its CRI plugin config as JSON under ``"config"``.
    info: dict[str, str] = field(default_factory=dict)

    def condition(self, condition_type: str) -> RuntimeCondition | None:
        """Return the condition of type ``condition_type``, or ``None`` when the runtime omits it."""
        for condition in self.conditions:
            if condition.type == condition_type:
                return condition
        return None
