"""The kubelet's image garbage collector: image records, the periodic pass and eviction reclaim.

This restates ``pkg/kubelet/images/image_gc_manager.go`` (kubelet 1.27-1.35) as data in,
decisions out. Nothing is deleted: a candidate the kubelet would delete is reported as
``removed`` and its record stays, so the next tick starts from the same records.

Bookkeeping (:class:`ImageDetector`): every detection lists images and all containers
(running or not). A new image id gets ``first_detected`` = the detection time; every image
that some container references gets ``last_used`` = now; ids that disappeared are dropped.
The state lives only in kubelet memory, so a kubelet restart empties it (:meth:`restart`).

Periodic GC (:func:`plan_image_gc`), in the kubelet's order:

1. detect images at ``now`` and list candidates: not in use, not pinned, oldest ``last_used``
   first, ties broken by earlier ``first_detected``;
2. max-age pass (when ``imageMaximumGCAge`` > 0 and the feature gate is on): remove every
   candidate unused for strictly longer than the max age, without looking at the min age, but
   only once the kubelet has run for strictly longer than the max age (1.30+);
3. read the image filesystem: capacity 0 fails with ``invalid capacity 0 on image filesystem``;
4. ``usage = 100 - available * 100 // capacity``; at or above the high threshold, free
   ``capacity * (100 - low) // 100 - available`` bytes, skipping images younger than the min
   age, and stop as soon as enough is freed;
5. a shortfall fails with the version's ``FreeDiskSpaceFailed`` message.

Eviction reclaim (:func:`plan_delete_unused_images`) runs step 4's loop with an unlimited
target and no max-age pass.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import operator
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from simulator.documents import load_document
from simulator.engine.images import CONTAINER_EXITED, CONTAINER_RUNNING, ContainerInfo, ImageInfo
from simulator.errors import InputError

UTC = dt.UTC

# DeleteUnusedImages passes math.MaxInt64 bytes to freeSpace as its target.
UNLIMITED_BYTES = 2**63 - 1

# The kubelet's detection loop, cache refresh and periodic GC periods (kubelet.go, image_gc_manager.go).
DETECTION_PERIOD_S = 300.0
IMAGE_GC_PERIOD_S = 300.0

EVENT_INVALID_DISK_CAPACITY = "InvalidDiskCapacity"
EVENT_FREE_DISK_SPACE_FAILED = "FreeDiskSpaceFailed"


class Trigger(enum.StrEnum):
    """Reason for a deletion: the periodic threshold pass, the max-age pass or eviction reclaim."""

    PERIODIC_THRESHOLD = "periodic_threshold"
    MAX_AGE = "max_age"
    EVICTION_RECLAIM = "eviction_reclaim"


class Outcome(enum.StrEnum):
    """The decision for one image: deletion, or the reason the kubelet keeps the image."""

    REMOVED = "removed"
    IN_USE_RUNNING = "in_use_running"
    IN_USE_EXITED = "in_use_exited"
    IN_USE_CREATED = "in_use_created"
    PINNED = "pinned"
    YOUNGER_THAN_MIN_AGE = "younger_than_min_age"
    # The pass stopped before this image because enough bytes were already freed.
    TARGET_REACHED = "target_reached"
    # The pass did not look at this image: GC did not need to free anything.
    NOT_NEEDED = "not_needed"


class ImageGCPolicyLike(Protocol):
    """The fields of :class:`simulator.policy.model.ImageGCPolicy` that image GC reads."""

    high_threshold_percent: int
    low_threshold_percent: int
    minimum_gc_age_s: float
    maximum_gc_age_s: float


# ---------------------------------------------------------------------------------------------
# versions


def kubelet_minor(version: str) -> int:
    """Return the minor version of a kubelet version such as ``1.31``, ``v1.31.2`` or ``1.35.0-rc.1``."""
    match = re.match(r"^v?1\.(\d+)(?:\.\d+)?(?:[-+].*)?$", version.strip())
    if match is None:
        raise InputError(
            f"invalid kubelet version {version!r}; expected a version such as 1.31 or v1.31.2",
            field="kubeletVersion",
            value=version,
        )
    return int(match.group(1))


def first_detection_records_zero_time(version: str) -> bool:
    """Return whether the first detection after a kubelet start records firstDetected as zero time.

    Up to 1.28 (checked in the source) the detection loop's first run passed Go's zero time,
    "unknown, in the past", so right after a restart the minimum age protects no image
    (reported against 1.25). The source with the 1.30 max-age uptime rule passes the
    current time on every run.
    """
    # NOTE: the 1.29 behaviour is inferred. The sources read show zero time in 1.28 and the
    # current time from 1.30 on.
    return kubelet_minor(version) <= 29


def max_age_waits_for_uptime(version: str) -> bool:
    """Return whether max-age GC waits until the kubelet has run longer than the max age (1.30+)."""
    return kubelet_minor(version) >= 30


def max_age_gate_default(version: str) -> bool:
    """Return the ImageMaximumGCAge feature gate's default: absent before 1.29, off in 1.29, on from 1.30."""
    return kubelet_minor(version) >= 30


def effective_max_age_s(
    policy: ImageGCPolicyLike, version: str, feature_gates: Mapping[str, bool] | None
) -> float:
    """Return the max age the kubelet would use: 0 when the version or feature gate turns it off."""
    minor = kubelet_minor(version)
    if minor < 29:
        return 0.0
    gates = feature_gates or {}
    enabled = gates.get("ImageMaximumGCAge", max_age_gate_default(version)) if minor < 35 else True
    return float(policy.maximum_gc_age_s) if enabled else 0.0


def periodic_gc_disabled(policy: ImageGCPolicyLike, max_age_s: float) -> bool:
    """Return whether the kubelet never starts periodic image GC: high threshold 100 and no max age."""
    return policy.high_threshold_percent == 100 and max_age_s <= 0


def validate_policy(policy: ImageGCPolicyLike) -> None:
    """Raise InputError with the image GC manager's own message for a policy it rejects at start."""
    high = policy.high_threshold_percent
    low = policy.low_threshold_percent
    if high < 0 or high > 100:
        raise InputError(
            f"invalid HighThresholdPercent {high}, must be in range [0-100]",
            field="imageGCHighThresholdPercent",
            value=high,
        )
    if low < 0 or low > 100:
        raise InputError(
            f"invalid LowThresholdPercent {low}, must be in range [0-100]",
            field="imageGCLowThresholdPercent",
            value=low,
        )
    if low > high:
        raise InputError(
            f"LowThresholdPercent {low} can not be higher than HighThresholdPercent {high}",
            field="imageGCLowThresholdPercent",
            value=low,
        )


# ---------------------------------------------------------------------------------------------
# records and detection


# Count of writes to any ImageRecord field. The detector's cached candidate order and the
# detection fast path are valid only while this count is unchanged.
_record_writes = 0


@dataclasses.dataclass(slots=True)
class _ImageRecordFields:
    """The fields of :class:`ImageRecord`, without its write hook, for fast construction."""

    image_id: str
    first_detected: dt.datetime | None
    last_used: dt.datetime | None = None
    size_bytes: int = 0
    pinned: bool = False
    display_name: str = ""
    # The last candidate built from this record, reused while the outcome and trigger match.
    # Every write to another field resets it to None.
    candidate_cache: Candidate | None = dataclasses.field(default=None, init=False, repr=False, compare=False)


class ImageRecord(_ImageRecordFields):
    """The kubelet's in-memory record of one image.

    ``first_detected`` and ``last_used`` are ``None`` for Go's zero time: a never-used image,
    or an image first seen by the initial detection of kubelets up to 1.29. Every field write
    counts in ``_record_writes``, so cached GC state notices writes from any caller.
    """

    __slots__ = ()

    def __init__(
        self,
        image_id: str,
        first_detected: dt.datetime | None,
        last_used: dt.datetime | None = None,
        size_bytes: int = 0,
        pinned: bool = False,
        display_name: str = "",
    ) -> None:
        global _record_writes
        _record_writes += 1
        # object.__setattr__ skips the write hook below, which would count every field.
        set_field = object.__setattr__
        set_field(self, "image_id", image_id)
        set_field(self, "first_detected", first_detected)
        set_field(self, "last_used", last_used)
        set_field(self, "size_bytes", size_bytes)
        set_field(self, "pinned", pinned)
        set_field(self, "display_name", display_name)
        set_field(self, "candidate_cache", None)

    def __setattr__(self, name: str, value: Any) -> None:
        global _record_writes
        object.__setattr__(self, name, value)
        if name != "candidate_cache":
            _record_writes += 1
            object.__setattr__(self, "candidate_cache", None)


def _new_record(
    image_id: str,
    first_detected: dt.datetime | None,
    last_used: dt.datetime | None,
    size_bytes: int,
    pinned: bool,
    display_name: str,
) -> ImageRecord:
    """Build an ImageRecord without running the write hook once per field.

    The caller must add 1 to ``_record_writes`` before the records are next read.
    """
    record = _ImageRecordFields(image_id, first_detected, last_used, size_bytes, pinned, display_name)
    # Same slots, so switching the class is allowed. It is about 4 times faster than
    # ImageRecord.__init__ (5,000 records, CPython 3.11.7 on a 2-core EPYC).
    record.__class__ = ImageRecord
    return record  # type: ignore[return-value]


# Go's zero time sorts before every real time.
ZERO_TIME = dt.datetime.min.replace(tzinfo=UTC)


def _sort_time(value: dt.datetime | None) -> dt.datetime:
    return ZERO_TIME if value is None else value


def eviction_order_key(record: ImageRecord) -> tuple[dt.datetime, dt.datetime, str]:
    """Order images as the kubelet's byLastUsedAndDetected does.

    The kubelet breaks remaining ties arbitrarily (sort.Sort is not stable); the image id is
    the last key here so that results are repeatable.
    """
    last_used = record.last_used
    first_detected = record.first_detected
    return (
        ZERO_TIME if last_used is None else last_used,
        ZERO_TIME if first_detected is None else first_detected,
        record.image_id,
    )


@dataclasses.dataclass(slots=True)
class Detection:
    """One detection's view: which images containers reference, and by which container states."""

    time: dt.datetime
    in_use: dict[str, Outcome]


class ImageDetector:
    """The image GC manager's records, kept across ticks like the kubelet keeps them in memory.

    ``kubelet_start`` is when image GC started (``beganGC``); the max-age pass waits for it.
    """

    def __init__(self, kubelet_version: str, *, kubelet_start: dt.datetime) -> None:
        kubelet_minor(kubelet_version)
        self.kubelet_version = kubelet_version
        self.kubelet_start = kubelet_start
        self.records: dict[str, ImageRecord] = {}
        self.initialized = False
        self.last_detection: Detection | None = None
        self.notes: list[str] = []
        # The image tuple of the last full detection and the record write count after it.
        self._synced_images: tuple[ImageInfo, ...] | None = None
        self._synced_records: dict[str, ImageRecord] | None = None
        self._synced_writes = -1
        self._synced_count = -1
        self._ordering: _Ordering | None = None

    def restart(self, now: dt.datetime) -> None:
        """Model a kubelet restart at ``now``: every record is forgotten and GC starts again."""
        self.records = {}
        self.initialized = False
        self.kubelet_start = now
        self.last_detection = None
        self._synced_images = None
        self._ordering = None

    def detect(
        self, images: Iterable[ImageInfo], containers: Iterable[ContainerInfo], now: dt.datetime
    ) -> Detection:
        """Run one detection at ``now`` and return which image ids are in use."""
        in_use = images_in_use(containers)
        if (
            isinstance(images, tuple)
            and images is self._synced_images
            and self.records is self._synced_records
            and len(self.records) == self._synced_count
            and _record_writes == self._synced_writes
        ):
            # The same immutable image list as the last detection, and no record written
            # since: the full pass below would only set lastUsed on the images in use.
            records = self.records
            for image_id in in_use:
                record = records.get(image_id)
                if record is not None and record.last_used != now:
                    record.last_used = now
        else:
            self._sync_records(images, in_use, now)
        self.initialized = True
        self._synced_writes = _record_writes
        self._synced_count = len(self.records)
        self.last_detection = Detection(time=now, in_use=in_use)
        return self.last_detection

    def _sync_records(self, images: Iterable[ImageInfo], in_use: Mapping[str, Outcome], now: dt.datetime) -> None:
        """Add records for new images, update the others and drop those of vanished images."""
        detect_time: dt.datetime | None = now
        if not self.initialized and first_detection_records_zero_time(self.kubelet_version):
            detect_time = None
        global _record_writes
        records = self.records
        created = False
        seen: set[str] = set()
        for image in images:
            image_id = image.id
            seen.add(image_id)
            record = records.get(image_id)
            if record is None:
                records[image_id] = _new_record(
                    image_id,
                    detect_time,
                    now if image_id in in_use else None,
                    image.size_bytes,
                    image.pinned,
                    image.display_name,
                )
                created = True
                continue
            # Writes only on change, because every write empties the record's caches.
            if image_id in in_use and record.last_used != now:
                record.last_used = now
            if record.size_bytes != image.size_bytes:
                record.size_bytes = image.size_bytes
            if record.pinned != image.pinned:
                record.pinned = image.pinned
        if created:
            _record_writes += 1
        if len(seen) != len(records):
            for image_id in [key for key in records if key not in seen]:
                del records[image_id]
            self._ordering = None
        self._synced_images = images if isinstance(images, tuple) else None
        self._synced_records = records

    # state file ------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """Export the records so an offline run can use the daemon's detection times."""
        return {
            "kind": "ImageGCState",
            "version": 1,
            "kubeletVersion": self.kubelet_version,
            "kubeletStart": _format(self.kubelet_start),
            "initialized": self.initialized,
            "records": {
                image_id: {
                    "firstDetected": _format(record.first_detected),
                    "lastUsed": _format(record.last_used),
                    "sizeBytes": record.size_bytes,
                    "pinned": record.pinned,
                    "name": record.display_name,
                }
                for image_id, record in sorted(self.records.items())
            },
        }

    @classmethod
    def from_json(cls, document: Any, *, source: str = "") -> ImageDetector:
        """Import records written by :meth:`to_json`; raise InputError naming a bad field."""
        if not isinstance(document, Mapping) or document.get("kind") != "ImageGCState":
            raise InputError("not an image GC state file: expected kind ImageGCState", source=source)
        version = str(document.get("kubeletVersion") or "")
        start = _parse(document.get("kubeletStart"), "kubeletStart", source)
        if start is None:
            raise InputError("kubeletStart: missing kubelet start time", field="kubeletStart", source=source)
        detector = cls(version, kubelet_start=start)
        detector.initialized = bool(document.get("initialized", True))
        records = document.get("records") or {}
        if not isinstance(records, Mapping):
            raise InputError("records: expected an object keyed by image id", field="records", source=source)
        for image_id, item in records.items():
            field = f"records.{image_id}"
            if not isinstance(item, Mapping):
                raise InputError(f"{field}: expected an object", field=field, source=source)
            detector.records[image_id] = ImageRecord(
                image_id=image_id,
                first_detected=_parse(item.get("firstDetected"), f"{field}.firstDetected", source),
                last_used=_parse(item.get("lastUsed"), f"{field}.lastUsed", source),
                size_bytes=int(item.get("sizeBytes") or 0),
                pinned=bool(item.get("pinned") or False),
                display_name=str(item.get("name") or ""),
            )
        return detector


def write_state_file(detector: ImageDetector, path: str | os.PathLike[str]) -> None:
    """Write the detector's records to ``path`` as JSON, replacing the file atomically."""
    target = Path(path)
    temporary = target.with_name(target.name + ".tmp")
    temporary.write_text(json.dumps(detector.to_json(), indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, target)


def read_state_file(path: str | os.PathLike[str], *, option: str = "--state") -> ImageDetector:
    """Read a state file written by :func:`write_state_file`; raise InputError naming a bad file or field."""
    document = load_document(path, option=option, format="json", expected="image GC state file")
    return ImageDetector.from_json(document, source=str(path))


def images_in_use(containers: Iterable[ContainerInfo]) -> dict[str, Outcome]:
    """Map each referenced image id to the strongest reason: running, else created, else exited."""
    rank = {Outcome.IN_USE_RUNNING: 3, Outcome.IN_USE_CREATED: 2, Outcome.IN_USE_EXITED: 1}
    in_use: dict[str, Outcome] = {}
    for container in containers:
        if not container.image_id:
            continue
        if container.state == CONTAINER_RUNNING:
            reason = Outcome.IN_USE_RUNNING
        elif container.state == CONTAINER_EXITED:
            reason = Outcome.IN_USE_EXITED
        else:
            reason = Outcome.IN_USE_CREATED
        current = in_use.get(container.image_id)
        if current is None or rank[reason] > rank[current]:
            in_use[container.image_id] = reason
    return in_use


def _format(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse(value: Any, field: str, source: str) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputError(f"{field}: invalid time {value!r}", field=field, value=value, source=source)
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise InputError(
            f"{field}: invalid RFC 3339 time {value!r}", field=field, value=value, source=source
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


# ---------------------------------------------------------------------------------------------
# results


class Candidate(NamedTuple):
    """One image and what the simulated pass would do with it (a tuple: thousands are built per pass)."""

    image_id: str
    name: str
    size_bytes: int
    last_used: dt.datetime | None
    first_detected: dt.datetime | None
    outcome: Outcome
    trigger: Trigger | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "imageId": self.image_id,
            "name": self.name,
            "sizeBytes": self.size_bytes,
            "lastUsed": _format(self.last_used),
            "firstDetected": _format(self.first_detected),
            "outcome": str(self.outcome),
        }
        if self.trigger is not None:
            out["trigger"] = str(self.trigger)
        return out


@dataclasses.dataclass(slots=True)
class ImageGCResult:
    """The accounting of one simulated image GC pass.

    ``error`` is the kubelet's error text (also the message of ``event_reason``'s node event)
    or ``None`` when the pass would succeed. ``non_image_bytes`` is the used space on the image
    filesystem that image sizes do not explain. It can be negative, because runtimes may report
    compressed sizes and count shared layers once per image.
    """

    trigger: Trigger
    kubelet_version: str
    time: dt.datetime
    ran: bool = True
    disabled_reason: str = ""
    capacity_bytes: int | None = None
    available_bytes: int | None = None
    usage_percent: int | None = None
    high_threshold_percent: int | None = None
    low_threshold_percent: int | None = None
    target_bytes: int = 0
    bytes_freed: int = 0
    max_age_bytes_freed: int = 0
    images_bytes: int = 0
    non_image_bytes: int | None = None
    candidates: list[Candidate] = dataclasses.field(default_factory=list)
    error: str | None = None
    event_reason: str | None = None
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def shortfall_bytes(self) -> int:
        """Bytes the threshold pass wanted but could not find; 0 when it found enough."""
        if self.target_bytes <= 0 or self.target_bytes == UNLIMITED_BYTES:
            return 0
        return max(self.target_bytes - (self.bytes_freed - self.max_age_bytes_freed), 0)

    @property
    def removed(self) -> list[Candidate]:
        return [candidate for candidate in self.candidates if candidate.outcome is Outcome.REMOVED]

    @property
    def would_fail(self) -> bool:
        return self.error is not None

    def to_json(self) -> dict[str, Any]:
        target: int | str = self.target_bytes
        if self.target_bytes == UNLIMITED_BYTES:
            target = "unlimited"
        return {
            "trigger": str(self.trigger),
            "kubeletVersion": self.kubelet_version,
            "time": _format(self.time),
            "ran": self.ran,
            "disabledReason": self.disabled_reason or None,
            "capacityBytes": self.capacity_bytes,
            "availableBytes": self.available_bytes,
            "usagePercent": self.usage_percent,
            "highThresholdPercent": self.high_threshold_percent,
            "lowThresholdPercent": self.low_threshold_percent,
            "targetBytes": target,
            "bytesFreed": self.bytes_freed,
            "maxAgeBytesFreed": self.max_age_bytes_freed,
            "shortfallBytes": self.shortfall_bytes,
            "imagesBytes": self.images_bytes,
            "nonImageBytes": self.non_image_bytes,
            "candidates": [candidate.to_json() for candidate in self.candidates],
            "error": self.error,
            "eventReason": self.event_reason,
            "notes": list(self.notes),
        }


# ---------------------------------------------------------------------------------------------
# planning


def format_size(size_bytes: int) -> str:
    """Format a byte count as the 1.35 kubelet's formatSize does: ``512 B``, ``10.0 GiB``."""
    units = (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024))
    if size_bytes < 1024:
        return f"{size_bytes} B"
    for name, scale in units:
        if size_bytes >= scale or name == "KiB":
            return f"{size_bytes / scale:.1f} {name}"
    return f"{size_bytes} B"  # pragma: no cover


def shortfall_message(
    version: str, *, target_bytes: int, freed_bytes: int, usage_percent: int, capacity_bytes: int
) -> str:
    """Return the kubelet's FreeDiskSpaceFailed text for ``version``.

    1.27-1.34 name the target and the bytes found. 1.35 (changelog of 1.35.0-alpha.1) names the
    usage and capacity instead, because the usual cause is data that is not images.
    """
    if kubelet_minor(version) >= 35:
        return (
            f"Insufficient free disk space on the node's image filesystem ({usage_percent}% of "
            f"{format_size(capacity_bytes)} used). Failed to free sufficient space by deleting unused "
            f"images (freed {freed_bytes} bytes). Investigate disk usage, as it could be used by "
            "active images, logs, volumes, or other data."
        )
    return (
        "Failed to garbage collect required amount of images. "
        f"Attempted to free {target_bytes} bytes, but only found {freed_bytes} bytes eligible to free."
    )


@dataclasses.dataclass(slots=True)
class _Ordering:
    """A detector's candidates in eviction order, valid until any record is written."""

    record_writes: int
    records: dict[str, ImageRecord]
    record_count: int
    in_use: dict[str, Outcome]
    candidates: list[ImageRecord]
    protected: list[Candidate]
    images_bytes: int
    # _free_space results for this order, keyed by (now, min age, target bytes, trigger).
    free_space: dict[tuple[dt.datetime, float, int, Trigger], tuple[tuple[Candidate, ...], int]] = (
        dataclasses.field(default_factory=dict)
    )

    def is_valid(self, detector: ImageDetector, detection: Detection) -> bool:
        return (
            self.record_writes == _record_writes
            and self.records is detector.records
            and self.record_count == len(detector.records)
            and self.in_use == detection.in_use
        )


def _ordering(detector: ImageDetector, detection: Detection) -> _Ordering:
    """Return the detector's cached candidate order, rebuilding it when a record changed."""
    ordering = detector._ordering
    if ordering is not None and ordering.is_valid(detector, detection):
        return ordering
    candidates, protected = _ordered_candidates(detector, detection)
    ordering = _Ordering(
        record_writes=_record_writes,
        records=detector.records,
        record_count=len(detector.records),
        in_use=dict(detection.in_use),
        candidates=candidates,
        protected=protected,
        images_bytes=sum(record.size_bytes for record in detector.records.values()),
    )
    detector._ordering = ordering
    return ordering


def _ordered_candidates(
    detector: ImageDetector, detection: Detection
) -> tuple[list[ImageRecord], list[Candidate]]:
    """Split records into GC candidates in eviction order and images kept for being in use or pinned."""
    protected: list[Candidate] = []
    candidates: list[ImageRecord] = []
    in_use = detection.in_use
    for record in detector.records.values():
        reason = in_use.get(record.image_id)
        if reason is not None:
            protected.append(_candidate(record, reason))
        elif record.pinned:
            protected.append(_candidate(record, Outcome.PINNED))
        else:
            candidates.append(record)
    candidates.sort(key=eviction_order_key)
    protected.sort(key=_CANDIDATE_IMAGE_ID)
    return candidates, protected


# Candidate.image_id, read in C by sort.
_CANDIDATE_IMAGE_ID = operator.itemgetter(0)


def _candidate(record: ImageRecord, outcome: Outcome, trigger: Trigger | None = None) -> Candidate:
    """Return the record's candidate for ``outcome``, reusing the last one built when it matches."""
    candidate = record.candidate_cache
    if candidate is None or candidate.outcome is not outcome or candidate.trigger is not trigger:
        candidate = Candidate(
            image_id=record.image_id,
            name=record.display_name or record.image_id,
            size_bytes=record.size_bytes,
            last_used=record.last_used,
            first_detected=record.first_detected,
            outcome=outcome,
            trigger=trigger,
        )
        object.__setattr__(record, "candidate_cache", candidate)
    return candidate


def _free_space_cached(
    ordering: _Ordering,
    records: list[ImageRecord],
    target_bytes: int,
    now: dt.datetime,
    min_age_s: float,
    trigger: Trigger,
) -> tuple[list[Candidate], int]:
    """Run :func:`_free_space`, reusing the result of an identical call on the same order."""
    if records is not ordering.candidates:
        # The max-age pass removed some records, so the walk is over a different list.
        return _free_space(records, target_bytes, now, min_age_s, trigger)
    key = (now, min_age_s, target_bytes, trigger)
    cached = ordering.free_space.get(key)
    if cached is None:
        outcomes, freed = _free_space(records, target_bytes, now, min_age_s, trigger)
        if len(ordering.free_space) >= 8:
            ordering.free_space.clear()
        ordering.free_space[key] = (tuple(outcomes), freed)
        return outcomes, freed
    return list(cached[0]), cached[1]


def _free_space(
    records: list[ImageRecord], target_bytes: int, now: dt.datetime, min_age_s: float, trigger: Trigger
) -> tuple[list[Candidate], int]:
    """Walk candidates in order as the kubelet's freeSpace does; return outcomes and bytes freed."""
    outcomes: list[Candidate] = []
    append = outcomes.append
    freed = 0
    min_age = dt.timedelta(seconds=min_age_s)
    # "now - first_detected < min_age" is "first_detected > now - min_age" in exact
    # microsecond arithmetic. None means every detected image is younger than the min age.
    try:
        young_after: dt.datetime | None = now - min_age
    except OverflowError:
        young_after = None
    done = False
    for record in records:
        if done:
            append(_candidate(record, Outcome.TARGET_REACHED))
            continue
        # The kubelet skips lastUsed >= freeTime, which on a real clock means "in use at this
        # pass's own detection". Those images were filtered out before. An earlier detection at
        # the same simulated instant (a daemon tick, then reclaim) counts as earlier, so only a
        # record used after ``now`` is skipped here.
        last_used = record.last_used
        if last_used is not None and last_used > now:
            append(_candidate(record, Outcome.IN_USE_EXITED))
            continue
        first_detected = record.first_detected
        if first_detected is not None and (young_after is None or first_detected > young_after):
            append(_candidate(record, Outcome.YOUNGER_THAN_MIN_AGE))
            continue
        append(_candidate(record, Outcome.REMOVED, trigger))
        freed += record.size_bytes
        if freed >= target_bytes:
            done = True
    return outcomes, freed


def _max_age_pass(
    records: list[ImageRecord], now: dt.datetime, max_age_s: float, detector: ImageDetector
) -> tuple[list[Candidate], list[ImageRecord], list[str]]:
    """Remove candidates unused for longer than the max age; return removed, remaining and notes."""
    if max_age_s <= 0:
        return [], records, []
    max_age = dt.timedelta(seconds=max_age_s)
    if max_age_waits_for_uptime(detector.kubelet_version) and now - detector.kubelet_start <= max_age:
        earliest = detector.kubelet_start + max_age
        note = (
            "max-age GC waits until the kubelet has run longer than the max age: "
            f"earliest age-based deletion after {_format(earliest)}"
        )
        return [], records, [note]
    # "now - last_used > max_age" is "last_used < now - max_age". A max age reaching back past
    # year 1 leaves every image younger.
    try:
        unused_before = now - max_age
    except OverflowError:
        return [], records, []
    removed: list[Candidate] = []
    remaining: list[ImageRecord] = []
    for record in records:
        if _sort_time(record.last_used) < unused_before:
            removed.append(_candidate(record, Outcome.REMOVED, Trigger.MAX_AGE))
        else:
            remaining.append(record)
    if not removed:
        return [], records, []
    return removed, remaining, []


def plan_image_gc(
    detector: ImageDetector,
    policy: ImageGCPolicyLike,
    now: dt.datetime,
    image_fs: Any,
    *,
    images: Iterable[ImageInfo] | None = None,
    containers: Iterable[ContainerInfo] | None = None,
    max_age_s: float | None = None,
    feature_gates: Mapping[str, bool] | None = None,
) -> ImageGCResult:
    """Simulate one periodic ``GarbageCollect`` at ``now``.

    ``image_fs`` is the image filesystem's :class:`~simulator.snapshot.FsStats` (capacity and
    available bytes), or ``None`` when the stats call failed. When ``images`` and
    ``containers`` are given the detector first runs a detection at ``now``, as the kubelet
    does at the start of GC; otherwise the last detection is reused. ``max_age_s`` overrides
    the max age derived from the policy, version and feature gates.
    """
    version = detector.kubelet_version
    validate_policy(policy)
    if max_age_s is None:
        max_age_s = effective_max_age_s(policy, version, feature_gates)
    result = ImageGCResult(
        trigger=Trigger.PERIODIC_THRESHOLD,
        kubelet_version=version,
        time=now,
        high_threshold_percent=policy.high_threshold_percent,
        low_threshold_percent=policy.low_threshold_percent,
    )
    if periodic_gc_disabled(policy, max_age_s):
        result.ran = False
        result.disabled_reason = (
            "periodic image GC disabled: imageGCHighThresholdPercent is 100 and imageMaximumGCAge is off; "
            "eviction reclaim can still delete unused images when a disk eviction threshold is met"
        )
        return result

    # 1. detect and order the candidates
    detection = _detection(detector, images, containers, now)
    ordering = _ordering(detector, detection)
    records, protected = ordering.candidates, ordering.protected
    result.images_bytes = ordering.images_bytes

    # 2. max-age pass, before any stats are read
    max_age_removed, records, notes = _max_age_pass(records, now, max_age_s, detector)
    result.notes.extend(notes)
    result.max_age_bytes_freed = sum(candidate.size_bytes for candidate in max_age_removed)
    if max_age_removed:
        result.trigger = Trigger.MAX_AGE

    # 3. image filesystem stats
    capacity, available = _capacity_and_available(image_fs, result)
    threshold_outcomes: list[Candidate] = []
    if capacity is None or available is None:
        result.error = "failed to get image filesystem stats"
        result.notes.append(
            "no image filesystem stats: the kubelet returns the stats error and skips the threshold pass"
        )
    elif capacity == 0:
        result.error = "invalid capacity 0 on image filesystem"
        result.event_reason = EVENT_INVALID_DISK_CAPACITY
    else:
        # 4. threshold pass
        usage = 100 - available * 100 // capacity
        result.usage_percent = usage
        result.non_image_bytes = capacity - available - result.images_bytes
        if usage >= policy.high_threshold_percent:
            target = capacity * (100 - policy.low_threshold_percent) // 100 - available
            result.target_bytes = target
            result.trigger = Trigger.PERIODIC_THRESHOLD
            threshold_outcomes, freed = _free_space_cached(
                ordering, records, target, now, policy.minimum_gc_age_s, Trigger.PERIODIC_THRESHOLD
            )
            result.bytes_freed = freed
            if freed < target:
                # 5. shortfall
                result.error = shortfall_message(
                    version,
                    target_bytes=target,
                    freed_bytes=freed,
                    usage_percent=usage,
                    capacity_bytes=capacity,
                )
                result.event_reason = EVENT_FREE_DISK_SPACE_FAILED
    if not threshold_outcomes:
        threshold_outcomes = [_candidate(record, Outcome.NOT_NEEDED) for record in records]

    result.bytes_freed += result.max_age_bytes_freed
    result.candidates = max_age_removed + threshold_outcomes + protected
    return result


def plan_delete_unused_images(
    detector: ImageDetector,
    policy: ImageGCPolicyLike,
    now: dt.datetime,
    *,
    images: Iterable[ImageInfo] | None = None,
    containers: Iterable[ContainerInfo] | None = None,
    image_fs: Any = None,
) -> ImageGCResult:
    """Simulate the eviction manager's ``DeleteUnusedImages``: every eligible image, no byte target.

    Eligible means not in use, not pinned and first detected at least the min age ago. The
    max age and the thresholds play no part. ``image_fs`` only feeds the accounting.
    """
    result = ImageGCResult(
        trigger=Trigger.EVICTION_RECLAIM,
        kubelet_version=detector.kubelet_version,
        time=now,
        target_bytes=UNLIMITED_BYTES,
    )
    detection = _detection(detector, images, containers, now)
    ordering = _ordering(detector, detection)
    records, protected = ordering.candidates, ordering.protected
    result.images_bytes = ordering.images_bytes
    outcomes, freed = _free_space_cached(
        ordering, records, UNLIMITED_BYTES, now, policy.minimum_gc_age_s, Trigger.EVICTION_RECLAIM
    )
    result.bytes_freed = freed
    result.candidates = outcomes + protected
    capacity, available = _capacity_and_available(image_fs, result) if image_fs is not None else (None, None)
    if capacity and available is not None:
        result.usage_percent = 100 - available * 100 // capacity
        result.non_image_bytes = capacity - available - result.images_bytes
    return result


def _detection(
    detector: ImageDetector,
    images: Iterable[ImageInfo] | None,
    containers: Iterable[ContainerInfo] | None,
    now: dt.datetime,
) -> Detection:
    if images is not None:
        return detector.detect(images, containers or (), now)
    if detector.last_detection is None:
        raise InputError("image GC needs a detection first: pass images and containers")
    return detector.last_detection


def _capacity_and_available(image_fs: Any, result: ImageGCResult) -> tuple[int | None, int | None]:
    """Read capacity and available as the kubelet does: missing is 0, available capped at capacity."""
    if image_fs is None:
        return None, None
    capacity = int(getattr(image_fs, "capacity_bytes", None) or 0)
    available = int(getattr(image_fs, "available_bytes", None) or 0)
    if available > capacity:
        result.notes.append(f"available {available} is larger than capacity {capacity}: using the capacity")
        available = capacity
    result.capacity_bytes = capacity
    result.available_bytes = available
    return capacity, available


# ---------------------------------------------------------------------------------------------
# the stateful object the daemon keeps


class ImageGCSimulator:
    """Image GC state across ticks, with the operations the daemon and the Reclaimer call.

    The daemon calls :meth:`detect` every tick with the CRI lists and :meth:`plan` on the
    kubelet's GC period; :meth:`restart` models a kubelet restart.
    """

    # NOTE: the kubelet detects every 5 minutes and at each GC, so its firstDetected and
    # lastUsed times are coarser than those of a daemon that detects every tick. Images used
    # between two kubelet detections can therefore sort in a different order here.

    def __init__(
        self,
        policy: ImageGCPolicyLike,
        kubelet_version: str,
        *,
        kubelet_start: dt.datetime,
        feature_gates: Mapping[str, bool] | None = None,
    ) -> None:
        validate_policy(policy)
        self.policy = policy
        self.feature_gates = dict(feature_gates or {})
        self.detector = ImageDetector(kubelet_version, kubelet_start=kubelet_start)
        # A tuple, so the detector can skip resyncing the records when it is passed again.
        self.images: Sequence[ImageInfo] = ()
        self.containers: list[ContainerInfo] = []

    @property
    def kubelet_version(self) -> str:
        return self.detector.kubelet_version

    def detect(
        self, images: Iterable[ImageInfo], containers: Iterable[ContainerInfo], now: dt.datetime
    ) -> Detection:
        """Record one detection of ``images`` and ``containers`` at ``now``."""
        self.images = tuple(images)
        self.containers = list(containers)
        return self.detector.detect(self.images, self.containers, now)

    def restart(self, now: dt.datetime) -> None:
        """Forget every record, as a kubelet restart at ``now`` does."""
        self.detector.restart(now)

    def plan(self, now: dt.datetime, image_fs_stats: Any) -> ImageGCResult:
        """Simulate periodic GC at ``now`` against the last images and containers seen."""
        return plan_image_gc(
            self.detector,
            self.policy,
            now,
            image_fs_stats,
            images=self.images,
            containers=self.containers,
            feature_gates=self.feature_gates,
        )

    def plan_delete_unused(self, now: dt.datetime, image_fs_stats: Any = None) -> ImageGCResult:
        """Simulate eviction reclaim's delete-all-unused-images at ``now``."""
        return plan_delete_unused_images(
            self.detector,
            self.policy,
            now,
            images=self.images,
            containers=self.containers,
            image_fs=image_fs_stats,
        )
