"""``flow-orchestrator plan | build | resume``: plan, build and resume Flows from a terminal or CI."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from typing import Optional

from ..config import BUILD_MODE_LABELS, STRATEGIES, build_fields, parse_build_config
from ..plan import format_plan_text
from .common import (
    EXIT_FAILED,
    EXIT_OK,
    check_output_paths,
    connection_args,
    log,
    make_gateway,
    output_args,
    read_spec,
    report_error,
    write_text,
)


def _selection_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("what to build (nothing: every recipe of the Flow)")
    group.add_argument("--targets", nargs="+", default=[], metavar="DATASET", help="datasets to build")
    group.add_argument(
        "--recipes",
        nargs="+",
        default=[],
        metavar="RECIPE",
        help="recipes to run; with --ordered, an ordered pipeline checked against the Flow",
    )
    group.add_argument("--ordered", action="store_true", help="--recipes is an ordered list (like the scenario step)")
    group.add_argument("--reorder", action="store_true", help="reorder an --ordered list that contradicts the Flow")
    group.add_argument(
        "--select",
        nargs="+",
        default=[],
        metavar="EXPR",
        help='dbt-style expressions: +X, X+, +X+, @X, tag:T, type:T, zone:Z (quote names with spaces: zone:"My zone")',
    )
    group.add_argument("--exclude", nargs="+", default=[], metavar="EXPR", help="expressions to leave out")
    group.add_argument("--all", action="store_true", help="every recipe of the Flow (the default)")


def _run_args(parser: argparse.ArgumentParser, *, for_resume: bool = False) -> None:
    modes = ", ".join(f"{mode} ({label})" for mode, label in BUILD_MODE_LABELS.items())
    group = parser.add_argument_group("how to run")
    default = None if for_resume else argparse.SUPPRESS
    group.add_argument("--mode", default=default, help=f"build mode: {modes}")
    group.add_argument(
        "--strategy",
        default=default,
        choices=list(STRATEGIES),
        help="grouped (the default): a chain of recipes that can only run one after another is one DSS job, "
        "independent branches separate jobs, or the whole plan one job when DSS jobs are expensive "
        "(--job-overhead-s); per-recipe: a job each; single-job: the whole plan in one job",
    )
    group.add_argument(
        "--job-overhead-s",
        type=float,
        default=default,
        metavar="SECONDS",
        help="DSS job start-up cost: seconds a DSS job takes besides its recipes' work; grouped jobs weigh it to "
        "choose between a job per chain and one job for the whole plan. Leave empty to learn it from the last run",
    )
    group.add_argument("--max-parallel", type=int, default=default, help="most jobs at once (default 4)")
    group.add_argument("--on-failure", default=default, choices=["fail-fast", "continue"])
    group.add_argument("--retries", type=int, default=default, help="retries of transient failures (default 0)")
    group.add_argument(
        "--retry-backoff",
        type=float,
        default=default,
        dest="retry_backoff_s",
        help="first wait before a retry, seconds (doubles each time)",
    )
    group.add_argument(
        "--transient-pattern",
        action="append",
        default=default,
        dest="transient_patterns",
        metavar="REGEX",
        help="extra error pattern to treat as transient (repeatable)",
    )
    group.add_argument("--timeout", type=float, default=default, metavar="SECONDS", help="per-recipe time limit")
    group.add_argument(
        "--partitions",
        default=default,
        metavar="SPEC",
        help="partitions to build of the partitioned outputs, e.g. 2026-12-05 or 2026-12-01,2026-12-02 "
        "(unpartitioned outputs are built whole)",
    )


def _schema_and_verify_args(parser: argparse.ArgumentParser) -> None:
    """Options of the steps around the build; unset (None) on resume keeps the resumed run's settings."""
    group = parser.add_argument_group("schemas and outputs")
    group.add_argument(
        "--propagate-schema-first",
        action="store_true",
        default=None,
        help="before the first job, propagate schemas from the datasets feeding the selection "
        "(no auto-rebuild); with --dry-run, only preview the impact",
    )
    group.add_argument(
        "--verify",
        action="store_true",
        default=None,
        dest="verify_after_build",
        help="after the build, check the outputs of the recipes that succeeded (default check: each "
        "exists and was built during this run); a failed ERROR expectation exits 1",
    )
    group.add_argument(
        "--expectations",
        metavar="FILE",
        dest="expectations_file",
        default=None,
        help="JSON spec of the expectations (resource/schemas/expectations.schema.json); implies --verify",
    )
    group.add_argument(
        "--expect-columns",
        nargs="+",
        metavar="NAME[:TYPE]",
        dest="expected_columns",
        default=None,
        help="columns every output dataset must have; implies --verify",
    )
    group.add_argument(
        "--min-rows",
        type=int,
        metavar="N",
        default=None,
        help="least number of rows of every output dataset; implies --verify",
    )


def _history_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("run history (a managed folder of the project)")
    group.add_argument(
        "--record-folder",
        metavar="ID",
        help="also keep the run record and HTML report in this managed folder (runs/<run id>/) and the last record "
        "in last_run/<name>.json; resume reads it when --record is not given",
    )
    group.add_argument(
        "--record-name",
        metavar="NAME",
        default="cli",
        help="name of the last record in the folder: last_run/NAME.json (default: cli; give a step's record name to "
        "continue its history)",
    )
    group.add_argument(
        "--keep-runs",
        type=int,
        metavar="N",
        default=None,
        help="runs the folder's runs/ keeps: after this run, older ones are deleted (default: 30, or the resumed "
        "run's value; 0 keeps all; the count covers every run in the folder, whoever wrote it)",
    )


def add_commands(commands) -> None:
    """Add ``plan``, ``build`` and ``resume`` to the CLI's sub-commands (each sets ``handler``)."""
    plan = commands.add_parser("plan", help="show what a build would run, start nothing")
    connection_args(plan)
    _selection_args(plan)
    _run_args(plan)
    output_args(plan)

    build = commands.add_parser("build", help="run the selected recipes")
    connection_args(build)
    _selection_args(build)
    _run_args(build)
    build.add_argument("--dry-run", action="store_true", help="plan only (same as the plan command)")
    for command in (plan, build):
        command.add_argument(
            "--learn-from",
            metavar="FILE",
            help="an earlier run record (JSON, e.g. the last CI run's --json) to plan with: each recipe's expected "
            "duration and what a DSS job costs to start (grouped jobs); default: the run history folder's last record",
        )
    _schema_and_verify_args(build)
    _history_args(build)
    output_args(build)

    resume = commands.add_parser("resume", help="re-run what failed, was skipped or never ran in a run record")
    connection_args(resume)
    resume.add_argument(
        "--record", metavar="FILE", help="the run record (JSON) to resume (or --record-folder: its last record)"
    )
    _run_args(resume, for_resume=True)
    resume.add_argument("--dry-run", action="store_true", help="plan only")
    _schema_and_verify_args(resume)
    _history_args(resume)
    output_args(resume)
    for command in (plan, build, resume):
        command.set_defaults(handler=run_build_command)


def _raw_config(args: argparse.Namespace) -> dict:
    """The argparse result as the config's "cli" input: every option whose dest is a build field of the schema."""
    from ..errors import ConfigError

    flags = []  # flags that only mean something with another one: silently ignoring them hides a CI typo
    if getattr(args, "reorder", False) and not args.ordered:
        flags.append(("--reorder", "it reorders an --ordered recipe list: give --ordered with --recipes, or drop it"))
    if getattr(args, "ordered", False) and not args.recipes:
        flags.append(("--ordered", "it makes --recipes an ordered pipeline: give the recipes with --recipes"))
    if flags:
        raise ConfigError(flags)
    raw = {k: v for k, v in vars(args).items() if k in build_fields("cli") and v is not None}
    raw["project"] = args.project
    if args.command == "plan":
        raw["dry_run"] = True
    path = getattr(args, "expectations_file", None)
    if path:
        raw["expectations"] = read_spec(path)
    if any(key in raw for key in ("expectations", "expected_columns", "min_rows")):
        raw["verify_after_build"] = True  # giving expectations asks for them to be checked
    return raw


@contextlib.contextmanager
def _cancel_on_signals(cancel: threading.Event):
    """Ctrl-C / SIGTERM set ``cancel`` (the runner aborts its jobs); a second Ctrl-C stops waiting. Restored after."""

    def handler(signum, frame):
        if cancel.is_set():
            raise KeyboardInterrupt
        log.warning("Cancelling: aborting the jobs this run started (press Ctrl-C again to stop waiting)")
        cancel.set()

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old_handler in previous.items():
            signal.signal(sig, old_handler)


def _record_to_learn_from(args: argparse.Namespace) -> dict:
    """The ``--learn-from`` record, refused in one line naming the flag when it is unreadable or of another project."""
    from ..errors import ConfigError
    from ..record import load_record

    try:
        previous = load_record(args.learn_from).to_dict()
    except ConfigError as error:  # named by the flag the user typed, not the record's own field
        raise ConfigError([("--learn-from", message) for _, message in error.problems]) from None
    project = previous.get("project_key")
    if args.project and project and project != args.project:
        raise ConfigError(
            (
                "--learn-from",
                f"{args.learn_from} is a run of project {project}, not {args.project}: give a record of "
                f"project {args.project}",
            )
        )
    return previous


def _resume_config(args: argparse.Namespace, previous: dict) -> dict:
    """The resumed run's settings, overridden by the options given; the history goes where this command says."""
    raw = dict(previous.get("config") or {})
    raw.pop("record_folder", None)
    raw.update(_raw_config(args))
    raw["resume_last_run"] = True
    if not args.project:
        args.project = previous.get("project_key")
        raw["project"] = args.project
    return raw


def _open_history(args: argparse.Namespace, gateway, folder: Optional[str], keep_runs: int = 0):
    """The run history folder of ``--record-folder`` (checked before anything runs), or None."""
    from ..history import RunHistory

    if not folder:
        return None
    gateway.check_access()  # URL, key and project first: their errors say what to fix
    return RunHistory.open(
        gateway,
        args.record_name,
        folder,
        variable=False,
        keep_runs=keep_runs,
        folder_field="--record-folder",
        name_field="--record-name",
    )


def run_build_command(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..history import last_run_path, report_document, run_keeping_record
    from ..record import RecordFile, load_record, write_record
    from ..redaction import RedactedStream
    from ..report.terminal import ProgressLine

    check_output_paths(args)
    previous = None
    history = None
    if args.command == "resume" and args.record:
        previous = load_record(args.record).to_dict()
        raw = _resume_config(args, previous)
    elif args.command == "resume":
        if not args.record_folder:
            raise ConfigError(
                ("--record", "give the run to resume: --record FILE, or --record-folder ID to read its last record")
            )
        gateway = make_gateway(args)
        history = _open_history(args, gateway, args.record_folder)  # retention set once the config is known
        previous = history.load_last()
        if previous is None:
            raise ConfigError(
                (
                    "--record-folder",
                    f"{history.folder.describe()} has no {last_run_path(args.record_name)} to resume: run a build "
                    "with --record-folder first, or pass --record FILE",
                )
            )
        raw = _resume_config(args, previous)
    else:
        raw = _raw_config(args)
        if getattr(args, "learn_from", None):
            previous = _record_to_learn_from(args)
    config = parse_build_config(raw, source="cli")
    if getattr(args, "keep_runs", None) is not None and not config.record_folder:
        raise ConfigError(("--keep-runs", "it limits the runs of the run history folder: give --record-folder too"))
    if history is None:
        gateway = make_gateway(args)
        history = _open_history(args, gateway, config.record_folder, config.keep_runs)
        if history is not None and previous is None:
            previous = history.load_last()  # expected durations from the last run
    elif history is not None:
        history.keep_runs = config.keep_runs
    cancel = threading.Event()
    if config.dry_run and not args.json_path and not args.html_path:  # no file keeps it: a plan only printed
        return _print_plan_only(gateway, config, previous, cancel)
    progress = None if args.quiet else ProgressLine(RedactedStream(sys.stderr))
    json_file = RecordFile(args.json_path) if args.json_path else None  # kept current: whole, then a journal

    latest = []  # the last record the run handed over
    began = []  # a job has started: the record file is kept current from then on

    def to_json_file(record):
        latest[:] = [record]
        if json_file is not None and (began or _started_jobs(record)):
            began.append(True)  # before the first job: nothing to say (the end is written below)
            json_file(record)

    try:
        with _cancel_on_signals(cancel):
            record = run_keeping_record(
                gateway, config, history, previous_record=previous, on_event=progress, cancel=cancel, also=to_json_file
            )
    except BaseException as exc:
        if progress is not None:
            progress.close()
        if isinstance(exc, (Exception, KeyboardInterrupt)) and latest and _started_jobs(latest[0]):
            return _stopped_after_start(args, latest[0], exc, gateway)
        raise
    if progress is not None:
        progress.close()
    data = record.to_dict()
    try:
        if args.json_path:
            write_record(data, args.json_path)  # converted once: a second copy of a large record is not held
        if args.html_path:
            write_text(args.html_path, report_document(data, dss_url=gateway.dss_url))
        if history is not None and not config.dry_run:
            location = history.save(data, final=True)
            if location.record_path:
                print(f"Run record and report kept in {location.sentence()}", file=sys.stderr)
    except Exception as exc:
        if not _started_jobs(record):
            raise  # nothing ran: exit 2 like any other problem before the first job
        print(_summary(data))  # the run happened: say what DSS did, then why its files are missing
        report_error(exc, args)
        return EXIT_FAILED
    if data["state"] == "PLANNED":
        print(_plan_text(record.built_plan or data["plan"]))
        _print_steps(data)
        return EXIT_OK
    print(_summary(data))
    _print_steps(data)
    return EXIT_OK if data["state"] == "SUCCESS" else EXIT_FAILED


def _print_plan_only(gateway, config, previous: Optional[dict], cancel: threading.Event) -> int:
    """A dry run that no file keeps: its plan and schema-propagation preview printed, no run record made (one entry
    per recipe, that nothing would read)."""
    from ..pipeline import plan_only
    from ..redaction import scrub

    with _cancel_on_signals(cancel):
        plan, propagation = plan_only(gateway, config, previous_record=previous, cancel=cancel)
    print(_plan_text(plan))
    _print_steps({"propagation": scrub(propagation)})
    return EXIT_OK


def _plan_text(plan) -> str:
    """The dry-run listing of a plan (a ``BuildPlan``, or a record's plan dict), redacted as everything the command
    prints."""
    from ..plan import BuildPlan
    from ..redaction import redact

    return redact(format_plan_text(plan if isinstance(plan, BuildPlan) else BuildPlan.from_dict(plan)))


def _started_jobs(record) -> bool:
    return any(run.job_ids for run in record.recipes)


def _stopped_after_start(args: argparse.Namespace, record, error: BaseException, gateway) -> int:
    """The run stopped on an error once jobs had started: DSS did things, so the record and the summary say which."""
    from ..history import report_document
    from ..record import write_record

    data = record.to_dict()
    try:
        if args.json_path:
            write_record(record, args.json_path)
        if args.html_path:
            write_text(args.html_path, report_document(data, dss_url=gateway.dss_url))
    except Exception as exc:  # noqa: BLE001 - the summary below still says what DSS did
        log.warning("Could not write the run's files: %s", exc)
    print(_summary(data))
    report_error(error, args)
    if args.json_path:
        print(f"flow-orchestrator: the run record is in {args.json_path}; resume it with --record", file=sys.stderr)
    return EXIT_FAILED


def _summary(data: dict) -> str:
    """The summary table, or a sentence when the run had nothing to do (a resume of a run that fully succeeded)."""
    from ..report.terminal import format_summary_table

    if data.get("recipes"):
        return format_summary_table(data)
    if data.get("resumed_from"):
        return f"Nothing to resume: every recipe of run {data['resumed_from']} succeeded; no job was started."
    return "Nothing to run: the plan has no recipe; no job was started."


def _print_steps(data: dict) -> None:
    """What "propagate schema first" and "verify after build" did, after the summary (errors also on stderr)."""
    propagation = data.get("propagation")
    if isinstance(propagation, dict):
        if propagation.get("error"):
            print(f"flow-orchestrator: {propagation['error']}", file=sys.stderr)
        for result in propagation.get("results") or []:
            print(result.get("summary") or "")
            for diff in result.get("changes") or []:
                print(f"  {diff.get('dataset')}: {diff.get('summary')}")
    verification = data.get("verification")
    if not isinstance(verification, dict):
        return
    if verification.get("error"):
        print(f"flow-orchestrator: {verification['error']}", file=sys.stderr)
    for item in verification.get("results") or []:
        if item.get("status") == "passed":
            continue
        if item.get("status") == "failed":
            label = "FAILED" if item.get("severity") == "ERROR" else "WARN"
        else:
            label = "SKIPPED"
        print(f"{label:8} {item.get('dataset')} {item.get('kind')}: {item.get('message')}")
    for note in verification.get("notes") or []:
        print(f"note: {note}")
    if verification.get("summary"):
        print(f"Output checks: {verification['summary']}")
