"""What-if evaluation: apply overrides to a copy of the latest sample and decide on the copy.

The live sample is never modified: every changed part of the Summary is a new object made with
:func:`_shallow_copy`, and unchanged parts are shared with the live sample.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import operator
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from simulator.api.decision import DecisionView, decide, detect_layout, engine_victims, first_reclaim_signal
from simulator.api.live import Sample
from simulator.api.policy_adapter import apply_override, containerfs_thresholds
from simulator.api.reclaim import private_reclaimer
from simulator.engine.eviction import ManagerState, synchronize
from simulator.errors import InputError
from simulator.pods import PodSpec
from simulator.policy.model import Policy
from simulator.quantity import Quantity
from simulator.signals import FsLayout, Signal
from simulator.snapshot import FsStats, PodRef, PodStats, Summary


@dataclasses.dataclass(frozen=True, slots=True)
class PolicyChange:
    preset: str = ""
    kubelet_version: str = ""
    patch_json: str = ""

    @property
    def empty(self) -> bool:
        return not (self.preset or self.kubelet_version or self.patch_json)


@dataclasses.dataclass(frozen=True, slots=True)
class FilesystemDelta:
    """Extra usage on "nodefs", "imagefs" or "containerfs"; negative values free space."""

    filesystem: str
    used_bytes: int = 0
    inodes_used: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class ImagePull:
    image: str
    size_bytes: int
    count: int = 1
    in_use: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class PodChange:
    """A pod added ("add"), removed ("remove") or resized ("resize"), named namespace/name."""

    kind: str
    pod: str = ""
    pod_json: str = ""
    memory_working_set_bytes: int = 0
    ephemeral_storage_bytes: int = 0
    requests: Mapping[str, str] = dataclasses.field(default_factory=dict)
    limits: Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, slots=True)
class FutureSyncs:
    """``syncs`` more passes ``interval_s`` apart with usage growing at the given rates."""

    syncs: int = 0
    interval_s: float = 10.0
    growth_per_second: tuple[FilesystemDelta, ...] = ()
    memory_bytes_per_second: int = 0

    @property
    def elapsed_s(self) -> float:
        return self.syncs * self.interval_s


@dataclasses.dataclass(frozen=True, slots=True)
class WhatIfSpec:
    policy: PolicyChange = PolicyChange()
    filesystem_deltas: tuple[FilesystemDelta, ...] = ()
    memory_working_set_delta_bytes: int = 0
    pid_delta: int = 0
    image_pulls: tuple[ImagePull, ...] = ()
    pod_changes: tuple[PodChange, ...] = ()
    future: FutureSyncs = FutureSyncs()


# The Summary filesystems that share storage with each named filesystem, per layout.
_SHARED: dict[FsLayout, dict[str, tuple[str, ...]]] = {
    FsLayout.SINGLE: {name: ("fs", "image_fs", "container_fs") for name in ("nodefs", "imagefs", "containerfs")},
    FsLayout.DEDICATED_IMAGEFS: {
        "nodefs": ("fs",),
        "imagefs": ("image_fs", "container_fs"),
        "containerfs": ("image_fs", "container_fs"),
    },
    FsLayout.SPLIT: {
        "nodefs": ("fs", "container_fs"),
        "imagefs": ("image_fs",),
        "containerfs": ("fs", "container_fs"),
    },
}


class _Editor:
    """Collects changes to a Summary's node section and builds a new Summary from them."""

    def __init__(self, summary: Summary, layout: FsLayout) -> None:
        self.summary = summary
        self.layout = layout
        self.fs: dict[str, FsStats | None] = {
            "fs": summary.node.fs,
            "image_fs": summary.node.image_fs,
            "container_fs": summary.node.container_fs,
        }
        self.memory = summary.node.memory
        self.pods_memory_delta = 0
        self.rlimit = summary.node.rlimit
        self.pods = list(summary.pods)
        self.notes: list[str] = []

    def use_filesystem(self, name: str, used_bytes: int, inodes_used: int, *, field: str) -> None:
        targets = [t for t in _SHARED[self.layout][name] if self.fs[t] is not None]
        if not targets:
            self.notes.append(f"{field}: the node reports no {name} statistics, so the change has no effect")
            return
        seen: set[int] = set()
        for target in targets:
            stats = self.fs[target]
            assert stats is not None
            if id(stats) in seen:
                continue
            seen.add(id(stats))
            changed = _use(stats, used_bytes, inodes_used, field=field, notes=self.notes)
            for other in targets:
                if self.fs[other] is stats:
                    self.fs[other] = changed

    def use_memory(self, delta: int, *, field: str) -> None:
        if self.memory is None or self.memory.available_bytes is None or self.memory.working_set_bytes is None:
            self.notes.append(f"{field}: the node reports no memory statistics, so the change has no effect")
            return
        available = self.memory.available_bytes - delta
        if available < 0 or self.memory.working_set_bytes + delta < 0:
            raise InputError(
                f"{field}: {delta} bytes would make node memory available {available} or the working set negative",
                field=field,
                value=delta,
            )
        memory = _shallow_copy(self.memory)
        memory.available_bytes = available
        memory.working_set_bytes = self.memory.working_set_bytes + delta
        self.memory = memory
        self.pods_memory_delta += delta

    def use_pids(self, delta: int, *, field: str) -> None:
        if self.rlimit is None or self.rlimit.curproc is None:
            self.notes.append(f"{field}: the node reports no process counts, so the change has no effect")
            return
        curproc = self.rlimit.curproc + delta
        if curproc < 0:
            raise InputError(f"{field}: {delta} would make the process count {curproc}", field=field, value=delta)
        rlimit = _shallow_copy(self.rlimit)
        rlimit.curproc = curproc
        self.rlimit = rlimit

    def build(self) -> Summary:
        system_containers = self.summary.node.system_containers
        if self.pods_memory_delta:
            system_containers = [_pods_container_with(c, self.pods_memory_delta) for c in system_containers]
        node = _shallow_copy(self.summary.node)
        node.fs = self.fs["fs"]
        node.image_fs = self.fs["image_fs"]
        node.container_fs = self.fs["container_fs"]
        node.memory = self.memory
        node.rlimit = self.rlimit
        node.system_containers = system_containers
        return Summary(node=node, pods=self.pods, provenance=self.summary.provenance)


_Stats = TypeVar("_Stats")
_FIELD_GETTERS: dict[type, Callable[[Any], tuple[Any, ...]]] = {}


def _shallow_copy(stats: _Stats) -> _Stats:
    """Return a new instance of the Summary dataclass ``stats`` with the same field values.

    The copy's fields can then be assigned, because the Summary dataclasses are not frozen. This
    is about 4 times faster than ``dataclasses.replace``, which checks every field's init flag and
    collects keyword arguments on each call, and a pressure what-if makes about 12 such copies.
    """
    cls = type(stats)
    getter = _FIELD_GETTERS.get(cls)
    if getter is None:
        fields = dataclasses.fields(cls)  # type: ignore[arg-type]
        # Positional construction needs every field in __init__, and attrgetter returns a
        # tuple only for two or more names.
        assert len(fields) >= 2 and all(f.init for f in fields), f"{cls.__name__} cannot be copied positionally"
        getter = _FIELD_GETTERS[cls] = operator.attrgetter(*(f.name for f in fields))
    return cls(*getter(stats))


def _use(stats: FsStats, used_bytes: int, inodes_used: int, *, field: str, notes: list[str]) -> FsStats:
    changes: dict[str, int] = {}
    if used_bytes and stats.available_bytes is not None:
        available = stats.available_bytes - used_bytes
        capacity = stats.capacity_bytes
        if capacity is not None and available > capacity:
            raise InputError(
                f"{field}: freeing {-used_bytes} bytes would leave {available} bytes available, "
                f"more than the capacity {capacity}",
                field=field,
                value=used_bytes,
            )
        if available < 0:
            notes.append(f"{field}: the filesystem is full after {used_bytes} bytes; available is 0")
            available = 0
        changes["available_bytes"] = available
        if stats.used_bytes is not None:
            changes["used_bytes"] = max(0, stats.used_bytes + used_bytes)
    if inodes_used and stats.inodes_free is not None:
        inodes_free = stats.inodes_free - inodes_used
        if stats.inodes is not None and inodes_free > stats.inodes:
            raise InputError(
                f"{field}: freeing {-inodes_used} inodes would leave more free inodes than the total {stats.inodes}",
                field=field,
                value=inodes_used,
            )
        changes["inodes_free"] = max(0, inodes_free)
        if stats.inodes_used is not None:
            changes["inodes_used"] = max(0, stats.inodes_used + inodes_used)
    if not changes:
        return stats
    changed = _shallow_copy(stats)
    for name, value in changes.items():
        setattr(changed, name, value)
    return changed


def _pods_container_with(container: Any, delta: int) -> Any:
    memory = container.memory
    if container.name != "pods" or memory is None or memory.available_bytes is None or memory.working_set_bytes is None:
        return container
    new_memory = _shallow_copy(memory)
    new_memory.available_bytes = max(0, memory.available_bytes - delta)
    new_memory.working_set_bytes = max(0, memory.working_set_bytes + delta)
    new_container = _shallow_copy(container)
    new_container.memory = new_memory
    return new_container


@dataclasses.dataclass(frozen=True)
class WhatIfResult:
    """A what-if's inputs after overrides, and the decision on them."""

    summary: Summary
    policy: Any
    pods: tuple[PodSpec, ...]
    decision: DecisionView
    kubelet_config: Mapping[str, Any] | None


def apply_what_if(sample: Sample, spec: WhatIfSpec) -> WhatIfResult:
    """Apply ``spec`` to a copy of ``sample`` and decide on the copy."""
    policy, kubelet_config = sample.policy, sample.kubelet_config
    if not spec.policy.empty:
        policy, kubelet_config = apply_override(
            sample.policy,
            sample.kubelet_config,
            preset=spec.policy.preset,
            kubelet_version=spec.policy.kubelet_version,
            patch_json=spec.policy.patch_json,
        )

    layout = sample.layout or detect_layout(sample.summary)
    editor = _Editor(sample.summary, layout)
    pods = list(sample.pods)

    for index, delta in enumerate(spec.filesystem_deltas):
        editor.use_filesystem(delta.filesystem, delta.used_bytes, delta.inodes_used, field=f"filesystem_deltas[{index}]")
    if spec.memory_working_set_delta_bytes:
        editor.use_memory(spec.memory_working_set_delta_bytes, field="memory_working_set_delta_bytes")
    if spec.pid_delta:
        editor.use_pids(spec.pid_delta, field="pid_delta")
    for index, pull in enumerate(spec.image_pulls):
        editor.use_filesystem("imagefs", pull.size_bytes * pull.count, 0, field=f"image_pulls[{index}]")
    for index, change in enumerate(spec.pod_changes):
        pods = _apply_pod_change(editor, pods, change, field=f"pod_changes[{index}]")

    future = spec.future
    if future.syncs:
        for index, growth in enumerate(future.growth_per_second):
            editor.use_filesystem(
                growth.filesystem,
                round(growth.used_bytes * future.elapsed_s),
                round(growth.inodes_used * future.elapsed_s),
                field=f"future.growth_per_second[{index}]",
            )
        if future.memory_bytes_per_second:
            editor.use_memory(round(future.memory_bytes_per_second * future.elapsed_s), field="future.memory_bytes_per_second")

    summary = editor.build()
    decision = decide(
        summary, policy, sampled_at=sample.sampled_at, layout=layout, elapsed_s=future.elapsed_s, notes=tuple(editor.notes)
    )
    if decision.reclaim_signal is None and _conditions_only(decision, sample, policy, layout, future.elapsed_s):
        decision = _with_live_conditions(decision, sample, policy, layout)
    elif sample.manager_state is not None or decision.reclaim_signal is not None:
        decision = _with_engine_pass(decision, sample, summary, tuple(pods), policy, layout, future.elapsed_s)
    return WhatIfResult(summary, policy, tuple(pods), decision, kubelet_config)


def _conditions_only(decision: DecisionView, sample: Sample, policy: Policy, layout: FsLayout, elapsed_s: float) -> bool:
    """Report whether the engine's pass from the daemon's state could only change the node conditions.

    That holds when no threshold is actionable now, no future passes are asked for, no threshold
    is still reclaiming its minimum, and no threshold met now has a grace period already running.
    The pass is then skipped, which keeps steady what-ifs fast.
    """
    if sample.manager_state is None or elapsed_s > 0:
        return False
    state = starting_state(sample, policy, layout)
    if state.thresholds_met:
        return False
    return not any(result.met and result.threshold in state.thresholds_first_observed_at for result in decision.thresholds)


def _with_live_conditions(decision: DecisionView, sample: Sample, policy: Policy, layout: FsLayout) -> DecisionView:
    """Add the conditions the daemon's state keeps for the pressure transition period.

    The engine reports a condition while now - lastObserved < evictionPressureTransitionPeriod,
    where conditions met now are observed now (simulator.engine.thresholds).
    """
    state = starting_state(sample, policy, layout)
    now = sample.sampled_at
    still_reported = {
        condition.value
        for condition, observed_at in state.node_conditions_last_observed_at.items()
        if (now - observed_at).total_seconds() < policy.pressure_transition_period_s
    }
    return dataclasses.replace(decision, node_conditions=tuple(sorted(set(decision.node_conditions) | still_reported)))


def starting_state(sample: Sample, policy: Policy, layout: FsLayout) -> ManagerState:
    """Return the eviction-manager state a what-if pass starts from, never the live object itself.

    With the daemon's state, first-observed times of thresholds and last-observed times of node
    conditions carry over, so grace periods and the pressure transition period already running
    apply as on the kubelet's next sync. Previous observations are dropped, so the what-if's
    stats count as refreshed and its thresholds can be acted on. A changed policy re-derives the
    thresholds (and the containerfs copies) on the first pass, and only thresholds it still
    contains keep their minimum-reclaim continuation. Without the daemon's state the pass
    starts fresh.
    """
    live = sample.manager_state
    if live is None:
        return ManagerState()
    state = dataclasses.replace(
        live,
        thresholds_first_observed_at=dict(live.thresholds_first_observed_at),
        node_conditions_last_observed_at=dict(live.node_conditions_last_observed_at),
        last_observations={},
    )
    if policy is sample.policy:
        return state
    still_configured = set(policy.thresholds) | set(containerfs_thresholds(policy.thresholds, layout))
    return dataclasses.replace(
        state,
        layout=None,
        thresholds=None,
        thresholds_met=tuple(t for t in state.thresholds_met if t in still_configured),
    )


def _with_engine_pass(
    decision: DecisionView,
    sample: Sample,
    summary: Summary,
    pods: tuple[PodSpec, ...],
    policy: Any,
    layout: FsLayout,
    elapsed_s: float,
) -> DecisionView:
    """Run the engine's eviction-manager pass on the what-if inputs for conditions, reclaim and victims.

    The pass starts from :func:`starting_state`. A second pass ``elapsed_s`` later lets soft
    thresholds whose grace period ends within it act. Both passes get the node stats stamped
    with their own time, so each counts as a fresh sample. With the daemon's state the node
    conditions and the reclaim signal are the engine's, which include the pressure transition
    period and the grace periods already running.
    NOTE: both passes see the final usage, as if it had been reached at the first pass.
    """
    state = starting_state(sample, policy, layout)
    now = sample.sampled_at
    reclaimer = _CopyOnUseReclaimer(sample.reclaimer) if sample.reclaimer is not None else None
    engine_decision, state = synchronize(
        _restamped(summary, now), list(pods) or None, policy, state, now, reclaimer, layout=layout
    )
    if elapsed_s > 0 and not engine_decision.evictions:
        later = now + dt.timedelta(seconds=elapsed_s)
        engine_decision, state = synchronize(
            _restamped(summary, later), list(pods) or None, policy, state, later, reclaimer, layout=layout
        )
    changes: dict[str, Any] = {"victims": engine_victims(engine_decision), "engine": engine_decision}
    if sample.manager_state is not None:
        changes["node_conditions"] = tuple(sorted(c.value for c, reported in engine_decision.conditions.items() if reported))
        changes["reclaim_signal"] = _engine_reclaim_signal(engine_decision)
    return dataclasses.replace(decision, **changes)


class _CopyOnUseReclaimer:
    """A Reclaimer that deep-copies the sample's reclaimer on the first reclaim call.

    Most what-ifs meet no actionable threshold, so they never reclaim and skip the copy of
    every image and container record.
    """

    def __init__(self, shared: Any) -> None:
        self._shared = shared
        self._own: Any = None

    def _reclaimer(self) -> Any:
        if self._own is None:
            self._own = private_reclaimer(self._shared)
        return self._own

    def delete_unused_containers(self, now: dt.datetime) -> Any:
        return self._reclaimer().delete_unused_containers(now)

    def delete_unused_images(self, now: dt.datetime) -> Any:
        return self._reclaimer().delete_unused_images(now)


def _engine_reclaim_signal(engine_decision: Any) -> Signal | None:
    """Return the signal the engine's pass reclaims for: memory signals first, then signal order."""
    return first_reclaim_signal({report.signal for report in engine_decision.thresholds if report.actionable})


def _restamped(summary: Summary, when: dt.datetime) -> Summary:
    """Return ``summary`` with its node stats timed ``when``, so the engine treats them as refreshed."""
    node = summary.node
    # Filesystems shared between fs, image_fs and container_fs stay shared in the copy.
    stamped_by_id: dict[int, Any] = {}

    def stamp(stats: Any) -> Any:
        if stats is None or stats.time is None:
            return stats
        copy = stamped_by_id.get(id(stats))
        if copy is None:
            copy = stamped_by_id[id(stats)] = _shallow_copy(stats)
            copy.time = when
        return copy

    system_containers = []
    for container in node.system_containers:
        if container.memory is not None:
            container = _shallow_copy(container)
            container.memory = stamp(container.memory)
        system_containers.append(container)
    stamped = _shallow_copy(node)
    stamped.memory = stamp(node.memory)
    stamped.fs = stamp(node.fs)
    stamped.image_fs = stamp(node.image_fs)
    stamped.container_fs = stamp(node.container_fs)
    stamped.rlimit = stamp(node.rlimit)
    stamped.system_containers = system_containers
    return Summary(node=stamped, pods=summary.pods, provenance=summary.provenance)


def _find_pod(pods: list[PodSpec], key: str, *, field: str) -> int:
    for index, pod in enumerate(pods):
        if pod.key == key:
            return index
    raise InputError(f"{field}.pod: pod {key!r} not found on the node (use namespace/name)", field=f"{field}.pod", value=key)


def _apply_pod_change(editor: _Editor, pods: list[PodSpec], change: PodChange, *, field: str) -> list[PodSpec]:
    pods = list(pods)
    if change.kind == "add":
        try:
            document = json.loads(change.pod_json)
        except ValueError as error:
            raise InputError(f"{field}.pod_json: invalid JSON: {error}", field=f"{field}.pod_json", value=change.pod_json) from error
        pod = PodSpec.from_k8s(document, field=f"{field}.pod_json")
        pods.append(pod)
        editor.pods.append(PodStats(pod_ref=PodRef(pod.name, pod.namespace, pod.uid)))
        _charge_pod(editor, change.memory_working_set_bytes, change.ephemeral_storage_bytes, field=field)
    elif change.kind == "remove":
        stats = next((p for p in editor.pods if p.pod_ref.key == change.pod), None)
        spec_index = next((i for i, pod in enumerate(pods) if pod.key == change.pod), None)
        if stats is None and spec_index is None:
            _find_pod(pods, change.pod, field=field)
        if spec_index is not None:
            del pods[spec_index]
        if stats is not None:
            editor.pods = [p for p in editor.pods if p is not stats]
            memory = stats.memory.working_set_bytes if stats.memory and stats.memory.working_set_bytes else 0
            storage = stats.ephemeral_storage.used_bytes if stats.ephemeral_storage and stats.ephemeral_storage.used_bytes else 0
            _charge_pod(editor, -memory, -storage, field=field)
    elif change.kind == "resize":
        index = _find_pod(pods, change.pod, field=field)
        pods[index] = _resized(pods[index], change, field=field)
        _charge_pod(editor, change.memory_working_set_bytes, change.ephemeral_storage_bytes, field=field)
    else:
        raise InputError(f"{field}.kind: expected ADD, REMOVE or RESIZE, got {change.kind!r}", field=f"{field}.kind", value=change.kind)
    return pods


def _charge_pod(editor: _Editor, memory_bytes: int, storage_bytes: int, *, field: str) -> None:
    if memory_bytes:
        editor.use_memory(memory_bytes, field=f"{field}.memory_working_set_bytes")
    if storage_bytes:
        filesystem = "containerfs" if editor.layout is FsLayout.SPLIT else "nodefs"
        editor.use_filesystem(filesystem, storage_bytes, 0, field=f"{field}.ephemeral_storage_bytes")


def _quantities(values: Mapping[str, str], *, field: str) -> dict[str, Quantity]:
    result = {}
    for resource, text in values.items():
        try:
            result[resource] = Quantity.parse(text)
        except ValueError as error:
            raise InputError(f"{field}[{resource}]: invalid quantity {text!r}: {error}", field=f"{field}[{resource}]", value=text) from error
    return result


def _resized(pod: PodSpec, change: PodChange, *, field: str) -> PodSpec:
    requests = _quantities(change.requests, field=f"{field}.requests")
    limits = _quantities(change.limits, field=f"{field}.limits")
    containers = tuple(
        dataclasses.replace(
            c, requests={**c.requests, **requests}, limits={**c.limits, **limits}
        )
        for c in pod.containers
    )
    return dataclasses.replace(pod, containers=containers)
