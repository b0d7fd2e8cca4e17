"""``evictsim snapshot``: sample the live node as the kubelet's Summary API would report it, with provenance."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from simulator.cli.output import add_output_option, emit, format_table
from simulator.cri.client import CriClient
from simulator.errors import InputError
from simulator.probes.fsinfo import FsInfoProbe
from simulator.probes.memory import MemoryProbe
from simulator.probes.mountinfo import MountTable
from simulator.probes.pids import PidProbe
from simulator.probes.pods import DEFAULT_POD_LOG_DIR, CriPodStatsSource
from simulator.probes.sampler import DEFAULT_ROOT_DIR, ErrorPolicy, Sampler, StatsProvider

DEFAULT_MOUNTINFO = "/proc/self/mountinfo"


def add_live_options(parser: argparse.ArgumentParser) -> None:
    """Add the options every live command shares: runtime endpoint, kubelet root dir, mount table, CRI deadline."""
    parser.add_argument(
        "--cri-endpoint",
        metavar="ENDPOINT",
        help="CRI socket such as unix:///run/containerd/containerd.sock "
        "(default: the first of containerd's, CRI-O's and cri-dockerd's sockets that answers)",
    )
    parser.add_argument(
        "--root-dir",
        default=DEFAULT_ROOT_DIR,
        metavar="DIR",
        help=f"the kubelet's --root-dir, whose filesystem is nodefs (default: {DEFAULT_ROOT_DIR})",
    )
    parser.add_argument(
        "--mountinfo",
        default=DEFAULT_MOUNTINFO,
        metavar="PATH",
        help="mount table read once at start, as the kubelet's cAdvisor does; use /proc/1/mountinfo in a "
        f"container that shares the host's PID namespace (default: {DEFAULT_MOUNTINFO})",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="deadline of each CRI call in seconds (default: 2)",
    )


def open_cri_client(args: argparse.Namespace) -> CriClient:
    return CriClient(args.cri_endpoint, timeout_s=args.timeout)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "snapshot",
        help="print the live node's Summary-shaped snapshot with the source of every number",
        description="Sample the node like the kubelet's /stats/summary (node section) and show where each number "
        "came from: CRI RPC, mountpoint, device major:minor, partition, filesystem type and sampling time.",
    )
    add_live_options(parser)
    parser.add_argument(
        "--error-policy",
        choices=[policy.value for policy in ErrorPolicy],
        default=ErrorPolicy.CURRENT.value,
        help="current: an imageFs lookup failure fails the sample, as in current kubelets; legacy: it gives an "
        "imageFs without capacity and available bytes, as older kubelets did (default: current)",
    )
    parser.add_argument(
        "--stats-provider",
        choices=[provider.value for provider in StatsProvider],
        default=StatsProvider.AUTO.value,
        help="the kubelet's container stats provider; auto picks cadvisor for CRI-O's socket and cri otherwise",
    )
    parser.add_argument(
        "--pod-log-dir",
        metavar="DIR",
        default=DEFAULT_POD_LOG_DIR,
        help=f"the kubelet's container log directory, podLogsDir (default: {DEFAULT_POD_LOG_DIR})",
    )
    add_output_option(parser)
    parser.set_defaults(handler=run)


def require_root_dir(args: argparse.Namespace) -> None:
    """Raise InputError when ``--root-dir`` is not a directory, since node.fs is its filesystem."""
    if not Path(args.root_dir).is_dir():
        raise InputError(
            f"--root-dir {args.root_dir}: kubelet root dir not found; pass --root-dir with the kubelet's "
            "--root-dir (rootDir in its configuration)",
            field="--root-dir",
            value=args.root_dir,
        )


def run(args: argparse.Namespace) -> int:
    mount_table = MountTable.from_file(args.mountinfo)
    require_root_dir(args)
    with open_cri_client(args) as cri:
        sampler = Sampler(
            cri,
            FsInfoProbe(mount_table),
            root_dir=args.root_dir,
            memory_probe=MemoryProbe(),
            pid_probe=PidProbe(),
            error_policy=args.error_policy,
            stats_provider=args.stats_provider,
            pod_stats_source=CriPodStatsSource(cri, root_dir=args.root_dir, log_root=args.pod_log_dir),
        )
        summary, details = sampler.sample_with_details()
    document = summary.to_json(with_provenance=True)
    document.setdefault("evictsim", {})
    document["evictsim"].update(
        runtimeEndpoint=details.runtime_endpoint,
        statsProvider=details.stats_provider.value,
        mountTable=mount_table.source,
        notes=details.notes,
    )
    emit(document, args.output, render_table)
    return 0


def render_table(document: dict[str, Any]) -> str:
    """Render one row per number: JSON path, value, and where it came from."""
    provenance = document.get("evictsim", {}).get("provenance", {})
    rows = []
    for path, value in _flatten(document["node"], "node"):
        source = provenance.get(path, {})
        where = " ".join(
            str(part)
            for part in (
                source.get("source", ""),
                f"device {source['device']}" if source.get("device") else "",
                f"partition {source['partition']}" if source.get("partition") else "",
                source.get("fsType", ""),
            )
            if part
        )
        rows.append([path, value, where])
    out = format_table(["FIELD", "VALUE", "SOURCE"], rows)
    notes = document.get("evictsim", {}).get("notes") or []
    if notes:
        out += "\nNotes:\n" + "".join(f"- {note}\n" for note in notes)
    return out


def _flatten(value: Any, path: str) -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        items: list[tuple[str, Any]] = []
        for key, child in value.items():
            items.extend(_flatten(child, f"{path}.{key}"))
        return items
    if isinstance(value, list):
        items = []
        for child in value:
            name = child.get("name") if isinstance(child, dict) else None
            items.extend(_flatten(child, f"{path}[{name}]" if name else path))
        return items
    return [(path, value)]
