"""``evictsim gc images`` and ``evictsim gc containers`` offline and against a fake CRI server.

Expected values follow the kubelet's image GC formulas (``image_gc_manager.go``: usage =
100 - available*100 // capacity, target = capacity*(100-low) // 100 - available) and
container GC rules (``kuberuntime_gc.go``). The fake CRI server sends replies containerd
1.6 cannot send: a pinned image and the ``image_id`` field of a container.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulator._proto.runtime.v1 import api_pb2
from simulator.cli.main import main
from tests.fakes.fake_cri import FakeCriServer, make_fake_cri_fixture

DATA = Path(__file__).resolve().parents[1] / "data" / "gc"
NOW = "2026-01-01T12:00:00Z"
NOW_NS = 1767268800 * 1_000_000_000

fake_cri = make_fake_cri_fixture()


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    code = main(list(argv) + ["-o", "json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def test_offline_images(capsys: pytest.CaptureFixture[str]) -> None:
    """90 % used, 85/80: target 100000000 bytes; only the unused busybox image can go, so GC falls short."""
    document = run_json(
        capsys,
        "gc",
        "images",
        "--images",
        str(DATA / "crictl-images.json"),
        "--containers",
        str(DATA / "crictl-ps.json"),
        "--summary",
        str(DATA / "imagefs-summary.json"),
        "--now",
        NOW,
        "--kubelet-version",
        "1.31",
    )

    outcomes = {c["name"]: c["outcome"] for c in document["candidates"]}
    assert document["usagePercent"] == 90
    assert document["targetBytes"] == 100000000
    assert document["bytesFreed"] == 2000000
    assert document["shortfallBytes"] == 98000000
    assert outcomes["docker.io/library/nginx:1.25"] == "in_use_running"
    assert outcomes["docker.io/library/redis:7"] == "in_use_exited"
    assert outcomes["registry.k8s.io/pause:3.9"] == "pinned"
    assert document["error"].startswith("Failed to garbage collect required amount of images.")
    assert any("no --state" in note for note in document["notes"])


def test_offline_eviction_trigger(capsys: pytest.CaptureFixture[str]) -> None:
    """--trigger eviction: DeleteUnusedImages has no target and removes every eligible image."""
    document = run_json(
        capsys,
        "gc",
        "images",
        "--images",
        str(DATA / "crictl-images.json"),
        "--containers",
        str(DATA / "crictl-ps.json"),
        "--trigger",
        "eviction",
        "--now",
        NOW,
    )

    assert document["trigger"] == "eviction_reclaim"
    assert document["targetBytes"] == "unlimited"
    assert document["bytesFreed"] == 2000000


def test_state_file_min_age(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """With detection times from a state file, an image first seen 60 s ago is younger than the 2 m minimum."""
    state = {
        "kind": "ImageGCState",
        "version": 1,
        "kubeletVersion": "1.31",
        "kubeletStart": "2026-01-01T00:00:00Z",
        "initialized": True,
        "records": {
            "sha256:4444444444444444444444444444444444444444444444444444444444444444": {
                "firstDetected": "2026-01-01T11:59:00Z",
                "lastUsed": None,
                "sizeBytes": 2000000,
                "pinned": False,
            }
        },
    }
    path = tmp_path / "state.json"
    path.write_text(json.dumps(state))
    document = run_json(
        capsys,
        "gc",
        "images",
        "--images",
        str(DATA / "crictl-images.json"),
        "--containers",
        str(DATA / "crictl-ps.json"),
        "--summary",
        str(DATA / "imagefs-summary.json"),
        "--state",
        str(path),
        "--now",
        NOW,
        "--kubelet-version",
        "1.31",
    )

    busybox = next(c for c in document["candidates"] if c["imageId"].startswith("sha256:4444"))
    assert busybox["outcome"] == "younger_than_min_age"
    assert document["bytesFreed"] == 0


def test_table_output(capsys: pytest.CaptureFixture[str]) -> None:
    """Without --containers nothing is in use: the table lists the two oldest-by-id images as removed."""
    code = main(
        [
            "gc",
            "images",
            "--images",
            str(DATA / "crictl-images.json"),
            "--summary",
            str(DATA / "imagefs-summary.json"),
            "--now",
            NOW,
            "-o",
            "table",
        ]
    )
    out = capsys.readouterr().out

    assert code == 0
    assert "OUTCOME" in out
    assert out.count(" removed\n") == 2
    assert "error (" not in out
    assert "no --containers: no image counts as in use" in out


def test_containers_without_images_rejected(capsys: pytest.CaptureFixture[str]) -> None:
    """--containers alone is ambiguous for gc images: exit 2 with one line."""
    code = main(["gc", "images", "--containers", str(DATA / "crictl-ps.json")])
    err = capsys.readouterr().err

    assert code == 2
    assert "--containers needs --images" in err


def test_offline_containers(capsys: pytest.CaptureFixture[str]) -> None:
    """Default policy keeps one dead container per pod container: the older migrate attempt goes."""
    document = run_json(
        capsys, "gc", "containers", "--containers", str(DATA / "crictl-ps.json"), "--now", NOW
    )

    outcomes = {c["containerId"][-2:]: c["outcome"] for c in document["containers"]}
    assert outcomes == {
        "a1": "kept_running",
        "a2": "kept_newest",
        "a3": "removed_max_per_pod_container",
        "a4": "kept_newest",
    }


def _image(image_id: str, size: int, *, pinned: bool = False, tag: str = "") -> api_pb2.Image:
    return api_pb2.Image(id=image_id, size=size, pinned=pinned, repo_tags=[tag] if tag else [])


def test_live_pinned_and_image_id(
    capsys: pytest.CaptureFixture[str], fake_cri: FakeCriServer, tmp_path: Path
) -> None:
    """A pinned image is never a candidate; a container's image_id (CRI 1.30 field) marks its image in use."""
    fake_cri.set_response(
        "ListImages",
        api_pb2.ListImagesResponse(
            images=[
                _image("sha256:pause", 300, pinned=True, tag="registry.k8s.io/pause:3.10"),
                _image("sha256:app", 5000, tag="example/app:1"),
                _image("sha256:old", 7000, tag="example/old:1"),
            ]
        ),
    )
    fake_cri.set_response(
        "ListContainers",
        api_pb2.ListContainersResponse(
            containers=[
                api_pb2.Container(
                    id="c1",
                    pod_sandbox_id="s1",
                    image_ref="example/app:1",
                    image_id="sha256:app",
                    state=api_pb2.CONTAINER_EXITED,
                    created_at=NOW_NS,
                    metadata=api_pb2.ContainerMetadata(name="app"),
                    labels={
                        "io.kubernetes.pod.uid": "u1",
                        "io.kubernetes.pod.name": "p",
                        "io.kubernetes.pod.namespace": "n",
                    },
                ),
            ]
        ),
    )
    document = run_json(
        capsys,
        "gc",
        "images",
        "--cri-endpoint",
        fake_cri.endpoint,
        "--summary",
        str(DATA / "imagefs-summary.json"),
        "--now",
        NOW,
        "--kubelet-version",
        "1.31",
    )

    outcomes = {c["imageId"]: c["outcome"] for c in document["candidates"]}
    assert outcomes == {"sha256:old": "removed", "sha256:app": "in_use_exited", "sha256:pause": "pinned"}
    assert document["bytesFreed"] == 7000
    assert fake_cri.count("/runtime.v1.ImageService/RemoveImage") == 0


def test_live_containers_bytes(
    capsys: pytest.CaptureFixture[str], fake_cri: FakeCriServer, tmp_path: Path
) -> None:
    """Live container GC counts the removed container's writable layer (ListContainerStats) and its logs."""
    labels = {
        "io.kubernetes.pod.uid": "u1",
        "io.kubernetes.pod.name": "p",
        "io.kubernetes.pod.namespace": "n",
    }
    fake_cri.set_response(
        "ListContainers",
        api_pb2.ListContainersResponse(
            containers=[
                api_pb2.Container(
                    id=f"c{attempt}",
                    pod_sandbox_id="s1",
                    image_ref="sha256:i",
                    state=api_pb2.CONTAINER_EXITED,
                    created_at=NOW_NS - (10 - attempt) * 10**9,
                    labels=labels,
                    metadata=api_pb2.ContainerMetadata(name="app", attempt=attempt),
                )
                for attempt in (0, 1)
            ]
        ),
    )
    fake_cri.set_response(
        "ListPodSandbox",
        api_pb2.ListPodSandboxResponse(
            items=[
                api_pb2.PodSandbox(
                    id="s1",
                    state=api_pb2.SANDBOX_READY,
                    created_at=NOW_NS - 10**10,
                    metadata=api_pb2.PodSandboxMetadata(name="p", namespace="n", uid="u1"),
                ),
            ]
        ),
    )
    fake_cri.set_response(
        "ListContainerStats",
        api_pb2.ListContainerStatsResponse(
            stats=[
                api_pb2.ContainerStats(
                    attributes=api_pb2.ContainerAttributes(id="c0"),
                    writable_layer=api_pb2.FilesystemUsage(used_bytes=api_pb2.UInt64Value(value=8192)),
                ),
            ]
        ),
    )
    log_dir = tmp_path / "pods" / "n_p_u1" / "app"
    log_dir.mkdir(parents=True)
    (log_dir / "0.log").write_bytes(b"x" * 10000)
    (log_dir / "1.log").write_bytes(b"y" * 100)
    log_bytes = (log_dir / "0.log").stat().st_blocks * 512
    document = run_json(
        capsys,
        "gc",
        "containers",
        "--cri-endpoint",
        fake_cri.endpoint,
        "--pod-log-dir",
        str(tmp_path / "pods"),
        "--now",
        NOW,
    )

    removed = [c for c in document["containers"] if c["outcome"].startswith("removed")]
    assert [c["containerId"] for c in removed] == ["c0"]
    assert removed[0]["writableLayerBytes"] == 8192
    assert removed[0]["logBytes"] == log_bytes
    assert document["bytesFreed"] == 8192 + log_bytes


def test_offline_without_summary(capsys: pytest.CaptureFixture[str]) -> None:
    """Without --summary the usage is unknown: no threshold pass, no kubelet error, and a note gives the reason."""
    document = run_json(capsys, "gc", "images", "--images", str(DATA / "crictl-images.json"), "--now", NOW)

    assert document["usagePercent"] is None
    assert document["error"] is None
    assert document["bytesFreed"] == 0
    assert any("no --summary" in note for note in document["notes"])


def test_offline_summary_without_imagefs(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A --summary with no node.runtime.imageFs: the note names the Summary, not a missing --summary."""
    summary = json.loads((DATA.parent / "real" / "summary" / "gke-2019-datadog-stats-summary.json").read_text())
    del summary["node"]["runtime"]
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(summary))

    document = run_json(
        capsys, "gc", "images", "--images", str(DATA / "crictl-images.json"), "--summary", str(path), "--now", NOW
    )

    assert document["usagePercent"] is None
    assert not any("no --summary" in note for note in document["notes"])
    assert any(note.startswith("the Summary has no node.runtime.imageFs") for note in document["notes"])


def test_live_odd_replies(capsys: pytest.CaptureFixture[str], fake_cri: FakeCriServer) -> None:
    """Size 0, a repeated id and an unknown image reference are handled as the kubelet's id-keyed records do."""
    fake_cri.set_response(
        "ListImages",
        api_pb2.ListImagesResponse(
            images=[
                _image("sha256:zero", 0, tag="example/zero:1"),
                _image("sha256:dup", 100, tag="example/dup:1"),
                _image("sha256:dup", 900, tag="example/dup:2"),
            ]
        ),
    )
    fake_cri.set_response(
        "ListContainers",
        api_pb2.ListContainersResponse(
            containers=[
                api_pb2.Container(
                    id="c1",
                    pod_sandbox_id="s1",
                    image_ref="sha256:gone",
                    state=api_pb2.CONTAINER_RUNNING,
                    created_at=NOW_NS,
                    metadata=api_pb2.ContainerMetadata(name="app"),
                ),
            ]
        ),
    )
    document = run_json(
        capsys,
        "gc",
        "images",
        "--cri-endpoint",
        fake_cri.endpoint,
        "--summary",
        str(DATA / "imagefs-summary.json"),
        "--now",
        NOW,
        "--trigger",
        "eviction",
    )

    sizes = {c["imageId"]: c["sizeBytes"] for c in document["candidates"]}
    assert sizes == {"sha256:zero": 0, "sha256:dup": 900}
    assert document["bytesFreed"] == 900
    assert any("sha256:gone" in note for note in document["notes"])


REAL = DATA.parent / "real"


def test_kind_configz_disables_periodic_gc(capsys: pytest.CaptureFixture[str]) -> None:
    """A real kind /configz sets imageGCHighThresholdPercent 100: kubelet.go never starts periodic image GC."""
    document = run_json(
        capsys,
        "gc",
        "images",
        "--images",
        str(DATA / "crictl-images.json"),
        "--summary",
        str(DATA / "imagefs-summary.json"),
        "--configz",
        str(REAL / "configz" / "kind-cgroupfs-configz-k8s-node-collector.json"),
        "--kubelet-version",
        "1.31",
        "--now",
        NOW,
    )

    assert document["ran"] is False
    assert document["highThresholdPercent"] == 100
    assert document["candidates"] == []


def test_real_minikube_node_has_no_gc(capsys: pytest.CaptureFixture[str]) -> None:
    """The real minikube 1.35 node is 17 % used: below the default high threshold 85, so no target."""
    document = run_json(
        capsys,
        "gc",
        "images",
        "--images",
        str(REAL / "images" / "minikube-k8s1.35-containerd2.2-newrelic-node-status.yaml"),
        "--summary",
        str(REAL / "summary" / "minikube-k8s1.35-containerd2.2-newrelic.json"),
        "--kubelet-version",
        "1.35",
        "--now",
        NOW,
    )

    capacity = 977896124416
    available = 821203210240
    assert document["usagePercent"] == 100 - available * 100 // capacity
    assert document["targetBytes"] == 0
    assert len(document["candidates"]) == 16
    assert {c["outcome"] for c in document["candidates"]} == {"not_needed"}


def test_eviction_trigger_table(capsys: pytest.CaptureFixture[str]) -> None:
    """--trigger eviction as a table: DeleteUnusedImages uses no GC watermarks, so none are printed.

    Source: kubelet pkg/kubelet/images/image_gc_manager.go, DeleteUnusedImages frees with an
    unlimited byte target and never reads the high or low threshold.
    """
    code = main(
        [
            "gc",
            "images",
            "--images",
            str(DATA / "crictl-images.json"),
            "--summary",
            str(DATA / "imagefs-summary.json"),
            "--trigger",
            "eviction",
            "--now",
            NOW,
            "-o",
            "table",
        ]
    )
    out = capsys.readouterr().out

    assert code == 0
    assert "None" not in out
    assert "high/low: not used" in out
    assert "target: unlimited" in out


def test_configz_without_version_noted(capsys: pytest.CaptureFixture[str]) -> None:
    """A /configz carries no kubelet version, so gc notes the assumed one among its policy warnings."""
    argv = [
        "gc", "images",
        "--images", str(DATA / "crictl-images.json"),
        "--summary", str(DATA / "imagefs-summary.json"),
        "--configz", str(REAL / "configz" / "kind-cgroupfs-configz-k8s-node-collector.json"),
        "--now", NOW,
    ]
    expected = "policy: kubelet version not given: assuming 1.35; pass --kubelet-version or --node"

    without = run_json(capsys, *argv)
    given = run_json(capsys, *argv, "--kubelet-version", "1.35")

    assert without["notes"].count(expected) == 1
    assert expected not in given["notes"]
