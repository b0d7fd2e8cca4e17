"""Growth rates fitted to history by least squares, with a verdict on how far to trust them."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

# Fewer points or a shorter span than this gives the verdict "too_short".
MIN_TREND_SAMPLES = 4
MIN_TREND_SPAN_S = 60.0
# A fit explaining less of the variance than this (coefficient of determination) is "noisy".
MIN_R_SQUARED = 0.5
# A fitted change over the whole window below this fraction of capacity is "flat".
FLAT_FRACTION_OF_CAPACITY = 1e-4


@dataclasses.dataclass(frozen=True, slots=True)
class Trend:
    """A consumption rate and its verdict.

    ``rate_per_second`` is positive when the available amount shrinks. ``verdict`` is "ok",
    "flat", "noisy", "too_short" or "given" (the rate came from the request).
    """

    verdict: str
    rate_per_second: float
    r_squared: float
    samples: int
    window_s: float
    message: str

    @property
    def usable(self) -> bool:
        """Whether crossing times may be computed from this rate."""
        return self.verdict in ("ok", "noisy", "given") and self.rate_per_second > 0


def least_squares(points: Sequence[tuple[float, float]]) -> tuple[float, float, float]:
    """Fit y = a + b*t and return (a, b, r_squared); r_squared is 1.0 when y is constant."""
    n = len(points)
    if n < 2:
        raise ValueError(f"least squares needs at least 2 points, got {n}")
    mean_t = sum(t for t, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    s_tt = sum((t - mean_t) ** 2 for t, _ in points)
    s_ty = sum((t - mean_t) * (y - mean_y) for t, y in points)
    s_yy = sum((y - mean_y) ** 2 for _, y in points)
    if s_tt == 0:
        raise ValueError("least squares needs at least 2 distinct times")
    slope = s_ty / s_tt
    intercept = mean_y - slope * mean_t
    r_squared = 1.0 if s_yy == 0 else (s_ty * s_ty) / (s_tt * s_yy)
    return intercept, slope, r_squared


def fit_trend(points: Sequence[tuple[float, float]], *, capacity: int) -> Trend:
    """Fit the consumption rate of (unix seconds, available) points.

    The verdict is "too_short" below MIN_TREND_SAMPLES points or MIN_TREND_SPAN_S seconds,
    "flat" when the fitted change over the span is below FLAT_FRACTION_OF_CAPACITY of
    ``capacity``, "noisy" when r² < MIN_R_SQUARED, else "ok".
    """
    n = len(points)
    span = (points[-1][0] - points[0][0]) if n else 0.0
    if n < MIN_TREND_SAMPLES or span < MIN_TREND_SPAN_S:
        message = (
            f"{n} samples over {span:.0f} s; a trend needs at least {MIN_TREND_SAMPLES} samples "
            f"over {MIN_TREND_SPAN_S:.0f} s"
        )
        return Trend("too_short", 0.0, 0.0, n, span, message)

    _, slope, r_squared = least_squares(points)
    rate = -slope
    change = abs(slope) * span
    if change < FLAT_FRACTION_OF_CAPACITY * max(capacity, 1):
        message = f"changed by {change:.0f} over {span:.0f} s, below {FLAT_FRACTION_OF_CAPACITY:g} of capacity"
        return Trend("flat", rate, r_squared, n, span, message)
    if r_squared < MIN_R_SQUARED or math.isnan(r_squared):
        message = f"r² {r_squared:.2f} is below {MIN_R_SQUARED}; the rate is uncertain"
        return Trend("noisy", rate, r_squared, n, span, message)
    direction = "shrinking" if rate > 0 else "growing"
    message = f"available is {direction} by {abs(rate):.3g}/s (r² {r_squared:.2f})"
    return Trend("ok", rate, r_squared, n, span, message)


def given_trend(rate_per_second: float) -> Trend:
    """Return a trend for a rate stated in the request."""
    return Trend("given", rate_per_second, 1.0, 0, 0.0, f"rate {rate_per_second:g}/s from the request")
