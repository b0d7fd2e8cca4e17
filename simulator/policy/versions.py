"""Kubelet versions evictsim models, and what changed between them.

Facts come from the kubelet source (pkg/kubelet/eviction/defaults_linux.go, cmd/kubelet/app/server.go,
and the versioned gate table in pkg/features/kube_features.go at the 1.35 master) and the
feature-gate pages of the Kubernetes documentation:

* 1.30 added ``imagefs.inodesFree<5%`` to the Linux default evictionHard (kubernetes PR 121834).
* 1.29 added the containerfs.available and containerfs.inodesFree signals (KEP-4191).
* 1.33 added the ``mergeDefaultEvictionSettings`` field (kubernetes PR 127577).
* KubeletSeparateDiskGC: alpha and off in 1.29-1.30, beta and on from 1.31.
* ImageMaximumGCAge: alpha and off in 1.29, beta and on in 1.30-1.34, GA and locked on in 1.35.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from simulator.errors import UnsupportedVersionError

__all__ = [
    "CONFIG_DIR_SINCE",
    "CONFIG_DIR_WITHOUT_ENV_SINCE",
    "CONTAINERFS_SIGNALS_SINCE",
    "FEATURE_GATES",
    "IMAGEFS_INODES_DEFAULT_SINCE",
    "MERGE_DEFAULT_EVICTION_SETTINGS_SINCE",
    "NEWEST_VERSION",
    "SUPPORTED_VERSIONS",
    "FeatureGateSpec",
    "at_least",
    "default_feature_gates",
    "known_feature_gate",
    "locked_feature_gate",
    "normalize_version",
    "version_tuple",
]

SUPPORTED_VERSIONS: Final[tuple[str, ...]] = tuple(f"1.{minor}" for minor in range(27, 36))
NEWEST_VERSION: Final = SUPPORTED_VERSIONS[-1]

MERGE_DEFAULT_EVICTION_SETTINGS_SINCE: Final = "1.33"
IMAGEFS_INODES_DEFAULT_SINCE: Final = "1.30"
# --config-dir arrived in 1.28. In 1.28-1.29 it also needs KUBELET_CONFIG_DROPIN_DIR_ALPHA set in
# the kubelet's environment, from 1.30 it works alone (kubelet-config-file docs).
CONFIG_DIR_SINCE: Final = "1.28"
CONFIG_DIR_WITHOUT_ENV_SINCE: Final = "1.30"
# containerfs.available and containerfs.inodesFree arrived with KEP-4191 in 1.29.
CONTAINERFS_SIGNALS_SINCE: Final = "1.29"

_VERSION_PATTERN: Final = re.compile(r"v?(\d+)\.(\d+)(?:\.\d+)?(?:[-+][0-9A-Za-z.+-]*)?")


def normalize_version(text: str | None) -> str:
    """Return ``major.minor`` for a kubelet version such as ``v1.31.4-eks-1234`` or ``1.33``.

    ``None`` or an empty string means the newest supported version. Raises
    UnsupportedVersionError for a malformed version or one outside 1.27-1.35.
    """
    if text is None or text == "":
        return NEWEST_VERSION
    match = _VERSION_PATTERN.fullmatch(text.strip())
    if match is None:
        raise UnsupportedVersionError(
            f"invalid kubelet version {text!r}: expected MAJOR.MINOR such as 1.33 or v1.33.2",
            field="kubeletVersion",
            value=text,
        )
    version = f"{int(match.group(1))}.{int(match.group(2))}"
    if version not in SUPPORTED_VERSIONS:
        raise UnsupportedVersionError(
            f"unsupported kubelet version {text!r}: evictsim models {SUPPORTED_VERSIONS[0]} "
            f"through {NEWEST_VERSION}",
            field="kubeletVersion",
            value=text,
        )
    return version


def version_tuple(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


def at_least(version: str, minimum: str) -> bool:
    """Return whether ``version`` (``major.minor``) is ``minimum`` or newer."""
    return version_tuple(version) >= version_tuple(minimum)


@dataclass(frozen=True)
class FeatureGateSpec:
    """One stage of a feature gate: from ``since`` on, its default is ``default``."""

    since: str
    stage: str
    default: bool
    locked: bool = False


# Only the gates that change what evictsim simulates. Other gates are accepted without effect.
FEATURE_GATES: Final[dict[str, tuple[FeatureGateSpec, ...]]] = {
    "KubeletSeparateDiskGC": (
        FeatureGateSpec("1.29", "alpha", False),
        FeatureGateSpec("1.31", "beta", True),
    ),
    "ImageMaximumGCAge": (
        FeatureGateSpec("1.29", "alpha", False),
        FeatureGateSpec("1.30", "beta", True),
        FeatureGateSpec("1.35", "GA", True, locked=True),
    ),
}


def _stage_for(gate: str, version: str) -> FeatureGateSpec | None:
    current = None
    for spec in FEATURE_GATES.get(gate, ()):
        if at_least(version, spec.since):
            current = spec
    return current


def default_feature_gates(version: str) -> dict[str, bool]:
    """Return the defaults of the modelled gates that exist in ``version``."""
    gates: dict[str, bool] = {}
    for gate in FEATURE_GATES:
        spec = _stage_for(gate, version)
        if spec is not None:
            gates[gate] = spec.default
    return gates


def known_feature_gate(gate: str, version: str) -> bool | None:
    """Return True if ``version`` has ``gate``, False if it does not, None if evictsim does not track it."""
    if gate not in FEATURE_GATES:
        return None
    return _stage_for(gate, version) is not None


def locked_feature_gate(gate: str, version: str) -> bool:
    """Return whether ``gate`` is GA and locked to its default in ``version``."""
    spec = _stage_for(gate, version)
    return spec is not None and spec.locked
