"""The HTML report: its SVG charts, threshold lines and forecasts, and rendering in headless Chromium."""

from __future__ import annotations

import html.parser
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from simulator.api.history import HistoryPoint
from simulator.api.policy_adapter import load_policy
from simulator.api.report import HEIGHT, MARGIN_BOTTOM, MARGIN_TOP, render_report
from simulator.cli.main import main

GI = 1024**3
CAPACITY = 100 * GI


def shrinking_points(count: int = 60, start_available: int = 40 * GI, per_step: int = GI // 4) -> list[HistoryPoint]:
    """imagefs and nodefs losing 256 MiB every 10 s from 40 GiB available of 100 GiB."""
    points = []
    for step in range(count):
        available = start_available - step * per_step
        points.append(
            HistoryPoint(
                1_700_000_000.0 + 10 * step,
                step + 1,
                {"imagefs.available": (available, CAPACITY), "nodefs.available": (available, CAPACITY)},
            )
        )
    return points


class _SvgCollector(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))


def parse(page: str) -> list[tuple[str, dict[str, str]]]:
    collector = _SvgCollector()
    collector.feed(page)
    return collector.elements


def test_report_has_chart_per_signal() -> None:
    page = render_report(shrinking_points(), load_policy({}, "1.35"), node_name="node-a")
    charts = [attrs["data-signal"] for tag, attrs in parse(page) if tag == "svg"]
    assert charts == ["nodefs.available", "imagefs.available"]
    assert "<script" not in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_report_threshold_line_position() -> None:
    """The 15 % imagefs threshold line sits at 15 % of the plot height above the bottom."""
    page = render_report(shrinking_points(), load_policy({}, "1.35"))
    elements = parse(page)
    start = next(i for i, (tag, attrs) in enumerate(elements) if tag == "svg" and attrs["data-signal"] == "imagefs.available")
    lines = [attrs for tag, attrs in elements[start:] if tag == "line" and attrs.get("class") == "threshold"]
    plot_height = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    threshold_y = float(lines[0]["y1"])
    assert threshold_y == pytest.approx(MARGIN_TOP + plot_height * (1 - 0.15), abs=0.2)
    assert len(lines) == 3  # the hard threshold and the two image GC watermarks


def test_report_forecast_crossings() -> None:
    """At 25.6 MiB/s the 15 % threshold is reached within the drawn horizon, so it gets a marker."""
    page = render_report(shrinking_points(), load_policy({}, "1.35"))
    crossings = [attrs for tag, attrs in parse(page) if tag == "line" and attrs.get("class") == "crossing"]
    forecasts = [attrs for tag, attrs in parse(page) if tag == "line" and attrs.get("class") == "forecast"]
    assert crossings
    assert forecasts
    assert "trend: ok" in page


def test_report_empty_history() -> None:
    page = render_report([], load_policy({}, "1.35"))
    assert "The history is empty." in page


def test_report_command_from_history_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from simulator.api.history import SqliteHistory

    store = SqliteHistory(tmp_path / "history.db")
    for point in shrinking_points():
        store.append(point)
    store.close()
    target = tmp_path / "report.html"
    assert main(["report", "--html", str(target), "--from-file", str(tmp_path / "history.db")]) == 0
    assert "wrote" in capsys.readouterr().out
    assert target.read_text().count("<svg") == 2


@pytest.mark.chromium
def test_report_renders_in_chromium(tmp_path: Path) -> None:
    """Debian's chromium loads the page headless; the DOM it builds contains the charts' SVG."""
    browser = shutil.which("chromium")
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    page = tmp_path / "report.html"
    page.write_text(render_report(shrinking_points(), load_policy({}, "1.35"), node_name="node-a"))
    command = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
    ]
    process = subprocess.Popen([*command, "--dump-dom", page.as_uri()], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        dom, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 0
    elements = parse(dom)
    charts = [attrs["data-signal"] for tag, attrs in elements if tag == "svg"]
    assert charts == ["nodefs.available", "imagefs.available"]
    assert any(tag == "polyline" and attrs.get("class") == "observed" for tag, attrs in elements)

    screenshot = tmp_path / "report.png"
    process = subprocess.Popen([*command, "--window-size=900,700", f"--screenshot={screenshot}", page.as_uri()], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 10_000
