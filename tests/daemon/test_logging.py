"""The daemon's structlog configuration: JSON on a pipe, level filtering, one copy of each decision."""

from __future__ import annotations

import io
import json

import pytest
import structlog

from simulator.daemon.logging import configure_logging


def test_json_lines_with_level_and_timestamp() -> None:
    stream = io.StringIO()
    configure_logging("info", stream=stream)
    log = structlog.get_logger().bind(component="daemon")
    log.debug("sample_taken", origin="live")
    log.info("threshold_met", signal="imagefs.available", observed=1)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    event = json.loads(lines[0])
    assert event["event"] == "threshold_met"
    assert event["level"] == "info"
    assert event["timestamp"].endswith("Z")
    assert event["signal"] == "imagefs.available"


def test_logger_bound_before_configuration_is_filtered(capsys: pytest.CaptureFixture[str]) -> None:
    """A module-level logger bound at import time gets the daemon's level filter and renderer.

    It keeps writing to standard output, the stream it was bound with.
    """
    early = structlog.get_logger().bind(component="api.server")
    configure_logging("warning", stream=io.StringIO())
    early.info("api_started")
    early.warning("api_degraded")
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["api_degraded"]


def test_engine_copy_of_decision_event_dropped() -> None:
    stream = io.StringIO()
    configure_logging("debug", stream=stream)
    structlog.get_logger().bind(component="eviction_manager").info("pod_would_be_evicted", pod="a/b")
    structlog.get_logger().bind(component="daemon").info("pod_would_be_evicted", pod="a/b")
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [event["component"] for event in events] == ["daemon"]


def test_console_renderer_on_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    configure_logging("info", stream=stream)
    structlog.get_logger().info("daemon_started", interval_s=10)
    text = stream.getvalue()
    assert "daemon_started" in text
    assert not text.lstrip().startswith("{")


def test_invalid_level_rejected() -> None:
    with pytest.raises(ValueError, match="invalid log level 'verbose'"):
        configure_logging("verbose")
