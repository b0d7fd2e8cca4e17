"""Fake ``stat`` and ``statfs`` functions and a CRI stub that replay a node described as data."""

from __future__ import annotations

import errno
import os
import stat as stat_module
import types
from collections.abc import Mapping

from simulator.cri.types import Image, ImageFsInfo


def parse_major_minor(text: str) -> tuple[int, int]:
    major, minor = str(text).split(":")
    return int(major), int(minor)


class FakeStat:
    """Return ``stat(path)`` results from tables of st_dev values and block-device paths; other paths raise ENOENT."""

    def __init__(self, devices: Mapping[str, str], block_devices: tuple[str, ...] = ()) -> None:
        self.devices = dict(devices)
        self.block_devices = set(block_devices)
        self.calls: list[str] = []

    def __call__(self, path: str) -> types.SimpleNamespace:
        self.calls.append(path)
        if path in self.block_devices:
            return types.SimpleNamespace(st_dev=os.makedev(0, 5), st_mode=stat_module.S_IFBLK | 0o660)
        if path in self.devices:
            major, minor = parse_major_minor(self.devices[path])
            return types.SimpleNamespace(st_dev=os.makedev(major, minor), st_mode=stat_module.S_IFDIR | 0o755)
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)


class FakeStatfs:
    """Return ``statvfs(path)`` results from a table of raw numbers; other paths raise ENOENT. Records the paths requested."""

    def __init__(
        self, samples: Mapping[str, Mapping[str, int]] | None = None, default: Mapping[str, int] | None = None
    ) -> None:
        self.samples = dict(samples or {})
        self.default = default
        self.calls: list[str] = []

    def __call__(self, path: str) -> types.SimpleNamespace:
        self.calls.append(path)
        values = self.samples.get(path, self.default)
        if values is None:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
        frsize = values.get("frsize", 4096)
        return types.SimpleNamespace(
            f_frsize=frsize,
            f_bsize=frsize,
            f_blocks=values["blocks"],
            f_bfree=values["bfree"],
            f_bavail=values["bavail"],
            f_files=values["files"],
            f_ffree=values["ffree"],
        )


class StubCri:
    """A CRI client stand-in returning domain types; records the calls made."""

    def __init__(self, endpoint: str, image_fs_info: ImageFsInfo, images: list[Image] | None = None) -> None:
        self.endpoint = endpoint
        self._info = image_fs_info
        self._images = images or []
        self.calls: list[str] = []

    def image_fs_info(self) -> ImageFsInfo:
        self.calls.append("image_fs_info")
        return self._info

    def list_images(self) -> list[Image]:
        self.calls.append("list_images")
        return self._images
