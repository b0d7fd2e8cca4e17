"""The CRI client cannot send a mutating call: it has read methods only, and its channel
interceptor rejects every method path outside READ_ONLY_METHODS before anything is sent.

The mutating methods are those of runtime.v1 RuntimeService and ImageService that change
runtime state, start processes or open streams (kubernetes/cri-api pkg/apis/runtime/v1/api.proto).
"""

from __future__ import annotations

import inspect

import grpc
import pytest

from simulator._proto.runtime.v1 import api_pb2
from simulator.cri.client import (
    READ_ONLY_METHODS,
    CriClient,
    MutatingCallRejectedError,
    open_channel,
)
from tests.fakes.fake_cri import FakeCriServer, make_fake_cri_fixture

fake_cri = make_fake_cri_fixture()

MUTATING_METHODS = [
    "/runtime.v1.RuntimeService/RunPodSandbox",
    "/runtime.v1.RuntimeService/StopPodSandbox",
    "/runtime.v1.RuntimeService/RemovePodSandbox",
    "/runtime.v1.RuntimeService/CreateContainer",
    "/runtime.v1.RuntimeService/StartContainer",
    "/runtime.v1.RuntimeService/StopContainer",
    "/runtime.v1.RuntimeService/RemoveContainer",
    "/runtime.v1.RuntimeService/UpdateContainerResources",
    "/runtime.v1.RuntimeService/UpdatePodSandboxResources",
    "/runtime.v1.RuntimeService/ReopenContainerLog",
    "/runtime.v1.RuntimeService/ExecSync",
    "/runtime.v1.RuntimeService/Exec",
    "/runtime.v1.RuntimeService/Attach",
    "/runtime.v1.RuntimeService/PortForward",
    "/runtime.v1.RuntimeService/UpdateRuntimeConfig",
    "/runtime.v1.RuntimeService/CheckpointContainer",
    "/runtime.v1.RuntimeService/CheckpointPod",
    "/runtime.v1.RuntimeService/RestorePod",
    "/runtime.v1.ImageService/PullImage",
    "/runtime.v1.ImageService/RemoveImage",
]

# Read-only upstream methods outside the allowlist are rejected too: the list is an allowlist.
OTHER_UNLISTED_METHODS = [
    "/runtime.v1.RuntimeService/GetContainerEvents",
    "/runtime.v1.RuntimeService/ContainerStats",
    "/runtime.v1.RuntimeService/PodSandboxStatus",
    "/runtime.v1alpha2.RuntimeService/Version",
]

# Public read method of CriClient -> arguments for one call.
PUBLIC_READ_METHODS = {
    "version": (),
    "status": (),
    "image_fs_info": (),
    "list_images": (),
    "image_status": ("docker.io/library/busybox:latest",),
    "list_pod_sandboxes": (),
    "list_containers": (),
    "container_status": ("0123abcd",),
    "list_container_stats": (),
    "list_pod_sandbox_stats": (),
}


def identity(data: bytes) -> bytes:
    return data


def public_methods() -> set[str]:
    return {
        name
        for name, member in inspect.getmembers(CriClient, predicate=inspect.isfunction)
        if not name.startswith("_")
    }


def test_client_exposes_only_read_methods_and_close() -> None:
    assert public_methods() == set(PUBLIC_READ_METHODS) | {"close"}


def test_allowlist_contains_no_mutating_method() -> None:
    assert READ_ONLY_METHODS.isdisjoint(MUTATING_METHODS)


@pytest.mark.parametrize("name", sorted(PUBLIC_READ_METHODS))
def test_public_method_sends_one_allowlisted_call(fake_cri: FakeCriServer, name: str) -> None:
    with CriClient(fake_cri.endpoint) as client:
        getattr(client, name)(*PUBLIC_READ_METHODS[name])
    assert len(fake_cri.received) == 1
    assert fake_cri.received[0] in READ_ONLY_METHODS


def test_public_methods_cover_the_allowlist(fake_cri: FakeCriServer) -> None:
    """Every allowlisted path is used by some public method, so the allowlist has no spare entries."""
    with CriClient(fake_cri.endpoint) as client:
        for name, arguments in PUBLIC_READ_METHODS.items():
            getattr(client, name)(*arguments)
    assert set(fake_cri.received) == READ_ONLY_METHODS


@pytest.mark.parametrize("method", MUTATING_METHODS + OTHER_UNLISTED_METHODS)
def test_unary_call_outside_allowlist_is_rejected(fake_cri: FakeCriServer, method: str) -> None:
    channel = open_channel(fake_cri.endpoint)
    call = channel.unary_unary(method, request_serializer=identity, response_deserializer=identity)
    with pytest.raises(MutatingCallRejectedError) as raised:
        call(b"")
    channel.close()

    assert raised.value.method == method
    assert fake_cri.received == []


@pytest.mark.parametrize("method", MUTATING_METHODS + OTHER_UNLISTED_METHODS)
def test_stream_call_outside_allowlist_is_rejected(fake_cri: FakeCriServer, method: str) -> None:
    channel = open_channel(fake_cri.endpoint)
    call = channel.unary_stream(method, request_serializer=identity, response_deserializer=identity)
    with pytest.raises(MutatingCallRejectedError):
        list(call(b""))
    channel.close()

    assert fake_cri.received == []


def test_rejection_names_method_and_endpoint(fake_cri: FakeCriServer) -> None:
    channel = open_channel(fake_cri.endpoint)
    remove_image = channel.unary_unary(
        "/runtime.v1.ImageService/RemoveImage",
        request_serializer=api_pb2.ImageSpec.SerializeToString,
        response_deserializer=identity,
    )
    with pytest.raises(MutatingCallRejectedError) as raised:
        remove_image(api_pb2.ImageSpec(image="busybox"))
    channel.close()

    message = str(raised.value)
    assert "/runtime.v1.ImageService/RemoveImage" in message
    assert fake_cri.endpoint in message
    assert "\n" not in message


def test_fake_records_calls_that_bypass_the_interceptor(fake_cri: FakeCriServer) -> None:
    """Control for the tests above: an empty ``received`` list means the fake saw nothing, because
    the same call on a plain channel does reach it."""
    channel = grpc.insecure_channel(fake_cri.endpoint)
    remove_image = channel.unary_unary(
        "/runtime.v1.ImageService/RemoveImage", request_serializer=identity, response_deserializer=identity
    )
    with pytest.raises(grpc.RpcError) as raised:
        remove_image(b"", timeout=5)
    channel.close()

    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert fake_cri.received == ["/runtime.v1.ImageService/RemoveImage"]
