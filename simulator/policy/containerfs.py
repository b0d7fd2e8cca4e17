"""containerfs thresholds, which the kubelet derives from nodefs or imagefs once it has detected the layout.

This restates ``UpdateContainerFsThresholds`` (kubernetes pkg/kubelet/eviction/helpers.go,
1.29-1.35), which the eviction manager calls on its first successful sync:

* one filesystem, or images apart with writable layers on the kubelet root's filesystem
  (split, KubeletSeparateDiskGC): containerfs copies the nodefs thresholds;
* images and writable layers together on a dedicated filesystem: containerfs copies imagefs.

Hard and soft thresholds are copied separately, with value, minimum reclaim and (for soft)
grace period. containerfs entries the user configured are overwritten in place and reported
as errors that the kubelet only logs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from simulator.policy.model import Threshold
from simulator.signals import FsLayout, Signal

__all__ = ["synthesize_containerfs_thresholds"]

_TARGETS: tuple[tuple[Signal, Signal, Signal], ...] = (
    # (containerfs signal, source when containerfs follows nodefs, source when it follows imagefs)
    (Signal.CONTAINERFS_AVAILABLE, Signal.NODEFS_AVAILABLE, Signal.IMAGEFS_AVAILABLE),
    (Signal.CONTAINERFS_INODES_FREE, Signal.NODEFS_INODES_FREE, Signal.IMAGEFS_INODES_FREE),
)


def _last_matching(thresholds: list[Threshold], signal: Signal, hard: bool) -> Threshold | None:
    """Return the last threshold of ``signal`` with the given hardness, as the kubelet's loop keeps it."""
    found = None
    for threshold in thresholds:
        if threshold.signal == signal and threshold.hard == hard:
            found = threshold
    return found


def synthesize_containerfs_thresholds(
    thresholds: Iterable[Threshold], layout: FsLayout
) -> tuple[list[Threshold], list[str]]:
    """Return the thresholds with containerfs copies for ``layout``, and the kubelet's logged errors.

    Kubelets before 1.29 have no containerfs signals, so callers skip this for them.

    NOTE: when the source threshold does not exist, the kubelet appends an empty threshold
    (no operator, zero value) that can never be met. evictsim leaves it out instead.
    """
    result = list(thresholds)
    follows_imagefs = layout == FsLayout.DEDICATED_IMAGEFS
    errors: list[str] = []

    for target, nodefs_source, imagefs_source in _TARGETS:
        for hard in (True, False):
            source = _last_matching(result, imagefs_source if follows_imagefs else nodefs_source, hard)
            user_index = None
            for index, threshold in enumerate(result):
                if threshold.signal == target and threshold.hard == hard:
                    user_index = index
                    kind = "hard" if hard else "soft"
                    errors.append(f"found {target.value} for {kind} eviction. ignoring")
            if source is None:
                if user_index is not None:
                    del result[user_index]
                continue
            copy = replace(source, signal=target, text=f"{target.value} copied from {source.signal.value}")
            if user_index is not None:
                result[user_index] = copy
            else:
                result.append(copy)
    return result, errors
