"""Run every ``benchmarks/bench_*.py`` one after another and print their output (what ``make bench`` runs).

Each script runs in its own Python process from the repository root, in name order, so one
benchmark's imports and garbage do not weigh on the next. Usage::

    python3 -m benchmarks.run_all [--quick] [--only NAME ...]

``--quick`` runs each script in a short mode that only checks it still works: ``--quick`` when
the script offers it, otherwise the small-run options in :data:`FALLBACK_QUICK_ARGUMENTS`.
The exit status is 1 when any script fails, after all of them have run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

BENCHMARKS_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCHMARKS_DIR.parent

#: Small-run options for scripts written before the ``--quick`` convention. A script that
#: offers ``--quick`` itself never uses this table.
FALLBACK_QUICK_ARGUMENTS: dict[str, list[str]] = {
    "bench_eviction.py": ["--repeats", "3"],
    "bench_gc.py": ["--repeat", "2"],
}


def benchmark_scripts(directory: Path = BENCHMARKS_DIR) -> list[Path]:
    """Return the ``bench_*.py`` files in ``directory``, in name order."""
    return sorted(directory.glob("bench_*.py"))


def script_help(script: Path) -> str:
    """Return the script's ``--help`` output (empty when it fails), to find out which options it takes."""
    result = subprocess.run(
        [sys.executable, str(script), "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    return result.stdout if result.returncode == 0 else ""


def quick_arguments(script: Path) -> list[str] | None:
    """Return the options for a short run of ``script``, or None when it has no known short mode."""
    if "--quick" in script_help(script):
        return ["--quick"]
    return FALLBACK_QUICK_ARGUMENTS.get(script.name)


def run_script(script: Path, arguments: list[str]) -> int:
    """Run one script with its output going straight to ours, and return its exit status."""
    command = [sys.executable, str(script), *arguments]
    print(f"=== {script.name} {' '.join(arguments)}".rstrip(), flush=True)
    start = time.monotonic()
    returncode = subprocess.run(command, cwd=REPO_ROOT, check=False).returncode
    print(f"=== {script.name}: exit status {returncode} after {time.monotonic() - start:.1f} s\n", flush=True)
    return returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m benchmarks.run_all", description="Run every benchmarks/bench_*.py in name order."
    )
    parser.add_argument(
        "--quick", action="store_true", help="run each script in its short mode, to check that it works"
    )
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these scripts, e.g. bench_sample")
    options = parser.parse_args(argv)

    scripts = benchmark_scripts()
    if options.only:
        requested = {name.removesuffix(".py") for name in options.only}
        unknown = requested - {script.stem for script in scripts}
        if unknown:
            parser.error(
                f"no benchmark named {', '.join(sorted(unknown))}; have {', '.join(s.stem for s in scripts)}"
            )
        scripts = [script for script in scripts if script.stem in requested]

    failed: list[str] = []
    for script in scripts:
        arguments: list[str] = []
        if options.quick:
            quick = quick_arguments(script)
            if quick is None:
                print(
                    f"=== {script.name}: failed: it has no --quick option and no entry in FALLBACK_QUICK_ARGUMENTS",
                    flush=True,
                )
                failed.append(script.name)
                continue
            arguments = quick
        if run_script(script, arguments) != 0:
            failed.append(script.name)

    if failed:
        print(f"failed: {', '.join(failed)}", flush=True)
        return 1
    print(f"all {len(scripts)} benchmarks finished", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
