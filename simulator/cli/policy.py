"""``evictsim policy``: show the effective kubelet policy with provenance and lint findings."""

from __future__ import annotations

import argparse
from typing import Any

from simulator.cli.output import add_output_option, emit, format_table
from simulator.policy.containerfs import synthesize_containerfs_thresholds
from simulator.policy.lint import lint_policy
from simulator.policy.load import add_policy_arguments, policy_from_args
from simulator.policy.model import Policy, Threshold
from simulator.policy.presets import dump_preset_metadata, load_preset, preset_names
from simulator.policy.versions import CONTAINERFS_SIGNALS_SINCE, at_least
from simulator.quantity import format_go_duration
from simulator.signals import FsLayout, Signal


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("policy", help="show the effective kubelet eviction and GC policy")
    commands = parser.add_subparsers(dest="policy_command", metavar="SUBCOMMAND")
    commands.required = True

    show = commands.add_parser(
        "show",
        help="print the effective policy, where each value comes from, and lint findings",
        description="Print the effective eviction and GC policy as the chosen kubelet version would apply it.",
    )
    add_policy_arguments(show)
    show.add_argument(
        "--layout",
        choices=[layout.value for layout in FsLayout],
        help="filesystem layout of the node, for layout-dependent lint checks and containerfs thresholds",
    )
    add_output_option(show)
    show.set_defaults(handler=run_show)

    presets = commands.add_parser("presets", help="list the presets in policies/")
    add_output_option(presets)
    presets.set_defaults(handler=run_presets)


def _threshold_source(policy: Policy, threshold: Threshold) -> str:
    if threshold.signal == Signal.ALLOCATABLE_MEMORY_AVAILABLE and "allocatableMemory.available" not in (
        *policy.eviction_hard,
        *policy.eviction_soft,
    ):
        return "copied from hard memory.available (enforceNodeAllocatable contains pods)"
    if " copied from " in threshold.text:
        return threshold.text
    signal = threshold.signal.value
    written_hard = f"{signal}<{policy.eviction_hard.get(signal)}"
    map_name = "evictionHard" if threshold.hard and threshold.text == written_hard else "evictionSoft"
    return policy.provenance.get(f"{map_name}.{signal}", policy.provenance.get(map_name, ""))


def _threshold_document(policy: Policy, threshold: Threshold) -> dict[str, Any]:
    document: dict[str, Any] = {
        "signal": threshold.signal.value,
        "operator": "LessThan",
        "value": str(threshold.value),
        "hard": threshold.hard,
        "gracePeriod": format_go_duration(threshold.grace_period_s),
        "minReclaim": str(threshold.min_reclaim) if threshold.min_reclaim is not None else None,
        "source": _threshold_source(policy, threshold),
    }
    return document


def policy_document(policy: Policy, layout: FsLayout | None = None) -> dict[str, Any]:
    """Return the policy, its provenance and lint findings as a JSON-ready dict."""
    thresholds = list(policy.thresholds)
    containerfs_errors: list[str] = []
    if layout is not None and at_least(policy.kubelet_version, CONTAINERFS_SIGNALS_SINCE):
        thresholds, containerfs_errors = synthesize_containerfs_thresholds(thresholds, layout)
    return {
        "kubeletVersion": policy.kubelet_version,
        "sources": list(policy.sources) or [f"kubelet {policy.kubelet_version} defaults"],
        "layout": layout.value if layout is not None else None,
        "thresholds": [_threshold_document(policy, t) for t in thresholds],
        "evictionMaxPodGracePeriod": policy.max_pod_grace_period_s,
        "evictionPressureTransitionPeriod": format_go_duration(policy.pressure_transition_period_s),
        "mergeDefaultEvictionSettings": policy.merge_default_eviction_settings,
        "imageGC": {
            "highThresholdPercent": policy.image_gc.high_threshold_percent,
            "lowThresholdPercent": policy.image_gc.low_threshold_percent,
            "minimumGCAge": format_go_duration(policy.image_gc.minimum_gc_age_s),
            "maximumGCAge": format_go_duration(policy.image_gc.maximum_gc_age_s),
        },
        "containerGC": {
            "minimumAge": format_go_duration(policy.container_gc.minimum_age_s),
            "maxPerPodContainer": policy.container_gc.max_per_pod_container,
            "maxContainers": policy.container_gc.max_containers,
        },
        "enforceNodeAllocatable": list(policy.enforce_node_allocatable),
        "kubeReserved": {k: str(v) for k, v in policy.kube_reserved.items()},
        "systemReserved": {k: str(v) for k, v in policy.system_reserved.items()},
        "localStorageCapacityIsolation": policy.local_storage_capacity_isolation,
        "kernelMemcgNotification": policy.kernel_memcg_notification,
        "featureGates": dict(policy.feature_gates),
        "rootDir": policy.root_dir,
        "podLogsDir": policy.pod_logs_dir,
        "provenance": dict(policy.provenance),
        "warnings": list(policy.warnings) + containerfs_errors,
        "findings": [finding.as_dict() for finding in lint_policy(policy, layout)],
    }


def _table(document: dict[str, Any]) -> str:
    lines = [f"kubelet {document['kubeletVersion']}; sources: {'; '.join(document['sources'])}", ""]
    rows = [
        [
            t["signal"],
            f"<{t['value']}",
            "hard" if t["hard"] else f"soft {t['gracePeriod']}",
            t["minReclaim"] or "",
            t["source"],
        ]
        for t in document["thresholds"]
    ]
    lines.append(format_table(["SIGNAL", "THRESHOLD", "KIND", "MIN-RECLAIM", "SOURCE"], rows).rstrip("\n"))
    lines.append("")
    provenance = document["provenance"]
    settings = [
        [
            "evictionMaxPodGracePeriod",
            document["evictionMaxPodGracePeriod"],
            provenance.get("evictionMaxPodGracePeriod"),
        ],
        [
            "evictionPressureTransitionPeriod",
            document["evictionPressureTransitionPeriod"],
            provenance.get("evictionPressureTransitionPeriod"),
        ],
        [
            "imageGCHighThresholdPercent",
            document["imageGC"]["highThresholdPercent"],
            provenance.get("imageGCHighThresholdPercent"),
        ],
        [
            "imageGCLowThresholdPercent",
            document["imageGC"]["lowThresholdPercent"],
            provenance.get("imageGCLowThresholdPercent"),
        ],
        ["imageMinimumGCAge", document["imageGC"]["minimumGCAge"], provenance.get("imageMinimumGCAge")],
        ["imageMaximumGCAge", document["imageGC"]["maximumGCAge"], provenance.get("imageMaximumGCAge", "")],
        [
            "enforceNodeAllocatable",
            ",".join(document["enforceNodeAllocatable"]),
            provenance.get("enforceNodeAllocatable"),
        ],
        [
            "featureGates",
            ",".join(f"{k}={str(v).lower()}" for k, v in document["featureGates"].items()),
            "",
        ],
        ["rootDir", document["rootDir"], provenance.get("rootDir")],
        ["podLogsDir", document["podLogsDir"], provenance.get("podLogsDir")],
        [
            "containerGC",
            (
                f"minAge={document['containerGC']['minimumAge']} maxPerPodContainer="
                f"{document['containerGC']['maxPerPodContainer']} maxContainers={document['containerGC']['maxContainers']}"
            ),
            provenance.get("maximumDeadContainers"),
        ],
    ]
    lines.append(format_table(["SETTING", "VALUE", "SOURCE"], settings).rstrip("\n"))
    for warning in document["warnings"]:
        lines.append(f"warning: {warning}")
    if document["findings"]:
        lines.append("")
        for finding in document["findings"]:
            lines.append(f"{finding['id']} {finding['severity']}: {finding['message']}")
            lines.append(f"    fix: {finding['fix']}")
    return "\n".join(lines) + "\n"


def run_show(args: argparse.Namespace) -> int:
    policy = policy_from_args(args)
    layout = FsLayout(args.layout) if args.layout else None
    emit(policy_document(policy, layout), args.output, _table)
    return 0


def run_presets(args: argparse.Namespace) -> int:
    presets = [dump_preset_metadata(load_preset(name)) for name in preset_names()]

    def table(document: list[dict[str, Any]]) -> str:
        rows = [[p["name"], p["kubeletVersion"], p["description"]] for p in document]
        return format_table(["NAME", "KUBELET", "DESCRIPTION"], rows)

    emit(presets, args.output, table)
    return 0
