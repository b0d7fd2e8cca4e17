"""The shared file loader: every failure is one line naming the option and the file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from simulator.cli.main import main
from simulator.documents import load_document, write_output
from simulator.errors import InputError

BAD_YAML = "steps:\n  - summary: a.json\n    after: [1s\n  name: x\n"


def one_line(error: pytest.ExceptionInfo[InputError]) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("missing.yaml", None, "file not found"),
        ("empty.yaml", "", "the file is empty"),
        ("blank.yaml", "   \n\n", "the file is empty"),
        ("comment.yaml", "# only a comment\n", "contains no document"),
        ("bad.yaml", BAD_YAML, "invalid JSON or YAML at line 4 column 7: expected ',' or ']'"),
        ("binary.yaml", b"\xff\xfe\x00", "not UTF-8 text (byte 0xff at offset 0)"),
    ],
    ids=["missing", "empty", "blank", "comment-only", "bad-yaml", "not-utf8"],
)
def test_load_document_errors(tmp_path: Path, name: str, content: str | bytes | None, expected: str) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)

    with pytest.raises(InputError) as raised:
        load_document(path, option="--pods")

    message = one_line(raised)
    assert message.startswith(f"--pods {path}: ")
    assert expected in message
    assert raised.value.field == "--pods"


def test_load_document_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError) as raised:
        load_document(tmp_path, option="--images")
    assert one_line(raised) == f"--images {tmp_path}: is a directory, expected a JSON or YAML document"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files without read permission")
def test_load_document_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "secret.json"
    path.write_text("{}")
    path.chmod(0)
    with pytest.raises(InputError) as raised:
        load_document(path, option="--summary")
    assert "cannot read file: Permission denied" in one_line(raised)


def test_json_format_names_position(tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    path.write_text('{"node": {\n  "fs": }\n}')
    with pytest.raises(InputError) as raised:
        load_document(path, option="--summary", format="json")
    assert one_line(raised) == f"--summary {path}: is not JSON: Expecting value at line 2 column 9"


def test_json_and_yaml_parse(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text('{"a": [1, 2]}')
    (tmp_path / "b.yaml").write_text("a:\n  - 1\n  - 2\n")
    assert load_document(tmp_path / "a.json", option="--x") == {"a": [1, 2]}
    assert load_document(tmp_path / "b.yaml", option="--x") == {"a": [1, 2]}


def test_write_output_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError) as raised:
        write_output(tmp_path / "none" / "x.html", "page", option="--html")
    assert "--html" in one_line(raised)
    assert "not found" in str(raised.value)
    with pytest.raises(InputError) as raised:
        write_output(tmp_path, "page", option="--html")
    assert "is a directory" in one_line(raised)


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs procfs at /proc")
def test_write_output_existing_directory_enoent() -> None:
    """procfs returns ENOENT for a new file: the message gives the OS error, not a missing /proc."""
    with pytest.raises(InputError) as raised:
        write_output("/proc/evictsim-test.html", "page", option="--html")

    message = one_line(raised)
    assert "directory '/proc' not found" not in message
    assert "No such file or directory" in message
    assert "--html" in message


@pytest.mark.parametrize(
    ("option", "argv"),
    [
        ("--images", ["gc", "images", "--images", "{bad}", "--containers", "{bad}"]),
        ("--containers", ["gc", "images", "--images", "{good}", "--containers", "{bad}"]),
        ("--scenario", ["evaluate", "--scenario", "{bad}"]),
        ("--kubelet-config", ["evaluate", "--summary", "{good}", "--kubelet-config", "{bad}"]),
        ("--summary", ["evaluate", "--summary", "{bad}"]),
        ("--state", ["gc", "images", "--images", "{good}", "--state", "{bad}"]),
    ],
    ids=["images", "containers", "scenario", "kubelet-config", "summary", "state"],
)
def test_cli_parse_errors_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, argv: list[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD_YAML)
    good = tmp_path / "good.json"
    good.write_text('{"images": []}' if argv[0] == "gc" else '{"node": {"nodeName": "n"}}')
    argv = [a.replace("{bad}", str(bad)).replace("{good}", str(good)) for a in argv]

    code = main(argv)

    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert str(bad) in err
    assert "line 4" in err or "is not JSON" in err
