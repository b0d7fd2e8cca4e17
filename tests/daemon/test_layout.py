"""The filesystem layout the daemon fixes on its first sample, from devices or from sizes.

The kubelet compares devices: imagefs is dedicated when its device differs from the root
directory's (pkg/kubelet/stats/provider.go, HasDedicatedImageFs, 1.29-1.35, which since
KEP-4191 also counts a containerFs that differs from imageFs), and the layout is split when
the runtime reports writable layers on another filesystem than the images.
"""

from __future__ import annotations

import dataclasses

import pytest

from simulator.daemon.evaluation import infer_layout
from simulator.signals import FsLayout
from simulator.snapshot import Provenance, Summary

from .helpers import GIB, T0, node_summary


def with_devices(summary: Summary, root: str, image: str, container: str) -> Summary:
    for section, device in (("node.fs", root), ("node.runtime.imageFs", image), ("node.runtime.containerFs", container)):
        summary.provenance[f"{section}.capacityBytes"] = Provenance(source="statfs", device=device)
    return summary


@pytest.mark.parametrize(
    ("root", "image", "container", "expected"),
    [
        ("/dev/vda1", "/dev/vda1", "/dev/vda1", FsLayout.SINGLE),
        ("/dev/vda1", "/dev/vdb", "/dev/vdb", FsLayout.DEDICATED_IMAGEFS),
        ("/dev/vda1", "/dev/vdb", "/dev/vda1", FsLayout.SPLIT),
    ],
    ids=["single", "dedicated-imagefs", "split"],
)
def test_layout_from_devices(root: str, image: str, container: str, expected: FsLayout) -> None:
    summary = with_devices(node_summary(T0, imagefs_available=GIB, device=None), root, image, container)
    assert infer_layout(summary) == (expected, False)


def test_one_filesystem_sampled_twice_is_single() -> None:
    """fs and imageFs of one filesystem, sampled moments apart, differ only in available bytes."""
    summary = node_summary(T0, imagefs_available=GIB, imagefs_capacity=100 * GIB, device=None)
    node = summary.node
    assert node.fs is not None and node.image_fs is not None
    node.fs = dataclasses.replace(node.image_fs, available_bytes=GIB + 4096)
    assert infer_layout(summary) == (FsLayout.SINGLE, True)


def test_dedicated_imagefs_from_sizes() -> None:
    summary = node_summary(T0, imagefs_available=GIB, device=None)
    assert infer_layout(summary) == (FsLayout.DEDICATED_IMAGEFS, True)
