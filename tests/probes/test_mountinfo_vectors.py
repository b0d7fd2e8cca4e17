"""Table tests: every mountinfo -> device -> statfs vector, cAdvisor <= 0.54 variant.

The vectors in tests/data/probes/mountinfo-vectors.yaml restate cAdvisor v0.53.0 ``fs/fs.go``
(processMounts, addSystemRootLabel, GetDirFsDevice) and ``manager.GetDirFsInfo``. Each vector
gives the mountinfo read at kubelet start, the ``st_dev`` that ``stat(dir)`` returns and the
partition table after all rules. Each query gives the device and statfs path the lookup must produce.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from simulator.errors import FsInfoError
from simulator.probes.fsinfo import FsInfoProbe
from simulator.probes.mountinfo import MountTable
from tests.probes.fakes import FakeStat, FakeStatfs, parse_major_minor

VECTORS_PATH = Path(__file__).parent.parent / "data" / "probes" / "mountinfo-vectors.yaml"
VECTORS: list[dict[str, Any]] = yaml.safe_load(VECTORS_PATH.read_text())

# Every statfs returns the same numbers, so the tests check which path was requested.
ANY_STATFS = {"blocks": 1000, "bfree": 600, "bavail": 500, "files": 100, "ffree": 40}


def _expected_partitions(vector: dict[str, Any]) -> dict[str, tuple[str, int, int, str]]:
    table = vector.get("partitions_cadvisor_le_0.54", vector.get("partitions"))
    expected = {}
    for key, text in table.items():
        mountpoint, numbers, fs_type = (part.strip() for part in text.split(" | "))
        major, minor = parse_major_minor(numbers)
        expected[key] = (mountpoint, major, minor, fs_type)
    return expected


def _fake_stat(vector: dict[str, Any], query: dict[str, Any] | None = None) -> FakeStat:
    extra = vector.get("stat_extra") or {}
    devices = dict(extra.get("st_dev_of_mountpoints") or {})
    if query is not None:
        devices[query["dir"]] = query["st_dev"]
    return FakeStat(devices, tuple(extra.get("sources_that_stat_as_block_devices") or ()))


def _queries() -> list[Any]:
    cases = []
    for vector in VECTORS:
        for index, query in enumerate(vector["queries"]):
            cases.append(pytest.param(vector, query, id=f"{vector['id']}-q{index}-{query['dir']}"))
    return cases


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_partition_table(vector: dict[str, Any]) -> None:
    """The partition table matches the vector's cAdvisor <= 0.54 table, key by key."""
    table = MountTable.parse(vector["mountinfo"], stat=_fake_stat(vector))
    actual = {
        key: (partition.mountpoint, partition.major, partition.minor, partition.fs_type)
        for key, partition in table.partitions.items()
    }
    assert actual == _expected_partitions(vector)


@pytest.mark.parametrize(("vector", "query"), _queries())
def test_dir_lookup(vector: dict[str, Any], query: dict[str, Any]) -> None:
    """GetDirFsInfo(dir) returns the vector's device and runs statfs on its partition mountpoint."""
    expect = query.get("expect_cadvisor_le_0.54", query.get("expect"))
    stat = _fake_stat(vector, query)
    table = MountTable.parse(vector["mountinfo"], stat=stat)
    statfs = FakeStatfs(default=ANY_STATFS)
    probe = FsInfoProbe(table, stat=stat, statfs=statfs)

    if "error" in expect and "statfs_path" not in expect:
        with pytest.raises(FsInfoError) as caught:
            probe.dir_fs_info(query["dir"])
        assert str(caught.value) == expect["error"]
        assert caught.value.kind == "device_not_found"
        assert statfs.calls == []
        return

    info = probe.dir_fs_info(query["dir"])
    assert info.device == expect["device"]
    assert statfs.calls == [expect["statfs_path"]]
    assert info.partition_mountpoint == expect["statfs_path"]
    assert info.resolution == expect["resolution"]
    assert info.device_in_table == expect["resolution"].startswith("direct")
    assert info.capacity_bytes == ANY_STATFS["blocks"] * 4096
    assert info.available_bytes == ANY_STATFS["bavail"] * 4096
    assert info.free_bytes == ANY_STATFS["bfree"] * 4096
    assert info.inodes == ANY_STATFS["files"]
    assert info.inodes_free == ANY_STATFS["ffree"]


def test_vectors_cover_sheet() -> None:
    """All twelve vectors of the reference sheet are present in the data file."""
    assert [vector["id"] for vector in VECTORS] == [
        "V01",
        "V02",
        "V04",
        "V05",
        "V07",
        "V08",
        "V09",
        "V10",
        "V11",
        "V13",
        "V14",
        "V17",
    ]
