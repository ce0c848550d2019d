"""Issue 10's reproductions, through the real client against the emulator, checked against the emulator's own jobs.

Each test loads the clinical Flow under its own project key on the shared wide emulator, so the faults it injects
touch no other test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import dataikuapi
from flow_orchestrator.errors import ConfigError
from flow_orchestrator.history import RunHistory
from flow_orchestrator.pipeline import run_build
from flow_orchestrator.record import load_record, parse_utc, resume_candidates
from flow_orchestrator.report import format_summary_table
from flow_orchestrator.report.html import render_build_report
from flow_orchestrator.runner import SINK_FOLLOW_UP_S

from dss_emulator import EmulatedDSS
from tests.reliability.harness import (
    Trigger,
    assert_run_settled,
    build_config,
    clinical_project,
    emulator_jobs,
    fast_clinical_flow,
    gateway_for,
    run_pipeline,
)

TRANSIENT = "java.net.SocketException: Connection reset by peer"
PERMANENT = "ERR_RECIPE_COMPUTATION_FAILED: column 'note_len' cannot be cast to bigint"


def test_a_retry_pending_when_fail_fast_stops_the_run_keeps_its_failed_attempt(wide_emulator, tmp_path):
    """10.1: LAB fails once (transient) and waits for its retry while NOTES runs 1.5 s then fails for good: the
    run stops; LAB started a job, so it is FAILED with attempts=1 (never NOT_RUN), as its only attempt ended."""
    dss = wide_emulator
    key = clinical_project(dss, group_CLINICAL_NOTES_AGG=1.5)
    dss.fail_recipe(key, "group_LAB_RESULTS_AGG", TRANSIENT, times=1)
    dss.fail_recipe(key, "group_CLINICAL_NOTES_AGG", PERMANENT)
    config = build_config(max_parallel=1, retries=1, on_failure="fail-fast")
    options = replace(config.options, retry=replace(config.options.retry, backoff_s=1.0, backoff_max_s=1.0))
    config = replace(config, options=options)  # --retry-backoff 1

    result = run_pipeline(dss, key, config, tmp_path / "record.json")
    data = assert_run_settled(result)
    lab = result.recipe("group_LAB_RESULTS_AGG")
    notes = result.recipe("group_CLINICAL_NOTES_AGG")
    assert [result.jobs[j].state for j in lab["job_ids"]] == ["FAILED"]  # the emulator's own word
    assert lab["state"] == "FAILED" and lab["attempts"] == 1
    assert "not retried" in lab["error"]["message"] and "Connection reset" in lab["error"]["message"]
    assert notes["state"] == "FAILED" and [result.jobs[j].state for j in notes["job_ids"]] == ["FAILED"]
    assert data["state"] == "FAILED"
    assert {r["name"]: r["state"] for r in data["recipes"]}["join_ML_TRAINING_DATA"] == "SKIPPED"


# ------------------------------------------------------------------------------------------------ 10.3


def _wait_until(dss, predicate, timeout: float = 60.0):
    """Wait on the emulator's change notifications (no sleep) until ``predicate()`` is true; return its value."""
    deadline = time.monotonic() + timeout
    with dss.state.changed:
        while True:
            value = predicate()
            if value:
                return value
            left = deadline - time.monotonic()
            assert left > 0, "the emulator never reached the awaited state"
            dss.state.changed.wait(min(left, 0.2))  # woken by every job change; 0.2 s re-reads the record file


def _cli(dss, *args: str) -> subprocess.Popen:
    env = dict(os.environ, DSS_API_KEY=dss.api_key, PYTHONPATH=os.pathsep.join(sys.path))
    command = [sys.executable, "-m", "flow_orchestrator", *args, "--url", dss.url, "--quiet"]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _listed(path: Path) -> dict:
    """Recipe name -> job ids the record file (and its journal, as resume reads them) lists; {} before it exists."""
    try:
        record = load_record(path)
    except ConfigError:
        return {}
    return {r.name: list(r.job_ids) for r in record.recipes}


def test_a_killed_run_is_resumed_without_a_second_job_for_an_output_dss_is_still_building(wide_emulator, tmp_path):
    """10.3: the record lists the running job; after kill -9, resume adopts it (no second job on its outputs) and
    does not re-run the recipe that had already succeeded."""
    dss = wide_emulator
    key = clinical_project(dss, group_LAB_RESULTS_AGG=3.0)
    record = tmp_path / "run.json"
    cli = _cli(dss, "build", "--project", key, "--json", str(record), "--max-parallel", "2")
    try:
        lab_job = _wait_until(
            dss,
            lambda: next(
                (j.id for j in emulator_jobs(dss, key).values() if "LAB_RESULTS_AGG" in j.outputs and not j.terminal),
                None,
            ),
        )
        listed = _wait_until(
            dss,
            lambda: (lambda jobs: jobs if lab_job in jobs.get("group_LAB_RESULTS_AGG", ()) else None)(_listed(record)),
        )
        _wait_until(dss, lambda: load_record(record).recipe("group_CLINICAL_NOTES_AGG").state == "SUCCESS")
    finally:
        cli.kill()  # kill -9: no clean-up, the LAB job keeps running on DSS
        cli.communicate()
    assert listed["group_CLINICAL_NOTES_AGG"], "the succeeded recipe's job is in the record"
    assert not emulator_jobs(dss, key)[lab_job].terminal, "the test needs the job still running at the kill"

    resumed = tmp_path / "resumed.json"
    done = _cli(dss, "resume", "--project", key, "--record", str(record), "--json", str(resumed))
    out, err = done.communicate(timeout=120)
    assert done.returncode == 0, err
    data = load_record(resumed)
    jobs = emulator_jobs(dss, key)
    lab_jobs = [j for j in jobs.values() if "LAB_RESULTS_AGG" in j.outputs]
    assert [j.id for j in lab_jobs] == [lab_job], "resume started a second job for LAB_RESULTS_AGG"
    assert data.recipe("group_LAB_RESULTS_AGG").state == "SUCCESS"
    assert data.recipe("group_LAB_RESULTS_AGG").job_ids == [lab_job]
    assert "group_CLINICAL_NOTES_AGG" not in {r.name for r in data.recipes}, "a succeeded recipe ran again"
    assert len([j for j in jobs.values() if "CLINICAL_NOTES_AGG" in j.outputs]) == 1
    assert {r.name: r.state for r in data.recipes} == {
        "group_LAB_RESULTS_AGG": "SUCCESS",
        "join_ML_TRAINING_DATA": "SUCCESS",
        "train_MODEL_SCORES": "SUCCESS",
    }
    join = next(j for j in jobs.values() if "ML_TRAINING_DATA" in j.outputs)
    assert join.created_ms >= jobs[lab_job].ended_ms, "the downstream job started before the adopted one ended"


def test_a_job_started_elsewhere_on_a_planned_output_is_waited_for(wide_emulator, tmp_path):
    """10.3: a colleague's job builds LAB_RESULTS_AGG: the run names it and starts its own only after it ended."""
    dss = wide_emulator
    key = clinical_project(dss, group_LAB_RESULTS_AGG=1.0)
    client = dataikuapi.DSSClient(dss.url, dss.api_key)
    colleague = client.get_project(key).new_job("NON_RECURSIVE_FORCED_BUILD").with_output("LAB_RESULTS_AGG").start()
    result = run_pipeline(dss, key, build_config(max_parallel=4), tmp_path / "record.json")
    data = assert_run_settled(result)
    waits = result.event_kinds("waiting_for_job")
    assert [e.job_id for e in waits] == [colleague.id] and "LAB_RESULTS_AGG" in waits[0].message
    jobs = emulator_jobs(dss, key)
    ours = jobs[result.recipe("group_LAB_RESULTS_AGG")["job_ids"][0]]
    assert ours.created_ms >= jobs[colleague.id].ended_ms, "two jobs built LAB_RESULTS_AGG at once"
    assert data["state"] == "SUCCESS"


def test_a_job_started_elsewhere_mid_run_is_waited_for_before_its_recipe_starts(wide_emulator, tmp_path):
    """10.3, every start: while LAB runs, a colleague starts a job building ML_TRAINING_DATA; the join is not started
    beside it but after it ended, and the event and the record name the colleague's job."""
    dss = wide_emulator
    key = clinical_project(dss, group_LAB_RESULTS_AGG=2.0, join_ML_TRAINING_DATA=3.0)
    client = dataikuapi.DSSClient(dss.url, dss.api_key)
    colleague = []
    start_colleague = Trigger(
        "recipe_started",
        lambda event: colleague.append(
            client.get_project(key).new_job("NON_RECURSIVE_FORCED_BUILD").with_output("ML_TRAINING_DATA").start().id
        ),
        recipe="group_LAB_RESULTS_AGG",
    )
    config = build_config(max_parallel=4)
    result = run_pipeline(dss, key, config, tmp_path / "record.json", consumers=[start_colleague])
    (other,) = colleague
    result.jobs.pop(other)  # the colleague's, not the run's: every other job is checked against the record
    data = assert_run_settled(result)
    assert data["state"] == "SUCCESS"
    waits = result.event_kinds("waiting_for_job")
    assert [(e.recipe, e.job_id) for e in waits] == [("join_ML_TRAINING_DATA", other)]
    jobs = emulator_jobs(dss, key)
    join = result.recipe("join_ML_TRAINING_DATA")
    assert join["waited_for_jobs"] == [other]
    building = [j for j in jobs.values() if "ML_TRAINING_DATA" in j.outputs]
    assert [j.id for j in building] == [other, *join["job_ids"]], "a second job built ML_TRAINING_DATA"
    assert jobs[join["job_ids"][0]].created_ms >= jobs[other].ended_ms, "two jobs built ML_TRAINING_DATA at once"


# ------------------------------------------------------------------------------------------------ 10.6 (runner)


def test_jobs_lost_to_a_dss_restart_are_recorded_as_lost_to_it_and_the_run_names_the_cause(wide_emulator, tmp_path):
    """10.6: both running jobs are lost to a restart; fail-fast stops on the first seen, yet the second is recorded
    as lost to the restart too (not "aborted because X failed"), and the FAILED run names its cause."""
    dss = wide_emulator
    key = clinical_project(dss, group_LAB_RESULTS_AGG=5.0, group_CLINICAL_NOTES_AGG=5.0)
    restart = Trigger("recipe_started", lambda event: dss.restart(), nth=2)
    config = build_config(max_parallel=2, on_failure="fail-fast", retries=0)
    result = run_pipeline(dss, key, config, tmp_path / "record.json", consumers=[restart])
    data = assert_run_settled(result)
    for name in ("group_LAB_RESULTS_AGG", "group_CLINICAL_NOTES_AGG"):
        recipe = result.recipe(name)
        assert [result.jobs[j].state for j in recipe["job_ids"]] == ["ABORTED"]
        assert recipe["state"] == "ABORTED" and "restarted" in recipe["error"]["message"], recipe["error"]
        assert "failed (on failure" not in recipe["error"]["message"]
    assert data["state"] == "FAILED" and "restarted" in data["cause"]
    assert data["counts"]["ABORTED"] == 2 and data["counts"]["FAILED"] == 0


# ------------------------------------------------------------------------------------------------ 10.5


def _independent_flow(project_key: str, count: int, seconds: float) -> dict:
    """``count`` independent grouping recipes of ``seconds`` each, all reading the clinical LAB_RESULTS."""
    clinical = fast_clinical_flow()
    unzoned = lambda item: {k: v for k, v in item.items() if k != "zone"}  # noqa: E731 - zones left out
    source = unzoned(next(d for d in clinical["datasets"] if d["name"] == "LAB_RESULTS"))
    output = unzoned(next(d for d in clinical["datasets"] if d["name"] == "LAB_RESULTS_AGG"))
    recipe = unzoned(next(r for r in clinical["recipes"] if r["name"] == "group_LAB_RESULTS_AGG"))
    flow = {k: v for k, v in clinical.items() if k not in ("datasets", "recipes", "zones")}
    flow["projectKey"] = project_key
    flow["datasets"] = [source] + [{**output, "name": f"AGG_{i:02d}"} for i in range(count)]
    flow["recipes"] = [
        {**recipe, "name": f"group_{i:02d}", "outputs": [f"AGG_{i:02d}"], "emulation": {"duration": seconds}}
        for i in range(count)
    ]
    return flow


def test_the_time_limit_counts_running_time_not_the_wait_for_an_activity_slot(tmp_path):
    """10.5: 14 independent 1 s recipes, --max-parallel 14 --timeout 2.5, 5 activity slots: all succeed (the last
    wave waits 2 s for a slot); the emulator's activities show the waits."""
    with EmulatedDSS.start(activity_cap=5) as dss:
        dss.load_flow(_independent_flow("SLOTS", 14, 1.0))
        result = run_pipeline(dss, "SLOTS", build_config(max_parallel=14, timeout_s=2.5), tmp_path / "record.json")
        data = assert_run_settled(result)
        assert data["counts"]["SUCCESS"] == 14, data["counts"]
        waits = sorted(max(a[2] for a in job.activities) - job.started_ms for job in result.jobs.values())
        assert waits[-1] >= 1500, f"the test needs jobs that waited for a slot: {waits}"


# ------------------------------------------------------------------------------------------------ 10.4


def test_a_single_job_records_each_recipe_from_its_own_activity(wide_emulator, tmp_path):
    """10.4: NOTES fails inside the single job: LAB (its activity DONE) succeeded, join and train (never started)
    are SKIPPED behind NOTES, and only NOTES carries NOTES's error; resume would re-run three recipes, not four."""
    dss = wide_emulator
    key = clinical_project(dss, group_CLINICAL_NOTES_AGG=0.3)
    dss.fail_recipe(key, "group_CLINICAL_NOTES_AGG", PERMANENT)
    config = build_config(strategy="single-job", build_mode="RECURSIVE_FORCED_BUILD")
    result = run_pipeline(dss, key, config, tmp_path / "record.json")
    data = assert_run_settled(result)  # checks each recipe's attempt against its own activity on the emulator
    (job,) = result.jobs.values()
    assert job.state == "FAILED"
    activities = {a[0]: a for a in job.activities}
    lab, notes = result.recipe("group_LAB_RESULTS_AGG"), result.recipe("group_CLINICAL_NOTES_AGG")
    assert lab["state"] == "SUCCESS" and lab["error"] is None and lab["job_ids"] == [job.id]
    assert lab["duration_s"] == round(
        (activities["group_LAB_RESULTS_AGG"][3] - activities["group_LAB_RESULTS_AGG"][2]) / 1000, 3
    )
    assert notes["state"] == "FAILED" and "note_len" in notes["error"]["message"]
    for name in ("join_ML_TRAINING_DATA", "train_MODEL_SCORES"):
        recipe = result.recipe(name)
        assert recipe["state"] == "SKIPPED" and recipe["skipped_because"] == ["group_CLINICAL_NOTES_AGG"]
        assert recipe["attempts"] == 0 and recipe["error"] is None
    assert data["counts"]["FAILED"] == 1 and data["counts"]["SUCCESS"] == 1 and data["counts"]["SKIPPED"] == 2
    assert resume_candidates(data) == ["group_CLINICAL_NOTES_AGG", "join_ML_TRAINING_DATA", "train_MODEL_SCORES"]


def test_the_record_times_are_dss_own_job_times_and_the_noticing_is_kept_apart(wide_emulator, tmp_path):
    """10.5: each recipe's started_at and ended_at are its job's start and end as DSS reports them; the run noticed
    each end at or after it (``noticed_at``), and the run's own span holds every job."""
    dss = wide_emulator
    key = clinical_project(dss, group_LAB_RESULTS_AGG=1.2)
    # a job each: a recipe's times are its job's (with grouped jobs they are its activity's, checked elsewhere)
    config = build_config(max_parallel=2, strategy="per-recipe")
    result = run_pipeline(dss, key, config, tmp_path / "record.json")
    data = assert_run_settled(result)
    assert data["state"] == "SUCCESS"
    run_start, run_end = parse_utc(data["started_at"]), parse_utc(data["ended_at"])
    for recipe in data["recipes"]:
        (job_id,) = recipe["job_ids"]
        job = result.jobs[job_id]  # the emulator's own job
        started, ended = parse_utc(recipe["started_at"]), parse_utc(recipe["ended_at"])
        assert abs(started.timestamp() * 1000 - job.started_ms) <= 1, recipe["name"]
        assert abs(ended.timestamp() * 1000 - job.ended_ms) <= 1, recipe["name"]
        assert recipe["duration_s"] == round((job.ended_ms - job.started_ms) / 1000, 3)
        (attempt,) = recipe["attempt_history"]
        assert (attempt["started_at"], attempt["ended_at"]) == (recipe["started_at"], recipe["ended_at"])
        assert parse_utc(attempt["noticed_at"]) >= ended - timedelta(milliseconds=1), "noticed before DSS ended it"
        assert run_start <= started and ended <= run_end, "a job outside the run's span"


def test_a_polling_outage_keeps_dss_times_and_is_said_in_both_reports(wide_emulator, tmp_path):
    """10.5: DSS answers no status request for a few seconds while a 1.5 s job runs: the recipe's duration is the
    job's own (the emulator's), the attempt says how long DSS did not answer, and so do the terminal table's note and
    the HTML timeline."""
    dss = wide_emulator
    key = "OUTAGE"
    dss.load_flow(_independent_flow(key, 1, 1.5))
    burst = Trigger("recipe_started", lambda event: dss.fail_requests(3))  # backoff 0.5 + 1 + 2 s without answers
    config = build_config(max_parallel=1, poll_max_s=1.0)
    result = run_pipeline(dss, key, config, tmp_path / "record.json", consumers=[burst])
    data = assert_run_settled(result)
    recipe = result.recipe("group_00")
    (job,) = result.jobs.values()
    assert job.state == "DONE" and recipe["state"] == "SUCCESS" and recipe["job_ids"] == [job.id]
    assert recipe["duration_s"] == round((job.ended_ms - job.started_ms) / 1000, 3)
    (attempt,) = recipe["attempt_history"]
    assert attempt["status_gap_s"] >= 1.0, attempt
    table = format_summary_table(data, width=200)
    assert "DSS answered no status request meanwhile" in table.splitlines()[1], table
    assert "noticed late" in render_build_report(data)


# ------------------------------------------------------------------------------------------------ 10.3 (run history)


def test_the_run_history_folder_lists_every_job_within_seconds_of_its_start_and_end(wide_emulator):
    """10.3 for macros and steps: the record in the run-history folder lists each job the emulator ran within a few
    seconds of its start and of its end (coalesced saves, the latest never dropped), and an unchanged record is not
    uploaded again (the runner calls its sink every 2 s while LAB runs 6 s alone: no upload then)."""
    dss = wide_emulator
    key = clinical_project(dss, group_LAB_RESULTS_AGG=6.0)
    folder_id = dss.client().get_project(key).create_managed_folder("Run history").id
    gateway = gateway_for(dss, key)
    uploads = []  # (wall time, {job id: attempt state}) of each save of the running record to the folder
    put = gateway.put_folder_file

    def recording_put(folder, path, data):
        if path.startswith("runs/"):
            record = json.loads(data)
            states = {a["job_id"]: a["state"] for r in record["recipes"] for a in r.get("attempt_history", [])}
            uploads.append((time.time(), states, data))
        return put(folder, path, data)

    gateway.put_folder_file = recording_put
    history = RunHistory.open(gateway, "nightly", folder_id)
    keeper = history.keeper()
    record = run_build(gateway, build_config(max_parallel=2), record_sink=keeper)
    history.save(record.to_dict(), final=True)
    assert record.state == "SUCCESS"
    jobs = emulator_jobs(dss, key)
    assert sorted(jobs) == sorted({j for r in record.recipes for j in r.job_ids})  # grouped: a job is shared
    bound = keeper.interval_s + SINK_FOLLOW_UP_S + 2.5  # coalescing, the runner's follow-up, detection and upload
    for job in jobs.values():
        listed = next(t for t, states, _ in uploads if job.id in states)
        assert listed - job.started_ms / 1000 <= bound, (job.id, listed - job.started_ms / 1000)
        ended = next(t for t, states, _ in uploads if states.get(job.id) not in (None, "RUNNING"))
        assert ended - job.ended_ms / 1000 <= bound, (job.id, ended - job.ended_ms / 1000)
    bodies = [data for _, _, data in uploads]
    assert all(a != b for a, b in zip(bodies, bodies[1:])), "an unchanged record was uploaded again"
