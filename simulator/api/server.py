"""Serving the what-if API: command-line options, the gRPC server, health, reflection and metrics.

The API listens on a Unix socket by default (mode 0660); TCP is opened only with ``--listen``,
optionally with TLS and client-certificate authentication.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import errno
import os
import socket
import ssl
import stat
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
# sun_path in struct sockaddr_un is 108 bytes on Linux, including the terminating NUL.
MAX_SOCKET_PATH_BYTES = 107
# How long the check for a live server on an existing socket waits for a connection.
_SOCKET_PROBE_TIMEOUT_S = 1.0


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
    group.add_argument("--metrics-listen", default="", metavar="HOST:PORT",
                       help="serve Prometheus metrics on this address, port 1-65535 (off by default; also served with --no-api)")
    group.add_argument("--history", default="", metavar="FILE", help="keep the history in this SQLite file so trends survive restarts")
    group.add_argument("--history-retention", type=float, default=DEFAULT_RETENTION_S, metavar="SECONDS", help="history kept, in seconds (default 86400)")
    group.add_argument("--no-api", action="store_true", help="do not serve the gRPC API (--metrics-listen still serves metrics)")


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
    if not options.history_retention > 0:
        raise InputError(
            f"--history-retention: invalid value {options.history_retention:g}; expected seconds greater than 0",
            field="history_retention",
            value=options.history_retention,
        )
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
    """A running API: the gRPC server (``None`` with --no-api), its health servicer and the optional metrics server."""

    def __init__(self, server: grpc.Server | None, servicer: WhatIfServicer, health_servicer: health.HealthServicer,
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
        if self.server is not None:
            self.server.stop(grace_s).wait()
        if self.metrics_server is not None:
            self.metrics_server.shutdown()
            self.metrics_server.server_close()
        if self.socket_path:
            _remove_socket(self.socket_path)
        if self.servicer.live.store is not None:
            self.servicer.live.store.close()
            self.servicer.live.store = None
        log.info("api_stopped", socket=self.socket_path)


def start_server(live_state: LiveState, options: ServerOptions | argparse.Namespace, *, metrics: Metrics | None = None) -> ServerHandle:
    """Start the gRPC API (and metrics when asked) serving ``live_state``; return its handle.

    With ``no_api`` only the metrics server starts. Every address is checked and bound before
    anything serves, so an address that cannot be bound raises InputError naming the option,
    and the socket file created so far is removed.
    """
    if not isinstance(options, ServerOptions):
        options = ServerOptions.from_args(options)
    if options.max_message_bytes < 1024:
        raise InputError(f"--max-message-bytes: {options.max_message_bytes} is below the minimum of 1024", field="max_message_bytes", value=options.max_message_bytes)
    if options.request_timeout <= 0:
        raise InputError(f"--request-timeout: {options.request_timeout} must be positive", field="request_timeout", value=options.request_timeout)
    if options.no_api and options.listen:
        raise InputError(f"--listen {options.listen!r} serves the gRPC API, which --no-api turns off; drop one of them", field="listen", value=options.listen)
    metrics_address = parse_metrics_listen(options.metrics_listen, allow_any_port=True) if options.metrics_listen else None

    socket_path = None
    if not options.no_api:
        socket_path = _socket_path(options.socket)
        prepare_socket_path(socket_path, create_parent=options.socket == DEFAULT_SOCKET)
    if options.listen:
        _check_tcp_address(options.listen)

    metrics = metrics or Metrics()
    servicer = WhatIfServicer(
        live_state,
        ServicerOptions(max_message_bytes=options.max_message_bytes, request_timeout_s=options.request_timeout),
        on_request=metrics.record_request,
    )
    server = None if options.no_api else _build_grpc_server(servicer, options)
    metrics_server = None
    tcp_port = None
    try:
        if server is not None:
            if socket_path is not None:
                _bind(server, f"unix://{socket_path}", "--socket", options.socket)
            tcp_port = _add_tcp_port(server, options) if options.listen else None
        if metrics_address is not None:
            metrics_server = _serve_metrics(metrics, options.metrics_listen)
        if server is not None:
            server.start()
    except BaseException:
        if server is not None:
            server.stop(0)
        if metrics_server is not None:
            metrics_server.shutdown()
            metrics_server.server_close()
        if socket_path is not None:
            _remove_socket(socket_path)
        raise

    if options.history and live_state.store is None:
        live_state.attach_store(SqliteHistory(options.history, retention_s=options.history_retention))
    live_state.subscribe(metrics.subscriber(servicer.live_decision))
    live_state.on_runtime_error(metrics.record_runtime_error)
    health_servicer = health.HealthServicer()
    if server is not None:
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if socket_path is not None:
        os.chmod(socket_path, SOCKET_MODE)
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_servicer.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
    log.info("api_started", socket=socket_path, listen=options.listen or None, tcp_port=tcp_port,
             metrics_listen=options.metrics_listen or None, grpc_api=server is not None)
    return ServerHandle(server, servicer, health_servicer, socket_path, metrics, metrics_server, tcp_port)


def _build_grpc_server(servicer: WhatIfServicer, options: ServerOptions) -> grpc.Server:
    # gRPC's own limit is twice ours so oversized requests reach the servicer, which rejects them
    # with INVALID_ARGUMENT and the size instead of a bare RESOURCE_EXHAUSTED.
    grpc_options = [
        ("grpc.max_receive_message_length", options.max_message_bytes * 2),
        ("grpc.max_send_message_length", options.max_message_bytes),
    ]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=max(1, options.api_workers)), options=grpc_options)
    pb_grpc.add_WhatIfServiceServicer_to_server(servicer, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME), server
    )
    return server


def parse_metrics_listen(address: str, *, allow_any_port: bool = False) -> tuple[str, int]:
    """Parse ``--metrics-listen`` HOST:PORT (IPv6 hosts in brackets) into (host, port).

    The port must be 1-65535; ``allow_any_port`` also accepts 0 (an ephemeral port, for tests).
    An empty host means 127.0.0.1.
    """
    host, separator, port_text = address.rpartition(":")
    lowest = 0 if allow_any_port else 1
    if not separator or not port_text.isdigit() or not lowest <= int(port_text) <= 65535:
        raise InputError(f"--metrics-listen: invalid address {address!r}; expected HOST:PORT with a port from 1 to 65535",
                         field="metrics_listen", value=address)
    return host.strip("[]") or "127.0.0.1", int(port_text)


def _serve_metrics(metrics: Metrics, address: str) -> Any:
    try:
        server, _ = metrics.serve(address)
    except OSError as error:
        raise InputError(f"--metrics-listen: failed to bind {address!r}: {error.strerror or error}", field="metrics_listen", value=address) from error
    return server


def prepare_socket_path(path: str, *, create_parent: bool) -> None:
    """Check that ``path`` can become the API's socket, removing a stale socket left there.

    Only the default directory is created (``create_parent``); any other parent must exist. A
    path that exists and is not a socket, or a socket that accepts connections, raises InputError.
    """
    if len(os.fsencode(path)) > MAX_SOCKET_PATH_BYTES:
        raise InputError(f"--socket: path {path!r} is {len(os.fsencode(path))} bytes, longer than the "
                         f"{MAX_SOCKET_PATH_BYTES}-byte limit of a Unix socket path; choose a shorter path", field="socket", value=path)
    parent = Path(path).parent
    if create_parent:
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise InputError(f"--socket: failed to create directory {str(parent)!r}: {error.strerror or error}; "
                             "run as root or choose another path with --socket", field="socket", value=path) from error
    elif not parent.is_dir():
        raise InputError(f"--socket: directory {str(parent)!r} of {path!r} does not exist; create it first", field="socket", value=path)

    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        _check_unix_bind(path)
        return
    except OSError as error:
        raise InputError(f"--socket: failed to inspect {path!r}: {error.strerror or error}", field="socket", value=path) from error
    if not stat.S_ISSOCK(mode):
        raise InputError(f"--socket: {path!r} exists and is not a socket; remove it or choose another path", field="socket", value=path)
    if _socket_accepts_connections(path):
        raise InputError(f"--socket: another process is serving {path}; stop it or choose another path", field="socket", value=path)
    log.info("stale_socket_removed", socket=path)
    os.unlink(path)
    _check_unix_bind(path)


def _check_unix_bind(path: str) -> None:
    """Bind ``path`` once with a plain socket and remove it, so an unwritable directory raises one clear line.

    gRPC's own bind failure prints its C-core error lines before the exception.
    """
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.bind(path)
    except OSError as error:
        raise InputError(f"--socket: failed to bind {path!r}: {error.strerror or error}", field="socket", value=path) from error
    finally:
        probe.close()
    os.unlink(path)


def _socket_accepts_connections(path: str) -> bool:
    """Return True when a server accepts connections on the Unix socket ``path``.

    Only a refused connection (no listener) counts as stale. Any other failure, such as
    permission denied or a timeout, raises InputError, so a socket is never removed in doubt.
    """
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(_SOCKET_PROBE_TIMEOUT_S)
    try:
        probe.connect(path)
    except OSError as error:
        if isinstance(error, ConnectionRefusedError) or error.errno in (errno.ECONNREFUSED, errno.ENOENT):
            return False
        reason = error.strerror or type(error).__name__
        raise InputError(f"--socket: failed to check whether a process serves {path!r}: {reason}; "
                         "remove the socket if it is stale or choose another path", field="socket", value=path) from error
    finally:
        probe.close()
    return True


def _bind(server: grpc.Server, address: str, option: str, value: str) -> int:
    """Add ``address`` to ``server``, raising InputError naming ``option`` when it cannot be bound."""
    try:
        port = server.add_insecure_port(address)
    except RuntimeError as error:
        raise InputError(f"{option}: failed to bind {value!r}; check that the directory is writable or the port is free",
                         field=option.lstrip("-"), value=value) from error
    if port == 0:
        raise InputError(f"{option}: failed to bind {value!r}", field=option.lstrip("-"), value=value)
    return port


def _check_tcp_address(address: str) -> None:
    """Bind ``--listen``'s address once with a plain socket, so a busy port raises one clear line.

    gRPC's own bind failure prints its C-core error lines before the exception.
    """
    host, separator, port_text = address.rpartition(":")
    if not separator or not port_text.isdigit() or int(port_text) > 65535:
        raise InputError(f"--listen: invalid address {address!r}; expected HOST:PORT", field="listen", value=address)
    host = host.strip("[]")
    port = int(port_text)
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise InputError(f"--listen: failed to resolve {address!r}: {error.strerror}", field="listen", value=address) from error
    family, kind, proto, _, sockaddr = infos[0]
    probe = socket.socket(family, kind, proto)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(sockaddr)
    except OSError as error:
        raise InputError(f"--listen: failed to bind {address!r}: {error.strerror or error}", field="listen", value=address) from error
    finally:
        probe.close()


def _remove_socket(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            os.unlink(path)


def _check_tls_files(options: ServerOptions) -> None:
    """Load the certificate, key and client CA with Python's ssl module first, because gRPC reports
    an unusable PEM file only as a failed bind."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(options.tls_cert, options.tls_key)
    except OSError as error:
        reason = error.strerror or getattr(error, "reason", None) or str(error)
        raise InputError(
            f"--tls-cert {options.tls_cert!r} / --tls-key {options.tls_key!r}: invalid PEM certificate or key, "
            f"or they do not match: {reason}",
            field="tls_cert",
            value=options.tls_cert,
        ) from error
    if options.tls_client_ca:
        try:
            context.load_verify_locations(cafile=options.tls_client_ca)
        except (OSError, ValueError) as error:
            reason = getattr(error, "strerror", None) or getattr(error, "reason", None) or str(error)
            raise InputError(
                f"--tls-client-ca {options.tls_client_ca!r}: invalid PEM CA bundle: {reason}",
                field="tls_client_ca",
                value=options.tls_client_ca,
            ) from error


def _add_tcp_port(server: grpc.Server, options: ServerOptions) -> int:
    if options.tls_cert or options.tls_key:
        if not (options.tls_cert and options.tls_key):
            raise InputError("--tls-cert and --tls-key must be given together", field="tls_cert", value=options.tls_cert)
        _check_tls_files(options)
        client_ca = _read(options.tls_client_ca, "--tls-client-ca") if options.tls_client_ca else None
        credentials = grpc.ssl_server_credentials(
            [(_read(options.tls_key, "--tls-key"), _read(options.tls_cert, "--tls-cert"))],
            root_certificates=client_ca,
            require_client_auth=client_ca is not None,
        )
        try:
            port = server.add_secure_port(options.listen, credentials)
        except RuntimeError as error:
            raise InputError(f"--listen: failed to bind {options.listen!r}; check that the address is local and the port is free", field="listen", value=options.listen) from error
    else:
        if options.tls_client_ca:
            raise InputError("--tls-client-ca needs --tls-cert and --tls-key", field="tls_client_ca", value=options.tls_client_ca)
        port = _bind(server, options.listen, "--listen", options.listen)
    if port == 0:
        raise InputError(f"--listen: failed to bind {options.listen!r}; check that the address is local and the port is free", field="listen", value=options.listen)
    return port
