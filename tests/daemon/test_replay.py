"""Recorded sources: files in name order, provenance read back, and the example recorded node."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import structlog.testing

from simulator.daemon.daemon import Daemon, ReplaySource
from simulator.errors import InputError
from simulator.replay import RecordedSampleError, RecordedSource, ReplayFinished, load_recorded_sample

from .helpers import GIB, T0, FakeClock, disk_policy, float32, node_summary

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "recorded-node"
REAL_SUMMARIES = REPO / "tests" / "data" / "real" / "summary"


def test_directory_read_in_name_order(tmp_path: Path) -> None:
    for name, available in (("b.json", 2 * GIB), ("a.json", 1 * GIB), ("c.json", 3 * GIB)):
        (tmp_path / name).write_text(json.dumps(node_summary(T0, imagefs_available=available).to_json()))
    source = RecordedSource(tmp_path)
    seen = [source.next_sample().summary.node.image_fs.available_bytes for _ in range(3)]
    assert seen == [1 * GIB, 2 * GIB, 3 * GIB]
    with pytest.raises(ReplayFinished):
        source.next_sample()


def test_provenance_round_trip(tmp_path: Path) -> None:
    """A file written with provenance gives the device back, so events can name it."""
    path = tmp_path / "s.json"
    path.write_text(json.dumps(node_summary(T0, imagefs_available=GIB).to_json(with_provenance=True)))
    sample = load_recorded_sample(path)
    provenance = sample.summary.provenance["node.runtime.imageFs.capacityBytes"]
    assert provenance.device == "/dev/loop7"
    assert provenance.fs_type == "ext4"
    assert sample.time == T0


def test_real_summaries_load() -> None:
    """Every captured kubelet Summary replays, each with its newest stats time."""
    source = RecordedSource(REAL_SUMMARIES)
    samples = []
    while True:
        try:
            samples.append(source.next_sample())
        except ReplayFinished:
            break
    assert len(samples) == len(list(REAL_SUMMARIES.glob("*.json")))
    assert all(sample.time is not None for sample in samples)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "invalid JSON"),
        ("[]", "summary: invalid value []"),
        ('{"pods": []}', "node"),
        ('{"node": {}, "evictsim": {"provenance": {"node.fs.capacityBytes": 3}}}', "evictsim.provenance.node.fs.capacityBytes"),
    ],
    ids=["empty", "array", "no-node", "bad-provenance"],
)
def test_bad_file_message_names_file_and_field(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(RecordedSampleError) as raised:
        load_recorded_sample(path)
    message = str(raised.value)
    assert message.startswith(str(path))
    assert expected in message
    assert "\n" not in message


def test_missing_path_is_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        RecordedSource(tmp_path / "absent")
    with pytest.raises(InputError, match="no \\*.json"):
        RecordedSource(tmp_path)


def test_example_recorded_node_story() -> None:
    """The example node crosses the GC watermark, then imagefs.available<15 %, then recovers.

    Expected numbers come from each file with the kubelet's formulas (see test_scenario).
    """
    files = sorted(EXAMPLE.glob("*.json"))
    documents = [json.loads(path.read_text()) for path in files]
    imagefs = [doc["node"]["runtime"]["imageFs"] for doc in documents]
    with structlog.testing.capture_logs() as captured:
        daemon = Daemon(source=ReplaySource(RecordedSource(EXAMPLE)), policy=disk_policy(), clock=FakeClock())
        for _ in range(len(files) + 1):
            daemon.tick()

    by_origin: dict[str, list[dict]] = {}
    origin = ""
    for entry in captured:
        if entry["event"] == "sample_taken":
            origin = Path(entry["origin"]).name
        elif entry["log_level"] != "debug" and entry.get("component") == "daemon":
            by_origin.setdefault(origin, []).append(entry)

    gc = by_origin["02-summary.json"]
    assert [e["event"] for e in gc] == ["image_gc_would_run"]
    capacity, available = imagefs[2]["capacityBytes"], imagefs[2]["availableBytes"]
    assert gc[0]["usage_percent"] == 100 - available * 100 // capacity == 85
    assert gc[0]["bytes_to_free"] == capacity * 20 // 100 - available
    assert gc[0]["device"] == "/dev/vdb"

    pressure = by_origin["03-summary.json"]
    assert [(e["event"], e.get("signal") or e.get("condition")) for e in pressure] == [
        ("threshold_met", "imagefs.available"),
        ("threshold_met", "containerfs.available"),
        ("node_condition_would_change", "DiskPressure"),
        ("reclaim_would_run", "imagefs.available"),
        ("pod_would_be_evicted", "imagefs.available"),
    ]
    assert pressure[0]["threshold"] == int(float(imagefs[3]["capacityBytes"]) * float32(0.15))
    assert pressure[0]["observed"] == imagefs[3]["availableBytes"]
    assert pressure[0]["device"] == "/dev/vdb"
    assert pressure[2]["status"] == "True"

    # With a dedicated imagefs the kubelet ranks imagefs pressure by the pods' writable layers
    # (rootfs). The batch pod's 1 GiB layer ranks it before the web pod's 20 MB.
    eviction = pressure[4]
    assert eviction["pod"] == "reports/batch-report-28513-abcde"
    assert eviction["rank"] == 1
    assert eviction["runner_up"] == "shop/web-7d9c5b8f6-x2k4q"
    assert eviction["message"].startswith("The node was low on resource: ephemeral-storage.")
    assert eviction["annotations"]["starved_resource"] == "ephemeral-storage"

    assert "04-summary.json" not in by_origin
    recovered = by_origin["05-summary.json"]
    assert [e["event"] for e in recovered] == ["threshold_cleared", "threshold_cleared", "eviction_no_longer_predicted"]
    assert recovered[2]["pod"] == "reports/batch-report-28513-abcde"
    assert recovered[2]["signal"] == "imagefs.available"
    assert recovered[2]["reason"] == "threshold_not_met"
    cleared = by_origin["06-summary.json"]
    assert [(e["event"], e.get("status")) for e in cleared] == [
        ("node_condition_would_change", "False"),
        ("replay_finished", None),
    ]
    assert daemon.stop_reason == "replay_finished"


SCENARIO = REPO / "examples" / "scenarios" / "disk-pressure.yaml"


def test_scenario_replay_matches_evaluate() -> None:
    """Replaying a scenario gives, step by step, the decisions `evictsim evaluate --scenario` gives."""
    from simulator.scenario import run_scenario

    recorded = RecordedSource(SCENARIO)
    scenario = recorded.scenario
    assert scenario is not None
    expected = [result.decision.to_json() for result in run_scenario(scenario)]

    daemon = Daemon(
        source=ReplaySource(recorded),
        policy=scenario.policy,
        pods=scenario.pods,
        layout=scenario.layout,
        clock=FakeClock(),
    )
    actual = []
    with structlog.testing.capture_logs():
        for _ in range(len(scenario.steps)):
            actual.append(daemon.tick().decision)
    assert len(actual) == len(expected)
    for step, (ours, theirs) in enumerate(zip(actual, expected)):
        assert ours is not None, f"step {step} produced no decision"
        for key in ("time", "thresholds", "conditions", "evictions", "ranking", "reclaim"):
            assert ours[key] == theirs[key], f"step {step}: {key} differs"


def test_scenario_steps_at_their_offsets() -> None:
    recorded = RecordedSource(SCENARIO)
    times = []
    while True:
        try:
            times.append(recorded.next_sample().time)
        except ReplayFinished:
            break
    offsets = [(t - times[0]).total_seconds() for t in times]
    assert offsets == [step.offset_s - recorded.scenario.steps[0].offset_s for step in recorded.scenario.steps]
