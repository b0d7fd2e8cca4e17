"""What-if overrides applied to a copy of a real captured sample.

Expected decisions restate the kubelet (1.27-1.35, pkg/kubelet/eviction): a threshold is met
when available < threshold; memory.available is node.memory.availableBytes and
allocatableMemory.available is the ``pods`` system container's; pid.available is
rlimit.maxpid - rlimit.curproc; soft thresholds set the node condition at once but act only
after their grace period; the default evictionHard gained imagefs.inodesFree<5% in 1.30.
"""

from __future__ import annotations

import json
from fractions import Fraction

import pytest

from simulator.api.live import LiveState, Sample
from simulator.api.whatif import (
    FilesystemDelta,
    FutureSyncs,
    ImagePull,
    PodChange,
    PolicyChange,
    WhatIfSpec,
    apply_what_if,
)
from simulator.errors import InputError
from simulator.policy.model import ThresholdValue, round_to_float32, threshold_quantity
from simulator.signals import Signal
from tests.api.conftest import load_summary, make_sample

SUMMARY = load_summary()
MEMORY_AVAILABLE = SUMMARY.node.memory.available_bytes
PODS_MEMORY_AVAILABLE = SUMMARY.node.system_container("pods").memory.available_bytes
MI = 1024**2
IMAGEFS = SUMMARY.node.image_fs
IMAGEFS_HARD = threshold_quantity(ThresholdValue(percentage=round_to_float32(Fraction(15, 100))), IMAGEFS.capacity_bytes)


@pytest.fixture
def sample() -> Sample:
    return LiveState().publish(make_sample())


def conditions(sample: Sample, spec: WhatIfSpec) -> tuple[str, ...]:
    return apply_what_if(sample, spec).decision.node_conditions


def test_memory_delta_byte_exact(sample: Sample) -> None:
    """memory.available<100Mi: one byte past the boundary sets MemoryPressure."""
    to_pressure = MEMORY_AVAILABLE - 100 * MI + 1
    assert conditions(sample, WhatIfSpec(memory_working_set_delta_bytes=to_pressure - 1)) == ()
    assert conditions(sample, WhatIfSpec(memory_working_set_delta_bytes=to_pressure)) == ("MemoryPressure",)


def test_memory_delta_reaches_pods_container(sample: Sample) -> None:
    result = apply_what_if(sample, WhatIfSpec(memory_working_set_delta_bytes=MI))
    observed = result.decision.observations[Signal.ALLOCATABLE_MEMORY_AVAILABLE]
    assert observed.available == PODS_MEMORY_AVAILABLE - MI


def test_pid_delta(sample: Sample) -> None:
    """A pid.available threshold of 1000 is met once maxpid - curproc drops below 1000."""
    rlimit = SUMMARY.node.rlimit
    patch = json.dumps({"evictionHard": {"pid.available": "1000"}})
    to_pressure = rlimit.maxpid - rlimit.curproc - 1000 + 1
    base = WhatIfSpec(policy=PolicyChange(patch_json=patch))
    assert conditions(sample, WhatIfSpec(policy=base.policy, pid_delta=to_pressure - 1)) == ()
    assert conditions(sample, WhatIfSpec(policy=base.policy, pid_delta=to_pressure)) == ("PIDPressure",)


def test_image_pulls_fill_imagefs(sample: Sample) -> None:
    to_pressure = IMAGEFS.available_bytes - IMAGEFS_HARD + 1
    size = to_pressure // 4
    remainder = to_pressure - 4 * size
    pulls = (ImagePull("app:v2", size, 4),)
    assert conditions(sample, WhatIfSpec(image_pulls=pulls)) == ()
    pulls_over = (*pulls, ImagePull("tiny:v1", remainder, 1))
    assert conditions(sample, WhatIfSpec(image_pulls=pulls_over)) == ("DiskPressure",)


def test_single_filesystem_write_lowers_every_fs_signal(sample: Sample) -> None:
    """On a single-filesystem node nodefs, imagefs and containerfs are one filesystem."""
    result = apply_what_if(sample, WhatIfSpec(filesystem_deltas=(FilesystemDelta("nodefs", MI),)))
    observations = result.decision.observations
    for signal in (Signal.NODEFS_AVAILABLE, Signal.IMAGEFS_AVAILABLE, Signal.CONTAINERFS_AVAILABLE):
        assert observations[signal].available == IMAGEFS.available_bytes - MI, signal


def test_remove_pod_frees_its_usage(sample: Sample) -> None:
    pod = SUMMARY.pods[0]
    result = apply_what_if(sample, WhatIfSpec(pod_changes=(PodChange("remove", pod.pod_ref.key),)))
    observations = result.decision.observations
    assert observations[Signal.MEMORY_AVAILABLE].available == MEMORY_AVAILABLE + pod.memory.working_set_bytes
    assert observations[Signal.NODEFS_AVAILABLE].available == SUMMARY.node.fs.available_bytes + pod.ephemeral_storage.used_bytes
    assert all(p.pod_ref.key != pod.pod_ref.key for p in result.summary.pods)


def test_remove_unknown_pod(sample: Sample) -> None:
    with pytest.raises(InputError, match="pod 'default/none' not found"):
        apply_what_if(sample, WhatIfSpec(pod_changes=(PodChange("remove", "default/none"),)))


def test_add_pod_with_usage(sample: Sample) -> None:
    pod = {"metadata": {"name": "big", "namespace": "default"}, "spec": {"containers": [{"name": "app"}]}}
    change = PodChange("add", pod_json=json.dumps(pod), memory_working_set_bytes=MEMORY_AVAILABLE - 100 * MI + 1)
    result = apply_what_if(sample, WhatIfSpec(pod_changes=(change,)))
    assert result.decision.node_conditions == ("MemoryPressure",)
    assert [p.key for p in result.pods] == ["default/big"]
    assert result.decision.victims


def test_add_pod_bad_json(sample: Sample) -> None:
    with pytest.raises(InputError, match=r"pod_changes\[0\].pod_json: invalid JSON"):
        apply_what_if(sample, WhatIfSpec(pod_changes=(PodChange("add", pod_json="{"),)))


def test_soft_threshold_needs_grace_period(sample: Sample) -> None:
    """A met soft threshold sets DiskPressure at once; only after 1m of syncs does it act."""
    soft = json.dumps({"evictionSoft": {"imagefs.available": "90%"}, "evictionSoftGracePeriod": {"imagefs.available": "1m"}})
    policy = PolicyChange(patch_json=soft)
    now = apply_what_if(sample, WhatIfSpec(policy=policy)).decision
    assert now.node_conditions == ("DiskPressure",)
    assert now.reclaim_signal is None
    assert now.victims == ()

    later = apply_what_if(sample, WhatIfSpec(policy=policy, future=FutureSyncs(syncs=6, interval_s=10))).decision
    assert later.reclaim_signal is Signal.IMAGEFS_AVAILABLE
    assert len(later.victims) == 1


def test_future_growth(sample: Sample) -> None:
    """Growth per second over syncs * interval seconds is added to the filesystem."""
    growth = (FilesystemDelta("imagefs", 1000),)
    result = apply_what_if(sample, WhatIfSpec(future=FutureSyncs(syncs=3, interval_s=10, growth_per_second=growth)))
    assert result.decision.observations[Signal.IMAGEFS_AVAILABLE].available == IMAGEFS.available_bytes - 30_000


def test_kubelet_version_changes_defaults(sample: Sample) -> None:
    """imagefs.inodesFree<5% is a default hard threshold from 1.30, not in 1.29."""
    older = apply_what_if(sample, WhatIfSpec(policy=PolicyChange(kubelet_version="1.29"))).decision
    newer = apply_what_if(sample, WhatIfSpec(policy=PolicyChange(kubelet_version="1.30"))).decision
    assert Signal.IMAGEFS_INODES_FREE not in {r.threshold.signal for r in older.thresholds}
    assert Signal.IMAGEFS_INODES_FREE in {r.threshold.signal for r in newer.thresholds}
    assert older.kubelet_version == "1.29"


def test_preset(sample: Sample) -> None:
    decision = apply_what_if(sample, WhatIfSpec(policy=PolicyChange(preset="kubeadm"))).decision
    assert decision.thresholds


def test_unknown_preset(sample: Sample) -> None:
    with pytest.raises(InputError, match="policy.preset"):
        apply_what_if(sample, WhatIfSpec(policy=PolicyChange(preset="no-such-preset")))


def test_resize_pod(sample: Sample) -> None:
    from simulator.pods import PodSpec

    pod = PodSpec.from_k8s({"metadata": {"name": "web", "namespace": "default"}, "spec": {"containers": [{"name": "app"}]}})
    with_spec = LiveState().publish(make_sample().__class__(**{**make_sample().__dict__, "pods": (pod,)}))
    change = PodChange("resize", "default/web", requests={"memory": "1Gi"}, limits={"memory": "2Gi"})
    result = apply_what_if(with_spec, WhatIfSpec(pod_changes=(change,)))
    (resized,) = result.pods
    assert str(resized.containers[0].requests["memory"]) == "1Gi"
    assert str(resized.containers[0].limits["memory"]) == "2Gi"
    bad = PodChange("resize", "default/web", requests={"memory": "lots"})
    with pytest.raises(InputError, match=r"requests\[memory\]: invalid quantity 'lots'"):
        apply_what_if(with_spec, WhatIfSpec(pod_changes=(bad,)))


def test_live_sample_untouched(sample: Sample) -> None:
    before = sample.summary.node.image_fs.available_bytes
    apply_what_if(sample, WhatIfSpec(filesystem_deltas=(FilesystemDelta("imagefs", 10**9),), memory_working_set_delta_bytes=MI))
    assert sample.summary.node.image_fs.available_bytes == before
    assert sample.summary.node.memory.available_bytes == MEMORY_AVAILABLE


def test_live_summary_unchanged_by_pressure(sample: Sample) -> None:
    """Every field of the live Summary stays as it was after what-ifs that copy and edit it."""
    before = sample.summary.to_json()
    pressure = WhatIfSpec(
        filesystem_deltas=(FilesystemDelta("imagefs", IMAGEFS.available_bytes - IMAGEFS_HARD + MI, 1000),),
        memory_working_set_delta_bytes=MI,
        pid_delta=10,
        future=FutureSyncs(syncs=3, interval_s=10.0, memory_bytes_per_second=1000),
    )
    result = apply_what_if(sample, pressure)
    assert "DiskPressure" in result.decision.node_conditions
    assert result.summary.node.image_fs.available_bytes < IMAGEFS_HARD
    assert sample.summary.to_json() == before


def test_restamped_copies_and_keeps_sharing(sample: Sample) -> None:
    """Restamping gives new node stats timed ``when``, leaves the input alone and keeps shared filesystems shared."""
    import datetime as dt

    from simulator.api.whatif import _restamped

    summary = sample.summary
    when = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    before = summary.to_json()
    stamped = _restamped(summary, when)
    assert summary.to_json() == before
    for name in ("memory", "fs", "image_fs", "container_fs", "rlimit"):
        original = getattr(summary.node, name)
        copy = getattr(stamped.node, name)
        if original is None or original.time is None:
            assert copy is original
            continue
        assert copy is not original
        assert copy.time == when
    assert (stamped.node.image_fs is stamped.node.container_fs) == (summary.node.image_fs is summary.node.container_fs)
    assert stamped.pods is summary.pods
