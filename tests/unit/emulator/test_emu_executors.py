"""Each recipe type on real rows: counts, a few values, and DSS-like errors naming the recipe, column and input."""

from __future__ import annotations

import pytest

from dss_emulator.execution.executors import (
    CONFIG_ERROR_TYPE,
    INPUT_NOT_READY_ERROR_TYPE,
    PYTHON_ERROR_TYPE,
    RecipeExecutionError,
    execute_recipe,
)

LAB_COLUMNS = [
    {"name": "patient_id", "type": "string"},
    {"name": "test", "type": "string"},
    {"name": "value", "type": "double"},
    {"name": "visits", "type": "int"},
]
LAB_ROWS = [
    ["P1", "glucose", 5.0, 1],
    ["P2", "glucose", 7.0, 2],
    ["P1", "hba1c", 6.0, 3],
    ["P3", "glucose", None, 4],
    ["P1", "glucose", 8.0, None],
]
LAB = (LAB_COLUMNS, LAB_ROWS)
NOTES = (
    [{"name": "patient_id", "type": "string"}, {"name": "dept", "type": "string"}],
    [["P1", "cardio"], ["P2", "endo"], ["P2", "cardio"], ["P9", "nephro"], [None, "x"]],
)


def recipe(recipe_type, inputs, outputs, payload=None, params=None, name="r"):
    return {
        "name": name,
        "type": recipe_type,
        "inputs": inputs,
        "outputs": outputs,
        "payload": payload,
        "params": params or {},
    }


def names(columns):
    return [column["name"] for column in columns]


def run_single(definition, inputs):
    result = execute_recipe(definition, inputs)
    assert list(result) == definition["outputs"]
    return result[definition["outputs"][0]]


# -- grouping ------------------------------------------------------------------------------------------------------


def test_grouping_aggregates_per_key_in_first_appearance_order():
    payload = {
        "keys": [{"column": "patient_id"}],
        "values": [
            {"column": "value", "min": True, "max": True, "avg": True, "sum": True},
            {"column": "visits", "sum": True, "count": True, "countDistinct": True},
            {"column": "test", "countDistinct": True, "first": True, "last": True},
        ],
        "globalCount": True,
    }
    columns, rows = run_single(recipe("grouping", ["LAB"], ["AGG"], payload), {"LAB": LAB})
    assert names(columns) == [
        "patient_id",
        "value_min",
        "value_max",
        "value_avg",
        "value_sum",
        "visits_sum",
        "visits_count",
        "visits_distinct",
        "test_distinct",
        "test_first",
        "test_last",
        "count",
    ]
    types = {c["name"]: c["type"] for c in columns}
    assert types["value_avg"] == "double" and types["visits_sum"] == "bigint" and types["count"] == "bigint"
    assert types["value_min"] == "double" and types["test_first"] == "string"
    assert [row[0] for row in rows] == ["P1", "P2", "P3"]
    assert rows[0] == ["P1", 5.0, 8.0, pytest.approx(19.0 / 3), 19.0, 4, 2, 2, 2, "glucose", "glucose", 3]
    assert rows[2] == ["P3", None, None, None, None, 4, 1, 1, 1, "glucose", "glucose", 1]


def test_grouping_overrides_and_stddev_concat():
    payload = {
        "keys": [{"column": "test"}],
        "values": [{"column": "value", "stddev": True}, {"column": "patient_id", "concatDistinct": True}],
        "globalCount": True,
        "outputColumnNameOverrides": {"count": "n", "value_std": "value_sd"},
    }
    columns, rows = run_single(recipe("grouping", ["LAB"], ["AGG"], payload), {"LAB": LAB})
    assert names(columns) == ["test", "value_sd", "patient_id_concat_distinct", "n"]
    assert rows[0][0] == "glucose" and rows[0][1] == pytest.approx(1.5275252, rel=1e-6)
    assert rows[0][2:] == ["P1,P2,P3", 4]
    assert rows[1] == ["hba1c", None, "P1", 1]


def test_grouping_without_keys_gives_one_row_even_on_empty_input():
    payload = {"keys": [], "values": [{"column": "value", "sum": True}], "globalCount": True}
    assert run_single(recipe("grouping", ["LAB"], ["AGG"], payload), {"LAB": LAB})[1] == [[26.0, 5]]
    assert run_single(recipe("grouping", ["LAB"], ["AGG"], payload), {"LAB": (LAB_COLUMNS, [])})[1] == [[None, 0]]


def test_grouping_payload_may_be_json_text():
    payload = '{"keys": [{"column": "test"}], "values": [], "globalCount": true}'
    assert run_single(recipe("grouping", ["LAB"], ["AGG"], payload), {"LAB": LAB})[1] == [["glucose", 4], ["hba1c", 1]]


def test_grouping_missing_key_column_names_column_recipe_and_input():
    payload = {"keys": [{"column": "patient"}], "values": []}
    with pytest.raises(RecipeExecutionError) as caught:
        execute_recipe(recipe("grouping", ["LAB"], ["AGG"], payload, name="group_LAB"), {"LAB": LAB})
    message = caught.value.message
    assert "Column 'patient' not found in input dataset LAB of recipe group_LAB" in message
    assert caught.value.error_type == CONFIG_ERROR_TYPE
    assert caught.value.log_lines


def test_grouping_duplicate_output_name_is_refused():
    payload = {
        "keys": [{"column": "test"}],
        "values": [],
        "globalCount": True,
        "outputColumnNameOverrides": {"count": "test"},
    }
    with pytest.raises(RecipeExecutionError, match="Column 'test' appears twice in the output of grouping recipe r"):
        execute_recipe(recipe("grouping", ["LAB"], ["AGG"], payload), {"LAB": LAB})


def test_invalid_json_payload_is_reported():
    with pytest.raises(RecipeExecutionError, match="the payload of grouping recipe r is not valid JSON"):
        execute_recipe(recipe("grouping", ["LAB"], ["AGG"], "{not json"), {"LAB": LAB})


# -- join ----------------------------------------------------------------------------------------------------------


def join_payload(join_type, selected=None, condition_type="EQ"):
    payload = {
        "virtualInputs": [{"index": 0}, {"index": 1}],
        "joins": [
            {
                "table1": 0,
                "table2": 1,
                "type": join_type,
                "conditionsMode": "AND",
                "on": [
                    {
                        "column1": {"name": "patient_id", "table": 0},
                        "column2": {"name": "patient_id", "table": 1},
                        "type": condition_type,
                    }
                ],
            }
        ],
    }
    if selected is not False:
        payload["selectedColumns"] = selected or [
            {"name": "patient_id", "table": 0},
            {"name": "test", "table": 0},
            {"name": "dept", "table": 1},
        ]
    return payload


@pytest.mark.parametrize(
    "join_type, expected",
    [
        (
            "INNER",
            [
                ["P1", "glucose", "cardio"],
                ["P2", "glucose", "endo"],
                ["P2", "glucose", "cardio"],
                ["P1", "hba1c", "cardio"],
                ["P1", "glucose", "cardio"],
            ],
        ),
        (
            "LEFT",
            [
                ["P1", "glucose", "cardio"],
                ["P2", "glucose", "endo"],
                ["P2", "glucose", "cardio"],
                ["P1", "hba1c", "cardio"],
                ["P3", "glucose", None],
                ["P1", "glucose", "cardio"],
            ],
        ),
        (
            "RIGHT",
            [
                ["P1", "glucose", "cardio"],
                ["P2", "glucose", "endo"],
                ["P2", "glucose", "cardio"],
                ["P1", "hba1c", "cardio"],
                ["P1", "glucose", "cardio"],
                [None, None, "nephro"],
                [None, None, "x"],
            ],
        ),
        ("LEFT_ANTI", [["P3", "glucose", None]]),
        ("RIGHT_ANTI", [[None, None, "nephro"], [None, None, "x"]]),
    ],
)
def test_join_types(join_type, expected):
    _, rows = run_single(
        recipe("join", ["LAB", "NOTES"], ["OUT"], join_payload(join_type)), {"LAB": LAB, "NOTES": NOTES}
    )
    assert rows == expected


def test_full_and_cross_join_counts():
    inputs = {"LAB": LAB, "NOTES": NOTES}
    assert len(run_single(recipe("join", ["LAB", "NOTES"], ["OUT"], join_payload("FULL")), inputs)[1]) == 8
    cross = join_payload("CROSS")
    del cross["joins"][0]["on"]
    assert len(run_single(recipe("join", ["LAB", "NOTES"], ["OUT"], cross), inputs)[1]) == 25


def test_join_alias_prefix_and_types():
    payload = join_payload(
        "LEFT",
        [
            {"name": "patient_id", "table": 0, "alias": "pid"},
            {"name": "value", "table": 0},
            {"name": "patient_id", "table": 1},
        ],
    )
    payload["virtualInputs"][1]["prefix"] = "notes"
    columns, rows = run_single(recipe("join", ["LAB", "NOTES"], ["OUT"], payload), {"LAB": LAB, "NOTES": NOTES})
    assert columns == [
        {"name": "pid", "type": "string"},
        {"name": "value", "type": "double"},
        {"name": "notes_patient_id", "type": "string"},
    ]
    assert rows[0] == ["P1", 5.0, "P1"]


def test_join_automatic_selection_skips_conflicting_names():
    columns, rows = run_single(
        recipe("join", ["LAB", "NOTES"], ["OUT"], join_payload("INNER", selected=False)), {"LAB": LAB, "NOTES": NOTES}
    )
    assert names(columns) == ["patient_id", "test", "value", "visits", "dept"]
    assert len(rows) == 5


def test_join_non_equality_condition_and_three_tables():
    thresholds = (
        [{"name": "limit", "type": "double"}, {"name": "label", "type": "string"}],
        [[6.0, "high"], [100.0, "any"]],
    )
    payload = join_payload(
        "INNER",
        [
            {"name": "patient_id", "table": 0},
            {"name": "value", "table": 0},
            {"name": "dept", "table": 1},
            {"name": "label", "table": 2},
        ],
    )
    payload["virtualInputs"].append({"index": 2})
    payload["joins"].append(
        {
            "table1": 0,
            "table2": 2,
            "type": "INNER",
            "on": [{"column1": {"name": "value", "table": 0}, "column2": {"name": "limit", "table": 2}, "type": "GT"}],
        }
    )
    _, rows = run_single(
        recipe("join", ["LAB", "NOTES", "T"], ["OUT"], payload), {"LAB": LAB, "NOTES": NOTES, "T": thresholds}
    )
    assert rows == [["P2", 7.0, "endo", "high"], ["P2", 7.0, "cardio", "high"], ["P1", 8.0, "cardio", "high"]]


def test_join_on_missing_column_names_column_recipe_and_input():
    payload = join_payload("LEFT")
    payload["joins"][0]["on"][0]["column2"]["name"] = "patient"
    with pytest.raises(RecipeExecutionError) as caught:
        execute_recipe(recipe("join", ["LAB", "NOTES"], ["OUT"], payload, name="join_ML"), {"LAB": LAB, "NOTES": NOTES})
    assert "Column 'patient' not found in input dataset NOTES (table 1) of recipe join_ML" in caught.value.message
    assert "joins[0].on[0]" in caught.value.message


def test_join_selecting_missing_column_fails():
    payload = join_payload("LEFT", [{"name": "dept", "table": 0}])
    with pytest.raises(RecipeExecutionError, match=r"Column 'dept' not found in input dataset LAB \(table 0\)"):
        execute_recipe(recipe("join", ["LAB", "NOTES"], ["OUT"], payload), {"LAB": LAB, "NOTES": NOTES})


@pytest.mark.parametrize(
    "change, fragment",
    [
        (lambda p: p["joins"][0].update(type="ADVANCED"), "has type 'ADVANCED', which the emulator does not run"),
        (lambda p: p["joins"][0].update(table2=5), "refers to table 5 but the recipe has 2 tables"),
        (lambda p: p.update(joins=[]), "has 2 inputs but no join"),
        (lambda p: p["joins"][0].update(on=[]), "has no condition"),
        (lambda p: p["selectedColumns"].append({"name": "dept", "table": 1}), "Column 'dept' appears twice"),
    ],
)
def test_join_configuration_errors(change, fragment):
    payload = join_payload("LEFT")
    change(payload)
    with pytest.raises(RecipeExecutionError) as caught:
        execute_recipe(recipe("join", ["LAB", "NOTES"], ["OUT"], payload), {"LAB": LAB, "NOTES": NOTES})
    assert fragment in caught.value.message


def test_missing_input_is_reported_as_not_ready():
    with pytest.raises(RecipeExecutionError) as caught:
        execute_recipe(recipe("join", ["LAB", "NOTES"], ["OUT"], join_payload("LEFT")), {"LAB": LAB})
    assert caught.value.error_type == INPUT_NOT_READY_ERROR_TYPE
    assert "Input dataset NOTES of recipe r is not available" in caught.value.message


# -- sync and other types ------------------------------------------------------------------------------------------


def test_sync_copies_rows_and_schema():
    columns, rows = run_single(recipe("sync", ["LAB"], ["COPY"]), {"LAB": LAB})
    assert columns == LAB_COLUMNS and rows == LAB_ROWS
    rows[0][0] = "changed"
    assert LAB_ROWS[0][0] == "P1"


def test_unknown_types_copy_their_first_input_to_every_output():
    result = execute_recipe(recipe("sql_query", ["LAB"], ["A", "B"], "SELECT * FROM lab"), {"LAB": LAB})
    assert result["A"] == LAB and result["B"] == LAB


# -- shaker ---------------------------------------------------------------------------------------------------------


def step(processor, **params):
    return {"metaType": "PROCESSOR", "type": processor, "params": params}


def test_shaker_steps_in_order():
    payload = {
        "steps": [
            step(
                "FilterOnValue",
                appliesTo="SINGLE_COLUMN",
                columns=["test"],
                values=["HBA1C"],
                action="REMOVE_ROW",
                matchingMode="FULL_STRING",
                normalizationMode="LOWERCASE",
            ),
            step("FilterOnNumericalRange", appliesTo="SINGLE_COLUMN", columns=["value"], min=5.5, action="KEEP_ROW"),
            step("CreateColumnWithGREL", column="double_value", expression="value * 2"),
            {
                "metaType": "GROUP",
                "steps": [
                    step("ColumnRenamer", renamings=[{"from": "patient_id", "to": "pid"}]),
                    {
                        "metaType": "PROCESSOR",
                        "type": "ColumnsSelector",
                        "disabled": True,
                        "params": {"columns": ["pid"], "keep": False},
                    },
                ],
            },
            step("ColumnsSelector", appliesTo="COLUMNS", columns=["visits", "test"], keep=False),
            step(
                "FindReplace",
                appliesTo="SINGLE_COLUMN",
                columns=["pid"],
                mapping=[{"from": "P", "to": "patient-"}],
                matching="SUBSTRING",
                normalization="EXACT",
            ),
            step("ColumnReorder", columns=["double_value"], reorderAction="AT_START"),
        ]
    }
    columns, rows = run_single(recipe("prepare", ["LAB"], ["P"], payload), {"LAB": LAB})
    assert columns == [
        {"name": "double_value", "type": "double"},
        {"name": "pid", "type": "string"},
        {"name": "value", "type": "double"},
    ]
    assert rows == [[14.0, "patient-2", 7.0], [16.0, "patient-1", 8.0]]


def test_shaker_formula_replacing_a_column_keeps_its_position():
    payload = {"steps": [step("CreateColumnWithGREL", column="value", expression="numval(visits) + 0.5")]}
    columns, rows = run_single(recipe("shaker", ["LAB"], ["P"], payload), {"LAB": LAB})
    assert names(columns) == names(LAB_COLUMNS)
    assert [row[2] for row in rows] == [1.5, 2.5, 3.5, 4.5, None]


@pytest.mark.parametrize(
    "bad_step, fragment",
    [
        (
            step("ColumnRenamer", renamings=[{"from": "nope", "to": "x"}]),
            "Column 'nope' not found in input dataset LAB (as seen by steps[0])",
        ),
        (step("CreateColumnWithGREL", column="x", expression="missing + 1"), "column 'missing' used in formula"),
        (step("ColumnsSelector", appliesTo="COLUMNS", columns=["ghost"], keep=True), "Column 'ghost' not found"),
        (step("Transpose"), "uses processor 'Transpose', which the emulator does not run"),
        (step("FilterOnValue", appliesTo="PATTERN", columns=["test"]), "applies to 'PATTERN'"),
    ],
)
def test_shaker_errors_name_step_and_recipe(bad_step, fragment):
    with pytest.raises(RecipeExecutionError) as caught:
        execute_recipe(recipe("shaker", ["LAB"], ["P"], {"steps": [bad_step]}, name="prepare_LAB"), {"LAB": LAB})
    assert fragment in caught.value.message
    assert "prepare_LAB" in caught.value.message


# -- split ---------------------------------------------------------------------------------------------------------


def test_split_on_values_sends_the_rest_to_the_default_output():
    payload = {
        "mode": "VALUES",
        "column": "test",
        "valueSplits": [{"value": "hba1c", "outputIndex": 0}],
        "defaultOutputIndex": 1,
    }
    result = execute_recipe(recipe("split", ["LAB"], ["A", "B"], payload), {"LAB": LAB})
    assert result["A"][1] == [LAB_ROWS[2]]
    assert len(result["B"][1]) == 4 and result["A"][0] == LAB_COLUMNS == result["B"][0]


def test_split_on_filter_drops_rows_with_default_minus_one():
    payload = {
        "mode": "FILTERS",
        "defaultOutputIndex": -1,
        "filterSplits": [
            {"filter": {"enabled": True, "expression": "value >= 7"}, "outputIndex": 1},
            {"filter": {"enabled": True, "expression": "visits == 1"}, "outputIndex": 0},
        ],
    }
    result = execute_recipe(recipe("split", ["LAB"], ["A", "B"], payload), {"LAB": LAB})
    assert result["A"][1] == [LAB_ROWS[0]]
    assert result["B"][1] == [LAB_ROWS[1], LAB_ROWS[4]]


def test_split_defaults_to_filter_then_second_output():
    payload = {"filterSplits": [{"filter": {"expression": "patient_id == 'P1'"}, "outputIndex": 0}]}
    result = execute_recipe(recipe("split", ["LAB"], ["A", "B"], payload), {"LAB": LAB})
    assert len(result["A"][1]) == 3 and len(result["B"][1]) == 2


def test_split_bad_output_index():
    payload = {"mode": "VALUES", "column": "test", "valueSplits": [{"value": "x", "outputIndex": 2}]}
    with pytest.raises(RecipeExecutionError, match=r"valueSplits\[0\].outputIndex of split recipe r is 2"):
        execute_recipe(recipe("split", ["LAB"], ["A", "B"], payload), {"LAB": LAB})


# -- python --------------------------------------------------------------------------------------------------------

CODE = "import dataiku\ndf = dataiku.Dataset('LAB').get_dataframe()\nscores = model.predict(df['glucose'])\n"


def test_python_logistic_score_is_deterministic_and_bounded():
    params = {"transform": {"type": "logistic_score", "id_columns": ["patient_id"], "features": ["value", "visits"]}}
    definition = recipe("python", ["LAB"], ["SCORES"], CODE, params)
    columns, rows = run_single(definition, {"LAB": LAB})
    assert columns == [
        {"name": "patient_id", "type": "string"},
        {"name": "score", "type": "double"},
        {"name": "prediction", "type": "bigint"},
    ]
    assert len(rows) == 5 and all(0.0 <= row[1] <= 1.0 for row in rows)
    assert all(row[2] == (1 if row[1] >= 0.5 else 0) for row in rows)
    assert run_single(definition, {"LAB": LAB})[1] == rows
    assert rows[3][1] < rows[1][1]  # heavier weight on value: P2 (7.0) scores above P3 (no value)


def test_python_formula_transform_declares_its_schema():
    params = {
        "transform": {
            "type": "formula",
            "keep": ["patient_id"],
            "filter": "value > 5",
            "columns": [
                {"name": "value_x10", "type": "int", "expression": "value * 10"},
                {"name": "label", "expression": "test + '!'"},
            ],
        }
    }
    columns, rows = run_single(recipe("python", ["LAB"], ["OUT"], CODE, params), {"LAB": LAB})
    assert columns == [
        {"name": "patient_id", "type": "string"},
        {"name": "value_x10", "type": "int"},
        {"name": "label", "type": "string"},
    ]
    assert rows == [["P2", 70, "glucose!"], ["P1", 60, "hba1c!"], ["P1", 80, "glucose!"]]


def test_python_fail_with_raises_a_python_traceback():
    params = {"transform": {"type": "copy", "fail_with": "KeyError: 'glucose'"}}
    with pytest.raises(RecipeExecutionError) as caught:
        execute_recipe(recipe("python", ["LAB"], ["OUT"], CODE, params), {"LAB": LAB})
    error = caught.value
    assert error.message == "Error in Python process: At line 3: <class 'KeyError'>: 'glucose'"
    assert error.error_type == PYTHON_ERROR_TYPE
    assert error.log_lines[0] == "*************** Recipe code failed **************"
    assert "Traceback (most recent call last):" in error.log_lines
    assert "    scores = model.predict(df['glucose'])" in error.log_lines
    assert error.log_lines[-2:] == ["KeyError: 'glucose'", "End Python stack"]


def test_python_fail_with_object_and_line():
    params = {"transform": {"fail_with": {"exception": "ZeroDivisionError", "message": "division by zero", "line": 2}}}
    with pytest.raises(RecipeExecutionError, match="At line 2: <class 'ZeroDivisionError'>: division by zero"):
        execute_recipe(recipe("python", ["LAB"], ["OUT"], CODE, params), {"LAB": LAB})


def test_python_missing_feature_fails_like_pandas():
    params = {"transform": {"type": "logistic_score", "features": ["glucose"]}}
    with pytest.raises(RecipeExecutionError) as caught:
        execute_recipe(recipe("python", ["LAB"], ["OUT"], CODE, params), {"LAB": LAB})
    assert caught.value.message == "Error in Python process: At line 3: <class 'KeyError'>: 'glucose'"


def test_python_without_transform_copies_and_unknown_transform_fails():
    assert run_single(recipe("python", ["LAB"], ["OUT"], CODE), {"LAB": LAB}) == LAB
    with pytest.raises(RecipeExecutionError, match="params.transform.type of python recipe r is 'train'"):
        execute_recipe(recipe("python", ["LAB"], ["OUT"], CODE, {"transform": {"type": "train"}}), {"LAB": LAB})
