"""Recorded node samples: a Summary JSON file, a directory of them, or a scenario file.

``evictsim daemon --replay`` uses a :class:`RecordedSource` in place of the live probes, so
the daemon runs on machines without a container runtime. A directory is read in sorted file
name order (only ``*.json`` files). Each file is parsed only when its turn comes, so a bad
file raises :class:`RecordedSampleError` for that file and the next call moves on.

A scenario file (``*.yaml``, ``*.yml``, or JSON with a ``steps`` list; see
:mod:`simulator.scenario`) gives one sample per step at the step's time, with the
scenario's images and containers for the GC models. It is validated as a whole when opened.

A file may carry evictsim's provenance under the top-level ``evictsim.provenance`` key, as
``evictsim snapshot -o json`` writes it, which gives the daemon the device behind each
number. A Summary from a real kubelet has no such key.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from simulator.documents import load_document
from simulator.errors import InputError
from simulator.snapshot import Provenance, Summary, parse_time


class RecordedSampleError(InputError):
    """One recorded file could not be read or parsed; ``source`` is its path."""


class ReplayFinished(Exception):
    """Every recorded sample has been returned."""


@dataclasses.dataclass(frozen=True, slots=True)
class RecordedSample:
    """One recorded snapshot with the time it was taken and the file it came from.

    ``time`` is the newest stats timestamp in the node section, or ``None`` when the file
    has none, in which case the caller supplies the time.
    """

    summary: Summary
    time: dt.datetime | None
    origin: str
    images: tuple[Any, ...] | None = None
    containers: tuple[Any, ...] | None = None


class RecordedSource:
    """Recorded samples from a Summary JSON file, a directory of them, or a scenario, in order.

    ``scenario`` is the parsed scenario when the path is one (its policy and pods are for the
    caller to use), else ``None``.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.scenario: Any = None
        self._files: list[Path] = []
        if is_scenario_file(self.path):
            from simulator.scenario import load_scenario

            self.scenario = load_scenario(self.path)
        else:
            self._files = self._list_files(self.path)
        self._position = 0

    @property
    def description(self) -> str:
        if self.scenario is not None:
            return f"replay scenario {self.path} ({len(self.scenario.steps)} steps)"
        return f"replay {self.path} ({len(self._files)} files)"

    @property
    def remaining(self) -> int:
        total = len(self.scenario.steps) if self.scenario is not None else len(self._files)
        return total - self._position

    def next_sample(self) -> RecordedSample:
        """Read the next file or scenario step.

        Raises ReplayFinished after the last one and RecordedSampleError for a file that
        cannot be read or parsed; the file is consumed either way.
        """
        if self.remaining <= 0:
            raise ReplayFinished(str(self.path))
        position = self._position
        self._position += 1
        if self.scenario is not None:
            return scenario_sample(self.scenario, position)
        return load_recorded_sample(self._files[position])

    @staticmethod
    def _list_files(path: Path) -> list[Path]:
        if path.is_dir():
            files = sorted(child for child in path.iterdir() if child.suffix == ".json" and child.is_file())
            if not files:
                raise InputError(f"--replay: directory {str(path)!r} contains no *.json Summary files", field="--replay")
            return files
        if path.is_file():
            return [path]
        raise InputError(
            f"--replay: {str(path)!r} not found; expected a Summary JSON file or a directory of them",
            field="--replay",
            value=str(path),
        )


def load_recorded_sample(path: Path) -> RecordedSample:
    """Parse one Summary JSON file into a RecordedSample, with its provenance if recorded."""
    source = str(path)
    try:
        document = load_document(path, option="", format="json", expected="Summary API JSON document")
    except InputError as error:
        raise RecordedSampleError(str(error.args[0]).removeprefix(f"{source}: "), source=source) from error
    try:
        summary = Summary.from_json(document, source=source)
        summary.provenance.update(_read_provenance(document, source))
    except InputError as error:
        raise RecordedSampleError(str(error.args[0]).removeprefix(f"{source}: "), source=source) from error
    return RecordedSample(summary=summary, time=summary.newest_node_stats_time(), origin=source)


def is_scenario_file(path: Path) -> bool:
    """Report whether ``path`` is a scenario: a YAML file, or a JSON file whose top level has ``steps``."""
    if not path.is_file():
        return False
    if path.suffix in (".yaml", ".yml"):
        return True
    if path.suffix != ".json":
        return False
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(document, Mapping) and "steps" in document


def scenario_sample(scenario: Any, index: int) -> RecordedSample:
    """Return step ``index`` of a scenario as a sample at its time.

    Time zero is the first step's newest stats time (2024-01-01T00:00:00Z when it has none),
    and unless the step sets ``keepTimes`` its node stats times are set to the step's time,
    as ``evictsim evaluate --scenario`` does.
    """
    from simulator.scenario import DEFAULT_START

    first = Summary.from_json(scenario.steps[0].document, source=scenario.source)
    start = first.newest_node_stats_time() or DEFAULT_START
    step = scenario.steps[index]
    now = start + dt.timedelta(seconds=step.offset_s)
    summary = Summary.from_json(step.document, source=f"{scenario.source}: steps[{step.index}]")
    if not step.keep_times:
        summary.stamp_node_times(now)
    images = tuple(scenario.images.images) if scenario.images is not None else None
    containers = tuple(scenario.containers.containers) if scenario.containers is not None else None
    origin = f"{scenario.source}: steps[{step.index}]" + (f" ({step.name})" if step.name else "")
    return RecordedSample(summary=summary, time=now, origin=origin, images=images, containers=containers)


def _read_provenance(document: Mapping[str, Any], source: str) -> dict[str, Provenance]:
    section = document.get("evictsim") if isinstance(document, Mapping) else None
    if not isinstance(section, Mapping):
        return {}
    entries = section.get("provenance") or {}
    if not isinstance(entries, Mapping):
        raise InputError(f"evictsim.provenance: invalid value {entries!r}; expected a JSON object", source=source)
    out: dict[str, Provenance] = {}
    for key, entry in entries.items():
        field = f"evictsim.provenance.{key}"
        if not isinstance(entry, Mapping) or not isinstance(entry.get("source"), str):
            raise InputError(f"{field}: invalid value {entry!r}; expected an object with a source string", source=source)
        time = entry.get("time")
        out[str(key)] = Provenance(
            source=entry["source"],
            detail=str(entry.get("detail") or ""),
            mountpoint=entry.get("mountpoint"),
            device=entry.get("device"),
            partition=entry.get("partition"),
            fs_type=entry.get("fsType"),
            time=parse_time(time, field=f"{field}.time", source=source) if time is not None else None,
        )
    return out
