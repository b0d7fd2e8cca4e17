from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetSnapshotRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Snapshot(_message.Message):
    __slots__ = ("summary", "provenance", "sampled_at", "age_s", "node_name", "kubelet_version", "sequence")
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    SAMPLED_AT_FIELD_NUMBER: _ClassVar[int]
    AGE_S_FIELD_NUMBER: _ClassVar[int]
    NODE_NAME_FIELD_NUMBER: _ClassVar[int]
    KUBELET_VERSION_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    summary: _struct_pb2.Struct
    provenance: _struct_pb2.Struct
    sampled_at: str
    age_s: float
    node_name: str
    kubelet_version: str
    sequence: int
    def __init__(self, summary: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., provenance: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., sampled_at: _Optional[str] = ..., age_s: _Optional[float] = ..., node_name: _Optional[str] = ..., kubelet_version: _Optional[str] = ..., sequence: _Optional[int] = ...) -> None: ...

class GetDecisionRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Observation(_message.Message):
    __slots__ = ("signal", "available", "capacity", "time")
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    signal: str
    available: int
    capacity: int
    time: str
    def __init__(self, signal: _Optional[str] = ..., available: _Optional[int] = ..., capacity: _Optional[int] = ..., time: _Optional[str] = ...) -> None: ...

class ThresholdState(_message.Message):
    __slots__ = ("signal", "value", "threshold", "observed_available", "hard", "grace_period_s", "met")
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    OBSERVED_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    HARD_FIELD_NUMBER: _ClassVar[int]
    GRACE_PERIOD_S_FIELD_NUMBER: _ClassVar[int]
    MET_FIELD_NUMBER: _ClassVar[int]
    signal: str
    value: str
    threshold: int
    observed_available: int
    hard: bool
    grace_period_s: float
    met: bool
    def __init__(self, signal: _Optional[str] = ..., value: _Optional[str] = ..., threshold: _Optional[int] = ..., observed_available: _Optional[int] = ..., hard: _Optional[bool] = ..., grace_period_s: _Optional[float] = ..., met: _Optional[bool] = ...) -> None: ...

class Victim(_message.Message):
    __slots__ = ("pod", "reason", "eviction_signal", "message")
    POD_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    EVICTION_SIGNAL_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    pod: str
    reason: str
    eviction_signal: str
    message: str
    def __init__(self, pod: _Optional[str] = ..., reason: _Optional[str] = ..., eviction_signal: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class Decision(_message.Message):
    __slots__ = ("node_conditions", "observations", "thresholds", "signals_met", "reclaim_signal", "image_gc_would_run", "image_gc_bytes_to_free", "victims", "sampled_at", "kubelet_version", "detail")
    NODE_CONDITIONS_FIELD_NUMBER: _ClassVar[int]
    OBSERVATIONS_FIELD_NUMBER: _ClassVar[int]
    THRESHOLDS_FIELD_NUMBER: _ClassVar[int]
    SIGNALS_MET_FIELD_NUMBER: _ClassVar[int]
    RECLAIM_SIGNAL_FIELD_NUMBER: _ClassVar[int]
    IMAGE_GC_WOULD_RUN_FIELD_NUMBER: _ClassVar[int]
    IMAGE_GC_BYTES_TO_FREE_FIELD_NUMBER: _ClassVar[int]
    VICTIMS_FIELD_NUMBER: _ClassVar[int]
    SAMPLED_AT_FIELD_NUMBER: _ClassVar[int]
    KUBELET_VERSION_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    node_conditions: _containers.RepeatedScalarFieldContainer[str]
    observations: _containers.RepeatedCompositeFieldContainer[Observation]
    thresholds: _containers.RepeatedCompositeFieldContainer[ThresholdState]
    signals_met: _containers.RepeatedScalarFieldContainer[str]
    reclaim_signal: str
    image_gc_would_run: bool
    image_gc_bytes_to_free: int
    victims: _containers.RepeatedCompositeFieldContainer[Victim]
    sampled_at: str
    kubelet_version: str
    detail: _struct_pb2.Struct
    def __init__(self, node_conditions: _Optional[_Iterable[str]] = ..., observations: _Optional[_Iterable[_Union[Observation, _Mapping]]] = ..., thresholds: _Optional[_Iterable[_Union[ThresholdState, _Mapping]]] = ..., signals_met: _Optional[_Iterable[str]] = ..., reclaim_signal: _Optional[str] = ..., image_gc_would_run: _Optional[bool] = ..., image_gc_bytes_to_free: _Optional[int] = ..., victims: _Optional[_Iterable[_Union[Victim, _Mapping]]] = ..., sampled_at: _Optional[str] = ..., kubelet_version: _Optional[str] = ..., detail: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class PolicyOverride(_message.Message):
    __slots__ = ("preset", "kubelet_version", "kubelet_config_patch_json")
    PRESET_FIELD_NUMBER: _ClassVar[int]
    KUBELET_VERSION_FIELD_NUMBER: _ClassVar[int]
    KUBELET_CONFIG_PATCH_JSON_FIELD_NUMBER: _ClassVar[int]
    preset: str
    kubelet_version: str
    kubelet_config_patch_json: str
    def __init__(self, preset: _Optional[str] = ..., kubelet_version: _Optional[str] = ..., kubelet_config_patch_json: _Optional[str] = ...) -> None: ...

class FilesystemDelta(_message.Message):
    __slots__ = ("filesystem", "used_bytes", "inodes_used")
    FILESYSTEM_FIELD_NUMBER: _ClassVar[int]
    USED_BYTES_FIELD_NUMBER: _ClassVar[int]
    INODES_USED_FIELD_NUMBER: _ClassVar[int]
    filesystem: str
    used_bytes: int
    inodes_used: int
    def __init__(self, filesystem: _Optional[str] = ..., used_bytes: _Optional[int] = ..., inodes_used: _Optional[int] = ...) -> None: ...

class ImagePull(_message.Message):
    __slots__ = ("image", "size_bytes", "count", "in_use")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    IN_USE_FIELD_NUMBER: _ClassVar[int]
    image: str
    size_bytes: int
    count: int
    in_use: bool
    def __init__(self, image: _Optional[str] = ..., size_bytes: _Optional[int] = ..., count: _Optional[int] = ..., in_use: _Optional[bool] = ...) -> None: ...

class PodChange(_message.Message):
    __slots__ = ("kind", "pod", "pod_json", "memory_working_set_bytes", "ephemeral_storage_bytes", "requests", "limits")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[PodChange.Kind]
        ADD: _ClassVar[PodChange.Kind]
        REMOVE: _ClassVar[PodChange.Kind]
        RESIZE: _ClassVar[PodChange.Kind]
    KIND_UNSPECIFIED: PodChange.Kind
    ADD: PodChange.Kind
    REMOVE: PodChange.Kind
    RESIZE: PodChange.Kind
    class RequestsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class LimitsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    KIND_FIELD_NUMBER: _ClassVar[int]
    POD_FIELD_NUMBER: _ClassVar[int]
    POD_JSON_FIELD_NUMBER: _ClassVar[int]
    MEMORY_WORKING_SET_BYTES_FIELD_NUMBER: _ClassVar[int]
    EPHEMERAL_STORAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    kind: PodChange.Kind
    pod: str
    pod_json: str
    memory_working_set_bytes: int
    ephemeral_storage_bytes: int
    requests: _containers.ScalarMap[str, str]
    limits: _containers.ScalarMap[str, str]
    def __init__(self, kind: _Optional[_Union[PodChange.Kind, str]] = ..., pod: _Optional[str] = ..., pod_json: _Optional[str] = ..., memory_working_set_bytes: _Optional[int] = ..., ephemeral_storage_bytes: _Optional[int] = ..., requests: _Optional[_Mapping[str, str]] = ..., limits: _Optional[_Mapping[str, str]] = ...) -> None: ...

class FutureSyncs(_message.Message):
    __slots__ = ("syncs", "interval_s", "growth_per_second", "memory_bytes_per_second")
    SYNCS_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_S_FIELD_NUMBER: _ClassVar[int]
    GROWTH_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    syncs: int
    interval_s: float
    growth_per_second: _containers.RepeatedCompositeFieldContainer[FilesystemDelta]
    memory_bytes_per_second: int
    def __init__(self, syncs: _Optional[int] = ..., interval_s: _Optional[float] = ..., growth_per_second: _Optional[_Iterable[_Union[FilesystemDelta, _Mapping]]] = ..., memory_bytes_per_second: _Optional[int] = ...) -> None: ...

class WhatIf(_message.Message):
    __slots__ = ("policy", "filesystem_deltas", "memory_working_set_delta_bytes", "pid_delta", "image_pulls", "pod_changes", "future", "include_detail")
    POLICY_FIELD_NUMBER: _ClassVar[int]
    FILESYSTEM_DELTAS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_WORKING_SET_DELTA_BYTES_FIELD_NUMBER: _ClassVar[int]
    PID_DELTA_FIELD_NUMBER: _ClassVar[int]
    IMAGE_PULLS_FIELD_NUMBER: _ClassVar[int]
    POD_CHANGES_FIELD_NUMBER: _ClassVar[int]
    FUTURE_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_DETAIL_FIELD_NUMBER: _ClassVar[int]
    policy: PolicyOverride
    filesystem_deltas: _containers.RepeatedCompositeFieldContainer[FilesystemDelta]
    memory_working_set_delta_bytes: int
    pid_delta: int
    image_pulls: _containers.RepeatedCompositeFieldContainer[ImagePull]
    pod_changes: _containers.RepeatedCompositeFieldContainer[PodChange]
    future: FutureSyncs
    include_detail: bool
    def __init__(self, policy: _Optional[_Union[PolicyOverride, _Mapping]] = ..., filesystem_deltas: _Optional[_Iterable[_Union[FilesystemDelta, _Mapping]]] = ..., memory_working_set_delta_bytes: _Optional[int] = ..., pid_delta: _Optional[int] = ..., image_pulls: _Optional[_Iterable[_Union[ImagePull, _Mapping]]] = ..., pod_changes: _Optional[_Iterable[_Union[PodChange, _Mapping]]] = ..., future: _Optional[_Union[FutureSyncs, _Mapping]] = ..., include_detail: _Optional[bool] = ...) -> None: ...

class HeadroomRequest(_message.Message):
    __slots__ = ("signals", "window_s", "rate_per_second", "policy")
    class RatePerSecondEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    SIGNALS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_S_FIELD_NUMBER: _ClassVar[int]
    RATE_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    signals: _containers.RepeatedScalarFieldContainer[str]
    window_s: float
    rate_per_second: _containers.ScalarMap[str, float]
    policy: PolicyOverride
    def __init__(self, signals: _Optional[_Iterable[str]] = ..., window_s: _Optional[float] = ..., rate_per_second: _Optional[_Mapping[str, float]] = ..., policy: _Optional[_Union[PolicyOverride, _Mapping]] = ...) -> None: ...

class Trend(_message.Message):
    __slots__ = ("verdict", "rate_per_second", "r_squared", "samples", "window_s", "message")
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    RATE_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    R_SQUARED_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    WINDOW_S_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    verdict: str
    rate_per_second: float
    r_squared: float
    samples: int
    window_s: float
    message: str
    def __init__(self, verdict: _Optional[str] = ..., rate_per_second: _Optional[float] = ..., r_squared: _Optional[float] = ..., samples: _Optional[int] = ..., window_s: _Optional[float] = ..., message: _Optional[str] = ...) -> None: ...

class Crossing(_message.Message):
    __slots__ = ("event", "amount", "at_available", "threshold", "seconds", "at_time", "note")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    AT_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    AT_TIME_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    event: str
    amount: int
    at_available: int
    threshold: str
    seconds: float
    at_time: str
    note: str
    def __init__(self, event: _Optional[str] = ..., amount: _Optional[int] = ..., at_available: _Optional[int] = ..., threshold: _Optional[str] = ..., seconds: _Optional[float] = ..., at_time: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class SignalHeadroom(_message.Message):
    __slots__ = ("signal", "unit", "available", "capacity", "crossings", "trend")
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    CROSSINGS_FIELD_NUMBER: _ClassVar[int]
    TREND_FIELD_NUMBER: _ClassVar[int]
    signal: str
    unit: str
    available: int
    capacity: int
    crossings: _containers.RepeatedCompositeFieldContainer[Crossing]
    trend: Trend
    def __init__(self, signal: _Optional[str] = ..., unit: _Optional[str] = ..., available: _Optional[int] = ..., capacity: _Optional[int] = ..., crossings: _Optional[_Iterable[_Union[Crossing, _Mapping]]] = ..., trend: _Optional[_Union[Trend, _Mapping]] = ...) -> None: ...

class HeadroomResponse(_message.Message):
    __slots__ = ("signals", "sampled_at")
    SIGNALS_FIELD_NUMBER: _ClassVar[int]
    SAMPLED_AT_FIELD_NUMBER: _ClassVar[int]
    signals: _containers.RepeatedCompositeFieldContainer[SignalHeadroom]
    sampled_at: str
    def __init__(self, signals: _Optional[_Iterable[_Union[SignalHeadroom, _Mapping]]] = ..., sampled_at: _Optional[str] = ...) -> None: ...

class SweepRequest(_message.Message):
    __slots__ = ("pointer", "values", "base")
    POINTER_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    BASE_FIELD_NUMBER: _ClassVar[int]
    pointer: str
    values: _containers.RepeatedScalarFieldContainer[str]
    base: WhatIf
    def __init__(self, pointer: _Optional[str] = ..., values: _Optional[_Iterable[str]] = ..., base: _Optional[_Union[WhatIf, _Mapping]] = ...) -> None: ...

class SweepResult(_message.Message):
    __slots__ = ("value", "decision")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    value: str
    decision: Decision
    def __init__(self, value: _Optional[str] = ..., decision: _Optional[_Union[Decision, _Mapping]] = ...) -> None: ...

class SweepResponse(_message.Message):
    __slots__ = ("pointer", "results")
    POINTER_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    pointer: str
    results: _containers.RepeatedCompositeFieldContainer[SweepResult]
    def __init__(self, pointer: _Optional[str] = ..., results: _Optional[_Iterable[_Union[SweepResult, _Mapping]]] = ...) -> None: ...

class WatchRequest(_message.Message):
    __slots__ = ("send_initial",)
    SEND_INITIAL_FIELD_NUMBER: _ClassVar[int]
    send_initial: bool
    def __init__(self, send_initial: _Optional[bool] = ...) -> None: ...

class DecisionChange(_message.Message):
    __slots__ = ("sequence", "sampled_at", "changes", "decision")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    SAMPLED_AT_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    sampled_at: str
    changes: _containers.RepeatedScalarFieldContainer[str]
    decision: Decision
    def __init__(self, sequence: _Optional[int] = ..., sampled_at: _Optional[str] = ..., changes: _Optional[_Iterable[str]] = ..., decision: _Optional[_Union[Decision, _Mapping]] = ...) -> None: ...

class ExplainImageFsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ExplainStep(_message.Message):
    __slots__ = ("step", "value", "source")
    STEP_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    step: str
    value: str
    source: str
    def __init__(self, step: _Optional[str] = ..., value: _Optional[str] = ..., source: _Optional[str] = ...) -> None: ...

class ImageFsExplanation(_message.Message):
    __slots__ = ("steps", "detail")
    STEPS_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    steps: _containers.RepeatedCompositeFieldContainer[ExplainStep]
    detail: _struct_pb2.Struct
    def __init__(self, steps: _Optional[_Iterable[_Union[ExplainStep, _Mapping]]] = ..., detail: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class GetHistoryRequest(_message.Message):
    __slots__ = ("window_s",)
    WINDOW_S_FIELD_NUMBER: _ClassVar[int]
    window_s: float
    def __init__(self, window_s: _Optional[float] = ...) -> None: ...

class SignalValue(_message.Message):
    __slots__ = ("available", "capacity")
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    available: int
    capacity: int
    def __init__(self, available: _Optional[int] = ..., capacity: _Optional[int] = ...) -> None: ...

class HistoryPoint(_message.Message):
    __slots__ = ("time", "sequence", "signals", "node_conditions")
    class SignalsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: SignalValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[SignalValue, _Mapping]] = ...) -> None: ...
    TIME_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    SIGNALS_FIELD_NUMBER: _ClassVar[int]
    NODE_CONDITIONS_FIELD_NUMBER: _ClassVar[int]
    time: float
    sequence: int
    signals: _containers.MessageMap[str, SignalValue]
    node_conditions: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, time: _Optional[float] = ..., sequence: _Optional[int] = ..., signals: _Optional[_Mapping[str, SignalValue]] = ..., node_conditions: _Optional[_Iterable[str]] = ...) -> None: ...

class History(_message.Message):
    __slots__ = ("points", "kubelet_config", "kubelet_version", "node_name")
    POINTS_FIELD_NUMBER: _ClassVar[int]
    KUBELET_CONFIG_FIELD_NUMBER: _ClassVar[int]
    KUBELET_VERSION_FIELD_NUMBER: _ClassVar[int]
    NODE_NAME_FIELD_NUMBER: _ClassVar[int]
    points: _containers.RepeatedCompositeFieldContainer[HistoryPoint]
    kubelet_config: _struct_pb2.Struct
    kubelet_version: str
    node_name: str
    def __init__(self, points: _Optional[_Iterable[_Union[HistoryPoint, _Mapping]]] = ..., kubelet_config: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., kubelet_version: _Optional[str] = ..., node_name: _Optional[str] = ...) -> None: ...
