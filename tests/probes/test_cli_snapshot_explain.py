"""``evictsim snapshot`` and ``evictsim explain imagefs`` against a fake CRI server on a Unix socket.

The fake server replaces a runtime's ImageFsInfo reply, and the directory lookup and statfs run
on this machine's real mount table and a real temp dir. The df figures follow GNU coreutils df
(Size f_blocks, Used f_blocks - f_bfree, Avail f_bavail, rounded up to the unit; Use% rounded up).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator._proto.runtime.v1 import api_pb2
from simulator.cli import main as cli_main
from simulator.cri.types import FilesystemUsage, ImageFsInfo
from simulator.errors import FsInfoError
from simulator.explain import df_line, explain_image_fs, render_text
from simulator.probes.fsinfo import DirFsInfo, FsInfoProbe, StatfsSample
from simulator.probes.mountinfo import MountTable
from tests.fakes.fake_cri import FakeCriServer
from tests.probes.fakes import FakeStat, FakeStatfs, StubCri

USED_BYTES = 541495296
INODES_USED = 21874


@pytest.fixture
def commands(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register only this helper's subcommands, so other commands under construction do not interfere."""
    monkeypatch.setattr(cli_main, "COMMAND_MODULES", ("snapshot", "explain"))


@pytest.fixture
def fake_runtime(tmp_path: Path) -> Iterator[tuple[FakeCriServer, Path]]:
    image_dir = tmp_path / "containerd" / "io.containerd.snapshotter.v1.overlayfs"
    image_dir.mkdir(parents=True)
    try:
        FsInfoProbe(MountTable.from_file("/proc/self/mountinfo")).dir_fs_info(str(image_dir))
    except FsInfoError as error:
        pytest.skip(f"temp dirs on this machine do not resolve the cAdvisor way: {error}")
    server = FakeCriServer().start()
    usage = api_pb2.FilesystemUsage(
        timestamp=time.time_ns(),
        fs_id=api_pb2.FilesystemIdentifier(mountpoint=str(image_dir)),
        used_bytes=api_pb2.UInt64Value(value=USED_BYTES),
        inodes_used=api_pb2.UInt64Value(value=INODES_USED),
    )
    server.set_response("ImageFsInfo", api_pb2.ImageFsInfoResponse(image_filesystems=[usage]))
    try:
        yield server, image_dir
    finally:
        server.stop()


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli_main.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.usefixtures("commands")
class TestSnapshot:
    def test_json(
        self, fake_runtime: tuple[FakeCriServer, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """imageFs takes used bytes from CRI and capacity from statfs of the dir's partition."""
        server, _ = fake_runtime
        code, out, err = _run(
            ["snapshot", "--cri-endpoint", server.endpoint, "--root-dir", str(tmp_path), "-o", "json"], capsys
        )
        assert code == 0, err
        document = json.loads(out)
        image_fs = document["node"]["runtime"]["imageFs"]
        assert image_fs["usedBytes"] == USED_BYTES
        assert image_fs["inodesUsed"] == INODES_USED
        partition = document["evictsim"]["provenance"]["node.runtime.imageFs.capacityBytes"]["partition"]
        expected = os.statvfs(partition)
        assert image_fs["capacityBytes"] == expected.f_blocks * expected.f_frsize
        assert image_fs["inodes"] == expected.f_files
        assert document["node"]["runtime"]["containerFs"]["usedBytes"] == USED_BYTES
        assert document["evictsim"]["statsProvider"] == "cri"
        assert "memory" in document["node"]
        assert document["pods"] == []
        assert document["node"]["rlimit"]["maxpid"] > 0

    def test_table_and_yaml(
        self, fake_runtime: tuple[FakeCriServer, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        server, _ = fake_runtime
        base = ["snapshot", "--cri-endpoint", server.endpoint, "--root-dir", str(tmp_path)]
        code, out, _ = _run([*base, "-o", "table"], capsys)
        assert code == 0
        assert "node.runtime.imageFs.usedBytes" in out
        assert "CRI ImageService/ImageFsInfo" in out
        code, out, _ = _run([*base, "-o", "yaml"], capsys)
        assert code == 0
        assert "imageFs:" in out

    def test_unreachable_runtime(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A runtime that cannot be reached is a one-line error and exit code 1."""
        socket = tmp_path / "none.sock"
        argv = ["snapshot", "--cri-endpoint", f"unix://{socket}", "--root-dir", str(tmp_path), "-o", "json"]
        code, out, err = _run(argv, capsys)
        assert code == 1
        assert out == ""
        assert err.startswith("evictsim: error: ")
        assert str(socket) in err
        assert err.count("\n") == 1

    def test_missing_root_dir(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A missing kubelet root dir is named before any CRI call, with the option that sets it."""
        socket = tmp_path / "none.sock"
        root = tmp_path / "no-kubelet"
        argv = ["snapshot", "--cri-endpoint", f"unix://{socket}", "--root-dir", str(root)]

        code, out, err = _run(argv, capsys)

        assert code == 2
        assert out == ""
        assert err == f"evictsim: error: --root-dir {root}: kubelet root dir not found; pass --root-dir with the " \
            "kubelet's --root-dir (rootDir in its configuration)\n"

    def test_unreadable_mountinfo(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """An unreadable mount table is invalid input: one line, exit code 2."""
        code, _, err = _run(["snapshot", "--mountinfo", str(tmp_path / "missing")], capsys)
        assert code == 2
        assert "failed to read mount table" in err
        assert err.count("\n") == 1

    def test_empty_image_filesystems(
        self, fake_runtime: tuple[FakeCriServer, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        server, _ = fake_runtime
        server.set_response("ImageFsInfo", api_pb2.ImageFsInfoResponse())
        code, _, err = _run(
            ["snapshot", "--cri-endpoint", server.endpoint, "--root-dir", str(tmp_path)], capsys
        )
        assert code == 1
        assert "imageFs information is unavailable" in err


@pytest.mark.usefixtures("commands")
class TestExplain:
    def test_json_steps(
        self, fake_runtime: tuple[FakeCriServer, Path], capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Six numbered steps, df lines for -B1 and -B KB, and the reconciliation notes."""
        server, image_dir = fake_runtime
        code, out, err = _run(["explain", "imagefs", "--cri-endpoint", server.endpoint, "-o", "json"], capsys)
        assert code == 0, err
        document = json.loads(out)
        assert [step["step"] for step in document["steps"]] == [1, 2, 3, 4, 5, 6]
        assert document["steps"][1]["values"]["usedBytes"] == USED_BYTES
        stat = os.stat(image_dir)
        assert document["steps"][2]["values"] == {
            "major": os.major(stat.st_dev),
            "minor": os.minor(stat.st_dev),
        }
        statfs = document["steps"][4]["values"]
        assert document["imageFs"]["capacityBytes"] == statfs["blocks"] * statfs["frsize"]
        assert document["imageFs"]["availableBytes"] == statfs["bavail"] * statfs["frsize"]
        df_b1, df_kb = document["df"]
        assert df_b1["size"] == statfs["blocks"] * statfs["frsize"]
        assert df_kb["size"] == -(-statfs["blocks"] * statfs["frsize"] // 1000)
        assert any("runtime's own count" in note for note in document["notes"])
        assert any("drifts" in note for note in document["notes"])

    def test_text(self, fake_runtime: tuple[FakeCriServer, Path], capsys: pytest.CaptureFixture[str]) -> None:
        server, _ = fake_runtime
        code, out, _ = _run(["explain", "imagefs", "--cri-endpoint", server.endpoint, "-o", "table"], capsys)
        assert code == 0
        for number in range(1, 7):
            assert f"\n{number}. " in out
        assert "$ df -B1 " in out
        assert "$ df -B KB " in out
        assert "1kB-blocks" in out

    def test_unreachable_runtime(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        socket = tmp_path / "none.sock"
        code, out, err = _run(["explain", "imagefs", "--cri-endpoint", f"unix://{socket}"], capsys)
        assert code == 1
        assert out == ""
        assert str(socket) in err
        assert err.count("\n") == 1

    def test_missing_mountpoint(
        self, fake_runtime: tuple[FakeCriServer, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A CRI mountpoint that does not exist stops the chain with cAdvisor's message, exit 0."""
        server, _ = fake_runtime
        usage = api_pb2.FilesystemUsage(
            timestamp=1,
            fs_id=api_pb2.FilesystemIdentifier(mountpoint=str(tmp_path / "gone")),
            used_bytes=api_pb2.UInt64Value(value=1),
        )
        server.set_response("ImageFsInfo", api_pb2.ImageFsInfoResponse(image_filesystems=[usage]))
        code, out, _ = _run(["explain", "imagefs", "--cri-endpoint", server.endpoint, "-o", "json"], capsys)
        assert code == 0
        document = json.loads(out)
        assert "stat failed on" in document["error"]
        assert [step["step"] for step in document["steps"]] == [1, 2]


class TestDfLine:
    """The seed numbers: df -B KB printed 31025333kB for f_blocks 7574544 of 4096 bytes."""

    def _info(self, bavail: int) -> DirFsInfo:
        sample = StatfsSample(
            frsize=4096, blocks=7574544, bfree=5629477, bavail=bavail, files=1900544, ffree=1713905
        )
        return DirFsInfo(
            dir="/var/lib/containerd",
            device="/dev/sda1",
            major=8,
            minor=1,
            partition_mountpoint="/var",
            fs_type="ext4",
            capacity_bytes=sample.blocks * 4096,
            available_bytes=bavail * 4096,
            free_bytes=sample.bfree * 4096,
            inodes=sample.files,
            inodes_free=sample.ffree,
            dir_major=8,
            dir_minor=1,
            resolution="direct major:minor match",
            device_in_table=True,
            statfs=sample,
            time=None,  # type: ignore[arg-type]
        )

    def test_kb_rounds_up(self) -> None:
        line = df_line(self._info(5250505), unit="KB", unit_bytes=1000, filesystem="/dev/sda1")
        assert line.size == 31025333
        assert line.available == 21506069
        used = (7574544 - 5629477) * 4096
        assert line.used == -(-used // 1000)
        assert line.use_percent == -(-used * 100 // (used + 5250505 * 4096))

    def test_bytes(self) -> None:
        line = df_line(self._info(5250750), unit="1", unit_bytes=1, filesystem="/dev/sda1")
        assert line.size == 31025332224
        assert line.available == 21507072000
        assert "1B-blocks" in line.render()


class TestExplainFallback:
    """A disk mounted after the mount table was read: cAdvisor's parent walk reports the root disk."""

    MOUNTINFO = (
        "25 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
        "28 25 0:25 / /run rw,nosuid,nodev shared:5 - tmpfs tmpfs rw,size=1637284k,mode=755\n"
    )
    MOUNTPOINT = "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs"

    def test_missing_device_note(self) -> None:
        """The explanation says the device is missing from the table read at start (vector V10)."""
        stat = FakeStat({self.MOUNTPOINT: "8:48"})
        statfs = FakeStatfs({"/": {"blocks": 100, "bfree": 60, "bavail": 50, "files": 10, "ffree": 4}})
        probe = FsInfoProbe(
            MountTable.parse(self.MOUNTINFO, stat=stat, source="start.mountinfo"), stat=stat, statfs=statfs
        )
        usage = FilesystemUsage(timestamp_ns=1, mountpoint=self.MOUNTPOINT, used_bytes=10, inodes_used=1)
        cri = StubCri("unix:///run/containerd/containerd.sock", ImageFsInfo([usage], []))

        explanation = explain_image_fs(cri, probe, root_dir="/var/lib/kubelet")

        assert explanation.error is None
        assert explanation.steps[3].values["resolution"] == "fallback: parent walk found mount /"
        assert explanation.image_fs["capacityBytes"] == 100 * 4096
        missing = [note for note in explanation.notes if "missing from the mount table" in note]
        assert len(missing) == 1
        assert "8:48" in missing[0]
        assert "start.mountinfo" in missing[0]
        assert "Notes:" in render_text(explanation)
        # the fake stat has no /var/lib/kubelet, so the note reports the root dir as missing
        assert any("the kubelet root dir /var/lib/kubelet not found; pass --root-dir" in note for note in explanation.notes)
