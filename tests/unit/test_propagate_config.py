"""Propagate schema: form parsing, names checked against the Flow, what the preview covers (pure, no DSS)."""

from __future__ import annotations

import pytest
from flow_orchestrator.config.propagate import DEFAULT_TIMEOUT_S, PropagateConfig, parse_propagate_config
from flow_orchestrator.errors import ConfigError
from flow_orchestrator.graph import FlowGraph
from flow_orchestrator.propagate import _preview_order, check_against_flow, downstream_datasets, downstream_recipes
from hypothesis import given
from hypothesis import strategies as st


def node(kind, preds=(), succs=(), sub_type=None):
    item = {"type": kind, "predecessors": list(preds), "successors": list(succs)}
    if sub_type:
        item["subType"] = sub_type
    return item


def flow() -> FlowGraph:
    """RAW -> sync_A -> A -> prep_B -> B -> join_C(B, REF) -> C ; REF -> side_D -> D ; OTHER -> lone -> E."""
    ds, rc = "COMPUTABLE_DATASET", "RUNNABLE_RECIPE"
    nodes = {
        "RAW": node(ds, succs=["sync_A"]),
        "REF": node(ds, succs=["join_C", "side_D"]),
        "OTHER": node(ds, succs=["lone"]),
        "sync_A": node(rc, ["RAW"], ["A"], "sync"),
        "A": node(ds, ["sync_A"], ["prep_B"]),
        "prep_B": node(rc, ["A"], ["B"], "shaker"),
        "B": node(ds, ["prep_B"], ["join_C"]),
        "join_C": node(rc, ["B", "REF"], ["C"], "join"),
        "C": node(ds, ["join_C"]),
        "side_D": node(rc, ["REF"], ["D"], "sync"),
        "D": node(ds, ["side_D"]),
        "lone": node(rc, ["OTHER"], ["E"], "sync"),
        "E": node(ds, ["lone"]),
    }
    for key, item in nodes.items():
        item["ref"] = key
    return FlowGraph.from_payload({"nodes": nodes}, project_key="P")


def test_defaults_match_the_form():
    config = parse_propagate_config({"source_dataset": " RAW "})
    assert config == PropagateConfig("RAW", auto_rebuild=True, preview_only=True, timeout_s=DEFAULT_TIMEOUT_S)


def test_every_problem_is_named_by_its_field_at_once():
    with pytest.raises(ConfigError) as caught:
        parse_propagate_config(
            {
                "auto_rebuild": "maybe",
                "stop_at": ["a", "a", 3],
                "mark_as_ok": ["a"],
                "partition_values": ["day", "=x"],
                "timeout_s": 0,
            },
            source="cli",
        )
    fields = [field for field, _ in caught.value.problems]
    # the schema's problems first (sorted by field), then the rules in code: the build config's order
    assert fields == [
        "auto_rebuild",
        "source_dataset",
        "stop_at[2]",
        "timeout_s",
        "stop_at[1]",
        "mark_as_ok",
        "partition_values[0]",
        "partition_values[1]",
    ]
    assert "recipe 'a' is listed twice" in str(caught.value)
    assert "is also in stop_at" in str(caught.value)


def test_cli_flag_names_replace_form_names():
    with pytest.raises(ConfigError, match=r"--source: choose the dataset"):
        parse_propagate_config({}, {"source_dataset": "--source"})


def test_lists_accept_comma_text_and_partition_values_accept_a_map():
    config = parse_propagate_config(
        {
            "source_dataset": "RAW",
            "stop_at": "prep_B, join_C",
            "mark_as_ok": [""],
            "partition_values": {"day": "2024-05-01"},
            "preview_only": "false",
        }
    )
    assert config.stop_at == ("prep_B", "join_C") and config.mark_as_ok == ()
    assert config.partition_values == (("day", "2024-05-01"),) and config.preview_only is False
    assert parse_propagate_config(
        {"source_dataset": "RAW", "partition_values": ["day=2024-05-01", "c=FR"]}
    ).partition_values == (("day", "2024-05-01"), ("c", "FR"))


@given(st.lists(st.sampled_from(["sync_A", "prep_B", "join_C", "side_D"]), max_size=6, unique=True))
def test_any_unique_list_of_recipe_names_round_trips(names):
    config = parse_propagate_config({"source_dataset": "RAW", "stop_at": names})
    assert config.stop_at == tuple(names) and config.to_dict()["stop_at"] == names


def test_names_are_checked_against_the_flow_with_suggestions():
    config = parse_propagate_config({"source_dataset": "RAW", "stop_at": ["prep_b"], "mark_as_ok": ["jion_C"]})
    with pytest.raises(ConfigError) as caught:
        check_against_flow(config, flow())
    problems = dict(caught.value.problems)
    assert problems["stop_at[0]"] == "recipe 'prep_b' is not in the Flow; did you mean 'prep_B'?"
    assert problems["mark_as_ok[0]"] == "recipe 'jion_C' is not in the Flow; did you mean 'join_C'?"


def test_the_source_must_be_a_dataset_of_the_flow():
    with pytest.raises(ConfigError, match="dataset 'sync_A' is not a dataset of the Flow"):
        check_against_flow(PropagateConfig("sync_A"), flow())
    with pytest.raises(ConfigError, match="dataset 'RAWW' is not in the Flow; did you mean 'RAW'"):
        check_against_flow(PropagateConfig("RAWW"), flow())


def test_a_recipe_not_downstream_is_only_a_note():
    notes = check_against_flow(PropagateConfig("RAW", stop_at=("lone",)), flow())
    assert notes == ["stop_at: recipe 'lone' is not downstream of 'RAW', so it has no effect"]


def test_downstream_recipes_and_datasets_in_flow_order():
    graph = flow()
    assert downstream_recipes(graph, "RAW") == ["sync_A", "prep_B", "join_C"]
    assert downstream_datasets(graph, "RAW") == ["RAW", "A", "B", "C"]
    assert downstream_recipes(graph, "REF") == ["side_D", "join_C"]  # by layer: side_D reads a source


def test_the_preview_skips_recipes_dss_would_not_update():
    config = PropagateConfig("RAW", stop_at=("prep_B",), mark_as_ok=("join_C",))
    assert _preview_order(flow(), config) == ["sync_A"]
