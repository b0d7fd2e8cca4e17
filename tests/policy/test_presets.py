"""Every preset in policies/ loads and matches the values its source documents.

Expected thresholds restate the presets' sources (distribution configs) combined with the
kubelet's map rules: a present evictionHard replaces the defaults and "0%" disables a signal.
"""

from __future__ import annotations

import pytest

from simulator.errors import InputError
from simulator.policy.load import PolicyInputs, build_policy
from simulator.policy.presets import load_preset, preset_config, preset_names
from simulator.policy.versions import SUPPORTED_VERSIONS

EXPECTED_PRESETS = {
    "upstream-1.27",
    "upstream-1.30",
    "upstream-1.35",
    "kubeadm",
    "kind",
    "minikube",
    "k3s",
    "rke2",
    "eks-al2",
    "eks-al2023",
    "aks-flags",
    "aks",
    "gke",
    "openshift",
    "talos",
    "gardener",
    "deckhouse",
}


def test_all_distributions_present() -> None:
    assert EXPECTED_PRESETS <= set(preset_names())


@pytest.mark.parametrize("name", preset_names())
def test_preset_loads(name: str) -> None:
    preset = load_preset(name)
    assert preset.source
    assert preset.kubelet_version in SUPPORTED_VERSIONS
    policy = build_policy(PolicyInputs(preset=name))
    assert policy.kubelet_version == preset.kubelet_version
    assert policy.sources[0].startswith(f"preset {name}")


def hard(name: str, version: str | None = None) -> dict[str, str]:
    policy = build_policy(PolicyInputs(preset=name, kubelet_version=version))
    return {t.signal.value: str(t.value) for t in policy.thresholds if t.hard}


def test_kind_has_no_thresholds() -> None:
    assert hard("kind") == {}
    assert build_policy(PolicyInputs(preset="kind")).image_gc.high_threshold_percent == 100


def test_k3s_disk_only_with_min_reclaim() -> None:
    policy = build_policy(PolicyInputs(preset="k3s"))
    assert {(t.signal.value, str(t.value), str(t.min_reclaim)) for t in policy.thresholds} == {
        ("imagefs.available", "5%", "10%"),
        ("nodefs.available", "5%", "10%"),
    }


def test_upstream_presets_differ_by_version() -> None:
    assert "imagefs.inodesFree" not in hard("upstream-1.27")
    assert hard("upstream-1.30")["imagefs.inodesFree"] == "5%"


def test_deckhouse_soft_thresholds() -> None:
    policy = build_policy(PolicyInputs(preset="deckhouse"))
    soft = {t.signal.value: (str(t.value), t.grace_period_s) for t in policy.thresholds if not t.hard}
    assert soft["memory.available"] == ("2%", 90.0)
    assert policy.pressure_transition_period_s == 240
    assert policy.max_pod_grace_period_s == 90
    assert (policy.image_gc.high_threshold_percent, policy.image_gc.low_threshold_percent) == (50, 40)


def test_preset_version_can_be_overridden() -> None:
    assert build_policy(PolicyInputs(preset="kind", kubelet_version="1.28")).kubelet_version == "1.28"


def test_flags_override_preset() -> None:
    assert hard("aks-flags") == {
        "memory.available": "750Mi",
        "nodefs.available": "10%",
        "nodefs.inodesFree": "5%",
        "allocatableMemory.available": "750Mi",
    }
    policy = build_policy(PolicyInputs(preset="aks-flags", flags_text="--eviction-hard=memory.available<1Gi"))
    assert {t.signal.value for t in policy.thresholds} == {"memory.available", "allocatableMemory.available"}


def test_preset_config_folds_flags() -> None:
    document = preset_config("k3s")
    assert document["evictionHard"] == {"imagefs.available": "5%", "nodefs.available": "5%"}
    assert document["kind"] == "KubeletConfiguration"


def test_unknown_preset() -> None:
    with pytest.raises(InputError, match="unknown preset 'nope': expected one of"):
        build_policy(PolicyInputs(preset="nope"))
