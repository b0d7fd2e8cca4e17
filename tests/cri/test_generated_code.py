"""The committed code in simulator/_proto/ matches what scripts/genproto.py generates.

CI runs this, so a .proto change without `make proto` (or a hand edit of generated code) fails.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
GENPROTO = REPO_ROOT / "scripts" / "genproto.py"


def load_genproto() -> ModuleType:
    spec = importlib.util.spec_from_file_location("genproto", GENPROTO)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_code_has_no_drift() -> None:
    result = subprocess.run(
        [sys.executable, str(GENPROTO), "--check"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_proto_file_is_generated() -> None:
    """Each .proto under protos/ has its three generated modules, so new files are picked up."""
    genproto = load_genproto()
    for proto in genproto.find_proto_files(REPO_ROOT / "protos"):
        stem = REPO_ROOT / "simulator" / "_proto" / proto.with_suffix("")
        for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py"):
            assert Path(f"{stem}{suffix}").is_file(), f"{proto} has no {stem.name}{suffix}"


def test_generated_modules_import_by_package_path() -> None:
    grpc_module = (REPO_ROOT / "simulator/_proto/runtime/v1/api_pb2_grpc.py").read_text()
    assert "from simulator._proto.runtime.v1 import api_pb2" in grpc_module


@pytest.fixture
def trees(tmp_path: Path) -> tuple[Path, Path]:
    fresh = tmp_path / "fresh"
    committed = tmp_path / "committed"
    for root in (fresh, committed):
        (root / "runtime" / "v1").mkdir(parents=True)
        (root / "__init__.py").write_text("x\n")
        (root / "runtime" / "v1" / "api_pb2.py").write_text("same\n")
    return fresh, committed


def test_drift_check_finds_changed_file(trees: tuple[Path, Path]) -> None:
    fresh, committed = trees
    (committed / "runtime" / "v1" / "api_pb2.py").write_text("edited by hand\n")
    drifted = load_genproto().find_drift(fresh, committed)
    assert drifted == ["simulator/_proto/runtime/v1/api_pb2.py (differs)"]


def test_drift_check_finds_missing_file(trees: tuple[Path, Path]) -> None:
    fresh, committed = trees
    (fresh / "runtime" / "v1" / "api_pb2_grpc.py").write_text("new\n")
    drifted = load_genproto().find_drift(fresh, committed)
    assert drifted == ["simulator/_proto/runtime/v1/api_pb2_grpc.py (missing)"]


def test_drift_check_finds_stale_file(trees: tuple[Path, Path]) -> None:
    fresh, committed = trees
    (committed / "runtime" / "v1" / "old_pb2.pyi").write_text("left over\n")
    drifted = load_genproto().find_drift(fresh, committed)
    assert drifted == ["simulator/_proto/runtime/v1/old_pb2.pyi (stale: no .proto file generates it)"]


def test_drift_check_ignores_unrelated_files(trees: tuple[Path, Path]) -> None:
    fresh, committed = trees
    (committed / "README.md").write_text("notes\n")
    assert load_genproto().find_drift(fresh, committed) == []
