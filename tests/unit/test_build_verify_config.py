"""The build engine's optional steps in its configuration: "propagate schema first" and "verify after build".

Form values arrive the way DSS and argparse send them; a malformed expectations spec is rejected up front with its
JSON path; the config survives its record round trip; the expectations applied to a plan's outputs are the spec's
plus the simple fields, or by default "exists and built within this run".
"""

from __future__ import annotations

import json

import jsonschema
import pytest
from flow_orchestrator.config import (
    BuildConfig,
    build_expectations,
    config_from_dict,
    config_to_dict,
    load_schema,
    parse_build_config,
)
from flow_orchestrator.errors import ConfigError
from flow_orchestrator.graph import FlowGraph
from flow_orchestrator.pipeline import plan_sources
from flow_orchestrator.plan import make_plan
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.flow_payloads import clinical, flow

SPEC = json.dumps({"version": 1, "datasets": {"LAB_RESULTS_AGG": {"min_rows": 10, "not_empty": True}}})


def problems_of(raw, source="macro"):
    with pytest.raises(ConfigError) as caught:
        parse_build_config(raw, source)
    return dict(caught.value.problems)


def test_both_steps_are_off_by_default():
    cfg = parse_build_config({})
    assert cfg.propagate_schema_first is False and cfg.verify_after_build is False
    assert cfg.expectations is None and cfg.expected_columns == () and cfg.min_rows is None


def test_macro_form_as_dss_sends_it():
    cfg = parse_build_config(
        {
            "propagate_schema_first": True,
            "verify_after_build": True,
            "expectations": SPEC,
            "expected_columns": ["patient_id:string", "", " value_avg "],
            "min_rows": 3.0,
        }
    )
    assert cfg.propagate_schema_first and cfg.verify_after_build
    assert cfg.expectations == SPEC
    assert cfg.expected_columns == ("patient_id:string", "value_avg")
    assert cfg.min_rows == 3


def test_zero_min_rows_and_blank_spec_mean_not_checked():
    cfg = parse_build_config({"verify_after_build": True, "expectations": "  \n", "min_rows": 0}, "step")
    assert cfg.verify_after_build and cfg.expectations is None and cfg.min_rows is None


def test_the_verification_fields_are_ignored_when_verification_is_off():
    # hidden fields keep whatever was typed before: they must neither fail nor apply
    cfg = parse_build_config(
        {"verify_after_build": False, "expectations": "{not json", "expected_columns": ["a:strin"], "min_rows": 5}
    )
    assert cfg == BuildConfig()


def test_a_malformed_spec_is_named_by_its_json_path():
    spec = json.dumps({"version": 1, "datasets": {"ORDERS": {"min_rows": "ten"}}})
    found = problems_of({"verify_after_build": True, "expectations": spec})
    [field] = found
    assert field == "expectations (datasets.ORDERS.min_rows)"
    assert "whole number" in found[field]


def test_invalid_json_is_named_by_the_field_with_its_line_and_column():
    found = problems_of({"verify_after_build": True, "expectations": '{"version": 1,\n "datasets": {'})
    assert (
        list(found) == ["expectations"]
        and "not valid JSON" in found["expectations"]
        and "line 2" in found["expectations"]
    )


def test_command_line_problems_name_the_flags():
    found = problems_of(
        {
            "verify_after_build": True,
            "expectations": json.dumps({"version": 7}),
            "expected_columns": ["id:strng"],
            "min_rows": -1,
        },
        "cli",
    )
    assert "--min-rows" in found and "at least 0" in found["--min-rows"]
    assert any(field.startswith("--expectations") for field in found), found
    assert "--expect-columns[0]" in found and 'did you mean "string"' in found["--expect-columns[0]"]


def test_wrong_types_are_reported_once():
    found = problems_of({"verify_after_build": True, "min_rows": 2.5, "propagate_schema_first": "maybe"})
    assert set(found) == {"min_rows", "propagate_schema_first"}


def test_a_decoded_spec_is_accepted_and_kept_as_text():
    cfg = parse_build_config({"verify_after_build": True, "expectations": json.loads(SPEC)}, "cli")
    assert json.loads(cfg.expectations) == json.loads(SPEC)


def test_the_schema_knows_the_new_fields():
    schema = load_schema("build-config.schema.json")
    jsonschema.validate(
        {
            "propagate_schema_first": True,
            "verify_after_build": True,
            "expectations": SPEC,
            "expected_columns": ["a"],
            "min_rows": 2,
        },
        schema,
    )
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"min_rows": -1}, schema)


def test_config_to_dict_carries_the_steps_and_reads_back():
    cfg = parse_build_config(
        {
            "propagate_schema_first": True,
            "verify_after_build": True,
            "expectations": SPEC,
            "expected_columns": ["a:string"],
            "min_rows": 4,
        },
        "step",
    )
    data = config_to_dict(cfg)
    assert json.loads(json.dumps(data)) == data
    assert data["propagate_schema_first"] is True and data["expectations"] == SPEC and data["min_rows"] == 4
    assert config_from_dict(data) == cfg


columns = st.lists(st.sampled_from(["id:string", "value:double", "n:bigint", "name"]), max_size=3, unique=True)


@given(
    propagate=st.booleans(),
    verify=st.booleans(),
    spec=st.sampled_from([None, SPEC]),
    cols=columns,
    min_rows=st.one_of(st.none(), st.integers(1, 10**6)),
)
def test_config_round_trips_through_its_dict(propagate, verify, spec, cols, min_rows):
    raw = {
        "propagate_schema_first": propagate,
        "verify_after_build": verify,
        "expectations": spec,
        "expected_columns": cols,
        "min_rows": min_rows,
    }
    cfg = parse_build_config(raw)
    assert config_from_dict(config_to_dict(cfg)) == cfg
    assert cfg.propagate_schema_first is propagate
    if verify:
        assert (cfg.expectations, cfg.expected_columns, cfg.min_rows) == (spec, tuple(cols), min_rows)
    else:
        assert (cfg.expectations, cfg.expected_columns, cfg.min_rows) == (None, (), None)


# ------------------------------------------------------------------------------------- expectations of a plan


def kinds(expectations):
    return [(item.dataset, item.kind) for item in expectations.expectations]


def test_without_expectations_each_output_must_exist_and_be_built_within_the_run():
    expectations, default = build_expectations(parse_build_config({"verify_after_build": True}), ["A", "B", "A"])
    assert default is True
    assert kinds(expectations) == [("A", "exists"), ("A", "built"), ("B", "exists"), ("B", "built")]
    assert all(item.value.within_run for item in expectations.expectations if item.kind == "built")


def test_simple_fields_apply_to_every_output_and_the_spec_to_its_datasets():
    cfg = parse_build_config(
        {"verify_after_build": True, "expectations": SPEC, "expected_columns": ["patient_id"], "min_rows": 2}
    )
    expectations, default = build_expectations(cfg, ["LAB_RESULTS_AGG", "ML_TRAINING_DATA"])
    assert default is False
    assert kinds(expectations) == [
        ("LAB_RESULTS_AGG", "exists"),
        ("LAB_RESULTS_AGG", "columns"),
        ("LAB_RESULTS_AGG", "min_rows"),
        ("LAB_RESULTS_AGG", "not_empty"),
        ("ML_TRAINING_DATA", "exists"),
        ("ML_TRAINING_DATA", "columns"),
        ("ML_TRAINING_DATA", "min_rows"),
    ]
    assert expectations.get("LAB_RESULTS_AGG", "min_rows").value == 10  # the spec wins for its dataset
    assert expectations.get("ML_TRAINING_DATA", "min_rows").value == 2


def test_with_no_output_dataset_only_the_spec_is_checked():
    cfg = parse_build_config({"verify_after_build": True, "expectations": SPEC, "min_rows": 2})
    expectations, _ = build_expectations(cfg, [])
    assert kinds(expectations) == [("LAB_RESULTS_AGG", "min_rows"), ("LAB_RESULTS_AGG", "not_empty")]
    assert build_expectations(parse_build_config({"verify_after_build": True}), [])[0].is_empty


# ------------------------------------------------------------------------------------- sources of a plan


def graph_of(payload, project_key="P"):
    recipes = [
        {"name": n, "type": "python"} for n, node in payload["nodes"].items() if node["type"] == "RUNNABLE_RECIPE"
    ]
    return FlowGraph.from_payload(payload, recipes, project_key=project_key)


def test_the_sources_of_a_whole_flow_are_its_source_datasets():
    graph = graph_of(clinical(), "CLINICAL")
    plan = make_plan(graph, BuildConfig(), "CLINICAL")
    assert sorted(plan_sources(graph, plan)) == ["CLINICAL_NOTES", "LAB_RESULTS", "PATIENTS"]


def test_the_sources_of_a_partial_plan_are_the_inputs_it_does_not_build():
    graph = graph_of(clinical(), "CLINICAL")
    plan = make_plan(graph, parse_build_config({"recipes": ["join_ML_TRAINING_DATA", "train_RISK_MODEL"]}), "CLINICAL")
    assert plan_sources(graph, plan) == ["LAB_RESULTS_AGG", "CLINICAL_NOTES_AGG", "PATIENTS"]


def test_foreign_datasets_and_folders_are_not_sources():
    payload = flow(
        {"prep": (["OTHER.customers", "raw", "files"], ["clean"]), "score": (["clean"], ["scores"])},
        kinds={"files": "folder"},
    )
    graph = graph_of(payload)
    assert plan_sources(graph, make_plan(graph, BuildConfig(), "P")) == ["raw"]
