"""Partitioned builds: the ``partitions`` option (one config path), and the job outputs the runner sends."""

from __future__ import annotations

import random

import pytest
from flow_orchestrator.config import (
    RunOptions,
    config_from_dict,
    config_to_dict,
    parse_build_config,
    partition_spec_problems,
)
from flow_orchestrator.errors import ConfigError
from flow_orchestrator.record import validate_record
from flow_orchestrator.report.terminal import format_run_headline
from flow_orchestrator.runner import run_plan

from tests.fakes import FakeDSS, VirtualClock, make_test_plan


@pytest.mark.parametrize("source", ["macro", "step", "cli"])
def test_partitions_are_read_from_every_source_and_kept_in_the_record_config(source):
    config = parse_build_config({"partitions": " 2026-12-01 , 2026-12-02 "}, source=source)
    assert config.options.partitions == "2026-12-01,2026-12-02"
    assert config_to_dict(config)["partitions"] == "2026-12-01,2026-12-02"
    assert config_from_dict(config_to_dict(config)).options.partitions == "2026-12-01,2026-12-02"


@pytest.mark.parametrize("blank", [None, "", "   "])
def test_a_blank_partitions_field_means_no_partition(blank):
    assert parse_build_config({"partitions": blank}).options.partitions is None


@pytest.mark.parametrize(
    "spec",
    ["2026-12-05", "2026-12-01,2026-12-02", "2026-12-01/2026-12-05", "2026-12-05|FR", "FR,DE"],
)
def test_valid_partition_specs(spec):
    assert partition_spec_problems(spec) == []


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ("2026-12-01,,2026-12-02", "item 2"),
        ("2026-12-01,", "item 2"),
        (",2026-12-01", "item 1"),
        ("2026-12-01/", "not a range"),
        ("2026-12-01/2026-12-02/2026-12-03", "not a range"),
        ("2026-12-05|", "empty dimension value"),
    ],
)
def test_bad_partition_specs_are_refused_naming_the_field(spec, fragment):
    with pytest.raises(ConfigError) as caught:
        parse_build_config({"partitions": spec})
    assert caught.value.problems[0][0] == "partitions"
    assert fragment in caught.value.problems[0][1]


def test_cli_errors_name_the_flag():
    with pytest.raises(ConfigError) as caught:
        parse_build_config({"partitions": "a,,b"}, source="cli")
    assert caught.value.problems[0][0] == "--partitions"


def _run(plan, partitions, partitioned):
    clock = VirtualClock()
    dss = FakeDSS(plan, clock)
    record = run_plan(
        plan,
        dss,
        RunOptions(partitions=partitions),
        clock=clock,
        wait=clock.wait,
        rng=random.Random(1),
        partitioned_outputs=partitioned,
    )
    validate_record(record.to_dict())
    return dss, record


def test_the_runner_sends_the_spec_with_partitioned_outputs_only():
    plan = make_test_plan({"a": [], "b": ["a"], "c": []})
    dss, record = _run(plan, "2026-12-05", {"a_out", "b_out"})
    sent = {start.recipes[0]: start.partitions for start in dss.starts}
    assert sent == {"a": {"a_out": "2026-12-05"}, "b": {"b_out": "2026-12-05"}, "c": None}
    assert {r.name: r.partitions for r in record.recipes} == {"a": "2026-12-05", "b": "2026-12-05", "c": None}
    assert record.recipe("a").to_dict()["partitions"] == "2026-12-05"
    assert "partitions" not in record.recipe("c").to_dict()


def test_without_a_spec_the_runner_sends_no_partition():
    plan = make_test_plan({"a": []})
    dss, record = _run(plan, None, {"a_out"})
    assert [start.partitions for start in dss.starts] == [None]
    assert record.recipe("a").partitions is None


def test_the_terminal_headline_shows_the_partitions():
    line = format_run_headline(
        {"run_id": "R", "project_key": "P", "state": "SUCCESS", "config": {"partitions": "2026-12-05"}}
    )
    assert "(partitions 2026-12-05)" in line
