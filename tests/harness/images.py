"""Build test images as docker-archive tarballs in Python and import them into the node.

A docker archive (what ``docker save`` writes) contains one uncompressed layer tar per layer, an
image config JSON whose ``rootfs.diff_ids`` are the layers' SHA-256 digests, and a
``manifest.json`` naming the config, the layers and the repo tags. ``ctr images import``
stores the layers as uncompressed blobs, so the size CRI reports for an imported image is
close to the layer tars plus the config and manifest.

Layers are filled with random bytes where size matters, so neither compression nor
deduplication hides how much space an image takes.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import shutil
import tarfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import grpc

from harness.loopfs import HarnessError
from simulator._proto.runtime.v1 import api_pb2 as api

if TYPE_CHECKING:
    from harness.containerd import ContainerdNode

BUSYBOX_PATH = Path("/bin/busybox")
# Applets linked next to busybox, so image commands can call them by name.
BUSYBOX_APPLETS = (
    "sh",
    "sleep",
    "dd",
    "cat",
    "ls",
    "mkdir",
    "rm",
    "sync",
    "du",
    "df",
    "head",
    "echo",
    "true",
)
LAYER_MTIME = 1_700_000_000
TAR_OVERHEAD_BYTES = 16 * 1024
IMPORT_VISIBLE_TIMEOUT_S = 15.0

_GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x"}


def host_architecture() -> str:
    """Return the host's architecture in OCI (Go) spelling, such as ``amd64``."""
    machine = platform.machine()
    return _GO_ARCH.get(machine, machine)


class RandomReader(io.RawIOBase):
    """A file-like object returning ``size`` random bytes, so a large layer file never sits in memory."""

    def __init__(self, size: int) -> None:
        self.remaining = size

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size < 0 or size > self.remaining:
            size = self.remaining
        self.remaining -= size
        return os.urandom(size)


@dataclass(frozen=True)
class LayerFile:
    """A regular file in a layer: random content of ``size_bytes``, or the bytes of ``source``."""

    size_bytes: int = 0
    source: Path | None = None
    mode: int = 0o644


@dataclass(frozen=True)
class BuiltImage:
    """A docker-archive tarball on disk and the sizes of what it contains."""

    name: str
    archive_path: Path
    layer_bytes: int
    config_bytes: int
    diff_ids: tuple[str, ...]

    @property
    def content_bytes(self) -> int:
        """Layer tars plus config: what the runtime stores, leaving out the small manifest it writes."""
        return self.layer_bytes + self.config_bytes


def _add_directory(archive: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = mode
    info.mtime = LAYER_MTIME
    archive.addfile(info)


def _add_symlink(archive: tarfile.TarFile, name: str, target: str) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.SYMTYPE
    info.linkname = target
    info.mode = 0o777
    info.mtime = LAYER_MTIME
    archive.addfile(info)


def _add_file(archive: tarfile.TarFile, name: str, spec: LayerFile) -> None:
    info = tarfile.TarInfo(name)
    info.mode = spec.mode
    info.mtime = LAYER_MTIME
    if spec.source is not None:
        info.size = spec.source.stat().st_size
        with open(spec.source, "rb") as handle:
            archive.addfile(info, handle)
        return
    info.size = spec.size_bytes
    archive.addfile(info, RandomReader(spec.size_bytes))


def write_layer(path: Path, files: Mapping[str, LayerFile], *, busybox: bool) -> str:
    """Write a layer tar to ``path`` and return its diff id (``sha256:`` of the uncompressed tar).

    ``files`` maps absolute paths in the image to their content. With ``busybox``, the layer
    also gets /bin/busybox from the host, its applet links and a world-writable /tmp.
    """
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as archive:
        directories = {"tmp"} if busybox else set()
        if busybox:
            directories.add("bin")
        for name in files:
            parent = Path(name.lstrip("/")).parent
            while str(parent) != ".":
                directories.add(str(parent))
                parent = parent.parent
        for directory in sorted(directories):
            _add_directory(archive, directory, 0o1777 if directory == "tmp" else 0o755)
        if busybox:
            _add_file(archive, "bin/busybox", LayerFile(source=BUSYBOX_PATH, mode=0o755))
            for applet in BUSYBOX_APPLETS:
                _add_symlink(archive, f"bin/{applet}", "busybox")
        for name, spec in sorted(files.items()):
            _add_file(archive, name.lstrip("/"), spec)
    return "sha256:" + _sha256_file(path)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def build_image(
    directory: Path,
    name: str,
    layers: list[Mapping[str, LayerFile]],
    *,
    busybox: bool = True,
    entrypoint: list[str] | None = None,
    cmd: list[str] | None = None,
) -> BuiltImage:
    """Write a docker archive for image ``name`` (a full reference with tag) into ``directory``.

    Each element of ``layers`` becomes one layer. With ``busybox``, the first layer also
    carries /bin/busybox and its applets.
    """
    if not layers:
        layers = [{}]
    work = directory / (name.replace("/", "_").replace(":", "_") + ".d")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)

    diff_ids: list[str] = []
    layer_names: list[str] = []
    layer_bytes = 0
    for index, files in enumerate(layers):
        layer_path = work / f"layer{index}.tar"
        diff_ids.append(write_layer(layer_path, files, busybox=busybox and index == 0))
        layer_name = f"{diff_ids[-1].removeprefix('sha256:')}/layer.tar"
        (work / layer_name).parent.mkdir(parents=True, exist_ok=True)
        layer_path.rename(work / layer_name)
        layer_names.append(layer_name)
        layer_bytes += (work / layer_name).stat().st_size

    config = {
        "architecture": host_architecture(),
        "os": "linux",
        "created": "2023-11-14T22:13:20Z",
        "config": {
            "Env": ["PATH=/bin"],
            "Entrypoint": entrypoint,
            "Cmd": cmd,
            "WorkingDir": "/",
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [
            {"created": "2023-11-14T22:13:20Z", "created_by": "evictsim test harness"} for _ in layers
        ],
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    (work / config_name).write_bytes(config_bytes)
    manifest = [{"Config": config_name, "RepoTags": [name], "Layers": layer_names}]
    (work / "manifest.json").write_text(json.dumps(manifest))

    archive_path = directory / (work.name.removesuffix(".d") + ".tar")
    with tarfile.open(archive_path, "w") as archive:
        for member in ["manifest.json", config_name, *layer_names]:
            archive.add(work / member, arcname=member)
    shutil.rmtree(work)
    return BuiltImage(
        name=name,
        archive_path=archive_path,
        layer_bytes=layer_bytes,
        config_bytes=len(config_bytes),
        diff_ids=tuple(diff_ids),
    )


def build_pause_image(directory: Path, name: str) -> BuiltImage:
    """Build the sandbox (pause) image: busybox-static sleeping until the runtime kills it."""
    return build_image(directory, name, [{}], entrypoint=["/bin/sleep", "2147483647"])


def build_workload_image(
    directory: Path, name: str, files: Mapping[str, LayerFile] | None = None
) -> BuiltImage:
    """Build a busybox image for test containers, with ``files`` added to its only layer."""
    return build_image(directory, name, [dict(files or {})], cmd=["/bin/sleep", "2147483647"])


def build_sized_image(directory: Path, name: str, size_bytes: int, *, busybox: bool = False) -> BuiltImage:
    """Build an image whose stored size is within about ``TAR_OVERHEAD_BYTES`` of ``size_bytes``.

    One random file fills the layer, so the image occupies that much of the image filesystem.
    Without ``busybox`` the image cannot run, which suits images that only take space.
    """
    fixed = TAR_OVERHEAD_BYTES + (BUSYBOX_PATH.stat().st_size if busybox else 0)
    if size_bytes <= fixed:
        raise ValueError(
            f"size_bytes={size_bytes} is too small: it must exceed {fixed} bytes of fixed overhead"
        )
    return build_image(
        directory,
        name,
        [{"/payload/random.bin": LayerFile(size_bytes=size_bytes - fixed)}],
        busybox=busybox,
        cmd=["/bin/sleep", "2147483647"] if busybox else None,
    )


def image_status_size(node: ContainerdNode, image: str) -> int | None:
    """Return the image's size from CRI ImageStatus, or None while the runtime does not list it."""
    with node.channel() as channel:
        method = channel.unary_unary(
            "/runtime.v1.ImageService/ImageStatus",
            request_serializer=api.ImageStatusRequest.SerializeToString,
            response_deserializer=api.ImageStatusResponse.FromString,
        )
        response = method(api.ImageStatusRequest(image=api.ImageSpec(image=image)), timeout=5.0)
    if not response.HasField("image"):
        return None
    return response.image.size


def archive_repo_tags(archive_path: Path) -> list[str]:
    """Return the repo tags that a docker archive's manifest.json names."""
    with tarfile.open(archive_path) as archive:
        member = archive.extractfile("manifest.json")
        if member is None:
            raise HarnessError(f"{archive_path}: manifest.json is not a regular file")
        manifest = json.load(member)
    return [tag for entry in manifest for tag in entry.get("RepoTags") or []]


def import_image(node: ContainerdNode, image: Path | BuiltImage, *, wait_for_cri: bool = True) -> None:
    """Import a docker archive with ``ctr images import`` using the CRI plugin's snapshotter.

    The CRI plugin learns of imports from containerd's events, a moment after ctr returns.
    With ``wait_for_cri`` this returns only once CRI ImageStatus lists every repo tag of the
    archive, and raises HarnessError when that takes longer than ``IMPORT_VISIBLE_TIMEOUT_S``.
    """
    archive_path = image.archive_path if isinstance(image, BuiltImage) else image
    node.ctr("images", "import", "--snapshotter", node.snapshotter, str(archive_path), timeout_s=300.0)
    if not wait_for_cri:
        return
    pending = [image.name] if isinstance(image, BuiltImage) else archive_repo_tags(archive_path)
    deadline = time.monotonic() + IMPORT_VISIBLE_TIMEOUT_S
    while pending and time.monotonic() < deadline:
        try:
            pending = [name for name in pending if image_status_size(node, name) is None]
        except grpc.RpcError:
            pass
        if pending:
            time.sleep(0.1)
    if pending:
        raise HarnessError(
            f"timed out after {IMPORT_VISIBLE_TIMEOUT_S} s waiting for CRI ImageStatus to list "
            f"{', '.join(pending)}, imported with ctr. See containerd's log at {node.log_path}"
        )
