"""Schema propagation through the real client: auto-rebuild, stop_at, mark_recipe_as_ok, failures naming the recipe."""

from __future__ import annotations

import inspect
import json

import pytest
from dataikuapi.utils import DataikuException


def _add_value_sum(project):
    """Enable ``sum`` on ``value`` in the LAB_RESULTS grouping: its output gains a ``value_sum`` column."""
    settings = project.get_recipe("group_LAB_RESULTS_AGG").get_settings()
    payload = json.loads(settings.get_payload())
    for value in payload["values"]:
        if value["column"] == "value":
            value["sum"] = True
    settings.set_payload(json.dumps(payload))
    settings.save()


def _columns(project, name):
    return [c["name"] for c in project.get_dataset(name).get_schema()["columns"]]


def test_propagation_with_auto_rebuild_updates_schema_and_rebuilds(fresh_dss, fresh_project, build_all):
    build_all(fresh_project)
    _add_value_sum(fresh_project)
    starts_before = fresh_dss.job_starts("CLINICAL")
    propagation = fresh_project.get_flow().new_schema_propagation("LAB_RESULTS")
    propagation.set_auto_rebuild(True)
    result = propagation.start().wait_for_result()
    changed = {c["name"]: c for c in result["updatedDatasets"]}
    assert list(changed) == ["LAB_RESULTS_AGG"]
    assert changed["LAB_RESULTS_AGG"]["addedColumns"] == ["value_sum"]
    assert changed["LAB_RESULTS_AGG"]["recipe"] == "group_LAB_RESULTS_AGG"
    assert "value_sum" in _columns(fresh_project, "LAB_RESULTS_AGG")
    assert result["rebuiltDatasets"] == ["LAB_RESULTS_AGG", "ML_TRAINING_DATA", "MODEL_SCORES"]
    assert fresh_dss.job_starts("CLINICAL") == starts_before + 3
    dataset = fresh_project.get_dataset("LAB_RESULTS_AGG")
    if "columns" in inspect.signature(dataset.iter_rows).parameters:
        rows = list(dataset.iter_rows(columns=["value_sum"]))
    else:  # client 12.0 reads every column
        position = _columns(fresh_project, "LAB_RESULTS_AGG").index("value_sum")
        rows = [[row[position]] for row in dataset.iter_rows()]
    assert len(rows) == 80
    assert all(r[0] is None or isinstance(r[0], float) for r in rows)
    assert sum(1 for r in rows if r[0]) > 70


def test_propagation_without_auto_rebuild_starts_no_job(fresh_dss, fresh_project):
    _add_value_sum(fresh_project)
    propagation = fresh_project.get_flow().new_schema_propagation("LAB_RESULTS")
    assert propagation.set_auto_rebuild(False) is None  # the client's setters are not chainable
    result = propagation.start().wait_for_result()
    assert [c["name"] for c in result["updatedDatasets"]] == ["LAB_RESULTS_AGG"]
    assert result["rebuiltDatasets"] == []
    assert fresh_dss.job_starts("CLINICAL") == 0


def test_stop_at_does_not_go_past_the_recipe(fresh_project):
    _add_value_sum(fresh_project)
    propagation = fresh_project.get_flow().new_schema_propagation("LAB_RESULTS")
    propagation.set_auto_rebuild(False)
    propagation.stop_at("join_ML_TRAINING_DATA")
    result = propagation.start().wait_for_result()
    assert result["visitedRecipes"] == ["group_LAB_RESULTS_AGG"]
    assert result["excludedRecipes"] == ["join_ML_TRAINING_DATA"]


def test_mark_recipe_as_ok_keeps_its_outputs(fresh_project):
    _add_value_sum(fresh_project)
    propagation = fresh_project.get_flow().new_schema_propagation("LAB_RESULTS")
    propagation.set_auto_rebuild(False)
    propagation.mark_recipe_as_ok("group_LAB_RESULTS_AGG")
    result = propagation.start().wait_for_result()
    assert result["markedAsOkRecipes"] == ["group_LAB_RESULTS_AGG"]
    assert result["updatedDatasets"] == []
    assert "value_sum" not in _columns(fresh_project, "LAB_RESULTS_AGG")
    assert "join_ML_TRAINING_DATA" in result["visitedRecipes"]


def test_source_schema_change_breaks_propagation_naming_the_recipe(fresh_project):
    dataset = fresh_project.get_dataset("LAB_RESULTS")
    schema = dataset.get_schema()
    for column in schema["columns"]:
        if column["name"] == "value":
            column["name"] = "result_value"
    assert "msg" in dataset.set_schema(schema)
    propagation = fresh_project.get_flow().new_schema_propagation("LAB_RESULTS")
    propagation.set_auto_rebuild(False)
    future = propagation.start()
    with pytest.raises(DataikuException) as raised:
        future.wait_for_result()
    message = str(raised.value)
    assert message.startswith("com.dataiku.dip.exceptions.CodedException: ")
    assert "group_LAB_RESULTS_AGG" in message and "value" in message


def test_recipe_schema_update_and_apply(fresh_project):
    _add_value_sum(fresh_project)
    update = fresh_project.get_recipe("group_LAB_RESULTS_AGG").compute_schema_updates()
    assert update.any_action_required()
    update.apply()
    assert "value_sum" in _columns(fresh_project, "LAB_RESULTS_AGG")
    assert not fresh_project.get_recipe("group_LAB_RESULTS_AGG").compute_schema_updates().any_action_required()
