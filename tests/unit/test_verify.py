"""Output expectations: the JSON spec and its errors, the form fields, evaluation, and "capture current"."""

from __future__ import annotations

import copy
import json

import pytest
from flow_orchestrator.errors import ConfigError
from flow_orchestrator.expectations import (
    BuiltExpectation,
    ColumnsExpectation,
    ColumnSpec,
    DatasetFacts,
    Expectation,
    ExpectationSet,
    FactsNeeded,
    LastBuild,
    capture_current,
    evaluate,
    expectations_from_form,
    expectations_schema,
    merge_expectations,
    needed_facts,
    parse_column_text,
    parse_expectations,
    parse_time_ms,
    validate_spec,
)
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

T0 = 1768213900000  # 2026-01-12T10:31:40Z
ML_COLUMNS = [
    {"name": "customer_id", "type": "string", "meaning": "Text"},
    {"name": "age", "type": "bigint"},
    {"name": "income", "type": "double"},
    {"name": "churned", "type": "boolean"},
]

FULL_SPEC = {
    "version": 1,
    "description": "Inputs of the churn model",
    "severity": "ERROR",
    "datasets": {
        "ML_TRAINING_DATA": {
            "exists": True,
            "built": {"success": True, "after": "2026-01-12T00:00:00Z", "within_run": False},
            "columns": {
                "mode": "exact",
                "ordered": True,
                "items": [
                    {"name": "customer_id", "type": "string"},
                    {"name": "age", "type": "bigint"},
                    {"name": "income", "type": "double"},
                    {"name": "churned", "type": "boolean"},
                ],
            },
            "min_rows": 100,
            "max_rows": {"value": 1000000, "severity": "WARN"},
            "not_empty": True,
            "dss_rules": True,
        },
        "PROJ2.scores": {"severity": "WARN", "exists": True, "columns": [{"name": "score"}]},
    },
}


def facts(**overrides) -> DatasetFacts:
    values = dict(
        exists=True,
        columns=copy.deepcopy(ML_COLUMNS),
        last_build={"start_ms": T0, "end_ms": T0 + 5000, "success": True},
        row_count=1042,
        dss_rule_results=[],
    )
    values.update(overrides)
    return DatasetFacts(**values)


def problems_of(spec):
    with pytest.raises(ConfigError) as caught:
        parse_expectations(spec)
    return caught.value.problems


def one(expectation: Expectation, dataset_facts: DatasetFacts):
    result = evaluate(ExpectationSet((expectation,)), {expectation.dataset: dataset_facts})
    assert len(result.results) == 1
    return result.results[0]


# ---------------------------------------------------------------------------------- the JSON schema


def test_the_schema_is_valid_draft_2020_12_and_accepts_the_full_example():
    schema = expectations_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert validate_spec(FULL_SPEC) == []


def test_parse_full_spec_gives_one_expectation_per_kind_with_severities():
    parsed = parse_expectations(json.dumps(FULL_SPEC))
    assert parsed.datasets == ("ML_TRAINING_DATA", "PROJ2.scores")
    kinds = [item.kind for item in parsed.for_dataset("ML_TRAINING_DATA")]
    assert kinds == ["exists", "built", "columns", "min_rows", "max_rows", "not_empty", "dss_rules"]
    assert parsed.get("ML_TRAINING_DATA", "max_rows").severity == "WARN"
    assert parsed.get("ML_TRAINING_DATA", "max_rows").value == 1000000
    assert parsed.get("ML_TRAINING_DATA", "min_rows").severity == "ERROR"
    built = parsed.get("ML_TRAINING_DATA", "built").value
    assert built == BuiltExpectation(success=True, after="2026-01-12T00:00:00Z", after_ms=1768176000000)
    scores = parsed.get("PROJ2.scores", "columns")
    assert scores.severity == "WARN"  # from the dataset's default
    assert scores.value == ColumnsExpectation(mode="exact", ordered=False, items=(ColumnSpec("score"),))
    assert parsed.description == "Inputs of the churn model"


def test_blank_spec_text_means_no_expectations():
    assert parse_expectations("  \n").is_empty
    assert parse_expectations(None).is_empty


def test_malformed_json_names_line_and_column():
    problems = problems_of('{"version": 1,\n  "datasets": {\n    "A": {"min_rows": 10,}\n  }\n}')
    assert len(problems) == 1
    field, message = problems[0]
    assert field == "expectations"
    assert message.startswith("not valid JSON:") and "line 3, column" in message


def test_duplicate_keys_are_rejected():
    problems = problems_of('{"version": 1, "datasets": {"A": {"exists": true}, "A": {"min_rows": 1}}}')
    assert problems == [("expectations", 'the key "A" appears twice in the same object; keep one')]


def test_every_schema_violation_is_reported_at_its_json_path():
    spec = {
        "version": 2,
        "datasets": {
            "ML_TRAINING_DATA": {
                "columns": [{"name": "customer_id"}, {"name": "age", "type": "bigint"}, {"name": "income", "type": 5}],
                "min_rows": "many",
                "built": {"sucess": True},
                "severity": "FATAL",
            },
            "PROJ.other": {"max_rows": {"value": -1}, "columns": {"mode": "exactly", "items": [{"name": "x"}]}},
        },
        "extra": 1,
    }
    problems = dict(problems_of(spec))
    assert problems["datasets.ML_TRAINING_DATA.columns[2].type"] == "expected a text; found 5"
    assert problems["datasets.ML_TRAINING_DATA.min_rows"] == (
        'expected a whole number >= 0, or an object with "value"; found the text "many"'
    )
    assert problems["datasets.ML_TRAINING_DATA.built.sucess"].startswith('unknown field; did you mean "success"?')
    assert problems["datasets.ML_TRAINING_DATA.severity"] == 'expected one of "ERROR", "WARN"; found the text "FATAL"'
    assert problems['datasets["PROJ.other"].max_rows.value'] == "expected a number >= 0; found -1"
    assert problems['datasets["PROJ.other"].columns.mode'].startswith('expected one of "exact", "contains"')
    assert problems["version"] == "expected 1 (the only spec version); found 2"
    assert problems["extra"].startswith("unknown field; expected one of version, description, severity, datasets")
    assert len(problems) == 8


def test_missing_fields_and_empty_lists():
    assert problems_of({"datasets": {"A": {"exists": True}}}) == [("(spec)", 'missing the required field "version"')]
    assert problems_of({"version": 1, "datasets": {}}) == [("datasets", "expected at least 1 dataset; found none")]
    problems = problems_of({"version": 1, "datasets": {"A": {"columns": {"mode": "contains"}}}})
    assert problems == [("datasets.A.columns", 'missing the required field "items"')]
    problems = problems_of({"version": 1, "datasets": {"A": {"columns": []}}})
    assert problems == [("datasets.A.columns", "expected at least 1 item(s); found an empty list")]
    problems = problems_of({"version": 1, "datasets": {"A": {"built": False}}})
    assert problems == [("datasets.A.built", "expected true, or an object; found false")]


def test_semantic_problems_point_at_their_paths_too():
    spec = {
        "version": 1,
        "datasets": {
            "A": {
                "built": {"after": "last tuesday"},
                "columns": [
                    {"name": "x", "type": "strin"},
                    {"name": "x", "type": "Double"},
                    {"name": "y", "type": "integer"},
                ],
                "min_rows": 10,
                "max_rows": 5,
            },
            "B": {"exists": False, "min_rows": 1},
        },
    }
    problems = dict(problems_of(spec))
    assert problems["datasets.A.built.after"].startswith("expected an ISO 8601 time such as 2024-05-01T06:00:00Z")
    assert problems["datasets.A.columns[0].type"] == 'unknown DSS type "strin"; did you mean "string"?'
    assert problems["datasets.A.columns[1].name"] == 'column "x" is listed twice'
    assert problems["datasets.A.columns[1].type"] == 'DSS type names are lower case: write "double"'
    assert problems["datasets.A.columns[2].type"] == '"integer" is not a DSS type; did you mean int or bigint?'
    assert problems["datasets.A.max_rows"] == "5 is below min_rows (10); no row count fits"
    assert problems["datasets.B.exists"].startswith("false (must not exist) cannot be combined with min_rows")


def test_unknown_but_plausible_types_of_newer_dss_are_accepted():
    parsed = parse_expectations({"version": 1, "datasets": {"A": {"columns": [{"name": "g", "type": "geojson_v2"}]}}})
    assert parsed.get("A", "columns").value.items == (ColumnSpec("g", "geojson_v2"),)


def test_time_parsing():
    assert parse_time_ms("2026-01-12T00:00:00Z") == 1768176000000
    assert parse_time_ms("2026-01-12T01:00:00+01:00") == 1768176000000
    assert parse_time_ms("2026-01-12") == 1768176000000
    assert parse_time_ms("2026-01-12T00:00:00") == 1768176000000  # no zone: UTC


# ---------------------------------------------------------------------------------------- the form


def test_form_fields_apply_to_every_selected_dataset():
    form = expectations_from_form(["A", "B"], ["id:bigint", "name", " amount : double "], min_rows=10, not_empty=True)
    assert form.datasets == ("A", "B")
    columns = form.get("B", "columns").value
    assert columns.mode == "contains" and not columns.ordered
    assert columns.items == (ColumnSpec("id", "bigint"), ColumnSpec("name"), ColumnSpec("amount", "double"))
    assert [item.kind for item in form.for_dataset("A")] == ["exists", "columns", "min_rows", "not_empty"]


def test_form_errors_name_their_field():
    with pytest.raises(ConfigError) as caught:
        expectations_from_form([], [":bigint", "x:strng", "y", "y"], min_rows=-3)
    problems = dict(caught.value.problems)
    assert problems["expected_columns[0]"] == '":bigint" has no column name; write "name" or "name:type"'
    assert problems["expected_columns[1]"] == 'unknown DSS type "strng"; did you mean "string"?'
    assert problems["expected_columns[3]"] == 'column "y" is listed twice'
    assert problems["min_rows"] == "expected a whole number >= 0; found -3"
    assert problems["datasets"].startswith("the expectations apply to the selected datasets")


def test_parse_column_text():
    assert parse_column_text("name") == ColumnSpec("name")
    assert parse_column_text("created:date") == ColumnSpec("created", "date")
    assert parse_column_text("a:b:string") == ColumnSpec("a:b", "string")


def test_the_spec_wins_over_the_form_for_the_same_dataset_and_kind():
    form = expectations_from_form(["ML_TRAINING_DATA", "OTHER"], ["customer_id"], min_rows=10)
    spec = parse_expectations(FULL_SPEC)
    merged = merge_expectations(form, spec)
    assert merged.datasets == ("ML_TRAINING_DATA", "OTHER", "PROJ2.scores")
    assert merged.get("ML_TRAINING_DATA", "min_rows").value == 100
    assert merged.get("ML_TRAINING_DATA", "columns").value.mode == "exact"
    assert merged.get("OTHER", "min_rows").value == 10
    assert merged.description == "Inputs of the churn model"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["A", "B", "PROJ.C"]),
            st.sampled_from(["exists", "min_rows", "max_rows", "not_empty", "dss_rules", "columns", "built"]),
            st.sampled_from(["ERROR", "WARN"]),
            st.integers(min_value=0, max_value=10**6),
        ),
        min_size=1,
    )
)
def test_to_spec_round_trips_and_validates(entries):
    expectations = []
    for dataset, kind, severity, number in entries:
        value = {
            "exists": True,
            "min_rows": number,
            "max_rows": number,
            "not_empty": True,
            "dss_rules": True,
            "columns": ColumnsExpectation("contains", bool(number % 2), (ColumnSpec("a", "string"), ColumnSpec("b"))),
            "built": BuiltExpectation(success=True, within_run=bool(number % 2)),
        }[kind]
        expectations.append(Expectation(dataset, kind, value, severity))
    expectation_set = merge_expectations(ExpectationSet(tuple(expectations)))
    for dataset in expectation_set.datasets:
        low, high = expectation_set.get(dataset, "min_rows"), expectation_set.get(dataset, "max_rows")
        assume(not (low and high and high.value < low.value))  # contradicting bounds are rightly rejected
    spec = expectation_set.to_spec()
    assert validate_spec(spec) == []
    assert parse_expectations(json.dumps(spec)) == expectation_set


# ---------------------------------------------------------------------------------- needed facts


def test_needed_facts_asks_only_for_what_is_checked():
    needs = needed_facts(parse_expectations(FULL_SPEC))
    assert needs["ML_TRAINING_DATA"] == FactsNeeded(columns=True, last_build=True, row_count=True, dss_rules=True)
    assert needs["PROJ2.scores"] == FactsNeeded(columns=True)
    only_exists = needed_facts(expectations_from_form(["A"]))
    assert only_exists["A"] == FactsNeeded()
    assert needed_facts(expectations_from_form(["A"], not_empty=True))["A"].row_count


# -------------------------------------------------------------------------------------- evaluation


def test_exists_passes_and_fails():
    assert one(Expectation("A", "exists", True), facts()).passed
    failed = one(Expectation("A", "exists", True), DatasetFacts(exists=False))
    assert not failed.passed and failed.message == "dataset A does not exist"
    assert one(Expectation("A", "exists", False), DatasetFacts(exists=False)).passed
    assert one(Expectation("A", "exists", False), facts()).message == "dataset A exists but is expected not to"


def test_other_expectations_on_a_missing_dataset_fail_plainly():
    result = one(Expectation("A", "min_rows", 5), DatasetFacts(exists=False))
    assert result.status == "failed" and result.message == "cannot check: dataset A does not exist"
    nothing = evaluate(ExpectationSet((Expectation("A", "exists", True),)), {})
    assert nothing.results[0].message == "nothing could be read about A" and not nothing.passed


def test_built_passes_and_fails_with_reasons():
    plain = Expectation("A", "built", BuiltExpectation())
    assert one(plain, facts()).message == "the last build succeeded (started 2026-01-12T10:31:40Z)"
    assert one(plain, facts(last_build=None)).message == "no build of A was found (never built)"
    failed = one(plain, facts(last_build=LastBuild(T0, T0 + 10, success=False)))
    assert not failed.passed and failed.message == "the last build failed (started 2026-01-12T10:31:40Z)"
    any_outcome = Expectation("A", "built", BuiltExpectation(success=False))
    assert one(any_outcome, facts(last_build=LastBuild(T0, T0 + 10, success=False))).passed

    after = Expectation(
        "A", "built", BuiltExpectation(after="2026-01-12T11:00:00Z", after_ms=parse_time_ms("2026-01-12T11:00:00Z"))
    )
    late = one(after, facts())
    assert late.message == (
        "expected a build started at or after 2026-01-12T11:00:00Z; the last build started 2026-01-12T10:31:40Z"
    )
    assert one(after, facts(last_build={"start_ms": T0 + 3_600_000, "end_ms": None, "success": True})).passed


def test_built_within_run():
    within = Expectation("A", "built", BuiltExpectation(within_run=True))
    assert one(within, facts(run_started_at_ms=T0 - 1000)).passed
    stale = one(within, facts(run_started_at_ms=T0 + 1000))
    assert stale.message == (
        "expected a build during this run (started 2026-01-12T10:31:41Z); the last build started 2026-01-12T10:31:40Z"
    )
    outside = evaluate(ExpectationSet((within,)), {"A": facts()})
    assert outside.passed and "not part of a run" in outside.notes[0]


def test_columns_exact_passes_and_reports_every_difference():
    exact = parse_expectations(FULL_SPEC).get("ML_TRAINING_DATA", "columns")
    assert one(exact, facts()).message == "the schema has exactly the 4 expected columns in order"
    drifted = [
        {"name": "Customer_ID", "type": "string"},
        {"name": "income", "type": "bigint"},
        {"name": "age", "type": "bigint"},
        {"name": "churned", "type": "boolean"},
        {"name": "segment", "type": "string"},
    ]
    result = one(exact, facts(columns=drifted))
    assert not result.passed
    assert result.message == (
        'missing column: "customer_id" (found "Customer_ID": names are case-sensitive); '
        '"income" has type bigint, expected double; unexpected columns: "Customer_ID", "segment"; '
        "columns in a different order: expected age, income, churned; found income, age, churned"
    )


def test_columns_contains_ignores_extra_columns_and_checks_order_only_when_asked():
    contains = Expectation(
        "A", "columns", ColumnsExpectation("contains", False, (ColumnSpec("income", "double"), ColumnSpec("age")))
    )
    assert one(contains, facts()).message == "all 2 expected columns present"
    ordered = Expectation(
        "A", "columns", ColumnsExpectation("contains", True, (ColumnSpec("income"), ColumnSpec("age")))
    )
    assert one(ordered, facts()).message == "columns in a different order: expected income, age; found age, income"
    missing = Expectation("A", "columns", ColumnsExpectation("contains", False, (ColumnSpec("score", "double"),)))
    assert one(missing, facts()).message == 'missing column: "score"'
    assert one(missing, facts(columns=None)).message == "the schema of A could not be read"


def test_row_counts_pass_and_fail_with_numbers():
    assert one(Expectation("A", "min_rows", 100), facts(row_count=42)).message == "expected at least 100 rows, found 42"
    assert one(Expectation("A", "min_rows", 100), facts()).message == "1042 rows (at least 100 expected)"
    assert one(Expectation("A", "max_rows", 1000), facts()).message == "expected at most 1000 rows, found 1042"
    assert one(Expectation("A", "max_rows", 2000), facts()).passed
    assert one(Expectation("A", "not_empty", True), facts(row_count=0)).message == (
        "expected at least one row, found 0 (the dataset is empty)"
    )
    assert one(Expectation("A", "not_empty", True), facts(row_count=1)).message == "1 row"
    unknown = one(Expectation("A", "min_rows", 1), facts(row_count=None))
    assert not unknown.passed and "records:COUNT_RECORDS" in unknown.message


def test_a_stale_row_count_is_noted():
    result = evaluate(ExpectationSet((Expectation("A", "min_rows", 1),)), {"A": facts(row_count_stale=True)})
    assert result.passed and "older than the last build" in result.notes[0]
    recomputed = evaluate(
        ExpectationSet((Expectation("A", "min_rows", 1),)), {"A": facts(row_count_stale=True, row_count_computed=True)}
    )
    assert recomputed.notes == ()


def test_dss_rules_give_one_result_per_rule():
    rules = [
        {"id": "r1", "name": "Record count in range", "outcome": "OK", "message": "1042"},
        {"id": "r2", "name": "Income not empty", "outcome": "WARNING", "message": "3 empty values"},
        {"id": "r3", "displayName": "Age in range", "outcome": "ERROR", "message": "min -1 < 0"},
        {"id": "r4", "name": "Churn in set", "outcome": "EMPTY"},
    ]
    result = evaluate(ExpectationSet((Expectation("A", "dss_rules", True),)), {"A": facts(dss_rule_results=rules)})
    statuses = [(item.subject, item.status, item.severity) for item in result.results]
    assert statuses == [
        ("Record count in range", "passed", "ERROR"),
        ("Income not empty", "failed", "WARN"),
        ("Age in range", "failed", "ERROR"),
        ("Churn in set", "skipped", "ERROR"),
    ]
    assert result.results[2].message == 'rule "Age in range" returned ERROR: min -1 < 0'
    assert not result.passed
    assert 'A: rule "Income not empty" returned WARNING: 3 empty values' in result.warnings


def test_dss_rules_on_an_instance_without_them_are_skipped_with_a_note():
    result = evaluate(ExpectationSet((Expectation("A", "dss_rules", True),)), {"A": facts(dss_rule_results=None)})
    assert result.passed and result.results[0].status == "skipped"
    assert "offers no data-quality rules" in result.results[0].message
    assert result.counts["skipped"] == 1
    none_defined = evaluate(ExpectationSet((Expectation("A", "dss_rules", True),)), {"A": facts()})
    assert none_defined.results[0].message == "no data-quality rule is defined on the dataset"


def test_warn_failures_do_not_fail_the_verification():
    expectations = ExpectationSet(
        (Expectation("A", "exists", True), Expectation("A", "min_rows", 5000, "WARN"), Expectation("A", "max_rows", 10))
    )
    result = evaluate(expectations, {"A": facts()})
    assert not result.passed  # max_rows is ERROR
    assert result.counts == {"total": 3, "passed": 1, "failed": 2, "failed_error": 1, "failed_warn": 1, "skipped": 0}
    assert result.warnings == ("A: expected at least 5000 rows, found 1042",)
    only_warn = evaluate(ExpectationSet(expectations.expectations[:2]), {"A": facts()})
    assert only_warn.passed and only_warn.summary().startswith("PASSED - 2 expectations: 1 passed, 1 failed")
    data = json.loads(json.dumps(result.to_dict()))
    assert data["passed"] is False and data["results"][2]["message"] == "expected at most 10 rows, found 1042"
    assert data["results"][1]["expected"] == "at least 5000 rows"


def test_full_spec_passes_on_matching_facts():
    result = evaluate(
        parse_expectations(FULL_SPEC),
        {"ML_TRAINING_DATA": facts(), "PROJ2.scores": facts(columns=[{"name": "score", "type": "double"}])},
    )
    assert result.passed and result.counts["failed"] == 0, result.to_dict()


# --------------------------------------------------------------------------------- capture current


def test_capture_then_verify_passes_on_an_unchanged_flow():
    current = {
        "ML_TRAINING_DATA": facts(),
        "empty_output": facts(row_count=0, columns=[{"name": "id", "type": "bigint"}]),
        "tiny": facts(row_count=1),
        "never_built": facts(last_build=None, row_count=None),
        "failed_last": facts(last_build=LastBuild(T0, T0 + 1, False)),
        "ruled": facts(dss_rule_results=[{"name": "r", "outcome": "OK"}, {"name": "w", "outcome": "WARNING"}]),
        "gone": DatasetFacts(exists=False),
    }
    spec = capture_current(current)
    assert validate_spec(spec) == []
    assert spec["datasets"]["ML_TRAINING_DATA"] == {
        "exists": True,
        "built": {"success": True},
        "columns": {
            "mode": "exact",
            "ordered": True,
            "items": [
                {"name": "customer_id", "type": "string"},
                {"name": "age", "type": "bigint"},
                {"name": "income", "type": "double"},
                {"name": "churned", "type": "boolean"},
            ],
        },
        "min_rows": 521,
        "not_empty": True,
    }
    assert "min_rows" not in spec["datasets"]["empty_output"] and "not_empty" not in spec["datasets"]["empty_output"]
    assert spec["datasets"]["tiny"]["not_empty"] is True and "min_rows" not in spec["datasets"]["tiny"]
    assert "built" not in spec["datasets"]["never_built"] and "built" not in spec["datasets"]["failed_last"]
    assert spec["datasets"]["ruled"]["dss_rules"] is True
    assert spec["datasets"]["gone"] == {"exists": False}

    result = evaluate(parse_expectations(json.dumps(spec)), current)
    assert result.passed, result.to_dict()

    drifted = dict(current, ML_TRAINING_DATA=facts(row_count=100))
    failing = evaluate(parse_expectations(spec), drifted)
    assert [item.message for item in failing.errors] == ["expected at least 521 rows, found 100"]


def test_capture_row_tolerance():
    assert capture_current({"A": facts()}, row_tolerance=0)["datasets"]["A"]["min_rows"] == 1042
    assert capture_current({"A": facts()}, row_tolerance=0.1)["datasets"]["A"]["min_rows"] == 937
    with pytest.raises(ConfigError) as caught:
        capture_current({"A": facts()}, row_tolerance=1.5)
    assert caught.value.problems == [("row_tolerance", "expected a number between 0 and 1; found 1.5")]
    with pytest.raises(ConfigError):
        capture_current({})
