"""Write the recorded node's Summary files: imagefs filling up, crossing the image-GC
watermark and the imagefs.available threshold, then recovering.

Run from the repository root: ``python3 examples/recorded-node/generate.py``. The numbers
are made up but consistent: a 100 GiB root filesystem (nodefs) on /dev/vda1 and a dedicated
50 GiB ext4 image filesystem on /dev/vdb with 5 % reserved blocks, as mkfs.ext4 leaves them.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
START = dt.datetime(2026, 3, 2, 10, 0, 0, tzinfo=dt.timezone.utc)
BLOCK = 4096

NODEFS_CAPACITY = 100 * 1024**3
NODEFS_INODES = 6_553_600
IMAGEFS_CAPACITY = 50 * 1024**3
IMAGEFS_INODES = 3_276_800
# ext4 keeps 5 % of blocks for root: f_bavail excludes them, so used + available < capacity.
IMAGEFS_RESERVED = IMAGEFS_CAPACITY // 20
# Bytes on the image filesystem that are not images (containerd metadata, writable layers).
IMAGEFS_OTHER = 1_073_741_824

# (minutes after START, imagefs available as a fraction of capacity, what the step shows)
STEPS = [
    (0.0, 0.30, "normal: 70 % used"),
    (2.5, 0.20, "images pulled: 80 % used"),
    (5.0, 0.155, "usage 85 %: the periodic image GC would run"),
    (7.5, 0.14, "imagefs.available below 15 %: DiskPressure"),
    (10.0, 0.12, "still filling: 88 % used"),
    (12.5, 0.24, "images deleted: threshold cleared, DiskPressure held by the transition period"),
    (15.0, 0.245, "5 minutes after the last pressure: DiskPressure would clear"),
]


def time_text(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def fs_stats(time: str, capacity: int, available: int, used: int, inodes: int, inodes_free: int) -> dict:
    return {
        "time": time,
        "availableBytes": available,
        "capacityBytes": capacity,
        "usedBytes": used,
        "inodesFree": inodes_free,
        "inodes": inodes,
        "inodesUsed": inodes - inodes_free,
    }


def provenance(time: str) -> dict:
    imagefs = {"mountpoint": "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs",
               "device": "/dev/vdb", "partition": "/var/lib/containerd", "fsType": "ext4", "time": time}
    nodefs = {"mountpoint": "/var/lib/kubelet", "device": "/dev/vda1", "partition": "/", "fsType": "ext4", "time": time}
    out = {}
    for field in ("availableBytes", "capacityBytes", "inodes", "inodesFree"):
        out[f"node.fs.{field}"] = {"source": "statfs", **nodefs}
        out[f"node.runtime.imageFs.{field}"] = {"source": "statfs", **imagefs}
        out[f"node.runtime.containerFs.{field}"] = {"source": "statfs", **imagefs}
    out["node.runtime.imageFs.usedBytes"] = {"source": "ImageFsInfo", **imagefs}
    out["node.runtime.containerFs.usedBytes"] = {"source": "ImageFsInfo", **imagefs}
    return out


def pod(name: str, namespace: str, uid: str, time: str, rootfs_used: int, logs_used: int) -> dict:
    return {
        "podRef": {"name": name, "namespace": namespace, "uid": uid},
        "startTime": time_text(START - dt.timedelta(hours=3)),
        "containers": [
            {
                "name": name.split("-")[0],
                "startTime": time_text(START - dt.timedelta(hours=3)),
                "memory": {"time": time, "workingSetBytes": 52_428_800, "usageBytes": 60_817_408},
                "rootfs": {"time": time, "usedBytes": rootfs_used, "inodesUsed": 40},
                "logs": {"time": time, "usedBytes": logs_used, "inodesUsed": 2},
            }
        ],
        "memory": {"time": time, "workingSetBytes": 52_428_800, "usageBytes": 60_817_408},
        "ephemeral-storage": {"time": time, "usedBytes": rootfs_used + logs_used, "inodesUsed": 42},
        "process_stats": {"process_count": 4},
    }


def summary(minutes: float, fraction: float) -> dict:
    now = START + dt.timedelta(minutes=minutes)
    time = time_text(now)
    available = int(IMAGEFS_CAPACITY * fraction) // BLOCK * BLOCK
    images_used = IMAGEFS_CAPACITY - IMAGEFS_RESERVED - IMAGEFS_OTHER - available
    imagefs_inodes_free = IMAGEFS_INODES - 40_000 - images_used // 65_536
    imagefs = fs_stats(time, IMAGEFS_CAPACITY, available, images_used, IMAGEFS_INODES, imagefs_inodes_free)
    nodefs_available = 61_203_456_000
    nodefs = fs_stats(time, NODEFS_CAPACITY, nodefs_available, NODEFS_CAPACITY - NODEFS_CAPACITY // 20 - nodefs_available,
                      NODEFS_INODES, 6_210_000)
    return {
        "node": {
            "nodeName": "worker-1",
            "systemContainers": [
                {"name": "kubelet", "startTime": time_text(START - dt.timedelta(days=2)),
                 "memory": {"time": time, "usageBytes": 98_304_000, "workingSetBytes": 81_920_000}},
                {"name": "pods", "startTime": time_text(START - dt.timedelta(days=2)),
                 "memory": {"time": time, "availableBytes": 6_900_000_000, "usageBytes": 1_300_000_000,
                            "workingSetBytes": 900_000_000}},
            ],
            "startTime": time_text(START - dt.timedelta(days=2)),
            "memory": {"time": time, "availableBytes": 6_500_000_000, "usageBytes": 2_100_000_000,
                       "workingSetBytes": 1_700_000_000, "rssBytes": 1_200_000_000, "pageFaults": 912_000,
                       "majorPageFaults": 41},
            "fs": nodefs,
            "runtime": {"imageFs": imagefs, "containerFs": dict(imagefs)},
            "rlimit": {"time": time, "maxpid": 4_194_304, "curproc": 612},
        },
        "pods": [
            pod("web-7d9c5b8f6-x2k4q", "shop", "5f0c7a52-1b0e-4d0e-9c51-2f2d7a1c9e01", time, 20_480_000, 4_096_000),
            pod("batch-report-28513-abcde", "reports", "9a1d3b77-6c2e-4f51-8e0a-7b3c2d1e4f02", time, 1_073_741_824, 65_536),
        ],
        "evictsim": {"provenance": provenance(time)},
    }


def main() -> None:
    for index, (minutes, fraction, _) in enumerate(STEPS):
        path = HERE / f"{index:02d}-summary.json"
        path.write_text(json.dumps(summary(minutes, fraction), indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
