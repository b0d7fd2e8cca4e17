"""The kubelet's threshold grammar: evictionHard, evictionSoft, grace periods and minimum reclaim.

This restates ``ParseThresholdConfig`` and its helpers from kubernetes
pkg/kubelet/eviction/helpers.go (read at the 1.33-1.35 master; the parsing rules are unchanged
from 1.27). Error messages are the kubelet's own texts, so a user can search for them. Every
function raises ``ThresholdError`` (a ValueError) carrying the map field and the signal key;
the loaders turn it into an InputError naming the file.

The kubelet walks Go maps in random order and stops at the first bad entry. evictsim walks
them in input order, so with several bad entries it reports the first one as written.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import replace
from fractions import Fraction

from simulator.policy.model import Threshold, ThresholdValue, parse_go_float32, round_to_float32
from simulator.quantity import DurationError, Quantity, QuantityError, parse_go_duration_ns
from simulator.signals import Signal

__all__ = [
    "NODE_ALLOCATABLE_ENFORCEMENT_KEY",
    "ThresholdError",
    "add_allocatable_thresholds",
    "parse_grace_periods",
    "parse_minimum_reclaims",
    "parse_percentage",
    "parse_signal",
    "parse_threshold_config",
    "parse_threshold_statement",
    "parse_threshold_statements",
    "split_flag_map",
]

# The enforceNodeAllocatable entry that makes the kubelet copy hard memory thresholds.
NODE_ALLOCATABLE_ENFORCEMENT_KEY = "pods"

_SIGNALS_BY_NAME: dict[str, Signal] = {signal.value: signal for signal in Signal}


class ThresholdError(ValueError):
    """An invalid threshold map entry; ``field`` is the map (``evictionHard``) and ``key`` the signal."""

    def __init__(self, message: str, *, field: str, key: str = "", value: str = "") -> None:
        self.field = field
        self.key = key
        self.value = value
        super().__init__(message)


def parse_signal(name: str, *, field: str) -> Signal:
    """Return the signal named ``name`` or raise the kubelet's ``unsupported eviction signal`` error."""
    signal = _SIGNALS_BY_NAME.get(name)
    if signal is None:
        accepted = ", ".join(s.value for s in Signal)
        raise ThresholdError(
            f"unsupported eviction signal {name} (accepted: {accepted})", field=field, key=name, value=name
        )
    return signal


def parse_percentage(text: str) -> float:
    """Parse ``25.5%`` into the float32 fraction 0.255 like the kubelet's parsePercentage.

    Every trailing ``%`` is removed, the rest is parsed as a Go float32 and divided by 100 in
    float32 arithmetic. Raises ValueError with Go's strconv message.
    """
    value = parse_go_float32(text.rstrip("%"))
    if math.isnan(value) or math.isinf(value):
        return value
    return round_to_float32(Fraction(value) / 100)


def parse_threshold_statement(name: str, text: str, *, field: str) -> Threshold | None:
    """Parse one evictionHard or evictionSoft entry; return None for the exact strings 0% and 100%."""
    signal = parse_signal(name, field=field)
    if not isinstance(text, str):
        raise ThresholdError(
            f"invalid value {text!r} for {name}: expected a string such as 100Mi or 10%",
            field=field,
            key=name,
            value=str(text),
        )
    if text.endswith("%"):
        if text in ("0%", "100%"):
            return None
        try:
            percentage = parse_percentage(text)
        except ValueError as error:
            raise ThresholdError(
                f"invalid value {text!r}: {error}; expected a percentage such as 10% or 7.5%",
                field=field,
                key=name,
                value=text,
            ) from error
        if math.isnan(percentage):
            # NOTE: the kubelet accepts a NaN percentage and then compares against an undefined
            # integer conversion, so evictsim rejects it instead of guessing the platform result.
            raise ThresholdError(
                f"eviction percentage threshold {name} is not a number: {text}",
                field=field,
                key=name,
                value=text,
            )
        if percentage < 0:
            raise ThresholdError(
                f"eviction percentage threshold {name} must be >= 0%: {text}",
                field=field,
                key=name,
                value=text,
            )
        if percentage > 1:
            raise ThresholdError(
                f"eviction percentage threshold {name} must be <= 100%: {text}",
                field=field,
                key=name,
                value=text,
            )
        return Threshold(signal, ThresholdValue(percentage=percentage), text=f"{name}<{text}")

    try:
        quantity = Quantity.parse(text)
    except QuantityError as error:
        raise ThresholdError(
            f"invalid value {text!r}: {error}; expected a quantity such as 100Mi or 1.5Gi, or a percentage such as 10%",
            field=field,
            key=name,
            value=text,
        ) from error
    if quantity.sign() <= 0:
        raise ThresholdError(
            f"eviction threshold {name} must be positive: {quantity}", field=field, key=name, value=text
        )
    return Threshold(signal, ThresholdValue(quantity=quantity), text=f"{name}<{text}")


def parse_threshold_statements(statements: Mapping[str, str] | None, *, field: str) -> list[Threshold]:
    """Parse a whole evictionHard or evictionSoft map, dropping 0% and 100% entries."""
    results: list[Threshold] = []
    for name, text in (statements or {}).items():
        threshold = parse_threshold_statement(name, text, field=field)
        if threshold is not None:
            results.append(threshold)
    return results


def parse_grace_periods(
    statements: Mapping[str, str] | None, *, field: str = "evictionSoftGracePeriod"
) -> dict[Signal, float]:
    """Parse evictionSoftGracePeriod into seconds per signal (Go durations, zero allowed, negative not)."""
    results: dict[Signal, float] = {}
    for name, text in (statements or {}).items():
        signal = parse_signal(name, field=field)
        try:
            nanoseconds = parse_go_duration_ns(text)
        except DurationError as error:
            raise ThresholdError(
                f"{error} (expected a Go duration such as 30s, 1m30s or 2h)",
                field=field,
                key=name,
                value=str(text),
            ) from error
        if nanoseconds < 0:
            raise ThresholdError(
                f"invalid eviction grace period specified: {text}, must be a positive value",
                field=field,
                key=name,
                value=text,
            )
        results[signal] = nanoseconds / 1e9
    return results


def parse_minimum_reclaims(
    statements: Mapping[str, str] | None, *, field: str = "evictionMinimumReclaim"
) -> dict[Signal, ThresholdValue]:
    """Parse evictionMinimumReclaim: percentages must be > 0%, quantities >= 0."""
    results: dict[Signal, ThresholdValue] = {}
    for name, text in (statements or {}).items():
        signal = parse_signal(name, field=field)
        if not isinstance(text, str):
            raise ThresholdError(
                f"invalid value {text!r} for {name}: expected a string such as 500Mi or 5%",
                field=field,
                key=name,
                value=str(text),
            )
        if text.endswith("%"):
            try:
                percentage = parse_percentage(text)
            except ValueError as error:
                raise ThresholdError(str(error), field=field, key=name, value=text) from error
            if percentage <= 0:
                raise ThresholdError(
                    f"eviction percentage minimum reclaim {name} must be positive: {text}",
                    field=field,
                    key=name,
                    value=text,
                )
            results[signal] = ThresholdValue(percentage=percentage)
            continue
        try:
            quantity = Quantity.parse(text)
        except QuantityError as error:
            raise ThresholdError(
                f"invalid value {text!r}: {error}; expected a quantity such as 500Mi or a percentage such as 5%",
                field=field,
                key=name,
                value=text,
            ) from error
        if quantity.sign() < 0:
            raise ThresholdError(
                f"negative eviction minimum reclaim specified for {name}", field=field, key=name, value=text
            )
        results[signal] = ThresholdValue(quantity=quantity)
    return results


def add_allocatable_thresholds(thresholds: Iterable[Threshold]) -> list[Threshold]:
    """Append an ``allocatableMemory.available`` copy of every hard ``memory.available`` threshold.

    The copy keeps the value and minimum reclaim; soft memory thresholds are not copied.
    """
    existing = list(thresholds)
    copies = [
        Threshold(
            Signal.ALLOCATABLE_MEMORY_AVAILABLE,
            threshold.value,
            0.0,
            threshold.min_reclaim,
            text=f"{Signal.ALLOCATABLE_MEMORY_AVAILABLE.value}<{threshold.value}",
        )
        for threshold in existing
        if threshold.signal == Signal.MEMORY_AVAILABLE and threshold.hard
    ]
    return existing + copies


def parse_threshold_config(
    enforce_node_allocatable: Iterable[str],
    eviction_hard: Mapping[str, str] | None,
    eviction_soft: Mapping[str, str] | None,
    eviction_soft_grace_period: Mapping[str, str] | None,
    eviction_minimum_reclaim: Mapping[str, str] | None,
) -> list[Threshold]:
    """Build the threshold list exactly as the kubelet's ParseThresholdConfig does.

    The four maps are parsed first (hard, soft, grace periods, minimum reclaims), and all are
    validated even when unused. Then each soft threshold gets its grace period (a missing one is
    an error) and every threshold gets its signal's minimum reclaim. Last, hard memory
    thresholds are copied to ``allocatableMemory.available`` when ``pods`` is enforced.
    """
    hard = parse_threshold_statements(eviction_hard, field="evictionHard")
    soft = parse_threshold_statements(eviction_soft, field="evictionSoft")
    grace_periods = parse_grace_periods(eviction_soft_grace_period)
    minimum_reclaims = parse_minimum_reclaims(eviction_minimum_reclaim)

    graced_soft: list[Threshold] = []
    for threshold in soft:
        if threshold.signal not in grace_periods:
            raise ThresholdError(
                f"grace period must be specified for the soft eviction threshold {threshold.signal.value}",
                field="evictionSoftGracePeriod",
                key=threshold.signal.value,
            )
        graced_soft.append(replace(threshold, grace_period_s=grace_periods[threshold.signal]))

    results = [
        replace(threshold, min_reclaim=minimum_reclaims[threshold.signal])
        if threshold.signal in minimum_reclaims
        else threshold
        for threshold in hard + graced_soft
    ]
    if NODE_ALLOCATABLE_ENFORCEMENT_KEY in enforce_node_allocatable:
        results = add_allocatable_thresholds(results)
    return results


def split_flag_map(text: str, separator: str, *, flag: str) -> dict[str, str]:
    """Parse a kubelet map flag such as ``memory.available<100Mi,nodefs.available<10%``.

    ``separator`` is ``<`` for --eviction-hard and --eviction-soft (the kubelet's
    ConfigurationMap with LangleSeparator) and ``=`` for the grace-period and minimum-reclaim
    flags. Entries are trimmed; empty entries are skipped; a later key replaces an earlier one.
    """
    results: dict[str, str] = {}
    for entry in text.split(","):
        entry = entry.strip()
        if not entry:
            continue
        key, found, value = entry.partition(separator)
        if not found:
            raise ThresholdError(
                f"invalid entry {entry!r} in --{flag}: expected KEY{separator}VALUE pairs separated by commas",
                field=f"--{flag}",
                value=entry,
            )
        results[key.strip()] = value.strip()
    return results
