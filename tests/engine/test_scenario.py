"""Scenario files: parsing, JSON merge patches, Go durations, timing and layout inference.

The expected decisions restate the kubelet's eviction-manager behaviour (kubernetes
pkg/kubelet/eviction/eviction_manager.go, 1.31-1.35): a soft threshold waits for its grace
period, min-reclaim keeps a threshold met after it was acted on, and node conditions stay
for the pressure transition period.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.errors import InputError
from simulator.scenario import infer_layout, load_scenario, parse_layout, parse_scenario, run_scenario
from simulator.signals import FsLayout, NodeCondition
from simulator.snapshot import FsStats, NodeStats, Summary

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "scenarios" / "disk-pressure.yaml"


def summary_document(available: int, *, time: str | None = "2024-05-01T10:00:00Z") -> dict:
    fs = {"availableBytes": available, "capacityBytes": 10 * 2**30, "inodesFree": 1000, "inodes": 2000}
    if time is not None:
        fs["time"] = time
    return {"node": {"nodeName": "n", "fs": fs, "runtime": {"imageFs": dict(fs)}}, "pods": []}


def scenario_document(*steps: dict) -> dict:
    return {
        "kubeletVersion": "1.35",
        "policy": {"evictionHard": {"nodefs.available": "1Gi"}},
        "pods": {"items": []},
        "steps": list(steps),
    }


def test_example_scenario_life_cycle() -> None:
    """The documented example: soft grace, eviction, min-reclaim, transition period."""
    results = list(run_scenario(load_scenario(EXAMPLE)))
    evictions = [[e.pod for e in r.decision.evictions] for r in results]
    pressure = [r.decision.conditions[NodeCondition.DISK_PRESSURE] for r in results]

    # healthy; soft threshold met (grace running); grace over: evict; min-reclaim not reached:
    # evict again; cleaned: condition kept; transition period over: cleared
    assert evictions == [[], [], ["apps/logger"], ["apps/logger"], [], []]
    assert pressure == [False, True, True, True, True, False]
    assert [r.step.offset_s for r in results] == [0, 30, 90, 100, 110, 410]
    assert results[2].decision.evictions[0].grace_period_s == 30


def test_patch_applies_merge_patch() -> None:
    """A step's patch is an RFC 7386 merge patch over the previous step's Summary."""
    document = scenario_document(
        {"after": "0s", "summary": summary_document(5 * 2**30)},
        {"after": "10s", "patch": {"node": {"fs": {"availableBytes": 2**29}}}},
        {"after": "1m30s", "patch": {"node": {"fs": {"availableBytes": 5 * 2**30}}}},
    )
    results = list(run_scenario(parse_scenario(document)))
    met = [[t.signal.value for t in r.decision.thresholds if t.met] for r in results]
    assert met[0] == []
    assert "nodefs.available" in met[1]
    assert met[2] == []
    assert [r.step.offset_s for r in results] == [0, 10, 100]


def test_null_in_patch_removes_field() -> None:
    """RFC 7386: null deletes a member, so the signal loses its observation."""
    document = scenario_document(
        {"summary": summary_document(5 * 2**30)},
        {"after": "10s", "patch": {"node": {"fs": {"availableBytes": None}}}},
    )
    results = list(run_scenario(parse_scenario(document)))
    assert "nodefs.available" not in {s.value for s in results[1].decision.observations}


def test_times_are_stamped_unless_kept() -> None:
    """Steps count as fresh samples; keepTimes leaves the stats stale so nothing is acted on."""
    pods = {"items": [{"metadata": {"name": "p", "namespace": "ns", "uid": "u"}, "spec": {"containers": [{"name": "c"}]}}]}
    low = summary_document(2**29)
    low["pods"] = [{"podRef": {"name": "p", "namespace": "ns", "uid": "u"}, "containers": [{"name": "c", "rootfs": {"usedBytes": 10}}]}]
    fresh = scenario_document({"summary": low}, {"after": "10s", "patch": {}})
    fresh["pods"] = pods
    stale = scenario_document({"summary": low}, {"after": "10s", "patch": {}, "keepTimes": True})
    stale["pods"] = pods

    fresh_results = list(run_scenario(parse_scenario(fresh)))
    stale_results = list(run_scenario(parse_scenario(stale)))

    assert [len(r.decision.evictions) for r in fresh_results] == [1, 1]
    assert [len(r.decision.evictions) for r in stale_results] == [1, 0]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"steps": []}, "steps: expected a non-empty list"),
        ({"steps": [{"patch": {}}]}, "the first step needs a summary"),
        ({"steps": [{"after": "ten seconds", "summary": summary_document(1)}]}, "steps[0].after: invalid duration"),
        ({"steps": [{"after": "-1s", "summary": summary_document(1)}]}, "negative duration"),
        ({"steps": [{"summary": summary_document(1), "patch": {}}]}, "set exactly one of summary and patch"),
        ({"steps": [{"summary": summary_document(1), "wait": "1s"}]}, "unknown keys wait"),
        ({"stepz": []}, "unknown keys stepz"),
        ({"layout": "raid", "steps": [{"summary": summary_document(1)}]}, "unknown layout 'raid'"),
        ({"steps": [{"summary": {"node": {"fs": {"availableBytes": -5}}}}]}, "node.fs.availableBytes"),
        ({"steps": [{"summary": "missing.json"}]}, "missing.json: file not found"),
    ],
)
def test_bad_scenarios_name_the_field(document: dict, message: str, tmp_path: Path) -> None:
    """Invalid scenario files raise InputError naming the field and the value."""
    with pytest.raises(InputError) as error:
        parse_scenario(document, base=tmp_path)
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("fields", "prefix"),
    [
        ({"kubeletVersion": "1.99"}, "s.yaml: kubeletVersion: unsupported kubelet version '1.99'"),
        ({"kubeletVersion": "one"}, "s.yaml: kubeletVersion: invalid kubelet version 'one'"),
        ({"layout": "raid"}, "s.yaml: layout: unknown layout 'raid'"),
        ({"policy": "missing-kubelet.yaml"}, "s.yaml: policy: "),
        ({"pods": "missing-pods.json"}, "s.yaml: pods "),
    ],
)
def test_bad_fields_name_the_scenario_file(fields: dict, prefix: str, tmp_path: Path) -> None:
    """Errors from each top-level field start with the scenario file and the field name."""
    document = {"steps": [{"summary": summary_document(1)}], **fields}

    with pytest.raises(InputError) as error:
        parse_scenario(document, base=tmp_path, source="s.yaml")

    assert str(error.value).startswith(prefix)


def test_paths_resolve_against_the_scenario(tmp_path: Path) -> None:
    """Relative summary and pods paths are read from the scenario file's directory."""
    (tmp_path / "s.json").write_text('{"node": {"fs": {"availableBytes": 1, "capacityBytes": 100}}}')
    (tmp_path / "pods.json").write_text('{"items": []}')
    (tmp_path / "scenario.yaml").write_text("pods: pods.json\nsteps:\n  - summary: s.json\n")
    scenario = load_scenario(tmp_path / "scenario.yaml")
    assert scenario.pods == []
    assert len(scenario.steps) == 1


@pytest.mark.parametrize(
    ("fs", "image", "container", "expected"),
    [
        ((100, 10), None, None, FsLayout.SINGLE),
        ((100, 10), (100, 10), (100, 10), FsLayout.SINGLE),
        ((100, 10), (500, 50), (500, 50), FsLayout.DEDICATED_IMAGEFS),
        ((100, 10), (500, 50), None, FsLayout.DEDICATED_IMAGEFS),
        ((100, 10), (500, 50), (100, 10), FsLayout.SPLIT),
    ],
    ids=["no-imagefs", "same", "dedicated", "dedicated-no-containerfs", "split"],
)
def test_infer_layout(fs: tuple, image: tuple | None, container: tuple | None, expected: FsLayout) -> None:
    """--layout auto compares capacity and inode totals, as devices are not in a Summary."""

    def stats(numbers: tuple | None) -> FsStats | None:
        return None if numbers is None else FsStats(available_bytes=1, capacity_bytes=numbers[0], inodes_free=1, inodes=numbers[1])

    summary = Summary(node=NodeStats(fs=stats(fs), image_fs=stats(image), container_fs=stats(container)))
    assert infer_layout(summary)[0] == expected


def test_parse_layout() -> None:
    assert parse_layout("auto") is None
    assert parse_layout("split") == FsLayout.SPLIT
    with pytest.raises(InputError, match="expected one of auto, single, dedicated-imagefs, split"):
        parse_layout("lvm")
