"""The WhatIfService over a real gRPC channel on a Unix socket, against a real captured Summary."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import stat
import threading
from concurrent import futures
from fractions import Fraction

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from simulator._proto.evictsim.v1 import evictsim_pb2 as pb
from simulator._proto.evictsim.v1 import evictsim_pb2_grpc as pb_grpc
from simulator.api.live import LiveState
from simulator.api.server import ServerHandle
from simulator.policy.model import ThresholdValue, round_to_float32, threshold_quantity
from tests.api.conftest import SAMPLED_AT, load_summary, make_sample

SUMMARY = load_summary()
IMAGEFS = SUMMARY.node.image_fs
assert IMAGEFS is not None
assert IMAGEFS.available_bytes is not None
assert IMAGEFS.capacity_bytes is not None
# Kubernetes 1.35 default: imagefs.available<15% (pkg/kubelet/eviction/defaults_linux.go).
IMAGEFS_HARD = threshold_quantity(ThresholdValue(percentage=round_to_float32(Fraction(15, 100))), IMAGEFS.capacity_bytes)
# Bytes to write so that imagefs.available becomes exactly one byte below the threshold.
TO_PRESSURE = IMAGEFS.available_bytes - IMAGEFS_HARD + 1


def imagefs_write(used_bytes: int) -> pb.WhatIf:
    return pb.WhatIf(filesystem_deltas=[pb.FilesystemDelta(filesystem="imagefs", used_bytes=used_bytes)])


def test_socket_mode(api_server: ServerHandle) -> None:
    """The socket is created with mode 0660."""
    assert api_server.socket_path is not None
    assert stat.S_IMODE(os.stat(api_server.socket_path).st_mode) == 0o660


def test_get_snapshot(stub: pb_grpc.WhatIfServiceStub) -> None:
    snapshot = stub.GetSnapshot(pb.GetSnapshotRequest())
    assert snapshot.node_name == SUMMARY.node.node_name
    assert snapshot.summary["node"]["runtime"]["imageFs"]["capacityBytes"] == IMAGEFS.capacity_bytes
    assert snapshot.sampled_at == "2026-01-01T12:00:00Z"
    assert snapshot.age_s > 0
    assert snapshot.sequence == 1
    assert snapshot.provenance["inputs.config"]["source"] == "test"


def test_get_decision_live(stub: pb_grpc.WhatIfServiceStub) -> None:
    decision = stub.GetDecision(pb.GetDecisionRequest())
    assert list(decision.node_conditions) == []
    imagefs = next(t for t in decision.thresholds if t.signal == "imagefs.available")
    assert imagefs.threshold == IMAGEFS_HARD
    assert imagefs.value == "15%"
    assert decision.detail["kubeletVersion"] == "1.35"


def test_evaluate_flips_disk_pressure_at_exact_byte(stub: pb_grpc.WhatIfServiceStub) -> None:
    """One byte less than the boundary leaves the node clear; the boundary sets DiskPressure."""
    below = stub.Evaluate(imagefs_write(TO_PRESSURE - 1))
    assert list(below.node_conditions) == []
    at = stub.Evaluate(imagefs_write(TO_PRESSURE))
    assert list(at.node_conditions) == ["DiskPressure"]
    assert "imagefs.available" in at.signals_met
    assert at.reclaim_signal in ("imagefs.available", "nodefs.available")
    assert len(at.victims) == 1


def test_evaluate_freeing_clears_pressure(live: LiveState, stub: pb_grpc.WhatIfServiceStub) -> None:
    """A live sample under DiskPressure clears when a what-if frees exactly enough bytes."""
    summary = load_summary()
    pressed = dataclasses.replace(IMAGEFS, available_bytes=IMAGEFS_HARD - 10)
    summary.node = dataclasses.replace(summary.node, image_fs=pressed)
    live.publish(make_sample(summary))
    assert list(stub.GetDecision(pb.GetDecisionRequest()).node_conditions) == ["DiskPressure"]
    assert list(stub.Evaluate(imagefs_write(-9)).node_conditions) == ["DiskPressure"]
    assert list(stub.Evaluate(imagefs_write(-10)).node_conditions) == []


def test_evaluate_policy_patch(stub: pb_grpc.WhatIfServiceStub) -> None:
    """Raising imagefs.available to 90 % puts this node (16 % used) under DiskPressure."""
    patch = json.dumps({"evictionHard": {"imagefs.available": "90%"}})
    decision = stub.Evaluate(pb.WhatIf(policy=pb.PolicyOverride(kubelet_config_patch_json=patch)))
    assert list(decision.node_conditions) == ["DiskPressure"]


def test_evaluate_never_changes_live_state(live: LiveState, stub: pb_grpc.WhatIfServiceStub) -> None:
    before = live.read()
    stub.Evaluate(imagefs_write(TO_PRESSURE))
    assert live.read() is before
    assert before is not None and before.summary.node.image_fs.available_bytes == IMAGEFS.available_bytes
    assert list(stub.GetDecision(pb.GetDecisionRequest()).node_conditions) == []


def test_headroom_matches_evaluate(stub: pb_grpc.WhatIfServiceStub) -> None:
    """Writing the headroom amount sets DiskPressure; one byte less does not."""
    response = stub.Headroom(pb.HeadroomRequest(signals=["imagefs.available"]))
    (entry,) = response.signals
    hard = next(c for c in entry.crossings if c.event == "hard_threshold")
    assert hard.amount == TO_PRESSURE
    assert list(stub.Evaluate(imagefs_write(hard.amount)).node_conditions) == ["DiskPressure"]
    assert list(stub.Evaluate(imagefs_write(hard.amount - 1)).node_conditions) == []
    assert entry.trend.verdict == "too_short"


def test_headroom_time_from_given_rate(stub: pb_grpc.WhatIfServiceStub) -> None:
    response = stub.Headroom(pb.HeadroomRequest(signals=["imagefs.available"], rate_per_second={"imagefs.available": 1e6}))
    hard = next(c for c in response.signals[0].crossings if c.event == "hard_threshold")
    assert response.signals[0].trend.verdict == "given"
    assert hard.seconds == pytest.approx(TO_PRESSURE / 1e6)


def test_headroom_trend_from_history(live: LiveState, stub: pb_grpc.WhatIfServiceStub) -> None:
    """Samples shrinking by 1 MB/s over 10 minutes give an "ok" trend at that rate."""
    for step in range(1, 61):
        summary = load_summary()
        summary.node = dataclasses.replace(
            summary.node, image_fs=dataclasses.replace(IMAGEFS, available_bytes=IMAGEFS.available_bytes - step * 10_000_000)
        )
        live.publish(make_sample(summary, sampled_at=SAMPLED_AT + dt.timedelta(seconds=10 * step)))
    response = stub.Headroom(pb.HeadroomRequest(signals=["imagefs.available"], window_s=3600))
    trend = response.signals[0].trend
    assert trend.verdict == "ok"
    assert trend.rate_per_second == pytest.approx(1_000_000, rel=1e-9)


def test_sweep_imagefs_threshold(stub: pb_grpc.WhatIfServiceStub) -> None:
    """Each candidate sets DiskPressure exactly when available < its resolved threshold."""
    values = {'"15%"': 15, '"83%"': 83, '"84%"': 84, '"85%"': 85, "90%": 90}
    response = stub.Sweep(pb.SweepRequest(pointer="/evictionHard/imagefs.available", values=list(values)))
    assert [r.value for r in response.results] == list(values)
    for result in response.results:
        percentage = round_to_float32(Fraction(values[result.value], 100))
        threshold = threshold_quantity(ThresholdValue(percentage=percentage), IMAGEFS.capacity_bytes)
        expected = ["DiskPressure"] if IMAGEFS.available_bytes < threshold else []
        assert list(result.decision.node_conditions) == expected, result.value
    assert list(response.results[0].decision.node_conditions) == []
    assert list(response.results[-1].decision.node_conditions) == ["DiskPressure"]


def test_explain_imagefs(stub: pb_grpc.WhatIfServiceStub) -> None:
    explanation = stub.ExplainImageFs(pb.ExplainImageFsRequest())
    steps = {s.step: s.value for s in explanation.steps}
    assert steps["node.runtime.imageFs.capacityBytes"] == str(IMAGEFS.capacity_bytes)
    assert steps["layout"] == "single"
    assert steps["threshold imagefs.available<15%"].startswith(str(IMAGEFS_HARD))


def test_watch_decisions_streams_changes(live: LiveState, channel: grpc.Channel) -> None:
    stub = pb_grpc.WhatIfServiceStub(channel)
    stream = stub.WatchDecisions(pb.WatchRequest(send_initial=True), timeout=10)
    first = next(stream)
    assert first.changes == ["initial decision"]

    summary = load_summary()
    summary.node = dataclasses.replace(summary.node, image_fs=dataclasses.replace(IMAGEFS, available_bytes=IMAGEFS_HARD - 1))
    live.publish(make_sample(summary))
    change = next(stream)
    assert "DiskPressure: false -> true" in change.changes
    assert list(change.decision.node_conditions) == ["DiskPressure"]
    stream.cancel()


def test_health_and_reflection(channel: grpc.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    assert health.Check(health_pb2.HealthCheckRequest()).status == health_pb2.HealthCheckResponse.SERVING
    assert health.Check(health_pb2.HealthCheckRequest(service="evictsim.v1.WhatIfService")).status == (
        health_pb2.HealthCheckResponse.SERVING
    )
    database = ProtoReflectionDescriptorDatabase(channel)
    services = database.get_services()
    assert "evictsim.v1.WhatIfService" in services
    assert "grpc.health.v1.Health" in services
    descriptor = database.FindFileContainingSymbol("evictsim.v1.WhatIfService")
    assert descriptor.package == "evictsim.v1"


BAD_REQUESTS = [
    (imagefs_write(0).__class__(image_pulls=[pb.ImagePull(size_bytes=-1)]), "image_pulls[0].size_bytes: -1"),
    (pb.WhatIf(filesystem_deltas=[pb.FilesystemDelta(filesystem="rootfs", used_bytes=1)]), "filesystem_deltas[0].filesystem: unknown filesystem 'rootfs'"),
    (pb.WhatIf(policy=pb.PolicyOverride(kubelet_config_patch_json='{"evictionHrd": {}}')), "unknown KubeletConfiguration field 'evictionHrd'"),
    (pb.WhatIf(policy=pb.PolicyOverride(kubelet_config_patch_json='{"evictionHard": {"imagefs.avail": "10%"}}')), "imagefs.avail"),
    (pb.WhatIf(policy=pb.PolicyOverride(kubelet_config_patch_json="[1]")), "expected a JSON object"),
    (pb.WhatIf(policy=pb.PolicyOverride(kubelet_version="1.999")), "policy.kubelet_version: "),
    (pb.WhatIf(future=pb.FutureSyncs(syncs=-3)), "future.syncs: -3"),
    (pb.WhatIf(pod_changes=[pb.PodChange(kind=pb.PodChange.REMOVE, pod="default/nope")]), "pod 'default/nope' not found"),
    (imagefs_write(-(IMAGEFS.capacity_bytes)), "more than the capacity"),
]


@pytest.mark.parametrize(("request_message", "expected"), BAD_REQUESTS)
def test_bad_requests_invalid_argument(stub: pb_grpc.WhatIfServiceStub, request_message: pb.WhatIf, expected: str) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        stub.Evaluate(request_message)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert expected in raised.value.details()
    assert stub.GetDecision(pb.GetDecisionRequest()).kubelet_version == "1.35"


def test_oversized_request_invalid_argument(stub: pb_grpc.WhatIfServiceStub) -> None:
    """A request over --max-message-bytes (64 KiB here) is rejected with its size named."""
    huge = pb.WhatIf(policy=pb.PolicyOverride(kubelet_config_patch_json=json.dumps({"providerID": "x" * 70_000})))
    with pytest.raises(grpc.RpcError) as raised:
        stub.Evaluate(huge)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "exceeds the maximum message size of 65536 bytes" in raised.value.details()
    assert stub.GetSnapshot(pb.GetSnapshotRequest()).sequence >= 1


def test_bad_sweep_pointer(stub: pb_grpc.WhatIfServiceStub) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        stub.Sweep(pb.SweepRequest(pointer="evictionHard/imagefs.available", values=['"10%"']))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "pointer" in raised.value.details()


def test_bad_headroom_signal(stub: pb_grpc.WhatIfServiceStub) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        stub.Headroom(pb.HeadroomRequest(signals=["imagefs.avail"]))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "signals[0]: unknown signal 'imagefs.avail'" in raised.value.details()


def test_no_sample_unavailable(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from simulator.api.server import ServerOptions, start_server

    handle = start_server(LiveState(), ServerOptions(socket=f"unix://{tmp_path}/empty.sock"))
    try:
        with grpc.insecure_channel(f"unix://{handle.socket_path}") as channel, pytest.raises(grpc.RpcError) as raised:
            pb_grpc.WhatIfServiceStub(channel).GetDecision(pb.GetDecisionRequest())
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        handle.stop(0)


def test_concurrent_what_ifs_while_publishing(live: LiveState, stub: pb_grpc.WhatIfServiceStub) -> None:
    """100 concurrent what-ifs each read one whole sample, never a mix of two.

    The publisher alternates the imagefs available amount between two values. A what-if writing
    TO_PRESSURE bytes is under DiskPressure on the first and clear on the second, and each
    response's condition must match the available amount that the same response reports.
    """
    stop = threading.Event()

    def publish() -> None:
        toggle = False
        while not stop.is_set():
            summary = load_summary()
            available = IMAGEFS.available_bytes + (10**9 if toggle else 0)
            summary.node = dataclasses.replace(summary.node, image_fs=dataclasses.replace(IMAGEFS, available_bytes=available))
            live.publish(make_sample(summary))
            toggle = not toggle

    publisher = threading.Thread(target=publish)
    publisher.start()
    try:
        with futures.ThreadPoolExecutor(max_workers=32) as pool:
            responses = list(pool.map(lambda _: stub.Evaluate(imagefs_write(TO_PRESSURE)), range(100)))
    finally:
        stop.set()
        publisher.join()
    assert len(responses) == 100
    for response in responses:
        observed = next(o for o in response.observations if o.signal == "imagefs.available")
        expected_pressure = observed.available < IMAGEFS_HARD
        assert (list(response.node_conditions) == ["DiskPressure"]) == expected_pressure
        assert observed.available in (IMAGEFS.available_bytes - TO_PRESSURE, IMAGEFS.available_bytes + 10**9 - TO_PRESSURE)
    latest = live.read()
    assert latest is not None
    assert latest.sequence > 1


def test_live_conditions_come_from_daemon(live: LiveState, stub: pb_grpc.WhatIfServiceStub) -> None:
    """A condition the daemon still reports inside the pressure transition period is kept."""
    sample = make_sample()
    engine_decision = {"evictions": [{"pod": "default/web", "signal": "imagefs.available", "reason": "Evicted", "message": "low on ephemeral-storage"}]}
    live.publish(dataclasses.replace(sample, node_conditions=("DiskPressure",), decision=engine_decision))
    decision = stub.GetDecision(pb.GetDecisionRequest())
    assert list(decision.node_conditions) == ["DiskPressure"]
    assert list(decision.signals_met) == []
    assert [v.pod for v in decision.victims] == ["default/web"]
    assert decision.detail["engine"]["evictions"][0]["pod"] == "default/web"
