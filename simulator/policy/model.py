"""The effective kubelet policy: thresholds, image and container GC settings, and their provenance.

These are plain frozen dataclasses used by the engine. The loaders in this package build a
``Policy`` from KubeletConfiguration files, ``/configz`` JSON, command-line flags and presets.
Field names follow the kubelet (kubernetes pkg/kubelet/eviction/api/types.go and
pkg/kubelet/apis/config/types.go, 1.27-1.35).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Final

from simulator.quantity import Quantity, format_go_duration
from simulator.signals import COUNT_SIGNALS, Signal

__all__ = [
    "ContainerGCPolicy",
    "ImageGCPolicy",
    "Policy",
    "Threshold",
    "ThresholdValue",
    "format_percentage",
    "parse_go_float32",
    "round_to_float32",
    "threshold_quantity",
]

_FLOAT32_MAX_EXPONENT: Final = 127
_FLOAT32_MIN_NORMAL_EXPONENT: Final = -126
_FLOAT32_MANTISSA_BITS: Final = 23


def round_to_float32(value: Fraction | float) -> float:
    """Round an exact value to the nearest float32 (ties to even) and return it as a Python float.

    Overflow returns ``±inf``, as IEEE 754 single precision does.
    """
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return value
    exact = Fraction(value)
    if exact == 0:
        return 0.0
    sign = -1.0 if exact < 0 else 1.0
    magnitude = abs(exact)

    # exponent such that 2**exponent <= magnitude < 2**(exponent + 1)
    exponent = magnitude.numerator.bit_length() - magnitude.denominator.bit_length()
    if Fraction(2) ** exponent > magnitude:
        exponent -= 1
    quantum = Fraction(2) ** (max(exponent, _FLOAT32_MIN_NORMAL_EXPONENT) - _FLOAT32_MANTISSA_BITS)
    units = magnitude / quantum
    rounded_units = round(units)  # round() on a Fraction rounds half to even
    result = rounded_units * quantum
    if result >= Fraction(2) ** (_FLOAT32_MAX_EXPONENT + 1):
        return sign * math.inf
    return sign * float(result)


_GO_DECIMAL_FLOAT: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_GO_HEX_FLOAT: Final = re.compile(
    r"[+-]?0[xX](?:[0-9a-fA-F]+(?:\.[0-9a-fA-F]*)?|\.[0-9a-fA-F]+)[pP][+-]?[0-9]+"
)
_GO_SPECIAL_FLOAT: Final = re.compile(r"[+-]?(?:inf|infinity|nan)", re.IGNORECASE)


def parse_go_float32(text: str) -> float:
    """Parse ``text`` like Go's ``strconv.ParseFloat(text, 32)``.

    Accepts decimal and hexadecimal (``0x1p-3``) floats, ``inf``/``infinity``/``nan`` in any case,
    and Go's ``_`` digit separators. Raises ValueError with Go's message for a syntax error or a
    finite value that overflows float32 (``value out of range``).
    """
    quoted = '"' + text + '"'
    cleaned = text.replace("_", "") if _has_valid_underscores(text) else text
    if _GO_SPECIAL_FLOAT.fullmatch(cleaned):
        lowered = cleaned.lower().lstrip("+-")
        if lowered == "nan":
            return math.nan
        return -math.inf if cleaned.startswith("-") else math.inf
    if _GO_DECIMAL_FLOAT.fullmatch(cleaned):
        exact = Fraction(cleaned)
    elif _GO_HEX_FLOAT.fullmatch(cleaned):
        exact = Fraction(float.fromhex(cleaned))
    else:
        raise ValueError(f"strconv.ParseFloat: parsing {quoted}: invalid syntax")
    result = round_to_float32(exact)
    if math.isinf(result):
        raise ValueError(f"strconv.ParseFloat: parsing {quoted}: value out of range")
    return result


def _has_valid_underscores(text: str) -> bool:
    """Return whether ``text`` uses ``_`` the way Go allows in ParseFloat: only after a base prefix."""
    if "_" not in text:
        return False
    body = text.lstrip("+-")
    return body[:2].lower() == "0x" and "__" not in body and not body.endswith("_")


def format_percentage(percentage: float) -> str:
    """Format a float32 fraction of 1 as the shortest percentage that parses back to it (``10%``)."""
    for decimals in range(12):
        text = f"{percentage * 100:.{decimals}f}"
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        if round_to_float32(Fraction(round_to_float32(Fraction(text))) / 100) == percentage:
            return f"{text}%"
    return f"{percentage * 100!r}%"


@dataclass(frozen=True)
class ThresholdValue:
    """A threshold or minimum-reclaim amount: an absolute quantity or a fraction of capacity.

    Exactly one of ``quantity`` and ``percentage`` is set. ``percentage`` is already rounded to
    float32, as the kubelet stores it, and is a fraction of 1 (``0.1`` for ``10%``).
    """

    quantity: Quantity | None = None
    percentage: float | None = None

    def __post_init__(self) -> None:
        if (self.quantity is None) == (self.percentage is None):
            raise ValueError("ThresholdValue needs exactly one of quantity and percentage")

    def __str__(self) -> str:
        if self.quantity is not None:
            return str(self.quantity)
        assert self.percentage is not None
        return format_percentage(self.percentage)


def threshold_quantity(value: ThresholdValue, capacity: int) -> int:
    """Return the threshold in bytes (or inodes, pids) for a signal with ``capacity``.

    This is the kubelet's GetThresholdQuantity (pkg/kubelet/eviction/helpers.go, 1.27-1.35). A
    quantity is rounded up to an integer. A percentage gives
    ``int64(float64(capacity) * float64(pct))`` with the float32 percentage, truncated toward
    zero, so 10% of 2Gi is 214748368, not 214748364.
    """
    if value.quantity is not None:
        return value.quantity.to_int_ceil()
    assert value.percentage is not None
    product = float(capacity) * value.percentage
    if math.isnan(product) or math.isinf(product):
        return 0
    return int(product)


@dataclass(frozen=True)
class Threshold:
    """One eviction threshold: the signal is met when available < value (the only operator).

    ``grace_period_s`` is 0 for a hard threshold; a soft threshold given a grace period of
    ``0s`` is hard in every respect, as in the kubelet. ``text`` is the input as written,
    e.g. ``memory.available<100Mi``.
    """

    signal: Signal
    value: ThresholdValue
    grace_period_s: float = 0.0
    min_reclaim: ThresholdValue | None = None
    text: str = ""

    @property
    def hard(self) -> bool:
        """Whether the kubelet treats this threshold as hard (grace period zero)."""
        return self.grace_period_s == 0

    @property
    def operator(self) -> str:
        return "LessThan"

    def describe(self) -> str:
        """Format the threshold like the kubelet's flag syntax, e.g. ``nodefs.available<10%``."""
        parts = [f"{self.signal.value}<{self.value}"]
        if not self.hard:
            parts.append(f"grace {format_go_duration(self.grace_period_s)}")
        if self.min_reclaim is not None:
            parts.append(f"min-reclaim {self.min_reclaim}")
        return ", ".join(parts)

    def quantity_for(self, capacity: int) -> int:
        """Return the threshold amount for a filesystem, memory or pid ``capacity``."""
        return threshold_quantity(self.value, capacity)

    def is_count(self) -> bool:
        """Return whether the signal counts inodes or pids rather than bytes."""
        return self.signal in COUNT_SIGNALS


@dataclass(frozen=True)
class ImageGCPolicy:
    """The image garbage collector's settings (KubeletConfiguration image* fields).

    Defaults are the kubelet's (pkg/kubelet/apis/config/v1beta1/defaults.go, 1.27-1.35).
    ``maximum_gc_age_s`` 0 disables age-based GC. ``period_s`` is the kubelet's fixed
    ImageGCPeriod (5 minutes), not a config field.
    """

    high_threshold_percent: int = 85
    low_threshold_percent: int = 80
    minimum_gc_age_s: float = 120
    maximum_gc_age_s: float = 0
    period_s: float = 300


@dataclass(frozen=True)
class ContainerGCPolicy:
    """The container garbage collector's settings, set only by deprecated flags.

    ``minimum_age_s`` is --minimum-container-ttl-duration (default 0), ``max_per_pod_container``
    is --maximum-dead-containers-per-container (default 1; negative means no limit) and
    ``max_containers`` is --maximum-dead-containers (default -1, no limit).
    """

    minimum_age_s: float = 0
    max_per_pod_container: int = 1
    max_containers: int = -1


@dataclass(frozen=True)
class Policy:
    """The effective eviction and GC policy of one kubelet, after defaults and validation.

    ``thresholds`` already contains the version's default hard thresholds (unless replaced) and
    the ``allocatableMemory.available`` copies of hard memory thresholds when ``pods`` is in
    ``enforce_node_allocatable``. containerfs thresholds are not included because they depend
    on the filesystem layout: see ``simulator.policy.containerfs``.

    ``provenance`` maps a field path (``evictionHard.memory.available``, ``imageGCHighThresholdPercent``)
    to where its value came from. ``warnings`` lists ignored input (unknown fields, unknown feature
    gates). ``sources`` names the inputs in the order they were applied.
    ``zero_values_defaulted`` lists fields a config file set to zero that the kubelet's
    defaulting replaced (``evictionPressureTransitionPeriod: 0s`` becomes 5m0s).
    """

    kubelet_version: str
    thresholds: tuple[Threshold, ...] = ()
    max_pod_grace_period_s: int = 0
    pressure_transition_period_s: float = 300
    image_gc: ImageGCPolicy = field(default_factory=ImageGCPolicy)
    container_gc: ContainerGCPolicy = field(default_factory=ContainerGCPolicy)
    local_storage_capacity_isolation: bool = True
    kernel_memcg_notification: bool = False
    enforce_node_allocatable: tuple[str, ...] = ("pods",)
    feature_gates: dict[str, bool] = field(default_factory=dict)
    root_dir: str = "/var/lib/kubelet"
    # podLogsDir: the container log directory; log usage counts towards ephemeral storage.
    pod_logs_dir: str = "/var/log/pods"
    provenance: dict[str, str] = field(default_factory=dict)
    merge_default_eviction_settings: bool = False
    kube_reserved: dict[str, Quantity] = field(default_factory=dict)
    system_reserved: dict[str, Quantity] = field(default_factory=dict)
    eviction_hard: dict[str, str] = field(default_factory=dict)
    eviction_soft: dict[str, str] = field(default_factory=dict)
    eviction_soft_grace_period: dict[str, str] = field(default_factory=dict)
    eviction_minimum_reclaim: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    zero_values_defaulted: tuple[str, ...] = ()

    def thresholds_for(self, signal: Signal) -> tuple[Threshold, ...]:
        """Return the thresholds of one signal, hard ones first."""
        matching = [t for t in self.thresholds if t.signal == signal]
        return tuple(sorted(matching, key=lambda t: not t.hard))

    @property
    def hard_thresholds(self) -> tuple[Threshold, ...]:
        return tuple(t for t in self.thresholds if t.hard)

    @property
    def soft_thresholds(self) -> tuple[Threshold, ...]:
        return tuple(t for t in self.thresholds if not t.hard)

    def feature_enabled(self, gate: str) -> bool:
        """Return the gate's effective value (defaults for the version already applied)."""
        return bool(self.feature_gates.get(gate, False))
