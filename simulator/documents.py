"""Read JSON and YAML input files and write output files with one-line errors.

Every file the CLI reads goes through :func:`load_document`, or :func:`read_text` when the
caller parses the text itself. A missing file, a directory, unreadable bytes, a parse error or
an empty file then reads the same for every option: ``OPTION FILE: REASON`` on one line, raised
as :class:`~simulator.errors.InputError` (exit 2 in the CLI). Parse errors give the 1-based
line and column instead of PyYAML's multi-line excerpt.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

import yaml

from simulator.errors import InputError

DocumentFormat = Literal["auto", "json", "yaml"]


def _fail(reason: str, path: str, option: str) -> InputError:
    """Build the error for ``path``: ``OPTION PATH: REASON``, or ``PATH: REASON`` without an option."""
    if option:
        return InputError(f"{option} {path}: {reason}", field=option, value=path)
    return InputError(reason, value=path, source=path)


def read_text(path: str | os.PathLike[str], *, option: str = "", expected: str = "JSON or YAML document") -> str:
    """Read a UTF-8 text file, or raise a one-line InputError when it is missing, a directory or unreadable.

    ``expected`` names what the file should contain, for the message about a directory.
    """
    name = os.fspath(path)
    try:
        return Path(name).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _fail("file not found", name, option) from None
    except IsADirectoryError:
        raise _fail(f"is a directory, expected a {expected}", name, option) from None
    except UnicodeDecodeError as error:
        raise _fail(f"cannot read file: not UTF-8 text (byte {error.object[error.start]:#04x} at offset {error.start})", name, option) from None
    except OSError as error:
        raise _fail(f"cannot read file: {error.strerror or error}", name, option) from None


def describe_yaml_error(error: yaml.YAMLError) -> str:
    """Return a PyYAML error as one line: ``at line L column C: PROBLEM`` (1-based), without the excerpt."""
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    where = f"at line {mark.line + 1} column {mark.column + 1}: " if mark is not None else "at an unknown line: "
    problem = getattr(error, "problem", None) or getattr(error, "context", None) or str(error).splitlines()[0]
    return f"{where}{problem}"


def describe_json_error(error: json.JSONDecodeError) -> str:
    """Return a JSON decode error as one line with its 1-based line and column."""
    return f"{error.msg} at line {error.lineno} column {error.colno}"


def parse_text(text: str, *, path: str, option: str = "", format: DocumentFormat = "auto") -> Any:
    """Parse JSON or YAML text read from ``path``, or raise a one-line InputError when it is invalid.

    ``auto`` accepts JSON, then YAML (a superset of JSON for the documents evictsim reads).
    """
    if format in ("auto", "json"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            if format == "json":
                raise _fail(f"is not JSON: {describe_json_error(error)}", path, option) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        kind = "YAML" if format == "yaml" else "JSON or YAML"
        raise _fail(f"invalid {kind} {describe_yaml_error(error)}", path, option) from None


def load_document(
    path: str | os.PathLike[str],
    *,
    option: str,
    format: DocumentFormat = "auto",
    allow_empty: bool = False,
    expected: str = "JSON or YAML document",
) -> Any:
    """Read and parse one JSON or YAML file named by a command-line ``option``.

    Raises InputError with one line ``OPTION FILE: REASON`` for a missing or unreadable file,
    a directory, invalid JSON or YAML (with line and column), or an empty file unless
    ``allow_empty`` is set (then an empty file returns None).
    """
    name = os.fspath(path)
    text = read_text(name, option=option, expected=expected)
    if not text.strip():
        if allow_empty:
            return None
        reason = "invalid JSON: the file is empty" if format == "json" else "the file is empty"
        raise _fail(f"{reason}, expected a {expected}", name, option)
    document = parse_text(text, path=name, option=option, format=format)
    if document is None and not allow_empty:
        raise _fail(f"contains no document, expected a {expected}", name, option)
    return document


def write_output(path: str | os.PathLike[str], text: str, *, option: str) -> None:
    """Write ``text`` to an output file, or raise a one-line InputError when the path cannot be written."""
    name = os.fspath(path)
    try:
        Path(name).write_text(text, encoding="utf-8")
    except IsADirectoryError:
        raise _fail("failed to write: is a directory", name, option) from None
    except FileNotFoundError as error:
        directory = Path(name).parent
        if not directory.is_dir():
            raise _fail(f"failed to write: directory {str(directory)!r} not found", name, option) from None
        # The directory exists but refuses new files with ENOENT, as procfs and sysfs do.
        raise _fail(f"failed to write: {error.strerror or error}", name, option) from None
    except OSError as error:
        raise _fail(f"failed to write: {error.strerror or error}", name, option) from None


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply a JSON merge patch (RFC 7386) and return the result; neither input is modified."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result
