"""The three project macros: Build pipeline, Propagate schema, Verify outputs (each returns an HTML report)."""

from __future__ import annotations

import logging
from typing import Callable, Mapping, Optional

from ..config.propagate import parse_propagate_config
from ..config.verify import parse_verify_config
from ..history import RunHistory, run_and_keep
from ..propagate import propagate_schema
from ..redaction import redact_log_handlers
from ..verification import run_verification
from .forms import macro_build_config, open_gateway, with_picked_objects
from .publish import progress_reporter

log = logging.getLogger(__name__)


#: Name the build macro keeps its last run record under (``flow_orchestrator.last_run.build-pipeline``).
MACRO_RECORD_NAME = "build-pipeline"


def run_build_macro(
    config: dict,
    plugin_config: Optional[dict] = None,
    *,
    client,
    project_key: str,
    progress_callback: Optional[Callable[[int], None]] = None,
) -> str:
    """The Build pipeline macro: validate, run (or plan), keep the record, return the HTML report.

    Invalid input raises before any job starts; failed recipes do not raise: the report shows them first.
    """
    from ..report.html import render_build_report

    redact_log_handlers()  # the macro's log is shown in DSS
    build_config = macro_build_config(config)
    gateway = open_gateway(config, client=client, project_key=project_key)
    data, _ = run_and_keep(gateway, build_config, MACRO_RECORD_NAME, on_event=progress_reporter(progress_callback))
    return render_build_report(data, dss_url=gateway.dss_url)


def max_progress(config: dict, plugin_config: Optional[dict] = None, *, client, project_key: str) -> Optional[int]:
    """How many recipes the macro will run (its progress target), or None when that cannot be known yet.

    Never raises: a bad form or an unreachable instance is reported by :func:`run_build_macro` instead.
    """
    from ..pipeline import prepare_build

    try:
        build_config = macro_build_config(config)
        gateway = open_gateway(config, client=client, project_key=project_key)
        previous = None
        if build_config.resume_last_run:
            previous = RunHistory.open(gateway, MACRO_RECORD_NAME, build_config.record_folder).load_last()
        return len(prepare_build(gateway, build_config, previous_record=previous).recipes)
    except Exception as exc:  # noqa: BLE001 - progress is optional; run() reports the problem clearly
        log.info("No progress target: %s", exc)
        return None


def run_propagate_macro(config: Mapping, plugin_config: Optional[Mapping] = None, *, client, project_key: str) -> str:
    """The Propagate schema macro: validate, preview (and propagate), return the HTML report.

    A propagation that stops raises :class:`PropagationError` (a macro that returns a report is shown as a success).
    """
    from ..report.schema_html import render_propagation_report

    config = with_picked_objects(config)
    settings = parse_propagate_config(config)
    gateway = open_gateway(dict(config), client=client, project_key=project_key)
    outcome = propagate_schema(gateway, settings)
    if outcome.error is not None:
        raise outcome.error
    return render_propagation_report(outcome.to_dict(), dss_url=gateway.dss_url)


def run_verify_macro(config: Mapping, plugin_config: Optional[Mapping] = None, *, client, project_key: str) -> str:
    """The Verify outputs macro: validate, verify (or capture), return the HTML report (failures listed first)."""
    from ..report.verify_html import render_verification_report

    config = with_picked_objects(config)
    settings = parse_verify_config(config)
    gateway = open_gateway(dict(config), client=client, project_key=project_key)
    outcome = run_verification(gateway, settings)
    return render_verification_report(outcome.to_dict())


__all__ = [
    "MACRO_RECORD_NAME",
    "max_progress",
    "run_build_macro",
    "run_propagate_macro",
    "run_verify_macro",
]
