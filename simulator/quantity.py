"""Kubernetes resource quantities and Go durations, parsed exactly.

``Quantity`` follows apimachinery's ``resource.ParseQuantity`` and ``Quantity.String``
(k8s.io/apimachinery pkg/api/resource/quantity.go and suffix.go, as vendored by kubernetes
1.27-1.35, a range in which the parser and canonical form did not change):

* grammar: an optional sign, digits with an optional fraction (``1.``, ``.5`` and ``1.G`` are
  accepted), then one suffix: binary ``Ki Mi Gi Ti Pi Ei``, decimal ``n u m "" k M G T P E``, or a
  decimal exponent ``e``/``E`` followed by a signed integer;
* the value is kept exact (``fractions.Fraction``) after apimachinery's one rounding step:
  values finer than 1n are rounded away from zero to a multiple of 10**-9, and binary-suffixed
  values are capped at 2**63-1;
* ``str()`` prints the canonical form, e.g. ``1.5Gi`` -> ``1536Mi``, ``0.5Gi`` -> ``512Mi``,
  ``1.5`` -> ``1500m``, ``1e3`` -> ``1e3``, ``2048`` -> ``2048``.

``parse_go_duration`` and ``format_go_duration`` follow Go's ``time.ParseDuration`` and
``time.Duration.String`` (Go 1.20-1.24), which KubeletConfiguration durations use.
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction
from typing import Final

__all__ = [
    "DurationError",
    "Quantity",
    "QuantityError",
    "format_go_duration",
    "format_go_duration_ns",
    "parse_go_duration",
    "parse_go_duration_ns",
]

# The regular expression apimachinery quotes in its format error.
QUANTITY_PATTERN: Final = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"

_DECIMAL_SUFFIXES: Final[dict[str, int]] = {
    "n": -9,
    "u": -6,
    "m": -3,
    "": 0,
    "k": 3,
    "M": 6,
    "G": 9,
    "T": 12,
    "P": 15,
    "E": 18,
}
_DECIMAL_SUFFIX_BY_EXPONENT: Final[dict[int, str]] = {e: s for s, e in _DECIMAL_SUFFIXES.items()}
_BINARY_SUFFIXES: Final[dict[str, int]] = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_BINARY_SUFFIX_BY_EXPONENT: Final[dict[int, str]] = {0: "", **{e: s for s, e in _BINARY_SUFFIXES.items()}}
_SUFFIX_CHARACTERS: Final = "eEinumkKMGTP"
_NANO: Final = Fraction(1, 10**9)
_MAX_INT64: Final = 2**63 - 1

DECIMAL_SI: Final = "DecimalSI"
BINARY_SI: Final = "BinarySI"
DECIMAL_EXPONENT: Final = "DecimalExponent"


class QuantityError(ValueError):
    """A string that is not a Kubernetes quantity. The message is apimachinery's error text."""


class DurationError(ValueError):
    """A string that is not a Go duration. The message is Go's ``time.ParseDuration`` error text."""


def _split_quantity(text: str) -> tuple[bool, str, str, str]:
    """Split ``text`` into (positive, integer digits, fraction digits, suffix) like apimachinery.

    Raises QuantityError with apimachinery's format error when characters follow the suffix.
    """
    format_error = QuantityError(f"quantities must match the regular expression '{QUANTITY_PATTERN}'")
    positive = True
    position = 0
    end = len(text)
    if text[:1] == "-":
        positive = False
        position = 1
    elif text[:1] == "+":
        position = 1

    while position < end and text[position] == "0":
        position += 1
    if position >= end:
        return positive, "0", "", ""

    start = position
    while position < end and text[position].isascii() and text[position].isdigit():
        position += 1
    integer_digits = text[start:position] or "0"

    fraction_digits = ""
    if position < end and text[position] == ".":
        position += 1
        start = position
        while position < end and text[position].isascii() and text[position].isdigit():
            position += 1
        fraction_digits = text[start:position]

    suffix_start = position
    while position < end and text[position] in _SUFFIX_CHARACTERS:
        position += 1
    if position < end and text[position] in "+-":
        position += 1
    while position < end and text[position].isascii() and text[position].isdigit():
        position += 1
    if position < end:
        raise format_error
    return positive, integer_digits, fraction_digits, text[suffix_start:]


def _interpret_suffix(suffix: str) -> tuple[int, int, str]:
    """Return (base, exponent, format) for a suffix, or raise QuantityError."""
    if suffix in _DECIMAL_SUFFIXES:
        return 10, _DECIMAL_SUFFIXES[suffix], DECIMAL_SI
    if suffix in _BINARY_SUFFIXES:
        return 2, _BINARY_SUFFIXES[suffix], BINARY_SI
    if len(suffix) > 1 and suffix[0] in "eE":
        exponent_text = suffix[1:]
        digits = exponent_text.lstrip("+-")
        if len(exponent_text) - len(digits) <= 1 and digits.isascii() and digits.isdigit():
            return 10, int(exponent_text), DECIMAL_EXPONENT
    raise QuantityError("unable to parse quantity's suffix")


def _round_away_from_zero(value: Fraction, step: Fraction) -> Fraction:
    """Round ``value`` to a multiple of ``step``, away from zero (inf.RoundUp)."""
    units = value / step
    rounded = math.ceil(units) if units >= 0 else math.floor(units)
    return rounded * step


def _remove_factors(number: int, factor: int) -> tuple[int, int]:
    count = 0
    while number != 0 and number % factor == 0:
        number //= factor
        count += 1
    return number, count


@functools.total_ordering
class Quantity:
    """An exact Kubernetes resource quantity with apimachinery's canonical string form.

    ``value`` is the exact amount as a Fraction, ``format`` one of ``DecimalSI``, ``BinarySI``
    and ``DecimalExponent`` (taken from the suffix, as apimachinery does). Quantities compare
    and hash by value only, so ``Quantity.parse("1Gi") == Quantity.parse("1073741824")``.
    """

    __slots__ = ("_format", "_text", "_value")

    def __init__(self, value: Fraction | int, format: str = DECIMAL_SI, *, text: str | None = None) -> None:
        self._value = Fraction(value)
        self._format = format
        self._text = text

    @classmethod
    def parse(cls, text: str) -> Quantity:
        """Parse ``text`` like apimachinery's ParseQuantity, raising QuantityError if it is invalid."""
        if not isinstance(text, str):
            raise QuantityError(f"quantities must be strings, got {type(text).__name__}")
        if not text:
            raise QuantityError(f"quantities must match the regular expression '{QUANTITY_PATTERN}'")
        if text == "0":
            return cls(0, DECIMAL_SI, text="0")

        positive, integer_digits, fraction_digits, suffix = _split_quantity(text)
        base, exponent, format = _interpret_suffix(suffix)

        # apimachinery keeps the input string as the cached String() result when the input is
        # already in canonical form (its int64 fast path), so "+100Mi" prints as "+100Mi".
        cached_text = cls._fast_path_text(text, integer_digits, fraction_digits, base, exponent, format)

        magnitude = Fraction(int(integer_digits + fraction_digits), 10 ** len(fraction_digits))
        if base == 10:
            magnitude *= Fraction(10) ** exponent
        else:
            magnitude *= 2**exponent
        if magnitude != 0:
            magnitude = _round_away_from_zero(magnitude, _NANO)
        if format == BINARY_SI and magnitude > _MAX_INT64:
            magnitude = Fraction(_MAX_INT64)
            cached_text = None
        if format == BINARY_SI and 0 < magnitude < 1:
            format = DECIMAL_SI
        value = magnitude if positive else -magnitude
        return cls(value, format, text=cached_text)

    @staticmethod
    def _fast_path_text(
        text: str, integer_digits: str, fraction_digits: str, base: int, exponent: int, format: str
    ) -> str | None:
        """Return ``text`` when apimachinery's int64 fast path would cache it as the canonical form."""
        digits = integer_digits + fraction_digits
        if format == BINARY_SI:
            if fraction_digits or exponent < 0:
                return None
            precision = 15 - len(integer_digits) - int(exponent * 3 / 10) - 1
            scale = 0
        else:
            precision = 18 - len(integer_digits + fraction_digits)
            scale = exponent
        if precision < 0:
            return None
        scale -= len(fraction_digits)
        if scale < -9:
            return None
        number = int(digits)
        if number > _MAX_INT64:
            return None
        multiplier = 2**exponent if format == BINARY_SI else 1
        if number * multiplier > _MAX_INT64:
            return None
        if format == BINARY_SI:
            return text if exponent % 10 == 0 and number & 0x07 != 0 else None
        if scale % 3 == 0 and not digits.endswith("000") and digits[0] != "0":
            return text
        return None

    @classmethod
    def from_int(cls, value: int, format: str = BINARY_SI) -> Quantity:
        """Build a quantity of ``value`` units (bytes, inodes, pids) in the given format."""
        return cls(value, format)

    @property
    def value(self) -> Fraction:
        """The exact amount."""
        return self._value

    @property
    def format(self) -> str:
        """``DecimalSI``, ``BinarySI`` or ``DecimalExponent``."""
        return self._format

    def to_int_ceil(self) -> int:
        """Return the amount as an integer rounded away from zero, like Go's ``Quantity.Value()``."""
        if self._value >= 0:
            return math.ceil(self._value)
        return math.floor(self._value)

    def sign(self) -> int:
        return (self._value > 0) - (self._value < 0)

    def __str__(self) -> str:
        if self._text is not None:
            return self._text
        return self.canonical()

    def canonical(self) -> str:
        """Format the amount like apimachinery's CanonicalizeBytes, ignoring any cached input text."""
        if self._value == 0:
            return "0"
        format = self._format
        if format == BINARY_SI:
            if -1024 < self._value < 1024 or self._value.denominator != 1:
                format = DECIMAL_SI
        elif format not in (DECIMAL_SI, DECIMAL_EXPONENT):
            format = DECIMAL_EXPONENT

        if format == BINARY_SI:
            mantissa, power = _remove_factors(int(self._value), 1024)
            suffix = _BINARY_SUFFIX_BY_EXPONENT.get(power * 10, "")
            return f"{mantissa}{suffix}"

        # Decimal: write the value as mantissa * 10**exponent with an integer mantissa free of
        # trailing zeros, then lower the exponent to a multiple of three.
        value = self._value
        if (
            value.denominator
            != (1 << _remove_factors(value.denominator, 2)[1]) * 5 ** _remove_factors(value.denominator, 5)[1]
        ):
            # Only parsing produces quantities here, and parsing leaves a terminating decimal.
            value = _round_away_from_zero(value, _NANO)
        numerator, denominator = value.numerator, value.denominator
        _, twos = _remove_factors(denominator, 2)
        _, fives = _remove_factors(denominator, 5)
        decimals = max(twos, fives)
        mantissa = numerator * (10**decimals) // denominator
        mantissa, trailing = _remove_factors(mantissa, 10)
        exponent = trailing - decimals
        remainder = exponent % 3
        mantissa *= 10**remainder
        exponent -= remainder
        if format == DECIMAL_EXPONENT:
            suffix = "" if exponent == 0 else f"e{exponent}"
        else:
            # NOTE: apimachinery prints no suffix for exponents outside n..E, so values of 1000E
            # and more print as a wrong number there and here. Below 1n cannot occur after parsing.
            suffix = _DECIMAL_SUFFIX_BY_EXPONENT.get(exponent, "")
        return f"{mantissa}{suffix}"

    def __repr__(self) -> str:
        return f"Quantity({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Quantity):
            return self._value == other._value
        if isinstance(other, (int, Fraction)):
            return self._value == other
        return NotImplemented

    def __lt__(self, other: object) -> bool:
        if isinstance(other, Quantity):
            return self._value < other._value
        if isinstance(other, (int, Fraction)):
            return self._value < other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._value)


# Go's time.ParseDuration units, in nanoseconds. Both micro signs are accepted.
_DURATION_UNITS: Final[dict[str, int]] = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,
    "\u03bcs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}


def parse_go_duration_ns(text: str) -> int:
    """Parse a Go duration string (``1m30s``, ``300ms``, ``-2h``) into integer nanoseconds.

    Follows ``time.ParseDuration``: a bare ``0`` needs no unit, every other number does, there is
    no day unit, and the total must fit in an int64. Raises DurationError with Go's message.
    """
    if not isinstance(text, str):
        raise DurationError(f"time: invalid duration {text!r}")
    quoted = '"' + text + '"'
    invalid = DurationError(f"time: invalid duration {quoted}")
    rest = text
    negative = False
    if rest[:1] in ("-", "+"):
        negative = rest[0] == "-"
        rest = rest[1:]
    if rest == "0":
        return 0
    if not rest:
        raise invalid

    total = Fraction(0)
    while rest:
        if not (rest[0] == "." or (rest[0].isascii() and rest[0].isdigit())):
            raise invalid
        index = 0
        while index < len(rest) and rest[index].isascii() and rest[index].isdigit():
            index += 1
        integer_digits = rest[:index]
        rest = rest[index:]
        fraction_digits = ""
        if rest[:1] == ".":
            rest = rest[1:]
            index = 0
            while index < len(rest) and rest[index].isascii() and rest[index].isdigit():
                index += 1
            fraction_digits = rest[:index]
            rest = rest[index:]
        if not integer_digits and not fraction_digits:
            raise invalid

        index = 0
        while (
            index < len(rest) and rest[index] != "." and not (rest[index].isascii() and rest[index].isdigit())
        ):
            index += 1
        if index == 0:
            raise DurationError(f"time: missing unit in duration {quoted}")
        unit = rest[:index]
        rest = rest[index:]
        if unit not in _DURATION_UNITS:
            raise DurationError(f'time: unknown unit "{unit}" in duration {quoted}')
        number = Fraction(int(integer_digits or "0"))
        if fraction_digits:
            number += Fraction(int(fraction_digits), 10 ** len(fraction_digits))
        # Go truncates the fractional nanoseconds of each component.
        total += math.floor(number * _DURATION_UNITS[unit])
        if total > 2**63:
            raise invalid

    nanoseconds = int(total)
    if negative:
        nanoseconds = -nanoseconds
    if nanoseconds > _MAX_INT64 or nanoseconds < -(2**63):
        raise invalid
    return nanoseconds


def parse_go_duration(text: str) -> float:
    """Parse a Go duration string into seconds (see ``parse_go_duration_ns``)."""
    return parse_go_duration_ns(text) / 1e9


def _format_fraction(value: int, precision_digits: int) -> str:
    """Format ``value / 10**precision_digits`` without trailing zeros, like Go's fmtFrac."""
    integer, fraction = divmod(value, 10**precision_digits)
    if fraction == 0:
        return str(integer)
    digits = str(fraction).rjust(precision_digits, "0").rstrip("0")
    return f"{integer}.{digits}"


def format_go_duration_ns(nanoseconds: int) -> str:
    """Format nanoseconds like Go's ``time.Duration.String`` (``5m0s``, ``1.5s``, ``300ms``, ``0s``)."""
    if nanoseconds == 0:
        return "0s"
    sign = "-" if nanoseconds < 0 else ""
    magnitude = abs(nanoseconds)
    if magnitude < 1_000:
        return f"{sign}{magnitude}ns"
    if magnitude < 1_000_000:
        return f"{sign}{_format_fraction(magnitude, 3)}\u00b5s"
    if magnitude < 1_000_000_000:
        return f"{sign}{_format_fraction(magnitude, 6)}ms"
    hours, remainder = divmod(magnitude, 3_600_000_000_000)
    minutes, remainder = divmod(remainder, 60_000_000_000)
    seconds = _format_fraction(remainder, 9)
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}s"
    if minutes:
        return f"{sign}{minutes}m{seconds}s"
    return f"{sign}{seconds}s"


def format_go_duration(seconds: float) -> str:
    """Format seconds like Go's ``time.Duration.String``, rounding to whole nanoseconds."""
    return format_go_duration_ns(round(Fraction(seconds) * 10**9))
