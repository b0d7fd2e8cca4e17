"""Benchmark one eviction-manager pass in process: 110 pods and 500 images, then up to 1,000 pods.

Run: ``python3 benchmarks/bench_eviction.py``. Prints the machine's load average, the median
and 95th percentile of ``synchronize`` wall time per case (time.perf_counter, after warm-up,
with the garbage collector on), and the cost per pod as the pod count grows. The last column,
``vs n log n``, is the median divided by the 110-pod median scaled by n log n: values at or
below 1.0 mean the cost grows no worse than n log n. The target is a median of at most
250 us for 110 pods and 500 images (NoReclaim), which a loaded 2-core machine can miss.

Cases:
* ``steady``: no threshold met (the daemon's usual tick): observations, thresholds, local
  storage limits over every pod.
* ``disk-pressure``: nodefs threshold met; node-level reclaim (NoReclaim), ranking of every
  pod, the eviction message.
* ``disk-pressure+gc``: the same with the image GC model over 500 images as the Reclaimer,
  every pass at the same instant (repeated what-if requests), so the GC model reuses its
  cached candidate order and freeSpace walk.
* ``disk-pressure+gc-tick``: as ``disk-pressure+gc``, but each pass is 1 s later than the
  previous one and 220 running containers use 220 of the images, as on a daemon tick. Every
  detection then writes lastUsed, so the candidate order is rebuilt, and container GC walks
  the 220 containers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simulator.engine.eviction import ManagerState, synchronize
from simulator.pods import PodSpec, parse_pod_list
from simulator.policy.load import default_policy
from simulator.signals import FsLayout
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

NOW = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
GIB = 2**30


def make_pods(count: int) -> tuple[list[PodSpec], list[PodStats]]:
    items = []
    stats = []
    for i in range(count):
        name = f"pod-{i:04d}"
        items.append(
            {
                "metadata": {"name": name, "namespace": f"ns-{i % 7}", "uid": f"uid-{i}"},
                "spec": {
                    "priority": (i * 37) % 5 - 2,
                    "terminationGracePeriodSeconds": 30,
                    "containers": [
                        {
                            "name": f"c{j}",
                            "resources": {
                                "requests": {"memory": f"{64 + i % 256}Mi", "ephemeral-storage": f"{100 + i % 50}Mi"},
                                "limits": {"memory": "1Gi", "ephemeral-storage": "4Gi"},
                            },
                        }
                        for j in range(2)
                    ],
                    "volumes": [{"name": "scratch", "emptyDir": {"sizeLimit": "2Gi"}}],
                },
            }
        )
        stats.append(
            PodStats(
                pod_ref=PodRef(name, f"ns-{i % 7}", f"uid-{i}"),
                memory=MemoryStats(working_set_bytes=(i * 7919) % (512 * 2**20)),
                containers=[
                    ContainerStats(
                        f"c{j}",
                        memory=MemoryStats(working_set_bytes=(i * 31 + j) * 2**20 % (300 * 2**20)),
                        rootfs=FsStats(used_bytes=(i * 104729 + j) % (200 * 2**20), inodes_used=100 + i),
                        logs=FsStats(used_bytes=(i * 15485863) % (50 * 2**20), inodes_used=3),
                    )
                    for j in range(2)
                ],
                volume_stats=[VolumeStats("scratch", FsStats(used_bytes=(i * 2**20) % GIB, inodes_used=10))],
                ephemeral_storage=FsStats(used_bytes=(i * 3 * 2**20) % GIB),
                process_count=5 + i % 40,
            )
        )
    return parse_pod_list({"items": items}), stats


def make_summary(pod_stats: list[PodStats], *, nodefs_available: int) -> Summary:
    fs = FsStats(time=NOW, available_bytes=nodefs_available, capacity_bytes=100 * GIB, inodes_free=5_000_000, inodes=6_000_000)
    image = FsStats(time=NOW, available_bytes=nodefs_available, capacity_bytes=100 * GIB, inodes_free=5_000_000, inodes=6_000_000)
    node = NodeStats(
        node_name="bench",
        memory=MemoryStats(time=NOW, available_bytes=8 * GIB, working_set_bytes=8 * GIB),
        system_containers=[ContainerStats("pods", memory=MemoryStats(time=NOW, available_bytes=7 * GIB, working_set_bytes=7 * GIB))],
        fs=fs,
        image_fs=image,
        container_fs=FsStats(**{f: getattr(image, f) for f in ("time", "available_bytes", "capacity_bytes", "inodes_free", "inodes")}),
        rlimit=RlimitStats(time=NOW, maxpid=4_194_304, curproc=1200),
    )
    return Summary(node=node, pods=pod_stats)


def make_gc_reclaimer(image_count: int, policy, running: int = 0):  # type: ignore[no-untyped-def]
    """Build a GCReclaimer over ``image_count`` images, ``running`` of them used by a running container."""
    from simulator.engine.gc_reclaimer import GCReclaimer
    from simulator.engine.imagegc import ImageGCSimulator
    from simulator.engine.images import CONTAINER_RUNNING, ContainerInfo, parse_images

    document = {
        "images": [
            {"id": f"sha256:{i:064x}", "repoTags": [f"registry.example/app{i}:v1"], "repoDigests": [], "size": str(50_000_000 + i), "pinned": i == 0}
            for i in range(image_count)
        ]
    }
    images = parse_images(document).images
    start = NOW - dt.timedelta(hours=1)
    image_gc = ImageGCSimulator(policy.image_gc, policy.kubelet_version, kubelet_start=start, feature_gates=policy.feature_gates)
    containers = [
        ContainerInfo(
            id=f"container-{i:04d}",
            pod_sandbox_id=f"sandbox-{i:04d}",
            name="app",
            state=CONTAINER_RUNNING,
            created_at_ns=0,
            image_id=images[2 * i].id,
            pod_uid=f"uid-{i}",
        )
        for i in range(running)
    ]
    image_gc.detect(images, containers, start)
    return GCReclaimer(image_gc, policy.container_gc, containers=containers)


def measure(function, repeats: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    for _ in range(max(3, repeats // 20)):
        function()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def bench_case(pod_count: int, case: str, repeats: int, images: int = 500) -> tuple[float, float]:
    policy = default_policy("1.35")
    specs, stats = make_pods(pod_count)
    available = 5 * GIB if case.startswith("disk-pressure") else 60 * GIB
    summary = make_summary(stats, nodefs_available=available)

    def one_pass() -> None:
        reclaimer = make_gc_reclaimer(images, policy) if case == "disk-pressure+gc" else None
        decision, _ = synchronize(summary, specs, policy, ManagerState(), NOW, reclaimer, layout=FsLayout.SINGLE)
        if case.startswith("disk-pressure") and not decision.evictions:
            raise SystemExit(f"benchmark setup error: no eviction in case {case}")

    if case == "disk-pressure+gc":
        # Build the reclaimer outside the timed region: the daemon keeps it between passes.
        reclaimer = make_gc_reclaimer(images, policy)

        def one_pass() -> None:
            synchronize(summary, specs, policy, ManagerState(), NOW, reclaimer, layout=FsLayout.SINGLE)

    if case == "disk-pressure+gc-tick":
        tick_reclaimer = make_gc_reclaimer(images, policy, running=220)
        passes = iter(range(1, 10**9))

        def one_pass() -> None:
            now = NOW + dt.timedelta(seconds=next(passes))
            synchronize(summary, specs, policy, ManagerState(), now, tick_reclaimer, layout=FsLayout.SINGLE)

    return measure(one_pass, repeats)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=300, help="timed passes per case (default 300)")
    args = parser.parse_args()

    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load}")
    print(f"{args.repeats} passes per case, one fresh ManagerState per pass")
    print(f"{'case':<21} {'pods':>5} {'median us':>10} {'p95 us':>10} {'us/pod':>8}")
    for case in ("steady", "disk-pressure", "disk-pressure+gc", "disk-pressure+gc-tick"):
        median, p95 = bench_case(110, case, args.repeats)
        print(f"{case:<21} {110:>5} {median * 1e6:>10.1f} {p95 * 1e6:>10.1f} {median * 1e6 / 110:>8.2f}")
    print()
    print(f"{'case':<18} {'pods':>5} {'median us':>10} {'p95 us':>10} {'us/pod':>8} {'vs n log n':>10}")
    base = None
    for count in (110, 250, 500, 1000):
        median, p95 = bench_case(count, "disk-pressure", max(30, args.repeats // (count // 110 or 1)))
        if base is None:
            base = median
        growth = (median / base) / (count * math.log(count) / (110 * math.log(110)))
        print(
            f"{'disk-pressure':<18} {count:>5} {median * 1e6:>10.1f} {p95 * 1e6:>10.1f} "
            f"{median * 1e6 / count:>8.2f} {growth:>10.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
