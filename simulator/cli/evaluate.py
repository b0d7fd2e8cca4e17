"""``evictsim evaluate``: what the kubelet's eviction manager would decide on captured inputs.

One pass from a fresh state on ``--summary``, or successive passes on ``--scenario``. The
decision's JSON form is documented in docs/decision-schema.md, the scenario format in
docs/scenarios.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

from simulator.cli.output import add_output_option, emit, format_table
from simulator.documents import load_document
from simulator.engine.eviction import ManagerState, synchronize
from simulator.engine.reclaim import Reclaimer
from simulator.errors import InputError
from simulator.pods import load_pod_list
from simulator.policy.load import add_policy_arguments, kubelet_version_from_node_file, policy_from_args
from simulator.scenario import DEFAULT_START, infer_layout, load_scenario, parse_layout, run_scenario
from simulator.snapshot import Summary, parse_time


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="show what the kubelet's eviction manager would decide for a captured node",
        description=(
            "Run the kubelet's eviction-manager pass on a Summary API snapshot (one pass from a fresh "
            "state) or on a scenario of successive snapshots, and print the decision: observations, "
            "thresholds, node conditions, node-level reclaim, pod ranking and evictions."
        ),
    )
    inputs = parser.add_mutually_exclusive_group(required=True)
    inputs.add_argument("--summary", metavar="FILE", help="Summary API JSON (kubectl get --raw /api/v1/nodes/NODE/proxy/stats/summary)")
    inputs.add_argument("--scenario", metavar="FILE", help="scenario YAML or JSON of successive steps (see docs/scenarios.md)")
    parser.add_argument("--pods", metavar="FILE", help="pod specs: 'kubectl get pods -o json' output (default: rank from the Summary alone)")
    parser.add_argument("--images", metavar="FILE", help="'crictl images -o json' output; node-level reclaim then uses the image GC model")
    parser.add_argument(
        "--containers", metavar="FILE", help="'crictl ps -a -o json' output; images of listed containers count as in use"
    )
    parser.add_argument(
        "--layout",
        default="auto",
        metavar="LAYOUT",
        help="filesystem layout: auto (inferred from the Summary's numbers), single, dedicated-imagefs or split (default: auto)",
    )
    parser.add_argument(
        "--time",
        metavar="RFC3339",
        help="time of the pass (default: the newest node stats time in the Summary, else 2024-01-01T00:00:00Z)",
    )
    add_policy_arguments(parser)
    add_output_option(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    layout = parse_layout(args.layout)
    if args.scenario:
        return _run_scenario(args, layout)

    summary = _load_summary(args.summary)
    policy = policy_from_args(args)
    pods = load_pod_list(args.pods) if args.pods else None
    now = parse_time(args.time, field="--time") if args.time else (summary.newest_node_stats_time() or DEFAULT_START)
    inferred = layout is None
    reason = ""
    if layout is None:
        layout, reason = infer_layout(summary)
    reclaimer = _reclaimer(args, policy, summary, now)

    decision, _ = synchronize(summary, pods, policy, ManagerState(), now, reclaimer, layout=layout, layout_inferred=inferred)
    document = decision.to_json()
    if inferred:
        document["layoutReason"] = reason
    if policy.warnings:
        document["notes"] = [*document["notes"], *(f"policy: {warning}" for warning in policy.warnings)]
    if args.images:
        document["notes"] = [*document["notes"], _IMAGE_AGE_NOTE]
    emit(document, args.output, render_decision)
    return 0


# Options that replace a scenario's whole ``policy``; --kubelet-version and --node alone only
# replace its ``kubeletVersion``.
_POLICY_OPTIONS = ("kubelet_config", "config_dir", "configz", "flags", "flags_file", "preset")


def _run_scenario(args: argparse.Namespace, layout: Any) -> int:
    """Run a scenario; command-line policy, version, pods and layout options win over the file's."""
    if any(getattr(args, name, None) for name in _POLICY_OPTIONS):
        scenario = load_scenario(args.scenario)
        scenario.policy = policy_from_args(args)
    else:
        version = args.kubelet_version
        if version is None and args.node_file:
            version = kubelet_version_from_node_file(args.node_file)
        scenario = load_scenario(args.scenario, kubelet_version=version)
    if args.pods:
        scenario.pods = load_pod_list(args.pods)
    results = [result.to_json() for result in run_scenario(scenario, layout=layout)]
    emit(results, args.output, render_scenario)
    return 0


def _load_summary(path: str) -> Summary:
    document = load_document(path, option="--summary", format="json", expected="Summary API JSON document")
    return Summary.from_json(document, source=path)


_UNKNOWN_KUBELET_START = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_IMAGE_AGE_NOTE = (
    "--images: image detection times are unknown, so every image counts as older than imageMinimumGCAge "
    "(as in `evictsim gc images` without --state)"
)


def _reclaimer(args: argparse.Namespace, policy: Any, summary: Summary, now: dt.datetime) -> Reclaimer | None:
    """Build a GC-backed Reclaimer from --images (and --containers), or None for NoReclaim."""
    if not args.images:
        if args.containers:
            raise InputError("--containers needs --images: without an image list reclaim frees nothing", field="--containers")
        return None
    from simulator.engine.gc_reclaimer import GCReclaimer
    from simulator.engine.imagegc import ImageGCSimulator
    from simulator.engine.images import load_containers, load_images

    images = load_images(args.images).images
    containers = load_containers(args.containers).containers if args.containers else []
    # As `evictsim gc images` without --state: the kubelet's detection times are unknown, so it
    # counts as long running and every image as older than imageMinimumGCAge.
    image_gc = ImageGCSimulator(policy.image_gc, policy.kubelet_version, kubelet_start=_UNKNOWN_KUBELET_START, feature_gates=policy.feature_gates)
    image_gc.detect(images, containers, now)
    for record in image_gc.detector.records.values():
        record.first_detected = None
    return GCReclaimer(image_gc, policy.container_gc, containers=containers, image_fs=summary.node.image_fs)


# ---------------------------------------------------------------------------------------------
# tables


def render_decision(document: dict[str, Any]) -> str:
    """Render one decision for a terminal: conditions, thresholds, reclaim, evictions, notes."""
    layout = document["layout"] + (" (inferred)" if document.get("layoutInferred") else "")
    conditions = ", ".join(f"{name}={str(value).lower()}" for name, value in document["conditions"].items())
    lines = [f"time: {document['time']}   kubelet: {document['kubeletVersion']}   layout: {layout}", f"conditions: {conditions}", ""]

    rows = []
    for threshold in document["thresholds"]:
        observation = document["observations"].get(threshold["signal"])
        rows.append(
            [
                threshold["signal"],
                "hard" if threshold["hard"] else f"soft {threshold['gracePeriodSeconds']:g}s",
                threshold["value"],
                threshold["quantity"] if threshold["quantity"] is not None else "-",
                observation["available"] if observation else "not observed",
                "yes" if threshold["met"] else "no",
                "yes" if threshold["actionable"] else "no",
            ]
        )
    lines.append(format_table(["SIGNAL", "KIND", "VALUE", "QUANTITY", "AVAILABLE", "MET", "ACTIONABLE"], rows).rstrip("\n"))

    if document["reclaim"]:
        reclaim = document["reclaim"]
        freed = ", ".join(f"{step['step']} {step['bytesFreed']} bytes" for step in reclaim["steps"])
        lines += ["", f"reclaim for {reclaim['signal']}: {freed}; sufficient: {str(reclaim['sufficient']).lower()}"]
    if document["evictions"]:
        lines.append("")
        for eviction in document["evictions"]:
            lines.append(f"evict {eviction['pod']} ({eviction['signal']}, grace {eviction['gracePeriodSeconds']}s): {eviction['message']}")
    if document["ranking"]:
        ranking = [
            [i + 1, entry["pod"], entry["priority"], entry["usage"] if entry["usage"] is not None else "no stats",
             entry["request"], "critical" if entry["critical"] else ""]
            for i, entry in enumerate(document["ranking"][:10])
        ]
        lines += ["", format_table(["RANK", "POD", "PRIORITY", "USAGE", "REQUEST", ""], ranking).rstrip("\n")]
    if document.get("error"):
        lines += ["", f"error: {document['error']}"]
    if document["notes"]:
        lines += ["", *(f"note: {note}" for note in document["notes"])]
    return "\n".join(lines) + "\n"


def render_scenario(results: list[dict[str, Any]]) -> str:
    """Render one line per step: time, conditions, evictions."""
    rows = []
    for result in results:
        decision = result["decision"]
        pressure = [name for name, value in decision["conditions"].items() if value] or ["-"]
        evictions = [f"{e['pod']} (grace {e['gracePeriodSeconds']}s)" for e in decision["evictions"]] or ["-"]
        met = sorted({t["signal"] for t in decision["thresholds"] if t["met"]}) or ["-"]
        rows.append([result["step"], f"+{result['elapsedSeconds']:g}s", result.get("name", ""), ",".join(met), ",".join(pressure), "; ".join(evictions)])
    return format_table(["STEP", "AFTER", "NAME", "MET", "CONDITIONS", "EVICTIONS"], rows)
