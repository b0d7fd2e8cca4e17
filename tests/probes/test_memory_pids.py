"""Node and kubepods memory, and node.rlimit, on fixture cgroup and proc trees.

Expected values restate the formulas of cAdvisor ``container/libcontainer/handler.go``
(setMemoryStats: working set = usage - inactive file), opencontainers/cgroups ``fs2/memory.go``
(the v2 root's usage = anon + file of memory.stat), cAdvisor ``container/common/helpers.go`` (the
root's limit is MemTotal), the kubelet's ``pkg/kubelet/stats/helper.go`` (available = limit -
working set, only for limits up to 2**62) and ``pkg/kubelet/stats/pidlimit/pidlimit_linux.go``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from simulator.errors import InputError, ProbeError
from simulator.probes.memory import MemoryProbe
from simulator.probes.pids import PidProbe, parse_loadavg_tasks

NODES = Path(__file__).parent.parent / "data" / "probes" / "nodes"


def _probe(node: Path) -> MemoryProbe:
    return MemoryProbe(cgroup_root=node / "sys" / "fs" / "cgroup", proc_root=node / "proc")


class TestCgroupV1:
    NODE = NODES / "v1-cgroupfs"

    def test_node_memory(self) -> None:
        """Root: usage_in_bytes - total_inactive_file; limit MemTotal * 1024."""
        memory = _probe(self.NODE).node_memory()
        usage, total_inactive_file, mem_total_kib = 158400512, 37769216, 24683784
        assert memory.cgroup_version == 1
        assert memory.usage_bytes == usage
        assert memory.working_set_bytes == usage - total_inactive_file
        assert memory.limit_bytes == mem_total_kib * 1024
        assert memory.available_bytes == mem_total_kib * 1024 - (usage - total_inactive_file)
        assert memory.rss_bytes == 23302144
        assert memory.page_faults == 42096
        assert memory.major_page_faults == 0

    def test_kubepods_memory(self) -> None:
        """kubepods (cgroupfs driver): limit from memory.limit_in_bytes, total_* keys with hierarchy."""
        memory = _probe(self.NODE).pods_memory()
        assert memory is not None
        assert memory.cgroup_path.endswith("memory/kubepods")
        assert memory.working_set_bytes == 1073741824 - 268435456
        assert memory.available_bytes == 8589934592 - (1073741824 - 268435456)
        assert memory.rss_bytes == 629145600

    def test_unlimited_kubepods(self, tmp_path: Path) -> None:
        """A limit above 2**62 (the v1 "no limit" value) leaves available bytes absent, not zero."""
        node = tmp_path / "node"
        shutil.copytree(self.NODE, node)
        (node / "sys/fs/cgroup/memory/kubepods/memory.limit_in_bytes").write_text("9223372036854771712\n")
        memory = _probe(node).pods_memory()
        assert memory is not None
        assert memory.limit_bytes is None
        assert memory.available_bytes is None


class TestCgroupV2:
    NODE = NODES / "v2-systemd"

    def test_node_memory_emulated_root(self) -> None:
        """The v2 root has no memory.current: usage = anon + file; working set subtracts inactive_file."""
        memory = _probe(self.NODE).node_memory()
        anon, file, inactive_file, mem_total_kib = 2147483648, 3221225472, 1879048192, 16318904
        assert memory.cgroup_version == 2
        assert memory.usage_bytes == anon + file
        assert memory.usage_source.endswith("memory.stat anon + file")
        assert memory.working_set_bytes == anon + file - inactive_file
        assert memory.available_bytes == mem_total_kib * 1024 - (anon + file - inactive_file)
        assert memory.rss_bytes == anon

    def test_node_memory_runc_1_1(self) -> None:
        """runc 1.1 emulated the v2 root's usage as (MemTotal - MemFree) * 1024 (statsFromMeminfo)."""
        probe = MemoryProbe(
            cgroup_root=self.NODE / "sys/fs/cgroup", proc_root=self.NODE / "proc", v2_root_usage="meminfo"
        )
        memory = probe.node_memory()
        mem_total_kib, mem_free_kib, inactive_file = 16318904, 9123456, 1879048192
        assert memory.usage_bytes == (mem_total_kib - mem_free_kib) * 1024
        assert memory.working_set_bytes == (mem_total_kib - mem_free_kib) * 1024 - inactive_file
        assert memory.usage_source.endswith("MemTotal - MemFree")

    def test_invalid_usage_rule(self) -> None:
        with pytest.raises(InputError) as caught:
            MemoryProbe(v2_root_usage="current")
        assert "v2_root_usage" in str(caught.value)

    def test_kubepods_slice(self) -> None:
        """kubepods.slice (systemd driver): memory.current and memory.max."""
        memory = _probe(self.NODE).pods_memory()
        assert memory is not None
        assert memory.cgroup_path.endswith("kubepods.slice")
        assert memory.usage_bytes == 1610612736
        assert memory.working_set_bytes == 1610612736 - 402653184
        assert memory.available_bytes == 15032385536 - (1610612736 - 402653184)

    def test_kubepods_max(self, tmp_path: Path) -> None:
        """memory.max "max" means no limit: available bytes are absent."""
        node = tmp_path / "node"
        shutil.copytree(self.NODE, node)
        (node / "sys/fs/cgroup/kubepods.slice/memory.max").write_text("max\n")
        memory = _probe(node).pods_memory()
        assert memory is not None
        assert memory.available_bytes is None

    def test_working_set_floor(self) -> None:
        """inactive_file above usage gives a working set of 0, as cAdvisor floors it."""
        memory = _probe(NODES / "v2-no-kubepods").node_memory()
        assert memory.usage_bytes == 104857600 + 52428800
        assert memory.working_set_bytes == 0

    def test_no_kubepods(self) -> None:
        """Without a kubepods cgroup the pods container is absent (None), never zero."""
        assert _probe(NODES / "v2-no-kubepods").pods_memory() is None

    def test_bad_memory_stat(self, tmp_path: Path) -> None:
        node = tmp_path / "node"
        shutil.copytree(self.NODE, node)
        (node / "sys/fs/cgroup/memory.stat").write_text("anon 12\nfile twelve\n")
        with pytest.raises(ProbeError) as caught:
            _probe(node).node_memory()
        assert "line 2" in str(caught.value)
        assert "file twelve" in str(caught.value)

    def test_missing_meminfo(self, tmp_path: Path) -> None:
        probe = MemoryProbe(cgroup_root=self.NODE / "sys/fs/cgroup", proc_root=tmp_path)
        with pytest.raises(ProbeError) as caught:
            probe.node_memory()
        assert "meminfo" in str(caught.value)


class TestPids:
    def test_min_of_pid_max_and_threads_max(self) -> None:
        """maxpid = min(pid_max, threads-max); curproc = the total after the slash in loadavg."""
        sample = PidProbe(proc_root=NODES / "v2-systemd" / "proc", sysinfo=_no_sysinfo).rlimit()
        assert sample.maxpid == min(4194304, 127521)
        assert sample.maxpid_source.endswith("threads-max")
        assert sample.curproc == 3518

    def test_pid_max_smaller(self) -> None:
        sample = PidProbe(proc_root=NODES / "v1-cgroupfs" / "proc", sysinfo=_no_sysinfo).rlimit()
        assert sample.maxpid == min(32768, 192736)
        assert sample.maxpid_source.endswith("pid_max")
        assert sample.curproc == 103

    def test_sysinfo_fallback(self) -> None:
        """An unusable loadavg falls back to sysinfo's procs; a missing threads-max is skipped."""
        sample = PidProbe(proc_root=NODES / "v2-no-kubepods" / "proc", sysinfo=lambda: 612).rlimit()
        assert sample.curproc == 612
        assert sample.curproc_source == "sysinfo(2) procs"
        assert sample.maxpid == 4194304

    def test_no_limits(self, tmp_path: Path) -> None:
        """Both limit files missing: maxpid is absent."""
        (tmp_path / "loadavg").write_text("0.00 0.00 0.00 1/10 100\n")
        sample = PidProbe(proc_root=tmp_path, sysinfo=_no_sysinfo).rlimit()
        assert sample.maxpid is None
        assert sample.curproc == 10

    @pytest.mark.parametrize("text", ["1.0 2.0 3.0 4/5", "1.0 2.0 3.0 45 6", "1.0 2.0 3.0 4/x 6"])
    def test_bad_loadavg(self, text: str) -> None:
        with pytest.raises(ValueError):
            parse_loadavg_tasks(text)


def test_live_machine() -> None:
    """On this Linux machine the probes run and give consistent numbers."""
    memory = MemoryProbe().node_memory()
    assert memory.limit_bytes is not None
    assert 0 <= memory.working_set_bytes <= memory.usage_bytes
    assert memory.available_bytes == memory.limit_bytes - memory.working_set_bytes
    sample = PidProbe().rlimit()
    assert sample.maxpid is not None
    assert 0 < sample.curproc < sample.maxpid


def _no_sysinfo() -> int:
    raise AssertionError("sysinfo must not be called when /proc/loadavg is usable")
