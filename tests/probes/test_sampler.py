"""The sampler builds the Summary node section as the kubelet's summary provider does.

Expected values come from the kubelet's ``pkg/kubelet/stats/cri_stats_provider.go`` (ImageFsStats:
CRI used bytes, inodes used and time, cAdvisor capacity and available, containerFs = imageFs),
``cadvisor_stats_provider.go`` (CRI-O labels, inodesUsed = inodes - inodesFree), ``provider.go``
(RootFsStats: used = capacity - free) and ``server/stats/summary.go`` (any error fails the Summary),
restated as the node sections S1-S3 in tests/data/probes/summary-node-sections.yaml.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from simulator.cri.types import FilesystemUsage, Image, ImageFsInfo
from simulator.errors import FsInfoError, InputError, ProbeError
from simulator.probes.fsinfo import FsInfoProbe
from simulator.probes.memory import MemoryProbe
from simulator.probes.mountinfo import MountTable
from simulator.probes.pids import PidProbe
from simulator.probes.sampler import ErrorPolicy, Sampler, StatsProvider, uses_cadvisor_stats_provider
from simulator.snapshot import PodRef, PodStats, format_time, parse_time
from tests.probes.fakes import FakeStat, FakeStatfs, StubCri

DATA = Path(__file__).parent.parent / "data" / "probes"
CASES: list[dict[str, Any]] = yaml.safe_load((DATA / "summary-node-sections.yaml").read_text())
NODES = DATA / "nodes"


def _image_fs_info(data: dict[str, Any]) -> ImageFsInfo:
    return ImageFsInfo(
        image_filesystems=[FilesystemUsage(**item) for item in data["image_filesystems"]],
        container_filesystems=[FilesystemUsage(**item) for item in data["container_filesystems"]],
    )


def _sampler(case: dict[str, Any], **kwargs: Any) -> tuple[Sampler, StubCri, FakeStatfs]:
    stat = FakeStat(case["st_dev"])
    statfs = FakeStatfs(case["statfs"])
    sample_time = parse_time(case["cadvisor_sample_time"])
    probe = FsInfoProbe(
        MountTable.parse(case["mountinfo"], stat=stat), stat=stat, statfs=statfs, clock=lambda: sample_time
    )
    cri = StubCri(case["endpoint"], _image_fs_info(case["cri"]))
    return Sampler(cri, probe, node_name="node-a", **kwargs), cri, statfs


def _seconds(section: dict[str, Any]) -> dict[str, Any]:
    """The Summary JSON keeps whole seconds (metav1.Time); in-process times keep more."""
    out = dict(section)
    if "time" in out:
        out["time"] = format_time(parse_time(out["time"]).replace(microsecond=0))
    return out


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_node_sections(case: dict[str, Any]) -> None:
    """fs, imageFs and containerFs recomputed from raw statfs and CRI values equal the expected JSON."""
    sampler, _, _ = _sampler(case)
    node = sampler.sample().to_json()["node"]
    assert _seconds(node["fs"]) == case["expected"]["fs"]
    assert _seconds(node["runtime"]["imageFs"]) == case["expected"]["imageFs"]
    assert _seconds(node["runtime"]["containerFs"]) == case["expected"]["containerFs"]


def test_provider_choice() -> None:
    """The kubelet uses the cAdvisor provider only for an endpoint ending in run/crio/crio.sock."""
    assert uses_cadvisor_stats_provider("unix:///var/run/crio/crio.sock")
    assert uses_cadvisor_stats_provider("unix:///run/crio/crio.sock")
    assert not uses_cadvisor_stats_provider("unix:///run/containerd/containerd.sock")
    assert not uses_cadvisor_stats_provider("unix:///tmp/crio.sock")
    assert not uses_cadvisor_stats_provider(
        "unix:///run/crio/crio.sock", pod_and_container_stats_from_cri=True
    )


def test_provenance_s1() -> None:
    """imageFs numbers name their RPC or statfs, the device major:minor and the partition mountpoint."""
    sampler, _, _ = _sampler(CASES[0])
    summary = sampler.sample()
    capacity = summary.provenance["node.runtime.imageFs.capacityBytes"]
    assert capacity.source == "statfs(/var)"
    assert capacity.device == "/dev/sda1 (8:1)"
    assert capacity.partition == "/var"
    assert capacity.fs_type == "ext4"
    assert capacity.mountpoint == "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs"
    assert "7574544 * 4096" in capacity.detail
    used = summary.provenance["node.runtime.imageFs.usedBytes"]
    assert used.source == "CRI ImageService/ImageFsInfo"
    assert summary.provenance["node.runtime.imageFs.time"].source == "CRI ImageService/ImageFsInfo"
    assert summary.provenance["node.fs.time"].source == "statfs(/var) sampling time"
    assert summary.provenance["node.fs.usedBytes"].detail.startswith("(f_blocks - f_bfree) * f_frsize")
    assert "node.runtime.containerFs.capacityBytes" in summary.provenance
    assert "evictsim" in summary.to_json(with_provenance=True)


def test_crio_gate_off_sums_images() -> None:
    """KubeletSeparateDiskGC off: imageFs usedBytes is the sum of image sizes, containerFs = imageFs."""
    case = CASES[2]
    sampler, cri, _ = _sampler(case, separate_disk_gc=False)
    cri._images = [Image("a", [], [], 1000, False), Image("b", [], [], 2345, False)]
    node = sampler.sample().node
    assert node.image_fs is not None and node.container_fs is not None
    assert node.image_fs.used_bytes == 3345
    assert node.container_fs == node.image_fs
    assert "list_images" in cri.calls


def test_crio_not_split() -> None:
    """CRI-O without an image store: one label, containerFs is the same numbers as imageFs."""
    case = dict(CASES[2])
    usage = case["cri"]["image_filesystems"][0]
    case["cri"] = {
        "image_filesystems": [dict(usage, mountpoint="/var/lib/containers/storage/overlay-images")],
        "container_filesystems": [dict(usage, mountpoint="/var/lib/containers/storage/overlay-images")],
    }
    sampler, _, statfs = _sampler(case)
    node = sampler.sample().node
    assert node.image_fs == node.container_fs
    assert "/" in statfs.calls
    assert node.image_fs is not None and node.image_fs.capacity_bytes == 31326208 * 4096


class TestErrors:
    def test_empty_image_filesystems(self) -> None:
        """An empty image_filesystems fails the sample with the kubelet's message."""
        case = dict(CASES[0], cri={"image_filesystems": [], "container_filesystems": []})
        sampler, _, _ = _sampler(case)
        with pytest.raises(ProbeError) as caught:
            sampler.sample()
        assert str(caught.value) == "failed to get imageFs stats: imageFs information is unavailable"

    def test_missing_mountpoint_current(self) -> None:
        """Current kubelets: a CRI mountpoint that does not exist fails the whole sample."""
        case = dict(CASES[0], st_dev={"/var/lib/kubelet": "8:1"})
        sampler, _, _ = _sampler(case)
        with pytest.raises(FsInfoError) as caught:
            sampler.sample()
        message = str(caught.value)
        assert message.startswith(
            "failed to get imageFs stats: get filesystem info: Failed to get the info of the filesystem "
            'with mountpoint: failed to get device for dir "/var/lib/containerd/'
        )
        assert "no such file or directory" in message

    def test_missing_mountpoint_legacy(self) -> None:
        """Legacy kubelets: the same failure gives the partial imageFs, capacity and available absent."""
        case = dict(CASES[0], st_dev={"/var/lib/kubelet": "8:1"})
        sampler, _, _ = _sampler(case, error_policy="legacy")
        summary, details = sampler.sample_with_details()
        image_fs = summary.to_json()["node"]["runtime"]["imageFs"]
        assert image_fs == {
            "time": "2024-05-14T09:21:30.123456Z",
            "usedBytes": 541495296,
            "inodesUsed": 21874,
        }
        assert summary.node.container_fs == summary.node.image_fs
        assert details.image_fs_error is not None
        assert "node.runtime.imageFs.capacityBytes" not in summary.provenance

    def test_no_fs_id(self) -> None:
        """A runtime without fs_id gives the partial imageFs under every policy."""
        case = dict(CASES[0])
        usage = dict(case["cri"]["image_filesystems"][0], mountpoint="")
        case["cri"] = {"image_filesystems": [usage], "container_filesystems": []}
        sampler, _, _ = _sampler(case)
        image_fs = sampler.sample().node.image_fs
        assert image_fs is not None
        assert image_fs.capacity_bytes is None
        assert image_fs.available_bytes is None
        assert image_fs.used_bytes == 541495296

    def test_root_dir_missing(self) -> None:
        """The kubelet root dir failing its lookup fails the sample as "failed to get rootFs stats"."""
        sampler, _, _ = _sampler(CASES[0], root_dir="/srv/kubelet")
        with pytest.raises(FsInfoError) as caught:
            sampler.sample()
        assert str(caught.value).startswith(
            'failed to get rootFs stats: failed to get device for dir "/srv/kubelet"'
        )
        assert str(caught.value).endswith("(kubelet root dir /srv/kubelet not found; pass --root-dir)")

    def test_missing_used_bytes(self) -> None:
        case = dict(CASES[0])
        usage = dict(case["cri"]["image_filesystems"][0], used_bytes=None)
        case["cri"] = {"image_filesystems": [usage], "container_filesystems": []}
        sampler, _, _ = _sampler(case)
        with pytest.raises(ProbeError) as caught:
            sampler.sample()
        assert "without used_bytes" in str(caught.value)

    def test_bad_policy(self) -> None:
        with pytest.raises(InputError) as caught:
            _sampler(CASES[0], error_policy="strict")
        assert "error_policy" in str(caught.value)
        assert "current, legacy" in str(caught.value)


def test_memory_pids_and_pods_hook() -> None:
    """node.memory, the pods system container, node.rlimit and the pod hook all reach the Summary."""
    clock_time = dt.datetime(2024, 5, 14, 9, 21, 37, tzinfo=dt.UTC)
    memory = MemoryProbe(
        cgroup_root=NODES / "v2-systemd/sys/fs/cgroup",
        proc_root=NODES / "v2-systemd/proc",
        clock=lambda: clock_time,
    )
    pids = PidProbe(proc_root=NODES / "v2-systemd/proc", sysinfo=lambda: 1, clock=lambda: clock_time)
    pod = PodStats(pod_ref=PodRef(name="web", namespace="default", uid="u1"))
    sampler, _, _ = _sampler(CASES[0], memory_probe=memory, pid_probe=pids, pod_stats_source=lambda: [pod])

    summary = sampler.sample()

    assert summary.node.memory is not None
    assert summary.node.memory.available_bytes == 16318904 * 1024 - (2147483648 + 3221225472 - 1879048192)
    pods_container = summary.node.system_container("pods")
    assert pods_container is not None and pods_container.memory is not None
    assert pods_container.memory.available_bytes == 15032385536 - (1610612736 - 402653184)
    assert summary.node.rlimit is not None
    assert (summary.node.rlimit.maxpid, summary.node.rlimit.curproc) == (127521, 3518)
    assert summary.pods == [pod]
    assert summary.provenance["node.memory.usageBytes"].source.endswith("memory.stat anon + file")
    assert summary.provenance["node.rlimit.maxpid"].source.endswith("threads-max")
    for field in (
        "availableBytes",
        "usageBytes",
        "workingSetBytes",
        "rssBytes",
        "pageFaults",
        "majorPageFaults",
    ):
        assert f"node.memory.{field}" in summary.provenance
        assert f"node.systemContainers[pods].memory.{field}" in summary.provenance
    assert summary.provenance["node.memory.rssBytes"].detail == "anon"


def test_no_kubepods_note() -> None:
    memory = MemoryProbe(
        cgroup_root=NODES / "v2-no-kubepods/sys/fs/cgroup", proc_root=NODES / "v2-no-kubepods/proc"
    )
    sampler, _, _ = _sampler(CASES[0], memory_probe=memory)
    summary, details = sampler.sample_with_details()
    assert summary.node.system_container("pods") is None
    assert any("kubepods" in note for note in details.notes)


def test_explicit_provider_overrides_endpoint() -> None:
    sampler, _, _ = _sampler(CASES[0], stats_provider=StatsProvider.CRI)
    assert sampler.effective_stats_provider is StatsProvider.CRI
    assert sampler.error_policy is ErrorPolicy.CURRENT
    assert dataclasses.is_dataclass(sampler.sample().node)
