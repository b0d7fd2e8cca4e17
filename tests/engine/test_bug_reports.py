"""Public bug reports about eviction whose inputs fit the engine, with the outcome a correct simulator gives.

Each test names its report (the evictsim bug-report log, BL-nn, which cites the public
threads) and states the kubelet behaviour it checks, following the kubelet source
(kubernetes pkg/kubelet/eviction, 1.31-1.35). Reports about image GC, probes and policy
linting are tested with those layers.
"""

from __future__ import annotations

import datetime as dt

from simulator.engine.eviction import EvictionManager, ManagerState, synchronize
from simulator.engine.reclaim import NoReclaim
from simulator.pods import parse_pod_list
from simulator.policy.load import default_policy, policy_from_kubelet_config
from simulator.quantity import Quantity
from simulator.signals import FsLayout, NodeCondition, Signal
from simulator.snapshot import FsStats, MemoryStats, NodeStats, RlimitStats, Summary

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
GB = 10**9


def q(text: str) -> int:
    return Quantity.parse(text).to_int_ceil()


def disk_summary(*, available: int, capacity: int) -> Summary:
    fs = FsStats(available_bytes=available, capacity_bytes=capacity, inodes_free=10**6, inodes=2 * 10**6)
    image = FsStats(available_bytes=available, capacity_bytes=capacity, inodes_free=10**6, inodes=2 * 10**6)
    return Summary(node=NodeStats(memory=MemoryStats(available_bytes=q("6Gi"), working_set_bytes=q("2Gi")), fs=fs, image_fs=image))


def test_bl01_partial_eviction_hard_disables_disk_thresholds() -> None:
    """BL-01: a partial evictionHard replaces the defaults, so a full disk gives no DiskPressure."""
    summary = disk_summary(available=0, capacity=40 * GB)
    partial = policy_from_kubelet_config({"evictionHard": {"memory.available": "500Mi"}}, "1.35")
    merged = policy_from_kubelet_config(
        {"evictionHard": {"memory.available": "500Mi"}, "mergeDefaultEvictionSettings": True}, "1.35"
    )

    partial_decision, _ = synchronize(summary, [], partial, ManagerState(), T0)
    merged_decision, _ = synchronize(summary, [], merged, ManagerState(), T0)

    assert {t.signal for t in partial_decision.thresholds} == {Signal.MEMORY_AVAILABLE, Signal.ALLOCATABLE_MEMORY_AVAILABLE}
    assert partial_decision.conditions[NodeCondition.DISK_PRESSURE] is False
    assert merged_decision.conditions[NodeCondition.DISK_PRESSURE] is True


def test_bl02_memory_only_thresholds_never_disk_pressure() -> None:
    """BL-02: evictionHard {memory.available: 5%} only: DiskPressure stays false at 100 % disk use."""
    policy = policy_from_kubelet_config({"evictionHard": {"memory.available": "5%"}}, "1.35")
    decision, _ = synchronize(disk_summary(available=0, capacity=40 * GB), [], policy, ManagerState(), T0)
    assert decision.conditions[NodeCondition.DISK_PRESSURE] is False
    assert decision.evictions == ()


def test_bl03_reclaim_freeing_nothing_evicts() -> None:
    """BL-03: when GC finds nothing eligible (usage is logs and writable layers) a pod is evicted."""
    policy = default_policy("1.35")
    pods = parse_pod_list(
        {"items": [{"metadata": {"name": "writer", "namespace": "ns", "uid": "w"}, "spec": {"containers": [{"name": "w"}]}}]}
    )
    summary = disk_summary(available=GB, capacity=100 * GB)
    summary.pods = Summary.from_json(
        {"node": {}, "pods": [{"podRef": {"name": "writer", "namespace": "ns", "uid": "w"},
                               "containers": [{"name": "w", "rootfs": {"usedBytes": 50 * GB}, "logs": {"usedBytes": 40 * GB}}]}]}
    ).pods

    decision, _ = synchronize(summary, pods, policy, ManagerState(), T0, NoReclaim())

    assert decision.reclaim is not None
    assert [step.bytes_freed for step in decision.reclaim.steps] == [0, 0]
    assert decision.reclaim.sufficient is False
    assert [e.pod for e in decision.evictions] == ["ns/writer"]


def test_bl09_nodefs_is_the_kubelet_root_filesystem() -> None:
    """BL-09: a nearly full root (nodefs) is pressure even with a large, empty image disk."""
    policy = default_policy("1.35")
    summary = Summary(
        node=NodeStats(
            memory=MemoryStats(available_bytes=q("6Gi"), working_set_bytes=q("2Gi")),
            fs=FsStats(available_bytes=3 * GB, capacity_bytes=50 * GB, inodes_free=10**6, inodes=2 * 10**6),
            image_fs=FsStats(available_bytes=672 * GB, capacity_bytes=1000 * GB, inodes_free=10**7, inodes=2 * 10**7),
            container_fs=FsStats(available_bytes=672 * GB, capacity_bytes=1000 * GB, inodes_free=10**7, inodes=2 * 10**7),
        )
    )

    decision, _ = synchronize(summary, [], policy, ManagerState(), T0, layout=FsLayout.DEDICATED_IMAGEFS)

    met = {t.signal for t in decision.thresholds if t.met}
    assert met == {Signal.NODEFS_AVAILABLE}
    assert decision.conditions[NodeCondition.DISK_PRESSURE] is True
    # with a dedicated imagefs the kubelet has no node-level reclaim for nodefs
    assert decision.reclaim is None


def test_bl11_imagefs_without_capacity_is_not_observed() -> None:
    """BL-11: a partial imageFs (usedBytes only) leaves imagefs signals unobserved, never met."""
    policy = default_policy("1.35")
    summary = disk_summary(available=30 * GB, capacity=100 * GB)
    summary.node.image_fs = FsStats(used_bytes=1926868992, inodes_used=21614)

    decision, _ = synchronize(summary, [], policy, ManagerState(), T0)

    assert Signal.IMAGEFS_AVAILABLE not in decision.observations
    assert not any(t.met for t in decision.thresholds if t.signal == Signal.IMAGEFS_AVAILABLE)
    assert any(note.startswith("imagefs.available not observed") for note in decision.notes)


def test_bl12_memory_available_is_capacity_minus_working_set() -> None:
    """BL-12: memory.available 3377236Ki observed by the kubelet is above a 2.5Gi threshold."""
    policy = policy_from_kubelet_config({"evictionHard": {"memory.available": "2.5Gi"}}, "1.35")
    summary = Summary(node=NodeStats(memory=MemoryStats(available_bytes=q("3377236Ki"), working_set_bytes=q("335544Ki"))))

    decision, _ = synchronize(summary, [], policy, ManagerState(), T0)

    assert decision.observations[Signal.MEMORY_AVAILABLE].available == 3377236 * 1024
    assert decision.conditions[NodeCondition.MEMORY_PRESSURE] is False


def test_bl13_no_pid_threshold_by_default() -> None:
    """BL-13: pid.available has no default threshold, so PIDPressure never comes at defaults."""
    policy = default_policy("1.35")
    for running in (438, 32760, 40000):
        summary = Summary(node=NodeStats(rlimit=RlimitStats(maxpid=32768, curproc=running)))
        decision, _ = synchronize(summary, [], policy, ManagerState(), T0)
        assert decision.observations[Signal.PID_AVAILABLE].available == 32768 - running
        assert decision.conditions[NodeCondition.PID_PRESSURE] is False


def test_bl15_soft_eviction_grace() -> None:
    """BL-15: soft nodefs threshold with grace 30s and max pod grace 3600: the pod gets min(3600, 120)."""
    policy = policy_from_kubelet_config(
        {
            "evictionSoft": {"nodefs.available": "80%"},
            "evictionSoftGracePeriod": {"nodefs.available": "30s"},
            "evictionMaxPodGracePeriod": 3600,
            "evictionPressureTransitionPeriod": "0s",
        },
        "1.35",
    )
    pods = parse_pod_list(
        {"items": [{"metadata": {"name": "app", "namespace": "ns", "uid": "a"},
                    "spec": {"terminationGracePeriodSeconds": 120, "containers": [{"name": "app"}]}}]}
    )
    # 20 % free: below the soft 80 % threshold, above the default hard 10 % (nodefs) and 15 % (imagefs)
    summary = disk_summary(available=20 * GB, capacity=100 * GB)
    manager = EvictionManager(policy)

    # t0: soft threshold met, grace period running
    first = manager.synchronize(summary, pods, T0)
    # t0+20s: still inside the 30 s grace period
    second = manager.synchronize(summary, pods, T0 + dt.timedelta(seconds=20))
    # t0+30s: evicted with min(3600, 120) = 120 s
    third = manager.synchronize(summary, pods, T0 + dt.timedelta(seconds=30))

    assert first.evictions == ()
    assert second.evictions == ()
    assert first.conditions[NodeCondition.DISK_PRESSURE]
    assert [(e.pod, e.grace_period_s) for e in third.evictions] == [("ns/app", 120)]
    # a 0s transition period in a config file is defaulted to 5m, so the condition lingers
    relieved = manager.synchronize(disk_summary(available=90 * GB, capacity=100 * GB), pods, T0 + dt.timedelta(minutes=4))
    assert relieved.conditions[NodeCondition.DISK_PRESSURE] is True


def test_bl16_condition_flaps_with_transition_period() -> None:
    """BL-16: DiskPressure is set at once and cleared only 5 minutes after the last time it was met."""
    policy = default_policy("1.35")
    full = disk_summary(available=5 * GB, capacity=100 * GB)
    free = disk_summary(available=50 * GB, capacity=100 * GB)
    manager = EvictionManager(policy)
    timeline = [
        (0, full, True),  # met: set at once
        (60, free, True),  # relieved 1 minute: kept
        (180, full, True),  # met again: the countdown restarts
        (180 + 299, free, True),  # 4m59s after the last met pass: still kept
        (180 + 300, free, False),  # 5 minutes: cleared
    ]
    for seconds, summary, expected in timeline:
        decision = manager.synchronize(summary, [], T0 + dt.timedelta(seconds=seconds))
        assert decision.conditions[NodeCondition.DISK_PRESSURE] is expected, seconds


def test_bl19_split_containerfs_inherits_nodefs() -> None:
    """BL-19: with a split layout containerfs thresholds copy nodefs; 71.2 % free is no pressure."""
    policy = default_policy("1.35")
    kib = 1024
    summary = Summary(
        node=NodeStats(
            memory=MemoryStats(available_bytes=q("6Gi"), working_set_bytes=q("2Gi")),
            fs=FsStats(available_bytes=22636688 * kib, capacity_bytes=31811408 * kib, inodes_free=1920760, inodes=2031616),
            image_fs=FsStats(available_bytes=5 * GB, capacity_bytes=10 * GB, inodes_free=500_000, inodes=655_360),
            container_fs=FsStats(available_bytes=22636688 * kib, capacity_bytes=31811408 * kib, inodes_free=1920760, inodes=2031616),
        )
    )

    decision, _ = synchronize(summary, [], policy, ManagerState(), T0, layout=FsLayout.SPLIT)

    containerfs = [t for t in decision.thresholds if t.signal == Signal.CONTAINERFS_AVAILABLE]
    assert [(t.value, t.synthesized) for t in containerfs] == [("10%", "nodefs.available")]
    assert decision.conditions[NodeCondition.DISK_PRESSURE] is False


def test_bl20_k3s_defaults_drop_memory_eviction() -> None:
    """BL-20: k3s's evictionHard {imagefs 5%, nodefs 5%}: no MemoryPressure even with 1 % memory free."""
    policy = policy_from_kubelet_config(
        {
            "evictionHard": {"imagefs.available": "5%", "nodefs.available": "5%"},
            "evictionMinimumReclaim": {"imagefs.available": "10%", "nodefs.available": "10%"},
        },
        "1.35",
    )
    summary = disk_summary(available=50 * GB, capacity=100 * GB)
    summary.node.memory = MemoryStats(available_bytes=q("80Mi"), working_set_bytes=q("7920Mi"))

    decision, _ = synchronize(summary, [], policy, ManagerState(), T0)

    assert decision.conditions[NodeCondition.MEMORY_PRESSURE] is False
    signals = {t.signal for t in decision.thresholds}
    assert Signal.MEMORY_AVAILABLE not in signals
    assert {t.min_reclaim for t in decision.thresholds if t.signal == Signal.NODEFS_AVAILABLE} == {"10%"}
