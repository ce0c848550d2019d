"""Computed output schemas agree with what execution writes, for every example flow and generated flows."""

from __future__ import annotations

import os

import pytest

from dss_emulator.execution.executors import execute_recipe
from dss_emulator.execution.schemas import SchemaComputationError, output_schemas
from dss_emulator.flowfile import generate_flow, load_flow, recipe_order

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "examples", "flows")
EXAMPLE_FILES = sorted(name for name in os.listdir(EXAMPLES) if name.endswith(".json"))


def build_everything(flow):
    """Run every recipe in dependency order; return {dataset: (columns, rows)} and the schemas computed on the way."""
    data = {d["name"]: (d["schema"], d["rows"]) for d in flow["datasets"] if d["rows"] is not None}
    for d in flow["datasets"]:  # a partitioned source: every partition's rows
        if d.get("partitions"):
            data[d["name"]] = (d["schema"], [row for rows in d["partitions"].values() for row in rows])
    recipes = {recipe["name"]: recipe for recipe in flow["recipes"]}
    computed = {}
    for name in recipe_order(flow):
        recipe = recipes[name]
        inputs = {ref: data[ref] for ref in recipe["inputs"] if ref in data}
        computed.update(output_schemas(recipe, {ref: columns for ref, (columns, _) in inputs.items()}))
        data.update(execute_recipe(recipe, inputs))
    return data, computed


def test_every_example_flow_is_listed():
    assert {"clinical.json", "clean_transform.json", "etl_warehouse.json"} <= set(EXAMPLE_FILES)


@pytest.mark.parametrize("file_name", EXAMPLE_FILES)
def test_example_flow_schemas_agree_with_execution(file_name):
    flow = load_flow(os.path.join(EXAMPLES, file_name))
    declared = {d["name"]: d["schema"] for d in flow["datasets"]}
    data, computed = build_everything(flow)
    for name, columns in computed.items():
        assert data[name][0] == columns, name
        assert declared[name] == columns, name  # examples declare (or let the loader compute) the right schema
        assert all(len(row) == len(columns) for row in data[name][1])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_generated_flow_schemas_agree_with_execution(seed):
    flow = load_flow(generate_flow(40, width=5, seed=seed))
    declared = {d["name"]: d["schema"] for d in flow["datasets"]}
    data, computed = build_everything(flow)
    assert set(computed) == {r["outputs"][0] for r in flow["recipes"]}
    for name, columns in computed.items():
        assert data[name][0] == columns == declared[name]


def test_clinical_training_data_rows_and_schema():
    flow = load_flow(os.path.join(EXAMPLES, "clinical.json"))
    data, _ = build_everything(flow)
    columns, rows = data["ML_TRAINING_DATA"]
    assert [c["name"] for c in columns] == [
        "patient_id",
        "value_min",
        "value_max",
        "value_avg",
        "test_name_distinct",
        "lab_count",
        "last_test_date",
        "last_note_date",
        "department_distinct",
        "note_count",
    ]
    lab_patients = {row[0] for row in data["LAB_RESULTS"][1]}
    assert len(rows) == len(lab_patients) == len(data["LAB_RESULTS_AGG"][1])
    assert sum(row[5] for row in rows) == 300
    scores = data["MODEL_SCORES"]
    assert [c["name"] for c in scores[0]] == ["patient_id", "score", "high_risk"]
    assert len(scores[1]) == len(rows)


def test_schema_error_names_recipe_column_and_input():
    recipe = {
        "name": "join_ML_TRAINING_DATA",
        "type": "join",
        "inputs": ["A", "B"],
        "outputs": ["OUT"],
        "payload": {
            "joins": [
                {
                    "table1": 0,
                    "table2": 1,
                    "type": "LEFT",
                    "on": [
                        {"column1": {"name": "patient_id", "table": 0}, "column2": {"name": "patient_id", "table": 1}}
                    ],
                }
            ]
        },
    }
    schemas = {"A": [{"name": "patient_id", "type": "string"}], "B": [{"name": "pid", "type": "string"}]}
    with pytest.raises(SchemaComputationError) as caught:
        output_schemas(recipe, schemas)
    error = caught.value
    assert error.recipe == "join_ML_TRAINING_DATA"
    assert error.column == "patient_id" and error.input_name == "B (table 1)"
    assert "Column 'patient_id' not found in input dataset B (table 1) of recipe join_ML_TRAINING_DATA" in error.message


def test_schema_of_python_recipe_comes_from_its_declared_transform():
    recipe = {
        "name": "p",
        "type": "python",
        "inputs": ["A"],
        "outputs": ["OUT"],
        "payload": "pass\n",
        "params": {
            "transform": {
                "type": "formula",
                "keep": [],
                "columns": [{"name": "ratio", "type": "double", "expression": "a / 2"}],
            }
        },
    }
    assert output_schemas(recipe, {"A": [{"name": "a", "type": "int"}]}) == {
        "OUT": [{"name": "ratio", "type": "double"}]
    }
