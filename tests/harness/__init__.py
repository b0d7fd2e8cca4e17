"""Test harness: a private containerd on loop-mounted ext4 filesystems, test images and pods.

Test-only code. It makes mutating CRI calls, which the product never does, so nothing under
``simulator/`` may import it. pytest puts tests/ on sys.path (see tests/conftest.py), and
scripts/demo.py adds it by path, so the package imports as ``harness``.

Modules:
    containerd   ContainerdNode: loop filesystems, config, start, stop and cleanup
    images       docker-archive builders (pause, busybox workload, images of a given size), import_image
    pods         run_pod, remove_pod, write_bytes_command, emptyDir paths, wait_for_log
    cri_mutator  CriMutator: RunPodSandbox, CreateContainer, StartContainer and their inverses
    loopfs       LoopFilesystem and the overlay mount probe
    mounts       mount table reading and unmounting under a prefix
    processes    /proc lookups and SIGTERM-then-SIGKILL by pid
    cleanup      cgroup removal and the sweep of nodes whose owner process died
"""

from harness.containerd import ContainerdNode, missing_prerequisites
from harness.images import (
    BuiltImage,
    LayerFile,
    build_image,
    build_pause_image,
    build_sized_image,
    build_workload_image,
    image_status_size,
    import_image,
)
from harness.loopfs import HarnessError, LoopFilesystem
from harness.pods import PodHandle, empty_dir_path, remove_pod, run_pod, wait_for_log, write_bytes_command

__all__ = [
    "BuiltImage",
    "ContainerdNode",
    "HarnessError",
    "LayerFile",
    "LoopFilesystem",
    "PodHandle",
    "build_image",
    "build_pause_image",
    "build_sized_image",
    "build_workload_image",
    "empty_dir_path",
    "image_status_size",
    "import_image",
    "missing_prerequisites",
    "remove_pod",
    "run_pod",
    "wait_for_log",
    "write_bytes_command",
]
