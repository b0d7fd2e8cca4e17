"""The what-if API of ``evictsim daemon`` running against a real containerd.

The daemon runs in a subprocess with its API on a Unix socket in a temporary directory, and the
tests call it over a real gRPC channel. Expected values restate the kubelet (1.27-1.35): a
percentage threshold is int64(float64(capacity) * float64(float32(pct))) and is met only when
available is strictly below it (pkg/kubelet/eviction/helpers.go, GetThresholdQuantity and
thresholdsMet).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from google.protobuf.json_format import MessageToDict
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from harness.containerd import ContainerdNode

from simulator._proto.evictsim.v1 import evictsim_pb2 as pb
from simulator._proto.evictsim.v1 import evictsim_pb2_grpc as pb_grpc

pytestmark = pytest.mark.containerd

REPO = Path(__file__).resolve().parents[2]


class ApiDaemon:
    """``evictsim daemon`` with its API socket, stopped by pid."""

    def __init__(self, node: ContainerdNode, directory: Path) -> None:
        self.socket = directory / "evictsim.sock"
        self.log_path = directory / "daemon.log"
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "simulator", "daemon",
                "--cri-endpoint", node.endpoint,
                "--root-dir", str(node.kubelet_root),
                "--interval", "0.5",
                "--socket", f"unix://{self.socket}",
                "--history", str(directory / "history.db"),
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        self.channel: grpc.Channel | None = None

    def log_tail(self) -> str:
        return "\n".join(self.log_path.read_text().splitlines()[-20:])

    def connect(self, timeout_s: float = 60.0) -> pb_grpc.WhatIfServiceStub:
        """Wait until GetSnapshot succeeds; return a stub on the channel."""
        deadline = time.monotonic() + timeout_s
        last_error = ""
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"daemon exited with {self.process.returncode}:\n{self.log_tail()}")
            if self.socket.exists():
                if self.channel is None:
                    self.channel = grpc.insecure_channel(f"unix://{self.socket}")
                stub = pb_grpc.WhatIfServiceStub(self.channel)
                try:
                    stub.GetSnapshot(pb.GetSnapshotRequest(), timeout=2)
                    return stub
                except grpc.RpcError as error:
                    last_error = f"{error.code()}: {error.details()}"
            time.sleep(0.2)
        raise AssertionError(f"the API did not answer within {timeout_s} s ({last_error}):\n{self.log_tail()}")

    def stop(self) -> None:
        if self.channel is not None:
            self.channel.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


@pytest.fixture
def private_node(containerd_node_factory: Callable[..., ContainerdNode]) -> ContainerdNode:
    """A node of its own, because the headroom test writes into its image filesystem."""
    return containerd_node_factory()


@pytest.fixture
def daemon(private_node: ContainerdNode, tmp_path: Path) -> Iterator[ApiDaemon]:
    process = ApiDaemon(private_node, tmp_path)
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def filler_dir(private_node: ContainerdNode) -> Iterator[Path]:
    directory = private_node.image_fs_mount / "evictsim-api-filler"
    directory.mkdir()
    yield directory
    for path in directory.iterdir():
        path.unlink()
    directory.rmdir()


def newer_decision(stub: pb_grpc.WhatIfServiceStub, after_sequence: int, timeout_s: float = 20.0) -> pb.Decision:
    """Wait for a sample begun after ``after_sequence`` was published.

    The sample right after ``after_sequence`` may have started before the caller's last write,
    so this waits for the one after it. Returns that sample's decision.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        sequence = stub.GetSnapshot(pb.GetSnapshotRequest(), timeout=2).sequence
        if sequence > after_sequence + 1:
            return stub.GetDecision(pb.GetDecisionRequest(), timeout=2)
        time.sleep(0.2)
    raise AssertionError(f"no new sample after sequence {after_sequence} within {timeout_s} s")


def write_file(path: Path, size: int) -> None:
    chunk = b"\1" * (1024 * 1024)
    with path.open("wb") as handle:
        remaining = size
        while remaining > 0:
            handle.write(chunk[: min(remaining, len(chunk))])
            remaining -= min(remaining, len(chunk))
        handle.flush()
        os.fsync(handle.fileno())


def imagefs(decision: pb.Decision) -> tuple[int, int, bool]:
    """Return (observed available, threshold, met) of the hard imagefs.available threshold."""
    threshold = next(t for t in decision.thresholds if t.signal == "imagefs.available" and t.hard)
    return threshold.observed_available, threshold.threshold, threshold.met


def test_every_rpc_health_and_reflection(daemon: ApiDaemon, private_node: ContainerdNode) -> None:
    stub = daemon.connect()
    assert daemon.channel is not None
    assert oct(daemon.socket.stat().st_mode & 0o777) == oct(0o660)

    snapshot = stub.GetSnapshot(pb.GetSnapshotRequest())
    image_fs = snapshot.summary["node"]["runtime"]["imageFs"]
    capacity = os.statvfs(private_node.image_fs_mount)
    assert image_fs["capacityBytes"] == capacity.f_blocks * capacity.f_frsize

    decision = stub.GetDecision(pb.GetDecisionRequest())
    assert decision.kubelet_version
    assert list(decision.node_conditions) == []

    available, threshold, _ = imagefs(decision)
    pressure = stub.Evaluate(pb.WhatIf(filesystem_deltas=[pb.FilesystemDelta(filesystem="imagefs", used_bytes=available - threshold + 1)]))
    clear = stub.Evaluate(pb.WhatIf(filesystem_deltas=[pb.FilesystemDelta(filesystem="imagefs", used_bytes=available - threshold)]))
    if imagefs(pressure)[0] == available - (available - threshold + 1):
        assert list(pressure.node_conditions) == ["DiskPressure"]
        assert list(clear.node_conditions) == []

    headroom = stub.Headroom(pb.HeadroomRequest(signals=["imagefs.available"]))
    assert headroom.signals[0].signal == "imagefs.available"

    sweep = stub.Sweep(pb.SweepRequest(pointer="/evictionHard/imagefs.available", values=['"1%"', '"100.0%"']))
    assert [list(r.decision.node_conditions) for r in sweep.results] == [[], ["DiskPressure"]]

    explanation = stub.ExplainImageFs(pb.ExplainImageFsRequest())
    assert explanation.steps

    history = stub.GetHistory(pb.GetHistoryRequest())
    assert len(history.points) >= 1

    stream = stub.WatchDecisions(pb.WatchRequest(send_initial=True), timeout=10)
    assert next(stream).changes == ["initial decision"]
    stream.cancel()

    health = health_pb2_grpc.HealthStub(daemon.channel)
    assert health.Check(health_pb2.HealthCheckRequest(service="evictsim.v1.WhatIfService")).status == health_pb2.HealthCheckResponse.SERVING
    services = ProtoReflectionDescriptorDatabase(daemon.channel).get_services()
    assert "evictsim.v1.WhatIfService" in services


def test_bad_requests_leave_daemon_serving(daemon: ApiDaemon) -> None:
    stub = daemon.connect()
    bad = [
        pb.WhatIf(image_pulls=[pb.ImagePull(size_bytes=-1)]),
        pb.WhatIf(policy=pb.PolicyOverride(kubelet_config_patch_json=json.dumps({"evictionHrd": {}}))),
        pb.WhatIf(policy=pb.PolicyOverride(kubelet_version="7.0")),
        pb.WhatIf(policy=pb.PolicyOverride(kubelet_config_patch_json=json.dumps({"providerID": "x" * (5 * 1024 * 1024)}))),
    ]
    for request in bad:
        with pytest.raises(grpc.RpcError) as raised:
            stub.Evaluate(request, timeout=10)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT, raised.value.details()
    assert stub.GetDecision(pb.GetDecisionRequest(), timeout=2).kubelet_version
    assert daemon.process.poll() is None


def test_concurrent_what_ifs_while_sampling(daemon: ApiDaemon) -> None:
    stub = daemon.connect()
    first = stub.GetSnapshot(pb.GetSnapshotRequest()).sequence
    request = pb.WhatIf(filesystem_deltas=[pb.FilesystemDelta(filesystem="imagefs", used_bytes=1024 * 1024)])
    with futures.ThreadPoolExecutor(max_workers=25) as pool:
        responses = list(pool.map(lambda _: stub.Evaluate(request, timeout=20), range(100)))
    assert len(responses) == 100
    for response in responses:
        observed, threshold, met = imagefs(response)
        assert met == (observed < threshold)
    deadline = time.monotonic() + 10
    while stub.GetSnapshot(pb.GetSnapshotRequest()).sequence <= first and time.monotonic() < deadline:
        time.sleep(0.2)
    assert stub.GetSnapshot(pb.GetSnapshotRequest()).sequence > first


def test_headroom_predicts_threshold_within_a_block(daemon: ApiDaemon, private_node: ContainerdNode, filler_dir: Path) -> None:
    """Writing the predicted imagefs.available headroom meets the threshold; a little less does not.

    Each file may cost up to one filesystem block more than its size (ext4 metadata), so the
    first file stops two blocks short of the headroom and the second covers the rest.
    """
    stub = daemon.connect()
    block = os.statvfs(filler_dir).f_bsize
    decision = newer_decision(stub, stub.GetSnapshot(pb.GetSnapshotRequest()).sequence)
    crossing = next(
        c for c in stub.Headroom(pb.HeadroomRequest(signals=["imagefs.available"])).signals[0].crossings
        if c.event == "hard_threshold"
    )
    available, threshold, met = imagefs(decision)
    assert not met
    assert crossing.amount == available - threshold + 1

    first = (crossing.amount - 2 * block) // block * block
    write_file(filler_dir / "first", first)
    decision = newer_decision(stub, stub.GetSnapshot(pb.GetSnapshotRequest()).sequence)
    after_first, _, met = imagefs(decision)
    assert not met
    assert available - first - block <= after_first <= available - first

    second = -(-(after_first - threshold + 1) // block) * block
    write_file(filler_dir / "second", second)
    decision = newer_decision(stub, stub.GetSnapshot(pb.GetSnapshotRequest()).sequence)
    after_second, _, met = imagefs(decision)
    assert met
    assert after_first - second - block <= after_second <= after_first - second
    assert list(decision.node_conditions) == ["DiskPressure"]
    assert after_second >= threshold - 2 * block


def test_daemon_fills_every_sample_field(daemon: ApiDaemon, private_node: ContainerdNode) -> None:
    """On a real containerd the daemon publishes the imagefs chain, reclaim and its policy document.

    ExplainImageFs returns the chain `evictsim explain imagefs` prints for the same runtime and
    root dir. Headroom's eviction crossing is at or beyond the hard threshold's, because node-level
    reclaim (container GC, then image GC) frees zero or more bytes before the kubelet evicts.
    """
    stub = daemon.connect()
    cli = subprocess.run(
        [
            sys.executable, "-m", "simulator", "explain", "imagefs",
            "--cri-endpoint", private_node.endpoint, "--root-dir", str(private_node.kubelet_root), "-o", "json",
        ],
        capture_output=True, text=True, timeout=60, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, check=False,
    )
    assert cli.returncode == 0, cli.stderr
    expected = json.loads(cli.stdout)

    detail = MessageToDict(stub.ExplainImageFs(pb.ExplainImageFsRequest()).detail)
    assert [step["title"] for step in detail["steps"]] == [step["title"] for step in expected["steps"]]
    assert detail["runtimeEndpoint"] == expected["runtimeEndpoint"]
    assert detail["imageFs"].keys() == expected["imageFs"].keys()
    assert detail.get("runtimeDirs", {}).keys() == expected.get("runtimeDirs", {}).keys()

    headroom = stub.Headroom(pb.HeadroomRequest(signals=["imagefs.available"])).signals[0]
    crossings = {crossing.event: crossing for crossing in headroom.crossings}
    assert crossings["eviction"].amount >= crossings["hard_threshold"].amount

    history = stub.GetHistory(pb.GetHistoryRequest())
    document = MessageToDict(history.kubelet_config)
    assert document["kind"] == "KubeletConfiguration"
    assert "evictionHard" in document
