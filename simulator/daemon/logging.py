"""structlog configuration for the daemon: JSON lines on a pipe, coloured console on a terminal."""

from __future__ import annotations

import io
import logging
import sys
from typing import Any, TextIO

import structlog

LOG_LEVELS: tuple[str, ...] = ("debug", "info", "warning", "error")

# Decision events that the daemon logs itself, on change. Engine modules may log the same
# names on every pass; the daemon's process drops those copies so each decision is logged once.
DAEMON_DECISION_EVENTS: frozenset[str] = frozenset(
    {
        "threshold_met",
        "threshold_cleared",
        "node_condition_would_change",
        "image_gc_would_run",
        "image_gc_would_fail",
        "container_gc_would_remove",
        "reclaim_would_run",
        "pod_would_be_evicted",
        "eviction_blocked",
    }
)


def drop_engine_decision_events(logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Drop decision events logged outside the daemon (a structlog processor)."""
    if event_dict.get("event") in DAEMON_DECISION_EVENTS and event_dict.get("component") != "daemon":
        raise structlog.DropEvent
    return event_dict


class DropBelowLevel:
    """A structlog processor that drops events below ``level`` (``debug`` < ``info`` < ...)."""

    def __init__(self, level: str) -> None:
        self.minimum = logging.getLevelName(level.upper())

    def __call__(self, logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        name = "WARNING" if method_name == "warn" else method_name.upper()
        number = logging.getLevelName(name)
        if isinstance(number, int) and number < self.minimum:
            raise structlog.DropEvent
        return event_dict


class CurrentStream(io.TextIOBase):
    """``sys.stdout`` or ``sys.stderr`` as it is at each write.

    Loggers keep the stream they were created with, so a stream object replaced later (as test
    runners and embedding programs do) would leave them writing to a closed file.
    """

    def __init__(self, name: str) -> None:
        self.name_in_sys = name

    def _stream(self) -> TextIO:
        return getattr(sys, self.name_in_sys)

    def write(self, text: str) -> int:
        return self._stream().write(text)

    def flush(self) -> None:
        self._stream().flush()

    def isatty(self) -> bool:
        return self._stream().isatty()


def configure_logging(level: str = "info", *, stream: TextIO | None = None, json_output: bool | None = None) -> None:
    """Configure structlog for the daemon process.

    ``json_output`` defaults to JSON when ``stream`` is not a terminal, so a log collector gets
    one JSON object per line and a person at a terminal gets the console renderer. Every line
    carries ``timestamp`` (ISO 8601, UTC) and ``level``.

    Modules that call ``get_logger().bind()`` at import time keep the processor list they saw
    then, so that list is replaced in place: their events are filtered and rendered like the
    daemon's. Their output stream stays the one they were bound with (standard output).
    """
    if level not in LOG_LEVELS:
        raise ValueError(f"invalid log level {level!r}; expected one of {', '.join(LOG_LEVELS)}")
    output = stream if stream is not None else CurrentStream("stdout")
    if json_output is None:
        json_output = not _is_terminal(output)

    renderer: Any
    if json_output:
        renderer = structlog.processors.JSONRenderer(sort_keys=False)
    else:
        renderer = structlog.dev.ConsoleRenderer()

    processors = structlog.get_config()["processors"]
    processors[:] = [
        DropBelowLevel(level),
        structlog.contextvars.merge_contextvars,
        drop_engine_decision_events,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info if json_output else structlog.processors.StackInfoRenderer(),
        renderer,
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=output),
        cache_logger_on_first_use=False,
    )


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
