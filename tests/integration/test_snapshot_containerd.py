"""The live snapshot and ``evictsim explain imagefs`` against a real containerd on loop filesystems.

The expectations restate the kubelet's CRI stats provider (``ImageFsStats`` in
``pkg/kubelet/stats/cri_stats_provider.go``). imageFs usedBytes and inodesUsed are those of CRI
``image_filesystems[0]``. Capacity, available, inodes and inodesFree come from cAdvisor's statfs
of the partition that contains ``fs_id.mountpoint``. node.fs is the same lookup on the kubelet
root dir.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from harness.containerd import ContainerdNode

from simulator._proto.runtime.v1 import api_pb2
from simulator.cli import main as cli_main
from simulator.cri.client import CriClient
from simulator.probes.fsinfo import FsInfoProbe
from simulator.probes.memory import MemoryProbe
from simulator.probes.mountinfo import MountTable
from simulator.probes.pids import PidProbe
from simulator.probes.sampler import SampleDetails, Sampler
from simulator.snapshot import Summary

pytestmark = pytest.mark.containerd

ATTEMPTS = 5


def _major_minor(path: Path) -> str:
    dev = os.stat(path).st_dev
    return f"{os.major(dev)}:{os.minor(dev)}"


def _usage_counts(reply: Any) -> list[tuple[str, int, int]]:
    return [
        (fs.fs_id.mountpoint, fs.used_bytes.value, fs.inodes_used.value) for fs in reply.image_filesystems
    ]


def _sample(node: ContainerdNode) -> tuple[Summary, SampleDetails, Any, os.statvfs_result, os.statvfs_result]:
    """Take one sample between two raw CRI replies and two statvfs calls.

    The sample is retried until CRI's usage is the same before and after it.
    """
    table = MountTable.from_file("/proc/self/mountinfo")
    with CriClient(node.endpoint) as cri:
        sampler = Sampler(
            cri,
            FsInfoProbe(table),
            root_dir=str(node.kubelet_root),
            memory_probe=MemoryProbe(),
            pid_probe=PidProbe(),
        )
        for _ in range(ATTEMPTS):
            before = node.cri_call(
                "ImageService/ImageFsInfo", api_pb2.ImageFsInfoRequest(), api_pb2.ImageFsInfoResponse
            )
            statvfs_before = os.statvfs(node.image_fs_mount)
            summary, details = sampler.sample_with_details()
            statvfs_after = os.statvfs(node.image_fs_mount)
            after = node.cri_call(
                "ImageService/ImageFsInfo", api_pb2.ImageFsInfoRequest(), api_pb2.ImageFsInfoResponse
            )
            # with no snapshots containerd stamps the reply with "now", so only the counts are compared
            if _usage_counts(before) == _usage_counts(after):
                return summary, details, after, statvfs_before, statvfs_after
    pytest.fail(f"containerd's ImageFsInfo changed during each of {ATTEMPTS} samples")


def test_image_fs_cri_and_statvfs(containerd_node: ContainerdNode) -> None:
    summary, _, reply, statvfs_before, statvfs_after = _sample(containerd_node)
    image_fs = summary.node.image_fs
    usage = reply.image_filesystems[0]
    assert image_fs is not None

    assert image_fs.used_bytes == usage.used_bytes.value
    assert image_fs.inodes_used == usage.inodes_used.value

    assert image_fs.capacity_bytes == statvfs_before.f_blocks * statvfs_before.f_frsize
    assert image_fs.inodes == statvfs_before.f_files
    available = sorted(
        [statvfs_before.f_bavail * statvfs_before.f_frsize, statvfs_after.f_bavail * statvfs_after.f_frsize]
    )
    assert available[0] <= image_fs.available_bytes <= available[1]
    inodes_free = sorted([statvfs_before.f_ffree, statvfs_after.f_ffree])
    assert inodes_free[0] <= image_fs.inodes_free <= inodes_free[1]

    assert summary.node.container_fs == image_fs


def test_loop_devices_resolved(containerd_node: ContainerdNode) -> None:
    """imagefs resolves to containerd's loop device and partition, and nodefs to the other loop fs."""
    summary, details, reply, _, _ = _sample(containerd_node)
    assert reply.image_filesystems[0].fs_id.mountpoint == str(containerd_node.snapshotter_root)

    image_info = details.image_fs_info
    assert image_info is not None
    assert image_info.device == containerd_node.image_fs.device
    assert f"{image_info.major}:{image_info.minor}" == _major_minor(containerd_node.image_fs_mount)
    assert image_info.partition_mountpoint == str(containerd_node.image_fs_mount)
    assert image_info.fs_type == "ext4"
    provenance = summary.provenance["node.runtime.imageFs.capacityBytes"]
    assert provenance.partition == str(containerd_node.image_fs_mount)
    assert (
        provenance.device
        == f"{containerd_node.image_fs.device} ({_major_minor(containerd_node.image_fs_mount)})"
    )

    node_info = details.node_fs
    assert node_info.device == containerd_node.node_fs.device
    assert node_info.partition_mountpoint == str(containerd_node.kubelet_root)
    assert node_info.device != image_info.device
    node_statvfs = os.statvfs(containerd_node.kubelet_root)
    assert summary.node.fs is not None
    assert summary.node.fs.capacity_bytes == node_statvfs.f_blocks * node_statvfs.f_frsize
    assert summary.node.fs.inodes == node_statvfs.f_files


def test_explain_imagefs(containerd_node: ContainerdNode) -> None:
    """``evictsim explain imagefs`` walks all six steps on the real runtime and exits 0."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "simulator",
            "explain",
            "imagefs",
            "--cri-endpoint",
            containerd_node.endpoint,
            "--root-dir",
            str(containerd_node.kubelet_root),
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert [step["step"] for step in document["steps"]] == [1, 2, 3, 4, 5, 6]
    assert document["steps"][3]["values"]["device"] == containerd_node.image_fs.device
    assert document["df"][0]["mountedOn"] == str(containerd_node.image_fs_mount)
    statvfs = os.statvfs(containerd_node.image_fs_mount)
    assert document["df"][1]["size"] == -(-statvfs.f_blocks * statvfs.f_frsize // 1000)
    assert any("dedicated filesystem" in note for note in document["notes"])


def test_snapshot_command(
    containerd_node: ContainerdNode, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli_main, "COMMAND_MODULES", ("snapshot", "explain"))
    code = cli_main.main(
        [
            "snapshot",
            "--cri-endpoint",
            containerd_node.endpoint,
            "--root-dir",
            str(containerd_node.kubelet_root),
            "-o",
            "json",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    document = json.loads(captured.out)
    assert document["evictsim"]["statsProvider"] == "cri"
    assert document["node"]["runtime"]["imageFs"]["capacityBytes"] > 0
