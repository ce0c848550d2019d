"""The real-DSS test mode (issue 7 item 4): target selection, the test Flow's creation and clean-up, and an end-to-end
build through the command line on whichever target ``dss_target`` is.

The creation code is exercised against the emulator with the real ``dataikuapi`` client, uploads of the source rows
included; ``make integration-tests DSS_URL=...`` runs the same code on a real instance.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from dss_targets import DSSTarget, real_dss_settings
from real_dss_setup import (
    DERIVED_DATASETS,
    LAB_COLUMNS,
    LAB_ROWS,
    NOTES_COLUMNS,
    NOTES_ROWS,
    RECIPES,
    SOURCE_DATASETS,
    TEST_TAG,
    ClinicalTestFlow,
    check_prefix,
    create_clinical_test_flow,
    create_recipes,
    csv_bytes,
    delete_test_objects,
    describe_layout,
    expected_layout,
)

ROOT = Path(__file__).resolve().parents[2]
SETUP_PROJECT = "FO_SETUP"
CLINICAL_RECIPES = list(RECIPES)


# ------------------------------------------------------------------------------------------- target selection


def test_no_variables_means_the_emulator():
    assert real_dss_settings({}) is None


def test_all_variables_select_the_real_instance_without_showing_the_key():
    settings = real_dss_settings(
        {
            "DSS_URL": "https://user:pw@dss.example.com:11200/",
            "DSS_API_KEY": "s3cr3t-key",
            "DSS_PROJECT": "ORCH_TESTS",
            "DSS_VERIFY_TLS": "0",
        }
    )
    assert (settings.url, settings.project_key, settings.verify_tls) == (
        "https://user:pw@dss.example.com:11200",
        "ORCH_TESTS",
        False,
    )
    assert settings.connection == "filesystem_managed"
    assert settings.display_url == "https://dss.example.com:11200"
    assert "s3cr3t-key" not in repr(settings)


@pytest.mark.parametrize(
    ("environ", "missing"),
    [
        ({"DSS_URL": "https://dss.example.com"}, "DSS_API_KEY, DSS_PROJECT are not set"),
        ({"DSS_URL": "https://dss.example.com", "DSS_API_KEY": "k"}, "DSS_PROJECT is not set"),
        ({"DSS_API_KEY": "k", "DSS_PROJECT": "P"}, "DSS_URL is not set"),
    ],
)
def test_half_set_variables_are_a_usage_error_naming_what_is_missing(environ, missing):
    with pytest.raises(pytest.UsageError, match=missing):
        real_dss_settings(environ)


def test_a_url_without_scheme_is_refused():
    with pytest.raises(pytest.UsageError, match="is not a URL"):
        real_dss_settings({"DSS_URL": "dss.example.com", "DSS_API_KEY": "k", "DSS_PROJECT": "P"})


def test_target_repr_hides_the_key():
    target = DSSTarget("https://dss.example.com", "s3cr3t-key", "P", ClinicalTestFlow())
    assert target.is_real
    assert "s3cr3t-key" not in repr(target)


@pytest.mark.parametrize("prefix", ["", "FO", "FO_TEST", "_X_", "FO-TEST_", "A B_"])
def test_prefixes_that_could_match_foreign_objects_are_refused(prefix):
    with pytest.raises(ValueError, match="not allowed"):
        check_prefix(prefix)


def test_names_follow_the_clinical_flow():
    flow = ClinicalTestFlow("FO_TEST_")
    assert flow.name("LAB_RESULTS") == "FO_TEST_LAB_RESULTS"
    assert flow.recipes[0] == "FO_TEST_group_LAB_RESULTS_AGG"
    with pytest.raises(KeyError, match="not an object of the clinical Flow"):
        flow.name("ORDERS")


def test_source_rows_are_csv_with_header_and_lowercase_booleans():
    text = csv_bytes(LAB_COLUMNS, [("P1", "glucose", 5.5, True), ("P2", "hba1c, high", 7.0, False)]).decode()
    assert text.splitlines() == [
        "patient_id,test_name,value,abnormal",
        "P1,glucose,5.5,true",
        'P2,"hba1c, high",7.0,false',
    ]


# ------------------------------------------------------------------------------------------- creation on the emulator


@pytest.fixture
def setup_project():
    """An empty project on a fresh emulator, plus one object the clean-up must leave alone."""
    from dss_emulator import EmulatedDSS

    with EmulatedDSS.start() as emulator:
        client = emulator.client()
        project = client.create_project(SETUP_PROJECT, "Setup tests", "admin")
        project.new_managed_dataset("KEEP_ME").with_store_into("filesystem_managed").create()
        yield project


def _sources_without_upload(project, flow):
    """Source datasets with their schemas, created without the uploaded-files endpoints."""
    for name, columns in zip(SOURCE_DATASETS, (LAB_COLUMNS, NOTES_COLUMNS)):
        project.new_managed_dataset(flow.name(name)).with_store_into("filesystem_managed").create()
        project.get_dataset(flow.name(name)).set_schema({"columns": [{"name": n, "type": t} for n, t in columns]})


def test_recipes_are_created_with_their_layout_payloads_and_tags(setup_project):
    flow = ClinicalTestFlow("FO_TEST_")
    _sources_without_upload(setup_project, flow)
    create_recipes(setup_project, flow)

    assert describe_layout(setup_project, flow) == expected_layout(flow)
    names = {d["name"] for d in setup_project.list_datasets()}
    assert set(flow.datasets) <= names
    for recipe in setup_project.list_recipes():
        if recipe["name"].startswith(flow.prefix):
            assert TEST_TAG in recipe.get("tags", []), recipe["name"]
    # The payloads are in DSS's format: the emulator derived the output schemas from them.
    lab_agg = [c["name"] for c in setup_project.get_dataset(flow.name("LAB_RESULTS_AGG")).get_schema()["columns"]]
    assert lab_agg == ["patient_id", "value_min", "value_max", "value_avg", "test_name_distinct", "count"]
    training = [c["name"] for c in setup_project.get_dataset(flow.name("ML_TRAINING_DATA")).get_schema()["columns"]]
    assert training == [
        "patient_id",
        "value_min",
        "value_max",
        "value_avg",
        "test_name_distinct",
        "lab_count",
        "department_distinct",
        "note_count",
    ]


def test_clean_up_deletes_only_the_prefixed_objects(setup_project):
    flow = ClinicalTestFlow("FO_TEST_")
    _sources_without_upload(setup_project, flow)
    create_recipes(setup_project, flow)
    left_over = setup_project.get_flow().create_zone("FO_TEST_left over")  # a killed zone test leaves one
    left_over.add_item(setup_project.get_recipe(flow.name("train_MODEL_SCORES")))
    kept = setup_project.get_flow().create_zone("Team zone")

    deleted = delete_test_objects(setup_project, "FO_TEST_")

    assert sorted(deleted) == sorted(flow.recipes + flow.datasets + ["FO_TEST_left over"])
    assert [d["name"] for d in setup_project.list_datasets()] == ["KEEP_ME"]
    assert setup_project.list_recipes() == []
    assert [z.name for z in setup_project.get_flow().list_zones()] == ["Default", kept.name]
    assert delete_test_objects(setup_project, "FO_TEST_") == []


def test_full_creation_with_uploaded_sources(setup_project):
    flow = create_clinical_test_flow(setup_project, "FO_TEST_")
    assert describe_layout(setup_project, flow) == expected_layout(flow)

    # The sources hold the uploaded rows, typed by the schema the set-up saved over the detected one.
    lab = setup_project.get_dataset(flow.name("LAB_RESULTS"))
    assert [f["name"] for f in lab.uploaded_list_files()] == ["fo_test_lab_results.csv"]
    assert lab.get_settings().get_raw()["formatType"] == "csv"
    assert [tuple(row) for row in lab.iter_rows()] == list(LAB_ROWS)
    assert len(list(setup_project.get_dataset(flow.name("CLINICAL_NOTES")).iter_rows())) == len(NOTES_ROWS)
    # ... and the Flow built on them computes real rows, one score per patient.
    for recipe in flow.recipes:
        job = setup_project.get_recipe(recipe).run(no_fail=True)
        assert job.get_status()["baseStatus"]["state"] == "DONE", recipe
    scores = list(setup_project.get_dataset(flow.name("MODEL_SCORES")).iter_rows())
    assert sorted(row[0] for row in scores) == ["P001", "P002", "P003", "P004"]

    deleted = delete_test_objects(setup_project, "FO_TEST_")
    assert sorted(deleted) == sorted(flow.recipes + flow.datasets)
    assert [d["name"] for d in setup_project.list_datasets()] == ["KEEP_ME"]


# ------------------------------------------------------------------------------------------- on the target


def _cli(target: DSSTarget, *args: str) -> subprocess.CompletedProcess:
    """The command line a CI job would run; the key goes through the environment, as the README advises."""
    env = dict(
        os.environ,
        DSS_URL=target.url,
        DSS_API_KEY=target.api_key,
        DSS_PROJECT=target.project_key,
        PYTHONPATH=str(ROOT / "python-lib"),
    )
    if not target.verify_tls:
        args = (*args, "--no-verify-tls")
    return subprocess.run(
        [sys.executable, "-m", "flow_orchestrator", *args], env=env, capture_output=True, text=True, timeout=600
    )


def test_target_holds_the_clinical_flow(dss_target):
    project = dss_target.project()
    recipes = {r["name"] for r in project.list_recipes()}
    datasets = {d["name"] for d in project.list_datasets()}
    assert {dss_target.name(r) for r in RECIPES} <= recipes
    assert {dss_target.name(d) for d in SOURCE_DATASETS + DERIVED_DATASETS} <= datasets


def test_cli_builds_the_clinical_pipeline_on_the_target(dss_target, tmp_path):
    record_path = tmp_path / "record.json"
    recipes = [dss_target.name(r) for r in CLINICAL_RECIPES]
    result = _cli(dss_target, "build", "--recipes", *recipes, "--quiet", "--json", str(record_path))

    assert result.returncode == 0, result.stdout + result.stderr
    assert dss_target.api_key not in result.stdout + result.stderr + record_path.read_text(encoding="utf-8")
    record = json.loads(record_path.read_text(encoding="utf-8"))
    assert record["state"] == "SUCCESS"
    scores = list(dss_target.project().get_dataset(dss_target.name("MODEL_SCORES")).iter_rows())
    assert len(scores) >= 4


@pytest.mark.emulator_only
def test_cli_names_the_failed_recipe_and_its_cause(dss_target):
    recipe = dss_target.name("join_ML_TRAINING_DATA")
    dss_target.emulator.fail_recipe(dss_target.project_key, recipe, "Out of memory in join")
    try:
        result = _cli(dss_target, "build", "--recipes", dss_target.name("group_LAB_RESULTS_AGG"), recipe, "--quiet")
    finally:
        dss_target.emulator.clear_faults()
    assert result.returncode == 1, result.stdout + result.stderr
    assert recipe in result.stdout and "Out of memory in join" in result.stdout
