"""``evictsim report --html FILE``: the history as one self-contained HTML page with SVG charts."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

from simulator._proto.evictsim.v1 import evictsim_pb2 as pb
from simulator.api.history import load_history_file, points_from_message
from simulator.api.policy_adapter import load_policy
from simulator.api.report import render_report
from simulator.cli.whatif import DEFAULT_SERVER, open_stub
from simulator.errors import InputError
from simulator.policy.versions import normalize_version
from simulator.scenario import parse_layout


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
    source.add_argument("--server", default=None, help=f"daemon API address (default {DEFAULT_SERVER})")
    source.add_argument("--from-file", metavar="FILE", help="the daemon's --history SQLite file instead of a running daemon")
    parser.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS", help="request deadline (default 10)")
    parser.add_argument("--window", type=float, default=0.0, metavar="SECONDS", help="only the last SECONDS of history (default: all)")
    parser.add_argument("--kubelet-config", default="", metavar="FILE", help="KubeletConfiguration to draw thresholds from (default: the daemon's, or the kubelet defaults with --from-file)")
    parser.add_argument("--kubelet-version", default="", help="kubelet version (default: the daemon's, or 1.35 with --from-file)")
    parser.add_argument("--layout", default="single", help="filesystem layout for containerfs thresholds: single, dedicated-imagefs or split (default single)")
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
        from simulator.cli.history import _integral_numbers

        config = _integral_numbers(dict(history.kubelet_config.items()))
        version = version or history.kubelet_version
        node_name = history.node_name
    if args.kubelet_config:
        try:
            config = yaml.safe_load(Path(args.kubelet_config).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as error:
            raise InputError(f"--kubelet-config: failed to read {args.kubelet_config!r}: {error}", field="--kubelet-config") from None
    policy = load_policy(config, normalize_version(version or None), field="--kubelet-config")
    layout = parse_layout(args.layout) or parse_layout("single")
    page = render_report(points, policy, node_name=node_name, layout=layout)
    Path(args.html).write_text(page, encoding="utf-8")
    print(f"wrote {args.html} ({len(points)} samples)")
    return 0
