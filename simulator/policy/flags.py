"""Kubelet command-line flags: tokenizing a string, an env file or /proc/PID/cmdline, and mapping them.

The kubelet parses its flags with pflag (``--name=value`` or ``--name value``; ``_`` in names is
read as ``-``). When a config file or drop-in directory is given, it parses the flags again
over the loaded configuration, so a flag replaces the file's value for the same field
(cmd/kubelet/app/server.go kubeletConfigFlagPrecedence, 1.27-1.35). Map flags replace the
whole map; repeating a map flag adds entries. ``--feature-gates`` is the exception: gates set
in the file but not on the command line are kept.

Flag names and defaults come from cmd/kubelet/app/options/options.go (1.27-1.35).
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from simulator.errors import InputError
from simulator.policy.grammar import ThresholdError, split_flag_map

__all__ = [
    "CONFIG_FLAGS",
    "FLAG_ONLY_FLAGS",
    "FlagSpec",
    "ParsedFlags",
    "parse_flags",
    "read_flags_file",
    "tokenize_flags_text",
]


@dataclass(frozen=True)
class FlagSpec:
    """The KubeletConfiguration field one kubelet flag sets, and the flag value's syntax.

    ``kind`` is one of ``langle-map`` (``k<v`` pairs), ``map`` (``k=v`` pairs), ``list``
    (comma separated), ``int``, ``duration``, ``bool``, ``string`` or ``gates``.
    """

    field: str
    kind: str


# Flags that set KubeletConfiguration fields evictsim models.
CONFIG_FLAGS: Final[dict[str, FlagSpec]] = {
    "eviction-hard": FlagSpec("evictionHard", "langle-map"),
    "eviction-soft": FlagSpec("evictionSoft", "langle-map"),
    "eviction-soft-grace-period": FlagSpec("evictionSoftGracePeriod", "map"),
    "eviction-minimum-reclaim": FlagSpec("evictionMinimumReclaim", "map"),
    "eviction-max-pod-grace-period": FlagSpec("evictionMaxPodGracePeriod", "int"),
    "eviction-pressure-transition-period": FlagSpec("evictionPressureTransitionPeriod", "duration"),
    "image-gc-high-threshold": FlagSpec("imageGCHighThresholdPercent", "int"),
    "image-gc-low-threshold": FlagSpec("imageGCLowThresholdPercent", "int"),
    "minimum-image-ttl-duration": FlagSpec("imageMinimumGCAge", "duration"),
    "enforce-node-allocatable": FlagSpec("enforceNodeAllocatable", "list"),
    "kube-reserved": FlagSpec("kubeReserved", "map"),
    "system-reserved": FlagSpec("systemReserved", "map"),
    "kernel-memcg-notification": FlagSpec("kernelMemcgNotification", "bool"),
    "local-storage-capacity-isolation": FlagSpec("localStorageCapacityIsolation", "bool"),
    "feature-gates": FlagSpec("featureGates", "gates"),
}

# Flags with no KubeletConfiguration field (KubeletFlags in options.go).
FLAG_ONLY_FLAGS: Final[dict[str, FlagSpec]] = {
    "root-dir": FlagSpec("rootDir", "string"),
    "minimum-container-ttl-duration": FlagSpec("minimumContainerTTLDuration", "duration"),
    "maximum-dead-containers-per-container": FlagSpec("maximumDeadContainersPerContainer", "int"),
    "maximum-dead-containers": FlagSpec("maximumDeadContainers", "int"),
    "config": FlagSpec("config", "string"),
    "config-dir": FlagSpec("configDir", "string"),
}

_BOOLEAN_FLAGS: Final = frozenset({"kernel-memcg-notification", "local-storage-capacity-isolation"})
_GO_TRUE: Final = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_GO_FALSE: Final = frozenset({"0", "f", "F", "FALSE", "false", "False"})
_ENV_ASSIGNMENT: Final = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


@dataclass
class ParsedFlags:
    """Flag values by field, in KubeletConfiguration JSON shape, with the flag that set each field.

    ``values`` contains config fields (``evictionHard`` -> dict) and flag-only settings
    (``rootDir``, ``maximumDeadContainers``). ``flag_names`` maps a field to the flag as written.
    ``unknown`` lists flags evictsim does not model (accepted and ignored).
    """

    values: dict[str, object] = field(default_factory=dict)
    flag_names: dict[str, str] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)
    source: str = "flags"


def parse_go_bool(text: str) -> bool | None:
    """Parse a boolean like Go's strconv.ParseBool; return None if ``text`` is not one."""
    if text in _GO_TRUE:
        return True
    if text in _GO_FALSE:
        return False
    return None


def tokenize_flags_text(text: str) -> list[str]:
    """Split a command line, an env file (``KUBELET_ARGS="..."``) or NUL-separated cmdline into tokens.

    In an env file, every assignment's value is split with shell rules; other lines are
    ignored. systemd's ``Environment="NAME=--flag=value ..."`` lines and ``ExecStart=`` lines are
    assignments too. A leading program name (``/usr/bin/kubelet``) is dropped.
    """
    if "\0" in text:
        tokens = [token for token in text.split("\0") if token]
    else:
        assignments = [_ENV_ASSIGNMENT.match(line) for line in text.splitlines()]
        if any(match is not None for match in assignments) and not text.lstrip().startswith("-"):
            tokens = []
            for match in assignments:
                if match is None:
                    continue
                try:
                    value = shlex.split(match.group(2), comments=True)
                except ValueError as error:
                    raise InputError(f"{match.group(1)}: invalid shell quoting: {error}") from error
                for item in value:
                    tokens.extend(_expand_assignment_item(item))
        else:
            try:
                tokens = shlex.split(text, comments=True)
            except ValueError as error:
                raise InputError(f"invalid shell quoting in the flags: {error}") from error
    while tokens and not tokens[0].startswith("-"):
        tokens.pop(0)
    return tokens


def _expand_assignment_item(item: str) -> list[str]:
    """Split one word of an assignment's value, unwrapping a nested ``NAME=value`` (systemd Environment=)."""
    nested = _ENV_ASSIGNMENT.match(item)
    if nested is not None and not item.startswith("-"):
        item = nested.group(2)
    try:
        return shlex.split(item) if " " in item else [item]
    except ValueError as error:
        raise InputError(f"invalid shell quoting in {item!r}: {error}") from error


def read_flags_file(path: str | os.PathLike[str]) -> tuple[list[str], str]:
    """Read flags from a file such as /etc/default/kubelet, a systemd drop-in or /proc/PID/cmdline."""
    file_path = Path(path)
    try:
        raw = file_path.read_bytes()
    except FileNotFoundError as error:
        raise InputError("file not found", source=str(file_path)) from error
    except OSError as error:
        raise InputError(f"cannot read file: {error}", source=str(file_path)) from error
    text = raw.decode("utf-8", errors="replace")
    try:
        return tokenize_flags_text(text), str(file_path)
    except InputError as error:
        raise InputError(str(error), source=str(file_path)) from error


def _split_name_value(tokens: list[str], index: int) -> tuple[str, str | None, int]:
    """Return (normalized name, value or None, next index) for the flag at ``tokens[index]``."""
    token = tokens[index]
    body = token.lstrip("-")
    name, has_value, value = body.partition("=")
    name = name.replace("_", "-")
    if has_value:
        return name, value, index + 1
    if name in _BOOLEAN_FLAGS:
        return name, None, index + 1
    if index + 1 < len(tokens) and not tokens[index + 1].startswith("-"):
        return name, tokens[index + 1], index + 2
    return name, None, index + 1


def _parse_int32(text: str, flag: str, source: str) -> int:
    try:
        value = int(text, 0) if text.lower().startswith(("0x", "0o", "0b")) else int(text)
    except ValueError:
        raise InputError(
            f"--{flag}: invalid value {text!r}: expected an integer",
            field=f"--{flag}",
            value=text,
            source=source,
        ) from None
    if not -(2**31) <= value < 2**31:
        raise InputError(
            f"--{flag}: invalid value {text!r}: does not fit in a 32-bit integer",
            field=f"--{flag}",
            value=text,
            source=source,
        )
    return value


def _parse_feature_gates(text: str, flag: str, source: str) -> dict[str, bool]:
    gates: dict[str, bool] = {}
    for entry in text.split(","):
        entry = entry.strip()
        if not entry:
            continue
        name, found, value = entry.partition("=")
        enabled = parse_go_bool(value.strip()) if found else None
        if enabled is None:
            raise InputError(
                f"--{flag}: invalid value {entry!r}: expected NAME=true or NAME=false pairs separated by commas",
                field=f"--{flag}",
                value=entry,
                source=source,
            )
        gates[name.strip()] = enabled
    return gates


def _convert(spec: FlagSpec, name: str, text: str | None, source: str) -> object:
    """Convert one flag value into the field's JSON shape, or raise InputError."""
    if spec.kind == "bool":
        if text is None:
            return True
        parsed = parse_go_bool(text)
        if parsed is None:
            raise InputError(
                f"--{name}: invalid value {text!r}: expected true or false",
                field=f"--{name}",
                value=text,
                source=source,
            )
        return parsed
    if text is None:
        raise InputError(f"--{name}: missing value", field=f"--{name}", source=source)
    try:
        if spec.kind == "langle-map":
            return split_flag_map(text, "<", flag=name)
        if spec.kind == "map":
            return split_flag_map(text, "=", flag=name)
    except ThresholdError as error:
        raise InputError(str(error), field=f"--{name}", value=text, source=source) from error
    if spec.kind == "list":
        return [item.strip() for item in text.split(",") if item.strip()]
    if spec.kind == "int":
        return _parse_int32(text, name, source)
    if spec.kind == "gates":
        return _parse_feature_gates(text, name, source)
    return text


def parse_flags(tokens: list[str], *, source: str = "flags") -> ParsedFlags:
    """Map kubelet flag tokens to field values the way pflag sets them.

    A later scalar flag wins over an earlier one; repeated map and gate flags add entries.
    Tokens that are not flags are ignored, like arguments the kubelet would reject anyway.
    """
    parsed = ParsedFlags(source=source)
    repeated_maps: set[str] = set()
    index = 0
    while index < len(tokens):
        if not tokens[index].startswith("-") or tokens[index] in ("-", "--"):
            index += 1
            continue
        name, text, index = _split_name_value(tokens, index)
        spec = CONFIG_FLAGS.get(name) or FLAG_ONLY_FLAGS.get(name)
        if spec is None:
            parsed.unknown.append(f"--{name}")
            continue
        value = _convert(spec, name, text, source)
        if spec.kind in ("langle-map", "map", "gates") and spec.field in repeated_maps:
            merged = dict(parsed.values[spec.field])  # type: ignore[call-overload]
            merged.update(value)  # type: ignore[arg-type]
            value = merged
        repeated_maps.add(spec.field)
        parsed.values[spec.field] = value
        parsed.flag_names[spec.field] = f"--{name}"
    return parsed
