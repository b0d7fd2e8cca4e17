"""Reading KubeletConfiguration documents: files, drop-in directories and ``/configz`` JSON.

The kubelet's own loading (kubernetes cmd/kubelet/app/server.go and
pkg/kubelet/kubeletconfig/configfiles, read at the 1.35 master; drop-ins exist since 1.28):

1. ``--config FILE`` is decoded as ``kubelet.config.k8s.io/v1beta1`` ``KubeletConfiguration``
   (YAML or JSON). Unknown fields only log a warning because the decoder falls back from
   strict to lenient decoding; wrong types fail the load. v1beta1 defaulting runs on the
   decoded object, then ``evictionHard`` gets the OS default map if the file has none, or,
   with ``mergeDefaultEvictionSettings: true`` (1.33+), the missing default keys.
2. ``--config-dir DIR``: every ``*.conf`` file under DIR (walked in lexical order, subdirectories
   included) must carry the same apiVersion and kind. Each is applied as a JSON merge patch
   (RFC 7386) over the JSON of the configuration so far: maps merge key by key, lists and
   scalars replace, and ``null`` deletes. v1beta1 defaulting runs again afterwards, but the
   evictionHard default is not applied again.
3. Command-line flags are parsed again over the result (see ``simulator.policy.flags``).

A document here is a plain dict in v1beta1 JSON shape. ``ConfigDocument`` carries it with the
line of every field path, so provenance can name ``/etc/kubernetes/kubelet.yaml:23``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from simulator.documents import describe_yaml_error, merge_patch, read_text
from simulator.errors import InputError

__all__ = [
    "API_VERSION",
    "KIND",
    "MODELLED_FIELDS",
    "ConfigDocument",
    "check_type_meta",
    "merge_patch",
    "parse_document_text",
    "read_config_file",
    "read_configz_file",
    "read_dropin_directory",
    "validate_field_types",
]

API_VERSION: Final = "kubelet.config.k8s.io/v1beta1"
KIND: Final = "KubeletConfiguration"


class _ModelledFields(BaseModel):
    """Types of the KubeletConfiguration fields evictsim reads; other fields pass through unchecked."""

    model_config = ConfigDict(extra="allow", strict=True)

    evictionHard: dict[str, str] | None = None
    evictionSoft: dict[str, str] | None = None
    evictionSoftGracePeriod: dict[str, str] | None = None
    evictionMinimumReclaim: dict[str, str] | None = None
    evictionMaxPodGracePeriod: int | None = None
    evictionPressureTransitionPeriod: str | None = None
    mergeDefaultEvictionSettings: bool | None = None
    imageGCHighThresholdPercent: int | None = None
    imageGCLowThresholdPercent: int | None = None
    imageMinimumGCAge: str | None = None
    imageMaximumGCAge: str | None = None
    enforceNodeAllocatable: list[str] | None = None
    kubeReserved: dict[str, str] | None = None
    systemReserved: dict[str, str] | None = None
    localStorageCapacityIsolation: bool | None = None
    kernelMemcgNotification: bool | None = None
    featureGates: dict[str, bool] | None = None
    podLogsDir: str | None = None


MODELLED_FIELDS: Final[frozenset[str]] = frozenset(_ModelledFields.model_fields)

# Expected types in words, for error messages.
_EXPECTED: Final[dict[str, str]] = {
    "evictionHard": "a map of signal name to a quantity or percentage string",
    "evictionSoft": "a map of signal name to a quantity or percentage string",
    "evictionSoftGracePeriod": "a map of signal name to a Go duration string such as 1m30s",
    "evictionMinimumReclaim": "a map of signal name to a quantity or percentage string",
    "evictionMaxPodGracePeriod": "an integer number of seconds",
    "evictionPressureTransitionPeriod": "a Go duration string such as 5m0s",
    "mergeDefaultEvictionSettings": "true or false",
    "imageGCHighThresholdPercent": "an integer from 0 to 100",
    "imageGCLowThresholdPercent": "an integer from 0 to 100",
    "imageMinimumGCAge": "a Go duration string such as 2m0s",
    "imageMaximumGCAge": "a Go duration string such as 168h",
    "enforceNodeAllocatable": "a list of strings (pods, system-reserved, kube-reserved, none)",
    "kubeReserved": "a map of resource name to a quantity string",
    "systemReserved": "a map of resource name to a quantity string",
    "localStorageCapacityIsolation": "true or false",
    "kernelMemcgNotification": "true or false",
    "featureGates": "a map of feature gate name to true or false",
    "podLogsDir": "a directory path such as /var/log/pods",
}

_INT32_FIELDS: Final = (
    "evictionMaxPodGracePeriod",
    "imageGCHighThresholdPercent",
    "imageGCLowThresholdPercent",
)


@dataclass
class ConfigDocument:
    """A decoded KubeletConfiguration with the source line of each field path (``a.b``)."""

    data: dict[str, Any]
    source: str
    lines: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def location(self, path: str) -> str:
        """Return ``source:line`` for a field path, or the source alone when the line is unknown."""
        line = self.lines.get(path)
        if line is None and "." in path:
            line = self.lines.get(path.split(".", 1)[0])
        return f"{self.source}:{line}" if line is not None else self.source


def _record_lines(node: yaml.Node, prefix: str, lines: dict[str, int]) -> None:
    """Walk a composed YAML mapping and store 1-based line numbers of keys by dotted path."""
    if not isinstance(node, yaml.MappingNode):
        return
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            continue
        path = f"{prefix}{key_node.value}"
        lines[path] = key_node.start_mark.line + 1
        _record_lines(value_node, f"{path}.", lines)


def parse_document_text(text: str, source: str) -> tuple[Any, dict[str, int]]:
    """Decode YAML or JSON text and return (value, line of each field path).

    Raises InputError naming ``source`` for malformed input.
    """
    lines: dict[str, int] = {}
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        value = yaml.safe_load(text)
    except yaml.YAMLError as yaml_error:
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            raise InputError(
                f"invalid YAML or JSON {describe_yaml_error(yaml_error)}; expected a KubeletConfiguration document",
                source=source,
            ) from yaml_error
        return value, lines
    if node is not None:
        _record_lines(node, "", lines)
    return value, lines


def _read_text(path: Path) -> str:
    return read_text(path, expected="KubeletConfiguration file")


def check_type_meta(data: dict[str, Any], source: str, *, required: bool) -> None:
    """Reject a document whose apiVersion or kind is not KubeletConfiguration v1beta1."""
    api_version = data.get("apiVersion")
    kind = data.get("kind")
    if api_version is None and kind is None and not required:
        return
    if api_version != API_VERSION:
        raise InputError(
            f"apiVersion: invalid value {api_version!r}: expected {API_VERSION!r}",
            field="apiVersion",
            value=api_version,
            source=source,
        )
    if kind != KIND:
        raise InputError(
            f"kind: invalid value {kind!r}: expected {KIND!r}", field="kind", value=kind, source=source
        )


def validate_field_types(data: dict[str, Any], source: str, lines: dict[str, int] | None = None) -> None:
    """Check the types of the modelled fields the way the kubelet's JSON decoding does.

    Raises InputError with the field path, the bad value and the expected type. ``lines``
    (field path to line number) adds the line to the source when it is known.
    """
    lines = lines or {}
    try:
        _ModelledFields.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        location = ".".join(str(part) for part in first["loc"])
        top = str(first["loc"][0])
        value = first.get("input")
        expected = _EXPECTED.get(top, "a different type")
        line = lines.get(location, lines.get(top))
        raise InputError(
            f"{location}: invalid value {json.dumps(value, default=str)}: expected {expected}",
            field=location,
            value=value,
            source=f"{source}:{line}" if line else source,
        ) from None
    for name in _INT32_FIELDS:
        value = data.get(name)
        if isinstance(value, int) and not -(2**31) <= value < 2**31:
            line = lines.get(name)
            raise InputError(
                f"{name}: invalid value {value}: does not fit in a 32-bit integer",
                field=name,
                value=value,
                source=f"{source}:{line}" if line else source,
            )


def _as_mapping(value: Any, source: str, expected: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InputError(f"invalid document: expected {expected}, got {type(value).__name__}", source=source)
    return value


def read_config_file(path: str | os.PathLike[str], *, require_type_meta: bool = False) -> ConfigDocument:
    """Read a KubeletConfiguration file (YAML or JSON) without applying defaults.

    The kubelet accepts a base file without apiVersion and kind only in old releases, so the
    type metadata is checked when present and required when ``require_type_meta`` is set.
    """
    file_path = Path(path)
    source = str(file_path)
    value, lines = parse_document_text(_read_text(file_path), source)
    data = _as_mapping(value, source, "a KubeletConfiguration mapping")
    check_type_meta(data, source, required=require_type_meta)
    validate_field_types(data, source, lines)
    return ConfigDocument(data=data, source=source, lines=lines)


def read_configz_file(path: str | os.PathLike[str]) -> ConfigDocument:
    """Read ``/configz`` JSON (``{"kubeletconfig": {...}}``) as returned through the API server proxy."""
    file_path = Path(path)
    source = str(file_path)
    value, lines = parse_document_text(_read_text(file_path), source)
    outer = _as_mapping(value, source, 'a /configz object {"kubeletconfig": {...}}')
    if "kubeletconfig" not in outer:
        raise InputError(
            'kubeletconfig: missing: expected the /configz object {"kubeletconfig": {...}} '
            "(kubectl get --raw /api/v1/nodes/NODE/proxy/configz)",
            field="kubeletconfig",
            source=source,
        )
    data = _as_mapping(outer["kubeletconfig"], source, "kubeletconfig to be a mapping")
    inner_lines = {
        key.split(".", 1)[1]: line for key, line in lines.items() if key.startswith("kubeletconfig.")
    }
    validate_field_types(data, source, inner_lines)
    # Only the first level below "kubeletconfig" has line numbers; nested paths fall back to it.
    return ConfigDocument(data=data, source=source, lines=inner_lines)


def read_dropin_directory(directory: str | os.PathLike[str]) -> tuple[list[ConfigDocument], list[str]]:
    """Read the ``*.conf`` drop-ins of ``--config-dir`` in the kubelet's walk order.

    Returns (documents, skipped files). Every drop-in needs apiVersion and kind; other
    file names are skipped, as the kubelet does.
    """
    root = Path(directory)
    if not root.is_dir():
        raise InputError("drop-in directory not found or not a directory", source=str(root))
    documents: list[ConfigDocument] = []
    skipped: list[str] = []
    for path in _walk_lexical(root):
        if path.suffix != ".conf":
            skipped.append(str(path))
            continue
        source = str(path)
        value, lines = parse_document_text(_read_text(path), source)
        data = _as_mapping(value, source, "a KubeletConfiguration mapping")
        if "apiVersion" not in data and "kind" not in data:
            raise InputError(
                f"drop-in has no apiVersion/kind: expected apiVersion {API_VERSION!r} and kind {KIND!r}",
                source=source,
            )
        check_type_meta(data, source, required=True)
        validate_field_types(_without_nulls(data), source, lines)
        documents.append(ConfigDocument(data=data, source=source, lines=lines))
    return documents, skipped


def _without_nulls(value: Any) -> Any:
    """Drop null entries at every level: in a merge patch they delete keys and carry no type."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    return value


def _walk_lexical(root: Path) -> list[Path]:
    """List files under ``root`` like Go's filepath.WalkDir: entries sorted by name, depth first."""
    files: list[Path] = []
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        if entry.is_dir():
            files.extend(_walk_lexical(entry))
        else:
            files.append(entry)
    return files
