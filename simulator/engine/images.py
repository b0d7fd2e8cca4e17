"""Images, containers and pod sandboxes as image GC and container GC see them, and their loaders.

The GC models work on the plain records defined here, whatever the source: the live CRI
client (:mod:`simulator.cri.types`), ``crictl images -o json``, ``crictl ps -a -o json``,
``crictl pods -o json``, or a Node object's ``status.images``. Loaders raise
:class:`~simulator.errors.InputError` naming the field and value for input the kubelet could
never receive (no image id, a negative or non-numeric size). Input the kubelet does receive
and tolerates is kept and explained in ``notes``:

* an image with size 0 or no size: protobuf leaves a missing ``size`` at 0, and the kubelet
  records the image with size 0, so removing it frees 0 bytes;
* two images with the same id: the kubelet keys its records by id, so the later entry's size
  and pinned flag win and one record remains;
* a container whose image matches no listed image: the kubelet marks the id as in use, which
  changes nothing because no record has that id.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from simulator.documents import load_document
from simulator.errors import InputError

# Container states of CRI runtime.v1, as the CRI client and crictl spell them.
CONTAINER_CREATED = "CONTAINER_CREATED"
CONTAINER_RUNNING = "CONTAINER_RUNNING"
CONTAINER_EXITED = "CONTAINER_EXITED"
CONTAINER_UNKNOWN = "CONTAINER_UNKNOWN"
CONTAINER_STATES = (CONTAINER_CREATED, CONTAINER_RUNNING, CONTAINER_EXITED, CONTAINER_UNKNOWN)

SANDBOX_READY = "SANDBOX_READY"
SANDBOX_NOTREADY = "SANDBOX_NOTREADY"
SANDBOX_STATES = (SANDBOX_READY, SANDBOX_NOTREADY)

# Labels the kubelet puts on every container and sandbox it creates (kubelet/types/labels.go).
POD_NAME_LABEL = "io.kubernetes.pod.name"
POD_NAMESPACE_LABEL = "io.kubernetes.pod.namespace"
POD_UID_LABEL = "io.kubernetes.pod.uid"
CONTAINER_NAME_LABEL = "io.kubernetes.container.name"


@dataclasses.dataclass(frozen=True, slots=True)
class ImageInfo:
    """One image as ListImages returns it; ``id`` is the key of the kubelet's image records."""

    id: str
    size_bytes: int
    pinned: bool = False
    repo_tags: tuple[str, ...] = ()
    repo_digests: tuple[str, ...] = ()
    runtime_handler: str = ""

    @property
    def display_name(self) -> str:
        """The first tag, else the first digest, else the id: what an operator recognises."""
        if self.repo_tags:
            return self.repo_tags[0]
        if self.repo_digests:
            return self.repo_digests[0]
        return self.id


@dataclasses.dataclass(frozen=True, slots=True)
class ContainerInfo:
    """One container as ListContainers returns it.

    ``image_id`` is the id the kubelet compares with image ids: the CRI ``image_id`` field when
    the runtime fills it, else ``image_ref`` (containerd 1.6 and 1.7 put the image id there in
    ListContainers).
    """

    id: str
    pod_sandbox_id: str
    name: str
    state: str
    created_at_ns: int
    image_id: str
    image: str = ""
    attempt: int = 0
    pod_uid: str = ""
    pod_name: str = ""
    pod_namespace: str = ""
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    annotations: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @property
    def pod_key(self) -> str:
        return f"{self.pod_namespace}/{self.pod_name}"


@dataclasses.dataclass(frozen=True, slots=True)
class SandboxInfo:
    """One pod sandbox as ListPodSandbox returns it."""

    id: str
    uid: str
    name: str
    namespace: str
    state: str
    created_at_ns: int
    attempt: int = 0
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return self.state == SANDBOX_READY


@dataclasses.dataclass(slots=True)
class Loaded:
    """Records read from one source, with notes about input the kubelet would tolerate."""

    images: list[ImageInfo] = dataclasses.field(default_factory=list)
    containers: list[ContainerInfo] = dataclasses.field(default_factory=list)
    sandboxes: list[SandboxInfo] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)
    # True when images came from a Node object, which has names but no image ids.
    keyed_by_name: bool = False


# ---------------------------------------------------------------------------------------------
# conversion from the CRI client's domain types


def images_from_cri(images: Iterable[Any]) -> list[ImageInfo]:
    """Convert :class:`simulator.cri.types.Image` objects (or anything with those attributes)."""
    return [
        ImageInfo(
            id=image.id,
            size_bytes=int(image.size_bytes or 0),
            pinned=bool(getattr(image, "pinned", False)),
            repo_tags=tuple(image.repo_tags or ()),
            repo_digests=tuple(image.repo_digests or ()),
            runtime_handler=str(getattr(image, "runtime_handler", "") or ""),
        )
        for image in images
    ]


def containers_from_cri(containers: Iterable[Any]) -> list[ContainerInfo]:
    """Convert :class:`simulator.cri.types.Container` objects."""
    out = []
    for container in containers:
        labels = dict(container.labels or {})
        out.append(
            ContainerInfo(
                id=container.id,
                pod_sandbox_id=container.pod_sandbox_id,
                name=container.name or labels.get(CONTAINER_NAME_LABEL, ""),
                state=container.state,
                created_at_ns=int(container.created_at_ns or 0),
                image_id=getattr(container, "image_id", "") or container.image_ref,
                image=container.image or "",
                attempt=int(container.attempt or 0),
                pod_uid=labels.get(POD_UID_LABEL, ""),
                pod_name=labels.get(POD_NAME_LABEL, ""),
                pod_namespace=labels.get(POD_NAMESPACE_LABEL, ""),
                labels=labels,
                annotations=dict(container.annotations or {}),
            )
        )
    return out


def sandboxes_from_cri(sandboxes: Iterable[Any]) -> list[SandboxInfo]:
    """Convert :class:`simulator.cri.types.PodSandbox` objects."""
    return [
        SandboxInfo(
            id=sandbox.id,
            uid=sandbox.uid,
            name=sandbox.name,
            namespace=sandbox.namespace,
            state=sandbox.state,
            created_at_ns=int(sandbox.created_at_ns or 0),
            attempt=int(sandbox.attempt or 0),
            labels=dict(sandbox.labels or {}),
        )
        for sandbox in sandboxes
    ]


# ---------------------------------------------------------------------------------------------
# file loaders


def read_document(path: str | Path, *, option: str = "") -> Any:
    """Read a JSON or YAML file; raise a one-line InputError naming ``option`` and the file when it cannot be parsed."""
    return load_document(path, option=option)


def load_images(path: str | Path, *, option: str = "--images") -> Loaded:
    """Load images from ``crictl images -o json`` output or a Node, NodeList or ``status.images``.

    A Node's ``status.images`` entries have no image id: the first ``sha256:`` digest name is
    used as the id, else the first name. The kubelet also caps that list at 50 images by
    default (``nodeStatusMaxImages``), largest first, so small images may be missing.
    """
    return parse_images(read_document(path, option=option), source=str(path))


def parse_images(document: Any, *, source: str = "") -> Loaded:
    """Parse an images document; see :func:`load_images` for the accepted forms."""
    if isinstance(document, Mapping) and "images" in document and _looks_like_crictl_images(document):
        return _parse_crictl_images(document["images"], source)
    node_images = _node_status_images(document)
    if node_images is not None:
        return _parse_node_images(node_images, source)
    if isinstance(document, list):
        return _parse_node_images(document, source)
    raise InputError(
        "not a 'crictl images -o json' document (an object with 'images') nor a Node object "
        "or NodeList with status.images",
        source=source,
    )


def _looks_like_crictl_images(document: Mapping[str, Any]) -> bool:
    images = document.get("images")
    if not isinstance(images, list):
        return False
    return all(isinstance(item, Mapping) and "names" not in item for item in images)


def _node_status_images(document: Any) -> list[Any] | None:
    if not isinstance(document, Mapping):
        return None
    if document.get("kind") == "NodeList" or ("items" in document and isinstance(document["items"], list)):
        combined: list[Any] = []
        for item in document["items"]:
            combined.extend(((item or {}).get("status") or {}).get("images") or [])
        return combined
    status = document.get("status")
    if isinstance(status, Mapping) and "images" in status:
        return list(status.get("images") or [])
    if "images" in document and isinstance(document["images"], list):
        return list(document["images"])
    return None


def _parse_crictl_images(items: list[Any], source: str) -> Loaded:
    loaded = Loaded()
    by_id: dict[str, ImageInfo] = {}
    for index, item in enumerate(items):
        path = f"images[{index}]"
        if not isinstance(item, Mapping):
            raise InputError(
                f"{path}: expected an object, got {item!r}", field=path, value=item, source=source
            )
        image_id = item.get("id")
        if not isinstance(image_id, str) or not image_id:
            raise InputError(
                f"{path}.id: missing or empty image id {image_id!r}; every image needs an id",
                field=f"{path}.id",
                value=image_id,
                source=source,
            )
        size = _size(item.get("size"), f"{path}.size", source, loaded.notes, image_id)
        image = ImageInfo(
            id=image_id,
            size_bytes=size,
            pinned=bool(item.get("pinned") or False),
            repo_tags=tuple(item.get("repoTags") or ()),
            repo_digests=tuple(item.get("repoDigests") or ()),
            runtime_handler=str(((item.get("spec") or {}).get("runtimeHandler")) or ""),
        )
        _add_image(by_id, image, loaded.notes)
    loaded.images = list(by_id.values())
    return loaded


def _parse_node_images(items: list[Any], source: str) -> Loaded:
    loaded = Loaded(
        notes=["Node status.images has no image ids: each image is keyed by its first digest name"],
        keyed_by_name=True,
    )
    by_id: dict[str, ImageInfo] = {}
    for index, item in enumerate(items):
        path = f"status.images[{index}]"
        names = (item or {}).get("names") if isinstance(item, Mapping) else None
        if not isinstance(names, list) or not names:
            raise InputError(
                f"{path}.names: missing or empty names {names!r}", field=f"{path}.names", source=source
            )
        digests = tuple(name for name in names if "@sha256:" in name)
        tags = tuple(name for name in names if "@" not in name)
        image_id = next((name for name in names if name.startswith("sha256:")), None) or (
            digests[0] if digests else names[0]
        )
        size = _size(item.get("sizeBytes"), f"{path}.sizeBytes", source, loaded.notes, image_id)
        _add_image(
            by_id, ImageInfo(id=image_id, size_bytes=size, repo_tags=tags, repo_digests=digests), loaded.notes
        )
    loaded.images = list(by_id.values())
    return loaded


def _size(value: Any, field: str, source: str, notes: list[str], image_id: str) -> int:
    if value is None or value == "":
        notes.append(f"image {image_id} has no size: recorded with size 0 as the kubelet does")
        return 0
    try:
        size = int(value)
    except (TypeError, ValueError):
        raise InputError(
            f"{field}: invalid size {value!r}; expected a byte count", field=field, value=value, source=source
        ) from None
    if size < 0:
        raise InputError(f"{field}: negative size {size}", field=field, value=value, source=source)
    if size == 0:
        notes.append(f"image {image_id} has size 0: removing it frees 0 bytes")
    return size


def _add_image(by_id: dict[str, ImageInfo], image: ImageInfo, notes: list[str]) -> None:
    if image.id in by_id:
        notes.append(
            f"image id {image.id} is listed twice: one record is kept and the later entry's size "
            "and pinned flag win, as in the kubelet's id-keyed records"
        )
        del by_id[image.id]
    by_id[image.id] = image


def load_containers(path: str | Path, *, option: str = "--containers") -> Loaded:
    """Load containers from ``crictl ps -a -o json`` output."""
    return parse_containers(read_document(path, option=option), source=str(path))


def parse_containers(document: Any, *, source: str = "") -> Loaded:
    """Parse a ``crictl ps -a -o json`` document."""
    items = document.get("containers") if isinstance(document, Mapping) else None
    if not isinstance(items, list):
        raise InputError("not a 'crictl ps -a -o json' document: no 'containers' list", source=source)
    loaded = Loaded()
    for index, item in enumerate(items):
        loaded.containers.append(_parse_container(item, f"containers[{index}]", source))
    return loaded


def _parse_container(item: Any, path: str, source: str) -> ContainerInfo:
    if not isinstance(item, Mapping):
        raise InputError(f"{path}: expected an object, got {item!r}", field=path, source=source)
    container_id = item.get("id")
    if not isinstance(container_id, str) or not container_id:
        raise InputError(f"{path}.id: missing container id", field=f"{path}.id", source=source)
    state = item.get("state", "")
    if state not in CONTAINER_STATES:
        raise InputError(
            f"{path}.state: invalid container state {state!r}; expected one of {', '.join(CONTAINER_STATES)}",
            field=f"{path}.state",
            value=state,
            source=source,
        )
    labels = dict(item.get("labels") or {})
    metadata = item.get("metadata") or {}
    image_spec = item.get("image") or {}
    image_id = item.get("imageId") or item.get("imageRef") or ""
    return ContainerInfo(
        id=container_id,
        pod_sandbox_id=str(item.get("podSandboxId") or ""),
        name=str(metadata.get("name") or labels.get(CONTAINER_NAME_LABEL, "")),
        state=state,
        created_at_ns=_int_field(item.get("createdAt"), f"{path}.createdAt", source),
        image_id=str(image_id),
        image=str(image_spec.get("image") or "") if isinstance(image_spec, Mapping) else str(image_spec),
        attempt=_int_field(metadata.get("attempt"), f"{path}.metadata.attempt", source),
        pod_uid=labels.get(POD_UID_LABEL, ""),
        pod_name=labels.get(POD_NAME_LABEL, ""),
        pod_namespace=labels.get(POD_NAMESPACE_LABEL, ""),
        labels=labels,
        annotations=dict(item.get("annotations") or {}),
    )


def load_sandboxes(path: str | Path, *, option: str = "--sandboxes") -> Loaded:
    """Load pod sandboxes from ``crictl pods -o json`` output."""
    document = read_document(path, option=option)
    items = document.get("items") if isinstance(document, Mapping) else None
    if not isinstance(items, list):
        raise InputError("not a 'crictl pods -o json' document: no 'items' list", source=str(path))
    loaded = Loaded()
    for index, item in enumerate(items):
        path_text = f"items[{index}]"
        if not isinstance(item, Mapping) or not item.get("id"):
            raise InputError(f"{path_text}.id: missing sandbox id", field=f"{path_text}.id", source=str(path))
        state = item.get("state", "")
        if state not in SANDBOX_STATES:
            raise InputError(
                f"{path_text}.state: invalid sandbox state {state!r}; expected SANDBOX_READY or SANDBOX_NOTREADY",
                field=f"{path_text}.state",
                value=state,
                source=str(path),
            )
        metadata = item.get("metadata") or {}
        loaded.sandboxes.append(
            SandboxInfo(
                id=str(item["id"]),
                uid=str(metadata.get("uid") or ""),
                name=str(metadata.get("name") or ""),
                namespace=str(metadata.get("namespace") or ""),
                state=state,
                created_at_ns=_int_field(item.get("createdAt"), f"{path_text}.createdAt", str(path)),
                attempt=_int_field(metadata.get("attempt"), f"{path_text}.metadata.attempt", str(path)),
                labels=dict(item.get("labels") or {}),
            )
        )
    return loaded


def _int_field(value: Any, field: str, source: str) -> int:
    if value is None or value == "":
        return 0
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InputError(
            f"{field}: invalid integer {value!r}", field=field, value=value, source=source
        ) from None
    if number < 0:
        raise InputError(f"{field}: negative value {number}", field=field, value=value, source=source)
    return number


def match_by_image_name(
    images: Iterable[ImageInfo], containers: Iterable[ContainerInfo]
) -> list[ContainerInfo]:
    """Point containers at images by name, for image lists without ids (a Node's ``status.images``).

    A container whose ``image_id`` is not a listed id is matched when its ``image`` or
    ``image_id`` equals one of an image's tags or digests. The kubelet itself only compares ids,
    so this matching replaces the ids that a Node object leaves out.
    """
    images = list(images)
    known = {image.id for image in images}
    by_name: dict[str, str] = {}
    for image in images:
        for name in (*image.repo_tags, *image.repo_digests):
            by_name.setdefault(name, image.id)
    matched = []
    for container in containers:
        image_id = container.image_id
        if image_id not in known:
            image_id = by_name.get(container.image) or by_name.get(container.image_id) or image_id
        matched.append(
            dataclasses.replace(container, image_id=image_id) if image_id != container.image_id else container
        )
    return matched


def unknown_image_references(images: Iterable[ImageInfo], containers: Iterable[ContainerInfo]) -> list[str]:
    """Return notes for containers whose image id matches no listed image."""
    known = {image.id for image in images}
    notes = []
    for container in containers:
        if container.image_id and container.image_id not in known:
            notes.append(
                f"container {container.id[:13]} ({container.name}) uses image {container.image_id}, "
                "which is not in the image list: the kubelet ignores the reference"
            )
    return notes
