"""The live pod probe: CRI sandboxes and containers joined by labels, with disk usage from the kubelet's directories.

Expected layout and accounting follow the kubelet. Pod logs sit under
``/var/log/pods/<namespace>_<name>_<uid>/<container>/`` (kuberuntime BuildPodLogsDirectory) and
volumes under ``<root>/pods/<uid>/volumes/<plugin>/<name>`` (kubelet_getters.go). Sizes are
measured du-style in allocated blocks and inodes (cAdvisor GetDirUsage). Ephemeral storage is
writable layers + logs + local ephemeral volumes (stats helper ``calcEphemeralStorage``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from simulator.cri import types
from simulator.engine.images import SandboxInfo
from simulator.errors import InputError
from simulator.probes.pods import CriPodStatsSource, current_sandboxes, dir_usage, pod_stats_source

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
NOW_NS = int(NOW.timestamp()) * 10**9
LABELS = {
    "io.kubernetes.pod.uid": "uid-1",
    "io.kubernetes.pod.name": "web",
    "io.kubernetes.pod.namespace": "shop",
}


class FakeCri:
    """Replies as a CriClient would, and counts ListContainerStats calls."""

    def __init__(self) -> None:
        self.stats_calls = 0
        self.sandboxes = [
            types.PodSandbox(
                id="s-old",
                name="web",
                namespace="shop",
                uid="uid-1",
                attempt=0,
                state="SANDBOX_NOTREADY",
                created_at_ns=NOW_NS - 10**12,
                labels=LABELS,
                annotations={},
                runtime_handler="",
            ),
            types.PodSandbox(
                id="s-new",
                name="web",
                namespace="shop",
                uid="uid-1",
                attempt=1,
                state="SANDBOX_READY",
                created_at_ns=NOW_NS - 10**11,
                labels=LABELS,
                annotations={},
                runtime_handler="",
            ),
        ]
        self.containers = [
            types.Container(
                id="c-run",
                pod_sandbox_id="s-new",
                name="app",
                attempt=1,
                image="app:1",
                image_ref="sha256:a",
                image_id="",
                state="CONTAINER_RUNNING",
                created_at_ns=NOW_NS - 10**10,
                labels={**LABELS, "io.kubernetes.container.name": "app"},
                annotations={},
            ),
            types.Container(
                id="c-dead",
                pod_sandbox_id="s-new",
                name="app",
                attempt=0,
                image="app:1",
                image_ref="sha256:a",
                image_id="",
                state="CONTAINER_EXITED",
                created_at_ns=NOW_NS - 10**11,
                labels={**LABELS, "io.kubernetes.container.name": "app"},
                annotations={},
            ),
        ]

    def list_pod_sandboxes(self) -> list[types.PodSandbox]:
        return self.sandboxes

    def list_containers(self) -> list[types.Container]:
        return self.containers

    def list_container_stats(self) -> list[types.ContainerStats]:
        self.stats_calls += 1
        layer = types.FilesystemUsage(
            timestamp_ns=NOW_NS, mountpoint="/var/lib/containerd", used_bytes=4096 * 3, inodes_used=7
        )
        return [
            types.ContainerStats(
                id="c-run",
                name="app",
                labels={},
                annotations={},
                writable_layer=layer,
                memory_working_set_bytes=None,
                memory_usage_bytes=None,
                timestamp_ns=NOW_NS,
            )
        ]


def _node(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "kubelet"
    logs = tmp_path / "log-pods"
    empty_dir = root / "pods" / "uid-1" / "volumes" / "kubernetes.io~empty-dir" / "cache"
    empty_dir.mkdir(parents=True)
    (empty_dir / "blob").write_bytes(b"z" * 20000)
    other = root / "pods" / "uid-1" / "volumes" / "kubernetes.io~csi" / "data"
    other.mkdir(parents=True)
    (other / "f").write_bytes(b"q" * 5000)
    log_dir = logs / "shop_web_uid-1" / "app"
    log_dir.mkdir(parents=True)
    (log_dir / "1.log").write_bytes(b"l" * 3000)
    return root, logs


def _blocks(*paths: Path) -> int:
    return sum(path.stat().st_blocks * 512 for path in paths)


def test_pod_stats_joined_and_measured(tmp_path: Path) -> None:
    """One pod from its ready sandbox, running containers only, rootfs from CRI, logs and volumes from disk."""
    root, logs = _node(tmp_path)
    source = CriPodStatsSource(FakeCri(), root_dir=str(root), log_root=str(logs), now=lambda: NOW)

    pods = source()

    assert [pod.pod_ref.key for pod in pods] == ["shop/web"]
    pod = pods[0]
    assert pod.pod_ref.uid == "uid-1"
    assert [c.name for c in pod.containers] == ["app"]
    assert pod.containers[0].rootfs.used_bytes == 12288
    assert pod.containers[0].rootfs.inodes_used == 7
    log_root = logs / "shop_web_uid-1" / "app"
    assert pod.containers[0].logs.used_bytes == _blocks(log_root, log_root / "1.log")
    volumes = {v.name: v.fs.used_bytes for v in pod.volume_stats}
    cache = root / "pods" / "uid-1" / "volumes" / "kubernetes.io~empty-dir" / "cache"
    assert volumes["cache"] == _blocks(cache, cache / "blob")
    assert "data" in volumes
    assert pod.ephemeral_storage.used_bytes == 12288 + pod.containers[0].logs.used_bytes + volumes["cache"]


def test_container_stats_throttled(tmp_path: Path) -> None:
    """ListContainerStats is called at most once per interval; calls in between reuse the reply."""
    cri = FakeCri()
    moments = iter([0.0, 5.0, 9.9, 10.0, 12.0])
    source = CriPodStatsSource(
        cri,
        root_dir=str(tmp_path),
        log_root=str(tmp_path),
        min_interval_s=10,
        clock=lambda: next(moments),
        now=lambda: NOW,
    )

    for _ in range(5):
        source()

    assert cri.stats_calls == 2


def test_missing_directories_are_zero(tmp_path: Path) -> None:
    """A pod without log or volume directories reports zero logs and no volumes."""
    source = CriPodStatsSource(
        FakeCri(), root_dir=str(tmp_path / "none"), log_root=str(tmp_path / "none"), now=lambda: NOW
    )
    pod = source()[0]

    assert pod.containers[0].logs.used_bytes == 0
    assert pod.volume_stats == []
    assert pod.ephemeral_storage.used_bytes == 12288


def test_dir_usage_counts_hard_links_once(tmp_path: Path) -> None:
    """du counts a hard-linked file once."""
    (tmp_path / "a").write_bytes(b"a" * 9000)
    (tmp_path / "b").hardlink_to(tmp_path / "a")
    usage = dir_usage(tmp_path)

    assert usage.inodes == 2
    assert usage.bytes == _blocks(tmp_path, tmp_path / "a")
    assert dir_usage(tmp_path / "absent") is None


def test_current_sandbox_prefers_ready() -> None:
    """A ready sandbox wins over a newer not-ready one of the same pod."""
    ready = SandboxInfo(id="r", uid="u", name="p", namespace="n", state="SANDBOX_READY", created_at_ns=1)
    newer = SandboxInfo(id="x", uid="u", name="p", namespace="n", state="SANDBOX_NOTREADY", created_at_ns=2)

    assert [s.id for s in current_sandboxes([newer, ready])] == ["r"]


def test_negative_interval_rejected(tmp_path: Path) -> None:
    """A negative polling interval is invalid input."""
    with pytest.raises(InputError, match="min_interval_s|interval"):
        CriPodStatsSource(FakeCri(), min_interval_s=-1)


def test_pod_stats_source_hook(tmp_path: Path) -> None:
    """pod_stats_source returns a callable that fits the sampler's hook: no arguments, a list of PodStats."""
    root, logs = _node(tmp_path)
    hook = pod_stats_source(FakeCri(), root_dir=str(root), log_root=str(logs), min_interval_s=5)

    pods = hook()

    assert [pod.pod_ref.uid for pod in pods] == ["uid-1"]
    assert hook.min_interval_s == 5
