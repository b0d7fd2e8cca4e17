"""Translation between evictsim.v1 protobuf messages and the API's domain objects, with validation.

Request conversion raises InputError naming the request field path and the bad value.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Mapping
from typing import Any

from google.protobuf import json_format, struct_pb2

from simulator._proto.evictsim.v1 import evictsim_pb2 as pb
from simulator.api import validation as v
from simulator.api.decision import DecisionView
from simulator.api.headroom import SignalHeadroom
from simulator.api.trend import Trend
from simulator.api.whatif import FilesystemDelta, FutureSyncs, ImagePull, PodChange, PolicyChange, WhatIfSpec
from simulator.errors import InputError
from simulator.policy.model import ThresholdValue
from simulator.signals import Signal
from simulator.snapshot import format_time

_POD_KINDS = {pb.PodChange.ADD: "add", pb.PodChange.REMOVE: "remove", pb.PodChange.RESIZE: "resize"}


def to_struct(document: Mapping[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(document)
    return message


def policy_change(message: pb.PolicyOverride, *, field: str) -> PolicyChange:
    if message.kubelet_version:
        v.check_kubelet_version(message.kubelet_version, field=f"{field}.kubelet_version")
    return PolicyChange(message.preset, message.kubelet_version, message.kubelet_config_patch_json)


def _filesystem_delta(message: pb.FilesystemDelta, *, field: str) -> FilesystemDelta:
    v.check_filesystem(message.filesystem, field=f"{field}.filesystem")
    v.check_range(message.used_bytes, field=f"{field}.used_bytes", minimum=-v.MAX_BYTES, maximum=v.MAX_BYTES, unit="bytes")
    v.check_range(message.inodes_used, field=f"{field}.inodes_used", minimum=-v.MAX_COUNT, maximum=v.MAX_COUNT)
    return FilesystemDelta(message.filesystem, message.used_bytes, message.inodes_used)


def _image_pull(message: pb.ImagePull, *, field: str) -> ImagePull:
    v.check_range(message.size_bytes, field=f"{field}.size_bytes", minimum=0, maximum=v.MAX_BYTES, unit="bytes")
    count = message.count or 1
    v.check_range(count, field=f"{field}.count", minimum=1, maximum=v.MAX_IMAGE_PULLS)
    return ImagePull(message.image, message.size_bytes, count, message.in_use)


def _pod_change(message: pb.PodChange, *, field: str) -> PodChange:
    kind = _POD_KINDS.get(message.kind)
    if kind is None:
        raise InputError(f"{field}.kind: expected ADD, REMOVE or RESIZE, got {message.kind}", field=f"{field}.kind", value=message.kind)
    if kind == "add" and not message.pod_json:
        raise InputError(f"{field}.pod_json: ADD needs the Pod object as JSON", field=f"{field}.pod_json", value="")
    if kind != "add" and "/" not in message.pod:
        raise InputError(f"{field}.pod: expected namespace/name, got {message.pod!r}", field=f"{field}.pod", value=message.pod)
    for name in ("memory_working_set_bytes", "ephemeral_storage_bytes"):
        value = getattr(message, name)
        minimum = -v.MAX_BYTES if kind == "resize" else 0
        v.check_range(value, field=f"{field}.{name}", minimum=minimum, maximum=v.MAX_BYTES, unit="bytes")
    return PodChange(
        kind,
        message.pod,
        message.pod_json,
        message.memory_working_set_bytes,
        message.ephemeral_storage_bytes,
        dict(message.requests),
        dict(message.limits),
    )


def what_if_spec(message: pb.WhatIf, *, field: str = "") -> WhatIfSpec:
    """Validate a WhatIf message and convert it; ``field`` prefixes every reported path."""
    prefix = f"{field}." if field else ""
    future = message.future
    v.check_range(future.syncs, field=f"{prefix}future.syncs", minimum=0, maximum=v.MAX_FUTURE_SYNCS)
    interval = future.interval_s or 10.0
    v.check_range(interval, field=f"{prefix}future.interval_s", minimum=0.001, maximum=86400.0, unit="s")
    v.check_range(
        message.memory_working_set_delta_bytes,
        field=f"{prefix}memory_working_set_delta_bytes",
        minimum=-v.MAX_BYTES,
        maximum=v.MAX_BYTES,
        unit="bytes",
    )
    v.check_range(message.pid_delta, field=f"{prefix}pid_delta", minimum=-v.MAX_COUNT, maximum=v.MAX_COUNT)
    return WhatIfSpec(
        policy=policy_change(message.policy, field=f"{prefix}policy"),
        filesystem_deltas=tuple(
            _filesystem_delta(d, field=f"{prefix}filesystem_deltas[{i}]") for i, d in enumerate(message.filesystem_deltas)
        ),
        memory_working_set_delta_bytes=message.memory_working_set_delta_bytes,
        pid_delta=message.pid_delta,
        image_pulls=tuple(_image_pull(p, field=f"{prefix}image_pulls[{i}]") for i, p in enumerate(message.image_pulls)),
        pod_changes=tuple(_pod_change(c, field=f"{prefix}pod_changes[{i}]") for i, c in enumerate(message.pod_changes)),
        future=FutureSyncs(
            future.syncs,
            interval,
            tuple(
                _filesystem_delta(g, field=f"{prefix}future.growth_per_second[{i}]")
                for i, g in enumerate(future.growth_per_second)
            ),
            future.memory_bytes_per_second,
        ),
    )


def signals_from(names: Iterable[str], *, field: str) -> list[Signal]:
    result = []
    for index, name in enumerate(names):
        try:
            result.append(Signal(name))
        except ValueError:
            known = ", ".join(s.value for s in Signal)
            raise InputError(f"{field}[{index}]: unknown signal {name!r}; expected one of {known}", field=f"{field}[{index}]", value=name) from None
    return result


@functools.lru_cache(maxsize=1024)
def value_text(value: ThresholdValue) -> str:
    """Return a threshold value as written (``10%``, ``100Mi``); cached, because formatting a float32 percentage is slow."""
    return str(value)


@functools.lru_cache(maxsize=256)
def _time_text(time: dt.datetime) -> str:
    return format_time(time)


def decision_message(view: DecisionView, *, with_detail: bool = True) -> pb.Decision:
    message = pb.Decision(
        node_conditions=list(view.node_conditions),
        signals_met=[s.value for s in view.signals_met],
        reclaim_signal=view.reclaim_signal.value if view.reclaim_signal else "",
        image_gc_would_run=view.image_gc_would_run,
        image_gc_bytes_to_free=view.image_gc_bytes_to_free,
        sampled_at=format_time(view.sampled_at) if view.sampled_at else "",
        kubelet_version=view.kubelet_version,
    )
    for signal, observation in view.observations.items():
        message.observations.add(
            signal=signal.value,
            available=observation.available,
            capacity=observation.capacity,
            time=_time_text(observation.time) if observation.time else "",
        )
    for result in view.thresholds:
        message.thresholds.add(
            signal=result.threshold.signal.value,
            value=value_text(result.threshold.value),
            threshold=result.amount,
            observed_available=result.observed_available,
            hard=result.threshold.hard,
            grace_period_s=result.threshold.grace_period_s,
            met=result.met,
        )
    for victim in view.victims:
        message.victims.add(
            pod=victim.get("pod", ""),
            reason=victim.get("reason", ""),
            eviction_signal=victim.get("evictionSignal", ""),
            message=victim.get("message", ""),
        )
    if with_detail:
        message.detail.CopyFrom(to_struct(view.to_json()))
    return message


def trend_message(trend: Trend) -> pb.Trend:
    return pb.Trend(
        verdict=trend.verdict,
        rate_per_second=trend.rate_per_second,
        r_squared=trend.r_squared,
        samples=trend.samples,
        window_s=trend.window_s,
        message=trend.message,
    )


def headroom_message(entry: SignalHeadroom) -> pb.SignalHeadroom:
    message = pb.SignalHeadroom(
        signal=entry.signal.value, unit=entry.unit, available=entry.available, capacity=entry.capacity
    )
    for crossing in entry.crossings:
        item = message.crossings.add(
            event=crossing.event,
            amount=crossing.amount,
            at_available=crossing.at_available,
            threshold=crossing.threshold,
            at_time=format_time(crossing.at_time) if crossing.at_time else "",
            note=crossing.note,
        )
        if crossing.seconds is not None:
            item.seconds = crossing.seconds
    if entry.trend is not None:
        message.trend.CopyFrom(trend_message(entry.trend))
    return message


def message_to_json(message: Any) -> dict[str, Any]:
    """Convert a response to JSON with the proto field names, keeping 64-bit integers exact."""
    document = json_format.MessageToDict(message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
    return _int64_strings_to_int(document)


def _int64_strings_to_int(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _int64_strings_to_int(item) for k, item in value.items()}
    if isinstance(value, list):
        return [_int64_strings_to_int(item) for item in value]
    if isinstance(value, str) and value.lstrip("-").isdigit() and len(value) < 21:
        return int(value)
    return value


def age_seconds(sampled_at: dt.datetime, now: dt.datetime) -> float:
    return max(0.0, (now - sampled_at).total_seconds())
