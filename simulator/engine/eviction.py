"""The kubelet eviction manager's synchronize pass as a pure function plus a thin stateful wrapper.

:func:`synchronize` takes a Summary, pod specs, a Policy, the previous :class:`ManagerState`,
the simulated time and a Reclaimer, and returns a :class:`Decision` and the next state. It
follows the kubelet's pass step by step (kubernetes pkg/kubelet/eviction/eviction_manager.go,
1.27-1.35); each step below carries a one-line comment. Nothing here reads the wall clock or
logs: callers log the decision (the daemon logs changes only).

Differences from the kubelet that a caller can see:

* where the kubelet's order is arbitrary (Go map iteration, unstable sorts), the order here
  is the configuration order, or namespace/name for pods that tie on every comparator;
* the summary "after reclaim" is modelled from the bytes the Reclaimer reports (see
  :mod:`simulator.engine.reclaim`), because no fresh Summary exists offline.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Mapping, Sequence
from fractions import Fraction

from simulator.engine.decision import Decision, Eviction, ReclaimReport, ThresholdReport
from simulator.engine.observations import Observation, Observations, make_observations, missing_signal_notes
from simulator.engine.ranking import FS_STATS_TO_MEASURE, Candidate, RankEntry, rank_pods
from simulator.engine.reclaim import NoReclaim, Reclaimer, ReclaimStep, summary_after_reclaim
from simulator.engine.thresholds import (
    merge_thresholds,
    node_conditions,
    node_conditions_last_observed_at,
    node_conditions_observed_since,
    reclaimable_threshold,
    sort_by_eviction_priority,
    threshold_amount,
    thresholds_first_observed_at,
    thresholds_met,
    thresholds_met_grace_period,
    thresholds_updated_stats,
)
from simulator.errors import EvictsimError
from simulator.pods import PodSpec, is_critical, pod_limit
from simulator.policy.model import Policy, Threshold, ThresholdValue
from simulator.policy.versions import at_least, default_feature_gates, normalize_version
from simulator.quantity import BINARY_SI, DECIMAL_SI, Quantity
from simulator.signals import (
    CONTAINERFS_SIGNALS,
    COUNT_SIGNALS,
    SIGNAL_TO_RESOURCE,
    FsLayout,
    NodeCondition,
    Resource,
    Signal,
)
from simulator.snapshot import PodRef, PodStats, Summary

# The grace period the kubelet gives hard-threshold and local-storage evictions since 1.31
# (immediateEvictionGracePeriodSeconds, kubernetes PR 124063); before 1.31 it passed 0.
IMMEDIATE_EVICTION_GRACE_PERIOD_S = 1
IMMEDIATE_GRACE_SINCE = "1.31"

# Soft evictions give min(evictionMaxPodGracePeriod, pod terminationGracePeriodSeconds) when
# the pod sets the latter. NOTE: the release that added this is inferred (the change sits
# next to the 1.32 AllowOverwriteTerminationGracePeriodSeconds gate); before it the kubelet
# passed evictionMaxPodGracePeriod alone. Both agree unless the maximum exceeds the pod's value.
SOFT_GRACE_MIN_SINCE = "1.32"

# PodLevelResources: alpha (off) in 1.32-1.33, beta (on) from 1.34.
POD_LEVEL_RESOURCES_SINCE = "1.34"

# Event reasons and annotation keys the kubelet writes (eviction/types.go and helpers.go).
EVICTED_REASON = "Evicted"
THRESHOLD_MET_EVENT_REASON = "EvictionThresholdMet"
OFFENDING_CONTAINERS_KEY = "offending_containers"
OFFENDING_CONTAINERS_USAGE_KEY = "offending_containers_usage"
STARVED_RESOURCE_KEY = "starved_resource"
OFFENDING_POD_KEY = "offending_pod"
OFFENDING_POD_USAGE_KEY = "offending_pod_usage"

# Metric labels of local-storage limit evictions.
EMPTYDIR_LIMIT_SIGNAL = "emptydirfs.limit"
POD_LIMIT_SIGNAL = "ephemeralpodfs.limit"
CONTAINER_LIMIT_SIGNAL = "ephemeralcontainerfs.limit"

SPLIT_WITHOUT_GATE_ERROR = "KubeletSeparateDiskGC is turned off but we still have a split filesystem"


@dataclasses.dataclass(frozen=True, slots=True)
class ManagerState:
    """State the eviction manager keeps between passes.

    ``layout`` and ``thresholds`` are fixed on the first successful pass, as the kubelet
    detects the filesystem layout once and then synthesizes the containerfs thresholds.
    """

    layout: FsLayout | None = None
    thresholds: tuple[Threshold, ...] | None = None
    thresholds_met: tuple[Threshold, ...] = ()
    thresholds_first_observed_at: dict[Threshold, dt.datetime] = dataclasses.field(default_factory=dict)
    node_conditions: tuple[NodeCondition, ...] = ()
    node_conditions_last_observed_at: dict[NodeCondition, dt.datetime] = dataclasses.field(default_factory=dict)
    last_observations: dict[Signal, Observation] = dataclasses.field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# version rules


@functools.lru_cache(maxsize=256)
def _at_least(version: str, minimum: str) -> bool:
    """Return :func:`at_least`, cached because every pass checks the same few version pairs."""
    return at_least(version, minimum)


@functools.lru_cache(maxsize=64)
def _normalized_version(text: str | None) -> str:
    return normalize_version(text)


def _gate(policy: Policy, name: str, version: str) -> bool:
    if name in policy.feature_gates:
        return bool(policy.feature_gates[name])
    if name == "PodLevelResources":
        return _at_least(version, POD_LEVEL_RESOURCES_SINCE)
    return default_feature_gates(version).get(name, False)


def eviction_grace_period(override_s: int, termination_grace_period_s: int | None) -> int:
    """Return the grace period the pod worker applies for an eviction's override.

    The pod worker (kubernetes pkg/kubelet/pod_workers.go calculateEffectiveGracePeriod) takes
    the override, treats 0 as "no value" and falls back to the pod's
    terminationGracePeriodSeconds, and raises anything below 1 to 1 second.
    """
    grace = override_s
    if grace == 0 and termination_grace_period_s is not None:
        grace = termination_grace_period_s
    return max(grace, 1)


def pressure_grace_override(threshold: Threshold, pod: PodSpec, policy: Policy, version: str) -> int:
    """Return the grace-period override the eviction manager passes for a pressure eviction."""
    if threshold.hard:
        return IMMEDIATE_EVICTION_GRACE_PERIOD_S if _at_least(version, IMMEDIATE_GRACE_SINCE) else 0
    override = policy.max_pod_grace_period_s
    if _at_least(version, SOFT_GRACE_MIN_SINCE) and pod.termination_grace_period_s is not None:
        override = min(override, pod.termination_grace_period_s)
    return override


def local_storage_grace_override(version: str) -> int:
    return IMMEDIATE_EVICTION_GRACE_PERIOD_S if _at_least(version, IMMEDIATE_GRACE_SINCE) else 0


# ---------------------------------------------------------------------------------------------
# quantities as the kubelet prints them


def format_amount(amount: int, signal_or_count: bool) -> str:
    """Print an integer amount canonically: decimal SI for counts, binary SI for bytes."""
    return str(Quantity.from_int(amount, DECIMAL_SI if signal_or_count else BINARY_SI))


def threshold_quantity_text(threshold: Threshold, capacity: int) -> str:
    """Print a threshold's quantity as GetThresholdQuantity returns it.

    A quantity threshold keeps its parsed form (``2Gi``, ``1200``). A percentage becomes a
    binary-SI count even for inode signals, because the kubelet builds it with BinarySI.
    """
    if threshold.value.quantity is not None:
        return str(threshold.value.quantity)
    return format_amount(int(threshold_amount(threshold.value, capacity)), False)


# ---------------------------------------------------------------------------------------------
# pods


def build_candidates(summary: Summary, pods: Sequence[PodSpec] | None) -> tuple[list[Candidate], list[str]]:
    """Join pod specs to pod stats by UID (falling back to namespace/name).

    Returns the active pods as candidates and notes. Without specs, every pod in the Summary
    becomes a candidate with what the Summary reports (no priority, no requests). Pods whose
    phase is Succeeded or Failed are not active and are left out, as the kubelet does.
    """
    notes: list[str] = []
    if pods is None:
        candidates = [Candidate(_spec_from_stats(stats.pod_ref), stats, spec_known=False) for stats in summary.pods]
        if candidates:
            notes.append(
                f"no pod specs given: {_pods(len(candidates))} ranked from the Summary alone "
                "(priority 0, no requests, no limits, no critical-pod annotations)"
            )
        return candidates, notes

    by_uid: dict[str, PodStats] = {}
    for stats in summary.pods:
        uid = stats.pod_ref.uid
        if uid and uid not in by_uid:
            by_uid[uid] = stats
    by_key: dict[str, PodStats] | None = None

    candidates = []
    joined: list[PodStats] = []
    inactive = 0
    for spec in pods:
        if spec.phase in ("Succeeded", "Failed"):
            inactive += 1
            continue
        stats = by_uid.get(spec.uid) if spec.uid else None
        if stats is None:
            if by_key is None:
                by_key = {}
                for pod_stats in summary.pods:
                    by_key.setdefault(pod_stats.pod_ref.key, pod_stats)
            stats = by_key.get(spec.key)
        if stats is not None:
            joined.append(stats)
        candidates.append(Candidate(spec, stats))
    if inactive:
        notes.append(f"{_pods(inactive)} in phase Succeeded or Failed not active and not ranked")

    without_stats = sorted(c.spec.key for c in candidates if c.stats is None)
    if without_stats:
        notes.append(
            f"{_pods(len(without_stats))} without stats in the Summary, ranked first as in the kubelet: "
            + ", ".join(without_stats)
        )
    # The ids are collected in C over the joined list. When every Summary pod was joined, the
    # count alone shows it and the per-pod membership test is skipped.
    joined_ids = set(map(id, joined))
    unjoined = [] if len(joined_ids) == len(summary.pods) else [s for s in summary.pods if id(s) not in joined_ids]
    if unjoined:
        for stats in unjoined:
            candidates.append(Candidate(_spec_from_stats(stats.pod_ref), stats, spec_known=False))
        notes.append(
            f"{_pods(len(unjoined))} in the Summary without a spec, ranked with what is known: "
            + ", ".join(sorted(stats.pod_ref.key for stats in unjoined))
        )
    return candidates, notes


def _pods(count: int) -> str:
    return f"{count} pod" if count == 1 else f"{count} pods"


def _spec_from_stats(ref: PodRef) -> PodSpec:
    return PodSpec(name=ref.name, namespace=ref.namespace, uid=ref.uid)


# ---------------------------------------------------------------------------------------------
# messages


def pressure_message(
    resource: Resource,
    candidate: Candidate,
    thresholds: Sequence[Threshold],
    observations: Observations,
    *,
    pod_level_resources: bool,
) -> tuple[str, dict[str, str]]:
    """Build the kubelet's eviction message and event annotations for a pressure eviction.

    The threshold part uses the first threshold in ``thresholds`` (the sorted actionable list)
    whose signal starves ``resource``. Container lines list each regular or init container
    whose usage exceeds its own request. Usage is the working set for memory, and rootfs plus
    logs for ephemeral-storage (only when both are reported). Without pod stats the message
    stops after the threshold part and the annotations are empty.
    """
    annotations: dict[str, str] = {}
    message = f"The node was low on resource: {resource.value}. "
    for threshold in thresholds:
        if _resource_of(threshold.signal) != resource:
            continue
        observation = observations.get(threshold.signal)
        if observation is None:
            continue
        quantity = threshold_quantity_text(threshold, observation.capacity)
        available = format_amount(observation.available, threshold.signal in COUNT_SIGNALS)
        message += f"Threshold quantity: {quantity}, available: {available}. "
        break

    stats = candidate.stats
    if stats is None:
        return message, annotations
    spec = candidate.spec

    if resource == Resource.MEMORY and pod_level_resources and spec.pod_requests:
        pod_request_quantity = spec.pod_requests.get("memory")
        if pod_request_quantity is not None and stats.memory is not None:
            usage = format_amount(stats.memory.working_set_bytes or 0, False)
            message += (
                f"Pod {spec.name} was using {usage}, request is {pod_request_quantity}, "
                f"has larger consumption of {resource.value}. "
            )
            annotations[OFFENDING_POD_KEY] = spec.name
            annotations[OFFENDING_POD_USAGE_KEY] = usage

    containers = [*spec.containers, *spec.init_containers]
    offending: list[str] = []
    offending_usage: list[str] = []
    for container_stats in stats.containers:
        container = next((c for c in containers if c.name == container_stats.name), None)
        if container is None:
            continue
        usage_bytes = _container_usage(container_stats, resource)
        if usage_bytes is None:
            continue
        request = container.requests.get(resource.value)
        request_value = request.value if request is not None else 0
        if usage_bytes > request_value:
            usage = format_amount(usage_bytes, False)
            message += (
                f"Container {container.name} was using {usage}, request is {request if request is not None else '0'}, "
                f"has larger consumption of {resource.value}. "
            )
            offending.append(container.name)
            offending_usage.append(usage)
    annotations[OFFENDING_CONTAINERS_KEY] = ",".join(offending)
    annotations[OFFENDING_CONTAINERS_USAGE_KEY] = ",".join(offending_usage)
    annotations[STARVED_RESOURCE_KEY] = resource.value
    return message, annotations


def _resource_of(signal: Signal) -> Resource:
    return SIGNAL_TO_RESOURCE[signal]


def _container_usage(container_stats, resource: Resource) -> int | None:  # type: ignore[no-untyped-def]
    if resource == Resource.EPHEMERAL_STORAGE:
        rootfs, logs = container_stats.rootfs, container_stats.logs
        if rootfs is None or rootfs.used_bytes is None or logs is None or logs.used_bytes is None:
            return None
        return rootfs.used_bytes + logs.used_bytes
    if resource == Resource.MEMORY:
        memory = container_stats.memory
        if memory is None or memory.working_set_bytes is None:
            return None
        return memory.working_set_bytes
    return None


# ---------------------------------------------------------------------------------------------
# local-storage limit evictions


@dataclasses.dataclass(frozen=True, slots=True)
class _StorageLimits:
    """Ephemeral-storage limits of a pod, as exact numbers with their printed form."""

    empty_dirs: tuple[tuple[str, Fraction | int, str], ...]
    pod_limit: tuple[Fraction | int, str] | None
    containers: dict[str, tuple[Fraction | int, str]]


_STORAGE_LIMITS_KEY = ("storage-limits", "", False)
_NOT_CACHED = object()


def _storage_limits(spec: PodSpec) -> _StorageLimits | None:
    """Return the spec's ephemeral-storage limits (cached on the spec), or None when it sets none."""
    cached = spec.derived.get(_STORAGE_LIMITS_KEY, _NOT_CACHED)
    if cached is not _NOT_CACHED:
        return cached  # type: ignore[no-any-return]
    empty_dirs = tuple(
        (volume.name, _exact(volume.empty_dir_size_limit.value), str(volume.empty_dir_size_limit))
        for volume in spec.volumes
        if volume.source == "emptyDir" and volume.empty_dir_size_limit is not None and volume.empty_dir_size_limit.sign() == 1
    )
    total = pod_limit(spec, "ephemeral-storage")
    pod_total = None
    if total is not None:
        pod_total = (total, str(Quantity(total, _first_limit_format(spec, "ephemeral-storage"))))
    containers = {
        c.name: (_exact(c.limits["ephemeral-storage"].value), str(c.limits["ephemeral-storage"]))
        for c in spec.containers
        if "ephemeral-storage" in c.limits and c.limits["ephemeral-storage"].to_int_ceil() != 0
    }
    limits = _StorageLimits(empty_dirs, pod_total, containers) if empty_dirs or pod_total or containers else None
    spec.derived[_STORAGE_LIMITS_KEY] = limits
    return limits


def _exact(value: Fraction) -> Fraction | int:
    return int(value) if value.denominator == 1 else value


def local_storage_violation(candidate: Candidate, layout: FsLayout) -> tuple[str, str] | None:
    """Return (metric signal, message) for the first ephemeral-storage limit the pod exceeds.

    Checks, in the kubelet's order: emptyDir sizeLimit, the pod's summed ephemeral-storage
    limit against the pod's ephemeral-storage usage, then each app container's limit against
    its logs plus (without a dedicated image filesystem) its writable layer.
    """
    if candidate.stats is None:
        return None
    limits = _storage_limits(candidate.spec)
    if limits is None:
        return None
    return _first_violation(candidate.stats, limits, layout != FsLayout.SINGLE)


def _first_violation(stats: PodStats, limits: _StorageLimits, dedicated_imagefs: bool) -> tuple[str, str] | None:
    for name, limit, text in limits.empty_dirs:
        # the kubelet indexes volume stats by name, so the last entry with a name wins
        used = None
        for volume in stats.volume_stats:
            if volume.name == name:
                used = volume.fs.used_bytes or 0
        if used is not None and used > limit:
            return EMPTYDIR_LIMIT_SIGNAL, f'Usage of EmptyDir volume "{name}" exceeds the limit "{text}". '

    if limits.pod_limit is not None:
        used = 0
        if stats.ephemeral_storage is not None and stats.ephemeral_storage.used_bytes is not None:
            used = stats.ephemeral_storage.used_bytes
        if used > limits.pod_limit[0]:
            return POD_LIMIT_SIGNAL, f"Pod ephemeral local storage usage exceeds the total limit of containers {limits.pod_limit[1]}. "

    if limits.containers:
        for container_stats in stats.containers:
            limit = limits.containers.get(container_stats.name)
            if limit is None:
                continue
            used = (container_stats.logs.used_bytes or 0) if container_stats.logs is not None else 0
            if not dedicated_imagefs and container_stats.rootfs is not None:
                used += container_stats.rootfs.used_bytes or 0
            if limit[0] < used:
                return CONTAINER_LIMIT_SIGNAL, f'Container {container_stats.name} exceeded its local ephemeral storage limit "{limit[1]}". '
    return None


def _first_limit_format(spec: PodSpec, resource: str) -> str:
    if resource in spec.pod_limits:
        return spec.pod_limits[resource].format
    for container in (*spec.containers, *spec.init_containers):
        if resource in container.limits:
            return container.limits[resource].format
    return BINARY_SI


# ---------------------------------------------------------------------------------------------
# containerfs thresholds


def containerfs_thresholds(thresholds: Sequence[Threshold], layout: FsLayout) -> tuple[list[Threshold], list[str]]:
    """Return the thresholds with containerfs copies for ``layout``, and the kubelet's logged errors."""
    from simulator.policy.containerfs import synthesize_containerfs_thresholds

    synthesized, errors = synthesize_containerfs_thresholds(thresholds, layout)
    return list(synthesized), [f"containerfs thresholds: {error}" for error in errors]


# The last synthesis per layout, keyed by the identity of the policy's threshold tuple (kept
# in the value, so the id cannot be reused while the entry lives). A fresh ManagerState, as
# in every what-if request, would otherwise repeat the synthesis on each pass.
_SYNTHESIS_CACHE: dict[FsLayout, tuple[tuple[Threshold, ...], list[Threshold], list[str]]] = {}


def _cached_containerfs_thresholds(thresholds: tuple[Threshold, ...], layout: FsLayout) -> tuple[list[Threshold], list[str]]:
    cached = _SYNTHESIS_CACHE.get(layout)
    if cached is None or cached[0] is not thresholds:
        cached = (thresholds, *containerfs_thresholds(list(thresholds), layout))
        _SYNTHESIS_CACHE[layout] = cached
    return list(cached[1]), list(cached[2])


# ---------------------------------------------------------------------------------------------
# the pass


@dataclasses.dataclass(slots=True)
class _Pass:
    """Working values of one pass, collected into the Decision at the end."""

    notes: list[str] = dataclasses.field(default_factory=list)
    reclaim: ReclaimReport | None = None
    ranking: list[RankEntry] = dataclasses.field(default_factory=list)
    evictions: list[Eviction] = dataclasses.field(default_factory=list)
    event: str | None = None
    error: str | None = None


def synchronize(
    summary: Summary,
    pods: Sequence[PodSpec] | None,
    policy: Policy,
    state: ManagerState,
    now: dt.datetime,
    reclaimer: Reclaimer | None = None,
    *,
    layout: FsLayout = FsLayout.SINGLE,
    layout_inferred: bool = False,
) -> tuple[Decision, ManagerState]:
    """Run one eviction-manager pass and return its decision and the next state.

    ``pods`` None means no specs are known (pods are ranked from the Summary alone).
    ``layout`` is used on the first pass only; later passes keep the layout in ``state``.
    ``reclaimer`` defaults to :class:`NoReclaim`.
    """
    reclaimer = reclaimer if reclaimer is not None else NoReclaim()
    version = _normalized_version(policy.kubelet_version)
    work = _Pass()
    if isinstance(reclaimer, NoReclaim):
        work.notes.append(reclaimer.note)

    observations = make_observations(summary)
    work.notes.extend(missing_signal_notes(summary, observations))

    def finish(next_state: ManagerState, met: Sequence[Threshold] = (), actionable: Sequence[Threshold] = ()) -> tuple[Decision, ManagerState]:
        decision = _decision(
            summary, policy, version, next_state, observations, work, now, met, actionable, layout_inferred
        )
        return decision, next_state

    # 1. nothing to do without thresholds and without local-storage isolation
    if not policy.thresholds and not policy.local_storage_capacity_isolation:
        work.notes.append("no eviction thresholds configured and localStorageCapacityIsolation is off")
        return finish(state)

    # 2. first pass: fix the filesystem layout and synthesize the containerfs thresholds
    if state.layout is None:
        chosen = layout
        if chosen == FsLayout.SPLIT and not _at_least(version, "1.29"):
            work.notes.append("kubelets before 1.29 do not detect split filesystems; modelled as dedicated-imagefs")
            chosen = FsLayout.DEDICATED_IMAGEFS
        if chosen == FsLayout.SPLIT and not _gate(policy, "KubeletSeparateDiskGC", version):
            work.error = SPLIT_WITHOUT_GATE_ERROR
            work.notes.append(f"the kubelet's pass fails with: {SPLIT_WITHOUT_GATE_ERROR}")
            return finish(state)
        thresholds = list(policy.thresholds)
        if _at_least(version, "1.29"):
            thresholds, synthesis_notes = _cached_containerfs_thresholds(policy.thresholds, chosen)
            work.notes.extend(synthesis_notes)
        state = ManagerState(
            layout=chosen,
            thresholds=tuple(thresholds),
            thresholds_met=state.thresholds_met,
            thresholds_first_observed_at=state.thresholds_first_observed_at,
            node_conditions=state.node_conditions,
            node_conditions_last_observed_at=state.node_conditions_last_observed_at,
            last_observations=state.last_observations,
        )
    assert state.layout is not None and state.thresholds is not None
    layout = state.layout
    configured = list(state.thresholds)

    # 3-4. active pods and observations
    candidates, pod_notes = build_candidates(summary, pods)
    work.notes.extend(pod_notes)

    # 5. thresholds met now, ignoring grace periods and min-reclaim
    met = thresholds_met(configured, observations, enforce_min_reclaim=False)

    # 6. thresholds acted on last pass that have not yet reclaimed their minimum
    if state.thresholds_met:
        met = merge_thresholds(met, thresholds_met(state.thresholds_met, observations, enforce_min_reclaim=True))

    # 7. first-observed times
    first_observed = thresholds_first_observed_at(met, state.thresholds_first_observed_at, now)

    # 8. node conditions, kept for the pressure transition period
    conditions_last_observed = node_conditions_last_observed_at(
        node_conditions(met), state.node_conditions_last_observed_at, now
    )
    conditions = node_conditions_observed_since(conditions_last_observed, policy.pressure_transition_period_s, now)

    # 9. thresholds whose grace period has passed
    actionable = thresholds_met_grace_period(first_observed, now)
    next_state = ManagerState(
        layout=state.layout,
        thresholds=state.thresholds,
        thresholds_met=tuple(actionable),
        thresholds_first_observed_at=first_observed,
        node_conditions=tuple(conditions),
        node_conditions_last_observed_at=conditions_last_observed,
        last_observations=dict(observations),
    )

    # 10. act only on signals whose stats refreshed since the previous pass
    fresh = thresholds_updated_stats(actionable, observations, state.last_observations)
    if len(fresh) < len(actionable):
        stale = sorted({t.signal.value for t in actionable} - {t.signal.value for t in fresh})
        work.notes.append("stats not refreshed since the previous pass for " + ", ".join(stale) + "; not acted on")

    # 11. local-storage limit evictions pre-empt the pressure path
    if policy.local_storage_capacity_isolation:
        _local_storage_evictions(candidates, layout, version, work)
        if work.evictions:
            return finish(next_state, met, fresh)

    # 12. nothing actionable
    if not fresh:
        if not met:
            work.notes.append("no threshold is met")
        elif not actionable:
            work.notes.append("thresholds are met but their grace periods have not passed")
        return finish(next_state, met, fresh)

    # 13. memory signals first, then the first threshold that starves a resource
    ordered = sort_by_eviction_priority(fresh)
    found = reclaimable_threshold(ordered)
    if found is None:
        return finish(next_state, met, fresh)
    threshold, resource = found
    if _choice_is_arbitrary(ordered, layout):
        work.notes.append(
            "several non-memory signals are actionable; the kubelet's choice among them is arbitrary, "
            f"this uses the first in configuration order ({threshold.signal.value})"
        )

    # 14. the node event
    work.event = f"{THRESHOLD_MET_EVENT_REASON}: Attempting to reclaim {resource.value}"

    # 15. node-level reclaim
    if _reclaim_node_level(threshold.signal, layout, configured, summary, observations, reclaimer, now, work):
        work.notes.append(f"node-level reclaim relieves {threshold.signal.value}; no pod is evicted")
        return finish(next_state, met, fresh)

    # 16. rank the active pods
    pod_level = _gate(policy, "PodLevelResources", version)
    if not candidates:
        work.notes.append("thresholds are met, but no pods are active to evict")
        return finish(next_state, met, fresh)
    work.ranking = rank_pods(candidates, threshold.signal, layout, pod_level_resources=pod_level)

    # 17. evict the first pod that is not critical (at most one per pass)
    for entry in work.ranking:
        candidate = entry.candidate
        if is_critical(candidate.spec):
            continue
        override = pressure_grace_override(threshold, candidate.spec, policy, version)
        message, annotations = pressure_message(resource, candidate, ordered, observations, pod_level_resources=pod_level)
        work.evictions.append(
            Eviction(
                pod=candidate.spec.key,
                signal=threshold.signal.value,
                resource=resource.value,
                grace_period_s=eviction_grace_period(override, candidate.spec.termination_grace_period_s),
                grace_period_override_s=override,
                message=message,
                annotations=annotations,
                condition={"type": "DisruptionTarget", "status": "True", "reason": "TerminationByKubelet", "message": message},
            )
        )
        break
    else:
        work.notes.append("unable to evict any pods: every ranked pod is critical (static, mirror or priority >= 2000000000)")
    return finish(next_state, met, fresh)


def _choice_is_arbitrary(ordered: Sequence[Threshold], layout: FsLayout) -> bool:
    """True when several actionable non-memory signals would rank or reclaim differently."""
    if not ordered or ordered[0].signal in (Signal.MEMORY_AVAILABLE, Signal.ALLOCATABLE_MEMORY_AVAILABLE):
        return False
    behaviours = {
        (_resource_of(t.signal), reclaim_steps_for(t.signal, layout), FS_STATS_TO_MEASURE[layout].get(t.signal))
        for t in ordered
    }
    return len(behaviours) > 1


def _local_storage_evictions(candidates: Sequence[Candidate], layout: FsLayout, version: str, work: _Pass) -> None:
    override = local_storage_grace_override(version)
    dedicated_imagefs = layout != FsLayout.SINGLE
    refused: list[str] = []
    for candidate in candidates:
        # local_storage_violation inlined: this loop runs over every pod on every pass
        stats = candidate.stats
        if stats is None:
            continue
        limits = candidate.spec.derived.get(_STORAGE_LIMITS_KEY, _NOT_CACHED)
        if limits is _NOT_CACHED:
            limits = _storage_limits(candidate.spec)
        if limits is None:
            continue
        violation = _first_violation(stats, limits, dedicated_imagefs)  # type: ignore[arg-type]
        if violation is None:
            continue
        if is_critical(candidate.spec):
            refused.append(candidate.spec.key)
            continue
        signal, message = violation
        work.evictions.append(
            Eviction(
                pod=candidate.spec.key,
                signal=signal,
                resource=Resource.EPHEMERAL_STORAGE.value,
                grace_period_s=eviction_grace_period(override, candidate.spec.termination_grace_period_s),
                grace_period_override_s=override,
                message=message,
                annotations={},
            )
        )
    if refused:
        work.notes.append("critical pods exceed an ephemeral-storage limit but are never evicted: " + ", ".join(sorted(refused)))
    if work.evictions:
        work.notes.append("local-storage limit evictions pre-empt threshold-based eviction this pass")


# Reclaim functions per layout and signal (buildSignalToNodeReclaimFuncs).
_RECLAIM_STEPS: dict[FsLayout, dict[Signal, tuple[str, ...]]] = {
    FsLayout.SINGLE: {
        signal: ("containerGC", "imageGC")
        for signal in (
            Signal.NODEFS_AVAILABLE,
            Signal.NODEFS_INODES_FREE,
            Signal.IMAGEFS_AVAILABLE,
            Signal.IMAGEFS_INODES_FREE,
            *CONTAINERFS_SIGNALS,
        )
    },
    FsLayout.DEDICATED_IMAGEFS: {
        Signal.IMAGEFS_AVAILABLE: ("containerGC", "imageGC"),
        Signal.IMAGEFS_INODES_FREE: ("containerGC", "imageGC"),
        Signal.CONTAINERFS_AVAILABLE: ("containerGC", "imageGC"),
        Signal.CONTAINERFS_INODES_FREE: ("containerGC", "imageGC"),
    },
    FsLayout.SPLIT: {
        Signal.IMAGEFS_AVAILABLE: ("imageGC",),
        Signal.IMAGEFS_INODES_FREE: ("imageGC",),
        Signal.NODEFS_AVAILABLE: ("containerGC",),
        Signal.NODEFS_INODES_FREE: ("containerGC",),
        Signal.CONTAINERFS_AVAILABLE: ("containerGC",),
        Signal.CONTAINERFS_INODES_FREE: ("containerGC",),
    },
}


def reclaim_steps_for(signal: Signal, layout: FsLayout) -> tuple[str, ...]:
    """Return the node-level reclaim functions the kubelet runs for ``signal`` under ``layout``."""
    return _RECLAIM_STEPS[layout].get(signal, ())


def _reclaim_node_level(
    signal: Signal,
    layout: FsLayout,
    configured: Sequence[Threshold],
    summary: Summary,
    observations: Observations,
    reclaimer: Reclaimer,
    now: dt.datetime,
    work: _Pass,
) -> bool:
    """Run the reclaim steps for ``signal``; return True when every threshold is then clear."""
    names = reclaim_steps_for(signal, layout)
    if not names:
        if signal not in (Signal.MEMORY_AVAILABLE, Signal.ALLOCATABLE_MEMORY_AVAILABLE, Signal.PID_AVAILABLE):
            work.notes.append(f"no node-level reclaim for {signal.value} with a {layout.value} layout")
        return False
    steps: list[ReclaimStep] = []
    for name in names:
        # The kubelet logs a failed reclaim function and goes on with the next one.
        try:
            if name == "containerGC":
                steps.append(reclaimer.delete_unused_containers(now))
            else:
                steps.append(reclaimer.delete_unused_images(now))
        except (EvictsimError, ValueError, OSError) as error:
            steps.append(ReclaimStep(name, 0, {"error": str(error)}))  # type: ignore[arg-type]
            work.notes.append(f"{name} failed during node-level reclaim and freed nothing: {error}")
    # When nothing was freed the Summary is returned unchanged, and so are its observations.
    after_summary = summary_after_reclaim(summary, steps, layout)
    after = observations if after_summary is summary else make_observations(after_summary)
    still_met = thresholds_met(configured, after, enforce_min_reclaim=True)
    still_signals = tuple(dict.fromkeys(t.signal for t in still_met))
    work.reclaim = ReclaimReport(signal, tuple(steps), not still_met, still_signals)
    return not still_met


def _decision(
    summary: Summary,
    policy: Policy,
    version: str,
    state: ManagerState,
    observations: Observations,
    work: _Pass,
    now: dt.datetime,
    met: Sequence[Threshold],
    actionable: Sequence[Threshold],
    layout_inferred: bool,
) -> Decision:
    configured = state.thresholds if state.thresholds is not None else policy.thresholds
    met_by_signal = _by_signal(met)
    actionable_by_signal = _by_signal(actionable)
    original_by_signal = _by_signal(policy.thresholds)
    reports = []
    for threshold in configured:
        observation = observations.get(threshold.signal)
        quantity = None
        if observation is not None:
            amount = threshold_amount(threshold.value, observation.capacity)
            quantity = amount if isinstance(amount, int) else Quantity(amount).to_int_ceil()
        value_text, min_reclaim_text = _threshold_texts(threshold)
        reports.append(
            ThresholdReport(
                signal=threshold.signal,
                hard=threshold.hard,
                value=value_text,
                quantity=quantity,
                grace_period_s=threshold.grace_period_s,
                min_reclaim=min_reclaim_text,
                met=_contains(met_by_signal, threshold),
                actionable=_contains(actionable_by_signal, threshold),
                synthesized="" if _contains(original_by_signal, threshold) else _containerfs_source(threshold, state.layout),
            )
        )
    conditions = {condition: condition in state.node_conditions for condition in NodeCondition}
    ranking = tuple(work.ranking)
    return Decision(
        time=now,
        kubelet_version=version,
        layout=(state.layout.value if state.layout is not None else "unknown"),
        layout_inferred=layout_inferred,
        observations=dict(observations),
        thresholds=tuple(reports),
        conditions=conditions,
        reclaim=work.reclaim,
        ranking=ranking,
        evictions=tuple(work.evictions),
        notes=tuple(work.notes),
        error=work.error,
        event=work.event,
    )


@functools.lru_cache(maxsize=1024)
def _value_text(value: ThresholdValue) -> str:
    """Format a threshold value as written; cached because percentages take a search to print."""
    return str(value)


def _by_signal(thresholds: Sequence[Threshold]) -> dict[Signal, list[Threshold]]:
    grouped: dict[Signal, list[Threshold]] = {}
    for threshold in thresholds:
        grouped.setdefault(threshold.signal, []).append(threshold)
    return grouped


def _contains(by_signal: Mapping[Signal, list[Threshold]], threshold: Threshold) -> bool:
    """Return ``threshold in`` the grouped thresholds, comparing by identity before equality.

    Equal thresholds have equal signals, so only the thresholds of the same signal are compared.
    """
    candidates = by_signal.get(threshold.signal)
    if not candidates:
        return False
    return any(other is threshold for other in candidates) or threshold in candidates


# Printed value and min-reclaim of recent thresholds, keyed by identity (the threshold is kept
# in the value, so an id cannot be reused while its entry lives). Hashing a Threshold hashes
# its quantities, which costs more than the lookup saves.
_THRESHOLD_TEXTS: dict[int, tuple[Threshold, str, str | None]] = {}
_THRESHOLD_TEXTS_MAX = 4096


def _threshold_texts(threshold: Threshold) -> tuple[str, str | None]:
    cached = _THRESHOLD_TEXTS.get(id(threshold))
    if cached is None or cached[0] is not threshold:
        if len(_THRESHOLD_TEXTS) >= _THRESHOLD_TEXTS_MAX:
            _THRESHOLD_TEXTS.clear()
        min_reclaim = _value_text(threshold.min_reclaim) if threshold.min_reclaim is not None else None
        cached = (threshold, _value_text(threshold.value), min_reclaim)
        _THRESHOLD_TEXTS[id(threshold)] = cached
    return cached[1], cached[2]


def _containerfs_source(threshold: Threshold, layout: FsLayout | None) -> str:
    if threshold.signal not in CONTAINERFS_SIGNALS:
        return ""
    family = "imagefs" if layout == FsLayout.DEDICATED_IMAGEFS else "nodefs"
    return family + "." + threshold.signal.value.split(".", 1)[1]


class EvictionManager:
    """A thin stateful wrapper around :func:`synchronize` for loops (daemon, scenarios).

    It keeps the :class:`ManagerState` between calls; the caller supplies the time.
    """

    def __init__(self, policy: Policy, *, layout: FsLayout = FsLayout.SINGLE, layout_inferred: bool = False, reclaimer: Reclaimer | None = None) -> None:
        self.policy = policy
        self.layout = layout
        self.layout_inferred = layout_inferred
        self.reclaimer = reclaimer
        self.state = ManagerState()

    def synchronize(self, summary: Summary, pods: Sequence[PodSpec] | None, now: dt.datetime) -> Decision:
        """Run one pass at ``now`` and keep the new state."""
        decision, self.state = synchronize(
            summary,
            pods,
            self.policy,
            self.state,
            now,
            self.reclaimer,
            layout=self.layout,
            layout_inferred=self.layout_inferred,
        )
        return decision
