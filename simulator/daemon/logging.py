"""structlog configuration for the daemon: JSON lines on a pipe, coloured console on a terminal."""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

LOG_LEVELS: tuple[str, ...] = ("debug", "info", "warning", "error")


def configure_logging(level: str = "info", *, stream: TextIO | None = None, json_output: bool | None = None) -> None:
    """Configure structlog for the daemon process.

    ``json_output`` defaults to JSON when ``stream`` is not a terminal, so a log collector gets
    one JSON object per line and a person at a terminal gets the console renderer. Every line
    carries ``timestamp`` (ISO 8601, UTC) and ``level``.
    """
    if level not in LOG_LEVELS:
        raise ValueError(f"invalid log level {level!r}; expected one of {', '.join(LOG_LEVELS)}")
    output = stream if stream is not None else sys.stdout
    if json_output is None:
        json_output = not _is_terminal(output)

    renderer: Any
    if json_output:
        renderer = structlog.processors.JSONRenderer(sort_keys=False)
    else:
        renderer = structlog.dev.ConsoleRenderer()

    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info if json_output else structlog.processors.StackInfoRenderer(),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=output),
        cache_logger_on_first_use=False,
    )


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
