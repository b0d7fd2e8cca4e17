"""Smoke tests for benchmarks/: every benchmark script still runs in its short mode.

These tests check that the scripts work and report sane numbers. They assert no timing:
the numbers themselves belong in docs/benchmarks.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from harness import ContainerdNode

from benchmarks import run_all
from benchmarks.bench_sample import (
    Distribution,
    TargetNode,
    _is_sample_event,
    format_report,
    measure_daemon_memory,
    read_proc_status_bytes,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT_TIMEOUT_S = 600


def _script_params() -> list[object]:
    params: list[object] = []
    for script in run_all.benchmark_scripts():
        # bench_sample starts a private containerd unless given an endpoint
        marks = [pytest.mark.containerd] if script.name == "bench_sample.py" else []
        params.append(pytest.param(script, id=script.stem, marks=marks))
    return params


def _run(command: list[str], timeout_s: float = SCRIPT_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=REPO_ROOT, capture_output=True, text=True, check=False, timeout=timeout_s
    )


@pytest.mark.parametrize("script", _script_params())
def test_script_runs_in_quick_mode(script: Path) -> None:
    """Each bench_*.py has a short mode, exits 0 in it and prints a report."""
    arguments = run_all.quick_arguments(script)
    assert arguments is not None, (
        f"{script.name} needs a --quick option (or an entry in FALLBACK_QUICK_ARGUMENTS)"
    )

    result = _run([sys.executable, str(script), *arguments])

    assert result.returncode == 0, (
        f"{script.name} exited {result.returncode}; stderr: {result.stderr[-2000:]}"
    )
    if "skipped:" in result.stdout:
        pytest.skip(result.stdout.strip().splitlines()[-1])
    assert result.stdout.strip(), f"{script.name} printed nothing"


def test_bench_sample_on_given_endpoint(containerd_node: ContainerdNode, tmp_path: Path) -> None:
    """bench_sample --quick --cri-endpoint measures both parts on that runtime and writes consistent JSON."""
    output = tmp_path / "sample.json"

    result = _run(
        [
            sys.executable, "-m", "benchmarks.bench_sample", "--quick", "--json", str(output),
            "--cri-endpoint", containerd_node.endpoint, "--root-dir", str(containerd_node.kubelet_root),
        ]
    )  # fmt: skip

    assert result.returncode == 0, result.stderr[-2000:]
    assert f"external runtime at {containerd_node.endpoint}" in result.stdout
    report = json.loads(output.read_text())
    assert report["floor"]["count"] == 20
    assert report["sample"]["count"] == 20
    assert 0 < report["floor"]["median_us"] <= report["floor"]["p90_us"] <= report["floor"]["p99_us"]
    assert 0 < report["sample"]["median_us"] <= report["sample"]["p90_us"] <= report["sample"]["p99_us"]
    assert report["ratio_median"] == pytest.approx(
        report["sample"]["median_us"] / report["floor"]["median_us"]
    )
    assert report["round_ratios"] == [pytest.approx(report["ratio_median"])]
    assert report["daemon"]["samples"] == 5
    assert 0 < report["daemon"]["rss_bytes"] <= report["daemon"]["hwm_bytes"]
    assert [point[0] for point in report["daemon"]["checkpoints"]] == [1, 2, 3, 4, 5]
    assert report["daemon"]["checkpoints"][-1][1:] == [
        report["daemon"]["rss_bytes"],
        report["daemon"]["hwm_bytes"],
    ]
    assert "containerd" in report["machine"]["runtime"]
    assert "ratio sample / floor" in result.stdout
    assert "VmHWM" in result.stdout


def test_distribution_percentiles() -> None:
    """Percentiles use the inclusive method: for 1..100 us, p90 sits at rank 0.9 * 99 between 90 and 91."""
    durations_ns = [value * 1000 for value in range(1, 101)]

    distribution = Distribution.from_ns(durations_ns)

    assert distribution.count == 100
    assert distribution.median_us == pytest.approx(50.5)
    assert distribution.p90_us == pytest.approx(90.1)
    assert distribution.p99_us == pytest.approx(99.01)


def test_distribution_needs_two_values() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        Distribution.from_ns([1000])


def test_proc_status_of_this_process() -> None:
    """VmRSS and VmHWM come back in bytes, and the high-water mark is never below the current RSS."""
    memory = read_proc_status_bytes(os.getpid())

    assert memory["VmRSS"] > 1024 * 1024
    assert memory["VmHWM"] >= memory["VmRSS"]


def test_proc_status_missing_field() -> None:
    with pytest.raises(ValueError, match="NoSuchField"):
        read_proc_status_bytes(os.getpid(), ("VmRSS", "NoSuchField"))


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('{"event": "sample_taken", "level": "debug"}\n', True),
        ('{"event": "threshold_met", "level": "info"}\n', False),
        ("2026-01-01 [debug] sample_taken\n", False),
        ('["sample_taken"]\n', False),
    ],
    ids=["sample-event", "other-event", "console-line", "json-list"],
)
def test_sample_event_detection(line: str, expected: bool) -> None:
    assert _is_sample_event(line) is expected


def test_report_marks_missed_targets() -> None:
    """A ratio above 1.5 and a high-water mark above 64 MiB are both reported as missed."""
    mib = 1024 * 1024
    result = {
        "node": "test node",
        "machine": {
            "cpu_model": "cpu", "cpus": "2", "memory": "1.0 GiB", "kernel": "6", "python": "3.11",
            "runtime": "containerd 1.6", "date": "2026-01-01 00:00 UTC", "load_average_1m": "0.50",
        },
        "warmup": 1,
        "floor": {"count": 2, "median_us": 100.0, "p90_us": 110.0, "p99_us": 120.0},
        "sample": {"count": 2, "median_us": 200.0, "p90_us": 220.0, "p99_us": 240.0},
        "ratio_median": 2.0,
        "ratio_p90": 2.0,
        "ratio_p99": 2.0,
        "round_ratios": [1.9, 2.0, 2.1],
        "daemon": {
            "samples": 100, "interval_s": 0.01, "elapsed_s": 2.0,
            "rss_first_bytes": 60 * mib, "rss_bytes": 70 * mib, "hwm_bytes": 70 * mib, "command": [],
        },
    }  # fmt: skip

    text = format_report(result)

    assert "target: median ratio <= 1.5: MISSED" in text
    assert "median ratio of each round, sorted: 1.90, 2.00, 2.10" in text
    assert "target: VmHWM <= 64 MiB: MISSED" in text


def test_run_all_rejects_unknown_name() -> None:
    result = _run([sys.executable, "-m", "benchmarks.run_all", "--only", "bench_nothing"], timeout_s=60)

    assert result.returncode == 2
    assert "no benchmark named bench_nothing" in result.stderr


def test_daemon_memory_without_runtime(tmp_path: Path) -> None:
    """A daemon that never samples is killed at the timeout and reported as an error, not waited on forever.

    With 1,000 samples requested the daemon's own tick limit (2,010 ticks at 0.05 s) is far
    beyond the 3 s timeout, so only the watchdog can end the run in time.
    """
    node = TargetNode(
        endpoint=f"unix://{tmp_path}/missing.sock", root_dir=str(tmp_path), description="no runtime"
    )
    start = time.monotonic()

    with pytest.raises(RuntimeError, match="logged 0 of 1000 samples before it exited or 3 s passed"):
        measure_daemon_memory(node, samples=1000, interval_s=0.05, timeout_s=3.0)

    assert time.monotonic() - start < 30


def test_bench_sample_skips_without_prerequisites(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without root or containerd, bench_sample prints one skipped line with the reason and exits 0."""
    import harness

    from benchmarks import bench_sample

    monkeypatch.setattr(harness, "missing_prerequisites", lambda: ["not running as root"])

    exit_code = bench_sample.main(["--quick"])

    assert exit_code == 0
    assert (
        capsys.readouterr().out
        == "bench_sample: skipped: cannot start a private containerd: not running as root\n"
    )
