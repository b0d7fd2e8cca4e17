"""Benchmark what-if round trips over the API's Unix socket on a 110-pod, 500-image node.

Run: ``python3 benchmarks/bench_api.py [--duration 5] [--in-flight 1,2,4,8,16,64] [--quick]``.

The server (``--serve``) runs in its own process with a LiveState holding one sample. This
process is the load generator, a grpc.aio client that keeps a fixed number of Evaluate
requests in flight. For each request kind and each in-flight count it prints requests per second,
latency percentiles and the server process's CPU time per request. Little's law ties the
three together: requests in flight = rate x mean latency, so p99 <= 5 ms at 2,000 requests/s
needs about 10 or fewer in flight. It also prints where the servicer's Python time goes
(cProfile, in process) and the in-process evaluation rate of apply_what_if without gRPC. The
target is at least 2,000 requests/s with p99 <= 5 ms on 2 cores.

``--server aio`` serves Evaluate from a grpc.aio server that calls the servicer on its event
loop, a measurement prototype to compare with the daemon's thread-pool server (``threads``).

Request kinds: ``steady`` writes 1 GiB to imagefs, which crosses no threshold; ``pressure``
writes enough to meet imagefs.available, so the engine's pass ranks all 110 pods. ``health``
(thread-pool server only) sends grpc.health.v1 Check requests, the gRPC transport's floor.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import io
import logging
import os
import pstats
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simulator._proto.evictsim.v1 import evictsim_pb2 as pb
from simulator._proto.evictsim.v1 import evictsim_pb2_grpc as pb_grpc
from simulator.api.live import LiveState, Sample
from simulator.api.policy_adapter import load_policy
from simulator.api.whatif import FilesystemDelta, WhatIfSpec, apply_what_if
from simulator.pods import PodSpec, parse_pod_list
from simulator.snapshot import (
    ContainerStats,
    FsStats,
    MemoryStats,
    NodeStats,
    PodRef,
    PodStats,
    RlimitStats,
    Summary,
)

GIB = 2**30
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
IMAGEFS_CAPACITY = 200 * GIB
IMAGEFS_AVAILABLE = 120 * GIB
POD_COUNT = 110
IMAGE_COUNT = 500


def make_node() -> tuple[Summary, list[PodSpec], list[dict]]:
    """Build a dedicated-imagefs node with POD_COUNT pods and IMAGE_COUNT image records."""
    items, stats = [], []
    for i in range(POD_COUNT):
        name, namespace = f"pod-{i:03d}", f"ns-{i % 7}"
        items.append({
            "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{i}"},
            "spec": {
                "priority": (i * 37) % 5,
                "containers": [{"name": "app", "resources": {"requests": {"memory": "128Mi", "ephemeral-storage": "1Gi"}}}],
            },
        })
        rootfs = FsStats(time=NOW, used_bytes=(i % 13) * 100_000_000, inodes_used=100 + i)
        stats.append(PodStats(
            pod_ref=PodRef(name, namespace, f"uid-{i}"),
            containers=[ContainerStats("app", memory=MemoryStats(time=NOW, working_set_bytes=(i % 11) * 50_000_000), rootfs=rootfs)],
            memory=MemoryStats(time=NOW, working_set_bytes=(i % 11) * 50_000_000),
            ephemeral_storage=FsStats(time=NOW, used_bytes=(i % 13) * 100_000_000),
        ))
    pods = parse_pod_list({"kind": "PodList", "items": items})
    image_fs = FsStats(time=NOW, available_bytes=IMAGEFS_AVAILABLE, capacity_bytes=IMAGEFS_CAPACITY,
                       used_bytes=IMAGEFS_CAPACITY - IMAGEFS_AVAILABLE, inodes_free=10_000_000, inodes=13_000_000)
    node = NodeStats(
        node_name="bench-node",
        memory=MemoryStats(time=NOW, available_bytes=20 * GIB, working_set_bytes=12 * GIB),
        system_containers=[ContainerStats("pods", memory=MemoryStats(time=NOW, available_bytes=19 * GIB, working_set_bytes=11 * GIB))],
        fs=FsStats(time=NOW, available_bytes=60 * GIB, capacity_bytes=100 * GIB, inodes_free=5_000_000, inodes=6_500_000),
        image_fs=image_fs,
        container_fs=image_fs,
        rlimit=RlimitStats(time=NOW, maxpid=4_194_304, curproc=2_000),
    )
    images = [{"id": f"sha256:{i:064x}", "sizeBytes": 50_000_000 + i * 1000} for i in range(IMAGE_COUNT)]
    return Summary(node=node, pods=stats), pods, images


def make_sample() -> Sample:
    summary, pods, images = make_node()
    return Sample(summary=summary, policy=load_policy({}, "1.35"), sampled_at=NOW, pods=tuple(pods), images=tuple(images))


PRESSURE_BYTES = IMAGEFS_AVAILABLE - int(IMAGEFS_CAPACITY * 0.15) + GIB


def requests() -> dict[str, pb.WhatIf]:
    return {
        "steady": pb.WhatIf(filesystem_deltas=[pb.FilesystemDelta(filesystem="imagefs", used_bytes=GIB)]),
        "pressure": pb.WhatIf(filesystem_deltas=[pb.FilesystemDelta(filesystem="imagefs", used_bytes=PRESSURE_BYTES)]),
    }


# -- server process ---------------------------------------------------------------------------


def serve(socket_path: str, workers: int, kind: str, switch_interval_s: float | None) -> None:
    import structlog

    if switch_interval_s is not None:
        sys.setswitchinterval(switch_interval_s)

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    live = LiveState()
    live.publish(make_sample())
    if kind == "aio":
        asyncio.run(_serve_aio(live, socket_path))
        return

    from simulator.api.server import ServerOptions, start_server

    handle = start_server(live, ServerOptions(socket=f"unix://{socket_path}", api_workers=workers))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("ready", flush=True)
    stop.wait()
    handle.stop(0)


async def _serve_aio(live: LiveState, socket_path: str) -> None:
    """Serve only Evaluate from a grpc.aio server, calling the servicer on the event loop.

    NOTE: a prototype for measurement. The servicer's error path calls ``context.abort``
    synchronously, which an aio context does not support, so a failed request gets no proper
    status here. Health, reflection and the other RPCs are not served.
    """
    import grpc

    from simulator.api.servicer import WhatIfServicer

    servicer = WhatIfServicer(live)

    class AioWhatIf(pb_grpc.WhatIfServiceServicer):
        async def Evaluate(self, request: pb.WhatIf, context: object) -> pb.Decision:
            return servicer.Evaluate(request, context)

    server = grpc.aio.server()
    pb_grpc.add_WhatIfServiceServicer_to_server(AioWhatIf(), server)
    server.add_insecure_port(f"unix://{socket_path}")
    await server.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    await stop.wait()
    await server.stop(0)


# -- load generator ---------------------------------------------------------------------------


async def _load(socket_path: str, kind: str, duration_s: float, in_flight: int) -> list[float]:
    """Send ``kind`` requests with ``in_flight`` in flight for ``duration_s``; return their latencies in seconds.

    The kind ``health`` sends grpc.health.v1 Check requests, which do no evaluation, so their
    cost is the gRPC transport's floor on the same socket.
    """
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    latencies: list[float] = []
    async with grpc.aio.insecure_channel(f"unix://{socket_path}") as channel:
        if kind == "health":
            call = health_pb2_grpc.HealthStub(channel).Check
            request: Any = health_pb2.HealthCheckRequest()
        else:
            call = pb_grpc.WhatIfServiceStub(channel).Evaluate
            request = requests()[kind]
        for _ in range(20):  # warm up the channel and the server's caches
            await call(request)
        deadline = time.perf_counter() + duration_s

        async def worker() -> None:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                await call(request, timeout=10)
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(worker() for _ in range(in_flight)))
    return latencies


def cpu_seconds(pid: int) -> float:
    """Return the user plus system CPU time of process ``pid`` from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def in_process_rate(kind: str, seconds: float) -> float:
    sample = LiveState().publish(make_sample())
    size = GIB if kind == "steady" else PRESSURE_BYTES
    spec = WhatIfSpec(filesystem_deltas=(FilesystemDelta("imagefs", size),))
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        apply_what_if(sample, spec)
        count += 1
    return count / (time.perf_counter() - started)


class _Context:
    """The part of grpc.ServicerContext the servicer uses when a request fails."""

    def abort(self, code: object, details: str) -> None:
        raise RuntimeError(f"{code}: {details}")


def profile_servicer(kind: str, count: int) -> str:
    from simulator.api.servicer import WhatIfServicer

    live = LiveState()
    live.publish(make_sample())
    servicer = WhatIfServicer(live)
    request, context = requests()[kind], _Context()
    servicer.Evaluate(request, context)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(count):
        servicer.Evaluate(request, context)
    profiler.disable()
    output = io.StringIO()
    pstats.Stats(profiler, stream=output).sort_stats("tottime").print_stats(15)
    lines = [line for line in output.getvalue().splitlines() if line.strip()]
    return "\n".join("    " + line for line in lines[2:])


def parse_in_flight(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"expected counts of at least 1, got {text!r}")
    return counts


def start_server_process(socket_path: str, workers: int, kind: str, switch_interval_s: float | None) -> subprocess.Popen[str]:
    """Start the server process and wait until it prints ``ready``."""
    command = [sys.executable, __file__, "--serve", socket_path, "--workers", str(workers), "--server", kind]
    if switch_interval_s is not None:
        command += ["--switch-interval", str(switch_interval_s)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    for line in server.stdout:
        if line.strip() == "ready":
            return server
    server.wait(timeout=30)
    raise SystemExit(f"the server process exited with status {server.returncode} before it was ready")


def stop_server_process(server: subprocess.Popen[str]) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def run_curve(socket_path: str, server_pid: int, in_flight_counts: list[int], duration: float, kinds: list[str]) -> None:
    print(f"{'kind':<10}{'in flight':>10}{'requests':>10}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
          f"{'server CPU us/req':>19}")
    for kind in kinds:
        for in_flight in in_flight_counts:
            cpu_before = cpu_seconds(server_pid)
            latencies = asyncio.run(_load(socket_path, kind, duration, in_flight))
            cpu_per_request = (cpu_seconds(server_pid) - cpu_before) / len(latencies)
            rate = len(latencies) / duration
            print(f"{kind:<10}{in_flight:>10}{len(latencies):>10}{rate:>9.0f}{percentile(latencies, 0.5) * 1e3:>9.2f}"
                  f"{percentile(latencies, 0.99) * 1e3:>9.2f}{max(latencies) * 1e3:>9.2f}{cpu_per_request * 1e6:>19.0f}",
                  flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of load per kind and in-flight count (default 5)")
    parser.add_argument("--in-flight", type=parse_in_flight, default=[1, 2, 4, 8, 16, 64], metavar="N,N,...",
                        help="requests kept in flight, one measurement each (default 1,2,4,8,16,64)")
    parser.add_argument("--workers", type=int, default=8, help="server threads with --server threads (default 8)")
    parser.add_argument("--server", choices=("threads", "aio"), default="threads",
                        help="the daemon's thread-pool server, or the grpc.aio prototype (default threads)")
    parser.add_argument("--switch-interval", type=float, metavar="SECONDS",
                        help="the server's sys.setswitchinterval, how often a thread offers the GIL (Python's default 0.005)")
    parser.add_argument("--quick", action="store_true", help="a 1-second run per point, to check the benchmark works")
    parser.add_argument("--serve", metavar="SOCKET", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.workers, args.server, args.switch_interval)
        return 0
    duration = 1.0 if args.quick else args.duration

    load = os.getloadavg()
    print(f"node: {POD_COUNT} pods, {IMAGE_COUNT} images; cores: {os.cpu_count()}; server: {args.server}"
          f"{f' with {args.workers} threads' if args.server == 'threads' else ''}; "
          f"switch interval {args.switch_interval or sys.getswitchinterval():g} s; {duration:g} s per point; "
          f"load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    # The server removes its socket when it stops, and the directory goes with the context.
    with tempfile.TemporaryDirectory(prefix="evictsim-bench-") as directory:
        socket_path = os.path.join(directory, "api.sock")
        server = start_server_process(socket_path, args.workers, args.server, args.switch_interval)
        try:
            # The aio prototype serves no health service, so it gets no transport floor.
            kinds = [*requests(), "health"] if args.server == "threads" else list(requests())
            run_curve(socket_path, server.pid, args.in_flight, duration, kinds)
        finally:
            stop_server_process(server)
    load = os.getloadavg()
    print(f"load average at end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")

    print("\nwhere the servicer's Python time goes (cProfile of WhatIfServicer.Evaluate in process,")
    print("without the transport, which runs in gRPC's C core; top 15 by own time):")
    for kind in ("steady", "pressure"):
        print(f"  {kind}:")
        print(profile_servicer(kind, 200 if args.quick else 2000))

    print("\nin-process apply_what_if (no gRPC):")
    for kind in ("steady", "pressure"):
        rate = in_process_rate(kind, 0.5 if args.quick else 3.0)
        print(f"  {kind:<10}{rate:>10.0f} evaluations/s ({1e6 / rate:.0f} us each)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
