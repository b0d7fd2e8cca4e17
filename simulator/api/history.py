"""The daemon's history: one compact point per sample in a bounded ring, optionally in SQLite.

A point contains the observed amount and capacity of every signal and the node conditions. Trends,
the HTML report and scenario export need no more, so whole Summaries are not kept.
"""

from __future__ import annotations

import array
import dataclasses
import datetime as dt
import json
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import structlog

from simulator.api.observe import SignalObservation
from simulator.documents import load_document, read_text
from simulator.errors import InputError
from simulator.signals import Signal

log = structlog.get_logger(__name__).bind(component="api.history")

# 24 hours at the eviction manager's 10 s monitoring period.
DEFAULT_RETENTION_S = 24 * 3600.0
DEFAULT_INTERVAL_S = 10.0


@dataclasses.dataclass(frozen=True, slots=True)
class HistoryPoint:
    """The signals of one sample: ``signals`` maps a signal name to (available, capacity)."""

    time: float
    sequence: int
    signals: Mapping[str, tuple[int, int]]
    node_conditions: tuple[str, ...] = ()

    @classmethod
    def from_observations(
        cls,
        time: float,
        sequence: int,
        observations: Mapping[Signal, SignalObservation],
        node_conditions: Iterable[str] = (),
    ) -> HistoryPoint:
        signals = {s.value: (o.available, o.capacity) for s, o in observations.items()}
        return cls(time, sequence, signals, tuple(node_conditions))

    def to_json(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "sequence": self.sequence,
            "signals": {name: list(pair) for name, pair in self.signals.items()},
            "nodeConditions": list(self.node_conditions),
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any], *, source: str = "") -> HistoryPoint:
        try:
            signals = {str(k): (int(v[0]), int(v[1])) for k, v in document["signals"].items()}
            return cls(
                float(document["time"]),
                int(document["sequence"]),
                signals,
                tuple(str(c) for c in document.get("nodeConditions", ())),
            )
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as error:
            raise InputError(f"invalid history point {document!r}: {error}", source=source) from error


class HistoryRing:
    """A thread-safe ring of history points covering at most ``retention_s`` seconds.

    The ring stores points in columns, not as HistoryPoint objects. Times and sequence numbers
    go to ``array`` columns, and each signal name has one ``array("q")`` column of available and
    capacity values. Each point's set of signal names and its node conditions are stored as
    indexes into tables of distinct tuples. A full 24 h ring of 9 signals takes about 1.4 MiB
    this way, against about 13 MiB as HistoryPoint objects. :meth:`window` rebuilds
    HistoryPoint objects for the points it returns.
    """

    def __init__(
        self, *, retention_s: float = DEFAULT_RETENTION_S, interval_s: float = DEFAULT_INTERVAL_S
    ) -> None:
        if retention_s <= 0 or interval_s <= 0:
            raise InputError(f"history retention {retention_s} s and interval {interval_s} s must be positive")
        self.retention_s = retention_s
        self.capacity = max(1, int(retention_s / interval_s) + 1)
        # The columns grow one slot per append until they reach ``capacity`` slots, so a long
        # retention costs memory only as points arrive. Until then, the points fill the slots
        # from ``_first`` to the last one. Once full, the ring wraps around.
        self._times = array.array("d")
        self._sequences = array.array("q")
        self._signal_sets = _TupleTable()
        self._signal_set_ids = array.array("I")
        self._condition_sets = _TupleTable()
        self._condition_set_ids = array.array("I")
        # signal name -> values, two per slot: available at 2 * slot, capacity at 2 * slot + 1
        self._columns: dict[str, array.array[int]] = {}
        self._first = 0  # slot of the oldest point
        self._count = 0
        self._lock = threading.Lock()

    def append(self, point: HistoryPoint) -> None:
        with self._lock:
            slots = len(self._times)
            if slots < self.capacity:
                slot = slots
                self._add_slot()
                self._count += 1
            elif self._count == slots:
                slot = self._first
                self._first = (self._first + 1) % slots
            else:
                slot = (self._first + self._count) % slots
                self._count += 1
            self._store(slot, point)

            cutoff = point.time - self.retention_s
            slots = len(self._times)
            while self._count and self._times[self._first] < cutoff:
                self._first = (self._first + 1) % slots
                self._count -= 1

    def _add_slot(self) -> None:
        self._times.append(0.0)
        self._sequences.append(0)
        self._signal_set_ids.append(0)
        self._condition_set_ids.append(0)
        for column in self._columns.values():
            column.extend((0, 0))

    def _store(self, slot: int, point: HistoryPoint) -> None:
        self._times[slot] = point.time
        self._sequences[slot] = point.sequence
        names = tuple(point.signals)
        self._signal_set_ids[slot] = self._signal_sets.index(names)
        self._condition_set_ids[slot] = self._condition_sets.index(tuple(point.node_conditions))
        for name, (available, capacity) in point.signals.items():
            column = self._columns.get(name)
            if column is None:
                column = self._columns[name] = array.array("q", bytes(16 * len(self._times)))
            column[2 * slot] = _clamp_int64(available)
            column[2 * slot + 1] = _clamp_int64(capacity)

    def _load(self, slot: int) -> HistoryPoint:
        names = self._signal_sets.tuples[self._signal_set_ids[slot]]
        signals = {}
        for name in names:
            column = self._columns[name]
            signals[name] = (column[2 * slot], column[2 * slot + 1])
        conditions = self._condition_sets.tuples[self._condition_set_ids[slot]]
        return HistoryPoint(self._times[slot], self._sequences[slot], signals, conditions)

    def extend(self, points: Iterable[HistoryPoint]) -> None:
        for point in sorted(points, key=lambda p: p.time):
            self.append(point)

    def window(self, seconds: float | None = None, *, end: float | None = None) -> list[HistoryPoint]:
        """Return the points of the last ``seconds`` (all points when None), oldest first."""
        with self._lock:
            slots = [(self._first + i) % len(self._times) for i in range(self._count)]
            if seconds is not None and slots:
                last = end if end is not None else self._times[slots[-1]]
                slots = [slot for slot in slots if last - seconds <= self._times[slot] <= last]
            return [self._load(slot) for slot in slots]

    def __len__(self) -> int:
        return self._count


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _clamp_int64(value: int) -> int:
    # NOTE: the Summary API's uint64 fields can in theory exceed int64, and such a value is
    # stored as the int64 maximum (about 8 EiB), the same limit as the int64 fields of the API.
    return min(max(value, _INT64_MIN), _INT64_MAX)


class _TupleTable:
    """Distinct tuples, each stored once and referred to by its index.

    The ring stores the set of signal names and the node conditions of each point this way. Both
    come from small fixed vocabularies, so the table stays small and is never pruned.
    """

    def __init__(self) -> None:
        self.tuples: list[tuple[str, ...]] = []
        self._indexes: dict[tuple[str, ...], int] = {}

    def index(self, values: tuple[str, ...]) -> int:
        found = self._indexes.get(values)
        if found is None:
            found = self._indexes[values] = len(self.tuples)
            self.tuples.append(values)
        return found


class SqliteHistory:
    """History points persisted in a SQLite file so trends survive daemon restarts."""

    def __init__(self, path: str | Path, *, retention_s: float = DEFAULT_RETENTION_S) -> None:
        self.path = str(path)
        self.retention_s = retention_s
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS history_points (time REAL NOT NULL, sequence INTEGER NOT NULL, point TEXT NOT NULL)"
            )
            self._db.execute("CREATE INDEX IF NOT EXISTS history_points_time ON history_points (time)")
        except sqlite3.Error as error:
            raise InputError(f"--history {self.path}: cannot open the SQLite history file: {error}") from error
        self._lock = threading.Lock()
        self._writes = 0

    def append(self, point: HistoryPoint) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO history_points (time, sequence, point) VALUES (?, ?, ?)",
                (point.time, point.sequence, json.dumps(point.to_json(), separators=(",", ":"))),
            )
            self._writes += 1
            if self._writes % 100 == 1:
                self._db.execute("DELETE FROM history_points WHERE time < ?", (point.time - self.retention_s,))

    def load(self, *, since: float | None = None) -> list[HistoryPoint]:
        query = "SELECT point FROM history_points"
        parameters: tuple[Any, ...] = ()
        if since is not None:
            query += " WHERE time >= ?"
            parameters = (since,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY time", parameters).fetchall()
        return [HistoryPoint.from_json(json.loads(row[0]), source=self.path) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def load_history_file(path: str | Path, *, option: str = "--from-file") -> list[HistoryPoint]:
    """Read history points from a SQLite history file or a JSON file written by ``history export --format points``."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            magic = handle.read(16)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        # read_text turns these three cases into the one-line InputError, so this raise is a fallback.
        read_text(path, option=option, expected="history file")
        raise
    except OSError as error:
        raise InputError(f"{option} {path}: cannot read file: {error.strerror or error}", field=option, value=str(path)) from None
    if magic.startswith(b"SQLite format 3"):
        store = SqliteHistory(path)
        try:
            return store.load()
        finally:
            store.close()
    document = load_document(path, option=option, format="json", expected="history file (SQLite or JSON)")
    points = document.get("points") if isinstance(document, dict) else None
    if not isinstance(points, list):
        raise InputError(f"{option} {path}: expected a SQLite history file or a JSON object with a \"points\" list", field=option, value=str(path))
    return [HistoryPoint.from_json(p, source=str(path)) for p in points]


def points_from_message(message: Any) -> list[HistoryPoint]:
    """Convert an evictsim.v1.History message's points."""
    return [
        HistoryPoint(
            p.time,
            p.sequence,
            {name: (value.available, value.capacity) for name, value in p.signals.items()},
            tuple(p.node_conditions),
        )
        for p in message.points
    ]


def _fs_section(point: HistoryPoint, bytes_signal: str, inodes_signal: str, time: str) -> dict[str, Any] | None:
    if bytes_signal not in point.signals and inodes_signal not in point.signals:
        return None
    section: dict[str, Any] = {"time": time}
    if bytes_signal in point.signals:
        available, capacity = point.signals[bytes_signal]
        section.update(availableBytes=available, capacityBytes=capacity, usedBytes=capacity - available)
    if inodes_signal in point.signals:
        free, total = point.signals[inodes_signal]
        section.update(inodesFree=free, inodes=total, inodesUsed=total - free)
    return section


def _memory_section(point: HistoryPoint, signal: str, time: str) -> dict[str, Any] | None:
    if signal not in point.signals:
        return None
    available, capacity = point.signals[signal]
    return {"time": time, "availableBytes": available, "workingSetBytes": capacity - available}


def summary_document(point: HistoryPoint, node_name: str = "") -> dict[str, Any]:
    """Rebuild a node-only Summary document from one history point (pods are not kept)."""
    from simulator.snapshot import format_time

    time = format_time(dt.datetime.fromtimestamp(point.time, dt.UTC))
    node: dict[str, Any] = {"nodeName": node_name}
    memory = _memory_section(point, "memory.available", time)
    if memory is not None:
        node["memory"] = memory
    pods_memory = _memory_section(point, "allocatableMemory.available", time)
    if pods_memory is not None:
        node["systemContainers"] = [{"name": "pods", "startTime": time, "memory": pods_memory}]
    fs = _fs_section(point, "nodefs.available", "nodefs.inodesFree", time)
    if fs is not None:
        node["fs"] = fs
    runtime: dict[str, Any] = {}
    image_fs = _fs_section(point, "imagefs.available", "imagefs.inodesFree", time)
    if image_fs is not None:
        runtime["imageFs"] = image_fs
    container_fs = _fs_section(point, "containerfs.available", "containerfs.inodesFree", time)
    if container_fs is not None:
        runtime["containerFs"] = container_fs
    if runtime:
        node["runtime"] = runtime
    if "pid.available" in point.signals:
        available, maxpid = point.signals["pid.available"]
        node["rlimit"] = {"time": time, "maxpid": maxpid, "curproc": maxpid - available}
    return {"node": node, "pods": []}


def scenario_from_history(
    points: list[HistoryPoint],
    *,
    kubelet_version: str,
    kubelet_config: Mapping[str, Any] | None = None,
    node_name: str = "",
) -> dict[str, Any]:
    """Build a scenario document (the format of ``simulator.scenario``) replaying ``points``.

    Each point becomes one step with a node-only Summary; ``after`` is the time since the
    previous point. Pods are not part of the history, so the replay ranks no pod specs.
    """
    from simulator.quantity import format_go_duration

    if not points:
        raise InputError("the history is empty: nothing to export (has the daemon sampled yet?)")
    steps = []
    previous_time = points[0].time
    for point in points:
        steps.append(
            {
                "name": f"sample {point.sequence}",
                "after": format_go_duration(max(0.0, point.time - previous_time)),
                "summary": summary_document(point, node_name),
            }
        )
        previous_time = point.time
    document: dict[str, Any] = {"kubeletVersion": kubelet_version}
    if kubelet_config is not None:
        document["policy"] = dict(kubelet_config)
    document["steps"] = steps
    return document
