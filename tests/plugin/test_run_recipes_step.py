"""The Run recipes scenario step, run as DSS runs it (a script reading DKU_PLUGIN_* variables), on the emulator."""

from __future__ import annotations

import json
import logging

import pytest
from flow_orchestrator.errors import ConfigError, RecipesFailed, SelectionError

LAB, NOTES, JOIN, TRAIN = (
    "group_LAB_RESULTS_AGG",
    "group_CLINICAL_NOTES_AGG",
    "join_ML_TRAINING_DATA",
    "train_MODEL_SCORES",
)
PIPELINE = [LAB, NOTES, JOIN]  # the seed's pipeline


def stored_record(dss, project_key, name="run-recipes") -> dict:
    local = dss.client().get_project(project_key).get_variables()["local"]
    return json.loads(local["flow_orchestrator.last_run." + name])


def test_a_successful_step_sets_its_variables_and_report_items(run_step, clinical_dss, project_key):
    run_step({"recipes": PIPELINE, "parallel": True})

    variables = run_step.variables
    assert variables["flow_orchestrator_state"] == "SUCCESS"
    assert variables["flow_orchestrator_success_count"] == 3 and variables["flow_orchestrator_failed_count"] == 0
    assert variables["flow_orchestrator_failed_recipes"] == ""
    assert variables["flow_orchestrator_run_record_project"] == project_key
    assert variables["flow_orchestrator_run_record_variable"] == "flow_orchestrator.last_run.run-recipes"
    assert [item["report_item"]["recipe"] for item in run_step.report_items] == [LAB, NOTES, JOIN]
    assert stored_record(clinical_dss, project_key)["run_id"] == variables["flow_orchestrator_run_id"]
    assert clinical_dss.job_starts(project_key) == 3


def test_report_items_dss_refuses_are_logged_and_never_fail_the_step(run_step, clinical_dss, project_key, caplog):
    import dataiku.scenario as scenario_double

    scenario_double.REFUSED_REPORT_ITEM_TYPES.add("FLOW_ORCHESTRATOR_RECIPE")
    try:
        run_step({"recipes": PIPELINE})
    finally:
        scenario_double.REFUSED_REPORT_ITEM_TYPES.clear()
    assert run_step.variables["flow_orchestrator_state"] == "SUCCESS"
    assert "did not accept the scenario report item" in caplog.text and "FLOW_ORCHESTRATOR_RECIPE" in caplog.text


def test_the_step_logs_through_the_library_logger_and_leaves_the_root_alone(run_step, clinical_dss, project_key):
    """DSS configured logging before the step runs: its root logger keeps its level and handlers."""
    root = logging.getLogger()
    handler = logging.NullHandler()
    saved = root.level, root.handlers[:], logging.getLogger("urllib3").level
    root.handlers[:] = [handler]  # as DSS leaves it: one handler, at DEBUG
    root.setLevel(logging.DEBUG)
    try:
        run_step({"recipes": [LAB]})
        assert root.handlers == [handler] and root.level == logging.DEBUG
        assert logging.getLogger("urllib3").getEffectiveLevel() == logging.WARNING
        assert logging.getLogger("flow_orchestrator").getEffectiveLevel() == logging.INFO
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]
        logging.getLogger("urllib3").setLevel(saved[2])


def test_a_failing_step_names_every_failed_recipe_and_its_cause(run_step, clinical_dss, project_key):
    clinical_dss.fail_recipe(project_key, LAB, "Division by zero in column value")
    clinical_dss.fail_recipe(project_key, NOTES, "Table CLINICAL_NOTES is locked")

    with pytest.raises(RecipesFailed) as caught:
        run_step({"recipes": PIPELINE, "parallel": True, "on_failure": "continue"})

    message = str(caught.value)
    assert f"{LAB} FAILED" in message and "Division by zero in column value" in message
    assert f"{NOTES} FAILED" in message and "Table CLINICAL_NOTES is locked" in message
    assert "1 skipped" in message and "flow_orchestrator.last_run.run-recipes" in message
    variables = run_step.variables  # set before the step fails
    assert variables["flow_orchestrator_state"] == "FAILED"
    assert variables["flow_orchestrator_failed_count"] == 2 and variables["flow_orchestrator_skipped_count"] == 1
    assert variables["flow_orchestrator_failed_recipes"] == f"{LAB}, {NOTES}"
    join_item = next(i for i in run_step.report_items if i["report_item"]["recipe"] == JOIN)
    assert join_item["report_item"]["state"] == "SKIPPED" and LAB in join_item["report_item"]["message"]


def test_the_step_runs_its_list_in_order_one_at_a_time_unless_parallel(run_step, clinical_dss, project_key):
    clinical_dss.fail_recipe(project_key, LAB, "boom")

    with pytest.raises(RecipesFailed):
        run_step({"recipes": [NOTES, LAB, JOIN], "parallel": False})  # fail fast by default

    record = stored_record(clinical_dss, project_key)
    assert [r["name"] for r in record["recipes"]] == [NOTES, LAB, JOIN]
    assert {r["name"]: r["state"] for r in record["recipes"]}[NOTES] == "SUCCESS"
    assert record["config"]["max_parallel"] == 1


def test_the_next_run_resumes_from_the_kept_record(run_step, clinical_dss, project_key):
    clinical_dss.fail_recipe(project_key, JOIN, "lock timeout", times=1)
    config = {"recipes": PIPELINE, "parallel": True, "record_name": "nightly"}
    with pytest.raises(RecipesFailed):
        run_step(config)
    first = stored_record(clinical_dss, project_key, "nightly")
    before = clinical_dss.job_starts(project_key)

    run_step(dict(config, resume_last_run=True))

    resumed = stored_record(clinical_dss, project_key, "nightly")
    assert resumed["resumed_from"] == first["run_id"] and resumed["state"] == "SUCCESS"
    assert [r["name"] for r in resumed["recipes"]] == [JOIN]
    assert clinical_dss.job_starts(project_key) - before == 1
    assert run_step.variables["flow_orchestrator_run_record_variable"] == "flow_orchestrator.last_run.nightly"


def test_presets_are_read_from_the_plugin_config_as_dss_resolves_them(run_step, clinical_dss, project_key):
    clinical_dss.fail_recipe(project_key, LAB, "boom")
    step_config = {"recipes": PIPELINE, "parallel": True, "pipeline_policy": {"mode": "PRESET", "name": "team"}}
    resolved = dict(step_config, pipeline_policy={"on_failure": "continue", "retries": 0})

    with pytest.raises(RecipesFailed):
        run_step(step_config, resolved=resolved)

    states = {r["name"]: r["state"] for r in stored_record(clinical_dss, project_key)["recipes"]}
    assert states == {LAB: "FAILED", NOTES: "SUCCESS", JOIN: "SKIPPED"}  # continued, as the policy says


@pytest.mark.parametrize(
    "config, error, words",
    [
        ({"recipes": [JOIN, LAB]}, SelectionError, JOIN),  # the list contradicts the Flow
        ({"recipes": [LAB, LAB]}, ConfigError, "more than once"),
        ({"recipes": ["nope"]}, SelectionError, "nope"),
    ],
)
def test_bad_step_input_fails_before_any_job(run_step, clinical_dss, project_key, config, error, words):
    with pytest.raises(error) as caught:
        run_step(config)
    assert words in str(caught.value)
    assert clinical_dss.job_starts(project_key) == 0


def test_a_contradicting_order_runs_in_flow_order_when_asked(run_step, clinical_dss, project_key):
    run_step({"recipes": [JOIN, LAB, NOTES], "reorder": True})

    record = stored_record(clinical_dss, project_key)
    assert record["state"] == "SUCCESS" and [r["name"] for r in record["recipes"]][-1] == JOIN
