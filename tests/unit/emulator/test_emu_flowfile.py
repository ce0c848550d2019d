"""load_flow: every validation error names its JSON path and the fix; normalisation fills the documented defaults."""

from __future__ import annotations

import copy
import json
import os

import pytest

from dss_emulator.flowfile import FlowFileError, load_flow, payload_text, recipe_order

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "examples", "flows")

COLUMNS = [{"name": "id", "type": "string"}, {"name": "value", "type": "double"}]


def base_flow():
    return {
        "projectKey": "TEST",
        "datasets": [
            {"name": "SRC", "schema": copy.deepcopy(COLUMNS), "rows": [["a", 1.0], ["b", 2.0], ["a", 3.0]]},
            {"name": "AGG"},
            {"name": "COPY"},
        ],
        "recipes": [
            {
                "name": "group_AGG",
                "type": "grouping",
                "inputs": ["SRC"],
                "outputs": ["AGG"],
                "payload": {
                    "keys": [{"column": "id"}],
                    "values": [{"column": "value", "sum": True}],
                    "globalCount": True,
                },
            },
            {"name": "sync_COPY", "type": "sync", "inputs": ["AGG"], "outputs": ["COPY"]},
        ],
    }


def problems_of(flow):
    with pytest.raises(FlowFileError) as caught:
        load_flow(flow)
    return caught.value.problems


def assert_problem(flow, path, fragment):
    problems = problems_of(flow)
    matching = [message for where, message in problems if where == path]
    assert matching, f"no problem at {path}: {problems}"
    assert any(fragment in message for message in matching), matching


def test_valid_flow_is_normalised():
    flow = load_flow(base_flow())
    assert flow["name"] == "TEST" and flow["variables"] == {"standard": {}, "local": {}}
    assert flow["connections"][0] == {"name": "filesystem_managed", "type": "Filesystem", "params": {}}
    source, agg, copied = flow["datasets"]
    assert source["built"] is True and source["managed"] is False and source["type"] == "Filesystem"
    assert source["params"]["path"] == "${projectKey}/SRC"
    assert agg["built"] is False and agg["managed"] is True and agg["rows"] is None
    assert agg["schema"] == [
        {"name": "id", "type": "string"},
        {"name": "value_sum", "type": "double"},
        {"name": "count", "type": "bigint"},
    ]
    assert copied["schema"] == agg["schema"]
    group, sync = flow["recipes"]
    assert group["emulation"] == {"duration": 0.05, "fail": None, "hang": False}
    assert sync["params"] == {"schemaMode": "FREE_SCHEMA_NAME_BASED"} and sync["payload"] is None
    assert recipe_order(flow) == ["group_AGG", "sync_COPY"]


def test_prepare_becomes_shaker_and_python_gets_code_and_params():
    document = base_flow()
    document["datasets"] += [{"name": "PREP"}, {"name": "PY"}]
    document["recipes"] += [
        {
            "name": "prepare_PREP",
            "type": "prepare",
            "inputs": ["SRC"],
            "outputs": ["PREP"],
            "payload": json.dumps(
                {
                    "steps": [
                        {
                            "metaType": "PROCESSOR",
                            "type": "CreateColumnWithGREL",
                            "params": {"column": "v2", "expression": "value * 2"},
                        }
                    ]
                }
            ),
        },
        {
            "name": "compute_PY",
            "type": "python",
            "inputs": ["PREP"],
            "outputs": ["PY"],
            "params": {
                "transform": {
                    "type": "formula",
                    "keep": ["id"],
                    "columns": [{"name": "v3", "type": "double", "expression": "v2 + 1"}],
                }
            },
            "emulation": {"duration": 0.3, "fail": {"message": "boom", "times": 2}, "hang": False},
        },
    ]
    flow = load_flow(document)
    prepare, python = flow["recipes"][2:]
    assert prepare["type"] == "shaker" and isinstance(prepare["payload"], dict)
    assert flow["datasets"][3]["schema"][-1] == {"name": "v2", "type": "double"}
    assert flow["datasets"][4]["schema"] == [{"name": "id", "type": "string"}, {"name": "v3", "type": "double"}]
    assert 'dataiku.Dataset("PREP")' in python["payload"] and "write_with_schema" in python["payload"]
    assert python["params"]["envSelection"] == {"envMode": "INHERIT"}
    assert python["params"]["transform"]["type"] == "formula"
    assert python["emulation"] == {
        "duration": 0.3,
        "hang": False,
        "fail": {
            "message": "boom",
            "errorType": "com.dataiku.common.server.APIError$SerializedErrorException",
            "times": 2,
        },
    }
    assert json.loads(payload_text(prepare))["steps"][0]["type"] == "CreateColumnWithGREL"
    assert payload_text(python) == python["payload"]
    assert payload_text(flow["recipes"][1]) is None


def test_generated_rows_are_deterministic():
    first = load_flow(os.path.join(EXAMPLES, "clinical.json"))
    second = load_flow(os.path.join(EXAMPLES, "clinical.json"))
    lab = first["datasets"][0]
    assert lab["name"] == "LAB_RESULTS" and len(lab["rows"]) == 300
    assert lab["rows"] == second["datasets"][0]["rows"]
    assert len({row[0] for row in lab["rows"]}) <= 80
    assert all(row[0].startswith("P") and len(row[0]) == 4 for row in lab["rows"])


def test_clinical_flow_has_the_seed_names():
    flow = load_flow(os.path.join(EXAMPLES, "clinical.json"))
    assert flow["projectKey"] == "CLINICAL"
    recipes = {r["name"]: (r["type"], r["inputs"], r["outputs"]) for r in flow["recipes"]}
    assert recipes == {
        "group_LAB_RESULTS_AGG": ("grouping", ["LAB_RESULTS"], ["LAB_RESULTS_AGG"]),
        "group_CLINICAL_NOTES_AGG": ("grouping", ["CLINICAL_NOTES"], ["CLINICAL_NOTES_AGG"]),
        "join_ML_TRAINING_DATA": ("join", ["LAB_RESULTS_AGG", "CLINICAL_NOTES_AGG"], ["ML_TRAINING_DATA"]),
        "train_MODEL_SCORES": ("python", ["ML_TRAINING_DATA"], ["MODEL_SCORES"]),
    }
    assert all(0.2 <= r["emulation"]["duration"] <= 0.5 for r in flow["recipes"])
    built = {d["name"]: d["built"] for d in flow["datasets"]}
    assert built == {
        "LAB_RESULTS": True,
        "CLINICAL_NOTES": True,
        "LAB_RESULTS_AGG": False,
        "CLINICAL_NOTES_AGG": False,
        "ML_TRAINING_DATA": False,
        "MODEL_SCORES": False,
    }


def test_etl_flow_writes_to_a_postgresql_connection():
    flow = load_flow(os.path.join(EXAMPLES, "etl_warehouse.json"))
    fact = next(d for d in flow["datasets"] if d["name"] == "SALES_FACT")
    assert (fact["type"], fact["connection"], fact["params"]["table"], fact["params"]["mode"]) == (
        "PostgreSQL",
        "warehouse",
        "sales_fact",
        "table",
    )


# -- JSON Schema errors --------------------------------------------------------------------------------------------


def test_missing_project_key():
    document = base_flow()
    del document["projectKey"]
    assert_problem(document, "(root)", "required key 'projectKey' is missing: add it")


def test_unknown_key_is_named_with_its_path():
    document = base_flow()
    document["recipes"][0]["paylaod"] = {}
    assert_problem(document, "recipes[0].paylaod", "unknown key 'paylaod': remove it or fix its spelling")


def test_bad_column_type():
    document = base_flow()
    document["datasets"][0]["schema"][1]["type"] = "number"
    assert_problem(document, "datasets[0].schema[1].type", '"number" is not allowed: use one of "string"')


def test_wrong_value_type_and_bad_names():
    document = base_flow()
    document["recipes"][0]["inputs"] = "SRC"
    document["datasets"][1]["name"] = "has space"
    document["projectKey"] = "lower"
    problems = dict(problems_of(document))
    assert "must be of type array, not string" in problems["recipes[0].inputs"]
    assert "no dot" in problems["datasets[1].name"]
    assert "upper-case letters" in problems["projectKey"]


def test_emulation_fail_needs_a_message_and_positive_times():
    document = base_flow()
    document["recipes"][0]["emulation"] = {"fail": {"times": 0}}
    problems = problems_of(document)
    assert any(path.startswith("recipes[0].emulation.fail") for path, _ in problems), problems


def test_choice_generator_needs_values():
    document = base_flow()
    source = document["datasets"][0]
    del source["rows"]
    source["generate"] = {"rows": 5, "columns": {"id": {"kind": "choice"}}}
    assert_problem(document, "datasets[0].generate.columns.id", "required key 'values' is missing")


def test_not_json_and_missing_file(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"projectKey": "X",\n  "recipes": [}', encoding="utf-8")
    with pytest.raises(FlowFileError) as caught:
        load_flow(str(broken))
    assert "not valid JSON at line 2" in str(caught.value) and str(broken) in str(caught.value)
    with pytest.raises(FlowFileError, match="cannot read the file"):
        load_flow(tmp_path / "absent.json")


# -- semantic errors -----------------------------------------------------------------------------------------------


def test_unknown_input():
    document = base_flow()
    document["recipes"][1]["inputs"] = ["AGGG"]
    assert_problem(document, "recipes[1].inputs[0]", "input 'AGGG' is not a dataset or folder of this flow")


def test_unknown_output():
    document = base_flow()
    document["recipes"][1]["outputs"] = ["NOPE"]
    assert_problem(document, "recipes[1].outputs[0]", "output 'NOPE' is not a dataset or folder of this flow")


def test_output_in_another_project():
    document = base_flow()
    document["recipes"][1]["outputs"] = ["OTHER.COPY"]
    assert_problem(document, "recipes[1].outputs[0]", "belongs to another project")


def test_cross_project_input_is_accepted():
    document = base_flow()
    document["recipes"][1]["inputs"] = ["OTHER.SOMETHING"]
    flow = load_flow(document)
    assert flow["recipes"][1]["inputs"] == ["OTHER.SOMETHING"]
    assert flow["datasets"][2]["schema"] == []


def test_dataset_with_two_producers():
    document = base_flow()
    document["recipes"][1]["outputs"] = ["AGG"]
    assert_problem(
        document, "recipes[1].outputs[0]", "AGG is already the output of recipe group_AGG (recipes[0].outputs[0])"
    )


def test_recipe_named_like_a_dataset():
    document = base_flow()
    document["recipes"][1]["name"] = "COPY"
    assert_problem(document, "recipes[1].name", "recipe name 'COPY' is also a dataset name (datasets[2])")


def test_duplicate_names():
    document = base_flow()
    document["datasets"].append({"name": "AGG"})
    document["recipes"].append(dict(document["recipes"][1], outputs=["COPY"]))
    problems = dict(problems_of(document))
    assert "already used by datasets[1]" in problems["datasets[3].name"]
    assert "already used by recipes[1]" in problems["recipes[2].name"]


def test_cycle_names_the_recipes():
    document = base_flow()
    document["recipes"][0]["inputs"] = ["SRC", "COPY"]
    problems = problems_of(document)
    assert len(problems) == 1
    path, message = problems[0]
    assert path in ("recipes[0]", "recipes[1]")
    assert "form a cycle" in message and "group_AGG" in message and "sync_COPY" in message


def test_recipe_reading_its_own_output():
    document = base_flow()
    document["recipes"][1]["inputs"] = ["COPY"]
    assert_problem(document, "recipes[1].outputs[0]", "COPY is both an input and an output of recipe sync_COPY")


def test_row_width_must_match_schema():
    document = base_flow()
    document["datasets"][0]["rows"][1] = ["b"]
    assert_problem(document, "datasets[0].rows[1]", "has 1 values but the schema of SRC has 2 columns")


def test_rows_and_generate_are_exclusive():
    document = base_flow()
    document["datasets"][0]["generate"] = {"rows": 3}
    assert_problem(document, "datasets[0]", "has both rows and generate")


def test_generator_for_unknown_column():
    document = base_flow()
    source = document["datasets"][0]
    del source["rows"]
    source["generate"] = {
        "rows": 3,
        "columns": {"ghost": {"kind": "int"}, "value": {"kind": "double", "min": 5, "max": 1}},
    }
    problems = dict(problems_of(document))
    assert "column 'ghost' is not in the schema of SRC" in problems["datasets[0].generate.columns.ghost"]
    assert "min 5 is greater than max 1" in problems["datasets[0].generate.columns.value.min"]


def test_unknown_connection_and_type_mismatch():
    document = base_flow()
    document["connections"] = [{"name": "warehouse", "type": "PostgreSQL"}]
    document["datasets"][1]["connection"] = "warehose"
    document["datasets"][2].update(connection="warehouse", type="Snowflake")
    problems = dict(problems_of(document))
    assert "connection 'warehose' is not defined" in problems["datasets[1].connection"]
    assert "does not match connection 'warehouse' of type 'PostgreSQL'" in problems["datasets[2].type"]


def test_recipe_output_cannot_carry_rows():
    document = base_flow()
    document["datasets"][1].update(schema=[{"name": "id", "type": "string"}], rows=[["x"]])
    assert_problem(document, "datasets[1].rows", "AGG is the output of recipe group_AGG: its rows come from the recipe")


def test_payload_problems():
    document = base_flow()
    document["recipes"][0]["payload"] = "{not json"
    assert_problem(document, "recipes[0].payload", "is not valid JSON")
    document = base_flow()
    del document["recipes"][0]["payload"]
    assert_problem(document, "recipes[0].payload", "grouping recipe group_AGG needs a payload")
    document = base_flow()
    document["datasets"].append({"name": "PY"})
    document["recipes"].append(
        {"name": "py", "type": "python", "inputs": ["SRC"], "outputs": ["PY"], "payload": {"code": "x"}}
    )
    assert_problem(document, "recipes[2].payload", "is its code text, not an object")


def test_payload_that_cannot_produce_a_schema():
    document = base_flow()
    document["recipes"][0]["payload"]["keys"] = [{"column": "identifier"}]
    assert_problem(
        document,
        "recipes[0].payload",
        "cannot compute the schema of AGG: Column 'identifier' not found in input dataset SRC of recipe group_AGG",
    )


def test_declared_schema_lets_a_broken_recipe_load():
    document = base_flow()
    document["recipes"][0]["payload"]["keys"] = [{"column": "identifier"}]
    document["datasets"][1]["schema"] = [{"name": "identifier", "type": "string"}]
    flow = load_flow(document)
    assert flow["datasets"][1]["schema"] == [{"name": "identifier", "type": "string"}]


def test_built_output_needs_built_inputs():
    document = base_flow()
    document["datasets"][2]["built"] = True
    assert_problem(document, "datasets[2].built", "COPY is marked built but recipe sync_COPY reads AGG")
    document["datasets"][1]["built"] = True
    flow = load_flow(document)
    assert [d["built"] for d in flow["datasets"]] == [True, True, True]


def test_error_message_lists_every_problem():
    document = base_flow()
    document["recipes"][1]["inputs"] = ["X1", "X2"]
    with pytest.raises(FlowFileError) as caught:
        load_flow(document)
    text = str(caught.value)
    assert text.startswith("flow file is invalid (2 problems):")
    assert "recipes[1].inputs[0]" in text and "recipes[1].inputs[1]" in text


def test_implicit_recipes_and_folders_pass_through():
    document = base_flow()
    document["folders"] = [{"id": "docs", "name": "Documents", "built": False}, {"id": "models"}]
    document["implicitRecipes"] = [{"id": "sync_to_es", "inputs": ["COPY"], "outputs": ["docs"]}]
    flow = load_flow(document)
    assert flow["folders"][0] == {
        "id": "docs",
        "name": "Documents",
        "type": "Filesystem",
        "connection": "filesystem_managed",
        "tags": [],
        "built": False,
    }
    assert "built" not in flow["folders"][1]
    assert flow["implicitRecipes"] == [{"id": "sync_to_es", "inputs": ["COPY"], "outputs": ["docs"]}]
    document["implicitRecipes"][0]["inputs"] = ["GHOST"]
    assert_problem(document, "implicitRecipes[0].inputs[0]", "input 'GHOST' is not a dataset or folder")


def test_folder_id_must_not_clash():
    document = base_flow()
    document["folders"] = [{"id": "SRC"}, {"id": "f1"}, {"id": "f1"}]
    problems = dict(problems_of(document))
    assert "is also a dataset name" in problems["folders[0].id"]
    assert "already used by folders[1]" in problems["folders[2].id"]


def test_json_schema_is_a_valid_draft_2020_12_schema():
    import jsonschema

    from dss_emulator.flowfile import SCHEMA_PATH

    with open(SCHEMA_PATH, encoding="utf-8") as handle:
        schema = json.load(handle)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_generator_kinds():
    from dss_emulator.flowfile import generate_rows

    schema = [
        {"name": "n", "type": "bigint"},
        {"name": "code", "type": "string"},
        {"name": "day", "type": "dateonly"},
        {"name": "c", "type": "string"},
        {"name": "words", "type": "string"},
        {"name": "maybe", "type": "int"},
        {"name": "flag", "type": "boolean"},
        {"name": "default_double", "type": "double"},
    ]
    spec = {
        "rows": 50,
        "seed": 3,
        "columns": {
            "n": {"kind": "sequence", "start": 10, "step": 5},
            "code": {"kind": "sequence", "prefix": "N", "width": 3},
            "day": {"kind": "date", "start": "2024-02-27", "days": 3},
            "c": {"kind": "constant", "value": "same"},
            "words": {"kind": "text", "words": ["a", "b"], "min": 2, "max": 2},
            "maybe": {"kind": "int", "min": 1, "max": 3, "nullRate": 0.5},
            "flag": {"kind": "boolean", "probability": 1.0},
        },
    }
    rows = generate_rows(schema, spec, "D")
    assert rows == generate_rows(schema, spec, "D")
    assert [row[0] for row in rows[:3]] == [10, 15, 20] and rows[-1][1] == "N050"
    assert {row[2] for row in rows} <= {"2024-02-27", "2024-02-28", "2024-02-29"}
    assert {row[3] for row in rows} == {"same"}
    assert all(len(row[4].split(" ")) == 2 for row in rows)
    assert None in {row[5] for row in rows} and {row[5] for row in rows} - {None} <= {1, 2, 3}
    assert all(row[6] is True for row in rows)
    assert all(isinstance(row[7], float) and 0 <= row[7] <= 100 for row in rows)
