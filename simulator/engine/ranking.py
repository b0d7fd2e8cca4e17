"""Pod ranking for eviction: which pod the kubelet tries first for a starved resource.

The kubelet sorts active pods with an ordered list of comparators, each breaking the ties of
the one before (kubernetes pkg/kubelet/eviction/helpers.go, 1.27-1.35):

* memory signals: ``exceeds_memory_request``, ``priority``, ``memory_above_request``;
* pid.available: ``priority``, ``process_count``;
* disk signals: ``exceeds_disk_request``, ``priority``, ``disk_above_request``.

Every usage comparator puts pods without stats in the Summary first. :func:`comparators_for`
returns the named comparators; :func:`rank_pods` sorts with an equivalent key tuple because
it is several times faster, and a test checks that both give the same order.

Which filesystem usage counts for disk signals depends on the layout (``FS_STATS_TO_MEASURE``):
``root`` is each container's writable layer, ``logs`` its logs, ``volumes`` the pod's local
volumes (hostPath, default-medium emptyDir, gitRepo, configMap). ``images`` counts nothing.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from fractions import Fraction

from simulator.pods import PodSpec, pod_priority, pod_request
from simulator.signals import FsLayout, Resource, Signal
from simulator.snapshot import PodStats

ROOT, LOGS, VOLUMES, IMAGES = "root", "logs", "volumes", "images"

_ALL = (IMAGES, ROOT, LOGS, VOLUMES)

# The filesystem usage measured for each disk signal, per layout (buildSignalToRankFunc).
FS_STATS_TO_MEASURE: dict[FsLayout, dict[Signal, tuple[str, ...]]] = {
    FsLayout.SINGLE: {
        Signal.NODEFS_AVAILABLE: _ALL,
        Signal.NODEFS_INODES_FREE: _ALL,
        Signal.IMAGEFS_AVAILABLE: _ALL,
        Signal.IMAGEFS_INODES_FREE: _ALL,
        Signal.CONTAINERFS_AVAILABLE: _ALL,
        Signal.CONTAINERFS_INODES_FREE: _ALL,
    },
    FsLayout.DEDICATED_IMAGEFS: {
        Signal.NODEFS_AVAILABLE: (LOGS, VOLUMES),
        Signal.NODEFS_INODES_FREE: (LOGS, VOLUMES),
        Signal.IMAGEFS_AVAILABLE: (ROOT, IMAGES),
        Signal.IMAGEFS_INODES_FREE: (ROOT, IMAGES),
        Signal.CONTAINERFS_AVAILABLE: (ROOT, IMAGES),
        Signal.CONTAINERFS_INODES_FREE: (ROOT, IMAGES),
    },
    FsLayout.SPLIT: {
        Signal.NODEFS_AVAILABLE: (LOGS, VOLUMES, ROOT),
        Signal.NODEFS_INODES_FREE: (LOGS, VOLUMES, ROOT),
        Signal.IMAGEFS_AVAILABLE: (IMAGES,),
        Signal.IMAGEFS_INODES_FREE: (IMAGES,),
        Signal.CONTAINERFS_AVAILABLE: (LOGS, VOLUMES, ROOT),
        Signal.CONTAINERFS_INODES_FREE: (LOGS, VOLUMES, ROOT),
    },
}


@dataclasses.dataclass(slots=True)
class Candidate:
    """One active pod with its spec and its stats, joined by UID.

    ``stats`` is None when the Summary has no entry for the pod. ``spec_known`` is False when
    the spec was made up from the Summary because no pod spec was given.
    """

    spec: PodSpec
    stats: PodStats | None
    spec_known: bool = True


@dataclasses.dataclass(slots=True)
class RankEntry:
    """One pod's place in the ranking, with the numbers the comparators used."""

    candidate: Candidate
    usage: int | None
    request: Fraction
    exceeds_request: bool | None


# ---------------------------------------------------------------------------------------------
# usage


def memory_usage(stats: PodStats) -> int:
    """Return the pod's working set in bytes (0 when the Summary leaves it out)."""
    if stats.memory is None or stats.memory.working_set_bytes is None:
        return 0
    return stats.memory.working_set_bytes


def process_usage(stats: PodStats) -> int:
    """Return the pod's process count (0 when the Summary leaves it out)."""
    return stats.process_count or 0


_LOCAL_VOLUMES_KEY = ("local-volumes", "", False)
_DISK_RANK_KEY = ("disk-rank", "", False)


def _local_volume_names(spec: PodSpec) -> tuple[str, ...]:
    cached = spec.derived.get(_LOCAL_VOLUMES_KEY)
    if cached is None:
        cached = spec.derived[_LOCAL_VOLUMES_KEY] = tuple(volume.name for volume in spec.volumes if volume.is_local)  # type: ignore[assignment]
    return cached  # type: ignore[return-value]


def _disk_rank_facts(spec: PodSpec) -> tuple[Fraction | int, int, tuple[str, ...]]:
    """Return the spec's ephemeral-storage request, priority and local volume names, cached on the spec."""
    cached = spec.derived.get(_DISK_RANK_KEY)
    if cached is None:
        priority = spec.priority if spec.priority is not None else 0
        cached = spec.derived[_DISK_RANK_KEY] = (pod_request(spec, "ephemeral-storage"), priority, _local_volume_names(spec))  # type: ignore[assignment]
    return cached  # type: ignore[return-value]


def disk_usage(spec: PodSpec, stats: PodStats, measure: Sequence[str], resource: Resource) -> int:
    """Return the pod's bytes (ephemeral-storage) or inodes used on the measured filesystem parts."""
    inodes = resource == Resource.INODES
    root = ROOT in measure
    logs = LOGS in measure
    total = 0
    for container in stats.containers:
        if root and container.rootfs is not None:
            total += (container.rootfs.inodes_used if inodes else container.rootfs.used_bytes) or 0
        if logs and container.logs is not None:
            total += (container.logs.inodes_used if inodes else container.logs.used_bytes) or 0
    if VOLUMES in measure:
        names = _local_volume_names(spec)
        if names:
            for name in names:
                # the kubelet takes the first volume stats entry with the name
                for volume_stats in stats.volume_stats:
                    if volume_stats.name == name:
                        total += (volume_stats.fs.inodes_used if inodes else volume_stats.fs.used_bytes) or 0
                        break
    return total


# ---------------------------------------------------------------------------------------------
# named comparators (negative: the first pod is evicted first)

Comparator = Callable[[Candidate, Candidate], int]


def _cmp_bool(first: bool, second: bool) -> int:
    """Order True before False."""
    if first == second:
        return 0
    return -1 if first else 1


def _cmp(a: Fraction | int, b: Fraction | int) -> int:
    return (a > b) - (a < b)


def priority(first: Candidate, second: Candidate) -> int:
    """Lower priority first (an unset priority is 0)."""
    return _cmp(pod_priority(first.spec), pod_priority(second.spec))


def exceeds_memory_request(pod_level_resources: bool) -> Comparator:
    def compare(first: Candidate, second: Candidate) -> int:
        if first.stats is None or second.stats is None:
            return _cmp_bool(first.stats is None, second.stats is None)
        first_exceeds = memory_usage(first.stats) > pod_request(first.spec, "memory", pod_level_resources=pod_level_resources)
        second_exceeds = memory_usage(second.stats) > pod_request(second.spec, "memory", pod_level_resources=pod_level_resources)
        return _cmp_bool(first_exceeds, second_exceeds)

    compare.__name__ = "exceeds_memory_request"
    return compare


def memory_above_request(pod_level_resources: bool) -> Comparator:
    def compare(first: Candidate, second: Candidate) -> int:
        if first.stats is None or second.stats is None:
            return _cmp_bool(first.stats is None, second.stats is None)
        first_above = memory_usage(first.stats) - pod_request(first.spec, "memory", pod_level_resources=pod_level_resources)
        second_above = memory_usage(second.stats) - pod_request(second.spec, "memory", pod_level_resources=pod_level_resources)
        return _cmp(second_above, first_above)

    compare.__name__ = "memory_above_request"
    return compare


def process_count(first: Candidate, second: Candidate) -> int:
    """More processes first; pods without stats before all others."""
    if first.stats is None or second.stats is None:
        return _cmp_bool(first.stats is None, second.stats is None)
    return _cmp(process_usage(second.stats), process_usage(first.stats))


def exceeds_disk_request(measure: Sequence[str], resource: Resource) -> Comparator:
    # For inodes the request is of a resource named "inodes", which pods never set, so any
    # pod using at least one inode exceeds it.
    request_name = "inodes" if resource == Resource.INODES else "ephemeral-storage"

    def compare(first: Candidate, second: Candidate) -> int:
        if first.stats is None or second.stats is None:
            return _cmp_bool(first.stats is None, second.stats is None)
        first_exceeds = disk_usage(first.spec, first.stats, measure, resource) > pod_request(first.spec, request_name)
        second_exceeds = disk_usage(second.spec, second.stats, measure, resource) > pod_request(second.spec, request_name)
        return _cmp_bool(first_exceeds, second_exceeds)

    compare.__name__ = "exceeds_disk_request"
    return compare


def disk_above_request(measure: Sequence[str], resource: Resource) -> Comparator:
    # The kubelet subtracts the ephemeral-storage byte request even from inode counts.
    def compare(first: Candidate, second: Candidate) -> int:
        if first.stats is None or second.stats is None:
            return _cmp_bool(first.stats is None, second.stats is None)
        first_above = disk_usage(first.spec, first.stats, measure, resource) - pod_request(first.spec, "ephemeral-storage")
        second_above = disk_usage(second.spec, second.stats, measure, resource) - pod_request(second.spec, "ephemeral-storage")
        return _cmp(second_above, first_above)

    compare.__name__ = "disk_above_request"
    return compare


def comparators_for(signal: Signal, layout: FsLayout, *, pod_level_resources: bool = False) -> list[Comparator]:
    """Return the kubelet's comparator chain for ``signal`` under ``layout``."""
    if signal in (Signal.MEMORY_AVAILABLE, Signal.ALLOCATABLE_MEMORY_AVAILABLE):
        return [exceeds_memory_request(pod_level_resources), priority, memory_above_request(pod_level_resources)]
    if signal == Signal.PID_AVAILABLE:
        return [priority, process_count]
    measure = FS_STATS_TO_MEASURE[layout][signal]
    resource = Resource.INODES if signal.value.endswith("inodesFree") else Resource.EPHEMERAL_STORAGE
    return [exceeds_disk_request(measure, resource), priority, disk_above_request(measure, resource)]


def chain(comparators: Sequence[Comparator]) -> Comparator:
    """Combine comparators: each later one only breaks ties of the earlier ones."""

    def compare(first: Candidate, second: Candidate) -> int:
        for comparator in comparators:
            result = comparator(first, second)
            if result:
                return result
        return 0

    return compare


# ---------------------------------------------------------------------------------------------
# ranking with key tuples


def rank_pods(
    candidates: Sequence[Candidate], signal: Signal, layout: FsLayout, *, pod_level_resources: bool = False
) -> list[RankEntry]:
    """Rank ``candidates`` for ``signal``: the first entry is the pod the kubelet tries first.

    Each pod gets one key tuple equal in order to the comparator chain, then one C-level sort,
    so a pass costs O(n log n) comparisons of tuples and O(n) Python work.

    NOTE: the kubelet's sort is not stable, so pods that tie on every comparator come out in
    an arbitrary order there. Here full ties are ordered by namespace/name, then UID.
    """
    if signal in (Signal.MEMORY_AVAILABLE, Signal.ALLOCATABLE_MEMORY_AVAILABLE):
        keys, entries = _memory_keys(candidates, pod_level_resources)
    elif signal == Signal.PID_AVAILABLE:
        keys, entries = _process_keys(candidates)
    else:
        keys, entries = _disk_keys(candidates, FS_STATS_TO_MEASURE[layout][signal], signal.value.endswith("inodesFree"))
    order = sorted(range(len(keys)), key=keys.__getitem__)
    return [entries[index] for index in order]


# Each *_keys function returns parallel lists: the sort key of each pod and its RankEntry.
# A key of the exceeds / priority / usage-above-request chain is
# (1, 0 if usage exceeds the request else 1, priority, request - usage, namespace/name, UID).
# Pods without stats get (0, 0, priority, 0, ...), so they sort first, by priority.


def _memory_keys(candidates: Sequence[Candidate], pod_level_resources: bool) -> tuple[list[tuple], list[RankEntry]]:
    keys: list[tuple] = []
    entries: list[RankEntry] = []
    for candidate in candidates:
        spec = candidate.spec
        request = pod_request(spec, "memory", pod_level_resources=pod_level_resources)
        priority = spec.priority if spec.priority is not None else 0
        stats = candidate.stats
        if stats is None:
            keys.append((0, 0, priority, 0, spec.key, spec.uid))
            entries.append(RankEntry(candidate, None, request, None))
            continue
        memory = stats.memory
        usage = memory.working_set_bytes if memory is not None and memory.working_set_bytes is not None else 0
        exceeds = usage > request
        keys.append((1, 0 if exceeds else 1, priority, request - usage, spec.key, spec.uid))
        entries.append(RankEntry(candidate, usage, request, exceeds))
    return keys, entries


def _process_keys(candidates: Sequence[Candidate]) -> tuple[list[tuple], list[RankEntry]]:
    keys: list[tuple] = []
    entries: list[RankEntry] = []
    for candidate in candidates:
        spec = candidate.spec
        priority = spec.priority if spec.priority is not None else 0
        if candidate.stats is None:
            keys.append((priority, 0, 0, spec.key, spec.uid))
            entries.append(RankEntry(candidate, None, 0, None))
        else:
            usage = candidate.stats.process_count or 0
            keys.append((priority, 1, -usage, spec.key, spec.uid))
            entries.append(RankEntry(candidate, usage, 0, None))
    return keys, entries


def _disk_keys(candidates: Sequence[Candidate], measure: Sequence[str], inodes: bool) -> tuple[list[tuple], list[RankEntry]]:
    """Build the keys for a disk signal. The usage sum is :func:`disk_usage`, inlined for speed."""
    root = ROOT in measure
    logs = LOGS in measure
    volumes = VOLUMES in measure
    keys: list[tuple] = []
    entries: list[RankEntry] = []
    for candidate in candidates:
        spec = candidate.spec
        # The exceeds comparator uses the "inodes" request for inode signals, which pods never
        # set, but the above-request comparator always subtracts the ephemeral-storage bytes.
        subtract_request, priority, local_volumes = _disk_rank_facts(spec)
        exceed_request = pod_request(spec, "inodes") if inodes else subtract_request
        stats = candidate.stats
        if stats is None:
            keys.append((0, 0, priority, 0, spec.key, spec.uid))
            entries.append(RankEntry(candidate, None, exceed_request, None))
            continue

        usage = 0
        if root or logs:
            for container in stats.containers:
                fs = container.rootfs if root else None
                if fs is not None:
                    usage += (fs.inodes_used if inodes else fs.used_bytes) or 0
                fs = container.logs if logs else None
                if fs is not None:
                    usage += (fs.inodes_used if inodes else fs.used_bytes) or 0
        if volumes and local_volumes:
            for name in local_volumes:
                # the kubelet takes the first volume stats entry with the name
                for volume_stats in stats.volume_stats:
                    if volume_stats.name == name:
                        fs = volume_stats.fs
                        usage += (fs.inodes_used if inodes else fs.used_bytes) or 0
                        break

        exceeds = usage > exceed_request
        keys.append((1, 0 if exceeds else 1, priority, subtract_request - usage, spec.key, spec.uid))
        entries.append(RankEntry(candidate, usage, exceed_request, exceeds))
    return keys, entries


def rank_with_comparators(
    candidates: Sequence[Candidate], signal: Signal, layout: FsLayout, *, pod_level_resources: bool = False
) -> list[Candidate]:
    """Rank with the named comparator chain (slower); used to check :func:`rank_pods`."""
    compare = chain(comparators_for(signal, layout, pod_level_resources=pod_level_resources))

    def with_tiebreak(first: Candidate, second: Candidate) -> int:
        result = compare(first, second)
        if result:
            return result
        return _cmp_bool(
            (first.spec.key, first.spec.uid) < (second.spec.key, second.spec.uid),
            (second.spec.key, second.spec.uid) < (first.spec.key, first.spec.uid),
        )

    return sorted(candidates, key=functools.cmp_to_key(with_tiebreak))
