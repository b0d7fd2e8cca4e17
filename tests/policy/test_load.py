"""Building the effective policy from config files, drop-ins, flags and /configz.

Expected behaviour restates the kubelet's startup (kubernetes cmd/kubelet/app/server.go at
the 1.35 master: loadConfigFile, mergeKubeletConfigurations, kubeletConfigFlagPrecedence),
v1beta1 defaulting (pkg/kubelet/apis/config/v1beta1/defaults.go), config validation
(pkg/kubelet/apis/config/validation/validation.go) and the eviction defaults
(pkg/kubelet/eviction/defaults_linux.go) per release.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulator.errors import InputError, UnsupportedVersionError
from simulator.policy.load import PolicyInputs, build_policy, default_policy, policy_from_kubelet_config
from simulator.policy.model import Policy
from simulator.signals import Signal

HEADER = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"


def write(path: Path, body: str, header: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text((HEADER if header else "") + body)
    return path


def hard_map(policy: Policy) -> dict[str, str]:
    """Return signal -> threshold text for the hard thresholds, without the allocatable copies."""
    return {
        t.signal.value: str(t.value)
        for t in policy.thresholds
        if t.hard and t.signal != Signal.ALLOCATABLE_MEMORY_AVAILABLE
    }


DEFAULT_4 = {
    "memory.available": "100Mi",
    "nodefs.available": "10%",
    "nodefs.inodesFree": "5%",
    "imagefs.available": "15%",
}
DEFAULT_5 = {**DEFAULT_4, "imagefs.inodesFree": "5%"}


@pytest.mark.parametrize(
    ("version", "expected"),
    [("1.27", DEFAULT_4), ("1.29", DEFAULT_4), ("1.30", DEFAULT_5), ("1.35", DEFAULT_5)],
)
def test_default_eviction_hard_by_version(version: str, expected: dict[str, str]) -> None:
    """defaults_linux.go: imagefs.inodesFree<5% joined the defaults in 1.30."""
    policy = default_policy(version)
    assert hard_map(policy) == expected
    assert policy.kubelet_version == version


def test_default_policy_other_fields() -> None:
    policy = default_policy()
    assert policy.kubelet_version == "1.35"
    assert policy.pressure_transition_period_s == 300
    assert (policy.image_gc.high_threshold_percent, policy.image_gc.low_threshold_percent) == (85, 80)
    assert policy.image_gc.minimum_gc_age_s == 120
    assert policy.enforce_node_allocatable == ("pods",)
    assert [t.signal for t in policy.thresholds].count(Signal.ALLOCATABLE_MEMORY_AVAILABLE) == 1
    assert policy.container_gc.max_per_pod_container == 1
    assert policy.container_gc.max_containers == -1
    assert policy.root_dir == "/var/lib/kubelet"


@pytest.mark.parametrize(
    ("version", "separate_disk_gc", "max_age"),
    [
        ("1.28", None, None),
        ("1.29", False, False),
        ("1.30", False, True),
        ("1.31", True, True),
        ("1.35", True, True),
    ],
)
def test_feature_gate_defaults(version: str, separate_disk_gc: bool | None, max_age: bool | None) -> None:
    """kube_features.go: KubeletSeparateDiskGC alpha 1.29, beta 1.31; ImageMaximumGCAge alpha 1.29, beta 1.30."""
    gates = default_policy(version).feature_gates
    assert gates.get("KubeletSeparateDiskGC") == separate_disk_gc
    assert gates.get("ImageMaximumGCAge") == max_age


@pytest.mark.parametrize("version", ["1.26", "1.36", "2.0", "banana"])
def test_unsupported_version(version: str) -> None:
    with pytest.raises(UnsupportedVersionError, match="1.27 through 1.35|invalid kubelet version"):
        default_policy(version)


def test_version_with_patch_and_suffix() -> None:
    assert default_policy("v1.31.4-eks-1234").kubelet_version == "1.31"


def test_partial_eviction_hard_replaces_defaults(tmp_path: Path) -> None:
    """BL-01: a partial evictionHard map leaves the unlisted signals without thresholds."""
    config = write(tmp_path / "k.yaml", "evictionHard:\n  memory.available: 500Mi\n")
    policy = build_policy(PolicyInputs(config_file=str(config)))
    assert hard_map(policy) == {"memory.available": "500Mi"}
    assert policy.provenance["evictionHard.memory.available"] == f"file {config}:4"


def test_empty_eviction_hard_means_none(tmp_path: Path) -> None:
    config = write(tmp_path / "k.yaml", "evictionHard: {}\n")
    assert build_policy(PolicyInputs(config_file=str(config))).thresholds == ()


def test_merge_default_eviction_settings(tmp_path: Path) -> None:
    """1.33+: mergeDefaultEvictionSettings adds the missing default keys; user keys win."""
    config = write(
        tmp_path / "k.yaml",
        "mergeDefaultEvictionSettings: true\nevictionHard:\n  memory.available: 500Mi\n  nodefs.available: 0%\n",
    )
    policy = build_policy(PolicyInputs(config_file=str(config), kubelet_version="1.33"))
    assert hard_map(policy) == {
        "memory.available": "500Mi",
        "nodefs.inodesFree": "5%",
        "imagefs.available": "15%",
        "imagefs.inodesFree": "5%",
    }
    assert "mergeDefaultEvictionSettings" in policy.provenance["evictionHard.imagefs.available"]


def test_merge_field_unknown_before_133(tmp_path: Path) -> None:
    config = write(
        tmp_path / "k.yaml", "mergeDefaultEvictionSettings: true\nevictionHard:\n  memory.available: 500Mi\n"
    )
    policy = build_policy(PolicyInputs(config_file=str(config), kubelet_version="1.32"))
    assert hard_map(policy) == {"memory.available": "500Mi"}
    assert any("mergeDefaultEvictionSettings needs kubelet 1.33" in w for w in policy.warnings)


def test_unknown_field_warns(tmp_path: Path) -> None:
    config = write(tmp_path / "k.yaml", "evictionHardd:\n  memory.available: 1Gi\nstaticPodPath: /etc/m\n")
    policy = build_policy(PolicyInputs(config_file=str(config)))
    assert hard_map(policy) == DEFAULT_5
    assert len(policy.warnings) == 1
    assert "unknown field 'evictionHardd'" in policy.warnings[0]
    assert f"{config}:3" in policy.warnings[0]


def test_zero_transition_period_in_file_is_defaulted(tmp_path: Path) -> None:
    """defaults.go: evictionPressureTransitionPeriod 0 in a file becomes 5m."""
    config = write(tmp_path / "k.yaml", "evictionPressureTransitionPeriod: 0s\n")
    policy = build_policy(PolicyInputs(config_file=str(config)))
    assert policy.pressure_transition_period_s == 300
    assert policy.zero_values_defaulted == ("evictionPressureTransitionPeriod",)


def test_zero_transition_period_from_flag_stays(tmp_path: Path) -> None:
    """Flags are applied after defaulting, so a flag value 0 reaches the kubelet."""
    config = write(tmp_path / "k.yaml", "evictionPressureTransitionPeriod: 1m\n")
    policy = build_policy(
        PolicyInputs(config_file=str(config), flags_text="--eviction-pressure-transition-period=0s")
    )
    assert policy.pressure_transition_period_s == 0
    assert policy.provenance["evictionPressureTransitionPeriod"].startswith(
        "flag --eviction-pressure-transition-period"
    )


def test_flag_replaces_file_map(tmp_path: Path) -> None:
    """kubeletConfigFlagPrecedence: --eviction-hard replaces the file's whole evictionHard map."""
    config = write(tmp_path / "k.yaml", "evictionHard:\n  memory.available: 500Mi\n  nodefs.available: 20%\n")
    policy = build_policy(
        PolicyInputs(
            config_file=str(config),
            flags_text="--eviction-hard=imagefs.available<5% --image-gc-high-threshold=90",
        )
    )
    assert hard_map(policy) == {"imagefs.available": "5%"}
    assert policy.image_gc.high_threshold_percent == 90
    assert policy.provenance["imageGCHighThresholdPercent"] == "flag --image-gc-high-threshold (--flags)"


def test_repeated_map_flag_accumulates() -> None:
    policy = build_policy(
        PolicyInputs(flags_text="--eviction-hard=memory.available<1Gi --eviction-hard nodefs.available<5%")
    )
    assert hard_map(policy) == {"memory.available": "1Gi", "nodefs.available": "5%"}


def test_feature_gates_merge_file_and_flags(tmp_path: Path) -> None:
    """Gates set in the file and not on the command line are kept."""
    config = write(
        tmp_path / "k.yaml", "featureGates:\n  KubeletSeparateDiskGC: false\n  ImageMaximumGCAge: true\n"
    )
    policy = build_policy(
        PolicyInputs(
            config_file=str(config),
            kubelet_version="1.31",
            flags_text="--feature-gates=ImageMaximumGCAge=false",
        )
    )
    assert policy.feature_gates == {"KubeletSeparateDiskGC": False, "ImageMaximumGCAge": False}


def test_locked_gate_cannot_be_disabled() -> None:
    with pytest.raises(InputError, match="locked to true in kubelet 1.35"):
        build_policy(PolicyInputs(flags_text="--feature-gates=ImageMaximumGCAge=false"))


def test_gate_unknown_to_version_warns() -> None:
    policy = build_policy(
        PolicyInputs(kubelet_version="1.28", flags_text="--feature-gates=KubeletSeparateDiskGC=true")
    )
    assert "KubeletSeparateDiskGC" not in policy.feature_gates
    assert any("does not exist in kubelet 1.28" in w for w in policy.warnings)


def test_unmodelled_gates_warn() -> None:
    policy = build_policy(PolicyInputs(flags_text="--feature-gates=CSIMigration=true"))
    assert any("CSIMigration" in w for w in policy.warnings)


def test_image_maximum_gc_age_needs_gate(tmp_path: Path) -> None:
    """validation.go: imageMaximumGCAge needs the ImageMaximumGCAge gate (off by default in 1.29)."""
    config = write(tmp_path / "k.yaml", "imageMaximumGCAge: 168h\n")
    with pytest.raises(InputError, match="ImageMaximumGCAge feature gate is required"):
        build_policy(PolicyInputs(config_file=str(config), kubelet_version="1.29"))
    policy = build_policy(PolicyInputs(config_file=str(config), kubelet_version="1.30"))
    assert policy.image_gc.maximum_gc_age_s == 168 * 3600


def test_image_maximum_gc_age_ignored_before_129(tmp_path: Path) -> None:
    config = write(tmp_path / "k.yaml", "imageMaximumGCAge: 168h\n")
    policy = build_policy(PolicyInputs(config_file=str(config), kubelet_version="1.28"))
    assert policy.image_gc.maximum_gc_age_s == 0
    assert any("imageMaximumGCAge needs kubelet 1.29" in w for w in policy.warnings)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "imageGCHighThresholdPercent: 80\nimageGCLowThresholdPercent: 80\n",
            "imageGCLowThresholdPercent (--image-gc-low-threshold) 80 must be less than imageGCHighThresholdPercent",
        ),
        (
            "imageGCHighThresholdPercent: 101\n",
            "imageGCHighThresholdPercent (--image-gc-high-threshold) 101 must be between 0 and 100",
        ),
        (
            "imageGCLowThresholdPercent: -1\n",
            "imageGCLowThresholdPercent (--image-gc-low-threshold) -1 must be between 0 and 100",
        ),
        ("imageMaximumGCAge: 1m\n", "imageMaximumGCAge 1m must be greater than imageMinimumGCAge 2m0s"),
        ("imageMaximumGCAge: -1m\n", "imageMaximumGCAge -1m must not be negative"),
        ("imageMinimumGCAge: -1m\n", "imageMinimumGCAge -1m must not be negative"),
        ("enforceNodeAllocatable: [pods, none]\n", "may not contain additional enforcements"),
        ("enforceNodeAllocatable: [podz]\n", "option 'podz' specified for enforceNodeAllocatable"),
    ],
    ids=[
        "low-equals-high",
        "high-over-100",
        "low-negative",
        "max-age-below-min",
        "max-age-negative",
        "min-age-negative",
        "none-with-others",
        "unknown-enforcement",
    ],
)
def test_config_validation_errors(tmp_path: Path, body: str, message: str) -> None:
    config = write(tmp_path / "k.yaml", body)
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")) as error:
        build_policy(PolicyInputs(config_file=str(config)))
    assert str(config) in str(error.value)


BAD_FILES = [
    ("malformed-yaml", "evictionHard: [\n", "invalid YAML or JSON at line"),
    ("wrong-kind", "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: Pod\n", "kind: invalid value 'Pod'"),
    (
        "wrong-api-version",
        "apiVersion: kubelet.config.k8s.io/v1\nkind: KubeletConfiguration\n",
        "apiVersion: invalid value 'kubelet.config.k8s.io/v1'",
    ),
    ("missing-type-meta", "evictionHard: {}\n", "apiVersion: invalid value None"),
    (
        "wrong-type-map",
        HEADER + "evictionHard: 100Mi\n",
        'evictionHard: invalid value "100Mi": expected a map',
    ),
    (
        "wrong-type-value",
        HEADER + "evictionHard:\n  memory.available: 100\n",
        "evictionHard.memory.available: invalid value 100",
    ),
    (
        "wrong-type-int",
        HEADER + "imageGCHighThresholdPercent: '85'\n",
        'imageGCHighThresholdPercent: invalid value "85"',
    ),
    (
        "wrong-type-bool",
        HEADER + "localStorageCapacityIsolation: yes please\n",
        "localStorageCapacityIsolation: invalid value",
    ),
    (
        "bad-quantity",
        HEADER + "evictionHard:\n  memory.available: 1x\n",
        "evictionHard.memory.available: invalid value '1x'",
    ),
    (
        "bad-duration",
        HEADER + "evictionPressureTransitionPeriod: 5 minutes\n",
        "evictionPressureTransitionPeriod: invalid value '5 minutes'",
    ),
    (
        "bad-signal",
        HEADER + "evictionHard:\n  disk.available: 10%\n",
        "unsupported eviction signal disk.available",
    ),
    ("percent-over-100", HEADER + "evictionSoft:\n  nodefs.available: 101%\n", "must be <= 100%: 101%"),
    ("not-a-mapping", "- a\n- b\n", "expected a KubeletConfiguration mapping, got list"),
    (
        "int32-overflow",
        HEADER + "evictionMaxPodGracePeriod: 3000000000\n",
        "does not fit in a 32-bit integer",
    ),
]


@pytest.mark.parametrize(("body", "message"), [c[1:] for c in BAD_FILES], ids=[c[0] for c in BAD_FILES])
def test_bad_config_file(tmp_path: Path, body: str, message: str) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(body)
    with pytest.raises(InputError) as error:
        build_policy(PolicyInputs(config_file=str(config)))
    text = str(error.value)
    assert message in text
    assert str(config) in text
    assert "\n" not in text


def test_type_error_names_line(tmp_path: Path) -> None:
    config = write(tmp_path / "k.yaml", "evictionMaxPodGracePeriod: 30\nimageGCHighThresholdPercent: high\n")
    with pytest.raises(InputError) as error:
        build_policy(PolicyInputs(config_file=str(config)))
    assert str(error.value).startswith(f'{config}:4: imageGCHighThresholdPercent: invalid value "high"')


def test_containerfs_signal_needs_129(tmp_path: Path) -> None:
    """containerfs signals arrived in 1.29, so a 1.28 kubelet rejects them as unsupported."""
    flags = "--eviction-hard=containerfs.available<10%"
    with pytest.raises(InputError, match="kubelet 1.28 has no containerfs signals"):
        build_policy(PolicyInputs(flags_text=flags, kubelet_version="1.28"))
    policy = build_policy(PolicyInputs(flags_text=flags, kubelet_version="1.29"))
    assert [t.signal for t in policy.thresholds] == [Signal.CONTAINERFS_AVAILABLE]


def test_json_config_file(tmp_path: Path) -> None:
    config = tmp_path / "k.json"
    config.write_text(
        json.dumps(
            {
                "apiVersion": "kubelet.config.k8s.io/v1beta1",
                "kind": "KubeletConfiguration",
                "evictionHard": {"memory.available": "1Gi"},
                "evictionSoft": {"memory.available": "2Gi"},
                "evictionSoftGracePeriod": {"memory.available": "1m30s"},
                "evictionMinimumReclaim": {"memory.available": "5%"},
            },
            indent=2,
        )
    )
    policy = build_policy(PolicyInputs(config_file=str(config)))
    soft = next(t for t in policy.thresholds if not t.hard)
    assert (soft.signal, str(soft.value), soft.grace_period_s, str(soft.min_reclaim)) == (
        Signal.MEMORY_AVAILABLE,
        "2Gi",
        90.0,
        "5%",
    )
    assert policy.provenance["evictionSoft.memory.available"] == f"file {config}:8"


# drop-ins


def test_dropins_merge_over_defaulted_base(tmp_path: Path) -> None:
    """mergeKubeletConfigurations: drop-ins patch the base JSON, which already contains the default map."""
    base = write(tmp_path / "kubelet.yaml", "imageGCHighThresholdPercent: 95\n")
    write(
        tmp_path / "conf.d" / "10-eviction.conf",
        "evictionHard:\n  memory.available: 200Mi\n  nodefs.available: null\n",
    )
    write(tmp_path / "conf.d" / "20-gc.conf", "imageGCHighThresholdPercent: 90\n")
    write(tmp_path / "conf.d" / "notes.txt", "ignored", header=False)
    policy = build_policy(PolicyInputs(config_file=str(base), config_dir=str(tmp_path / "conf.d")))
    expected = {**DEFAULT_5, "memory.available": "200Mi"}
    del expected["nodefs.available"]
    assert hard_map(policy) == expected
    assert policy.image_gc.high_threshold_percent == 90
    assert (
        policy.provenance["imageGCHighThresholdPercent"] == f"drop-in {tmp_path / 'conf.d' / '20-gc.conf'}:3"
    )
    assert policy.provenance["evictionHard.memory.available"].startswith("drop-in ")
    assert "evictionHard.nodefs.available" not in policy.provenance
    assert any("notes.txt: skipped" in w for w in policy.warnings)


def test_dropins_lexical_order_and_subdirectories(tmp_path: Path) -> None:
    """filepath.WalkDir visits entries in lexical order, descending into directories."""
    directory = tmp_path / "conf.d"
    write(directory / "10-a.conf", "evictionMaxPodGracePeriod: 10\n")
    write(directory / "20-b" / "01.conf", "evictionMaxPodGracePeriod: 20\n")
    write(directory / "30-c.conf", "evictionMaxPodGracePeriod: 30\nevictionPressureTransitionPeriod: 0s\n")
    policy = build_policy(PolicyInputs(config_dir=str(directory)))
    assert policy.max_pod_grace_period_s == 30
    assert policy.pressure_transition_period_s == 300  # defaulting runs again after merging


def test_dropin_merge_flag_does_not_merge(tmp_path: Path) -> None:
    """Only loadConfigFile merges defaults; a drop-in setting the flag leaves a partial map partial."""
    base = write(tmp_path / "kubelet.yaml", "evictionHard:\n  memory.available: 500Mi\n")
    write(tmp_path / "conf.d" / "10.conf", "mergeDefaultEvictionSettings: true\n")
    policy = build_policy(PolicyInputs(config_file=str(base), config_dir=str(tmp_path / "conf.d")))
    assert hard_map(policy) == {"memory.available": "500Mi"}
    assert policy.merge_default_eviction_settings is True


def test_dropin_without_type_meta_fails(tmp_path: Path) -> None:
    write(tmp_path / "conf.d" / "10.conf", "evictionMaxPodGracePeriod: 10\n", header=False)
    with pytest.raises(InputError, match="drop-in has no apiVersion/kind"):
        build_policy(PolicyInputs(config_dir=str(tmp_path / "conf.d")))


def test_config_dir_by_version(tmp_path: Path) -> None:
    """--config-dir exists from 1.28; 1.28-1.29 also need KUBELET_CONFIG_DROPIN_DIR_ALPHA."""
    write(tmp_path / "conf.d" / "10.conf", "evictionMaxPodGracePeriod: 10\n")
    directory = str(tmp_path / "conf.d")
    with pytest.raises(InputError, match="kubelet 1.27 has no drop-in directory"):
        build_policy(PolicyInputs(config_dir=directory, kubelet_version="1.27"))
    policy = build_policy(PolicyInputs(config_dir=directory, kubelet_version="1.29"))
    assert policy.max_pod_grace_period_s == 10
    assert any("KUBELET_CONFIG_DROPIN_DIR_ALPHA" in w for w in policy.warnings)
    newer = build_policy(PolicyInputs(config_dir=directory, kubelet_version="1.30"))
    assert not any("KUBELET_CONFIG_DROPIN_DIR_ALPHA" in w for w in newer.warnings)


def test_flags_override_dropins(tmp_path: Path) -> None:
    write(tmp_path / "conf.d" / "10.conf", "evictionMaxPodGracePeriod: 10\n")
    policy = build_policy(
        PolicyInputs(config_dir=str(tmp_path / "conf.d"), flags_text="--eviction-max-pod-grace-period=60")
    )
    assert policy.max_pod_grace_period_s == 60


# flags


def test_flags_only_container_gc_and_root_dir() -> None:
    policy = build_policy(
        PolicyInputs(
            flags_text=(
                "--root-dir=/data/kubelet --minimum-container-ttl-duration=1m "
                "--maximum-dead-containers-per-container=2 --maximum-dead-containers=100"
            )
        )
    )
    assert policy.root_dir == "/data/kubelet"
    assert (
        policy.container_gc.minimum_age_s,
        policy.container_gc.max_per_pod_container,
        policy.container_gc.max_containers,
    ) == (60, 2, 100)
    assert policy.provenance["rootDir"] == "flag --root-dir (--flags)"


def test_flags_only_kubelet_has_no_default_hard() -> None:
    """Since 1.25 only loadConfigFile applies DefaultEvictionHard; v1beta1 defaulting does not."""
    policy = build_policy(PolicyInputs(flags_text="--image-gc-high-threshold=90"))
    assert policy.thresholds == ()
    assert any("no config file" in w for w in policy.warnings)
    assert policy.pressure_transition_period_s == 300  # v1beta1 defaulting still applies


def test_config_dir_only_has_no_default_hard(tmp_path: Path) -> None:
    """With --config-dir and no --config, the drop-ins patch the flag-based configuration."""
    write(tmp_path / "conf.d" / "10.conf", "evictionHard:\n  memory.available: 1Gi\n")
    policy = build_policy(PolicyInputs(config_dir=str(tmp_path / "conf.d")))
    assert hard_map(policy) == {"memory.available": "1Gi"}


def test_no_input_is_config_file_defaults() -> None:
    policy = build_policy(PolicyInputs())
    assert hard_map(policy) == DEFAULT_5
    assert policy.warnings == ()


def test_flags_env_file(tmp_path: Path) -> None:
    env = tmp_path / "kubelet"
    env.write_text(
        '# kubelet flags\nKUBELET_EXTRA_ARGS="--eviction-hard=memory.available<1Gi --node-labels=a=b"\n'
        "KUBELET_OTHER=--image-gc-high-threshold=90\n"
    )
    policy = build_policy(PolicyInputs(flags_file=str(env)))
    assert hard_map(policy) == {"memory.available": "1Gi"}
    assert policy.image_gc.high_threshold_percent == 90
    assert any("--node-labels" in w for w in policy.warnings)


def test_flags_systemd_dropin(tmp_path: Path) -> None:
    """A systemd unit drop-in: Environment="NAME=flags" lines and the ExecStart line."""
    unit = tmp_path / "20-eviction.conf"
    unit.write_text(
        "[Service]\n"
        'Environment="KUBELET_EVICTION_ARGS=--eviction-hard=memory.available<300Mi --eviction-max-pod-grace-period=30"\n'
        "ExecStart=\n"
        "ExecStart=/usr/bin/kubelet $KUBELET_EVICTION_ARGS --image-gc-high-threshold=90\n"
    )
    policy = build_policy(PolicyInputs(flags_file=str(unit)))
    assert hard_map(policy) == {"memory.available": "300Mi"}
    assert policy.max_pod_grace_period_s == 30
    assert policy.image_gc.high_threshold_percent == 90


def test_flags_proc_cmdline(tmp_path: Path) -> None:
    """/proc/PID/cmdline separates arguments with NUL bytes; the program name comes first."""
    cmdline = tmp_path / "cmdline"
    cmdline.write_bytes(
        b"/usr/bin/kubelet\0--eviction-soft=memory.available<2Gi\0--eviction-soft-grace-period\0"
        b"memory.available=1m\0--kernel-memcg-notification\0"
    )
    policy = build_policy(PolicyInputs(flags_file=str(cmdline)))
    soft = [t for t in policy.thresholds if not t.hard]
    assert [(t.signal, t.grace_period_s) for t in soft] == [(Signal.MEMORY_AVAILABLE, 60.0)]
    assert policy.kernel_memcg_notification is True


def test_flags_name_config_file(tmp_path: Path) -> None:
    """A command line naming --config loads that file when it is readable."""
    config = write(tmp_path / "k.yaml", "evictionHard:\n  memory.available: 321Mi\n")
    policy = build_policy(PolicyInputs(flags_text=f"--config={config} --max-pods=10"))
    assert hard_map(policy) == {"memory.available": "321Mi"}


def test_flags_name_missing_config_warns() -> None:
    policy = build_policy(PolicyInputs(flags_text="--config=/nonexistent/kubelet.yaml"))
    assert any("/nonexistent/kubelet.yaml, which is not readable here" in w for w in policy.warnings)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            "--image-gc-high-threshold=high",
            "--image-gc-high-threshold: invalid value 'high': expected an integer",
        ),
        ("--eviction-hard=memory.available=1Gi", "expected KEY<VALUE pairs"),
        ("--feature-gates=Foo", "expected NAME=true or NAME=false"),
        ("--kernel-memcg-notification=maybe", "expected true or false"),
        (
            "--eviction-soft-grace-period=memory.available=soon --eviction-soft=memory.available<1Gi",
            'time: invalid duration "soon"',
        ),
        ("--minimum-container-ttl-duration=-1m", "invalid minimum garbage collection age"),
    ],
)
def test_bad_flags(flags: str, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(")):
        build_policy(PolicyInputs(flags_text=flags))


# /configz


def test_configz_is_used_as_is(tmp_path: Path) -> None:
    configz = tmp_path / "configz.json"
    configz.write_text(
        json.dumps(
            {
                "kubeletconfig": {
                    "evictionHard": {"memory.available": "300Mi"},
                    "evictionPressureTransitionPeriod": "0s",
                    "imageGCHighThresholdPercent": 90,
                    "imageGCLowThresholdPercent": 70,
                    "imageMinimumGCAge": "2m0s",
                    "enforceNodeAllocatable": ["pods"],
                }
            }
        )
    )
    policy = build_policy(PolicyInputs(configz_file=str(configz)))
    assert hard_map(policy) == {"memory.available": "300Mi"}
    assert policy.pressure_transition_period_s == 0
    assert policy.provenance["evictionHard.memory.available"].startswith(f"/configz {configz}")


def test_configz_wrong_shape(tmp_path: Path) -> None:
    configz = tmp_path / "configz.json"
    configz.write_text(json.dumps({"evictionHard": {}}))
    with pytest.raises(InputError, match="kubeletconfig: missing"):
        build_policy(PolicyInputs(configz_file=str(configz)))


def test_configz_excludes_other_inputs(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="choose one of"):
        build_policy(PolicyInputs(configz_file="a.json", config_file="b.yaml"))


def test_policy_from_kubelet_config_document() -> None:
    policy = policy_from_kubelet_config({"evictionHard": {"pid.available": "5%"}}, version="1.31")
    assert hard_map(policy) == {"pid.available": "5%"}
    assert policy.kubelet_version == "1.31"


def test_missing_file() -> None:
    with pytest.raises(InputError, match="file not found"):
        build_policy(PolicyInputs(config_file="/nonexistent/kubelet.yaml"))


def test_pod_logs_dir_default_and_file(tmp_path: Path) -> None:
    """podLogsDir defaults to /var/log/pods and a config file's value replaces it.

    Source: KubeletConfiguration.podLogsDir (the kubelet's defaults.go sets /var/log/pods when it is
    empty); /configz of a kubelet with the field shows "podLogsDir": "/var/log/pods".
    """
    assert default_policy("1.35").pod_logs_dir == "/var/log/pods"
    config = write(tmp_path / "kubelet.yaml", "podLogsDir: /data/pod-logs\n")
    policy = build_policy(PolicyInputs(config_file=str(config)))
    assert policy.pod_logs_dir == "/data/pod-logs"
    assert policy.provenance["podLogsDir"].startswith(f"file {config}")


def test_pod_logs_dir_wrong_type(tmp_path: Path) -> None:
    """A podLogsDir that is not a string is rejected with the field and the value."""
    config = write(tmp_path / "kubelet.yaml", "podLogsDir: 5\n")
    with pytest.raises(InputError, match=r"podLogsDir: invalid value 5"):
        build_policy(PolicyInputs(config_file=str(config)))


def test_config_dir_without_conf_files_warns(tmp_path: Path) -> None:
    """The kubelet merges only *.conf drop-ins (dropinFileExtension in mergeKubeletConfigurations), so a
    directory of other files changes nothing, and a warning names what it skipped."""
    (tmp_path / "10-eviction.yaml").write_text("evictionHard:\n  memory.available: 1Gi\n")

    policy = build_policy(PolicyInputs(kubelet_version="1.35", config_dir=str(tmp_path)))

    expected = f"no *.conf files in {tmp_path}; the kubelet reads only *.conf drop-ins (skipped: 10-eviction.yaml)"
    assert expected in policy.warnings
    assert [t.text for t in policy.thresholds if t.signal is Signal.MEMORY_AVAILABLE] == []


def test_config_dir_empty_warns(tmp_path: Path) -> None:
    policy = build_policy(PolicyInputs(kubelet_version="1.35", config_dir=str(tmp_path)))

    assert f"no *.conf files in {tmp_path}; the kubelet reads only *.conf drop-ins" in policy.warnings
