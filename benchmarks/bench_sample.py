"""Measure one live sample against the raw CRI and statfs floor, and the daemon's memory after 100 samples.

Part 1, sample cost. One product sample is :meth:`simulator.probes.sampler.Sampler.sample`
without memory, pid or pod probes: CRI ImageFsInfo through the read-only client, the cAdvisor
device lookup and statfs for node.fs and imageFs, and containerFs (a copy of imageFs under the
CRI stats provider), with provenance. The floor is the least any client must do for the same
numbers: one ImageFsInfo call through the generated stub on a plain gRPC channel (with the same
2 s deadline) plus one ``os.statvfs`` of the image filesystem. Both run in the same process
against the same runtime, interleaved and in alternating order so that drift affects both
alike. Target: median sample <= 1.5 x median floor. The benchmark then times each part of a
sample alone, and prints a cProfile of the sample when the target is missed (or ``--profile``).

Part 2, daemon memory. ``python3 -m simulator daemon`` runs in a subprocess against the same
runtime at a short ``--interval``, with debug logging and its what-if API on a private Unix
socket. When its ``sample_taken`` event has been logged 100 times, VmRSS and VmHWM are read
from ``/proc/<pid>/status`` and the daemon gets SIGTERM. Target: VmHWM <= 64 MiB.

Without ``--cri-endpoint`` the benchmark starts its own containerd with the test harness
(tests/harness: containerd on a loop-mounted ext4, which needs root) and runs a few idle pods
in it. Usage::

    python3 -m benchmarks.bench_sample [--samples N] [--pods N] [--json FILE] [--profile]
    python3 -m benchmarks.bench_sample --cri-endpoint unix:///run/containerd/containerd.sock --root-dir /var/lib/kubelet
    python3 -m benchmarks.bench_sample --quick      # a few samples, to check that it still runs

When it cannot run here (no root, no containerd), it prints one ``skipped:`` line and exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import dataclasses
import io
import json
import os
import platform
import pstats
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import grpc

from simulator._proto.runtime.v1 import api_pb2, api_pb2_grpc
from simulator.cri.client import CriClient, open_channel
from simulator.probes.fsinfo import FsInfoProbe
from simulator.probes.mountinfo import MountTable
from simulator.probes.sampler import Sampler

MIB = 1024 * 1024
SAMPLE_RATIO_TARGET = 1.5
RSS_TARGET_BYTES = 64 * MIB
CRI_TIMEOUT_S = 2.0
DAEMON_SAMPLES = 100
# The daemon accepts any interval above 0, and APScheduler coalesces ticks that overrun it.
DAEMON_INTERVAL_S = 0.01
DAEMON_STOP_TIMEOUT_S = 10.0
PROFILE_LINES = 25


class BenchmarkSkipped(Exception):
    """The machine cannot run this benchmark (for example, not root, or containerd is missing)."""


# ---------------------------------------------------------------------------------------------
# statistics


@dataclasses.dataclass(frozen=True)
class Distribution:
    """Median, 90th and 99th percentile of a set of durations, in microseconds."""

    count: int
    median_us: float
    p90_us: float
    p99_us: float

    @classmethod
    def from_ns(cls, durations_ns: list[int]) -> Distribution:
        if len(durations_ns) < 2:
            raise ValueError(
                f"invalid durations: percentiles need at least 2 values, got {len(durations_ns)}"
            )
        micros = [value / 1000 for value in durations_ns]
        cuts = statistics.quantiles(micros, n=100, method="inclusive")
        return cls(count=len(micros), median_us=statistics.median(micros), p90_us=cuts[89], p99_us=cuts[98])


# ---------------------------------------------------------------------------------------------
# the node under test


@dataclasses.dataclass
class TargetNode:
    """The CRI endpoint and kubelet root dir measured, and the harness node when we started one."""

    endpoint: str
    root_dir: str
    description: str
    harness_node: Any = None


def _import_harness() -> Any:
    """Import the test harness by path, because it is test code and never part of the installed product."""
    tests_dir = str(REPO_ROOT / "tests")
    if tests_dir not in sys.path:
        sys.path.insert(0, tests_dir)
    import harness

    return harness


@contextlib.contextmanager
def target_node(options: argparse.Namespace) -> Iterator[TargetNode]:
    """Yield the node to measure: the given endpoint, or a private containerd stopped on exit."""
    if options.cri_endpoint:
        yield TargetNode(
            endpoint=options.cri_endpoint,
            root_dir=options.root_dir,
            description=f"external runtime at {options.cri_endpoint}",
        )
        return

    harness = _import_harness()
    reasons = harness.missing_prerequisites()
    if reasons:
        raise BenchmarkSkipped("cannot start a private containerd: " + "; ".join(reasons))
    node = harness.ContainerdNode.start()
    try:
        _run_idle_pods(harness, node, options.pods)
        yield TargetNode(
            endpoint=node.endpoint,
            root_dir=str(node.kubelet_root),
            description=(
                f"private containerd (test harness, {node.snapshotter} snapshotter) with {options.pods} idle "
                f"pods; imagefs {node.image_fs.device}, nodefs {node.node_fs.device} (loop-mounted ext4)"
            ),
            harness_node=node,
        )
    finally:
        node.stop()


def _run_idle_pods(harness: Any, node: Any, count: int) -> None:
    if count == 0:
        return
    image = harness.build_workload_image(node.base_dir / "images", "evictsim.bench/busybox:1")
    harness.import_image(node, image)
    for index in range(count):
        harness.run_pod(node, f"idle-{index}", "bench", image.name, ["/bin/sleep", "2147483647"])


# ---------------------------------------------------------------------------------------------
# part 1: one sample against the floor


class FloorProbe:
    """The bare minimum for imageFs numbers: a generated-stub ImageFsInfo call and one statvfs."""

    def __init__(self, endpoint: str) -> None:
        self.channel = grpc.insecure_channel(endpoint)
        self.stub = api_pb2_grpc.ImageServiceStub(self.channel)
        reply = self.stub.ImageFsInfo(api_pb2.ImageFsInfoRequest(), timeout=CRI_TIMEOUT_S)
        if not reply.image_filesystems:
            raise RuntimeError(f"{endpoint}: ImageFsInfo returned no image_filesystems, so there is no floor")
        self.statfs_path = reply.image_filesystems[0].fs_id.mountpoint

    def run_once(self) -> None:
        self.stub.ImageFsInfo(api_pb2.ImageFsInfoRequest(), timeout=CRI_TIMEOUT_S)
        os.statvfs(self.statfs_path)

    def close(self) -> None:
        self.channel.close()


def _time_once(operation: Callable[[], object]) -> int:
    start = time.perf_counter_ns()
    operation()
    return time.perf_counter_ns() - start


def measure_sample_cost(
    sampler: Sampler, floor: FloorProbe, *, samples: int, warmup: int
) -> tuple[Distribution, Distribution]:
    """Return (floor, sample) distributions from ``samples`` interleaved runs of each."""
    for _ in range(warmup):
        floor.run_once()
        sampler.sample()

    floor_ns: list[int] = []
    sample_ns: list[int] = []
    for index in range(samples):
        # alternate which runs first, so neither always follows the other's cache effects
        if index % 2 == 0:
            floor_ns.append(_time_once(floor.run_once))
            sample_ns.append(_time_once(sampler.sample))
        else:
            sample_ns.append(_time_once(sampler.sample))
            floor_ns.append(_time_once(floor.run_once))
    return Distribution.from_ns(floor_ns), Distribution.from_ns(sample_ns)


@dataclasses.dataclass
class _StoredReply:
    """A CRI source that returns one stored ImageFsInfo reply, to time the sample without its RPC."""

    endpoint: str
    reply: Any

    def image_fs_info(self) -> Any:
        return self.reply

    def list_images(self) -> list[Any]:
        return []


def _median_us(operation: Callable[[], object], runs: int) -> float:
    for _ in range(max(1, runs // 20)):
        operation()
    return statistics.median(_time_once(operation) for _ in range(runs)) / 1000


def measure_breakdown(sampler: Sampler, cri: CriClient, floor: FloorProbe, *, runs: int) -> dict[str, float]:
    """Return the median cost in microseconds of each part of a sample, each timed alone in its own loop.

    The parts do not add up exactly to the interleaved sample median: the runtime and the CPU
    caches behave differently when one call repeats back to back.
    """
    request = api_pb2.ImageFsInfoRequest()
    read_only_channel = open_channel(cri.endpoint)
    read_only_stub = api_pb2_grpc.ImageServiceStub(read_only_channel)
    stored = Sampler(
        _StoredReply(cri.endpoint, cri.image_fs_info()),
        sampler.fs_probe,
        root_dir=sampler.root_dir,
        node_name="bench",
    )
    parts: dict[str, Callable[[], object]] = {
        "ImageFsInfo, generated stub, plain channel": lambda: floor.stub.ImageFsInfo(
            request, timeout=CRI_TIMEOUT_S
        ),
        "ImageFsInfo, generated stub, read-only channel": lambda: read_only_stub.ImageFsInfo(
            request, timeout=CRI_TIMEOUT_S
        ),
        "ImageFsInfo, CriClient (adds translation)": cri.image_fs_info,
        "Sampler.sample with a stored CRI reply": stored.sample,
        "GetDirFsInfo of the kubelet root dir": lambda: sampler.fs_probe.dir_fs_info(sampler.root_dir),
        "os.statvfs of the image filesystem": lambda: os.statvfs(floor.statfs_path),
    }
    # NOTE: _boot_time is private. It is timed because the profile shows its cost, and skipped if renamed.
    boot_time = getattr(sampler, "_boot_time", None)
    if callable(boot_time):
        parts["boot time from /proc/stat (Sampler._boot_time)"] = boot_time
    try:
        return {name: _median_us(operation, runs) for name, operation in parts.items()}
    finally:
        read_only_channel.close()


def profile_samples(sampler: Sampler, samples: int) -> str:
    """Run ``samples`` product samples under cProfile and return the top functions by own and total time."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(samples):
        sampler.sample()
    profiler.disable()

    report = io.StringIO()
    stats = pstats.Stats(profiler, stream=report)
    report.write(f"cProfile of {samples} samples, by own time:\n")
    stats.sort_stats("tottime").print_stats(PROFILE_LINES)
    report.write("by cumulative time:\n")
    stats.sort_stats("cumulative").print_stats(PROFILE_LINES)
    return report.getvalue()


# ---------------------------------------------------------------------------------------------
# part 2: the daemon's memory


@dataclasses.dataclass(frozen=True)
class DaemonMemory:
    """The daemon's memory from /proc/<pid>/status after its first and its last counted sample.

    ``checkpoints`` lists (samples so far, VmRSS, VmHWM) at every tenth of the run, so growth
    and short peaks can be placed in time.
    """

    samples: int
    interval_s: float
    elapsed_s: float
    rss_first_bytes: int
    rss_bytes: int
    hwm_bytes: int
    command: list[str]
    checkpoints: list[tuple[int, int, int]] = dataclasses.field(default_factory=list)
    import_only_rss_bytes: int | None = None


def read_proc_status_bytes(pid: int, fields: tuple[str, ...] = ("VmRSS", "VmHWM")) -> dict[str, int]:
    """Return the named ``/proc/<pid>/status`` fields in bytes (the file gives them in kB, 1024 bytes)."""
    found: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in fields:
            number, unit = value.split()
            if unit != "kB":
                raise ValueError(f"/proc/{pid}/status: unexpected unit {unit!r} for {key}")
            found[key] = int(number) * 1024
    missing = set(fields) - set(found)
    if missing:
        raise ValueError(f"/proc/{pid}/status has no {', '.join(sorted(missing))}")
    return found


#: Modules the daemon imports before its first sample, for the import-only baseline.
DAEMON_MODULES = (
    "simulator.cli.main",
    "simulator.cli.daemon",
    "simulator.daemon.daemon",
    "simulator.daemon.live",
    "simulator.policy.load",
    "simulator.api.server",
)


def measure_import_rss() -> int | None:
    """Return VmRSS in bytes of a fresh Python that only imports :data:`DAEMON_MODULES`, or None on failure."""
    script = (
        "import importlib, sys\n"
        f"for name in {DAEMON_MODULES!r}: importlib.import_module(name)\n"
        "for line in open('/proc/self/status'):\n"
        "    if line.startswith('VmRSS:'): print(int(line.split()[1]) * 1024)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if result.returncode != 0 or not result.stdout.strip():
        return None
    return int(result.stdout.split()[0])


def daemon_command(
    node: TargetNode, *, api_socket: Path, interval_s: float, max_ticks: int, extra: Sequence[str] = ()
) -> list[str]:
    """Build the daemon command: debug logs (for ``sample_taken``), the API on a private socket, then ``extra``."""
    return [
        sys.executable, "-m", "simulator", "daemon",
        "--cri-endpoint", node.endpoint,
        "--root-dir", node.root_dir,
        "--interval", f"{interval_s:g}",
        "--ticks", str(max_ticks),
        "--log-level", "debug",
        "--socket", f"unix://{api_socket}",
        *extra,
    ]  # fmt: skip


def measure_daemon_memory(
    node: TargetNode, *, samples: int, interval_s: float, timeout_s: float, extra: Sequence[str] = ()
) -> DaemonMemory:
    """Run the daemon until it has logged ``samples`` samples, read its memory, then stop it with SIGTERM.

    ``--ticks`` is set well above ``samples`` only as a safety stop, and a timer kills the daemon
    after ``timeout_s``. Raises RuntimeError when the daemon exits (or is killed) before it has
    logged ``samples`` samples, with the tail of its stderr.
    """
    workdir = Path(tempfile.mkdtemp(prefix="evictsim-bench-"))
    stderr_path = workdir / "daemon.stderr"
    command = daemon_command(
        node, api_socket=workdir / "api.sock", interval_s=interval_s, max_ticks=samples * 2 + 10, extra=extra
    )
    try:
        with open(stderr_path, "wb") as stderr_file:
            process = subprocess.Popen(
                command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=stderr_file, text=True, bufsize=1
            )
            # readline blocks, so the deadline is enforced by killing the daemon, which ends its output
            watchdog = threading.Timer(timeout_s, process.kill)
            watchdog.start()
            try:
                return _watch_daemon(process, command, samples, interval_s, timeout_s, stderr_path)
            finally:
                watchdog.cancel()
                _stop_process(process)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _watch_daemon(
    process: subprocess.Popen[str],
    command: list[str],
    samples: int,
    interval_s: float,
    timeout_s: float,
    stderr_path: Path,
) -> DaemonMemory:
    assert process.stdout is not None
    start = time.monotonic()
    counted = 0
    rss_first = 0
    checkpoint_every = max(1, samples // 10)
    checkpoints: list[tuple[int, int, int]] = []
    for line in process.stdout:
        if not _is_sample_event(line):
            continue
        counted += 1
        if counted == 1:
            rss_first = read_proc_status_bytes(process.pid)["VmRSS"]
        if counted % checkpoint_every == 0 and counted < samples:
            memory = read_proc_status_bytes(process.pid)
            checkpoints.append((counted, memory["VmRSS"], memory["VmHWM"]))
        if counted == samples:
            memory = read_proc_status_bytes(process.pid)
            return DaemonMemory(
                samples=counted,
                interval_s=interval_s,
                elapsed_s=time.monotonic() - start,
                rss_first_bytes=rss_first,
                rss_bytes=memory["VmRSS"],
                hwm_bytes=memory["VmHWM"],
                command=command,
                checkpoints=[*checkpoints, (counted, memory["VmRSS"], memory["VmHWM"])],
            )
    tail = " | ".join(stderr_path.read_text(errors="replace").strip().splitlines()[-5:])
    raise RuntimeError(
        f"the daemon logged {counted} of {samples} samples before it exited or {timeout_s:g} s passed "
        f"(exit code {process.poll()}). Last lines of its stderr: {tail or '(empty)'}"
    )


def _is_sample_event(line: str) -> bool:
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return False
    return isinstance(event, dict) and event.get("event") == "sample_taken"


def _stop_process(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=DAEMON_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout is not None:
        process.stdout.close()


# ---------------------------------------------------------------------------------------------
# the machine


def describe_machine(runtime_version: str) -> dict[str, str]:
    """Return the facts docs/benchmarks.md records beside each number."""
    return {
        "cpu_model": _lscpu_model_name(),
        "cpus": str(os.cpu_count()),
        "memory": f"{_mem_total_bytes() / 1024**3:.1f} GiB",
        "kernel": platform.release(),
        "python": platform.python_version(),
        "runtime": runtime_version,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        # other work on the machine shows up in the numbers, so record how busy it was
        "load_average_1m": f"{os.getloadavg()[0]:.2f}",
    }


def _lscpu_model_name() -> str:
    try:
        output = subprocess.run(["lscpu"], capture_output=True, text=True, check=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown (lscpu failed)"
    for line in output.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return "unknown (no Model name in lscpu)"


def _mem_total_bytes() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


# ---------------------------------------------------------------------------------------------
# report


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def format_report(result: dict[str, Any]) -> str:
    """Render the result dict as the plain-text report the benchmark prints."""
    machine = result["machine"]
    floor, sample = result["floor"], result["sample"]
    lines = [
        "bench_sample: one live sample against the raw floor, and the daemon's memory",
        f"node: {result['node']}",
        "machine: {cpu_model}, {cpus} CPUs, {memory}, kernel {kernel}, Python {python}, {runtime}; {date}, "
        "load average {load_average_1m}".format(**machine),
        "",
        f"{'microseconds':<42} {'median':>9} {'p90':>9} {'p99':>9}",
        (
            f"{'floor (stub ImageFsInfo + 1 statvfs)':<42} {floor['median_us']:>9.1f} {floor['p90_us']:>9.1f} "
            f"{floor['p99_us']:>9.1f}"
        ),
        (
            f"{'sample (Sampler.sample, no pod stats)':<42} {sample['median_us']:>9.1f} {sample['p90_us']:>9.1f} "
            f"{sample['p99_us']:>9.1f}"
        ),
        (
            f"{'ratio sample / floor':<42} {result['ratio_median']:>9.2f} {result['ratio_p90']:>9.2f} "
            f"{result['ratio_p99']:>9.2f}"
        ),
        f"runs: {sample['count']} of each per round, interleaved, after {result['warmup']} warm-up runs",
        "median ratio of each round, sorted: "
        + ", ".join(f"{ratio:.2f}" for ratio in result.get("round_ratios", [])),
        f"target: median ratio <= {SAMPLE_RATIO_TARGET}: {verdict(result['ratio_median'] <= SAMPLE_RATIO_TARGET)}",
    ]
    breakdown = result.get("breakdown_us")
    if breakdown:
        lines += ["", "parts of a sample, each timed alone (median microseconds):"]
        lines += [f"  {name:<52} {value:>9.1f}" for name, value in breakdown.items()]
    daemon = result.get("daemon")
    if daemon is not None:
        lines += [
            "",
            (
                f"daemon after {daemon['samples']} samples at --interval {daemon['interval_s']:g} "
                f"({daemon['elapsed_s']:.1f} s): VmRSS {daemon['rss_bytes'] / MIB:.1f} MiB, "
                f"VmHWM {daemon['hwm_bytes'] / MIB:.1f} MiB (VmRSS after the first sample: "
                f"{daemon['rss_first_bytes'] / MIB:.1f} MiB)"
            ),
            f"target: VmHWM <= {RSS_TARGET_BYTES // MIB} MiB: {verdict(daemon['hwm_bytes'] <= RSS_TARGET_BYTES)}",
            f"daemon command: {shlex.join(daemon['command'])}",
        ]
        if daemon.get("checkpoints"):
            points = ", ".join(
                f"{count}: {rss / MIB:.1f}/{hwm / MIB:.1f}" for count, rss, hwm in daemon["checkpoints"]
            )
            lines.append(f"VmRSS/VmHWM in MiB by samples so far: {points}")
        if daemon.get("import_only_rss_bytes"):
            lines.append(
                f"for comparison, a Python that only imports the daemon's modules: VmRSS "
                f"{daemon['import_only_rss_bytes'] / MIB:.1f} MiB"
            )
    elif result.get("daemon_error"):
        lines += ["", f"daemon: not measured: {result['daemon_error']}"]
    if result.get("profile"):
        lines += ["", result["profile"]]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# main


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python3 -m benchmarks.bench_sample",
        description="Measure one live sample against the raw CRI + statfs floor, and the daemon's memory.",
    )
    parser.add_argument(
        "--samples", type=int, default=2000, help="timed runs of the floor and of the sample (default 2000)"
    )
    parser.add_argument(
        "--warmup", type=int, default=50, help="untimed runs of each before timing (default 50)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="repeat the floor/sample comparison this many times and report the median round (default 1)",
    )

    parser.add_argument(
        "--daemon-samples",
        type=int,
        default=DAEMON_SAMPLES,
        help=f"daemon samples before its memory is read (default {DAEMON_SAMPLES}; 0 skips the daemon)",
    )
    parser.add_argument(
        "--daemon-interval",
        type=float,
        default=DAEMON_INTERVAL_S,
        help=f"the daemon's --interval in seconds (default {DAEMON_INTERVAL_S:g})",
    )
    parser.add_argument(
        "--daemon-option",
        action="append",
        default=[],
        metavar="OPTION",
        help="pass OPTION to the daemon, e.g. --daemon-option=--history-retention=600 (repeatable)",
    )

    parser.add_argument(
        "--pods", type=int, default=3, help="idle pods to run on the private containerd (default 3)"
    )
    parser.add_argument(
        "--cri-endpoint", metavar="URL", help="measure this runtime instead of starting a private containerd"
    )
    parser.add_argument(
        "--root-dir",
        default="/var/lib/kubelet",
        help="kubelet root dir with --cri-endpoint (default /var/lib/kubelet)",
    )

    parser.add_argument(
        "--profile", action="store_true", help="print a cProfile of the sample even when the target is met"
    )
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    parser.add_argument(
        "--quick", action="store_true", help="a few runs of each part, to check that the benchmark works"
    )

    options = parser.parse_args(argv)
    if options.quick:
        options.samples, options.warmup, options.daemon_samples, options.pods = 20, 2, 5, 0
    if options.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {options.rounds}")
    if options.samples < 2:
        parser.error(f"--samples must be at least 2 for percentiles, got {options.samples}")
    return options


def run(options: argparse.Namespace) -> dict[str, Any]:
    """Run both parts against the target node and return the results as a JSON-ready dict."""
    with target_node(options) as node:
        result = run_sample_part(node, options)
        if options.daemon_samples > 0:
            result.update(run_daemon_part(node, options))
    return result


def run_sample_part(node: TargetNode, options: argparse.Namespace) -> dict[str, Any]:
    """Compare the sample with the floor in ``options.rounds`` rounds, then time the parts and profile."""
    cri = CriClient(node.endpoint, timeout_s=CRI_TIMEOUT_S)
    floor = FloorProbe(node.endpoint)
    try:
        version = cri.version()
        sampler = Sampler(
            cri,
            FsInfoProbe(MountTable.from_file("/proc/self/mountinfo")),
            root_dir=node.root_dir,
            node_name="bench",
        )
        rounds = [
            measure_sample_cost(sampler, floor, samples=options.samples, warmup=options.warmup)
            for _ in range(options.rounds)
        ]

        # report the round whose median ratio is the median, and list every round's ratio
        rounds.sort(key=lambda pair: pair[1].median_us / pair[0].median_us)
        floor_cost, sample_cost = rounds[len(rounds) // 2]
        ratios = {
            name: getattr(sample_cost, name) / getattr(floor_cost, name)
            for name in ("median_us", "p90_us", "p99_us")
        }
        result: dict[str, Any] = {
            "node": node.description,
            "machine": describe_machine(f"{version.runtime_name} {version.runtime_version}"),
            "warmup": options.warmup,
            "floor": dataclasses.asdict(floor_cost),
            "sample": dataclasses.asdict(sample_cost),
            "ratio_median": ratios["median_us"],
            "ratio_p90": ratios["p90_us"],
            "ratio_p99": ratios["p99_us"],
            "round_ratios": [pair[1].median_us / pair[0].median_us for pair in rounds],
        }

        result["breakdown_us"] = measure_breakdown(sampler, cri, floor, runs=options.samples)
        if options.profile or ratios["median_us"] > SAMPLE_RATIO_TARGET:
            result["profile"] = profile_samples(sampler, min(options.samples, 500))
        return result
    finally:
        floor.close()
        cri.close()


def run_daemon_part(node: TargetNode, options: argparse.Namespace) -> dict[str, Any]:
    """Measure the daemon's memory; return ``{"daemon": ...}``, or ``{"daemon_error": ...}`` when it failed."""
    timeout_s = options.daemon_samples * (options.daemon_interval + 1.0) + 60
    try:
        memory = measure_daemon_memory(
            node,
            samples=options.daemon_samples,
            interval_s=options.daemon_interval,
            extra=options.daemon_option,
            timeout_s=timeout_s,
        )
    except RuntimeError as error:
        return {"daemon_error": str(error)}
    memory = dataclasses.replace(memory, import_only_rss_bytes=measure_import_rss())
    return {"daemon": dataclasses.asdict(memory)}


def main(argv: list[str] | None = None) -> int:
    options = parse_arguments(argv)
    try:
        result = run(options)
    except BenchmarkSkipped as skipped:
        print(f"bench_sample: skipped: {skipped}")
        return 0
    print(format_report(result))
    if options.json:
        Path(options.json).write_text(json.dumps(result, indent=2) + "\n")
    return 1 if result.get("daemon_error") else 0


if __name__ == "__main__":
    sys.exit(main())
