"""End-to-end synchronize passes restating the kubelet's eviction_manager_test.go.

Each scenario steps a fake clock through commented stages as the kubelet's tests do
(kubernetes pkg/kubelet/eviction/eviction_manager_test.go, 1.31-1.35). As there:
MaxPodGracePeriodSeconds is 5, the pressure transition period is 5 minutes, pods set no
terminationGracePeriodSeconds, memory summaries report available = working set = X for the
node and the "pods" system container, and disk summaries report capacity = 2 x available.
The builders at the top are shared with the other engine test modules.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from simulator.engine.eviction import EvictionManager, ManagerState, synchronize
from simulator.engine.reclaim import ReclaimStep
from simulator.pods import PodSpec, parse_pod_list
from simulator.policy.grammar import parse_threshold_config
from simulator.policy.model import Policy
from simulator.quantity import Quantity
from simulator.signals import FsLayout, NodeCondition
from simulator.snapshot import (
    ContainerStats,
    FsStats,
    MemoryStats,
    NodeStats,
    PodRef,
    PodStats,
    RlimitStats,
    Summary,
    VolumeStats,
)

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def q(text: str) -> int:
    """Return a quantity string such as ``1500Mi`` as an integer."""
    return Quantity.parse(text).to_int_ceil()


def minutes(n: float) -> dt.timedelta:
    return dt.timedelta(minutes=n)


# ---------------------------------------------------------------------------------------------
# builders


def make_policy(
    *,
    hard: dict[str, str] | None = None,
    soft: dict[str, str] | None = None,
    grace: dict[str, str] | None = None,
    min_reclaim: dict[str, str] | None = None,
    version: str = "1.35",
    max_pod_grace_period_s: int = 5,
    enforce: tuple[str, ...] = (),
    isolation: bool = True,
    feature_gates: dict[str, bool] | None = None,
) -> Policy:
    thresholds = parse_threshold_config(enforce, hard, soft, grace, min_reclaim)
    return Policy(
        kubelet_version=version,
        thresholds=tuple(thresholds),
        max_pod_grace_period_s=max_pod_grace_period_s,
        pressure_transition_period_s=300,
        local_storage_capacity_isolation=isolation,
        enforce_node_allocatable=enforce,
        feature_gates=feature_gates or {},
    )


def make_pod(
    name: str,
    priority: int | None,
    *,
    requests: dict[str, str] | None = None,
    limits: dict[str, str] | None = None,
    namespace: str = "default",
    annotations: dict[str, str] | None = None,
    volumes: list[dict[str, Any]] | None = None,
    termination_grace_period_s: int | None = None,
    containers: int = 1,
) -> PodSpec:
    """Build a pod whose containers (``<name>-0``...) each carry the given requests and limits."""
    spec: dict[str, Any] = {
        "containers": [
            {"name": f"{name}-{i}", "resources": {"requests": requests or {}, "limits": limits or {}}}
            for i in range(containers)
        ],
        "volumes": volumes or [],
    }
    if priority is not None:
        spec["priority"] = priority
    if termination_grace_period_s is not None:
        spec["terminationGracePeriodSeconds"] = termination_grace_period_s
    document = {
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}", "annotations": annotations or {}},
        "spec": spec,
    }
    return parse_pod_list(document)[0]


def pod_stats(pod: PodSpec, **kwargs: Any) -> PodStats:
    return PodStats(pod_ref=PodRef(pod.name, pod.namespace, pod.uid), **kwargs)


def memory_pod_stats(pod: PodSpec, working_set: str) -> PodStats:
    """Pod stats with only a pod-level working set (no container stats), like newPodMemoryStats."""
    return pod_stats(pod, memory=MemoryStats(working_set_bytes=q(working_set)))


def disk_pod_stats(
    pod: PodSpec, *, rootfs: str = "0", logs: str = "0", volumes: dict[str, str] | None = None, inodes: bool = False
) -> PodStats:
    """Pod stats with one container's rootfs and logs usage (bytes, or inodes when ``inodes``)."""

    def fs(amount: str) -> FsStats:
        return FsStats(inodes_used=q(amount)) if inodes else FsStats(used_bytes=q(amount))

    volume_stats = [VolumeStats(name, fs(amount)) for name, amount in (volumes or {}).items()]
    container = ContainerStats(name=pod.containers[0].name, rootfs=fs(rootfs), logs=fs(logs))
    return pod_stats(pod, containers=[container], volume_stats=volume_stats)


def memory_summary(available: str, pods: list[PodStats], *, pods_container: str | None = None) -> Summary:
    """Node memory available = working set = ``available``; the pods container likewise."""
    amount = q(available)
    allocatable = q(pods_container) if pods_container is not None else amount
    node = NodeStats(
        node_name="node-a",
        memory=MemoryStats(available_bytes=amount, working_set_bytes=amount),
        system_containers=[
            ContainerStats(name="pods", memory=MemoryStats(available_bytes=allocatable, working_set_bytes=allocatable))
        ],
    )
    return Summary(node=node, pods=pods)


def disk_summary(
    pods: list[PodStats],
    *,
    nodefs: str | None = None,
    imagefs: str | None = None,
    containerfs: str | None = None,
    inodes_free: str | None = None,
    inodes: str | None = None,
    image_inodes_free: str | None = None,
) -> Summary:
    """Filesystems with capacity 2 x available; containerfs defaults to the imagefs numbers."""

    def fs(available: str | None, free_inodes: str | None) -> FsStats:
        stats = FsStats()
        if available is not None:
            stats.available_bytes = q(available)
            stats.capacity_bytes = 2 * q(available)
        if free_inodes is not None:
            stats.inodes_free = q(free_inodes)
            stats.inodes = q(inodes) if inodes is not None else 2 * q(free_inodes)
        return stats

    image = fs(imagefs, image_inodes_free)
    container = fs(containerfs, image_inodes_free) if containerfs is not None else dataclasses.replace(image)
    node = NodeStats(node_name="node-a", fs=fs(nodefs, inodes_free), image_fs=image, container_fs=container)
    return Summary(node=node, pods=pods)


def pid_summary(maxpid: int, running: int, pods: list[PodStats]) -> Summary:
    return Summary(node=NodeStats(node_name="node-a", rlimit=RlimitStats(maxpid=maxpid, curproc=running)), pods=pods)


class FakeReclaimer:
    """A Reclaimer that frees fixed amounts and records the calls."""

    def __init__(self, *, containers_freed: int = 0, images_freed: int = 0) -> None:
        self.containers_freed = containers_freed
        self.images_freed = images_freed
        self.calls: list[str] = []

    def delete_unused_containers(self, now: dt.datetime) -> ReclaimStep:
        self.calls.append("containerGC")
        return ReclaimStep("containerGC", self.containers_freed, {})

    def delete_unused_images(self, now: dt.datetime) -> ReclaimStep:
        self.calls.append("imageGC")
        return ReclaimStep("imageGC", self.images_freed, {})


def evicted(decision: Any) -> list[tuple[str, int]]:
    """Return (pod name, grace period) of each eviction."""
    return [(e.pod.split("/", 1)[1], e.grace_period_s) for e in decision.evictions]


def condition(decision: Any, name: NodeCondition) -> bool:
    return decision.conditions[name]


# The kubelet tests' standard memory pod set: (name, priority, memory request, working set).
MEMORY_PODS = [
    ("guaranteed-low-priority-high-usage", -1, "1Gi", "900Mi"),
    ("burstable-below-requests", 0, "100Mi", "50Mi"),
    ("burstable-above-requests", 0, "100Mi", "400Mi"),
    ("best-effort-high-priority-high-usage", 1, None, "400Mi"),
    ("best-effort-low-priority-low-usage", -1, None, "100Mi"),
]


def memory_pod_set() -> tuple[list[PodSpec], list[PodStats]]:
    specs, stats = [], []
    for name, priority, request, working_set in MEMORY_PODS:
        pod = make_pod(name, priority, requests={"memory": request} if request else None)
        specs.append(pod)
        stats.append(memory_pod_stats(pod, working_set))
    return specs, stats


# The kubelet tests' standard disk pod set: (name, priority, rootfs, logs); the
# high-priority pod's 400Mi sits on a volume it does not declare, so it counts as 0.
DISK_PODS = [
    ("low-priority-high-usage", -1, "900Mi", "0"),
    ("below-requests", 0, "0", "50Mi"),
    ("above-requests", 0, "400Mi", "0"),
    ("high-priority-high-usage", 1, "0", "0"),
    ("low-priority-low-usage", -1, "100Mi", "0"),
]


def disk_pod_set(*, inodes: bool = False) -> tuple[list[PodSpec], list[PodStats]]:
    specs, stats = [], []
    for name, priority, rootfs, logs in DISK_PODS:
        pod = make_pod(name, priority)
        specs.append(pod)
        volumes = {"local-volume": "400Mi"} if name == "high-priority-high-usage" else None
        stats.append(disk_pod_stats(pod, rootfs=rootfs, logs=logs, volumes=volumes, inodes=inodes))
    return specs, stats


# ---------------------------------------------------------------------------------------------
# memory


def test_memory_pressure_life_cycle() -> None:
    """TestMemoryPressure: soft 2Gi (grace 2m) then hard 1Gi on the standard memory pod set."""
    policy = make_policy(hard={"memory.available": "1Gi"}, soft={"memory.available": "2Gi"}, grace={"memory.available": "2m"})
    specs, stats = memory_pod_set()
    manager = EvictionManager(policy)
    now = T0

    # plenty of memory: no pressure, no eviction
    decision = manager.synchronize(memory_summary("3Gi", stats), specs, now)
    assert not condition(decision, NodeCondition.MEMORY_PRESSURE)
    assert evicted(decision) == []

    # below the soft threshold: pressure at once, but the grace period has not passed
    now += minutes(1)
    decision = manager.synchronize(memory_summary("1500Mi", stats), specs, now)
    assert condition(decision, NodeCondition.MEMORY_PRESSURE)
    assert evicted(decision) == []

    # grace period passed: the lowest-priority pod above its request goes, with the max grace 5 s
    now += minutes(3)
    decision = manager.synchronize(memory_summary("1500Mi", stats), specs, now)
    assert condition(decision, NodeCondition.MEMORY_PRESSURE)
    assert evicted(decision) == [("best-effort-low-priority-low-usage", 5)]

    # relieved for 20 minutes: the condition clears
    now += minutes(20)
    decision = manager.synchronize(memory_summary("3Gi", stats), specs, now)
    assert not condition(decision, NodeCondition.MEMORY_PRESSURE)
    assert evicted(decision) == []

    # below the hard threshold: evicted at once with the 1 s grace period (1.31+)
    now += minutes(1)
    decision = manager.synchronize(memory_summary("500Mi", stats), specs, now)
    assert condition(decision, NodeCondition.MEMORY_PRESSURE)
    assert evicted(decision) == [("best-effort-low-priority-low-usage", 1)]

    # relieved: the condition stays for the transition period, no eviction
    now += minutes(1)
    decision = manager.synchronize(memory_summary("3Gi", stats), specs, now)
    assert condition(decision, NodeCondition.MEMORY_PRESSURE)
    assert evicted(decision) == []

    # transition period over: cleared
    now += minutes(5)
    decision = manager.synchronize(memory_summary("3Gi", stats), specs, now)
    assert not condition(decision, NodeCondition.MEMORY_PRESSURE)


def test_memory_pressure_verify_pod_status() -> None:
    """TestMemoryPressure_VerifyPodStatus: message, reason and DisruptionTarget condition."""
    policy = make_policy(hard={"memory.available": "2Gi"})
    below = make_pod("below-requests", 0, requests={"memory": "1Gi"})
    above = make_pod("above-requests", 0, requests={"memory": "100Mi"})
    summary = memory_summary("1500Mi", [memory_pod_stats(below, "900Mi"), memory_pod_stats(above, "700Mi")])

    decision, _ = synchronize(summary, [below, above], policy, ManagerState(), T0)

    assert decision.conditions[NodeCondition.MEMORY_PRESSURE]
    assert evicted(decision) == [("above-requests", 1)]
    eviction = decision.evictions[0]
    expected = "The node was low on resource: memory. Threshold quantity: 2Gi, available: 1500Mi. "
    assert eviction.message == expected
    assert eviction.reason == "Evicted"
    assert eviction.condition == {
        "type": "DisruptionTarget",
        "status": "True",
        "reason": "TerminationByKubelet",
        "message": expected,
    }
    assert eviction.annotations == {"offending_containers": "", "offending_containers_usage": "", "starved_resource": "memory"}


def test_memory_message_lists_offending_containers() -> None:
    """evictionMessage: one line per container whose working set exceeds its request."""
    policy = make_policy(hard={"memory.available": "2Gi"})
    pod = make_pod("web", 0, requests={"memory": "100Mi"}, containers=2)
    stats = pod_stats(
        pod,
        memory=MemoryStats(working_set_bytes=q("700Mi")),
        containers=[
            ContainerStats(name="web-0", memory=MemoryStats(working_set_bytes=q("600Mi"))),
            ContainerStats(name="web-1", memory=MemoryStats(working_set_bytes=q("50Mi"))),
        ],
    )

    decision, _ = synchronize(memory_summary("1536Mi", [stats]), [pod], policy, ManagerState(), T0)

    eviction = decision.evictions[0]
    assert eviction.message == (
        "The node was low on resource: memory. Threshold quantity: 2Gi, available: 1536Mi. "
        "Container web-0 was using 600Mi, request is 100Mi, has larger consumption of memory. "
    )
    assert eviction.annotations["offending_containers"] == "web-0"
    assert eviction.annotations["offending_containers_usage"] == "600Mi"


def test_min_reclaim_keeps_evicting() -> None:
    """TestMinReclaim: memory<1Gi with min-reclaim 500Mi stays met until 1.5Gi is available."""
    policy = make_policy(hard={"memory.available": "1Gi"}, min_reclaim={"memory.available": "500Mi"})
    specs, stats = memory_pod_set()
    manager = EvictionManager(policy)
    now = T0

    # no pressure
    decision = manager.synchronize(memory_summary("2Gi", stats), specs, now)
    assert evicted(decision) == []

    # below the threshold: one pod evicted
    now += minutes(1)
    decision = manager.synchronize(memory_summary("500Mi", stats), specs, now)
    assert decision.conditions[NodeCondition.MEMORY_PRESSURE]
    assert evicted(decision) == [("best-effort-low-priority-low-usage", 1)]

    # above the threshold but below threshold + min-reclaim: still evicting
    now += minutes(1)
    decision = manager.synchronize(memory_summary("1.2Gi", stats), specs, now)
    assert decision.conditions[NodeCondition.MEMORY_PRESSURE]
    assert evicted(decision) == [("best-effort-low-priority-low-usage", 1)]

    # min-reclaim satisfied: no eviction, condition kept for the transition period
    now += minutes(1)
    decision = manager.synchronize(memory_summary("2Gi", stats), specs, now)
    assert decision.conditions[NodeCondition.MEMORY_PRESSURE]
    assert evicted(decision) == []

    # transition period over
    now += minutes(5)
    decision = manager.synchronize(memory_summary("2Gi", stats), specs, now)
    assert not decision.conditions[NodeCondition.MEMORY_PRESSURE]


def test_allocatable_memory_pressure() -> None:
    """TestAllocatableMemoryPressure: allocatableMemory<1Gi on the pods container."""
    policy = make_policy(hard={"allocatableMemory.available": "1Gi"})
    specs, stats = memory_pod_set()
    manager = EvictionManager(policy)
    now = T0

    # 4Gi available in the pods cgroup: nothing
    decision = manager.synchronize(memory_summary("4Gi", stats), specs, now)
    assert not decision.conditions[NodeCondition.MEMORY_PRESSURE]
    assert evicted(decision) == []

    # 500Mi: the best-effort low-priority pod is killed with grace 1
    now += minutes(1)
    decision = manager.synchronize(memory_summary("4Gi", stats, pods_container="500Mi"), specs, now)
    assert decision.conditions[NodeCondition.MEMORY_PRESSURE]
    assert evicted(decision) == [("best-effort-low-priority-low-usage", 1)]

    # 2Gi: still reported during the transition period
    now += minutes(1)
    decision = manager.synchronize(memory_summary("4Gi", stats, pods_container="2Gi"), specs, now)
    assert decision.conditions[NodeCondition.MEMORY_PRESSURE]
    assert evicted(decision) == []

    # five more minutes: cleared
    now += minutes(5)
    decision = manager.synchronize(memory_summary("4Gi", stats, pods_container="2Gi"), specs, now)
    assert not decision.conditions[NodeCondition.MEMORY_PRESSURE]


def test_static_critical_pod_not_evicted() -> None:
    """TestStaticCriticalPodsAreNotEvicted: pressure is reported, the static pod is kept."""
    policy = make_policy(hard={"memory.available": "1Gi"}, soft={"memory.available": "2Gi"}, grace={"memory.available": "2m"})
    static = make_pod(
        "critical", 2_000_000_000, namespace="kube-system", annotations={"kubernetes.io/config.source": "file"}
    )
    stats = [memory_pod_stats(static, "800Mi")]
    manager = EvictionManager(policy)

    # soft threshold crossed, then its grace period passes
    manager.synchronize(memory_summary("1500Mi", stats), [static], T0)
    decision = manager.synchronize(memory_summary("1500Mi", stats), [static], T0 + minutes(3))
    assert decision.conditions[NodeCondition.MEMORY_PRESSURE]
    assert evicted(decision) == []
    assert any("every ranked pod is critical" in note for note in decision.notes)

    # without the priority the pod is still static and still kept
    static_no_priority = dataclasses.replace(static, priority=None)
    decision = manager.synchronize(memory_summary("500Mi", stats), [static_no_priority], T0 + minutes(4))
    assert decision.conditions[NodeCondition.MEMORY_PRESSURE]
    assert evicted(decision) == []


def test_mirror_pod_not_evicted() -> None:
    """IsCriticalPod: a mirror pod is skipped and the next pod in rank is evicted."""
    policy = make_policy(hard={"memory.available": "1Gi"})
    mirror = make_pod("mirror", -1, annotations={"kubernetes.io/config.mirror": "abc"})
    other = make_pod("other", 0)
    stats = [memory_pod_stats(mirror, "900Mi"), memory_pod_stats(other, "100Mi")]

    decision, _ = synchronize(memory_summary("500Mi", stats), [mirror, other], policy, ManagerState(), T0)

    assert [entry.candidate.spec.key for entry in decision.ranking] == ["default/mirror", "default/other"]
    assert evicted(decision) == [("other", 1)]


# ---------------------------------------------------------------------------------------------
# pid


def test_pid_pressure_life_cycle() -> None:
    """TestPIDPressure: soft pid<1500 (grace 2m) and hard pid<1200 with maxpid 2000."""
    policy = make_policy(hard={"pid.available": "1200"}, soft={"pid.available": "1500"}, grace={"pid.available": "2m"})
    pods = [
        ("high-priority-high-usage", 1, 900),
        ("default-priority-low-usage", 0, 100),
        ("default-priority-medium-usage", 0, 400),
        ("low-priority-high-usage", -1, 600),
        ("low-priority-low-usage", -1, 50),
    ]
    specs = [make_pod(name, priority) for name, priority, _ in pods]
    stats = [pod_stats(spec, process_count=count) for spec, (_, _, count) in zip(specs, pods, strict=True)]
    manager = EvictionManager(policy)
    now = T0

    # 300 running: nothing
    decision = manager.synchronize(pid_summary(2000, 300, stats), specs, now)
    assert not decision.conditions[NodeCondition.PID_PRESSURE]

    # 700 running (1300 available): soft threshold met, grace period running
    now += minutes(1)
    decision = manager.synchronize(pid_summary(2000, 700, stats), specs, now)
    assert decision.conditions[NodeCondition.PID_PRESSURE]
    assert evicted(decision) == []

    # grace period passed: low-priority-high-usage killed with grace 5
    now += minutes(3)
    decision = manager.synchronize(pid_summary(2000, 700, stats), specs, now)
    assert evicted(decision) == [("low-priority-high-usage", 5)]

    # relieved for 20 minutes: cleared
    now += minutes(20)
    decision = manager.synchronize(pid_summary(2000, 300, stats), specs, now)
    assert not decision.conditions[NodeCondition.PID_PRESSURE]

    # 1200 running (800 available): hard threshold, killed with grace 1
    now += minutes(1)
    decision = manager.synchronize(pid_summary(2000, 1200, stats), specs, now)
    assert decision.conditions[NodeCondition.PID_PRESSURE]
    assert evicted(decision) == [("low-priority-high-usage", 1)]

    # relieved: still reported for the transition period
    now += minutes(1)
    decision = manager.synchronize(pid_summary(2000, 300, stats), specs, now)
    assert decision.conditions[NodeCondition.PID_PRESSURE]
    assert evicted(decision) == []

    # five minutes later: cleared
    now += minutes(5)
    decision = manager.synchronize(pid_summary(2000, 300, stats), specs, now)
    assert not decision.conditions[NodeCondition.PID_PRESSURE]


def test_pid_pressure_verify_pod_status() -> None:
    """TestPIDPressure_VerifyPodStatus: pid counts print as plain integers."""
    policy = make_policy(hard={"pid.available": "1200"})
    pod1 = make_pod("pod1", -1)
    pod2 = make_pod("pod2", 0)
    stats = [pod_stats(pod1, process_count=2), pod_stats(pod2, process_count=2)]

    decision, _ = synchronize(pid_summary(1500, 1000, stats), [pod1, pod2], policy, ManagerState(), T0)

    assert decision.conditions[NodeCondition.PID_PRESSURE]
    assert evicted(decision) == [("pod1", 1)]
    assert decision.evictions[0].message == "The node was low on resource: pids. Threshold quantity: 1200, available: 500. "


# ---------------------------------------------------------------------------------------------
# disk


def test_disk_pressure_nodefs_life_cycle() -> None:
    """TestDiskPressureNodefs: soft nodefs<2Gi (grace 2m), hard nodefs<1Gi, single filesystem."""
    policy = make_policy(hard={"nodefs.available": "1Gi"}, soft={"nodefs.available": "2Gi"}, grace={"nodefs.available": "2m"})
    specs, stats = disk_pod_set()
    manager = EvictionManager(policy, reclaimer=FakeReclaimer())
    now = T0

    # 16Gi available: nothing
    decision = manager.synchronize(disk_summary(stats, nodefs="16Gi", imagefs="16Gi"), specs, now)
    assert not decision.conditions[NodeCondition.DISK_PRESSURE]

    # 1.5Gi available: DiskPressure, no eviction inside the grace period
    now += minutes(1)
    decision = manager.synchronize(disk_summary(stats, nodefs="1.5Gi", imagefs="16Gi"), specs, now)
    assert decision.conditions[NodeCondition.DISK_PRESSURE]
    assert evicted(decision) == []

    # grace period passed; reclaim frees nothing, so low-priority-high-usage goes with grace 5
    now += minutes(3)
    decision = manager.synchronize(disk_summary(stats, nodefs="1.5Gi", imagefs="16Gi"), specs, now)
    assert evicted(decision) == [("low-priority-high-usage", 5)]
    assert decision.reclaim is not None
    assert [step.step for step in decision.reclaim.steps] == ["containerGC", "imageGC"]
    assert not decision.reclaim.sufficient

    # relieved for 20 minutes: cleared
    now += minutes(20)
    decision = manager.synchronize(disk_summary(stats, nodefs="16Gi", imagefs="16Gi"), specs, now)
    assert not decision.conditions[NodeCondition.DISK_PRESSURE]

    # hard threshold: killed at once with grace 1
    now += minutes(1)
    decision = manager.synchronize(disk_summary(stats, nodefs="500Mi", imagefs="16Gi"), specs, now)
    assert decision.conditions[NodeCondition.DISK_PRESSURE]
    assert evicted(decision) == [("low-priority-high-usage", 1)]

    # relieved: condition stays for the transition period, then clears
    now += minutes(1)
    decision = manager.synchronize(disk_summary(stats, nodefs="16Gi", imagefs="16Gi"), specs, now)
    assert decision.conditions[NodeCondition.DISK_PRESSURE]
    assert evicted(decision) == []
    now += minutes(5)
    decision = manager.synchronize(disk_summary(stats, nodefs="16Gi", imagefs="16Gi"), specs, now)
    assert not decision.conditions[NodeCondition.DISK_PRESSURE]


@pytest.mark.parametrize(
    ("layout", "signal_family"),
    [(FsLayout.SINGLE, "nodefs"), (FsLayout.DEDICATED_IMAGEFS, "imagefs"), (FsLayout.SPLIT, "nodefs")],
    ids=["single-nodefs", "dedicated-imagefs", "split-nodefs"],
)
def test_inode_pressure_layouts(layout: FsLayout, signal_family: str) -> None:
    """TestInodePressureFsInodes: the same life cycle on three filesystem layouts.

    4Mi inodes in total; soft <2Mi (grace 2m) and hard <1Mi; pods use rootfs inodes.
    """
    signal = f"{signal_family}.inodesFree"
    policy = make_policy(hard={signal: "1Mi"}, soft={signal: "2Mi"}, grace={signal: "2m"})
    specs, stats = disk_pod_set(inodes=True)
    manager = EvictionManager(policy, layout=layout, reclaimer=FakeReclaimer())

    def summary(free: str) -> Summary:
        if signal_family == "nodefs":
            return disk_summary(stats, nodefs="16Gi", imagefs="16Gi", inodes_free=free, inodes="4Mi", image_inodes_free="3Mi")
        return disk_summary(stats, nodefs="16Gi", imagefs="16Gi", inodes_free="3Mi", inodes="4Mi", image_inodes_free=free)

    now = T0
    # 3Mi free: nothing
    decision = manager.synchronize(summary("3Mi"), specs, now)
    assert not decision.conditions[NodeCondition.DISK_PRESSURE]

    # 1.5Mi free: soft threshold, pressure without an eviction
    now += minutes(1)
    decision = manager.synchronize(summary("1.5Mi"), specs, now)
    assert decision.conditions[NodeCondition.DISK_PRESSURE]
    assert evicted(decision) == []

    # grace period passed: one eviction with grace 5
    now += minutes(3)
    decision = manager.synchronize(summary("1.5Mi"), specs, now)
    assert evicted(decision) == [("low-priority-high-usage", 5)]

    # relieved for 20 minutes: cleared
    now += minutes(20)
    decision = manager.synchronize(summary("3Mi"), specs, now)
    assert not decision.conditions[NodeCondition.DISK_PRESSURE]

    # hard threshold: one eviction with grace 1
    now += minutes(1)
    decision = manager.synchronize(summary("0.5Mi"), specs, now)
    assert evicted(decision) == [("low-priority-high-usage", 1)]

    # relieved: reported for the transition period, then cleared
    now += minutes(1)
    decision = manager.synchronize(summary("3Mi"), specs, now)
    assert decision.conditions[NodeCondition.DISK_PRESSURE]
    now += minutes(5)
    decision = manager.synchronize(summary("3Mi"), specs, now)
    assert not decision.conditions[NodeCondition.DISK_PRESSURE]


def test_split_filesystem_without_gate_is_an_error() -> None:
    """TestDiskPressureNodeFs "container disk pressure; feature off": the pass fails."""
    policy = make_policy(hard={"nodefs.available": "50Gi"}, feature_gates={"KubeletSeparateDiskGC": False})
    specs, stats = disk_pod_set()
    state = ManagerState()

    for _ in range(2):  # the kubelet repeats the error every pass, as detection is retried
        decision, state = synchronize(
            disk_summary(stats, nodefs="10Gi", imagefs="100Gi", containerfs="10Gi"), specs, policy, state, T0, layout=FsLayout.SPLIT
        )
        assert decision.error == "KubeletSeparateDiskGC is turned off but we still have a split filesystem"
        assert decision.evictions == ()
        assert state.layout is None


def test_split_filesystem_nodefs_pressure() -> None:
    """TestDiskPressureNodeFs "container disk pressure; container fs": split on, nodefs<50Gi."""
    policy = make_policy(hard={"nodefs.available": "50Gi"})
    below = make_pod("below-requests", 0, requests={"ephemeral-storage": "1Gi"})
    above = make_pod("above-requests", 0, requests={"ephemeral-storage": "100Mi"})
    stats = [disk_pod_stats(below, rootfs="900Mi"), disk_pod_stats(above, rootfs="700Mi")]
    reclaimer = FakeReclaimer()

    decision, _ = synchronize(
        disk_summary(stats, nodefs="10Gi", imagefs="100Gi", containerfs="10Gi"),
        [below, above],
        policy,
        ManagerState(),
        T0,
        reclaimer,
        layout=FsLayout.SPLIT,
    )

    assert decision.conditions[NodeCondition.DISK_PRESSURE]
    assert reclaimer.calls == ["containerGC"]
    assert evicted(decision) == [("above-requests", 1)]
    assert decision.evictions[0].message == (
        "The node was low on resource: ephemeral-storage. Threshold quantity: 50Gi, available: 10Gi. "
        "Container above-requests-0 was using 700Mi, request is 100Mi, has larger consumption of ephemeral-storage. "
    )


def test_dedicated_imagefs_nodefs_has_no_reclaim() -> None:
    """buildSignalToNodeReclaimFuncs: with a dedicated imagefs, nodefs pressure skips GC."""
    policy = make_policy(hard={"nodefs.available": "1Gi"})
    specs, stats = disk_pod_set()
    reclaimer = FakeReclaimer(images_freed=q("10Gi"))

    decision, _ = synchronize(
        disk_summary(stats, nodefs="500Mi", imagefs="16Gi"), specs, policy, ManagerState(), T0, reclaimer,
        layout=FsLayout.DEDICATED_IMAGEFS,
    )

    assert reclaimer.calls == []
    assert decision.reclaim is None
    # nodefs ranks by logs and volumes only: below-requests (50Mi logs) is the only exceeder
    assert evicted(decision) == [("below-requests", 1)]


def test_node_reclaim_sufficient() -> None:
    """TestNodeReclaimFuncs: image GC freeing enough (with min-reclaim) avoids an eviction."""
    policy = make_policy(hard={"nodefs.available": "1Gi"}, min_reclaim={"nodefs.available": "500Mi"})
    specs, stats = disk_pod_set()

    summary = disk_summary(stats, nodefs="500Mi", imagefs="500Mi")
    summary.node.fs.capacity_bytes = summary.node.image_fs.capacity_bytes = q("10Gi")  # type: ignore[union-attr]
    summary.node.container_fs.capacity_bytes = q("10Gi")  # type: ignore[union-attr]

    # frees 1Gi: 500Mi + 1Gi = 1.5Gi reaches threshold + min-reclaim exactly, so not met
    reclaimer = FakeReclaimer(images_freed=q("1Gi"))
    decision, _ = synchronize(summary, specs, policy, ManagerState(), T0, reclaimer)
    assert reclaimer.calls == ["containerGC", "imageGC"]
    assert decision.reclaim is not None and decision.reclaim.sufficient
    assert evicted(decision) == []
    assert decision.conditions[NodeCondition.DISK_PRESSURE]

    # frees 1Gi - 1 byte: one byte short of min-reclaim, so a pod is evicted
    reclaimer = FakeReclaimer(images_freed=q("1Gi") - 1)
    decision, _ = synchronize(summary, specs, policy, ManagerState(), T0, reclaimer)
    assert decision.reclaim is not None and not decision.reclaim.sufficient
    assert evicted(decision) == [("low-priority-high-usage", 1)]


def test_reclaim_blocked_by_unrelated_threshold() -> None:
    """reclaimNodeLevelResources checks every threshold: a soft memory one in its grace period counts."""
    policy = make_policy(
        hard={"nodefs.available": "1Gi"}, soft={"memory.available": "2Gi"}, grace={"memory.available": "10m"}
    )
    specs, stats = disk_pod_set()
    summary = disk_summary(stats, nodefs="500Mi", imagefs="500Mi")
    for fs in (summary.node.fs, summary.node.image_fs, summary.node.container_fs):
        fs.capacity_bytes = q("100Gi")  # type: ignore[union-attr]
    summary.node.memory = MemoryStats(available_bytes=q("1Gi"), working_set_bytes=q("1Gi"))
    reclaimer = FakeReclaimer(images_freed=q("10Gi"))

    decision, _ = synchronize(summary, specs, policy, ManagerState(), T0, reclaimer)

    assert decision.reclaim is not None
    assert not decision.reclaim.sufficient
    assert [s.value for s in decision.reclaim.still_met] == ["memory.available"]
    assert evicted(decision) == [("low-priority-high-usage", 1)]


# ---------------------------------------------------------------------------------------------
# local storage limits


@pytest.mark.parametrize(
    ("case", "signal", "message"),
    [
        ("container-rootfs", "ephemeralcontainerfs.limit", 'Container pod-0 exceeded its local ephemeral storage limit "1Gi". '),
        ("container-logs", "ephemeralcontainerfs.limit", 'Container pod-0 exceeded its local ephemeral storage limit "1Gi". '),
        ("emptydir", "emptydirfs.limit", 'Usage of EmptyDir volume "scratch" exceeds the limit "1Gi". '),
        ("pod-total", "ephemeralpodfs.limit", "Pod ephemeral local storage usage exceeds the total limit of containers 2Gi. "),
    ],
)
def test_storage_limit_evictions(case: str, signal: str, message: str) -> None:
    """TestStorageLimitEvictions: each limit evicts the pod with grace 1 and the kubelet's message."""
    policy = make_policy(hard={"nodefs.available": "1Gi"})
    volumes = [{"name": "scratch", "emptyDir": {"sizeLimit": "1Gi"}}] if case == "emptydir" else []
    limits = {"ephemeral-storage": "1Gi"} if case.startswith("container") else None
    if case == "pod-total":
        pod = make_pod("pod", 0, limits={"ephemeral-storage": "1Gi"}, containers=2)
    else:
        pod = make_pod("pod", 0, limits=limits, volumes=volumes)
    stats = {
        "container-rootfs": disk_pod_stats(pod, rootfs="2Gi"),
        "container-logs": disk_pod_stats(pod, logs="2Gi"),
        "emptydir": disk_pod_stats(pod, volumes={"scratch": "2Gi"}),
        "pod-total": pod_stats(pod, ephemeral_storage=FsStats(used_bytes=q("3Gi"))),
    }[case]

    decision, _ = synchronize(disk_summary([stats], nodefs="16Gi", imagefs="16Gi"), [pod], policy, ManagerState(), T0)

    assert len(decision.evictions) == 1
    eviction = decision.evictions[0]
    assert eviction.signal == signal
    assert eviction.message == message
    assert eviction.grace_period_s == 1
    assert eviction.annotations == {}
    assert eviction.condition is None


def test_storage_limits_evict_many_pods() -> None:
    """localStorageEviction evicts every violating pod in one pass and skips the pressure path."""
    policy = make_policy(hard={"nodefs.available": "1Gi"})
    pods = [make_pod(f"pod{i}", 0, limits={"ephemeral-storage": "1Gi"}) for i in range(3)]
    stats = [disk_pod_stats(pods[0], rootfs="2Gi"), disk_pod_stats(pods[1], rootfs="10Mi"), disk_pod_stats(pods[2], logs="3Gi")]

    decision, _ = synchronize(disk_summary(stats, nodefs="500Mi", imagefs="500Mi"), pods, policy, ManagerState(), T0)

    assert evicted(decision) == [("pod0", 1), ("pod2", 1)]
    assert decision.reclaim is None
    assert decision.ranking == ()


def test_container_limit_ignores_rootfs_with_imagefs() -> None:
    """containerEphemeralStorageLimitEviction counts the writable layer only without an imagefs."""
    policy = make_policy(hard={"nodefs.available": "1Gi"})
    pod = make_pod("pod", 0, limits={"ephemeral-storage": "1Gi"})
    stats = [disk_pod_stats(pod, rootfs="2Gi", logs="10Mi")]

    decision, _ = synchronize(
        disk_summary(stats, nodefs="16Gi", imagefs="16Gi"), [pod], policy, ManagerState(), T0, layout=FsLayout.DEDICATED_IMAGEFS
    )

    assert decision.evictions == ()


def test_storage_limits_off_without_isolation() -> None:
    """localStorageCapacityIsolation false: limit checks do not run."""
    policy = make_policy(hard={"nodefs.available": "1Gi"}, isolation=False)
    pod = make_pod("pod", 0, limits={"ephemeral-storage": "1Gi"})

    decision, _ = synchronize(
        disk_summary([disk_pod_stats(pod, rootfs="2Gi")], nodefs="16Gi", imagefs="16Gi"), [pod], policy, ManagerState(), T0
    )

    assert decision.evictions == ()


# ---------------------------------------------------------------------------------------------
# grace periods and stats freshness


@pytest.mark.parametrize(
    ("version", "hard", "max_grace", "pod_grace", "expected"),
    [
        ("1.35", True, 0, 30, 1),  # hard: 1 s override since 1.31
        ("1.30", True, 0, 30, 30),  # before 1.31 the override was 0, so the pod's own grace applied
        ("1.30", True, 0, None, 1),  # ... and nothing set means the pod worker's minimum, 1 s
        ("1.35", False, 0, 30, 30),  # soft with the default max 0: the pod's full grace
        ("1.35", False, 10, 30, 10),  # soft: the max shortens
        ("1.35", False, 60, 30, 30),  # soft since 1.32: min(max, pod grace)
        ("1.31", False, 60, 30, 60),  # soft before 1.32: the max alone
        ("1.35", False, -1, 30, 1),  # negative max: passed through and raised to 1 s
    ],
)
def test_grace_period_by_version(version: str, hard: bool, max_grace: int, pod_grace: int | None, expected: int) -> None:
    """Grace periods from the eviction manager's override and calculateEffectiveGracePeriod."""
    if hard:
        policy = make_policy(hard={"memory.available": "1Gi"}, version=version, max_pod_grace_period_s=max_grace)
    else:
        policy = make_policy(
            soft={"memory.available": "1Gi"}, grace={"memory.available": "1m"}, version=version, max_pod_grace_period_s=max_grace
        )
    pod = make_pod("pod", 0, termination_grace_period_s=pod_grace)
    stats = [memory_pod_stats(pod, "100Mi")]
    manager = EvictionManager(policy)

    manager.synchronize(memory_summary("500Mi", stats), [pod], T0)
    decision = manager.synchronize(memory_summary("500Mi", stats), [pod], T0 + minutes(2))

    assert evicted(decision) == [("pod", expected)]


def test_stale_stats_not_acted_on() -> None:
    """thresholdsUpdatedStats: a second pass on the same sample evicts nothing but keeps the condition."""
    policy = make_policy(hard={"memory.available": "1Gi"})
    specs, stats = memory_pod_set()
    summary = memory_summary("500Mi", stats)
    summary.node.memory.time = T0  # type: ignore[union-attr]
    manager = EvictionManager(policy)

    first = manager.synchronize(summary, specs, T0 + dt.timedelta(seconds=10))
    second = manager.synchronize(summary, specs, T0 + dt.timedelta(seconds=20))

    assert len(first.evictions) == 1
    assert second.evictions == ()
    assert second.conditions[NodeCondition.MEMORY_PRESSURE]
    assert any("stats not refreshed" in note for note in second.notes)


def test_no_thresholds_and_no_isolation_does_nothing() -> None:
    """synchronize returns at once without thresholds and without local-storage isolation."""
    policy = make_policy(isolation=False)
    decision, state = synchronize(memory_summary("1Mi", []), [], policy, ManagerState(), T0)
    assert decision.evictions == ()
    assert state.layout is None
    assert decision.notes[-1] == "no eviction thresholds configured and localStorageCapacityIsolation is off"


def test_soft_threshold_with_zero_grace_is_hard() -> None:
    """isHardEvictionThreshold: a soft threshold with grace 0s acts at once and gets the 1 s override."""
    policy = make_policy(soft={"memory.available": "1Gi"}, grace={"memory.available": "0s"}, max_pod_grace_period_s=30)
    pod = make_pod("pod", 0, termination_grace_period_s=60)

    decision, _ = synchronize(memory_summary("500Mi", [memory_pod_stats(pod, "100Mi")]), [pod], policy, ManagerState(), T0)

    assert evicted(decision) == [("pod", 1)]
    assert decision.evictions[0].grace_period_override_s == 1


def test_pod_level_request_in_message() -> None:
    """evictionMessage with PodLevelResources (beta, on in 1.34+): a Pod line before container lines."""
    document = {
        "metadata": {"name": "web", "namespace": "default", "uid": "uid-web"},
        "spec": {"resources": {"requests": {"memory": "200Mi"}}, "containers": [{"name": "app"}]},
    }
    pod = parse_pod_list(document)[0]
    stats = pod_stats(
        pod,
        memory=MemoryStats(working_set_bytes=q("300Mi")),
        containers=[ContainerStats(name="app", memory=MemoryStats(working_set_bytes=q("300Mi")))],
    )
    summary = memory_summary("500Mi", [stats])

    on, _ = synchronize(summary, [pod], make_policy(hard={"memory.available": "1Gi"}, version="1.34"), ManagerState(), T0)
    off, _ = synchronize(summary, [pod], make_policy(hard={"memory.available": "1Gi"}, version="1.33"), ManagerState(), T0)

    assert on.evictions[0].message == (
        "The node was low on resource: memory. Threshold quantity: 1Gi, available: 500Mi. "
        "Pod web was using 300Mi, request is 200Mi, has larger consumption of memory. "
        "Container app was using 300Mi, request is 0, has larger consumption of memory. "
    )
    assert on.evictions[0].annotations["offending_pod"] == "web"
    assert on.evictions[0].annotations["offending_pod_usage"] == "300Mi"
    assert "Pod web" not in off.evictions[0].message
    assert on.ranking[0].request == q("200Mi")
    assert off.ranking[0].request == 0


def test_old_kubelet_has_no_containerfs() -> None:
    """Kubelets before 1.29 have no containerfs signals and no split-filesystem detection."""
    policy = make_policy(hard={"nodefs.available": "1Gi"}, version="1.28")
    specs, stats = disk_pod_set()

    decision, state = synchronize(
        disk_summary(stats, nodefs="16Gi", imagefs="16Gi", containerfs="8Gi"), specs, policy, ManagerState(), T0, layout=FsLayout.SPLIT
    )

    assert state.layout == FsLayout.DEDICATED_IMAGEFS
    assert [t.signal.value for t in decision.thresholds] == ["nodefs.available"]
    assert decision.error is None


def test_pods_without_stats_rank_first_and_are_noted() -> None:
    """A pod missing from the Summary ranks first (the kubelet's comparators) and gets no container lines."""
    policy = make_policy(hard={"memory.available": "1Gi"})
    present = make_pod("present", -5)
    missing = make_pod("missing", 10)

    decision, _ = synchronize(memory_summary("500Mi", [memory_pod_stats(present, "900Mi")]), [present, missing], policy, ManagerState(), T0)

    assert evicted(decision) == [("missing", 1)]
    assert decision.evictions[0].message == "The node was low on resource: memory. Threshold quantity: 1Gi, available: 500Mi. "
    assert decision.evictions[0].annotations == {}
    assert any("without stats in the Summary, ranked first" in note for note in decision.notes)


def test_failed_reclaim_step_is_ignored() -> None:
    """reclaimNodeLevelResources logs a failing reclaim function and still runs the next one."""
    from simulator.errors import InputError

    class FailingImageGC(FakeReclaimer):
        def delete_unused_images(self, now: dt.datetime) -> ReclaimStep:
            self.calls.append("imageGC")
            raise InputError("invalid capacity 0 on image filesystem")

    policy = make_policy(hard={"nodefs.available": "1Gi"})
    specs, stats = disk_pod_set()
    reclaimer = FailingImageGC()

    decision, _ = synchronize(disk_summary(stats, nodefs="500Mi", imagefs="500Mi"), specs, policy, ManagerState(), T0, reclaimer)

    assert reclaimer.calls == ["containerGC", "imageGC"]
    assert decision.reclaim is not None
    assert decision.reclaim.steps[1].details == {"error": "invalid capacity 0 on image filesystem"}
    assert evicted(decision) == [("low-priority-high-usage", 1)]


@pytest.mark.parametrize(("version", "fails"), [("1.29", True), ("1.30", True), ("1.31", False), ("1.35", False)])
def test_split_layout_gate_default_by_version(version: str, fails: bool) -> None:
    """KubeletSeparateDiskGC defaults: alpha and off in 1.29-1.30, beta and on from 1.31."""
    policy = make_policy(hard={"nodefs.available": "1Gi"}, version=version)
    decision, state = synchronize(
        disk_summary([], nodefs="16Gi", imagefs="100Gi", containerfs="16Gi"), [], policy, ManagerState(), T0, layout=FsLayout.SPLIT
    )
    assert (decision.error is not None) is fails
    assert (state.layout is None) is fails
