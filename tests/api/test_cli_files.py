"""history export, report and whatif against a server on a Unix socket: nested configs, paths and numbers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
import yaml

from simulator.api.live import LiveState
from simulator.api.server import ServerHandle, ServerOptions, start_server
from simulator.cli.main import main
from tests.api.conftest import SAMPLED_AT, make_sample

# A nested KubeletConfiguration: protobuf Struct keeps evictionHard as a nested Struct, which
# a top-level conversion leaves unserializable.
NESTED_CONFIG = {
    "evictionHard": {"imagefs.available": "20%", "nodefs.available": "10%", "memory.available": "100Mi"},
    "imageGCHighThresholdPercent": 80,
    "imageGCLowThresholdPercent": 70,
}


@pytest.fixture(autouse=True)
def quiet_server_logs() -> Iterator[None]:
    with structlog.testing.capture_logs():
        yield


@pytest.fixture
def nested_server(tmp_path: Path) -> Iterator[ServerHandle]:
    state = LiveState()
    for step in range(3):
        state.publish(make_sample(config=NESTED_CONFIG, sampled_at=SAMPLED_AT + dt.timedelta(seconds=10 * step)))
    handle = start_server(state, ServerOptions(socket=f"unix://{tmp_path}/nested.sock", max_message_bytes=64 * 1024))
    yield handle
    handle.stop(0)


def server(handle: ServerHandle) -> list[str]:
    return ["--server", f"unix://{handle.socket_path}"]


def test_export_nested_config_replays(nested_server: ServerHandle, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "out.yaml"
    assert main(["history", "export", *server(nested_server), "-f", str(target)]) == 0
    document = yaml.safe_load(target.read_text())
    assert document["policy"]["evictionHard"] == NESTED_CONFIG["evictionHard"]
    assert document["policy"]["imageGCHighThresholdPercent"] == 80
    assert len(document["steps"]) == 3
    capsys.readouterr()

    assert main(["evaluate", "--scenario", str(target), "-o", "json"]) == 0
    assert "imagefs.available" in capsys.readouterr().out


def test_report_nested_config(nested_server: ServerHandle, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "r.html"
    code = main(["report", *server(nested_server), "--html", str(target)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    page = target.read_text()
    assert "hard threshold imagefs.available&lt;20%" in page
    assert "image GC starts (80% used)" in page


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["report", "--html", "/nonexistent/x.html"], "--html"),
        (["report", "--html", "{tmp}"], "--html"),
        (["history", "export", "-f", "/nonexistent/x.yaml"], "--output-file"),
    ],
    ids=["report-missing-dir", "report-directory", "export-missing-dir"],
)
def test_unwritable_output_one_line(nested_server: ServerHandle, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], option: str) -> None:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code = main([*argv, *server(nested_server)])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert option in err
    assert "failed to write" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["whatif", "--timeout", "0"],
        ["whatif", "--timeout=-1"],
        ["whatif", "--timeout", "nan"],
        ["whatif", "--syncs=-1"],
        ["whatif", "--interval", "0"],
        ["headroom", "--window", "0"],
        ["sweep", "--timeout", "0", "/evictionHard/imagefs.available", "10%"],
        ["watch", "--count=-1"],
        ["history", "export", "-f", "x.yaml", "--every", "0"],
        ["history", "export", "-f", "x.yaml", "--window=-5"],
        ["report", "--html", "x.html", "--timeout", "0"],
        ["report", "--html", "x.html", "--window=-1"],
        ["whatif", "--server", "bogus://x"],
        ["whatif", "--server", "localhost"],
        ["report", "--html", "x.html", "--server", "unix://"],
    ],
    ids=lambda argv: " ".join(argv),
)
def test_bad_numbers_rejected_at_parse(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(argv)
    err = capsys.readouterr().err
    assert raised.value.code == 2
    assert len(err.strip().splitlines()) == 1
    if "--server" in argv:
        assert "unix:///path or host:port" in err


@pytest.mark.parametrize("pull", ["5Gix-3", "5Mix0", "5Mixten", "5Mix"])
def test_pull_count_below_one(pull: str, nested_server: ServerHandle, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["whatif", *server(nested_server), "--pull", pull])
    err = capsys.readouterr().err
    assert code == 2
    assert "--pull: invalid count" in err


def test_pull_count_accepted(nested_server: ServerHandle, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["whatif", *server(nested_server), "-o", "json", "--pull", "5Mix3"]) == 0


def test_add_pod_missing_file(nested_server: ServerHandle, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["whatif", *server(nested_server), "--add-pod", str(tmp_path / "pod.json")])
    err = capsys.readouterr().err
    assert code == 2
    assert f"--add-pod {tmp_path}/pod.json: file not found" in err
