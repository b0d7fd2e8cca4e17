"""The daemon's policy sources: the kubelet version from the Node object and the KubeletConfiguration document.

The Kubernetes API is a small fake HTTP server that this module starts on 127.0.0.1. It serves
only GET /api/v1/nodes/NAME and the pod list, and records every request it receives.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Self

import pytest

from simulator.daemon.node_policy import kubelet_config_document, kubelet_version_from_node
from simulator.errors import InputError, ProbeError
from simulator.policy.load import PolicyInputs, build_policy

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "recorded-node"
DATA = REPO / "tests" / "data" / "real"


class FakeKubernetesApi:
    """A read-only Kubernetes API with one Node; other paths get 404, other methods 405."""

    def __init__(self, node_name: str, kubelet_version: str) -> None:
        self.node_name = node_name
        self.kubelet_version = kubelet_version
        self.requests: list[tuple[str, str]] = []
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                api.requests.append(("GET", self.path))
                path = self.path.split("?", 1)[0]
                if path == f"/api/v1/nodes/{api.node_name}":
                    self._reply(200, api.node())
                elif path == "/api/v1/pods":
                    self._reply(200, {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": []})
                else:
                    self._reply(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404})

            def _reject(self) -> None:
                api.requests.append((self.command, self.path))
                self._reply(405, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 405})

            do_POST = do_PUT = do_PATCH = do_DELETE = _reject

            def _reply(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                return None

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def node(self) -> dict:
        return {
            "kind": "Node",
            "apiVersion": "v1",
            "metadata": {"name": self.node_name},
            "status": {"nodeInfo": {"kubeletVersion": self.kubelet_version}},
        }

    def write_kubeconfig(self, path: Path) -> Path:
        document = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "reader", "user": {"token": "test-token"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "reader"}}],
            "current-context": "fake",
        }
        path.write_text(json.dumps(document))
        return path

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def no_in_cluster_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make sure the client falls back to the kubeconfig, as outside a pod."""
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_PORT", raising=False)


@pytest.fixture
def fake_api() -> Iterator[callable]:
    opened: list[FakeKubernetesApi] = []

    def start(version: str) -> FakeKubernetesApi:
        api = FakeKubernetesApi("worker-1", version).__enter__()
        opened.append(api)
        return api

    yield start
    for api in opened:
        api.__exit__(None, None, None)


def daemon_command(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_")}
    return subprocess.run(
        [sys.executable, "-m", "simulator", "daemon", *args],
        capture_output=True, text=True, timeout=60, cwd=REPO, env={**env, "PYTHONPATH": str(REPO)}, check=False,
    )


class TestKubeletVersionFromNode:
    def test_version_from_node_status(self, fake_api, no_in_cluster_config, tmp_path: Path) -> None:
        """status.nodeInfo.kubeletVersion v1.33.4 means kubelet 1.33; only a GET of the node is sent."""
        api = fake_api("v1.33.4")
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")

        reported, version = kubelet_version_from_node("worker-1", kubeconfig=str(kubeconfig))

        assert reported == "v1.33.4"
        assert version == "1.33"
        assert api.requests == [("GET", "/api/v1/nodes/worker-1")]

    def test_distro_suffix_is_accepted(self, fake_api, no_in_cluster_config, tmp_path: Path) -> None:
        api = fake_api("v1.31.4-eks-1234567")
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        assert kubelet_version_from_node("worker-1", kubeconfig=str(kubeconfig))[1] == "1.31"

    def test_unsupported_version_is_input_error(self, fake_api, no_in_cluster_config, tmp_path: Path) -> None:
        api = fake_api("v1.20.1")
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")

        with pytest.raises(InputError) as raised:
            kubelet_version_from_node("worker-1", kubeconfig=str(kubeconfig))
        assert "node worker-1 status.nodeInfo.kubeletVersion" in str(raised.value)
        assert "1.20" in str(raised.value)

    def test_missing_node_is_probe_error(self, fake_api, no_in_cluster_config, tmp_path: Path) -> None:
        api = fake_api("v1.33.4")
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")

        with pytest.raises(ProbeError, match="reading node absent"):
            kubelet_version_from_node("absent", kubeconfig=str(kubeconfig))

    def test_daemon_logs_version_from_node(self, fake_api, tmp_path: Path) -> None:
        """`evictsim daemon --node-name` without --kubelet-version uses the Node's version."""
        api = fake_api("v1.33.4")
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")

        result = daemon_command(
            "--replay", str(EXAMPLE / "00-summary.json"), "--no-api", "--once",
            "--node-name", "worker-1", "--kubeconfig", str(kubeconfig),
        )

        assert result.returncode == 0, result.stderr
        events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
        found = [e for e in events if e["event"] == "kubelet_version_from_node"]
        assert len(found) == 1
        assert found[0]["kubelet_version"] == "1.33"
        assert found[0]["node_kubelet_version"] == "v1.33.4"
        started = next(e for e in events if e["event"] == "daemon_started")
        assert started["kubelet_version"] == "1.33"
        assert all(method == "GET" for method, _ in api.requests)

    def test_given_version_wins(self, fake_api, tmp_path: Path) -> None:
        api = fake_api("v1.33.4")
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")

        result = daemon_command(
            "--replay", str(EXAMPLE / "00-summary.json"), "--no-api", "--once", "--kubelet-version", "1.30",
            "--node-name", "worker-1", "--kubeconfig", str(kubeconfig),
        )

        assert result.returncode == 0, result.stderr
        assert "kubelet_version_from_node" not in result.stdout
        assert ("GET", "/api/v1/nodes/worker-1") not in api.requests

    def test_daemon_rejects_unsupported_node_version(self, fake_api, tmp_path: Path) -> None:
        api = fake_api("v1.20.1")
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")

        result = daemon_command(
            "--replay", str(EXAMPLE / "00-summary.json"), "--no-api", "--once",
            "--node-name", "worker-1", "--kubeconfig", str(kubeconfig),
        )

        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert "status.nodeInfo.kubeletVersion" in lines[0]
        assert "Traceback" not in result.stderr


    def test_unreachable_api_warns_once(self, tmp_path: Path) -> None:
        """A Kubernetes API that refuses connections leaves the default version with a warning;
        the pod list then fails too, so the daemon exits 1 with one line naming the node."""
        closed = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
        port = closed.server_address[1]
        closed.server_close()  # the port is now closed, so connections are refused
        api = FakeKubernetesApi("worker-1", "v1.33.4")
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        kubeconfig.write_text(kubeconfig.read_text().replace(api.url, f"http://127.0.0.1:{port}"))
        api.server.server_close()

        result = daemon_command(
            "--replay", str(EXAMPLE / "00-summary.json"), "--no-api", "--once",
            "--node-name", "worker-1", "--kubeconfig", str(kubeconfig),
        )

        assert result.returncode == 1
        events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
        warnings = [e for e in events if e["event"] == "kubelet_version_from_node_failed"]
        assert len(warnings) == 1
        assert "reading node worker-1" in warnings[0]["error"]
        assert "worker-1" in result.stderr
        assert "Traceback" not in result.stderr


class TestKubeletConfigDocument:
    def args(self, **values: object) -> argparse.Namespace:
        names = ("kubelet_config", "config_dir", "configz", "flags", "flags_file", "preset", "kubelet_version")
        return argparse.Namespace(**{name: values.get(name) for name in names})

    def test_config_file_returned_as_read(self, tmp_path: Path) -> None:
        path = tmp_path / "kubelet.yaml"
        path.write_text(
            "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
            "evictionHard:\n  imagefs.available: 20%\n"
        )
        args = self.args(kubelet_config=str(path))
        policy = build_policy(PolicyInputs(config_file=str(path)))

        document = kubelet_config_document(args, policy)

        assert document == {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "evictionHard": {"imagefs.available": "20%"},
        }

    def test_configz_returned_as_read(self) -> None:
        path = next((DATA / "configz").glob("*.json"))
        args = self.args(configz=str(path))
        policy = build_policy(PolicyInputs(configz_file=str(path)))

        document = kubelet_config_document(args, policy)

        assert document == json.loads(path.read_text())["kubeletconfig"]

    def test_flags_rebuild_from_policy(self) -> None:
        """Flags have no single document, so the effective policy's fields are written out."""
        args = self.args(flags="--eviction-hard=imagefs.available<25%")
        policy = build_policy(PolicyInputs(flags_text="--eviction-hard=imagefs.available<25%"))

        document = kubelet_config_document(args, policy)

        assert document["evictionHard"]["imagefs.available"] == "25%"
