"""``evictsim report --html FILE``: the history as one self-contained HTML page with SVG charts."""

from __future__ import annotations

import argparse
from typing import Any

from simulator._proto.evictsim.v1 import evictsim_pb2 as pb
from simulator.api.history import HistoryPoint, load_history_file, points_from_message, summary_document
from simulator.api.policy_adapter import load_policy
from simulator.api.report import render_report
from simulator.cli.history import kubelet_config_from_history, read_kubelet_config
from simulator.cli.whatif import (
    DEFAULT_SERVER,
    non_negative_seconds,
    open_stub,
    positive_seconds,
    server_address,
)
from simulator.documents import write_output
from simulator.policy.versions import normalize_version
from simulator.scenario import infer_layout, parse_layout
from simulator.signals import FsLayout
from simulator.snapshot import Summary


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "report",
        help="render the history with thresholds and forecasts as an HTML page",
        description="Render the daemon's history (from a running daemon or its --history file) as one "
        "self-contained HTML page: an SVG chart per signal with thresholds, image GC watermarks and "
        "forecast crossing times.",
    )
    parser.add_argument("--html", required=True, metavar="FILE", help="HTML file to write")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--server", type=server_address, default=None, help=f"daemon API address: unix:///path or host:port (default {DEFAULT_SERVER})")
    source.add_argument("--from-file", metavar="FILE", help="the daemon's --history SQLite file instead of a running daemon")
    parser.add_argument("--timeout", type=positive_seconds, default=10.0, metavar="SECONDS", help="request deadline in seconds, greater than 0 (default 10)")
    parser.add_argument("--window", type=non_negative_seconds, default=0.0, metavar="SECONDS", help="only the last SECONDS of history; 0 keeps all (default 0)")
    parser.add_argument("--kubelet-config", default="", metavar="FILE", help="KubeletConfiguration to draw thresholds from (default: the daemon's, or the kubelet defaults with --from-file)")
    parser.add_argument("--kubelet-version", default="", help="kubelet version (default: the daemon's, or 1.35 with --from-file)")
    parser.add_argument(
        "--layout",
        default="auto",
        help="filesystem layout that decides which signals apply to each filesystem: auto, single, dedicated-imagefs "
        "or split (default auto: inferred from the newest sample, as evictsim evaluate infers it from a Summary)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    config: dict[str, Any] = {}
    version = args.kubelet_version
    node_name = ""
    if args.from_file:
        points = load_history_file(args.from_file)
        if args.window and points:
            points = [p for p in points if p.time >= points[-1].time - args.window]
    else:
        args.server = args.server or DEFAULT_SERVER
        with open_stub(args) as stub:
            history = stub.GetHistory(pb.GetHistoryRequest(window_s=args.window), timeout=args.timeout)
        points = points_from_message(history)
        config = kubelet_config_from_history(history) or {}
        version = version or history.kubelet_version
        node_name = history.node_name
    if args.kubelet_config:
        config = read_kubelet_config(args.kubelet_config)
    policy = load_policy(config, normalize_version(version or None), field="--kubelet-config")
    layout = parse_layout(args.layout)
    if layout is None:
        layout = layout_from_history(points, node_name)
    page = render_report(points, policy, node_name=node_name, layout=layout)
    write_output(args.html, page, option="--html")
    print(f"wrote {args.html} ({len(points)} samples)")
    return 0


def layout_from_history(points: list[HistoryPoint], node_name: str = "") -> FsLayout:
    """Infer the filesystem layout from the newest point the way ``evaluate`` infers it from a Summary."""
    if not points:
        return FsLayout.SINGLE
    summary = Summary.from_json(summary_document(points[-1], node_name), source="history")
    layout, _ = infer_layout(summary)
    return layout
