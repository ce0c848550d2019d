"""``flow-orchestrator`` / ``python -m flow_orchestrator``: plan, build and resume Flows from a terminal or CI.

Exit codes: 0 everything succeeded; 1 recipes failed, the run was cancelled, outputs failed verification, or the
run stopped on an error after jobs started (DSS unreachable, access lost): the record is written and the summary
printed; 2 the command stopped on an error before starting a job: bad input, an output path (--json, --html) that
cannot be written (checked before the first job), a key that may not run jobs (found at the latest at the first job
start), or a DSS error while planning; also a ``propagate``/``verify`` report file that cannot be written once the
command ran. Errors are one line naming the object; -v adds the traceback. No secret is ever printed.
"""

from __future__ import annotations

import argparse
from typing import List, Optional

from .. import __version__
from .build import add_commands as add_build_commands
from .common import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, ArgumentParser, configure_logging, report_error
from .schema_ops import add_commands as add_schema_commands


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="flow-orchestrator", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    commands.required = True
    add_build_commands(commands)
    add_schema_commands(commands)  # propagate and verify share the connection and output options
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) and bad arguments (2, message already printed)
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
    configure_logging(getattr(args, "verbose", False))
    try:
        return args.handler(args)
    except KeyboardInterrupt as exc:  # a second Ctrl-C before any job started
        report_error(exc, args)
        return EXIT_FAILED
    except Exception as exc:  # noqa: BLE001 - a run that started jobs reports its own errors (exit 1)
        report_error(exc, args)
        return EXIT_BAD_INPUT


__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILED", "EXIT_OK", "build_parser", "main"]
