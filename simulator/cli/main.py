"""Entry point of the ``evictsim`` command: builds the parser and maps errors to exit codes.

Each subcommand lives in its own module of this package with a ``register(subparsers)``
function that adds its parser and sets ``handler`` to a function taking the parsed
arguments and returning an exit code.

Exit codes: 0 success, 1 a probe or runtime failure, 2 invalid input or usage.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from simulator.daemon.logging import CurrentStream, configure_logging
from simulator.errors import EvictsimError, InputError

# Subcommand modules, in the order `evictsim --help` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "snapshot",
    "explain",
    "policy",
    "evaluate",
    "gc",
    "daemon",
    "whatif",
    "history",
    "report",
)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line and exit 2, like other bad input."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"evictsim: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="evictsim",
        description="Simulate what the kubelet's eviction manager and image/container GC would do on a node.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"simulator.cli.{name}")
        except ModuleNotFoundError as error:
            if error.name == f"simulator.cli.{name}":
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command != "daemon":
        # One-shot commands print their result on standard output, so warnings that library
        # code logs go to standard error, where they cannot corrupt -o json or -o yaml output.
        configure_logging("warning", stream=CurrentStream("stderr"), json_output=False)
    try:
        return int(args.handler(args) or 0)
    except InputError as error:
        print(f"evictsim: error: {error}", file=sys.stderr)
        return 2
    except EvictsimError as error:
        print(f"evictsim: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
