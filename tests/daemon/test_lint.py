"""Policy lint findings are logged once, after the first sample shows the filesystem layout."""

from __future__ import annotations

import structlog.testing

from simulator.daemon.daemon import Daemon
from simulator.policy.lint import lint_policy
from simulator.signals import FsLayout

from .helpers import GIB, FakeClock, ListSource, disk_policy, node_summary


def test_findings_logged_once_with_layout() -> None:
    calls = []

    def fake_lint(policy: object, layout: object) -> list[dict]:
        calls.append(layout)
        return [
            {"id": "EVS900", "severity": "warning", "message": "a warning"},
            {"id": "EVS901", "severity": "info", "message": "a hint"},
        ]

    clock = FakeClock()
    source = ListSource([node_summary(clock.now, imagefs_available=5 * GIB)] * 3)
    with structlog.testing.capture_logs() as captured:
        daemon = Daemon(source=source, policy=disk_policy(), clock=clock, lint=fake_lint)
        for _ in range(3):
            daemon.tick()
    assert calls == [FsLayout.DEDICATED_IMAGEFS]
    findings = [entry for entry in captured if entry["event"] == "policy_lint_finding"]
    assert [(f["id"], f["log_level"]) for f in findings] == [("EVS900", "warning"), ("EVS901", "info")]


def test_real_lint_reports_missing_pid_threshold() -> None:
    """The default-like disk policy has no pid.available threshold, which lint reports."""
    clock = FakeClock()
    source = ListSource([node_summary(clock.now, imagefs_available=5 * GIB)])
    with structlog.testing.capture_logs() as captured:
        Daemon(source=source, policy=disk_policy(), clock=clock, lint=lint_policy).tick()
    names = {entry.get("name") for entry in captured if entry["event"] == "policy_lint_finding"}
    assert "no-pid-threshold" in names
