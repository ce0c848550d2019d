"""Schema diffs, the impact preview (simulated propagation) and propagation results, on realistic DSS payloads."""

from __future__ import annotations

import copy
import json

import pytest
from flow_orchestrator.schema import (
    ImpactPreview,
    PropagationError,
    SchemaDiff,
    diff_schemas,
    diff_snapshots,
    preview_impact,
    propagation_error,
    propagation_failure,
    propagation_messages,
    stopped_at_recipe,
    summarise_propagation,
)
from hypothesis import given
from hypothesis import strategies as st


def cols(*specs):
    """``cols("a:string", "b:double")`` -> DSS schema columns."""
    out = []
    for spec in specs:
        name, _, kind = spec.partition(":")
        out.append({"name": name, "type": kind or "string"})
    return out


def names(columns):
    return [column["name"] for column in columns]


def recipe(name, kind, inputs, outputs, payload=None, params=None):
    """A recipe as ``get_recipe_raw()`` returns it, plus the payload text (absent when None, as DSS omits it)."""
    raw = {
        "projectKey": "PROJ",
        "name": name,
        "type": kind,
        "params": params or {},
        "inputs": {"main": {"items": [{"ref": ref, "deps": []} for ref in inputs]}},
        "outputs": {"main": {"items": [{"ref": ref, "appendMode": False} for ref in outputs]}},
        "neverRecomputeExistingPartitions": False,
        "versionTag": {"versionNumber": 1, "lastModifiedBy": {"login": "admin"}, "lastModifiedOn": 1634741675676},
    }
    if payload is not None:
        raw["payload"] = payload if isinstance(payload, str) else json.dumps(payload)
    return raw


# ------------------------------------------------------------------------------------- a realistic Flow
#
#  orders_raw --[compute_orders_prepared: shaker]--> orders_prepared
#  orders_prepared --[compute_orders_by_customer: grouping]--> orders_by_customer
#  customers + orders_by_customer --[compute_customers_orders_joined: join]--> customers_orders_joined
#  customers_orders_joined --[compute_scored: python]--> scored

SHAKER_PAYLOAD = {
    "columnsSelection": {"mode": "ALL"},
    "origin": "PREPARE_RECIPE",
    "steps": [
        {
            "metaType": "PROCESSOR",
            "type": "FindReplace",
            "preview": False,
            "disabled": False,
            "params": {
                "appliesTo": "SINGLE_COLUMN",
                "columns": ["tshirt_category"],
                "output": "",
                "mapping": [{"from": "Wh Tshirt M", "to": "White T-Shirt M"}],
                "matching": "FULL_STRING",
            },
        },
        {
            "metaType": "PROCESSOR",
            "type": "DateParser",
            "params": {
                "appliesTo": "SINGLE_COLUMN",
                "columns": ["order_date"],
                "formats": ["yyyy/MM/dd"],
                "outCol": "order_date_parsed",
                "timezone_id": "UTC",
            },
        },
        {
            "metaType": "PROCESSOR",
            "type": "CreateColumnWithGREL",
            "params": {"column": "total", "expression": "tshirt_price * tshirt_quantity"},
        },
        {
            "metaType": "PROCESSOR",
            "type": "ColumnsSelector",
            "params": {"appliesTo": "SINGLE_COLUMN", "columns": ["order_date"], "keep": False},
        },
        {
            "metaType": "PROCESSOR",
            "type": "ColumnRenamer",
            "params": {"renamings": [{"from": "order_date_parsed", "to": "order_date"}]},
        },
    ],
}

GROUPING_PAYLOAD = {
    "keys": [{"column": "customer_id", "type": "string"}],
    "values": [
        {"column": "order_date", "type": "date", "$idx": 0, "min": True, "max": False, "sum": False, "count": False},
        {"column": "tshirt_category", "type": "string", "$idx": 1, "min": False, "max": False, "count": False},
        {"column": "total", "type": "double", "$idx": 4, "sum": True, "min": False},
    ],
    "globalCount": True,
    "outputColumnNameOverrides": {"order_date_min": "first_order_date"},
    "computedColumns": [],
    "preFilter": {"distinct": False, "enabled": False},
    "postFilter": {"distinct": False, "enabled": False},
}

JOIN_PAYLOAD = {
    "virtualInputs": [
        {"index": 0, "autoSelectColumns": False, "computedColumns": [], "preFilter": {"enabled": False}},
        {"index": 1, "autoSelectColumns": False, "computedColumns": [], "preFilter": {"enabled": False}},
    ],
    "joins": [
        {
            "table1": 0,
            "table2": 1,
            "type": "INNER",
            "conditionsMode": "AND",
            "on": [
                {
                    "column1": {"name": "customerID", "table": 0},
                    "column2": {"name": "customer_id", "table": 1},
                    "type": "EQ",
                }
            ],
        }
    ],
    "selectedColumns": [
        {"name": "customerID", "type": "string", "table": 0},
        {"name": "gender", "type": "string", "table": 0},
        {"name": "first_order_date", "type": "date", "table": 1},
        {"name": "total_sum", "type": "double", "table": 1},
    ],
    "computedColumns": [],
    "enableAutoCastInJoinConditions": False,
}

SNAPSHOT = {
    "orders_raw": cols(
        "order_id", "order_date", "customer_id", "tshirt_category", "tshirt_price:double", "tshirt_quantity:bigint"
    ),
    "orders_prepared": cols(
        "order_id",
        "order_date:date",
        "customer_id",
        "tshirt_category",
        "tshirt_price:double",
        "tshirt_quantity:bigint",
        "total:double",
    ),  # fmt: skip
    "orders_by_customer": cols("customer_id", "first_order_date:date", "total_sum:double", "count:bigint"),
    "customers": cols("customerID", "gender", "birthdate:date", "campaign:boolean"),
    "customers_orders_joined": cols("customerID", "gender", "first_order_date:date", "total_sum:double"),
    "scored": cols("customerID", "score:double"),
}

RECIPES = [
    recipe("compute_orders_prepared", "shaker", ["orders_raw"], ["orders_prepared"], SHAKER_PAYLOAD),
    recipe("compute_orders_by_customer", "grouping", ["orders_prepared"], ["orders_by_customer"], GROUPING_PAYLOAD),
    recipe(
        "compute_customers_orders_joined",
        "join",
        ["customers", "orders_by_customer"],
        ["customers_orders_joined"],
        JOIN_PAYLOAD,
    ),
    recipe("compute_scored", "python", ["customers_orders_joined"], ["scored"], "import dataiku\n# scoring\n"),
]
ORDER = ["compute_orders_prepared", "compute_orders_by_customer", "compute_customers_orders_joined", "compute_scored"]


# --------------------------------------------------------------------------------------------- diffs


def test_diff_reports_an_added_column_with_its_type():
    diff = diff_schemas(cols("a", "b:bigint"), cols("a", "b:bigint", "c:double"), dataset="ds")
    assert diff.added == (("c", "double"),)
    assert diff.removed == () and diff.type_changed == () and not diff.reordered
    assert diff.changed
    assert diff.summary() == "+ c (double)"


def test_diff_reports_a_removed_column():
    diff = diff_schemas(cols("a", "b:bigint", "c"), cols("a", "c"))
    assert diff.removed == (("b", "bigint"),)
    assert diff.removed_names == ("b",)
    assert not diff.reordered  # a and c keep their relative order
    assert diff.summary() == "- b (bigint)"


def test_diff_reports_a_type_change():
    diff = diff_schemas(cols("a", "amount:bigint"), cols("a", "amount:double"))
    assert diff.type_changed == (("amount", "bigint", "double"),)
    assert diff.summary() == "~ amount: bigint -> double"


def test_diff_reports_a_reordering_with_both_orders():
    diff = diff_schemas(cols("a", "b", "c"), cols("c", "a", "b"))
    assert diff.reordered
    assert diff.old_order == ("a", "b", "c") and diff.new_order == ("c", "a", "b")
    assert not (diff.added or diff.removed or diff.type_changed)
    assert diff.changed
    assert diff.to_dict()["summary"] == "column order changed"


def test_identical_schemas_are_unchanged_even_with_extra_column_details():
    before = [{"name": "a", "type": "string", "meaning": "Text"}, {"name": "b", "type": "double"}]
    after = [{"name": "a", "type": "string", "maxLength": 1000}, {"name": "b", "type": "double"}]
    diff = diff_schemas(before, after)
    assert not diff.changed
    assert diff.summary() == "unchanged"


def test_diff_names_are_case_sensitive_like_dss():
    diff = diff_schemas(cols("Customer_ID"), cols("customer_id"))
    assert diff.added_names == ("customer_id",) and diff.removed_names == ("Customer_ID",)


def test_diff_to_dict_is_json_ready():
    diff = diff_schemas(cols("a:bigint", "b"), cols("b", "a:double", "c"), dataset="orders")
    data = json.loads(json.dumps(diff.to_dict()))
    assert data["dataset"] == "orders"
    assert data["added"] == [{"name": "c", "type": "string"}]
    assert data["type_changed"] == [{"name": "a", "old": "bigint", "new": "double"}]
    assert data["reordered"] is True and data["changed"] is True


def test_diff_snapshots_covers_new_and_vanished_datasets():
    before = {"a": cols("x"), "gone": cols("y")}
    after = {"a": cols("x"), "new": cols("z")}
    diffs = diff_snapshots(before, after)
    assert list(diffs) == ["a", "gone", "new"]
    assert not diffs["a"].changed
    assert diffs["gone"].exists_after is False and diffs["gone"].removed_names == ("y",)
    assert diffs["new"].existed_before is False and diffs["new"].added_names == ("z",)


schema_strategy = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c", "d", "e"]), st.sampled_from(["string", "bigint", "double"])),
    max_size=5,
    unique_by=lambda item: item[0],
).map(lambda items: [{"name": name, "type": kind} for name, kind in items])


@given(schema_strategy)
def test_a_schema_never_differs_from_itself(columns):
    assert not diff_schemas(columns, copy.deepcopy(columns)).changed


@given(schema_strategy, schema_strategy)
def test_diff_is_antisymmetric(before, after):
    forward, backward = diff_schemas(before, after), diff_schemas(after, before)
    assert forward.added == backward.removed and forward.removed == backward.added
    assert {(n, o, w) for n, o, w in forward.type_changed} == {(n, w, o) for n, o, w in backward.type_changed}
    assert forward.reordered == backward.reordered
    assert forward.changed == backward.changed == (names(before) != names(after) or before != after)


# ------------------------------------------------------------------------------------ impact preview


def test_preview_flags_a_removed_column_used_by_a_join_condition_and_selected_columns():
    snapshot = copy.deepcopy(SNAPSHOT)
    recipes = copy.deepcopy(RECIPES)
    new_customers = cols("gender", "birthdate:date", "campaign:boolean")  # customerID dropped
    preview = preview_impact(
        "customers", new_customers, snapshot, recipes, ["compute_customers_orders_joined", "compute_scored"]
    )

    assert snapshot == SNAPSHOT and recipes == RECIPES  # a preview changes nothing
    usages = {(item.recipe, item.input, item.column, item.usage) for item in preview.breaks}
    assert usages == {
        ("compute_customers_orders_joined", "customers", "customerID", "join condition customerID = customer_id"),
        ("compute_customers_orders_joined", "customers", "customerID", "selected column"),
    }
    assert not preview.safe
    assert preview.stops_at == "compute_customers_orders_joined"
    assert preview.changes["customers"].removed_names == ("customerID",)
    assert preview.changes["customers_orders_joined"].removed_names == ("customerID",)
    message = preview.breaks[0].message
    assert "join recipe 'compute_customers_orders_joined'" in message and "'customerID' of 'customers'" in message
    assert "would stop at 'compute_customers_orders_joined'" in preview.summary()


def test_preview_flags_a_selected_column_removed_from_the_second_input():
    new = cols("customer_id", "first_order_date:date", "count:bigint")  # total_sum gone
    preview = preview_impact("orders_by_customer", new, SNAPSHOT, RECIPES, ["compute_customers_orders_joined"])
    assert [(b.input, b.column, b.usage) for b in preview.breaks] == [
        ("orders_by_customer", "total_sum", "selected column")
    ]


def test_an_added_column_reaches_three_levels_down():
    # source --sync--> level1 --prepare--> level2 --join(auto-select)--> level3 --python--> scored
    snapshot = {
        "source": cols("id:bigint", "name"),
        "level1": cols("id:bigint", "name"),
        "level2": cols("id:bigint", "name", "name_upper"),
        "lookup": cols("id:bigint", "country"),
        "level3": cols("id:bigint", "name", "name_upper", "country"),
        "scored": cols("id:bigint", "score:double"),
    }
    prepare = {
        "steps": [
            {
                "metaType": "PROCESSOR",
                "type": "CreateColumnWithGREL",
                "params": {"column": "name_upper", "expression": "toUppercase(name)"},
            },
        ]
    }
    join = {
        "virtualInputs": [{"index": 0, "autoSelectColumns": True}, {"index": 1, "autoSelectColumns": True}],
        "joins": [
            {
                "table1": 0,
                "table2": 1,
                "type": "LEFT",
                "on": [{"column1": {"name": "id", "table": 0}, "column2": {"name": "id", "table": 1}, "type": "EQ"}],
            }
        ],
        "selectedColumns": [],
    }
    recipes = [
        recipe("sync_source", "sync", ["source"], ["level1"], params={"schemaMode": "FREE_SCHEMA_NAME_BASED"}),
        recipe("prepare_level1", "shaker", ["level1"], ["level2"], prepare),
        recipe("join_lookup", "join", ["level2", "lookup"], ["level3"], join),
        recipe("score", "python", ["level3"], ["scored"], "df = dataiku.Dataset('level3').get_dataframe()"),
    ]
    new_source = cols("id:bigint", "name", "discount:double")
    preview = preview_impact(
        "source", new_source, snapshot, recipes, ["sync_source", "prepare_level1", "join_lookup", "score"]
    )

    for dataset in ("source", "level1", "level2", "level3"):
        assert preview.changes[dataset].added == (("discount", "double"),), dataset
    assert names(preview.new_schemas["level1"]) == ["id", "name", "discount"]
    assert names(preview.new_schemas["level2"]) == ["id", "name", "discount", "name_upper"]
    assert "discount" in names(preview.new_schemas["level3"])
    assert "scored" not in preview.changes  # code recipe outputs are taken as unchanged
    assert [(item.recipe, item.recipe_type) for item in preview.unchecked] == [("score", "python")]
    assert "code" in preview.unchecked[0].reason
    assert preview.safe and preview.stops_at is None
    assert preview.checked_recipes == ("sync_source", "prepare_level1", "join_lookup")


def test_a_join_with_manual_selection_does_not_pick_up_a_new_column():
    new = cols("customerID", "gender", "birthdate:date", "campaign:boolean", "loyalty:bigint")
    preview = preview_impact("customers", new, SNAPSHOT, RECIPES, ["compute_customers_orders_joined", "compute_scored"])
    assert list(preview.changes) == ["customers"]
    assert preview.safe
    assert preview.unchecked == ()  # the python recipe's input did not change: nothing to report about it


def test_preview_flags_grouping_key_and_aggregated_column_but_not_unaggregated_ones():
    new = cols("order_id", "order_date:date", "tshirt_category", "tshirt_price:double", "tshirt_quantity:bigint")
    # customer_id (key) and total (summed) are gone; tshirt_category is listed without aggregate and stays
    preview = preview_impact("orders_prepared", new, SNAPSHOT, RECIPES, ORDER[1:])
    found = {(item.column, item.usage) for item in preview.breaks if item.recipe == "compute_orders_by_customer"}
    assert found == {("customer_id", "grouping key"), ("total", "aggregated column (sum)")}
    removed_only_category = cols(
        "order_id", "order_date:date", "customer_id", "tshirt_price:double", "tshirt_quantity:bigint", "total:double"
    )
    assert preview_impact("orders_prepared", removed_only_category, SNAPSHOT, RECIPES, ORDER[1:]).safe


def test_grouping_output_follows_an_input_type_change_through_overrides():
    new = copy.deepcopy(SNAPSHOT["orders_prepared"])
    new[1]["type"] = "dateonly"  # order_date, aggregated with min, renamed to first_order_date
    preview = preview_impact("orders_prepared", new, SNAPSHOT, RECIPES, ORDER[1:])
    assert preview.changes["orders_by_customer"].type_changed == (("first_order_date", "date", "dateonly"),)
    assert preview.changes["customers_orders_joined"].type_changed == (("first_order_date", "date", "dateonly"),)
    assert [item.recipe for item in preview.unchecked] == ["compute_scored"]


def test_preview_flags_prepare_steps_reading_a_removed_column():
    new = cols("order_id", "customer_id", "tshirt_category", "tshirt_price:double", "tshirt_quantity:bigint")
    preview = preview_impact("orders_raw", new, SNAPSHOT, RECIPES, ORDER)
    found = [(item.recipe, item.column, item.usage) for item in preview.breaks]
    assert ("compute_orders_prepared", "order_date", "step 2 (DateParser)") in found
    assert ("compute_orders_prepared", "order_date", "step 4 (ColumnsSelector)") in found
    assert preview.stops_at == "compute_orders_prepared"


def test_preview_flags_a_formula_reading_a_removed_column_but_not_columns_the_recipe_creates():
    new = cols("order_id", "order_date", "customer_id", "tshirt_category", "tshirt_price:double")  # quantity gone
    preview = preview_impact("orders_raw", new, SNAPSHOT, RECIPES, ORDER)
    found = {(item.column, item.usage) for item in preview.breaks}
    assert found == {("tshirt_quantity", "formula of step 3 (CreateColumnWithGREL)")}
    # order_date_parsed is created by step 2 and renamed by step 5: never reported as missing
    assert all(item.column != "order_date_parsed" for item in preview.breaks)


def test_a_prepare_recipe_keeps_unchanged_columns_and_passes_a_new_one_on():
    new = SNAPSHOT["orders_raw"] + cols("channel")
    preview = preview_impact("orders_raw", new, SNAPSHOT, RECIPES, ORDER)
    assert preview.changes["orders_prepared"].added_names == ("channel",)
    assert not preview.changes["orders_prepared"].type_changed  # "total" keeps its real type (double)
    assert "orders_by_customer" not in preview.changes  # channel is not aggregated


def test_a_source_changed_in_place_is_previewed_with_none():
    changed = copy.deepcopy(SNAPSHOT)
    changed["customers"] = cols("gender", "birthdate:date", "campaign:boolean")  # the user already dropped customerID
    preview = preview_impact("customers", None, changed, RECIPES, ["compute_customers_orders_joined", "compute_scored"])
    assert "customers" not in preview.changes  # the source already has its schema
    assert preview.changes["customers_orders_joined"].removed_names == ("customerID",)
    assert {item.usage for item in preview.breaks} == {"join condition customerID = customer_id", "selected column"}


def test_previewing_an_unknown_source_in_place_is_a_programming_error():
    with pytest.raises(ValueError, match="no schema for the source 'nowhere'"):
        preview_impact("nowhere", None, SNAPSHOT, RECIPES, ORDER)


def test_preview_of_an_unchanged_source_changes_nothing():
    preview = preview_impact("orders_raw", SNAPSHOT["orders_raw"], SNAPSHOT, RECIPES, ORDER)
    assert preview.changes == {} and preview.breaks == () and preview.unchecked == ()
    assert "No downstream dataset would change." in preview.summary()


def test_split_outputs_both_receive_the_new_column_and_a_removed_split_column_breaks():
    snapshot = {"orders": cols("id", "status"), "accepted": cols("id", "status"), "others": cols("id", "status")}
    split = {
        "mode": "VALUES",
        "column": "status",
        "defaultOutputIndex": 1,
        "valueSplits": [{"value": "accepted", "outputIndex": 0}],
        "filterSplits": [],
        "computedColumns": [],
        "preFilter": {"enabled": False, "distinct": False},
    }
    recipes = [recipe("split_orders", "split", ["orders"], ["accepted", "others"], split)]
    added = preview_impact("orders", cols("id", "status", "amount:double"), snapshot, recipes, ["split_orders"])
    assert added.changes["accepted"].added_names == ("amount",) and added.changes["others"].added_names == ("amount",)
    removed = preview_impact("orders", cols("id"), snapshot, recipes, ["split_orders"])
    assert [(b.column, b.usage) for b in removed.breaks] == [("status", "split column (VALUES mode)")]


def test_distinct_and_filter_conditions_are_checked():
    snapshot = {"animals": cols("animal_name", "kind"), "unique_animals": cols("animal_name", "count:bigint")}
    distinct = {
        "keys": [{"column": "animal_name"}],
        "globalCount": True,
        "preFilter": {"enabled": True, "uiData": {"mode": "&&", "conditions": [{"input": "kind", "operator": "=="}]}},
        "outputColumnNameOverrides": {},
    }
    recipes = [recipe("compute_unique_animals", "distinct", ["animals"], ["unique_animals"], distinct)]
    preview = preview_impact("animals", cols("animal_name"), snapshot, recipes, ["compute_unique_animals"])
    assert [(b.column, b.usage) for b in preview.breaks] == [("kind", "pre-filter condition")]
    assert "unique_animals" not in preview.changes


@pytest.mark.parametrize(
    "kind, words",
    [("python", "code"), ("sql_script", "code"), ("pyspark", "code"), ("sql_query", "database"), ("pivot", "pivot")],
)
def test_recipes_that_cannot_be_simulated_are_listed_with_a_reason(kind, words):
    snapshot = {"a": cols("x"), "b": cols("x")}
    recipes = [recipe("r", kind, ["a"], ["b"], "SELECT 1" if "sql" in kind else None)]
    preview = preview_impact("a", cols("x", "y"), snapshot, recipes, ["r"])
    assert [(item.recipe, item.recipe_type) for item in preview.unchecked] == [("r", kind)]
    assert words in preview.unchecked[0].reason
    assert "b" not in preview.changes
    assert "Cannot be checked" in preview.summary()


def test_recipe_definitions_in_the_get_recipe_shape_and_dict_payloads_are_accepted():
    raw = recipe("sync_it", "sync", ["a"], ["b"])
    wrapped = {"recipe": {k: v for k, v in raw.items() if k != "payload"}, "payload": ""}
    preview = preview_impact("a", cols("x", "y"), {"a": cols("x"), "b": cols("x")}, [wrapped], ["sync_it"])
    assert preview.changes["b"].added_names == ("y",)
    as_dict = dict(RECIPES[2], payload=JOIN_PAYLOAD)
    again = preview_impact("customers", cols("gender"), SNAPSHOT, [as_dict], ["compute_customers_orders_joined"])
    assert {b.column for b in again.breaks} == {"customerID"}


def test_unreadable_payloads_and_unknown_inputs_are_reported_not_raised():
    snapshot = {"a": cols("x"), "b": cols("x")}
    broken = [recipe("r", "grouping", ["a"], ["b"], "{not json")]
    preview = preview_impact("a", cols("y"), snapshot, broken, ["r", "missing_recipe"])
    reasons = {item.recipe: item.reason for item in preview.unchecked}
    assert "payload cannot be read" in reasons["r"]
    join_unknown_input = [recipe("j", "join", ["a", "elsewhere"], ["b"], JOIN_PAYLOAD)]
    preview = preview_impact("a", cols("y"), snapshot, join_unknown_input, ["j"])
    assert "'elsewhere'" in preview.unchecked[0].reason


def test_an_unknown_prepare_step_stops_checks_but_still_applies_the_change():
    snapshot = {"raw": cols("a", "b"), "prepared": cols("a", "b", "b_1", "b_2")}
    payload = {
        "steps": [
            {"metaType": "PROCESSOR", "type": "ColumnSplitter", "params": {"inCol": "b", "separator": ","}},
            {
                "metaType": "PROCESSOR",
                "type": "FillEmptyWithValue",
                "params": {"appliesTo": "SINGLE_COLUMN", "columns": ["b_1"]},
            },
        ]
    }
    recipes = [recipe("prep", "shaker", ["raw"], ["prepared"], payload)]
    preview = preview_impact("raw", cols("a", "b", "c"), snapshot, recipes, ["prep"])
    assert preview.safe  # b_1 comes from the unsimulated splitter: not reported as missing
    assert names(preview.new_schemas["prepared"]) == ["a", "b", "c", "b_1", "b_2"]
    assert any("ColumnSplitter" in note for note in preview.notes)


def test_disabled_steps_and_step_groups():
    snapshot = {"raw": cols("a", "b"), "out": cols("a", "b")}
    payload = {
        "steps": [
            {"metaType": "PROCESSOR", "type": "ColumnsSelector", "disabled": True,
             "params": {"appliesTo": "SINGLE_COLUMN", "columns": ["a"], "keep": False}},
            {"metaType": "GROUP", "name": "renames", "steps": [
                {"metaType": "PROCESSOR", "type": "ColumnRenamer", "params": {"renamings": [{"from": "b", "to": "beta"}]}},
            ]},
        ]
    }  # fmt: skip
    recipes = [recipe("prep", "shaker", ["raw"], ["out"], payload)]
    preview = preview_impact("raw", cols("a"), snapshot, recipes, ["prep"])
    assert [(b.column, b.usage) for b in preview.breaks] == [("b", "step 1 (ColumnRenamer)")]


def test_impact_preview_to_dict_is_json_ready():
    preview = preview_impact("customers", cols("gender"), SNAPSHOT, RECIPES, ORDER)
    data = json.loads(json.dumps(preview.to_dict()))
    assert data["safe"] is False and data["stops_at"] == "compute_customers_orders_joined"
    assert data["breaks"][0]["message"]
    assert isinstance(preview, ImpactPreview)


# ------------------------------------------------------------------------------- propagation results


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "Propagation stopped at recipe compute_customers_orders_joined: join column customerID not found",
            "compute_customers_orders_joined",
        ),
        ("Failed to update schema of recipe 'compute_x' (join)", "compute_x"),
        ("Error in recipe PROJ.compute_y: column missing", "compute_y"),
        ("Cannot check schema consistency on recipe type python", None),
        ("Recipe: compute_z.", "compute_z"),
        ("", None),
    ],
)
def test_stopped_at_recipe_reads_the_recipe_name(text, expected):
    assert stopped_at_recipe(text) == expected


def test_propagation_error_names_the_recipe_and_the_way_out():
    error = propagation_error(
        "Propagation stopped at recipe compute_joined: column customerID not found", source="customers"
    )
    assert isinstance(error, PropagationError)
    assert error.recipe == "compute_joined"
    assert str(error).startswith("Schema propagation from 'customers' stopped at recipe 'compute_joined'")
    assert "column customerID not found" in str(error)
    unnamed = propagation_error("Something went wrong", source="customers")
    assert unnamed.recipe is None and "did not name the recipe" in str(unnamed)


def test_propagation_failure_reads_info_messages():
    result = {
        "anyMessage": True, "success": False, "warning": False, "error": True, "fatal": False, "maxSeverity": "ERROR",
        "messages": [
            {"severity": "WARNING", "isFatal": False, "code": "ERR_RECIPE_CANNOT_CHECK_SCHEMA_CONSISTENCY_NEEDS_BUILD",
             "title": "Cannot compute output schema with an empty input dataset. Build the input dataset first.",
             "message": "in recipe compute_prepared"},
            {"severity": "ERROR", "isFatal": False, "code": "ERR_RECIPE_INCONSISTENT_I_O",
             "title": "Inconsistent recipe input or output", "message": "recipe 'compute_joined' selects customerID"},
        ],
    }  # fmt: skip
    failure = propagation_failure(result, source="customers")
    assert failure is not None and failure.recipe == "compute_joined" and failure.code == "ERR_RECIPE_INCONSISTENT_I_O"
    assert propagation_failure({"anyMessage": False, "success": True, "messages": []}) is None
    assert propagation_failure(None) is None
    messages = propagation_messages(result)
    assert [m["recipe"] for m in messages] == ["compute_prepared", "compute_joined"]


def test_summarise_propagation_lists_changed_datasets_with_their_messages():
    before = {"a": cols("x"), "b": cols("x"), "c": cols("x")}
    after = {"a": cols("x", "y"), "b": cols("x", "y"), "c": cols("x")}
    result = {
        "messages": [
            {"severity": "WARNING", "code": "ERR_X", "title": "Dataset b was rebuilt", "message": ""},
            {"severity": "WARNING", "title": "Dataset bb was rebuilt"},
        ]
    }
    diffs = summarise_propagation(before, after, result)
    assert [diff.dataset for diff in diffs] == ["a", "b"]
    assert all(isinstance(diff, SchemaDiff) and diff.added_names == ("y",) for diff in diffs)
    assert diffs[0].notes == ()
    assert diffs[1].notes == ("WARNING ERR_X: Dataset b was rebuilt",)
    assert summarise_propagation(before, before, None) == []
