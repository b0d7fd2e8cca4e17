"""The kubelet's threshold grammar.

Cases restate kubernetes pkg/kubelet/eviction/helpers_test.go (TestParseThresholdConfig,
TestParsePercentage, TestAddAllocatableThresholds, TestGetThresholdQuantity) and the rules
of helpers.go ParseThresholdConfig (1.30-1.35).
"""

from __future__ import annotations

import struct
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.policy.grammar import (
    ThresholdError,
    add_allocatable_thresholds,
    parse_percentage,
    parse_threshold_config,
    split_flag_map,
)
from simulator.policy.model import (
    Threshold,
    ThresholdValue,
    format_percentage,
    parse_go_float32,
    round_to_float32,
    threshold_quantity,
)
from simulator.quantity import Quantity
from simulator.signals import Signal

MEMORY = Signal.MEMORY_AVAILABLE
ALLOCATABLE = Signal.ALLOCATABLE_MEMORY_AVAILABLE
NODEFS = Signal.NODEFS_AVAILABLE
IMAGEFS = Signal.IMAGEFS_AVAILABLE


def quantity(text: str) -> ThresholdValue:
    return ThresholdValue(quantity=Quantity.parse(text))


def percent(value: float) -> ThresholdValue:
    """A percentage as the kubelet stores it: float32(value) rounded, as a fraction of 1."""
    return ThresholdValue(percentage=round_to_float32(Fraction(round_to_float32(Fraction(str(value)))) / 100))


def summary(thresholds: list[Threshold]) -> set[tuple[str, str, float, str | None]]:
    """Reduce thresholds to comparable tuples (the kubelet's tests compare unordered)."""
    return {
        (
            t.signal.value,
            str(t.value),
            t.grace_period_s,
            None if t.min_reclaim is None else str(t.min_reclaim),
        )
        for t in thresholds
    }


def test_parse_no_values() -> None:
    """'no values': empty maps give no thresholds and no error."""
    assert parse_threshold_config([], {}, {}, {}, {}) == []


def test_parse_all_memory_values() -> None:
    """'all memory eviction values': the hard memory threshold is copied to allocatableMemory."""
    result = parse_threshold_config(
        ["pods"],
        {"memory.available": "150Mi"},
        {"memory.available": "300Mi"},
        {"memory.available": "30s"},
        {"memory.available": "0"},
    )
    assert summary(result) == {
        ("allocatableMemory.available", "150Mi", 0.0, "0"),
        ("memory.available", "150Mi", 0.0, "0"),
        ("memory.available", "300Mi", 30.0, "0"),
    }


def test_parse_memory_percentages() -> None:
    """'all memory eviction values in percentages': no pods enforcement, so no allocatable copy."""
    result = parse_threshold_config(
        [],
        {"memory.available": "10%"},
        {"memory.available": "30%"},
        {"memory.available": "30s"},
        {"memory.available": "5%"},
    )
    assert summary(result) == {
        ("memory.available", "10%", 0.0, "5%"),
        ("memory.available", "30%", 30.0, "5%"),
    }
    assert {t.value.percentage for t in result} == {percent(10).percentage, percent(30).percentage}


def test_parse_disk_values() -> None:
    """'disk eviction values': minimum reclaim attaches to both hard and soft thresholds."""
    result = parse_threshold_config(
        [],
        {"imagefs.available": "150Mi", "nodefs.available": "100Mi"},
        {"imagefs.available": "300Mi", "nodefs.available": "200Mi"},
        {"imagefs.available": "30s", "nodefs.available": "30s"},
        {"imagefs.available": "2Gi", "nodefs.available": "1Gi"},
    )
    assert summary(result) == {
        ("imagefs.available", "150Mi", 0.0, "2Gi"),
        ("nodefs.available", "100Mi", 0.0, "1Gi"),
        ("imagefs.available", "300Mi", 30.0, "2Gi"),
        ("nodefs.available", "200Mi", 30.0, "1Gi"),
    }


def test_parse_disk_percentages() -> None:
    """'disk eviction values in percentages': 15%, 10.5%, 30%, 20.5% and min reclaim 10%, 5%."""
    result = parse_threshold_config(
        [],
        {"imagefs.available": "15%", "nodefs.available": "10.5%"},
        {"imagefs.available": "30%", "nodefs.available": "20.5%"},
        {"imagefs.available": "30s", "nodefs.available": "30s"},
        {"imagefs.available": "10%", "nodefs.available": "5%"},
    )
    by_key = {(t.signal, t.hard): t for t in result}
    assert by_key[(IMAGEFS, True)].value == percent(15)
    assert by_key[(NODEFS, True)].value == percent(10.5)
    assert by_key[(IMAGEFS, False)].value == percent(30)
    assert by_key[(NODEFS, False)].value == percent(20.5)
    assert by_key[(IMAGEFS, True)].min_reclaim == percent(10)
    assert by_key[(NODEFS, False)].min_reclaim == percent(5)


def test_parse_inode_values() -> None:
    """'inode eviction values': quantities with binary suffixes count inodes."""
    result = parse_threshold_config(
        [],
        {"imagefs.inodesFree": "150Mi", "nodefs.inodesFree": "100Mi"},
        {"imagefs.inodesFree": "300Mi", "nodefs.inodesFree": "200Mi"},
        {"imagefs.inodesFree": "30s", "nodefs.inodesFree": "30s"},
        {"imagefs.inodesFree": "2Gi", "nodefs.inodesFree": "1Gi"},
    )
    assert len(result) == 4
    hard_imagefs = next(t for t in result if t.signal == Signal.IMAGEFS_INODES_FREE and t.hard)
    assert threshold_quantity(hard_imagefs.value, 0) == 157286400


@pytest.mark.parametrize("text", ["0%", "100%"])
def test_parse_disable_via_percentage(text: str) -> None:
    """'disable via 0%' and 'disable via 100%': dropped silently, no grace period needed."""
    assert parse_threshold_config([], {"memory.available": text}, {"memory.available": text}, {}, {}) == []


def test_parse_other_spellings_not_dropped() -> None:
    """Only the exact strings are dropped: 0.0% is a zero threshold and 100.0% equals capacity."""
    result = parse_threshold_config(
        [], {"memory.available": "0.0%", "nodefs.available": "100.0%"}, {}, {}, {}
    )
    assert {(t.signal, t.value.percentage) for t in result} == {(MEMORY, 0.0), (NODEFS, 1.0)}


ERROR_CASES = [
    ("invalid-signal", {"mem.available": "150Mi"}, {}, {}, {}, "unsupported eviction signal mem.available"),
    (
        "hard-signal-negative",
        {"memory.available": "-150Mi"},
        {},
        {},
        {},
        "eviction threshold memory.available must be positive: -150Mi",
    ),
    (
        "hard-signal-zero",
        {"memory.available": "0"},
        {},
        {},
        {},
        "eviction threshold memory.available must be positive: 0",
    ),
    (
        "hard-signal-negative-percentage",
        {"memory.available": "-15%"},
        {},
        {},
        {},
        "eviction percentage threshold memory.available must be >= 0%: -15%",
    ),
    (
        "hard-signal-percentage-greater-than-100%",
        {"memory.available": "150%"},
        {},
        {},
        {},
        "eviction percentage threshold memory.available must be <= 100%: 150%",
    ),
    (
        "soft-signal-negative",
        {},
        {"memory.available": "-150Mi"},
        {"memory.available": "30s"},
        {},
        "must be positive",
    ),
    (
        "valid-and-invalid-signal",
        {"memory.available": "150Mi", "invalid.foo": "150Mi"},
        {},
        {},
        {},
        "unsupported eviction signal invalid.foo",
    ),
    (
        "soft-no-grace-period",
        {},
        {"memory.available": "150Mi"},
        {},
        {},
        "grace period must be specified for the soft eviction threshold memory.available",
    ),
    (
        "soft-negative-grace-period",
        {},
        {"memory.available": "150Mi"},
        {"memory.available": "-30s"},
        {},
        "invalid eviction grace period specified: -30s, must be a positive value",
    ),
    (
        "negative-reclaim",
        {},
        {},
        {},
        {"memory.available": "-300Mi"},
        "negative eviction minimum reclaim specified for memory.available",
    ),
    (
        "zero-percent-reclaim",
        {},
        {},
        {},
        {"memory.available": "0%"},
        "eviction percentage minimum reclaim memory.available must be positive: 0%",
    ),
    ("swap-signal", {"swap.available": "1Gi"}, {}, {}, {}, "unsupported eviction signal swap.available"),
    (
        "bad-grace-duration",
        {},
        {"memory.available": "1Gi"},
        {"memory.available": "1d"},
        {},
        'unknown unit "d"',
    ),
    ("bad-percentage", {"memory.available": "1.2.3%"}, {}, {}, {}, "invalid syntax"),
    ("percent-inside-quantity", {"memory.available": "12%345"}, {}, {}, {}, "regular expression"),
    ("bad-quantity", {"memory.available": "1x"}, {}, {}, {}, "regular expression"),
    ("grace-unknown-signal", {}, {}, {"foo": "30s"}, {}, "unsupported eviction signal foo"),
]


@pytest.mark.parametrize(
    ("hard", "soft", "grace", "reclaim", "message"),
    [c[1:] for c in ERROR_CASES],
    ids=[c[0] for c in ERROR_CASES],
)
def test_parse_errors(hard: dict, soft: dict, grace: dict, reclaim: dict, message: str) -> None:
    with pytest.raises(ThresholdError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_threshold_config([], hard, soft, grace, reclaim)


def test_parse_infinite_percentage() -> None:
    """Go's ParseFloat reads "inf", so "inf%" fails the upper bound check, not the syntax check."""
    with pytest.raises(ThresholdError, match="must be <= 100%: inf%"):
        parse_threshold_config([], {"memory.available": "inf%"}, {}, {}, {})
    with pytest.raises(ThresholdError, match="must be >= 0%: -Inf%"):
        parse_threshold_config([], {"memory.available": "-Inf%"}, {}, {}, {})


def test_minimum_reclaim_has_no_upper_bound() -> None:
    """parseMinimumReclaims checks only > 0 for percentages, so 150% is accepted."""
    (threshold,) = parse_threshold_config(
        [], {"memory.available": "1Gi"}, {}, {}, {"memory.available": "150%"}
    )
    assert threshold.min_reclaim == percent(150)


def test_soft_zero_grace_is_hard() -> None:
    """A soft threshold with grace 0s is hard in every respect, including the allocatable copy."""
    result = parse_threshold_config(
        ["pods"], {}, {"memory.available": "300Mi"}, {"memory.available": "0s"}, {}
    )
    assert all(t.hard for t in result)
    assert {t.signal for t in result} == {MEMORY, ALLOCATABLE}


def test_grace_without_soft_threshold_ignored() -> None:
    assert parse_threshold_config([], {}, {}, {"memory.available": "30s"}, {"nodefs.available": "1Gi"}) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [("25.5%", 0.255), ("10%", 0.1), ("10%%", 0.1), ("1e1%", 0.1), (".5%", 0.005), ("+5%", 0.05)],
)
def test_parse_percentage(text: str, expected: float) -> None:
    """TestParsePercentage: the value is float32 arithmetic, so compare to float32(expected)."""
    assert parse_percentage(text) == round_to_float32(Fraction(str(expected)))


@pytest.mark.parametrize("text", ["blah", "foo%", "12%345", "", "1,5%"])
def test_parse_percentage_invalid(text: str) -> None:
    with pytest.raises(ValueError, match="invalid syntax"):
        parse_percentage(text)


def test_parse_go_float32_forms() -> None:
    """strconv.ParseFloat(s, 32) accepts hex floats and inf, and reports overflow."""
    assert parse_go_float32("0x1p-2") == 0.25
    assert parse_go_float32("Inf") == float("inf")
    with pytest.raises(ValueError, match="value out of range"):
        parse_go_float32("1e39")


@pytest.mark.parametrize(
    ("percentage", "capacity", "expected"),
    [
        (10, 2 * 2**30, 214748368),
        (20, 1000 * 2**20, 209715203),
        (5, 1000 * 2**20, 52428800),
        (15, 100, 15),
    ],
    ids=["10%-of-2Gi", "20%-of-1000Mi", "5%-of-1000Mi", "15%-of-100"],
)
def test_threshold_quantity_float32(percentage: int, capacity: int, expected: int) -> None:
    """GetThresholdQuantity: int64(float64(capacity) * float64(float32 percentage)), truncated."""
    value = ThresholdValue(percentage=parse_percentage(f"{percentage}%"))
    assert threshold_quantity(value, capacity) == expected


def test_threshold_quantity_rounds_quantity_up() -> None:
    assert threshold_quantity(quantity("1.05Gi"), 0) == 1127428916
    assert threshold_quantity(quantity("1200"), 10**6) == 1200


def test_add_allocatable_thresholds() -> None:
    """TestAddAllocatableThresholds cases (a) to (d)."""
    imagefs = Threshold(IMAGEFS, quantity("150Mi"))
    soft_memory = Threshold(MEMORY, quantity("150Mi"), grace_period_s=10e-9)
    hard_memory = Threshold(MEMORY, quantity("150Mi"), min_reclaim=quantity("0"))
    second = Threshold(MEMORY, quantity("200Mi"), min_reclaim=quantity("1Gi"))

    assert add_allocatable_thresholds([imagefs]) == [imagefs]
    assert add_allocatable_thresholds([soft_memory]) == [soft_memory]

    (_, copy) = add_allocatable_thresholds([hard_memory])
    assert (copy.signal, copy.value, copy.min_reclaim, copy.hard) == (
        ALLOCATABLE,
        quantity("150Mi"),
        quantity("0"),
        True,
    )

    result = add_allocatable_thresholds([hard_memory, second])
    copies = [(t.value, t.min_reclaim) for t in result if t.signal == ALLOCATABLE]
    assert copies == [(quantity("150Mi"), quantity("0")), (quantity("200Mi"), quantity("1Gi"))]


def test_split_flag_map() -> None:
    """--eviction-hard takes k<v pairs; the grace and reclaim flags take k=v pairs."""
    assert split_flag_map("memory.available<100Mi, nodefs.available<10%", "<", flag="eviction-hard") == {
        "memory.available": "100Mi",
        "nodefs.available": "10%",
    }
    assert split_flag_map("memory.available=1m30s", "=", flag="eviction-soft-grace-period") == {
        "memory.available": "1m30s"
    }
    with pytest.raises(ThresholdError, match="KEY<VALUE"):
        split_flag_map("memory.available=100Mi", "<", flag="eviction-hard")


@pytest.mark.parametrize("text", ["10%", "25.5%", "0.001%", "33.333%", "5%", "15%"])
def test_format_percentage_round_trips(text: str) -> None:
    assert format_percentage(parse_percentage(text)) == text


def _float32_by_cast(value: float) -> float:
    """Round a double to float32 with the C cast that struct uses (IEEE round to nearest even)."""
    return struct.unpack("f", struct.pack("f", value))[0]


@settings(deadline=None)
@given(st.floats(min_value=-3.0e38, max_value=3.0e38, allow_nan=False, allow_infinity=False))
def test_round_to_float32_matches_cast(value: float) -> None:
    """The exact rounding agrees with the hardware float32 conversion for every double."""
    assert round_to_float32(Fraction(value)) == _float32_by_cast(value)


@settings(deadline=None)
@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=0, max_value=3))
def test_parse_percentage_matches_float32_division(number: int, decimals: int) -> None:
    """parsePercentage divides in float32: float32(value) / float32(100), rounded once."""
    numpy = pytest.importorskip("numpy")
    text = f"{number / 10**decimals:.{decimals}f}"
    expected = float(numpy.float32(numpy.float32(text)) / numpy.float32(100))
    assert parse_percentage(f"{text}%") == expected
