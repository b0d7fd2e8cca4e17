"""Create host-network pods the way the kubelet does, for tests that need live pods.

Pods get the kubelet's labels (``io.kubernetes.pod.name``, ``.namespace``, ``.uid`` and
``io.kubernetes.container.name``), so the product can join CRI objects to pods, and their
containers log to ``<pod_logs_dir>/<namespace>_<name>_<uid>/<container>/0.log``. emptyDir
volumes are directories under ``<kubelet_root>/pods/<uid>/volumes/kubernetes.io~empty-dir/``
bind-mounted into the container, as the kubelet lays them out.
"""

from __future__ import annotations

import shlex
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from harness._generated import cri_mutating_pb2 as mutating
from harness.cri_mutator import CriMutator
from harness.loopfs import HarnessError
from simulator._proto.runtime.v1 import api_pb2 as api

if TYPE_CHECKING:
    from harness.containerd import ContainerdNode

POD_NAME_LABEL = "io.kubernetes.pod.name"
POD_NAMESPACE_LABEL = "io.kubernetes.pod.namespace"
POD_UID_LABEL = "io.kubernetes.pod.uid"
CONTAINER_NAME_LABEL = "io.kubernetes.container.name"
EMPTY_DIR_PLUGIN = "kubernetes.io~empty-dir"
SLEEP_FOREVER = "exec /bin/sleep 2147483647"
DONE_MARKER = "evictsim-write-done"


@dataclass
class PodHandle:
    """What ``run_pod`` created: ids, the sandbox config and the host paths tests look at."""

    name: str
    namespace: str
    uid: str
    pod_sandbox_id: str
    sandbox_config: mutating.PodSandboxConfig
    container_ids: dict[str, str] = field(default_factory=dict)
    log_paths: dict[str, Path] = field(default_factory=dict)
    empty_dirs: dict[str, Path] = field(default_factory=dict)

    @property
    def log_directory(self) -> Path:
        """The pod's log directory, ``<pod_logs_dir>/<namespace>_<name>_<uid>``."""
        return Path(self.sandbox_config.log_directory)


def empty_dir_path(node: ContainerdNode, pod_uid: str, volume_name: str) -> Path:
    """Return the host directory of an emptyDir volume, laid out as the kubelet does."""
    return node.kubelet_root / "pods" / pod_uid / "volumes" / EMPTY_DIR_PLUGIN / volume_name


def write_bytes_command(mib: int, path: str = "/data.bin", *, then_sleep: bool = True) -> list[str]:
    """Return a container command writing ``mib`` MiB of random data to ``path``.

    The data lands in the container's writable layer unless ``path`` is inside a mounted
    volume. The command prints ``DONE_MARKER`` when the data is synced, then sleeps when
    ``then_sleep`` is set, so the container keeps running with its usage in place.
    """
    script = (
        f"/bin/dd if=/dev/urandom of={shlex.quote(path)} bs=1M count={int(mib)} 2>/dev/null"
        f" && /bin/sync && echo {DONE_MARKER}"
    )
    if then_sleep:
        script += f"; {SLEEP_FOREVER}"
    return ["/bin/sh", "-c", script]


def _sandbox_config(
    node: ContainerdNode,
    name: str,
    namespace: str,
    uid: str,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
) -> mutating.PodSandboxConfig:
    log_directory = node.pod_logs_dir / f"{namespace}_{name}_{uid}"
    log_directory.mkdir(parents=True, exist_ok=True)
    config = mutating.PodSandboxConfig(
        metadata=api.PodSandboxMetadata(name=name, uid=uid, namespace=namespace, attempt=0),
        log_directory=str(log_directory),
        labels={POD_NAME_LABEL: name, POD_NAMESPACE_LABEL: namespace, POD_UID_LABEL: uid, **labels},
        annotations=dict(annotations),
    )
    config.linux.cgroup_parent = f"{node.cgroup_root}/pod{uid}"
    options = config.linux.security_context.namespace_options
    options.network = mutating.NODE
    options.pid = mutating.CONTAINER
    options.ipc = mutating.POD
    return config


def _container_config(
    sandbox_config: mutating.PodSandboxConfig,
    container_name: str,
    image: str,
    command: Sequence[str],
    mounts: Mapping[str, Path],
) -> mutating.ContainerConfig:
    metadata = sandbox_config.metadata
    config = mutating.ContainerConfig(
        metadata=api.ContainerMetadata(name=container_name, attempt=0),
        image=api.ImageSpec(image=image),
        command=list(command),
        labels={
            POD_NAME_LABEL: metadata.name,
            POD_NAMESPACE_LABEL: metadata.namespace,
            POD_UID_LABEL: metadata.uid,
            CONTAINER_NAME_LABEL: container_name,
        },
        annotations={"io.kubernetes.container.restartCount": "0"},
        log_path=f"{container_name}/0.log",
        mounts=[
            api.Mount(container_path=container_path, host_path=str(host_path))
            for container_path, host_path in mounts.items()
        ],
    )
    options = config.linux.security_context.namespace_options
    options.network = mutating.NODE
    options.pid = mutating.CONTAINER
    options.ipc = mutating.POD
    return config


def run_pod(
    node: ContainerdNode,
    name: str,
    namespace: str,
    image: str,
    command: Sequence[str],
    *,
    container_name: str = "main",
    uid: str | None = None,
    empty_dirs: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    extra_containers: Mapping[str, Sequence[str]] | None = None,
) -> PodHandle:
    """Run a host-network pod sandbox with one started container (plus ``extra_containers``).

    ``empty_dirs`` maps a volume name to its path in every container of the pod.
    ``extra_containers`` maps more container names to their commands, using the same image.
    The image must already be imported. The node's teardown removes the pod.
    """
    uid = uid or str(uuid.uuid4())
    sandbox_config = _sandbox_config(node, name, namespace, uid, labels or {}, annotations or {})
    volume_dirs: dict[str, Path] = {}
    mounts: dict[str, Path] = {}
    for volume_name, container_path in (empty_dirs or {}).items():
        host_dir = empty_dir_path(node, uid, volume_name)
        host_dir.mkdir(parents=True, exist_ok=True)
        volume_dirs[volume_name] = host_dir
        mounts[container_path] = host_dir

    with CriMutator(node.endpoint) as mutator:
        pod_sandbox_id = mutator.run_pod_sandbox(sandbox_config)
        handle = PodHandle(
            name=name,
            namespace=namespace,
            uid=uid,
            pod_sandbox_id=pod_sandbox_id,
            sandbox_config=sandbox_config,
            empty_dirs=volume_dirs,
        )
        containers = {container_name: command, **(extra_containers or {})}
        for each_name, each_command in containers.items():
            (Path(sandbox_config.log_directory) / each_name).mkdir(parents=True, exist_ok=True)
            config = _container_config(sandbox_config, each_name, image, each_command, mounts)
            container_id = mutator.create_container(pod_sandbox_id, config, sandbox_config)
            mutator.start_container(container_id)
            handle.container_ids[each_name] = container_id
            handle.log_paths[each_name] = Path(sandbox_config.log_directory) / config.log_path
    return handle


def remove_pod(node: ContainerdNode, handle: PodHandle) -> None:
    """Stop and remove the pod's containers and sandbox, as the kubelet does on pod deletion."""
    with CriMutator(node.endpoint) as mutator:
        for container_id in handle.container_ids.values():
            mutator.stop_container(container_id)
            mutator.remove_container(container_id)
        mutator.stop_pod_sandbox(handle.pod_sandbox_id)
        mutator.remove_pod_sandbox(handle.pod_sandbox_id)


def wait_for_log(
    handle: PodHandle, container_name: str, text: str = DONE_MARKER, *, timeout_s: float = 60.0
) -> None:
    """Wait until the container's CRI log file contains ``text``.

    Raises HarnessError when ``timeout_s`` passes first.
    """
    path = handle.log_paths[container_name]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if text in path.read_text(errors="replace"):
                return
        except FileNotFoundError:
            pass
        time.sleep(0.1)
    raise HarnessError(
        f"timed out after {timeout_s} s waiting for container {container_name} of pod "
        f"{handle.namespace}/{handle.name} to log {text!r}; its log file is {path}"
    )
