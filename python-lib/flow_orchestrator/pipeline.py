"""The build use case shared by the macro, the scenario step and the command line.

It reads the Flow once, resolves the selection into a :class:`~flow_orchestrator.plan.BuildPlan`, and
either returns the plan (dry run) or runs it; every user error surfaces before the first job starts.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable, Optional

from .config import BuildConfig, config_to_dict
from .errors import ConfigError
from .graph import FlowGraph
from .plan import BuildPlan, expected_durations_from_record, make_plan
from .record import RunRecord, load_record, new_run_id, planned_record, resume_candidates
from .runner import run_plan

log = logging.getLogger(__name__)


def read_flow(gateway) -> FlowGraph:
    """The project's Flow from one graph GET and one recipe listing."""
    payload = gateway.flow_graph_payload()
    recipes = gateway.list_recipes()
    return FlowGraph.from_payload(payload, recipes, project_key=gateway.project_key)


def prepare_build(gateway, config: BuildConfig, *, previous_record: Optional[dict] = None) -> BuildPlan:
    """Check access, read the Flow and plan; raises ConfigError/SelectionError/GraphError/DSSAccessError."""
    gateway.check_access()
    graph = read_flow(gateway)
    durations = expected_durations_from_record(previous_record) if previous_record else None
    only = None
    if config.resume_last_run:
        if previous_record is None:
            raise ConfigError(("resume_last_run", "there is no previous run record to resume from; run a build first "
                                                  "or untick 'Resume last run'"))
        if previous_record.get("project_key") not in (None, gateway.project_key):
            raise ConfigError(("resume_last_run", f"the last run record is for project "
                                                  f"{previous_record.get('project_key')}, not {gateway.project_key}"))
        only = resume_candidates(previous_record)
    return make_plan(graph, config, gateway.project_key, expected_durations=durations, only=only)


def run_build(
    gateway,
    config: BuildConfig,
    *,
    previous_record: Optional[dict] = None,
    on_event: Optional[Callable] = None,
    cancel: Optional[threading.Event] = None,
    record_sink: Optional[Callable[[RunRecord], None]] = None,
) -> RunRecord:
    """Plan, then run (or only plan, for a dry run); the returned record says what happened."""
    if previous_record is not None and not isinstance(previous_record, dict):
        previous_record = load_record(previous_record).to_dict()
    plan = prepare_build(gateway, config, previous_record=previous_record)
    resumed_from = previous_record.get("run_id") if (config.resume_last_run and previous_record) else None
    config_dict = config_to_dict(config)
    if config.dry_run:
        record = planned_record(plan, run_id=new_run_id(), config_dict=config_dict, dss_url=gateway.dss_url,
                                resumed_from=resumed_from)
        if record_sink is not None:
            record_sink(record)
        return record
    return run_plan(
        plan,
        gateway,
        config.options,
        config_dict=config_dict,
        dss_url=gateway.dss_url,
        on_event=on_event,
        cancel=cancel,
        resumed_from=resumed_from,
        record_sink=record_sink,
    )
