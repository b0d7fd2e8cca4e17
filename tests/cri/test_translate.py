"""Every CRI reply the client reads becomes the matching simulator.cri.types value.

Replies travel through the fake server and the real gRPC stack, so the wire encoding is part of
each test. An unset CRI wrapper (UInt64Value, Int64Value) must come out as None, not 0. The
kubelet's CRI stats provider (pkg/kubelet/stats/cri_stats_provider.go, ImageFsStats) copies
inodes_used only when it is non-nil. So an unset value is absent from the Summary, while 0 is a
real reading. The same function dereferences used_bytes without a nil check, so the kubelet would
panic on an unset one. The client still returns None and leaves that case to its caller.
"""

from __future__ import annotations

import pytest

from simulator._proto.runtime.v1 import api_pb2 as api
from simulator.cri import types
from simulator.cri.client import CriClient
from tests.fakes.fake_cri import FakeCriServer, make_fake_cri_fixture

fake_cri = make_fake_cri_fixture()

SNAPSHOTTER_ROOT = "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs"


def u64(value: int) -> api.UInt64Value:
    return api.UInt64Value(value=value)


@pytest.fixture
def client(fake_cri: FakeCriServer) -> CriClient:
    with CriClient(fake_cri.endpoint) as cri_client:
        yield cri_client


class TestImageFsInfo:
    def test_full_entry(self, fake_cri: FakeCriServer, client: CriClient) -> None:
        """The seed node's numbers (kind, containerd): used 541495296 bytes, 21874 inodes."""
        fake_cri.set_response(
            "ImageFsInfo",
            api.ImageFsInfoResponse(
                image_filesystems=[
                    api.FilesystemUsage(
                        timestamp=1715678490123456789,
                        fs_id=api.FilesystemIdentifier(mountpoint=SNAPSHOTTER_ROOT),
                        used_bytes=u64(541495296),
                        inodes_used=u64(21874),
                    )
                ]
            ),
        )
        expected = types.ImageFsInfo(
            image_filesystems=[
                types.FilesystemUsage(
                    timestamp_ns=1715678490123456789,
                    mountpoint=SNAPSHOTTER_ROOT,
                    used_bytes=541495296,
                    inodes_used=21874,
                )
            ],
            container_filesystems=[],
        )
        assert client.image_fs_info() == expected

    def test_absent_wrappers_and_fs_id(self, fake_cri: FakeCriServer, client: CriClient) -> None:
        fake_cri.set_response(
            "ImageFsInfo", api.ImageFsInfoResponse(image_filesystems=[api.FilesystemUsage(timestamp=5)])
        )
        image_fs = client.image_fs_info().image_filesystems[0]
        assert image_fs.used_bytes is None
        assert image_fs.inodes_used is None
        assert image_fs.mountpoint == ""

    def test_zero_wrappers_stay_zero(self, fake_cri: FakeCriServer, client: CriClient) -> None:
        fake_cri.set_response(
            "ImageFsInfo",
            api.ImageFsInfoResponse(
                image_filesystems=[api.FilesystemUsage(timestamp=5, used_bytes=u64(0), inodes_used=u64(0))]
            ),
        )
        image_fs = client.image_fs_info().image_filesystems[0]
        assert image_fs.used_bytes == 0
        assert image_fs.inodes_used == 0

    def test_split_filesystems_keep_order(self, fake_cri: FakeCriServer, client: CriClient) -> None:
        """CRI-O with an image store reports images and containers separately (KEP-4191)."""
        images = api.FilesystemUsage(
            timestamp=1,
            fs_id=api.FilesystemIdentifier(mountpoint="/var/lib/containers/images/overlay-images"),
            used_bytes=u64(2916352),
            inodes_used=u64(1137),
        )
        containers = api.FilesystemUsage(
            timestamp=2,
            fs_id=api.FilesystemIdentifier(mountpoint="/var/lib/containers/storage/overlay-containers"),
            used_bytes=u64(734003200),
            inodes_used=u64(2210),
        )
        fake_cri.set_response(
            "ImageFsInfo", api.ImageFsInfoResponse(image_filesystems=[images], container_filesystems=[containers])
        )
        info = client.image_fs_info()
        assert [item.mountpoint for item in info.image_filesystems] == [images.fs_id.mountpoint]
        assert [item.used_bytes for item in info.container_filesystems] == [734003200]

    def test_uint64_max_survives(self, fake_cri: FakeCriServer, client: CriClient) -> None:
        fake_cri.set_response(
            "ImageFsInfo",
            api.ImageFsInfoResponse(image_filesystems=[api.FilesystemUsage(used_bytes=u64(2**64 - 1))]),
        )
        assert client.image_fs_info().image_filesystems[0].used_bytes == 2**64 - 1


class TestImages:
    IMAGE = api.Image(
        id="sha256:aaaa",
        repo_tags=["docker.io/library/busybox:1.36"],
        repo_digests=["docker.io/library/busybox@sha256:bbbb"],
        size=2_155_000,
        uid=api.Int64Value(value=0),
        username="",
        pinned=True,
    )

    def test_list_images(self, fake_cri: FakeCriServer, client: CriClient) -> None:
        fake_cri.set_response("ListImages", api.ListImagesResponse(images=[self.IMAGE]))
        expected = types.Image(
            id="sha256:aaaa",
            repo_tags=["docker.io/library/busybox:1.36"],
            repo_digests=["docker.io/library/busybox@sha256:bbbb"],
            size_bytes=2_155_000,
            pinned=True,
            username="",
            uid=0,
        )
        assert client.list_images() == [expected]

    def test_image_without_uid(self, fake_cri: FakeCriServer, client: CriClient) -> None:
        """An image whose user is a name has no uid wrapper; it must not read as root (0)."""
        fake_cri.set_response(
            "ListImages", api.ListImagesResponse(images=[api.Image(id="sha256:cccc", username="nginx")])
        )
        image = client.list_images()[0]
        assert image.uid is None
        assert image.username == "nginx"
        assert image.pinned is False

    def test_image_status(self, fake_cri: FakeCriServer, client: CriClient) -> None:
        fake_cri.set_response("ImageStatus", api.ImageStatusResponse(image=self.IMAGE))
        image = client.image_status("busybox:1.36")
        assert image is not None
        assert image.id == "sha256:aaaa"
        path, request = fake_cri.requests[-1]
        assert path == "/runtime.v1.ImageService/ImageStatus"
        assert request.image.image == "busybox:1.36"


class TestRuntime:
    def test_version(self, fake_cri: FakeCriServer, client: CriClient) -> None:
        fake_cri.set_response(
            "Version",
            api.VersionResponse(
                version="0.1.0", runtime_name="containerd", runtime_version="v1.6.20", runtime_api_version="v1"
            ),
        )
        assert client.version() == types.RuntimeVersion("0.1.0", "containerd", "v1.6.20", "v1")
        path, request = fake_cri.requests[-1]
        assert request.version == "0.1.0"

    def test_status(self, fake_cri: FakeCriServer, client: CriClient) -> None:
        fake_cri.set_response(
            "Status",
            api.StatusResponse(
                status=api.RuntimeStatus(
                    conditions=[
                        api.RuntimeCondition(type="RuntimeReady", status=True),
                        api.RuntimeCondition(
                            type="NetworkReady", status=False, reason="NetworkPluginNotReady", message="cni not set"
                        ),
                    ]
                ),
                runtime_handlers=[api.RuntimeHandler(name="runc"), api.RuntimeHandler(name="")],
            ),
        )
        status = client.status()
        assert status.condition("RuntimeReady") == types.RuntimeCondition("RuntimeReady", True, "", "")
        assert status.condition("NetworkReady") == types.RuntimeCondition(
            "NetworkReady", False, "NetworkPluginNotReady", "cni not set"
        )
        assert status.condition("Missing") is None
        assert status.runtime_handlers == ["runc", ""]


class TestPodsAndContainers:
    def test_pod_sandbox(self, fake_cri: FakeCriServer, client: CriClient) -> None:
        fake_cri.set_response(
            "ListPodSandbox",
            api.ListPodSandboxResponse(
                items=[
                    api.PodSandbox(
                        id="sb1",
                        metadata=api.PodSandboxMetadata(name="web-0", uid="u-1", namespace="shop", attempt=2),
                        state=api.SANDBOX_NOTREADY,
                        created_at=1_700_000_000_000_000_000,
                        labels={"io.kubernetes.pod.name": "web-0"},
                        annotations={"kubernetes.io/config.source": "api"},
                        runtime_handler="runc",
                    )
                ]
            ),
        )
        expected = types.PodSandbox(
            id="sb1",
            name="web-0",
            namespace="shop",
            uid="u-1",
            attempt=2,
            state="SANDBOX_NOTREADY",
            created_at_ns=1_700_000_000_000_000_000,
            labels={"io.kubernetes.pod.name": "web-0"},
            annotations={"kubernetes.io/config.source": "api"},
            runtime_handler="runc",
        )
        assert client.list_pod_sandboxes() == [expected]

    def test_container(self, fake_cri: FakeCriServer, client: CriClient) -> None:
        fake_cri.set_response(
            "ListContainers",
            api.ListContainersResponse(
                containers=[
                    api.Container(
                        id="c1",
                        pod_sandbox_id="sb1",
                        metadata=api.ContainerMetadata(name="app", attempt=3),
                        image=api.ImageSpec(image="docker.io/library/nginx:1.25"),
                        image_ref="sha256:dddd",
                        image_id="sha256:dddd",
                        state=api.CONTAINER_EXITED,
                        created_at=42,
                        labels={"io.kubernetes.container.name": "app"},
                        annotations={"io.kubernetes.container.restartCount": "3"},
                    )
                ]
            ),
        )
        expected = types.Container(
            id="c1",
            pod_sandbox_id="sb1",
            name="app",
            attempt=3,
            image="docker.io/library/nginx:1.25",
            image_ref="sha256:dddd",
            image_id="sha256:dddd",
            state="CONTAINER_EXITED",
            created_at_ns=42,
            labels={"io.kubernetes.container.name": "app"},
            annotations={"io.kubernetes.container.restartCount": "3"},
        )
        assert client.list_containers() == [expected]

    @pytest.mark.parametrize(
        ("number", "name"),
        [(0, "CONTAINER_CREATED"), (1, "CONTAINER_RUNNING"), (2, "CONTAINER_EXITED"), (3, "CONTAINER_UNKNOWN"), (9, "CONTAINER_UNKNOWN")],
    )
    def test_container_state_names(self, fake_cri: FakeCriServer, client: CriClient, number: int, name: str) -> None:
        """State numbers follow CRI's ContainerState enum; a number from a newer runtime reads as
        unknown, as the kubelet's toKubeContainerState does (pkg/kubelet/kuberuntime/helpers.go)."""
        fake_cri.set_response("ListContainers", api.ListContainersResponse(containers=[api.Container(id="c", state=number)]))
        assert client.list_containers()[0].state == name

    @pytest.mark.parametrize(("number", "name"), [(0, "SANDBOX_READY"), (1, "SANDBOX_NOTREADY"), (7, "SANDBOX_NOTREADY")])
    def test_sandbox_state_names(self, fake_cri: FakeCriServer, client: CriClient, number: int, name: str) -> None:
        fake_cri.set_response("ListPodSandbox", api.ListPodSandboxResponse(items=[api.PodSandbox(id="s", state=number)]))
        assert client.list_pod_sandboxes()[0].state == name

    def test_container_status(self, fake_cri: FakeCriServer, client: CriClient) -> None:
        fake_cri.set_response(
            "ContainerStatus",
            api.ContainerStatusResponse(
                status=api.ContainerStatus(
                    id="c1",
                    metadata=api.ContainerMetadata(name="app", attempt=1),
                    state=api.CONTAINER_EXITED,
                    created_at=10,
                    started_at=20,
                    finished_at=30,
                    exit_code=137,
                    image=api.ImageSpec(image="nginx:1.25"),
                    image_ref="sha256:dddd",
                    image_id="sha256:dddd",
                    reason="OOMKilled",
                    message="killed",
                    labels={"a": "b"},
                    annotations={"c": "d"},
                    log_path="app/1.log",
                )
            ),
        )
        expected = types.ContainerStatus(
            id="c1",
            name="app",
            attempt=1,
            state="CONTAINER_EXITED",
            created_at_ns=10,
            started_at_ns=20,
            finished_at_ns=30,
            exit_code=137,
            image="nginx:1.25",
            image_ref="sha256:dddd",
            image_id="sha256:dddd",
            reason="OOMKilled",
            message="killed",
            labels={"a": "b"},
            annotations={"c": "d"},
            log_path="app/1.log",
        )
        assert client.container_status("c1") == expected
        assert fake_cri.requests[-1][1].container_id == "c1"


class TestStats:
    FULL = api.ContainerStats(
        attributes=api.ContainerAttributes(
            id="c1", metadata=api.ContainerMetadata(name="app", attempt=2), labels={"l": "1"}, annotations={"a": "2"}
        ),
        cpu=api.CpuUsage(timestamp=100, usage_core_nano_seconds=u64(5_000_000), usage_nano_cores=u64(1500)),
        memory=api.MemoryUsage(
            timestamp=200,
            working_set_bytes=u64(10_485_760),
            available_bytes=u64(1000),
            usage_bytes=u64(12_582_912),
            rss_bytes=u64(8_388_608),
        ),
        writable_layer=api.FilesystemUsage(
            timestamp=300,
            fs_id=api.FilesystemIdentifier(mountpoint=SNAPSHOTTER_ROOT),
            used_bytes=u64(4096),
            inodes_used=u64(3),
        ),
    )

    def test_full_container_stats(self, fake_cri: FakeCriServer, client: CriClient) -> None:
        fake_cri.set_response("ListContainerStats", api.ListContainerStatsResponse(stats=[self.FULL]))
        expected = types.ContainerStats(
            id="c1",
            name="app",
            labels={"l": "1"},
            annotations={"a": "2"},
            writable_layer=types.FilesystemUsage(300, SNAPSHOTTER_ROOT, 4096, 3),
            memory_working_set_bytes=10_485_760,
            memory_usage_bytes=12_582_912,
            timestamp_ns=200,
            attempt=2,
            memory_rss_bytes=8_388_608,
            memory_available_bytes=1000,
            cpu_usage_core_nano_seconds=5_000_000,
            cpu_usage_nano_cores=1500,
        )
        assert client.list_container_stats() == [expected]

    def test_bare_container_stats(self, fake_cri: FakeCriServer, client: CriClient) -> None:
        """Stats with only attributes: every measurement is None and the time is 0."""
        bare = api.ContainerStats(attributes=api.ContainerAttributes(id="c2"))
        fake_cri.set_response("ListContainerStats", api.ListContainerStatsResponse(stats=[bare]))
        stats = client.list_container_stats()[0]
        assert stats.writable_layer is None
        assert stats.memory_working_set_bytes is None
        assert stats.memory_usage_bytes is None
        assert stats.memory_rss_bytes is None
        assert stats.cpu_usage_core_nano_seconds is None
        assert stats.cpu_usage_nano_cores is None
        assert stats.timestamp_ns == 0

    def test_memory_without_values(self, fake_cri: FakeCriServer, client: CriClient) -> None:
        """A memory sample with a time but no values keeps the time and reports no values."""
        partial = api.ContainerStats(
            attributes=api.ContainerAttributes(id="c3"),
            cpu=api.CpuUsage(timestamp=7),
            memory=api.MemoryUsage(timestamp=9),
        )
        fake_cri.set_response("ListContainerStats", api.ListContainerStatsResponse(stats=[partial]))
        stats = client.list_container_stats()[0]
        assert stats.memory_working_set_bytes is None
        assert stats.cpu_usage_nano_cores is None
        assert stats.timestamp_ns == 9

    def test_cpu_time_when_no_memory(self, fake_cri: FakeCriServer, client: CriClient) -> None:
        only_cpu = api.ContainerStats(attributes=api.ContainerAttributes(id="c4"), cpu=api.CpuUsage(timestamp=7))
        fake_cri.set_response("ListContainerStats", api.ListContainerStatsResponse(stats=[only_cpu]))
        assert client.list_container_stats()[0].timestamp_ns == 7

    def test_pod_sandbox_stats(self, fake_cri: FakeCriServer, client: CriClient) -> None:
        fake_cri.set_response(
            "ListPodSandboxStats",
            api.ListPodSandboxStatsResponse(
                stats=[
                    api.PodSandboxStats(
                        attributes=api.PodSandboxAttributes(
                            id="sb1",
                            metadata=api.PodSandboxMetadata(name="web-0", uid="u-1", namespace="shop"),
                            labels={"app": "web"},
                        ),
                        linux=api.LinuxPodSandboxStats(
                            cpu=api.CpuUsage(timestamp=11, usage_core_nano_seconds=u64(99)),
                            memory=api.MemoryUsage(timestamp=12, working_set_bytes=u64(2048), usage_bytes=u64(4096)),
                            process=api.ProcessUsage(timestamp=12, process_count=u64(4)),
                            containers=[self.FULL],
                        ),
                    )
                ]
            ),
        )
        pod_stats = client.list_pod_sandbox_stats()[0]
        assert (pod_stats.id, pod_stats.name, pod_stats.namespace, pod_stats.uid) == ("sb1", "web-0", "shop", "u-1")
        assert pod_stats.labels == {"app": "web"}
        assert pod_stats.memory_working_set_bytes == 2048
        assert pod_stats.memory_usage_bytes == 4096
        assert pod_stats.cpu_usage_core_nano_seconds == 99
        assert pod_stats.cpu_usage_nano_cores is None
        assert pod_stats.process_count == 4
        assert pod_stats.timestamp_ns == 12
        assert [container.id for container in pod_stats.containers] == ["c1"]

    def test_pod_sandbox_stats_without_linux(self, fake_cri: FakeCriServer, client: CriClient) -> None:
        bare = api.PodSandboxStats(attributes=api.PodSandboxAttributes(id="sb2"))
        fake_cri.set_response("ListPodSandboxStats", api.ListPodSandboxStatsResponse(stats=[bare]))
        pod_stats = client.list_pod_sandbox_stats()[0]
        assert pod_stats.process_count is None
        assert pod_stats.memory_working_set_bytes is None
        assert pod_stats.containers == []
        assert pod_stats.timestamp_ns == 0
