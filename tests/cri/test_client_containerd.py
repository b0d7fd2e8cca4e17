"""CriClient against a real containerd (Debian's package), started by the ``containerd_node`` fixture.

The fixture gives containerd a root on its own loop-mounted ext4, so the image filesystem's
mountpoint must be ``<root>/io.containerd.snapshotter.v1.<snapshotter>``: containerd's CRI plugin
reports its snapshotter's root as ``fs_id.mountpoint`` (containerd pkg/cri/server/imagefs_info.go
in 1.6/1.7, internal/cri/server/images/imagefs_info.go in 2.x).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulator.cri import types
from simulator.cri.client import CriClient

pytestmark = pytest.mark.containerd


@pytest.fixture
def client(containerd_node: Any) -> Iterator[CriClient]:
    with CriClient(containerd_node.endpoint) as cri_client:
        yield cri_client


@pytest.fixture
def running_pod(containerd_node: Any) -> Iterator[Any]:
    """One host-network pod with one running busybox container, removed after the test."""
    from harness.pods import remove_pod, run_pod

    handle = run_pod(
        containerd_node,
        name="cri-client-probe",
        namespace="evictsim-test",
        image=containerd_node.sandbox_image,
        command=["/bin/sleep", "3600"],
        labels={"app": "cri-client-probe"},
    )
    try:
        yield handle
    finally:
        remove_pod(containerd_node, handle)


def snapshotter_root(node: Any) -> Path:
    return Path(node.root) / f"io.containerd.snapshotter.v1.{node.snapshotter}"


def test_version_names_containerd(client: CriClient) -> None:
    version = client.version()
    assert version.runtime_name == "containerd"
    assert version.runtime_api_version == "v1"
    assert client.runtime_name == "containerd"


def test_status_reports_runtime_ready(client: CriClient) -> None:
    runtime_ready = client.status().condition("RuntimeReady")
    assert runtime_ready is not None
    assert runtime_ready.status is True


def test_image_fs_info_is_snapshotter_root(client: CriClient, containerd_node: Any) -> None:
    info = client.image_fs_info()

    assert len(info.image_filesystems) == 1
    image_fs = info.image_filesystems[0]
    assert Path(image_fs.mountpoint) == snapshotter_root(containerd_node)
    assert Path(image_fs.mountpoint).is_relative_to(containerd_node.image_fs_mount)
    assert image_fs.used_bytes is not None
    assert image_fs.inodes_used is not None
    assert image_fs.timestamp_ns > 0
    # containerd fills only image_filesystems (KEP-4191 split filesystems are CRI-O only).
    assert info.container_filesystems == []


def test_list_images_includes_pause_image(client: CriClient, containerd_node: Any) -> None:
    images = client.list_images()
    pause = [image for image in images if containerd_node.sandbox_image in image.repo_tags]
    assert len(pause) == 1
    assert pause[0].id.startswith("sha256:")
    assert pause[0].size_bytes > 0


def test_image_status_of_known_and_unknown(client: CriClient, containerd_node: Any) -> None:
    known = client.image_status(containerd_node.sandbox_image)
    assert known is not None
    assert containerd_node.sandbox_image in known.repo_tags
    assert client.image_status("evictsim.test/never-imported:0") is None


def test_pod_sandbox_listed_ready(client: CriClient, running_pod: Any) -> None:
    sandboxes = {sandbox.id: sandbox for sandbox in client.list_pod_sandboxes()}
    sandbox = sandboxes[running_pod.pod_sandbox_id]
    assert sandbox.state == types.SANDBOX_READY
    assert sandbox.name == running_pod.name
    assert sandbox.namespace == running_pod.namespace
    assert sandbox.uid == running_pod.uid
    assert sandbox.labels["app"] == "cri-client-probe"
    assert sandbox.created_at_ns > 0


def test_container_listed_running(client: CriClient, running_pod: Any) -> None:
    container_id = running_pod.container_ids["main"]
    containers = {container.id: container for container in client.list_containers()}
    container = containers[container_id]
    assert container.state == types.CONTAINER_RUNNING
    assert container.pod_sandbox_id == running_pod.pod_sandbox_id
    assert container.name == "main"
    assert container.labels["io.kubernetes.pod.uid"] == running_pod.uid
    assert container.image_ref.startswith("sha256:")


def test_container_status_running(client: CriClient, running_pod: Any) -> None:
    status = client.container_status(running_pod.container_ids["main"])
    assert status is not None
    assert status.state == types.CONTAINER_RUNNING
    assert status.started_at_ns >= status.created_at_ns > 0
    assert status.finished_at_ns == 0
    assert client.container_status("0" * 64) is None


def test_container_stats_writable_layer_on_imagefs(
    client: CriClient, running_pod: Any, containerd_node: Any
) -> None:
    """containerd reports the writable layer with fs_id = the snapshotter root, like imagefs."""
    container_id = running_pod.container_ids["main"]
    stats = {item.id: item for item in client.list_container_stats()}
    container_stats = stats[container_id]
    assert container_stats.name == "main"
    assert container_stats.writable_layer is not None
    assert Path(container_stats.writable_layer.mountpoint) == snapshotter_root(containerd_node)
    assert container_stats.memory_working_set_bytes is not None


def test_pod_sandbox_stats_include_container(client: CriClient, running_pod: Any) -> None:
    # containerd computes memory from the cgroup, which may lag the sandbox's start briefly.
    deadline = time.monotonic() + 10
    while True:
        stats = {item.id: item for item in client.list_pod_sandbox_stats()}
        pod_stats = stats.get(running_pod.pod_sandbox_id)
        if pod_stats is not None and pod_stats.containers or time.monotonic() > deadline:
            break
        time.sleep(0.5)

    assert pod_stats is not None
    assert pod_stats.uid == running_pod.uid
    assert [container.id for container in pod_stats.containers] == [running_pod.container_ids["main"]]
