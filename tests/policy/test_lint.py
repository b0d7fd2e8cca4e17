"""One test per lint finding, each built from a policy that shows the trap and one that does not.

The behaviours behind the findings come from the kubelet: ParseThresholdConfig and
loadConfigFile (partial maps, 0%/100%, soft grace 0), image_gc_manager.go (usage rounded
up, high 100), defaults.go (a zero transition period in a file), helpers.go
UpdateContainerFsThresholds (containerfs overwritten).
"""

from __future__ import annotations

from pathlib import Path

from simulator.policy.lint import FINDING_IDS, Finding, lint_policy
from simulator.policy.load import PolicyInputs, build_policy, default_policy
from simulator.policy.model import Policy
from simulator.signals import FsLayout

HEADER = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"


def from_yaml(tmp_path: Path, body: str, version: str = "1.35", flags: str | None = None) -> Policy:
    path = tmp_path / "kubelet.yaml"
    path.write_text(HEADER + body)
    return build_policy(PolicyInputs(config_file=str(path), kubelet_version=version, flags_text=flags))


def from_flags(flags: str, version: str = "1.35") -> Policy:
    return build_policy(PolicyInputs(flags_text=flags, kubelet_version=version))


def findings(policy: Policy, finding_id: str, layout: FsLayout | None = None) -> list[Finding]:
    return [f for f in lint_policy(policy, layout) if f.id == finding_id]


def test_finding_ids_are_stable() -> None:
    assert FINDING_IDS["EVS001"] == "partial-eviction-hard"
    assert FINDING_IDS["EVS005"] == "image-gc-after-eviction"
    assert FINDING_IDS["EVS016"] == "disabled-threshold"
    assert len(FINDING_IDS) == 16


def test_every_finding_has_fix_and_severity(tmp_path: Path) -> None:
    policy = from_yaml(tmp_path, "evictionHard:\n  memory.available: 1Gi\nevictionMaxPodGracePeriod: -1\n")
    for finding in lint_policy(policy):
        assert finding.severity in ("warning", "info")
        assert finding.fix
        assert "\n" not in finding.message


def test_partial_eviction_hard(tmp_path: Path) -> None:
    policy = from_yaml(tmp_path, "evictionHard:\n  memory.available: 500Mi\n")
    (finding,) = findings(policy, "EVS001")
    assert finding.severity == "warning"
    assert "nodefs.available, nodefs.inodesFree, imagefs.available, imagefs.inodesFree" in finding.message
    assert "mergeDefaultEvictionSettings: true" in finding.fix
    merged = from_yaml(
        tmp_path, "mergeDefaultEvictionSettings: true\nevictionHard:\n  memory.available: 500Mi\n"
    )
    assert findings(merged, "EVS001") == []
    assert findings(default_policy(), "EVS001") == []
    disabled = from_flags(
        "--eviction-hard=memory.available<1Gi,nodefs.available<0%,nodefs.inodesFree<0%,"
        "imagefs.available<0%,imagefs.inodesFree<0%"
    )
    assert findings(disabled, "EVS001") == []


def test_no_memory_threshold() -> None:
    """BL-20: k3s's disk-only map leaves no memory.available threshold."""
    policy = from_flags("--eviction-hard=imagefs.available<5%,nodefs.available<5%")
    assert len(findings(policy, "EVS002")) == 1
    assert findings(default_policy(), "EVS002") == []


def test_no_disk_threshold() -> None:
    """BL-02: a memory-only map means DiskPressure is never reported."""
    policy = from_flags("--eviction-hard=memory.available<5%")
    assert len(findings(policy, "EVS003")) == 1
    assert findings(default_policy(), "EVS003") == []


def test_shared_filesystem_floor() -> None:
    """With images on the root filesystem, imagefs 15% binds before nodefs 10%."""
    policy = default_policy()
    (single,) = findings(policy, "EVS004", FsLayout.SINGLE)
    assert single.severity == "warning"
    assert "15% free, not 10%" in single.message
    (unknown,) = findings(policy, "EVS004")
    assert unknown.severity == "info"
    assert findings(policy, "EVS004", FsLayout.DEDICATED_IMAGEFS) == []
    assert (
        findings(
            from_flags("--eviction-hard=imagefs.available<10%,nodefs.available<10%"),
            "EVS004",
            FsLayout.SINGLE,
        )
        == []
    )


def test_image_gc_after_eviction(tmp_path: Path) -> None:
    """Image GC starts below (101 - high)% free; eviction below the imagefs threshold."""
    late = from_yaml(tmp_path, "imageGCHighThresholdPercent: 86\n")
    (finding,) = findings(late, "EVS005")
    assert "86" in finding.message
    assert "85 or less" in finding.fix
    assert findings(default_policy(), "EVS005") == []  # 85 with 15%: GC starts below 16% free
    aggressive = from_flags("--eviction-hard=imagefs.available<20% --image-gc-high-threshold=85")
    assert len(findings(aggressive, "EVS005")) == 1


def test_dedicated_imagefs_without_threshold() -> None:
    policy = from_flags("--eviction-hard=memory.available<100Mi,nodefs.available<10%")
    assert len(findings(policy, "EVS006", FsLayout.DEDICATED_IMAGEFS)) == 1
    assert len(findings(policy, "EVS006", FsLayout.SPLIT)) == 1
    assert findings(policy, "EVS006", FsLayout.SINGLE) == []
    assert findings(default_policy(), "EVS006", FsLayout.DEDICATED_IMAGEFS) == []


def test_no_pid_threshold() -> None:
    """BL-13: Linux has no default pid.available threshold."""
    assert len(findings(default_policy(), "EVS007")) == 1
    assert findings(from_flags("--eviction-hard=pid.available<10%"), "EVS007") == []


def test_zero_transition_period_flag_and_file(tmp_path: Path) -> None:
    flagged = from_flags("--eviction-pressure-transition-period=0s")
    (warning,) = findings(flagged, "EVS008")
    assert warning.severity == "warning"
    in_file = from_yaml(tmp_path, "evictionPressureTransitionPeriod: 0s\n")
    (info,) = findings(in_file, "EVS008")
    assert info.severity == "info"
    assert "5m0s" in info.message
    assert findings(default_policy(), "EVS008") == []


def test_negative_max_pod_grace_period(tmp_path: Path) -> None:
    policy = from_yaml(tmp_path, "evictionMaxPodGracePeriod: -1\n")
    (finding,) = findings(policy, "EVS009")
    assert "-1" in finding.message
    assert findings(default_policy(), "EVS009") == []


def test_image_gc_disabled(tmp_path: Path) -> None:
    policy = from_yaml(tmp_path, "imageGCHighThresholdPercent: 100\n")
    assert len(findings(policy, "EVS010")) == 1
    assert findings(default_policy(), "EVS010") == []


def test_soft_threshold_zero_grace() -> None:
    policy = from_flags(
        "--eviction-soft=memory.available<1Gi --eviction-soft-grace-period=memory.available=0s"
    )
    assert len(findings(policy, "EVS011")) == 1
    graced = from_flags(
        "--eviction-soft=memory.available<1Gi --eviction-soft-grace-period=memory.available=30s"
    )
    assert findings(graced, "EVS011") == []


def test_percentage_spelling_not_disabling() -> None:
    policy = from_flags(
        "--eviction-hard=memory.available<100Mi,nodefs.available<0.0%,imagefs.available<100.0%"
    )
    messages = [f.message for f in findings(policy, "EVS012")]
    assert len(messages) == 2
    assert any("never met" in m for m in messages)
    assert any("always met" in m for m in messages)
    assert findings(from_flags("--eviction-hard=memory.available<100Mi,nodefs.available<0%"), "EVS012") == []


def test_containerfs_threshold_ignored() -> None:
    policy = from_flags("--eviction-hard=memory.available<100Mi,containerfs.available<10%")
    assert len(findings(policy, "EVS013")) == 1
    assert findings(default_policy(), "EVS013") == []


def test_unused_minimum_reclaim_and_grace() -> None:
    policy = from_flags(
        "--eviction-hard=memory.available<100Mi --eviction-minimum-reclaim=nodefs.available=1Gi "
        "--eviction-soft-grace-period=imagefs.available=1m"
    )
    assert len(findings(policy, "EVS014")) == 1
    assert len(findings(policy, "EVS015")) == 1
    used = from_flags(
        "--eviction-hard=memory.available<100Mi --eviction-minimum-reclaim=memory.available=1Gi"
    )
    assert findings(used, "EVS014") == []


def test_warnings_sorted_before_info() -> None:
    severities = [f.severity for f in lint_policy(from_flags("--eviction-hard=memory.available<1Gi"))]
    assert severities == sorted(severities, key=lambda s: s != "warning")


def test_disabled_threshold_kind_configz() -> None:
    """kind's /configz sets imagefs.available, nodefs.available and nodefs.inodesFree to "0%";
    parseThresholdStatement (pkg/kubelet/eviction/helpers.go) skips "0%" and "100%", so each
    entry gets one info finding and no threshold."""
    configz = Path(__file__).resolve().parents[1] / "data" / "real" / "configz" / "kind-cgroupfs-configz-k8s-node-collector.json"
    policy = build_policy(PolicyInputs(configz_file=str(configz), kubelet_version="1.35"))

    messages = sorted(f.message for f in findings(policy, "EVS016"))

    assert messages == [
        "evictionHard imagefs.available 0%: the kubelet ignores 0% and 100%, so this signal has no threshold",
        "evictionHard nodefs.available 0%: the kubelet ignores 0% and 100%, so this signal has no threshold",
        "evictionHard nodefs.inodesFree 0%: the kubelet ignores 0% and 100%, so this signal has no threshold",
    ]
    assert all(f.severity == "info" for f in findings(policy, "EVS016"))
    assert findings(default_policy(), "EVS016") == []


def test_disabled_100_percent_soft() -> None:
    policy = from_flags("--eviction-soft=memory.available<100%", version="1.35")

    (finding,) = findings(policy, "EVS016")

    assert finding.message.startswith("evictionSoft memory.available 100%:")


def test_missing_findings_name_disabled_signals() -> None:
    """EVS002 and EVS003 call a 0% signal disabled instead of suggesting a threshold for it."""
    policy = from_flags(
        "--eviction-hard=memory.available<0%,nodefs.available<0%,nodefs.inodesFree<0%,"
        "imagefs.available<0%,imagefs.inodesFree<0%"
    )

    (memory,) = findings(policy, "EVS002")
    (disk,) = findings(policy, "EVS003")

    assert "disabled (evictionHard memory.available 0%)" in memory.message
    assert "add evictionHard" not in memory.fix
    assert "evictionHard nodefs.available 0%" in disk.message
    assert "add evictionHard" not in disk.fix
    assert memory.severity == "info"
    assert disk.severity == "info"


def test_partial_eviction_hard_fix_by_source(tmp_path: Path) -> None:
    """mergeDefaultEvictionSettings exists from 1.33 and has no flag, so the fix depends on both."""
    flags = findings(from_flags("--eviction-hard=memory.available<1Gi", version="1.31"), "EVS001")[0].fix
    old_file = findings(from_yaml(tmp_path, "evictionHard:\n  memory.available: 1Gi\n", version="1.31"), "EVS001")[0].fix
    new_file = findings(from_yaml(tmp_path, "evictionHard:\n  memory.available: 1Gi\n", version="1.35"), "EVS001")[0].fix

    assert flags.startswith("list every signal in --eviction-hard, e.g. --eviction-hard=memory.available<1Gi,nodefs.available<10%,")
    assert "mergeDefaultEvictionSettings" not in flags
    assert old_file.startswith("add the missing signals to evictionHard (nodefs.available: '10%'")
    assert "has no mergeDefaultEvictionSettings (added in 1.33)" in old_file
    assert "upgrade" not in old_file
    assert new_file.startswith("set mergeDefaultEvictionSettings: true")
