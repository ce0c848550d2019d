"""Build modes choose different recipes; real rows come out; unbuilt inputs fail as in DSS."""

from __future__ import annotations

import json

import pytest
from dataikuapi.utils import DataikuException


def _build(project, mode, dataset):
    job = project.new_job(mode).with_output(dataset, object_type="DATASET").start_and_wait(no_fail=True)
    status = job.get_status()["baseStatus"]
    return status["state"], sorted(a["recipeName"] for a in status["activities"].values()), status


def test_unbuilt_input_fails_naming_it(fresh_project):
    state, recipes, status = _build(fresh_project, "NON_RECURSIVE_FORCED_BUILD", "ML_TRAINING_DATA")
    assert state == "FAILED" and recipes == ["join_ML_TRAINING_DATA"]
    failure = status["activities"]["join_ML_TRAINING_DATA_NP"]["firstFailure"]
    assert failure["errorType"] == "com.dataiku.dip.exceptions.DataStoreIOException"
    assert "CLINICAL.LAB_RESULTS_AGG" in failure["message"] and "never built" in failure["message"]


def test_build_modes_choose_what_to_rebuild(fresh_project):
    project = fresh_project
    # Nothing built yet: missing-only builds the whole chain.
    assert _build(project, "RECURSIVE_MISSING_ONLY_BUILD", "ML_TRAINING_DATA")[:2] == (
        "DONE",
        ["group_CLINICAL_NOTES_AGG", "group_LAB_RESULTS_AGG", "join_ML_TRAINING_DATA"],
    )
    # Everything up to date: smart and missing-only builds do nothing.
    assert _build(project, "RECURSIVE_BUILD", "ML_TRAINING_DATA")[:2] == ("DONE", [])
    assert _build(project, "RECURSIVE_MISSING_ONLY_BUILD", "ML_TRAINING_DATA")[:2] == ("DONE", [])
    # A recipe changed: the smart build reruns it and what depends on it, not the other branch.
    settings = project.get_recipe("group_LAB_RESULTS_AGG").get_settings()
    payload = json.loads(settings.get_payload())
    payload["values"][0]["sum"] = True
    settings.set_payload(json.dumps(payload))
    settings.save()
    state, recipes, status = _build(project, "RECURSIVE_BUILD", "ML_TRAINING_DATA")
    assert (state, recipes) == ("DONE", ["group_LAB_RESULTS_AGG", "join_ML_TRAINING_DATA"])
    assert status["activities"]["group_LAB_RESULTS_AGG_NP"]["requiredReason"]["type"] == "RECIPE_HAS_CHANGED"
    assert status["activities"]["join_ML_TRAINING_DATA_NP"]["requiredReason"]["type"] == "HAS_REQUIRED_DEPS"
    assert status["activities"]["join_ML_TRAINING_DATA_NP"]["dependencies"] == ["group_LAB_RESULTS_AGG_NP"]
    # A source changed: the smart build reruns its branch.
    source = project.get_dataset("CLINICAL_NOTES")
    settings = source.get_settings()
    settings.get_raw()["description"] = "re-imported"
    settings.save()
    state, recipes, status = _build(project, "RECURSIVE_BUILD", "ML_TRAINING_DATA")
    assert recipes == ["group_CLINICAL_NOTES_AGG", "join_ML_TRAINING_DATA"]
    assert status["activities"]["group_CLINICAL_NOTES_AGG_NP"]["requiredReason"] == {
        "type": "SOURCE_DATASET_HAS_CHANGED",
        "sourceFullName": "CLINICAL.CLINICAL_NOTES",
        "previousRecordTime": status["activities"]["group_CLINICAL_NOTES_AGG_NP"]["requiredReason"][
            "previousRecordTime"
        ],
    }
    # Forced builds ignore up-to-dateness.
    assert _build(project, "RECURSIVE_FORCED_BUILD", "ML_TRAINING_DATA")[1] == [
        "group_CLINICAL_NOTES_AGG",
        "group_LAB_RESULTS_AGG",
        "join_ML_TRAINING_DATA",
    ]
    assert _build(project, "NON_RECURSIVE_FORCED_BUILD", "ML_TRAINING_DATA")[1] == ["join_ML_TRAINING_DATA"]
    # A cleared dataset is missing again.
    project.get_dataset("LAB_RESULTS_AGG").clear()
    assert _build(project, "RECURSIVE_MISSING_ONLY_BUILD", "MODEL_SCORES")[1] == [
        "group_LAB_RESULTS_AGG",
        "train_MODEL_SCORES",
    ]


def test_real_rows_counts_and_values(fresh_project, build_all):
    build_all(fresh_project)
    lab = list(fresh_project.get_dataset("LAB_RESULTS").iter_rows())
    agg = {row[0]: row for row in fresh_project.get_dataset("LAB_RESULTS_AGG").iter_rows()}
    assert len(lab) == 300 and len(agg) == 80
    patient = lab[0][0]
    values = [r[3] for r in lab if r[0] == patient and r[3] is not None]
    columns = [c["name"] for c in fresh_project.get_dataset("LAB_RESULTS_AGG").get_schema()["columns"]]
    row = agg[patient]
    assert row[columns.index("value_min")] == min(values)
    assert row[columns.index("value_max")] == max(values)
    assert row[columns.index("count")] == sum(1 for r in lab if r[0] == patient)
    training = list(fresh_project.get_dataset("ML_TRAINING_DATA").iter_rows())
    assert len(training) == 80
    scores = list(fresh_project.get_dataset("MODEL_SCORES").iter_rows())
    assert len(scores) == 80 and all(0.0 <= s[1] <= 1.0 for s in scores)
    info = fresh_project.get_dataset("MODEL_SCORES").get_info()
    assert info.last_build_start_time is not None and info.last_build_end_time >= info.last_build_start_time


def test_reading_an_unbuilt_dataset_fails(fresh_project):
    with pytest.raises(DataikuException, match="DataStoreIOException: Root path of the dataset CLINICAL.ML_TRAINING"):
        list(fresh_project.get_dataset("ML_TRAINING_DATA").iter_rows())


def test_job_status_shape(project):
    job = project.get_recipe("join_ML_TRAINING_DATA").run(job_type="RECURSIVE_FORCED_BUILD")
    status = job.get_status()
    base = status["baseStatus"]
    assert base["def"]["id"] == job.id and base["def"]["triggeredFrom"] == "API"
    assert base["jobEndTime"] >= base["jobStartTime"] > 0
    activity = base["activities"]["join_ML_TRAINING_DATA_NP"]
    assert activity["recipeType"] == "join" and activity["state"] == "DONE"
    assert activity["targets"][0]["id"] == "CLINICAL.ML_TRAINING_DATA"
    assert activity["targets"][0]["partition"] == {"id": "NP"} and activity["targets"][0]["records"] == 80
    assert "firstFailure" not in activity
    assert status["globalState"] == {
        "notStarted": 0,
        "running": 0,
        "done": 3,
        "failed": 0,
        "aborted": 0,
        "waiting": 0,
        "skipped": 0,
        "total": 3,
    }


def test_python_recipe_config_error_gives_traceback(fresh_dss, fresh_project, build_all):
    build_all(fresh_project)
    dataset = fresh_project.get_dataset("ML_TRAINING_DATA")
    schema = dataset.get_schema()
    schema["columns"] = [c for c in schema["columns"] if c["name"] != "note_count"]
    dataset.set_schema(schema)
    job = fresh_project.get_recipe("train_MODEL_SCORES").run(no_fail=True)
    failure = job.get_status()["baseStatus"]["activities"]["train_MODEL_SCORES_NP"]["firstFailure"]
    assert failure["message"].startswith("Error in Python process: At line ")
    assert "KeyError" in failure["message"] and "note_count" in failure["message"]
    log = job.get_log()
    assert (
        log.index("Begin Python stack")
        < log.index("Traceback (most recent call last):")
        < log.index("End Python stack")
    )


def test_a_job_of_two_outputs_orders_them_through_a_recipe_it_does_not_run(fresh_project, build_all):
    """group_LAB_RESULTS_AGG -> join_ML_TRAINING_DATA (not in the job) -> train_MODEL_SCORES: train waits for group."""
    build_all(fresh_project)
    job = fresh_project.new_job("NON_RECURSIVE_FORCED_BUILD")
    job.with_output("MODEL_SCORES", object_type="DATASET").with_output("LAB_RESULTS_AGG", object_type="DATASET")
    status = job.start_and_wait(no_fail=True).get_status()["baseStatus"]
    activities = status["activities"]
    assert status["state"] == "DONE"
    assert list(activities) == ["group_LAB_RESULTS_AGG_NP", "train_MODEL_SCORES_NP"]
    assert activities["train_MODEL_SCORES_NP"]["dependencies"] == ["group_LAB_RESULTS_AGG_NP"]
    assert activities["train_MODEL_SCORES_NP"]["startTime"] >= activities["group_LAB_RESULTS_AGG_NP"]["endTime"]


def test_job_dependencies_follow_a_changed_flow(fresh_project, build_all):
    """After the Flow's links change, a job's dependencies are the new Flow's (nothing is kept from earlier jobs)."""
    build_all(fresh_project)  # jobs ran on the Flow as loaded
    # group_CLINICAL_NOTES_AGG -> group_LAB_RESULTS_AGG -> join_ML_TRAINING_DATA -> train_MODEL_SCORES, one chain.
    join = fresh_project.get_recipe("join_ML_TRAINING_DATA").get_settings()
    main = join.get_recipe_inputs()["main"]
    main["items"] = [item for item in main["items"] if item["ref"] == "LAB_RESULTS_AGG"]
    join.save()
    group = fresh_project.get_recipe("group_LAB_RESULTS_AGG").get_settings()
    group.add_input("main", "CLINICAL_NOTES_AGG")
    group.save()
    job = fresh_project.new_job("NON_RECURSIVE_FORCED_BUILD")
    job.with_output("MODEL_SCORES", object_type="DATASET").with_output("CLINICAL_NOTES_AGG", object_type="DATASET")
    status = job.start_and_wait(no_fail=True).get_status()["baseStatus"]
    activities = status["activities"]
    assert list(activities) == ["group_CLINICAL_NOTES_AGG_NP", "train_MODEL_SCORES_NP"]
    assert activities["train_MODEL_SCORES_NP"]["dependencies"] == ["group_CLINICAL_NOTES_AGG_NP"]
