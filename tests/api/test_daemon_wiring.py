"""The daemon publishing to the what-if API: every Sample field the API reads, queried over the Unix socket.

The daemon runs in this process on a fake CRI runtime (images, an imagefs on the test's own
directory) or on a list of Summaries, ticked by hand with a fake clock. Requests go through a
real gRPC channel to the server on a Unix socket in the test's directory.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import structlog.testing
from google.protobuf.json_format import MessageToDict

from simulator._proto.evictsim.v1 import evictsim_pb2 as pb
from simulator._proto.evictsim.v1 import evictsim_pb2_grpc as pb_grpc
from simulator._proto.runtime.v1 import api_pb2
from simulator.api.live import LiveState
from simulator.api.server import ServerHandle, ServerOptions, start_server
from simulator.cri.client import CriClient
from simulator.daemon.daemon import Daemon, DaemonSettings
from simulator.daemon.live import LiveSource
from simulator.errors import RuntimeUnavailableError
from simulator.explain import explain_image_fs
from simulator.policy.model import ImageGCPolicy, Threshold, ThresholdValue
from simulator.probes.fsinfo import FsInfoProbe
from simulator.probes.mountinfo import MountTable
from simulator.signals import Signal
from tests.daemon.helpers import GIB, T0, FakeClock, ListSource, disk_policy, node_summary
from tests.fakes.fake_cri import FakeCriServer

MIB = 1024**2
# Two unused images the fake runtime lists; no container uses them.
IMAGE_SIZES = (300 * MIB, 200 * MIB)
KUBELET_CONFIG = {
    "apiVersion": "kubelet.config.k8s.io/v1beta1",
    "kind": "KubeletConfiguration",
    "evictionHard": {"nodefs.available": "10%", "imagefs.available": "15%"},
    "imageMinimumGCAge": "0s",
}


@dataclasses.dataclass
class Running:
    daemon: Daemon
    live: LiveState
    server: ServerHandle
    stub: pb_grpc.WhatIfServiceStub
    clock: FakeClock


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[callable]:
    """Start a daemon on ``source`` with a server on a Unix socket; stop both at the end."""
    started: list[tuple[ServerHandle, grpc.Channel, Daemon]] = []

    def start(source: object, policy: object, *, kubelet_config: dict | None = None, timeout_s: float = 10.0) -> Running:
        live = LiveState()
        clock = FakeClock()
        daemon = Daemon(
            source=source, policy=policy, clock=clock, live_state=live,
            settings=DaemonSettings(interval_s=10), kubelet_config=kubelet_config,
        )
        server = start_server(
            live, ServerOptions(socket=f"unix://{tmp_path}/api-{len(started)}.sock", request_timeout=timeout_s)
        )
        channel = grpc.insecure_channel(f"unix://{server.socket_path}")
        started.append((server, channel, daemon))
        return Running(daemon, live, server, pb_grpc.WhatIfServiceStub(channel), clock)

    # Log events go to a list, so the daemon's logger never writes to a stream an earlier test closed.
    with structlog.testing.capture_logs():
        yield start
    for server, channel, daemon in started:
        channel.close()
        server.stop(0)
        daemon.source.close()


def image_fs_info(mountpoint: Path) -> api_pb2.ImageFsInfoResponse:
    usage = api_pb2.FilesystemUsage(
        timestamp=1_767_000_000_000_000_000,
        fs_id=api_pb2.FilesystemIdentifier(mountpoint=str(mountpoint)),
        used_bytes=api_pb2.UInt64Value(value=sum(IMAGE_SIZES)),
        inodes_used=api_pb2.UInt64Value(value=2),
    )
    return api_pb2.ImageFsInfoResponse(image_filesystems=[usage])


@pytest.fixture
def fake_runtime(tmp_path: Path) -> Iterator[FakeCriServer]:
    with FakeCriServer() as server:
        server.set_response("ImageFsInfo", image_fs_info(tmp_path))
        server.set_response(
            "ListImages",
            api_pb2.ListImagesResponse(
                images=[
                    api_pb2.Image(id=f"sha256:{index:064x}", repo_tags=[f"registry.test/app:{index}"], size=size)
                    for index, size in enumerate(IMAGE_SIZES)
                ]
            ),
        )
        yield server


def live_source(server: FakeCriServer, root_dir: Path) -> LiveSource:
    return LiveSource(
        endpoint=server.endpoint,
        timeout_s=2.0,
        root_dir=str(root_dir),
        mount_table=MountTable.from_file("/proc/self/mountinfo"),
        node_name="worker-1",
    )


def gc_policy() -> object:
    """The default disk thresholds with imageMinimumGCAge 0, so image GC may delete images detected now."""
    return disk_policy(image_gc=ImageGCPolicy(minimum_gc_age_s=0))


class TestFakeRuntime:
    def test_reclaimable_bytes_count_unused_images(self, serve, fake_runtime, tmp_path: Path) -> None:
        """Node-level reclaim frees every unused image older than imageMinimumGCAge (kubelet
        pkg/kubelet/images/image_gc_manager.go, freeSpace: images not in use by any container).
        On a single filesystem both nodefs.available and imagefs.available get those bytes."""
        running = serve(live_source(fake_runtime, tmp_path), gc_policy())
        running.daemon.tick()
        sample = running.live.read()

        assert sample is not None
        assert sample.reclaimer is not None
        assert sample.reclaimable_bytes is not None
        assert sample.reclaimable_bytes[Signal.IMAGEFS_AVAILABLE] == sum(IMAGE_SIZES)
        assert sample.reclaimable_bytes[Signal.NODEFS_AVAILABLE] == sum(IMAGE_SIZES)

    def test_headroom_eviction_adds_reclaim(self, serve, fake_runtime, tmp_path: Path) -> None:
        """The first eviction comes when available - x + R < threshold, with R what image GC frees
        (kubelet eviction_manager.go synchronize: reclaimNodeLevelResources before evicting)."""
        running = serve(live_source(fake_runtime, tmp_path), gc_policy())
        running.daemon.tick()

        response = running.stub.Headroom(pb.HeadroomRequest(signals=["imagefs.available"]))
        entry = response.signals[0]
        crossings = {c.event: c for c in entry.crossings}
        hard = crossings["hard_threshold"]
        eviction = crossings["eviction"]
        assert eviction.amount == hard.amount + sum(IMAGE_SIZES)

    def test_evaluate_reclaims_instead_of_evicting(self, serve, fake_runtime, tmp_path: Path) -> None:
        """Usage that crosses the imagefs threshold by less than the unused images is relieved by
        node-level reclaim, so the kubelet evicts no pod."""
        running = serve(live_source(fake_runtime, tmp_path), gc_policy())
        running.daemon.tick()
        headroom = running.stub.Headroom(pb.HeadroomRequest(signals=["imagefs.available"])).signals[0]
        crossing = next(c for c in headroom.crossings if c.event == "hard_threshold")

        request = pb.WhatIf(include_detail=True)
        request.filesystem_deltas.add(filesystem="imagefs", used_bytes=crossing.amount + MIB)
        decision = running.stub.Evaluate(request)

        assert "imagefs.available" in decision.signals_met
        engine = MessageToDict(decision.detail)["engine"]
        assert engine["reclaim"] is not None
        assert any("node-level reclaim relieves" in note for note in engine["notes"])
        assert list(decision.victims) == []

    def test_explain_imagefs_matches_cli_chain(self, serve, fake_runtime, tmp_path: Path) -> None:
        """ExplainImageFs returns the chain of `evictsim explain imagefs` on the same runtime."""
        running = serve(live_source(fake_runtime, tmp_path), gc_policy())
        running.daemon.tick()
        cri = CriClient(fake_runtime.endpoint, timeout_s=2.0)
        try:
            expected = explain_image_fs(
                cri, FsInfoProbe(MountTable.from_file("/proc/self/mountinfo")), root_dir=str(tmp_path)
            ).to_json()
        finally:
            cri.close()

        response = running.stub.ExplainImageFs(pb.ExplainImageFsRequest())
        detail = MessageToDict(response.detail)
        assert [s["title"] for s in detail["steps"]] == [s["title"] for s in expected["steps"]]
        assert detail["steps"][1]["values"] == expected["steps"][1]["values"]
        assert detail["imageFs"]["usedBytes"] == sum(IMAGE_SIZES)
        assert len(response.steps) == len(expected["steps"])
        assert response.steps[0].step.startswith("1. CRI ImageService/ImageFsInfo")

    def test_runtime_error_counted_in_metrics(self, serve, fake_runtime, tmp_path: Path) -> None:
        """A runtime that replies UNAVAILABLE is counted in evictsim_runtime_errors_total."""
        running = serve(live_source(fake_runtime, tmp_path), gc_policy())
        fake_runtime.set_error("ImageFsInfo", grpc.StatusCode.UNAVAILABLE, "runtime is restarting")
        running.daemon.tick()

        registry = running.server.metrics.registry
        value = registry.get_sample_value("evictsim_runtime_errors_total", {"kind": "cri_unavailable"})
        assert value == 1.0


class TestListSource:
    def test_runtime_unavailable_counted(self, serve) -> None:
        source = ListSource([RuntimeUnavailableError("socket missing"), RuntimeUnavailableError("socket missing")])
        running = serve(source, disk_policy())
        running.daemon.tick()
        running.daemon.tick()

        value = running.server.metrics.registry.get_sample_value(
            "evictsim_runtime_errors_total", {"kind": "cri_unavailable"}
        )
        assert value == 2.0

    def test_kubelet_config_reaches_sweep(self, serve) -> None:
        """GetHistory returns the daemon's KubeletConfiguration, and Sweep patches that document."""
        # imagefs 14 % available: met under the file's 15 %, not under a swept 10 %
        summary = node_summary(T0, imagefs_available=int(10 * GIB * 0.14))
        from simulator.api.policy_adapter import load_policy

        running = serve(ListSource([summary]), load_policy(KUBELET_CONFIG, "1.35"), kubelet_config=KUBELET_CONFIG)
        running.daemon.tick()

        history = running.stub.GetHistory(pb.GetHistoryRequest())
        document = MessageToDict(history.kubelet_config)
        assert document == KUBELET_CONFIG

        sweep = running.stub.Sweep(pb.SweepRequest(pointer="/evictionHard/imagefs.available", values=["15%", "10%"]))
        assert "imagefs.available" in sweep.results[0].decision.signals_met
        assert "imagefs.available" not in sweep.results[1].decision.signals_met
        # the swept document keeps the file's other fields: nodefs.available stays 10 %, not a default
        thresholds = {t.signal: t.value for t in sweep.results[1].decision.thresholds}
        assert thresholds.get("nodefs.available") == "10%"


class TestLiveManagerState:
    """What-ifs continue from a copy of the daemon's eviction-manager state."""

    def test_disk_pressure_kept_in_transition_period(self, serve) -> None:
        """After the node recovers, DiskPressure stays True while now - lastObserved <
        evictionPressureTransitionPeriod (kubelet eviction/helpers.go nodeConditionsObservedSince;
        default 5m0s), and a what-if that changes nothing reports the same."""
        low = node_summary(T0, imagefs_available=1 * GIB)  # 10 % of 10 GiB: below 15 %
        recovered_at = T0 + dt.timedelta(seconds=10)
        recovered = node_summary(recovered_at, imagefs_available=5 * GIB)
        later_at = T0 + dt.timedelta(seconds=300)
        later = node_summary(later_at, imagefs_available=5 * GIB)
        running = serve(ListSource([low, recovered, later]), disk_policy())

        running.daemon.tick()
        running.clock.advance(10)
        running.daemon.tick()
        live_before = running.live.read()
        assert live_before is not None
        state_before = dataclasses.replace(live_before.manager_state)

        decision = running.stub.Evaluate(pb.WhatIf())
        assert list(decision.signals_met) == []
        assert "DiskPressure" in decision.node_conditions
        # the live state is unchanged by the what-if
        assert running.live.read().manager_state == state_before

        # 300 s after the last observation the transition period is over
        running.clock.advance(290)
        running.daemon.tick()
        assert "DiskPressure" not in running.stub.Evaluate(pb.WhatIf()).node_conditions

    def test_fresh_state_would_drop_condition(self, serve) -> None:
        """Without the daemon's state the same what-if reports no DiskPressure, which is why it is wired."""
        low = node_summary(T0, imagefs_available=1 * GIB)
        recovered = node_summary(T0 + dt.timedelta(seconds=10), imagefs_available=5 * GIB)
        running = serve(ListSource([low, recovered]), disk_policy())
        running.daemon.tick()
        running.clock.advance(10)
        running.daemon.tick()

        sample = running.live.read()
        running.live.publish(dataclasses.replace(sample, manager_state=None, node_conditions=None))
        assert "DiskPressure" not in running.stub.Evaluate(pb.WhatIf()).node_conditions

    def test_soft_grace_period_keeps_running(self, serve) -> None:
        """A soft threshold met for 50 s of a 60 s grace period acts after one more 10 s sync
        (kubelet eviction/helpers.go thresholdsMetGracePeriod: now - firstObserved >= grace period)."""
        soft = Threshold(Signal.IMAGEFS_AVAILABLE, ThresholdValue(quantity=None, percentage=0.2), grace_period_s=60)
        policy = disk_policy()
        policy = dataclasses.replace(policy, thresholds=(*policy.thresholds, soft))
        summaries = [
            node_summary(T0 + dt.timedelta(seconds=offset), imagefs_available=int(1.8 * GIB)) for offset in (0, 50)
        ]
        running = serve(ListSource(summaries), policy)
        running.daemon.tick()
        running.clock.advance(50)
        running.daemon.tick()

        request = pb.WhatIf()
        request.future.syncs = 1
        request.future.interval_s = 10
        decision = running.stub.Evaluate(request)
        assert decision.reclaim_signal == "imagefs.available"

        # from a fresh state the grace period would start at the what-if's first pass
        sample = running.live.read()
        running.live.publish(dataclasses.replace(sample, manager_state=None))
        assert running.stub.Evaluate(request).reclaim_signal == ""


    def test_running_grace_period_acts_now(self, serve) -> None:
        """A soft threshold met for 70 s of a 60 s grace period is actionable on the next sync even
        without future passes (kubelet thresholdsMetGracePeriod), so a what-if that changes
        nothing reports its reclaim signal."""
        soft = Threshold(Signal.IMAGEFS_AVAILABLE, ThresholdValue(quantity=None, percentage=0.2), grace_period_s=60)
        policy = disk_policy()
        policy = dataclasses.replace(policy, thresholds=(*policy.thresholds, soft))
        summaries = [
            node_summary(T0 + dt.timedelta(seconds=offset), imagefs_available=int(1.8 * GIB)) for offset in (0, 70)
        ]
        running = serve(ListSource(summaries), policy)
        running.daemon.tick()
        running.clock.advance(70)
        running.daemon.tick()

        decision = running.stub.Evaluate(pb.WhatIf())

        assert decision.reclaim_signal == "imagefs.available"
        assert "DiskPressure" in decision.node_conditions

    def test_shortcut_matches_engine_pass(self, serve) -> None:
        """The conditions-only shortcut reports the same node conditions as the engine's full pass."""
        from simulator.api.whatif import WhatIfSpec, _with_engine_pass, apply_what_if

        low = node_summary(T0, imagefs_available=1 * GIB)
        recovered = node_summary(T0 + dt.timedelta(seconds=10), imagefs_available=5 * GIB)
        running = serve(ListSource([low, recovered]), disk_policy())
        running.daemon.tick()
        running.clock.advance(10)
        running.daemon.tick()
        sample = running.live.read()

        shortcut = apply_what_if(sample, WhatIfSpec()).decision
        full = _with_engine_pass(shortcut, sample, sample.summary, (), sample.policy, sample.layout, 0.0)

        assert shortcut.engine is None
        assert shortcut.node_conditions == ("DiskPressure",)
        assert full.node_conditions == shortcut.node_conditions
        assert full.reclaim_signal is None


class TestRequestTimeout:
    RPCS = (
        ("GetSnapshot", pb.GetSnapshotRequest()),
        ("GetDecision", pb.GetDecisionRequest()),
        ("Evaluate", pb.WhatIf()),
        ("Headroom", pb.HeadroomRequest()),
        ("ExplainImageFs", pb.ExplainImageFsRequest()),
        ("GetHistory", pb.GetHistoryRequest()),
        ("Sweep", pb.SweepRequest(pointer="/evictionHard/imagefs.available", values=["10%"])),
    )

    @pytest.mark.parametrize(("rpc", "request_message"), RPCS, ids=[name for name, _ in RPCS])
    def test_tiny_timeout_exceeded(self, serve, rpc: str, request_message: object) -> None:
        """Every unary RPC returns DEADLINE_EXCEEDED, naming the timeout, when it runs longer than that."""
        running = serve(ListSource([node_summary(T0, imagefs_available=5 * GIB)]), disk_policy(), timeout_s=1e-9)
        running.daemon.tick()

        with pytest.raises(grpc.RpcError) as raised:
            getattr(running.stub, rpc)(request_message, timeout=10)
        assert raised.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
        assert f"{rpc} exceeded the request timeout of 1e-09 s" in raised.value.details()

    def test_ordinary_timeout_passes(self, serve) -> None:
        running = serve(ListSource([node_summary(T0, imagefs_available=5 * GIB)]), disk_policy())
        running.daemon.tick()
        started = time.monotonic()
        assert running.stub.GetDecision(pb.GetDecisionRequest(), timeout=10).kubelet_version == "1.35"
        assert time.monotonic() - started < 10
