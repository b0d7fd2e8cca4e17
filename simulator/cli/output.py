"""Rendering of command results as JSON, YAML or a plain-text table."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

import yaml

FORMATS = ("json", "yaml", "table")


def add_output_option(parser: Any, *, default: str | None = None) -> None:
    """Add ``-o/--output``; without it, a terminal gets a table and a pipe gets JSON."""
    parser.add_argument(
        "-o",
        "--output",
        choices=FORMATS,
        default=default,
        help="output format (default: table on a terminal, json otherwise)",
    )


def resolve_format(requested: str | None) -> str:
    if requested:
        return requested
    return "table" if sys.stdout.isatty() else "json"


def emit(document: Any, output: str | None, table: Callable[[Any], str]) -> None:
    """Print ``document`` in the chosen format; ``table`` renders it for humans."""
    chosen = resolve_format(output)
    if chosen == "json":
        print(json.dumps(document, indent=2))
    elif chosen == "yaml":
        print(yaml.safe_dump(document, sort_keys=False, default_flow_style=False), end="")
    else:
        print(table(document), end="")


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Align columns with two spaces between them, like kubectl's plain output."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in cells]
    return "\n".join(lines) + "\n"
