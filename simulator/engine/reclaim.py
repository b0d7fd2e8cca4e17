"""The seam between the eviction manager and the image and container garbage collectors.

Before it evicts a pod for a filesystem signal, the kubelet's eviction manager has the
container runtime delete unused containers and unused images (node-level reclaim). The
engine reaches those collectors only through the :class:`Reclaimer` protocol defined here, so
the GC models can be built and tested on their own.

After reclaim the kubelet fetches a fresh Summary and re-evaluates every threshold. A
simulator has no fresh Summary, so :func:`summary_after_reclaim` models it: the current
Summary with each filesystem's ``availableBytes`` raised by the bytes the steps freed on that
filesystem (capped at its capacity). Which filesystem a step frees depends on the layout:

===================  ==============================  ===========================
layout               containerGC frees               imageGC frees
===================  ==============================  ===========================
single               nodefs (= imagefs, containerfs)  the same filesystem
dedicated-imagefs    imagefs and containerfs          imagefs and containerfs
split                nodefs and containerfs           imagefs
===================  ==============================  ===========================

Inode counts are not raised, because a ReclaimStep reports bytes only.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any, Literal, Protocol, runtime_checkable

from simulator.signals import FsLayout
from simulator.snapshot import FsStats, Summary

ReclaimStepName = Literal["containerGC", "imageGC"]

# Note added to a decision when reclaim is modelled by NoReclaim.
NO_RECLAIM_NOTE = "reclaim modelled as freeing nothing"


@dataclasses.dataclass(frozen=True, slots=True)
class ReclaimStep:
    """One node-level reclaim function the eviction manager ran, and what it freed."""

    step: ReclaimStepName
    bytes_freed: int
    # A plain dict, or a Mapping that builds its content on first access (the GC reclaimer's).
    details: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        details = self.details if isinstance(self.details, dict) else dict(self.details)
        return {"step": self.step, "bytesFreed": self.bytes_freed, "details": details}


@runtime_checkable
class Reclaimer(Protocol):
    """Node-level reclaim as the eviction manager calls it.

    ``delete_unused_containers`` is container GC that also removes every container of
    terminated pods; ``delete_unused_images`` is image GC with an unlimited byte target.
    Both take the simulated time and must not read the wall clock.
    """

    def delete_unused_containers(self, now: dt.datetime) -> ReclaimStep: ...

    def delete_unused_images(self, now: dt.datetime) -> ReclaimStep: ...


class NoReclaim:
    """A Reclaimer that frees nothing, used until real GC inputs are available."""

    note = NO_RECLAIM_NOTE

    def delete_unused_containers(self, now: dt.datetime) -> ReclaimStep:
        return ReclaimStep("containerGC", 0, {"model": NO_RECLAIM_NOTE})

    def delete_unused_images(self, now: dt.datetime) -> ReclaimStep:
        return ReclaimStep("imageGC", 0, {"model": NO_RECLAIM_NOTE})


# The Summary sections (NodeStats attribute names) that each step frees, per layout.
_FREED_SECTIONS: dict[FsLayout, dict[str, tuple[str, ...]]] = {
    FsLayout.SINGLE: {
        "containerGC": ("fs", "image_fs", "container_fs"),
        "imageGC": ("fs", "image_fs", "container_fs"),
    },
    FsLayout.DEDICATED_IMAGEFS: {
        "containerGC": ("image_fs", "container_fs"),
        "imageGC": ("image_fs", "container_fs"),
    },
    FsLayout.SPLIT: {
        "containerGC": ("fs", "container_fs"),
        "imageGC": ("image_fs",),
    },
}


def freed_sections(layout: FsLayout, step: ReclaimStepName) -> tuple[str, ...]:
    """Return the NodeStats filesystem attributes whose available bytes ``step`` raises."""
    return _FREED_SECTIONS[layout][step]


def summary_after_reclaim(summary: Summary, steps: list[ReclaimStep], layout: FsLayout) -> Summary:
    """Return a copy of ``summary`` as it would look after ``steps`` freed their bytes.

    The input is not changed. A section that is absent, or has no available bytes, stays as
    it is. Available bytes never exceed the section's capacity when the capacity is known.
    """
    freed: dict[str, int] = {}
    for step in steps:
        for section in freed_sections(layout, step.step):
            freed[section] = freed.get(section, 0) + max(step.bytes_freed, 0)
    if not any(freed.values()):
        return summary

    result = copy.copy(summary)
    result.node = copy.copy(summary.node)
    for section, amount in freed.items():
        stats: FsStats | None = getattr(result.node, section)
        if stats is None or stats.available_bytes is None or amount == 0:
            continue
        raised = stats.available_bytes + amount
        if stats.capacity_bytes is not None:
            raised = min(raised, stats.capacity_bytes)
        setattr(result.node, section, dataclasses.replace(stats, available_bytes=raised))
    return result
