"""Run record: dataclasses round-trip, JSON Schema, atomic writes, validation errors, resume candidates."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

import pytest
from flow_orchestrator.errors import ConfigError
from flow_orchestrator.record import (
    Attempt,
    RecipeError,
    RunRecord,
    format_utc,
    load_record,
    new_record,
    new_run_id,
    parse_utc,
    planned_record,
    record_json,
    record_schema,
    resume_candidates,
    validate_record,
    write_record,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fakes import make_test_plan

PLAN = make_test_plan({"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"], "e": [], "f": ["e"]})


def finished_record() -> RunRecord:
    record = new_record(
        PLAN,
        config_dict={"max_parallel": 2, "api_key": "sk-secret-123"},
        dss_url="http://admin:pw@dss:11200",
        started=datetime(2026, 11, 25, 12, 34, 56, 123000, tzinfo=timezone.utc),
    )
    states = {"a": "SUCCESS", "b": "FAILED", "c": "SUCCESS", "d": "SKIPPED", "e": "TIMED_OUT", "f": "SKIPPED"}
    for run in record.recipes:
        run.state = states[run.name]
    b = record.recipe("b")
    b.attempts = 2
    b.job_ids = ["build_b_out_NP_1", "build_b_out_NP_2"]
    b.job_urls = ["http://dss/projects/PROJ/jobs/build_b_out_NP_1/", None]
    b.error = RecipeError("KeyError: 'amount'", "ExternalProcessFailedException", False)
    b.log_excerpt = "Traceback..."
    b.attempt_history = [
        Attempt(
            1,
            "build_b_out_NP_1",
            "2026-11-25T12:34:57.000Z",
            "2026-11-25T12:34:58.000Z",
            "FAILED",
            RecipeError("Connection refused", None, True),
            2.5,
        ),
        Attempt(
            2,
            "build_b_out_NP_2",
            "2026-11-25T12:35:00.500Z",
            "2026-11-25T12:35:01.000Z",
            "FAILED",
            RecipeError("KeyError: 'amount'", None, False),
        ),
    ]
    b.started_at, b.ended_at, b.duration_s = "2026-11-25T12:34:57.000Z", "2026-11-25T12:35:01.000Z", 4.0
    record.recipe("d").skipped_because = ["b"]
    record.recipe("f").skipped_because = ["e"]
    record.state = "FAILED"
    record.ended_at = "2026-11-25T12:35:10.001Z"
    record.duration_s = 13.878
    return record


def test_timestamps_are_iso_utc_with_milliseconds():
    moment = datetime(2026, 11, 25, 12, 34, 56, 123456, tzinfo=timezone.utc)
    assert format_utc(moment) == "2026-11-25T12:34:56.123Z"
    assert parse_utc("2026-11-25T12:34:56.123Z") == datetime(2026, 11, 25, 12, 34, 56, 123000, tzinfo=timezone.utc)
    assert format_utc(None) is None and parse_utc(None) is None


def test_run_ids_sort_by_time_and_are_unique():
    run_id = new_run_id(datetime(2026, 11, 25, 12, 34, 56, tzinfo=timezone.utc))
    assert re.fullmatch(r"20261125T123456Z-[0-9a-f]{6}", run_id)
    assert len({new_run_id() for _ in range(50)}) == 50


def test_new_record_lists_every_planned_recipe_in_plan_order_and_hides_secrets():
    record = finished_record()
    assert [r.name for r in record.recipes] == PLAN.names
    assert record.config["api_key"] == "***"
    assert record.config["max_parallel"] == 2
    assert record.dss_url == "http://dss:11200"  # no user info at all (redaction.public_url), not even masked
    assert record.plan == PLAN.to_dict()


def test_record_round_trips_through_dict_and_validates():
    record = finished_record()
    data = record.to_dict()
    validate_record(data)
    assert data["counts"] == {"SUCCESS": 2, "FAILED": 1, "SKIPPED": 2, "ABORTED": 0, "TIMED_OUT": 1, "NOT_RUN": 0}
    assert RunRecord.from_dict(json.loads(json.dumps(data))).to_dict() == data


def test_write_is_atomic_and_load_validates(tmp_path):
    record = finished_record()
    path = write_record(record, tmp_path / "runs" / "last.json")
    assert path.exists()
    assert [p.name for p in path.parent.iterdir()] == ["last.json"]  # no temp file left behind
    loaded = load_record(path)
    assert loaded.to_dict() == record.to_dict()
    # rewriting replaces the file as a whole
    record.state = "SUCCESS"
    write_record(record, path)
    assert json.loads(path.read_text())["state"] == "SUCCESS"


@pytest.mark.parametrize("make", [lambda: new_record(PLAN, dry_run=True), lambda: planned_record(PLAN, run_id=None)])
def test_dry_run_record_is_planned_with_nothing_run(make):
    data = make().to_dict()
    validate_record(data)
    assert data["state"] == "PLANNED" and data["dry_run"] is True
    assert data["counts"]["NOT_RUN"] == len(PLAN.recipes)


@pytest.mark.parametrize(
    "mutate,path",
    [
        (lambda d: d["recipes"][2].__setitem__("state", "DONE"), "recipes[2].state"),
        (lambda d: d.__setitem__("started_at", "yesterday"), "started_at"),
        (
            lambda d: d["recipes"][1]["attempt_history"][0].__setitem__("attempt", 0),
            "recipes[1].attempt_history[0].attempt",
        ),
        (lambda d: d.pop("run_id"), "(record)"),
        (lambda d: d["recipes"][0].__setitem__("attempts", -1), "recipes[0].attempts"),
        (lambda d: d.__setitem__("state", "ABORTED"), "state"),
    ],
)
def test_invalid_records_name_the_json_path(mutate, path):
    data = finished_record().to_dict()
    mutate(data)
    with pytest.raises(ConfigError) as info:
        load_record(data)
    assert path in [field for field, _ in info.value.problems]


def test_unreadable_files_give_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_record(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_record(bad)
    listed = tmp_path / "list.json"
    listed.write_text("[]")
    with pytest.raises(ConfigError, match="must be a JSON object"):
        load_record(listed)


def test_resume_candidates_are_everything_not_successful_in_plan_order():
    record = finished_record()
    assert resume_candidates(record) == ["b", "d", "e", "f"]
    assert resume_candidates(record.to_dict()) == ["b", "d", "e", "f"]
    record.recipe("a").state = "NOT_RUN"
    record.recipe("c").state = "ABORTED"
    assert resume_candidates(record) == ["a", "b", "c", "d", "e", "f"]


def test_schema_is_a_valid_json_schema():
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(record_schema())


def test_dss_job_durations_round_trip_and_are_the_next_runs_expected_durations():
    from flow_orchestrator.plan import expected_durations_from_record

    record = finished_record()
    a = record.recipe("a")
    a.duration_s = 9.9  # the run's own view: start request to detection, earlier attempts included
    a.attempt_history = [
        Attempt(1, "build_a_out_NP_1", state="FAILED", job_duration_s=0.5),
        Attempt(2, "build_a_out_NP_2", state="SUCCESS", job_duration_s=2.345),
    ]
    record.recipe("c").duration_s = 3.0  # no DSS time (an older record): the run's duration is the fallback
    data = record.to_dict()
    validate_record(data)
    assert data["recipes"][0]["attempt_history"][1]["job_duration_s"] == 2.345
    assert RunRecord.from_dict(json.loads(json.dumps(data))).to_dict() == data
    assert expected_durations_from_record(data) == {"a": 2.345, "c": 3.0}
    data["recipes"][0]["attempt_history"][1]["job_duration_s"] = -1
    with pytest.raises(ConfigError, match="job_duration_s"):
        validate_record(data)


def test_a_single_job_record_gives_no_expected_durations():
    from flow_orchestrator.plan import expected_durations_from_record

    data = finished_record().to_dict()
    data["recipes"][0]["duration_s"] = 5.0  # the one job's time, shown on every recipe
    assert expected_durations_from_record(data) == {"a": 5.0}
    data["plan"]["strategy"] = "single-job"
    assert expected_durations_from_record(data) == {}


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(_JSON_VALUES)
def test_record_json_is_the_json_of_any_value(value):
    text = "".join(record_json(value))
    assert text.endswith("\n") and json.loads(text) == json.loads(json.dumps(value))


def test_a_record_file_has_each_recipe_entry_on_a_line_of_its_own(tmp_path):
    record = new_record(PLAN)
    path = write_record(record, tmp_path / "r.json")
    lines = path.read_text(encoding="utf-8").splitlines()
    names = [r.name for r in PLAN.recipes]
    for pad in ("    ", "      "):  # the recipes' entries, the plan's recipes
        entries = [line.strip().rstrip(",") for line in lines if line.startswith(pad + '{"name": ')]
        assert [json.loads(entry)["name"] for entry in entries] == names
    assert json.loads(path.read_text(encoding="utf-8")) == record.to_dict()
