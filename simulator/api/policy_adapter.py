"""Re-load the live policy with a what-if override: a kubelet version, a preset and a config patch.

The override applies to the KubeletConfiguration document the daemon loaded, or to one rebuilt
from the live Policy's fields when the daemon has none, or to a preset's document. The result is
loaded again with ``simulator.policy.load.policy_from_kubelet_config``, so a patched policy gets
the same defaults and validation as a configuration file.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import Any

from simulator.api.validation import (
    check_kubelet_config_patch,
    check_kubelet_version,
    parse_json_object,
)
from simulator.documents import merge_patch
from simulator.errors import InputError
from simulator.policy.load import policy_from_kubelet_config
from simulator.policy.model import Policy, Threshold
from simulator.policy.presets import preset_config
from simulator.signals import FsLayout, Signal


def config_document(policy: Policy, kubelet_config: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return the KubeletConfiguration document a policy came from, rebuilt from its fields if needed."""
    if kubelet_config is not None:
        return dict(kubelet_config)
    document: dict[str, Any] = {
        "kind": "KubeletConfiguration",
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "evictionHard": dict(policy.eviction_hard) or _thresholds_map(policy, hard=True),
        "evictionPressureTransitionPeriod": f"{policy.pressure_transition_period_s:g}s",
        "evictionMaxPodGracePeriod": policy.max_pod_grace_period_s,
        "imageGCHighThresholdPercent": policy.image_gc.high_threshold_percent,
        "imageGCLowThresholdPercent": policy.image_gc.low_threshold_percent,
        "imageMinimumGCAge": f"{policy.image_gc.minimum_gc_age_s:g}s",
        "imageMaximumGCAge": f"{policy.image_gc.maximum_gc_age_s:g}s",
        "enforceNodeAllocatable": list(policy.enforce_node_allocatable),
        "localStorageCapacityIsolation": policy.local_storage_capacity_isolation,
        "kernelMemcgNotification": policy.kernel_memcg_notification,
    }
    for key, value in (
        ("evictionSoft", policy.eviction_soft),
        ("evictionSoftGracePeriod", policy.eviction_soft_grace_period),
        ("evictionMinimumReclaim", policy.eviction_minimum_reclaim),
    ):
        if value:
            document[key] = dict(value)
    if policy.feature_gates:
        document["featureGates"] = dict(policy.feature_gates)
    return document


def _thresholds_map(policy: Policy, *, hard: bool) -> dict[str, str]:
    return {
        t.signal.value: str(t.value)
        for t in policy.thresholds
        if t.hard == hard and t.signal is not Signal.ALLOCATABLE_MEMORY_AVAILABLE
    }


def apply_override(
    policy: Policy,
    kubelet_config: Mapping[str, Any] | None,
    *,
    preset: str = "",
    kubelet_version: str = "",
    patch_json: str = "",
    field: str = "policy",
) -> tuple[Policy, dict[str, Any]]:
    """Return the policy and document after a preset, a version change and a JSON merge patch."""
    version = policy.kubelet_version
    if kubelet_version:
        version = check_kubelet_version(kubelet_version, field=f"{field}.kubelet_version")
    document = config_document(policy, kubelet_config)
    if preset:
        document = _preset_document(preset, version, field=f"{field}.preset")
    if patch_json:
        patch_field = f"{field}.kubelet_config_patch_json"
        patch = parse_json_object(patch_json, field=patch_field)
        check_kubelet_config_patch(patch, field=patch_field)
        document = merge_patch(document, patch)
    return load_policy(document, version, field=field), document


def _preset_document(name: str, version: str, *, field: str) -> dict[str, Any]:
    """Return a preset's KubeletConfiguration document, which replaces the live one."""
    try:
        return dict(preset_config(name, version=version))
    except InputError as error:
        raise InputError(f"{field}: {error}", field=field, value=name) from error


def load_policy(document: Mapping[str, Any], version: str, *, field: str = "policy") -> Policy:
    """Load a KubeletConfiguration document as a Policy for ``version`` with the policy layer's loader."""
    try:
        return policy_from_kubelet_config(dict(document), version, source=field)
    except InputError as error:
        raise InputError(f"{field}: {error}", field=error.field or field, value=error.value) from error


@functools.lru_cache(maxsize=256)
def containerfs_thresholds(thresholds: tuple[Threshold, ...], layout: FsLayout) -> tuple[Threshold, ...]:
    """Add the containerfs thresholds the eviction manager synthesizes once the layout is known.

    With a dedicated imagefs (not split) containerfs copies the imagefs thresholds, otherwise the
    nodefs ones; user-given containerfs thresholds are replaced (kubernetes
    pkg/kubelet/eviction/helpers.go, UpdateContainerFsThresholds, 1.31-1.35).
    """
    source = {
        Signal.CONTAINERFS_AVAILABLE: Signal.IMAGEFS_AVAILABLE if layout is FsLayout.DEDICATED_IMAGEFS else Signal.NODEFS_AVAILABLE,
        Signal.CONTAINERFS_INODES_FREE: Signal.IMAGEFS_INODES_FREE
        if layout is FsLayout.DEDICATED_IMAGEFS
        else Signal.NODEFS_INODES_FREE,
    }
    other_thresholds = [t for t in thresholds if t.signal not in source]
    copies = [
        dataclasses.replace(t, signal=target, text=f"{target.value}<{t.value}")
        for target, origin in source.items()
        for t in thresholds
        if t.signal is origin
    ]
    return tuple(other_thresholds + copies)
