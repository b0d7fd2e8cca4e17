"""Runtime directories against a real containerd whose state dir is on a third filesystem.

The ``containerd_node`` fixture puts containerd's root on one loop-mounted ext4 (imagefs, because
the snapshotter directory under the root is what ``ImageFsInfo`` reports) and the kubelet root dir
on another (nodefs). Its ``state`` dir is a plain temp directory, so it sits on whatever filesystem
contains the temp dir. That is the layout of the operator report where containerd's state dir filled a
disk with no DiskPressure: the kubelet watches only the nodefs and imagefs devices
(``ImageFsStats`` and ``HasDedicatedImageFs`` in ``pkg/kubelet/stats/cri_stats_provider.go``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from harness.containerd import PAUSE_IMAGE, ContainerdNode
from harness.pods import SLEEP_FOREVER, remove_pod, run_pod

from simulator.cri.client import CriClient
from simulator.explain import add_runtime_dirs, explain_image_fs
from simulator.probes.fsinfo import FsInfoProbe
from simulator.probes.mountinfo import MountTable
from simulator.probes.runtime_dirs import STATUS_MEMORY_BACKED, STATUS_MONITORED, STATUS_UNMONITORED

pytestmark = pytest.mark.containerd

CRI_PLUGIN_ID = "io.containerd.grpc.v1.cri"


def _mount_of(path: Path) -> tuple[str, str]:
    """Return (source, fs type) of the first mountinfo line whose major:minor is ``stat(path).st_dev``."""
    dev = os.stat(path).st_dev
    expected_device = f"{os.major(dev)}:{os.minor(dev)}"
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        if fields[2] != expected_device:
            continue
        after_separator = fields[fields.index("-") + 1 :]
        return after_separator[1], after_separator[0]
    raise AssertionError(f"no mountinfo line has the device {expected_device} of {path}")


def _state_on_third_device(node: ContainerdNode) -> None:
    state_dev = os.stat(node.state).st_dev
    assert state_dev != os.stat(node.image_fs_mount).st_dev
    assert state_dev != os.stat(node.kubelet_root).st_dev


def test_status_info_names_directories(containerd_node: ContainerdNode) -> None:
    """containerd's verbose Status sends its root, CRI root and CRI state dirs under info "config"."""
    with CriClient(containerd_node.endpoint) as cri:
        status = cri.status(verbose=True)

    config = json.loads(status.info["config"])
    assert config["containerdRootDir"] == str(containerd_node.root)
    assert config["rootDir"] == str(containerd_node.root / CRI_PLUGIN_ID)
    assert config["stateDir"] == str(containerd_node.state / CRI_PLUGIN_ID)


def test_state_dir_warning(containerd_node: ContainerdNode) -> None:
    """The state dir is on neither loop filesystem, so exactly its device gets a warning."""
    _state_on_third_device(containerd_node)
    state_source, state_fs_type = _mount_of(containerd_node.state)
    probe = FsInfoProbe(MountTable.from_file("/proc/self/mountinfo"))
    root_dir = str(containerd_node.kubelet_root)

    with CriClient(containerd_node.endpoint) as cri:
        explanation = explain_image_fs(cri, probe, root_dir=root_dir)
        report = add_runtime_dirs(explanation, cri, probe, root_dir=root_dir)

    assert explanation.error is None
    assert report.checked, report.reason
    assert report.runtime_name == "containerd"
    assert report.monitored == {
        "imagefs": containerd_node.image_fs.device,
        "nodefs": containerd_node.node_fs.device,
    }
    findings = {finding.directory.path: finding for finding in report.findings}
    assert findings[str(containerd_node.root)].status == STATUS_MONITORED
    assert findings[str(containerd_node.root)].monitored_as == ("imagefs",)
    assert findings[str(containerd_node.root / CRI_PLUGIN_ID)].monitored_as == ("imagefs",)

    state = findings[str(containerd_node.state)]
    assert state.device == state_source
    if state_fs_type in ("tmpfs", "ramfs"):
        assert state.status == STATUS_MEMORY_BACKED
        assert report.warnings == []
        return
    assert state.status == STATUS_UNMONITORED
    assert findings[str(containerd_node.state / CRI_PLUGIN_ID)].status == STATUS_UNMONITORED
    assert report.warnings == [report.warnings[0]]
    assert report.warnings[0].startswith(
        f"runtime directory {containerd_node.state} on an unmonitored filesystem ({state_source}"
    )


def test_explain_command_prints_warning(containerd_node: ContainerdNode) -> None:
    """``evictsim explain imagefs`` prints the warning line in text and carries it in JSON."""
    _state_on_third_device(containerd_node)
    state_source, state_fs_type = _mount_of(containerd_node.state)
    if state_fs_type in ("tmpfs", "ramfs"):
        pytest.skip(f"the temp dir is on {state_fs_type}, which gets a memory note instead of a warning")
    base = [
        sys.executable,
        "-m",
        "simulator",
        "explain",
        "imagefs",
        "--cri-endpoint",
        containerd_node.endpoint,
        "--root-dir",
        str(containerd_node.kubelet_root),
    ]

    text = subprocess.run([*base, "-o", "table"], capture_output=True, text=True, timeout=60, check=False)
    as_json = subprocess.run([*base, "-o", "json"], capture_output=True, text=True, timeout=60, check=False)

    assert text.returncode == 0, text.stderr
    expected = (
        f"warning: runtime directory {containerd_node.state} on an unmonitored filesystem ({state_source}"
    )
    assert expected in text.stdout
    assert as_json.returncode == 0, as_json.stderr
    document = json.loads(as_json.stdout)["runtimeDirectories"]
    assert document["checked"] is True
    assert len(document["warnings"]) == 1
    assert str(containerd_node.state) in document["warnings"][0]


def test_running_pod_dirs(containerd_node: ContainerdNode) -> None:
    """With a pod running, the CRI root dir exists on imagefs and the task bundle sits in the state dir.

    The bundle of a running container (``<state>/io.containerd.runtime.v2.task/k8s.io/<id>``) is
    what lands on the unmonitored state filesystem in the reported layout.
    """
    _state_on_third_device(containerd_node)
    probe = FsInfoProbe(MountTable.from_file("/proc/self/mountinfo"))
    root_dir = str(containerd_node.kubelet_root)
    handle = run_pod(containerd_node, "dirs", "default", PAUSE_IMAGE, ["/bin/sh", "-c", SLEEP_FOREVER])
    try:
        with CriClient(containerd_node.endpoint) as cri:
            explanation = explain_image_fs(cri, probe, root_dir=root_dir)
            report = add_runtime_dirs(explanation, cri, probe, root_dir=root_dir)
        bundle = (
            containerd_node.state / "io.containerd.runtime.v2.task" / "k8s.io" / handle.container_ids["main"]
        )
        bundle_exists = bundle.is_dir()
        bundle_dev = os.stat(bundle).st_dev if bundle_exists else None
    finally:
        remove_pod(containerd_node, handle)

    findings = {finding.directory.path: finding for finding in report.findings}
    cri_root = findings[str(containerd_node.root / CRI_PLUGIN_ID)]
    assert cri_root.exists
    assert cri_root.status == STATUS_MONITORED
    assert cri_root.monitored_as == ("imagefs",)
    assert bundle_exists
    assert bundle_dev == os.stat(containerd_node.state).st_dev
    assert findings[str(containerd_node.state)].exists
