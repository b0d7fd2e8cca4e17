"""Bytes that node-level reclaim would free per signal, from the sample's Reclaimer.

Before it evicts, the kubelet runs container GC, image GC or both, depending on the signal and
the filesystem layout (``simulator.engine.eviction.reclaim_steps_for``). Each step frees bytes
on the filesystems that ``simulator.engine.reclaim.freed_sections`` names.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Mapping
from typing import Any

from simulator.engine.eviction import reclaim_steps_for
from simulator.engine.reclaim import freed_sections
from simulator.signals import FsLayout, Signal

_SECTION_OF_SIGNAL = {
    Signal.NODEFS_AVAILABLE: "fs",
    Signal.IMAGEFS_AVAILABLE: "image_fs",
    Signal.CONTAINERFS_AVAILABLE: "container_fs",
}


def private_reclaimer(reclaimer: Any) -> Any:
    """Return a copy of a stateful Reclaimer so concurrent what-ifs do not share its state."""
    return copy.deepcopy(reclaimer) if reclaimer is not None else None


def reclaimable_bytes(reclaimer: Any, layout: FsLayout, now: dt.datetime) -> dict[Signal, int]:
    """Return, per filesystem byte signal with reclaim steps, the bytes those steps would free.

    Signals without reclaim steps in ``layout`` are left out; with no reclaimer every step
    frees 0 bytes. Inode signals are left out because reclaim steps report bytes only.
    """
    freed_by_step: dict[str, int] = {}
    if reclaimer is not None:
        own = private_reclaimer(reclaimer)
        freed_by_step["containerGC"] = own.delete_unused_containers(now).bytes_freed
        freed_by_step["imageGC"] = own.delete_unused_images(now).bytes_freed
    result: dict[Signal, int] = {}
    for signal, section in _SECTION_OF_SIGNAL.items():
        steps = reclaim_steps_for(signal, layout)
        if not steps:
            continue
        result[signal] = sum(
            freed_by_step.get(step, 0) for step in steps if section in freed_sections(layout, step)  # type: ignore[arg-type]
        )
    return result


def sample_reclaimable(sample_bytes: Mapping[Signal, int] | None, reclaimer: Any, layout: FsLayout, now: dt.datetime) -> dict[Signal, int]:
    """Prefer the sample's own reclaimable bytes; otherwise compute them from its reclaimer."""
    if sample_bytes is not None:
        return dict(sample_bytes)
    return reclaimable_bytes(reclaimer, layout, now)
