"""``evictsim whatif`` options checked before any connection to a daemon."""

from __future__ import annotations

import pytest

from simulator.cli.main import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    try:
        code = main(["whatif", *argv])
    except SystemExit as exit_:  # argparse rejects a --server value this way
        code = int(exit_.code or 0)
    return code, capsys.readouterr().err


def test_growth_invalid_amount_without_syncs(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, "--growth", "imagefs=abc")

    assert code == 2
    assert "--growth: invalid amount 'abc'" in err


def test_growth_needs_syncs(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, "--growth", "imagefs=1Mi")

    assert code == 2
    assert "--growth needs --syncs" in err


@pytest.mark.parametrize("address", ["unix://relative.sock", "unix://run/evictsim.sock"])
def test_server_unix_relative_after_slashes(capsys: pytest.CaptureFixture[str], address: str) -> None:
    """gRPC reads unix://NAME as an authority, so only unix:///absolute or unix:relative name a path."""
    code, err = run(capsys, "--server", address)

    assert code == 2
    assert f"invalid address {address!r}: unix:// must be followed by an absolute path" in err
    assert err.count("\n") == 1
