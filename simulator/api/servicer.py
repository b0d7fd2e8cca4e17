"""The evictsim.v1.WhatIfService implementation over a LiveState.

Every handler reads the latest sample once and works on it alone, so a sample published during
a request does not affect that request's result. InputError becomes INVALID_ARGUMENT with its
message; any other exception is logged and becomes INTERNAL, and the server keeps serving.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import grpc
import structlog

from simulator._proto.evictsim.v1 import evictsim_pb2 as pb
from simulator._proto.evictsim.v1 import evictsim_pb2_grpc as pb_grpc
from simulator.api import convert, validation
from simulator.documents import merge_patch
from simulator.api.decision import DecisionView, decide, engine_victims, headroom_inputs
from simulator.api.headroom import node_headroom
from simulator.api.live import LiveState, Sample
from simulator.api.policy_adapter import apply_override, config_document
from simulator.api.reclaim import sample_reclaimable
from simulator.api.trend import Trend, fit_trend, given_trend
from simulator.api.whatif import PolicyChange, apply_what_if
from simulator.errors import InputError
from simulator.policy.fields import is_known_field
from simulator.signals import Signal
from simulator.snapshot import format_time

log = structlog.get_logger(__name__).bind(component="api")

DEFAULT_HEADROOM_WINDOW_S = 3600.0
WATCH_POLL_S = 1.0

Handler = TypeVar("Handler", bound=Callable[..., Any])


@dataclasses.dataclass(frozen=True, slots=True)
class ServicerOptions:
    """Limits the servicer enforces itself.

    ``max_message_bytes`` rejects larger requests with INVALID_ARGUMENT (gRPC's own limit is set
    higher so the servicer receives them); ``request_timeout_s`` bounds the work of one request.
    """

    max_message_bytes: int = 4 * 1024 * 1024
    request_timeout_s: float = 10.0


def _rpc(method: Handler) -> Handler:
    """Map InputError to INVALID_ARGUMENT, the request timeout to DEADLINE_EXCEEDED and other failures to INTERNAL.

    The request timeout covers every unary RPC. Long loops (Sweep) check it between steps; any
    other RPC that finishes after it gets DEADLINE_EXCEEDED and its result is dropped.
    NOTE: Python cannot interrupt a running handler, so a step that blocks is not cut short.
    """

    @functools.wraps(method)
    def wrapper(self: WhatIfServicer, request: Any, context: grpc.ServicerContext) -> Any:
        name = method.__name__
        size = request.ByteSize()
        if size > self.options.max_message_bytes:
            self.observe_request(name, "invalid_argument")
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"request: {size} bytes exceeds the maximum message size of {self.options.max_message_bytes} bytes",
            )
        deadline = RequestDeadline(name, self.options.request_timeout_s)
        _current_deadline.value = deadline
        try:
            result = method(self, request, context)
            deadline.check("before sending the response")
        except InputError as error:
            self.observe_request(name, "invalid_argument")
            log.info("request_rejected", rpc=name, field=error.field, error=str(error))
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        except NoSampleError as error:
            self.observe_request(name, "unavailable")
            context.abort(grpc.StatusCode.UNAVAILABLE, str(error))
        except DeadlineError as error:
            self.observe_request(name, "deadline_exceeded")
            log.info("request_timed_out", rpc=name, timeout_s=self.options.request_timeout_s, error=str(error))
            context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, str(error))
        except Exception as error:  # keep serving after a bug in one request
            if isinstance(error, grpc.RpcError):
                raise
            self.observe_request(name, "internal")
            log.exception("request_failed", rpc=name, error=str(error))
            context.abort(grpc.StatusCode.INTERNAL, f"{name} failed: {type(error).__name__}: {error}")
        finally:
            _current_deadline.value = None
        self.observe_request(name, "ok")
        return result

    return wrapper  # type: ignore[return-value]


class NoSampleError(Exception):
    """The daemon has not published a sample yet."""


class DeadlineError(Exception):
    """A request ran longer than the per-request timeout."""


class RequestDeadline:
    """The point in time by which one request must finish (``--request-timeout`` after it started)."""

    def __init__(self, rpc: str, timeout_s: float) -> None:
        self.rpc = rpc
        self.timeout_s = timeout_s
        self.started = time.monotonic()

    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    def check(self, where: str) -> None:
        """Raise DeadlineError when the request has run longer than its timeout; ``where`` names the step."""
        elapsed = self.elapsed_s()
        if elapsed > self.timeout_s:
            raise DeadlineError(
                f"{self.rpc} exceeded the request timeout of {self.timeout_s:g} s ({elapsed:.3g} s elapsed {where}); "
                "narrow the request or raise --request-timeout"
            )


# The deadline of the request the current server thread is handling.
_current_deadline = threading.local()


def check_deadline(where: str) -> None:
    """Raise DeadlineError when the request this thread handles is past its timeout (no-op outside one)."""
    deadline: RequestDeadline | None = getattr(_current_deadline, "value", None)
    if deadline is not None:
        deadline.check(where)


class WhatIfServicer(pb_grpc.WhatIfServiceServicer):
    """Serves WhatIfService RPCs from the latest sample of ``live``."""

    def __init__(
        self,
        live: LiveState,
        options: ServicerOptions | None = None,
        *,
        on_request: Callable[[str, str], None] | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.live = live
        self.options = options or ServicerOptions()
        self._on_request = on_request
        self._clock = clock
        self._decision_cache: tuple[int, DecisionView] | None = None
        # The latest sample's sequence number and its decision messages, keyed by with_detail.
        self._message_cache: tuple[int, dict[bool, pb.Decision]] | None = None
        self._cache_lock = threading.Lock()
        self._stopping = threading.Event()

    def observe_request(self, rpc: str, code: str) -> None:
        if self._on_request is not None:
            self._on_request(rpc, code)

    def stop(self) -> None:
        """End every WatchDecisions stream."""
        self._stopping.set()
        self.live.wake_watchers()

    # -- helpers -------------------------------------------------------------------------------

    def _sample(self) -> Sample:
        sample = self.live.read()
        if sample is None:
            raise NoSampleError("no node sample yet: the daemon has not finished its first sampling pass; retry shortly")
        return sample

    def live_decision(self, sample: Sample) -> DecisionView:
        """Return the decision on ``sample`` unchanged, computed once per sample.

        Node conditions and victims come from the daemon's engine when the sample carries them.
        """
        cached = self._decision_cache
        if cached is not None and cached[0] == sample.sequence:
            return cached[1]
        view = decide(
            sample.summary,
            sample.policy,
            sampled_at=sample.sampled_at,
            layout=sample.layout,
            observations=sample.observations or None,
            victims=engine_victims(sample.decision),
            engine=sample.decision,
        )
        if sample.node_conditions is not None:
            # The daemon's engine keeps state across passes, so its conditions include the
            # pressure transition period that a single pass cannot know.
            view = dataclasses.replace(view, node_conditions=tuple(sorted(sample.node_conditions)))
        with self._cache_lock:
            if self._decision_cache is None or self._decision_cache[0] < sample.sequence:
                self._decision_cache = (sample.sequence, view)
        return view

    def live_decision_message(self, sample: Sample, *, with_detail: bool) -> pb.Decision:
        """Return the decision message on ``sample``, built once per sample and detail flag.

        GetDecision and every WatchDecisions stream share the message, so callers must not modify it.
        """
        cached = self._message_cache
        if cached is not None and cached[0] == sample.sequence and with_detail in cached[1]:
            return cached[1][with_detail]
        message = convert.decision_message(self.live_decision(sample), with_detail=with_detail)
        with self._cache_lock:
            current = self._message_cache
            if current is not None and current[0] == sample.sequence:
                current[1][with_detail] = message
            elif current is None or current[0] < sample.sequence:
                self._message_cache = (sample.sequence, {with_detail: message})
        return message

    # -- RPCs ----------------------------------------------------------------------------------

    @_rpc
    def GetSnapshot(self, request: pb.GetSnapshotRequest, context: grpc.ServicerContext) -> pb.Snapshot:
        sample = self._sample()
        summary = sample.summary
        provenance = {k: p.to_json() for k, p in sorted(summary.provenance.items())}
        provenance.update({f"inputs.{k}": {"source": v} for k, v in sample.provenance.items()})
        return pb.Snapshot(
            summary=convert.to_struct(summary.to_json()),
            provenance=convert.to_struct(provenance),
            sampled_at=format_time(sample.sampled_at),
            age_s=convert.age_seconds(sample.sampled_at, self._clock()),
            node_name=summary.node.node_name,
            kubelet_version=sample.policy.kubelet_version,
            sequence=sample.sequence,
        )

    @_rpc
    def GetDecision(self, request: pb.GetDecisionRequest, context: grpc.ServicerContext) -> pb.Decision:
        return self.live_decision_message(self._sample(), with_detail=True)

    @_rpc
    def Evaluate(self, request: pb.WhatIf, context: grpc.ServicerContext) -> pb.Decision:
        spec = convert.what_if_spec(request)
        result = apply_what_if(self._sample(), spec)
        return convert.decision_message(result.decision, with_detail=request.include_detail)

    @_rpc
    def Headroom(self, request: pb.HeadroomRequest, context: grpc.ServicerContext) -> pb.HeadroomResponse:
        sample = self._sample()
        signals = convert.signals_from(request.signals, field="signals")
        rates = convert.signals_from(request.rate_per_second.keys(), field="rate_per_second")
        window = request.window_s or DEFAULT_HEADROOM_WINDOW_S
        validation.check_range(window, field="window_s", minimum=1.0, maximum=366 * 86400.0, unit="s")
        for signal in rates:
            rate = request.rate_per_second[signal.value]
            validation.check_range(rate, field=f"rate_per_second[{signal.value}]", minimum=-1e18, maximum=1e18)

        policy = sample.policy
        change = convert.policy_change(request.policy, field="policy")
        if not change.empty:
            policy, _ = apply_override(
                sample.policy,
                sample.kubelet_config,
                preset=change.preset,
                kubelet_version=change.kubelet_version,
                patch_json=change.patch_json,
            )
        view = decide(sample.summary, policy, sampled_at=sample.sampled_at, layout=sample.layout)
        reclaimable = sample_reclaimable(sample.reclaimable_bytes, sample.reclaimer, view.layout, sample.sampled_at)
        inputs = headroom_inputs(view, policy, reclaimable)
        trends = self._trends(view, window, {s: request.rate_per_second[s.value] for s in rates})
        entries = node_headroom(
            view.observations, inputs, trends, signals=signals or None, now=sample.sampled_at
        )
        response = pb.HeadroomResponse(sampled_at=format_time(sample.sampled_at))
        for entry in entries:
            response.signals.append(convert.headroom_message(entry))
        return response

    def _trends(self, view: DecisionView, window_s: float, given_rates: dict[Signal, float]) -> dict[Signal, Trend]:
        points = self.live.history.window(window_s)
        trends: dict[Signal, Trend] = {}
        for signal, observation in view.observations.items():
            if signal in given_rates:
                trends[signal] = given_trend(given_rates[signal])
                continue
            series = [(p.time, float(p.signals[signal.value][0])) for p in points if signal.value in p.signals]
            trends[signal] = fit_trend(series, capacity=observation.capacity)
        return trends

    @_rpc
    def Sweep(self, request: pb.SweepRequest, context: grpc.ServicerContext) -> pb.SweepResponse:
        sample = self._sample()
        tokens = validation.parse_json_pointer(request.pointer, field="pointer")
        if not tokens or not is_known_field(tokens[0]):
            raise InputError(
                f"pointer: {request.pointer!r} does not name a KubeletConfiguration field "
                "(for example /evictionHard/imagefs.available)",
                field="pointer",
                value=request.pointer,
            )
        if not request.values:
            raise InputError("values: at least one candidate value is required", field="values", value=[])
        if len(request.values) > validation.MAX_SWEEP_VALUES:
            raise InputError(
                f"values: {len(request.values)} candidates exceed the maximum of {validation.MAX_SWEEP_VALUES}",
                field="values",
                value=len(request.values),
            )
        base = convert.what_if_spec(request.base, field="base")
        base_patch: dict[str, Any] = {}
        if base.policy.patch_json:
            base_patch = validation.parse_json_object(base.policy.patch_json, field="base.policy.kubelet_config_patch_json")
        document = config_document(sample.policy, sample.kubelet_config)

        response = pb.SweepResponse(pointer=request.pointer)
        for index, text in enumerate(request.values):
            check_deadline(f"after {index} of {len(request.values)} values")
            value = validation.parse_sweep_value(text)
            patched = validation.set_by_pointer(
                merge_patch(document, base_patch), tokens, value, field=f"values[{index}]"
            )
            policy_change = PolicyChange(base.policy.preset, base.policy.kubelet_version, json.dumps(patched))
            spec = dataclasses.replace(base, policy=policy_change)
            try:
                result = apply_what_if(sample, spec)
            except InputError as error:
                raise InputError(f"values[{index}] ({text}): {error}", field=f"values[{index}]", value=text) from error
            response.results.add(value=text, decision=convert.decision_message(result.decision, with_detail=False))
        return response

    def WatchDecisions(self, request: pb.WatchRequest, context: grpc.ServicerContext) -> Iterator[pb.DecisionChange]:
        self.observe_request("WatchDecisions", "ok")
        previous: DecisionView | None = None
        sequence = 0
        if request.send_initial:
            sample = self.live.read()
            if sample is not None:
                previous = self.live_decision(sample)
                sequence = sample.sequence
                yield self._change(sample, ["initial decision"])
        elif (current := self.live.read()) is not None:
            previous = self.live_decision(current)
            sequence = current.sequence
        while context.is_active() and not self._stopping.is_set():
            sample = self.live.wait_for_newer(sequence, WATCH_POLL_S)
            if sample is None:
                continue
            sequence = sample.sequence
            view = self.live_decision(sample)
            changes = describe_changes(previous, view)
            previous = view
            if changes:
                yield self._change(sample, changes)

    def _change(self, sample: Sample, changes: list[str]) -> pb.DecisionChange:
        return pb.DecisionChange(
            sequence=sample.sequence,
            sampled_at=format_time(sample.sampled_at),
            changes=changes,
            decision=self.live_decision_message(sample, with_detail=False),
        )

    @_rpc
    def ExplainImageFs(self, request: pb.ExplainImageFsRequest, context: grpc.ServicerContext) -> pb.ImageFsExplanation:
        sample = self._sample()
        if sample.image_fs_explanation is not None:
            explanation = dict(sample.image_fs_explanation)
            steps = [
                {"step": f"{s.get('step')}. {s.get('title', '')}", "value": str(s.get("text", "")), "source": json.dumps(s.get("values", {}))}
                for s in explanation.get("steps", [])
            ]
        else:
            explanation = {"steps": explain_image_fs(sample, self.live_decision(sample))}
            steps = explanation["steps"]
        response = pb.ImageFsExplanation(detail=convert.to_struct(explanation))
        for step in steps:
            response.steps.add(step=step["step"], value=step["value"], source=step["source"])
        return response


    @_rpc
    def GetHistory(self, request: pb.GetHistoryRequest, context: grpc.ServicerContext) -> pb.History:
        validation.check_range(request.window_s, field="window_s", minimum=0.0, maximum=366 * 86400.0, unit="s")
        sample = self._sample()
        response = pb.History(
            kubelet_config=convert.to_struct(config_document(sample.policy, sample.kubelet_config)),
            kubelet_version=sample.policy.kubelet_version,
            node_name=sample.summary.node.node_name,
        )
        for point in self.live.history.window(request.window_s or None):
            item = response.points.add(time=point.time, sequence=point.sequence, node_conditions=list(point.node_conditions))
            for name, (available, capacity) in point.signals.items():
                item.signals[name].available = available
                item.signals[name].capacity = capacity
        return response


def describe_changes(previous: DecisionView | None, current: DecisionView) -> list[str]:
    """List what differs between two decisions: conditions, signals met, image GC and victims."""
    if previous is None:
        return ["first decision"]
    changes = []
    for condition in sorted(set(previous.node_conditions) | set(current.node_conditions)):
        before, after = condition in previous.node_conditions, condition in current.node_conditions
        if before != after:
            changes.append(f"{condition}: {str(before).lower()} -> {str(after).lower()}")
    for signal in Signal:
        before, after = signal in previous.signals_met, signal in current.signals_met
        if before != after:
            changes.append(f"{signal.value} threshold {'met' if after else 'no longer met'}")
    if previous.image_gc_would_run != current.image_gc_would_run:
        changes.append(f"image GC would run: {str(current.image_gc_would_run).lower()}")
    if previous.reclaim_signal != current.reclaim_signal:
        before_signal = previous.reclaim_signal.value if previous.reclaim_signal else "none"
        after_signal = current.reclaim_signal.value if current.reclaim_signal else "none"
        changes.append(f"reclaim signal: {before_signal} -> {after_signal}")
    if [v.get("pod") for v in previous.victims] != [v.get("pod") for v in current.victims]:
        changes.append("victims: " + (", ".join(v.get("pod", "") for v in current.victims) or "none"))
    return changes


def explain_image_fs(sample: Sample, view: DecisionView) -> list[dict[str, str]]:
    """Describe how the imagefs numbers were obtained and how the imagefs thresholds resolve."""
    steps: list[dict[str, str]] = []
    for key in ("runtime", "imageFsInfo", "mountinfo", "config"):
        if key in sample.provenance:
            steps.append({"step": key, "value": str(sample.provenance[key]), "source": "daemon inputs"})
    for path in ("node.runtime.imageFs.capacityBytes", "node.runtime.imageFs.availableBytes", "node.runtime.imageFs.usedBytes"):
        provenance = sample.summary.provenance.get(path)
        image_fs = sample.summary.node.image_fs
        field = path.rsplit(".", 1)[1]
        attribute = {"capacityBytes": "capacity_bytes", "availableBytes": "available_bytes", "usedBytes": "used_bytes"}[field]
        value = getattr(image_fs, attribute) if image_fs is not None else None
        source = "summary"
        if provenance is not None:
            parts = [provenance.source, provenance.detail, provenance.mountpoint or "", provenance.device or ""]
            source = " ".join(p for p in parts if p)
        steps.append({"step": path, "value": "absent" if value is None else str(value), "source": source})
    steps.append({"step": "layout", "value": view.layout.value, "source": "filesystem numbers of nodefs, imagefs and containerfs"})
    for result in view.thresholds:
        if result.threshold.signal in (Signal.IMAGEFS_AVAILABLE, Signal.IMAGEFS_INODES_FREE):
            verdict = "met" if result.met else "not met"
            steps.append(
                {
                    "step": f"threshold {result.threshold.signal.value}<{result.threshold.value}",
                    "value": f"{result.amount} ({verdict}: available {result.observed_available})",
                    "source": "policy",
                }
            )
    return steps
