"""Threshold and node-condition bookkeeping of one synchronize pass.

Each function mirrors one helper of the kubelet's eviction manager (kubernetes
pkg/kubelet/eviction/helpers.go, 1.27-1.35) and keeps its contract:

* a threshold is met when the observed available amount is strictly below the threshold
  quantity (plus min-reclaim when enforced), and a signal without an observation is never met;
* first-observed times survive only while a threshold stays in the met set;
* a node condition is reported while fewer than ``pressure_transition_period_s`` seconds have
  passed since it was last observed.

Where the kubelet iterates a Go map (random order), these functions keep the input order, so
results are deterministic.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction

from simulator.engine.observations import Observation, Observations
from simulator.policy.model import Threshold, ThresholdValue
from simulator.signals import MEMORY_SIGNALS, SIGNAL_TO_CONDITION, SIGNAL_TO_RESOURCE, NodeCondition, Resource

ThresholdsObservedAt = dict[Threshold, dt.datetime]
ConditionsObservedAt = dict[NodeCondition, dt.datetime]


def threshold_amount(value: ThresholdValue, capacity: int) -> Fraction | int:
    """Return the threshold amount for ``capacity`` exactly as the kubelet compares it.

    A percentage is ``int64(float64(capacity) * float32 percentage)``; a quantity keeps its
    exact value, because the kubelet compares quantities exactly. An integral quantity comes
    back as an int, which compares equal to the Fraction and several times faster.
    """
    if value.quantity is not None:
        exact = value.quantity.value
        return exact.numerator if exact.denominator == 1 else exact
    assert value.percentage is not None
    return int(float(capacity) * value.percentage)


def required_available(threshold: Threshold, observation: Observation, *, enforce_min_reclaim: bool) -> Fraction | int:
    """Return the amount below which ``threshold`` counts as met for ``observation``."""
    amount = threshold_amount(threshold.value, observation.capacity)
    if enforce_min_reclaim and threshold.min_reclaim is not None:
        amount += threshold_amount(threshold.min_reclaim, observation.capacity)
    return amount


def thresholds_met(
    thresholds: Iterable[Threshold], observations: Observations, *, enforce_min_reclaim: bool
) -> list[Threshold]:
    """Return the thresholds met by ``observations``, ignoring grace periods.

    With ``enforce_min_reclaim`` a threshold stays met until available reaches the threshold
    plus its minimum reclaim.
    """
    met: list[Threshold] = []
    for threshold in thresholds:
        observation = observations.get(threshold.signal)
        if observation is None:
            continue
        if required_available(threshold, observation, enforce_min_reclaim=enforce_min_reclaim) > observation.available:
            met.append(threshold)
    return met


def _same_threshold(a: Threshold, b: Threshold) -> bool:
    # The kubelet's hasThreshold compares signal, operator, value and grace period, not min-reclaim.
    return a.signal == b.signal and a.grace_period_s == b.grace_period_s and a.value == b.value


def merge_thresholds(first: Sequence[Threshold], second: Iterable[Threshold]) -> list[Threshold]:
    """Return ``first`` followed by the members of ``second`` that ``first`` lacks."""
    merged = list(first)
    for threshold in second:
        if not any(_same_threshold(existing, threshold) for existing in merged):
            merged.append(threshold)
    return merged


def thresholds_first_observed_at(
    thresholds: Iterable[Threshold], last_observed_at: Mapping[Threshold, dt.datetime], now: dt.datetime
) -> ThresholdsObservedAt:
    """Return when each threshold was first met: its earlier time if it was tracked, else ``now``.

    Thresholds missing from ``thresholds`` are dropped, so a threshold that stops being met
    restarts its grace period when it is met again.
    """
    return {threshold: last_observed_at.get(threshold, now) for threshold in thresholds}


def thresholds_met_grace_period(observed_at: Mapping[Threshold, dt.datetime], now: dt.datetime) -> list[Threshold]:
    """Return the thresholds met for at least their grace period (hard thresholds at once)."""
    return [
        threshold
        for threshold, since in observed_at.items()
        if (now - since).total_seconds() >= threshold.grace_period_s
    ]


def node_conditions(thresholds: Iterable[Threshold]) -> list[NodeCondition]:
    """Return the node conditions the thresholds map to, without duplicates, in input order."""
    conditions: list[NodeCondition] = []
    for threshold in thresholds:
        condition = SIGNAL_TO_CONDITION.get(threshold.signal)
        if condition is not None and condition not in conditions:
            conditions.append(condition)
    return conditions


def node_conditions_last_observed_at(
    conditions: Iterable[NodeCondition], last_observed_at: Mapping[NodeCondition, dt.datetime], now: dt.datetime
) -> ConditionsObservedAt:
    """Stamp the conditions observed now with ``now``; keep the old time of the others."""
    result: ConditionsObservedAt = {condition: now for condition in conditions}
    for condition, when in last_observed_at.items():
        result.setdefault(condition, when)
    return result


def node_conditions_observed_since(
    observed_at: Mapping[NodeCondition, dt.datetime], period_s: float, now: dt.datetime
) -> list[NodeCondition]:
    """Return the conditions last observed less than ``period_s`` seconds before ``now``."""
    return [condition for condition, when in observed_at.items() if (now - when).total_seconds() < period_s]


def thresholds_updated_stats(
    thresholds: Iterable[Threshold], observations: Observations, last_observations: Observations
) -> list[Threshold]:
    """Return the thresholds whose signal was sampled after the previous pass's sample.

    A signal with no previous observation, or an observation without a timestamp (the zero
    time), always counts as updated. Equal timestamps mean the stats did not refresh.
    """
    updated: list[Threshold] = []
    for threshold in thresholds:
        observation = observations.get(threshold.signal)
        if observation is None:
            continue
        last = last_observations.get(threshold.signal)
        if last is None or observation.time is None:
            updated.append(threshold)
            continue
        if last.time is None or observation.time > last.time:
            updated.append(threshold)
    return updated


def sort_by_eviction_priority(thresholds: Iterable[Threshold]) -> list[Threshold]:
    """Order thresholds as the kubelet's byEvictionPriority: memory signals first.

    NOTE: the kubelet's comparator is not a strict ordering and its input comes from map
    iteration, so the order among non-memory thresholds is arbitrary there. This keeps their
    input (configuration) order, which is one of the orders the kubelet can produce.
    """
    items = list(thresholds)
    return [t for t in items if t.signal in MEMORY_SIGNALS] + [t for t in items if t.signal not in MEMORY_SIGNALS]


def reclaimable_threshold(thresholds: Iterable[Threshold]) -> tuple[Threshold, Resource] | None:
    """Return the first threshold whose signal starves a resource, with that resource."""
    for threshold in thresholds:
        resource = SIGNAL_TO_RESOURCE.get(threshold.signal)
        if resource is not None:
            return threshold, resource
    return None
