"""A fake CRI v1 server on a Unix socket, for fault injection in tests.

Use it only to provoke faults a real runtime will not produce on demand (timeouts, UNIMPLEMENTED,
odd replies). Behaviour that a real runtime can show belongs in tests against the real containerd.

The server runs in this process on a socket in a fresh temporary directory. It serves our CRI
subset through a generic handler, so it records every method path a client sends, including ones
outside the subset (for example ``/runtime.v1.ImageService/RemoveImage``). Those are recorded and
then get UNIMPLEMENTED. The server never carries out a call.

    with FakeCriServer() as server:
        server.set_response("ImageFsInfo", api_pb2.ImageFsInfoResponse())
        server.set_error("Version", grpc.StatusCode.UNIMPLEMENTED)
        server.set_delay("ListImages", 3.0)
        ...
        assert server.received == ["/runtime.v1.RuntimeService/Version"]

Other test modules get a per-test server with ``fake_cri = make_fake_cri_fixture()``.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import grpc
import pytest

from simulator._proto.runtime.v1 import api_pb2

RUNTIME_SERVICE = "runtime.v1.RuntimeService"
IMAGE_SERVICE = "runtime.v1.ImageService"

# Method name -> (service, request class, default reply).
SUBSET_METHODS: dict[str, tuple[str, type, Callable[[], Any]]] = {
    "Version": (
        RUNTIME_SERVICE,
        api_pb2.VersionRequest,
        lambda: api_pb2.VersionResponse(
            version="0.1.0", runtime_name="fake-cri", runtime_version="0.0.0", runtime_api_version="v1"
        ),
    ),
    "Status": (RUNTIME_SERVICE, api_pb2.StatusRequest, api_pb2.StatusResponse),
    "ListPodSandbox": (RUNTIME_SERVICE, api_pb2.ListPodSandboxRequest, api_pb2.ListPodSandboxResponse),
    "ListContainers": (RUNTIME_SERVICE, api_pb2.ListContainersRequest, api_pb2.ListContainersResponse),
    "ContainerStatus": (RUNTIME_SERVICE, api_pb2.ContainerStatusRequest, api_pb2.ContainerStatusResponse),
    "ListContainerStats": (
        RUNTIME_SERVICE,
        api_pb2.ListContainerStatsRequest,
        api_pb2.ListContainerStatsResponse,
    ),
    "ListPodSandboxStats": (
        RUNTIME_SERVICE,
        api_pb2.ListPodSandboxStatsRequest,
        api_pb2.ListPodSandboxStatsResponse,
    ),
    "ListImages": (IMAGE_SERVICE, api_pb2.ListImagesRequest, api_pb2.ListImagesResponse),
    "ImageStatus": (IMAGE_SERVICE, api_pb2.ImageStatusRequest, api_pb2.ImageStatusResponse),
    "ImageFsInfo": (IMAGE_SERVICE, api_pb2.ImageFsInfoRequest, api_pb2.ImageFsInfoResponse),
}


def method_path(method: str) -> str:
    """Return the full gRPC path for a subset method name; a full path is returned unchanged."""
    if method.startswith("/"):
        return method
    if method not in SUBSET_METHODS:
        raise KeyError(f"unknown CRI method {method!r}: expected one of {sorted(SUBSET_METHODS)} or a full path")
    return f"/{SUBSET_METHODS[method][0]}/{method}"


@dataclass
class MethodBehaviour:
    """What the fake does for one method: reply, or fail with ``error_code``, after ``delay_s``."""

    response: Any = None
    error_code: grpc.StatusCode | None = None
    error_details: str = ""
    delay_s: float = 0.0
    implemented: bool = True


class _Handler(grpc.GenericRpcHandler):
    def __init__(self, server: FakeCriServer) -> None:
        self._server = server

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        path = handler_call_details.method
        self._server._record(path)

        service_and_method = path.lstrip("/").split("/")
        if len(service_and_method) != 2:
            return None
        service, method = service_and_method
        if method not in SUBSET_METHODS or SUBSET_METHODS[method][0] != service:
            return None  # grpc then returns UNIMPLEMENTED
        if not self._server._behaviour(path).implemented:
            return None

        request_class = SUBSET_METHODS[method][1]
        return grpc.unary_unary_rpc_method_handler(
            lambda request, context: self._server._reply(path, request, context),
            request_deserializer=request_class.FromString,
            response_serializer=lambda message: message.SerializeToString(),
        )


class FakeCriServer:
    """An in-process CRI v1 server with settable replies, errors and delays per method.

    ``endpoint`` is ``unix://<tempdir>/cri.sock``. ``received`` lists every method path the server
    saw, in order, including rejected and unknown ones. ``requests`` contains (path, request) pairs
    of the subset calls it replied to or failed on purpose.
    """

    def __init__(self) -> None:
        self._directory = Path(tempfile.mkdtemp(prefix="fake-cri-"))
        self.socket_path = self._directory / "cri.sock"
        self.endpoint = f"unix://{self.socket_path}"
        self._lock = threading.Lock()
        self._behaviours: dict[str, MethodBehaviour] = {}
        self._received: list[str] = []
        self.requests: list[tuple[str, Any]] = []
        self._server: grpc.Server | None = None

    # -- configuration --

    def _behaviour(self, path: str) -> MethodBehaviour:
        with self._lock:
            return self._behaviours.setdefault(path, MethodBehaviour())

    def set_response(self, method: str, response: Any) -> None:
        """Reply to ``method`` with ``response`` (a protobuf message) from now on."""
        behaviour = self._behaviour(method_path(method))
        behaviour.response = response
        behaviour.error_code = None

    def set_error(self, method: str, code: grpc.StatusCode, details: str = "") -> None:
        """Fail ``method`` with the gRPC status ``code`` from now on."""
        behaviour = self._behaviour(method_path(method))
        behaviour.error_code = code
        behaviour.error_details = details or f"fake CRI error {code.name}"

    def set_delay(self, method: str, delay_s: float) -> None:
        """Sleep ``delay_s`` seconds before replying to ``method``."""
        self._behaviour(method_path(method)).delay_s = delay_s

    def set_unimplemented(self, *methods: str) -> None:
        """Make the server return UNIMPLEMENTED for ``methods``, as a non-CRI gRPC server would."""
        for method in methods:
            self._behaviour(method_path(method)).implemented = False

    # -- what the server saw --

    def _record(self, path: str) -> None:
        with self._lock:
            self._received.append(path)

    @property
    def received(self) -> list[str]:
        """Every method path received so far, in order."""
        with self._lock:
            return list(self._received)

    def count(self, method: str) -> int:
        """How many times ``method`` (a subset name or a full path) was received."""
        path = method_path(method)
        return sum(1 for item in self.received if item == path)

    def _reply(self, path: str, request: Any, context: grpc.ServicerContext) -> Any:
        behaviour = self._behaviour(path)
        with self._lock:
            self.requests.append((path, request))
        if behaviour.delay_s:
            time.sleep(behaviour.delay_s)
        if behaviour.error_code is not None:
            context.abort(behaviour.error_code, behaviour.error_details)
        if behaviour.response is not None:
            return behaviour.response
        return SUBSET_METHODS[path.rsplit("/", 1)[1]][2]()

    # -- lifecycle --

    def start(self) -> FakeCriServer:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        server.add_generic_rpc_handlers((_Handler(self),))
        server.add_insecure_port(self.endpoint)
        server.start()
        self._server = server
        return self

    def stop(self) -> None:
        """Stop the server at once (in-flight calls are cancelled) and delete its directory."""
        if self._server is not None:
            self._server.stop(grace=None).wait(timeout=5)
            self._server = None
        shutil.rmtree(self._directory, ignore_errors=True)

    def __enter__(self) -> FakeCriServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def make_fake_cri_fixture(scope: str = "function") -> Callable[..., Any]:
    """Return a pytest fixture that yields a started :class:`FakeCriServer` and stops it afterwards.

    Assign it to a name in a test module or conftest: ``fake_cri = make_fake_cri_fixture()``.
    """

    @pytest.fixture(scope=scope)
    def fake_cri_fixture() -> Iterator[FakeCriServer]:
        with FakeCriServer() as server:
            yield server

    return fake_cri_fixture
