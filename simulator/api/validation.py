"""Request validation: JSON merge patches, JSON Pointers and the numeric fields of what-ifs.

Every failure raises InputError whose ``field`` is the request field path and whose message
names the bad value, so the servicer can return INVALID_ARGUMENT with it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from simulator.errors import InputError
from simulator.policy.fields import is_known_field
from simulator.policy.versions import normalize_version

# Map-valued fields whose keys must be eviction signals.
SIGNAL_MAP_FIELDS: frozenset[str] = frozenset(
    {"evictionHard", "evictionSoft", "evictionSoftGracePeriod", "evictionMinimumReclaim"}
)

FILESYSTEMS: tuple[str, ...] = ("nodefs", "imagefs", "containerfs")

# Upper bounds that catch unit mistakes and absurd requests; far above any real node.
MAX_BYTES = 1 << 60
MAX_COUNT = 1 << 40
MAX_IMAGE_PULLS = 100_000
MAX_FUTURE_SYNCS = 100_000
MAX_SWEEP_VALUES = 1_000


def parse_json_object(text: str, *, field: str) -> dict[str, Any]:
    """Parse ``text`` as a JSON object or raise InputError naming ``field``."""
    try:
        document = json.loads(text)
    except ValueError as error:
        raise InputError(f"{field}: invalid JSON {_clip(text)!r}: {error}", field=field, value=text) from error
    if not isinstance(document, dict):
        raise InputError(f"{field}: expected a JSON object, got {_clip(text)!r}", field=field, value=text)
    return document


def check_kubelet_config_patch(patch: Mapping[str, Any], *, field: str) -> None:
    """Reject unknown top-level fields and non-object signal maps in a KubeletConfiguration patch."""
    for key, value in patch.items():
        if not is_known_field(key):
            raise InputError(
                f"{field}: unknown KubeletConfiguration field {key!r} (field names are camelCase, "
                "for example evictionHard)",
                field=f"{field}/{key}",
                value=key,
            )
        if key in SIGNAL_MAP_FIELDS and value is not None and not isinstance(value, dict):
            raise InputError(
                f"{field}/{key}: expected an object mapping signals to values, got {value!r}",
                field=f"{field}/{key}",
                value=value,
            )


def parse_json_pointer(pointer: str, *, field: str = "pointer") -> list[str]:
    """Split a JSON Pointer (RFC 6901) into unescaped tokens; "" is the whole document."""
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise InputError(
            f"{field}: invalid JSON Pointer {pointer!r}: it must start with '/', "
            "for example /evictionHard/imagefs.available",
            field=field,
            value=pointer,
        )
    tokens = pointer[1:].split("/")
    for token in tokens:
        stripped = token.replace("~0", "").replace("~1", "")
        if "~" in stripped:
            raise InputError(f"{field}: invalid escape in JSON Pointer {pointer!r}: use ~0 for ~ and ~1 for /", field=field, value=pointer)
    return [t.replace("~1", "/").replace("~0", "~") for t in tokens]


def set_by_pointer(document: dict[str, Any], tokens: list[str], value: Any, *, field: str) -> dict[str, Any]:
    """Return a copy of ``document`` with ``value`` at ``tokens``, creating missing objects."""
    if not tokens:
        if not isinstance(value, dict):
            raise InputError(f"{field}: the empty pointer needs an object value, got {value!r}", field=field, value=value)
        return value
    result = dict(document)
    head, rest = tokens[0], tokens[1:]
    if rest:
        child = result.get(head)
        if child is not None and not isinstance(child, dict):
            raise InputError(
                f"{field}: /{head} is {child!r}, not an object, so it has no member {rest[0]!r}",
                field=field,
                value=child,
            )
        result[head] = set_by_pointer(child or {}, rest, value, field=field)
    elif value is None:
        result.pop(head, None)
    else:
        result[head] = value
    return result


def parse_sweep_value(text: str) -> Any:
    """Parse one sweep candidate: JSON when it parses, else the bare text as a string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def check_kubelet_version(text: str, *, field: str) -> str:
    """Return ``major.minor`` for a version in the modelled range, else raise InputError naming ``field``."""
    try:
        return normalize_version(text)
    except InputError as error:
        raise InputError(f"{field}: {error}", field=field, value=text) from error


def check_range(value: float, *, field: str, minimum: float, maximum: float, unit: str = "") -> None:
    """Raise InputError unless minimum <= value <= maximum (and finite)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"{field}: {value} is not a finite number", field=field, value=value)
    if value < minimum or value > maximum:
        suffix = f" {unit}" if unit else ""
        raise InputError(
            f"{field}: {value}{suffix} is out of range; expected {_number(minimum)} to {_number(maximum)}{suffix}",
            field=field,
            value=value,
        )


def check_filesystem(name: str, *, field: str) -> str:
    if name not in FILESYSTEMS:
        raise InputError(
            f"{field}: unknown filesystem {name!r}; expected one of {', '.join(FILESYSTEMS)}",
            field=field,
            value=name,
        )
    return name


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
