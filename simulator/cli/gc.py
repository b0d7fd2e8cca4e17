"""``evictsim gc images`` and ``evictsim gc containers``: what the kubelet's garbage collectors would delete.

Both read a live node over CRI by default. Offline, they read files instead:
``crictl images -o json`` or a Node object (``--images``), ``crictl ps -a -o json``
(``--containers``), ``crictl pods -o json`` (``--sandboxes``), a Summary API document for the
image filesystem (``--summary``) and a state file of detection times that the daemon exports
(``--state``).
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import Any

from simulator.cli.output import add_output_option, emit, format_table
from simulator.engine.containergc import ContainerUsage, infer_pod_states, plan_container_gc
from simulator.engine.imagegc import (
    ImageDetector,
    plan_delete_unused_images,
    plan_image_gc,
    read_state_file,
)
from simulator.engine.images import (
    ContainerInfo,
    ImageInfo,
    SandboxInfo,
    containers_from_cri,
    images_from_cri,
    load_containers,
    load_images,
    load_sandboxes,
    match_by_image_name,
    read_document,
    sandboxes_from_cri,
    unknown_image_references,
)
from simulator.errors import InputError
from simulator.snapshot import FsStats, Summary, parse_time

UTC = dt.UTC
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
DEFAULT_POD_LOG_DIR = "/var/log/pods"


def register(subparsers: Any) -> None:
    from simulator.cli.snapshot import add_live_options
    from simulator.policy.load import add_policy_arguments

    parser = subparsers.add_parser(
        "gc",
        help="show which images and dead containers the kubelet's garbage collectors would delete",
        description="Simulate the kubelet's image GC or container GC on a live node or on saved inputs. "
        "Nothing is deleted.",
    )
    commands = parser.add_subparsers(dest="gc_command", metavar="COLLECTOR")
    commands.required = True

    images = commands.add_parser(
        "images",
        help="image GC: the periodic pass, or eviction reclaim with --trigger eviction",
        description="Simulate image GC: the max-age pass, the threshold pass with its target bytes, and each "
        "image's outcome (removed, or why it is kept).",
    )
    add_live_options(images)
    images.add_argument(
        "--images",
        metavar="FILE",
        help="offline: 'crictl images -o json' output, or a Node or NodeList with status.images",
    )
    images.add_argument(
        "--containers",
        metavar="FILE",
        help="offline: 'crictl ps -a -o json' output; exited containers keep their images in use",
    )
    images.add_argument(
        "--summary",
        metavar="FILE",
        help="Summary API JSON whose node.runtime.imageFs gives capacity and available bytes",
    )
    images.add_argument(
        "--state",
        metavar="FILE",
        help="image GC state exported by the daemon (firstDetected and lastUsed per image); without "
        "it every image counts as older than the minimum age",
    )
    images.add_argument(
        "--trigger",
        choices=["periodic", "eviction"],
        default="periodic",
        help="periodic: the 5-minute GarbageCollect; eviction: the eviction manager's delete-all-"
        "unused-images reclaim (default: periodic)",
    )
    _add_common(images)
    add_policy_arguments(images)
    add_output_option(images)
    images.set_defaults(handler=run_images)

    containers = commands.add_parser(
        "containers",
        help="container GC: dead containers and sandboxes that would be removed",
        description="Simulate container GC under --minimum-container-ttl-duration, "
        "--maximum-dead-containers-per-container and --maximum-dead-containers.",
    )
    add_live_options(containers)
    containers.add_argument("--containers", metavar="FILE", help="offline: 'crictl ps -a -o json' output")
    containers.add_argument("--sandboxes", metavar="FILE", help="offline: 'crictl pods -o json' output")
    containers.add_argument(
        "--pods",
        metavar="FILE",
        help="'kubectl get pods -o json' of the node: pods missing from it count as deleted",
    )
    containers.add_argument(
        "--trigger",
        choices=["periodic", "eviction"],
        default="periodic",
        help="eviction also removes every container of terminated pods (default: periodic)",
    )
    containers.add_argument(
        "--pod-log-dir",
        default=DEFAULT_POD_LOG_DIR,
        metavar="DIR",
        help=f"live: the kubelet's pod log directory (default: {DEFAULT_POD_LOG_DIR})",
    )
    _add_common(containers)
    add_policy_arguments(containers)
    add_output_option(containers)
    containers.set_defaults(handler=run_containers)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--now", metavar="TIME", help="simulated time in RFC 3339 (default: the current time)"
    )


# ---------------------------------------------------------------------------------------------
# gc images


def run_images(args: argparse.Namespace) -> int:
    from simulator.policy.load import policy_from_args

    policy = policy_from_args(args)
    now = _now(args)
    notes: list[str] = [f"policy: {warning}" for warning in policy.warnings]
    images, containers, image_fs = _image_inputs(args, notes)
    notes.extend(unknown_image_references(images, containers))

    detector = _detector(args, policy.kubelet_version, now, notes)
    detector.detect(images, containers, now)
    if args.state is None:
        for record in detector.records.values():
            record.first_detected = None

    if args.trigger == "eviction":
        result = plan_delete_unused_images(detector, policy.image_gc, now, image_fs=image_fs)
    else:
        result = plan_image_gc(detector, policy.image_gc, now, image_fs, feature_gates=policy.feature_gates)
    if image_fs is None and args.images is not None and args.trigger == "periodic":
        # Missing input is not the kubelet's stats failure, so no kubelet error is reported.
        result.error = None
    result.notes[:0] = notes
    emit(result.to_json(), args.output, render_images)
    return 0


def _image_inputs(
    args: argparse.Namespace, notes: list[str]
) -> tuple[list[ImageInfo], list[ContainerInfo], Any]:
    image_fs = _image_fs_from_summary(args.summary) if args.summary else None
    if args.images is not None:
        loaded = load_images(args.images)
        notes.extend(loaded.notes)
        containers: list[ContainerInfo] = []
        if args.containers is not None:
            containers = load_containers(args.containers).containers
            if loaded.keyed_by_name:
                containers = match_by_image_name(loaded.images, containers)
                notes.append(
                    "containers matched to Node status images by image name, because a Node lists no ids"
                )
        else:
            notes.append("no --containers: no image counts as in use")
        if image_fs is None and args.summary:
            notes.append(
                "the Summary has no node.runtime.imageFs: image filesystem usage unknown, "
                "so the threshold pass cannot run"
            )
        elif image_fs is None:
            notes.append("no --summary: image filesystem usage unknown, so the threshold pass cannot run")
        return loaded.images, containers, image_fs
    if args.containers is not None:
        raise InputError(
            "--containers needs --images: give both files for an offline run, or neither for a live one"
        )
    return _live_image_inputs(args, image_fs)


def _live_image_inputs(
    args: argparse.Namespace, image_fs: Any
) -> tuple[list[ImageInfo], list[ContainerInfo], Any]:
    from simulator.cli.snapshot import open_cri_client
    from simulator.probes.fsinfo import FsInfoProbe
    from simulator.probes.mountinfo import MountTable
    from simulator.probes.sampler import Sampler

    with open_cri_client(args) as cri:
        images = images_from_cri(cri.list_images())
        containers = containers_from_cri(cri.list_containers())
        if image_fs is None:
            sampler = Sampler(cri, FsInfoProbe(MountTable.from_file(args.mountinfo)), root_dir=args.root_dir)
            image_fs = sampler.sample().node.image_fs
    return images, containers, image_fs


def _image_fs_from_summary(path: str) -> FsStats | None:
    summary = Summary.from_json(read_document(path, option="--summary"), source=path)
    return summary.node.image_fs


def _detector(args: argparse.Namespace, version: str, now: dt.datetime, notes: list[str]) -> ImageDetector:
    if args.state is None:
        notes.append(
            "no --state: every image counts as older than the minimum age, and images not in use now "
            "count as never used, which the max-age pass treats as older than any max age"
        )
        return ImageDetector(version, kubelet_start=EPOCH)
    detector = read_state_file(args.state)
    if detector.kubelet_version != version:
        notes.append(f"state file was written for kubelet {detector.kubelet_version}; simulating {version}")
        detector.kubelet_version = version
    return detector


def render_images(document: dict[str, Any]) -> str:
    """Summary lines, then one row per image in the order the kubelet would consider them."""
    lines = [f"trigger: {document['trigger']}   kubelet: {document['kubeletVersion']}"]
    if not document["ran"]:
        lines.append(document["disabledReason"])
    else:
        if document["trigger"] == "eviction_reclaim":
            # The eviction manager's DeleteUnusedImages has no watermarks: it removes every
            # eligible image, so the target is unlimited and a shortfall does not apply.
            watermarks = "high/low: not used (eviction reclaim removes every eligible image)"
        else:
            watermarks = f"high/low: {document['highThresholdPercent']}/{document['lowThresholdPercent']}"
        lines.append(
            f"usage: {_text(document['usagePercent'], '%')}   {watermarks}   target: {document['targetBytes']}"
            f"   freed: {document['bytesFreed']}   shortfall: {document['shortfallBytes']}"
        )
        lines.append(
            f"image bytes: {document['imagesBytes']}   non-image bytes: {_text(document['nonImageBytes'])}"
        )
    rows = [
        [c["name"], c["sizeBytes"], c["lastUsed"] or "never", c["firstDetected"] or "unknown", c["outcome"]]
        for c in document["candidates"]
    ]
    out = (
        "\n".join(lines)
        + "\n\n"
        + format_table(["IMAGE", "SIZE", "LAST USED", "FIRST DETECTED", "OUTCOME"], rows)
    )
    if document["error"]:
        out += f"\nerror ({document['eventReason'] or 'no event'}): {document['error']}\n"
    return out + _render_notes(document["notes"])


# ---------------------------------------------------------------------------------------------
# gc containers


def run_containers(args: argparse.Namespace) -> int:
    from simulator.policy.load import policy_from_args

    policy = policy_from_args(args)
    now = _now(args)
    notes: list[str] = [f"policy: {warning}" for warning in policy.warnings]
    containers, sandboxes, usage, log_dirs = _container_inputs(args, notes)
    api_uids = _pod_uids(args.pods) if args.pods else None
    if api_uids is None:
        notes.append(
            "no --pods: no pod counts as deleted; pods whose sandboxes are all not ready count as terminated"
        )
    pod_states = infer_pod_states(sandboxes, api_uids)
    result = plan_container_gc(
        containers,
        sandboxes,
        policy.container_gc,
        now,
        pod_states=pod_states,
        evict_terminated_pods=args.trigger == "eviction",
        usage=usage,
        pod_log_dir_bytes=log_dirs,
    )
    result.notes[:0] = notes
    emit(result.to_json(), args.output, render_containers)
    return 0


def _container_inputs(
    args: argparse.Namespace, notes: list[str]
) -> tuple[list[ContainerInfo], list[SandboxInfo], dict[str, ContainerUsage], dict[str, int]]:
    if args.containers is not None:
        containers = load_containers(args.containers).containers
        sandboxes = load_sandboxes(args.sandboxes).sandboxes if args.sandboxes else []
        if not args.sandboxes:
            notes.append("no --sandboxes: sandboxes are not simulated")
        return containers, sandboxes, {}, {}
    if args.sandboxes is not None:
        raise InputError(
            "--sandboxes needs --containers: give both files for an offline run, or neither for a live one"
        )
    from simulator.cli.snapshot import open_cri_client
    from simulator.probes.pods import container_log_bytes, pod_log_dir_bytes

    with open_cri_client(args) as cri:
        containers = containers_from_cri(cri.list_containers())
        sandboxes = sandboxes_from_cri(cri.list_pod_sandboxes())
        stats = cri.list_container_stats()
    log_root = Path(args.pod_log_dir)
    usage = {}
    for stat in stats:
        layer = (
            stat.writable_layer.used_bytes if stat.writable_layer and stat.writable_layer.used_bytes else 0
        )
        usage[stat.id] = ContainerUsage(writable_layer_bytes=layer)
    for container in containers:
        logs = container_log_bytes(log_root, container)
        current = usage.get(container.id, ContainerUsage())
        usage[container.id] = ContainerUsage(current.writable_layer_bytes, logs)
    return containers, sandboxes, usage, pod_log_dir_bytes(log_root, sandboxes)


def _pod_uids(path: str) -> set[str]:
    document = read_document(path, option="--pods")
    items = document.get("items") if isinstance(document, dict) else None
    if not isinstance(items, list):
        raise InputError(
            "not a pod list: expected 'kubectl get pods -o json' output with 'items'", source=path
        )
    return {str(((item or {}).get("metadata") or {}).get("uid") or "") for item in items}


def render_containers(document: dict[str, Any]) -> str:
    """Totals, then one row per container and per sandbox."""
    head = (
        f"trigger: {document['trigger']}   containers removed: {document['containersRemoved']}   sandboxes "
        f"removed: {document['sandboxesRemoved']}   bytes freed: {document['bytesFreed']}\n\n"
    )
    rows = [
        [c["pod"], c["container"], c["attempt"], c["state"], c["createdAt"], c["outcome"]]
        for c in document["containers"]
    ]
    out = head + format_table(["POD", "CONTAINER", "ATTEMPT", "STATE", "CREATED", "OUTCOME"], rows)
    if document["sandboxes"]:
        sandbox_rows = [
            [s["pod"], s["attempt"], s["state"], s["createdAt"], s["outcome"]] for s in document["sandboxes"]
        ]
        out += "\n" + format_table(["POD", "ATTEMPT", "SANDBOX STATE", "CREATED", "OUTCOME"], sandbox_rows)
    return out + _render_notes(document["notes"])


# ---------------------------------------------------------------------------------------------


def _now(args: argparse.Namespace) -> dt.datetime:
    if args.now:
        return parse_time(args.now, field="--now")
    return dt.datetime.now(UTC)


def _text(value: Any, suffix: str = "") -> str:
    return "unknown" if value is None else f"{value}{suffix}"


def _render_notes(notes: list[str]) -> str:
    if not notes:
        return ""
    return "\nNotes:\n" + "".join(f"- {note}\n" for note in notes)
