"""Loading images and containers from crictl JSON and Node objects, and bad input.

The kubelet keys image records by image id (``image_gc_manager.go`` detectImages), takes the
CRI ``size`` as is (a missing protobuf field reads as 0) and marks image ids referenced by
containers as in use whether or not such an image exists.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulator.engine.images import (
    CONTAINER_EXITED,
    load_containers,
    load_images,
    match_by_image_name,
    parse_containers,
    parse_images,
    unknown_image_references,
)
from simulator.errors import InputError

DATA = Path(__file__).resolve().parents[1] / "data"


class TestCrictlImages:
    def test_fields(self) -> None:
        """Sizes arrive as strings; pinned, tags and digests are kept."""
        loaded = load_images(DATA / "gc" / "crictl-images.json")

        by_id = {image.id[:10]: image for image in loaded.images}
        assert len(loaded.images) == 4
        assert by_id["sha256:111"].size_bytes == 70000000
        assert by_id["sha256:222"].pinned is True
        assert by_id["sha256:111"].display_name == "docker.io/library/nginx:1.25"
        assert by_id["sha256:444"].display_name.startswith("docker.io/library/busybox@sha256:")

    def test_bad_input_handled_like_kubelet(self) -> None:
        """Size 0 and missing size become 0; a duplicate id leaves one record with the later values."""
        loaded = load_images(DATA / "gc" / "crictl-images-bad-input.json")

        by_id = {image.id: image for image in loaded.images}
        assert by_id["sha256:aa"].size_bytes == 0
        assert by_id["sha256:bb"].size_bytes == 0
        assert len(loaded.images) == 3
        assert by_id["sha256:cc"].size_bytes == 300
        assert by_id["sha256:cc"].pinned is True
        assert any("listed twice" in note for note in loaded.notes)
        assert any("no size" in note for note in loaded.notes)

    @pytest.mark.parametrize(
        ("item", "field"),
        [
            pytest.param({"size": "10"}, "images[0].id", id="missing-id"),
            pytest.param({"id": "x", "size": "ten"}, "images[0].size", id="non-numeric-size"),
            pytest.param({"id": "x", "size": "-5"}, "images[0].size", id="negative-size"),
        ],
    )
    def test_invalid_images(self, item: dict, field: str) -> None:
        """Input no runtime could send is rejected with the field named."""
        with pytest.raises(InputError) as error:
            parse_images({"images": [item]}, source="images.json")
        assert error.value.field == field
        assert field in str(error.value)

    def test_not_an_images_document(self) -> None:
        """An unrelated document is rejected with one line that names the expected forms."""
        with pytest.raises(InputError, match="crictl images -o json"):
            parse_images({"kind": "PodList", "items": "x"})


class TestNodeImages:
    @pytest.mark.parametrize(
        ("name", "count"),
        [
            ("minikube-k8s1.31-containerd1.7-newrelic-node-status.yaml", 17),
            ("minikube-k8s1.35-containerd2.2-newrelic-node-status.yaml", 16),
        ],
    )
    def test_real_node_lists(self, name: str, count: int) -> None:
        """Real NodeList captures: every status.images entry becomes an image keyed by its digest name."""
        loaded = load_images(DATA / "real" / "images" / name)

        assert len(loaded.images) == count
        assert all(image.size_bytes > 0 for image in loaded.images)
        assert len({image.id for image in loaded.images}) == count
        assert any("no image ids" in note for note in loaded.notes)

    def test_tag_only_entry_keyed_by_tag(self) -> None:
        """Entries without a digest name (the 1.35 capture's pause image) are keyed by their first name."""
        loaded = load_images(
            DATA / "real" / "images" / "minikube-k8s1.35-containerd2.2-newrelic-node-status.yaml"
        )

        pause = [image for image in loaded.images if "pause" in image.id]
        assert [(image.id, image.size_bytes) for image in pause] == [("registry.k8s.io/pause:3.10.1", 265458)]

    def test_single_node_object(self) -> None:
        """A single Node object's status.images is accepted too."""
        document = {
            "kind": "Node",
            "status": {"images": [{"names": ["a/b@sha256:01", "a/b:1"], "sizeBytes": 5}]},
        }
        loaded = parse_images(document)

        assert loaded.images[0].id == "a/b@sha256:01"
        assert loaded.images[0].repo_tags == ("a/b:1",)

    def test_missing_names(self) -> None:
        """An entry without names has nothing to key it by."""
        with pytest.raises(InputError, match=r"status.images\[0\].names"):
            parse_images({"kind": "Node", "status": {"images": [{"sizeBytes": 5}]}})


class TestContainers:
    def test_crictl_ps(self) -> None:
        """crictl ps -a -o json: labels give the pod, imageRef gives the image id."""
        loaded = load_containers(DATA / "gc" / "crictl-ps.json")

        first, second = loaded.containers[:2]
        assert first.pod_uid == "0c1d2e3f-0000-4000-8000-000000000001"
        assert first.pod_key == "default/web-7d9f"
        assert first.image_id.startswith("sha256:1111")
        assert second.state == CONTAINER_EXITED
        assert second.attempt == 1
        assert second.created_at_ns == 1767265200000000000

    def test_unknown_image_reference_noted(self) -> None:
        """A container whose image is not listed is kept and explained."""
        images = load_images(DATA / "gc" / "crictl-images.json").images
        containers = load_containers(DATA / "gc" / "crictl-ps.json").containers

        notes = unknown_image_references(images, containers)
        assert len(notes) == 1
        assert "ghost" in notes[0]

    def test_invalid_state(self) -> None:
        """A state outside CRI's four is rejected, naming the field."""
        with pytest.raises(InputError, match=r"containers\[0\].state"):
            parse_containers({"containers": [{"id": "x", "state": "RUNNING"}]})

    def test_unreadable_file(self, tmp_path: Path) -> None:
        """A file that is neither JSON nor YAML is one clear error."""
        path = tmp_path / "ps.json"
        path.write_text("{not json: [")
        with pytest.raises(InputError, match="invalid JSON or YAML"):
            load_containers(path)

    def test_missing_file(self, tmp_path: Path) -> None:
        """A missing file names the path."""
        with pytest.raises(InputError, match="absent.json: file not found"):
            load_containers(tmp_path / "absent.json")


def test_round_trip_json_text(tmp_path: Path) -> None:
    """The YAML fallback also reads JSON written with different spacing."""
    path = tmp_path / "images.json"
    path.write_text(json.dumps({"images": [{"id": "x", "size": 3}]}, indent=4))

    assert load_images(path).images[0].size_bytes == 3


def test_match_by_image_name() -> None:
    """Containers find Node status images by tag or digest; ids that match already stay."""
    loaded = parse_images(
        {
            "kind": "Node",
            "status": {
                "images": [
                    {"names": ["reg/app@sha256:01", "reg/app:1"], "sizeBytes": 5},
                    {"names": ["reg/db:2"], "sizeBytes": 7},
                ]
            },
        }
    )
    containers = parse_containers(
        {
            "containers": [
                {
                    "id": "a",
                    "state": "CONTAINER_RUNNING",
                    "image": {"image": "reg/app:1"},
                    "imageRef": "sha256:ffff",
                },
                {
                    "id": "b",
                    "state": "CONTAINER_EXITED",
                    "image": {"image": "sha256:eeee"},
                    "imageRef": "reg/db:2",
                },
                {
                    "id": "c",
                    "state": "CONTAINER_EXITED",
                    "image": {"image": "other:1"},
                    "imageRef": "sha256:dddd",
                },
            ]
        }
    ).containers

    matched = match_by_image_name(loaded.images, containers)

    assert loaded.keyed_by_name is True
    assert [c.image_id for c in matched] == ["reg/app@sha256:01", "reg/db:2", "sha256:dddd"]
