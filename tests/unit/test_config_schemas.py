"""The Propagate schema and Verify outputs configs are checked by their JSON Schemas, as the build config is.

One mechanism for the three (resource/schemas/*-config.schema.json, the same wording for the same slip): every
problem is listed at once and named by the field as the user typed it; the values DSS sends (nulls, integers as
floats, blank list entries, booleans as text) are accepted as before.
"""

from __future__ import annotations

import math

import jsonschema
import pytest
from flow_orchestrator.config import load_schema, parse_build_config
from flow_orchestrator.config.propagate import DEFAULT_TIMEOUT_S, PropagateConfig, parse_propagate_config
from flow_orchestrator.config.verify import parse_verify_config
from flow_orchestrator.errors import ConfigError

CLI_FLAGS = {"source_dataset": "--source", "timeout_s": "--timeout", "stop_at": "--stop-at"}


def propagate_problems(raw, field_names=None, source="macro"):
    with pytest.raises(ConfigError) as caught:
        parse_propagate_config(raw, field_names, source=source)
    return dict(caught.value.problems)


def verify_problems(form, field_names=None):
    with pytest.raises(ConfigError) as caught:
        parse_verify_config(form, field_names)
    return dict(caught.value.problems)


@pytest.mark.parametrize("name", ["propagate-config.schema.json", "verify-config.schema.json"])
def test_each_schema_is_a_valid_draft_2020_12_schema_with_a_description_per_field(name):
    schema = load_schema(name)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == load_schema("build-config.schema.json")["$schema"]
    definitions = schema.get("$defs", {})
    objects = [schema] + [d for d in definitions.values() if "properties" in d]
    for node in objects:
        for key, prop in node.get("properties", {}).items():
            assert prop.get("description"), f"{name}: {key} says nothing of what it is"


# ------------------------------------------------------------------------------------------- Propagate schema


@pytest.mark.parametrize(
    ("raw", "field", "message"),
    [
        ({"source_dataset": 5}, "source_dataset", "must be text (got 5)"),
        ({"preview_only": "maybe"}, "preview_only", "must be true or false (got 'maybe')"),
        ({"auto_rebuild": 2}, "auto_rebuild", "must be true or false (got 2)"),
        ({"stop_at": 5}, "stop_at", "must be a list (got 5)"),
        ({"mark_as_ok": ["ok", 3]}, "mark_as_ok[1]", "must be text (got 3)"),
        ({"partition_values": 5}, "partition_values", "must be a list or an object (got 5)"),
        ({"partition_values": ["day=1", 7]}, "partition_values[1]", "must be text (got 7)"),
        ({"partition_values": {"day": None}}, "partition_values.day", "must be text or a number (got None)"),
    ],
)
def test_the_propagate_schema_names_the_form_field_of_each_wrong_type(raw, field, message):
    found = propagate_problems(dict({"source_dataset": "RAW"}, **raw))
    assert found == {field: message}


def test_the_source_dataset_is_required_and_a_blank_one_is_missing():
    for raw in ({}, {"source_dataset": None}, {"source_dataset": "  "}):
        assert propagate_problems(raw) == {
            "source_dataset": "choose the dataset whose schema changed (the propagation source)"
        }
    assert list(propagate_problems({}, CLI_FLAGS, "cli")) == ["--source"]


@pytest.mark.parametrize(
    ("timeout", "message"),
    [
        (0, "must be more than 0 seconds (got 0)"),
        (-5.5, "must be more than 0 seconds (got -5.5)"),
        ("soon", "must be a number (got 'soon')"),
        (True, "must be a number (got True)"),
        (math.nan, "must be a finite number (got nan)"),
        (math.inf, "must be a finite number (got inf)"),
    ],
)
def test_the_command_line_time_limit_is_a_positive_finite_number_of_seconds(timeout, message):
    found = propagate_problems({"source_dataset": "RAW", "timeout_s": timeout}, CLI_FLAGS, "cli")
    assert found == {"--timeout": message}


def test_the_form_has_no_time_limit_field_so_a_stray_key_is_ignored():
    config = parse_propagate_config({"source_dataset": "RAW", "timeout_s": "whatever"})
    assert config.timeout_s == DEFAULT_TIMEOUT_S


def test_every_propagate_problem_is_listed_at_once_schema_first_then_the_rules_in_code():
    found = propagate_problems(
        {
            "preview_only": "maybe",
            "stop_at": ["a", "a", 3],
            "mark_as_ok": ["a"],
            "partition_values": ["day", "day=1", "day=2"],
        }
    )
    assert list(found) == [
        "preview_only",
        "source_dataset",
        "stop_at[2]",
        "stop_at[1]",
        "mark_as_ok",
        "partition_values[0]",
        "partition_values[2]",
    ]
    assert found["stop_at[1]"] == "recipe 'a' is listed twice"
    assert found["partition_values[2]"] == "partition dimension 'day' is given twice"


def test_the_propagate_form_as_dss_sends_it_is_accepted():
    raw = {
        "dss_instance": {"mode": "NONE"},
        "source_dataset": " RAW ",
        "remote_source_dataset": None,
        "preview_only": "False",
        "auto_rebuild": None,
        "stop_at": ["", " prep_B ", None, "  "],
        "mark_as_ok": [],
        "partition_values": ["", "day = 2024-05-01 "],
        "some_future_field": "ignored",
    }
    assert parse_propagate_config(raw) == PropagateConfig(
        "RAW",
        auto_rebuild=True,
        stop_at=("prep_B",),
        partition_values=(("day", "2024-05-01"),),
        preview_only=False,
    )


def test_the_command_line_time_limit_accepts_whole_and_fractional_seconds():
    assert parse_propagate_config({"source_dataset": "RAW", "timeout_s": 90}, source="cli").timeout_s == 90.0
    assert parse_propagate_config({"source_dataset": "RAW", "timeout_s": 0.5}, source="cli").timeout_s == 0.5
    assert parse_propagate_config({"source_dataset": "RAW", "timeout_s": None}, source="cli").timeout_s == 3600.0


def test_an_unknown_source_is_a_programming_error():
    with pytest.raises(ValueError, match="source"):
        parse_propagate_config({"source_dataset": "RAW"}, source="step")


# ------------------------------------------------------------------------------------------- Verify outputs


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"min_rows": -1}, "min_rows", "must be at least 0 (got -1)"),
        ({"min_rows": 2.5}, "min_rows", "must be a whole number (got 2.5)"),
        ({"min_rows": "many"}, "min_rows", "must be a whole number (got 'many')"),
        ({"min_rows": True}, "min_rows", "must be a whole number (got True)"),
        ({"capture_current": "maybe"}, "capture_current", "must be true or false (got 'maybe')"),
        ({"expected_columns": {"id": "int"}}, "expected_columns", "must be a list (got {'id': 'int'})"),
        ({"expected_columns": ["id", 4]}, "expected_columns[1]", "must be text (got 4)"),
        ({"remote_datasets": 3}, "remote_datasets", "must be a list (got 3)"),
        ({"expectations": 5}, "expectations", "must be text or an object (got 5)"),
    ],
)
def test_the_verify_schema_names_the_form_field_of_each_wrong_value(form, field, message):
    assert verify_problems(dict({"datasets": ["A"]}, **form)) == {field: message}


def test_a_dataset_that_is_not_a_name_is_named_not_dropped():
    assert verify_problems({"datasets": ["A", 7]}) == {"datasets[1]": "must be text (got 7)"}
    assert verify_problems({"datasets": 7}) == {"datasets": "must be a list (got 7)"}


def test_every_verify_problem_is_listed_at_once_with_the_flags_typed():
    flags = {"datasets": "--datasets", "min_rows": "--min-rows", "expected_columns": "--columns"}
    found = verify_problems(
        {"datasets": ["A"], "min_rows": -2, "capture_current": "maybe", "expected_columns": ["id:strng", 4]}, flags
    )
    assert found == {
        "--columns[0]": 'unknown DSS type "strng"; did you mean "string"?',
        "--columns[1]": "must be text (got 4)",
        "capture_current": "must be true or false (got 'maybe')",
        "--min-rows": "must be at least 0 (got -2)",
    }


def test_a_field_with_a_schema_problem_is_not_checked_again_by_the_rules_in_code():
    # min_rows is wrong once (the schema says so), not twice; the column is still checked
    found = verify_problems({"datasets": ["A"], "min_rows": -2, "expected_columns": ["id:strng"]})
    assert found == {
        "min_rows": "must be at least 0 (got -2)",
        "expected_columns[0]": 'unknown DSS type "strng"; did you mean "string"?',
    }


def test_the_verify_form_as_dss_sends_it_is_accepted():
    form = {
        "dss_instance": {"mode": "NONE"},
        "datasets": ["", " A ", None, "B"],
        "remote_datasets": [""],
        "capture_current": None,
        "expected_columns": ["id", "", " amount:double "],
        "min_rows": 3.0,
        "expectations": "",
        "some_future_field": "ignored",
    }
    config = parse_verify_config(form)
    assert config.datasets == ("A", "B") and config.capture_current is False
    assert config.expectations.get("B", "min_rows").value == 3
    assert [c.text() for c in config.expectations.get("A", "columns").value.items] == ["id", "amount:double"]
    assert parse_verify_config({"datasets": "A, B", "min_rows": "4"}).expectations.get("B", "min_rows").value == 4


# ------------------------------------------------------------------------------------------- one mechanism


def test_the_same_slip_gets_the_same_words_in_every_config():
    build = dict(parse_problems(lambda: parse_build_config({"dry_run": "maybe", "max_parallel": "x"})))
    propagate = propagate_problems({"source_dataset": "RAW", "preview_only": "maybe"})
    verify = verify_problems({"datasets": ["A"], "capture_current": "maybe"})
    assert build["dry_run"] == propagate["preview_only"] == verify["capture_current"]
    assert build["max_parallel"] == "must be a whole number (got 'x')" == verify_problems({"min_rows": "x"})["min_rows"]


def parse_problems(parse):
    with pytest.raises(ConfigError) as caught:
        parse()
    return caught.value.problems


def test_a_non_finite_number_in_a_field_of_another_type_is_a_type_problem():
    """NaN passes JSON Schema bounds, so number fields get their own message; a text or list field keeps its own."""
    found = dict(parse_problems(lambda: parse_build_config({"select": math.nan, "record_folder": math.inf}, "cli")))
    assert found == {"--record-folder": "must be text (got inf)", "--select": "must be a list (got nan)"}
    assert verify_problems({"datasets": ["A"], "min_rows": math.nan}) == {
        "min_rows": "must be a finite number (got nan)"
    }
