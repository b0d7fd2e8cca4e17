"""Change detection on decision dicts shaped like the engine's JSON."""

from __future__ import annotations

from typing import Any

from simulator.daemon.events import TickView, build_view, diff_events

from .helpers import T0, node_summary

SUMMARY = node_summary(T0, imagefs_available=1)


def decision(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "observations": {"imagefs.available": {"available": 100, "capacity": 1000}},
        "thresholds": [],
        "conditions": {"MemoryPressure": False, "DiskPressure": False, "PIDPressure": False},
        "reclaim": None,
        "ranking": [],
        "evictions": [],
        "notes": [],
    }
    base.update(overrides)
    return base


ACTIONABLE = [{"signal": "imagefs.available", "hard": True, "value": "15%", "quantity": 150, "met": True, "actionable": True}]
RANKING = [
    {"pod": "kube-system/etcd-node", "critical": True},
    {"pod": "shop/web", "critical": False},
    {"pod": "shop/batch", "critical": False},
    {"pod": "shop/api", "critical": False},
]
EVICTION = {
    "pod": "shop/web",
    "signal": "imagefs.available",
    "resource": "ephemeral-storage",
    "gracePeriodSeconds": 1,
    "message": "The node was low on resource: ephemeral-storage. ",
    "annotations": {"starved_resource": "ephemeral-storage"},
}


def names(events: list) -> list[str]:
    return [event.event for event in events]


def test_eviction_logged_with_rank_and_runner_up() -> None:
    view = build_view(decision(thresholds=ACTIONABLE, ranking=RANKING, evictions=[EVICTION]), SUMMARY)
    events = diff_events(None, view)
    eviction = next(event for event in events if event.event == "pod_would_be_evicted")
    assert eviction.fields["rank"] == 2
    assert eviction.fields["runner_up"] == "shop/batch"
    assert eviction.fields["message"] == EVICTION["message"]
    assert eviction.fields["annotations"] == EVICTION["annotations"]


def test_same_eviction_not_logged_twice() -> None:
    first = build_view(decision(thresholds=ACTIONABLE, ranking=RANKING, evictions=[EVICTION]), SUMMARY)
    second = build_view(decision(thresholds=ACTIONABLE, ranking=RANKING, evictions=[EVICTION]), SUMMARY)
    assert names(diff_events(first, second)) == []


def test_eviction_of_another_pod_logged() -> None:
    first = build_view(decision(thresholds=ACTIONABLE, ranking=RANKING, evictions=[EVICTION]), SUMMARY)
    other = {**EVICTION, "pod": "shop/batch"}
    second = build_view(decision(thresholds=ACTIONABLE, ranking=RANKING, evictions=[other]), SUMMARY)
    events = diff_events(first, second)
    assert names(events) == ["pod_would_be_evicted", "eviction_no_longer_predicted"]
    assert events[1].fields == {"pod": EVICTION["pod"], "signal": EVICTION["signal"], "reason": "another_pod_selected"}


def test_eviction_stop_when_reclaim_sufficient() -> None:
    """Threshold still met, but node-level reclaim frees enough: no pod is evicted, logged once."""
    first = build_view(decision(thresholds=ACTIONABLE, ranking=RANKING, evictions=[EVICTION]), SUMMARY)
    reclaimed = decision(
        thresholds=ACTIONABLE,
        ranking=RANKING,
        reclaim={"signal": "imagefs.available", "steps": [], "sufficient": True},
    )
    second = build_view(reclaimed, SUMMARY)
    stopped = [event for event in diff_events(first, second) if event.event == "eviction_no_longer_predicted"]
    assert len(stopped) == 1
    assert stopped[0].fields["pod"] == EVICTION["pod"]
    assert stopped[0].fields["reason"] == "reclaim_sufficient"
    assert names(diff_events(second, build_view(reclaimed, SUMMARY))) == []


def test_eviction_stop_when_threshold_cleared() -> None:
    first = build_view(decision(thresholds=ACTIONABLE, ranking=RANKING, evictions=[EVICTION]), SUMMARY)
    second = build_view(decision(), SUMMARY)
    stopped = [event for event in diff_events(first, second) if event.event == "eviction_no_longer_predicted"]
    assert len(stopped) == 1
    assert stopped[0].fields["reason"] == "threshold_not_met"


def test_eviction_blocked_when_only_critical_pods() -> None:
    """Actionable threshold, reclaim not enough, ranked pods, no eviction: blocked, logged once."""
    blocked = decision(
        thresholds=ACTIONABLE,
        ranking=[RANKING[0]],
        reclaim={"signal": "imagefs.available", "steps": [], "sufficient": False},
        notes=["unable to evict any pods: every ranked pod is critical"],
    )
    first = build_view(blocked, SUMMARY)
    events = diff_events(None, first)
    assert "eviction_blocked" in names(events)
    event = next(e for e in events if e.event == "eviction_blocked")
    assert event.fields["reason"] == "unable to evict any pods: every ranked pod is critical"
    assert event.fields["candidates"] == 1
    assert "eviction_blocked" not in names(diff_events(first, build_view(blocked, SUMMARY)))


def test_sufficient_reclaim_is_not_blocked() -> None:
    reclaimed = decision(
        thresholds=ACTIONABLE,
        ranking=RANKING,
        reclaim={"signal": "imagefs.available", "steps": [{"step": "imageGC", "bytesFreed": 500}], "sufficient": True},
    )
    events = diff_events(None, build_view(reclaimed, SUMMARY))
    assert names(events) == ["threshold_met", "reclaim_would_run"]
    assert events[1].fields["bytes_freed"] == 500


def test_image_gc_fail_and_plan_changes() -> None:
    """A new error or a new set of images to delete is logged, but the same result again is not."""
    result = {
        "targetBytes": 300,
        "usagePercent": 90,
        "candidates": [{"imageId": "sha256:a", "outcome": "removed"}, {"imageId": "sha256:b", "outcome": "pinned"}],
        "error": "Failed to garbage collect required amount of images. Attempted to free 300 bytes, but only found 100 bytes eligible to free.",
        "imagesKnown": True,
    }
    first = build_view(decision(), SUMMARY, image_gc=result)
    events = diff_events(None, first)
    assert names(events) == ["image_gc_would_run", "image_gc_would_fail"]
    assert events[0].fields["images_removed"] == ["sha256:a"]
    assert events[0].fields["images_skipped"] == {"pinned": 1}

    same = build_view(decision(), SUMMARY, image_gc=dict(result))
    assert names(diff_events(first, same)) == []

    more = dict(result, candidates=[{"imageId": "sha256:a", "outcome": "removed"}, {"imageId": "sha256:b", "outcome": "removed"}], error=None)
    assert names(diff_events(first, build_view(decision(), SUMMARY, image_gc=more))) == ["image_gc_would_run"]


def test_image_gc_failure_without_image_list_not_logged() -> None:
    """A recorded Summary has no images, so its 'freed 0 bytes' failure is not a finding."""
    result = {"targetBytes": 300, "candidates": [], "error": "freed 0 bytes", "imagesKnown": False}
    assert names(diff_events(None, build_view(decision(), SUMMARY, image_gc=result))) == ["image_gc_would_run"]


def test_container_gc_logged_when_removal_set_changes() -> None:
    result = {
        "bytesFreed": 4096,
        "sandboxesRemoved": 0,
        "containers": [
            {"containerId": "c1", "outcome": "removed_max_per_pod_container"},
            {"containerId": "c2", "outcome": "kept_newest"},
        ],
    }
    first = build_view(decision(), SUMMARY, container_gc=result)
    events = diff_events(None, first)
    assert names(events) == ["container_gc_would_remove"]
    assert events[0].fields["containers"] == ["c1"]
    assert names(diff_events(first, build_view(decision(), SUMMARY, container_gc=dict(result)))) == []


def test_pass_error_logged_once() -> None:
    failing = decision(error="KubeletSeparateDiskGC is turned off but we still have a split filesystem")
    first = build_view(failing, SUMMARY)
    events = diff_events(TickView(), first)
    assert [(e.level, e.event) for e in events] == [("warning", "eviction_pass_failed")]
    assert diff_events(first, build_view(failing, SUMMARY)) == []
