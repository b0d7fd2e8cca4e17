"""mountinfo parsing, the real captured mount tables, and lookups that fail.

Expected behaviour restates cAdvisor v0.53.0 ``fs/fs.go`` and ``manager/manager.go`` and the
moby/sys ``mountinfo`` parser it uses (escapes, the ``-`` separator, at least 10 fields).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from simulator.errors import FsInfoError, InputError
from simulator.probes.fsinfo import FsInfoProbe
from simulator.probes.mountinfo import MountTable, parse_mountinfo_line, split_dev, unescape
from tests.probes.fakes import FakeStat, FakeStatfs

REAL = Path(__file__).parent.parent / "data" / "real" / "mountinfo"
HOST_NODE = REAL / "k8s-node-ubuntu-containerd-kubelet-root-on-nvme-host-mountinfo-tikv-pd.txt"
POD_VIEW = REAL / "k8s-pod-containerd-cgroupv1-view-mountinfo-tikv-pd.txt"
MINIKUBE = REAL / "minikube-docker-driver-node-mountinfo-partial-nbs.txt"

ANY_STATFS = {"blocks": 10, "bfree": 5, "bavail": 4, "files": 7, "ffree": 3}


class TestParse:
    def test_fields(self) -> None:
        """Each field lands in its place; optional fields are joined with spaces."""
        mount = parse_mountinfo_line(
            "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 shared:2 - ext3 /dev/root rw,errors=continue", 4
        )
        assert (mount.mount_id, mount.parent_id) == (36, 35)
        assert (mount.major, mount.minor) == (98, 0)
        assert mount.root == "/mnt1"
        assert mount.mountpoint == "/mnt2"
        assert mount.options == "rw,noatime"
        assert mount.optional_fields == "master:1 shared:2"
        assert mount.fs_type == "ext3"
        assert mount.source == "/dev/root"
        assert mount.super_options == "rw,errors=continue"
        assert mount.line_number == 4

    def test_no_optional_fields(self) -> None:
        """The separator may directly follow the mount options (field 6)."""
        mount = parse_mountinfo_line("1184 1183 0:161 / /proc rw,nosuid - proc proc rw")
        assert mount.optional_fields == ""
        assert mount.fs_type == "proc"

    def test_space_in_super_options(self) -> None:
        """The separator is searched from field n-4 backwards, so super options may contain spaces."""
        mount = parse_mountinfo_line("10 1 8:1 / /x rw - ext4 /dev/sda1 rw,opt=a b")
        assert mount.source == "/dev/sda1"
        assert mount.super_options == "rw,opt=a b"

    @pytest.mark.parametrize(
        ("escaped", "plain"),
        [
            ("/mnt/fast\\040disk", "/mnt/fast disk"),
            ("/srv/tab\\011and\\134slash", "/srv/tab\tand\\slash"),
            ("/a\\012b", "/a\nb"),
            ("/hash\\043", "/hash#"),
            ("C:\\134", "C:\\"),
            ("/not\\9escape", "/not\\9escape"),
            ("/short\\04", "/short\\04"),
            ("/high\\400", "/high\\400"),
        ],
    )
    def test_unescape(self, escaped: str, plain: str) -> None:
        """Only a backslash with three octal digits, the first 0 or 1, is decoded."""
        assert unescape(escaped) == plain

    @pytest.mark.parametrize(
        ("line", "reason"),
        [
            ("25 1 8:1 / / rw - ext4", "at least 10 space-separated fields"),
            ("25 1 8:1 / / rw shared:1 x ext4 /dev/sda1 rw", 'missing the "-" separator'),
            ("25 1 8-1 / / rw shared:1 - ext4 /dev/sda1 rw", "invalid major:minor '8-1'"),
            ("x 1 8:1 / / rw shared:1 - ext4 /dev/sda1 rw", "invalid mount ID 'x'"),
            ("25 1 8:a / / rw shared:1 - ext4 /dev/sda1 rw", "invalid minor number 'a'"),
        ],
    )
    def test_malformed_line(self, line: str, reason: str) -> None:
        """A malformed line raises InputError naming the line number, the reason and the text."""
        text = "30 1 8:3 / / rw,relatime shared:1 - ext4 /dev/sda3 rw\n\n" + line + "\n"
        with pytest.raises(InputError) as caught:
            MountTable.parse(text, source="node.mountinfo")
        message = str(caught.value)
        assert message.startswith("node.mountinfo: mountinfo line 3: ")
        assert reason in message
        assert line in message
        assert "\n" not in message

    def test_split_dev(self) -> None:
        """cAdvisor's split agrees with glibc for majors below 4096 and minors below 2**20."""
        for major, minor in [(8, 1), (259, 1), (0, 181), (253, 3), (4095, 1048575)]:
            assert split_dev(os.makedev(major, minor)) == (major, minor)


class TestUnreadable:
    def test_missing_file(self, tmp_path: Path) -> None:
        missing = tmp_path / "no-such-mountinfo"
        with pytest.raises(InputError) as caught:
            MountTable.from_file(missing)
        assert str(missing) in str(caught.value)
        assert "--mountinfo" in str(caught.value)

    def test_directory(self, tmp_path: Path) -> None:
        with pytest.raises(InputError) as caught:
            MountTable.from_file(tmp_path)
        assert "failed to read mount table" in str(caught.value)


class TestRealMountTables:
    """The three captured mount tables parse and resolve the devices their provenance describes."""

    def test_host_node_dedicated_kubelet_disk(self) -> None:
        """nodefs on /dev/nvme0n1 at /data/nvme0n1, containerd on the root ext4 /dev/sda3."""
        stat = FakeStat(
            {
                "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs": "8:3",
                "/data/nvme0n1/kubelet": "259:1",
            }
        )
        table = MountTable.from_file(HOST_NODE, stat=stat)
        assert len(table.mounts) == 156
        statfs = FakeStatfs(default=ANY_STATFS)
        probe = FsInfoProbe(table, stat=stat, statfs=statfs)

        image_fs = probe.dir_fs_info("/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs")
        node_fs = probe.dir_fs_info("/data/nvme0n1/kubelet")

        assert (image_fs.device, image_fs.partition_mountpoint, image_fs.fs_type) == (
            "/dev/sda3",
            "/",
            "ext4",
        )
        assert (node_fs.device, node_fs.partition_mountpoint) == ("/dev/nvme0n1", "/data/nvme0n1")
        assert (node_fs.major, node_fs.minor) == (259, 1)
        assert image_fs.device != node_fs.device

    def test_pod_view_first_bind_wins(self) -> None:
        """In the pod's view, the LV's first line is the /etc/hostname file bind, so statfs targets that file."""
        stat = FakeStat({"/apps/data/kubelet": "253:3", "/etc/kubernetes": "0:133"})
        table = MountTable.from_file(POD_VIEW, stat=stat)
        assert len(table.mounts) == 42
        statfs = FakeStatfs(default=ANY_STATFS)
        probe = FsInfoProbe(table, stat=stat, statfs=statfs)

        kubelet = probe.dir_fs_info("/apps/data/kubelet")
        root = probe.dir_fs_info("/etc/kubernetes")

        assert (kubelet.device, kubelet.partition_mountpoint, kubelet.fs_type) == (
            "/dev/mapper/vg1-lvm1k8s",
            "/etc/hostname",
            "xfs",
        )
        assert (root.device, root.partition_mountpoint) == ("overlay_0-133", "/")

    def test_minikube_var_volume(self) -> None:
        """/var is the docker volume on /dev/vda2; the file has no "/" line, so no root partition exists."""
        stat = FakeStat({"/var/lib/kubelet": "252:2", "/etc/kubernetes": "0:99"})
        table = MountTable.from_file(MINIKUBE, stat=stat)
        assert len(table.mounts) == 35
        assert "/" not in {partition.mountpoint for partition in table.partitions.values()}
        probe = FsInfoProbe(table, stat=stat, statfs=FakeStatfs(default=ANY_STATFS))

        info = probe.dir_fs_info("/var/lib/kubelet")

        assert (info.device, info.partition_mountpoint) == ("/dev/vda2", "/var")
        with pytest.raises(FsInfoError) as caught:
            probe.dir_fs_info("/etc/kubernetes")
        assert caught.value.kind == "device_not_found"


class TestLookupErrors:
    MOUNTINFO = (
        "612 590 0:52 / / rw,relatime - overlay overlay rw,lowerdir=/l\n"
        "640 612 259:2 / /var/lib/kubelet rw,relatime - f2fs /dev/nvme0n1p2 rw\n"
    )

    def test_missing_directory(self) -> None:
        """A directory that does not exist fails with cAdvisor's stat message and kind os_error."""
        probe = FsInfoProbe(
            MountTable.parse(self.MOUNTINFO), stat=FakeStat({}), statfs=FakeStatfs(default=ANY_STATFS)
        )
        with pytest.raises(FsInfoError) as caught:
            probe.dir_fs_info("/var/lib/lxd/images")
        assert str(caught.value) == (
            'failed to get device for dir "/var/lib/lxd/images": '
            "stat failed on /var/lib/lxd/images with error: no such file or directory"
        )
        assert caught.value.kind == "os_error"

    def test_fallback_device_not_a_partition(self) -> None:
        """The parent walk finds an f2fs /dev/ mount that never became a partition (cAdvisor <= 0.54)."""
        stat = FakeStat({"/var/lib/kubelet": "259:2"})
        probe = FsInfoProbe(
            MountTable.parse(self.MOUNTINFO, stat=stat), stat=stat, statfs=FakeStatfs(default=ANY_STATFS)
        )
        with pytest.raises(FsInfoError) as caught:
            probe.dir_fs_info("/var/lib/kubelet")
        assert str(caught.value) == (
            'failed to get mount point for device "/dev/nvme0n1p2": no partition info for device "/dev/nvme0n1p2"'
        )
        assert caught.value.kind == "device_not_found"

    def test_statfs_fails(self) -> None:
        """When statfs of the partition mountpoint fails, no filesystem info exists for the device."""
        stat = FakeStat({"/data": "0:52"})
        probe = FsInfoProbe(MountTable.parse(self.MOUNTINFO, stat=stat), stat=stat, statfs=FakeStatfs())
        with pytest.raises(FsInfoError) as caught:
            probe.dir_fs_info("/data")
        assert str(caught.value).startswith('cannot find filesystem info for device "overlay_0-52"')
        assert caught.value.kind == "os_error"


def test_live_tmp_dir(tmp_path: Path) -> None:
    """On this machine, a temp dir resolves through /proc/self/mountinfo and matches os.statvfs."""
    table = MountTable.from_file("/proc/self/mountinfo")
    probe = FsInfoProbe(table)
    try:
        info = probe.dir_fs_info(str(tmp_path))
    except FsInfoError as error:
        pytest.skip(f"this machine's temp dir is not resolvable the cAdvisor way: {error}")
    expected = os.statvfs(info.partition_mountpoint)
    assert info.capacity_bytes == expected.f_blocks * expected.f_frsize
    assert info.inodes == expected.f_files
    assert (info.dir_major, info.dir_minor) == (
        os.major(os.stat(tmp_path).st_dev),
        os.minor(os.stat(tmp_path).st_dev),
    )
