"""A read-only client for the Kubernetes Container Runtime Interface (CRI v1) over a Unix socket.

evictsim only observes a node, so this client cannot change the runtime's state, for two reasons:

1. :class:`CriClient` has read methods only.
2. Its channel carries :class:`ReadOnlyInterceptor`, which rejects any method path outside
   :data:`READ_ONLY_METHODS` before a byte is sent, even when someone builds a call by hand
   on the channel. The rejection raises :class:`MutatingCallRejectedError`.

gRPC failures are translated here into :mod:`simulator.errors` types, each with a one-line
message that names the endpoint:

- :class:`~simulator.errors.RuntimeUnavailableError`: the socket is missing, is not a socket,
  refuses the connection or denies permission, or the call timed out.
- :class:`~simulator.errors.NotCriServerError`: the endpoint responds but does not implement the
  method (it is not a CRI ``runtime.v1`` server, or is too old for that method).
- :class:`~simulator.errors.ProbeError`: any other gRPC status.

The grpc error is chained as ``__cause__``. The client never retries a call by itself. This
matters for the stats RPCs: containerd 1.6 and 1.7 compute ``usage_nano_cores`` against the
sample stored by the previous stats request from any client (``getUsageNanoCores`` in the CRI
plugin). Extra polling would therefore change the CPU rates containerd returns to the kubelet.
"""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, TypeVar

import grpc
import structlog

from simulator._proto.runtime.v1 import api_pb2, api_pb2_grpc
from simulator.cri import _translate, types
from simulator.errors import (
    EvictsimError,
    InputError,
    NotCriServerError,
    ProbeError,
    RuntimeUnavailableError,
)

log = structlog.get_logger(__name__, component="cri")

#: The endpoints tried, in this order, when no endpoint is given (the kubelet's usual sockets
#: for containerd, CRI-O and cri-dockerd).
DEFAULT_ENDPOINTS: tuple[str, ...] = (
    "unix:///run/containerd/containerd.sock",
    "unix:///run/crio/crio.sock",
    "unix:///var/run/cri-dockerd.sock",
)

#: The only gRPC method paths the channel lets through. Every entry is a read-only CRI RPC.
READ_ONLY_METHODS: frozenset[str] = frozenset(
    {
        "/runtime.v1.RuntimeService/Version",
        "/runtime.v1.RuntimeService/Status",
        "/runtime.v1.RuntimeService/ListPodSandbox",
        "/runtime.v1.RuntimeService/ListContainers",
        "/runtime.v1.RuntimeService/ContainerStatus",
        "/runtime.v1.RuntimeService/ListContainerStats",
        "/runtime.v1.RuntimeService/ListPodSandboxStats",
        "/runtime.v1.ImageService/ListImages",
        "/runtime.v1.ImageService/ImageStatus",
        "/runtime.v1.ImageService/ImageFsInfo",
    }
)

#: The kubelet's maximum CRI message size (16 MiB), for both directions. Large nodes send
#: ListContainers and ListImages replies well above gRPC's 4 MiB default.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024

#: The CRI version string the kubelet sends in VersionRequest.
KUBELET_CRI_VERSION = "0.1.0"

UNIX_SCHEME = "unix://"

ResponseT = TypeVar("ResponseT")


class MutatingCallRejectedError(EvictsimError):
    """A call to a CRI method outside :data:`READ_ONLY_METHODS` was stopped before it was sent."""

    def __init__(self, method: str, endpoint: str) -> None:
        self.method = method
        self.endpoint = endpoint
        super().__init__(
            f"rejected CRI call {method} to {endpoint}: evictsim only sends the read-only methods "
            "in simulator.cri.client.READ_ONLY_METHODS"
        )


class ReadOnlyInterceptor(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """A client interceptor that raises :class:`MutatingCallRejectedError` for any method path
    outside ``allowed_methods``, before the continuation (and so the network) is reached."""

    def __init__(self, endpoint: str, allowed_methods: frozenset[str] = READ_ONLY_METHODS) -> None:
        self._endpoint = endpoint
        self._allowed_methods = allowed_methods

    def _check(self, client_call_details: grpc.ClientCallDetails) -> None:
        method = client_call_details.method
        if isinstance(method, bytes):
            method = method.decode("utf-8", errors="replace")
        if method not in self._allowed_methods:
            log.warning("cri_call_rejected", method=method, endpoint=self._endpoint)
            raise MutatingCallRejectedError(method, self._endpoint)

    def intercept_unary_unary(self, continuation: Callable, client_call_details: Any, request: Any) -> Any:
        self._check(client_call_details)
        return continuation(client_call_details, request)

    def intercept_unary_stream(self, continuation: Callable, client_call_details: Any, request: Any) -> Any:
        self._check(client_call_details)
        return continuation(client_call_details, request)

    def intercept_stream_unary(
        self, continuation: Callable, client_call_details: Any, request_iterator: Any
    ) -> Any:
        self._check(client_call_details)
        return continuation(client_call_details, request_iterator)

    def intercept_stream_stream(
        self, continuation: Callable, client_call_details: Any, request_iterator: Any
    ) -> Any:
        self._check(client_call_details)
        return continuation(client_call_details, request_iterator)


def normalize_endpoint(endpoint: str) -> str:
    """Return ``endpoint`` as ``unix:///absolute/path``; a bare absolute path is accepted too.

    Raises InputError for any other scheme or a relative path, because the kubelet on Linux
    reaches its runtime only through a Unix socket.
    """
    if endpoint.startswith(UNIX_SCHEME):
        path = endpoint[len(UNIX_SCHEME) :]
    elif endpoint.startswith("/"):
        path = endpoint
    else:
        raise InputError(
            f"invalid CRI endpoint {endpoint!r}: expected unix:///absolute/path/to/socket",
            field="cri_endpoint",
            value=endpoint,
        )
    if not path.startswith("/"):
        raise InputError(
            f"invalid CRI endpoint {endpoint!r}: the socket path must be absolute, as in unix:///run/x.sock",
            field="cri_endpoint",
            value=endpoint,
        )
    return UNIX_SCHEME + path


def socket_path(endpoint: str) -> str:
    """Return the filesystem path of a normalized ``unix://`` endpoint."""
    return endpoint[len(UNIX_SCHEME) :]


def diagnose_socket(path: str, timeout_s: float) -> str | None:
    """Explain why ``path`` cannot be used as a CRI socket, or return ``None`` if it accepts a connection.

    The check stats the path and opens (then closes) one plain Unix connection, so the reason is
    the operating system's own rather than gRPC's summary of it.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return f"socket {path} does not exist (is the container runtime running?)"
    except PermissionError:
        return f"permission denied looking up {path} (run as root or as a member of the socket's group)"
    except OSError as error:
        return f"cannot stat {path}: {error.strerror}"

    if stat.S_ISDIR(mode):
        return f"{path} is a directory, not a socket"
    if stat.S_ISREG(mode):
        return f"{path} is a regular file, not a socket"
    if not stat.S_ISSOCK(mode):
        return f"{path} is not a socket"

    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(timeout_s)
    try:
        probe.connect(path)
    except PermissionError:
        return f"permission denied connecting to {path} (run as root or as a member of the socket's group)"
    except ConnectionRefusedError:
        return f"connection refused on {path}: no process is listening (is the container runtime running?)"
    except TimeoutError:
        return f"connecting to {path} timed out after {timeout_s} s"
    except OSError as error:
        return f"cannot connect to {path}: {error.strerror}"
    finally:
        probe.close()
    return None


def open_channel(endpoint: str) -> grpc.Channel:
    """Open a gRPC channel to ``endpoint`` that only lets :data:`READ_ONLY_METHODS` through.

    gRPC connects lazily, so opening never fails for a missing socket; the first call does.
    """
    endpoint = normalize_endpoint(endpoint)
    options = [
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        # No transparent retries, so every call reaches the runtime at most once.
        ("grpc.enable_retries", 0),
        # A private subchannel pool, so a channel opened after an outage does not inherit the
        # reconnect backoff of an earlier channel to the same socket.
        ("grpc.use_local_subchannel_pool", 1),
    ]
    raw_channel = grpc.insecure_channel(endpoint, options=options)
    return grpc.intercept_channel(raw_channel, ReadOnlyInterceptor(endpoint))


def one_line(text: str | None) -> str:
    return " ".join((text or "").split())


class CriClient:
    """A read-only CRI v1 client.

    With ``endpoint`` set, the client connects lazily and the first call reports any fault.
    Without it, the constructor tries each of ``default_endpoints`` whose socket exists and keeps
    the first that responds to ``Version``. If none does, it raises RuntimeUnavailableError listing
    why each one failed.

    Every call has a deadline of ``timeout_s`` seconds and is sent at most once.
    """

    def __init__(
        self,
        endpoint: str | None = None,
        *,
        timeout_s: float = 2.0,
        default_endpoints: Sequence[str] = DEFAULT_ENDPOINTS,
    ) -> None:
        if not timeout_s > 0:
            raise InputError(
                f"invalid CRI timeout {timeout_s!r}: expected a number of seconds greater than 0",
                field="cri_timeout_s",
                value=timeout_s,
            )
        self._timeout_s = float(timeout_s)
        self._version: types.RuntimeVersion | None = None
        self._closed = False
        if endpoint is not None:
            self._connect(normalize_endpoint(endpoint))
            return
        self._connect_first_responding(default_endpoints)

    # -- connection management --

    def _connect(self, endpoint: str) -> None:
        self._endpoint = endpoint
        self._channel = open_channel(endpoint)
        self._runtime_stub = api_pb2_grpc.RuntimeServiceStub(self._channel)
        self._image_stub = api_pb2_grpc.ImageServiceStub(self._channel)

    def _connect_first_responding(self, candidates: Sequence[str]) -> None:
        failures: list[str] = []
        for candidate in candidates:
            endpoint = normalize_endpoint(candidate)
            path = socket_path(endpoint)
            if not os.path.exists(path):
                failures.append(f"{endpoint}: socket does not exist")
                continue

            self._connect(endpoint)
            try:
                version = self.version()
            except ProbeError as error:
                log.debug("cri_endpoint_probe_failed", endpoint=endpoint, error=str(error))
                failures.append(str(error))
                self._channel.close()
                continue

            log.info("cri_endpoint_selected", endpoint=endpoint, runtime_name=version.runtime_name)
            return

        raise RuntimeUnavailableError(
            "no CRI runtime responded at the default endpoints ("
            + "; ".join(failures)
            + "); start the container runtime or pass --cri-endpoint"
        )

    @property
    def endpoint(self) -> str:
        """The endpoint in use, as ``unix:///path``."""
        return self._endpoint

    @property
    def timeout_s(self) -> float:
        """The deadline of each call, in seconds."""
        return self._timeout_s

    @property
    def runtime_name(self) -> str:
        """The runtime's name from ``Version`` (for example ``containerd``), fetched on first use."""
        version = self._version if self._version is not None else self.version()
        return version.runtime_name

    def close(self) -> None:
        """Close the channel; calls made afterwards raise ProbeError."""
        self._closed = True
        self._channel.close()

    def __enter__(self) -> CriClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- calls and error translation --

    def _call(self, method: str, stub_method: Callable[..., ResponseT], request: Any) -> ResponseT:
        # grpcio 1.85 can crash the interpreter when a call is made on a closed channel, so the
        # client checks its own flag first.
        if self._closed:
            raise ProbeError(f"CRI call {method} to {self._endpoint} failed: the client is closed")
        try:
            return stub_method(request, timeout=self._timeout_s)
        except grpc.RpcError as error:
            raise self._translate_error(method, error) from error

    def _translate_error(self, method: str, error: grpc.RpcError) -> ProbeError:
        code = error.code() if isinstance(error, grpc.Call) else None
        details = one_line(error.details()) if isinstance(error, grpc.Call) else one_line(str(error))

        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return RuntimeUnavailableError(
                f"CRI call {method} to {self._endpoint} timed out after {self._timeout_s} s"
            )
        if code == grpc.StatusCode.UNAVAILABLE:
            reason = diagnose_socket(socket_path(self._endpoint), self._timeout_s)
            if reason is None:
                reason = f"unavailable: {details}"
            return RuntimeUnavailableError(f"CRI endpoint {self._endpoint}: {reason}")
        if code == grpc.StatusCode.UNIMPLEMENTED:
            if method == "/runtime.v1.RuntimeService/Version":
                return NotCriServerError(
                    f"CRI endpoint {self._endpoint} does not implement {method}, so it is not a CRI "
                    "runtime.v1 server (runtimes that speak only v1alpha2 are not supported)"
                )
            return NotCriServerError(
                f"CRI endpoint {self._endpoint} does not implement {method} "
                "(the runtime may be older than this method)"
            )

        code_name = code.name if code is not None else "UNKNOWN"
        return ProbeError(f"CRI call {method} to {self._endpoint} failed: {code_name}: {details}")

    # -- RuntimeService --

    def version(self) -> types.RuntimeVersion:
        """Call ``Version`` and remember the reply for :attr:`runtime_name`."""
        request = api_pb2.VersionRequest(version=KUBELET_CRI_VERSION)
        reply = self._call("/runtime.v1.RuntimeService/Version", self._runtime_stub.Version, request)
        self._version = _translate.runtime_version(reply)
        return self._version

    def status(self, *, verbose: bool = False) -> types.RuntimeStatus:
        """Call ``Status``: the runtime's conditions (RuntimeReady, NetworkReady).

        With ``verbose`` the runtime also fills ``info``, a map of runtime-specific JSON documents.
        """
        reply = self._call(
            "/runtime.v1.RuntimeService/Status",
            self._runtime_stub.Status,
            api_pb2.StatusRequest(verbose=verbose),
        )
        return _translate.runtime_status(reply)

    def list_pod_sandboxes(self) -> list[types.PodSandbox]:
        """Call ``ListPodSandbox`` with no filter: every sandbox, ready or not."""
        reply = self._call(
            "/runtime.v1.RuntimeService/ListPodSandbox",
            self._runtime_stub.ListPodSandbox,
            api_pb2.ListPodSandboxRequest(),
        )
        return [_translate.pod_sandbox(item) for item in reply.items]

    def list_containers(self) -> list[types.Container]:
        """Call ``ListContainers`` with no filter: every container in every state."""
        reply = self._call(
            "/runtime.v1.RuntimeService/ListContainers",
            self._runtime_stub.ListContainers,
            api_pb2.ListContainersRequest(),
        )
        return [_translate.container(item) for item in reply.containers]

    def container_status(self, container_id: str) -> types.ContainerStatus | None:
        """Call ``ContainerStatus``; return ``None`` when the runtime reports NOT_FOUND for the ID."""
        request = api_pb2.ContainerStatusRequest(container_id=container_id)
        try:
            reply = self._call(
                "/runtime.v1.RuntimeService/ContainerStatus", self._runtime_stub.ContainerStatus, request
            )
        except ProbeError as error:
            cause = error.__cause__
            if isinstance(cause, grpc.Call) and cause.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise
        if not reply.HasField("status"):
            return None
        return _translate.container_status(reply.status)

    def list_container_stats(self) -> list[types.ContainerStats]:
        """Call ``ListContainerStats`` once with no filter.

        NOTE: containerd 1.6 and 1.7 update their CPU-rate baseline on every stats call from any
        client, so each call here shortens the averaging window of the kubelet's CPU rates.
        """
        reply = self._call(
            "/runtime.v1.RuntimeService/ListContainerStats",
            self._runtime_stub.ListContainerStats,
            api_pb2.ListContainerStatsRequest(),
        )
        return [_translate.container_stats(item) for item in reply.stats]

    def list_pod_sandbox_stats(self) -> list[types.PodSandboxStats]:
        """Call ``ListPodSandboxStats`` once with no filter (the same caution as list_container_stats)."""
        reply = self._call(
            "/runtime.v1.RuntimeService/ListPodSandboxStats",
            self._runtime_stub.ListPodSandboxStats,
            api_pb2.ListPodSandboxStatsRequest(),
        )
        return [_translate.pod_sandbox_stats(item) for item in reply.stats]

    # -- ImageService --

    def image_fs_info(self) -> types.ImageFsInfo:
        """Call ``ImageFsInfo``.

        An empty ``image_filesystems`` list is returned as is. The caller decides what it means
        (the kubelet's CRI stats provider fails with "imageFs information is unavailable").
        """
        reply = self._call(
            "/runtime.v1.ImageService/ImageFsInfo", self._image_stub.ImageFsInfo, api_pb2.ImageFsInfoRequest()
        )
        return _translate.image_fs_info(reply)

    def list_images(self) -> list[types.Image]:
        """Call ``ListImages`` with no filter."""
        reply = self._call(
            "/runtime.v1.ImageService/ListImages", self._image_stub.ListImages, api_pb2.ListImagesRequest()
        )
        return [_translate.image(item) for item in reply.images]

    def image_status(self, ref: str) -> types.Image | None:
        """Call ``ImageStatus`` for an image name, tag, digest or ID; ``None`` when the runtime has no such image."""
        request = api_pb2.ImageStatusRequest(image=api_pb2.ImageSpec(image=ref))
        reply = self._call("/runtime.v1.ImageService/ImageStatus", self._image_stub.ImageStatus, request)
        if not reply.HasField("image") or not reply.image.id:
            return None
        return _translate.image(reply.image)
