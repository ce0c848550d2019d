"""The build use case shared by the macro, the scenario step and the command line.

It reads the Flow once, resolves the selection into a :class:`~flow_orchestrator.plan.BuildPlan`, and
either returns the plan (dry run) or runs it; every user error surfaces before the first job starts.

Two optional steps wrap the build. "Propagate schema first" runs DSS's schema propagation from each source dataset
feeding the plan before the first job (a dry run only previews its impact); if it stops, no job starts. "Verify after
build" checks the outputs of the recipes that succeeded once the run is over; a failed ERROR expectation makes the
run FAILED. Both results go into the run record (``propagation``, ``verification``).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .config import BuildConfig, Selection, build_expectations, config_to_dict
from .errors import ConfigError, FlowOrchestratorError, SelectionError
from .graph import FlowGraph, gc_paused
from .job_costs import JobOverhead, learn_job_overhead, recipe_work_from_record
from .plan import BuildPlan, expected_durations_from_record, make_plan, with_job_groups
from .port import TransientAPIError
from .record import (
    RunRecord,
    format_utc,
    load_record,
    new_record,
    new_run_id,
    parse_utc,
    planned_record,
    resume_candidates,
)
from .runner import partitioned_outputs_of, run_plan
from .selection import parse_selector, split_expressions
from .zones import FlowZones

log = logging.getLogger(__name__)


def read_flow(gateway, selection: Optional[Selection] = None) -> FlowGraph:
    """The project's Flow from one graph GET and one zone listing, plus the recipe listing when needed."""
    return flow_from_payload(gateway, gateway.flow_graph_payload(), selection)


def flow_from_payload(gateway, payload: dict, selection: Optional[Selection] = None) -> FlowGraph:
    """The Flow of a graph payload and the project's zones; the recipe listing only when the graph is not enough.

    The graph gives each recipe's type (``subType``); the listing (whole recipe definitions: 15 MB for 20,000
    recipes) is read only when a recipe lacks it (DSS 9 leaves it out) or when ``selection`` selects by tag (tags are
    only in the listing) or by type (the listing's type is the reference). Without a selection it is always read.
    """
    graph = FlowGraph.from_payload(payload, project_key=gateway.project_key)
    if selection is None or selects_by_tag_or_type(selection) or graph.untyped_recipes():
        graph.add_recipe_items(gateway.recipe_types_and_tags())
    graph.zones = FlowZones.from_payload(gateway.flow_zones_payload(), gateway.project_key)
    return graph


def selects_by_tag_or_type(selection: Selection) -> bool:
    """Whether a term of the selection (or of its exclusions) is ``tag:X`` or ``type:X``, or cannot be parsed.

    An unparsable term is refused later, with its own message; reading the listing first keeps that message the same.
    """
    for field, expressions in (("select", selection.select), ("exclude", selection.exclude)):
        for term in split_expressions(expressions):
            try:
                if parse_selector(term, field).method in ("tag", "type"):
                    return True
            except SelectionError:
                return True
    return False


def _prepare(gateway, config: BuildConfig, previous_record: Optional[dict]) -> Tuple[FlowGraph, BuildPlan, List[dict]]:
    """Graph, plan and the dataset listing (``dataset_partitionings``).

    The listing is asked for once the graph has come: DSS prepares it while we build the Flow and plan.
    """
    gateway.check_access()
    payload = gateway.flow_graph_payload()
    listing = gateway.dataset_partitionings_in_background()
    try:
        graph, plan = _plan_flow(gateway, payload, config, previous_record)
    except BaseException:
        listing.cancel()  # not started yet (else it ends on its own, unread)
        raise
    return graph, plan, listing.result()


def _plan_flow(
    gateway, payload: dict, config: BuildConfig, previous_record: Optional[dict]
) -> Tuple[FlowGraph, BuildPlan]:
    graph = flow_from_payload(gateway, payload, config.selection)
    durations = expected_durations_from_record(previous_record) if previous_record else None
    only = None
    if config.resume_last_run:
        if previous_record is None:
            raise ConfigError(
                (
                    "resume_last_run",
                    "there is no previous run record to resume from; run a build first or untick 'Resume last run'",
                )
            )
        if previous_record.get("project_key") not in (None, gateway.project_key):
            raise ConfigError(
                (
                    "resume_last_run",
                    f"the last run record is for project "
                    f"{previous_record.get('project_key')}, not {gateway.project_key}",
                )
            )
        only = resume_candidates(previous_record)
    return graph, make_plan(graph, config, gateway.project_key, expected_durations=durations, only=only)


def grouping_inputs(config: BuildConfig, previous_record: Optional[dict], project_key: str) -> Dict[str, Any]:
    """What grouped jobs weigh (:func:`~flow_orchestrator.plan.with_job_groups`): what a DSS job costs (the user's
    setting, else learned from the last run of this project), each recipe's own work in that run, the job cap."""
    same_project = bool(previous_record) and previous_record.get("project_key") in (None, project_key)
    record = previous_record if same_project else None
    setting = config.options.job_overhead_s
    overhead = JobOverhead(float(setting), "setting") if setting is not None else learn_job_overhead(record)
    work = recipe_work_from_record(record, overhead.seconds if overhead else None)
    return {"overhead": overhead, "work": work, "max_parallel": config.options.max_parallel}


def with_resumed_partitions(config: BuildConfig, previous_record: Optional[dict]) -> BuildConfig:
    """A resumed run builds the partitions of the run it resumes, unless it is given its own."""
    if not config.resume_last_run or config.options.partitions or not previous_record:
        return config
    spec = (previous_record.get("config") or {}).get("partitions")
    if not spec:
        return config
    return dataclasses.replace(config, options=dataclasses.replace(config.options, partitions=spec))


def check_partitions(
    gateway, config: BuildConfig, plan: BuildPlan, listing: Optional[Sequence[dict]] = None
) -> List[str]:
    """Which planned outputs are partitioned (one dataset listing, or ``listing``), checked against ``partitions``.

    A plan with a partitioned output needs a partition spec; a spec with no partitioned output to build is refused
    too (most likely the wrong project or selection), except when resuming, where the recipes left may all be
    unpartitioned ones. Returns the names of the partitioned datasets of the project.
    """
    own_outputs = [
        o.id
        for r in plan.recipes
        for o in r.outputs
        if (o.type or "DATASET") == "DATASET" and o.project_key in (None, gateway.project_key)
    ]
    partitioned = gateway.partitioned_datasets(own_outputs, listing)
    planned: List[str] = []
    if partitioned:  # most projects have none: no pass over the plan's outputs
        outputs = (o for r in plan.recipes for o in partitioned_outputs_of(r.outputs, partitioned, gateway.project_key))
        planned = list(dict.fromkeys(outputs))
    spec = config.options.partitions
    if planned and not spec:
        raise ConfigError(
            (
                "partitions",
                "the plan builds partitioned datasets ({}): give the partitions to build in 'Partitions' "
                "(--partitions), e.g. 2026-12-05 or 2026-12-01,2026-12-02".format(
                    ", ".join(f"{name} by {'|'.join(partitioned[name])}" for name in planned)
                ),
            )
        )
    if spec and not planned and plan.recipes and not config.resume_last_run:
        raise ConfigError(
            (
                "partitions",
                f"{spec!r} is given but no dataset the plan builds is partitioned: clear 'Partitions' "
                "(--partitions) or select the partitioned datasets to build",
            )
        )
    return sorted(partitioned)


def prepare_build(gateway, config: BuildConfig, *, previous_record: Optional[dict] = None) -> BuildPlan:
    """Check access, read the Flow and plan (with its job groups); raises ConfigError/SelectionError/GraphError/
    DSSAccessError."""
    return _grouped_plan(gateway, config, _record_dict(previous_record))[2]


def _record_dict(previous_record) -> Optional[dict]:
    """An earlier run's record as a dict (it may come as the path of its file)."""
    if previous_record is not None and not isinstance(previous_record, dict):
        return load_record(previous_record).to_dict()
    return previous_record


def _grouped_plan(
    gateway, config: BuildConfig, previous_record: Optional[dict]
) -> Tuple[BuildConfig, FlowGraph, BuildPlan, List[str]]:
    """The config as run (a resumed run's partitions), the Flow, the plan with its job groups, and the partitioned
    datasets of the project."""
    config = with_resumed_partitions(config, previous_record)
    with gc_paused():  # the Flow, the plan and its groups: long-lived and acyclic (a third of a 20,000-recipe plan)
        graph, plan, listing = _prepare(gateway, config, previous_record)
        partitioned = check_partitions(gateway, config, plan, listing)
        plan = with_job_groups(plan, partitioned, **grouping_inputs(config, previous_record, gateway.project_key))
    return config, graph, plan, partitioned


def plan_only(
    gateway, config: BuildConfig, *, previous_record: Optional[dict] = None, cancel: Optional[threading.Event] = None
) -> Tuple[BuildPlan, Optional[dict]]:
    """A dry run's plan and, when asked, its schema-propagation preview, without a run record: what ``plan`` prints
    when no file keeps the run (the record of a 20,000-recipe plan, one entry per recipe, costs a tenth of it)."""
    config, graph, plan, _ = _grouped_plan(gateway, config, _record_dict(previous_record))
    propagation = None
    if config.propagate_schema_first:
        propagation = propagate_first(gateway, graph, plan, preview=True, cancel=cancel)
    return plan, propagation


def run_build(
    gateway,
    config: BuildConfig,
    *,
    previous_record: Optional[dict] = None,
    on_event: Optional[Callable] = None,
    cancel: Optional[threading.Event] = None,
    record_sink: Optional[Callable[[RunRecord], None]] = None,
) -> RunRecord:
    """Plan, propagate schemas (when asked), run (or only plan, for a dry run), verify (when asked).

    The returned record says what happened; ``record.propagation`` and ``record.verification`` hold the results of
    the optional steps. A propagation that stops gives a FAILED record in which no recipe ran.
    """
    previous_record = _record_dict(previous_record)
    config, graph, plan, partitioned = _grouped_plan(gateway, config, previous_record)
    resumed_from = previous_record.get("run_id") if (config.resume_last_run and previous_record) else None
    config_dict = config_to_dict(config)
    propagation = None
    if config.propagate_schema_first:
        propagation = propagate_first(gateway, graph, plan, preview=config.dry_run, cancel=cancel)
    if config.dry_run:
        with gc_paused():  # one object per recipe, long-lived and acyclic, like the plan (see gc_paused)
            record = planned_record(
                plan, run_id=new_run_id(), config_dict=config_dict, dss_url=gateway.dss_url, resumed_from=resumed_from
            )
        if partitioned:
            for run, planned in zip(record.recipes, plan.recipes):
                if partitioned_outputs_of(planned.outputs, partitioned, gateway.project_key):
                    run.partitions = config.options.partitions
        record.propagation = propagation
        if record_sink is not None:
            record_sink(record)
        return record
    if propagation is not None and propagation["state"] != "SUCCESS":
        return _stopped_before_build(
            plan,
            propagation,
            config_dict=config_dict,
            dss_url=gateway.dss_url,
            resumed_from=resumed_from,
            record_sink=record_sink,
        )

    def sink(record: RunRecord) -> None:
        record.propagation = propagation
        if record_sink is not None:
            record_sink(record)

    record = run_plan(
        plan,
        gateway,
        config.options,
        config_dict=config_dict,
        dss_url=gateway.dss_url,
        on_event=on_event,
        cancel=cancel,
        resumed_from=resumed_from,
        record_sink=sink,
        partitioned_outputs=partitioned,
        adopt=jobs_left_running(previous_record) if resumed_from else None,
    )
    record.propagation = propagation
    if config.verify_after_build and record.state != "CANCELLED" and not (cancel is not None and cancel.is_set()):
        record.verification = verify_build_outputs(gateway, config, plan, record)
        if record.verification["state"] in ("FAILED", "ERROR") and record.state == "SUCCESS":
            record.state = "FAILED"
        if record_sink is not None:
            record_sink(record)
    return record


# ------------------------------------------------------------------------------------------ propagate schema first


def jobs_left_running(record: Optional[dict]) -> Dict[str, str]:
    """``{recipe: job id}`` of the jobs a record lists without a final state (its run was killed while they ran).

    A resumed run looks each up on DSS before anything else: still running, it is adopted and waited for; ended,
    its outcome is taken. Either way no second job is started for outputs DSS may still be building.
    """
    out: Dict[str, str] = {}
    for item in (record or {}).get("recipes") or ():
        history = item.get("attempt_history") or ()
        if item.get("state") == "NOT_RUN" and history and history[-1].get("state") == "RUNNING":
            out[item["name"]] = history[-1]["job_id"]
    return out


def plan_sources(graph: FlowGraph, plan: BuildPlan) -> List[str]:
    """Datasets of this project that feed the plan: inputs of planned recipes that no planned recipe builds.

    In plan order; datasets shared from other projects are left out (their propagation belongs to their project).
    """
    produced = {key for item in plan.recipes for key in graph.output_keys(item.name)}
    sources: Dict[str, None] = {}
    for item in plan.recipes:
        for key in graph.inputs(item.name):
            if key in produced or graph.is_foreign(key) or graph.node_type(key) != "COMPUTABLE_DATASET":
                continue
            sources.setdefault(key, None)
    return list(sources)


def propagate_first(
    gateway,
    graph: FlowGraph,
    plan: BuildPlan,
    *,
    preview: bool = False,
    cancel: Optional[threading.Event] = None,
    clock: Callable[[], float] = time.monotonic,
) -> Dict[str, Any]:
    """Propagate (or, for ``preview``, only preview) schemas from each source of the plan, stopping at the first error.

    No auto-rebuild: the build follows. Returns the record's ``propagation`` section: ``state`` (SUCCESS, FAILED,
    PREVIEW or CANCELLED), ``sources``, ``results`` (one per source handled: its diffs, or the predicted ones and
    the recipes that would break), ``changed_datasets``, ``stopped_at`` and ``error``.
    """
    from .propagate import PropagateConfig, propagate_schema

    started = clock()
    sources = plan_sources(graph, plan)
    results: List[Dict[str, Any]] = []
    state, error, stopped_at = ("PREVIEW" if preview else "SUCCESS"), None, None
    for source in sources:
        if cancel is not None and cancel.is_set():
            state, error = "CANCELLED", "The run was cancelled during the schema propagation; no job was started."
            break
        log.info("%s schema propagation from %s", "Previewing the" if preview else "Running the", source)
        outcome = propagate_schema(
            gateway, PropagateConfig(source_dataset=source, auto_rebuild=False, preview_only=preview), cancel=cancel
        )
        results.append(_source_result(outcome.to_dict()))
        if outcome.error is not None:
            cancelled = cancel is not None and cancel.is_set()
            state = "CANCELLED" if cancelled else "FAILED"
            error, stopped_at = str(outcome.error), outcome.stopped_at
            break
    changed = [diff["dataset"] for result in results for diff in result["changes"]]
    return {
        "state": state,
        "preview": preview,
        "sources": sources,
        "results": results,
        "changed_datasets": list(dict.fromkeys(changed)),
        "stopped_at": stopped_at,
        "error": error,
        "duration_s": round(clock() - started, 3),
    }


def _source_result(outcome: Dict[str, Any]) -> Dict[str, Any]:
    """What the record keeps of one propagation: the diffs (actual, or predicted by a preview) and what breaks."""
    preview = outcome.get("preview") or {}
    changes = outcome["changes"] if outcome.get("ran") else list((preview.get("changes") or {}).values())
    return {
        "source": (outcome.get("config") or {}).get("source_dataset"),
        "state": outcome.get("state"),
        "ran": bool(outcome.get("ran")),
        "changes": changes,
        "breaks": list(preview.get("breaks") or []),
        "unchecked": list(preview.get("unchecked") or []),
        "stops_at": preview.get("stops_at"),
        "error": outcome.get("error"),
        "notes": list(outcome.get("notes") or []) + list(preview.get("notes") or []),
        "summary": outcome.get("summary"),
        "duration_s": outcome.get("duration_s"),
    }


def _stopped_before_build(
    plan: BuildPlan,
    propagation: Dict[str, Any],
    *,
    config_dict: dict,
    dss_url,
    resumed_from: Optional[str],
    record_sink,
) -> RunRecord:
    """The record of a run the propagation stopped: every recipe NOT_RUN, state FAILED (or CANCELLED)."""
    started = datetime.now(timezone.utc)
    record = new_record(plan, started=started, config_dict=config_dict, dss_url=dss_url, resumed_from=resumed_from)
    record.state = "CANCELLED" if propagation["state"] == "CANCELLED" else "FAILED"
    record.ended_at = format_utc(datetime.now(timezone.utc))
    record.duration_s = propagation.get("duration_s") or 0.0
    record.propagation = propagation
    log.info("%s", propagation.get("error"))  # the report, the step's failure and the CLI show it
    if record_sink is not None:
        record_sink(record)
    return record


# ------------------------------------------------------------------------------------------ verify after build


def verify_build_outputs(gateway, config: BuildConfig, plan: BuildPlan, record: RunRecord) -> Dict[str, Any]:
    """Check the outputs of the recipes that succeeded; returns the record's ``verification`` section.

    The expectations are the config's spec plus its simple fields applied to those outputs (none: each output must
    exist and have been built within this run). Outputs of recipes that did not succeed are not verified, and a note
    says so. ``state`` is PASSED, WARN (only WARN expectations failed), FAILED, or ERROR (DSS could not be read).
    """
    from .expectations import ExpectationSet, VerificationResult
    from .verification import verify_outputs

    started = time.monotonic()
    states = {item.name: item.state for item in record.recipes}
    verifiable: List[str] = []
    not_verified: List[Dict[str, str]] = []
    for item in plan.recipes:
        for output in item.outputs:
            if output.type != "DATASET" or output.project_key not in (None, plan.project_key):
                continue
            state = states.get(item.name, "NOT_RUN")
            if state == "SUCCESS":
                verifiable.append(output.id)
            else:
                not_verified.append({"dataset": output.id, "recipe": item.name, "state": state})
    expectations, default = build_expectations(config, verifiable)
    skipped = {entry["dataset"] for entry in not_verified}
    prefix = f"{plan.project_key}."
    kept = tuple(
        e
        for e in expectations.expectations
        if (e.dataset[len(prefix) :] if e.dataset.startswith(prefix) else e.dataset) not in skipped
    )
    expectations = ExpectationSet(kept, expectations.description)
    notes = [
        f"{entry['dataset']}: not verified, because recipe {entry['recipe']} ended {entry['state']}"
        for entry in not_verified
    ]
    base: Dict[str, Any] = {
        "datasets": list(expectations.datasets),
        "not_verified": not_verified,
        "default_checks": default,
    }
    started_ms = _epoch_ms(record.started_at)
    try:
        if expectations.is_empty:
            result = VerificationResult((), ())
        else:
            result = verify_outputs(gateway, expectations, started_ms, _built_partitions(plan, record))
    except (FlowOrchestratorError, TransientAPIError) as error:
        message = f"The outputs could not be verified: {error}"
        log.info("%s", message)
        return dict(
            base,
            state="ERROR",
            error=message,
            passed=False,
            results=[],
            notes=notes,
            warnings=notes,
            counts=VerificationResult().counts,
            summary=message,
            duration_s=round(time.monotonic() - started, 3),
        )
    result = VerificationResult(result.results, tuple(notes) + result.notes)
    if not result.passed:
        state = "FAILED"
    else:
        state = "WARN" if result.counts["failed_warn"] else "PASSED"
    log.info("Output checks: %s", result.summary())
    return dict(base, state=state, error=None, duration_s=round(time.monotonic() - started, 3), **result.to_dict())


def _built_partitions(plan, record) -> Dict[str, List[str]]:
    """Output dataset → the partition ids its recipe built in this run (the spec's items), for the verification."""
    specs = {item.name: item.partitions for item in record.recipes if item.state == "SUCCESS" and item.partitions}
    built: Dict[str, List[str]] = {}
    for item in plan.recipes:
        spec = specs.get(item.name)
        if not spec:
            continue
        ids = [part.strip() for part in str(spec).split(",") if part.strip()]
        for output in item.outputs:
            if output.type == "DATASET":
                built[output.id] = ids
    return built


def _epoch_ms(text: Optional[str]) -> Optional[int]:
    moment = parse_utc(text)
    return None if moment is None else int(moment.timestamp() * 1000)
