"""``flow-orchestrator propagate`` and ``flow-orchestrator verify``: schema propagation and output checks from a terminal.

Exit codes as the rest of the CLI: 0 done (verification passed, propagation finished or previewed), 1 the
propagation stopped or an ERROR expectation failed, 2 bad input (nothing was changed).
"""

from __future__ import annotations

import argparse
import json

from ..errors import FlowOrchestratorError
from ..redaction import redact, scrub
from .common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    check_output_paths,
    connection_args,
    make_gateway,
    output_args,
    read_spec,
    report_error,
    write_text,
)

#: How the CLI's flags map to the use cases' keys, so error messages name the flag the user typed.
PROPAGATE_FLAGS = {
    "source_dataset": "--source",
    "auto_rebuild": "--no-auto-rebuild",
    "stop_at": "--stop-at",
    "mark_as_ok": "--mark-as-ok",
    "partition_values": "--partition",
    "preview_only": "--preview",
    "timeout_s": "--timeout",
}
VERIFY_FLAGS = {
    "datasets": "--datasets",
    "expectations": "--expectations",
    "expected_columns": "--columns",
    "min_rows": "--min-rows",
    "capture_current": "--capture",
}


def add_commands(subparsers) -> None:
    """Add ``propagate`` and ``verify`` to the CLI's sub-commands (each sets ``handler``)."""
    propagate = subparsers.add_parser(
        "propagate", help="preview and propagate a dataset's schema change down the Flow, with a diff per dataset"
    )
    connection_args(propagate)
    group = propagate.add_argument_group("propagation")
    group.add_argument("--source", required=True, metavar="DATASET", help="the dataset whose schema changed")
    group.add_argument(
        "--stop-at", nargs="+", default=[], metavar="RECIPE", help="recipes the propagation must not update nor pass"
    )
    group.add_argument(
        "--mark-as-ok",
        nargs="+",
        default=[],
        metavar="RECIPE",
        help="recipes to accept as they are (their outputs keep their schema)",
    )
    group.add_argument(
        "--partition",
        nargs="+",
        default=[],
        metavar="DIM=VALUE",
        help="partition values to use for partitioned datasets",
    )
    group.add_argument("--no-auto-rebuild", action="store_true", help="only update schemas, rebuild nothing")
    group.add_argument(
        "--preview", action="store_true", help="show what would change and what would break; change nothing"
    )
    group.add_argument(
        "--timeout", type=float, default=None, metavar="SECONDS", help="time limit of the propagation (default 3600)"
    )
    output_args(propagate)
    propagate.set_defaults(handler=run_propagate_command)

    verify = subparsers.add_parser("verify", help="check datasets against expectations (schema, builds, row counts)")
    connection_args(verify)
    group = verify.add_argument_group("expectations")
    group.add_argument(
        "--datasets",
        nargs="+",
        default=[],
        metavar="DATASET",
        help="datasets to check (each must exist; --columns and --min-rows apply to each)",
    )
    group.add_argument("--expectations", metavar="FILE", help="JSON spec (resource/schemas/expectations.schema.json)")
    group.add_argument("--columns", nargs="+", default=[], metavar="NAME[:TYPE]", help="columns each dataset must have")
    group.add_argument("--min-rows", type=int, default=None, metavar="N", help="least number of rows of each dataset")
    group.add_argument(
        "--capture",
        metavar="FILE",
        help="write a spec of the datasets as they are now to FILE (then verify with --expectations)",
    )
    output_args(verify)
    verify.set_defaults(handler=run_verify_command)


def _html_document(fragment: str, title: str) -> str:
    from ..report.page import html_document

    return html_document(fragment, title=title)


def _problem(error: BaseException, args: argparse.Namespace) -> int:

    report_error(error, args)
    return EXIT_BAD_INPUT


def run_propagate_command(args: argparse.Namespace) -> int:
    from ..config.propagate import parse_propagate_config
    from ..propagate import propagate_schema
    from ..report.schema_html import render_propagation_report

    raw = {
        "source_dataset": args.source,
        "auto_rebuild": not args.no_auto_rebuild,
        "stop_at": args.stop_at,
        "mark_as_ok": args.mark_as_ok,
        "partition_values": args.partition,
        "preview_only": args.preview,
    }
    if args.timeout is not None:
        raw["timeout_s"] = args.timeout
    try:
        check_output_paths(args)
        config = parse_propagate_config(raw, PROPAGATE_FLAGS, source="cli")
        gateway = make_gateway(args)
        outcome = propagate_schema(gateway, config, field_names=PROPAGATE_FLAGS)
    except FlowOrchestratorError as error:
        return _problem(error, args)
    data = scrub(outcome.to_dict())
    write_text(args.json_path, json.dumps(data, indent=2, ensure_ascii=False))
    if args.html_path:
        fragment = render_propagation_report(data, dss_url=gateway.dss_url)
        write_text(args.html_path, _html_document(fragment, f"Schema propagation from {config.source_dataset}"))
    print(_propagation_text(data))
    return EXIT_FAILED if outcome.error is not None else EXIT_OK


def _propagation_text(data: dict) -> str:
    lines = [data["summary"]]
    if data["ran"]:
        for diff in data["changes"]:
            lines.append(f"  {diff['dataset']}: {diff['summary']}")
    for note in data["notes"]:
        lines.append(f"note: {note}")
    return "\n".join(lines)


def run_verify_command(args: argparse.Namespace) -> int:
    from ..config.verify import parse_verify_config
    from ..report.verify_html import render_verification_report
    from ..verification import run_verification

    form = {
        "datasets": args.datasets,
        "expected_columns": args.columns,
        "min_rows": args.min_rows,
        "capture_current": bool(args.capture),
    }
    try:
        check_output_paths(args)
        if args.expectations:
            form["expectations"] = read_spec(args.expectations)
        config = parse_verify_config(form, VERIFY_FLAGS)
        gateway = make_gateway(args)
        outcome = run_verification(gateway, config)
    except FlowOrchestratorError as error:
        return _problem(error, args)
    data = scrub(outcome.to_dict())
    write_text(args.json_path, json.dumps(data, indent=2, ensure_ascii=False))
    if args.html_path:
        write_text(args.html_path, _html_document(render_verification_report(data), "Output verification"))
    if outcome.captured_spec is not None:
        write_text(args.capture, outcome.captured_spec + "\n")
        print(
            f"Captured {len(outcome.datasets)} dataset(s) into {args.capture}; verify with --expectations "
            f"{args.capture}"
        )
        return EXIT_OK
    result = outcome.result
    for item in result.results:
        if item.status != "passed":
            if item.status == "failed":
                label = "FAILED" if item.severity == "ERROR" else "WARN"
            else:
                label = "SKIPPED"
            print(redact(f"{label:8} {item.dataset} {item.kind}: {item.message}"))
    for note in result.notes:
        print(redact(f"note: {note}"))
    print(redact(result.summary()))
    return EXIT_OK if result.passed else EXIT_FAILED


__all__ = ["add_commands", "run_propagate_command", "run_verify_command"]
