"""Kubernetes quantities and Go durations.

Expected values restate apimachinery's quantity tests and behaviour
(k8s.io/apimachinery pkg/api/resource/quantity.go and quantity_test.go TestQuantityParse,
TestQuantityString) and Go's time package (ParseDuration, Duration.String tests).
"""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.quantity import (
    DurationError,
    Quantity,
    QuantityError,
    format_go_duration,
    format_go_duration_ns,
    parse_go_duration,
    parse_go_duration_ns,
)

PARSE_CASES = [
    # text, exact value, canonical String()
    ("0", Fraction(0), "0"),
    ("1", Fraction(1), "1"),
    ("100Mi", Fraction(100 * 2**20), "100Mi"),
    ("1Ki", Fraction(1024), "1Ki"),
    ("1024Mi", Fraction(2**30), "1Gi"),
    ("1.5Gi", Fraction(3 * 2**29), "1536Mi"),
    ("0.5Gi", Fraction(2**29), "512Mi"),
    ("0.5Ki", Fraction(512), "512"),
    ("1.05Gi", Fraction(105 * 2**30, 100), "1127428915200m"),
    ("1.1G", Fraction(1_100_000_000), "1100M"),
    ("1.5", Fraction(3, 2), "1500m"),
    ("1m", Fraction(1, 1000), "1m"),
    ("1n", Fraction(1, 10**9), "1n"),
    ("0.1n", Fraction(1, 10**9), "1n"),  # rounded away from zero to 1n
    ("1u", Fraction(1, 10**6), "1u"),
    ("1k", Fraction(1000), "1k"),
    ("1M", Fraction(10**6), "1M"),
    ("1E", Fraction(10**18), "1E"),
    ("1e3", Fraction(1000), "1e3"),
    ("1E3", Fraction(1000), "1E3"),  # kept as written: already canonical in form
    ("1e-3", Fraction(1, 1000), "1e-3"),
    ("2048", Fraction(2048), "2048"),
    ("-150Mi", Fraction(-150 * 2**20), "-150Mi"),
    ("150Mi", Fraction(150 * 2**20), "150Mi"),
    ("1200", Fraction(1200), "1200"),
    (".5", Fraction(1, 2), "500m"),
    ("1.", Fraction(1), "1."),  # apimachinery keeps canonical-looking input text as is
    ("+100Mi", Fraction(100 * 2**20), "+100Mi"),
    ("1000m", Fraction(1), "1"),
    ("8Ei", Fraction(2**63 - 1), "9223372036854775807"),  # binary values are capped at 2**63-1
]


@pytest.mark.parametrize(("text", "value", "canonical"), PARSE_CASES, ids=[c[0] for c in PARSE_CASES])
def test_quantity_parse_table(text: str, value: Fraction, canonical: str) -> None:
    quantity = Quantity.parse(text)
    assert quantity.value == value
    assert str(quantity) == canonical


INVALID = [
    ("", "regular expression"),
    ("abc", "regular expression"),
    ("1Kx", "regular expression"),
    ("1.5.5", "regular expression"),
    ("1e", "suffix"),
    ("1K", "suffix"),
    ("1 Gi", "regular expression"),
    ("1e+", "suffix"),
    ("1Mb", "regular expression"),
]


@pytest.mark.parametrize(("text", "message"), INVALID, ids=[c[0] or "empty" for c in INVALID])
def test_quantity_parse_invalid(text: str, message: str) -> None:
    with pytest.raises(QuantityError, match=message):
        Quantity.parse(text)


def test_quantity_compares_exactly() -> None:
    """Fractional quantities keep precision: 1.05Gi is not rounded to bytes before comparing."""
    assert Quantity.parse("1.05Gi") > Quantity.parse("1127428915")
    assert Quantity.parse("1.05Gi") < Quantity.parse("1127428916")
    assert Quantity.parse("1Gi") == Quantity.parse("1073741824")
    assert Quantity.parse("1000m") == Quantity.parse("1")


def test_quantity_to_int_ceil_rounds_up() -> None:
    """Go's Quantity.Value() rounds away from zero."""
    assert Quantity.parse("1.05Gi").to_int_ceil() == 1127428916
    assert Quantity.parse("100m").to_int_ceil() == 1
    assert Quantity.parse("-1.5").to_int_ceil() == -2


@settings(deadline=None)
@given(
    st.integers(min_value=-(2**62), max_value=2**62), st.sampled_from(["", "Ki", "Mi", "Gi", "k", "M", "m"])
)
def test_quantity_canonical_round_trip(number: int, suffix: str) -> None:
    """Parsing the canonical form gives back the same value (apimachinery's round-trip property)."""
    quantity = Quantity.parse(f"{number}{suffix}")
    assert Quantity.parse(quantity.canonical()).value == quantity.value


@settings(deadline=None)
@given(st.decimals(min_value=-(10**9), max_value=10**9, places=3, allow_nan=False, allow_infinity=False))
def test_quantity_decimal_matches_fraction(number) -> None:  # type: ignore[no-untyped-def]
    quantity = Quantity.parse(f"{number:f}")
    assert quantity.value == Fraction(str(number))


DURATIONS = [
    ("0", 0),
    ("0s", 0),
    ("30s", 30 * 10**9),
    ("1m30s", 90 * 10**9),
    ("300ms", 300 * 10**6),
    ("2h", 7200 * 10**9),
    ("1.5h", 5400 * 10**9),
    ("-30s", -30 * 10**9),
    ("+5m", 300 * 10**9),
    ("10ns", 10),
    ("1us", 1000),
    ("1\u00b5s", 1000),
    ("1\u03bcs", 1000),
    (".5s", 5 * 10**8),
    ("1h2m3s4ms5us6ns", 3723004005006),
]


@pytest.mark.parametrize(("text", "nanoseconds"), DURATIONS, ids=[d[0] for d in DURATIONS])
def test_go_duration_parse(text: str, nanoseconds: int) -> None:
    assert parse_go_duration_ns(text) == nanoseconds
    assert parse_go_duration(text) == nanoseconds / 1e9


BAD_DURATIONS = [
    ("", 'time: invalid duration ""'),
    ("1", 'time: missing unit in duration "1"'),
    ("1d", 'time: unknown unit "d" in duration "1d"'),
    ("x", 'time: invalid duration "x"'),
    (".s", 'time: invalid duration ".s"'),
    ("-", 'time: invalid duration "-"'),
    ("3000000h", 'time: invalid duration "3000000h"'),
]


@pytest.mark.parametrize(("text", "message"), BAD_DURATIONS, ids=[d[0] or "empty" for d in BAD_DURATIONS])
def test_go_duration_parse_invalid(text: str, message: str) -> None:
    with pytest.raises(DurationError) as error:
        parse_go_duration_ns(text)
    assert str(error.value) == message


FORMATS = [
    (0, "0s"),
    (1, "1ns"),
    (1100, "1.1\u00b5s"),
    (2_200_000, "2.2ms"),
    (300_000_000, "300ms"),
    (1_500_000_000, "1.5s"),
    (90 * 10**9, "1m30s"),
    (300 * 10**9, "5m0s"),
    (7200 * 10**9, "2h0m0s"),
    (-30 * 10**9, "-30s"),
]


@pytest.mark.parametrize(("nanoseconds", "text"), FORMATS, ids=[f[1] for f in FORMATS])
def test_go_duration_format(nanoseconds: int, text: str) -> None:
    assert format_go_duration_ns(nanoseconds) == text


def test_go_duration_format_seconds() -> None:
    assert format_go_duration(300) == "5m0s"
    assert format_go_duration(0.3) == "300ms"


SUFFIX_SCALE = {
    "": Fraction(1),
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 1000),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "Ki": Fraction(2**10),
    "Mi": Fraction(2**20),
    "Gi": Fraction(2**30),
    "Ti": Fraction(2**40),
    "e3": Fraction(1000),
    "E-2": Fraction(1, 100),
}


@settings(deadline=None)
@given(
    st.sampled_from(["", "+", "-"]),
    st.integers(min_value=0, max_value=10**12),
    st.one_of(st.none(), st.integers(min_value=0, max_value=10**6)),
    st.sampled_from(sorted(SUFFIX_SCALE)),
)
def test_quantity_value_matches_grammar(sign: str, whole: int, fraction: int | None, suffix: str) -> None:
    """Any sign, digits, fraction and suffix parse to number * suffix, rounded away from zero to 1n.

    The expected value is computed independently of the parser, from apimachinery's rules.
    """
    text = f"{sign}{whole}" + ("" if fraction is None else f".{fraction}") + suffix
    number = Fraction(f"{whole}.{fraction}" if fraction is not None else str(whole))
    exact = number * SUFFIX_SCALE[suffix]
    nanos = exact * 10**9
    expected = Fraction(-(-nanos.numerator // nanos.denominator), 10**9)  # ceiling, on the magnitude
    if suffix.endswith("i"):
        expected = min(expected, Fraction(2**63 - 1))  # binary amounts are capped at the int64 maximum
    if sign == "-":
        expected = -expected
    assert Quantity.parse(text).value == expected
