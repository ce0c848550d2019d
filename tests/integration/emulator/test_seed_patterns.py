"""Every pattern of the seed (flow-management-patterns.txt), written out, run with the real client."""

from __future__ import annotations

import pytest
from dataikuapi.dss.job import DSSJob
from dataikuapi.utils import DataikuException

PIPELINE = ["group_LAB_RESULTS_AGG", "group_CLINICAL_NOTES_AGG", "join_ML_TRAINING_DATA"]


def test_build_a_single_dataset(project):
    recipe = project.get_recipe("group_LAB_RESULTS_AGG")
    job = recipe.run(job_type="NON_RECURSIVE_FORCED_BUILD", partitions=None, wait=True, no_fail=False)
    state = job.get_status()["baseStatus"]["state"]
    assert state == "DONE"


def test_build_multiple_datasets_in_dependency_order(fresh_project, build_recipe):
    results = [build_recipe(fresh_project, name) for name in PIPELINE]
    assert results == [(True, []), (True, []), (True, [])]
    assert fresh_project.get_dataset("ML_TRAINING_DATA").get_info().get_raw()["lastBuild"]["buildSuccess"] is True


def test_pipeline_stops_with_first_failure_message(dss, project, build_recipe):
    dss.fail_recipe("CLINICAL", "group_CLINICAL_NOTES_AGG", "Column 'department' is full of nulls")
    outcome = []
    for recipe_name in PIPELINE:
        success, errors = build_recipe(project, recipe_name)
        outcome.append((recipe_name, success))
        if not success:
            assert errors == ["Column 'department' is full of nulls"]
            break
    assert outcome == [("group_LAB_RESULTS_AGG", True), ("group_CLINICAL_NOTES_AGG", False)]


def test_failed_run_raises_without_no_fail(dss, project):
    dss.fail_recipe("CLINICAL", "join_ML_TRAINING_DATA", "join exploded")
    with pytest.raises(DataikuException, match="Job run did not finish. Status: FAILED"):
        project.get_recipe("join_ML_TRAINING_DATA").run()


def test_build_independent_recipes_then_the_join(project):
    job1 = project.get_recipe("group_LAB_RESULTS_AGG").run(no_fail=True)
    job2 = project.get_recipe("group_CLINICAL_NOTES_AGG").run(no_fail=True)
    job3 = project.get_recipe("join_ML_TRAINING_DATA").run(no_fail=True)
    assert [j.get_status()["baseStatus"]["state"] for j in (job1, job2, job3)] == ["DONE", "DONE", "DONE"]


def test_check_what_exists_before_creating(project):
    existing_datasets = [d.get("name") for d in project.list_datasets()]
    existing_recipes = [r.get("name") for r in project.list_recipes()]
    assert existing_datasets == [
        "LAB_RESULTS",
        "CLINICAL_NOTES",
        "LAB_RESULTS_AGG",
        "CLINICAL_NOTES_AGG",
        "ML_TRAINING_DATA",
        "MODEL_SCORES",
    ]
    assert existing_recipes == PIPELINE + ["train_MODEL_SCORES"]
    assert "MY_OUTPUT" not in existing_datasets


def test_verify_pipeline_results_schema(project, build_all):
    build_all(project)
    ds = project.get_dataset("ML_TRAINING_DATA")
    schema = ds.get_settings().get_raw().get("schema", {}).get("columns", [])
    assert [(c["name"], c.get("type", "unknown")) for c in schema] == [
        ("patient_id", "string"),
        ("value_min", "double"),
        ("value_max", "double"),
        ("value_avg", "double"),
        ("test_name_distinct", "bigint"),
        ("lab_count", "bigint"),
        ("last_test_date", "date"),
        ("last_note_date", "date"),
        ("department_distinct", "bigint"),
        ("note_count", "bigint"),
    ]


def test_handling_failures_mid_pipeline_reads_latest_job_log(dss, project, build_recipe):
    dss.fail_recipe("CLINICAL", "train_MODEL_SCORES", "model weights are missing", times=1)
    for recipe_name in PIPELINE + ["train_MODEL_SCORES"]:
        success, _ = build_recipe(project, recipe_name)
        if not success:
            jobs = project.list_jobs()
            job = project.get_job(jobs[0]["def"]["id"])
            log = job.get_log()[-2000:]
            break
    else:
        pytest.fail("the injected failure did not happen")
    assert recipe_name == "train_MODEL_SCORES"
    assert jobs[0]["def"]["id"].startswith("build_MODEL_SCORES_NP_")
    assert "Begin Python stack" in log and "End Python stack" in log
    assert "Exception: model weights are missing" in log
    assert "[ERROR] [dku.flow.activity] act.train_MODEL_SCORES_NP - Activity failed" in log
    # times=1: the next run succeeds.
    assert build_recipe(project, "train_MODEL_SCORES") == (True, [])


def test_recursive_forced_build_with_start_and_wait_no_fail(project):
    job = project.new_job("RECURSIVE_FORCED_BUILD")
    job.with_output("ML_TRAINING_DATA", object_type="DATASET")
    result = job.start_and_wait(no_fail=True)
    assert isinstance(result, DSSJob)
    status = result.get_status()
    assert status["baseStatus"]["state"] == "DONE"
    assert sorted(status["baseStatus"]["activities"]) == [
        "group_CLINICAL_NOTES_AGG_NP",
        "group_LAB_RESULTS_AGG_NP",
        "join_ML_TRAINING_DATA_NP",
    ]


def test_start_and_wait_no_fail_returns_failed_job(dss, project):
    dss.fail_recipe("CLINICAL", "group_LAB_RESULTS_AGG", "disk full", error_type="java.io.IOException")
    job = project.new_job("NON_RECURSIVE_FORCED_BUILD").with_output("LAB_RESULTS_AGG", object_type="DATASET")
    result = job.start_and_wait(no_fail=True)
    status = result.get_status()
    assert status["baseStatus"]["state"] == "FAILED"
    failure = status["baseStatus"]["activities"]["group_LAB_RESULTS_AGG_NP"]["firstFailure"]
    assert failure["errorType"] == "java.io.IOException" and failure["message"] == "disk full"


def test_new_job_with_two_outputs(project):
    job = project.new_job("NON_RECURSIVE_FORCED_BUILD")
    job.with_output("LAB_RESULTS_AGG", object_type="DATASET")
    job.with_output("CLINICAL_NOTES_AGG", object_type="DATASET")
    started = job.start_and_wait()
    status = started.get_status()
    assert status["baseStatus"]["state"] == "DONE"
    assert set(status["baseStatus"]["activities"]) == {"group_LAB_RESULTS_AGG_NP", "group_CLINICAL_NOTES_AGG_NP"}
    assert [o["targetDataset"] for o in status["baseStatus"]["def"]["outputs"]] == [
        "LAB_RESULTS_AGG",
        "CLINICAL_NOTES_AGG",
    ]
    assert status["globalState"]["done"] == 2 and status["globalState"]["total"] == 2


def test_schema_propagation_basic(project):
    flow = project.get_flow()
    propagation = flow.new_schema_propagation("LAB_RESULTS")
    future = propagation.start()
    result = future.wait_for_result()
    assert result["success"] is True
    assert result["visitedRecipes"][0] == "group_LAB_RESULTS_AGG"
