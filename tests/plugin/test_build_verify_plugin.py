"""The Build pipeline macro and the Run recipes step with "propagate schemas first" and "verify outputs after the
build", loaded and run the way DSS does, on the emulated clinical Flow (a fresh emulator per test)."""

from __future__ import annotations

import json

import pytest
from flow_orchestrator.errors import ConfigError, RecipesFailed
from flow_orchestrator.record import validate_record

LAB, NOTES, JOIN = "group_LAB_RESULTS_AGG", "group_CLINICAL_NOTES_AGG", "join_ML_TRAINING_DATA"


def kept_record(dss, project_key, name) -> dict:
    local = dss.client().get_project(project_key).get_variables()["local"]
    return json.loads(local["flow_orchestrator.last_run." + name])


def retype_test_date(dss, project_key):
    dataset = dss.client().get_project(project_key).get_dataset("LAB_RESULTS")
    schema = dataset.get_schema()
    schema["columns"] = [dict(c, type="string") if c["name"] == "test_date" else c for c in schema["columns"]]
    dataset.set_schema(schema)


def test_the_macro_propagates_first_then_verifies_and_reports_both(run_macro, clinical_dss, project_key):
    retype_test_date(clinical_dss, project_key)
    run = run_macro(
        {
            "recipes": [LAB, NOTES, JOIN],
            "propagate_schema_first": True,
            "verify_after_build": True,
            "expected_columns": ["patient_id:string"],
            "min_rows": 1000,
        }
    )

    html = run.result
    assert "Schema changes" in html and "test_date_max" in html and "date → string" in html
    assert "3 recipes built, but 3 of 9 output checks failed." in html  # each output has fewer than 1000 rows
    assert html.index("failed output checks") < html.index("Schema changes") < html.index("<h3>Output checks")
    record = kept_record(clinical_dss, project_key, "build-pipeline")
    validate_record(record, source="the kept record")
    assert record["state"] == "FAILED" and {r["state"] for r in record["recipes"]} == {"SUCCESS"}
    assert record["propagation"]["changed_datasets"] == ["LAB_RESULTS_AGG", "ML_TRAINING_DATA"]
    assert record["verification"]["counts"] == {
        "total": 9,
        "passed": 6,
        "failed": 3,
        "failed_error": 3,
        "failed_warn": 0,
        "skipped": 0,
    }


def test_a_macro_dry_run_previews_the_schema_impact_and_changes_nothing(run_macro, clinical_dss, project_key):
    retype_test_date(clinical_dss, project_key)
    run = run_macro({"dry_run": True, "propagate_schema_first": True})

    assert "Schema preview: 2 datasets would change." in run.result
    assert clinical_dss.job_starts(project_key) == 0
    aggregate = clinical_dss.client().get_project(project_key).get_dataset("LAB_RESULTS_AGG").get_schema()
    assert {c["name"]: c["type"] for c in aggregate["columns"]}["test_date_max"] == "date"


def test_a_malformed_spec_stops_the_macro_before_any_job(run_macro, clinical_dss, project_key):
    with pytest.raises(ConfigError) as caught:
        run_macro({"verify_after_build": True, "expectations": '{"version": 1, "datasets": {"X": {"max_rows": -2}}}'})
    assert "expectations (datasets.X.max_rows)" in str(caught.value)
    assert clinical_dss.job_starts(project_key) == 0


def test_the_step_fails_naming_the_failed_expectations_and_sets_its_variables(run_step, clinical_dss, project_key):
    spec = json.dumps(
        {
            "version": 1,
            "datasets": {
                "LAB_RESULTS_AGG": {"max_rows": 10},
                "CLINICAL_NOTES_AGG": {"max_rows": {"value": 10, "severity": "WARN"}},
            },
        }
    )
    with pytest.raises(RecipesFailed) as caught:
        run_step({"recipes": [LAB, NOTES], "parallel": True, "verify_after_build": True, "expectations": spec})

    message = str(caught.value)
    assert message.startswith("1 of 4 output checks failed:")
    assert "- LAB_RESULTS_AGG max_rows: expected at most 10 rows" in message
    assert "CLINICAL_NOTES_AGG" not in message  # a WARN failure does not fail the step
    variables = run_step.variables
    assert variables["flow_orchestrator_state"] == "FAILED" and variables["flow_orchestrator_success_count"] == 2
    assert variables["flow_orchestrator_verify_state"] == "FAILED"
    assert variables["flow_orchestrator_verify_failed_error"] == 1
    assert variables["flow_orchestrator_verify_failed_warn"] == 1
    checks = [
        i["report_item"] for i in run_step.report_items if i["report_item"]["type"] == "FLOW_ORCHESTRATOR_EXPECTATION"
    ]
    assert len(checks) == 4 and sum(item["status"] == "failed" for item in checks) == 2


def test_a_passing_step_with_the_default_checks(run_step, clinical_dss, project_key):
    run_step({"recipes": [LAB], "verify_after_build": True, "propagate_schema_first": True})

    variables = run_step.variables
    assert variables["flow_orchestrator_state"] == "SUCCESS"
    assert variables["flow_orchestrator_verify_state"] == "PASSED" and variables["flow_orchestrator_verify_total"] == 2
    assert variables["flow_orchestrator_propagation_state"] == "SUCCESS"
    assert variables["flow_orchestrator_schema_changed_datasets"] == ""
    record = kept_record(clinical_dss, project_key, "run-recipes")
    assert record["verification"]["default_checks"] is True
