"""Pod ranking restating the kubelet's helpers_test.go ordering tests.

Expected orders come from kubernetes pkg/kubelet/eviction/helpers_test.go (1.30-1.35):
TestOrderedByExceedsRequestMemory, TestOrderedByExceedsRequestDisk, TestOrderedByPriority,
TestOrderedbyInodes, TestOrderedByPriorityInodes, TestOrderedByMemory and
TestOrderedByPriorityProcess. The key-tuple ranking is also checked against the named
comparator chain on random pods.
"""

from __future__ import annotations

import hypothesis.strategies as st
from hypothesis import given, settings

from simulator.engine.ranking import (
    FS_STATS_TO_MEASURE,
    Candidate,
    comparators_for,
    disk_usage,
    rank_pods,
    rank_with_comparators,
)
from simulator.pods import PodSpec, parse_pod_list, pod_request
from simulator.quantity import Quantity
from simulator.signals import FsLayout, Resource, Signal
from simulator.snapshot import ContainerStats, FsStats, MemoryStats, PodRef, PodStats, VolumeStats


def q(text: str) -> int:
    return Quantity.parse(text).to_int_ceil()


def pod(name: str, priority: int | None = None, requests: dict[str, str] | None = None, volumes: list | None = None) -> PodSpec:
    spec: dict = {"containers": [{"name": "c", "resources": {"requests": requests or {}}}], "volumes": volumes or []}
    if priority is not None:
        spec["priority"] = priority
    return parse_pod_list({"metadata": {"name": name, "namespace": "ns", "uid": name}, "spec": spec})[0]


def memory_candidate(spec: PodSpec, working_set: str) -> Candidate:
    stats = PodStats(PodRef(spec.name, spec.namespace, spec.uid), memory=MemoryStats(working_set_bytes=q(working_set)))
    return Candidate(spec, stats)


def disk_candidate(spec: PodSpec, rootfs: str, logs: str, *, inodes: bool = False, volumes: dict[str, str] | None = None) -> Candidate:
    def fs(amount: str) -> FsStats:
        return FsStats(inodes_used=q(amount)) if inodes else FsStats(used_bytes=q(amount))

    stats = PodStats(
        PodRef(spec.name, spec.namespace, spec.uid),
        containers=[ContainerStats("c", rootfs=fs(rootfs), logs=fs(logs))],
        volume_stats=[VolumeStats(name, fs(amount)) for name, amount in (volumes or {}).items()],
    )
    return Candidate(spec, stats)


def names(entries: list) -> list[str]:
    return [entry.candidate.spec.name for entry in entries]


def test_exceeds_request_memory_beats_priority() -> None:
    """TestOrderedByExceedsRequestMemory: the pod above its request goes first despite priority."""
    below = memory_candidate(pod("below", -1, {"memory": "200Mi"}), "199Mi")
    exceeds = memory_candidate(pod("exceeds", 1, {"memory": "100Mi"}), "101Mi")
    assert names(rank_pods([below, exceeds], Signal.MEMORY_AVAILABLE, FsLayout.SINGLE)) == ["exceeds", "below"]


def test_exceeds_request_disk_beats_priority() -> None:
    """TestOrderedByExceedsRequestDisk: rootfs + logs above the ephemeral-storage request first."""
    below = disk_candidate(pod("below", -1, {"ephemeral-storage": "200Mi"}), "100Mi", "99Mi")
    exceeds = disk_candidate(pod("exceeds", 1, {"ephemeral-storage": "100Mi"}), "90Mi", "11Mi")
    assert names(rank_pods([below, exceeds], Signal.NODEFS_AVAILABLE, FsLayout.SINGLE)) == ["exceeds", "below"]


def test_ordered_by_priority() -> None:
    """TestOrderedByPriority: lower priority first when nothing else differs."""
    candidates = [memory_candidate(pod(n, p), "0") for n, p in (("high", 12534), ("low", -134), ("mid", 1))]
    assert names(rank_pods(candidates, Signal.MEMORY_AVAILABLE, FsLayout.SINGLE)) == ["low", "mid", "high"]


def test_ordered_by_inodes() -> None:
    """TestOrderedbyInodes: more inodes used (rootfs + logs + local volumes) first."""
    volume = [{"name": "v", "emptyDir": {}}]
    low = disk_candidate(pod("low", volumes=volume), "50k", "100k", inodes=True, volumes={"v": "50k"})
    medium = disk_candidate(pod("medium", volumes=volume), "100k", "150k", inodes=True, volumes={"v": "50k"})
    high = disk_candidate(pod("high", volumes=volume), "200k", "150k", inodes=True, volumes={"v": "50k"})
    ranked = rank_pods([low, medium, high], Signal.NODEFS_INODES_FREE, FsLayout.SINGLE)
    assert names(ranked) == ["high", "medium", "low"]
    assert [entry.usage for entry in ranked] == [400_000, 300_000, 200_000]


def test_ordered_by_priority_then_inodes() -> None:
    """TestOrderedByPriorityInodes: priority first, then inode usage."""
    candidates = [
        disk_candidate(pod("p1", -1), "400k", "0", inodes=True),
        disk_candidate(pod("p2", -1), "100k", "0", inodes=True),
        disk_candidate(pod("p3", 1), "350k", "0", inodes=True),
        disk_candidate(pod("p4", 1), "150k", "0", inodes=True),
    ]
    ranked = rank_pods(list(reversed(candidates)), Signal.NODEFS_INODES_FREE, FsLayout.SINGLE)
    assert names(ranked) == ["p1", "p2", "p3", "p4"]


def test_ordered_by_memory_above_request() -> None:
    """TestOrderedByMemory: with equal priority, larger usage minus request first."""
    candidates = [
        memory_candidate(pod("p1"), "500Mi"),
        memory_candidate(pod("p2"), "300Mi"),
        memory_candidate(pod("p3", requests={"memory": "100Mi"}), "800Mi"),
        memory_candidate(pod("p4", requests={"memory": "100Mi"}), "300Mi"),
        memory_candidate(pod("p5", requests={"memory": "1Gi"}), "800Mi"),
        memory_candidate(pod("p6", requests={"memory": "1Gi"}), "200Mi"),
    ]
    ranked = rank_pods(candidates, Signal.MEMORY_AVAILABLE, FsLayout.SINGLE)
    assert names(ranked) == ["p3", "p1", "p2", "p4", "p5", "p6"]


def test_ordered_by_priority_then_processes() -> None:
    """TestOrderedByPriorityProcess: priority first, then larger process count."""

    def candidate(name: str, priority: int, count: int) -> Candidate:
        spec = pod(name, priority)
        return Candidate(spec, PodStats(PodRef(name, "ns", name), process_count=count))

    candidates = [candidate("p4", 1, 5), candidate("p3", 1, 20), candidate("p2", -1, 6), candidate("p1", -1, 20)]
    assert names(rank_pods(candidates, Signal.PID_AVAILABLE, FsLayout.SINGLE)) == ["p1", "p2", "p3", "p4"]


def test_pods_without_stats_rank_first() -> None:
    """Every comparator puts pods missing from the Summary first."""
    with_stats = memory_candidate(pod("with-stats", -10), "10Gi")
    without = Candidate(pod("without-stats", 100), None)
    ranked = rank_pods([with_stats, without], Signal.MEMORY_AVAILABLE, FsLayout.SINGLE)
    assert names(ranked) == ["without-stats", "with-stats"]
    assert ranked[0].usage is None


def test_inode_ranking_subtracts_byte_request() -> None:
    """disk(): for inode signals the ephemeral-storage byte request is subtracted from inodes."""
    small_request = disk_candidate(pod("small", requests={"ephemeral-storage": "100"}), "1000", "0", inodes=True)
    large_request = disk_candidate(pod("large", requests={"ephemeral-storage": "1Ki"}), "1500", "0", inodes=True)
    # usage minus request: small 900, large 1500 - 1024 = 476
    ranked = rank_pods([large_request, small_request], Signal.NODEFS_INODES_FREE, FsLayout.SINGLE)
    assert names(ranked) == ["small", "large"]


def test_layout_changes_measured_usage() -> None:
    """buildSignalToRankFunc: dedicated imagefs ranks nodefs by logs + volumes, imagefs by rootfs."""
    rootfs_heavy = disk_candidate(pod("rootfs-heavy"), "900Mi", "1Mi")
    logs_heavy = disk_candidate(pod("logs-heavy"), "1Mi", "500Mi")
    nodefs = rank_pods([rootfs_heavy, logs_heavy], Signal.NODEFS_AVAILABLE, FsLayout.DEDICATED_IMAGEFS)
    imagefs = rank_pods([rootfs_heavy, logs_heavy], Signal.IMAGEFS_AVAILABLE, FsLayout.DEDICATED_IMAGEFS)
    split_imagefs = rank_pods([rootfs_heavy, logs_heavy], Signal.IMAGEFS_AVAILABLE, FsLayout.SPLIT)
    assert names(nodefs) == ["logs-heavy", "rootfs-heavy"]
    assert names(imagefs) == ["rootfs-heavy", "logs-heavy"]
    assert [entry.usage for entry in split_imagefs] == [0, 0]


def test_memory_volume_not_local() -> None:
    """localVolumeNames: memory-backed emptyDirs do not count; hostPath and configMap do."""
    volumes = [{"name": "mem", "emptyDir": {"medium": "Memory"}}, {"name": "host", "hostPath": {"path": "/x"}}]
    candidate = disk_candidate(pod("p", volumes=volumes), "0", "0", volumes={"mem": "1Gi", "host": "1Mi"})
    ranked = rank_pods([candidate], Signal.NODEFS_AVAILABLE, FsLayout.SINGLE)
    assert ranked[0].usage == q("1Mi")


def test_request_includes_sidecars_and_overhead() -> None:
    """GetResourceRequestQuantity: max(app + sidecars, init + earlier sidecars) plus overhead."""
    document = {
        "metadata": {"name": "p", "namespace": "ns"},
        "spec": {
            "containers": [{"name": "app", "resources": {"requests": {"memory": "100Mi"}}}],
            "initContainers": [
                {"name": "sidecar", "restartPolicy": "Always", "resources": {"requests": {"memory": "50Mi"}}},
                {"name": "init", "resources": {"requests": {"memory": "200Mi"}}},
            ],
            "overhead": {"memory": "10Mi"},
        },
    }
    spec = parse_pod_list(document)[0]
    # app + sidecar = 150Mi; init + sidecar before it = 250Mi; plus overhead 10Mi
    assert pod_request(spec, "memory") == q("260Mi")
    # overhead is added only to a non-zero request
    assert pod_request(spec, "ephemeral-storage") == 0


_layouts = st.sampled_from(list(FsLayout))
_signals = st.sampled_from([s for s in Signal if s != Signal.ALLOCATABLE_MEMORY_AVAILABLE])


@st.composite
def _candidates(draw: st.DrawFn) -> list[Candidate]:
    result = []
    for index in range(draw(st.integers(1, 8))):
        request = draw(st.sampled_from([None, "0", "100", "1Ki", "1Mi"]))
        requests = {"memory": request, "ephemeral-storage": request} if request else None
        spec = pod(f"p{index}", draw(st.sampled_from([None, -1, 0, 1])), requests)
        if draw(st.booleans()):
            result.append(Candidate(spec, None))
            continue
        usage = draw(st.sampled_from(["0", "50", "1Ki", "2Mi"]))
        stats = PodStats(
            PodRef(spec.name, spec.namespace, spec.uid),
            memory=MemoryStats(working_set_bytes=q(usage)),
            containers=[ContainerStats("c", rootfs=FsStats(used_bytes=q(usage), inodes_used=7), logs=FsStats(used_bytes=3))],
            process_count=draw(st.integers(0, 5)),
        )
        result.append(Candidate(spec, stats))
    return result


@settings(max_examples=200, deadline=None)
@given(_candidates(), _signals, _layouts)
def test_key_ranking_matches_comparators(candidates: list[Candidate], signal: Signal, layout: FsLayout) -> None:
    """rank_pods (key tuples) orders pods exactly as the named comparator chain does."""
    assert comparators_for(signal, layout)
    by_key = [entry.candidate.spec.name for entry in rank_pods(candidates, signal, layout)]
    by_comparators = [candidate.spec.name for candidate in rank_with_comparators(candidates, signal, layout)]
    assert by_key == by_comparators


_volume_sources = st.sampled_from(
    [{"emptyDir": {}}, {"emptyDir": {"medium": "Memory"}}, {"hostPath": {"path": "/x"}}, {"configMap": {"name": "m"}}, {"secret": {"secretName": "s"}}]
)
_amounts = st.sampled_from([None, 0, 3, 50, 1024, 2 * 2**20])


@st.composite
def _rich_candidates(draw: st.DrawFn) -> list[Candidate]:
    """Pods with several containers, local and non-local volumes, missing numbers and fractional requests."""
    result = []
    for index in range(draw(st.integers(1, 10))):
        request = draw(st.sampled_from([None, "0", "100", "0.5", "1Ki", "1500m", "1Mi"]))
        containers = [
            {"name": f"c{j}", "resources": {"requests": {"memory": request, "ephemeral-storage": request} if request else {}}}
            for j in range(draw(st.integers(1, 3)))
        ]
        volumes = [{"name": f"v{j}", **draw(_volume_sources)} for j in range(draw(st.integers(0, 3)))]
        spec_document: dict = {"containers": containers, "volumes": volumes}
        priority = draw(st.sampled_from([None, -5, 0, 1, 1000]))
        if priority is not None:
            spec_document["priority"] = priority
        if draw(st.booleans()):
            spec_document["resources"] = {"requests": {"memory": "1Ki", "ephemeral-storage": "2Ki"}}
        spec = parse_pod_list({"metadata": {"name": f"p{index}", "namespace": "ns", "uid": f"u{index}"}, "spec": spec_document})[0]
        if draw(st.integers(0, 4)) == 0:
            result.append(Candidate(spec, None))
            continue

        def fs() -> FsStats | None:
            if draw(st.integers(0, 5)) == 0:
                return None
            return FsStats(used_bytes=draw(_amounts), inodes_used=draw(_amounts))

        container_stats = [ContainerStats(f"c{j}", rootfs=fs(), logs=fs()) for j in range(draw(st.integers(0, 3)))]
        # duplicate names: the kubelet's ranking takes the first entry with a name
        volume_stats = [VolumeStats(f"v{draw(st.integers(0, 3))}", FsStats(used_bytes=draw(_amounts), inodes_used=draw(_amounts))) for _ in range(draw(st.integers(0, 4)))]
        memory = None if draw(st.integers(0, 5)) == 0 else MemoryStats(working_set_bytes=draw(_amounts))
        stats = PodStats(
            PodRef(spec.name, spec.namespace, spec.uid),
            memory=memory,
            containers=container_stats,
            volume_stats=volume_stats,
            process_count=draw(st.sampled_from([None, 0, 1, 9])),
        )
        result.append(Candidate(spec, stats))
    return result


@settings(max_examples=400, deadline=None)
@given(_rich_candidates(), st.sampled_from(list(Signal)), _layouts, st.booleans())
def test_key_ranking_matches_comparators_rich(
    candidates: list[Candidate], signal: Signal, layout: FsLayout, pod_level_resources: bool
) -> None:
    """rank_pods matches the comparator chain with volumes, missing stats and pod-level requests."""
    ranked = rank_pods(candidates, signal, layout, pod_level_resources=pod_level_resources)
    by_comparators = rank_with_comparators(candidates, signal, layout, pod_level_resources=pod_level_resources)
    assert [entry.candidate.spec.uid for entry in ranked] == [candidate.spec.uid for candidate in by_comparators]


@settings(max_examples=200, deadline=None)
@given(_rich_candidates(), st.sampled_from([s for s in Signal if s not in (Signal.MEMORY_AVAILABLE, Signal.ALLOCATABLE_MEMORY_AVAILABLE, Signal.PID_AVAILABLE)]), _layouts)
def test_rank_entry_disk_usage(candidates: list[Candidate], signal: Signal, layout: FsLayout) -> None:
    """Each disk RankEntry reports disk_usage and the request the exceeds comparator uses."""
    measure = FS_STATS_TO_MEASURE[layout][signal]
    resource = Resource.INODES if signal.value.endswith("inodesFree") else Resource.EPHEMERAL_STORAGE
    for entry in rank_pods(candidates, signal, layout):
        candidate = entry.candidate
        request = pod_request(candidate.spec, "inodes" if resource == Resource.INODES else "ephemeral-storage")
        assert entry.request == request
        if candidate.stats is None:
            assert entry.usage is None
            assert entry.exceeds_request is None
        else:
            assert entry.usage == disk_usage(candidate.spec, candidate.stats, measure, resource)
            assert entry.exceeds_request == (entry.usage > request)
