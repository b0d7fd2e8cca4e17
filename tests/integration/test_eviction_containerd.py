"""The daemon's eviction decision on a real containerd with a dedicated image filesystem.

Four host-network pods write known amounts into their writable layers (on the image
filesystem, containerd's root) and into emptyDir volumes (on the node filesystem, the kubelet
root). Their priorities, ephemeral-storage requests and the emptyDir volume ``scratch`` come
from ``tests/data/integration/eviction-pods.json``. The kubelet counts only local volumes that
the pod spec names, so the spec must list the volume. A hard threshold is then placed 64 MiB
above the measured available bytes of one filesystem, and the daemon must predict the pod the
kubelet would evict, with the kubelet's message and annotations.

The expected values restate the kubelet's eviction manager (``pkg/kubelet/eviction``,
``helpers.go`` and ``eviction_manager.go``, 1.27-1.35):

* With a dedicated imagefs that is not split, ``imagefs.*`` signals rank pods by their
  containers' writable layers only, and ``nodefs.*`` signals by logs plus local volumes only.
* The disk comparators, in order: usage strictly above the pod's ephemeral-storage request
  first, then lower priority first, then larger (usage - request) first.
* ``imagefs.*`` pressure first tries container GC and image GC, whose success is judged over
  every threshold. ``nodefs.*`` pressure in this layout has no node-level reclaim.
* The message is "The node was low on resource: ephemeral-storage. ", then "Threshold
  quantity: Q, available: A. ", then for each container whose rootfs + logs usage exceeds its
  own request "Container NAME was using U, request is R, has larger consumption of
  ephemeral-storage. ". Quantities print in the canonical form of resource.Quantity. The
  annotations ``offending_containers``, ``offending_containers_usage`` and
  ``starved_resource`` are set whenever the pod has stats, even when no container is listed.
* A hard threshold evicts with a 1 s grace period (kubelet 1.31 and later).
"""

from __future__ import annotations

import json
import re
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from harness.containerd import ContainerdNode
from harness.images import build_sized_image, build_workload_image, import_image
from harness.loopfs import MIB
from harness.pods import DONE_MARKER, SLEEP_FOREVER, PodHandle, remove_pod, run_pod, wait_for_log
from test_daemon_containerd import DaemonProcess, fs_numbers

from simulator.cri.client import CriClient

pytestmark = pytest.mark.containerd

DATA = Path(__file__).resolve().parents[1] / "data" / "integration"
PODS_FILE = DATA / "eviction-pods.json"
IMAGE = "evictsim.test/evict:1"
RESOURCE = "ephemeral-storage"
# The threshold sits this far above the measured available bytes, so it is met, and no
# reclaim in the imagefs case can free that much (no image is unused).
THRESHOLD_MARGIN = 64 * MIB
# ext4 may settle a few metadata blocks between the test's statvfs and the daemon's sample.
AVAILABLE_DRIFT = MIB
IMAGE_FS_SIGNALS = {"imagefs.available", "containerfs.available"}
WRITABLE_LAYER_TIMEOUT_S = 60.0

# MiB each container writes into its writable layer and into the pod's emptyDir volume
# "scratch", per pod and container name. The first container of each pod is "main".
WRITES_MIB: dict[str, dict[str, tuple[int, int]]] = {
    "alpha": {"main": (24, 32)},
    "bravo": {"main": (12, 16)},
    "charlie": {"main": (6, 4), "sidecar": (2, 0)},
    "delta": {"main": (1, 10)},
}
# Pod-level ephemeral-storage requests (the sum of the containers') and priorities, as
# written in PODS_FILE. charlie's sidecar requests 1Mi and its main container nothing.
REQUESTS = {"alpha": 64 * MIB, "bravo": 0, "charlie": 1 * MIB, "delta": 3 * MIB}
PRIORITIES = {"alpha": 0, "bravo": 1000, "charlie": 0, "delta": 0}


# -- resource.Quantity canonical form ---------------------------------------------------------


def canonical_bytes(value: int) -> str:
    """Format a byte count as the kubelet prints a BinarySI resource.Quantity.

    Values strictly between -1024 and 1024 print as plain integers. Larger values take the
    largest binary suffix (Ki to Ei) that keeps the number integral, and a value that is not
    a multiple of 1024 prints as a plain integer.
    """
    if -1024 < value < 1024:
        return str(value)
    number, exponent = value, 0
    while exponent < 6 and number % 1024 == 0:
        number //= 1024
        exponent += 1
    return f"{number}{('', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei')[exponent]}"


def parse_binary_quantity(text: str) -> int:
    """Parse an integral quantity with an optional binary suffix, such as ``4096Ki``."""
    match = re.fullmatch(r"(\d+)(Ki|Mi|Gi|Ti|Pi|Ei)?", text)
    assert match is not None, f"not an integral binary quantity: {text!r}"
    exponent = ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei").index(match.group(2) or "")
    return int(match.group(1)) * 1024**exponent


def test_canonical_bytes_matches_kubelet_forms() -> None:
    """BinarySI forms as apimachinery's Quantity.CanonicalizeBytes prints them: 1.5Gi as 1536Mi."""
    assert canonical_bytes(1536 * MIB) == "1536Mi"
    assert canonical_bytes(1024 * MIB) == "1Gi"
    assert canonical_bytes(1023) == "1023"
    assert canonical_bytes(1024) == "1Ki"
    assert canonical_bytes(6295552) == "6148Ki"
    assert canonical_bytes(6295552 + 512) == "6296064"
    assert canonical_bytes(0) == "0"


# -- the kubelet's ranking ---------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """A pod as the disk comparators see it: its usage for the signal, request and priority."""

    name: str
    usage: int
    request: int
    priority: int

    @property
    def exceeds_request(self) -> bool:
        return self.usage > self.request


def kubelet_disk_order(candidates: list[Candidate]) -> list[str]:
    """Order pods by the kubelet's disk comparators (exceeds request, priority, usage - request)."""
    ranked = sorted(
        candidates,
        key=lambda c: (not c.exceeds_request, c.priority, -(c.usage - c.request)),
    )
    return [c.name for c in ranked]


def expected_message(threshold: str, available: int, offending: list[tuple[str, int, int]]) -> str:
    """Build the kubelet's eviction message for ephemeral-storage.

    ``threshold`` is the threshold quantity as the kubelet prints it. ``offending`` lists
    (container name, rootfs + logs usage, request) of the containers whose usage exceeds their
    request, in the order of the pod's container stats.
    """
    message = f"The node was low on resource: {RESOURCE}. "
    message += f"Threshold quantity: {threshold}, available: {canonical_bytes(available)}. "
    for name, usage, request in offending:
        message += (
            f"Container {name} was using {canonical_bytes(usage)}, request is "
            f"{canonical_bytes(request)}, has larger consumption of {RESOURCE}. "
        )
    return message


# -- node setup --------------------------------------------------------------------------------


def disk_usage_bytes(path: Path) -> int:
    """Return the bytes of allocated blocks under ``path`` (st_blocks * 512), each inode once, as du does."""
    seen: set[tuple[int, int]] = set()
    total = 0
    pending = [path]
    while pending:
        current = pending.pop()
        info = current.lstat()
        if (info.st_dev, info.st_ino) not in seen:
            seen.add((info.st_dev, info.st_ino))
            total += info.st_blocks * 512
        if stat.S_ISDIR(info.st_mode):
            pending.extend(current.iterdir())
    return total


def write_command(container: str, rootfs_mib: int, volume_mib: int) -> list[str]:
    """Return a command writing random data to the writable layer and to /scratch, then sleeping.

    The file in /scratch is named after the container, because the pod's containers share it.
    """
    script = (
        f"/bin/dd if=/dev/urandom of=/data.bin bs=1M count={rootfs_mib} 2>/dev/null"
        f" && /bin/dd if=/dev/urandom of=/scratch/{container}.bin bs=1M count={volume_mib} 2>/dev/null"
        f" && /bin/sync && echo {DONE_MARKER}; {SLEEP_FOREVER}"
    )
    return ["/bin/sh", "-c", script]


def writable_layers(node: ContainerdNode, pods: dict[str, PodHandle]) -> dict[tuple[str, str], int]:
    """Wait until CRI reports each container's writable layer at its written size, stable for 2 s.

    containerd refreshes snapshot usage periodically, so a fresh container first reports 0.
    Returns the used bytes per (pod name, container name).
    """
    container_ids = {
        (pod, container): container_id
        for pod, handle in pods.items()
        for container, container_id in handle.container_ids.items()
    }
    deadline = time.monotonic() + WRITABLE_LAYER_TIMEOUT_S
    previous: dict[tuple[str, str], int] | None = None
    current: dict[tuple[str, str], int] = {}
    with CriClient(node.endpoint) as cri:
        while time.monotonic() < deadline:
            stats = {s.id: s for s in cri.list_container_stats()}
            current = {}
            for key, container_id in container_ids.items():
                layer = stats[container_id].writable_layer if container_id in stats else None
                current[key] = (layer.used_bytes or 0) if layer is not None else 0
            written = all(current[pod, name] >= WRITES_MIB[pod][name][0] * MIB for pod, name in current)
            if written and current == previous:
                return current
            previous = current if written else None
            time.sleep(2.0)
    raise AssertionError(f"writable layers did not settle within {WRITABLE_LAYER_TIMEOUT_S} s: {current}")


@dataclass
class Scenario:
    """The node with the four pods running and the usages measured before the daemon starts."""

    node: ContainerdNode
    pods: dict[str, PodHandle]
    # writable layer bytes per (pod name, container name)
    container_rootfs: dict[tuple[str, str], int]
    # emptyDir "scratch" bytes per pod name
    volumes: dict[str, int]

    def pod_rootfs(self, pod: str) -> int:
        """Return the sum of the pod's containers' writable layers."""
        return sum(used for (name, _), used in self.container_rootfs.items() if name == pod)


def start_pod(node: ContainerdNode, name: str) -> PodHandle:
    """Run pod ``name`` of PODS_FILE with its containers writing as WRITES_MIB gives."""
    item = next(
        item for item in json.loads(PODS_FILE.read_text())["items"] if item["metadata"]["name"] == name
    )
    metadata = item["metadata"]
    commands = {container: write_command(container, *mib) for container, mib in WRITES_MIB[name].items()}
    handle = run_pod(
        node,
        name,
        metadata["namespace"],
        IMAGE,
        commands.pop("main"),
        uid=metadata["uid"],
        empty_dirs={"scratch": "/scratch"},
        extra_containers=commands,
    )
    for container in handle.container_ids:
        wait_for_log(handle, container)
    return handle


@pytest.fixture
def scenario(containerd_node_factory: Callable[..., ContainerdNode], tmp_path: Path) -> Iterator[Scenario]:
    node = containerd_node_factory()
    import_image(node, build_workload_image(tmp_path / "images", IMAGE))
    pods: dict[str, PodHandle] = {}
    try:
        for name in WRITES_MIB:
            pods[name] = start_pod(node, name)
        container_rootfs = writable_layers(node, pods)
        volumes = {name: disk_usage_bytes(handle.empty_dirs["scratch"]) for name, handle in pods.items()}
        yield Scenario(node=node, pods=pods, container_rootfs=container_rootfs, volumes=volumes)
    finally:
        for handle in pods.values():
            remove_pod(node, handle)


def write_kubelet_config(path: Path, thresholds: dict[str, str]) -> Path:
    """Write a KubeletConfiguration whose evictionHard is exactly ``thresholds`` (no defaults merged)."""
    lines = ["apiVersion: kubelet.config.k8s.io/v1beta1", "kind: KubeletConfiguration", "evictionHard:"]
    lines += [f'  {signal}: "{value}"' for signal, value in thresholds.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def threshold_above(available: int) -> int:
    """Return a whole-MiB threshold at least THRESHOLD_MARGIN above ``available``."""
    return -(-(available + THRESHOLD_MARGIN) // MIB) * MIB


def run_daemon(node: ContainerdNode, config: Path, ticks: int = 4) -> DaemonProcess:
    """Run the daemon for ``ticks`` one-second ticks at debug level and wait for it to exit."""
    daemon = DaemonProcess(
        "--cri-endpoint",
        node.endpoint,
        "--root-dir",
        str(node.kubelet_root),
        "--kubelet-config",
        str(config),
        "--pods",
        str(PODS_FILE),
        "--kubelet-version",
        "1.33",
        "--log-level",
        "debug",
        "--interval",
        "1",
        "--ticks",
        str(ticks),
    )
    try:
        daemon.wait_for(lambda e: e["event"] == "daemon_stopped", timeout_s=60)
        daemon.process.wait(timeout=10)
    finally:
        exit_code = daemon.stop()
    assert exit_code == 0, daemon.process.stderr.read() if daemon.process.stderr else ""
    return daemon


def event_index(daemon: DaemonProcess, event: dict) -> int:
    return next(index for index, each in enumerate(daemon.events) if each is event)


def split_available(message: str) -> int:
    """Return the available bytes printed in an eviction message, checking their canonical form."""
    match = re.search(r"available: ([0-9A-Za-z]+)\. ", message)
    assert match is not None, f"no available quantity in {message!r}"
    value = parse_binary_quantity(match.group(1))
    assert canonical_bytes(value) == match.group(1)
    return value


# -- tests -------------------------------------------------------------------------------------


def test_imagefs_pressure_evicts_kubelet_choice(scenario: Scenario, tmp_path: Path) -> None:
    """imagefs pressure ranks by writable layers: charlie (over request, priority 0) goes first.

    alpha writes the most but stays under its 64Mi request, bravo exceeds its request but has
    priority 1000, and delta's 1 MiB stays under its 3Mi request. Reclaim runs first (container
    GC, then image GC) and cannot free 64 MiB, because the only workload image is in use.
    """
    node = scenario.node
    _, available = fs_numbers(node.image_fs_mount)
    threshold = threshold_above(available)
    config = write_kubelet_config(
        tmp_path / "kubelet-config.yaml",
        # written in Ki, so the message must print the canonical Mi form
        {"imagefs.available": f"{threshold // 1024}Ki"},
    )

    daemon = run_daemon(node, config)

    candidates = [
        Candidate(name, scenario.pod_rootfs(name), REQUESTS[name], PRIORITIES[name]) for name in WRITES_MIB
    ]
    order = kubelet_disk_order(candidates)
    assert order == ["charlie", "bravo", "delta", "alpha"]

    met = [e for e in daemon.named("threshold_met") if e["signal"] == "imagefs.available"]
    assert len(met) == 1
    assert met[0]["threshold"] == threshold
    assert met[0]["observed"] < threshold
    assert abs(met[0]["observed"] - available) <= AVAILABLE_DRIFT
    # with a dedicated imagefs that is not split, containerfs.available copies the imagefs threshold
    copied = [e for e in daemon.named("threshold_met") if e["signal"] == "containerfs.available"]
    assert [e["threshold"] for e in copied] == [threshold]
    conditions = daemon.named("node_condition_would_change")
    assert [(e["condition"], e["status"]) for e in conditions] == [("DiskPressure", "True")]

    evictions = daemon.named("pod_would_be_evicted")
    assert [e["pod"] for e in evictions] == ["default/charlie"]
    eviction = evictions[0]
    assert eviction["signal"] in IMAGE_FS_SIGNALS
    assert eviction["resource"] == RESOURCE
    assert eviction["rank"] == 1
    assert eviction["runner_up"] == "default/bravo"
    assert eviction["grace_period_s"] == 1

    reclaims = [e for e in daemon.named("reclaim_would_run") if e["signal"] in IMAGE_FS_SIGNALS]
    assert reclaims, "no reclaim_would_run before the imagefs eviction"
    assert reclaims[0]["sufficient"] is False
    assert [step["step"] for step in reclaims[0]["steps"]] == ["containerGC", "imageGC"]
    assert reclaims[0]["bytes_freed"] < THRESHOLD_MARGIN
    assert event_index(daemon, reclaims[0]) < event_index(daemon, eviction)

    ranked = daemon.named("pods_ranked")
    assert ranked, "no pods_ranked debug event"
    ranking = ranked[-1]["ranking"]
    assert [entry["pod"] for entry in ranking] == [f"default/{name}" for name in order]
    assert {entry["pod"]: entry["usage"] for entry in ranking} == {
        f"default/{name}": scenario.pod_rootfs(name) for name in WRITES_MIB
    }

    # NOTE: the harness keeps pod logs under the kubelet root, not /var/log/pods where the
    # daemon reads them, so the daemon counts 0 log bytes. The kubelet would add the log
    # directory's few KiB to the container's usage in the message.

    # Both of charlie's containers exceed their own requests (main: 6 MiB over none, sidecar:
    # 2 MiB over 1Mi). The kubelet lists them in the order of the pod's container stats,
    # which the runtime decides. The daemon's stats are in name order.
    main_usage = scenario.container_rootfs["charlie", "main"]
    sidecar_usage = scenario.container_rootfs["charlie", "sidecar"]
    offending = [("main", main_usage, 0), ("sidecar", sidecar_usage, 1 * MIB)]
    observed_available = split_available(eviction["message"])
    assert abs(observed_available - available) <= AVAILABLE_DRIFT
    assert eviction["message"] == expected_message(canonical_bytes(threshold), observed_available, offending)
    assert eviction["annotations"] == {
        "offending_containers": "main,sidecar",
        "offending_containers_usage": f"{canonical_bytes(main_usage)},{canonical_bytes(sidecar_usage)}",
        "starved_resource": RESOURCE,
    }


def test_nodefs_pressure_evicts_kubelet_choice(scenario: Scenario, tmp_path: Path) -> None:
    """nodefs pressure ranks by logs + emptyDir: delta (10 MiB over a 3Mi request) goes first.

    alpha's 32 MiB volume stays under its 64Mi request. delta and charlie both exceed their
    requests at priority 0, and delta's usage minus request (about 7 MiB) beats charlie's
    (about 3 MiB). No node-level reclaim runs for nodefs with a dedicated imagefs. delta's
    container (1 MiB writable layer) stays under its 3Mi request, so the message lists no
    container, and the annotations are present but empty.
    """
    node = scenario.node
    _, available = fs_numbers(node.kubelet_root)
    threshold = threshold_above(available)
    config = write_kubelet_config(tmp_path / "kubelet-config.yaml", {"nodefs.available": str(threshold)})

    daemon = run_daemon(node, config)

    candidates = [
        Candidate(name, scenario.volumes[name], REQUESTS[name], PRIORITIES[name]) for name in WRITES_MIB
    ]
    order = kubelet_disk_order(candidates)
    assert order == ["delta", "charlie", "bravo", "alpha"]

    met = [e for e in daemon.named("threshold_met") if e["signal"] == "nodefs.available"]
    assert len(met) == 1
    assert met[0]["threshold"] == threshold
    assert abs(met[0]["observed"] - available) <= AVAILABLE_DRIFT
    # containerfs copies imagefs in this layout, not nodefs, so no other threshold is met
    assert not [e for e in daemon.named("threshold_met") if e["signal"] != "nodefs.available"]
    conditions = daemon.named("node_condition_would_change")
    assert [(e["condition"], e["status"]) for e in conditions] == [("DiskPressure", "True")]

    evictions = daemon.named("pod_would_be_evicted")
    assert [e["pod"] for e in evictions] == ["default/delta"]
    eviction = evictions[0]
    assert eviction["signal"] == "nodefs.available"
    assert eviction["resource"] == RESOURCE
    assert eviction["rank"] == 1
    assert eviction["runner_up"] == "default/charlie"
    assert eviction["grace_period_s"] == 1

    assert not [e for e in daemon.named("reclaim_would_run") if e["signal"] == "nodefs.available"]

    ranking = daemon.named("pods_ranked")[-1]["ranking"]
    assert [entry["pod"] for entry in ranking] == [f"default/{name}" for name in order]
    assert {entry["pod"]: entry["usage"] for entry in ranking} == {
        f"default/{name}": scenario.volumes[name] for name in WRITES_MIB
    }

    # The threshold was written as a plain byte count, a DecimalSI quantity. It is a whole
    # number of MiB, which is not a multiple of 1000, so it prints as the same integer.
    assert threshold % 1000 != 0
    observed_available = split_available(eviction["message"])
    assert abs(observed_available - available) <= AVAILABLE_DRIFT
    assert eviction["message"] == expected_message(str(threshold), observed_available, [])
    assert eviction["annotations"] == {
        "offending_containers": "",
        "offending_containers_usage": "",
        "starved_resource": RESOURCE,
    }


def test_imagefs_reclaim_sufficient_evicts_nothing(
    containerd_node_factory: Callable[..., ContainerdNode], tmp_path: Path
) -> None:
    """An unused image larger than the shortfall lets image GC relieve imagefs, so no pod is evicted.

    The image is imported before the daemon starts. No kubelet process is visible, so the
    daemon counts every image present at its first detection as older than imageMinimumGCAge
    (``image_detection_assumed``). The kubelet's reclaim success test then finds no threshold
    met after image GC has freed the image, and returns without ranking pods.
    """
    node = containerd_node_factory()
    images_dir = tmp_path / "images"
    import_image(node, build_workload_image(images_dir, IMAGE))
    idle = build_sized_image(images_dir, "evictsim.test/idle:1", 4 * THRESHOLD_MARGIN // 3)
    import_image(node, idle)
    with CriClient(node.endpoint) as cri:
        idle_id, idle_size = next(
            (image.id, image.size_bytes) for image in cri.list_images() if idle.name in image.repo_tags
        )
    handle = start_pod(node, "charlie")
    try:
        writable_layers(node, {"charlie": handle})
        _, available = fs_numbers(node.image_fs_mount)
        # the shortfall (threshold - available) is at most THRESHOLD_MARGIN / 2 + 1 MiB
        threshold = -(-(available + THRESHOLD_MARGIN // 2) // MIB) * MIB
        config = write_kubelet_config(
            tmp_path / "kubelet-config.yaml", {"imagefs.available": f"{threshold // MIB}Mi"}
        )

        daemon = run_daemon(node, config)
    finally:
        remove_pod(node, handle)

    assert idle_size >= THRESHOLD_MARGIN
    assert daemon.named("image_detection_assumed"), "the daemon saw a kubelet process; image ages are unknown"

    met = [e for e in daemon.named("threshold_met") if e["signal"] == "imagefs.available"]
    assert len(met) == 1
    assert met[0]["observed"] < threshold

    reclaims = [e for e in daemon.named("reclaim_would_run") if e["signal"] in IMAGE_FS_SIGNALS]
    assert reclaims, "no reclaim_would_run for the imagefs threshold"
    reclaim = reclaims[0]
    assert reclaim["sufficient"] is True
    assert reclaim["bytes_freed"] >= idle_size
    assert reclaim["bytes_freed"] > threshold - met[0]["observed"]
    image_steps = [step for step in reclaim["steps"] if step["step"] == "imageGC"]
    assert len(image_steps) == 1
    outcomes = {c["imageId"]: c["outcome"] for c in image_steps[0]["details"]["candidates"]}
    assert outcomes[idle_id] == "removed"

    assert daemon.named("pod_would_be_evicted") == []
    assert daemon.named("eviction_blocked") == []
