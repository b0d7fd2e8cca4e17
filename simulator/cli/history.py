"""``evictsim history export``: write the daemon's history as a scenario that ``evaluate --scenario`` replays.

The history comes from a running daemon (``--server``) or from the SQLite file the daemon
keeps with ``--history`` (``--from-file``). Replaying it under another policy, for example
``evictsim evaluate --scenario FILE --kubelet-config other.yaml``, shows what that policy would
have done over the same period.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import yaml
from google.protobuf.json_format import MessageToDict

from simulator._proto.evictsim.v1 import evictsim_pb2 as pb
from simulator.api.history import load_history_file, points_from_message, scenario_from_history
from simulator.cli.whatif import (
    DEFAULT_SERVER,
    non_negative_seconds,
    open_stub,
    positive_int,
    positive_seconds,
    server_address,
)
from simulator.documents import load_document, write_output
from simulator.errors import InputError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("history", help="export the daemon's history", description="Work with the daemon's history of node samples.")
    commands = parser.add_subparsers(dest="history_command", metavar="COMMAND")
    commands.required = True
    export = commands.add_parser(
        "export",
        help="write the history as a scenario file for evictsim evaluate --scenario",
        description="Write the history as a scenario file (YAML or JSON by the file's extension) that "
        "evictsim evaluate --scenario replays, one step per sample.",
    )
    source = export.add_mutually_exclusive_group()
    source.add_argument("--server", type=server_address, default=None, help=f"daemon API address: unix:///path or host:port (default {DEFAULT_SERVER})")
    source.add_argument("--from-file", metavar="FILE", help="the daemon's --history SQLite file instead of a running daemon")
    export.add_argument("--timeout", type=positive_seconds, default=10.0, metavar="SECONDS", help="request deadline in seconds, greater than 0 (default 10)")
    export.add_argument("--window", type=non_negative_seconds, default=0.0, metavar="SECONDS", help="only the last SECONDS of history; 0 keeps all (default 0)")
    export.add_argument("--every", type=positive_int, default=1, metavar="N", help="keep every Nth sample, at least 1 (default 1)")
    export.add_argument("--kubelet-version", default="", help="kubelet version to record (default: the daemon's; 1.35 with --from-file)")
    export.add_argument("--kubelet-config", default="", metavar="FILE", help="KubeletConfiguration to embed as the policy (default: the daemon's)")
    export.add_argument("--output-file", "-f", required=True, metavar="FILE", help="scenario file to write (.yaml, .yml or .json)")
    export.set_defaults(handler=run_export)


def read_kubelet_config(path: str) -> dict[str, Any]:
    """Read the ``--kubelet-config`` file of ``history export`` and ``report`` as a mapping."""
    document = load_document(path, option="--kubelet-config", expected="KubeletConfiguration mapping")
    if not isinstance(document, dict):
        raise InputError(f"--kubelet-config {path}: is not a KubeletConfiguration mapping", field="--kubelet-config", value=path)
    return document


def kubelet_config_from_history(history: Any) -> dict[str, Any] | None:
    """Return the daemon's KubeletConfiguration from an evictsim.v1.History message, nested fields included.

    protobuf Struct stores every number as a double, so integral values come back as integers.
    """
    if not history.HasField("kubelet_config"):
        return None
    return _integral_numbers(MessageToDict(history.kubelet_config))


def run_export(args: argparse.Namespace) -> int:
    config: dict[str, Any] | None = None
    version, node_name = args.kubelet_version, ""
    if args.from_file:
        points = load_history_file(args.from_file)
        if args.window:
            points = [p for p in points if points and p.time >= points[-1].time - args.window]
    else:
        args.server = args.server or DEFAULT_SERVER
        with open_stub(args) as stub:
            history = stub.GetHistory(pb.GetHistoryRequest(window_s=args.window), timeout=args.timeout)
        points = points_from_message(history)
        config = kubelet_config_from_history(history)
        version = version or history.kubelet_version
        node_name = history.node_name
    if args.kubelet_config:
        config = read_kubelet_config(args.kubelet_config)

    document = scenario_from_history(points[:: args.every], kubelet_version=version or "1.35", kubelet_config=config, node_name=node_name)
    target = Path(args.output_file)
    if target.suffix == ".json":
        text = json.dumps(document, indent=2) + "\n"
    else:
        text = yaml.safe_dump(document, sort_keys=False)
    write_output(target, text, option="--output-file")
    print(f"wrote {len(document['steps'])} steps to {target}")
    return 0


def _integral_numbers(value: Any) -> Any:
    """Turn floats that protobuf Struct made of integers (85.0) back into integers."""
    if isinstance(value, dict):
        return {k: _integral_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral_numbers(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
