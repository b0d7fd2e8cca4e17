"""``evictsim evaluate --images`` dates images as ``evictsim gc images`` does without --state.

Neither command has the time when the kubelet first detected an image, so both count every image
as older than imageMinimumGCAge: the kubelet's records start at its own start
(pkg/kubelet/images/image_gc_manager.go, Start runs detectImages with time.Now()), and a
long-running kubelet's minimum age protects none of the images it found then.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulator.cli.main import main

REAL = Path(__file__).resolve().parents[1] / "data" / "real"
SUMMARY = REAL / "summary" / "minikube-k8s1.35-containerd2.2-newrelic.json"
IMAGES = REAL / "images" / "minikube-k8s1.35-containerd2.2-newrelic-node-status.yaml"


def test_images_count_older_than_min_age(capsys: pytest.CaptureFixture[str]) -> None:
    """With the default 2m minimum age, images dated at the evaluation time would all be skipped as too young."""
    code = main([
        "evaluate", "--summary", str(SUMMARY), "--images", str(IMAGES),
        "--flags=--eviction-hard=nodefs.available<99%",
        "-o", "json",
    ])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    document = json.loads(captured.out)
    image_step = next(step for step in document["reclaim"]["steps"] if step["step"] == "imageGC")
    outcomes = [candidate["outcome"] for candidate in image_step["details"]["candidates"]]
    assert outcomes
    assert "younger_than_min_age" not in outcomes
    assert any("older than imageMinimumGCAge" in note for note in document["notes"])
