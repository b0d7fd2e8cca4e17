"""Serving the what-if API: command-line options, the gRPC server, health, reflection and metrics.

The API listens on a Unix socket by default (mode 0660); TCP is opened only with ``--listen``,
optionally with TLS and client-certificate authentication.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from simulator._proto.evictsim.v1 import evictsim_pb2 as pb
from simulator._proto.evictsim.v1 import evictsim_pb2_grpc as pb_grpc
from simulator.api.history import DEFAULT_RETENTION_S, HistoryRing, SqliteHistory
from simulator.api.live import LiveState
from simulator.api.metrics import Metrics
from simulator.api.servicer import ServicerOptions, WhatIfServicer
from simulator.errors import InputError

log = structlog.get_logger(__name__).bind(component="api.server")

DEFAULT_SOCKET = "unix:///run/evictsim/evictsim.sock"
SERVICE_NAME = pb.DESCRIPTOR.services_by_name["WhatIfService"].full_name
SOCKET_MODE = 0o660


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the API's options to the daemon's parser."""
    group = parser.add_argument_group("what-if API")
    group.add_argument("--socket", default=DEFAULT_SOCKET, help=f"Unix socket of the gRPC API (default {DEFAULT_SOCKET}; created with mode 0660)")
    group.add_argument("--listen", default="", metavar="HOST:PORT", help="also serve the API on this TCP address, for example 127.0.0.1:50051 (off by default)")
    group.add_argument("--tls-cert", default="", metavar="FILE", help="PEM certificate for --listen; without it TCP is plaintext")
    group.add_argument("--tls-key", default="", metavar="FILE", help="PEM private key for --tls-cert")
    group.add_argument("--tls-client-ca", default="", metavar="FILE", help="PEM CA bundle; when set, TCP clients must present a certificate it signed")
    group.add_argument("--max-message-bytes", type=int, default=4 * 1024 * 1024, help="largest request or response in bytes (default 4194304)")
    group.add_argument("--request-timeout", type=float, default=10.0, metavar="SECONDS", help="maximum seconds one request may run (default 10)")
    group.add_argument("--api-workers", type=int, default=8, help="threads serving API requests (default 8)")
    group.add_argument("--metrics-listen", default="", metavar="HOST:PORT", help="serve Prometheus metrics on this address (off by default)")
    group.add_argument("--history", default="", metavar="FILE", help="keep the history in this SQLite file so trends survive restarts")
    group.add_argument("--history-retention", type=float, default=DEFAULT_RETENTION_S, metavar="SECONDS", help="history kept, in seconds (default 86400)")
    group.add_argument("--no-api", action="store_true", help="do not serve the gRPC API")


@dataclasses.dataclass(frozen=True)
class ServerOptions:
    """The API's options; see add_server_arguments for their meaning."""

    socket: str = DEFAULT_SOCKET
    listen: str = ""
    tls_cert: str = ""
    tls_key: str = ""
    tls_client_ca: str = ""
    max_message_bytes: int = 4 * 1024 * 1024
    request_timeout: float = 10.0
    api_workers: int = 8
    metrics_listen: str = ""
    history: str = ""
    history_retention: float = DEFAULT_RETENTION_S
    no_api: bool = False

    @classmethod
    def from_args(cls, args: argparse.Namespace | Any) -> ServerOptions:
        values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)}
        return cls(**values)


def make_live_state(options: ServerOptions | argparse.Namespace) -> LiveState:
    """Create the LiveState with the history retention and SQLite file the options ask for."""
    if not isinstance(options, ServerOptions):
        options = ServerOptions.from_args(options)
    store = SqliteHistory(options.history, retention_s=options.history_retention) if options.history else None
    return LiveState(history=HistoryRing(retention_s=options.history_retention), store=store)


def _socket_path(address: str) -> str:
    if address.startswith("unix://"):
        return address[len("unix://") :]
    if address.startswith("unix:"):
        return address[len("unix:") :]
    if address.startswith("/"):
        return address
    raise InputError(f"--socket: expected unix:///path or an absolute path, got {address!r}", field="socket", value=address)


def _read(path: str, option: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise InputError(f"{option}: failed to read {path!r}: {error.strerror}", field=option, value=path) from error


class ServerHandle:
    """A running API: the gRPC server, its health servicer and the optional metrics server."""

    def __init__(self, server: grpc.Server, servicer: WhatIfServicer, health_servicer: health.HealthServicer,
                 socket_path: str | None, metrics: Metrics, metrics_server: Any, tcp_port: int | None) -> None:
        self.server = server
        self.servicer = servicer
        self.health = health_servicer
        self.socket_path = socket_path
        self.metrics = metrics
        self.metrics_server = metrics_server
        self.tcp_port = tcp_port

    def stop(self, grace_s: float = 2.0) -> None:
        """Stop serving: end watch streams, finish requests for ``grace_s``, remove the socket."""
        self.health.enter_graceful_shutdown()
        self.servicer.stop()
        self.server.stop(grace_s).wait()
        if self.metrics_server is not None:
            self.metrics_server.shutdown()
            self.metrics_server.server_close()
        if self.socket_path and os.path.exists(self.socket_path):
            os.unlink(self.socket_path)
        if self.servicer.live.store is not None:
            self.servicer.live.store.close()
            self.servicer.live.store = None
        log.info("api_stopped", socket=self.socket_path)


def start_server(live_state: LiveState, options: ServerOptions | argparse.Namespace, *, metrics: Metrics | None = None) -> ServerHandle:
    """Start the gRPC API (and metrics when asked) serving ``live_state``; return its handle."""
    if not isinstance(options, ServerOptions):
        options = ServerOptions.from_args(options)
    if options.max_message_bytes < 1024:
        raise InputError(f"--max-message-bytes: {options.max_message_bytes} is below the minimum of 1024", field="max_message_bytes", value=options.max_message_bytes)
    if options.request_timeout <= 0:
        raise InputError(f"--request-timeout: {options.request_timeout} must be positive", field="request_timeout", value=options.request_timeout)

    if options.history and live_state.store is None:
        live_state.attach_store(SqliteHistory(options.history, retention_s=options.history_retention))

    metrics = metrics or Metrics()
    servicer = WhatIfServicer(
        live_state,
        ServicerOptions(max_message_bytes=options.max_message_bytes, request_timeout_s=options.request_timeout),
        on_request=metrics.record_request,
    )
    live_state.subscribe(metrics.subscriber(servicer.live_decision))
    live_state.on_runtime_error(metrics.record_runtime_error)

    # gRPC's own limit is twice ours so oversized requests reach the servicer, which rejects them
    # with INVALID_ARGUMENT and the size instead of a bare RESOURCE_EXHAUSTED.
    grpc_options = [
        ("grpc.max_receive_message_length", options.max_message_bytes * 2),
        ("grpc.max_send_message_length", options.max_message_bytes),
    ]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=max(1, options.api_workers)), options=grpc_options)
    pb_grpc.add_WhatIfServiceServicer_to_server(servicer, server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME), server
    )

    socket_path = None
    if not options.no_api:
        socket_path = _socket_path(options.socket)
        Path(socket_path).parent.mkdir(parents=True, exist_ok=True)
        if os.path.exists(socket_path):
            os.unlink(socket_path)
        server.add_insecure_port(f"unix://{socket_path}")
    tcp_port = _add_tcp_port(server, options) if options.listen else None

    server.start()
    if socket_path is not None:
        os.chmod(socket_path, SOCKET_MODE)
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_servicer.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
    metrics_server = None
    if options.metrics_listen:
        metrics_server, _ = metrics.serve(options.metrics_listen)
    log.info("api_started", socket=socket_path, listen=options.listen or None, tcp_port=tcp_port)
    return ServerHandle(server, servicer, health_servicer, socket_path, metrics, metrics_server, tcp_port)


def _add_tcp_port(server: grpc.Server, options: ServerOptions) -> int:
    if options.tls_cert or options.tls_key:
        if not (options.tls_cert and options.tls_key):
            raise InputError("--tls-cert and --tls-key must be given together", field="tls_cert", value=options.tls_cert)
        client_ca = _read(options.tls_client_ca, "--tls-client-ca") if options.tls_client_ca else None
        credentials = grpc.ssl_server_credentials(
            [(_read(options.tls_key, "--tls-key"), _read(options.tls_cert, "--tls-cert"))],
            root_certificates=client_ca,
            require_client_auth=client_ca is not None,
        )
        port = server.add_secure_port(options.listen, credentials)
    else:
        if options.tls_client_ca:
            raise InputError("--tls-client-ca needs --tls-cert and --tls-key", field="tls_client_ca", value=options.tls_client_ca)
        port = server.add_insecure_port(options.listen)
    if port == 0:
        raise InputError(f"--listen: failed to bind {options.listen!r}; check that the address is local and the port is free", field="listen", value=options.listen)
    return port
