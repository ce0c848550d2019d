"""What every command of the command line shares: exit codes, connection and output options, one-line errors.

Below the commands (:mod:`.build`, :mod:`.schema_ops`), which import it; it imports none of them.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Optional

from ..errors import FlowOrchestratorError, SelectionError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


log = logging.getLogger("flow_orchestrator")


class ArgumentParser(argparse.ArgumentParser):
    """argparse exits with 2 on bad arguments already; keep its message but make it name the fix."""

    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\nRun '{self.prog} --help' for the options.\n")


def connection_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("DSS instance")
    group.add_argument("--url", default=os.environ.get("DSS_URL"), help="DSS base URL (default: $DSS_URL)")
    group.add_argument("--api-key", default=None, help="API key (default: $DSS_API_KEY; prefer the variable)")
    group.add_argument("--project", default=os.environ.get("DSS_PROJECT"), help="project key (default: $DSS_PROJECT)")
    group.add_argument("--no-verify-tls", action="store_true", help="do not verify the instance's TLS certificate")


def output_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("output")
    group.add_argument("--json", dest="json_path", metavar="FILE", help="write the run record (or plan) as JSON")
    group.add_argument("--html", dest="html_path", metavar="FILE", help="write the HTML report")
    group.add_argument("--quiet", action="store_true", help="no live progress line")
    group.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")


#: Output files of each command, by option: checked writable before anything starts.
OUTPUT_OPTIONS = (
    ("json_path", "--json", "run.json"),
    ("html_path", "--html", "report.html"),
    ("capture", "--capture", "expectations.json"),
)


def check_output_paths(args: argparse.Namespace) -> None:
    """Every output file given can be written (its folder is created): a typo in a path must cost no build."""
    from ..errors import ConfigError

    problems = []
    for attribute, option, example in OUTPUT_OPTIONS:
        value = getattr(args, attribute, None)
        if not value:
            continue
        path = Path(value)
        if path.is_dir():
            problems.append((option, f"{value} is a folder: give a file path, e.g. {path / example}"))
            continue
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=str(path.parent), prefix=f".{path.name}.", suffix=".probe"):
                pass
            if path.exists() and not os.access(path, os.W_OK):
                raise PermissionError(13, "the file is read-only")
        except OSError as error:
            problems.append((option, f"cannot write {value}: {error.strerror or error}; give a path you can write"))
    if problems:
        raise ConfigError(problems)


def read_spec(path: str) -> str:
    from ..textfiles import read_text

    return read_text(
        path,
        "--expectations",
        "the JSON spec file of the expectations (write one with 'flow-orchestrator verify --capture FILE')",
    )


def write_text(path: Optional[str], text: str) -> None:
    """Write an output file (JSON, HTML, captured spec) whole or not at all; nothing when its flag was not given."""
    if not path:
        return
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def make_gateway(args: argparse.Namespace):
    """Connect to the instance named by the arguments (or DSS_URL / DSS_API_KEY)."""
    from ..dss import DSSGateway, connect
    from ..errors import ConfigError

    problems = []
    if not args.url:
        problems.append(("--url", "no DSS URL: pass --url or set DSS_URL"))
    api_key = args.api_key or os.environ.get("DSS_API_KEY")
    if not api_key:
        problems.append(("--api-key", "no API key: set DSS_API_KEY (or pass --api-key)"))
    if not args.project:
        problems.append(("--project", "no project key: pass --project or set DSS_PROJECT"))
    if problems:
        raise ConfigError(problems)
    client = connect(args.url, api_key, verify_tls=not args.no_verify_tls)
    return DSSGateway(client, args.project, dss_url=args.url)


_SELECTION_FLAGS = {"targets": "--targets", "recipes": "--recipes", "select": "--select", "exclude": "--exclude"}


def describe_error(error: BaseException) -> str:
    """One line for the user: what failed on which object, and how to see more (``-v``); never a secret."""
    from ..redaction import redact

    problems = getattr(error, "problems", None)
    if isinstance(error, SelectionError) and problems:  # name the options as typed, not the form fields
        lines = [
            f"{_SELECTION_FLAGS.get(field, field)}: {message}" if field else message for field, message in problems
        ]
        text = lines[0] if len(lines) == 1 else f"Invalid selection ({len(lines)} problems):\n- " + "\n- ".join(lines)
        return redact(text) or ""
    if isinstance(error, FlowOrchestratorError):
        return redact(str(error)) or type(error).__name__
    if isinstance(error, KeyboardInterrupt):
        return "interrupted: the jobs this run started were asked to abort, without waiting for DSS to confirm"
    from ..dss.client import dss_error_sentence

    first = (str(error).strip().splitlines() or [""])[0]
    sentence = dss_error_sentence(error)
    if sentence is not None:
        text = sentence
    elif isinstance(error, (OSError, json.JSONDecodeError, UnicodeError)):
        text = first or type(error).__name__
    elif type(error).__module__.startswith(("requests", "urllib3")):
        text = f"cannot talk to DSS: {type(error).__name__}: {first}"
    else:
        text = f"unexpected error {type(error).__name__}: {first} (please report it)"
    return redact(f"{text} (run with -v for the traceback)")


def report_error(error: BaseException, args: Optional[argparse.Namespace] = None) -> None:
    """The error on stderr as one line (a configuration error lists each problem), its traceback first with -v."""
    from ..redaction import redact

    if getattr(args, "verbose", False):
        trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        print(redact(trace), file=sys.stderr, end="")
    print(f"flow-orchestrator: {describe_error(error)}", file=sys.stderr)


def configure_logging(verbose: bool) -> None:
    """Debug logging on stderr with -v, warnings otherwise; every line goes through the redaction filter."""
    from ..redaction import redact_log_handlers

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    redact_log_handlers()
