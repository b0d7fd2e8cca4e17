"""``evictsim evaluate`` on real captured summaries, scenarios and bad input.

The real summaries come from nodes that had no pressure, so at the kubelet's default
thresholds (kubernetes pkg/kubelet/eviction/defaults_linux.go, 1.30-1.35: memory 100Mi,
nodefs 10%, nodefs inodes 5%, imagefs 15%, imagefs inodes 5%) nothing may be met.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulator.cli.main import main

DATA = Path(__file__).resolve().parents[1] / "data"
REAL = DATA / "real"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "scenarios" / "disk-pressure.yaml"

REAL_CASES = [
    ("gke-2017-elastic-beats-stats-summary.json", None),
    ("gke-2019-datadog-stats-summary.json", None),
    ("minikube-2020-otel-stats-summary.json", "minikube-2020-otel-pods-trimmed.json"),
    ("minikube-k8s1.31-containerd1.7-newrelic.json", "minikube-k8s1.31-containerd1.7-newrelic-kubelet-pods.json"),
    ("minikube-k8s1.35-containerd2.2-newrelic.json", "minikube-k8s1.35-containerd2.2-newrelic-kubelet-pods.json"),
]


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, object, str]:
    code = main(["evaluate", *argv])
    captured = capsys.readouterr()
    document = json.loads(captured.out) if code == 0 else None
    return code, document, captured.err


@pytest.mark.parametrize(("summary", "pods"), REAL_CASES, ids=[case[0].split(".json")[0] for case in REAL_CASES])
def test_real_summaries_no_pressure(summary: str, pods: str | None, capsys: pytest.CaptureFixture[str]) -> None:
    """Real summaries at the 1.35 defaults: no threshold met, no condition, no eviction."""
    argv = ["--summary", str(REAL / "summary" / summary), "-o", "json"]
    if pods:
        argv += ["--pods", str(REAL / "pods" / pods)]

    code, document, err = run_json(capsys, *argv)

    assert code == 0, err
    assert isinstance(document, dict)
    assert document["conditions"] == {"MemoryPressure": False, "DiskPressure": False, "PIDPressure": False}
    assert document["evictions"] == []
    assert [t for t in document["thresholds"] if t["met"]] == []
    assert "nodefs.available" in document["observations"]
    assert document["layout"] == "single"
    assert document["layoutInferred"] is True


def test_real_summary_with_pods_joins_every_pod(capsys: pytest.CaptureFixture[str]) -> None:
    """Every pod of the 1.35 summary has a spec in the pods file (joined by UID)."""
    code, document, _ = run_json(
        capsys,
        "--summary", str(REAL / "summary" / "minikube-k8s1.35-containerd2.2-newrelic.json"),
        "--pods", str(REAL / "pods" / "minikube-k8s1.35-containerd2.2-newrelic-kubelet-pods.json"),
        "-o", "json",
    )
    assert code == 0
    assert isinstance(document, dict)
    assert not any("without a spec" in note for note in document["notes"])
    assert any("phase Succeeded or Failed" in note for note in document["notes"])


def test_real_summary_under_forced_pressure(capsys: pytest.CaptureFixture[str]) -> None:
    """With nodefs.available<99% the 1.35 node is under disk pressure; a non-critical pod is chosen."""
    code, document, err = run_json(
        capsys,
        "--summary", str(REAL / "summary" / "minikube-k8s1.35-containerd2.2-newrelic.json"),
        "--pods", str(REAL / "pods" / "minikube-k8s1.35-containerd2.2-newrelic-kubelet-pods.json"),
        "--flags=--eviction-hard=nodefs.available<99%",
        "-o", "json",
    )
    assert code == 0, err
    assert isinstance(document, dict)
    assert document["conditions"]["DiskPressure"] is True
    assert document["reclaim"]["signal"] == "nodefs.available"
    assert [step["step"] for step in document["reclaim"]["steps"]] == ["containerGC", "imageGC"]
    assert len(document["evictions"]) == 1
    evicted = document["evictions"][0]
    critical = {entry["pod"] for entry in document["ranking"] if entry["critical"]}
    assert evicted["pod"] not in critical
    assert evicted["message"].startswith("The node was low on resource: ephemeral-storage. Threshold quantity: ")
    assert "reclaim modelled as freeing nothing" in document["notes"]


def test_images_feed_reclaim(capsys: pytest.CaptureFixture[str]) -> None:
    """--images: node-level reclaim runs the image GC model instead of freeing nothing."""
    code, document, err = run_json(
        capsys,
        "--summary", str(REAL / "summary" / "minikube-k8s1.35-containerd2.2-newrelic.json"),
        "--images", str(REAL / "images" / "minikube-k8s1.35-containerd2.2-newrelic-node-status.yaml"),
        "--flags=--eviction-hard=nodefs.available<99%",
        "-o", "json",
    )
    assert code == 0, err
    assert isinstance(document, dict)
    assert "reclaim modelled as freeing nothing" not in document["notes"]
    image_step = document["reclaim"]["steps"][1]
    assert image_step["step"] == "imageGC"
    assert image_step["details"]


def test_scenario_prints_one_decision_per_step(capsys: pytest.CaptureFixture[str]) -> None:
    code, document, err = run_json(capsys, "--scenario", str(EXAMPLE), "-o", "json")
    assert code == 0, err
    assert isinstance(document, list)
    assert [step["step"] for step in document] == [0, 1, 2, 3, 4, 5]
    assert [len(step["decision"]["evictions"]) for step in document] == [0, 0, 1, 1, 0, 0]


def test_table_output(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["evaluate", "--scenario", str(EXAMPLE), "-o", "table"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.splitlines()[0].split()[:3] == ["STEP", "AFTER", "NAME"]
    assert "apps/logger (grace 30s)" in out


def test_explicit_layout_is_not_inferred(capsys: pytest.CaptureFixture[str]) -> None:
    code, document, _ = run_json(
        capsys, "--summary", str(REAL / "summary" / "gke-2019-datadog-stats-summary.json"), "--layout", "dedicated-imagefs", "-o", "json"
    )
    assert code == 0
    assert isinstance(document, dict)
    assert document["layout"] == "dedicated-imagefs"
    assert document["layoutInferred"] is False


def test_summary_missing_sections_gives_partial_result(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A Summary with only node memory still evaluates the memory signals and explains the rest."""
    path = tmp_path / "summary.json"
    path.write_text(json.dumps({"node": {"memory": {"availableBytes": 50 * 2**20, "workingSetBytes": 2**30}}}))
    code, document, _ = run_json(capsys, "--summary", str(path), "-o", "json")
    assert code == 0
    assert isinstance(document, dict)
    assert list(document["observations"]) == ["memory.available"]
    assert document["conditions"]["MemoryPressure"] is True
    assert any(note.startswith("nodefs.available not observed") for note in document["notes"])


@pytest.mark.parametrize(
    ("content", "argv", "message"),
    [
        (None, ["--layout", "zfs"], "--layout: unknown layout 'zfs'; expected one of auto, single, dedicated-imagefs, split"),
        ("{}", [], "node: invalid value None"),
        ('{"node": {"fs": {"availableBytes": -1}}}', [], "node.fs.availableBytes: invalid value -1; expected a number >= 0"),
        ('{"node": {"fs": {"availableBytes": 1e30, "capacityBytes": 1e30}}}', [], "exceeds the int64 range"),
        ("not json", [], "is not JSON"),
        (None, ["--pods", "/nonexistent/pods.json"], "file not found"),
        (None, ["--containers", "x.json"], "--containers needs --images"),
        (None, ["--kubelet-version", "1.12"], "unsupported kubelet version"),
    ],
    ids=["unknown-layout", "no-node", "negative", "absurd", "not-json", "missing-pods", "containers-alone", "old-version"],
)
def test_bad_input_exits_2(
    content: str | None, argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad input: one clear line on stderr naming the field and value, exit code 2."""
    path = tmp_path / "summary.json"
    path.write_text(content if content is not None else '{"node": {"nodeName": "n"}}')
    code = main(["evaluate", "--summary", str(path), *argv, "-o", "json"])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert err.count("\n") == 1
    assert "Traceback" not in err


def _nodefs_hard_value(step: dict[str, object]) -> object:
    thresholds = step["decision"]["thresholds"]  # type: ignore[index]
    hard = [t["value"] for t in thresholds if t["signal"] == "nodefs.available" and t["hard"]]
    assert len(hard) == 1, thresholds
    return hard[0]


def test_scenario_flags_win_over_policy(capsys: pytest.CaptureFixture[str]) -> None:
    """--flags replaces the scenario's inline policy (evictionHard nodefs.available 1Gi)."""
    code, document, err = run_json(
        capsys, "--scenario", str(EXAMPLE), "--flags=--eviction-hard=nodefs.available<5Gi", "-o", "json"
    )

    assert code == 0, err
    assert isinstance(document, list)
    assert _nodefs_hard_value(document[0]) == "5Gi"


def test_scenario_kubelet_version_option_wins(capsys: pytest.CaptureFixture[str]) -> None:
    """--kubelet-version replaces kubeletVersion and keeps the scenario's own thresholds."""
    code, document, err = run_json(capsys, "--scenario", str(EXAMPLE), "--kubelet-version", "1.31", "-o", "json")

    assert code == 0, err
    assert isinstance(document, list)
    assert document[0]["decision"]["kubeletVersion"] == "1.31"
    assert _nodefs_hard_value(document[0]) == "1Gi"


def test_summary_available_above_capacity_noted(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """The kubelet's observations take available and capacity as given (makeSignalObservations in
    pkg/kubelet/eviction/helpers.go), so the decision is kept and a note names the section."""
    summary = {
        "node": {
            "nodeName": "n",
            "fs": {"time": "2024-05-01T10:00:00Z", "availableBytes": 50, "capacityBytes": 10, "inodesFree": 9, "inodes": 10},
        },
        "pods": [],
    }
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(summary))

    code, document, err = run_json(capsys, "--summary", str(path), "-o", "json")

    assert code == 0, err
    assert isinstance(document, dict)
    assert "node.fs: availableBytes 50 is larger than capacityBytes 10" in document["notes"]
    assert document["observations"]["nodefs.available"]["available"] == 50
    assert not any("inodesFree" in note and "larger" in note for note in document["notes"])
