"""The whatif, headroom, sweep and watch commands against a server on a Unix socket."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import pytest
import structlog

from simulator.api.live import LiveState
from simulator.api.server import ServerHandle
from simulator.cli.main import main
from tests.api.test_servicer import IMAGEFS, IMAGEFS_HARD, TO_PRESSURE


@pytest.fixture(autouse=True)
def quiet_server_logs() -> Iterator[None]:
    """Keep the in-process server's log lines out of the command's captured stdout."""
    with structlog.testing.capture_logs():
        yield


def server_args(handle: ServerHandle) -> list[str]:
    return ["--server", f"unix://{handle.socket_path}"]


def test_whatif_json_sets_disk_pressure(api_server: ServerHandle, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["whatif", *server_args(api_server), "-o", "json", "--write", f"imagefs={TO_PRESSURE}"])
    document = json.loads(capsys.readouterr().out)
    assert code == 0
    assert document["node_conditions"] == ["DiskPressure"]
    imagefs = next(t for t in document["thresholds"] if t["signal"] == "imagefs.available")
    assert imagefs["threshold"] == IMAGEFS_HARD


def test_whatif_set_pointer(api_server: ServerHandle, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["whatif", *server_args(api_server), "-o", "json", "--set", "/evictionHard/imagefs.available=90%"])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["node_conditions"] == ["DiskPressure"]


def test_whatif_table(api_server: ServerHandle, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["whatif", *server_args(api_server), "-o", "table", "--write", f"imagefs={TO_PRESSURE - 1}"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("node conditions: none\n")
    assert "imagefs.available" in out


def test_whatif_bad_input_exits_2(api_server: ServerHandle, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["whatif", *server_args(api_server), "--pull", "-5"])
    err = capsys.readouterr().err
    assert code == 2
    assert "image_pulls[0].size_bytes: -5 bytes is out of range" in err


def test_whatif_unreachable_server_exits_1(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    code = main(["whatif", "--server", f"unix://{tmp_path}/none.sock", "--timeout", "2"])
    assert code == 1
    assert "failed to reach the evictsim daemon" in capsys.readouterr().err


def test_headroom_json(api_server: ServerHandle, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["headroom", *server_args(api_server), "-o", "json", "--signal", "imagefs.available", "--rate", "imagefs.available=1Mi"])
    document = json.loads(capsys.readouterr().out)
    assert code == 0
    (entry,) = document["signals"]
    hard = next(c for c in entry["crossings"] if c["event"] == "hard_threshold")
    assert hard["amount"] == TO_PRESSURE
    assert hard["seconds"] == pytest.approx(TO_PRESSURE / 1048576)
    assert entry["available"] == IMAGEFS.available_bytes


def test_headroom_table(api_server: ServerHandle, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["headroom", *server_args(api_server), "-o", "table"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["SIGNAL", "EVENT", "AT", "HEADROOM", "TIME", "TREND"]
    assert "image_gc" in out


def test_sweep_table(api_server: ServerHandle, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sweep", *server_args(api_server), "-o", "table", "/evictionHard/imagefs.available", "15%", "90%"])
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert lines[0] == "/evictionHard/imagefs.available"
    assert lines[2].split()[:2] == ["15%", "none"]
    assert lines[3].split()[:2] == ["90%", "DiskPressure"]


def test_watch_prints_changes(api_server: ServerHandle, live: LiveState, capsys: pytest.CaptureFixture[str]) -> None:
    import dataclasses

    from tests.api.conftest import load_summary, make_sample

    def publish_pressure() -> None:
        time.sleep(0.5)
        summary = load_summary()
        summary.node = dataclasses.replace(summary.node, image_fs=dataclasses.replace(IMAGEFS, available_bytes=IMAGEFS_HARD - 1))
        live.publish(make_sample(summary))

    publisher = threading.Thread(target=publish_pressure)
    publisher.start()
    code = main(["watch", *server_args(api_server), "-o", "json", "--count", "2"])
    publisher.join()
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0
    assert lines[0]["changes"] == ["initial decision"]
    assert "DiskPressure: false -> true" in lines[1]["changes"]
