"""The result of one synchronize pass and its JSON form (camelCase keys, documented in docs/decision-schema.md)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from fractions import Fraction
from typing import Any

from simulator.engine.observations import Observation
from simulator.engine.ranking import RankEntry
from simulator.engine.reclaim import ReclaimStep
from simulator.pods import is_critical, pod_priority
from simulator.signals import NodeCondition, Signal
from simulator.snapshot import format_time


def _number(value: Fraction | int | None) -> int | float | None:
    """Render an exact amount as an int when whole, else as a float."""
    if value is None:
        return None
    if isinstance(value, Fraction):
        return int(value) if value.denominator == 1 else float(value)
    return value


@dataclasses.dataclass(frozen=True, slots=True)
class ThresholdReport:
    """One configured threshold and how this pass judged it.

    ``met``: in the met set this pass (below the threshold, or still below threshold plus
    min-reclaim after it was acted on). ``actionable``: met for its whole grace period and
    observed on fresh stats, so it can drive reclaim and eviction.
    """

    signal: Signal
    hard: bool
    value: str
    quantity: int | None
    grace_period_s: float
    min_reclaim: str | None
    met: bool
    actionable: bool
    synthesized: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "signal": self.signal.value,
            "hard": self.hard,
            "value": self.value,
            "quantity": self.quantity,
            "gracePeriodSeconds": self.grace_period_s,
            "minReclaim": self.min_reclaim,
            "met": self.met,
            "actionable": self.actionable,
        }
        if self.synthesized:
            out["synthesizedFrom"] = self.synthesized
        return out


@dataclasses.dataclass(frozen=True, slots=True)
class ReclaimReport:
    """Node-level reclaim the kubelet would try before evicting, and whether it is enough."""

    signal: Signal
    steps: tuple[ReclaimStep, ...]
    sufficient: bool
    still_met: tuple[Signal, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "signal": self.signal.value,
            "steps": [step.to_json() for step in self.steps],
            "sufficient": self.sufficient,
            "stillMet": [signal.value for signal in self.still_met],
        }


def ranking_entry_json(entry: RankEntry) -> dict[str, Any]:
    """Render one ranked pod; ``usage`` is None when the Summary has no stats for it."""
    spec = entry.candidate.spec
    return {
        "pod": spec.key,
        "priority": pod_priority(spec),
        "usage": entry.usage,
        "request": _number(entry.request),
        "exceedsRequest": entry.exceeds_request,
        "critical": is_critical(spec),
        "statsFound": entry.candidate.stats is not None,
        "specKnown": entry.candidate.spec_known,
    }


@dataclasses.dataclass(frozen=True, slots=True)
class Eviction:
    """One pod the kubelet would evict, with what it writes to the pod and its event.

    ``signal`` is the threshold's signal, or ``emptydirfs.limit`` / ``ephemeralpodfs.limit``
    / ``ephemeralcontainerfs.limit`` for local-storage limit evictions (the kubelet's metric
    labels). ``grace_period_s`` is the grace the pod gets after the pod worker's rules.
    """

    pod: str
    signal: str
    resource: str
    grace_period_s: int
    grace_period_override_s: int
    message: str
    annotations: dict[str, str]
    condition: dict[str, str] | None = None
    reason: str = "Evicted"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "pod": self.pod,
            "signal": self.signal,
            "resource": self.resource,
            "gracePeriodSeconds": self.grace_period_s,
            "gracePeriodOverrideSeconds": self.grace_period_override_s,
            "reason": self.reason,
            "message": self.message,
            "annotations": dict(sorted(self.annotations.items())),
        }
        if self.condition is not None:
            out["condition"] = self.condition
        return out


@dataclasses.dataclass(frozen=True, slots=True)
class Decision:
    """The eviction manager's decision in one synchronize pass."""

    time: dt.datetime
    kubelet_version: str
    layout: str
    layout_inferred: bool
    observations: dict[Signal, Observation]
    thresholds: tuple[ThresholdReport, ...]
    conditions: dict[NodeCondition, bool]
    reclaim: ReclaimReport | None
    ranking: tuple[RankEntry, ...]
    evictions: tuple[Eviction, ...]
    notes: tuple[str, ...]
    error: str | None = None
    event: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the decision as JSON-ready data; key order and list order are stable."""
        out: dict[str, Any] = {
            "time": format_time(self.time),
            "kubeletVersion": self.kubelet_version,
            "layout": self.layout,
            "layoutInferred": self.layout_inferred,
            "observations": {
                signal.value: self.observations[signal].to_json() for signal in Signal if signal in self.observations
            },
            "thresholds": [report.to_json() for report in self.thresholds],
            "conditions": {condition.value: self.conditions.get(condition, False) for condition in NodeCondition},
            "reclaim": self.reclaim.to_json() if self.reclaim is not None else None,
            "ranking": [ranking_entry_json(entry) for entry in self.ranking],
            "evictions": [eviction.to_json() for eviction in self.evictions],
            "notes": list(self.notes),
        }
        if self.event is not None:
            out["event"] = self.event
        if self.error is not None:
            out["error"] = self.error
        return out
