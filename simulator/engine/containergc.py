"""The kubelet's container garbage collector: which dead containers and sandboxes would go.

This restates ``pkg/kubelet/kuberuntime/kuberuntime_gc.go`` (kubelet 1.27-1.35) without
removing anything:

1. Evictable containers are those not running and created at least ``minimum_age_s`` before
   ``now``, grouped per (pod UID, container name).
2. Groups of deleted pods are removed whole. With ``evict_terminated_pods`` (the eviction
   manager's "delete all unused containers"), groups of terminated pods are removed too.
3. Each remaining group keeps its ``max_per_pod_container`` newest containers (by creation time).
4. If more than ``max_containers`` remain, each group is cut to
   ``max(1, max_containers // groups)`` and then the oldest are removed across groups.
5. A sandbox is removable when it is not ready and no container is left in it. Deleted (or,
   with ``evict_terminated_pods``, terminated) pods lose every removable sandbox, other pods
   keep their newest sandbox.

Step 2 and the removal of deleted pods' log directories need all pod sources ready, as in the
kubelet. Step 5 does not check it.
Bytes freed are the writable layers and log files of the removed containers, when the caller
knows them, plus the log directories of deleted pods.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from simulator.engine.images import CONTAINER_RUNNING, CONTAINER_UNKNOWN, ContainerInfo, SandboxInfo
from simulator.errors import InputError

UTC = dt.UTC


class PodState(enum.StrEnum):
    """The state of a pod UID as the kubelet's pod workers track it.

    deleted: removed from the API server, or never known (its content may be removed);
    terminated: all containers stopped but the pod object still exists (its runtime may be
    removed); active: anything else.
    """

    ACTIVE = "active"
    TERMINATED = "terminated"
    DELETED = "deleted"


class ContainerOutcome(enum.StrEnum):
    """The container GC decision for one container: the step that removes it, or the reason it stays."""

    REMOVED_POD_DELETED = "removed_pod_deleted"
    REMOVED_POD_TERMINATED = "removed_pod_terminated"
    REMOVED_MAX_PER_POD_CONTAINER = "removed_max_per_pod_container"
    REMOVED_MAX_CONTAINERS = "removed_max_containers"
    KEPT_RUNNING = "kept_running"
    KEPT_YOUNGER_THAN_MIN_AGE = "kept_younger_than_min_age"
    KEPT_NEWEST = "kept_newest"

    @property
    def removed(self) -> bool:
        return self in _REMOVED_OUTCOMES


# A set lookup, so the loop over every container does not read each enum's value.
_REMOVED_OUTCOMES = frozenset(outcome for outcome in ContainerOutcome if outcome.value.startswith("removed"))


class SandboxOutcome(enum.StrEnum):
    """The container GC decision for one pod sandbox: removal, or the reason it stays."""

    REMOVED = "removed"
    KEPT_READY = "kept_ready"
    KEPT_HAS_CONTAINERS = "kept_has_containers"
    KEPT_NEWEST = "kept_newest"


class ContainerGCPolicyLike(Protocol):
    """The fields of :class:`simulator.policy.model.ContainerGCPolicy` that container GC reads."""

    minimum_age_s: float
    max_per_pod_container: int
    max_containers: int


@dataclasses.dataclass(frozen=True, slots=True)
class ContainerUsage:
    """Bytes that removing a container frees: its writable layer and its log files."""

    writable_layer_bytes: int = 0
    log_bytes: int = 0

    @property
    def total_bytes(self) -> int:
        return self.writable_layer_bytes + self.log_bytes


@dataclasses.dataclass(slots=True)
class ContainerDecision:
    """One container and what container GC would do with it."""

    container: ContainerInfo
    outcome: ContainerOutcome
    usage: ContainerUsage | None = None

    def to_json(self) -> dict[str, Any]:
        container = self.container
        out: dict[str, Any] = {
            "containerId": container.id,
            "pod": container.pod_key,
            "podUid": container.pod_uid,
            "container": container.name,
            "attempt": container.attempt,
            "state": container.state,
            "createdAt": _format_ns(container.created_at_ns),
            "outcome": str(self.outcome),
        }
        if self.usage is not None:
            out["writableLayerBytes"] = self.usage.writable_layer_bytes
            out["logBytes"] = self.usage.log_bytes
        return out


@dataclasses.dataclass(slots=True)
class SandboxDecision:
    """One pod sandbox and what container GC would do with it."""

    sandbox: SandboxInfo
    outcome: SandboxOutcome

    def to_json(self) -> dict[str, Any]:
        sandbox = self.sandbox
        return {
            "sandboxId": sandbox.id,
            "pod": f"{sandbox.namespace}/{sandbox.name}",
            "podUid": sandbox.uid,
            "attempt": sandbox.attempt,
            "state": sandbox.state,
            "createdAt": _format_ns(sandbox.created_at_ns),
            "outcome": str(self.outcome),
        }


@dataclasses.dataclass(slots=True)
class ContainerGCResult:
    """The accounting of one simulated container GC pass."""

    time: dt.datetime
    evict_terminated_pods: bool
    containers: list[ContainerDecision] = dataclasses.field(default_factory=list)
    sandboxes: list[SandboxDecision] = dataclasses.field(default_factory=list)
    pod_log_dirs_removed: list[str] = dataclasses.field(default_factory=list)
    bytes_freed: int = 0
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def removed_containers(self) -> list[ContainerDecision]:
        return [decision for decision in self.containers if decision.outcome.removed]

    @property
    def removed_sandboxes(self) -> list[SandboxDecision]:
        return [decision for decision in self.sandboxes if decision.outcome is SandboxOutcome.REMOVED]

    def to_json(self) -> dict[str, Any]:
        return {
            "time": self.time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "trigger": "eviction_reclaim" if self.evict_terminated_pods else "periodic",
            "containersRemoved": len(self.removed_containers),
            "sandboxesRemoved": len(self.removed_sandboxes),
            "bytesFreed": self.bytes_freed,
            "containers": [decision.to_json() for decision in self.containers],
            "sandboxes": [decision.to_json() for decision in self.sandboxes],
            "podLogDirsRemoved": list(self.pod_log_dirs_removed),
            "notes": list(self.notes),
        }


def _format_ns(value_ns: int) -> str:
    moment = dt.datetime.fromtimestamp(value_ns / 1e9, tz=UTC)
    return moment.isoformat().replace("+00:00", "Z")


def validate_policy(policy: ContainerGCPolicyLike) -> None:
    """Raise InputError for a policy the kubelet rejects: a negative minimum age."""
    if policy.minimum_age_s < 0:
        raise InputError(
            f"invalid minimum GC age {policy.minimum_age_s}s for containers; --minimum-container-ttl-duration "
            "must not be negative",
            field="minimumContainerTTLDuration",
            value=policy.minimum_age_s,
        )


def _newest_first_key(container: ContainerInfo) -> tuple[int, str]:
    # The kubelet sorts by creation time only and breaks ties arbitrarily; the id makes it repeatable.
    return (-container.created_at_ns, container.id)


def _remove_oldest(
    units: list[ContainerInfo],
    to_remove: int,
    removed: dict[str, ContainerOutcome],
    outcome: ContainerOutcome,
) -> list[ContainerInfo]:
    """Remove the ``to_remove`` oldest containers of ``units`` and return the ones kept."""
    keep = len(units) - to_remove
    if keep > 0:
        units = sorted(units, key=_newest_first_key)
    for container in units[max(keep, 0) :]:
        removed[container.id] = outcome
    return units[: max(keep, 0)]


def plan_container_gc(
    containers: Iterable[ContainerInfo],
    sandboxes: Iterable[SandboxInfo],
    policy: ContainerGCPolicyLike,
    now: dt.datetime,
    *,
    pod_states: Mapping[str, PodState] | None = None,
    default_pod_state: PodState = PodState.ACTIVE,
    evict_terminated_pods: bool = False,
    all_sources_ready: bool = True,
    usage: Mapping[str, ContainerUsage] | None = None,
    pod_log_dir_bytes: Mapping[str, int] | None = None,
) -> ContainerGCResult:
    """Simulate one container GC pass at ``now``; see the module docstring for the steps.

    ``pod_states`` maps pod UIDs to their state; other UIDs get ``default_pod_state``.
    ``usage`` maps container ids to the bytes their removal frees. ``pod_log_dir_bytes`` maps
    pod UIDs to the size of their log directory, removed when the pod is deleted.
    """
    validate_policy(policy)
    containers = list(containers)
    sandboxes = list(sandboxes)
    states = dict(pod_states or {})
    usage = usage or {}
    result = ContainerGCResult(time=now, evict_terminated_pods=evict_terminated_pods)

    def state_of(uid: str) -> PodState:
        return states.get(uid, default_pod_state)

    def pod_removable(uid: str) -> PodState | None:
        state = state_of(uid)
        if state is PodState.DELETED:
            return state
        if evict_terminated_pods and state is PodState.TERMINATED:
            return state
        return None

    # 1. evictable containers, grouped per (pod UID, container name)
    newest_gc_time_ns = _to_ns(now) - int(policy.minimum_age_s * 1e9)
    kept_reason: dict[str, ContainerOutcome] = {}
    units: dict[tuple[str, str], list[ContainerInfo]] = {}
    for container in containers:
        if container.state == CONTAINER_RUNNING:
            kept_reason[container.id] = ContainerOutcome.KEPT_RUNNING
            continue
        if container.created_at_ns > newest_gc_time_ns:
            kept_reason[container.id] = ContainerOutcome.KEPT_YOUNGER_THAN_MIN_AGE
            continue
        units.setdefault((container.pod_uid, container.name), []).append(container)
        if container.state == CONTAINER_UNKNOWN:
            result.notes.append(
                f"container {container.id[:13]} is in an unknown state: the kubelet stops it "
                "before removing it"
            )

    removed: dict[str, ContainerOutcome] = {}

    # 2. whole groups of deleted (and, for eviction reclaim, terminated) pods
    if all_sources_ready:
        for key in list(units):
            state = pod_removable(key[0])
            if state is None:
                continue
            outcome = (
                ContainerOutcome.REMOVED_POD_DELETED
                if state is PodState.DELETED
                else ContainerOutcome.REMOVED_POD_TERMINATED
            )
            _remove_oldest(units[key], len(units[key]), removed, outcome)
            del units[key]

    # 3. max dead containers per pod container
    if policy.max_per_pod_container >= 0:
        _enforce_per_unit(
            units, policy.max_per_pod_container, removed, ContainerOutcome.REMOVED_MAX_PER_POD_CONTAINER
        )

    # 4. max dead containers on the node
    total = sum(len(unit) for unit in units.values())
    if policy.max_containers >= 0 and total > policy.max_containers:
        per_unit = max(policy.max_containers // len(units), 1)
        _enforce_per_unit(units, per_unit, removed, ContainerOutcome.REMOVED_MAX_CONTAINERS)
        total = sum(len(unit) for unit in units.values())
        if total > policy.max_containers:
            flattened = sorted((c for unit in units.values() for c in unit), key=_newest_first_key)
            _remove_oldest(
                flattened, total - policy.max_containers, removed, ContainerOutcome.REMOVED_MAX_CONTAINERS
            )

    decisions = result.containers
    for container in containers:
        container_id = container.id
        container_usage = usage.get(container_id)
        outcome = removed.get(container_id)
        if outcome is not None:
            if container_usage is not None:
                result.bytes_freed += container_usage.total_bytes
        else:
            outcome = kept_reason.get(container_id) or ContainerOutcome.KEPT_NEWEST
        decisions.append(ContainerDecision(container, outcome, container_usage))

    # 5. sandboxes, against the containers that would remain
    remaining_sandbox_ids = {c.pod_sandbox_id for c in containers if c.id not in removed}
    result.sandboxes = _plan_sandboxes(sandboxes, remaining_sandbox_ids, pod_removable)

    # pod log directories of deleted pods
    if all_sources_ready and pod_log_dir_bytes:
        for uid, size in sorted(pod_log_dir_bytes.items()):
            if state_of(uid) is PodState.DELETED:
                result.pod_log_dirs_removed.append(uid)
                result.bytes_freed += size
    if not usage:
        result.notes.append("container sizes unknown: bytes freed counts no writable layers or logs")
    return result


def _enforce_per_unit(
    units: dict[tuple[str, str], list[ContainerInfo]],
    limit: int,
    removed: dict[str, ContainerOutcome],
    outcome: ContainerOutcome,
) -> None:
    for key, unit in units.items():
        to_remove = len(unit) - limit
        if to_remove > 0:
            units[key] = _remove_oldest(unit, to_remove, removed, outcome)


def _plan_sandboxes(
    sandboxes: list[SandboxInfo], sandbox_ids_with_containers: set[str], pod_removable: Any
) -> list[SandboxDecision]:
    by_pod: dict[str, list[SandboxInfo]] = {}
    for sandbox in sandboxes:
        by_pod.setdefault(sandbox.uid, []).append(sandbox)
    decisions: dict[str, SandboxOutcome] = {}
    for uid, pod_sandboxes in by_pod.items():
        to_remove = len(pod_sandboxes) if pod_removable(uid) is not None else len(pod_sandboxes) - 1
        keep = len(pod_sandboxes) - to_remove
        ordered = sorted(pod_sandboxes, key=lambda s: (-s.created_at_ns, s.id)) if keep > 0 else pod_sandboxes
        for sandbox in ordered[:keep]:
            decisions[sandbox.id] = SandboxOutcome.KEPT_NEWEST
        for sandbox in ordered[keep:]:
            if sandbox.ready:
                decisions[sandbox.id] = SandboxOutcome.KEPT_READY
            elif sandbox.id in sandbox_ids_with_containers:
                decisions[sandbox.id] = SandboxOutcome.KEPT_HAS_CONTAINERS
            else:
                decisions[sandbox.id] = SandboxOutcome.REMOVED
    return [SandboxDecision(sandbox, decisions[sandbox.id]) for sandbox in sandboxes]


def _to_ns(moment: dt.datetime) -> int:
    delta = moment - dt.datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def infer_pod_states(
    sandboxes: Iterable[SandboxInfo], api_pod_uids: Iterable[str] | None = None
) -> dict[str, PodState]:
    """Guess pod states from CRI alone, and from the API's pod list when given.

    A pod with a ready sandbox is active, a pod whose sandboxes are all not ready is
    terminated, and with ``api_pod_uids`` a pod missing from the API is deleted.
    """
    # NOTE: the kubelet reads pod state from its pod workers, but CRI has no pod phase. A pod
    # that is stopped but will restart (its sandbox being recreated) counts as terminated here.
    ready: dict[str, bool] = {}
    for sandbox in sandboxes:
        ready[sandbox.uid] = ready.get(sandbox.uid, False) or sandbox.ready
    states = {uid: PodState.ACTIVE if is_ready else PodState.TERMINATED for uid, is_ready in ready.items()}
    if api_pod_uids is not None:
        known = set(api_pod_uids)
        for uid in states:
            if uid not in known:
                states[uid] = PodState.DELETED
    return states
