"""Named presets: the eviction and GC settings of known distributions, stored in ``policies/*.yaml``.

A preset file is YAML with these keys:

* ``name``, ``description``;
* ``kubeletVersion``: the kubelet minor version the preset describes;
* ``source``: where the values come from (a URL or a repository path and commit);
* ``documentedOnly`` (optional): true when only part of the configuration is public, as for GKE;
* ``kubeletConfiguration`` (optional): a KubeletConfiguration document;
* ``flags`` (optional): kubelet flags applied over it, as the distribution passes them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulator.errors import InputError
from simulator.policy.kubeletconfig import (
    API_VERSION,
    KIND,
    ConfigDocument,
    parse_document_text,
    validate_field_types,
)

__all__ = ["PRESETS_DIRECTORY", "Preset", "load_preset", "preset_config", "preset_names"]

# policies/ at the repository root; EVICTSIM_POLICIES_DIR overrides it for installed copies.
PRESETS_DIRECTORY = Path(
    os.environ.get("EVICTSIM_POLICIES_DIR", Path(__file__).resolve().parents[2] / "policies")
)

_REQUIRED_KEYS = ("name", "description", "kubeletVersion", "source")


@dataclass(frozen=True)
class Preset:
    """A loaded preset: its metadata, configuration document and flags."""

    name: str
    description: str
    kubelet_version: str
    source: str
    path: str
    documented_only: bool
    document: ConfigDocument | None
    flags: str | None


def preset_names(directory: Path | None = None) -> list[str]:
    """Return the names of the presets in ``directory`` (default: policies/), sorted."""
    root = directory or PRESETS_DIRECTORY
    if not root.is_dir():
        return []
    return sorted(path.stem for path in root.glob("*.yaml"))


def _preset_path(name: str, directory: Path | None) -> Path:
    candidate = Path(name)
    if candidate.suffix in (".yaml", ".yml") and candidate.is_file():
        return candidate
    path = (directory or PRESETS_DIRECTORY) / f"{name}.yaml"
    if not path.is_file():
        available = ", ".join(preset_names(directory)) or "none found"
        raise InputError(f"unknown preset {name!r}: expected one of {available}", field="preset", value=name)
    return path


def load_preset(name: str, directory: Path | None = None) -> Preset:
    """Load a preset by name (``eks-al2023``) or by the path of a preset YAML file."""
    path = _preset_path(name, directory)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(f"cannot read preset: {error}", source=source) from error
    value, lines = parse_document_text(text, source)
    if not isinstance(value, dict):
        raise InputError("invalid preset: expected a mapping", source=source)
    for key in _REQUIRED_KEYS:
        if not isinstance(value.get(key), str) or not value[key]:
            raise InputError(f"{key}: missing or not a string in preset", field=key, source=source)

    document = None
    configuration: Any = value.get("kubeletConfiguration")
    if configuration is not None:
        if not isinstance(configuration, dict):
            raise InputError(
                "kubeletConfiguration: expected a mapping", field="kubeletConfiguration", source=source
            )
        data = {"apiVersion": API_VERSION, "kind": KIND, **configuration}
        validate_field_types(data, source)
        document_lines = {
            key.split(".", 1)[1]: line
            for key, line in lines.items()
            if key.startswith("kubeletConfiguration.")
        }
        document = ConfigDocument(data=data, source=source, lines=document_lines)
    flags = value.get("flags")
    if flags is not None and not isinstance(flags, str):
        raise InputError("flags: expected a string of kubelet flags", field="flags", source=source)
    return Preset(
        name=value["name"],
        description=value["description"],
        kubelet_version=value["kubeletVersion"],
        source=value["source"],
        path=source,
        documented_only=bool(value.get("documentedOnly", False)),
        document=document,
        flags=flags,
    )


def dump_preset_metadata(preset: Preset) -> dict[str, Any]:
    """Return the preset's metadata for display."""
    return {
        "name": preset.name,
        "description": preset.description,
        "kubeletVersion": preset.kubelet_version,
        "source": preset.source,
        "documentedOnly": preset.documented_only,
        "path": preset.path,
    }


def preset_config(name: str, version: str | None = None) -> dict[str, Any]:
    """Return a preset as one KubeletConfiguration document, with its flags folded into the fields.

    Flags that set KubeletConfiguration fields replace those fields, as on the kubelet;
    flag-only settings (root dir, container GC) are not part of the document. ``version`` is
    accepted for symmetry with the loaders; the document does not depend on it.
    """
    from simulator.policy.flags import CONFIG_FLAGS, parse_flags, tokenize_flags_text

    del version
    preset = load_preset(name)
    document: dict[str, Any] = (
        dict(preset.document.data) if preset.document else {"apiVersion": API_VERSION, "kind": KIND}
    )
    if preset.flags:
        parsed = parse_flags(tokenize_flags_text(preset.flags), source=f"preset {preset.name}")
        config_fields = {spec.field for spec in CONFIG_FLAGS.values()}
        for field_name, value in parsed.values.items():
            if field_name == "featureGates":
                document["featureGates"] = {**document.get("featureGates", {}), **value}  # type: ignore[dict-item]
            elif field_name in config_fields:
                document[field_name] = value
    return document
