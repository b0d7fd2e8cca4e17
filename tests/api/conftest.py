"""Fixtures for the what-if API: a LiveState filled from a real captured Summary and a server on a Unix socket."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from simulator._proto.evictsim.v1 import evictsim_pb2_grpc as pb_grpc
from simulator.api.live import LiveState, Sample
from simulator.api.policy_adapter import load_policy
from simulator.api.server import ServerHandle, ServerOptions, start_server
from simulator.snapshot import Summary

DATA = Path(__file__).resolve().parent.parent / "data"
# A minikube node on Kubernetes 1.35 with containerd 2.2: one filesystem for everything.
REAL_SUMMARY = DATA / "real" / "summary" / "minikube-k8s1.35-containerd2.2-newrelic.json"
SAMPLED_AT = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


def load_summary(path: Path = REAL_SUMMARY) -> Summary:
    return Summary.from_json(json.loads(path.read_text()), source=str(path))


def make_sample(summary: Summary | None = None, *, config: dict | None = None, version: str = "1.35",
                sampled_at: dt.datetime = SAMPLED_AT) -> Sample:
    document = config if config is not None else {}
    return Sample(
        summary=summary if summary is not None else load_summary(),
        policy=load_policy(document, version),
        sampled_at=sampled_at,
        kubelet_config=document,
        provenance={"config": "test"},
    )


@pytest.fixture
def live() -> LiveState:
    state = LiveState()
    state.publish(make_sample())
    return state


@pytest.fixture
def api_server(live: LiveState, tmp_path: Path) -> Iterator[ServerHandle]:
    handle = start_server(live, ServerOptions(socket=f"unix://{tmp_path}/evictsim.sock", max_message_bytes=64 * 1024))
    yield handle
    handle.stop(0)


@pytest.fixture
def channel(api_server: ServerHandle) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"unix://{api_server.socket_path}") as opened:
        yield opened


@pytest.fixture
def stub(channel: grpc.Channel) -> pb_grpc.WhatIfServiceStub:
    return pb_grpc.WhatIfServiceStub(channel)
