"""Round trips over the real captured configuration files in tests/data/real/.

Each expected threshold set is read off the file and the kubelet's rules. A present
evictionHard map replaces the defaults, and "0%" disables a signal. Hard memory thresholds are
copied to allocatableMemory.available when "pods" is enforced (the default). A file without
evictionHard gets the version's default map.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from simulator.policy.lint import lint_policy
from simulator.policy.load import PolicyInputs, build_policy
from simulator.policy.model import Policy

REAL = Path(__file__).resolve().parents[1] / "data" / "real"
CONFIGS = REAL / "kubelet-config"
CONFIGZ = REAL / "configz"


def thresholds(policy: Policy) -> set[tuple[str, str, bool]]:
    return {(t.signal.value, str(t.value), t.hard) for t in policy.thresholds}


def finding_ids(policy: Policy) -> set[str]:
    return {f.id for f in lint_policy(policy)}


def test_doks_kubelet_conf() -> None:
    """DOKS 1.23 file: its own six-key map; 51200Ki prints canonically as 50Mi."""
    policy = build_policy(
        PolicyInputs(
            config_file=str(CONFIGS / "doks-1.23-etc-kubernetes-kubelet-conf-learnk8s.yaml"),
            kubelet_version="1.27",
        )
    )
    assert thresholds(policy) == {
        ("memory.available", "50Mi", True),
        ("pid.available", "10%", True),
        ("imagefs.inodesFree", "6%", True),
        ("nodefs.available", "10%", True),
        ("nodefs.inodesFree", "5%", True),
        ("imagefs.available", "15%", True),
        ("allocatableMemory.available", "50Mi", True),
    }
    assert str(policy.kube_reserved["memory"]) == "369432Ki"
    assert "EVS007" not in finding_ids(policy)


def test_gke_kubelet_config() -> None:
    policy = build_policy(
        PolicyInputs(
            config_file=str(CONFIGS / "gke-2022-home-kubernetes-kubelet-config-learnk8s.yaml"),
            kubelet_version="1.27",
        )
    )
    assert thresholds(policy) == {
        ("memory.available", "100Mi", True),
        ("nodefs.available", "10%", True),
        ("nodefs.inodesFree", "5%", True),
        ("pid.available", "10%", True),
        ("allocatableMemory.available", "100Mi", True),
    }
    assert policy.kernel_memcg_notification is True
    assert "EVS001" in finding_ids(policy)  # imagefs.available is gone
    assert any("DynamicKubeletConfig" in w for w in policy.warnings)


def test_lke_kubelet_config() -> None:
    policy = build_policy(
        PolicyInputs(
            config_file=str(CONFIGS / "lke-2022-var-lib-kubelet-config-learnk8s.yaml"), kubelet_version="1.27"
        )
    )
    assert thresholds(policy) == {
        ("imagefs.available", "15%", True),
        ("memory.available", "100Mi", True),
        ("nodefs.available", "10%", True),
        ("nodefs.inodesFree", "5%", True),
        ("allocatableMemory.available", "100Mi", True),
    }
    assert "EVS001" not in finding_ids(policy)


def test_lke_on_130_loses_imagefs_inodes() -> None:
    """The same four-key file on 1.30 drops the new imagefs.inodesFree default (partial map)."""
    policy = build_policy(
        PolicyInputs(
            config_file=str(CONFIGS / "lke-2022-var-lib-kubelet-config-learnk8s.yaml"), kubelet_version="1.30"
        )
    )
    findings = [f for f in lint_policy(policy) if f.id == "EVS001"]
    assert len(findings) == 1
    assert "imagefs.inodesFree" in findings[0].message


def test_eks_al2_node_config() -> None:
    policy = build_policy(
        PolicyInputs(
            config_file=str(CONFIGS / "eks-al2-2022-node-kubelet-config-learnk8s.json"),
            kubelet_version="1.29",
        )
    )
    assert thresholds(policy) == {
        ("memory.available", "100Mi", True),
        ("nodefs.available", "10%", True),
        ("nodefs.inodesFree", "5%", True),
        ("allocatableMemory.available", "100Mi", True),
    }
    assert {k: str(v) for k, v in policy.kube_reserved.items()} == {
        "cpu": "70m",
        "ephemeral-storage": "1Gi",
        "memory": "574Mi",
    }
    assert "EVS001" in finding_ids(policy)


def test_eks_al2_template_gets_defaults() -> None:
    """The AMI template has no evictionHard, so the kubelet applies its default map."""
    policy = build_policy(
        PolicyInputs(
            config_file=str(CONFIGS / "eks-al2-ami-template-kubelet-config.json"), kubelet_version="1.29"
        )
    )
    assert thresholds(policy) == {
        ("memory.available", "100Mi", True),
        ("nodefs.available", "10%", True),
        ("nodefs.inodesFree", "5%", True),
        ("imagefs.available", "15%", True),
        ("allocatableMemory.available", "100Mi", True),
    }
    assert policy.provenance["evictionHard.memory.available"].startswith(
        "kubelet 1.29 default (evictionHard absent"
    )


def test_eks_al2023_with_dropin(tmp_path: Path) -> None:
    """nodeadm writes config.json plus config.json.d/40-nodeadm.conf; the drop-in changes no eviction field."""
    dropins = tmp_path / "config.json.d"
    dropins.mkdir()
    shutil.copy(
        CONFIGS / "eks-al2023-nodeadm-e2e-expected-dropin-40-nodeadm.json", dropins / "40-nodeadm.conf"
    )
    policy = build_policy(
        PolicyInputs(
            config_file=str(CONFIGS / "eks-al2023-nodeadm-e2e-expected-kubelet-config.json"),
            config_dir=str(dropins),
            kubelet_version="1.31",
        )
    )
    assert thresholds(policy) == {
        ("memory.available", "100Mi", True),
        ("nodefs.available", "10%", True),
        ("nodefs.inodesFree", "5%", True),
        ("allocatableMemory.available", "100Mi", True),
    }
    assert str(policy.kube_reserved["memory"]) == "893Mi"
    assert any(source.startswith("drop-in ") for source in policy.sources)


def test_aks_flags_file() -> None:
    policy = build_policy(
        PolicyInputs(
            flags_file=str(CONFIGS / "aks-ubuntu1804-containerd-2022-etc-default-kubelet-learnk8s.env"),
            kubelet_version="1.27",
        )
    )
    assert thresholds(policy) == {
        ("memory.available", "750Mi", True),
        ("nodefs.available", "10%", True),
        ("nodefs.inodesFree", "5%", True),
        ("allocatableMemory.available", "750Mi", True),
    }
    assert (policy.image_gc.high_threshold_percent, policy.image_gc.low_threshold_percent) == (85, 80)
    assert str(policy.kube_reserved["memory"]) == "1843Mi"
    assert policy.provenance["evictionHard.memory.available"].startswith("flag --eviction-hard")


def test_kind_configz() -> None:
    """kind disables disk eviction with 0% and sets no memory key, so nothing is left."""
    policy = build_policy(
        PolicyInputs(
            configz_file=str(CONFIGZ / "kind-cgroupfs-configz-k8s-node-collector.json"),
            kubelet_version="1.27",
        )
    )
    assert policy.thresholds == ()
    assert policy.image_gc.high_threshold_percent == 100
    assert {"EVS002", "EVS003", "EVS010"} <= finding_ids(policy)


def test_kubeadm_configz() -> None:
    policy = build_policy(
        PolicyInputs(
            configz_file=str(CONFIGZ / "kubeadm-k8s1.28-containerd-worker-inquisitivefrog.json"),
            kubelet_version="1.28",
        )
    )
    assert thresholds(policy) == {
        ("imagefs.available", "15%", True),
        ("memory.available", "100Mi", True),
        ("nodefs.available", "10%", True),
        ("nodefs.inodesFree", "5%", True),
        ("allocatableMemory.available", "100Mi", True),
    }
    assert policy.pressure_transition_period_s == 300
    assert policy.local_storage_capacity_isolation is True
    assert policy.provenance["evictionHard.memory.available"].endswith("inquisitivefrog.json:74")


@pytest.mark.parametrize(
    "path", sorted(CONFIGS.glob("*.y*ml")) + sorted(CONFIGS.glob("*config.json")), ids=lambda p: p.name
)
def test_every_config_fixture_loads(path: Path) -> None:
    policy = build_policy(PolicyInputs(config_file=str(path), kubelet_version="1.35"))
    assert policy.thresholds


@pytest.mark.parametrize(
    ("name", "version"),
    [
        ("minikube-k8s1.31-containerd1.7-newrelic-node-status.yaml", "1.31"),
        ("minikube-k8s1.35-containerd2.2-newrelic-node-status.yaml", "1.35"),
    ],
)
def test_version_from_node_object(name: str, version: str) -> None:
    """status.nodeInfo.kubeletVersion (v1.31.0, v1.35.0) picks the version's defaults."""
    policy = build_policy(PolicyInputs(node_file=str(REAL / "images" / name)))
    assert policy.kubelet_version == version
