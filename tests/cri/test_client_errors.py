"""CriClient turns socket and gRPC faults into evictsim's own exceptions, with one-line messages
that name the endpoint, and sends each call exactly once."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from simulator._proto.runtime.v1 import api_pb2
from simulator.cri.client import MAX_MESSAGE_BYTES, CriClient
from simulator.errors import InputError, NotCriServerError, ProbeError, RuntimeUnavailableError
from tests.fakes.fake_cri import FakeCriServer, make_fake_cri_fixture

fake_cri = make_fake_cri_fixture()


@pytest.fixture
def stale_socket(tmp_path: Path) -> Iterator[Path]:
    """A socket file with no listener behind it, as a crashed runtime leaves behind."""
    path = tmp_path / "stale.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.close()
    yield path


def assert_one_line_naming(error: BaseException, endpoint: str) -> None:
    message = str(error)
    assert endpoint in message
    assert "\n" not in message


class TestSocketFaults:
    def test_missing_socket(self, tmp_path: Path) -> None:
        endpoint = f"unix://{tmp_path}/absent.sock"
        with CriClient(endpoint) as client, pytest.raises(RuntimeUnavailableError) as raised:
            client.version()
        assert "does not exist" in str(raised.value)
        assert_one_line_naming(raised.value, endpoint)
        assert isinstance(raised.value.__cause__, grpc.RpcError)

    def test_regular_file_as_socket(self, tmp_path: Path) -> None:
        path = tmp_path / "containerd.sock"
        path.write_text("not a socket\n")
        endpoint = f"unix://{path}"
        with CriClient(endpoint) as client, pytest.raises(RuntimeUnavailableError) as raised:
            client.image_fs_info()
        assert "is a regular file, not a socket" in str(raised.value)
        assert_one_line_naming(raised.value, endpoint)

    def test_directory_as_socket(self, tmp_path: Path) -> None:
        endpoint = f"unix://{tmp_path}"
        with CriClient(endpoint) as client, pytest.raises(RuntimeUnavailableError) as raised:
            client.list_images()
        assert "is a directory, not a socket" in str(raised.value)

    def test_connection_refused(self, stale_socket: Path) -> None:
        endpoint = f"unix://{stale_socket}"
        with CriClient(endpoint) as client, pytest.raises(RuntimeUnavailableError) as raised:
            client.version()
        assert "connection refused" in str(raised.value)
        assert_one_line_naming(raised.value, endpoint)

    @pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a child process as another user")
    def test_permission_denied(self, fake_cri: FakeCriServer) -> None:
        """A user without write permission on the socket gets 'permission denied', not a gRPC dump."""
        os.chmod(fake_cri.socket_path.parent, 0o755)
        os.chmod(fake_cri.socket_path, 0o600)
        script = textwrap.dedent(
            f"""
            import os, sys
            # Import and build the client first: the unprivileged user cannot read this
            # interpreter's install, and gRPC imports some modules lazily.
            from simulator.cri.client import CriClient
            from simulator.errors import RuntimeUnavailableError
            client = CriClient({fake_cri.endpoint!r})
            os.setgid(65534)
            os.setuid(65534)
            try:
                client.version()
            except RuntimeUnavailableError as error:
                print(error)
                sys.exit(0)
            sys.exit("no error raised")
            """
        )
        result = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=Path.cwd()
        )
        assert result.returncode == 0, result.stderr
        assert "permission denied connecting to" in result.stdout
        assert fake_cri.received == []


class TestServerFaults:
    def test_version_unimplemented_is_not_cri(self, fake_cri: FakeCriServer) -> None:
        fake_cri.set_unimplemented("Version")
        with CriClient(fake_cri.endpoint) as client, pytest.raises(NotCriServerError) as raised:
            client.version()
        assert "not a CRI runtime.v1 server" in str(raised.value)
        assert_one_line_naming(raised.value, fake_cri.endpoint)
        assert isinstance(raised.value.__cause__, grpc.RpcError)

    def test_other_method_unimplemented(self, fake_cri: FakeCriServer) -> None:
        fake_cri.set_unimplemented("ListPodSandboxStats")
        with CriClient(fake_cri.endpoint) as client, pytest.raises(NotCriServerError) as raised:
            client.list_pod_sandbox_stats()
        assert "/runtime.v1.RuntimeService/ListPodSandboxStats" in str(raised.value)

    def test_deadline_exceeded(self, fake_cri: FakeCriServer) -> None:
        fake_cri.set_delay("ImageFsInfo", 2.0)
        with CriClient(fake_cri.endpoint, timeout_s=0.2) as client, pytest.raises(RuntimeUnavailableError) as raised:
            client.image_fs_info()
        assert "timed out after 0.2 s" in str(raised.value)
        assert_one_line_naming(raised.value, fake_cri.endpoint)

    def test_default_deadline_is_two_seconds(self, fake_cri: FakeCriServer) -> None:
        with CriClient(fake_cri.endpoint) as client:
            assert client.timeout_s == 2.0

    def test_other_status_is_probe_error(self, fake_cri: FakeCriServer) -> None:
        fake_cri.set_error("ListContainers", grpc.StatusCode.INTERNAL, "snapshotter\nbroken")
        with CriClient(fake_cri.endpoint) as client, pytest.raises(ProbeError) as raised:
            client.list_containers()
        assert "INTERNAL: snapshotter broken" in str(raised.value)
        assert_one_line_naming(raised.value, fake_cri.endpoint)

    def test_unavailable_from_live_server(self, fake_cri: FakeCriServer) -> None:
        fake_cri.set_error("Status", grpc.StatusCode.UNAVAILABLE, "shutting down")
        with CriClient(fake_cri.endpoint) as client, pytest.raises(RuntimeUnavailableError) as raised:
            client.status()
        assert "unavailable: shutting down" in str(raised.value)

    def test_container_status_not_found_is_none(self, fake_cri: FakeCriServer) -> None:
        fake_cri.set_error("ContainerStatus", grpc.StatusCode.NOT_FOUND, "no such container")
        with CriClient(fake_cri.endpoint) as client:
            assert client.container_status("deadbeef") is None

    def test_image_status_of_absent_image_is_none(self, fake_cri: FakeCriServer) -> None:
        """Runtimes reply to ImageStatus for an unknown image with an empty message, not an error."""
        with CriClient(fake_cri.endpoint) as client:
            assert client.image_status("registry.example/none:1") is None

    def test_empty_image_filesystems_is_empty_list(self, fake_cri: FakeCriServer) -> None:
        """The client returns the empty list; deciding that this is an error (as the kubelet's CRI
        stats provider does) is the caller's job."""
        fake_cri.set_response("ImageFsInfo", api_pb2.ImageFsInfoResponse())
        with CriClient(fake_cri.endpoint) as client:
            info = client.image_fs_info()
        assert info.image_filesystems == []
        assert info.container_filesystems == []

    def test_closed_client_raises_probe_error(self, fake_cri: FakeCriServer) -> None:
        client = CriClient(fake_cri.endpoint)
        client.close()
        with pytest.raises(ProbeError):
            client.version()


class TestCallCounts:
    def test_stats_call_sent_once(self, fake_cri: FakeCriServer) -> None:
        with CriClient(fake_cri.endpoint) as client:
            client.list_container_stats()
        assert fake_cri.count("ListContainerStats") == 1

    @pytest.mark.parametrize(
        "code", [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL, grpc.StatusCode.RESOURCE_EXHAUSTED]
    )
    def test_failed_stats_call_not_retried(self, fake_cri: FakeCriServer, code: grpc.StatusCode) -> None:
        fake_cri.set_error("ListContainerStats", code)
        with CriClient(fake_cri.endpoint) as client, pytest.raises(ProbeError):
            client.list_container_stats()
        assert fake_cri.count("ListContainerStats") == 1

    def test_timed_out_stats_call_not_retried(self, fake_cri: FakeCriServer) -> None:
        fake_cri.set_delay("ListPodSandboxStats", 1.0)
        with CriClient(fake_cri.endpoint, timeout_s=0.1) as client, pytest.raises(RuntimeUnavailableError):
            client.list_pod_sandbox_stats()
        assert fake_cri.count("ListPodSandboxStats") == 1


class TestMessageSize:
    """The kubelet's CRI client accepts replies up to 16 MiB (maxMsgSize = 1024*1024*16 in
    k8s.io/cri-client/pkg/utils.go); gRPC's own default is 4 MiB."""

    @staticmethod
    def images_reply(total_bytes: int) -> api_pb2.ListImagesResponse:
        tag_bytes = 1024 * 1024
        count = total_bytes // tag_bytes
        return api_pb2.ListImagesResponse(
            images=[api_pb2.Image(id=f"sha256:{index}", repo_tags=["x" * tag_bytes]) for index in range(count)]
        )

    def test_reply_above_grpc_default_accepted(self, fake_cri: FakeCriServer) -> None:
        fake_cri.set_response("ListImages", self.images_reply(6 * 1024 * 1024))
        with CriClient(fake_cri.endpoint) as client:
            assert len(client.list_images()) == 6

    def test_reply_above_kubelet_limit_rejected(self, fake_cri: FakeCriServer) -> None:
        fake_cri.set_response("ListImages", self.images_reply(MAX_MESSAGE_BYTES + 1024 * 1024))
        with CriClient(fake_cri.endpoint) as client, pytest.raises(ProbeError) as raised:
            client.list_images()
        assert "RESOURCE_EXHAUSTED" in str(raised.value)


class TestEndpointSelection:
    def test_first_responding_default_wins(self, tmp_path: Path) -> None:
        missing = f"unix://{tmp_path}/missing.sock"
        with FakeCriServer() as not_cri, FakeCriServer() as second, FakeCriServer() as third:
            not_cri.set_unimplemented("Version")
            second.set_response("Version", api_pb2.VersionResponse(runtime_name="second"))
            third.set_response("Version", api_pb2.VersionResponse(runtime_name="third"))
            candidates = (missing, not_cri.endpoint, second.endpoint, third.endpoint)

            with CriClient(default_endpoints=candidates) as client:
                assert client.endpoint == second.endpoint
                assert client.runtime_name == "second"
            assert third.received == []

    def test_runtime_name_uses_stored_version(self, fake_cri: FakeCriServer) -> None:
        with CriClient(default_endpoints=(fake_cri.endpoint,)) as client:
            assert client.runtime_name == "fake-cri"
        assert fake_cri.count("Version") == 1

    def test_no_default_responds(self, tmp_path: Path, stale_socket: Path) -> None:
        missing = f"unix://{tmp_path}/missing.sock"
        stale = f"unix://{stale_socket}"
        with pytest.raises(RuntimeUnavailableError) as raised:
            CriClient(default_endpoints=(missing, stale))
        message = str(raised.value)
        assert f"{missing}: socket does not exist" in message
        assert "connection refused" in message
        assert "--cri-endpoint" in message
        assert "\n" not in message

    def test_builtin_defaults_in_kubelet_order(self) -> None:
        from simulator.cri.client import DEFAULT_ENDPOINTS

        assert DEFAULT_ENDPOINTS == (
            "unix:///run/containerd/containerd.sock",
            "unix:///run/crio/crio.sock",
            "unix:///var/run/cri-dockerd.sock",
        )

    def test_bare_path_is_normalized(self, fake_cri: FakeCriServer) -> None:
        with CriClient(str(fake_cri.socket_path)) as client:
            assert client.endpoint == fake_cri.endpoint
            assert client.version().runtime_name == "fake-cri"

    @pytest.mark.parametrize("endpoint", ["tcp://127.0.0.1:10010", "unix://relative/x.sock", "containerd.sock"])
    def test_invalid_endpoint(self, endpoint: str) -> None:
        with pytest.raises(InputError) as raised:
            CriClient(endpoint)
        assert repr(endpoint) in str(raised.value)

    @pytest.mark.parametrize("timeout_s", [0, -1.0])
    def test_invalid_timeout(self, timeout_s: float) -> None:
        with pytest.raises(InputError) as raised:
            CriClient("unix:///run/x.sock", timeout_s=timeout_s)
        assert "timeout" in str(raised.value)
