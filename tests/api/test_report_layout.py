"""report --from-file infers the filesystem layout from the history, as evaluate does from a Summary."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from simulator.api.history import HistoryPoint, SqliteHistory
from simulator.api.observe import observe_signals
from simulator.api.policy_adapter import load_policy
from simulator.api.report import LABEL_SPACING, render_report
from simulator.cli.main import main
from simulator.replay import load_recorded_sample
from simulator.signals import FsLayout

# Seven Summaries of a node with a 100 GiB nodefs and a dedicated 50 GiB imagefs.
RECORDED_NODE = Path(__file__).resolve().parents[2] / "examples" / "recorded-node"


def recorded_history(path: Path) -> list[HistoryPoint]:
    points = []
    for sequence, file in enumerate(sorted(RECORDED_NODE.glob("*-summary.json")), start=1):
        sample = load_recorded_sample(file)
        points.append(HistoryPoint.from_observations(sample.time.timestamp(), sequence, observe_signals(sample.summary)))
    store = SqliteHistory(path)
    try:
        for point in points:
            store.append(point)
    finally:
        store.close()
    return points


def crossing_rows(page: str, signal: str) -> list[tuple[str, str]]:
    section = re.search(rf'<section id="{re.escape(signal)}">(.*?)</section>', page, re.S)
    assert section is not None, signal
    return re.findall(r"<td>([a-z_]+)</td><td>([^<]*)</td>", section.group(1))


def test_report_infers_dedicated_imagefs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With a dedicated imagefs, imagefs.available<15% does not evict for nodefs.

    Source: the Kubernetes Node-pressure Eviction page: nodefs.available measures the node's
    main filesystem and imagefs.available the separate image filesystem, so each threshold
    acts on its own filesystem. The containerfs copy of imagefs.available<15% follows
    UpdateContainerFsThresholds as simulator/api/policy_adapter.py restates it.
    """
    recorded_history(tmp_path / "history.db")
    target = tmp_path / "r.html"

    assert main(["report", "--from-file", str(tmp_path / "history.db"), "--html", str(target)]) == 0

    nodefs = crossing_rows(target.read_text(), "nodefs.available")
    assert ("eviction", "nodefs.available&lt;10%") in nodefs
    assert all("imagefs" not in threshold for _, threshold in nodefs)
    containerfs = crossing_rows(target.read_text(), "containerfs.available")
    assert ("hard_threshold", "containerfs.available&lt;15%") in containerfs
    capsys.readouterr()


def test_report_layout_single_on_request(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--layout single keeps one filesystem group, so nodefs evicts at the first threshold of the group."""
    recorded_history(tmp_path / "history.db")
    target = tmp_path / "r.html"

    assert main(["report", "--from-file", str(tmp_path / "history.db"), "--html", str(target), "--layout", "single"]) == 0

    nodefs = crossing_rows(target.read_text(), "nodefs.available")
    assert ("eviction", "imagefs.available&lt;15%") in nodefs
    capsys.readouterr()


def test_imagefs_labels_do_not_overlap(tmp_path: Path) -> None:
    """imagefs.available<15% and image GC starting at 85% used sit at one level, but their labels must not."""
    points = recorded_history(tmp_path / "history.db")
    page = render_report(points, load_policy({}, "1.35"), layout=FsLayout.DEDICATED_IMAGEFS)
    section = re.search(r'<section id="imagefs.available">(.*?)</section>', page, re.S)
    assert section is not None
    levels = sorted(float(y) for y in re.findall(r'<text class="threshold-label" x="[^"]+" y="([^"]+)"', section.group(1)))

    assert len(levels) == 3
    gaps = [below - above for above, below in zip(levels, levels[1:])]
    assert min(gaps) >= LABEL_SPACING - 0.05
