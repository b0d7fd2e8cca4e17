"""The engine side of one daemon tick: the eviction manager's pass and the GC models on their periods.

:class:`NodeEvaluator` keeps the engine's state across ticks (the eviction manager's state and
the image detector's records) and decides the filesystem layout on the first sample, as the
kubelet does. It runs image GC and container GC only when their periods are due. Periods are
measured on the sample's clock, so a replay runs on the recording's own time.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from simulator.daemon.events import filesystem_of
from simulator.engine.containergc import ContainerUsage, infer_pod_states, plan_container_gc
from simulator.engine.eviction import EvictionManager, ManagerState
from simulator.engine.gc_reclaimer import GCReclaimer
from simulator.engine.imagegc import DETECTION_PERIOD_S, ImageGCSimulator
from simulator.engine.images import ContainerInfo, ImageInfo, SandboxInfo
from simulator.scenario import infer_layout as infer_layout_from_sizes
from simulator.signals import FsLayout
from simulator.snapshot import Summary


@dataclasses.dataclass(frozen=True, slots=True)
class GcInputs:
    """The runtime's lists that the garbage collectors read: images, containers, sandboxes.

    ``usage`` maps container ids to the bytes their removal would free (writable layer and
    logs). A recorded Summary has none of this, so its samples carry ``None``.
    """

    images: Sequence[ImageInfo] = ()
    containers: Sequence[ContainerInfo] = ()
    sandboxes: Sequence[SandboxInfo] = ()
    usage: Mapping[str, ContainerUsage] | None = None
    pod_log_dir_bytes: Mapping[str, int] | None = None


# The start assumed for a kubelet that cannot be seen: long enough ago that every image
# found at the first detection is older than any imageMinimumGCAge.
UNKNOWN_KUBELET_START = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

KubeletStartProbe = Callable[[], dt.datetime | None]


@dataclasses.dataclass(frozen=True, slots=True)
class ImageDetectionStart:
    """The start time given to the images present at the daemon's first detection.

    ``kubelet_start`` is the kubelet process's start time, or ``None`` when no kubelet was
    visible and every image counts as older than the minimum age.
    """

    kubelet_start: dt.datetime | None
    images: int


@dataclasses.dataclass(slots=True)
class Evaluation:
    """The engine's results for one sample, as JSON-ready dicts.

    ``image_gc`` and ``container_gc`` are ``None`` on ticks where their period was not due.
    """

    decision: dict[str, Any]
    image_gc: dict[str, Any] | None = None
    container_gc: dict[str, Any] | None = None


def infer_layout(summary: Summary) -> tuple[FsLayout, bool]:
    """Return the filesystem layout and whether it was inferred from sizes rather than devices.

    The kubelet decides once, on its first successful pass: imagefs is dedicated when its
    device differs from the root directory's, and split when the runtime reports a separate
    containerFs. With device provenance (live samples, recordings written by evictsim) the
    devices decide. A kubelet Summary has only sizes, so the size rule of
    ``evictsim evaluate`` applies (:func:`simulator.scenario.infer_layout`).
    """
    if summary.node.image_fs is None:
        return FsLayout.SINGLE, True
    root_device = filesystem_of(summary, "nodefs.available")["device"]
    image_device = filesystem_of(summary, "imagefs.available")["device"]
    container_device = filesystem_of(summary, "containerfs.available")["device"]
    if not (root_device and image_device and container_device):
        layout, _reason = infer_layout_from_sizes(summary)
        return layout, True

    if image_device != container_device:
        return FsLayout.SPLIT, False
    if root_device == image_device:
        return FsLayout.SINGLE, False
    return FsLayout.DEDICATED_IMAGEFS, False


class NodeEvaluator:
    """The eviction manager and the image and container GC models, with their state across ticks."""

    def __init__(
        self,
        policy: Any,
        *,
        pods: Sequence[Any] | None = None,
        image_gc_period_s: float,
        container_gc_period_s: float,
        reclaimer: Any = None,
        layout: FsLayout | None = None,
        kubelet_start_probe: KubeletStartProbe | None = None,
    ) -> None:
        """``kubelet_start_probe`` (live samples) returns the kubelet's start time or ``None``.

        With it, images found at the first detection are dated from the kubelet's start, since
        the kubelet's own records begin then, and without a visible kubelet they count as
        older than the minimum age. Without a probe (replays) they are dated from the first sample.
        """
        self.policy = policy
        self.kubelet_start_probe = kubelet_start_probe
        self.image_detection_start: ImageDetectionStart | None = None
        self.fixed_layout = layout
        self.pods = list(pods) if pods is not None else None
        self.image_gc_period_s = image_gc_period_s
        self.container_gc_period_s = container_gc_period_s
        self.reclaimer = reclaimer
        self.manager: EvictionManager | None = None
        self.image_gc: ImageGCSimulator | None = None
        self.layout: FsLayout | None = None
        self._gc_reclaimer: Any = None
        self._last_image_gc: dt.datetime | None = None
        self._last_detection: dt.datetime | None = None
        self._last_container_gc: dt.datetime | None = None

    def evaluate(self, summary: Summary, now: dt.datetime, gc_inputs: GcInputs | None = None) -> Evaluation:
        """Run the eviction manager's pass at ``now``, and each GC model when its period is due.

        With ``gc_inputs`` (a live sample) node-level reclaim uses the GC models over the
        runtime's images and containers. Without them it frees nothing, unless a reclaimer was
        given, and the decision's notes record that.
        """
        if self.manager is None or self.image_gc is None:
            self._start(summary, now, with_gc_reclaimer=gc_inputs is not None)
        assert self.manager is not None and self.image_gc is not None

        # the runtime's lists as the kubelet's image manager and container GC see them
        pod_states = None
        if gc_inputs is not None:
            # The kubelet's image manager detects images every 5 minutes (and at each GC run),
            # not every sync, so a new image's firstDetected can lag its pull by that much.
            if _is_due(self._last_detection, now, DETECTION_PERIOD_S):
                first = self._last_detection is None
                self._last_detection = now
                self.image_gc.detect(gc_inputs.images, gc_inputs.containers, now)
                if first and self.kubelet_start_probe is not None:
                    self._date_first_detection(now)
            else:
                self.image_gc.images = list(gc_inputs.images)
                self.image_gc.containers = list(gc_inputs.containers)
            api_uids = [pod.uid for pod in self.pods] if self.pods is not None else None
            pod_states = infer_pod_states(gc_inputs.sandboxes, api_uids)
            if isinstance(self._gc_reclaimer, GCReclaimer):
                self._gc_reclaimer.containers = list(gc_inputs.containers)
                self._gc_reclaimer.sandboxes = list(gc_inputs.sandboxes)
                self._gc_reclaimer.pod_states = dict(pod_states)
                self._gc_reclaimer.usage = dict(gc_inputs.usage or {})
                self._gc_reclaimer.image_fs = summary.node.image_fs

        evaluation = Evaluation(decision=self.manager.synchronize(summary, self.pods, now).to_json())

        # the garbage collectors run at start and then every period, like the kubelet's wait.Until loops
        if _is_due(self._last_image_gc, now, self.image_gc_period_s):
            self._last_image_gc = now
            evaluation.image_gc = self._plan_image_gc(summary, now, known_images=gc_inputs is not None)
        if gc_inputs is not None and _is_due(self._last_container_gc, now, self.container_gc_period_s):
            self._last_container_gc = now
            result = plan_container_gc(
                gc_inputs.containers,
                gc_inputs.sandboxes,
                self.policy.container_gc,
                now,
                pod_states=pod_states,
                usage=gc_inputs.usage,
                pod_log_dir_bytes=gc_inputs.pod_log_dir_bytes,
            )
            evaluation.container_gc = result.to_json()
        return evaluation

    def _date_first_detection(self, now: dt.datetime) -> None:
        """Date the images found at the first detection from the kubelet's start, as its own records are."""
        assert self.image_gc is not None and self.kubelet_start_probe is not None
        detector = self.image_gc.detector
        started = self.kubelet_start_probe()
        if started is not None and started > now:
            started = None
        # beganGC is the kubelet's start too, which the max-age pass's uptime rule reads
        detector.kubelet_start = started if started is not None else UNKNOWN_KUBELET_START
        for record in detector.records.values():
            if record.first_detected is not None:
                # None stays: versions up to 1.29 record the first detection as zero time
                record.first_detected = started
        self.image_detection_start = ImageDetectionStart(kubelet_start=started, images=len(detector.records))

    def reclaimer_snapshot(self) -> Any:
        """Return a deep copy of the reclaimer the eviction manager uses, or None without one."""
        if self._gc_reclaimer is None:
            return None
        return copy.deepcopy(self._gc_reclaimer)

    def manager_state_snapshot(self) -> ManagerState | None:
        """Return a copy of the eviction manager's state after the latest pass, or None before it."""
        if self.manager is None:
            return None
        state = self.manager.state
        return dataclasses.replace(
            state,
            thresholds_first_observed_at=dict(state.thresholds_first_observed_at),
            node_conditions_last_observed_at=dict(state.node_conditions_last_observed_at),
            last_observations=dict(state.last_observations),
        )

    def _start(self, summary: Summary, now: dt.datetime, *, with_gc_reclaimer: bool) -> None:
        """Set up the engine on the first sample, which fixes the layout as the kubelet's first pass does."""
        layout, inferred = (self.fixed_layout, False) if self.fixed_layout is not None else infer_layout(summary)
        image_gc = ImageGCSimulator(
            self.policy.image_gc,
            self.policy.kubelet_version,
            kubelet_start=now,
            feature_gates=self.policy.feature_gates,
        )
        reclaimer = self.reclaimer
        if reclaimer is None and with_gc_reclaimer:
            reclaimer = GCReclaimer(image_gc, self.policy.container_gc)
        manager = EvictionManager(self.policy, layout=layout, layout_inferred=inferred, reclaimer=reclaimer)
        self.layout, self.image_gc, self.manager, self._gc_reclaimer = layout, image_gc, manager, reclaimer

    def _plan_image_gc(self, summary: Summary, now: dt.datetime, *, known_images: bool) -> dict[str, Any]:
        if self.image_gc is None:
            raise RuntimeError("image GC planned before the first sample; this is a bug")
        result = self.image_gc.plan(now, summary.node.image_fs).to_json()
        image_fs = filesystem_of(summary, "imagefs.available")
        result["device"] = image_fs["device"]
        result["mountpoint"] = image_fs["mountpoint"]
        result["imagesKnown"] = known_images
        return result


def _is_due(last: dt.datetime | None, now: dt.datetime, period_s: float) -> bool:
    """Report whether a periodic task is due: at the first call, then once ``period_s`` has passed."""
    return last is None or (now - last).total_seconds() >= period_s
