"""Build one effective ``Policy`` from any input surface, in the kubelet's order.

Layers, each overriding the one before (cmd/kubelet/app/server.go, 1.35 master; the same
order since drop-ins arrived in 1.28):

1. the kubelet's defaults for the chosen version. With no input at all, this is a kubelet
   whose config file sets no eviction field, so it has the default evictionHard. A kubelet
   started with flags only has no evictionHard at all, because since 1.25 only config file
   loading applies that default;
2. a KubeletConfiguration file or a preset's configuration, with v1beta1 defaulting and the
   evictionHard default (replace, or merge from 1.33 with mergeDefaultEvictionSettings);
3. ``--config-dir`` drop-ins as JSON merge patches, then defaulting again;
4. command-line flags, field by field.

``/configz`` output is already the effective configuration, so it is used as is, with Go
zero values for absent fields. Every value's origin is recorded in ``Policy.provenance``.
"""

from __future__ import annotations

import argparse
import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator.errors import InputError
from simulator.policy import defaults as kubelet_defaults
from simulator.policy.fields import FIELD_SINCE, is_known_field
from simulator.policy.flags import (
    CONFIG_FLAGS,
    ParsedFlags,
    parse_flags,
    read_flags_file,
    tokenize_flags_text,
)
from simulator.policy.grammar import ThresholdError, parse_threshold_config
from simulator.policy.kubeletconfig import (
    MODELLED_FIELDS,
    ConfigDocument,
    check_type_meta,
    merge_patch,
    parse_document_text,
    read_config_file,
    read_configz_file,
    read_dropin_directory,
    validate_field_types,
)
from simulator.policy.model import ContainerGCPolicy, ImageGCPolicy, Policy, Threshold
from simulator.policy.versions import (
    CONFIG_DIR_SINCE,
    CONFIG_DIR_WITHOUT_ENV_SINCE,
    CONTAINERFS_SIGNALS_SINCE,
    MERGE_DEFAULT_EVICTION_SETTINGS_SINCE,
    at_least,
    default_feature_gates,
    known_feature_gate,
    locked_feature_gate,
    normalize_version,
)
from simulator.quantity import DurationError, Quantity, QuantityError, parse_go_duration_ns

__all__ = [
    "PolicyInputs",
    "add_policy_arguments",
    "build_policy",
    "default_policy",
    "kubelet_version_from_node_file",
    "policy_from_args",
    "policy_from_kubelet_config",
]

_THRESHOLD_MAPS = ("evictionHard", "evictionSoft", "evictionSoftGracePeriod", "evictionMinimumReclaim")
_MAP_FIELDS = (*_THRESHOLD_MAPS, "kubeReserved", "systemReserved", "featureGates")
_ENFORCEMENT_KEYS = frozenset(
    {
        "pods",
        "system-reserved",
        "kube-reserved",
        "system-reserved-compressible",
        "kube-reserved-compressible",
        "none",
    }
)


@dataclass
class PolicyInputs:
    """The inputs of one policy: at most one base (file, /configz or preset), drop-ins, flags."""

    kubelet_version: str | None = None
    config_file: str | None = None
    config_dir: str | None = None
    configz_file: str | None = None
    flags_text: str | None = None
    flags_file: str | None = None
    preset: str | None = None
    node_file: str | None = None
    # Warn when the version falls back to the newest because no input states one.
    warn_missing_version: bool = False


MISSING_VERSION_WARNING = "kubelet version not given: assuming {version}; pass --kubelet-version or --node"


@dataclass
class _Builder:
    """The configuration under construction, in v1beta1 JSON shape, with provenance per field path."""

    version: str
    config: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    zero_defaulted: list[str] = field(default_factory=list)
    flag_values: dict[str, Any] = field(default_factory=dict)

    def default_label(self) -> str:
        return f"kubelet {self.version} default"

    def set_field(self, name: str, value: Any, origin: str) -> None:
        """Set a top-level field and record ``origin`` for it and, for maps, for each key."""
        self._forget(name)
        self.config[name] = value
        self.provenance[name] = origin
        if name in _MAP_FIELDS and isinstance(value, dict):
            for key in value:
                self.provenance[f"{name}.{key}"] = origin

    def _forget(self, name: str) -> None:
        self.provenance.pop(name, None)
        prefix = f"{name}."
        for path in [p for p in self.provenance if p.startswith(prefix)]:
            del self.provenance[path]


# defaulting


def _apply_v1beta1_defaults(builder: _Builder, document_source: str | None) -> None:
    """Fill absent fields like SetDefaults_KubeletConfiguration (pkg/kubelet/apis/config/v1beta1/defaults.go).

    evictionPressureTransitionPeriod and imageMinimumGCAge are also defaulted when zero, so a
    zero in a file never reaches the kubelet. Such fields are recorded for lint.
    """
    config = builder.config
    label = builder.default_label()
    zero_defaulted_durations = {
        "evictionPressureTransitionPeriod": kubelet_defaults.DEFAULT_PRESSURE_TRANSITION_PERIOD,
        "imageMinimumGCAge": kubelet_defaults.DEFAULT_IMAGE_MINIMUM_GC_AGE,
    }
    for name, default in zero_defaulted_durations.items():
        value = config.get(name)
        if value is None:
            builder.set_field(name, default, label)
        elif _duration_ns(value, name, builder) == 0:
            where = builder.provenance.get(name, document_source or "input")
            builder.zero_defaulted.append(name)
            builder.set_field(name, default, f"{label} (replaced 0 from {where})")

    simple_defaults: dict[str, Any] = {
        "imageGCHighThresholdPercent": kubelet_defaults.DEFAULT_IMAGE_GC_HIGH_THRESHOLD_PERCENT,
        "imageGCLowThresholdPercent": kubelet_defaults.DEFAULT_IMAGE_GC_LOW_THRESHOLD_PERCENT,
        "enforceNodeAllocatable": list(kubelet_defaults.DEFAULT_ENFORCE_NODE_ALLOCATABLE),
        "localStorageCapacityIsolation": True,
        "kernelMemcgNotification": False,
        "evictionMaxPodGracePeriod": kubelet_defaults.DEFAULT_EVICTION_MAX_POD_GRACE_PERIOD,
        "featureGates": {},
        "kubeReserved": {},
        "systemReserved": {},
        "evictionSoft": {},
        "evictionSoftGracePeriod": {},
        "evictionMinimumReclaim": {},
        "podLogsDir": kubelet_defaults.DEFAULT_POD_LOGS_DIR,
    }
    if at_least(builder.version, FIELD_SINCE["imageMaximumGCAge"]):
        simple_defaults["imageMaximumGCAge"] = kubelet_defaults.DEFAULT_IMAGE_MAXIMUM_GC_AGE
    if at_least(builder.version, MERGE_DEFAULT_EVICTION_SETTINGS_SINCE):
        simple_defaults["mergeDefaultEvictionSettings"] = False
    for name, default in simple_defaults.items():
        if config.get(name) is None:
            builder.set_field(name, copy.deepcopy(default), label)


def _apply_eviction_hard_default(builder: _Builder, document: ConfigDocument) -> None:
    """Apply the OS default evictionHard as the kubelet's loadConfigFile does."""
    default_map = kubelet_defaults.default_eviction_hard(builder.version)
    label = builder.default_label()
    if builder.config.get("evictionHard") is None:
        builder.set_field(
            "evictionHard", dict(default_map), f"{label} (evictionHard absent from {document.source})"
        )
        return
    if builder.config.get("mergeDefaultEvictionSettings"):
        for key, value in default_map.items():
            if key not in builder.config["evictionHard"]:
                builder.config["evictionHard"][key] = value
                builder.provenance[f"evictionHard.{key}"] = f"{label} (merged: mergeDefaultEvictionSettings)"


def _duration_ns(value: Any, name: str, builder: _Builder) -> int:
    try:
        return parse_go_duration_ns(value)
    except DurationError as error:
        where = builder.provenance.get(name, "input")
        raise InputError(
            f"{name}: invalid value {value!r}: {error}; expected a Go duration such as 5m0s",
            field=name,
            value=value,
            source=where,
        ) from error


# layers


def _base_defaults(builder: _Builder, *, config_file_defaults: bool) -> None:
    """Start from the kubelet's v1beta1 defaults.

    With ``config_file_defaults`` the base also gets the default evictionHard map, as for a
    --config file that sets no eviction field. Without it the base is a kubelet started with
    no --config: since 1.25 only loadConfigFile applies the evictionHard default, and v1beta1
    defaulting does not, so such a kubelet has no hard thresholds unless --eviction-hard is set.
    """
    if config_file_defaults:
        builder.set_field(
            "evictionHard",
            kubelet_defaults.default_eviction_hard(builder.version),
            f"{builder.default_label()} (config file without evictionHard)",
        )
    _apply_v1beta1_defaults(builder, None)


def _filter_fields(document: ConfigDocument, builder: _Builder, origin_prefix: str) -> dict[str, Any]:
    """Return the document's fields that the chosen version accepts, and warn about the others."""
    accepted: dict[str, Any] = {}
    for name, value in document.data.items():
        if name in ("apiVersion", "kind"):
            continue
        since = FIELD_SINCE.get(name)
        if since is not None and not at_least(builder.version, since):
            builder.warnings.append(
                f"{document.location(name)}: field {name} needs kubelet {since} or newer; kubelet "
                f"{builder.version} ignores it as an unknown field"
            )
            continue
        if not is_known_field(name):
            builder.warnings.append(
                f"{document.location(name)}: unknown field {name!r} ignored (the kubelet logs a strict "
                "decoding error and ignores it)"
            )
            continue
        accepted[name] = value
    return accepted


def _apply_config_document(builder: _Builder, document: ConfigDocument, origin_prefix: str) -> None:
    """Replace the configuration with a decoded file's, then default it like loadConfigFile."""
    fields = _filter_fields(document, builder, origin_prefix)
    builder.config = {}
    builder.provenance = {}
    for name, value in fields.items():
        if name not in MODELLED_FIELDS:
            builder.config[name] = value
            continue
        origin = f"{origin_prefix} {document.location(name)}"
        builder.set_field(name, copy.deepcopy(value), origin)
        if isinstance(value, dict):
            for key in value:
                builder.provenance[f"{name}.{key}"] = f"{origin_prefix} {document.location(f'{name}.{key}')}"
    builder.sources.append(f"{origin_prefix} {document.source}")
    _apply_v1beta1_defaults(builder, document.source)
    _apply_eviction_hard_default(builder, document)


def _check_config_dir_version(builder: _Builder) -> None:
    """Reject --config-dir before 1.28, and warn that 1.28-1.29 also need an environment variable."""
    if not at_least(builder.version, CONFIG_DIR_SINCE):
        raise InputError(
            f"--config-dir: kubelet {builder.version} has no drop-in directory (added in {CONFIG_DIR_SINCE}); "
            "remove --config-dir or choose a newer --kubelet-version",
            field="--config-dir",
        )
    if not at_least(builder.version, CONFIG_DIR_WITHOUT_ENV_SINCE):
        builder.warnings.append(
            f"kubelet {builder.version} reads --config-dir only when KUBELET_CONFIG_DROPIN_DIR_ALPHA is set in its "
            "environment; without it the kubelet fails to start"
        )


def _apply_dropins(builder: _Builder, directory: str) -> None:
    """Merge ``*.conf`` drop-ins as JSON merge patches, then default again (not evictionHard)."""
    _check_config_dir_version(builder)
    documents, skipped = read_dropin_directory(directory)
    for path in skipped:
        builder.warnings.append(f"{path}: skipped, drop-in files must end in .conf")
    if not documents:
        others = f" (skipped: {', '.join(str(Path(path).name) for path in skipped)})" if skipped else ""
        builder.warnings.append(f"no *.conf files in {directory}; the kubelet reads only *.conf drop-ins{others}")
    for document in documents:
        patch = {k: v for k, v in document.data.items() if k not in ("apiVersion", "kind")}
        known = _filter_fields(ConfigDocument(patch, document.source, document.lines), builder, "drop-in")
        patch = {k: v for k, v in patch.items() if k in known or v is None}
        merged = merge_patch(builder.config, patch)
        for name, value in patch.items():
            origin = f"drop-in {document.location(name)}"
            if value is None:
                builder._forget(name)
                continue
            if name in _MAP_FIELDS and isinstance(value, dict):
                builder.provenance.setdefault(name, origin)
                for key, item in value.items():
                    path = f"{name}.{key}"
                    if item is None:
                        builder.provenance.pop(path, None)
                    else:
                        builder.provenance[path] = f"drop-in {document.location(path)}"
            else:
                builder._forget(name)
                builder.provenance[name] = origin
        builder.config = merged
        builder.sources.append(f"drop-in {document.source}")
    _apply_v1beta1_defaults(builder, directory)


def _apply_flags(builder: _Builder, parsed: ParsedFlags) -> None:
    """Set each flag's field over the configuration, as the kubelet's second flag parse does."""
    for name, value in parsed.values.items():
        flag = parsed.flag_names[name]
        origin = f"flag {flag} ({parsed.source})"
        if name == "featureGates":
            gates = dict(builder.config.get("featureGates") or {})
            gates.update(value)  # type: ignore[arg-type]
            builder.config["featureGates"] = gates
            for gate in value:  # type: ignore[union-attr]
                builder.provenance[f"featureGates.{gate}"] = origin
            continue
        if name in ("config", "configDir"):
            continue  # read before the layers are applied, see _config_paths_from_flags
        if any(spec.field == name for spec in CONFIG_FLAGS.values()):
            builder.set_field(name, value, origin)
        else:
            builder.flag_values[name] = value
            builder.provenance[name] = origin


def _parse_flags_inputs(inputs: PolicyInputs) -> ParsedFlags | None:
    tokens: list[str] = []
    source = "flags"
    if inputs.flags_file:
        file_tokens, source = read_flags_file(inputs.flags_file)
        tokens.extend(file_tokens)
    if inputs.flags_text:
        tokens.extend(tokenize_flags_text(inputs.flags_text))
        source = "--flags" if not inputs.flags_file else f"{source} and --flags"
    if not tokens and not inputs.flags_file and not inputs.flags_text:
        return None
    return parse_flags(tokens, source=source)


# validation and assembly


def _feature_gates(builder: _Builder) -> dict[str, bool]:
    """Combine the version's gate defaults with the configured gates; warn about the others."""
    gates = default_feature_gates(builder.version)
    for gate in gates:
        builder.provenance.setdefault(f"featureGates.{gate}", builder.default_label())
    unmodelled: list[str] = []
    for gate, enabled in (builder.config.get("featureGates") or {}).items():
        origin = builder.provenance.get(f"featureGates.{gate}", "input")
        known = known_feature_gate(gate, builder.version)
        if known is None:
            unmodelled.append(gate)
            continue
        if not known:
            builder.warnings.append(
                f"{origin}: feature gate {gate} does not exist in kubelet {builder.version} (that kubelet "
                "rejects unknown gates at start); ignored"
            )
            continue
        if locked_feature_gate(gate, builder.version) and enabled != gates[gate]:
            raise InputError(
                f"featureGates.{gate}: invalid value {str(enabled).lower()}: the gate is GA and locked to "
                f"{str(gates[gate]).lower()} in kubelet {builder.version}; remove it",
                field=f"featureGates.{gate}",
                value=enabled,
                source=origin,
            )
        gates[gate] = enabled
    if unmodelled:
        builder.warnings.append(
            "feature gates without effect on eviction or GC in evictsim (not checked against "
            f"kubelet {builder.version}): {', '.join(sorted(unmodelled))}"
        )
    return gates


def _origin(builder: _Builder, name: str) -> str:
    return builder.provenance.get(name, "input")


def _validate_image_gc(builder: _Builder, gates: Mapping[str, bool]) -> ImageGCPolicy:
    """Check the image GC fields like ValidateKubeletConfiguration (pkg/kubelet/apis/config/validation)."""
    config = builder.config
    high = config["imageGCHighThresholdPercent"]
    low = config["imageGCLowThresholdPercent"]
    if not 0 <= high <= 100:
        raise InputError(
            f"invalid configuration: imageGCHighThresholdPercent (--image-gc-high-threshold) {high} must be "
            "between 0 and 100, inclusive",
            field="imageGCHighThresholdPercent",
            value=high,
            source=_origin(builder, "imageGCHighThresholdPercent"),
        )
    if not 0 <= low <= 100:
        raise InputError(
            f"invalid configuration: imageGCLowThresholdPercent (--image-gc-low-threshold) {low} must be "
            "between 0 and 100, inclusive",
            field="imageGCLowThresholdPercent",
            value=low,
            source=_origin(builder, "imageGCLowThresholdPercent"),
        )
    if low >= high:
        raise InputError(
            f"invalid configuration: imageGCLowThresholdPercent (--image-gc-low-threshold) {low} must be less "
            f"than imageGCHighThresholdPercent (--image-gc-high-threshold) {high}",
            field="imageGCLowThresholdPercent",
            value=low,
            source=_origin(builder, "imageGCLowThresholdPercent"),
        )

    minimum_ns = _duration_ns(config["imageMinimumGCAge"], "imageMinimumGCAge", builder)
    maximum_text = config.get("imageMaximumGCAge", "0s")
    maximum_ns = _duration_ns(maximum_text, "imageMaximumGCAge", builder)
    if maximum_ns != 0 and not gates.get("ImageMaximumGCAge", False):
        raise InputError(
            "invalid configuration: ImageMaximumGCAge feature gate is required for Kubelet configuration "
            f"option imageMaximumGCAge (set to {maximum_text}); enable the gate or remove the field",
            field="imageMaximumGCAge",
            value=maximum_text,
            source=_origin(builder, "imageMaximumGCAge"),
        )
    if minimum_ns < 0:
        raise InputError(
            f"invalid configuration: imageMinimumGCAge {config['imageMinimumGCAge']} must not be negative",
            field="imageMinimumGCAge",
            value=config["imageMinimumGCAge"],
            source=_origin(builder, "imageMinimumGCAge"),
        )
    if maximum_ns < 0:
        raise InputError(
            f"invalid configuration: imageMaximumGCAge {maximum_text} must not be negative",
            field="imageMaximumGCAge",
            value=maximum_text,
            source=_origin(builder, "imageMaximumGCAge"),
        )
    if maximum_ns > 0 and maximum_ns <= minimum_ns:
        raise InputError(
            f"invalid configuration: imageMaximumGCAge {maximum_text} must be greater than imageMinimumGCAge "
            f"{config['imageMinimumGCAge']}",
            field="imageMaximumGCAge",
            value=maximum_text,
            source=_origin(builder, "imageMaximumGCAge"),
        )
    return ImageGCPolicy(
        high_threshold_percent=high,
        low_threshold_percent=low,
        minimum_gc_age_s=minimum_ns / 1e9,
        maximum_gc_age_s=maximum_ns / 1e9,
    )


def _validate_enforcement(builder: _Builder) -> tuple[str, ...]:
    keys = tuple(builder.config.get("enforceNodeAllocatable") or ())
    origin = _origin(builder, "enforceNodeAllocatable")
    for key in keys:
        if key not in _ENFORCEMENT_KEYS:
            raise InputError(
                f"invalid configuration: option {key!r} specified for enforceNodeAllocatable "
                f"(--enforce-node-allocatable); valid options are {sorted(_ENFORCEMENT_KEYS)}",
                field="enforceNodeAllocatable",
                value=key,
                source=origin,
            )
    if "none" in keys and len(keys) > 1:
        raise InputError(
            "invalid configuration: enforceNodeAllocatable (--enforce-node-allocatable) may not contain "
            "additional enforcements when 'none' is specified",
            field="enforceNodeAllocatable",
            value=list(keys),
            source=origin,
        )
    return keys


def _reserved(builder: _Builder, name: str) -> dict[str, Quantity]:
    result: dict[str, Quantity] = {}
    for resource, text in (builder.config.get(name) or {}).items():
        try:
            result[resource] = Quantity.parse(text)
        except QuantityError as error:
            raise InputError(
                f"{name}.{resource}: invalid value {text!r}: {error}",
                field=f"{name}.{resource}",
                value=text,
                source=builder.provenance.get(f"{name}.{resource}", "input"),
            ) from error
    return result


def _container_gc(builder: _Builder) -> ContainerGCPolicy:
    values = builder.flag_values
    minimum_age_ns = 0
    if "minimumContainerTTLDuration" in values:
        minimum_age_ns = _duration_ns(
            values["minimumContainerTTLDuration"], "minimumContainerTTLDuration", builder
        )
        if minimum_age_ns < 0:
            raise InputError(
                f"invalid minimum garbage collection age: {values['minimumContainerTTLDuration']}; "
                "--minimum-container-ttl-duration must not be negative",
                field="--minimum-container-ttl-duration",
                source=_origin(builder, "minimumContainerTTLDuration"),
            )
    return ContainerGCPolicy(
        minimum_age_s=minimum_age_ns / 1e9,
        max_per_pod_container=int(values.get("maximumDeadContainersPerContainer", 1)),  # type: ignore[arg-type]
        max_containers=int(values.get("maximumDeadContainers", -1)),  # type: ignore[arg-type]
    )


def _reject_signals_newer_than_version(builder: _Builder) -> None:
    """Reject containerfs signals before 1.29, where the kubelet does not know them yet."""
    if at_least(builder.version, CONTAINERFS_SIGNALS_SINCE):
        return
    for field_name in _THRESHOLD_MAPS:
        for key in builder.config.get(field_name) or {}:
            if key.startswith("containerfs."):
                path = f"{field_name}.{key}"
                raise InputError(
                    f"{path}: unsupported eviction signal {key}: kubelet {builder.version} has no containerfs "
                    f"signals (they exist from {CONTAINERFS_SIGNALS_SINCE}); remove the entry",
                    field=path,
                    value=key,
                    source=builder.provenance.get(path, "input"),
                )


def _thresholds(builder: _Builder, enforcement: tuple[str, ...]) -> tuple[Threshold, ...]:
    config = builder.config
    _reject_signals_newer_than_version(builder)
    try:
        return tuple(
            parse_threshold_config(
                enforcement,
                config.get("evictionHard"),
                config.get("evictionSoft"),
                config.get("evictionSoftGracePeriod"),
                config.get("evictionMinimumReclaim"),
            )
        )
    except ThresholdError as error:
        path = f"{error.field}.{error.key}" if error.key else error.field
        origin = builder.provenance.get(path)
        if origin is None and error.field == "evictionSoftGracePeriod":
            origin = builder.provenance.get(f"evictionSoft.{error.key}")
        origin = origin or builder.provenance.get(error.field, "input")
        value = f" (value {error.value!r})" if error.value and error.value not in str(error) else ""
        raise InputError(f"{path}: {error}{value}", field=path, value=error.value, source=origin) from error


def _assemble(builder: _Builder) -> Policy:
    gates = _feature_gates(builder)
    image_gc = _validate_image_gc(builder, gates)
    enforcement = _validate_enforcement(builder)
    thresholds = _thresholds(builder, enforcement)
    config = builder.config
    transition_ns = _duration_ns(
        config["evictionPressureTransitionPeriod"], "evictionPressureTransitionPeriod", builder
    )
    for path in list(builder.provenance):
        if path.startswith("featureGates.") and path.split(".", 1)[1] not in gates:
            del builder.provenance[path]
    root_dir = str(builder.flag_values.get("rootDir", kubelet_defaults.DEFAULT_ROOT_DIR))
    builder.provenance.setdefault("rootDir", builder.default_label())
    # /configz of kubelets older than the podLogsDir field has no value: they log to the default.
    builder.provenance.setdefault("podLogsDir", builder.default_label())
    for name in ("minimumContainerTTLDuration", "maximumDeadContainersPerContainer", "maximumDeadContainers"):
        builder.provenance.setdefault(name, builder.default_label())
    return Policy(
        kubelet_version=builder.version,
        thresholds=thresholds,
        max_pod_grace_period_s=int(config["evictionMaxPodGracePeriod"]),
        pressure_transition_period_s=transition_ns / 1e9,
        image_gc=image_gc,
        container_gc=_container_gc(builder),
        local_storage_capacity_isolation=bool(config["localStorageCapacityIsolation"]),
        kernel_memcg_notification=bool(config["kernelMemcgNotification"]),
        enforce_node_allocatable=enforcement,
        feature_gates=gates,
        root_dir=root_dir,
        pod_logs_dir=str(config.get("podLogsDir") or kubelet_defaults.DEFAULT_POD_LOGS_DIR),
        provenance=dict(sorted(builder.provenance.items())),
        merge_default_eviction_settings=bool(config.get("mergeDefaultEvictionSettings", False)),
        kube_reserved=_reserved(builder, "kubeReserved"),
        system_reserved=_reserved(builder, "systemReserved"),
        eviction_hard=dict(config.get("evictionHard") or {}),
        eviction_soft=dict(config.get("evictionSoft") or {}),
        eviction_soft_grace_period=dict(config.get("evictionSoftGracePeriod") or {}),
        eviction_minimum_reclaim=dict(config.get("evictionMinimumReclaim") or {}),
        warnings=tuple(builder.warnings),
        sources=tuple(builder.sources),
        zero_values_defaulted=tuple(dict.fromkeys(builder.zero_defaulted)),
    )


def _apply_configz(builder: _Builder, document: ConfigDocument) -> None:
    """Use /configz values as they are; absent fields are Go zero values, not defaults."""
    fields = _filter_fields(document, builder, "/configz")
    zero_values: dict[str, Any] = {
        "evictionHard": {},
        "evictionSoft": {},
        "evictionSoftGracePeriod": {},
        "evictionMinimumReclaim": {},
        "evictionMaxPodGracePeriod": 0,
        "evictionPressureTransitionPeriod": "0s",
        "imageGCHighThresholdPercent": 0,
        "imageGCLowThresholdPercent": 0,
        "imageMinimumGCAge": "0s",
        "imageMaximumGCAge": "0s",
        "enforceNodeAllocatable": [],
        "kubeReserved": {},
        "systemReserved": {},
        "localStorageCapacityIsolation": False,
        "kernelMemcgNotification": False,
        "featureGates": {},
        "mergeDefaultEvictionSettings": False,
    }
    for name, zero in zero_values.items():
        if name in fields and fields[name] is not None:
            builder.set_field(name, copy.deepcopy(fields[name]), f"/configz {document.location(name)}")
            if isinstance(fields[name], dict):
                for key in fields[name]:
                    builder.provenance[f"{name}.{key}"] = f"/configz {document.location(f'{name}.{key}')}"
        else:
            builder.set_field(name, zero, f"/configz {document.source} (absent: Go zero value)")
    builder.sources.append(f"/configz {document.source}")


def build_policy(inputs: PolicyInputs) -> Policy:
    """Build the effective policy from ``inputs``; raise InputError on invalid input.

    Raises UnsupportedVersionError (an InputError) for a kubelet version outside 1.27-1.35.
    """
    from simulator.policy.presets import load_preset

    bases = [name for name in ("config_file", "configz_file", "preset") if getattr(inputs, name)]
    if len(bases) > 1:
        raise InputError(
            f"choose one of --kubelet-config, --configz and --preset (got {', '.join(bases)})", field="inputs"
        )
    if inputs.configz_file and (inputs.config_dir or inputs.flags_file or inputs.flags_text):
        raise InputError(
            "--configz is already the effective configuration: do not combine it with --config-dir or flags",
            field="inputs",
        )

    preset = load_preset(inputs.preset) if inputs.preset else None
    version_text = inputs.kubelet_version
    if version_text is None and inputs.node_file:
        version_text = kubelet_version_from_node_file(inputs.node_file)
    if version_text is None and preset is not None:
        version_text = preset.kubelet_version
    builder = _Builder(version=normalize_version(version_text))
    if version_text is None and inputs.warn_missing_version:
        builder.warnings.append(MISSING_VERSION_WARNING.format(version=builder.version))
    parsed_flags = _parse_flags_inputs(inputs)
    if preset is not None and preset.flags:
        preset_flags = parse_flags(tokenize_flags_text(preset.flags), source=f"preset {preset.name}")
    else:
        preset_flags = None

    if inputs.configz_file:
        _apply_configz(builder, read_configz_file(inputs.configz_file))
        return _assemble(builder)

    config_file = inputs.config_file
    config_dir = inputs.config_dir
    if parsed_flags is not None:
        config_file, config_dir = _config_paths_from_flags(builder, parsed_flags, config_file, config_dir)
    has_config_document = bool(config_file) or (preset is not None and preset.document is not None)
    flags_only = not has_config_document and (
        parsed_flags is not None or preset_flags is not None or bool(config_dir)
    )
    _base_defaults(builder, config_file_defaults=not flags_only)

    if preset is not None:
        if preset.document is None:
            builder.sources.append(f"preset {preset.name} {preset.path}")
        else:
            _apply_config_document(builder, preset.document, f"preset {preset.name}")
        if preset_flags is not None:
            _apply_flags(builder, preset_flags)
    elif config_file:
        _apply_config_document(builder, read_config_file(config_file, require_type_meta=True), "file")
    if config_dir:
        _apply_dropins(builder, config_dir)
    if parsed_flags is not None:
        _apply_flags(builder, parsed_flags)
        builder.sources.append(f"flags {parsed_flags.source}")
        if parsed_flags.unknown:
            builder.warnings.append(
                f"{parsed_flags.source}: flags without effect on eviction or GC, ignored: "
                f"{', '.join(sorted(set(parsed_flags.unknown)))}"
            )
    if flags_only and builder.config.get("evictionHard") is None:
        builder.warnings.append(
            "no config file: a kubelet started without --config applies no default evictionHard "
            "(only config file loading does), so it has no hard thresholds; pass --kubelet-config if "
            "the node uses one"
        )
    return _assemble(builder)


def _config_paths_from_flags(
    builder: _Builder, parsed: ParsedFlags, config_file: str | None, config_dir: str | None
) -> tuple[str | None, str | None]:
    """Use ``--config``/``--config-dir`` named in the flags when they are readable and not given explicitly."""
    for name, current in (("config", config_file), ("configDir", config_dir)):
        named = parsed.values.get(name)
        if not isinstance(named, str) or current:
            continue
        if Path(named).exists():
            if name == "config":
                config_file = named
            else:
                config_dir = named
        else:
            flag = "--kubelet-config" if name == "config" else "--config-dir"
            builder.warnings.append(
                f"{parsed.source}: the kubelet reads {parsed.flag_names[name]}={named}, which is not readable "
                f"here; pass {flag} with a copy of it, or the policy shows flag and default values only"
            )
    return config_file, config_dir


def policy_from_kubelet_config(
    document: Mapping[str, Any], version: str | None = None, *, source: str = "request"
) -> Policy:
    """Build the policy from an in-memory KubeletConfiguration, as if it were the --config file.

    apiVersion and kind are optional here; when present they must be KubeletConfiguration v1beta1.
    """
    data = dict(document)
    check_type_meta(data, source, required=False)
    validate_field_types(data, source)
    builder = _Builder(version=normalize_version(version))
    _base_defaults(builder, config_file_defaults=True)
    _apply_config_document(builder, ConfigDocument(data=data, source=source), "document")
    return _assemble(builder)


def kubelet_version_from_node_file(path: str) -> str:
    """Return ``status.nodeInfo.kubeletVersion`` from ``kubectl get node NAME -o yaml|json`` output.

    A List with exactly one Node is accepted too. Raises InputError naming the file otherwise.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(f"cannot read file: {error}", source=path) from error
    value, _ = parse_document_text(text, path)
    if isinstance(value, dict) and value.get("kind") == "List":
        items = value.get("items") or []
        if len(items) != 1:
            raise InputError(
                f"items: expected exactly one Node, got {len(items)}; save one node with kubectl get node NAME",
                field="items",
                source=path,
            )
        value = items[0]
    version = None
    if isinstance(value, dict):
        version = ((value.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion")
    if not isinstance(version, str) or not version:
        raise InputError(
            "status.nodeInfo.kubeletVersion: missing: expected a Node object from kubectl get node NAME -o yaml",
            field="status.nodeInfo.kubeletVersion",
            source=path,
        )
    return version


def default_policy(version: str | None = None) -> Policy:
    """Return the kubelet's default Linux policy for ``version`` (default: the newest, 1.35)."""
    return build_policy(PolicyInputs(kubelet_version=version))


# command line


def add_policy_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the policy input options shared by ``policy show``, ``evaluate``, ``gc`` and ``daemon``."""
    group = parser.add_argument_group(
        "kubelet policy (default: the kubelet's defaults for --kubelet-version)"
    )
    group.add_argument(
        "--kubelet-config", metavar="FILE", help="KubeletConfiguration file (YAML or JSON), as --config"
    )
    group.add_argument(
        "--config-dir",
        metavar="DIR",
        help="drop-in directory of *.conf files merged over the config, as --config-dir",
    )
    group.add_argument("--configz", metavar="FILE", help="JSON saved from /api/v1/nodes/NODE/proxy/configz")
    group.add_argument(
        "--flags",
        metavar="STRING",
        help='kubelet flags as one string; write it after "=", e.g. --flags="--eviction-hard=memory.available<500Mi"',
    )
    group.add_argument(
        "--flags-file",
        metavar="FILE",
        help="file with kubelet flags: /etc/default/kubelet, /proc/PID/cmdline, ...",
    )
    group.add_argument(
        "--preset", metavar="NAME", help="a named preset from policies/ (see 'evictsim policy presets')"
    )
    group.add_argument(
        "--kubelet-version",
        metavar="VERSION",
        help="kubelet minor version whose defaults and rules apply, 1.27 to 1.35 "
        "(default: from --node, else the preset's, else 1.35)",
    )
    group.add_argument(
        "--node",
        metavar="FILE",
        dest="node_file",
        help="Node object (kubectl get node NAME -o yaml) whose status.nodeInfo.kubeletVersion sets the version",
    )


def policy_from_args(args: argparse.Namespace) -> Policy:
    """Build the policy from the options that ``add_policy_arguments`` added."""
    return build_policy(
        PolicyInputs(
            kubelet_version=getattr(args, "kubelet_version", None),
            config_file=getattr(args, "kubelet_config", None),
            config_dir=getattr(args, "config_dir", None),
            configz_file=getattr(args, "configz", None),
            flags_text=getattr(args, "flags", None),
            flags_file=getattr(args, "flags_file", None),
            preset=getattr(args, "preset", None),
            node_file=getattr(args, "node_file", None),
            warn_missing_version=True,
        )
    )
