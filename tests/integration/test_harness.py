"""The real-containerd test harness works: containerd serves CRI, images and pods behave, teardown is clean.

Other integration tests trust these fixtures, so each property they rely on is checked here
against the live system (CRI replies, statvfs, /proc/self/mountinfo, /proc), not against
the harness's own bookkeeping.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
from harness import (
    ContainerdNode,
    HarnessError,
    build_sized_image,
    build_workload_image,
    empty_dir_path,
    import_image,
    missing_prerequisites,
    remove_pod,
    run_pod,
    wait_for_log,
    write_bytes_command,
)
from harness.cleanup import find_stale_nodes, read_owner_record, release_node_dir, sweep_stale_nodes
from harness.containerd import render_config
from harness.images import BUSYBOX_PATH, archive_repo_tags
from harness.mounts import mounts_under, read_mounts
from harness.processes import is_alive, shim_pids

from simulator._proto.runtime.v1 import api_pb2 as api

REPO_ROOT = Path(__file__).resolve().parents[2]
MIB = 1024 * 1024
WORKLOAD_IMAGE = "evictsim.test/harness-busybox:1"
# containerd stats snapshots every stats_collect_period (1 s in the harness config).
STATS_WAIT_S = 15.0
# ctr import writes a small docker manifest blob besides the layers and the config.
MANIFEST_ALLOWANCE_BYTES = 4096


def _device_of(path: Path) -> tuple[int, int]:
    st_dev = os.stat(path).st_dev
    return os.major(st_dev), os.minor(st_dev)


def _rdev_of(device: str) -> tuple[int, int]:
    st_rdev = os.stat(device).st_rdev
    return os.major(st_rdev), os.minor(st_rdev)


def _image_fs_usage(node: ContainerdNode) -> api.FilesystemUsage:
    response = node.cri_call("ImageService/ImageFsInfo", api.ImageFsInfoRequest(), api.ImageFsInfoResponse)
    assert len(response.image_filesystems) == 1
    return response.image_filesystems[0]


def _writable_layer_bytes(node: ContainerdNode, container_id: str) -> int:
    request = api.ListContainerStatsRequest(filter=api.ContainerStatsFilter(id=container_id))
    response = node.cri_call("RuntimeService/ListContainerStats", request, api.ListContainerStatsResponse)
    if not response.stats:
        return 0
    return response.stats[0].writable_layer.used_bytes.value


def _wait_until(predicate, timeout_s: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.25)
    return bool(predicate())


@pytest.fixture(scope="module")
def workload_image(containerd_node: ContainerdNode) -> str:
    built = build_workload_image(containerd_node.base_dir / "images", WORKLOAD_IMAGE)
    import_image(containerd_node, built)
    return built.name


class TestNode:
    def test_cri_version_answers(self, containerd_node: ContainerdNode) -> None:
        """CRI Version over the node's socket reports containerd speaking CRI v1."""
        version = containerd_node.cri_call(
            "RuntimeService/Version", api.VersionRequest(), api.VersionResponse
        )

        assert containerd_node.endpoint == f"unix://{containerd_node.socket_path}"
        assert version.runtime_name == "containerd"
        assert version.runtime_api_version == "v1"
        assert Path(f"/proc/{containerd_node.pid}").exists()

    def test_ctr_lists_pause_image(self, containerd_node: ContainerdNode) -> None:
        """The sandbox image is imported in the k8s.io namespace under the configured name."""
        names = containerd_node.ctr("images", "ls", "-q").split()

        assert containerd_node.sandbox_image in names

    def test_root_on_image_loop_device(self, containerd_node: ContainerdNode) -> None:
        """containerd's root and ImageFsInfo's mountpoint are on the image loop device, not the kubelet's."""
        image_device = _rdev_of(containerd_node.image_fs.device)
        node_device = _rdev_of(containerd_node.node_fs.device)
        usage = _image_fs_usage(containerd_node)

        assert _device_of(containerd_node.root) == image_device
        assert _device_of(containerd_node.image_fs_mount) == image_device
        assert usage.fs_id.mountpoint == str(containerd_node.snapshotter_root)
        assert _device_of(Path(usage.fs_id.mountpoint)) == image_device
        assert _device_of(containerd_node.kubelet_root) == node_device
        assert image_device != node_device

    def test_loop_filesystems_have_requested_size(self, containerd_node: ContainerdNode) -> None:
        """Each loop ext4 reports a capacity a little under its backing file (ext4 metadata) and is ext4."""
        for filesystem in (containerd_node.image_fs, containerd_node.node_fs):
            stats = os.statvfs(filesystem.mountpoint)
            capacity = stats.f_blocks * stats.f_frsize
            mount = next(entry for entry in read_mounts() if entry.mountpoint == str(filesystem.mountpoint))

            assert 0.85 * filesystem.size_bytes < capacity <= filesystem.size_bytes
            assert stats.f_bavail < stats.f_bfree  # mkfs.ext4 reserved 5 % for root
            assert mount.fs_type == "ext4"
            assert mount.source == filesystem.device

    def test_snapshotter_is_overlayfs(self, containerd_node: ContainerdNode) -> None:
        """Overlay mounts work on a loop-mounted ext4 on this machine kind, so the fallback is not taken."""
        assert containerd_node.snapshotter == "overlayfs"


class TestImages:
    def test_sized_image_listed_with_size(self, containerd_node: ContainerdNode) -> None:
        """CRI lists an imported random-content image with the archive's bytes plus the manifest."""
        built = build_sized_image(
            containerd_node.base_dir / "images", "evictsim.test/harness-sized:8m", 8 * MIB
        )
        import_image(containerd_node, built)

        response = containerd_node.cri_call(
            "ImageService/ListImages", api.ListImagesRequest(), api.ListImagesResponse
        )
        listed = [image for image in response.images if built.name in image.repo_tags]

        assert len(listed) == 1
        assert built.content_bytes <= listed[0].size <= built.content_bytes + MANIFEST_ALLOWANCE_BYTES
        assert abs(built.content_bytes - 8 * MIB) <= 16 * 1024

    def test_unpacked_image_counts_in_image_fs(self, containerd_node: ContainerdNode) -> None:
        """Unpacking an image into the overlayfs snapshotter raises ImageFsInfo used_bytes by its size."""
        before = _image_fs_usage(containerd_node).used_bytes.value
        built = build_sized_image(
            containerd_node.base_dir / "images", "evictsim.test/harness-sized:6m", 6 * MIB
        )
        import_image(containerd_node, built)

        grew = _wait_until(
            lambda: _image_fs_usage(containerd_node).used_bytes.value - before >= 6 * MIB - 64 * 1024,
            STATS_WAIT_S,
        )

        assert grew, f"used_bytes {before} -> {_image_fs_usage(containerd_node).used_bytes.value}"

    def test_import_by_path_waits_for_cri(self, containerd_node: ContainerdNode) -> None:
        """Importing an archive by path waits until CRI lists every repo tag named in its manifest.json."""
        built = build_sized_image(
            containerd_node.base_dir / "images", "evictsim.test/harness-by-path:1", 1 * MIB
        )
        import_image(containerd_node, built.archive_path)

        request = api.ImageStatusRequest(image=api.ImageSpec(image=built.name))
        status = containerd_node.cri_call("ImageService/ImageStatus", request, api.ImageStatusResponse)

        assert archive_repo_tags(built.archive_path) == [built.name]
        assert status.HasField("image")

    def test_workload_image_carries_busybox(
        self, containerd_node: ContainerdNode, workload_image: str
    ) -> None:
        """The workload image is listed by CRI and is at least as large as the busybox binary it ships."""
        request = api.ImageStatusRequest(image=api.ImageSpec(image=workload_image))
        status = containerd_node.cri_call("ImageService/ImageStatus", request, api.ImageStatusResponse)

        assert status.HasField("image")
        assert status.image.size >= BUSYBOX_PATH.stat().st_size


class TestPods:
    def test_host_network_pod_writes_layer(
        self, containerd_node: ContainerdNode, workload_image: str
    ) -> None:
        """A host-network pod runs, writes 4 MiB into its writable layer, and CRI stats report it."""
        handle = run_pod(containerd_node, "writer", "harness", workload_image, write_bytes_command(4))
        try:
            wait_for_log(handle, "main")
            container_id = handle.container_ids["main"]

            reported = _wait_until(
                lambda: _writable_layer_bytes(containerd_node, container_id) >= 4 * MIB, STATS_WAIT_S
            )
            request = api.ContainerStatusRequest(container_id=container_id, verbose=True)
            status = containerd_node.cri_call(
                "RuntimeService/ContainerStatus", request, api.ContainerStatusResponse
            )
            pid = json.loads(status.info["info"])["pid"]

            assert reported, f"writable layer {_writable_layer_bytes(containerd_node, container_id)} bytes"
            assert status.status.state == api.CONTAINER_RUNNING
            assert os.readlink(f"/proc/{pid}/ns/net") == os.readlink("/proc/self/ns/net")
            assert os.readlink(f"/proc/{pid}/ns/pid") != os.readlink("/proc/self/ns/pid")
        finally:
            remove_pod(containerd_node, handle)

    def test_pod_carries_kubelet_labels(self, containerd_node: ContainerdNode, workload_image: str) -> None:
        """Sandbox and container carry the kubelet's pod labels, and the container log is on the node fs."""
        handle = run_pod(containerd_node, "labelled", "harness", workload_image, ["/bin/sleep", "3600"])
        try:
            sandboxes = containerd_node.cri_call(
                "RuntimeService/ListPodSandbox", api.ListPodSandboxRequest(), api.ListPodSandboxResponse
            )
            sandbox = next(item for item in sandboxes.items if item.id == handle.pod_sandbox_id)
            request = api.ContainerStatusRequest(container_id=handle.container_ids["main"])
            status = containerd_node.cri_call(
                "RuntimeService/ContainerStatus", request, api.ContainerStatusResponse
            )
            expected_log = (
                containerd_node.kubelet_root / "pods" / f"harness_labelled_{handle.uid}" / "main" / "0.log"
            )

            assert sandbox.metadata.name == "labelled"
            assert sandbox.labels["io.kubernetes.pod.name"] == "labelled"
            assert sandbox.labels["io.kubernetes.pod.namespace"] == "harness"
            assert sandbox.labels["io.kubernetes.pod.uid"] == handle.uid
            assert status.status.labels["io.kubernetes.container.name"] == "main"
            assert status.status.labels["io.kubernetes.pod.uid"] == handle.uid
            assert status.status.log_path == str(expected_log)
            assert _wait_until(expected_log.exists, 5.0)
            assert _device_of(expected_log) == _rdev_of(containerd_node.node_fs.device)
        finally:
            remove_pod(containerd_node, handle)

    def test_empty_dir_lands_on_node_fs(self, containerd_node: ContainerdNode, workload_image: str) -> None:
        """Data written to an emptyDir lands in the kubelet's pods/<uid>/volumes path, not in the layer."""
        command = write_bytes_command(2, "/scratch/fill.bin")
        handle = run_pod(
            containerd_node, "scratch", "harness", workload_image, command, empty_dirs={"scratch": "/scratch"}
        )
        try:
            wait_for_log(handle, "main")
            host_file = empty_dir_path(containerd_node, handle.uid, "scratch") / "fill.bin"

            assert host_file.stat().st_size == 2 * MIB
            assert _device_of(host_file) == _rdev_of(containerd_node.node_fs.device)
            assert _writable_layer_bytes(containerd_node, handle.container_ids["main"]) < MIB
        finally:
            remove_pod(containerd_node, handle)

    def test_removed_pod_leaves_no_sandbox(
        self, containerd_node: ContainerdNode, workload_image: str
    ) -> None:
        """remove_pod stops and removes the sandbox and its containers."""
        handle = run_pod(containerd_node, "shortlived", "harness", workload_image, ["/bin/sleep", "3600"])
        remove_pod(containerd_node, handle)

        sandboxes = containerd_node.cri_call(
            "RuntimeService/ListPodSandbox", api.ListPodSandboxRequest(), api.ListPodSandboxResponse
        )
        containers = containerd_node.cri_call(
            "RuntimeService/ListContainers", api.ListContainersRequest(), api.ListContainersResponse
        )

        assert handle.pod_sandbox_id not in {item.id for item in sandboxes.items}
        assert not set(handle.container_ids.values()) & {item.id for item in containers.containers}


def test_factory_starts_sized_node(containerd_node_factory: Callable[..., ContainerdNode]) -> None:
    """A private node from the factory gets the requested filesystem sizes and serves CRI."""
    node = containerd_node_factory(image_fs_bytes=160 * MIB, node_fs_bytes=96 * MIB)
    image_stats = os.statvfs(node.image_fs_mount)
    node_stats = os.statvfs(node.kubelet_root)
    version = node.cri_call("RuntimeService/Version", api.VersionRequest(), api.VersionResponse)

    assert 0.85 * 160 * MIB < image_stats.f_blocks * image_stats.f_frsize <= 160 * MIB
    assert 0.85 * 96 * MIB < node_stats.f_blocks * node_stats.f_frsize <= 96 * MIB
    assert version.runtime_name == "containerd"


def test_long_base_dir_rejected(tmp_path: Path) -> None:
    """A base directory too long for a Unix socket path fails fast with a message naming the fix."""
    reasons = missing_prerequisites()
    if reasons:
        pytest.skip("real containerd unavailable: " + "; ".join(reasons))
    long_dir = tmp_path / ("d" * 100)
    long_dir.mkdir()

    with pytest.raises(HarnessError, match="shorter base_dir"):
        ContainerdNode.start(base_dir=long_dir)

    assert list(long_dir.iterdir()) == []
    assert mounts_under(long_dir) == []


CRASHING_OWNER = """
import os, signal, sys
sys.path.insert(0, {tests_dir!r})
from harness import ContainerdNode, build_workload_image, import_image, run_pod, write_bytes_command
node = ContainerdNode.start(base_dir={base_dir!r})
image = build_workload_image(node.base_dir / "images", "evictsim.test/harness-busybox:1")
import_image(node, image)
run_pod(node, "orphan", "harness", image.name, write_bytes_command(1))
print(node.base_dir, node.pid, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_sweep_releases_dead_owner_node() -> None:
    """A node whose owner died by SIGKILL is released by the sweep: processes, mounts, loops, files."""
    reasons = missing_prerequisites()
    if reasons:
        pytest.skip("real containerd unavailable: " + "; ".join(reasons))
    # Not pytest's tmp_path: concurrent pytest runs delete old numbered temp dirs.
    parent = Path(tempfile.mkdtemp(prefix="evictsim-sweep-"))
    try:
        script = CRASHING_OWNER.format(tests_dir=str(REPO_ROOT / "tests"), base_dir=str(parent))
        owner = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
        )
        base_text, containerd_pid_text = owner.stdout.strip().splitlines()[-1].split()
        base_dir = Path(base_text)
        containerd_pid = int(containerd_pid_text)
        shims = shim_pids(base_dir / "containerd.sock")
        stale_before = find_stale_nodes(parent)
        mounted_before = mounts_under(base_dir)

        released = sweep_stale_nodes(parent)
    finally:
        for leftover in parent.glob("evictsim-node-*"):
            release_node_dir(leftover, read_owner_record(leftover))
        parent.rmdir()

    assert owner.returncode == -9, owner.stderr
    assert stale_before == [base_dir]
    assert shims, "the orphaned pod must have a shim, or this test proves nothing"
    assert mounted_before, "the orphaned node must still be mounted, or this test proves nothing"
    assert released == [base_dir]
    assert not is_alive(containerd_pid)
    for pid in shims:
        assert not is_alive(pid)
    assert mounts_under(base_dir) == []
    assert _loop_devices_for(base_dir / "imagefs.img") == ""
    assert _loop_devices_for(base_dir / "nodefs.img") == ""
    assert not base_dir.exists()


def test_sweep_spares_live_owner_node(containerd_node: ContainerdNode) -> None:
    """The sweep does not list a node whose owner (this test process) is alive."""
    assert containerd_node.base_dir not in find_stale_nodes(containerd_node.base_dir.parent)


def _loop_devices_for(backing_file: Path) -> str:
    return subprocess.run(
        ["losetup", "-j", str(backing_file)], capture_output=True, text=True, check=False
    ).stdout.strip()


def test_teardown_leaves_nothing_behind() -> None:
    """Stopping a node with a running pod removes its processes, mounts, loop devices, cgroups and files."""
    reasons = missing_prerequisites()
    if reasons:
        pytest.skip("real containerd unavailable: " + "; ".join(reasons))
    node = ContainerdNode.start()
    try:
        built = build_workload_image(node.base_dir / "images", WORKLOAD_IMAGE)
        import_image(node, built)
        run_pod(node, "left-running", "harness", built.name, write_bytes_command(1))
        shims = node.shim_pids()
        containerd_pid = node.pid
        mounted_before = [entry.mountpoint for entry in mounts_under(node.base_dir)]
        cgroup_dirs = [
            hierarchy / node.cgroup_root.strip("/")
            for hierarchy in Path("/sys/fs/cgroup").iterdir()
            if (hierarchy / node.cgroup_root.strip("/")).is_dir()
        ]
    finally:
        node.stop()

    assert shims, "a running pod must have a shim, or this test proves nothing"
    assert any("/rootfs" in mountpoint for mountpoint in mounted_before)
    assert mounts_under(node.base_dir) == []
    assert not any(str(node.base_dir) in entry.mountpoint for entry in read_mounts())
    for pid in [containerd_pid, *shims]:
        assert (
            not Path(f"/proc/{pid}").exists()
            or "Z" in Path(f"/proc/{pid}/stat").read_text().split(")")[-1][:3]
        )
    assert _loop_devices_for(node.image_fs.backing_file) == ""
    assert _loop_devices_for(node.node_fs.backing_file) == ""
    assert not node.base_dir.exists()
    for directory in cgroup_dirs:
        assert not directory.exists()


class TestWithoutRuntime:
    """Harness pieces that run without root or containerd."""

    def test_mountinfo_octal_escapes_decoded(self, tmp_path: Path) -> None:
        """Mountpoints with spaces, tabs and backslashes are decoded from the kernel's octal escapes."""
        mountinfo = tmp_path / "mountinfo"
        mountinfo.write_text(
            "21 1 7:0 / /tmp/with\\040space rw,relatime shared:1 - ext4 /dev/loop0 rw\n"
            "22 21 0:40 / /tmp/tab\\011and\\134slash rw - overlay overlay rw,lowerdir=/a\n"
        )

        entries = read_mounts(mountinfo)

        assert [entry.mountpoint for entry in entries] == ["/tmp/with space", "/tmp/tab\tand\\slash"]
        assert [entry.fs_type for entry in entries] == ["ext4", "overlay"]
        assert [entry.source for entry in entries] == ["/dev/loop0", "overlay"]
        assert entries[0].major_minor == "7:0"

    def test_mounts_under_deepest_first(self, tmp_path: Path) -> None:
        """Mounts below a prefix come back children first, and a sibling with a longer name is excluded."""
        mountinfo = tmp_path / "mountinfo"
        mountinfo.write_text(
            "30 1 7:0 / /srv/node rw - ext4 /dev/loop0 rw\n"
            "31 30 0:41 / /srv/node/state/a/rootfs rw - overlay overlay rw\n"
            "32 1 7:1 / /srv/node-other rw - ext4 /dev/loop1 rw\n"
        )

        found = [entry.mountpoint for entry in mounts_under("/srv/node", mountinfo)]

        assert found == ["/srv/node/state/a/rootfs", "/srv/node"]

    def test_config_paths_stay_in_temp_dirs(self, tmp_path: Path) -> None:
        """Every path in the generated containerd config is under the node's temporary directory."""
        text = render_config(
            root=tmp_path / "imagefs",
            state=tmp_path / "state",
            socket_path=tmp_path / "containerd.sock",
            snapshotter="overlayfs",
            sandbox_image="evictsim.test/pause:1.0",
            cni_dir=tmp_path / "cni",
        )
        config = tomllib.loads(text)
        cri = config["plugins"]["io.containerd.grpc.v1.cri"]
        paths = [
            config["root"],
            config["state"],
            config["grpc"]["address"],
            config["ttrpc"]["address"],
            config["plugins"]["io.containerd.internal.v1.opt"]["path"],
            cri["containerd"]["runtimes"]["runc"]["options"]["Root"],
            cri["cni"]["bin_dir"],
            cri["cni"]["conf_dir"],
        ]

        for path in paths:
            assert path.startswith(str(tmp_path) + "/"), path
        assert cri["containerd"]["snapshotter"] == "overlayfs"
        assert cri["sandbox_image"] == "evictsim.test/pause:1.0"
        assert cri["restrict_oom_score_adj"] is True
        assert config["debug"]["address"] == ""
        assert config["metrics"]["address"] == ""

    def test_generated_proto_up_to_date(self) -> None:
        """The committed cri_mutating_pb2 module matches a fresh run of tests/harness/genproto.py."""
        result = subprocess.run(
            [sys.executable, str(REPO_ROOT / "tests" / "harness" / "genproto.py"), "--check"],
            capture_output=True,
            text=True,
            check=False,
        )

        assert result.returncode == 0, result.stdout + result.stderr

    def test_product_never_imports_harness(self) -> None:
        """No module of the product package imports the test harness or its mutating messages."""
        offenders = [
            str(path.relative_to(REPO_ROOT))
            for path in (REPO_ROOT / "simulator").rglob("*.py")
            if any(word in path.read_text() for word in ("import harness", "from harness", "cri_mutating"))
        ]

        assert offenders == []

    def test_demo_falls_back_to_replay(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Without a runtime, the demo prints the reason in one line and replays the recorded node."""
        spec = importlib.util.spec_from_file_location("evictsim_demo", REPO_ROOT / "scripts" / "demo.py")
        assert spec is not None and spec.loader is not None
        demo = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(demo)
        executed: list[list[str]] = []
        monkeypatch.setattr(demo, "missing_prerequisites", lambda: ["not running as root"])
        monkeypatch.setattr(demo, "daemon_problem", lambda: None)
        monkeypatch.setattr(demo.os, "chdir", lambda path: None)
        monkeypatch.setattr(demo.os, "execv", lambda program, command: executed.append(command))

        demo.main([])

        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1
        assert "no container runtime here (not running as root)" in lines[0]
        assert len(executed) == 1
        assert executed[0][1:5] == ["-m", "simulator", "daemon", "--replay"]
        assert executed[0][5] == str(REPO_ROOT / "examples" / "recorded-node") + "/"
