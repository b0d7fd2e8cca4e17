"""A test-only CRI client for the mutating calls that create and remove pods.

The product's CRI client is read-only by design and rejects these methods. Tests need real
pods to observe, so this client lives under tests/ and is never importable from the
``simulator`` package. It calls each method by its gRPC path, with messages from
``harness/_generated/cri_mutating_pb2`` (the mutating requests) and the product's generated
subset (the read-only list calls used for cleanup).
"""

from __future__ import annotations

from typing import Any, Self, TypeVar

import grpc
from google.protobuf.message import Message

from harness._generated import cri_mutating_pb2 as mutating
from simulator._proto.runtime.v1 import api_pb2 as api

RUNTIME_SERVICE = "/runtime.v1.RuntimeService/"
DEFAULT_TIMEOUT_S = 60.0

ResponseT = TypeVar("ResponseT", bound=Message)


class CriMutator:
    """Mutating CRI calls over one gRPC channel, which leaving the ``with`` block closes."""

    def __init__(self, endpoint: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        self._channel = grpc.insecure_channel(endpoint)

    def close(self) -> None:
        """Close the gRPC channel."""
        self._channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _call(self, method: str, request: Message, response_type: type[ResponseT]) -> ResponseT:
        stub: Any = self._channel.unary_unary(
            RUNTIME_SERVICE + method,
            request_serializer=type(request).SerializeToString,
            response_deserializer=response_type.FromString,
        )
        return stub(request, timeout=self.timeout_s)

    # --- pod sandboxes -------------------------------------------------------------------------

    def run_pod_sandbox(self, config: mutating.PodSandboxConfig, runtime_handler: str = "") -> str:
        """Create and start a pod sandbox and return its id."""
        request = mutating.RunPodSandboxRequest(config=config, runtime_handler=runtime_handler)
        return self._call("RunPodSandbox", request, mutating.RunPodSandboxResponse).pod_sandbox_id

    def stop_pod_sandbox(self, pod_sandbox_id: str) -> None:
        """Stop a pod sandbox and every container in it."""
        request = mutating.StopPodSandboxRequest(pod_sandbox_id=pod_sandbox_id)
        self._call("StopPodSandbox", request, mutating.StopPodSandboxResponse)

    def remove_pod_sandbox(self, pod_sandbox_id: str) -> None:
        """Remove a pod sandbox and its containers, with their writable layers."""
        request = mutating.RemovePodSandboxRequest(pod_sandbox_id=pod_sandbox_id)
        self._call("RemovePodSandbox", request, mutating.RemovePodSandboxResponse)

    # --- containers ----------------------------------------------------------------------------

    def create_container(
        self,
        pod_sandbox_id: str,
        config: mutating.ContainerConfig,
        sandbox_config: mutating.PodSandboxConfig,
    ) -> str:
        """Create a container in a pod sandbox and return its id."""
        request = mutating.CreateContainerRequest(
            pod_sandbox_id=pod_sandbox_id, config=config, sandbox_config=sandbox_config
        )
        return self._call("CreateContainer", request, mutating.CreateContainerResponse).container_id

    def start_container(self, container_id: str) -> None:
        """Start a created container."""
        request = mutating.StartContainerRequest(container_id=container_id)
        self._call("StartContainer", request, mutating.StartContainerResponse)

    def stop_container(self, container_id: str, timeout_s: int = 0) -> None:
        """Send the stop signal, then SIGKILL after ``timeout_s`` seconds (0 kills at once)."""
        request = mutating.StopContainerRequest(container_id=container_id, timeout=timeout_s)
        self._call("StopContainer", request, mutating.StopContainerResponse)

    def remove_container(self, container_id: str) -> None:
        """Remove a container and its writable layer."""
        request = mutating.RemoveContainerRequest(container_id=container_id)
        self._call("RemoveContainer", request, mutating.RemoveContainerResponse)

    # --- reads used for cleanup ----------------------------------------------------------------

    def list_pod_sandbox_ids(self) -> list[str]:
        """Return the ids of every pod sandbox the runtime lists."""
        response = self._call("ListPodSandbox", api.ListPodSandboxRequest(), api.ListPodSandboxResponse)
        return [item.id for item in response.items]

    def list_container_ids(self, pod_sandbox_id: str = "") -> list[str]:
        """Return container ids, all of them or those of one pod sandbox."""
        request = api.ListContainersRequest()
        if pod_sandbox_id:
            request.filter.pod_sandbox_id = pod_sandbox_id
        response = self._call("ListContainers", request, api.ListContainersResponse)
        return [container.id for container in response.containers]

    def remove_all_pods(self) -> None:
        """Stop and remove every container and pod sandbox, as the kubelet does on pod deletion."""
        for container_id in self.list_container_ids():
            self.stop_container(container_id)
            self.remove_container(container_id)
        for pod_sandbox_id in self.list_pod_sandbox_ids():
            self.stop_pod_sandbox(pod_sandbox_id)
            self.remove_pod_sandbox(pod_sandbox_id)
