"""Least-squares growth rates and their verdicts."""

from __future__ import annotations

import random

import pytest

from simulator.api.trend import fit_trend, least_squares


def test_least_squares_exact_line() -> None:
    points = [(float(t), 1000.0 - 3.0 * t) for t in range(0, 100, 10)]
    intercept, slope, r_squared = least_squares(points)
    assert intercept == pytest.approx(1000.0)
    assert slope == pytest.approx(-3.0)
    assert r_squared == pytest.approx(1.0)


def test_least_squares_needs_distinct_times() -> None:
    with pytest.raises(ValueError, match="distinct"):
        least_squares([(1.0, 2.0), (1.0, 3.0)])


def test_trend_ok_shrinking() -> None:
    points = [(float(t), 10_000_000.0 - 500.0 * t) for t in range(0, 600, 10)]
    trend = fit_trend(points, capacity=20_000_000)
    assert trend.verdict == "ok"
    assert trend.rate_per_second == pytest.approx(500.0)
    assert trend.usable


def test_trend_too_short() -> None:
    points = [(0.0, 100.0), (10.0, 90.0), (20.0, 80.0)]
    trend = fit_trend(points, capacity=1000)
    assert trend.verdict == "too_short"
    assert not trend.usable


def test_trend_span_too_short() -> None:
    points = [(float(t), 100.0 - t) for t in range(10)]
    assert fit_trend(points, capacity=1000).verdict == "too_short"


def test_trend_flat() -> None:
    points = [(float(t), 5_000_000.0 + (t % 2)) for t in range(0, 600, 10)]
    trend = fit_trend(points, capacity=10_000_000)
    assert trend.verdict == "flat"
    assert not trend.usable


def test_trend_noisy() -> None:
    generator = random.Random(7)
    points = [(float(t), 5_000_000.0 - 100.0 * t + generator.uniform(-400_000, 400_000)) for t in range(0, 600, 10)]
    trend = fit_trend(points, capacity=10_000_000)
    assert trend.verdict == "noisy"
    assert trend.r_squared < 0.5
