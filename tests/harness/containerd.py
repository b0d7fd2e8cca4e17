"""Start and stop a private containerd (Debian's 1.6 package) for integration tests and the demo.

The node is a temporary directory with two loop-mounted ext4 filesystems: one is containerd's
root (so the CRI image filesystem is a dedicated device) and the other is the kubelet root dir
(the node filesystem). containerd runs directly, not under systemd, with a generated config
whose paths all point into the temporary directory. Shim sockets are the exception: the runc v2
shim of containerd 1.6 always creates them in /run/containerd/s, named by a hash that includes
our socket path, so they never collide with a system containerd.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self, TypeVar

import grpc
import structlog
from google.protobuf.message import Message

from harness.cleanup import (
    NODE_DIR_PREFIX,
    STOP_TIMEOUT_S,
    log_safely,
    remove_cgroups,
    sweep_stale_nodes,
    write_owner_record,
)
from harness.cri_mutator import CriMutator
from harness.images import build_pause_image, import_image
from harness.loopfs import MIB, HarnessError, LoopFilesystem, overlay_mount_works, run_command
from harness.mounts import mounts_under, unmount_all_under
from harness.processes import descendant_pids, shim_pids, terminate

ResponseT = TypeVar("ResponseT", bound=Message)

log = structlog.get_logger("evictsim.tests.harness")

CONTAINERD_BINARY = "containerd"
CTR_BINARY = "ctr"
CRI_NAMESPACE = "k8s.io"
PAUSE_IMAGE = "evictsim.test/pause:1.0"
DEFAULT_IMAGE_FS_BYTES = 384 * MIB
DEFAULT_NODE_FS_BYTES = 256 * MIB
STATS_COLLECT_PERIOD_S = 1
START_TIMEOUT_S = 30.0
MAX_SOCKET_PATH_BYTES = 107


def missing_prerequisites() -> list[str]:
    """Return the reasons a containerd node cannot start here, or an empty list when it can."""
    reasons: list[str] = []
    if os.geteuid() != 0:
        reasons.append("not running as root (loop mounts and containerd need it)")
    for binary in (CONTAINERD_BINARY, CTR_BINARY, "runc", "containerd-shim-runc-v2", "mkfs.ext4", "losetup"):
        if shutil.which(binary) is None:
            reasons.append(f"{binary} not found in PATH (apt-get install containerd runc e2fsprogs)")
    if shutil.which("busybox") is None:
        reasons.append("busybox not found in PATH (apt-get install busybox-static)")
    return reasons


def render_config(
    *,
    root: Path,
    state: Path,
    socket_path: Path,
    snapshotter: str,
    sandbox_image: str,
    cni_dir: Path,
    stats_collect_period_s: int = STATS_COLLECT_PERIOD_S,
    restrict_oom_score_adj: bool = True,
) -> str:
    """Render a containerd 1.6 config (version 2) with every path inside the node's temporary directory."""
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""version = 2
root = "{root}"
state = "{state}"
oom_score = 0
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
]

[grpc]
  address = "{socket_path}"

[ttrpc]
  address = "{socket_path}.ttrpc"

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{root}/opt"

[{cri}]
  sandbox_image = "{sandbox_image}"
  # Seconds between snapshot usage samples, which ImageFsInfo and the writable-layer stats
  # report (containerd's default is 10).
  stats_collect_period = {stats_collect_period_s}
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  disable_apparmor = true
  # Clamp oom_score_adj to the caller's own value: without CAP_SYS_RESOURCE (common in
  # containers and sandboxed VMs) the pause container's -998 fails in runc init.
  restrict_oom_score_adj = {"true" if restrict_oom_score_adj else "false"}

[{cri}.containerd]
  snapshotter = "{snapshotter}"
  default_runtime_name = "runc"

[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false
  Root = "{state}/runc"

# No CNI config exists in conf_dir, so only host-network pods can run.
[{cri}.cni]
  bin_dir = "{cni_dir}/bin"
  conf_dir = "{cni_dir}/net.d"
"""


@dataclass
class ContainerdNode:
    """A running private containerd with its loop filesystems, built by ``ContainerdNode.start``.

    ``root`` is containerd's root dir and equals ``image_fs_mount``, so every snapshot and content
    blob lands on the image filesystem's loop device. ``kubelet_root`` is the other loop
    filesystem, used as the kubelet root dir (node filesystem) and for pod logs.
    """

    base_dir: Path
    socket_path: Path
    root: Path
    state: Path
    image_fs: LoopFilesystem
    node_fs: LoopFilesystem
    snapshotter: str
    sandbox_image: str
    config_path: Path
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    # --- construction --------------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        *,
        base_dir: Path | None = None,
        image_fs_bytes: int = DEFAULT_IMAGE_FS_BYTES,
        node_fs_bytes: int = DEFAULT_NODE_FS_BYTES,
        sandbox_image: str = PAUSE_IMAGE,
        import_pause_image: bool = True,
    ) -> ContainerdNode:
        """Create the loop filesystems, write the config, start containerd and wait for CRI.

        With ``import_pause_image`` the busybox-based pause image is built and imported under
        ``sandbox_image``, so RunPodSandbox never tries to pull. Anything set up before a
        failure is torn down again before the HarnessError propagates.
        """
        reasons = missing_prerequisites()
        if reasons:
            raise HarnessError("cannot start containerd: " + "; ".join(reasons))
        # Nodes of earlier runs that died before their teardown still hold mounts and loop devices.
        sweep_stale_nodes(base_dir)
        base = Path(tempfile.mkdtemp(prefix=NODE_DIR_PREFIX, dir=str(base_dir) if base_dir else None))
        write_owner_record(base)
        node: ContainerdNode | None = None
        image_fs: LoopFilesystem | None = None
        node_fs: LoopFilesystem | None = None
        try:
            image_fs = LoopFilesystem.create(
                base / "imagefs.img", base / "imagefs", image_fs_bytes, label="evictsim-imagefs"
            )
            node_fs = LoopFilesystem.create(
                base / "nodefs.img", base / "kubelet", node_fs_bytes, label="evictsim-nodefs"
            )
            snapshotter = "overlayfs" if overlay_mount_works(image_fs.mountpoint) else "native"
            if snapshotter != "overlayfs":
                log.warning(
                    "overlay_probe_failed", fallback_snapshotter=snapshotter, path=str(image_fs.mountpoint)
                )
            state = base / "state"
            cni_dir = base / "cni"
            for directory in (state, cni_dir / "bin", cni_dir / "net.d", node_fs.mountpoint / "pods"):
                directory.mkdir(parents=True, exist_ok=True)
            socket_path = base / "containerd.sock"
            # The ttrpc socket adds 6 bytes, and a Unix socket path must fit in 107 bytes.
            if len(str(socket_path)) + len(".ttrpc") > MAX_SOCKET_PATH_BYTES:
                raise HarnessError(
                    f"socket path {socket_path}.ttrpc is longer than {MAX_SOCKET_PATH_BYTES} bytes; "
                    "pass a shorter base_dir or set TMPDIR to a short directory such as /tmp"
                )
            config_path = base / "config.toml"
            config_path.write_text(
                render_config(
                    root=image_fs.mountpoint,
                    state=state,
                    socket_path=socket_path,
                    snapshotter=snapshotter,
                    sandbox_image=sandbox_image,
                    cni_dir=cni_dir,
                )
            )
            node = cls(
                base_dir=base,
                socket_path=socket_path,
                root=image_fs.mountpoint,
                state=state,
                image_fs=image_fs,
                node_fs=node_fs,
                snapshotter=snapshotter,
                sandbox_image=sandbox_image,
                config_path=config_path,
                log_path=base / "containerd.log",
            )
            node._launch()
            if import_pause_image:
                import_image(node, build_pause_image(base / "images", sandbox_image))
        except BaseException:
            if node is not None:
                node.stop()
            else:
                for filesystem in (node_fs, image_fs):
                    if filesystem is not None:
                        filesystem.destroy()
                shutil.rmtree(base, ignore_errors=True)
            raise
        return node

    def _launch(self) -> None:
        with open(self.log_path, "ab") as log_file:
            # A new session keeps a terminal's Ctrl-C away from containerd, so the harness can
            # stop pods before it stops containerd.
            self.process = subprocess.Popen(
                [CONTAINERD_BINARY, "--config", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        write_owner_record(self.base_dir, containerd_pid=self.process.pid)
        log.info("containerd_started", pid=self.process.pid, socket=str(self.socket_path))
        self._wait_for_cri()

    def _wait_for_cri(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        last_error = "socket not created"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise HarnessError(
                    f"containerd exited with code {self.process.returncode} during start. "
                    f"Last lines of {self.log_path}: {self.log_tail()}"
                )
            if self.socket_path.exists():
                try:
                    self.cri_version()
                    return
                except grpc.RpcError as error:
                    last_error = f"{error.code().name}: {error.details()}"
            time.sleep(0.1)
        raise HarnessError(
            f"timed out after {START_TIMEOUT_S} s waiting for containerd to serve CRI Version "
            f"(last error: {last_error}). Last lines of {self.log_path}: {self.log_tail()}"
        )

    # --- access --------------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """The CRI endpoint URL, as the kubelet's --container-runtime-endpoint takes it."""
        return f"unix://{self.socket_path}"

    @property
    def pid(self) -> int:
        """containerd's process id."""
        if self.process is None:
            raise HarnessError("containerd is not running")
        return self.process.pid

    @property
    def image_fs_mount(self) -> Path:
        """Mountpoint of the image filesystem (containerd's root)."""
        return self.image_fs.mountpoint

    @property
    def kubelet_root(self) -> Path:
        """Mountpoint of the node filesystem, used as the kubelet root dir."""
        return self.node_fs.mountpoint

    @property
    def pod_logs_dir(self) -> Path:
        """Directory that contains the pod log files, ``<namespace>_<name>_<uid>/<container>/0.log``.

        NOTE: the kubelet writes these under /var/log/pods. The harness keeps them on the
        node filesystem's loop device instead, which is where /var/log sits on a typical node.
        """
        return self.kubelet_root / "pods"

    @property
    def cgroup_root(self) -> str:
        """Cgroup under which pods get their cgroup parent (cgroupfs driver), unique to this node."""
        return "/" + self.base_dir.name

    @property
    def snapshotter_root(self) -> Path:
        """Directory of the CRI snapshotter, which ImageFsInfo reports as its mountpoint."""
        return self.root / f"io.containerd.snapshotter.v1.{self.snapshotter}"

    def log_tail(self, lines: int = 20) -> str:
        """Return the last lines of containerd's log, joined with `` | `` for one-line errors."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return " | ".join(text.strip().splitlines()[-lines:])

    def ctr(self, *args: str, timeout_s: float = 120.0) -> str:
        """Run ``ctr --address <socket> -n k8s.io ARGS`` and return its stdout."""
        return run_command(
            [CTR_BINARY, "--address", str(self.socket_path), "-n", CRI_NAMESPACE, *args], timeout_s=timeout_s
        )

    def channel(self) -> grpc.Channel:
        """Open a new gRPC channel to the CRI socket, which the caller must close."""
        return grpc.insecure_channel(self.endpoint)

    def cri_call(
        self, method: str, request: Message, response_type: type[ResponseT], timeout_s: float = 10.0
    ) -> ResponseT:
        """Call one CRI method by name, such as ``"ImageService/ImageFsInfo"``, on a fresh channel."""
        with self.channel() as channel:
            stub: Any = channel.unary_unary(
                f"/runtime.v1.{method}",
                request_serializer=type(request).SerializeToString,
                response_deserializer=response_type.FromString,
            )
            return stub(request, timeout=timeout_s)

    def cri_version(self, timeout_s: float = 2.0) -> bytes:
        """Call CRI Version with an empty request and return the raw reply (for readiness checks)."""
        with self.channel() as channel:
            method = channel.unary_unary(
                "/runtime.v1.RuntimeService/Version",
                request_serializer=lambda payload: payload,
                response_deserializer=lambda payload: payload,
            )
            return method(b"", timeout=timeout_s)

    # --- teardown ------------------------------------------------------------------------------

    def shim_pids(self) -> list[int]:
        """Return the pids of containerd-shim processes started for this node's socket."""
        return shim_pids(self.socket_path)

    def _remove_pods_over_cri(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            with CriMutator(self.endpoint) as mutator:
                mutator.remove_all_pods()
        except Exception as error:  # noqa: BLE001 - teardown falls back to killing the shims
            log_safely("warning", "pod_cleanup_failed", error=str(error), socket=str(self.socket_path))

    def stop(self) -> None:
        """Stop pods over CRI, stop containerd and its shims by pid, unmount and delete everything.

        Each step runs even when an earlier one failed (the failure is logged), so a broken
        containerd still leaves no processes, mounts or loop devices behind.
        """
        steps = (
            ("remove_pods", self._remove_pods_over_cri),
            ("stop_processes", self._stop_processes),
            ("remove_cgroups", lambda: remove_cgroups(self.cgroup_root)),
            ("unmount", lambda: unmount_all_under(self.base_dir)),
            ("release_node_fs", self.node_fs.destroy),
            ("release_image_fs", self.image_fs.destroy),
            ("remove_base_dir", self._remove_base_dir),
        )
        for name, step in steps:
            try:
                step()
            except Exception as error:  # noqa: BLE001 - later steps must still run
                log_safely(
                    "error", "teardown_step_failed", step=name, error=str(error), base_dir=str(self.base_dir)
                )

    def _stop_processes(self) -> None:
        shims = self.shim_pids()
        if self.process is not None and self.process.poll() is None:
            terminate([self.process.pid], timeout_s=STOP_TIMEOUT_S)
            self.process.wait(timeout=STOP_TIMEOUT_S)
            log_safely("info", "containerd_stopped", pid=self.process.pid, exit_code=self.process.returncode)
        # Shims outlive containerd by design. Kill what runs in the containers first, then the shims.
        shims = sorted(set(shims) | set(self.shim_pids()))
        if shims:
            terminate(descendant_pids(shims), timeout_s=2.0)
            terminate(shims, timeout_s=STOP_TIMEOUT_S)

    def _remove_base_dir(self) -> None:
        leftover = mounts_under(self.base_dir)
        if leftover:
            # Deleting through a mount would reach files outside the node, so keep the directory.
            log_safely("error", "mounts_left_behind", mountpoints=[entry.mountpoint for entry in leftover])
            return
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
