"""The daemon's latest sample, shared between the sampling thread and request threads.

The daemon calls :meth:`LiveState.publish` once per pass. A sample is immutable once published
and the latest one is swapped in with a single reference assignment, so a request that called
:meth:`LiveState.read` keeps a consistent sample even while newer ones arrive.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Callable, Mapping
from typing import Any

import structlog

from simulator.api.history import HistoryPoint, HistoryRing, SqliteHistory
from simulator.api.observe import SignalObservation, observe_signals
from simulator.policy.model import Policy
from simulator.signals import FsLayout, Signal
from simulator.snapshot import Summary

log = structlog.get_logger(__name__).bind(component="api.live")


@dataclasses.dataclass(frozen=True)
class Sample:
    """One sampling pass of the daemon. Treat every field as read-only once published.

    ``decision`` and ``gc`` are the engine's results for this pass (``None`` when the daemon did
    not evaluate). ``kubelet_config`` is the KubeletConfiguration document the policy was loaded
    from, which what-if policy patches apply to. ``reclaimable_bytes`` is, per filesystem signal,
    what node-level reclaim would free now; ``None`` means it was not computed. ``reclaimer``
    is a ``simulator.engine.reclaim.Reclaimer`` over this sample's images and containers that
    what-ifs may call; ``None`` models reclaim as freeing nothing. ``image_fs_explanation`` is
    ``simulator.explain.ImageFsExplanation.to_json()`` when the daemon computed it.
    ``manager_state`` is a copy of the daemon's ``simulator.engine.eviction.ManagerState`` after
    this pass. What-ifs continue from a copy of it, so the pressure transition period and grace
    periods already running apply. ``None`` makes what-ifs start from a fresh state.
    """

    summary: Summary
    policy: Policy
    sampled_at: dt.datetime
    pods: tuple[Any, ...] = ()
    images: tuple[Any, ...] = ()
    decision: Any = None
    gc: Any = None
    provenance: Mapping[str, str] = dataclasses.field(default_factory=dict)
    kubelet_config: Mapping[str, Any] | None = None
    layout: FsLayout | None = None
    reclaimable_bytes: Mapping[Signal, int] | None = None
    node_conditions: tuple[str, ...] | None = None
    reclaimer: Any = None
    image_fs_explanation: Mapping[str, Any] | None = None
    manager_state: Any = None
    sequence: int = 0
    observations: Mapping[Signal, SignalObservation] = dataclasses.field(default_factory=dict)


Subscriber = Callable[[Sample], None]


class LiveState:
    """The latest sample, a bounded history of points and change notifications for watchers."""

    def __init__(self, *, history: HistoryRing | None = None, store: SqliteHistory | None = None) -> None:
        self.history = history if history is not None else HistoryRing()
        self.store = store
        self._latest: Sample | None = None
        self._sequence = 0
        self._changed = threading.Condition()
        self._subscribers: list[Subscriber] = []
        self._error_handlers: list[Callable[[str], None]] = []
        if store is not None:
            self.attach_store(store)

    def attach_store(self, store: SqliteHistory) -> None:
        """Persist future points in ``store`` and load its points within the retention period."""
        cutoff = dt.datetime.now(dt.UTC).timestamp() - self.history.retention_s
        self.history.extend(store.load(since=cutoff))
        self.store = store

    def publish(self, sample: Sample) -> Sample:
        """Make ``sample`` the latest; return it with its sequence number and observations set."""
        with self._changed:
            self._sequence += 1
            observations = sample.observations or observe_signals(sample.summary)
            published = dataclasses.replace(sample, sequence=self._sequence, observations=observations)
            self._latest = published
            self._changed.notify_all()
            subscribers = list(self._subscribers)

        point = HistoryPoint.from_observations(
            published.sampled_at.timestamp(), published.sequence, observations, published.node_conditions or ()
        )
        self.history.append(point)
        if self.store is not None:
            self.store.append(point)
        for subscriber in subscribers:
            try:
                subscriber(published)
            except Exception as error:  # a broken subscriber must not stop sampling
                log.error("subscriber_failed", error=str(error), subscriber=repr(subscriber))
        return published

    def read(self) -> Sample | None:
        """Return the latest sample, or None before the first publish."""
        return self._latest

    def wait_for_newer(self, sequence: int, timeout_s: float) -> Sample | None:
        """Block until a sample newer than ``sequence`` exists or ``timeout_s`` passes."""
        with self._changed:
            self._changed.wait_for(
                lambda: self._latest is not None and self._latest.sequence > sequence, timeout=timeout_s
            )
            latest = self._latest
        if latest is not None and latest.sequence > sequence:
            return latest
        return None

    def record_runtime_error(self, kind: str) -> None:
        """Count one failed runtime or probe call (for example ``cri_unavailable``) in the metrics."""
        for handler in list(self._error_handlers):
            handler(kind)

    def on_runtime_error(self, handler: Callable[[str], None]) -> None:
        """Call ``handler(kind)`` for each record_runtime_error."""
        with self._changed:
            self._error_handlers.append(handler)

    def subscribe(self, subscriber: Subscriber) -> None:
        """Call ``subscriber(sample)`` on the publishing thread after each publish."""
        with self._changed:
            self._subscribers.append(subscriber)

    def wake_watchers(self) -> None:
        """Wake every waiting watcher, for example at shutdown."""
        with self._changed:
            self._changed.notify_all()
