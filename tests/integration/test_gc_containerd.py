"""Image GC and the pod probe against a real containerd on loop filesystems.

The expectations restate the kubelet's image GC (``pkg/kubelet/images/image_gc_manager.go``).
Images referenced by any container, running or exited, are in use. Candidates go oldest
``lastUsed`` first, then earliest ``firstDetected``. Images first detected less than the minimum
age ago are skipped. The threshold pass targets ``capacity*(100-low)//100 - available`` bytes
and stops once the removed images' CRI sizes reach it. Detection times are simulated: the test
imports images between detections at chosen clock times.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path

import pytest
from harness.containerd import ContainerdNode
from harness.images import LayerFile, build_sized_image, build_workload_image, import_image
from harness.loopfs import MIB
from harness.pods import SLEEP_FOREVER, remove_pod, run_pod

from simulator.cri.client import CriClient
from simulator.engine.imagegc import ImageGCSimulator, Outcome
from simulator.engine.images import CONTAINER_EXITED, containers_from_cri, images_from_cri
from simulator.policy.model import ImageGCPolicy
from simulator.probes.fsinfo import FsInfoProbe
from simulator.probes.mountinfo import MountTable
from simulator.probes.pods import CriPodStatsSource
from simulator.probes.sampler import Sampler

pytestmark = pytest.mark.containerd

T0 = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
POLICY = ImageGCPolicy(high_threshold_percent=85, low_threshold_percent=80, minimum_gc_age_s=120)


def _seconds(value: float) -> dt.timedelta:
    return dt.timedelta(seconds=value)


def _lists(cri: CriClient) -> tuple[list, list]:
    return images_from_cri(cri.list_images()), containers_from_cri(cri.list_containers())


def _wait_exited(cri: CriClient, container_id: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        states = {c.id: c.state for c in cri.list_containers()}
        if states.get(container_id) == CONTAINER_EXITED:
            return
        time.sleep(0.2)
    pytest.fail(f"container {container_id} did not exit within {timeout_s} s")


def _fill_until_available(mount: Path, fraction: float) -> Path:
    """Write a filler file (non-image data) until available bytes are about ``fraction`` of capacity."""
    stats = os.statvfs(mount)
    capacity = stats.f_blocks * stats.f_frsize
    available = stats.f_bavail * stats.f_frsize
    filler = mount / "filler.bin"
    size = max(available - int(capacity * fraction), 0)
    with open(filler, "wb") as handle:
        os.posix_fallocate(handle.fileno(), 0, size)
    os.sync()
    return filler


def _expected_removed(order: list[tuple[str, int]], target: int) -> list[str]:
    """The kubelet's freeSpace: take candidates in order until their sizes reach the target."""
    removed, freed = [], 0
    for image_id, size in order:
        removed.append(image_id)
        freed += size
        if freed >= target:
            break
    return removed


def test_image_gc_on_real_containerd(containerd_node_factory, tmp_path: Path) -> None:
    node: ContainerdNode = containerd_node_factory(image_fs_bytes=384 * MIB)
    images_dir = tmp_path / "images"
    import_image(node, build_workload_image(images_dir, "evictsim.test/run:1"))
    import_image(
        node,
        build_workload_image(images_dir, "evictsim.test/exit:1", {"/marker": LayerFile(size_bytes=4096)}),
    )
    table = MountTable.from_file("/proc/self/mountinfo")

    with CriClient(node.endpoint) as cri:
        # stage 1: a running pod and a pod whose container exited
        running = run_pod(node, "web", "default", "evictsim.test/run:1", ["/bin/sh", "-c", SLEEP_FOREVER])
        exited = run_pod(node, "job", "default", "evictsim.test/exit:1", ["/bin/true"])
        _wait_exited(cri, exited.container_ids["main"])
        try:
            sim = ImageGCSimulator(POLICY, "1.31", kubelet_start=T0 - _seconds(3600))
            sim.detect(*_lists(cri), T0 - _seconds(30))

            # stage 2: import three sized images between detections, 10 s apart
            for step, (name, mib) in enumerate((("a", 24), ("b", 16), ("c", 8))):
                import_image(node, build_sized_image(images_dir, f"evictsim.test/{name}:1", mib * MIB))
                sim.detect(*_lists(cri), T0 + _seconds(10 * step))
            sizes = {image.display_name: image.size_bytes for image in sim.images}
            ids = {image.display_name: image.id for image in sim.images}

            # stage 3: push usage over 85 % with data that is not images
            _fill_until_available(node.image_fs_mount, 0.11)
            image_fs = (
                Sampler(cri, FsInfoProbe(table), root_dir=str(node.kubelet_root)).sample().node.image_fs
            )
            capacity, available = image_fs.capacity_bytes, image_fs.available_bytes
            target = capacity * 20 // 100 - available
            assert 100 - available * 100 // capacity >= 85

            early = sim.plan(T0 + _seconds(125), image_fs)
            late = sim.plan(T0 + _seconds(145), image_fs)
        finally:
            remove_pod(node, running)
            remove_pod(node, exited)

    early_outcomes = {c.name: c.outcome for c in early.candidates}
    late_outcomes = {c.name: c.outcome for c in late.candidates}
    pause = [name for name in early_outcomes if name.startswith(node.sandbox_image)]

    # in use: running and exited containers both keep their image
    assert early_outcomes["evictsim.test/run:1"] is Outcome.IN_USE_RUNNING
    assert early_outcomes["evictsim.test/exit:1"] is Outcome.IN_USE_EXITED
    assert early.usage_percent == 100 - available * 100 // capacity
    assert early.target_bytes == target

    # min age at T0+125: a (125 s) is old enough, b (115 s) and c (105 s) are not
    assert early_outcomes["evictsim.test/b:1"] is Outcome.YOUNGER_THAN_MIN_AGE
    assert early_outcomes["evictsim.test/c:1"] is Outcome.YOUNGER_THAN_MIN_AGE
    assert (early.error is None) == (early.bytes_freed >= target)

    # at T0+145 all are old enough: the pause image (first seen earliest) then a, b, c in detection order
    order = [
        (name, sizes[name])
        for name in pause + ["evictsim.test/a:1", "evictsim.test/b:1", "evictsim.test/c:1"]
    ]
    removable = [(name, size) for name, size in order if late_outcomes[name] is not Outcome.PINNED]
    expected = _expected_removed(removable, target)
    assert [c.name for c in late.removed] == expected
    assert late.bytes_freed == sum(sizes[name] for name in expected)
    assert abs(sizes["evictsim.test/a:1"] - 24 * MIB) < MIB
    assert ids["evictsim.test/a:1"].startswith("sha256:")
    assert late.non_image_bytes is not None and late.non_image_bytes > 0


def test_pod_probe_on_real_containerd(containerd_node: ContainerdNode, tmp_path: Path) -> None:
    """The probe finds the running pod with its writable layer and its log file."""
    import_image(containerd_node, build_workload_image(tmp_path / "images", "evictsim.test/probe:1"))
    handle = run_pod(
        containerd_node,
        "probe",
        "default",
        "evictsim.test/probe:1",
        ["/bin/sh", "-c", "echo hello; " + SLEEP_FOREVER],
    )
    try:
        with CriClient(containerd_node.endpoint) as cri:
            source = CriPodStatsSource(
                cri,
                root_dir=str(containerd_node.kubelet_root),
                log_root=str(containerd_node.pod_logs_dir),
                min_interval_s=0,
            )
            deadline = time.monotonic() + 20
            pods = []
            while time.monotonic() < deadline:
                pods = [p for p in source() if p.pod_ref.uid == handle.uid]
                if pods and pods[0].containers and (pods[0].containers[0].logs.used_bytes or 0) > 0:
                    break
                time.sleep(0.5)
    finally:
        remove_pod(containerd_node, handle)

    assert [p.pod_ref.key for p in pods] == ["default/probe"]
    container = pods[0].containers[0]
    assert container.name == "main"
    assert container.logs.used_bytes > 0
    assert container.rootfs is not None


def test_gc_cli_live_on_real_containerd(
    containerd_node: ContainerdNode, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``evictsim gc images`` and ``gc containers`` read the live node and delete nothing.

    On a node below the high threshold the periodic pass has no target. An image imported for
    this test and used by no container is a candidate, and it is still listed afterwards.
    """
    from simulator.cli.main import main

    import_image(containerd_node, build_sized_image(tmp_path / "images", "evictsim.test/idle:1", 2 * MIB))
    common = [
        "--cri-endpoint",
        containerd_node.endpoint,
        "--root-dir",
        str(containerd_node.kubelet_root),
        "--mountinfo",
        "/proc/self/mountinfo",
        "--kubelet-version",
        "1.31",
        "-o",
        "json",
    ]

    code = main(["gc", "images", *common])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    document = json.loads(captured.out)
    outcomes = {c["name"]: c["outcome"] for c in document["candidates"]}
    assert document["capacityBytes"] > 0
    assert document["usagePercent"] == 100 - document["availableBytes"] * 100 // document["capacityBytes"]
    assert outcomes["evictsim.test/idle:1"] == "not_needed"

    code = main(["gc", "containers", *common, "--pod-log-dir", str(containerd_node.pod_logs_dir)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "containers" in json.loads(captured.out)

    with CriClient(containerd_node.endpoint) as cri:
        names = {tag for image in cri.list_images() for tag in image.repo_tags}
    assert "evictsim.test/idle:1" in names


def test_eviction_reclaim_on_real_containerd(containerd_node_factory, tmp_path: Path) -> None:
    """Eviction reclaim removes a terminated pod's exited container first, which frees its image.

    ``DeleteAllUnusedContainers`` removes every container of terminated pods
    (``kuberuntime_gc.go`` with evictTerminatedPods), then ``DeleteUnusedImages`` no longer finds
    the image in use. The pod counts as terminated because its only sandbox is stopped.
    """
    from harness.cri_mutator import CriMutator

    from simulator.engine.containergc import infer_pod_states
    from simulator.engine.gc_reclaimer import GCReclaimer
    from simulator.engine.images import sandboxes_from_cri
    from simulator.policy.model import ContainerGCPolicy

    node: ContainerdNode = containerd_node_factory()
    marker = {"/marker": LayerFile(size_bytes=8192)}
    import_image(node, build_workload_image(tmp_path / "images", "evictsim.test/done:1", marker))
    handle = run_pod(node, "done", "default", "evictsim.test/done:1", ["/bin/true"])
    try:
        with CriClient(node.endpoint) as cri:
            _wait_exited(cri, handle.container_ids["main"])
            with CriMutator(node.endpoint) as mutator:
                mutator.stop_pod_sandbox(handle.pod_sandbox_id)
            images, containers = _lists(cri)
            sandboxes = sandboxes_from_cri(cri.list_pod_sandboxes())
    finally:
        remove_pod(node, handle)

    # Container creation times are real, so the simulated clock starts at the real time.
    start = dt.datetime.now(dt.UTC)
    image_gc = ImageGCSimulator(ImageGCPolicy(minimum_gc_age_s=0), "1.31", kubelet_start=start)
    image_gc.detect(images, containers, start)
    reclaimer = GCReclaimer(
        image_gc,
        ContainerGCPolicy(),
        containers=containers,
        sandboxes=sandboxes,
        pod_states=infer_pod_states(sandboxes),
    )
    now = start + _seconds(60)

    alone = GCReclaimer(
        image_gc,
        ContainerGCPolicy(),
        containers=containers,
        sandboxes=sandboxes,
        pod_states=infer_pod_states(sandboxes),
    ).delete_unused_images(now)
    container_step = reclaimer.delete_unused_containers(now)
    image_step = reclaimer.delete_unused_images(now)

    done_id = next(image.id for image in images if "evictsim.test/done:1" in image.repo_tags)
    alone_outcomes = {c["imageId"]: c["outcome"] for c in alone.details["candidates"]}
    after_outcomes = {c["imageId"]: c["outcome"] for c in image_step.details["candidates"]}
    removed_containers = [
        c["containerId"]
        for c in container_step.details["containers"]
        if c["outcome"] == "removed_pod_terminated"
    ]
    assert alone_outcomes[done_id] == "in_use_exited"
    assert removed_containers == [handle.container_ids["main"]]
    assert container_step.details["sandboxesRemoved"] == 1
    assert after_outcomes[done_id] == "removed"
