"""GCReclaimer: the eviction manager's node-level reclaim on top of the GC models.

Expected behaviour: kubernetes ``pkg/kubelet/eviction/helpers.go`` (reclaim functions call
``DeleteAllUnusedContainers`` then ``DeleteUnusedImages``), ``kuberuntime_gc.go``
(``evictTerminatedPods`` removes every container of terminated pods) and
``image_gc_manager.go`` (DeleteUnusedImages frees with a math.MaxInt64 target).
"""

from __future__ import annotations

import datetime as dt

from simulator.engine.containergc import ContainerUsage, PodState
from simulator.engine.gc_reclaimer import GCReclaimer
from simulator.engine.imagegc import ImageGCSimulator
from simulator.engine.images import CONTAINER_EXITED, CONTAINER_RUNNING, ContainerInfo, ImageInfo, SandboxInfo
from simulator.engine.reclaim import Reclaimer
from simulator.policy.model import ContainerGCPolicy, ImageGCPolicy

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _reclaimer() -> GCReclaimer:
    images = [ImageInfo("img-old", 1000), ImageInfo("img-exited", 300), ImageInfo("img-running", 50)]
    containers = [
        ContainerInfo(
            id="c-exited",
            pod_sandbox_id="s-done",
            name="job",
            state=CONTAINER_EXITED,
            created_at_ns=0,
            image_id="img-exited",
            pod_uid="done",
        ),
        ContainerInfo(
            id="c-running",
            pod_sandbox_id="s-web",
            name="web",
            state=CONTAINER_RUNNING,
            created_at_ns=0,
            image_id="img-running",
            pod_uid="web",
        ),
    ]
    sandboxes = [
        SandboxInfo(
            id="s-done", uid="done", name="job", namespace="n", state="SANDBOX_NOTREADY", created_at_ns=0
        ),
        SandboxInfo(id="s-web", uid="web", name="web", namespace="n", state="SANDBOX_READY", created_at_ns=0),
    ]
    image_gc = ImageGCSimulator(ImageGCPolicy(minimum_gc_age_s=120), "1.31", kubelet_start=T0)
    image_gc.detect(images, containers, T0)
    return GCReclaimer(
        image_gc,
        ContainerGCPolicy(),
        containers=containers,
        sandboxes=sandboxes,
        pod_states={"done": PodState.TERMINATED, "web": PodState.ACTIVE},
        usage={"c-exited": ContainerUsage(writable_layer_bytes=4096, log_bytes=100)},
    )


def test_gc_reclaimer_is_a_reclaimer() -> None:
    """GCReclaimer satisfies the engine's Reclaimer protocol."""
    assert isinstance(_reclaimer(), Reclaimer)


def test_containers_then_images() -> None:
    """Removing the terminated pod's exited container frees its image for the image step."""
    reclaimer = _reclaimer()
    now = T0 + dt.timedelta(minutes=10)

    containers = reclaimer.delete_unused_containers(now)
    images = reclaimer.delete_unused_images(now)

    assert containers.step == "containerGC"
    assert containers.bytes_freed == 4196
    assert images.step == "imageGC"
    assert images.bytes_freed == 1300
    removed = [c["imageId"] for c in images.details["candidates"] if c["outcome"] == "removed"]
    assert removed == ["img-old", "img-exited"]


def test_images_alone_keep_exited_image() -> None:
    """Without the container step, the exited container keeps its image in use."""
    reclaimer = _reclaimer()
    images = reclaimer.delete_unused_images(T0 + dt.timedelta(minutes=10))

    assert images.bytes_freed == 1000
    outcomes = {c["imageId"]: c["outcome"] for c in images.details["candidates"]}
    assert outcomes["img-exited"] == "in_use_exited"
    assert outcomes["img-running"] == "in_use_running"


def test_min_age_applies_to_reclaim() -> None:
    """Eviction reclaim still skips images first detected less than the minimum age ago."""
    reclaimer = _reclaimer()
    images = reclaimer.delete_unused_images(T0 + dt.timedelta(seconds=30))

    assert images.bytes_freed == 0
    assert images.details["targetBytes"] == "unlimited"


def test_same_instant_as_detection() -> None:
    """A daemon tick detects at ``now`` and then reclaims at the same ``now``: the freed image still goes.

    On a real clock the kubelet's earlier detections set lastUsed before freeTime, so only the
    pass's own detection marks images in use.
    """
    reclaimer = _reclaimer()
    now = T0 + dt.timedelta(minutes=10)
    reclaimer.image_gc.detect(reclaimer.image_gc.images, reclaimer.containers, now)

    reclaimer.delete_unused_containers(now)
    images = reclaimer.delete_unused_images(now)

    outcomes = {c["imageId"]: c["outcome"] for c in images.details["candidates"]}
    assert outcomes["img-exited"] == "removed"
