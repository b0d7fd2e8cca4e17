"""The kubelet's Linux defaults for the fields evictsim models, per version.

Sources: kubernetes pkg/kubelet/apis/config/v1beta1/defaults.go and
pkg/kubelet/eviction/defaults_linux.go (1.27-1.35), cmd/kubelet/app/options/options.go for the
flag-only container GC settings. The default evictionHard is not applied by API defaulting.
The kubelet applies it in loadConfigFile (cmd/kubelet/app/server.go) when the --config file has
no evictionHard, so a kubelet started without --config gets no default hard thresholds.
"""

from __future__ import annotations

from typing import Final

from simulator.policy.versions import IMAGEFS_INODES_DEFAULT_SINCE, at_least

__all__ = [
    "DEFAULT_ENFORCE_NODE_ALLOCATABLE",
    "DEFAULT_IMAGE_GC_HIGH_THRESHOLD_PERCENT",
    "DEFAULT_IMAGE_GC_LOW_THRESHOLD_PERCENT",
    "DEFAULT_IMAGE_MAXIMUM_GC_AGE",
    "DEFAULT_IMAGE_MINIMUM_GC_AGE",
    "DEFAULT_PRESSURE_TRANSITION_PERIOD",
    "DEFAULT_POD_LOGS_DIR",
    "DEFAULT_ROOT_DIR",
    "default_eviction_hard",
]

DEFAULT_PRESSURE_TRANSITION_PERIOD: Final = "5m0s"
DEFAULT_IMAGE_GC_HIGH_THRESHOLD_PERCENT: Final = 85
DEFAULT_IMAGE_GC_LOW_THRESHOLD_PERCENT: Final = 80
DEFAULT_IMAGE_MINIMUM_GC_AGE: Final = "2m0s"
DEFAULT_IMAGE_MAXIMUM_GC_AGE: Final = "0s"
DEFAULT_ENFORCE_NODE_ALLOCATABLE: Final[tuple[str, ...]] = ("pods",)
DEFAULT_ROOT_DIR: Final = "/var/lib/kubelet"
# podLogsDir: where the kubelet keeps container logs, <dir>/<namespace>_<pod>_<uid>/<container>/.
DEFAULT_POD_LOGS_DIR: Final = "/var/log/pods"
DEFAULT_EVICTION_MAX_POD_GRACE_PERIOD: Final = 0
DEFAULT_MINIMUM_CONTAINER_TTL: Final = "0s"
DEFAULT_MAX_PER_POD_CONTAINER: Final = 1
DEFAULT_MAX_CONTAINERS: Final = -1


def default_eviction_hard(version: str) -> dict[str, str]:
    """Return the Linux default evictionHard map of ``version`` (``major.minor``).

    1.27-1.29: memory.available<100Mi, nodefs.available<10%, nodefs.inodesFree<5%,
    imagefs.available<15%. From 1.30 also imagefs.inodesFree<5%.
    """
    defaults = {
        "memory.available": "100Mi",
        "nodefs.available": "10%",
        "nodefs.inodesFree": "5%",
        "imagefs.available": "15%",
    }
    if at_least(version, IMAGEFS_INODES_DEFAULT_SINCE):
        defaults["imagefs.inodesFree"] = "5%"
    return defaults
