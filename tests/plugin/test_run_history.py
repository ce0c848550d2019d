"""The run history folder (``record_folder``): the macro, the step and the command line keep each run's full record
and HTML report in a managed folder, and resume reads the folder's last record. Run as DSS runs them, on the emulator.
"""

from __future__ import annotations

import json
import logging
import threading

import pytest
from flow_orchestrator import cli
from flow_orchestrator.dss import DSSGateway
from flow_orchestrator.errors import ConfigError, DSSAccessError, DSSPermissionError, RecipesFailed
from flow_orchestrator.history import RunHistory
from flow_orchestrator.record import validate_record
from flow_orchestrator.shells.macros import run_build_macro
from flow_orchestrator.shells.steps import run_recipes_step

from dss_emulator import EmulatedDSS

LAB, NOTES, JOIN, TRAIN = (
    "group_LAB_RESULTS_AGG",
    "group_CLINICAL_NOTES_AGG",
    "join_ML_TRAINING_DATA",
    "train_MODEL_SCORES",
)
PIPELINE = [LAB, NOTES, JOIN]


def make_folder(dss, project_key: str, name: str = "Run history") -> str:
    return dss.client().get_project(project_key).create_managed_folder(name).id


def folder_files(dss, project_key: str, folder_id: str) -> dict:
    """Every file of the folder: path (as DSS lists it, ``/runs/...``) -> bytes."""
    folder = dss.client().get_project(project_key).get_managed_folder(folder_id)
    files = {}
    for item in folder.list_contents()["items"]:
        with folder.get_file(item["path"]) as response:
            files[item["path"]] = response.content
    return files


def stored_variable(dss, project_key: str, name: str) -> dict:
    local = dss.client().get_project(project_key).get_variables()["local"]
    return json.loads(local["flow_orchestrator.last_run." + name])


def forget_variable(dss, project_key: str, name: str) -> None:
    project = dss.client().get_project(project_key)
    variables = project.get_variables()
    del variables["local"]["flow_orchestrator.last_run." + name]
    project.set_variables(variables)


def test_a_step_keeps_the_full_record_the_report_and_the_last_run_in_its_folder(run_step, clinical_dss, project_key):
    folder_id = make_folder(clinical_dss, project_key)
    clinical_dss.fail_recipe(project_key, LAB, "Division by zero in column value")

    with pytest.raises(RecipesFailed) as caught:
        run_step({"recipes": PIPELINE, "parallel": True, "on_failure": "continue", "record_folder": folder_id})

    run_id = run_step.variables["flow_orchestrator_run_id"]
    files = folder_files(clinical_dss, project_key, folder_id)
    record_path, report_path = f"runs/{run_id}/run-record.json", f"runs/{run_id}/report.html"
    assert set(files) == {"/" + record_path, "/" + report_path, "/last_run/run-recipes.json"}

    record = json.loads(files["/" + record_path])
    validate_record(record)
    assert record["run_id"] == run_id and record["state"] == "FAILED"
    assert json.loads(files["/last_run/run-recipes.json"]) == record
    lab = next(r for r in record["recipes"] if r["name"] == LAB)
    assert "Division by zero" in (lab["log_excerpt"] or ""), "the folder keeps the full record, logs included"
    assert lab["job_urls"] and lab["attempt_history"]
    kept = stored_variable(clinical_dss, project_key, "run-recipes")  # the variable is still written, compacted
    assert kept["run_id"] == run_id and next(r for r in kept["recipes"] if r["name"] == LAB)["log_excerpt"] is None

    report = files["/" + report_path].decode("utf-8")
    assert report.lstrip().lower().startswith("<!doctype html") and run_id in report
    assert LAB in report and "Division by zero in column value" in report

    variables = run_step.variables
    assert variables["flow_orchestrator_run_record_folder"] == folder_id
    assert variables["flow_orchestrator_run_record_path"] == record_path
    assert variables["flow_orchestrator_run_report_path"] == report_path
    assert variables["flow_orchestrator_run_record_variable"] == "flow_orchestrator.last_run.run-recipes"
    message = str(caught.value)
    assert f"managed folder 'Run history' ({folder_id}) at {record_path}" in message
    assert report_path in message and "flow_orchestrator.last_run.run-recipes" in message


def test_resume_reads_the_folder_and_reruns_only_what_failed_or_was_skipped(
    run_step, clinical_dss, project_key, caplog
):
    folder_id = make_folder(clinical_dss, project_key)
    config = {
        "recipes": PIPELINE,
        "parallel": True,
        "on_failure": "continue",
        "record_name": "nightly",
        "record_folder": folder_id,
    }
    clinical_dss.fail_recipe(project_key, LAB, "lock timeout", times=1)
    with pytest.raises(RecipesFailed):
        run_step(config)
    first = run_step.variables["flow_orchestrator_run_id"]
    forget_variable(clinical_dss, project_key, "nightly")  # only the folder knows the last run now
    without_folder = {k: v for k, v in config.items() if k != "record_folder"}
    with pytest.raises(ConfigError, match="no previous run record"):
        run_step(dict(without_folder, resume_last_run=True))
    before = clinical_dss.job_starts(project_key)
    caplog.set_level(logging.INFO, logger="flow_orchestrator")

    run_step(dict(config, resume_last_run=True))

    assert f"run {first}, read from last_run/nightly.json in managed folder 'Run history' ({folder_id})" in caplog.text
    files = folder_files(clinical_dss, project_key, folder_id)
    resumed = json.loads(files["/last_run/nightly.json"])
    assert resumed["resumed_from"] == first and resumed["state"] == "SUCCESS"
    assert [r["name"] for r in resumed["recipes"]] == [LAB, JOIN]  # NOTES succeeded the first time
    assert clinical_dss.job_starts(project_key) - before == 1  # LAB -> join: one chain, one grouped job
    second = run_step.variables["flow_orchestrator_run_id"]
    assert {f"/runs/{first}/report.html", f"/runs/{second}/report.html"} <= set(files)
    assert stored_variable(clinical_dss, project_key, "nightly")["run_id"] == second


def test_resume_falls_back_to_the_project_variable_and_says_so(run_step, clinical_dss, project_key, caplog):
    clinical_dss.fail_recipe(project_key, JOIN, "lock timeout", times=1)
    with pytest.raises(RecipesFailed):
        run_step({"recipes": PIPELINE, "parallel": True})  # no folder yet: the variable only
    first = run_step.variables["flow_orchestrator_run_id"]
    folder_id = make_folder(clinical_dss, project_key)
    caplog.set_level(logging.INFO, logger="flow_orchestrator")

    run_step({"recipes": PIPELINE, "parallel": True, "resume_last_run": True, "record_folder": folder_id})

    assert "No run record at last_run/run-recipes.json in managed folder 'Run history'" in caplog.text
    assert "using project variable flow_orchestrator.last_run.run-recipes" in caplog.text
    resumed = json.loads(folder_files(clinical_dss, project_key, folder_id)["/last_run/run-recipes.json"])
    assert resumed["resumed_from"] == first and [r["name"] for r in resumed["recipes"]] == [JOIN]


@pytest.mark.parametrize("door", ["step", "macro"])
def test_an_unknown_folder_is_refused_naming_the_field_before_any_job(
    door, run_step, run_macro, clinical_dss, project_key
):
    make_folder(clinical_dss, project_key, "Archive")
    with pytest.raises(ConfigError) as caught:
        if door == "step":
            run_step({"recipes": PIPELINE, "record_folder": "nOsUcHiD"})
        else:
            run_macro({"record_folder": "nOsUcHiD"})
    message = str(caught.value)
    assert "record_folder" in message and "nOsUcHiD" in message and "Archive" in message, message
    assert clinical_dss.job_starts(project_key) == 0
    assert run_step.variables == {}, "a rejected step publishes nothing"


def test_the_macro_keeps_its_history_and_the_folder_report_is_the_one_it_returns(run_macro, clinical_dss, project_key):
    folder_id = make_folder(clinical_dss, project_key)

    dry = run_macro({"dry_run": True, "record_folder": folder_id})
    assert folder_files(clinical_dss, project_key, folder_id) == {}, "a dry run keeps nothing"
    assert dry.result

    outcome = run_macro({"recipes": [LAB, NOTES], "record_folder": folder_id})

    files = folder_files(clinical_dss, project_key, folder_id)
    record = json.loads(files["/last_run/build-pipeline.json"])
    assert record["state"] == "SUCCESS"
    report = files[f"/runs/{record['run_id']}/report.html"].decode("utf-8")
    assert outcome.result in report, "the folder's page wraps the very report the macro returned"
    assert stored_variable(clinical_dss, project_key, "build-pipeline")["run_id"] == record["run_id"]


def test_the_running_record_reaches_the_folder_before_the_run_ends(clinical_dss, project_key):
    folder_id = make_folder(clinical_dss, project_key)
    clinical_dss.hang_recipe(project_key, LAB)
    client = clinical_dss.client()
    outcome = {}

    def run():
        outcome["html"] = run_build_macro(
            {"recipes": [LAB], "record_folder": folder_id}, {}, client=client, project_key=project_key
        )

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    with clinical_dss.state.lock:  # the run saves its record before its first job starts
        assert clinical_dss.state.changed.wait_for(lambda: clinical_dss.state.project(project_key).jobs, 30)
    running = folder_files(clinical_dss, project_key, folder_id)
    record = json.loads(running["/last_run/build-pipeline.json"])
    assert record["state"] == "RUNNING"
    assert set(running) == {f"/runs/{record['run_id']}/run-record.json", "/last_run/build-pipeline.json"}

    clinical_dss.clear_faults()
    thread.join(30)
    assert not thread.is_alive() and outcome["html"]
    done = folder_files(clinical_dss, project_key, folder_id)
    assert json.loads(done["/last_run/build-pipeline.json"])["state"] == "SUCCESS"
    assert f"/runs/{record['run_id']}/report.html" in done


# ------------------------------------------------------------------------------------------- escaping

SCRIPT_NAME = "<script>document['title']='XSS'<script>"  # a recipe name cannot hold '/'
SCRIPT_MESSAGE = "Recipe crashed: <script>alert(1)</script>"


def _payload_flow() -> dict:
    return {
        "projectKey": "PAYLOAD",
        "datasets": [
            {"name": "SRC", "schema": [{"name": "id", "type": "string"}], "rows": [["a"]]},
            {"name": "OUT"},
        ],
        "recipes": [
            {"name": SCRIPT_NAME, "type": "sync", "inputs": ["SRC"], "outputs": ["OUT"], "emulation": {"duration": 0}}
        ],
    }


class _Scenario:
    def __init__(self):
        self.variables = {}

    def set_scenario_variables(self, **values):
        self.variables.update(values)

    def add_report_item(self, *args):
        pass


def test_the_report_in_the_folder_escapes_a_recipe_name_payload():
    with EmulatedDSS.start(flows=[_payload_flow()]) as dss:
        folder_id = make_folder(dss, "PAYLOAD")
        dss.fail_recipe("PAYLOAD", SCRIPT_NAME, SCRIPT_MESSAGE)
        scenario = _Scenario()
        with pytest.raises(RecipesFailed):
            run_recipes_step(
                {"record_folder": folder_id},
                {"config": {}},
                client=dss.client(),
                project_key="PAYLOAD",
                scenario=scenario,
            )
        html = folder_files(dss, "PAYLOAD", folder_id)["/" + scenario.variables["flow_orchestrator_run_report_path"]]
    text = html.decode("utf-8")
    assert "<script" not in text.lower(), "a payload became markup in the report kept in the folder"
    assert "&lt;script&gt;document[&#39;title&#39;]=&#39;XSS&#39;&lt;script&gt;" in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text


# ------------------------------------------------------------------------------------------- command line


def _cli(dss, project_key, *args) -> int:
    return cli.main(
        [args[0], "--url", dss.url, "--api-key", dss.api_key, "--project", project_key, "--quiet", *args[1:]]
    )


def test_the_command_line_keeps_and_resumes_from_the_same_folder(clinical_dss, project_key, capsys):
    folder_id = make_folder(clinical_dss, project_key)
    clinical_dss.fail_recipe(project_key, NOTES, "lock timeout", times=1)

    assert _cli(clinical_dss, project_key, "build", "--on-failure", "continue", "--record-folder", folder_id) == 1
    first = json.loads(folder_files(clinical_dss, project_key, folder_id)["/last_run/cli.json"])
    assert {r["name"]: r["state"] for r in first["recipes"]}[NOTES] == "FAILED"
    assert f"at runs/{first['run_id']}/run-record.json" in capsys.readouterr().err
    before = clinical_dss.job_starts(project_key)

    assert _cli(clinical_dss, project_key, "resume", "--record-folder", "Run history") == 0  # a name works too

    files = folder_files(clinical_dss, project_key, folder_id)
    resumed = json.loads(files["/last_run/cli.json"])
    assert resumed["resumed_from"] == first["run_id"] and resumed["state"] == "SUCCESS"
    assert [r["name"] for r in resumed["recipes"]] == [NOTES, JOIN, TRAIN]
    assert clinical_dss.job_starts(project_key) - before == 1  # NOTES -> join -> train: one chain, one grouped job
    assert f"/runs/{resumed['run_id']}/report.html" in files


def test_the_command_line_refuses_an_unknown_folder_before_any_job(clinical_dss, project_key, capsys):
    assert _cli(clinical_dss, project_key, "build", "--record-folder", "nOsUcHiD") == cli.EXIT_BAD_INPUT
    assert _cli(clinical_dss, project_key, "resume") == cli.EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "--record-folder" in err and "nOsUcHiD" in err and "create a managed folder" in err
    assert "--record FILE" in err
    assert clinical_dss.job_starts(project_key) == 0


# ------------------------------------------------------------------------------------------- the gateway's folder calls


def test_the_gateway_reads_writes_and_lists_folder_files_with_the_usual_error_mapping(clinical_dss, project_key):
    gateway = DSSGateway(clinical_dss.client(), project_key)
    folder_id = make_folder(clinical_dss, project_key)
    assert {"id": folder_id, "name": "Run history"}.items() <= gateway.list_managed_folders()[0].items()

    assert gateway.get_folder_file(folder_id, "last_run/nightly.json") is None, "a missing file is no error"
    assert gateway.put_folder_file(folder_id, "last_run/nightly.json", b'{"a": 1}')["size"] == 8
    assert gateway.get_folder_file(folder_id, "last_run/nightly.json") == b'{"a": 1}'
    assert [f["path"] for f in gateway.list_folder_files(folder_id)] == ["/last_run/nightly.json"]

    clinical_dss.fail_requests(1)  # one HTTP 500: writing a whole file again is safe, so it is retried
    gateway.put_folder_file(folder_id, "runs/r1/report.html", b"<p>ok</p>")
    assert gateway.get_folder_file(folder_id, "runs/r1/report.html") == b"<p>ok</p>"

    for call in (
        lambda: gateway.put_folder_file("nOsUcHiD", "a.json", b"{}"),
        lambda: gateway.list_folder_files("nOsUcHiD"),
    ):
        with pytest.raises(DSSAccessError, match=f"project {project_key} has no managed folder with id 'nOsUcHiD'"):
            call()


def test_a_read_only_key_cannot_write_the_history_and_is_told_which_permission_that_needs():
    with EmulatedDSS.start(flows=[{"projectKey": "RO", "datasets": []}], read_only_api_key="reader-key") as dss:
        folder_id = make_folder(dss, "RO")
        dss.client().get_project("RO").get_managed_folder(folder_id).put_file("runs/r1/report.html", b"<p>ok</p>")
        reader = DSSGateway(dss.client("reader-key"), "RO")
        assert reader.get_folder_file(folder_id, "a.json") is None
        for call, what in (
            (lambda: reader.put_folder_file(folder_id, "a.json", b"{}"), "Writing a.json"),
            (lambda: reader.delete_folder_file(folder_id, "runs/r1/report.html"), "Deleting runs/r1/report.html"),
        ):
            with pytest.raises(DSSPermissionError) as caught:
                call()
            message = str(caught.value)
            assert message.startswith(f"{what} in managed folder {folder_id}: permission denied on project RO")
            assert "read-only" in message, "DSS's own words are kept"
            assert f"managed folder {folder_id} needs the project permission 'Write project content'" in message
            assert "grant it on project RO" in message and "'Run jobs'" not in message
        assert reader.get_folder_file(folder_id, "runs/r1/report.html") == b"<p>ok</p>", "nothing was deleted"


# ------------------------------------------------------------------------------------------- retention


def run_dirs(dss, project_key: str, folder_id: str) -> set:
    """The run ids of ``runs/`` that still hold a file the plugin writes."""
    return {
        path.split("/")[2]
        for path in folder_files(dss, project_key, folder_id)
        if path.startswith("/runs/") and path.endswith(("/run-record.json", "/report.html"))
    }


def test_a_step_run_four_times_keeps_the_newest_two_runs_and_its_last_run(run_step, clinical_dss, project_key):
    folder_id = make_folder(clinical_dss, project_key)
    config = {"recipes": [LAB], "record_folder": folder_id, "keep_runs": 2}
    run_ids = []
    for _ in range(4):
        run_step(config)
        run_ids.append(run_step.variables["flow_orchestrator_run_id"])
        assert run_ids[-1] in run_dirs(clinical_dss, project_key, folder_id), "the run just written is never deleted"

    files = folder_files(clinical_dss, project_key, folder_id)
    newest = run_ids[2:]
    assert set(files) == {f"/runs/{r}/{name}" for r in newest for name in ("run-record.json", "report.html")} | {
        "/last_run/run-recipes.json"
    }
    assert json.loads(files["/last_run/run-recipes.json"])["run_id"] == run_ids[-1]
    assert run_step.variables["flow_orchestrator_run_report_path"] == f"runs/{run_ids[-1]}/report.html"


def test_keeping_zero_runs_keeps_every_run(run_step, clinical_dss, project_key):
    folder_id = make_folder(clinical_dss, project_key)
    run_ids = []
    for _ in range(3):
        run_step({"recipes": [LAB], "record_folder": folder_id, "keep_runs": 0})
        run_ids.append(run_step.variables["flow_orchestrator_run_id"])
    assert run_dirs(clinical_dss, project_key, folder_id) == set(run_ids)


def test_the_policy_sets_how_many_runs_the_macro_keeps_and_foreign_files_stay(run_macro, clinical_dss, project_key):
    folder_id = make_folder(clinical_dss, project_key)
    folder = clinical_dss.client().get_project(project_key).get_managed_folder(folder_id)
    old = "20200101T000000Z-0a0a0a"  # a run of long ago, with a note a user put beside it
    foreign = {f"/runs/{old}/notes.txt", "/runs/README.md", "/runs/archive/2019.zip", "/reports/weekly.html"}
    for path in [f"runs/{old}/run-record.json", f"runs/{old}/report.html"] + sorted(foreign):
        folder.put_file(path, b"kept by a user")

    form = {"recipes": [LAB], "record_folder": folder_id, "pipeline_policy": {"keep_runs": 1}}
    run_macro(form)
    run_macro(form)

    files = folder_files(clinical_dss, project_key, folder_id)
    newest = json.loads(files["/last_run/build-pipeline.json"])["run_id"]
    assert run_dirs(clinical_dss, project_key, folder_id) == {newest}
    assert foreign <= set(files), "files the plugin did not write are never deleted"
    assert all(files[path] == b"kept by a user" for path in foreign)


def test_the_command_line_keeps_the_runs_it_is_told_to(clinical_dss, project_key, capsys):
    folder_id = make_folder(clinical_dss, project_key)
    for _ in range(3):
        assert (
            _cli(clinical_dss, project_key, "build", "--recipes", LAB, "--record-folder", folder_id, "--keep-runs", "2")
            == 0
        )
    assert len(run_dirs(clinical_dss, project_key, folder_id)) == 2
    newest = json.loads(folder_files(clinical_dss, project_key, folder_id)["/last_run/cli.json"])["run_id"]
    assert newest in run_dirs(clinical_dss, project_key, folder_id)


def test_a_folder_a_read_only_key_cannot_write_is_reported_once_and_the_run_stands(caplog):
    with EmulatedDSS.start(flows=[{"projectKey": "RO", "datasets": []}], read_only_api_key="reader-key") as dss:
        folder_id = make_folder(dss, "RO")
        history = RunHistory.open(
            DSSGateway(dss.client("reader-key"), "RO"), "cli", folder_id, variable=False, keep_runs=1
        )
        record = {"run_id": "20260101T000000Z-aaaaaa", "state": "SUCCESS", "project_key": "RO", "recipes": []}

        location = history.save(record, final=True)

        assert location.record_path is None and location.sentence() is None
        assert folder_files(dss, "RO", folder_id) == {}
        warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warnings) == 1, warnings  # one refusal said once, not one per file
        assert f"This run's history is not kept in managed folder 'Run history' ({folder_id})" in warnings[0]
        assert "'Write project content'" in warnings[0] and "grant it on project RO" in warnings[0]
