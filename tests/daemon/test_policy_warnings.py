"""The daemon logs the policy's load warnings once at start."""

from __future__ import annotations

from pathlib import Path

import json

import pytest

from simulator.cli.main import main

RECORDING = Path(__file__).resolve().parents[2] / "examples" / "recorded-node"


def test_unknown_field_warning_logged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown KubeletConfiguration field is a warning (the kubelet's decoder ignores it) that the daemon logs."""
    config = tmp_path / "kubelet.yaml"
    config.write_text(
        "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nevictionHardd: {}\n"
    )
    code = main(
        ["daemon", "--replay", str(RECORDING), "--no-api", "--interval", "0.05", "--ticks", "1",
         "--kubelet-config", str(config), "--kubelet-version", "1.35"]
    )
    assert code == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    warnings = [e for e in events if e["event"] == "policy_warning"]
    assert len(warnings) == 1
    assert "evictionHardd" in warnings[0]["message"]
