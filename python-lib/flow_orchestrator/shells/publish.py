"""What a run or a verification tells the scenario: variables, report items, the failure message, progress.

Shell layer: works on run records (their ``to_dict``) and verification outcomes, never on DSS itself.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..history import RecordLocation
from ..port import split_dataset_ref
from ..states import FAILED_OR_ABORTED, RECIPE_STATES
from ..verification import VerificationOutcome

log = logging.getLogger(__name__)


def add_report_item(scenario, object_ref: str, partition: str, item: dict) -> bool:
    """Add one item to the scenario's report. DSS may refuse items of a custom type: that is logged and the step goes
    on (a report item is a courtesy, never a reason to fail a step); False when refused."""
    try:
        scenario.add_report_item(object_ref, partition, item)
    except Exception as error:  # noqa: BLE001 - whatever DSS answers, the step's outcome must not depend on it
        log.warning("DSS did not accept the scenario report item for %s (%s): %s", object_ref, item.get("type"), error)
        return False
    return True


_CAUSE_CHARS_SHOWN = 300  # per recipe cause in the step's failure message


def progress_reporter(progress_callback: Optional[Callable[[int], None]]) -> Callable:
    """An ``on_event`` consumer: logs each event's sentence and reports the finished-recipe count to DSS."""

    def on_event(event) -> None:
        if getattr(event, "message", None):
            log.info("%s", event.message)
        if progress_callback is not None and event.kind in ("recipe_finished", "run_finished"):
            progress_callback(event.done)

    return on_event


def state_counts(record: dict) -> Dict[str, int]:
    """Recipes per state, every state present (0 when none)."""
    counts = {state: 0 for state in RECIPE_STATES}
    for item in record.get("recipes") or []:
        counts[item.get("state") or "NOT_RUN"] = counts.get(item.get("state") or "NOT_RUN", 0) + 1
    return counts


def failed_recipes(record: dict) -> List[str]:
    return [item["name"] for item in record.get("recipes") or [] if item.get("state") in FAILED_OR_ABORTED]


def scenario_variables(
    record: dict,
    *,
    project_key: str,
    variable: Optional[str] = None,
    location: Optional[RecordLocation] = None,
) -> dict:
    """The scenario variables the step sets: run state, counts per state, failed recipes, record location.

    With a history folder that got this run's files: the folder's id and the paths of the record and the report.
    """
    if location is not None and variable is None:
        variable = location.variable
    values = {
        "flow_orchestrator_state": record.get("state"),
        "flow_orchestrator_run_id": record.get("run_id"),
        "flow_orchestrator_failed_recipes": ", ".join(failed_recipes(record)),
        "flow_orchestrator_run_record_project": project_key,
        "flow_orchestrator_run_record_variable": variable,
    }
    if location is not None and location.folder is not None and location.record_path:
        values["flow_orchestrator_run_record_folder"] = location.folder.id
        values["flow_orchestrator_run_record_path"] = location.record_path
        if location.report_path:
            values["flow_orchestrator_run_report_path"] = location.report_path
    for state, count in state_counts(record).items():
        values[f"flow_orchestrator_{state.lower()}_count"] = count
    propagation = record.get("propagation")
    if isinstance(propagation, dict):
        values["flow_orchestrator_propagation_state"] = propagation.get("state")
        values["flow_orchestrator_schema_changed_datasets"] = ", ".join(propagation.get("changed_datasets") or [])
    verification = record.get("verification")
    if isinstance(verification, dict):
        values.update(verification_variables(verification.get("state"), verification))
    return values


def verification_variables(state: Optional[str], result: Optional[dict]) -> Dict[str, Any]:
    """The ``flow_orchestrator_verify_*`` variables of a verification (``VerificationResult.to_dict()`` shape), for
    the Verify outputs step and for "verify after build" alike."""
    values: Dict[str, Any] = {"flow_orchestrator_verify_state": state}
    if isinstance(result, dict):
        counts = result.get("counts") or {}
        values.update(
            {
                "flow_orchestrator_verify_total": counts.get("total", 0),
                "flow_orchestrator_verify_failed_error": counts.get("failed_error", 0),
                "flow_orchestrator_verify_failed_warn": counts.get("failed_warn", 0),
                "flow_orchestrator_verify_skipped": counts.get("skipped", 0),
                "flow_orchestrator_verify_failures": "; ".join(
                    f"{r.get('dataset')} {r.get('kind')}: {r.get('message')}" for r in _failed_checks(result)
                ),
            }
        )
    return values


def _failed_checks(verification: dict, severity: Optional[str] = None) -> List[dict]:
    return [
        r
        for r in verification.get("results") or []
        if isinstance(r, dict) and r.get("status") == "failed" and (severity is None or r.get("severity") == severity)
    ]


def check_report_items(record: dict, *, project_key: str) -> List[Tuple[str, str, dict]]:
    """One ``(object_ref, partition, item)`` per output check of "verify after build", for the step's report."""
    verification = record.get("verification")
    return _expectation_items(verification.get("results") if isinstance(verification, dict) else None, project_key)


def _expectation_items(results: Optional[list], project_key: str) -> List[Tuple[str, str, dict]]:
    """One report item per expectation result (``ExpectationResult.to_dict()`` shape), on the dataset it checks."""
    items = []
    for result in results or []:
        owner, name = split_dataset_ref(str(result.get("dataset") or ""), project_key)
        item = {key: result.get(key) for key in ("kind", "severity", "status", "expected", "subject", "message")}
        items.append((f"{owner}.{name}", "NP", {"type": "FLOW_ORCHESTRATOR_EXPECTATION", **item}))
    return items


def report_items(record: dict, *, project_key: str) -> List[Tuple[str, str, dict]]:
    """One ``(object_ref, partition, item)`` per recipe that ran or was skipped, for the step's report."""
    items = []
    for recipe in record.get("recipes") or []:
        if recipe.get("state") == "NOT_RUN":
            continue
        outputs = recipe.get("outputs") or []
        first = outputs[0] if outputs else {}
        owner = first.get("project_key") or project_key
        object_ref = f"{owner}.{first['id']}" if first.get("id") else f"{project_key}.{recipe['name']}"
        item = {
            "type": "FLOW_ORCHESTRATOR_RECIPE",
            "recipe": recipe.get("name"),
            "recipeType": recipe.get("type"),
            "state": recipe.get("state"),
            "attempts": recipe.get("attempts"),
            "jobIds": list(recipe.get("job_ids") or []),
            "durationS": recipe.get("duration_s"),
            "message": _recipe_cause(recipe),
        }
        items.append((object_ref, "NP", item))
    return items


def publish_step_outcome(
    scenario,
    record: dict,
    *,
    project_key: str,
    variable: Optional[str] = None,
    location: Optional[RecordLocation] = None,
) -> None:
    """Set the scenario variables and add one report item per recipe (failures never hide the variables)."""
    values = scenario_variables(record, project_key=project_key, variable=variable, location=location)
    scenario.set_scenario_variables(**values)
    for object_ref, partition, item in report_items(record, project_key=project_key):
        add_report_item(scenario, object_ref, partition, item)
    for object_ref, partition, item in check_report_items(record, project_key=project_key):
        add_report_item(scenario, object_ref, partition, item)
    verification = record.get("verification")
    if isinstance(verification, dict):
        for result in _failed_checks(verification, "WARN"):
            log.warning(
                "Output check %s %s (WARN): %s", result.get("dataset"), result.get("kind"), result.get("message")
            )


def _recipe_cause(recipe: dict) -> Optional[str]:
    state = recipe.get("state")
    if state == "SKIPPED":
        because = recipe.get("skipped_because") or []
        return ("skipped because " + ", ".join(because) + " failed") if because else "skipped"
    error = recipe.get("error")
    if isinstance(error, dict) and error.get("message"):
        return " ".join(str(error["message"]).split())
    if state == "TIMED_OUT":
        return "exceeded the time limit"
    if state == "ABORTED":
        return "aborted"
    return None


def failure_message(
    record: dict, *, variable: Optional[str] = None, location: Optional[RecordLocation] = None
) -> Optional[str]:
    """None when the run succeeded (or only planned); else one line per failed recipe with its cause.

    The last line says where the run record was kept (``location``, or just the project ``variable``).
    """
    state = record.get("state")
    if state in ("SUCCESS", "PLANNED"):
        return None
    counts = state_counts(record)
    total = sum(counts.values())
    bad = [r for r in record.get("recipes") or [] if r.get("state") in FAILED_OR_ABORTED]
    propagation = record.get("propagation") if isinstance(record.get("propagation"), dict) else {}
    if propagation.get("state") in ("FAILED", "CANCELLED") and propagation.get("error"):
        return f"No recipe was run: {propagation['error']}"
    verification = record.get("verification") if isinstance(record.get("verification"), dict) else {}
    check_lines = _check_failure_lines(verification)
    head = f"{len(bad)} of {total} recipes did not succeed" if bad else f"The run ended {state}"
    extras = [f"{counts[s]} {s.lower().replace('_', ' ')}" for s in ("SKIPPED", "NOT_RUN") if counts[s]]
    if not bad and not extras and check_lines:
        return "\n".join(check_lines)
    lines = [head + (f" ({', '.join(extras)})" if extras else "") + ":"]
    for recipe in bad:
        cause = _recipe_cause(recipe) or "no cause reported"
        if len(cause) > _CAUSE_CHARS_SHOWN:
            cause = cause[:_CAUSE_CHARS_SHOWN] + "…"
        attempts = recipe.get("attempts") or 0
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        lines.append(f"- {recipe.get('name')} {recipe.get('state')}{tries}: {cause}")
    lines.extend(check_lines)
    where = (location or RecordLocation(variable=variable)).sentence()
    if where:
        lines.append(
            f"The run record is in {where}; fix the cause and run again with "
            "'Resume last run' to re-run only what did not succeed."
        )
    return "\n".join(lines)


def _check_failure_lines(verification: dict) -> List[str]:
    """The failed ERROR output checks, one line each (or why verification could not run)."""
    if verification.get("state") == "ERROR":
        return [str(verification.get("error") or "The outputs could not be verified")]
    failed = _failed_checks(verification, "ERROR")
    if not failed:
        return []
    total = (verification.get("counts") or {}).get("total", len(failed))
    lines = [f"{len(failed)} of {total} output checks failed:"]
    for result in failed:
        subject = f" [{result.get('subject')}]" if result.get("subject") else ""
        lines.append(f"- {result.get('dataset')} {result.get('kind')}{subject}: {result.get('message')}")
    return lines


def verify_scenario_variables(outcome: VerificationOutcome) -> Dict[str, Any]:
    """The variables the Verify outputs step sets for the rest of the scenario."""
    result = None if outcome.result is None else outcome.result.to_dict()
    values = verification_variables(outcome.state, result)
    if outcome.captured_spec is not None:
        values["flow_orchestrator_captured_expectations"] = outcome.captured_spec
    if outcome.result is not None:
        values["flow_orchestrator_verify_passed"] = outcome.result.passed
    return values


def expectation_report_items(outcome: VerificationOutcome) -> List[Tuple[str, str, dict]]:
    """One ``(object_ref, partition, item)`` per expectation result, for the Verify outputs step's report."""
    results = None if outcome.result is None else outcome.result.to_dict()["results"]
    return _expectation_items(results, outcome.project_key)


__all__ = [
    "add_report_item",
    "check_report_items",
    "expectation_report_items",
    "failed_recipes",
    "failure_message",
    "progress_reporter",
    "publish_step_outcome",
    "report_items",
    "scenario_variables",
    "state_counts",
    "verification_variables",
    "verify_scenario_variables",
]
