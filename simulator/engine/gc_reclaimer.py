"""Node-level reclaim for the eviction manager, on top of the image GC and container GC models.

:class:`GCReclaimer` implements :class:`simulator.engine.reclaim.Reclaimer`. The eviction
manager calls ``delete_unused_containers`` and then ``delete_unused_images`` (for the signals
whose layout has both steps). As on a real node, containers the first step would remove no
longer keep their images in use during the second step, so an image referenced only by an
exited container of a terminated pod becomes deletable.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from simulator.engine.containergc import (
    ContainerGCPolicyLike,
    ContainerGCResult,
    ContainerUsage,
    PodState,
    plan_container_gc,
)
from simulator.engine.imagegc import ImageGCResult, ImageGCSimulator, plan_delete_unused_images
from simulator.engine.images import ContainerInfo, SandboxInfo
from simulator.engine.reclaim import ReclaimStep


class LazyDetails(Mapping[str, Any]):
    """A reclaim step's details, rendered by ``render`` on first access and then kept.

    Most passes are never printed, and rendering every image record's times as RFC 3339 text
    would cost more than the GC decision itself. ``render`` must read only state that stays
    unchanged after the step is returned, such as an :class:`ImageGCResult`.
    """

    __slots__ = ("_render", "_content")

    def __init__(self, render: Callable[[], dict[str, Any]]) -> None:
        self._render: Callable[[], dict[str, Any]] | None = render
        self._content: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the rendered details, rendering them on the first call."""
        if self._content is None:
            assert self._render is not None
            self._content = self._render()
            self._render = None
        return self._content

    def __getitem__(self, key: str) -> Any:
        return self.to_json()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_json())

    def __len__(self) -> int:
        return len(self.to_json())

    def __repr__(self) -> str:
        return f"LazyDetails({self.to_json()!r})"


class GCReclaimer:
    """A Reclaimer backed by simulated GC over one node's images, containers and sandboxes.

    ``image_gc`` contains the image records, and its last detection supplies the image list.
    ``containers`` and ``sandboxes`` are the runtime's lists. ``image_fs`` is only used for
    accounting. The results of the last calls stay in ``last_container_result`` and
    ``last_image_result`` for the caller's report.
    """

    def __init__(
        self,
        image_gc: ImageGCSimulator,
        container_policy: ContainerGCPolicyLike,
        *,
        containers: Iterable[ContainerInfo] = (),
        sandboxes: Iterable[SandboxInfo] = (),
        pod_states: Mapping[str, PodState] | None = None,
        usage: Mapping[str, ContainerUsage] | None = None,
        image_fs: Any = None,
    ) -> None:
        self.image_gc = image_gc
        self.container_policy = container_policy
        self.containers = list(containers)
        self.sandboxes = list(sandboxes)
        self.pod_states = dict(pod_states or {})
        self.usage = dict(usage or {})
        self.image_fs = image_fs
        self.removed_container_ids: set[str] = set()
        self.last_container_result: ContainerGCResult | None = None
        self.last_image_result: ImageGCResult | None = None

    def delete_unused_containers(self, now: dt.datetime) -> ReclaimStep:
        """Simulate container GC that also removes every container of terminated pods."""
        result = plan_container_gc(
            self.containers,
            self.sandboxes,
            self.container_policy,
            now,
            pod_states=self.pod_states,
            evict_terminated_pods=True,
            usage=self.usage,
        )
        self.removed_container_ids = {decision.container.id for decision in result.removed_containers}
        self.last_container_result = result
        return ReclaimStep("containerGC", result.bytes_freed, LazyDetails(result.to_json))

    def delete_unused_images(self, now: dt.datetime) -> ReclaimStep:
        """Simulate DeleteUnusedImages against the containers left after container reclaim."""
        remaining = [c for c in self.containers if c.id not in self.removed_container_ids]
        result = plan_delete_unused_images(
            self.image_gc.detector,
            self.image_gc.policy,
            now,
            images=self.image_gc.images,
            containers=remaining,
            image_fs=self.image_fs,
        )
        self.last_image_result = result
        return ReclaimStep("imageGC", result.bytes_freed, LazyDetails(result.to_json))
