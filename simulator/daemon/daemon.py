"""The daemon's loop: sample the node, evaluate it as the kubelet would, log what changed.

One :class:`Daemon` owns all state that lives across ticks (the eviction manager's state,
the last GC outcomes, the previous tick's view for change detection, the runtime's
reachability). :meth:`Daemon.tick` is one pass and takes its time from the injected clock
or the recorded sample, so tests drive it directly with a fake clock. :meth:`Daemon.run`
schedules ticks with APScheduler and stops cleanly on SIGTERM or SIGINT.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

import structlog
from apscheduler.events import EVENT_JOB_MAX_INSTANCES
from apscheduler.executors.base import BaseExecutor, run_job
from apscheduler.schedulers.background import BackgroundScheduler

from simulator.daemon.evaluation import GcInputs, NodeEvaluator
from simulator.daemon.events import LogEvent, TickView, build_view, diff_events
from simulator.errors import NotCriServerError, ProbeError, RuntimeUnavailableError
from simulator.replay import RecordedSampleError, RecordedSource, ReplayFinished
from simulator.snapshot import Summary, format_time

UTC = dt.UTC

# The kubelet's fixed periods (pkg/kubelet/kubelet.go, 1.27-1.35): evictionMonitoringPeriod,
# ContainerGCPeriod and ImageGCPeriod.
EVICTION_MONITORING_PERIOD_S = 10.0
CONTAINER_GC_PERIOD_S = 60.0
IMAGE_GC_PERIOD_S = 300.0

# How long a stop request waits for a tick in progress before the daemon returns anyway.
_STOP_WAIT_S = 0.2

Clock = Callable[[], dt.datetime]


def wall_clock() -> dt.datetime:
    return dt.datetime.now(UTC)


@dataclasses.dataclass(frozen=True, slots=True)
class Sample:
    """One node snapshot the daemon evaluates, with the time it stands for.

    ``origin`` is ``"live"`` or the recorded file's path. ``gc_inputs`` carries the runtime's
    images, containers and sandboxes for the GC models, or ``None`` when unknown (replay).
    ``image_fs_explanation`` is the JSON of ``evictsim explain imagefs`` for a live sample.
    """

    summary: Summary
    time: dt.datetime
    origin: str
    gc_inputs: GcInputs | None = None
    image_fs_explanation: dict[str, Any] | None = None


class SampleSource(Protocol):
    """The source of the daemon's snapshots: the live probes or a recording."""

    description: str

    def next_sample(self, now: dt.datetime) -> Sample:
        """Return a snapshot; raise ProbeError when the node cannot be sampled, ReplayFinished at the end."""
        ...

    def close(self) -> None: ...


class ReplaySource:
    """A :class:`SampleSource` over a :class:`RecordedSource`.

    A recorded file without timestamps stands for ``now``. A scenario with images gives the
    GC models those images and containers. A bad file raises
    RecordedSampleError, which the daemon logs before asking for the next one.
    """

    def __init__(self, recorded: RecordedSource) -> None:
        self.recorded = recorded
        self.description = recorded.description

    def next_sample(self, now: dt.datetime) -> Sample:
        recorded = self.recorded.next_sample()
        gc_inputs = None
        if recorded.images is not None:
            # A scenario with images feeds them to the GC models and reclaim. It has no sandboxes.
            gc_inputs = GcInputs(images=recorded.images, containers=recorded.containers or ())
        return Sample(summary=recorded.summary, time=recorded.time or now, origin=recorded.origin, gc_inputs=gc_inputs)

    def close(self) -> None:
        return None


@dataclasses.dataclass(frozen=True, slots=True)
class DaemonSettings:
    """The daemon's settings, logged in ``daemon_started``.

    ``max_ticks`` stops the daemon after that many ticks (``None`` runs until a signal).
    ``hold`` keeps the daemon (and its API) running after a replay's last sample until a signal.
    The GC periods are the kubelet's constants by default and can be shortened for demos.
    """

    interval_s: float = EVICTION_MONITORING_PERIOD_S
    image_gc_period_s: float = IMAGE_GC_PERIOD_S
    container_gc_period_s: float = CONTAINER_GC_PERIOD_S
    max_ticks: int | None = None
    node_name: str = ""
    hold: bool = False

    def to_log(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(slots=True)
class TickOutcome:
    """The result of one tick: the sample (if any), the decision and the events logged.

    ``counted`` is False for a pass that found the replay already finished, which is not a tick.
    """

    sample: Sample | None = None
    counted: bool = True
    decision: dict[str, Any] | None = None
    events: list[LogEvent] = dataclasses.field(default_factory=list)


class Daemon:
    """The live loop: source -> evaluation -> GC models -> change events -> live state."""

    def __init__(
        self,
        *,
        source: SampleSource,
        policy: Any,
        settings: DaemonSettings | None = None,
        clock: Clock = wall_clock,
        pods: Sequence[Any] | None = None,
        live_state: Any = None,
        reclaimer: Any = None,
        lint: Callable[[Any, Any], Sequence[Any]] | None = None,
        layout: Any = None,
        logger: Any = None,
        kubelet_config: dict[str, Any] | None = None,
        kubelet_start_probe: Callable[[], dt.datetime | None] | None = None,
    ) -> None:
        self.source = source
        self.policy = policy
        # the KubeletConfiguration document the policy came from, which API policy patches apply to
        self.kubelet_config = kubelet_config
        self.settings = settings or DaemonSettings()
        self.clock = clock
        self.pods = list(pods) if pods is not None else None
        self.live_state = live_state
        self.lint = lint
        self._linted = False
        self._logged_findings: set[str] = set()
        self.log = logger or structlog.get_logger("evictsim.daemon").bind(component="daemon")
        self._node_bound = bool(self.settings.node_name)
        if self.settings.node_name:
            self.log = self.log.bind(node=self.settings.node_name)

        self.ticks = 0
        self._view: TickView | None = None
        self.evaluator = NodeEvaluator(
            policy,
            pods=self.pods,
            image_gc_period_s=self.settings.image_gc_period_s,
            container_gc_period_s=self.settings.container_gc_period_s,
            reclaimer=reclaimer,
            layout=layout,
            kubelet_start_probe=kubelet_start_probe,
        )
        self._image_detection_logged = False
        self._image_gc: dict[str, Any] | None = None
        self._container_gc: dict[str, Any] | None = None
        self._runtime_down_since: dt.datetime | None = None
        self._sample_error: str | None = None
        self._tick_error: str | None = None
        self._tick_lock = threading.Lock()
        self._replay_finished = False
        self._stop = threading.Event()
        self.stop_reason = ""

    # ------------------------------------------------------------------------------------
    # one tick

    def tick(self) -> TickOutcome:
        """Run one pass: sample, evaluate, run GC models when due, log changes, publish."""
        with self._tick_lock:
            outcome = TickOutcome()
            try:
                self._tick(outcome)
            except Exception as error:  # noqa: BLE001 - the loop must survive any single tick
                self._log_tick_failure(error)
            if not self._linted:
                # Lint runs after the first tick, so findings that depend on the filesystem layout
                # use the layout of the first sample (None when there was no sample).
                self._linted = True
                try:
                    self._log_lint_findings(layout=self.evaluator.layout)
                except Exception as error:  # noqa: BLE001 - lint is advice; the loop goes on
                    self.log.error("policy_lint_failed", error=f"{type(error).__name__}: {error}")
            if not outcome.counted:
                return outcome
            self.ticks += 1
            if self.settings.max_ticks is not None and self.ticks >= self.settings.max_ticks:
                self.request_stop("tick_limit")
            return outcome

    def _tick(self, outcome: TickOutcome) -> None:
        now = self.clock()
        if self._replay_finished:
            outcome.counted = False
            return
        sample = self._take_sample(now)
        if sample is None:
            outcome.counted = not self._replay_finished
            return
        outcome.sample = sample
        if not self._node_bound and sample.summary.node.node_name:
            # every later line names the node, as the snapshot reports it
            self.log = self.log.bind(node=sample.summary.node.node_name)
            self._node_bound = True
        self.log.debug("sample_taken", **_sample_fields(sample))

        # the eviction manager's pass, and the garbage collectors when their periods are due
        evaluation = self.evaluator.evaluate(sample.summary, sample.time, sample.gc_inputs)
        decision = evaluation.decision
        self._log_image_detection_start()

        outcome.decision = decision
        if decision.get("ranking"):
            self.log.debug("pods_ranked", ranking=decision["ranking"])
        if evaluation.image_gc is not None:
            self._image_gc = evaluation.image_gc
            self.log.debug("image_gc_checked", **_gc_summary(evaluation.image_gc))
        if evaluation.container_gc is not None:
            self._container_gc = evaluation.container_gc
            self.log.debug("container_gc_checked", **_gc_summary(evaluation.container_gc))

        # log what changed since the previous tick
        view = build_view(decision, sample.summary, image_gc=self._image_gc, container_gc=self._container_gc)
        outcome.events = diff_events(self._view, view)
        for event in outcome.events:
            getattr(self.log, event.level)(event.event, **event.fields)
        self._view = view
        self._tick_error = None

        self._publish(sample, decision)

    def _log_image_detection_start(self) -> None:
        """Log once how the images found at the first detection were dated."""
        start = self.evaluator.image_detection_start
        if start is None or self._image_detection_logged:
            return
        self._image_detection_logged = True
        if start.kubelet_start is not None:
            self.log.info("image_detection_from_kubelet_start", kubelet_start=format_time(start.kubelet_start), images=start.images)
            return
        self.log.info(
            "image_detection_assumed",
            images=start.images,
            note=(
                "no kubelet process is visible in /proc (evictsim needs the host PID namespace), so every image "
                "present at the first detection counts as older than imageMinimumGCAge"
            ),
        )

    def _take_sample(self, now: dt.datetime) -> Sample | None:
        """Return the next sample, or ``None`` after logging why there is none this tick."""
        while True:
            try:
                sample = self.source.next_sample(now)
            except RecordedSampleError as error:
                self.log.error("recorded_sample_invalid", path=error.source, error=str(error))
                continue
            except ReplayFinished:
                # the pass that finds no more samples is not a tick, so this count and
                # daemon_stopped's agree
                self._replay_finished = True
                self.log.info("replay_finished", ticks=self.ticks, hold=self.settings.hold)
                if not self.settings.hold:
                    self.request_stop("replay_finished")
                return None
            except (RuntimeUnavailableError, NotCriServerError) as error:
                self._count_runtime_error("cri_unavailable" if isinstance(error, RuntimeUnavailableError) else "cri_not_a_server")
                self._note_runtime_unreachable(now, error)
                return None
            except ProbeError as error:
                self._count_runtime_error(f"probe_{getattr(error, 'kind', 'failed')}")
                self._note_sample_failure(error)
                return None
            break

        if self._runtime_down_since is not None:
            down_for = (now - self._runtime_down_since).total_seconds()
            self.log.info("runtime_recovered", source=self.source.description, unreachable_for_s=down_for)
            self._runtime_down_since = None
        if self._sample_error is not None:
            self.log.info("sample_recovered", source=self.source.description, previous_error=self._sample_error)
            self._sample_error = None
        return sample

    def _count_runtime_error(self, kind: str) -> None:
        """Count every failed sample in the API's metrics (``evictsim_runtime_errors{kind}``)."""
        if self.live_state is not None:
            self.live_state.record_runtime_error(kind)

    def _note_runtime_unreachable(self, now: dt.datetime, error: Exception) -> None:
        if self._runtime_down_since is not None:
            self.log.debug("runtime_still_unreachable", error=str(error))
            return
        self._runtime_down_since = now
        self.log.warning(
            "runtime_unreachable",
            source=self.source.description,
            error=str(error),
            error_type=type(error).__name__,
            retry_interval_s=self.settings.interval_s,
        )

    def _note_sample_failure(self, error: ProbeError) -> None:
        message = str(error)
        if message == self._sample_error:
            self.log.debug("sample_still_failing", error=message)
            return
        self._sample_error = message
        self.log.warning(
            "sample_failed",
            source=self.source.description,
            error=message,
            error_type=type(error).__name__,
            retry_interval_s=self.settings.interval_s,
        )

    def _log_tick_failure(self, error: Exception) -> None:
        message = f"{type(error).__name__}: {error}"
        if message == self._tick_error:
            self.log.debug("tick_still_failing", error=message)
            return
        self._tick_error = message
        self.log.error("tick_failed", error=message, exc_info=error)

    def _log_lint_findings(self, *, layout: Any) -> None:
        """Log each lint finding of the policy once, at warning or info level by its severity."""
        if self.lint is None:
            return
        for finding in self.lint(self.policy, layout):
            fields = _finding_fields(finding)
            key = str(fields.get("id") or fields)
            if key in self._logged_findings:
                continue
            self._logged_findings.add(key)
            level = "warning" if fields.get("severity") in ("warning", "error") else "info"
            getattr(self.log, level)("policy_lint_finding", **fields)

    def _publish(self, sample: Sample, decision: dict[str, Any]) -> None:
        if self.live_state is None:
            return
        from simulator.api.live import Sample as LiveSample
        from simulator.api.reclaim import reclaimable_bytes

        conditions = tuple(name for name, reported in (decision.get("conditions") or {}).items() if reported)
        layout = self.evaluator.layout
        # Published samples are read by request threads while the next tick runs, so the
        # reclaimer and the manager state go out as copies the daemon never touches again.
        reclaimer = self.evaluator.reclaimer_snapshot()
        reclaimable = None
        if reclaimer is not None and layout is not None:
            reclaimable = reclaimable_bytes(reclaimer, layout, sample.time)
        self.live_state.publish(
            LiveSample(
                summary=sample.summary,
                policy=self.policy,
                sampled_at=sample.time,
                pods=tuple(self.pods or ()),
                decision=decision,
                gc={"imageGC": self._image_gc, "containerGC": self._container_gc},
                provenance={"origin": sample.origin},
                kubelet_config=self.kubelet_config,
                node_conditions=conditions,
                layout=layout,
                images=tuple(sample.gc_inputs.images) if sample.gc_inputs is not None else (),
                reclaimer=reclaimer,
                reclaimable_bytes=reclaimable,
                image_fs_explanation=sample.image_fs_explanation,
                manager_state=self.evaluator.manager_state_snapshot(),
            )
        )

    # ------------------------------------------------------------------------------------
    # running and stopping

    @property
    def replay_finished(self) -> bool:
        """Whether a replay source has run out of recorded samples."""
        return self._replay_finished

    def request_stop(self, reason: str) -> None:
        """Ask :meth:`run` to return; safe from signal handlers and other threads."""
        if not self._stop.is_set():
            self.stop_reason = reason
            self._stop.set()

    @contextlib.contextmanager
    def handling_signals(self) -> Iterator[None]:
        """Turn SIGTERM and SIGINT into a stop request while the block runs (main thread only).

        Callers that start other services (the API server) before :meth:`run` and stop them
        after it wrap all of that, so a signal never meets the default handler halfway.
        """
        restore = self._install_signal_handlers()
        try:
            yield
        finally:
            restore()

    def run(self, *, handle_signals: bool = True) -> int:
        """Tick every ``interval_s`` until stopped by a signal, the tick limit or the replay's end.

        Returns the exit code (0). SIGTERM and SIGINT stop the loop (with ``handle_signals``,
        or inside :meth:`handling_signals`); a tick in progress is given at most 0.2 s, since
        ticks only read.
        """
        if handle_signals:
            with self.handling_signals():
                return self._run()
        return self._run()

    def _run(self) -> int:
        self.log.info(
            "daemon_started",
            source=self.source.description,
            kubelet_version=getattr(self.policy, "kubelet_version", None),
            thresholds=[_threshold_text(t) for t in getattr(self.policy, "thresholds", ())],
            **self.settings.to_log(),
        )
        # warnings from loading the policy: unknown fields or gates, an assumed kubelet version, ...
        for warning in getattr(self.policy, "warnings", ()):
            self.log.warning("policy_warning", message=warning)

        scheduler = BackgroundScheduler(executors={"default": DaemonThreadExecutor()}, timezone=UTC)
        scheduler.add_job(
            self.tick,
            "interval",
            seconds=self.settings.interval_s,
            next_run_time=dt.datetime.now(UTC),
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            id="tick",
        )
        # A tick that outlasts the interval (a slow runtime) makes APScheduler skip the next
        # run. The daemon reports that at debug level instead of APScheduler's stderr warning.
        scheduler.add_listener(self._on_tick_skipped, EVENT_JOB_MAX_INSTANCES)
        logging.getLogger("apscheduler").setLevel(logging.ERROR)
        scheduler.start()
        try:
            while not self._stop.wait(timeout=0.2):
                pass
        finally:
            scheduler.shutdown(wait=False)
            # A tick still blocked in a CRI call keeps its channel: closing it under the call
            # would only add a late error line. The process exits without waiting for it.
            if self._tick_lock.acquire(timeout=_STOP_WAIT_S):
                try:
                    self.source.close()
                finally:
                    self._tick_lock.release()
            self.log.info("daemon_stopped", reason=self.stop_reason or "stopped", ticks=self.ticks)
        return 0

    def _on_tick_skipped(self, event: Any) -> None:
        self.log.debug("tick_skipped", reason="the previous tick is still running", interval_s=self.settings.interval_s)

    def _install_signal_handlers(self) -> Callable[[], None]:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = {}
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, self._on_signal)

        def restore() -> None:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

        return restore

    def _on_signal(self, signum: int, frame: object) -> None:
        self.request_stop(signal.Signals(signum).name)


class DaemonThreadExecutor(BaseExecutor):
    """An APScheduler executor that runs each job in a daemon thread.

    A tick blocked in a CRI call (up to the client's deadline) then cannot hold the process
    open after a stop request, which a thread pool's non-daemon workers would.
    """

    def _do_submit_job(self, job: Any, run_times: list[dt.datetime]) -> None:
        def run() -> None:
            try:
                # APScheduler 3.x's own pool executors pass the same private jobstore alias.
                events = run_job(job, job._jobstore_alias, run_times, self._logger.name)
            except BaseException as error:  # noqa: BLE001 - reported to the scheduler
                self._run_job_error(job.id, error, error.__traceback__)
            else:
                self._run_job_success(job.id, events)

        threading.Thread(target=run, name=f"evictsim-{job.id}", daemon=True).start()


def _sample_fields(sample: Sample) -> dict[str, Any]:
    node = sample.summary.node
    fields: dict[str, Any] = {"origin": sample.origin, "time": format_time(sample.time)}
    for name, stats in (("nodefs", node.fs), ("imagefs", node.image_fs), ("containerfs", node.container_fs)):
        if stats is not None:
            fields[f"{name}_available"] = stats.available_bytes
            fields[f"{name}_capacity"] = stats.capacity_bytes
    if node.memory is not None:
        fields["memory_available"] = node.memory.available_bytes
    return fields


def _gc_summary(result: dict[str, Any]) -> dict[str, Any]:
    """Return a GC result's scalar keys in snake_case, for the per-run debug event."""
    out = {}
    for key, value in result.items():
        if isinstance(value, (list, dict)) or value is None:
            continue
        out[_snake(key)] = value
    return out


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def _threshold_text(threshold: Any) -> str:
    describe = getattr(threshold, "describe", None)
    return describe() if callable(describe) else str(threshold)


def _finding_fields(finding: Any) -> dict[str, Any]:
    if isinstance(finding, dict):
        return dict(finding)
    as_dict = getattr(finding, "as_dict", None)
    if callable(as_dict):
        return dict(as_dict())
    if dataclasses.is_dataclass(finding):
        return dataclasses.asdict(finding)  # type: ignore[arg-type]
    return {"finding": str(finding)}
