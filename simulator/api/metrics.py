"""Prometheus metrics of the daemon's latest decision, served on ``--metrics-listen``.

Label names follow the kubelet's own metrics: ``eviction_signal`` (as in
kubelet_evictions) and ``reason``. Gauges describe the latest sample; counters count samples
in which the kubelet would have evicted or run image GC.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable

import prometheus_client
import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge

from simulator.api.decision import DecisionView, headroom_inputs
from simulator.api.headroom import node_headroom
from simulator.api.live import Sample
from simulator.api.reclaim import sample_reclaimable
from simulator.signals import NodeCondition

log = structlog.get_logger(__name__).bind(component="api.metrics")


def is_replayed(sample: Sample) -> bool:
    """Report whether ``sample`` came from a recording: the daemon sets origin "live" for live samples."""
    origin = sample.provenance.get("origin")
    return origin is not None and origin != "live"


class Metrics:
    """The metric families, in their own registry so tests and several daemons do not collide."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.signal_available = Gauge(
            "evictsim_signal_available", "Observed available amount per eviction signal (bytes, inodes or pids).",
            ["eviction_signal"], registry=r,
        )
        self.signal_capacity = Gauge(
            "evictsim_signal_capacity", "Capacity per eviction signal that percentage thresholds refer to.",
            ["eviction_signal"], registry=r,
        )
        self.threshold = Gauge(
            "evictsim_threshold", "Resolved eviction threshold per signal; met when available is below it.",
            ["eviction_signal", "kind"], registry=r,
        )
        self.node_condition = Gauge(
            "evictsim_node_condition", "1 when the simulated kubelet would report the node condition, else 0.",
            ["condition"], registry=r,
        )
        self.headroom = Gauge(
            "evictsim_headroom", "Extra usage until the first pod eviction, per signal (bytes, inodes or pids).",
            ["eviction_signal"], registry=r,
        )
        self.would_evict = Counter(
            "evictsim_would_evict", "Samples in which the kubelet would evict a pod.",
            ["eviction_signal", "reason"], registry=r,
        )
        self.would_gc = Counter(
            "evictsim_would_image_gc", "Samples in which periodic image GC would run.", ["reason"], registry=r,
        )
        self.sample_age = Gauge(
            "evictsim_sample_age_seconds",
            "Seconds since the latest sample was taken; during a replay, seconds since it was published.",
            registry=r,
        )
        self.runtime_errors = Counter(
            "evictsim_runtime_errors", "Failed container runtime or probe calls.", ["kind"], registry=r,
        )
        self.requests = Counter(
            "evictsim_api_requests", "What-if API requests by RPC and status code.", ["rpc", "code"], registry=r,
        )
        self._last_sampled_at: dt.datetime | None = None
        self._last_published_monotonic: float | None = None
        self._last_replayed = False
        self._lock = threading.Lock()
        self.sample_age.set_function(self._sample_age)

    def _sample_age(self) -> float:
        """Return the latest sample's age: wall clock minus its time, or time since publish in a replay.

        A replayed sample carries the recording's time, which can be months old, so its age
        on the wall clock does not show whether the replay is still publishing. The replay's own clock starts when
        the sample is published.
        """
        sampled_at = self._last_sampled_at
        if sampled_at is None:
            return float("nan")
        if self._last_replayed and self._last_published_monotonic is not None:
            return max(0.0, time.monotonic() - self._last_published_monotonic)
        return max(0.0, (dt.datetime.now(dt.UTC) - sampled_at).total_seconds())

    def record_request(self, rpc: str, code: str) -> None:
        self.requests.labels(rpc=rpc, code=code).inc()

    def record_runtime_error(self, kind: str) -> None:
        self.runtime_errors.labels(kind=kind).inc()

    def update(self, sample: Sample, view: DecisionView) -> None:
        """Set the gauges from one sample's decision and count would-evict and would-GC."""
        with self._lock:
            self._last_sampled_at = sample.sampled_at
            self._last_published_monotonic = time.monotonic()
            self._last_replayed = is_replayed(sample)
            for signal, observation in view.observations.items():
                self.signal_available.labels(eviction_signal=signal.value).set(observation.available)
                self.signal_capacity.labels(eviction_signal=signal.value).set(observation.capacity)
            for result in view.thresholds:
                kind = "hard" if result.threshold.hard else "soft"
                self.threshold.labels(eviction_signal=result.threshold.signal.value, kind=kind).set(result.amount)
            for condition in NodeCondition:
                self.node_condition.labels(condition=condition.value).set(
                    1 if condition.value in view.node_conditions else 0
                )
            reclaimable = sample_reclaimable(sample.reclaimable_bytes, sample.reclaimer, view.layout, sample.sampled_at)
            inputs = headroom_inputs(view, sample.policy, reclaimable)
            for entry in node_headroom(view.observations, inputs, {}):
                eviction = next((c for c in entry.crossings if c.event == "eviction"), None)
                if eviction is not None:
                    self.headroom.labels(eviction_signal=entry.signal.value).set(eviction.amount)
            if view.reclaim_signal is not None:
                reason = "Evicted" if view.victims else "EvictionThresholdMet"
                self.would_evict.labels(eviction_signal=view.reclaim_signal.value, reason=reason).inc()
            if view.image_gc_would_run:
                self.would_gc.labels(reason="HighThresholdExceeded").inc()

    def subscriber(self, decide: Callable[[Sample], DecisionView]) -> Callable[[Sample], None]:
        """Return a LiveState subscriber that updates these metrics after each publish."""

        def on_sample(sample: Sample) -> None:
            self.update(sample, decide(sample))

        return on_sample

    def serve(self, address: str) -> tuple[object, object]:
        """Serve /metrics on ``host:port``; return the (server, thread) pair to shut down."""
        host, _, port = address.rpartition(":")
        host = host.strip("[]") or "127.0.0.1"
        server, thread = prometheus_client.start_http_server(int(port), addr=host, registry=self.registry)
        log.info("metrics_listening", address=address)
        return server, thread
