"""Recorded node samples: a Summary JSON file, or a directory of them, read one at a time.

``evictsim daemon --replay`` uses a :class:`RecordedSource` in place of the live probes, so
the daemon runs on machines without a container runtime. A directory is read in sorted file
name order (only ``*.json`` files). Each file is parsed only when its turn comes, so a bad
file raises :class:`RecordedSampleError` for that file and the next call moves on.

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


class RecordedSource:
    """Recorded samples from a Summary JSON file or a directory of them, in order."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._files = self._list_files(self.path)
        self._position = 0

    @property
    def description(self) -> str:
        return f"replay {self.path} ({len(self._files)} files)"

    @property
    def remaining(self) -> int:
        return len(self._files) - self._position

    def next_sample(self) -> RecordedSample:
        """Read the next file.

        Raises ReplayFinished after the last file and RecordedSampleError for a file that
        cannot be read or parsed; the file is consumed either way.
        """
        if self._position >= len(self._files):
            raise ReplayFinished(str(self.path))
        path = self._files[self._position]
        self._position += 1
        return load_recorded_sample(path)

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
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise RecordedSampleError(f"cannot read recorded sample: {error.strerror}", source=source) from error
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RecordedSampleError(f"invalid JSON: {error}", source=source) from error
    try:
        summary = Summary.from_json(document, source=source)
        summary.provenance.update(_read_provenance(document, source))
    except InputError as error:
        raise RecordedSampleError(str(error.args[0]).removeprefix(f"{source}: "), source=source) from error
    return RecordedSample(summary=summary, time=newest_stats_time(summary), origin=source)


def newest_stats_time(summary: Summary) -> dt.datetime | None:
    """Return the newest timestamp among the node's memory, filesystem and rlimit stats."""
    node = summary.node
    times = [
        stats.time
        for stats in (node.memory, node.fs, node.image_fs, node.container_fs, node.rlimit)
        if stats is not None and stats.time is not None
    ]
    return max(times) if times else None


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
