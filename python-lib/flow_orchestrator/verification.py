"""The "Verify outputs" use case: expectations from a form or a JSON spec, the facts they need read from DSS, a verdict.

Only the facts the expectations need are read (:func:`~flow_orchestrator.expectations.needed_facts`): a schema for
``columns``, the last build for ``built``, the ``records:COUNT_RECORDS`` metric for row counts (computed first when it
is missing or older than the last build), the last data-quality rule results for ``dss_rules`` (an instance without
them, such as DSS before 12.6 or the emulator, gives a "not offered" note instead). The judging is
:func:`~flow_orchestrator.expectations.evaluate`; "capture current" writes a spec of today's reality.

:func:`verify_after_build` is what the build engine calls once a run is over.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Set, Tuple

import requests

from .dss import METRIC_TIMEOUT_S, is_dss_answer, last_build_from_info, split_dataset_ref
from .errors import ConfigError, DSSPermissionError, FlowOrchestratorError
from .expectations import (
    ROW_COUNT_METRIC,
    DatasetFacts,
    ExpectationResult,
    ExpectationSet,
    FactsNeeded,
    VerificationResult,
    capture_current,
    evaluate,
    expectations_from_form,
    merge_expectations,
    needed_facts,
    parse_expectations,
)
from .port import TransientAPIError
from .text import is_blank

log = logging.getLogger(__name__)

#: A count that took at least this long is noted in the report (the user sees where the time went).
SLOW_COUNT_NOTE_S = 10.0

#: Form fields of the macro and the step (the CLI passes its own flags as ``field_names``).
FORM_FIELDS = {
    "datasets": "datasets",
    "expectations": "expectations",
    "expected_columns": "expected_columns",
    "min_rows": "min_rows",
    "capture_current": "capture_current",
}


class VerificationFailed(FlowOrchestratorError):
    """ERROR expectations failed; the message names each one and why."""


# ------------------------------------------------------------------------------------------------ configuration


@dataclass(frozen=True)
class VerifyConfig:
    """What to verify: the selected datasets, the merged expectations, or a capture of the current state."""

    datasets: Tuple[str, ...] = ()
    expectations: ExpectationSet = ExpectationSet()
    capture_current: bool = False

    @property
    def capture_datasets(self) -> Tuple[str, ...]:
        """The datasets a capture describes: the selected ones, then those the spec names."""
        return tuple(dict.fromkeys(self.datasets + self.expectations.datasets))


def _text_list(value: Any, field: str, problems: List[Tuple[str, str]]) -> List[str]:
    if is_blank(value):
        return []
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, (list, tuple)):
        problems.append((field, f"expected a list; found {type(value).__name__}"))
        return []
    return [item.strip() for item in value if isinstance(item, str) and item.strip()]


def _min_rows(value: Any, field: str, problems: List[Tuple[str, str]]) -> Optional[int]:
    """The form's INT (DSS may send 3.0); empty or 0 means "not checked"."""
    if is_blank(value):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            problems.append((field, f"expected a whole number >= 0; found {value!r}"))
            return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value < 0:
        problems.append((field, f"expected a whole number >= 0; found {value!r}"))
        return None
    return int(value) or None


def _spec_problem_field(field: str, path: str) -> str:
    """``expectations (datasets.ORDERS.min_rows)``: the form field, then the JSON path inside the spec."""
    return field if not path or path == field else f"{field} ({path})"


def parse_verify_config(form: Optional[Mapping], field_names: Optional[Mapping[str, str]] = None) -> VerifyConfig:
    """The Verify outputs form (or the CLI) as expectations; every problem named by field and JSON path.

    The simple fields (``expected_columns`` as ``name`` or ``name:type``, ``min_rows``) apply to every selected
    dataset; the JSON spec in ``expectations`` wins for the same dataset and kind. Nothing is read from DSS.
    """
    form = dict(form or {})
    names = dict(FORM_FIELDS)
    names.update(field_names or {})
    problems: List[Tuple[str, str]] = []
    datasets = _text_list(form.get("datasets"), names["datasets"], problems)
    columns = _text_list(form.get("expected_columns"), names["expected_columns"], problems)
    min_rows = _min_rows(form.get("min_rows"), names["min_rows"], problems)
    capture = form.get("capture_current")
    if capture is not None and not isinstance(capture, bool):
        problems.append((names["capture_current"], f"expected true or false; found {capture!r}"))
    capture = bool(capture)
    from_form = ExpectationSet()
    try:
        from_form = expectations_from_form(datasets, columns, min_rows)
    except ConfigError as error:
        for field, message in error.problems:
            base, _, rest = field.partition("[")
            renamed = names.get(base, base) + (f"[{rest}" if rest else "")
            problems.append((renamed, message))
    spec = form.get("expectations")
    from_spec = ExpectationSet()
    if not is_blank(spec):
        try:
            from_spec = parse_expectations(spec)
        except ConfigError as error:
            problems.extend(
                (_spec_problem_field(names["expectations"], path), message) for path, message in error.problems
            )
    if problems:
        raise ConfigError(problems)
    merged = merge_expectations(from_form, from_spec)
    config = VerifyConfig(datasets=tuple(dict.fromkeys(datasets)), expectations=merged, capture_current=capture)
    if capture and not config.capture_datasets:
        raise ConfigError((names["datasets"], "select the datasets whose current state to capture"))
    if not capture and merged.is_empty:
        raise ConfigError(
            (
                names["datasets"],
                f"nothing to verify: select datasets (each is then expected to exist), fill {names['expected_columns']} "
                f"or {names['min_rows']}, or paste a JSON spec in {names['expectations']}",
            )
        )
    return config


# ------------------------------------------------------------------------------------------------ DSS reads


def _as_count(value: Any) -> Optional[int]:
    try:
        return None if value is None else int(float(value))
    except (TypeError, ValueError):
        return None


def _short(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= 300 else text[:300] + "…"


class VerificationGateway:
    """The DSS reads of a verification, through ``gateway._call`` (same error mapping as the rest of the library)."""

    def __init__(
        self,
        gateway,
        *,
        clock: Callable[[], float] = time.monotonic,
        metric_timeout_s: float = METRIC_TIMEOUT_S,
        built_partitions: Optional[Mapping[str, Sequence[str]]] = None,
    ):
        self.gateway = gateway
        self._clock = clock
        self._metric_timeout_s = metric_timeout_s
        self._names: Dict[str, Set[str]] = {}
        self._partitioned: Dict[str, Set[str]] = {}
        #: dataset ref -> the partition ids a run built in it (a spec's items; ranges are counted on ALL instead)
        self._built_partitions: Dict[str, List[str]] = {
            ref: ids for ref, ids in (built_partitions or {}).items() if ids and not any("/" in i for i in ids)
        }
        self._rules_offered: Optional[bool] = None
        self.notes: List[str] = []

    @property
    def project_key(self) -> str:
        return self.gateway.project_key

    def _project(self, owner: str):
        if owner == self.gateway.project_key:
            return self.gateway.project
        return self.gateway.client.get_project(owner)

    def _dataset(self, ref: str):
        owner, name = split_dataset_ref(ref, self.project_key)
        return self._project(owner).get_dataset(name)

    def dataset_names(self, owner: Optional[str] = None) -> Set[str]:
        owner = owner or self.project_key
        if owner not in self._names:
            if owner == self.project_key:
                items = self.gateway.list_datasets()
            else:
                items = self.gateway._call(f"Listing datasets of project {owner}", self._project(owner).list_datasets)
            self._names[owner] = {str(item.get("name")) for item in items if item.get("name")}
            self._partitioned[owner] = {
                str(item.get("name"))
                for item in items
                if ((item.get("partitioning") or {}).get("dimensions") if isinstance(item, Mapping) else None)
            }
        return self._names[owner]

    def exists(self, ref: str) -> bool:
        owner, name = split_dataset_ref(ref, self.project_key)
        return name in self.dataset_names(owner)

    def columns(self, ref: str) -> List[dict]:
        schema = self.gateway._call(f"Reading schema of {ref}", self._dataset(ref).get_schema)
        return [dict(column) for column in (schema or {}).get("columns") or []]

    def last_build(self, ref: str) -> Optional[dict]:
        info = self.gateway._call(f"Reading build info of {ref}", self._dataset(ref).get_info)
        return last_build_from_info(info)

    def _last_row_count(self, ref: str) -> Tuple[Optional[int], Optional[int]]:
        """(value, computed at in ms) of the last ``records:COUNT_RECORDS`` of the whole dataset, (None, None) if never."""
        value, computed_ms = self.gateway.last_metric_value(ref, ROW_COUNT_METRIC, self._whole(ref))
        return _as_count(value), computed_ms

    def _whole(self, ref: str) -> str:
        """The partition id DSS files a dataset's whole-data metrics under: ``ALL`` when partitioned, else ``NP``."""
        return "ALL" if self.partitioned(ref) else "NP"

    def partitioned(self, ref: str) -> bool:
        owner, name = split_dataset_ref(ref, self.project_key)
        self.dataset_names(owner)
        return name in self._partitioned.get(owner, set())

    def row_count(self, ref: str, last_build: Optional[dict]) -> Tuple[Optional[int], bool, bool]:
        """(count, stale, computed): the metric, recomputed when missing or older than the last build.

        A partitioned dataset whose partitions this run built is counted on those partitions (DSS keeps metrics per
        partition), the others on the whole data (``NP``, or ``ALL`` when partitioned).
        """
        built_ms = None
        if last_build:
            built_ms = last_build.get("end_ms") or last_build.get("start_ms")
        partitions = self._built_partitions.get(ref) if self.partitioned(ref) else None
        if not partitions:
            return self._count(ref, self._whole(ref), built_ms)
        total, any_stale, any_computed = 0, False, False
        for partition in partitions:
            count, stale, computed = self._count(ref, partition, built_ms)
            if count is None:
                return None, stale, computed
            total, any_stale, any_computed = total + count, any_stale or stale, any_computed or computed
        self.notes.append(f"{ref}: rows counted in the partitions this run built ({', '.join(partitions)})")
        return total, any_stale, any_computed

    def _count(self, ref: str, partition: str, built_ms: Optional[int]) -> Tuple[Optional[int], bool, bool]:
        """(count, stale, computed) of one partition id (``NP``/``ALL``: the whole dataset).

        A user who may not compute metrics (DSS needs *Write project content* for that) gets the last value, with a
        note saying it may be stale; a count DSS does not finish within the count time limit is noted the same way.
        """
        raw, measured_ms = self.gateway.last_metric_value(ref, ROW_COUNT_METRIC, partition)
        value = _as_count(raw)
        stale = value is None or (built_ms is not None and (measured_ms is None or measured_ms < built_ms))
        if not stale:
            return value, False, False
        try:
            computed, took_s = self.gateway.compute_metric(
                ref, ROW_COUNT_METRIC, partition=partition, timeout_s=self._metric_timeout_s
            )
        except DSSPermissionError:
            self.notes.append(
                f"{ref}: this user may not compute metrics (DSS needs the project permission 'Write project "
                "content' for that), so the last row count DSS computed is used"
                + (": it may be stale (older than the last build)" if value is not None else ", and there is none")
            )
            return value, value is not None, False
        except TransientAPIError as error:
            if not isinstance(error.__cause__, requests.exceptions.Timeout):
                raise
            self.notes.append(
                f"{ref}: DSS did not finish counting the rows within {self._metric_timeout_s:g} s (the count time "
                "limit); " + ("the last count, older than the last build, is used" if value is not None else "no count")
            )
            return value, value is not None, False
        except Exception as error:  # noqa: BLE001 - DSS answered an error (e.g. no data yet): say so and go on
            if not is_dss_answer(error):
                raise
            self.notes.append(f"{ref}: the row count could not be computed ({_short(error)})")
            return value, value is not None, False
        if took_s >= SLOW_COUNT_NOTE_S:
            self.notes.append(f"{ref}: DSS took {took_s:.0f} s to count the rows")
        count = _as_count(computed)
        if count is None:
            count = _as_count(self.gateway.last_metric_value(ref, ROW_COUNT_METRIC, partition)[0])
        return count, False, count is not None

    def rule_results(self, ref: str) -> Optional[List[dict]]:
        """The last results of the dataset's data-quality rules; None when the instance does not offer them."""
        if self._rules_offered is False:
            return None
        try:
            results = self.gateway.data_quality_rule_results(ref)
        except Exception as error:  # noqa: BLE001 - DSS answered an error: say so and go on
            if not is_dss_answer(error):
                raise
            self.notes.append(f"{ref}: the data-quality rules could not be read ({_short(error)})")
            return None
        self._rules_offered = results is not None
        return results

    def facts(
        self, needs: Mapping[str, FactsNeeded], run_started_at_ms: Optional[int] = None
    ) -> Dict[str, DatasetFacts]:
        """Exactly the facts each dataset's expectations need (existence always)."""
        found: Dict[str, DatasetFacts] = {}
        for ref, need in needs.items():
            if not self.exists(ref):
                owner, name = split_dataset_ref(ref, self.project_key)
                close = _close_name(name, self.dataset_names(owner))
                if close:
                    self.notes.append(f"{ref}: no such dataset in project {owner}; did you mean '{close}'?")
                found[ref] = DatasetFacts(exists=False, run_started_at_ms=run_started_at_ms)
                continue
            last_build = self.last_build(ref) if (need.last_build or need.row_count) else None
            count, stale, computed = (None, False, False)
            if need.row_count:
                count, stale, computed = self.row_count(ref, last_build)
            found[ref] = DatasetFacts(
                exists=True,
                columns=self.columns(ref) if need.columns else None,
                last_build=last_build,
                row_count=count,
                row_count_stale=stale,
                row_count_computed=computed,
                dss_rule_results=self.rule_results(ref) if need.dss_rules else None,
                run_started_at_ms=run_started_at_ms,
            )
        return found


def _close_name(name: str, candidates: Sequence[str]) -> Optional[str]:
    import difflib

    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    if close:
        return close[0]
    lowered = {candidate.lower(): candidate for candidate in candidates}
    return lowered.get(name.lower())


# ------------------------------------------------------------------------------------------------ the use case


def verify_outputs(
    gateway,
    expectations: ExpectationSet,
    run_started_at_ms: Optional[int] = None,
    built_partitions: Optional[Mapping[str, Sequence[str]]] = None,
) -> VerificationResult:
    """Read what the expectations need and judge them; notes say what could not be read and why.

    ``built_partitions`` (dataset → partition ids a run built): row counts of those partitioned datasets are taken
    on those partitions."""
    reads = VerificationGateway(gateway, built_partitions=built_partitions)
    facts = reads.facts(needed_facts(expectations), run_started_at_ms)
    result = evaluate(expectations, facts)
    if not reads.notes:
        return result
    return VerificationResult(result.results, tuple(dict.fromkeys(tuple(reads.notes) + result.notes)))


def verify_after_build(
    gateway,
    expectations: ExpectationSet,
    run_started_at_ms: Optional[int],
    built_partitions: Optional[Mapping[str, Sequence[str]]] = None,
) -> VerificationResult:
    """The build engine's "verify after build": ``built.within_run`` is judged against the run's start, row counts of
    partitioned outputs on the partitions the run built."""
    return verify_outputs(gateway, expectations, run_started_at_ms, built_partitions)


def capture_spec(gateway, datasets: Sequence[str], *, row_tolerance: float = 0.5) -> str:
    """A JSON spec (text) of the datasets as they are now, to paste into the ``expectations`` field."""
    everything = FactsNeeded(columns=True, last_build=True, row_count=True, dss_rules=True)
    reads = VerificationGateway(gateway)
    problems = []
    for index, ref in enumerate(dict.fromkeys(datasets)):
        if not reads.exists(ref):
            owner, name = split_dataset_ref(ref, reads.project_key)
            close = _close_name(name, reads.dataset_names(owner))
            hint = f"; did you mean '{close}'?" if close else ""
            problems.append((f"datasets[{index}]", f"dataset '{ref}' does not exist in project {owner}{hint}"))
    if problems:
        raise ConfigError(problems)
    facts = reads.facts({name: everything for name in dict.fromkeys(datasets)})
    spec = capture_current(facts, row_tolerance=row_tolerance)
    return json.dumps(spec, indent=2, ensure_ascii=False)


@dataclass(frozen=True)
class VerificationOutcome:
    """A verification (or a capture) as the reports, the step and the CLI use it."""

    project_key: str
    result: Optional[VerificationResult] = None
    captured_spec: Optional[str] = None
    datasets: Tuple[str, ...] = ()
    duration_s: Optional[float] = None

    @property
    def state(self) -> str:
        if self.result is None:
            return "CAPTURED"
        if not self.result.passed:
            return "FAILED"
        return "WARN" if self.result.counts["failed_warn"] else "PASSED"

    def to_dict(self) -> dict:
        return {
            "project_key": self.project_key,
            "state": self.state,
            "datasets": list(self.datasets),
            "result": None if self.result is None else self.result.to_dict(),
            "captured_spec": self.captured_spec,
            "duration_s": self.duration_s,
        }


def run_verification(
    gateway, config: VerifyConfig, *, clock: Callable[[], float] = time.monotonic
) -> VerificationOutcome:
    """Capture the current state (``capture_current``) or verify the expectations."""
    started = clock()
    if config.capture_current:
        datasets = config.capture_datasets
        text = capture_spec(gateway, datasets)
        return VerificationOutcome(
            gateway.project_key, captured_spec=text, datasets=datasets, duration_s=clock() - started
        )
    result = verify_outputs(gateway, config.expectations)
    return VerificationOutcome(
        gateway.project_key, result=result, datasets=config.expectations.datasets, duration_s=clock() - started
    )


def failure_message(result: VerificationResult) -> Optional[str]:
    """None when no ERROR expectation failed; else one line per failure with its reason."""
    errors = result.errors
    if not errors:
        return None
    lines = ["{} of {} expectations failed:".format(len(errors), result.counts["total"])]
    for item in errors:
        subject = f" [{item.subject}]" if item.subject else ""
        lines.append(f"- {item.dataset} {item.kind}{subject}: {item.message}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ plugin shells


def run_verify_macro(config: Mapping, plugin_config: Optional[Mapping] = None, *, client, project_key: str) -> str:
    """The Verify outputs macro: validate, verify (or capture), return the HTML report (failures listed first)."""
    from .entrypoints import open_gateway, with_picked_objects
    from .report.verify_html import render_verification_report

    config = with_picked_objects(config)
    settings = parse_verify_config(config)
    gateway = open_gateway(dict(config), client=client, project_key=project_key)
    outcome = run_verification(gateway, settings)
    return render_verification_report(outcome.to_dict())


def scenario_variables(outcome: VerificationOutcome) -> Dict[str, Any]:
    """The variables the step sets for the rest of the scenario."""
    values: Dict[str, Any] = {"flow_orchestrator_verify_state": outcome.state}
    if outcome.captured_spec is not None:
        values["flow_orchestrator_captured_expectations"] = outcome.captured_spec
    if outcome.result is not None:
        counts = outcome.result.counts
        values.update(
            {
                "flow_orchestrator_verify_passed": outcome.result.passed,
                "flow_orchestrator_verify_total": counts["total"],
                "flow_orchestrator_verify_failed_error": counts["failed_error"],
                "flow_orchestrator_verify_failed_warn": counts["failed_warn"],
                "flow_orchestrator_verify_skipped": counts["skipped"],
                "flow_orchestrator_verify_failures": "; ".join(
                    f"{item.dataset} {item.kind}: {item.message}" for item in outcome.result.failures
                ),
            }
        )
    return values


def report_items(outcome: VerificationOutcome) -> List[Tuple[str, str, dict]]:
    """One ``(object_ref, partition, item)`` per expectation result, for the step's report."""
    items = []
    for result in outcome.result.results if outcome.result is not None else ():
        owner, name = split_dataset_ref(result.dataset, outcome.project_key)
        items.append((f"{owner}.{name}", "NP", _report_item(result)))
    return items


def _report_item(result: ExpectationResult) -> dict:
    return {
        "type": "FLOW_ORCHESTRATOR_EXPECTATION",
        "kind": result.kind,
        "severity": result.severity,
        "status": result.status,
        "expected": result.expected,
        "subject": result.subject,
        "message": result.message,
    }


def run_verify_step(
    step_config: Optional[Mapping], plugin_config: Optional[Mapping], *, client, project_key: str, scenario
) -> VerificationOutcome:
    """The Verify outputs step: verify, publish variables and report items, log WARN failures, raise on ERROR ones."""
    from .entrypoints import add_report_item, open_gateway, step_form

    form = step_form(dict(step_config or {}), dict(plugin_config or {}))
    settings = parse_verify_config(form)
    gateway = open_gateway(form, client=client, project_key=project_key)
    outcome = run_verification(gateway, settings)
    scenario.set_scenario_variables(**scenario_variables(outcome))
    for object_ref, partition, item in report_items(outcome):
        add_report_item(scenario, object_ref, partition, item)
    if outcome.captured_spec is not None:
        log.info("Captured expectations (paste them into the 'expectations' field):\n%s", outcome.captured_spec)
        return outcome
    result = outcome.result
    for warning in result.warnings:
        log.warning("%s", warning)
    log.info("%s", result.summary())
    message = failure_message(result)
    if message:
        raise VerificationFailed(message)
    return outcome


__all__ = [
    "VerificationFailed",
    "VerificationGateway",
    "VerificationOutcome",
    "VerifyConfig",
    "capture_spec",
    "failure_message",
    "parse_verify_config",
    "report_items",
    "run_verification",
    "run_verify_macro",
    "run_verify_step",
    "scenario_variables",
    "verify_after_build",
    "verify_outputs",
]
