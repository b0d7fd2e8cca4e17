"""``evictsim explain imagefs``: the kubelet's imageFs chain in numbered steps, next to what df prints."""

from __future__ import annotations

import argparse
from typing import Any

from simulator.cli.output import add_output_option, emit
from simulator.cli.snapshot import add_live_options, open_cri_client
from simulator.explain import add_runtime_dirs, explain_image_fs, render_text
from simulator.probes.fsinfo import FsInfoProbe
from simulator.probes.mountinfo import MountTable


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "explain",
        help="explain how the kubelet computes a filesystem's numbers",
        description="Walk the kubelet's chain for a filesystem step by step, with each step's numbers, and show "
        "what df -B1 and df -B KB print for the same filesystem. For containerd, also warn about runtime "
        "directories on a filesystem that is neither imagefs nor nodefs, which the kubelet never monitors.",
    )
    parser.add_argument("filesystem", choices=["imagefs"], help="the filesystem to explain")
    add_live_options(parser)
    add_output_option(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    mount_table = MountTable.from_file(args.mountinfo)
    with open_cri_client(args) as cri:
        probe = FsInfoProbe(mount_table)
        explanation = explain_image_fs(cri, probe, root_dir=args.root_dir)
        add_runtime_dirs(explanation, cri, probe, root_dir=args.root_dir)
    emit(explanation.to_json(), args.output, lambda _document: render_text(explanation))
    return 0
