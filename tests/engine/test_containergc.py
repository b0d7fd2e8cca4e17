"""Container GC against the kubelet's TestContainerGC and TestSandboxGC tables, restated as data.

Source: kubernetes ``pkg/kubelet/kuberuntime/kuberuntime_gc_test.go``. The kubelet's fake pod
state provider has three kinds of pods: ``deleted`` (not known), ``running`` (known and
running) and every other name (known, not running: terminated). Creation times are small
nanosecond counts, so every container is far older than the one-hour minimum age unless a case
uses "now".
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from simulator.engine.containergc import (
    ContainerOutcome,
    ContainerUsage,
    PodState,
    SandboxOutcome,
    infer_pod_states,
    plan_container_gc,
    validate_policy,
)
from simulator.engine.images import (
    CONTAINER_EXITED,
    CONTAINER_RUNNING,
    CONTAINER_UNKNOWN,
    ContainerInfo,
    SandboxInfo,
)
from simulator.errors import InputError
from simulator.policy.model import ContainerGCPolicy

NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
NOW_NS = int(NOW.timestamp()) * 1_000_000_000
DEFAULT = ContainerGCPolicy(minimum_age_s=3600, max_per_pod_container=2, max_containers=6)
EXITED = CONTAINER_EXITED
RUNNING = CONTAINER_RUNNING


def gc_container(
    index: int, pod: str, name: str, attempt: int, created_at_ns: int, state: str
) -> ContainerInfo:
    return ContainerInfo(
        id=f"c{index:02d}",
        pod_sandbox_id=f"sandbox-{pod}",
        name=name,
        state=state,
        created_at_ns=created_at_ns,
        image_id="test-image",
        attempt=attempt,
        pod_uid=pod,
        pod_name=pod,
        pod_namespace="test-ns",
    )


def pod_state(pod: str) -> PodState:
    if pod == "deleted":
        return PodState.DELETED
    if pod == "running":
        return PodState.ACTIVE
    return PodState.TERMINATED


CASES = [
    pytest.param(
        [("foo", "bar", 0, 0, EXITED)],
        ContainerGCPolicy(60, 1, 0),
        [],
        False,
        True,
        id="all removed when max containers is 0",
    ),
    pytest.param(
        [("foo", "bar", n, n, EXITED) for n in (4, 3, 2, 1, 0)],
        ContainerGCPolicy(60, -1, 4),
        [0, 1, 2, 3],
        False,
        True,
        id="max containers without per-pod limit",
    ),
    pytest.param(
        [("foo", "bar", n, n, EXITED) for n in (2, 1, 0)],
        ContainerGCPolicy(60, -1, -1),
        [0, 1, 2],
        False,
        True,
        id="no limits remove nothing",
    ),
    pytest.param(
        [("foo", "bar", n, "now", EXITED) for n in (2, 1, 0)],
        DEFAULT,
        [0, 1, 2],
        False,
        True,
        id="recently started kept",
    ),
    pytest.param(
        [("foo", "bar", n, n, EXITED) for n in (2, 1, 0)],
        DEFAULT,
        [0, 1],
        False,
        True,
        id="oldest removed over per-pod limit",
    ),
    pytest.param(
        [("foo", "bar", 2, 2, EXITED), ("foo", "bar", 1, 1, EXITED), ("foo", "bar", 0, 0, RUNNING)],
        DEFAULT,
        [0, 1, 2],
        False,
        True,
        id="running kept",
    ),
    pytest.param(
        [("foo", "bar", n, n, EXITED) for n in (1, 0)],
        DEFAULT,
        [0, 1],
        False,
        True,
        id="within limits nothing removed",
    ),
    pytest.param(
        [
            (pod, name, n, n, EXITED)
            for pod, name in (("foo", "bar"), ("foo1", "baz"), ("foo2", "bar"))
            for n in (2, 1, 0)
        ],
        DEFAULT,
        [0, 1, 3, 4, 6, 7],
        False,
        True,
        id="limit per uid and name",
    ),
    pytest.param(
        [(f"foo{k or ''}", f"bar{k or ''}", n, n, EXITED) for k in range(5) for n in (1, 0)],
        DEFAULT,
        [0, 2, 4, 6, 8],
        False,
        True,
        id="max limit keeps one per pod",
    ),
    pytest.param(
        [
            ("foo", "bar", 2, 2, EXITED),
            ("foo", "bar", 1, 1, EXITED),
            ("foo1", "bar1", 2, 2, EXITED),
            ("foo1", "bar1", 1, 1, EXITED),
            ("foo2", "bar2", 1, 1, EXITED),
            ("foo3", "bar3", 0, 0, EXITED),
            ("foo4", "bar4", 1, 1, EXITED),
            ("foo5", "bar5", 0, 0, EXITED),
            ("foo6", "bar6", 2, 2, EXITED),
            ("foo7", "bar7", 1, 1, EXITED),
        ],
        DEFAULT,
        [0, 2, 4, 6, 8, 9],
        False,
        True,
        id="oldest pods removed over max",
    ),
    pytest.param(
        [
            ("foo", "bar", 2, 2, EXITED),
            ("foo", "bar", 1, 1, EXITED),
            ("foo1", "bar1", 2, 2, EXITED),
            ("foo1", "bar1", 1, 1, EXITED),
            ("running", "bar2", 1, 1, EXITED),
            ("foo3", "bar3", 0, 0, RUNNING),
        ],
        DEFAULT,
        [4, 5],
        True,
        True,
        id="evict terminated pods",
    ),
    pytest.param(
        [
            ("foo", "bar", 1, 1, EXITED),
            ("foo", "bar", 0, 0, EXITED),
            ("deleted", "bar1", 2, "now", EXITED),
            ("deleted", "bar1", 1, 1, EXITED),
            ("deleted", "bar1", 0, 0, EXITED),
        ],
        DEFAULT,
        [0, 1, 2],
        False,
        True,
        id="deleted pods removed but min age kept",
    ),
    pytest.param([("deleted", "bar1", 0, 0, EXITED)], DEFAULT, [0], True, False, id="sources not ready"),
]


@pytest.mark.parametrize(("templates", "policy", "remain", "evict_terminated", "sources_ready"), CASES)
def test_container_gc_table(templates, policy, remain, evict_terminated, sources_ready) -> None:
    """TestContainerGC: the template indexes that remain after evictContainers."""
    containers = [
        gc_container(index, pod, name, attempt, NOW_NS if created == "now" else created, state)
        for index, (pod, name, attempt, created, state) in enumerate(templates)
    ]
    states = {c.pod_uid: pod_state(c.pod_uid) for c in containers}

    result = plan_container_gc(
        containers,
        [],
        policy,
        NOW,
        pod_states=states,
        evict_terminated_pods=evict_terminated,
        all_sources_ready=sources_ready,
    )

    kept = [index for index, decision in enumerate(result.containers) if not decision.outcome.removed]
    assert kept == remain


def test_unknown_state_container_removed() -> None:
    """TestUnknownStateContainerGC: an unknown-state container is stopped and removed (limits 0)."""
    container = gc_container(0, "foo", "bar", 0, 0, CONTAINER_UNKNOWN)
    result = plan_container_gc(
        [container], [], ContainerGCPolicy(3600, 0, 0), NOW, pod_states={"foo": PodState.TERMINATED}
    )

    assert result.containers[0].outcome is ContainerOutcome.REMOVED_MAX_PER_POD_CONTAINER
    assert any("unknown state" in note for note in result.notes)


def test_outcome_reasons() -> None:
    """Each container gets the step that removed it, or why it stays."""
    containers = [
        gc_container(0, "deleted", "a", 0, 0, EXITED),
        gc_container(1, "foo", "b", 1, 2, EXITED),
        gc_container(2, "foo", "b", 0, 1, EXITED),
        gc_container(3, "foo", "c", 0, NOW_NS, EXITED),
        gc_container(4, "running", "d", 0, 0, RUNNING),
    ]
    policy = ContainerGCPolicy(minimum_age_s=60, max_per_pod_container=1, max_containers=-1)
    result = plan_container_gc(
        containers, [], policy, NOW, pod_states={c.pod_uid: pod_state(c.pod_uid) for c in containers}
    )

    assert [d.outcome for d in result.containers] == [
        ContainerOutcome.REMOVED_POD_DELETED,
        ContainerOutcome.KEPT_NEWEST,
        ContainerOutcome.REMOVED_MAX_PER_POD_CONTAINER,
        ContainerOutcome.KEPT_YOUNGER_THAN_MIN_AGE,
        ContainerOutcome.KEPT_RUNNING,
    ]


def test_min_age_boundary() -> None:
    """evictableContainers skips only containers created strictly after now - minAge."""
    at_boundary = gc_container(0, "deleted", "a", 0, NOW_NS - 60 * 1_000_000_000, EXITED)
    after = gc_container(1, "deleted", "b", 0, NOW_NS - 59 * 1_000_000_000, EXITED)
    result = plan_container_gc(
        [at_boundary, after], [], ContainerGCPolicy(60, 1, -1), NOW, pod_states={"deleted": PodState.DELETED}
    )

    assert result.containers[0].outcome is ContainerOutcome.REMOVED_POD_DELETED
    assert result.containers[1].outcome is ContainerOutcome.KEPT_YOUNGER_THAN_MIN_AGE


def test_bytes_freed_counts_layers_and_logs() -> None:
    """Removing a container frees its writable layer and its log file (removeContainer removes both)."""
    containers = [gc_container(0, "deleted", "a", 0, 0, EXITED), gc_container(1, "foo", "b", 0, 0, EXITED)]
    usage = {"c00": ContainerUsage(writable_layer_bytes=1000, log_bytes=24), "c01": ContainerUsage(5, 5)}
    result = plan_container_gc(
        containers,
        [],
        DEFAULT,
        NOW,
        pod_states={"deleted": PodState.DELETED},
        usage=usage,
        pod_log_dir_bytes={"deleted": 100, "foo": 7},
    )

    assert result.bytes_freed == 1024 + 100
    assert result.pod_log_dirs_removed == ["deleted"]


def test_negative_min_age_rejected() -> None:
    """The kubelet rejects a negative minimum container age."""
    with pytest.raises(InputError):
        validate_policy(ContainerGCPolicy(minimum_age_s=-1))


# TestSandboxGC: pods[0] uid 1234 and pods[1] uid 5678 exist (terminated), pods[2] uid 9012 is deleted.
SANDBOX_STATES = {"1234": PodState.TERMINATED, "5678": PodState.TERMINATED, "9012": PodState.DELETED}
READY = "SANDBOX_READY"
NOTREADY = "SANDBOX_NOTREADY"

SANDBOX_CASES = [
    pytest.param([("9012", 0, NOTREADY, 0)], [], [], False, id="notready deleted pod removed"),
    pytest.param([("9012", 0, READY, 0)], [], [0], False, id="ready deleted pod kept"),
    pytest.param(
        [("1234", 0, READY, 0), ("5678", 0, NOTREADY, 0)], [], [0, 1], False, id="existing pods kept"
    ),
    pytest.param(
        [("1234", 1, NOTREADY, 1), ("1234", 0, NOTREADY, 0)], [], [0], False, id="older exited removed"
    ),
    pytest.param(
        [("1234", 1, NOTREADY, 1), ("1234", 0, NOTREADY, 0)],
        [("1234", 1)],
        [0, 1],
        False,
        id="older exited with containers kept",
    ),
    pytest.param(
        [("1234", 0, READY, 0), ("5678", 0, NOTREADY, 0)], [], [0], True, id="evict terminated pods"
    ),
    pytest.param([("1234", 0, NOTREADY, 0)], [("1234", 0)], [0], False, id="sandbox with containers kept"),
    pytest.param(
        [
            ("1234", 1, READY, 1),
            ("1234", 0, NOTREADY, 0),
            ("5678", 1, NOTREADY, 1),
            ("5678", 0, NOTREADY, 0),
            ("9012", 0, NOTREADY, 0),
        ],
        [("5678", 2)],
        [0, 2],
        False,
        id="multiple sandboxes",
    ),
]


@pytest.mark.parametrize(("templates", "container_refs", "remain", "evict_terminated"), SANDBOX_CASES)
def test_sandbox_gc_table(templates, container_refs, remain, evict_terminated) -> None:
    """TestSandboxGC: the sandbox indexes that remain after evictSandboxes."""
    sandboxes = [
        SandboxInfo(
            id=f"s{index}",
            uid=uid,
            name=f"pod-{uid}",
            namespace="new",
            state=state,
            created_at_ns=created,
            attempt=attempt,
        )
        for index, (uid, attempt, state, created) in enumerate(templates)
    ]
    # A container reference names the pod and the template index of its sandbox.
    containers = [
        ContainerInfo(
            id=f"c{i}",
            pod_sandbox_id=f"s{sandbox_index}",
            name="bar",
            state=EXITED,
            created_at_ns=NOW_NS,
            image_id="busybox",
            pod_uid=uid,
        )
        for i, (uid, sandbox_index) in enumerate(container_refs)
    ]

    result = plan_container_gc(
        containers,
        sandboxes,
        ContainerGCPolicy(3600, -1, -1),
        NOW,
        pod_states=SANDBOX_STATES,
        evict_terminated_pods=evict_terminated,
    )

    kept = [
        index
        for index, decision in enumerate(result.sandboxes)
        if decision.outcome is not SandboxOutcome.REMOVED
    ]
    assert kept == remain


def test_sandbox_freed_by_container_removal() -> None:
    """evictSandboxes lists containers after evictContainers ran: a sandbox whose containers go goes too."""
    sandbox = SandboxInfo(id="s0", uid="deleted", name="p", namespace="n", state=NOTREADY, created_at_ns=0)
    container = dataclasses.replace(gc_container(0, "deleted", "a", 0, 0, EXITED), pod_sandbox_id="s0")
    result = plan_container_gc([container], [sandbox], DEFAULT, NOW, pod_states={"deleted": PodState.DELETED})

    assert result.sandboxes[0].outcome is SandboxOutcome.REMOVED


def test_infer_pod_states() -> None:
    """Ready sandbox means active, only not-ready sandboxes mean terminated, absent from the API means deleted."""
    sandboxes = [
        SandboxInfo(id="a", uid="u1", name="a", namespace="n", state=READY, created_at_ns=0),
        SandboxInfo(id="b", uid="u2", name="b", namespace="n", state=NOTREADY, created_at_ns=0),
        SandboxInfo(id="c", uid="u3", name="c", namespace="n", state=NOTREADY, created_at_ns=0),
    ]

    assert infer_pod_states(sandboxes) == {
        "u1": PodState.ACTIVE,
        "u2": PodState.TERMINATED,
        "u3": PodState.TERMINATED,
    }
    assert infer_pod_states(sandboxes, api_pod_uids=["u1", "u2"])["u3"] is PodState.DELETED


def test_sandbox_gc_ignores_sources_ready() -> None:
    """evictSandboxes takes no allSourcesReady flag: a deleted pod's dead sandbox goes even when sources are not ready."""
    sandbox = SandboxInfo(id="s0", uid="gone", name="p", namespace="n", state=NOTREADY, created_at_ns=0)
    result = plan_container_gc(
        [], [sandbox], DEFAULT, NOW, pod_states={"gone": PodState.DELETED}, all_sources_ready=False
    )

    assert result.sandboxes[0].outcome is SandboxOutcome.REMOVED
