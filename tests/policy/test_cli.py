"""``evictsim policy show`` end to end, in a subprocess: output formats and exit code 2 on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "simulator", "policy", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_show_defaults_json() -> None:
    result = run("show", "-o", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["kubeletVersion"] == "1.35"
    signals = {t["signal"]: t["value"] for t in document["thresholds"]}
    assert signals["imagefs.inodesFree"] == "5%"
    assert document["provenance"]["evictionHard.memory.available"].startswith("kubelet 1.35 default")
    assert {f["id"] for f in document["findings"]} >= {"EVS007"}


def test_show_config_file_yaml() -> None:
    result = run(
        "show", "--kubelet-config", str(DATA / "policy" / "partial-eviction-hard.yaml"), "-o", "yaml"
    )
    assert result.returncode == 0, result.stderr
    document = yaml.safe_load(result.stdout)
    assert [t["signal"] for t in document["thresholds"]] == [
        "memory.available",
        "allocatableMemory.available",
    ]
    assert document["thresholds"][0]["source"].endswith("partial-eviction-hard.yaml:4")
    assert "EVS001" in {f["id"] for f in document["findings"]}


def test_show_table_with_layout() -> None:
    result = run("show", "--preset", "kubeadm", "--kubelet-version", "1.31", "--layout", "single", "-o", "table")
    assert result.returncode == 0, result.stderr
    assert "containerfs.available" in result.stdout
    assert "EVS004 warning" in result.stdout


def test_show_layout_before_129_has_no_containerfs() -> None:
    result = run("show", "--kubelet-version", "1.28", "--layout", "single", "-o", "json")
    assert result.returncode == 0, result.stderr
    signals = {t["signal"] for t in json.loads(result.stdout)["thresholds"]}
    assert "containerfs.available" not in signals
    assert "nodefs.available" in signals


def test_show_flags_and_configz() -> None:
    result = run("show", "--flags=--eviction-hard=memory.available<1Gi", "-o", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["thresholds"][0]["source"] == "flag --eviction-hard (--flags)"
    configz = DATA / "real" / "configz" / "kind-cgroupfs-configz-k8s-node-collector.json"
    result = run("show", "--configz", str(configz), "--kubelet-version", "1.27", "-o", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["thresholds"] == []


def test_presets_listing() -> None:
    result = run("presets", "-o", "json")
    assert result.returncode == 0, result.stderr
    assert "k3s" in {p["name"] for p in json.loads(result.stdout)}


BAD = [
    (
        "bad-quantity",
        ["--kubelet-config", "policy/bad-quantity.yaml"],
        "evictionHard.memory.available: invalid value '12 GB'",
    ),
    (
        "low-above-high",
        ["--kubelet-config", "policy/low-above-high.yaml"],
        "75 must be less than imageGCHighThresholdPercent",
    ),
    ("malformed", ["--kubelet-config", "policy/malformed.yaml"], "invalid YAML or JSON"),
    ("wrong-kind", ["--kubelet-config", "policy/wrong-kind.yaml"], "apiVersion: invalid value 'v1'"),
    ("missing-file", ["--kubelet-config", "policy/none.yaml"], "file not found"),
    ("unsupported-version", ["--kubelet-version", "1.20"], "unsupported kubelet version '1.20'"),
    (
        "bad-signal-flag",
        ["--flags=--eviction-hard=disk.available<1Gi"],
        "unsupported eviction signal disk.available",
    ),
    ("bad-percentage-flag", ["--flags=--eviction-soft=nodefs.available<-5%"], "must be >= 0%: -5%"),
    ("unknown-preset", ["--preset", "nope"], "unknown preset 'nope'"),
]


@pytest.mark.parametrize(("args", "message"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_exits_2(args: list[str], message: str) -> None:
    resolved = [str(DATA / a) if a.startswith("policy/") else a for a in args]
    result = run("show", *resolved, "-o", "json")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0]
    assert "Traceback" not in result.stderr


def test_show_configz_without_version_warns() -> None:
    """A /configz document carries no kubelet version, so the assumed 1.35 is stated once."""
    configz = DATA / "real" / "configz" / "kind-cgroupfs-configz-k8s-node-collector.json"
    expected = "kubelet version not given: assuming 1.35; pass --kubelet-version or --node"

    without = json.loads(run("show", "--configz", str(configz), "-o", "json").stdout)
    given = json.loads(run("show", "--configz", str(configz), "--kubelet-version", "1.35", "-o", "json").stdout)
    preset = json.loads(run("show", "--preset", "kind", "-o", "json").stdout)

    assert without["warnings"].count(expected) == 1
    assert expected not in given["warnings"]
    assert not any(warning.startswith("kubelet version not given") for warning in preset["warnings"])
