"""Scenarios: successive eviction-manager passes over a sequence of node snapshots.

A scenario file (YAML or JSON, documented in docs/scenarios.md) has ``kubeletVersion``,
``policy`` (a KubeletConfiguration path or inline document), ``pods`` (a PodList path or
inline document), optional ``images``, ``containers`` and ``layout``, and ``steps``. Each step
has ``after``, a Go duration since the previous step (the first step is at time zero). It also
has either ``summary`` (a Summary path or inline document) or ``patch`` (a JSON merge patch,
RFC 7386, applied to the previous step's Summary document).

Unless a step sets ``keepTimes: true``, every ``time`` the step's Summary carries in its node
section is set to the step's time, so each step counts as freshly sampled. Time zero is the
newest node stats time of the first Summary, or 2024-01-01T00:00:00Z when it has none.

Layout inference (:func:`infer_layout`) is also used by ``evictsim evaluate --layout auto``.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from simulator.documents import load_document
from simulator.engine.decision import Decision
from simulator.engine.eviction import EvictionManager
from simulator.engine.reclaim import Reclaimer
from simulator.errors import InputError, UnsupportedVersionError
from simulator.pods import PodSpec, load_pod_list, parse_pod_list
from simulator.policy.kubeletconfig import merge_patch
from simulator.policy.load import PolicyInputs, build_policy, policy_from_kubelet_config
from simulator.policy.model import Policy
from simulator.policy.versions import normalize_version
from simulator.quantity import DurationError, parse_go_duration
from simulator.signals import FsLayout
from simulator.snapshot import FsStats, Summary, format_time

DEFAULT_START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
_TOP_LEVEL_KEYS = frozenset({"kubeletVersion", "policy", "pods", "images", "containers", "layout", "steps"})
_STEP_KEYS = frozenset({"after", "summary", "patch", "keepTimes", "name"})


# ---------------------------------------------------------------------------------------------
# layout inference


def _same_fs(first: FsStats | None, second: FsStats | None) -> bool:
    if first is None or second is None:
        return False
    return first.capacity_bytes == second.capacity_bytes and first.inodes == second.inodes


def infer_layout(summary: Summary) -> tuple[FsLayout, str]:
    """Guess the filesystem layout from the Summary's numbers, with the reason.

    The kubelet compares devices, which a Summary does not carry, so this compares capacity
    and inode totals. imageFs equal to fs means one filesystem. containerFs different from
    imageFs means a split layout. Otherwise images and writable layers share a dedicated
    filesystem.
    """
    node = summary.node
    if node.image_fs is None or node.image_fs.capacity_bytes is None:
        return FsLayout.SINGLE, "the Summary has no imageFs capacity"
    if _same_fs(node.fs, node.image_fs):
        if node.container_fs is not None and node.container_fs.capacity_bytes is not None and not _same_fs(node.image_fs, node.container_fs):
            return FsLayout.SPLIT, "containerFs differs from imageFs, which matches fs"
        return FsLayout.SINGLE, "imageFs has the same capacity and inodes as fs"
    if node.container_fs is not None and node.container_fs.capacity_bytes is not None and not _same_fs(node.image_fs, node.container_fs):
        return FsLayout.SPLIT, "containerFs differs from imageFs"
    return FsLayout.DEDICATED_IMAGEFS, "imageFs differs from fs and containerFs equals imageFs"


def parse_layout(text: str, *, field: str = "--layout") -> FsLayout | None:
    """Parse ``auto`` (None) or a layout name; raise InputError naming the accepted values."""
    if text == "auto":
        return None
    try:
        return FsLayout(text)
    except ValueError:
        accepted = ", ".join(["auto", *(layout.value for layout in FsLayout)])
        raise InputError(f"{field}: unknown layout {text!r}; expected one of {accepted}", field=field, value=text) from None


# ---------------------------------------------------------------------------------------------
# the scenario file


@dataclasses.dataclass(frozen=True, slots=True)
class Step:
    """One pass: its offset from time zero in seconds and the Summary document to evaluate."""

    index: int
    name: str
    offset_s: float
    document: dict[str, Any]
    keep_times: bool


@dataclasses.dataclass(slots=True)
class Scenario:
    """A parsed scenario: policy, pods, optional images and the steps in order."""

    policy: Policy
    pods: list[PodSpec] | None
    steps: list[Step]
    layout: FsLayout | None = None
    images: Any = None
    containers: Any = None
    source: str = ""


def _read_document(path: Path, source: str, field: str) -> Any:
    """Read a file the scenario ``source`` names at ``field``; errors read ``SCENARIO: FIELD FILE: REASON``."""
    option = f"{source}: {field}" if source else field
    return load_document(path, option=option)


def _inline_or_file(value: Any, base: Path, source: str, field: str) -> tuple[Any, Path | None]:
    """Return (document, path) for a value that is a path string or an inline document."""
    if isinstance(value, str):
        path = (base / value) if not Path(value).is_absolute() else Path(value)
        return _read_document(path, source, field), path
    if isinstance(value, (Mapping, list)):
        return value, None
    raise InputError(f"{field}: invalid value {value!r}; expected a file path or an inline document", field=field, source=source)


def load_scenario(path: str | Path, *, option: str = "--scenario", kubelet_version: str | None = None) -> Scenario:
    """Read and validate a scenario file; raise InputError naming the option or field on bad input.

    ``kubelet_version``, when given, replaces the file's ``kubeletVersion``.
    """
    path = Path(path)
    source = str(path)
    document = load_document(path, option=option, expected="scenario document")
    return parse_scenario(document, base=path.parent, source=source, kubelet_version=kubelet_version)


def parse_scenario(
    document: Any, *, base: Path = Path("."), source: str = "", kubelet_version: str | None = None
) -> Scenario:
    """Build a Scenario from a decoded document; relative paths resolve against ``base``.

    ``kubelet_version``, when given, replaces the document's ``kubeletVersion``.
    """
    if not isinstance(document, Mapping):
        raise InputError("scenario: expected a mapping with kubeletVersion, policy, pods and steps", source=source)
    unknown = sorted(set(document) - _TOP_LEVEL_KEYS)
    if unknown:
        raise InputError(
            f"scenario: unknown keys {', '.join(unknown)}; expected {', '.join(sorted(_TOP_LEVEL_KEYS))}",
            field=unknown[0],
            source=source,
        )
    version = document.get("kubeletVersion")
    if version is not None and not isinstance(version, (str, int, float)):
        raise InputError(f"kubeletVersion: invalid value {version!r}; expected a version such as 1.35", source=source)
    version_text = None if version is None else str(version)
    if kubelet_version is not None:
        version_text = kubelet_version
    else:
        _check_version(version_text, source)

    policy = _scenario_policy(document.get("policy"), version_text, base, source)
    pods = _scenario_pods(document.get("pods"), base, source)
    layout = None
    if document.get("layout") is not None:
        try:
            layout = parse_layout(str(document["layout"]), field="layout")
        except InputError as error:
            raise InputError(str(error), field="layout", value=document["layout"], source=source) from None

    images = containers = None
    if document.get("images") is not None:
        from simulator.engine.images import parse_images

        images_document, _ = _inline_or_file(document["images"], base, source, "images")
        images = parse_images(images_document, source=f"{source}: images")
    if document.get("containers") is not None:
        from simulator.engine.images import parse_containers

        containers_document, _ = _inline_or_file(document["containers"], base, source, "containers")
        containers = parse_containers(containers_document, source=f"{source}: containers")

    steps = _scenario_steps(document.get("steps"), base, source)
    return Scenario(policy, pods, steps, layout, images, containers, source)


def _check_version(version: str | None, source: str) -> None:
    """Raise UnsupportedVersionError naming the scenario and its ``kubeletVersion`` field."""
    try:
        normalize_version(version)
    except UnsupportedVersionError as error:
        raise UnsupportedVersionError(f"kubeletVersion: {error}", field="kubeletVersion", value=version, source=source) from None


def _scenario_policy(value: Any, version: str | None, base: Path, source: str) -> Policy:
    if value is None:
        return build_policy(PolicyInputs(kubelet_version=version))
    if isinstance(value, str):
        path = (base / value) if not Path(value).is_absolute() else Path(value)
        try:
            return build_policy(PolicyInputs(kubelet_version=version, config_file=str(path)))
        except InputError as error:
            raise InputError(f"policy: {error}", field="policy", value=value, source=source) from None
    if isinstance(value, Mapping):
        return policy_from_kubelet_config(value, version, source=f"{source}: policy")
    raise InputError(f"policy: invalid value {value!r}; expected a KubeletConfiguration path or mapping", field="policy", source=source)


def _scenario_pods(value: Any, base: Path, source: str) -> list[PodSpec] | None:
    if value is None:
        return None
    if isinstance(value, str):
        path = (base / value) if not Path(value).is_absolute() else Path(value)
        return load_pod_list(path, option=f"{source}: pods" if source else "pods")
    return parse_pod_list(value, source=f"{source}: pods")


def _scenario_steps(value: Any, base: Path, source: str) -> list[Step]:
    if not isinstance(value, list) or not value:
        raise InputError("steps: expected a non-empty list of steps", field="steps", source=source)
    steps: list[Step] = []
    offset = 0.0
    previous: dict[str, Any] | None = None
    for index, item in enumerate(value):
        field = f"steps[{index}]"
        if not isinstance(item, Mapping):
            raise InputError(f"{field}: expected a mapping with after and summary or patch", field=field, source=source)
        unknown = sorted(set(item) - _STEP_KEYS)
        if unknown:
            raise InputError(f"{field}: unknown keys {', '.join(unknown)}", field=field, source=source)
        after = item.get("after", "0s")
        try:
            after_s = parse_go_duration(str(after))
        except DurationError as error:
            raise InputError(f"{field}.after: invalid duration {after!r}: {error}", field=f"{field}.after", source=source) from None
        if after_s < 0:
            raise InputError(f"{field}.after: negative duration {after!r}; steps move forward in time", field=f"{field}.after", source=source)
        offset = after_s if index == 0 else offset + after_s
        if ("summary" in item) == ("patch" in item):
            raise InputError(f"{field}: set exactly one of summary and patch", field=field, source=source)
        if "summary" in item:
            summary_document, _ = _inline_or_file(item["summary"], base, source, f"{field}.summary")
            document = copy.deepcopy(summary_document)
        else:
            if previous is None:
                raise InputError(f"{field}.patch: the first step needs a summary to patch", field=f"{field}.patch", source=source)
            document = merge_patch(copy.deepcopy(previous), item["patch"])
        if not isinstance(document, dict):
            raise InputError(f"{field}: the Summary is not a JSON object", field=field, source=source)
        Summary.from_json(document, source=f"{source}: {field}")  # validate early, with the step named
        steps.append(Step(index, str(item.get("name") or ""), offset, document, bool(item.get("keepTimes", False))))
        previous = document
    return steps


# ---------------------------------------------------------------------------------------------
# running


@dataclasses.dataclass(frozen=True, slots=True)
class StepResult:
    """One step's decision with its place in the scenario."""

    step: Step
    time: dt.datetime
    decision: Decision

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"step": self.step.index, "elapsedSeconds": self.step.offset_s, "time": format_time(self.time)}
        if self.step.name:
            out["name"] = self.step.name
        out["decision"] = self.decision.to_json()
        return out


def run_scenario(scenario: Scenario, *, layout: FsLayout | None = None, reclaimer: Reclaimer | None = None) -> Iterator[StepResult]:
    """Run every step through one EvictionManager and yield each step's decision.

    ``layout`` overrides the scenario's layout; when both are None it is inferred from the
    first step's Summary. With images in the scenario (and no ``reclaimer``), node-level
    reclaim uses the GC models; otherwise reclaim frees nothing.
    """
    first = Summary.from_json(scenario.steps[0].document, source=scenario.source)
    start = first.newest_node_stats_time() or DEFAULT_START
    chosen = layout or scenario.layout
    inferred = chosen is None
    if chosen is None:
        chosen, _ = infer_layout(first)
    gc = None
    if reclaimer is None and scenario.images is not None:
        gc = _gc_reclaimer(scenario, start)
        reclaimer = gc
    manager = EvictionManager(scenario.policy, layout=chosen, layout_inferred=inferred, reclaimer=reclaimer)
    for step in scenario.steps:
        now = start + dt.timedelta(seconds=step.offset_s)
        summary = Summary.from_json(step.document, source=f"{scenario.source}: steps[{step.index}]")
        if not step.keep_times:
            summary.stamp_node_times(now)
        if gc is not None:
            gc.image_gc.detect(gc.image_gc.images, gc.containers, now)
            gc.image_fs = summary.node.image_fs
        yield StepResult(step, now, manager.synchronize(summary, scenario.pods, now))


def _gc_reclaimer(scenario: Scenario, start: dt.datetime) -> Any:
    from simulator.engine.gc_reclaimer import GCReclaimer
    from simulator.engine.imagegc import ImageGCSimulator

    policy = scenario.policy
    image_gc = ImageGCSimulator(policy.image_gc, policy.kubelet_version, kubelet_start=start, feature_gates=policy.feature_gates)
    containers = scenario.containers.containers if scenario.containers is not None else []
    image_gc.detect(scenario.images.images, containers, start)
    return GCReclaimer(image_gc, policy.container_gc, containers=containers)
