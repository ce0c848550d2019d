"""Verify outputs: form and spec parsing, what the step publishes and how it fails (pure, no DSS)."""

from __future__ import annotations

import json
import re

import pytest
from flow_orchestrator.config.verify import parse_verify_config
from flow_orchestrator.errors import ConfigError
from flow_orchestrator.expectations import ExpectationResult, VerificationResult
from flow_orchestrator.shells.publish import expectation_report_items, verify_scenario_variables
from flow_orchestrator.verification import VerificationOutcome, failure_message
from hypothesis import given
from hypothesis import strategies as st


def spec(datasets: dict) -> str:
    return json.dumps({"version": 1, "datasets": datasets})


def test_simple_fields_apply_to_every_selected_dataset():
    config = parse_verify_config({"datasets": ["A", "B"], "expected_columns": ["id", "amount:double"], "min_rows": 3.0})
    kinds = [(item.dataset, item.kind) for item in config.expectations.expectations]
    assert kinds == [
        ("A", "exists"),
        ("A", "columns"),
        ("A", "min_rows"),
        ("B", "exists"),
        ("B", "columns"),
        ("B", "min_rows"),
    ]
    columns = config.expectations.get("A", "columns").value
    assert columns.mode == "contains" and [c.text() for c in columns.items] == ["id", "amount:double"]


def test_the_spec_wins_over_the_form_for_the_same_dataset_and_kind():
    config = parse_verify_config(
        {"datasets": ["A"], "min_rows": 3, "expectations": spec({"A": {"min_rows": 10}, "B": {"not_empty": True}})}
    )
    assert config.expectations.get("A", "min_rows").value == 10
    assert config.expectations.get("B", "not_empty") is not None


@pytest.mark.parametrize("blank", [None, "", 0, 0.0])
def test_an_empty_or_zero_min_rows_is_not_checked(blank):
    config = parse_verify_config({"datasets": ["A"], "min_rows": blank})
    assert config.expectations.get("A", "min_rows") is None


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        (-1, "must be at least 0 (got -1)"),
        (2.5, "must be a whole number (got 2.5)"),
        ("many", "must be a whole number (got 'many')"),
        (True, "must be a whole number (got True)"),
    ],
)
def test_a_bad_min_rows_is_named(bad, words):
    # worded by verify-config.schema.json as the build config words its own min_rows
    with pytest.raises(ConfigError, match=re.escape(f"min_rows: {words}")):
        parse_verify_config({"datasets": ["A"], "min_rows": bad})


def test_spec_problems_carry_the_form_field_and_the_json_path():
    with pytest.raises(ConfigError) as caught:
        parse_verify_config({"expectations": spec({"A": {"min_rows": "x", "colums": []}})})
    fields = [field for field, _ in caught.value.problems]
    assert fields == ["expectations (datasets.A.colums)", "expectations (datasets.A.min_rows)"]


def test_cli_names_are_used_in_messages():
    flags = {
        "datasets": "--datasets",
        "expectations": "--expectations",
        "expected_columns": "--columns",
        "min_rows": "--min-rows",
    }
    with pytest.raises(ConfigError) as caught:
        parse_verify_config({"expected_columns": [":int"], "expectations": spec({"A": {"max_rows": -1}})}, flags)
    fields = [field for field, _ in caught.value.problems]
    assert fields == ["--columns[0]", "--expectations (datasets.A.max_rows)"]


def test_nothing_to_verify_says_how_to_fix_it():
    with pytest.raises(ConfigError, match="nothing to verify: select datasets"):
        parse_verify_config({"expected_columns": [], "expectations": "  "})


def test_capture_needs_datasets_and_takes_the_spec_datasets_too():
    with pytest.raises(ConfigError, match="datasets: select the datasets whose current state to capture"):
        parse_verify_config({"capture_current": True})
    config = parse_verify_config(
        {"capture_current": True, "datasets": ["A"], "expectations": spec({"B": {"exists": True}})}
    )
    assert config.capture_datasets == ("A", "B")


@given(st.lists(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True), min_size=1, max_size=5))
def test_every_selected_dataset_is_expected_to_exist(names):
    config = parse_verify_config({"datasets": names})
    assert config.expectations.datasets == tuple(dict.fromkeys(names))
    assert all(item.kind == "exists" and item.value is True for item in config.expectations.expectations)


def result() -> VerificationResult:
    return VerificationResult(
        (
            ExpectationResult("A", "exists", "ERROR", "passed", "the dataset exists", "exists"),
            ExpectationResult(
                "A", "min_rows", "ERROR", "failed", "expected at least 5 rows, found 2", "at least 5 rows"
            ),
            ExpectationResult(
                "OTHER.B", "max_rows", "WARN", "failed", "expected at most 1 row, found 2", "at most 1 row"
            ),
            ExpectationResult(
                "B", "dss_rules", "ERROR", "failed", 'rule "r" returned ERROR', "rules pass", subject="r"
            ),
        ),
        ("a note",),
    )


def test_failure_message_names_each_error_and_not_the_warnings():
    message = failure_message(result())
    assert message.splitlines() == [
        "2 of 4 expectations failed:",
        "- A min_rows: expected at least 5 rows, found 2",
        '- B dss_rules [r]: rule "r" returned ERROR',
    ]
    assert failure_message(VerificationResult()) is None


def test_scenario_variables_and_report_items():
    outcome = VerificationOutcome("P", result=result())
    variables = verify_scenario_variables(outcome)
    assert variables["flow_orchestrator_verify_state"] == "FAILED"
    assert variables["flow_orchestrator_verify_passed"] is False
    assert (variables["flow_orchestrator_verify_failed_error"], variables["flow_orchestrator_verify_failed_warn"]) == (
        2,
        1,
    )
    json.dumps(variables)
    items = expectation_report_items(outcome)
    assert [ref for ref, _, _ in items] == ["P.A", "P.A", "OTHER.B", "P.B"]
    assert items[1][2]["status"] == "failed" and items[1][2]["type"] == "FLOW_ORCHESTRATOR_EXPECTATION"


def test_a_capture_publishes_the_spec_only():
    variables = verify_scenario_variables(VerificationOutcome("P", captured_spec="{}"))
    assert variables == {"flow_orchestrator_verify_state": "CAPTURED", "flow_orchestrator_captured_expectations": "{}"}
    assert expectation_report_items(VerificationOutcome("P", captured_spec="{}")) == []


def test_warn_only_failures_make_a_warn_state():
    only_warn = VerificationResult((ExpectationResult("A", "max_rows", "WARN", "failed", "too many", "at most 1"),))
    assert VerificationOutcome("P", result=only_warn).state == "WARN"
