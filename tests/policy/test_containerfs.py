"""containerfs threshold synthesis.

Cases restate kubernetes pkg/kubelet/eviction/helpers_test.go TestAddContainerFsThresholds
(1.30-1.35) for helpers.go UpdateContainerFsThresholds.
"""

from __future__ import annotations

import pytest

from simulator.policy.containerfs import synthesize_containerfs_thresholds
from simulator.policy.model import Threshold, ThresholdValue
from simulator.quantity import Quantity
from simulator.signals import FsLayout, Signal

S = Signal


def t(signal: Signal, value: str, reclaim: str, grace_s: float = 0.0) -> Threshold:
    return Threshold(
        signal,
        ThresholdValue(quantity=Quantity.parse(value)),
        grace_period_s=grace_s,
        min_reclaim=ThresholdValue(quantity=Quantity.parse(reclaim)),
    )


def containerfs_view(thresholds: list[Threshold]) -> dict[tuple[str, bool], tuple[str, str, float]]:
    return {
        (x.signal.value, x.hard): (str(x.value), str(x.min_reclaim), x.grace_period_s)
        for x in thresholds
        if x.signal in (S.CONTAINERFS_AVAILABLE, S.CONTAINERFS_INODES_FREE)
    }


SINGLE_INPUT = [
    t(S.NODEFS_AVAILABLE, "100Mi", "1Gi"),
    t(S.NODEFS_AVAILABLE, "200Mi", "1Gi", 30),
    t(S.NODEFS_INODES_FREE, "200Mi", "2Gi", 30),
    t(S.NODEFS_INODES_FREE, "100Mi", "1Gi"),
    t(S.IMAGEFS_AVAILABLE, "100Mi", "1Gi"),
    t(S.IMAGEFS_AVAILABLE, "300Mi", "2Gi", 30),
    t(S.IMAGEFS_INODES_FREE, "150Mi", "2Gi", 30),
    t(S.IMAGEFS_INODES_FREE, "150Mi", "2Gi"),
]

SPLIT_INPUT = [
    t(S.NODEFS_AVAILABLE, "100Mi", "1Gi"),
    t(S.NODEFS_AVAILABLE, "200Mi", "1Gi", 30),
    t(S.NODEFS_INODES_FREE, "200Mi", "2Gi", 30),
    t(S.NODEFS_INODES_FREE, "150Mi", "1.5Gi"),
    t(S.IMAGEFS_AVAILABLE, "150Mi", "1.5Gi"),
    t(S.IMAGEFS_AVAILABLE, "300Mi", "3Gi", 30),
    t(S.IMAGEFS_INODES_FREE, "150Mi", "2Gi", 30),
    t(S.IMAGEFS_INODES_FREE, "300Mi", "2Gi"),
]

NODEFS_COPY_SINGLE = {
    ("containerfs.available", True): ("100Mi", "1Gi", 0.0),
    ("containerfs.available", False): ("200Mi", "1Gi", 30.0),
    ("containerfs.inodesFree", True): ("100Mi", "1Gi", 0.0),
    ("containerfs.inodesFree", False): ("200Mi", "2Gi", 30.0),
}
IMAGEFS_COPY = {
    ("containerfs.available", True): ("150Mi", "1536Mi", 0.0),
    ("containerfs.available", False): ("300Mi", "3Gi", 30.0),
    ("containerfs.inodesFree", True): ("300Mi", "2Gi", 0.0),
    ("containerfs.inodesFree", False): ("150Mi", "2Gi", 30.0),
}
NODEFS_COPY_SPLIT = {
    ("containerfs.available", True): ("100Mi", "1Gi", 0.0),
    ("containerfs.available", False): ("200Mi", "1Gi", 30.0),
    ("containerfs.inodesFree", True): ("150Mi", "1536Mi", 0.0),
    ("containerfs.inodesFree", False): ("200Mi", "2Gi", 30.0),
}

CASES = [
    ("single filesystem", SINGLE_INPUT, FsLayout.SINGLE, NODEFS_COPY_SINGLE),
    ("image filesystem", SPLIT_INPUT, FsLayout.DEDICATED_IMAGEFS, IMAGEFS_COPY),
    ("container and image are separate", SPLIT_INPUT, FsLayout.SPLIT, NODEFS_COPY_SPLIT),
]


@pytest.mark.parametrize(("inputs", "layout", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_containerfs_copies(inputs: list[Threshold], layout: FsLayout, expected: dict) -> None:
    result, errors = synthesize_containerfs_thresholds(inputs, layout)
    assert containerfs_view(result) == expected
    assert errors == []
    assert len(result) == len(inputs) + 4


USER_CONTAINERFS = [
    t(S.CONTAINERFS_AVAILABLE, "500Mi", "5Gi"),
    t(S.CONTAINERFS_AVAILABLE, "500Mi", "5Gi", 30),
    t(S.CONTAINERFS_INODES_FREE, "500Mi", "5Gi"),
    t(S.CONTAINERFS_INODES_FREE, "500Mi", "5Gi", 30),
]


@pytest.mark.parametrize(("inputs", "layout", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_containerfs_user_entries_replaced(inputs: list[Threshold], layout: FsLayout, expected: dict) -> None:
    """The '...; expect error' variants: user entries are overwritten in place and errors reported."""
    result, errors = synthesize_containerfs_thresholds(inputs + USER_CONTAINERFS, layout)
    assert containerfs_view(result) == expected
    assert len(result) == len(inputs) + 4
    assert "found containerfs.available for hard eviction. ignoring" in errors
    assert len(errors) == 4


def test_containerfs_missing_source_dropped() -> None:
    """No nodefs thresholds: the kubelet's empty copies can never be met, so none are kept."""
    result, _ = synthesize_containerfs_thresholds([t(S.MEMORY_AVAILABLE, "100Mi", "0")], FsLayout.SINGLE)
    assert [x.signal for x in result] == [S.MEMORY_AVAILABLE]
