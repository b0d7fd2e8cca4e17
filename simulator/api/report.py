"""The HTML report: each signal's history as an SVG chart with thresholds, GC watermarks and forecasts.

The page is one self-contained file (inline CSS and SVG, no scripts, no external resources).
Forecast crossing times come from the same least-squares trend and headroom rules as the
Headroom RPC, computed at the last history point.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
from collections.abc import Sequence

from simulator.api.headroom import (
    Crossing,
    HeadroomInputs,
    filesystem_groups,
    image_gc_start_available,
    signal_headroom,
)
from simulator.api.history import HistoryPoint
from simulator.api.observe import SignalObservation
from simulator.api.policy_adapter import containerfs_thresholds
from simulator.api.trend import Trend, fit_trend
from simulator.policy.model import Policy, Threshold, threshold_quantity
from simulator.signals import FsLayout, Signal
from simulator.snapshot import format_time

WIDTH, HEIGHT = 860, 300
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 90, 20, 20, 40
# Forecasts further out than this many history spans are not drawn.
MAX_FORECAST_SPANS = 3.0

_STYLE = """
body { font-family: sans-serif; margin: 24px; color: #222; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }
table { border-collapse: collapse; font-size: 13px; margin-top: 6px; }
td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: left; }
.note { color: #555; font-size: 13px; }
svg text { font-size: 11px; font-family: sans-serif; }
"""


@dataclasses.dataclass(frozen=True, slots=True)
class ChartLine:
    """A horizontal line at an available amount: a threshold or a GC watermark."""

    label: str
    available: int
    color: str
    dash: str


def _format_amount(value: float, unit: str) -> str:
    if unit != "bytes":
        return f"{value:,.0f}"
    for suffix, size in (("Ti", 1024**4), ("Gi", 1024**3), ("Mi", 1024**2), ("Ki", 1024)):
        if abs(value) >= size:
            return f"{value / size:.2f}{suffix}"
    return f"{value:.0f}"


def _utc(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def _lines(signal: Signal, capacity: int, thresholds: Sequence[Threshold], policy: Policy) -> list[ChartLine]:
    lines = []
    for threshold in thresholds:
        kind = "hard" if threshold.hard else "soft"
        lines.append(
            ChartLine(
                f"{kind} threshold {threshold.signal.value}<{threshold.value}",
                threshold_quantity(threshold.value, capacity),
                "#c62828" if threshold.hard else "#ef6c00",
                "6 3",
            )
        )
    if signal is Signal.IMAGEFS_AVAILABLE and policy.image_gc.high_threshold_percent < 100:
        start = image_gc_start_available(capacity, policy.image_gc.high_threshold_percent)
        if start is not None:
            lines.append(ChartLine(f"image GC starts ({policy.image_gc.high_threshold_percent}% used)", start, "#1565c0", "2 2"))
        low_target = capacity - capacity * policy.image_gc.low_threshold_percent // 100
        lines.append(ChartLine(f"image GC frees to ({policy.image_gc.low_threshold_percent}% used)", low_target, "#64b5f6", "2 4"))
    return lines


LABEL_SPACING = 13  # px between the baselines of two stacked labels, a little over one line of 11 px text


def _spread_labels(levels: Sequence[float]) -> list[float]:
    """Move label baselines apart so that no two are closer than LABEL_SPACING, keeping their order.

    Thresholds often sit at one level (imagefs.available<15% and image GC starting at 85% used),
    so each label after the first at a level goes one line lower.
    """
    order = sorted(range(len(levels)), key=lambda index: levels[index])
    placed = list(levels)
    previous: float | None = None
    for index in order:
        if previous is not None and placed[index] < previous + LABEL_SPACING:
            placed[index] = previous + LABEL_SPACING
        previous = placed[index]
    return placed


def _chart(
    signal: Signal,
    series: list[tuple[float, int]],
    capacity: int,
    unit: str,
    lines: list[ChartLine],
    trend: Trend,
    crossings: Sequence[Crossing],
) -> str:
    start, end = series[0][0], series[-1][0]
    span = max(end - start, 1.0)
    forecast = [c for c in crossings if c.seconds is not None and 0 < c.seconds <= MAX_FORECAST_SPANS * span]
    x_end = max([end] + [end + c.seconds for c in forecast if c.seconds is not None])
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM

    def x(t: float) -> float:
        return MARGIN_LEFT + (t - start) / max(x_end - start, 1.0) * plot_w

    def y(value: float) -> float:
        return MARGIN_TOP + plot_h - (value / max(capacity, 1)) * plot_h

    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-signal="{signal.value}" '
            f'width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img">'
        ),
        f"<title>{html.escape(signal.value)} available over time</title>",
        f'<rect x="{MARGIN_LEFT}" y="{MARGIN_TOP}" width="{plot_w}" height="{plot_h}" fill="#fafafa" stroke="#999"/>',
    ]
    for fraction in (0.0, 0.25, 0.5, 0.75, 1.0):
        level = y(capacity * fraction)
        parts.append(f'<line x1="{MARGIN_LEFT}" x2="{MARGIN_LEFT + plot_w}" y1="{level:.1f}" y2="{level:.1f}" stroke="#e0e0e0"/>')
        parts.append(f'<text x="{MARGIN_LEFT - 6}" y="{level + 4:.1f}" text-anchor="end">{_format_amount(capacity * fraction, unit)}</text>')
    for label_time, anchor in ((start, "start"), (x_end, "end")):
        parts.append(
            f'<text x="{x(label_time):.1f}" y="{HEIGHT - 12}" text-anchor="{anchor}">{format_time(_utc(label_time))[:19]}</text>'
        )
    label_levels = _spread_labels([y(line.available) - 3 for line in lines])
    for line, label_level in zip(lines, label_levels, strict=True):
        level = y(line.available)
        parts.append(
            f'<line class="threshold" x1="{MARGIN_LEFT}" x2="{MARGIN_LEFT + plot_w}" y1="{level:.1f}" y2="{level:.1f}" '
            f'stroke="{line.color}" stroke-dasharray="{line.dash}"><title>{html.escape(line.label)}: {line.available}</title></line>'
        )
        parts.append(f'<text class="threshold-label" x="{MARGIN_LEFT + 4}" y="{label_level:.1f}" fill="{line.color}">{html.escape(line.label)}</text>')
    points = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in series)
    parts.append(f'<polyline class="observed" fill="none" stroke="#2e7d32" stroke-width="2" points="{points}"/>')
    if forecast and trend.usable:
        last_t, last_v = series[-1]
        far = max(c.seconds for c in forecast if c.seconds is not None)
        projected = last_v - trend.rate_per_second * far
        parts.append(
            f'<line class="forecast" x1="{x(last_t):.1f}" y1="{y(last_v):.1f}" x2="{x(last_t + far):.1f}" '
            f'y2="{y(projected):.1f}" stroke="#757575" stroke-dasharray="4 4"/>'
        )
        crossing_levels = _spread_labels([float(MARGIN_TOP + 12)] * len(forecast))
        for crossing, label_level in zip(forecast, crossing_levels, strict=True):
            assert crossing.seconds is not None
            at = x(end + crossing.seconds)
            parts.append(
                f'<line class="crossing" x1="{at:.1f}" x2="{at:.1f}" y1="{MARGIN_TOP}" y2="{MARGIN_TOP + plot_h}" stroke="#6a1b9a" stroke-dasharray="1 3">'
                f"<title>{html.escape(crossing.event)} at {format_time(_utc(end + crossing.seconds))}</title></line>"
            )
            parts.append(f'<text class="crossing-label" x="{at + 3:.1f}" y="{label_level:.1f}" fill="#6a1b9a">{html.escape(crossing.event)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def _crossing_rows(crossings: Sequence[Crossing], end: float, unit: str) -> str:
    rows = []
    for crossing in crossings:
        when = "now" if crossing.seconds == 0 else (
            format_time(_utc(end + crossing.seconds)) if crossing.seconds is not None else "no forecast"
        )
        rows.append(
            "<tr>"
            f"<td>{html.escape(crossing.event)}</td><td>{html.escape(crossing.threshold or crossing.note)}</td>"
            f"<td>{crossing.amount:,} {unit}</td><td>{html.escape(when)}</td>"
            "</tr>"
        )
    header = "<tr><th>event</th><th>threshold</th><th>headroom</th><th>forecast</th></tr>"
    return f"<table>{header}{''.join(rows)}</table>"


def render_report(
    points: Sequence[HistoryPoint],
    policy: Policy,
    *,
    node_name: str = "",
    layout: FsLayout = FsLayout.SINGLE,
    generated_at: dt.datetime | None = None,
    reclaimable_bytes: dict[Signal, int] | None = None,
) -> str:
    """Render the history as one self-contained HTML page with an SVG chart per observed signal."""
    generated_at = generated_at or dt.datetime.now(dt.UTC)
    thresholds = containerfs_thresholds(policy.thresholds, layout)
    sections = []
    for signal in Signal:
        series = [(p.time, p.signals[signal.value][0]) for p in points if signal.value in p.signals]
        if not series:
            continue
        capacity = next(p.signals[signal.value][1] for p in reversed(points) if signal.value in p.signals)
        own = [t for t in thresholds if t.signal is signal]
        trend = fit_trend([(t, float(v)) for t, v in series], capacity=capacity)
        inputs = HeadroomInputs(
            thresholds=tuple(thresholds),
            image_gc_high_threshold_percent=policy.image_gc.high_threshold_percent,
            image_gc_low_threshold_percent=policy.image_gc.low_threshold_percent,
            reclaimable_bytes=reclaimable_bytes or {},
            image_gc_enabled=policy.image_gc.high_threshold_percent < 100,
            same_filesystem=filesystem_groups(layout),
        )
        headroom = signal_headroom(signal, SignalObservation(series[-1][1], capacity), inputs, trend, _utc(series[-1][0]))
        lines = _lines(signal, capacity, own, policy)
        chart = _chart(signal, series, capacity, headroom.unit, lines, trend, headroom.crossings)
        sections.append(
            f'<section id="{signal.value}"><h2>{html.escape(signal.value)}</h2>\n{chart}\n'
            f'<p class="note">trend: {html.escape(trend.verdict)} ({html.escape(trend.message)})</p>\n'
            f"{_crossing_rows(headroom.crossings, series[-1][0], headroom.unit)}</section>"
        )
    span = ""
    if points:
        span = f"{format_time(_utc(points[0].time))} to {format_time(_utc(points[-1].time))}, {len(points)} samples"
    body = "\n".join(sections) or '<p class="note">The history is empty.</p>'
    title = f"evictsim report {node_name}".strip()
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>\n"
        f"<h1>{html.escape(title)}</h1>\n"
        f'<p class="note">kubelet {html.escape(policy.kubelet_version)}; {html.escape(span)}; '
        f"generated {format_time(generated_at)}. Lines: observed available (green), hard thresholds (red), "
        "soft thresholds (orange), image GC watermarks (blue), forecast (grey), forecast crossings (purple).</p>\n"
        f"{body}\n</body></html>\n"
    )
