"""The two scenario steps: Run recipes and Verify outputs (each publishes variables and report items)."""

from __future__ import annotations

import logging
from typing import Mapping, Optional

from ..config.verify import parse_verify_config
from ..errors import RecipesFailed, VerificationFailed
from ..history import RecordLocation, last_run_variable, run_and_keep
from ..redaction import redact_log_handlers
from ..verification import VerificationOutcome, run_verification
from ..verification import failure_message as verification_failure_message
from .forms import open_gateway, step_build_config, step_form
from .publish import (
    add_report_item,
    expectation_report_items,
    failure_message,
    publish_step_outcome,
    verify_scenario_variables,
)

log = logging.getLogger(__name__)


#: Default record name of the Run recipes step (its ``record_name`` field).
STEP_RECORD_NAME = "run-recipes"


def run_recipes_step(
    step_config: Optional[dict], plugin_config: Optional[dict], *, client, project_key: str, scenario
) -> None:
    """The Run recipes step: run the list, publish variables and report items, raise when recipes failed."""
    redact_log_handlers()  # DSS shows the step's log to everyone who can see the scenario
    form = step_form(step_config, plugin_config)
    build_config = step_build_config(form)
    record_name = str(form.get("record_name") or "").strip() or STEP_RECORD_NAME
    gateway = open_gateway(form, client=client, project_key=project_key)
    data, location = run_and_keep(gateway, build_config, record_name)
    location = location or RecordLocation(variable=last_run_variable(record_name))
    publish_step_outcome(scenario, data, project_key=gateway.project_key, location=location)
    message = failure_message(data, location=location)
    if message:
        raise RecipesFailed(message)


def run_verify_step(
    step_config: Optional[Mapping], plugin_config: Optional[Mapping], *, client, project_key: str, scenario
) -> VerificationOutcome:
    """The Verify outputs step: verify, publish variables and report items, log WARN failures, raise on ERROR ones."""

    form = step_form(dict(step_config or {}), dict(plugin_config or {}))
    settings = parse_verify_config(form)
    gateway = open_gateway(form, client=client, project_key=project_key)
    outcome = run_verification(gateway, settings)
    scenario.set_scenario_variables(**verify_scenario_variables(outcome))
    for object_ref, partition, item in expectation_report_items(outcome):
        add_report_item(scenario, object_ref, partition, item)
    if outcome.captured_spec is not None:
        log.info("Captured expectations (paste them into the 'expectations' field):\n%s", outcome.captured_spec)
        return outcome
    result = outcome.result
    for warning in result.warnings:
        log.warning("%s", warning)
    log.info("%s", result.summary())
    message = verification_failure_message(result)
    if message:
        raise VerificationFailed(message)
    return outcome


__all__ = [
    "STEP_RECORD_NAME",
    "run_recipes_step",
    "run_verify_step",
]
