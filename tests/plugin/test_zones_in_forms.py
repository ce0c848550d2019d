"""The "Flow zones" field of the Build pipeline macro and the Run recipes step, its dynamic choices, and zone:
selections, on the emulated clinical Flow (zones "Lab results", "Clinical notes", "Machine learning")."""

from __future__ import annotations

import json

import pytest
from flow_orchestrator.errors import SelectionError

from dss_emulator.zones import zone_id_for
from tests.reliability.harness import emulator_jobs

LAB, NOTES, JOIN, TRAIN = (
    "group_LAB_RESULTS_AGG",
    "group_CLINICAL_NOTES_AGG",
    "join_ML_TRAINING_DATA",
    "train_MODEL_SCORES",
)
LAB_ZONE = zone_id_for("CLINICAL", "Lab results")
ML_ZONE = zone_id_for("CLINICAL", "Machine learning")


def ran_recipes(dss, project_key):
    """Recipes the emulator ran, from its own job list (not from our record)."""
    return sorted(a[0] for job in emulator_jobs(dss, project_key).values() for a in job.activities)


def last_record(dss, project_key, variable):
    return json.loads(dss.client().get_project(project_key).get_variables()["local"][variable])


def test_zone_choices_list_every_zone_with_its_recipe_count(dss_env, choices_do):
    payload = {"parameterType": "MULTISELECT", "parameterName": "zones", "customChoices": [], "rootModel": {}}
    choices = choices_do(payload, {}, {}, [])["choices"]
    assert choices == [
        {"value": "default", "label": "Default (0 recipes)"},
        {"value": LAB_ZONE, "label": "Lab results (1 recipe)"},
        {"value": zone_id_for("CLINICAL", "Clinical notes"), "label": "Clinical notes (1 recipe)"},
        {"value": ML_ZONE, "label": "Machine learning (2 recipes)"},
    ]


def test_the_macro_runs_the_recipes_of_the_chosen_zones(run_macro, clinical_dss, project_key):
    run_macro({"zones": [LAB_ZONE]})
    assert ran_recipes(clinical_dss, project_key) == [LAB]
    record = last_record(clinical_dss, project_key, "flow_orchestrator.last_run.build-pipeline")
    assert record["config"]["zones"] == [LAB_ZONE]
    assert [z["name"] for z in record["plan"]["zones"]] == ["Lab results"]


def test_the_macro_report_groups_recipes_by_zone(run_macro, clinical_dss, project_key):
    run = run_macro({"zones": [LAB_ZONE], "select": "+zone:machine_learning"})
    assert ran_recipes(clinical_dss, project_key) == sorted([LAB, NOTES, JOIN, TRAIN])
    assert "Zone Lab results · 1 recipe · 1 SUCCESS" in run.result
    assert "Zone Machine learning · 2 recipes · 2 SUCCESS" in run.result


def test_a_dry_run_of_a_zone_with_its_upstream_shows_the_zones(run_macro, clinical_dss, project_key):
    run = run_macro({"select": '+zone:"Machine learning"', "dry_run": True})
    assert ran_recipes(clinical_dss, project_key) == []
    assert "By Flow zone" in run.result
    for name in ("Lab results", "Clinical notes", "Machine learning"):
        assert f'data-zone="{name}"' in run.result


def test_a_zone_that_no_longer_exists_is_refused_before_any_job(run_macro, clinical_dss, project_key):
    with pytest.raises(SelectionError) as caught:
        run_macro({"zones": ["zGone00"]})
    assert caught.value.problems[0][0] == "zones"
    assert "'zGone00' is not a Flow zone of the project" in caught.value.problems[0][1]
    assert clinical_dss.job_starts(project_key) == 0


def test_the_step_runs_its_list_and_its_zones(run_step, clinical_dss, project_key):
    run_step({"recipes": [NOTES, JOIN], "zones": [LAB_ZONE], "parallel": True})
    assert ran_recipes(clinical_dss, project_key) == sorted([LAB, NOTES, JOIN])
    record = last_record(clinical_dss, project_key, "flow_orchestrator.last_run.run-recipes")
    assert [r["name"] for r in record["recipes"]] == [LAB, NOTES, JOIN]  # the zone's recipe first: JOIN needs it
    assert run_step.variables["flow_orchestrator_success_count"] == 3


def test_a_zone_created_through_the_api_is_offered_and_selectable(run_macro, clinical_dss, project_key):
    project = clinical_dss.client().get_project(project_key)
    reporting = project.get_flow().create_zone("Reporting")
    reporting.add_item(project.get_dataset("CLINICAL_NOTES_AGG"))  # moves its recipe along
    run_macro({"select": "zone:Reporting"})
    assert ran_recipes(clinical_dss, project_key) == [NOTES]
