"""The API's command-line clients: ``evictsim whatif``, ``headroom``, ``sweep`` and ``watch``.

Each command talks to a running ``evictsim daemon`` over gRPC (``--server``, by default the
daemon's Unix socket) and prints the response as a table on a terminal or JSON/YAML with ``-o``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import grpc

from simulator._proto.evictsim.v1 import evictsim_pb2 as pb
from simulator._proto.evictsim.v1 import evictsim_pb2_grpc as pb_grpc
from simulator.cli.output import add_output_option, emit, format_table, resolve_format
from simulator.documents import read_text
from simulator.errors import EvictsimError, InputError
from simulator.quantity import Quantity

DEFAULT_SERVER = "unix:///run/evictsim/evictsim.sock"
FILESYSTEMS = ("nodefs", "imagefs", "containerfs")


class ServerError(EvictsimError):
    """The daemon could not be reached or failed the request."""


def server_address(text: str) -> str:
    """Check a ``--server`` value at parse time: ``unix:///path`` (or ``unix:path``) or ``host:port``."""
    accepted = "expected unix:///path or host:port"
    if text.startswith("unix:"):
        if not text.removeprefix("unix:").lstrip("/"):
            raise argparse.ArgumentTypeError(f"invalid address {text!r}: no socket path, {accepted}")
        if text.startswith("unix://") and not text.startswith("unix:///"):
            # gRPC reads unix://NAME as an authority, not a path: only an absolute path may follow "//"
            raise argparse.ArgumentTypeError(
                f"invalid address {text!r}: unix:// must be followed by an absolute path such as "
                "unix:///run/evictsim.sock; write unix:relative.sock for a relative path"
            )
        return text
    if "://" in text or text.startswith("unix-abstract:"):
        raise argparse.ArgumentTypeError(f"invalid address {text!r}: unsupported scheme, {accepted}")
    host, separator, port = text.rpartition(":")
    if not separator or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"invalid address {text!r}, {accepted}")
    return text


def _number_type(convert: Callable[[str], Any], minimum: float, *, exclusive: bool) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid {'integer' if convert is int else 'number'} {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"invalid number {text!r}: must be finite")
        if (value <= minimum) if exclusive else (value < minimum):
            bound = f"greater than {minimum:g}" if exclusive else f"at least {minimum:g}"
            raise argparse.ArgumentTypeError(f"invalid value {text!r}: must be {bound}")
        return value

    parse.__name__ = convert.__name__  # argparse names the type in its own messages
    return parse


positive_seconds = _number_type(float, 0, exclusive=True)
non_negative_seconds = _number_type(float, 0, exclusive=False)
non_negative_int = _number_type(int, 0, exclusive=False)
positive_int = _number_type(int, 1, exclusive=False)


def add_server_option(parser: argparse.ArgumentParser, *, default: str | None = DEFAULT_SERVER) -> None:
    """Add ``--server`` and ``--timeout``. A ``None`` default lets a command tell an omitted ``--server`` apart."""
    shown = f" (default {DEFAULT_SERVER})"
    parser.add_argument("--server", type=server_address, default=default, help=f"daemon API address: unix:///path or host:port{shown}")
    parser.add_argument("--timeout", type=positive_seconds, default=10.0, metavar="SECONDS", help="deadline of each request in seconds, greater than 0 (default 10)")


@contextmanager
def open_stub(args: argparse.Namespace) -> Iterator[pb_grpc.WhatIfServiceStub]:
    """Open a channel to ``--server`` and yield a stub; map gRPC errors to evictsim errors."""
    channel = grpc.insecure_channel(args.server)
    try:
        yield pb_grpc.WhatIfServiceStub(channel)
    except grpc.RpcError as error:
        code, details = error.code(), error.details()  # type: ignore[attr-defined]
        if code == grpc.StatusCode.INVALID_ARGUMENT:
            raise InputError(details) from None
        if code == grpc.StatusCode.UNAVAILABLE:
            raise ServerError(f"failed to reach the evictsim daemon at {args.server}: {details} (is `evictsim daemon` running?)") from None
        raise ServerError(f"{args.server}: {code.name}: {details}") from None
    finally:
        channel.close()


def _to_json(message: Any) -> dict[str, Any]:
    from simulator.api.convert import message_to_json

    return message_to_json(message)


def _signed_amount(text: str, *, option: str) -> int:
    """Parse a byte or count amount such as ``2Gi``, ``-500Mi`` or ``+1000``."""
    try:
        return Quantity.parse(text.lstrip("+")).to_int_ceil()
    except ValueError as error:
        raise InputError(f"{option}: invalid amount {text!r}: {error}", field=option, value=text) from None


def _pull_count(text: str, item: str) -> int:
    """Parse the COUNT of ``--pull SIZExCOUNT``: a whole number of at least 1."""
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise InputError(f"--pull: invalid count {text!r} in {item!r}, expected SIZE or SIZExCOUNT with COUNT at least 1", field="--pull", value=item)
    return count


def _fs_pair(text: str, *, option: str) -> tuple[str, str]:
    name, separator, amount = text.partition("=")
    if not separator or name not in FILESYSTEMS:
        raise InputError(f"{option}: expected FILESYSTEM=AMOUNT with FILESYSTEM one of {', '.join(FILESYSTEMS)}, got {text!r}", field=option, value=text)
    return name, amount


# -- whatif -----------------------------------------------------------------------------------


def _add_what_if_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("overrides")
    group.add_argument("--set", action="append", default=[], metavar="POINTER=JSON", help="set a KubeletConfiguration field, e.g. /evictionHard/imagefs.available=20%%")
    group.add_argument("--patch", default="", metavar="JSON", help="JSON merge patch on the KubeletConfiguration")
    group.add_argument("--preset", default="", help="start from a policy preset")
    group.add_argument("--kubelet-version", default="", help="evaluate as this kubelet version, e.g. 1.33")
    group.add_argument("--write", action="append", default=[], metavar="FS=BYTES", help="more usage on nodefs, imagefs or containerfs, e.g. imagefs=2Gi (negative frees)")
    group.add_argument("--inodes", action="append", default=[], metavar="FS=COUNT", help="more inodes used on a filesystem")
    group.add_argument("--memory", default="0", metavar="BYTES", help="more node memory working set, e.g. 1Gi")
    group.add_argument("--pids", default="0", metavar="COUNT", help="more processes")
    group.add_argument("--pull", action="append", default=[], metavar="SIZE[xCOUNT]", help="pull images of this size, e.g. 500Mi or 500Mix10")
    group.add_argument("--remove-pod", action="append", default=[], metavar="NAMESPACE/NAME", help="remove a pod and its usage")
    group.add_argument("--add-pod", action="append", default=[], metavar="FILE", help="add the Pod in this JSON file")
    group.add_argument("--syncs", type=non_negative_int, default=0, help="evaluate after this many more eviction-manager passes (default 0)")
    group.add_argument("--interval", type=positive_seconds, default=10.0, metavar="SECONDS", help="seconds between passes, greater than 0 (default 10)")
    group.add_argument("--growth", action="append", default=[], metavar="FS=BYTES", help="usage growth on a filesystem in bytes per second, e.g. imagefs=10Mi, between the --syncs passes (requires --syncs)")


def _pointer_patch(pointer: str, value: Any) -> dict[str, Any]:
    from simulator.api.validation import parse_json_pointer, set_by_pointer

    tokens = parse_json_pointer(pointer, field="--set")
    return set_by_pointer({}, tokens, value, field="--set")


def build_what_if(args: argparse.Namespace) -> pb.WhatIf:
    """Build a WhatIf message from the override options."""
    from simulator.api.validation import parse_json_object, parse_sweep_value
    from simulator.documents import merge_patch

    patch: dict[str, Any] = parse_json_object(args.patch, field="--patch") if args.patch else {}
    for item in args.set:
        pointer, separator, text = item.partition("=")
        if not separator:
            raise InputError(f"--set: expected POINTER=VALUE, got {item!r}", field="--set", value=item)
        patch = merge_patch(patch, _pointer_patch(pointer, parse_sweep_value(text)))

    message = pb.WhatIf(
        policy=pb.PolicyOverride(preset=args.preset, kubelet_version=args.kubelet_version, kubelet_config_patch_json=json.dumps(patch) if patch else ""),
        memory_working_set_delta_bytes=_signed_amount(args.memory, option="--memory"),
        pid_delta=_signed_amount(args.pids, option="--pids"),
    )
    for item in args.write:
        name, amount = _fs_pair(item, option="--write")
        message.filesystem_deltas.add(filesystem=name, used_bytes=_signed_amount(amount, option="--write"))
    for item in args.inodes:
        name, amount = _fs_pair(item, option="--inodes")
        message.filesystem_deltas.add(filesystem=name, inodes_used=_signed_amount(amount, option="--inodes"))
    for item in args.pull:
        size, separator, count_text = item.partition("x")
        count = _pull_count(count_text, item) if separator else 1
        message.image_pulls.add(size_bytes=_signed_amount(size, option="--pull"), count=count)
    for key in args.remove_pod:
        message.pod_changes.add(kind=pb.PodChange.REMOVE, pod=key)
    for path in args.add_pod:
        text = read_text(path, option="--add-pod", expected="Pod JSON file")
        message.pod_changes.add(kind=pb.PodChange.ADD, pod_json=text)
    growth = []
    for item in args.growth:
        name, amount = _fs_pair(item, option="--growth")
        growth.append((name, _signed_amount(amount, option="--growth")))
    if growth and not args.syncs:
        raise InputError(
            "--growth needs --syncs: growth applies only between future passes; add --syncs COUNT",
            field="--growth",
            value=args.growth[0],
        )
    if args.syncs:
        message.future.syncs = args.syncs
        message.future.interval_s = args.interval
        for name, used_bytes in growth:
            message.future.growth_per_second.add(filesystem=name, used_bytes=used_bytes)
    return message


def decision_table(document: dict[str, Any]) -> str:
    """Render a Decision document for a terminal."""
    conditions = ", ".join(document.get("node_conditions") or []) or "none"
    lines = [f"node conditions: {conditions}", f"kubelet version: {document.get('kubelet_version', '')}"]
    gc = "yes" if document.get("image_gc_would_run") else "no"
    lines.append(f"image GC would run: {gc}" + (f" (to free {document.get('image_gc_bytes_to_free')} bytes)" if gc == "yes" else ""))
    if document.get("reclaim_signal"):
        lines.append(f"reclaim for: {document['reclaim_signal']}")
    rows = [
        [t["signal"], t["value"], "hard" if t.get("hard") else "soft", t.get("threshold"), t.get("observed_available"), "MET" if t.get("met") else ""]
        for t in document.get("thresholds", [])
    ]
    table = format_table(["SIGNAL", "THRESHOLD", "KIND", "QUANTITY", "AVAILABLE", "MET"], rows)
    victims = [[v["pod"], v.get("eviction_signal", ""), v.get("reason", "")] for v in document.get("victims", [])]
    text = "\n".join(lines) + "\n\n" + table
    if victims:
        text += "\n" + format_table(["WOULD EVICT", "SIGNAL", "REASON"], victims)
    return text


def run_whatif(args: argparse.Namespace) -> int:
    request = build_what_if(args)
    request.include_detail = resolve_format(args.output) != "table"
    with open_stub(args) as stub:
        response = stub.Evaluate(request, timeout=args.timeout)
    emit(_to_json(response), args.output, decision_table)
    return 0


# -- headroom ---------------------------------------------------------------------------------


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def headroom_table(document: dict[str, Any]) -> str:
    rows = []
    for entry in document.get("signals", []):
        trend = entry.get("trend") or {}
        for crossing in entry.get("crossings", []):
            rows.append([
                entry["signal"], crossing["event"], crossing.get("threshold") or crossing.get("note", ""),
                f"{crossing['amount']} {entry['unit']}", _duration(crossing.get("seconds")), trend.get("verdict", ""),
            ])
    return format_table(["SIGNAL", "EVENT", "AT", "HEADROOM", "TIME", "TREND"], rows)


def run_headroom(args: argparse.Namespace) -> int:
    request = pb.HeadroomRequest(signals=args.signal, window_s=args.window)
    for item in args.rate:
        signal, separator, value = item.partition("=")
        if not separator:
            raise InputError(f"--rate: expected SIGNAL=PER_SECOND, got {item!r}", field="--rate", value=item)
        request.rate_per_second[signal] = float(_signed_amount(value, option="--rate"))
    with open_stub(args) as stub:
        response = stub.Headroom(request, timeout=args.timeout)
    emit(_to_json(response), args.output, headroom_table)
    return 0


# -- sweep ------------------------------------------------------------------------------------


def sweep_table(document: dict[str, Any]) -> str:
    rows = []
    for result in document.get("results", []):
        decision = result.get("decision") or {}
        victims = ", ".join(v["pod"] for v in decision.get("victims", [])) or "-"
        rows.append([result["value"], ", ".join(decision.get("node_conditions") or []) or "none", decision.get("reclaim_signal") or "-", victims])
    return f"{document.get('pointer', '')}\n" + format_table(["VALUE", "CONDITIONS", "RECLAIM FOR", "WOULD EVICT"], rows)


def run_sweep(args: argparse.Namespace) -> int:
    base = build_what_if(args)
    request = pb.SweepRequest(pointer=args.pointer, values=args.values, base=base)
    with open_stub(args) as stub:
        response = stub.Sweep(request, timeout=args.timeout)
    emit(_to_json(response), args.output, sweep_table)
    return 0


# -- watch ------------------------------------------------------------------------------------


def run_watch(args: argparse.Namespace) -> int:
    chosen = resolve_format(args.output)
    with open_stub(args) as stub:
        stream = stub.WatchDecisions(pb.WatchRequest(send_initial=True))
        try:
            for count, change in enumerate(stream, start=1):
                _print_change(_to_json(change), chosen)
                if args.count and count >= args.count:
                    stream.cancel()
                    break
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.CANCELLED:  # type: ignore[attr-defined]
                raise
    return 0


def _print_change(document: dict[str, Any], chosen: str) -> None:
    if chosen == "table":
        conditions = ", ".join(document.get("decision", {}).get("node_conditions") or []) or "none"
        print(f"{document.get('sampled_at', '')}  #{document.get('sequence')}  conditions: {conditions}  {'; '.join(document.get('changes', []))}")
    elif chosen == "yaml":
        import yaml

        print("---")
        print(yaml.safe_dump(document, sort_keys=False), end="")
    else:
        print(json.dumps(document, separators=(",", ":")))
    sys.stdout.flush()


# -- registration -----------------------------------------------------------------------------


def _command(subparsers: Any, name: str, help_text: str, handler: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".")
    add_server_option(parser)
    add_output_option(parser)
    parser.set_defaults(handler=handler)
    return parser


def register(subparsers: Any) -> None:
    whatif = _command(subparsers, "whatif", "ask the daemon what the kubelet would do under changed policy or usage", run_whatif)
    _add_what_if_options(whatif)

    headroom = _command(subparsers, "headroom", "show how much more usage each signal takes before image GC, thresholds and eviction", run_headroom)
    headroom.add_argument("--signal", action="append", default=[], help="only this signal, e.g. imagefs.available (repeatable)")
    headroom.add_argument("--window", type=positive_seconds, default=3600.0, metavar="SECONDS", help="history window the growth rate is fitted over (default 3600)")
    headroom.add_argument("--rate", action="append", default=[], metavar="SIGNAL=PER_SECOND", help="use this growth rate instead of the fitted one, e.g. imagefs.available=1Mi")

    sweep = _command(subparsers, "sweep", "evaluate candidate values of one KubeletConfiguration field", run_sweep)
    sweep.add_argument("pointer", help="JSON Pointer to the field, e.g. /evictionHard/imagefs.available")
    sweep.add_argument("values", nargs="+", help="candidate values (JSON, or bare text taken as a string)")
    _add_what_if_options(sweep)

    watch = _command(subparsers, "watch", "stream the daemon's decision changes", run_watch)
    watch.add_argument("--count", type=non_negative_int, default=0, help="stop after this many changes; 0 runs until interrupted (default 0)")
