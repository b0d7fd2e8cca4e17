"""Pod specs for the eviction manager: files, the Kubernetes API, and the kubelet's pod predicates.

Critical pods follow kubernetes pkg/kubelet/types IsCriticalPod (1.27-1.35): static (config
source annotation other than "api"), mirror (config.mirror annotation) or priority at least
2000000000. The API test serves a PodList from a loopback HTTP server started by the test.
"""

from __future__ import annotations

import dataclasses
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.errors import InputError
from simulator.pods import is_critical, list_node_pods, load_pod_list, parse_pod_list, pod_limit, pod_request
from simulator.quantity import Quantity

POD = {
    "metadata": {"name": "web", "namespace": "apps", "uid": "u1", "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1", "uid": "rs1", "controller": True}]},
    "spec": {
        "nodeName": "node-a",
        "priority": 100,
        "terminationGracePeriodSeconds": 45,
        "containers": [{"name": "web", "resources": {"requests": {"memory": "1.5Gi"}, "limits": {"ephemeral-storage": "2Gi"}}}],
        "volumes": [{"name": "cache", "emptyDir": {"sizeLimit": "500Mi", "medium": ""}}, {"name": "cfg", "configMap": {"name": "x"}}],
    },
    "status": {"phase": "Running"},
}


def test_pod_fields_read() -> None:
    pod = parse_pod_list(POD)[0]
    assert pod.key == "apps/web"
    assert pod.priority == 100
    assert pod.termination_grace_period_s == 45
    assert pod.owner_kind == "ReplicaSet"
    assert pod_request(pod, "memory") == 1536 * 2**20
    assert pod_limit(pod, "ephemeral-storage") == 2 * 2**30
    assert pod_limit(pod, "memory") is None
    assert [(v.name, v.source, v.is_local) for v in pod.volumes] == [("cache", "emptyDir", True), ("cfg", "configMap", True)]
    assert str(pod.volumes[0].empty_dir_size_limit) == "500Mi"


@pytest.mark.parametrize(
    "document",
    [{"kind": "PodList", "items": [POD]}, {"kind": "List", "items": [POD]}, [POD], POD],
    ids=["podlist", "list", "array", "single"],
)
def test_pod_list_forms(document: object) -> None:
    assert [pod.key for pod in parse_pod_list(document)] == ["apps/web"]


def test_yaml_pods_file(tmp_path: Path) -> None:
    path = tmp_path / "pods.yaml"
    path.write_text("items:\n  - metadata: {name: a, namespace: b}\n    spec: {containers: [{name: c}]}\n")
    assert [pod.key for pod in load_pod_list(path)] == ["b/a"]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"items": [{"metadata": {}, "spec": {}}]}, "items[0].metadata.name"),
        (
            {"items": [{"metadata": {"name": "a"}, "spec": {"containers": [{"name": "c", "resources": {"requests": {"memory": "lots"}}}]}}]},
            "items[0].spec.containers[0].resources.requests.memory: invalid quantity 'lots'",
        ),
        ({"items": [{"metadata": {"name": "a"}, "spec": {"priority": "high"}}]}, "items[0].spec.priority"),
        ({"kind": "Node"}, "expected a PodList"),
    ],
)
def test_bad_pods_name_the_field(document: object, message: str) -> None:
    with pytest.raises(InputError) as error:
        parse_pod_list(document)
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("annotations", "priority", "critical"),
    [
        ({}, None, False),
        ({"kubernetes.io/config.source": "api"}, 0, False),
        ({"kubernetes.io/config.source": "file"}, None, True),
        ({"kubernetes.io/config.source": "http"}, None, True),
        ({"kubernetes.io/config.mirror": "hash"}, None, True),
        ({}, 1999999999, False),
        ({}, 2000000000, True),
        ({}, 2000001000, True),
    ],
)
def test_is_critical(annotations: dict, priority: int | None, critical: bool) -> None:
    document = {"metadata": {"name": "p", "annotations": annotations}, "spec": {"containers": [{"name": "c"}]}}
    if priority is not None:
        document["spec"]["priority"] = priority
    assert is_critical(parse_pod_list(document)[0]) is critical


@pytest.fixture
def pod_api() -> Iterator[tuple[str, list[str]]]:
    """Serve GET /api/v1/pods from a loopback HTTP server; yield its URL and the request paths seen."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(f"GET {self.path}")
            body = json.dumps({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": [POD]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_list_node_pods_from_api(pod_api: tuple[str, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The API path lists pods with a spec.nodeName field selector and only reads."""
    url, seen = pod_api
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_PORT", raising=False)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: test\n"
        f"clusters: [{{name: test, cluster: {{server: '{url}'}}}}]\n"
        "users: [{name: test, user: {token: not-a-secret}}]\n"
        "contexts: [{name: test, context: {cluster: test, user: test}}]\n"
    )

    pods = list_node_pods("node-a", kubeconfig=str(kubeconfig))

    assert [pod.key for pod in pods] == ["apps/web"]
    assert pods[0].priority == 100
    assert len(seen) == 1
    assert seen[0].startswith("GET /api/v1/pods?")
    assert "fieldSelector=spec.nodeName%3Dnode-a" in seen[0]


def test_list_node_pods_api_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unreachable API server is a ProbeError with one line naming the node."""
    import socket

    from simulator.errors import ProbeError

    with socket.socket() as probe:  # a loopback port with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: t\n"
        f"clusters: [{{name: t, cluster: {{server: 'http://127.0.0.1:{port}'}}}}]\n"
        "users: [{name: t, user: {}}]\ncontexts: [{name: t, context: {cluster: t, user: t}}]\n"
    )
    from kubernetes.client import Configuration

    monkeypatch.setattr(Configuration, "retries", 0, raising=False)
    with pytest.raises(ProbeError, match="listing the pods of node node-a from the Kubernetes API failed"):
        list_node_pods("node-a", kubeconfig=str(kubeconfig))


def test_replaced_spec_recomputes_requests() -> None:
    """A copy made with dataclasses.replace computes its own requests and limits, not the original's."""
    pod = parse_pod_list(POD)[0]
    assert pod_request(pod, "memory") == 1536 * 2**20
    assert pod_limit(pod, "ephemeral-storage") == 2 * 2**30

    container = dataclasses.replace(
        pod.containers[0], requests={"memory": Quantity.parse("3Gi")}, limits={"ephemeral-storage": Quantity.parse("1Gi")}
    )
    resized = dataclasses.replace(pod, containers=(container,))
    assert pod_request(resized, "memory") == 3 * 2**30
    assert pod_limit(resized, "ephemeral-storage") == 2**30
    assert pod_request(pod, "memory") == 1536 * 2**20
