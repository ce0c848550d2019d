"""The run history's rules on an in-memory gateway: which folder a value names, what is written where and when,
which record resume reads, and that a failing folder never fails a run (nor leaks into the variable's record)."""

from __future__ import annotations

import copy
import json
import logging

import pytest
from flow_orchestrator.config import BuildConfig
from flow_orchestrator.errors import ConfigError, DSSAccessError, DSSPermissionError
from flow_orchestrator.graph import FlowGraph
from flow_orchestrator.history import (
    RecordFolder,
    RecordLocation,
    RetentionPlan,
    RunHistory,
    check_record_name,
    last_run_path,
    plan_retention,
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

    def __init__(self, folders=FOLDERS, failing=(), refused=()):
        self.folders = [dict(f) for f in folders]
        self.files = {}
        self.failing = set(failing)  # paths whose write or delete fails (a transient error)
        self.refused = set(refused)  # paths whose write or delete is refused (HTTP 403)
        self.variables = {"standard": {}, "local": {}}
        self.writes = []
        self.deletes = []
        self.listings = 0
        self.clock_ms = 1_700_000_000_000  # lastModified of the next write; +1 ms at each

    def list_managed_folders(self):
        return copy.deepcopy(self.folders)

    def get_folder_file(self, folder_id, path):
        return self.files.get((folder_id, path))

    def put_folder_file(self, folder_id, path, data):
        self.writes.append(path)
        self._check(f"Writing {path}", path)
        self.files[(folder_id, path)] = bytes(data)
        self.clock_ms += 1
        self.modified[(folder_id, path)] = self.clock_ms
        return {"path": "/" + path, "size": len(data)}

    def list_folder_files(self, folder_id):
        self.listings += 1
        return [
            {"path": "/" + path, "size": len(data), "lastModified": self.modified.get((fid, path), 0)}
            for (fid, path), data in sorted(self.files.items())
            if fid == folder_id
        ]

    def delete_folder_file(self, folder_id, path):
        self.deletes.append(path)
        self._check(f"Deleting {path}", path)
        return self.files.pop((folder_id, path), None) is not None

    def _check(self, what, path):
        if path in self.failing:
            raise TransientAPIError(f"{what}: DSS answered HTTP 503")
        if path in self.refused:
            raise DSSPermissionError(
                f"{what} in managed folder a1B2c3D4: permission denied on project P (read-only). Writing and deleting "
                "files of managed folder a1B2c3D4 needs the project permission 'Write project content'",
                detail="read-only",
            )

    @property
    def modified(self):
        return self.__dict__.setdefault("_modified", {})

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


# ------------------------------------------------------------------------------------------- retention

FOLDER = RecordFolder("a1B2c3D4", "Run history")


def run_id(day: int, suffix: str = "aaaaaa", second: int = 0) -> str:
    return f"202601{day:02d}T0200{second:02d}Z-{suffix}"


def listing(*entries) -> list:
    """Folder items as DSS lists them: ``(path, lastModified)`` pairs or bare paths (lastModified 0)."""
    items = []
    for entry in entries:
        path, modified = entry if isinstance(entry, tuple) else (entry, 0)
        items.append({"path": "/" + path, "size": 10, "lastModified": modified})
    return items


def run_files(rid: str, modified: int = 0) -> list:
    return [(f"runs/{rid}/run-record.json", modified), (f"runs/{rid}/report.html", modified)]


def test_retention_deletes_both_files_of_the_runs_beyond_the_newest_n_oldest_first():
    days = [3, 1, 4, 2, 5]  # listed out of order: the run ids decide
    items = listing(*[f for day in days for f in run_files(run_id(day))], "last_run/nightly.json")

    plan = plan_retention(items, 2, current_run_id=run_id(5))

    assert plan.kept == (run_id(5), run_id(4))
    assert plan.expired == (run_id(1), run_id(2), run_id(3))
    assert plan.delete == tuple(
        f"runs/{run_id(day)}/{name}" for day in (1, 2, 3) for name in ("run-record.json", "report.html")
    )
    assert not any(path.startswith("last_run/") for path in plan.delete)


@pytest.mark.parametrize("keep", [0, -1])
def test_keeping_zero_runs_keeps_them_all(keep):
    items = listing(*[f for day in range(1, 40) for f in run_files(run_id(day))])
    assert plan_retention(items, keep, current_run_id=run_id(39)) == RetentionPlan()


def test_fewer_runs_than_kept_deletes_nothing():
    plan = plan_retention(listing(*run_files(run_id(1)), *run_files(run_id(2))), 30)
    assert plan.delete == () and plan.kept == (run_id(2), run_id(1))


def test_the_run_just_written_is_kept_whatever_its_rank():
    """A writer whose clock is behind makes a run id older than the runs already there: it is still kept."""
    late_clock = run_id(1, "cccccc")
    items = listing(*run_files(run_id(2)), *run_files(run_id(3)), *run_files(late_clock))
    plan = plan_retention(items, 1, current_run_id=late_clock)
    assert set(plan.kept) == {run_id(3), late_clock}
    assert plan.expired == (run_id(2),)


def test_only_the_plugins_files_of_run_directories_are_ever_deleted():
    old, new = run_id(1), run_id(2)
    foreign = [
        f"runs/{old}/notes.txt",  # a user's file beside an old run's files
        f"runs/{old}/attachments/plot.png",  # deeper than a run's files
        "runs/README.md",  # beside the runs
        "runs/2025-backup/run-record.json",  # a directory whose name is not a run id
        "runs/20260101T020000Z-AAAAAA/report.html",  # nor is this one (upper-case hex)
    ]
    items = listing(*run_files(old), *run_files(new), *foreign, "last_run/nightly.json", "notes/runs/x.json")

    plan = plan_retention(items, 1, current_run_id=new)

    assert plan.delete == (f"runs/{old}/run-record.json", f"runs/{old}/report.html")
    assert plan.foreign == tuple(sorted(foreign))
    assert plan.kept == (new,)


def test_a_run_with_one_file_left_is_still_a_run_and_goes_when_its_turn_comes():
    """A delete that failed half-way (or a killed run, never reported) leaves one file: the next pass takes it."""
    half = run_id(1)
    items = listing(f"runs/{half}/report.html", *run_files(run_id(2)), *run_files(run_id(3)))
    plan = plan_retention(items, 2)
    assert plan.delete == (f"runs/{half}/report.html",)


def test_runs_are_ordered_by_their_run_id_not_by_when_their_files_were_last_written():
    """A copied folder (bundle, migration, restore) gets new lastModified times; the run ids still say the order."""
    old, mid, new = run_id(1), run_id(2), run_id(3)
    copied = listing(*run_files(new, 1000), *run_files(old, 3000), *run_files(mid, 2000))
    assert plan_retention(copied, 2).expired == (old,)
    same_time = listing(*run_files(new, 5), *run_files(old, 5), *run_files(mid, 5))
    assert plan_retention(same_time, 2).expired == (old,)


def test_runs_started_within_the_same_second_are_ordered_by_their_last_write():
    first, second = run_id(1, "ffffff"), run_id(1, "000000")  # the random part would order them the other way
    items = listing(*run_files(first, 100), (f"runs/{second}/run-record.json", 200), *run_files(run_id(1, "aaaaaa")))
    assert plan_retention(items, 1).kept == (second,)
    assert plan_retention(items, 2).kept == (second, first)


def test_paths_with_or_without_the_leading_slash_and_odd_last_modified_values_are_read():
    items = [
        {"path": f"runs/{run_id(1)}/run-record.json", "lastModified": None},
        {"path": f"/runs/{run_id(2)}/run-record.json", "lastModified": "not a time"},
        {"path": f"/runs/{run_id(3)}/run-record.json"},
    ]
    assert plan_retention(items, 1).expired == (run_id(1), run_id(2))


def _written_runs(gateway, count: int):
    """``count`` final saves of runs one day apart (without retention), as earlier runs would have left them."""
    history = RunHistory(gateway, "nightly", FOLDER)
    for day in range(1, count + 1):
        history.save(record(state="SUCCESS", run_id=run_id(day)), final=True)
    return [run_id(day) for day in range(1, count + 1)]


def _runs_left(gateway) -> list:
    return sorted({path.split("/")[1] for (_, path) in gateway.files if path.startswith("runs/")})


def test_a_final_save_deletes_the_runs_beyond_the_newest_n_and_keeps_last_run(caplog):
    caplog.set_level(logging.INFO, logger="flow_orchestrator")
    gateway = FolderGateway()
    _written_runs(gateway, 4)
    history = RunHistory(gateway, "nightly", FOLDER, keep_runs=2)

    history.save(record(state="SUCCESS", run_id=run_id(5)), final=True)

    assert _runs_left(gateway) == [run_id(4), run_id(5)]
    assert json.loads(gateway.files[(FOLDER.id, last_run_path("nightly"))])["run_id"] == run_id(5)
    assert gateway.deletes == [
        f"runs/{run_id(day)}/{name}" for day in (1, 2, 3) for name in ("run-record.json", "report.html")
    ]
    assert "Deleted 6 file(s) of the 3 run(s) beyond the newest 2 in managed folder 'Run history'" in caplog.text


def test_running_saves_and_keep_all_never_list_nor_delete():
    gateway = FolderGateway()
    _written_runs(gateway, 3)
    RunHistory(gateway, "nightly", FOLDER, keep_runs=1).save(record("RUNNING", run_id=run_id(9)), final=False)
    RunHistory(gateway, "nightly", FOLDER, keep_runs=0).save(record(run_id=run_id(9)), final=True)
    assert gateway.listings == 0 and gateway.deletes == []
    assert len(_runs_left(gateway)) == 4


def test_no_pruning_when_the_runs_own_record_did_not_reach_the_folder():
    """Deleting old runs while this one is not kept would leave fewer runs than asked."""
    gateway = FolderGateway(failing={run_record_path(run_id(9))})
    _written_runs(gateway, 3)
    RunHistory(gateway, "nightly", FOLDER, keep_runs=1).save(record(run_id=run_id(9)), final=True)
    assert gateway.listings == 0 and len(_runs_left(gateway)) == 4


def test_a_failed_delete_is_logged_once_and_the_next_run_finishes_the_job(caplog):
    gateway = FolderGateway()
    _written_runs(gateway, 3)
    gateway.failing = {f"runs/{run_id(1)}/report.html", f"runs/{run_id(2)}/report.html"}

    location = RunHistory(gateway, "nightly", FOLDER, keep_runs=1).save(record(run_id=run_id(4)), final=True)

    assert location.record_path == run_record_path(run_id(4)), "the run's own outcome stands"
    assert _runs_left(gateway) == [run_id(1), run_id(2), run_id(4)]  # their reports are still there
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "Could not delete 2 old file(s)" in warnings[0].getMessage()
    assert "the next run tries again" in warnings[0].getMessage()

    gateway.failing = set()
    RunHistory(gateway, "nightly", FOLDER, keep_runs=1).save(record(run_id=run_id(5)), final=True)
    assert _runs_left(gateway) == [run_id(5)]


def test_a_folder_that_cannot_be_listed_is_logged_and_the_run_stands(caplog):
    gateway = FolderGateway()

    def down(folder_id):
        raise TransientAPIError("Listing managed folder a1B2c3D4: DSS answered HTTP 503")

    gateway.list_folder_files = down
    location = RunHistory(gateway, "nightly", FOLDER, keep_runs=1).save(record(), final=True)
    assert location.report_path is not None
    assert (
        "Could not list managed folder 'Run history' (a1B2c3D4) to delete the runs beyond the newest 1" in caplog.text
    )


def test_foreign_files_under_runs_are_left_and_logged_once(caplog):
    caplog.set_level(logging.INFO, logger="flow_orchestrator")
    gateway = FolderGateway()
    _written_runs(gateway, 2)
    for path in (f"runs/{run_id(1)}/notes.txt", "runs/README.md"):
        gateway.files[(FOLDER.id, path)] = b"mine"

    RunHistory(gateway, "nightly", FOLDER, keep_runs=1).save(record(run_id=run_id(3)), final=True)

    left = sorted(path for (_, path) in gateway.files if path.startswith("runs/"))
    assert set(left) == {
        f"runs/{run_id(1)}/notes.txt",
        run_record_path(run_id(3)),
        run_report_path(run_id(3)),
        "runs/README.md",
    }
    lines = [r.getMessage() for r in caplog.records if "did not write" in r.getMessage()]
    assert len(lines) == 1 and "Left 2 file(s) under runs/" in lines[0] and "runs/README.md" in lines[0]


def test_a_folder_the_key_may_not_write_is_reported_once_with_the_permission_and_the_run_goes_on(caplog):
    rid = run_id(1)
    paths = (run_record_path(rid), last_run_path("nightly"), run_report_path(rid))
    gateway = FolderGateway(refused=set(paths))
    history = RunHistory(gateway, "nightly", FOLDER, keep_runs=1)
    keeper = history.keeper(clock=iter(range(0, 1000, 20)).__next__)

    keeper(record("RUNNING", run_id=rid))
    keeper(record("RUNNING", run_id=rid))  # 20 s later: a save is due, but the folder said no already
    location = history.save(record(run_id=rid), final=True)

    assert gateway.writes == [run_record_path(rid)], "one refusal is enough: no more requests to the folder"
    assert gateway.listings == 0 and gateway.deletes == []
    assert location.record_path is None and location.variable == "flow_orchestrator.last_run.nightly"
    assert json.loads(gateway.variables["local"]["flow_orchestrator.last_run.nightly"])["run_id"] == rid
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "not kept in managed folder 'Run history' (a1B2c3D4)" in warnings[0]
    assert (
        "'Write project content'" in warnings[0]
        and "project variable flow_orchestrator.last_run.nightly" in warnings[0]
    )


def test_a_refused_delete_stops_the_deletes_and_is_reported_once(caplog):
    gateway = FolderGateway()
    _written_runs(gateway, 3)
    gateway.refused = {f"runs/{run_id(1)}/run-record.json"}

    location = RunHistory(gateway, "nightly", FOLDER, keep_runs=1).save(record(run_id=run_id(4)), final=True)

    assert location.report_path == run_report_path(run_id(4))
    assert gateway.deletes == [f"runs/{run_id(1)}/run-record.json"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "'Write project content'" in warnings[0]
    assert warnings[0].startswith("Old runs are not deleted from managed folder 'Run history' (a1B2c3D4)")


def test_the_keeper_holds_back_a_change_within_its_interval_saves_it_at_a_later_call_and_skips_an_unchanged_record():
    """Coalesced, never dropped: the runner calls its sink again after a while even when nothing changed."""
    from flow_orchestrator.record import new_record

    from tests.fakes import make_test_plan

    now = [0.0]
    gateway = FolderGateway()
    keeper = RunHistory(gateway, "nightly", RecordFolder("a1B2c3D4", "Run history")).keeper(clock=lambda: now[0])
    running = new_record(make_test_plan({"a": []}))
    saved = []

    def call(at: float) -> None:
        now[0] = at
        before = gateway.writes.count(run_record_path(running.run_id))
        keeper(running)
        if gateway.writes.count(run_record_path(running.run_id)) > before:
            kept = json.loads(gateway.files[("a1B2c3D4", run_record_path(running.run_id))])
            saved.append((at, kept["recipes"][0]["state"]))

    call(0.0)  # the first call saves
    running.recipes[0].state = "SUCCESS"
    running.touch(0)
    call(0.5)  # within the interval: held back
    call(2.5)  # the runner's follow-up: the held-back change is saved
    call(10.0)  # nothing changed since: no save
    assert saved == [(0.0, "NOT_RUN"), (2.5, "SUCCESS")]
