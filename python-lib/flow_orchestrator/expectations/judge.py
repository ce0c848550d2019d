"""Judging output expectations: the facts they need, one result per expectation, and "capture current".

Pure logic: the adapter reads what :func:`needed_facts` asks for from DSS (schemas, last builds, row counts,
data-quality rule results) into :class:`DatasetFacts`, and :func:`evaluate` judges them, with the reason for each
failure in plain words.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from ..errors import ConfigError
from ..text import plural
from .spec import (
    ROW_COUNT_METRIC,
    SPEC_VERSION,
    BuiltExpectation,
    ColumnsExpectation,
    Expectation,
    ExpectationSet,
    format_time_ms,
    found,
)

# ----------------------------------------------------------------------------------------------- facts


@dataclass(frozen=True)
class LastBuild:
    """The dataset's last build, as DSS reports it (epoch milliseconds)."""

    start_ms: Optional[int] = None
    end_ms: Optional[int] = None
    success: bool = True

    @classmethod
    def from_value(cls, value: Union[LastBuild, Mapping[str, Any], None]) -> Optional[LastBuild]:
        if value is None or isinstance(value, LastBuild):
            return value
        return cls(start_ms=value.get("start_ms"), end_ms=value.get("end_ms"), success=bool(value.get("success")))


@dataclass(frozen=True)
class DatasetFacts:
    """What the adapter found out about one dataset (only what :func:`needed_facts` asked for)."""

    exists: bool
    columns: Optional[Sequence[Mapping[str, Any]]] = None  # DSS schema columns; None: not read
    last_build: Optional[LastBuild] = None  # a dict {start_ms, end_ms, success} is accepted too
    row_count: Optional[int] = None  # records:COUNT_RECORDS; None: unknown
    row_count_stale: bool = False  # the metric is older than the last build (and was not recomputed)
    row_count_computed: bool = False  # the metric was computed for this verification
    dss_rule_results: Optional[Sequence[Mapping[str, Any]]] = None  # None: the instance has no data-quality rules
    run_started_at_ms: Optional[int] = None  # start of the current run, for built.within_run

    def __post_init__(self):
        object.__setattr__(self, "last_build", LastBuild.from_value(self.last_build))


@dataclass(frozen=True)
class FactsNeeded:
    """What to read from DSS for one dataset; existence is always needed."""

    columns: bool = False
    last_build: bool = False
    row_count: bool = False
    dss_rules: bool = False


def needed_facts(expectations: ExpectationSet) -> Dict[str, FactsNeeded]:
    """Per dataset, which facts the expectations need: row counts only for min/max rows and not_empty, etc."""
    needs: Dict[str, FactsNeeded] = {}
    for dataset in expectations.datasets:
        kinds = {item.kind for item in expectations.for_dataset(dataset)}
        needs[dataset] = FactsNeeded(
            columns="columns" in kinds,
            last_build="built" in kinds,
            row_count=bool(kinds & {"min_rows", "max_rows", "not_empty"}),
            dss_rules="dss_rules" in kinds,
        )
    return needs


# -------------------------------------------------------------------------------------------- evaluation

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"


@dataclass(frozen=True)
class ExpectationResult:
    """The outcome of one expectation (or of one DSS data-quality rule), with its reason in plain words."""

    dataset: str
    kind: str
    severity: str
    status: str  # passed | failed | skipped
    message: str
    expected: str = ""  # what was expected, in words
    subject: Optional[str] = None  # the DSS rule name, for kind "dss_rules"

    @property
    def passed(self) -> bool:
        return self.status != FAILED

    def to_dict(self) -> dict:
        return {
            "dataset": self.dataset,
            "kind": self.kind,
            "severity": self.severity,
            "status": self.status,
            "passed": self.passed,
            "expected": self.expected,
            "subject": self.subject,
            "message": self.message,
        }


@dataclass(frozen=True)
class VerificationResult:
    results: Tuple[ExpectationResult, ...] = ()
    notes: Tuple[str, ...] = ()  # things worth knowing that are not failures (stale metrics, skipped checks)

    @property
    def failures(self) -> Tuple[ExpectationResult, ...]:
        return tuple(item for item in self.results if item.status == FAILED)

    @property
    def errors(self) -> Tuple[ExpectationResult, ...]:
        return tuple(item for item in self.failures if item.severity == "ERROR")

    @property
    def passed(self) -> bool:
        """No ERROR expectation failed."""
        return not self.errors

    @property
    def warnings(self) -> Tuple[str, ...]:
        """Failed WARN expectations, then notes: what a scenario step logs as warnings."""
        failed = tuple(f"{item.dataset}: {item.message}" for item in self.failures if item.severity != "ERROR")
        return failed + self.notes

    @property
    def counts(self) -> Dict[str, int]:
        failures = self.failures
        return {
            "total": len(self.results),
            "passed": sum(1 for item in self.results if item.status == PASSED),
            "failed": len(failures),
            "failed_error": sum(1 for item in failures if item.severity == "ERROR"),
            "failed_warn": sum(1 for item in failures if item.severity != "ERROR"),
            "skipped": sum(1 for item in self.results if item.status == SKIPPED),
        }

    def summary(self) -> str:
        counts = self.counts
        text = "{} expectation{}: {} passed, {} failed ({} ERROR, {} WARN), {} skipped".format(
            counts["total"],
            "" if counts["total"] == 1 else "s",
            counts["passed"],
            counts["failed"],
            counts["failed_error"],
            counts["failed_warn"],
            counts["skipped"],
        )
        return ("PASSED - " if self.passed else "FAILED - ") + text

    def to_dict(self) -> dict:
        return {
            "passed": self.passed,
            "counts": self.counts,
            "summary": self.summary(),
            "results": [item.to_dict() for item in self.results],
            "warnings": list(self.warnings),
            "notes": list(self.notes),
        }


def _quoted(names: Iterable[str]) -> str:
    return ", ".join(f'"{name}"' for name in names)


def _check_columns(expected: ColumnsExpectation, actual_columns: Sequence[Mapping[str, Any]]) -> Tuple[bool, str]:
    actual = {}
    for column in actual_columns:
        actual.setdefault(column.get("name"), column)
    lowered = {str(name).lower(): name for name in actual}
    problems = []
    missing = [item for item in expected.items if item.name not in actual]
    if missing:
        described = []
        for item in missing:
            twin = lowered.get(item.name.lower())
            described.append(f'"{item.name}" (found "{twin}": names are case-sensitive)' if twin else f'"{item.name}"')
        problems.append("missing {}: {}".format("column" if len(missing) == 1 else "columns", ", ".join(described)))
    wrong_types = [
        f'"{item.name}" has type {actual[item.name].get("type")}, expected {item.type}'
        for item in expected.items
        if item.name in actual and item.type and actual[item.name].get("type") != item.type
    ]
    problems.extend(wrong_types)
    expected_names = [item.name for item in expected.items]
    if expected.mode == "exact":
        extra = [name for name in actual if name not in set(expected_names)]
        if extra:
            problems.append("unexpected {}: {}".format("column" if len(extra) == 1 else "columns", _quoted(extra)))
    if expected.ordered:
        present = [name for name in expected_names if name in actual]
        found_order = [name for name in actual if name in set(present)]
        if present != found_order:
            problems.append(
                "columns in a different order: expected {}; found {}".format(", ".join(present), ", ".join(found_order))
            )
    if problems:
        return False, "; ".join(problems)
    if expected.mode == "exact":
        return True, "the schema has exactly the {}{}".format(
            plural(len(expected.items), "expected column"), " in order" if expected.ordered else ""
        )
    return True, "all {} present{}".format(
        plural(len(expected.items), "expected column"), " in order" if expected.ordered else ""
    )


def _check_built(expected: BuiltExpectation, facts: DatasetFacts, notes: List[str], dataset: str):
    build = facts.last_build
    if build is None:
        return FAILED, f"no build of {dataset} was found (never built)"
    started = build.start_ms if build.start_ms is not None else build.end_ms
    problems = []
    if expected.success and not build.success:
        problems.append(f"the last build failed (started {format_time_ms(started)})")
    if expected.after_ms is not None:
        if started is None:
            problems.append(f"expected a build started at or after {expected.after}; the last build's time is unknown")
        elif started < expected.after_ms:
            problems.append(
                f"expected a build started at or after {expected.after}; the last build started {format_time_ms(started)}"
            )
    skipped_run_check = False
    if expected.within_run:
        if facts.run_started_at_ms is None:
            skipped_run_check = True
            notes.append(f"{dataset}: 'built within this run' not checked: the verification is not part of a run")
        elif started is None or started < facts.run_started_at_ms:
            problems.append(
                f"expected a build during this run (started {format_time_ms(facts.run_started_at_ms)}); the last build started {format_time_ms(started)}"
            )
    if problems:
        return FAILED, "; ".join(problems)
    message = "the last build {} (started {})".format(
        "succeeded" if build.success else "finished", format_time_ms(started)
    )
    if skipped_run_check:
        message += "; 'within this run' not checked outside a run"
    return PASSED, message


def _rule_results(expectation: Expectation, facts: DatasetFacts, notes: List[str]) -> List[ExpectationResult]:
    dataset = expectation.dataset
    expected = expectation.describe()
    if facts.dss_rule_results is None:
        message = "this DSS instance offers no data-quality rules (DSS 12.6 or later): nothing to check"
        notes.append(f"{dataset}: {message}")
        return [ExpectationResult(dataset, "dss_rules", expectation.severity, SKIPPED, message, expected)]
    if not facts.dss_rule_results:
        return [
            ExpectationResult(
                dataset,
                "dss_rules",
                expectation.severity,
                PASSED,
                "no data-quality rule is defined on the dataset",
                expected,
            )
        ]
    results = []
    for rule in facts.dss_rule_results:
        name = str(rule.get("name") or rule.get("displayName") or rule.get("id") or "unnamed rule")
        outcome = str(rule.get("outcome") or "UNKNOWN").upper()
        detail = rule.get("message")
        text = f'rule "{name}" returned {outcome}' + (f": {detail}" if detail else "")
        if outcome == "OK":
            status, severity = PASSED, expectation.severity
        elif outcome == "WARNING":
            status, severity = FAILED, "WARN"
        elif outcome == "ERROR":
            status, severity = FAILED, expectation.severity
        else:
            status, severity = SKIPPED, expectation.severity
            notes.append(f"{dataset}: {text}")
        results.append(ExpectationResult(dataset, "dss_rules", severity, status, text, expected, subject=name))
    return results


def _row_count_result(expectation: Expectation, facts: DatasetFacts, notes: List[str]) -> Tuple[str, str]:
    dataset = expectation.dataset
    count = facts.row_count
    if count is None:
        return FAILED, f"the row count of {dataset} is unknown (the {ROW_COUNT_METRIC} metric could not be read)"
    if facts.row_count_stale and not facts.row_count_computed:
        notes.append(f"{dataset}: the row count comes from a {ROW_COUNT_METRIC} metric older than the last build")
    if expectation.kind == "min_rows":
        if count < expectation.value:
            return FAILED, f"expected at least {plural(expectation.value, 'row')}, found {count}"
        return PASSED, f"{plural(count, 'row')} (at least {expectation.value} expected)"
    if expectation.kind == "max_rows":
        if count > expectation.value:
            return FAILED, f"expected at most {plural(expectation.value, 'row')}, found {count}"
        return PASSED, f"{plural(count, 'row')} (at most {expectation.value} expected)"
    if count == 0:
        return FAILED, "expected at least one row, found 0 (the dataset is empty)"
    return PASSED, f"{plural(count, 'row')}"


def _judge(expectation: Expectation, facts: Optional[DatasetFacts], notes: List[str]) -> Tuple[str, str]:
    """(status, reason) of one expectation other than ``dss_rules``."""
    dataset, kind = expectation.dataset, expectation.kind
    if facts is None:
        return FAILED, f"nothing could be read about {dataset}"
    if kind == "exists":
        if expectation.value:
            return (PASSED, "the dataset exists") if facts.exists else (FAILED, f"dataset {dataset} does not exist")
        if facts.exists:
            return FAILED, f"dataset {dataset} exists but is expected not to"
        return PASSED, "the dataset does not exist, as expected"
    if not facts.exists:
        return FAILED, f"cannot check: dataset {dataset} does not exist"
    if kind == "built":
        return _check_built(expectation.value, facts, notes, dataset)
    if kind == "columns":
        if facts.columns is None:
            return FAILED, f"the schema of {dataset} could not be read"
        passed, message = _check_columns(expectation.value, facts.columns)
        return (PASSED if passed else FAILED), message
    return _row_count_result(expectation, facts, notes)


def evaluate(expectations: ExpectationSet, facts: Mapping[str, DatasetFacts]) -> VerificationResult:
    """Judge every expectation against the facts; a dataset without facts fails its expectations."""
    results: List[ExpectationResult] = []
    notes: List[str] = []
    for expectation in expectations.expectations:
        dataset_facts = facts.get(expectation.dataset)
        if expectation.kind == "dss_rules" and dataset_facts is not None and dataset_facts.exists:
            results.extend(_rule_results(expectation, dataset_facts, notes))
            continue
        status, message = _judge(expectation, dataset_facts, notes)
        results.append(
            ExpectationResult(
                expectation.dataset, expectation.kind, expectation.severity, status, message, expectation.describe()
            )
        )
    return VerificationResult(tuple(results), tuple(dict.fromkeys(notes)))


# ----------------------------------------------------------------------------------------- capture current


def capture_current(facts: Mapping[str, DatasetFacts], *, row_tolerance: float = 0.5) -> Dict[str, Any]:
    """A spec of today's reality, so that verifying the unchanged Flow passes and users start from facts.

    Per dataset: exists; its exact columns with types, in order; a successful last build; ``not_empty`` and
    ``min_rows = floor(count * (1 - row_tolerance))`` from its row count; its DSS rules when none is in ERROR now.
    """
    if isinstance(row_tolerance, bool) or not isinstance(row_tolerance, (int, float)) or not 0 <= row_tolerance <= 1:
        raise ConfigError(("row_tolerance", f"expected a number between 0 and 1; found {found(row_tolerance)}"))
    if not facts:
        raise ConfigError(("datasets", "select at least one dataset to capture"))
    datasets: Dict[str, Any] = {}
    for dataset, dataset_facts in facts.items():
        if not dataset_facts.exists:
            datasets[dataset] = {"exists": False}
            continue
        written: Dict[str, Any] = {"exists": True}
        build = dataset_facts.last_build
        if build is not None and build.success:
            written["built"] = {"success": True}
        items = [
            {"name": column["name"], "type": column["type"]} if column.get("type") else {"name": column["name"]}
            for column in dataset_facts.columns or []
            if isinstance(column.get("name"), str) and column["name"]
        ]
        unique = list({item["name"]: item for item in reversed(items)}.values())[::-1]
        if unique:
            written["columns"] = {"mode": "exact", "ordered": True, "items": unique}
        count = dataset_facts.row_count
        if count is not None and count > 0:
            minimum = int(math.floor(count * (1 - row_tolerance)))
            if minimum >= 1:
                written["min_rows"] = minimum
            written["not_empty"] = True
        rules = dataset_facts.dss_rule_results
        if rules and not any(str(rule.get("outcome") or "").upper() == "ERROR" for rule in rules):
            written["dss_rules"] = True
        datasets[dataset] = written
    return {
        "version": SPEC_VERSION,
        "description": "Captured from the current Flow: exact schemas, successful builds and row counts "
        f"(min_rows allows {int(round(row_tolerance * 100))}% fewer rows). Edit to taste.",
        "datasets": datasets,
    }


__all__ = [
    "PASSED",
    "FAILED",
    "SKIPPED",
    "LastBuild",
    "DatasetFacts",
    "FactsNeeded",
    "needed_facts",
    "ExpectationResult",
    "VerificationResult",
    "evaluate",
    "capture_current",
]
