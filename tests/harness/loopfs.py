"""Small ext4 filesystems on sparse files, attached to loop devices and mounted.

They give containerd's root and the kubelet root dir their own devices, so capacity and
available bytes are known and each filesystem can be filled on purpose.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.mounts import read_mounts, unmount

MIB = 1024 * 1024


class HarnessError(RuntimeError):
    """A step of the test harness failed (a command, a mount, containerd start)."""


def run_command(args: list[str], *, timeout_s: float = 60.0) -> str:
    """Run a command and return its stdout, or raise HarnessError with its stderr when it fails."""
    try:
        result = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as error:
        raise HarnessError(f"command timed out after {timeout_s} s: {' '.join(args)}") from error
    if result.returncode != 0:
        message = result.stderr.strip() or result.stdout.strip()
        raise HarnessError(f"command failed with exit code {result.returncode}: {' '.join(args)}: {message}")
    return result.stdout


@dataclass
class LoopFilesystem:
    """An ext4 filesystem on ``backing_file`` attached as ``device`` and mounted at ``mountpoint``."""

    backing_file: Path
    mountpoint: Path
    device: str
    size_bytes: int

    @classmethod
    def create(
        cls,
        backing_file: Path,
        mountpoint: Path,
        size_bytes: int,
        *,
        label: str = "evictsim",
        reserved_percent: int = 5,
    ) -> LoopFilesystem:
        """Create a sparse file of ``size_bytes``, format it as ext4 and mount it.

        ``reserved_percent`` is mkfs.ext4's ``-m`` (5 is its default), so statfs's f_bavail
        is smaller than f_bfree as on a real node's root filesystem.
        """
        backing_file.parent.mkdir(parents=True, exist_ok=True)
        mountpoint.mkdir(parents=True, exist_ok=True)
        with open(backing_file, "wb") as handle:
            handle.truncate(size_bytes)
        # Initialize inode tables and the journal now, so no background ext4lazyinit writes
        # run while a test compares statfs samples.
        run_command(
            [
                "mkfs.ext4",
                "-q",
                "-F",
                "-L",
                label,
                "-m",
                str(reserved_percent),
                "-E",
                "lazy_itable_init=0,lazy_journal_init=0,nodiscard",
                str(backing_file),
            ]
        )
        device = run_command(["losetup", "--find", "--show", str(backing_file)]).strip()
        try:
            run_command(["mount", "-t", "ext4", device, str(mountpoint)])
        except HarnessError:
            subprocess.run(["losetup", "-d", device], capture_output=True, check=False)
            raise
        return cls(backing_file=backing_file, mountpoint=mountpoint, device=device, size_bytes=size_bytes)

    @property
    def major_minor(self) -> tuple[int, int]:
        """The loop device's major and minor numbers, as st_dev of files on it reports them."""
        st_dev = os.stat(self.mountpoint).st_dev
        return os.major(st_dev), os.minor(st_dev)

    def is_mounted(self) -> bool:
        """Report whether the mountpoint is still in /proc/self/mountinfo."""
        target = os.path.realpath(self.mountpoint)
        return any(entry.mountpoint == target for entry in read_mounts())

    def destroy(self) -> None:
        """Unmount the filesystem, detach the loop device and delete the backing file."""
        if self.is_mounted():
            unmount(os.path.realpath(self.mountpoint))
        subprocess.run(["losetup", "-d", self.device], capture_output=True, check=False)
        self.backing_file.unlink(missing_ok=True)


def overlay_mount_works(directory: Path) -> bool:
    """Probe whether an overlay mount with upper and work dirs inside ``directory`` succeeds."""
    probe = directory / ".overlay-probe"
    lower, upper, work, merged = (probe / name for name in ("lower", "upper", "work", "merged"))
    for path in (lower, upper, work, merged):
        path.mkdir(parents=True, exist_ok=True)
    (lower / "file").write_text("lower\n")
    options = f"lowerdir={lower},upperdir={upper},workdir={work}"
    result = subprocess.run(
        ["mount", "-t", "overlay", "overlay", "-o", options, str(merged)],
        capture_output=True,
        text=True,
        check=False,
    )
    works = result.returncode == 0
    if works:
        try:
            (merged / "file").write_text("upper\n")
            works = (upper / "file").read_text() == "upper\n"
        finally:
            unmount(str(merged))
    subprocess.run(["rm", "-rf", str(probe)], check=False)
    return works
