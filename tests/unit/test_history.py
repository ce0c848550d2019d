"""The run history's rules on an in-memory gateway: which folder a value names, what is written where and when,
which record resume reads, and that a failing folder never fails a run (nor leaks into the variable's record)."""

from __future__ import annotations

import copy
import json
import logging

import pytest
from flow_orchestrator.config import BuildConfig
from flow_orchestrator.errors import ConfigError, DSSAccessError
from flow_orchestrator.graph import FlowGraph
from flow_orchestrator.history import (
    RecordFolder,
    RecordLocation,
    RunHistory,
    check_record_name,
    last_run_path,
    resolve_record_folder,
    run_record_path,
    run_report_path,
)
from flow_orchestrator.plan import make_plan
from flow_orchestrator.port import TransientAPIError
from flow_orchestrator.record import new_record

from tests.unit.flow_payloads import flow

FOLDERS = [{"id": "a1B2c3D4", "name": "Run history"}, {"id": "Zz9Yy8Xx", "name": "Archive"}]


class FolderGateway:
    """The gateway methods the history uses: folders, their files, project variables."""

    project_key = "P"
    dss_url = "https://dss.example.com"

    def __init__(self, folders=FOLDERS, failing=()):
        self.folders = [dict(f) for f in folders]
        self.files = {}
        self.failing = set(failing)  # paths whose write fails
        self.variables = {"standard": {}, "local": {}}
        self.writes = []

    def list_managed_folders(self):
        return copy.deepcopy(self.folders)

    def get_folder_file(self, folder_id, path):
        return self.files.get((folder_id, path))

    def put_folder_file(self, folder_id, path, data):
        self.writes.append(path)
        if path in self.failing:
            raise TransientAPIError(f"Writing {path}: DSS answered HTTP 503")
        self.files[(folder_id, path)] = bytes(data)
        return {"path": "/" + path, "size": len(data)}

    def get_variables(self):
        return copy.deepcopy(self.variables)

    def update_variables(self, values, kind="standard"):
        self.variables.setdefault(kind, {}).update(values)


def record(state="FAILED", started="2026-01-01T00:00:00.000Z", run_id="20260101T000000Z-aaaaaa") -> dict:
    graph = FlowGraph.from_payload(flow({"agg": (["raw"], ["agg_out"])}), [{"name": "agg"}], project_key="P")
    made = new_record(make_plan(graph, BuildConfig(), "P"), run_id=run_id)
    made.state, made.started_at, made.ended_at, made.duration_s = state, started, started, 1.0
    made.recipes[0].state = "FAILED" if state == "FAILED" else "SUCCESS"
    made.recipes[0].log_excerpt = "Traceback: KeyError 'value'"
    return made.to_dict()


# ------------------------------------------------------------------------------------------- which folder


@pytest.mark.parametrize("value", ["a1B2c3D4", " a1B2c3D4 ", "P.a1B2c3D4", "Run history"])
def test_a_folder_is_named_by_id_by_this_projects_smart_id_or_by_a_unique_name(value):
    assert resolve_record_folder(FolderGateway(), value) == RecordFolder("a1B2c3D4", "Run history")


def test_an_unknown_folder_names_the_field_the_value_and_the_folders_there_are():
    with pytest.raises(ConfigError) as caught:
        resolve_record_folder(FolderGateway(), "OTHER.a1B2c3D4", field="--record-folder")
    assert caught.value.problems[0][0] == "--record-folder"
    message = str(caught.value)
    assert "'OTHER.a1B2c3D4'" in message and "Run history (a1B2c3D4)" in message and "Archive (Zz9Yy8Xx)" in message
    with pytest.raises(ConfigError, match="it has none: create a managed folder first"):
        resolve_record_folder(FolderGateway(folders=[]), "a1B2c3D4")


def test_an_ambiguous_name_asks_for_the_id():
    twins = FOLDERS + [{"id": "Tw1nTw1n", "name": "Run history"}]
    with pytest.raises(ConfigError, match="2 managed folders .* named 'Run history': give the id of one"):
        resolve_record_folder(FolderGateway(folders=twins), "Run history")


@pytest.mark.parametrize("name", ["nightly", "run-recipes", "ETL nightly", "v1.2", "données"])
def test_record_names_that_are_file_names_are_accepted(name):
    check_record_name(name)


@pytest.mark.parametrize("name", ["../secrets", "a/b", "a\\b", ".", "..", "tab\there"])
def test_record_names_that_are_not_file_names_are_refused(name):
    with pytest.raises(ConfigError, match="record_name"):
        check_record_name(name)


def test_opening_with_a_folder_checks_the_record_name_too():
    with pytest.raises(ConfigError, match="record_name"):
        RunHistory.open(FolderGateway(), "../x", "a1B2c3D4")
    assert RunHistory.open(FolderGateway(), "../x", None).folder is None  # no folder: the variable only, as before


# ------------------------------------------------------------------------------------------- writing


def test_a_final_save_writes_the_three_files_and_the_compact_variable():
    gateway = FolderGateway()
    history = RunHistory(gateway, "nightly", RecordFolder("a1B2c3D4", "Run history"))
    data = record()

    location = history.save(data, final=True)

    run_id = data["run_id"]
    assert location == RecordLocation(
        "flow_orchestrator.last_run.nightly",
        RecordFolder("a1B2c3D4", "Run history"),
        run_record_path(run_id),
        run_report_path(run_id),
    )
    files = {path: content for (_, path), content in gateway.files.items()}
    assert json.loads(files[run_record_path(run_id)]) == data  # full: the log excerpt is kept
    assert files[last_run_path("nightly")] == files[run_record_path(run_id)]
    assert files[run_report_path(run_id)].startswith(b"<!DOCTYPE html>")
    variable = json.loads(gateway.variables["local"]["flow_orchestrator.last_run.nightly"])
    assert variable["run_id"] == run_id and variable["recipes"][0]["log_excerpt"] is None  # compacted


def test_a_running_save_writes_no_report():
    gateway = FolderGateway()
    RunHistory(gateway, "nightly", RecordFolder("a1B2c3D4", "Run history")).save(record("RUNNING"), final=False)
    assert gateway.writes == [run_record_path("20260101T000000Z-aaaaaa"), last_run_path("nightly")]


def test_a_failing_folder_write_is_logged_and_loses_only_that_file(caplog):
    run_id = "20260101T000000Z-aaaaaa"
    gateway = FolderGateway(failing={run_report_path(run_id)})
    history = RunHistory(gateway, "nightly", RecordFolder("a1B2c3D4", "Run history"))

    location = history.save(record(), final=True)

    assert location.record_path == run_record_path(run_id) and location.report_path is None
    assert ("a1B2c3D4", last_run_path("nightly")) in gateway.files, "resume still finds the run"
    assert "flow_orchestrator.last_run.nightly" in gateway.variables["local"]
    assert f"Could not write {run_report_path(run_id)} in managed folder 'Run history'" in caplog.text
    assert location.sentence() == (
        f"managed folder 'Run history' (a1B2c3D4) at {run_record_path(run_id)} and in project variable "
        "flow_orchestrator.last_run.nightly"
    )


def test_the_command_line_history_keeps_no_project_variable():
    gateway = FolderGateway()
    history = RunHistory(gateway, "cli", RecordFolder("a1B2c3D4", "Run history"), variable=False)
    location = history.save(record(), final=True)
    assert gateway.variables == {"standard": {}, "local": {}} and location.variable is None
    assert ("a1B2c3D4", last_run_path("cli")) in gateway.files


def test_the_keeper_saves_the_running_record_and_flush_saves_an_interrupted_end():
    gateway = FolderGateway()
    history = RunHistory(gateway, "nightly", RecordFolder("a1B2c3D4", "Run history"))
    keeper = history.keeper(clock=lambda: 0.0)
    keeper(record("RUNNING"))
    keeper(record("RUNNING"))  # within the interval: skipped
    keeper(record("CANCELLED"))  # the end: left to the caller...
    assert gateway.writes.count(last_run_path("nightly")) == 1
    location = keeper.flush()  # ... or to flush() when the run stopped on an error
    assert location.report_path == run_report_path("20260101T000000Z-aaaaaa")
    kept = json.loads(gateway.files[("a1B2c3D4", last_run_path("nightly"))])
    assert kept["state"] == "CANCELLED"


# ------------------------------------------------------------------------------------------- reading


def _history_with(folder_record=None, variable_record=None, raw_folder=None):
    gateway = FolderGateway()
    folder = RecordFolder("a1B2c3D4", "Run history")
    if folder_record is not None or raw_folder is not None:
        raw = raw_folder if raw_folder is not None else json.dumps(folder_record).encode()
        gateway.files[(folder.id, last_run_path("nightly"))] = raw
    if variable_record is not None:
        gateway.variables["local"]["flow_orchestrator.last_run.nightly"] = json.dumps(variable_record)
    return RunHistory(gateway, "nightly", folder)


def test_resume_prefers_the_folder(caplog):
    caplog.set_level(logging.INFO, logger="flow_orchestrator")
    same = record()
    assert _history_with(same, same).load_last() == same
    assert "read from last_run/nightly.json in managed folder 'Run history' (a1B2c3D4)" in caplog.text


def test_resume_takes_the_variable_when_it_holds_a_newer_run(caplog):
    old = record(started="2026-01-01T00:00:00.000Z", run_id="20260101T000000Z-aaaaaa")
    new = record(started="2026-01-02T00:00:00.000Z", run_id="20260102T000000Z-bbbbbb")
    assert _history_with(old, new).load_last()["run_id"] == new["run_id"]
    assert "holds a newer run (20260102T000000Z-bbbbbb)" in caplog.text and "using the project variable" in caplog.text


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b'{"run_id": "x"}'])
def test_an_unreadable_folder_record_falls_back_to_the_variable(raw, caplog):
    kept = record()
    assert _history_with(raw_folder=raw, variable_record=kept).load_last() == kept
    assert "Ignoring last_run/nightly.json in managed folder 'Run history'" in caplog.text


def test_a_folder_that_cannot_be_read_falls_back_to_the_variable(caplog):
    history = _history_with(variable_record=record())

    def refuse(folder_id, path):
        raise DSSAccessError("Reading last_run/nightly.json: permission denied")

    history.gateway.get_folder_file = refuse
    assert history.load_last()["run_id"] == "20260101T000000Z-aaaaaa"
    assert "Could not read last_run/nightly.json" in caplog.text and "trying the project variable" in caplog.text


def test_nothing_anywhere_is_none():
    assert _history_with().load_last() is None
