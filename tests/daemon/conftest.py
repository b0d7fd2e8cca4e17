from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog


@pytest.fixture(autouse=True)
def default_structlog() -> Iterator[None]:
    """Start each test from structlog's defaults, so no earlier level filter hides debug events."""
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()
