"""Lint findings: settings the kubelet accepts but that behave differently from what operators expect.

Each finding has a stable id (``EVS0xx``), a severity (``warning`` or ``info``), a one-line
message and a one-line fix. Settings the kubelet refuses to start with are not findings:
the loaders raise InputError for them.

Some checks depend on the filesystem layout (does the kubelet root share a filesystem with
the images?). Pass ``layout`` when it is known; without it those checks are phrased as
conditions, at severity ``info``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from simulator.policy.defaults import default_eviction_hard
from simulator.policy.model import Policy, Threshold, format_percentage
from simulator.policy.versions import MERGE_DEFAULT_EVICTION_SETTINGS_SINCE, at_least
from simulator.quantity import DurationError, format_go_duration, parse_go_duration_ns
from simulator.signals import (
    CONTAINERFS_SIGNALS,
    IMAGEFS_SIGNALS,
    NODEFS_SIGNALS,
    FsLayout,
    Signal,
)

__all__ = ["FINDING_IDS", "Finding", "lint_policy"]


@dataclass(frozen=True)
class Finding:
    """One lint finding about a policy."""

    id: str
    name: str
    severity: str
    message: str
    fix: str

    def as_dict(self) -> dict[str, str]:
        return {
            "id": self.id,
            "name": self.name,
            "severity": self.severity,
            "message": self.message,
            "fix": self.fix,
        }


# Stable ids; never renumber, only append.
FINDING_IDS: Final[dict[str, str]] = {
    "EVS001": "partial-eviction-hard",
    "EVS002": "no-memory-threshold",
    "EVS003": "no-disk-threshold",
    "EVS004": "shared-fs-imagefs-floor",
    "EVS005": "image-gc-after-eviction",
    "EVS006": "dedicated-imagefs-without-threshold",
    "EVS007": "no-pid-threshold",
    "EVS008": "zero-pressure-transition-period",
    "EVS009": "negative-max-pod-grace-period",
    "EVS010": "image-gc-disabled",
    "EVS011": "soft-threshold-zero-grace",
    "EVS012": "percentage-not-disabling",
    "EVS013": "containerfs-threshold-ignored",
    "EVS014": "unused-minimum-reclaim",
    "EVS015": "unused-grace-period",
    "EVS016": "disabled-threshold",
}

_DISK_SIGNALS: Final = NODEFS_SIGNALS | IMAGEFS_SIGNALS | CONTAINERFS_SIGNALS


def _finding(finding_id: str, severity: str, message: str, fix: str) -> Finding:
    return Finding(finding_id, FINDING_IDS[finding_id], severity, message, fix)


def _has(policy: Policy, signal: Signal) -> bool:
    return any(t.signal == signal for t in policy.thresholds)


def _hard_percentage(policy: Policy, signal: Signal) -> float | None:
    for threshold in policy.thresholds:
        if threshold.signal == signal and threshold.hard and threshold.value.percentage is not None:
            return threshold.value.percentage
    return None


# The kubelet skips these exact strings when it parses evictionHard and evictionSoft
# (pkg/kubelet/eviction/helpers.go parseThresholdStatement), so the signal has no threshold.
_DISABLING_VALUES: Final = ("0%", "100%")


def _disabled_entries(policy: Policy, signals: frozenset[Signal] | set[Signal]) -> list[str]:
    """List ``FIELD SIGNAL VALUE`` for each entry of ``signals`` set to "0%" or "100%"."""
    entries = []
    for field, values in (("evictionHard", policy.eviction_hard), ("evictionSoft", policy.eviction_soft)):
        for signal, text in values.items():
            if text in _DISABLING_VALUES and signal in {s.value for s in signals}:
                entries.append(f"{field} {signal} {text}")
    return entries


def _check_disabled_thresholds(policy: Policy) -> list[Finding]:
    findings = []
    for field, values in (("evictionHard", policy.eviction_hard), ("evictionSoft", policy.eviction_soft)):
        for signal, text in values.items():
            if text not in _DISABLING_VALUES:
                continue
            findings.append(
                _finding(
                    "EVS016",
                    "info",
                    f"{field} {signal} {text}: the kubelet ignores 0% and 100%, so this signal has no threshold",
                    "nothing to do if the signal is disabled on purpose; otherwise set a quantity or a percentage "
                    "between 0% and 100%",
                )
            )
    return findings


def _check_partial_eviction_hard(policy: Policy) -> list[Finding]:
    origin = policy.provenance.get("evictionHard", "")
    if origin.startswith("kubelet "):
        return []
    # Keys set to "0%" or "100%" count as present: the user disabled them on purpose.
    defaults = default_eviction_hard(policy.kubelet_version)
    missing = [key for key in defaults if key not in policy.eviction_hard]
    if not missing:
        return []
    return [
        _finding(
            "EVS001",
            "warning",
            f"evictionHard from {origin} replaces the kubelet defaults, so these signals have no hard "
            f"threshold: {', '.join(missing)}",
            _partial_eviction_hard_fix(policy, origin, {key: defaults[key] for key in missing}),
        )
    ]


def _partial_eviction_hard_fix(policy: Policy, origin: str, missing: dict[str, str]) -> str:
    """Suggest one way to restore the missing defaults that works for the setting's source."""
    if origin.startswith("flag "):
        # --eviction-hard replaces the whole map, and mergeDefaultEvictionSettings has no flag.
        listed = ",".join([*(f"{k}<{v}" for k, v in policy.eviction_hard.items()), *(f"{k}<{v}" for k, v in missing.items())])
        return f"list every signal in --eviction-hard, e.g. --eviction-hard={listed} (the missing ones at their defaults)"
    additions = ", ".join(f"{key}: {value!r}" for key, value in missing.items())
    if at_least(policy.kubelet_version, MERGE_DEFAULT_EVICTION_SETTINGS_SINCE):
        return f"set mergeDefaultEvictionSettings: true, or add the missing signals to evictionHard ({additions})"
    return (
        f"add the missing signals to evictionHard ({additions}), because kubelet {policy.kubelet_version} has no "
        f"mergeDefaultEvictionSettings (added in {MERGE_DEFAULT_EVICTION_SETTINGS_SINCE})"
    )


def _check_memory(policy: Policy) -> list[Finding]:
    if _has(policy, Signal.MEMORY_AVAILABLE):
        return []
    disabled = _disabled_entries(policy, {Signal.MEMORY_AVAILABLE})
    if disabled:
        return [
            _finding(
                "EVS002",
                "info",
                f"memory.available is disabled ({', '.join(disabled)}): MemoryPressure is never reported and the "
                "kernel OOM killer acts before the kubelet evicts",
                "nothing to do if it is disabled on purpose",
            )
        ]
    return [
        _finding(
            "EVS002",
            "warning",
            "no memory.available threshold: MemoryPressure is never reported and the kernel OOM killer "
            "acts before the kubelet evicts",
            'add evictionHard memory.available, e.g. "100Mi" (the kubelet default)',
        )
    ]


def _check_disk(policy: Policy) -> list[Finding]:
    if any(t.signal in _DISK_SIGNALS for t in policy.thresholds):
        return []
    disabled = _disabled_entries(policy, _DISK_SIGNALS)
    if disabled:
        return [
            _finding(
                "EVS003",
                "info",
                f"every nodefs and imagefs threshold is disabled ({', '.join(disabled)}): DiskPressure is never "
                "reported and no pod is evicted for disk, even on a full disk",
                "nothing to do if they are disabled on purpose",
            )
        ]
    return [
        _finding(
            "EVS003",
            "warning",
            "no nodefs or imagefs threshold: DiskPressure is never reported and no pod is evicted for disk, "
            "even on a full disk",
            'add evictionHard nodefs.available "10%" and imagefs.available "15%" (the kubelet defaults)',
        )
    ]


def _check_shared_floor(policy: Policy, layout: FsLayout | None) -> list[Finding]:
    nodefs = _hard_percentage(policy, Signal.NODEFS_AVAILABLE)
    imagefs = _hard_percentage(policy, Signal.IMAGEFS_AVAILABLE)
    if nodefs is None or imagefs is None or imagefs <= nodefs:
        return []
    if layout is not None and layout != FsLayout.SINGLE:
        return []
    condition = "" if layout == FsLayout.SINGLE else "if images and the kubelet root share one filesystem, "
    return [
        _finding(
            "EVS004",
            "warning" if layout == FsLayout.SINGLE else "info",
            f"{condition}imagefs.available<{format_percentage(imagefs)} is met before "
            f"nodefs.available<{format_percentage(nodefs)}: the node gets DiskPressure with "
            f"{format_percentage(imagefs)} free, not {format_percentage(nodefs)}",
            "on a single filesystem, set imagefs.available no higher than nodefs.available if the nodefs "
            "floor is the one intended",
        )
    ]


def _check_gc_before_eviction(policy: Policy) -> list[Finding]:
    high = policy.image_gc.high_threshold_percent
    imagefs = _hard_percentage(policy, Signal.IMAGEFS_AVAILABLE)
    if imagefs is None or high >= 100:
        return []
    imagefs_percent = float(format_percentage(imagefs).rstrip("%"))
    # Image GC computes usage as 100 - floor(available * 100 / capacity), so it starts once
    # free space drops below (101 - high)% of capacity, and eviction once it drops below the
    # imagefs threshold. GC can run first only if that window is not empty.
    gc_start_free_percent = 101 - high
    if gc_start_free_percent > imagefs * 100:
        return []
    highest_useful = math.ceil(101 - imagefs * 100) - 1
    return [
        _finding(
            "EVS005",
            "warning",
            f"imageGCHighThresholdPercent {high} is at or above the usage where imagefs eviction starts "
            f"({100 - imagefs_percent:g}%): periodic image GC never runs before pods are evicted",
            f"set imageGCHighThresholdPercent to {highest_useful} or less, with the low threshold below it",
        )
    ]


def _check_dedicated_imagefs(policy: Policy, layout: FsLayout | None) -> list[Finding]:
    if layout not in (FsLayout.DEDICATED_IMAGEFS, FsLayout.SPLIT):
        return []
    if _has(policy, Signal.IMAGEFS_AVAILABLE):
        return []
    return [
        _finding(
            "EVS006",
            "warning",
            f"the node has a dedicated image filesystem ({layout.value}) but no imagefs.available threshold: "
            "a full image disk never causes DiskPressure",
            'add evictionHard imagefs.available, e.g. "15%"',
        )
    ]


def _check_pid(policy: Policy) -> list[Finding]:
    if _has(policy, Signal.PID_AVAILABLE):
        return []
    return [
        _finding(
            "EVS007",
            "info",
            "no pid.available threshold (none by default on Linux): PIDPressure is never reported and pods "
            "fail to fork before anything is evicted",
            'add evictionHard pid.available, e.g. "10%"',
        )
    ]


def _check_transition_period(policy: Policy) -> list[Finding]:
    findings: list[Finding] = []
    origin = policy.provenance.get("evictionPressureTransitionPeriod", "")
    if policy.pressure_transition_period_s == 0 and origin.startswith("flag "):
        findings.append(
            _finding(
                "EVS008",
                "warning",
                f"evictionPressureTransitionPeriod is 0 from {origin}: node conditions clear as soon as a "
                "threshold is no longer met, so pressure conditions and taints flap",
                "remove the flag or set it to the default 5m0s",
            )
        )
    if "evictionPressureTransitionPeriod" in policy.zero_values_defaulted:
        findings.append(
            _finding(
                "EVS008",
                "info",
                "evictionPressureTransitionPeriod 0 in a config file means the default: the kubelet uses "
                f"{format_go_duration(policy.pressure_transition_period_s)}",
                "write the intended period explicitly (0 cannot be set from a config file, only by flag)",
            )
        )
    return findings


def _check_max_pod_grace(policy: Policy) -> list[Finding]:
    if policy.max_pod_grace_period_s >= 0:
        return []
    return [
        _finding(
            "EVS009",
            "warning",
            f"evictionMaxPodGracePeriod is {policy.max_pod_grace_period_s}: soft-evicted pods are killed "
            "immediately (SIGKILL), not given their terminationGracePeriodSeconds",
            "set evictionMaxPodGracePeriod to 0 (use the pod's own grace period) or a positive number of seconds",
        )
    ]


def _check_image_gc_disabled(policy: Policy) -> list[Finding]:
    if policy.image_gc.high_threshold_percent < 100:
        return []
    max_age_on = policy.image_gc.maximum_gc_age_s > 0 and policy.feature_enabled("ImageMaximumGCAge")
    suffix = "; only imageMaximumGCAge removes images periodically" if max_age_on else ""
    return [
        _finding(
            "EVS010",
            "info",
            f"imageGCHighThresholdPercent 100 turns periodic image GC off{suffix}; images are removed only "
            "when disk eviction reclaims them",
            "set imageGCHighThresholdPercent below 100 (default 85) if the node should clean images itself",
        )
    ]


def _check_soft_zero_grace(policy: Policy) -> list[Finding]:
    findings = []
    for signal, grace in policy.eviction_soft_grace_period.items():
        if signal in policy.eviction_soft and _is_zero_duration(grace):
            findings.append(
                _finding(
                    "EVS011",
                    "warning",
                    f"evictionSoft {signal} has grace period {grace}: it behaves as a hard threshold "
                    "(immediate eviction, 1 s pod grace period)",
                    f"give evictionSoftGracePeriod {signal} a positive duration, or move it to evictionHard",
                )
            )
    return findings


def _is_zero_duration(text: str) -> bool:
    try:
        return parse_go_duration_ns(text) == 0
    except DurationError:
        return False


def _check_percentage_spelling(policy: Policy) -> list[Finding]:
    findings = []
    for field, entries in (("evictionHard", policy.eviction_hard), ("evictionSoft", policy.eviction_soft)):
        for signal, text in entries.items():
            if not text.endswith("%") or text in ("0%", "100%"):
                continue
            threshold = _find(policy.thresholds, signal, text)
            if threshold is None or threshold.value.percentage is None:
                continue
            if threshold.value.percentage == 0:
                findings.append(
                    _finding(
                        "EVS012",
                        "warning",
                        f"{field} {signal} {text!r} is a threshold of zero that is never met; only the exact "
                        'string "0%" disables a threshold',
                        f'write "0%" to disable {signal}, or remove it',
                    )
                )
            elif threshold.value.percentage >= 1:
                findings.append(
                    _finding(
                        "EVS012",
                        "warning",
                        f"{field} {signal} {text!r} equals the whole capacity, so it is always met; only the "
                        'exact string "100%" disables a threshold',
                        f'write "100%" or "0%" to disable {signal}',
                    )
                )
    return findings


def _find(thresholds: tuple[Threshold, ...], signal: str, text: str) -> Threshold | None:
    for threshold in thresholds:
        if threshold.signal.value == signal and threshold.text == f"{signal}<{text}":
            return threshold
    return None


def _check_containerfs(policy: Policy) -> list[Finding]:
    configured = sorted(
        {s for s in (*policy.eviction_hard, *policy.eviction_soft) if s.startswith("containerfs.")}
    )
    if not configured:
        return []
    return [
        _finding(
            "EVS013",
            "warning",
            f"{', '.join(configured)} cannot be configured: the kubelet overwrites them with the nodefs or "
            "imagefs thresholds and logs an error",
            "remove the containerfs entries and set nodefs (or imagefs, for a dedicated image filesystem)",
        )
    ]


def _check_unused_entries(policy: Policy) -> list[Finding]:
    findings = []
    configured = set(policy.eviction_hard) | set(policy.eviction_soft)
    effective = {t.signal.value for t in policy.thresholds}
    for signal in policy.eviction_minimum_reclaim:
        if signal not in effective and signal not in configured:
            findings.append(
                _finding(
                    "EVS014",
                    "info",
                    f"evictionMinimumReclaim {signal} has no threshold to attach to and is ignored",
                    f"add a {signal} threshold or remove the entry",
                )
            )
    for signal in policy.eviction_soft_grace_period:
        if signal not in policy.eviction_soft:
            findings.append(
                _finding(
                    "EVS015",
                    "info",
                    f"evictionSoftGracePeriod {signal} has no evictionSoft threshold and is ignored",
                    f"add evictionSoft {signal} or remove the grace period",
                )
            )
    return findings


def lint_policy(policy: Policy, layout: FsLayout | None = None) -> list[Finding]:
    """Return the lint findings for ``policy``, warnings first, in id order within a severity."""
    findings: list[Finding] = []
    findings += _check_partial_eviction_hard(policy)
    findings += _check_memory(policy)
    findings += _check_disk(policy)
    findings += _check_shared_floor(policy, layout)
    findings += _check_gc_before_eviction(policy)
    findings += _check_dedicated_imagefs(policy, layout)
    findings += _check_pid(policy)
    findings += _check_transition_period(policy)
    findings += _check_max_pod_grace(policy)
    findings += _check_image_gc_disabled(policy)
    findings += _check_soft_zero_grace(policy)
    findings += _check_percentage_spelling(policy)
    findings += _check_containerfs(policy)
    findings += _check_unused_entries(policy)
    findings += _check_disabled_thresholds(policy)
    severity_order = {"warning": 0, "info": 1}
    return sorted(findings, key=lambda f: (severity_order.get(f.severity, 2), f.id))
