"""The daemon on the live source: a missing runtime socket, then a fake CRI server appearing."""

from __future__ import annotations

import os
import time
from pathlib import Path

import structlog.testing

from simulator._proto.runtime.v1 import api_pb2
from simulator.cri.client import READ_ONLY_METHODS
from simulator.daemon.daemon import Daemon, DaemonSettings
from simulator.daemon.live import LiveSource
from simulator.probes.mountinfo import MountTable
from tests.fakes.fake_cri import FakeCriServer

from .helpers import FakeClock, disk_policy


def image_fs_info(mountpoint: Path) -> api_pb2.ImageFsInfoResponse:
    usage = api_pb2.FilesystemUsage(
        timestamp=time.time_ns(),
        fs_id=api_pb2.FilesystemIdentifier(mountpoint=str(mountpoint)),
        used_bytes=api_pb2.UInt64Value(value=4096),
        inodes_used=api_pb2.UInt64Value(value=1),
    )
    return api_pb2.ImageFsInfoResponse(image_filesystems=[usage])


def test_missing_socket_then_runtime_appears(tmp_path: Path) -> None:
    """One warning while the socket is missing, then recovery and a full sample once a runtime responds."""
    socket_link = tmp_path / "cri.sock"
    source = LiveSource(
        endpoint=f"unix://{socket_link}",
        timeout_s=1.0,
        root_dir=str(tmp_path),
        mount_table=MountTable.from_file("/proc/self/mountinfo"),
        node_name="test-node",
    )
    clock = FakeClock()
    with structlog.testing.capture_logs() as captured, FakeCriServer() as server:
        server.set_response("ImageFsInfo", image_fs_info(tmp_path))
        daemon = Daemon(source=source, policy=disk_policy(), clock=clock, settings=DaemonSettings(interval_s=10))
        daemon.tick()
        clock.advance(10)
        daemon.tick()

        os.symlink(server.socket_path, socket_link)
        # gRPC may hold the failed address in its reconnect backoff (about a second) for a few ticks
        deadline = time.monotonic() + 10
        while not any(entry["event"] == "runtime_recovered" for entry in captured):
            assert time.monotonic() < deadline, "the daemon did not reconnect within 10 s"
            clock.advance(10)
            daemon.tick()
            time.sleep(0.2)
        daemon.source.close()
        received = server.received

    names = [entry["event"] for entry in captured if entry.get("component") == "daemon"]
    assert names.count("runtime_unreachable") == 1
    assert names.count("runtime_still_unreachable") >= 1
    assert names.count("runtime_recovered") == 1
    assert names.count("sample_taken") == 1
    warning = next(entry for entry in captured if entry["event"] == "runtime_unreachable")
    assert str(socket_link) in warning["error"]

    # Only read-only methods reached the runtime.
    assert received
    assert all(path in READ_ONLY_METHODS for path in received), received
    sample = next(entry for entry in captured if entry["event"] == "sample_taken")
    statvfs = os.statvfs(tmp_path)
    assert sample["imagefs_capacity"] == statvfs.f_blocks * statvfs.f_frsize


def test_runtime_error_replies_then_recovery(tmp_path: Path) -> None:
    """A runtime replying UNAVAILABLE, then timing out, is one outage: one warning, one recovery."""
    import grpc

    source = LiveSource(
        timeout_s=0.5,
        root_dir=str(tmp_path),
        mount_table=MountTable.from_file("/proc/self/mountinfo"),
        endpoint=None,
    )
    clock = FakeClock()
    with structlog.testing.capture_logs() as captured, FakeCriServer() as server:
        source.endpoint = server.endpoint
        daemon = Daemon(source=source, policy=disk_policy(), clock=clock)

        server.set_error("ImageFsInfo", grpc.StatusCode.UNAVAILABLE, "runtime is restarting")
        daemon.tick()
        server.set_response("ImageFsInfo", image_fs_info(tmp_path))
        server.set_delay("ImageFsInfo", 2.0)
        clock.advance(10)
        daemon.tick()

        server.set_delay("ImageFsInfo", 0.0)
        deadline = time.monotonic() + 10
        while not any(entry["event"] == "runtime_recovered" for entry in captured):
            assert time.monotonic() < deadline, "the daemon did not recover within 10 s"
            clock.advance(10)
            daemon.tick()
            time.sleep(0.2)
        daemon.source.close()

    warnings = [entry for entry in captured if entry["event"] == "runtime_unreachable"]
    assert len(warnings) == 1
    assert "runtime is restarting" in warnings[0]["error"]
    still = [entry for entry in captured if entry["event"] == "runtime_still_unreachable"]
    assert any("timed out" in entry["error"] for entry in still)
    recovered = [entry for entry in captured if entry["event"] == "runtime_recovered"]
    assert len(recovered) == 1
    assert recovered[0]["unreachable_for_s"] >= 10


def test_tick_cri_calls_for_explanation(tmp_path: Path) -> None:
    """The imagefs explanation adds no CRI call per tick: it reuses the tick's ImageFsInfo reply,
    and Version and verbose Status are read once per image GC period."""
    source = LiveSource(
        endpoint=None,
        timeout_s=1.0,
        root_dir=str(tmp_path),
        mount_table=MountTable.from_file("/proc/self/mountinfo"),
        node_name="test-node",
        runtime_dirs_period_s=300,
    )
    clock = FakeClock()
    with FakeCriServer() as server:
        source.endpoint = server.endpoint
        server.set_response("ImageFsInfo", image_fs_info(tmp_path))
        samples = []
        for _ in range(3):
            samples.append(source.next_sample(clock()))
            clock.advance(10)
        counts_after_three = (server.count("ImageFsInfo"), server.count("Status"), server.count("Version"))
        clock.advance(300)
        source.next_sample(clock())
        counts_after_period = (server.count("Status"), server.count("Version"))
        source.close()

    assert counts_after_three == (3, 1, 1)
    assert counts_after_period == (2, 2)
    for sample in samples:
        explanation = sample.image_fs_explanation
        assert explanation is not None
        assert explanation["steps"][0]["title"] == "CRI ImageService/ImageFsInfo"
        assert "runtimeDirectories" in explanation
