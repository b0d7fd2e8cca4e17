"""Runtime directories on filesystems the kubelet does not monitor.

The kubelet's eviction manager watches two filesystems only. nodefs is the filesystem of its root
dir (``GetDirFsInfo(rootDir)``). imagefs is the filesystem of the first ``image_filesystems``
mountpoint from CRI ``ImageFsInfo``. ``ImageFsStats`` and ``HasDedicatedImageFs`` in the kubelet's
``pkg/kubelet/stats/cri_stats_provider.go`` compare the two by device name.
A runtime directory on any other device is outside both.

The operator report restated below: containerd ``root=/var/lib/containerd`` on ``/dev/sda1`` and
``state=/scratch/containerd`` on ``/dev/nvme0n1``. The NVMe filled up with no DiskPressure.

The Status info documents restate containerd's ``Config`` JSON keys (``pkg/cri/config/config.go``,
returned by containerd 1.6.20 in a verbose Status reply) and CRI-O's ``createRuntimeInfo`` in
``server/runtime_status.go``, which sends only ``sandboxImage``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from simulator._proto.runtime.v1 import api_pb2
from simulator.cli import main as cli_main
from simulator.cri.client import CriClient
from simulator.cri.types import FilesystemUsage, ImageFsInfo
from simulator.errors import FsInfoError
from simulator.explain import add_runtime_dirs, explain_image_fs, render_text
from simulator.probes.fsinfo import FsInfoProbe
from simulator.probes.mountinfo import MountTable
from simulator.probes.runtime_dirs import (
    STATUS_LOOKUP_FAILED,
    STATUS_MEMORY_BACKED,
    STATUS_MONITORED,
    STATUS_UNMONITORED,
    check_runtime_dirs,
    runtime_directories,
)
from tests.fakes.fake_cri import FakeCriServer
from tests.probes.fakes import FakeStat, FakeStatfs, StubCri

SNAPSHOTTER_DIR = "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs"
KUBELET_ROOT = "/var/lib/kubelet"

# The reported node: the root disk /dev/sda1 (8:1) and an NVMe disk (259:0) mounted at /scratch.
REPORT_MOUNTINFO = (
    "25 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
    "28 25 0:25 / /run rw,nosuid,nodev shared:5 - tmpfs tmpfs rw,size=1637284k,mode=755\n"
    "40 25 259:0 / /scratch rw,relatime shared:20 - ext4 /dev/nvme0n1 rw\n"
)
REPORT_DEVICES = {
    SNAPSHOTTER_DIR: "8:1",
    "/var/lib/containerd": "8:1",
    "/var/lib/containerd/io.containerd.grpc.v1.cri": "8:1",
    "/scratch/containerd": "259:0",
    "/scratch/containerd/io.containerd.grpc.v1.cri": "259:0",
    KUBELET_ROOT: "8:1",
}
STATFS = {
    "/": {"blocks": 7574544, "bfree": 5629477, "bavail": 5250505, "files": 1900544, "ffree": 1713905},
    "/scratch": {"blocks": 91570176, "bfree": 12, "bavail": 0, "files": 22896640, "ffree": 22000000},
    "/run": {"blocks": 409321, "bfree": 409000, "bavail": 409000, "files": 409321, "ffree": 408000},
}
OTHER_STATFS = {"blocks": 1000, "bfree": 500, "bavail": 400, "files": 100, "ffree": 50}


def containerd_config(root: str, state: str) -> str:
    """Return the verbose Status ``config`` document of containerd 1.6 for ``root`` and ``state``."""
    return json.dumps(
        {
            "sandboxImage": "registry.k8s.io/pause:3.6",
            "containerdRootDir": root,
            "containerdEndpoint": "/run/containerd/containerd.sock",
            "rootDir": f"{root}/io.containerd.grpc.v1.cri",
            "stateDir": f"{state}/io.containerd.grpc.v1.cri",
        }
    )


def make_probe(mountinfo: str, devices: dict[str, str]) -> FsInfoProbe:
    stat = FakeStat(devices)
    return FsInfoProbe(
        MountTable.parse(mountinfo, stat=stat, source="node.mountinfo"),
        stat=stat,
        statfs=FakeStatfs(STATFS, default=OTHER_STATFS),
    )


class StatusStub(StubCri):
    """A CRI stand-in with a fixed runtime name and verbose Status info."""

    def __init__(
        self, runtime_name: str, info: dict[str, str], image_fs_mountpoint: str = SNAPSHOTTER_DIR
    ) -> None:
        usage = FilesystemUsage(timestamp_ns=1, mountpoint=image_fs_mountpoint, used_bytes=10, inodes_used=1)
        super().__init__("unix:///run/containerd/containerd.sock", ImageFsInfo([usage], []))
        self.runtime_name = runtime_name
        self.info = info

    def version(self) -> object:
        self.calls.append("version")
        return _Named(self.runtime_name)

    def status(self, *, verbose: bool = False) -> object:
        self.calls.append(f"status(verbose={verbose})")
        return _Info(self.info if verbose else {})


class _Named:
    def __init__(self, runtime_name: str) -> None:
        self.runtime_name = runtime_name


class _Info:
    def __init__(self, info: dict[str, str]) -> None:
        self.info = info


@pytest.fixture
def report_runtime() -> Iterator[FakeCriServer]:
    """A fake containerd over a real Unix socket that sends the report's Status info."""
    with FakeCriServer() as server:
        server.set_response(
            "Version",
            api_pb2.VersionResponse(
                version="0.1.0",
                runtime_name="containerd",
                runtime_version="v1.6.20",
                runtime_api_version="v1",
            ),
        )
        usage = api_pb2.FilesystemUsage(
            timestamp=1,
            fs_id=api_pb2.FilesystemIdentifier(mountpoint=SNAPSHOTTER_DIR),
            used_bytes=api_pb2.UInt64Value(value=10),
        )
        server.set_response("ImageFsInfo", api_pb2.ImageFsInfoResponse(image_filesystems=[usage]))
        server.set_response(
            "Status",
            api_pb2.StatusResponse(
                info={"config": containerd_config("/var/lib/containerd", "/scratch/containerd")}
            ),
        )
        yield server


class TestReportedLayout:
    """containerd root on /dev/sda1 and state on /dev/nvme0n1, restated as data."""

    def test_imagefs_is_root_disk_only(self, report_runtime: FakeCriServer) -> None:
        """imagefs resolves to /dev/sda1, the snapshotter's device, and nothing else."""
        probe = make_probe(REPORT_MOUNTINFO, REPORT_DEVICES)
        with CriClient(report_runtime.endpoint) as cri:
            explanation = explain_image_fs(cri, probe, root_dir=KUBELET_ROOT)
            report = add_runtime_dirs(explanation, cri, probe, root_dir=KUBELET_ROOT)

        assert explanation.error is None
        assert explanation.image_fs_device == "/dev/sda1"
        assert report.monitored == {"imagefs": "/dev/sda1", "nodefs": "/dev/sda1"}

    def test_state_dir_warning(self, report_runtime: FakeCriServer) -> None:
        """One warning names /scratch/containerd on /dev/nvme0n1, and the root dirs are monitored."""
        probe = make_probe(REPORT_MOUNTINFO, REPORT_DEVICES)
        with CriClient(report_runtime.endpoint) as cri:
            report = check_runtime_dirs(cri, probe, monitored={"imagefs": "/dev/sda1", "nodefs": "/dev/sda1"})

        assert report.checked
        assert report.runtime_name == "containerd"
        statuses = {finding.directory.path: finding.status for finding in report.findings}
        assert statuses == {
            "/var/lib/containerd": STATUS_MONITORED,
            "/var/lib/containerd/io.containerd.grpc.v1.cri": STATUS_MONITORED,
            "/scratch/containerd/io.containerd.grpc.v1.cri": STATUS_UNMONITORED,
            "/scratch/containerd": STATUS_UNMONITORED,
        }
        assert len(report.warnings) == 1
        warning = report.warnings[0]
        assert warning.startswith(
            "runtime directory /scratch/containerd on an unmonitored filesystem (/dev/nvme0n1"
        )
        assert "no eviction protection" in warning

    def test_status_request_is_verbose(self, report_runtime: FakeCriServer) -> None:
        """The client sets StatusRequest.verbose, without which containerd sends no info."""
        probe = make_probe(REPORT_MOUNTINFO, REPORT_DEVICES)
        with CriClient(report_runtime.endpoint) as cri:
            check_runtime_dirs(cri, probe, monitored={"imagefs": "/dev/sda1", "nodefs": "/dev/sda1"})

        status_requests = [request for path, request in report_runtime.requests if path.endswith("/Status")]
        assert len(status_requests) == 1
        assert status_requests[0].verbose is True

    def test_unmonitored_finding_details(self, report_runtime: FakeCriServer) -> None:
        """The finding carries the device, the partition mountpoint and statfs capacity."""
        probe = make_probe(REPORT_MOUNTINFO, REPORT_DEVICES)
        with CriClient(report_runtime.endpoint) as cri:
            report = check_runtime_dirs(cri, probe, monitored={"imagefs": "/dev/sda1", "nodefs": "/dev/sda1"})

        finding = next(item for item in report.findings if item.directory.path == "/scratch/containerd")
        assert finding.device == "/dev/nvme0n1"
        assert finding.partition_mountpoint == "/scratch"
        assert finding.capacity_bytes == 91570176 * 4096
        assert finding.available_bytes == 0
        assert finding.monitored_as == ()

    def test_explain_text_and_json(self) -> None:
        """``render_text`` prints the warning line and ``to_json`` carries the same findings."""
        probe = make_probe(REPORT_MOUNTINFO, REPORT_DEVICES)
        cri = StatusStub(
            "containerd", {"config": containerd_config("/var/lib/containerd", "/scratch/containerd")}
        )
        explanation = explain_image_fs(cri, probe, root_dir=KUBELET_ROOT)
        add_runtime_dirs(explanation, cri, probe, root_dir=KUBELET_ROOT)

        text = render_text(explanation)
        assert (
            "warning: runtime directory /scratch/containerd on an unmonitored filesystem (/dev/nvme0n1"
            in text
        )
        document = explanation.to_json()["runtimeDirectories"]
        assert document["checked"] is True
        assert len(document["warnings"]) == 1
        assert [item["status"] for item in document["directories"]].count(STATUS_UNMONITORED) == 2


class TestOtherLayouts:
    def test_single_disk_no_warning(self) -> None:
        """Every directory on the root disk, which is both imagefs and nodefs: nothing to warn about."""
        devices = dict(REPORT_DEVICES)
        devices["/srv/containerd"] = "8:1"
        devices["/srv/containerd/io.containerd.grpc.v1.cri"] = "8:1"
        cri = StatusStub(
            "containerd", {"config": containerd_config("/var/lib/containerd", "/srv/containerd")}
        )

        report = check_runtime_dirs(
            cri,
            make_probe(REPORT_MOUNTINFO, devices),
            monitored={"imagefs": "/dev/sda1", "nodefs": "/dev/sda1"},
        )

        assert report.checked
        assert report.warnings == []
        assert {finding.status for finding in report.findings} == {STATUS_MONITORED}
        assert report.summary_line().endswith("all on monitored or memory-backed filesystems")
        assert all(finding.monitored_as == ("imagefs", "nodefs") for finding in report.findings)

    def test_state_on_tmpfs_is_a_note(self) -> None:
        """containerd's default state dir /run/containerd sits on tmpfs: a memory note, not a disk warning."""
        devices = dict(REPORT_DEVICES)
        devices["/run/containerd"] = "0:25"
        devices["/run/containerd/io.containerd.grpc.v1.cri"] = "0:25"
        cri = StatusStub(
            "containerd", {"config": containerd_config("/var/lib/containerd", "/run/containerd")}
        )

        report = check_runtime_dirs(
            cri,
            make_probe(REPORT_MOUNTINFO, devices),
            monitored={"imagefs": "/dev/sda1", "nodefs": "/dev/sda1"},
        )

        assert report.warnings == []
        state = next(item for item in report.findings if item.directory.path == "/run/containerd")
        assert state.status == STATUS_MEMORY_BACKED
        assert state.fs_type == "tmpfs"
        assert any("/run/containerd is on tmpfs" in note for note in report.notes)

    def test_root_outside_dedicated_imagefs(self) -> None:
        """Snapshotter on its own disk (imagefs /dev/sdb1), kubelet on /dev/sda2: containerd's root on /dev/sda1 is unmonitored.

        The content store (image blobs) lives under containerd's root, so pulls can fill /dev/sda1.
        """
        mountinfo = (
            "25 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
            "30 25 8:2 / /var/lib/kubelet rw,relatime shared:2 - ext4 /dev/sda2 rw\n"
            f"31 25 8:17 / {SNAPSHOTTER_DIR} rw,relatime shared:3 - xfs /dev/sdb1 rw\n"
        )
        devices = {
            SNAPSHOTTER_DIR: "8:17",
            KUBELET_ROOT: "8:2",
            "/var/lib/containerd": "8:1",
            "/var/lib/containerd/io.containerd.grpc.v1.cri": "8:1",
            "/run/containerd": "8:1",
            "/run/containerd/io.containerd.grpc.v1.cri": "8:1",
        }
        probe = make_probe(mountinfo, devices)
        cri = StatusStub(
            "containerd", {"config": containerd_config("/var/lib/containerd", "/run/containerd")}
        )
        explanation = explain_image_fs(cri, probe, root_dir=KUBELET_ROOT)

        report = add_runtime_dirs(explanation, cri, probe, root_dir=KUBELET_ROOT)

        assert explanation.error is None
        assert report.monitored == {"imagefs": "/dev/sdb1", "nodefs": "/dev/sda2"}
        assert len(report.warnings) == 1
        assert report.warnings[0].startswith(
            "runtime directory /run/containerd on an unmonitored filesystem (/dev/sda1"
        )
        root = next(item for item in report.findings if item.directory.path == "/var/lib/containerd")
        assert root.status == STATUS_UNMONITORED

    def test_missing_directory_lookup_failed(self) -> None:
        """A directory stat cannot find is reported as not checked, with cAdvisor's error text."""
        devices = {key: value for key, value in REPORT_DEVICES.items() if not key.startswith("/scratch")}
        cri = StatusStub(
            "containerd", {"config": containerd_config("/var/lib/containerd", "/scratch/containerd")}
        )

        report = check_runtime_dirs(
            cri,
            make_probe(REPORT_MOUNTINFO, devices),
            monitored={"imagefs": "/dev/sda1", "nodefs": "/dev/sda1"},
        )

        failed = [item for item in report.findings if item.status == STATUS_LOOKUP_FAILED]
        assert [item.directory.path for item in failed] == [
            "/scratch/containerd/io.containerd.grpc.v1.cri",
            "/scratch/containerd",
        ]
        assert failed[0].error.startswith(
            "neither /scratch/containerd/io.containerd.grpc.v1.cri nor its parents"
        )
        assert "no such file or directory" in failed[0].error
        assert report.warnings == []
        assert any("/scratch/containerd was not checked" in note for note in report.notes)
        assert (
            report.summary_line()
            == "runtime directories of containerd: 0 unmonitored filesystems, 2 not checked"
        )

    def test_missing_directory_uses_parent(self) -> None:
        """A state dir not created yet is judged by its nearest existing parent, where it will appear."""
        devices = {key: value for key, value in REPORT_DEVICES.items() if not key.startswith("/scratch")}
        devices["/scratch"] = "259:0"
        cri = StatusStub(
            "containerd", {"config": containerd_config("/var/lib/containerd", "/scratch/containerd")}
        )

        report = check_runtime_dirs(
            cri,
            make_probe(REPORT_MOUNTINFO, devices),
            monitored={"imagefs": "/dev/sda1", "nodefs": "/dev/sda1"},
        )

        state = next(item for item in report.findings if item.directory.path == "/scratch/containerd")
        assert state.status == STATUS_UNMONITORED
        assert state.resolved_path == "/scratch"
        assert state.exists is False
        assert len(report.warnings) == 1
        assert "/scratch/containerd on an unmonitored filesystem (/dev/nvme0n1" in report.warnings[0]
        assert any("/scratch/containerd does not exist yet" in note for note in report.notes)

    def test_device_missing_from_table(self) -> None:
        """A disk mounted after the table was read: the parent walk returns the root disk, and a note states that."""
        devices = dict(REPORT_DEVICES)
        mountinfo_without_scratch = REPORT_MOUNTINFO.replace(
            "40 25 259:0 / /scratch rw,relatime shared:20 - ext4 /dev/nvme0n1 rw\n", ""
        )
        cri = StatusStub(
            "containerd", {"config": containerd_config("/var/lib/containerd", "/scratch/containerd")}
        )

        report = check_runtime_dirs(
            cri,
            make_probe(mountinfo_without_scratch, devices),
            monitored={"imagefs": "/dev/sda1", "nodefs": "/dev/sda1"},
        )

        state = next(item for item in report.findings if item.directory.path == "/scratch/containerd")
        assert state.device == "/dev/sda1"
        assert state.device_in_table is False
        assert any(
            "missing from the mount table" in note and "/scratch/containerd" in note for note in report.notes
        )


class TestNotChecked:
    @pytest.mark.parametrize(
        ("runtime_name", "info", "reason"),
        [
            pytest.param(
                "cri-o",
                {"config": json.dumps({"sandboxImage": "registry.k8s.io/pause:3.9"})},
                "names no directories",
                id="crio-sandbox-image-only",
            ),
            pytest.param("fake-cri", {}, "sent no 'config' key", id="no-info"),
            pytest.param("containerd", {"config": "{not json"}, "invalid JSON", id="invalid-json"),
            pytest.param("containerd", {"config": "[1, 2]"}, "is a JSON list", id="not-an-object"),
            pytest.param(
                "containerd",
                {"config": json.dumps({"containerdRootDir": "relative/path", "stateDir": 7})},
                "names no directories",
                id="no-absolute-paths",
            ),
        ],
    )
    def test_directories_unknown(self, runtime_name: str, info: dict[str, str], reason: str) -> None:
        directories, text = runtime_directories(runtime_name, info)
        assert directories == []
        assert reason in text

    def test_status_error(self) -> None:
        """A failing Status call leaves the check undone instead of failing the explanation."""
        probe = make_probe(REPORT_MOUNTINFO, REPORT_DEVICES)
        with FakeCriServer() as server:
            server.set_error("Status", grpc.StatusCode.INTERNAL, "boom")
            with CriClient(server.endpoint) as cri:
                report = check_runtime_dirs(
                    cri, probe, monitored={"imagefs": "/dev/sda1", "nodefs": "/dev/sda1"}
                )

        assert report.checked is False
        assert "CRI Status failed" in report.reason
        assert "INTERNAL" in report.reason
        assert report.summary_line().startswith("runtime directories not checked: ")

    def test_imagefs_unresolved(self) -> None:
        """Without an imagefs device the check is skipped, so nothing is called unmonitored by mistake."""
        probe = make_probe(REPORT_MOUNTINFO, REPORT_DEVICES)
        cri = StatusStub(
            "containerd",
            {"config": containerd_config("/var/lib/containerd", "/scratch/containerd")},
            image_fs_mountpoint="/nonexistent",
        )
        explanation = explain_image_fs(cri, probe, root_dir=KUBELET_ROOT)

        report = add_runtime_dirs(explanation, cri, probe, root_dir=KUBELET_ROOT)

        assert explanation.error is not None
        assert report.checked is False
        assert "imagefs device is unknown" in report.reason
        assert "status(verbose=True)" not in cri.calls
        assert "runtime directories not checked" in render_text(explanation)

    def test_cli_unknown_runtime(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
    ) -> None:
        """``evictsim explain imagefs -o json`` against a runtime with no directory info reports "not checked"."""
        monkeypatch.setattr(cli_main, "COMMAND_MODULES", ("snapshot", "explain"))
        image_dir = tmp_path / "snapshots"
        image_dir.mkdir()
        try:
            FsInfoProbe(MountTable.from_file("/proc/self/mountinfo")).dir_fs_info(str(image_dir))
        except FsInfoError as error:
            pytest.skip(f"temp dirs on this machine do not resolve the cAdvisor way: {error}")
        usage = api_pb2.FilesystemUsage(
            timestamp=1,
            fs_id=api_pb2.FilesystemIdentifier(mountpoint=str(image_dir)),
            used_bytes=api_pb2.UInt64Value(value=1),
        )
        with FakeCriServer() as server:
            server.set_response("ImageFsInfo", api_pb2.ImageFsInfoResponse(image_filesystems=[usage]))
            code = cli_main.main(
                [
                    "explain",
                    "imagefs",
                    "--cri-endpoint",
                    server.endpoint,
                    "--root-dir",
                    str(tmp_path),
                    "-o",
                    "json",
                ]
            )
        out, err = capsys.readouterr()

        assert code == 0, err
        document = json.loads(out)["runtimeDirectories"]
        assert document["checked"] is False
        assert document["runtimeName"] == "fake-cri"
        assert "sent no 'config' key" in document["reason"]
