"""Translate CRI protobuf replies into the domain types of :mod:`simulator.cri.types`.

This is the only module besides the client that reads generated protobuf classes. Every unset
wrapper value becomes ``None``, because proto3 cannot tell an unset scalar from zero but can tell
an unset message (``HasField``) from a wrapper that contains 0.
"""

from __future__ import annotations

from typing import Any

from simulator._proto.runtime.v1 import api_pb2
from simulator.cri import types


def wrapped_value(message: Any, field_name: str) -> int | None:
    """Return ``message.<field_name>.value``, or ``None`` when the wrapper field is unset."""
    if not message.HasField(field_name):
        return None
    return int(getattr(message, field_name).value)


def container_state_name(value: int) -> str:
    """Return the CRI name of a ``ContainerState`` number.

    A number this subset does not know (from a newer runtime) maps to ``CONTAINER_UNKNOWN``,
    which is also what the kubelet makes of a state it cannot convert.
    """
    try:
        return api_pb2.ContainerState.Name(value)
    except ValueError:
        return types.CONTAINER_UNKNOWN


def sandbox_state_name(value: int) -> str:
    """Return the CRI name of a ``PodSandboxState`` number; unknown numbers count as not ready."""
    try:
        return api_pb2.PodSandboxState.Name(value)
    except ValueError:
        return types.SANDBOX_NOTREADY


def filesystem_usage(message: api_pb2.FilesystemUsage) -> types.FilesystemUsage:
    mountpoint = message.fs_id.mountpoint if message.HasField("fs_id") else ""
    return types.FilesystemUsage(
        timestamp_ns=message.timestamp,
        mountpoint=mountpoint,
        used_bytes=wrapped_value(message, "used_bytes"),
        inodes_used=wrapped_value(message, "inodes_used"),
    )


def image_fs_info(message: api_pb2.ImageFsInfoResponse) -> types.ImageFsInfo:
    return types.ImageFsInfo(
        image_filesystems=[filesystem_usage(item) for item in message.image_filesystems],
        container_filesystems=[filesystem_usage(item) for item in message.container_filesystems],
    )


def image(message: api_pb2.Image) -> types.Image:
    return types.Image(
        id=message.id,
        repo_tags=list(message.repo_tags),
        repo_digests=list(message.repo_digests),
        size_bytes=message.size,
        pinned=message.pinned,
        username=message.username,
        uid=wrapped_value(message, "uid"),
    )


def pod_sandbox(message: api_pb2.PodSandbox) -> types.PodSandbox:
    return types.PodSandbox(
        id=message.id,
        name=message.metadata.name,
        namespace=message.metadata.namespace,
        uid=message.metadata.uid,
        attempt=message.metadata.attempt,
        state=sandbox_state_name(message.state),
        created_at_ns=message.created_at,
        labels=dict(message.labels),
        annotations=dict(message.annotations),
        runtime_handler=message.runtime_handler,
    )


def container(message: api_pb2.Container) -> types.Container:
    return types.Container(
        id=message.id,
        pod_sandbox_id=message.pod_sandbox_id,
        name=message.metadata.name,
        attempt=message.metadata.attempt,
        image=message.image.image,
        image_ref=message.image_ref,
        image_id=message.image_id,
        state=container_state_name(message.state),
        created_at_ns=message.created_at,
        labels=dict(message.labels),
        annotations=dict(message.annotations),
    )


def container_status(message: api_pb2.ContainerStatus) -> types.ContainerStatus:
    return types.ContainerStatus(
        id=message.id,
        name=message.metadata.name,
        attempt=message.metadata.attempt,
        state=container_state_name(message.state),
        created_at_ns=message.created_at,
        started_at_ns=message.started_at,
        finished_at_ns=message.finished_at,
        exit_code=message.exit_code,
        image=message.image.image,
        image_ref=message.image_ref,
        image_id=message.image_id,
        reason=message.reason,
        message=message.message,
        labels=dict(message.labels),
        annotations=dict(message.annotations),
        log_path=message.log_path,
    )


def sample_timestamp(message: Any) -> int:
    """Return the memory sample's timestamp, else the CPU sample's, else 0."""
    if message.HasField("memory") and message.memory.timestamp:
        return message.memory.timestamp
    if message.HasField("cpu"):
        return message.cpu.timestamp
    return 0


def container_stats(message: api_pb2.ContainerStats) -> types.ContainerStats:
    writable_layer = None
    if message.HasField("writable_layer"):
        writable_layer = filesystem_usage(message.writable_layer)

    memory = message.memory if message.HasField("memory") else None
    cpu = message.cpu if message.HasField("cpu") else None
    return types.ContainerStats(
        id=message.attributes.id,
        name=message.attributes.metadata.name,
        labels=dict(message.attributes.labels),
        annotations=dict(message.attributes.annotations),
        writable_layer=writable_layer,
        memory_working_set_bytes=wrapped_value(memory, "working_set_bytes") if memory else None,
        memory_usage_bytes=wrapped_value(memory, "usage_bytes") if memory else None,
        timestamp_ns=sample_timestamp(message),
        attempt=message.attributes.metadata.attempt,
        memory_rss_bytes=wrapped_value(memory, "rss_bytes") if memory else None,
        memory_available_bytes=wrapped_value(memory, "available_bytes") if memory else None,
        cpu_usage_core_nano_seconds=wrapped_value(cpu, "usage_core_nano_seconds") if cpu else None,
        cpu_usage_nano_cores=wrapped_value(cpu, "usage_nano_cores") if cpu else None,
    )


def pod_sandbox_stats(message: api_pb2.PodSandboxStats) -> types.PodSandboxStats:
    linux = message.linux
    memory = linux.memory if linux.HasField("memory") else None
    cpu = linux.cpu if linux.HasField("cpu") else None
    process = linux.process if linux.HasField("process") else None
    return types.PodSandboxStats(
        id=message.attributes.id,
        name=message.attributes.metadata.name,
        namespace=message.attributes.metadata.namespace,
        uid=message.attributes.metadata.uid,
        labels=dict(message.attributes.labels),
        annotations=dict(message.attributes.annotations),
        memory_working_set_bytes=wrapped_value(memory, "working_set_bytes") if memory else None,
        memory_usage_bytes=wrapped_value(memory, "usage_bytes") if memory else None,
        cpu_usage_core_nano_seconds=wrapped_value(cpu, "usage_core_nano_seconds") if cpu else None,
        cpu_usage_nano_cores=wrapped_value(cpu, "usage_nano_cores") if cpu else None,
        process_count=wrapped_value(process, "process_count") if process else None,
        containers=[container_stats(item) for item in linux.containers],
        timestamp_ns=sample_timestamp(linux),
    )


def runtime_version(message: api_pb2.VersionResponse) -> types.RuntimeVersion:
    return types.RuntimeVersion(
        version=message.version,
        runtime_name=message.runtime_name,
        runtime_version=message.runtime_version,
        runtime_api_version=message.runtime_api_version,
    )


def runtime_status(message: api_pb2.StatusResponse) -> types.RuntimeStatus:
    conditions = [
        types.RuntimeCondition(
            type=item.type,
            status=item.status,
            reason=item.reason,
            message=item.message,
        )
        for item in message.status.conditions
    ]
    handlers = [handler.name for handler in message.runtime_handlers]
    return types.RuntimeStatus(conditions=conditions, runtime_handlers=handlers, info=dict(message.info))
