#!/usr/bin/env python3
"""Run the evictsim daemon against a sandboxed local containerd node (what `make demo` runs).

As root with containerd installed, this starts a private containerd in a temporary directory
(its root on a small loop-mounted ext4, the kubelet root dir on another), imports demo images,
runs a few host-network pods, and then runs

    python3 -m simulator daemon --cri-endpoint unix://<tmp>/containerd.sock
        --root-dir <tmp>/kubelet --interval 10

One pod, ``filler``, keeps writing into its writable layer until the image filesystem is about
90 % used, so the daemon crosses the kubelet's image GC high watermark (85 %) and the
``imagefs.available<15%`` hard threshold while you watch. Ctrl-C or SIGTERM stops the daemon,
the pods, containerd and its shims, unmounts everything and deletes the temporary directory.

Without a runtime (not root, no containerd binary, or containerd fails to start) it prints one
line saying so and runs the daemon on the recorded node in examples/recorded-node/ instead.

Usage:
    python3 scripts/demo.py [--interval SECONDS] [--fill-target-percent N] [-- DAEMON OPTIONS...]

Options after ``--`` are passed to ``simulator daemon`` unchanged.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType

import structlog

REPO_ROOT = Path(__file__).resolve().parent.parent
RECORDED_NODE = REPO_ROOT / "examples" / "recorded-node"
MIB = 1024 * 1024
DAEMON_STOP_TIMEOUT_S = 10.0

# The harness is test code under tests/harness. Import it by path, so it never becomes part
# of the installed product.
sys.path.insert(0, str(REPO_ROOT / "tests"))
sys.path.insert(1, str(REPO_ROOT))

from harness import (
    ContainerdNode,
    HarnessError,
    build_sized_image,
    build_workload_image,
    import_image,
    missing_prerequisites,
    run_pod,
    write_bytes_command,
)


class StopRequested(Exception):
    """Raised from the SIGINT and SIGTERM handlers to unwind into the cleanup code."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise StopRequested(signal.Signals(signum).name)


def say(message: str) -> None:
    """Print one demo status line to stderr, which keeps the daemon's JSON on stdout clean."""
    print(f"evictsim demo: {message}", file=sys.stderr, flush=True)


def daemon_command(
    extra: list[str],
    *,
    endpoint: str | None = None,
    root_dir: Path | None = None,
    interval_s: float = 10.0,
    image_gc_period_s: float = 300.0,
) -> list[str]:
    """Build the ``simulator daemon`` command line for a live node, or for the recording without one."""
    command = [sys.executable, "-m", "simulator", "daemon"]
    if endpoint is None:
        command += ["--replay", str(RECORDED_NODE) + "/"]
    else:
        command += ["--cri-endpoint", endpoint, "--root-dir", str(root_dir), "--interval", f"{interval_s:g}"]
        command += ["--image-gc-period", f"{image_gc_period_s:g}"]
    return command + extra


def daemon_problem() -> str | None:
    """Return why ``simulator daemon`` cannot run yet (its last error line), or None when ``--help`` works."""
    result = subprocess.run(
        [sys.executable, "-m", "simulator", "daemon", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if result.returncode == 0:
        return None
    lines = (result.stderr or result.stdout).strip().splitlines()
    return lines[-1] if lines else f"exit code {result.returncode}"


def run_replay(extra: list[str]) -> int:
    """Replace this process with the daemon replaying the recorded node."""
    command = daemon_command(extra)
    problem = daemon_problem()
    if problem is not None:
        say(f"the daemon cannot run yet ({problem}); it would run: {shlex.join(command)}")
        return 1
    if not RECORDED_NODE.is_dir():
        say(f"recorded node {RECORDED_NODE} is missing; it would run: {shlex.join(command)}")
        return 1
    os.chdir(REPO_ROOT)
    os.execv(command[0], command)


def fill_command(*, step_mib: int, steps: int, pause_s: int) -> list[str]:
    """Return a shell command writing ``steps`` random files of ``step_mib`` MiB, one every ``pause_s`` s."""
    script = (
        f"i=0; while [ $i -lt {steps} ]; do"
        f" /bin/dd if=/dev/urandom of=/fill-$i.bin bs=1M count={step_mib} 2>/dev/null; /bin/sync;"
        f" echo wrote $(( (i + 1) * {step_mib} )) MiB; i=$((i + 1)); /bin/sleep {pause_s}; done;"
        " exec /bin/sleep 2147483647"
    )
    return ["/bin/sh", "-c", script]


def populate_node(node: ContainerdNode, options: argparse.Namespace) -> None:
    """Import the demo images and start the demo pods on ``node``."""
    images_dir = node.base_dir / "images"
    workload = build_workload_image(images_dir, "evictsim.demo/busybox:1.36")
    import_image(node, workload)
    for name, size_mib in (("evictsim.demo/cache-warmer:1", 24), ("evictsim.demo/reports:2", 16)):
        import_image(node, build_sized_image(images_dir, name, size_mib * MIB))
    say(
        "imported 1 busybox workload image and 2 unused images (24 MiB and 16 MiB) that image GC could delete"
    )

    run_pod(node, "web", "demo", workload.name, write_bytes_command(12))
    run_pod(
        node,
        "batch",
        "demo",
        workload.name,
        write_bytes_command(8, "/scratch/data.bin"),
        empty_dirs={"scratch": "/scratch"},
    )
    run_pod(node, "idle", "demo", workload.name, ["/bin/sleep", "2147483647"])

    stats = os.statvfs(node.image_fs_mount)
    capacity = stats.f_blocks * stats.f_frsize
    available = stats.f_bavail * stats.f_frsize
    # Leave (100 - target) % of the capacity available once every step is written.
    to_fill = available - capacity * (100 - options.fill_target_percent) // 100
    steps = max(0, to_fill // (options.fill_step_mib * MIB))
    run_pod(
        node,
        "filler",
        "demo",
        workload.name,
        fill_command(step_mib=options.fill_step_mib, steps=steps, pause_s=options.fill_pause),
    )
    say(
        f"pods web (12 MiB in its writable layer), batch (8 MiB in an emptyDir), idle, and filler "
        f"({steps} x {options.fill_step_mib} MiB, one every {options.fill_pause} s, towards "
        f"{options.fill_target_percent} % image filesystem usage) are running"
    )


def run_live(options: argparse.Namespace, extra: list[str]) -> int:
    """Start the sandboxed node, run the daemon against it, and clean up on exit or signal."""
    signal.signal(signal.SIGINT, _raise_stop)
    signal.signal(signal.SIGTERM, _raise_stop)
    node: ContainerdNode | None = None
    daemon: subprocess.Popen[bytes] | None = None
    exit_code = 0
    try:
        try:
            node = ContainerdNode.start()
        except HarnessError as error:
            say(f"containerd failed to start ({error}); running the daemon on the recorded node instead")
            return run_replay(extra)
        say(
            f"containerd is serving {node.endpoint} (pid {node.pid}) with its image filesystem on "
            f"{node.image_fs.device} at {node.image_fs_mount} and the kubelet root on "
            f"{node.node_fs.device} at {node.kubelet_root}"
        )
        populate_node(node, options)

        command = daemon_command(
            extra,
            endpoint=node.endpoint,
            root_dir=node.kubelet_root,
            interval_s=options.interval,
            image_gc_period_s=options.image_gc_period,
        )
        problem = daemon_problem()
        if problem is not None:
            say(f"the daemon cannot run yet ({problem}); it would run: {shlex.join(command)}")
            say("the node stays up for manual use; press Ctrl-C to stop it")
            while True:
                signal.pause()
        say(f"running: {shlex.join(command)}")
        daemon = subprocess.Popen(command, cwd=REPO_ROOT)
        exit_code = daemon.wait()
        say(f"the daemon exited with code {exit_code}")
    except StopRequested as stop:
        say(f"{stop.args[0]} received, stopping")
    finally:
        # Ignore further signals so a second Ctrl-C cannot leave mounts or processes behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if daemon is not None and daemon.poll() is None:
            daemon.terminate()
            try:
                daemon.wait(timeout=DAEMON_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
        if node is not None:
            node.stop()
            say("node stopped: pods removed, containerd and shims stopped, mounts and loop devices released")
    return exit_code


def parse_arguments(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """Split ``argv`` at ``--`` into demo options and options passed on to the daemon."""
    extra: list[str] = []
    if "--" in argv:
        split = argv.index("--")
        argv, extra = argv[:split], argv[split + 1 :]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--interval",
        type=float,
        default=10.0,
        help="seconds between daemon samples (default: 10, the kubelet's eviction monitoring period)",
    )
    parser.add_argument(
        "--fill-target-percent",
        type=int,
        default=90,
        choices=range(1, 100),
        metavar="1-99",
        help="image filesystem usage in percent the filler pod writes towards (default: 90)",
    )
    parser.add_argument(
        "--fill-step-mib", type=int, default=8, help="MiB the filler pod writes per step (default: 8)"
    )
    parser.add_argument(
        "--fill-pause", type=int, default=2, help="seconds between the filler pod's steps (default: 2)"
    )
    parser.add_argument(
        "--image-gc-period",
        type=float,
        default=60.0,
        help="seconds between the daemon's image GC checks (default: 60, so the demo shows image GC "
        "sooner; the kubelet checks every 300)",
    )
    parser.add_argument("--replay", action="store_true", help="skip containerd and replay the recorded node")
    return parser.parse_args(argv), extra


def main(argv: list[str] | None = None) -> int:
    options, extra = parse_arguments(sys.argv[1:] if argv is None else argv)
    if options.replay:
        return run_replay(extra)

    reasons = missing_prerequisites()
    if reasons:
        say(
            f"no container runtime here ({'; '.join(reasons)}); running the daemon on the recorded node "
            f"in {RECORDED_NODE.relative_to(REPO_ROOT)}/ instead"
        )
        return run_replay(extra)
    return run_live(options, extra)


if __name__ == "__main__":
    # The harness logs with structlog. Send its lines to stderr with ours, so stdout carries
    # only the daemon's output.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    sys.exit(main())
