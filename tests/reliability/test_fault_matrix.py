"""Every fault the emulator can inject, with a real pipeline run through it.

The clinical flow: ``group_LAB_RESULTS_AGG`` and ``group_CLINICAL_NOTES_AGG`` in parallel, then
``join_ML_TRAINING_DATA``, then ``train_MODEL_SCORES``. Each test asserts the final state of every recipe, and
:func:`assert_run_settled` holds the run to the rules no fault may break: a complete, schema-valid record on disk (even
when the run fails, is cancelled or raises), every planned recipe exactly once, every job the run started known to the
record and finished on DSS, nothing left RUNNING after fail-fast, a timeout or a cancellation.

Faults are injected from progress-event consumers (a recipe started, the plan is ready), never after a sleep.
"""

from __future__ import annotations

import threading

import pytest
from flow_orchestrator.errors import DSSAccessError
from flow_orchestrator.pipeline import prepare_build
from flow_orchestrator.runner import run_plan

from tests.reliability.harness import (
    CLINICAL,
    CLINICAL_RECIPES,
    JOIN,
    LAB,
    NOTES,
    TRAIN,
    Trigger,
    assert_run_settled,
    build_config,
    emulator_jobs,
    gateway_for,
    run_pipeline,
)

pytestmark = pytest.mark.emulator_only

#: What the matrix covered, printed by the last test (the closing note's "faults survived").
SURVIVED = []


def survived(name: str) -> None:
    SURVIVED.append(name)


def _jobs_of(result, recipe):
    return [result.jobs[job_id] for job_id in result.recipe(recipe)["job_ids"]]


# ----------------------------------------------------------------------------------------------- recipe failures


def test_permanent_failure_fail_fast_aborts_the_running_sibling(dss, record_path):
    dss.fail_recipe(CLINICAL, LAB, "Column LAB_VALUE not found in dataset LAB_RESULTS")
    dss.hang_recipe(CLINICAL, NOTES)  # still running when LAB fails: fail-fast must abort it

    result = run_pipeline(dss, CLINICAL, build_config(max_parallel=4, on_failure="fail-fast"), record_path)

    data = assert_run_settled(result, CLINICAL_RECIPES)
    assert data["state"] == "FAILED"
    assert result.states() == {LAB: "FAILED", NOTES: "ABORTED", JOIN: "SKIPPED", TRAIN: "SKIPPED"}
    assert "LAB_VALUE" in result.recipe(LAB)["error"]["message"]
    assert "fail-fast" in result.recipe(NOTES)["error"]["message"]
    assert [j.state for j in _jobs_of(result, NOTES)] == ["ABORTED"]
    assert result.recipe(JOIN)["skipped_because"] == [LAB]
    survived("permanent failure, fail-fast (sibling aborted)")


def test_permanent_failure_continue_skips_only_downstream(dss, record_path):
    dss.fail_recipe(CLINICAL, LAB, "Column LAB_VALUE not found", error_type="ERR_RECIPE_CANNOT_CHECK_SCHEMA")

    result = run_pipeline(dss, CLINICAL, build_config(on_failure="continue", retries=3), record_path)

    data = assert_run_settled(result, CLINICAL_RECIPES)
    assert data["state"] == "FAILED"
    assert result.states() == {LAB: "FAILED", NOTES: "SUCCESS", JOIN: "SKIPPED", TRAIN: "SKIPPED"}
    assert result.recipe(LAB)["attempts"] == 1, "a permanent failure must not be retried"
    assert result.recipe(LAB)["error"]["transient"] is False
    assert result.recipe(TRAIN)["skipped_because"] == [LAB]
    survived("permanent failure, continue (no retry of a permanent error)")


def test_transient_failure_is_retried_until_it_succeeds(dss, record_path):
    dss.fail_recipe(CLINICAL, NOTES, "java.net.SocketException: Connection reset by peer", times=2)

    result = run_pipeline(dss, CLINICAL, build_config(retries=2), record_path)

    data = assert_run_settled(result, CLINICAL_RECIPES)
    assert data["state"] == "SUCCESS"
    assert set(result.states().values()) == {"SUCCESS"}
    notes = result.recipe(NOTES)
    assert notes["attempts"] == 3
    assert [a["state"] for a in notes["attempt_history"]] == ["FAILED", "FAILED", "SUCCESS"]
    assert [j.state for j in _jobs_of(result, NOTES)] == ["FAILED", "FAILED", "DONE"]
    assert notes["error"] is None
    assert len(result.event_kinds("recipe_retrying")) == 2
    survived("transient failure x2, retried to success")


def test_transient_failure_beyond_the_retries_fails_the_recipe(dss, record_path):
    dss.fail_recipe(CLINICAL, LAB, "ERR_SQL_DB_UNREACHABLE: could not connect to server", times=5)

    result = run_pipeline(dss, CLINICAL, build_config(retries=1, on_failure="continue"), record_path)

    data = assert_run_settled(result, CLINICAL_RECIPES)
    assert data["state"] == "FAILED"
    assert result.states() == {LAB: "FAILED", NOTES: "SUCCESS", JOIN: "SKIPPED", TRAIN: "SKIPPED"}
    lab = result.recipe(LAB)
    assert lab["attempts"] == 2, "attempts must stop at 1 + retries"
    assert lab["error"]["transient"] is True
    survived("transient failure beyond the retries")


# ----------------------------------------------------------------------------------------------- hangs and aborts


def test_hanging_recipe_times_out_and_its_job_is_really_aborted(dss, record_path):
    dss.hang_recipe(CLINICAL, LAB)

    result = run_pipeline(dss, CLINICAL, build_config(timeout_s=0.3, on_failure="continue", retries=2), record_path)

    data = assert_run_settled(result, CLINICAL_RECIPES)
    assert data["state"] == "FAILED"
    assert result.states() == {LAB: "TIMED_OUT", NOTES: "SUCCESS", JOIN: "SKIPPED", TRAIN: "SKIPPED"}
    lab = result.recipe(LAB)
    assert lab["attempts"] == 1, "a timeout is not retried"
    assert "Timed out" in lab["error"]["message"]
    [job] = _jobs_of(result, LAB)
    assert job.state == "ABORTED" and all(a[1] == "ABORTED" for a in job.activities)
    survived("hang -> timeout, DSS job aborted")


def test_job_aborted_by_a_user_is_recorded_and_stops_its_downstream(dss, record_path):
    dss.hang_recipe(CLINICAL, LAB)
    user = Trigger("recipe_started", lambda event: dss.abort_job(CLINICAL, event.job_id), recipe=LAB)

    result = run_pipeline(dss, CLINICAL, build_config(on_failure="continue", retries=2), record_path, consumers=[user])

    data = assert_run_settled(result, CLINICAL_RECIPES)
    assert user.fired
    assert data["state"] == "FAILED"
    assert result.states() == {LAB: "ABORTED", NOTES: "SUCCESS", JOIN: "SKIPPED", TRAIN: "SKIPPED"}
    assert "outside this run" in result.recipe(LAB)["error"]["message"]
    assert result.recipe(LAB)["attempts"] == 1, "a job a user aborted is not started again"
    survived("external abort by a user")


def test_cancellation_aborts_every_running_job_and_writes_the_record(dss, record_path):
    dss.hang_recipe(CLINICAL, LAB)
    dss.hang_recipe(CLINICAL, NOTES)
    cancel = threading.Event()
    both_started = Trigger("recipe_started", lambda event: cancel.set(), nth=2)

    result = run_pipeline(
        dss, CLINICAL, build_config(max_parallel=4), record_path, consumers=[both_started], cancel=cancel
    )

    data = assert_run_settled(result, CLINICAL_RECIPES)
    assert data["state"] == "CANCELLED"
    assert result.states() == {LAB: "ABORTED", NOTES: "ABORTED", JOIN: "NOT_RUN", TRAIN: "NOT_RUN"}
    assert all(j.state == "ABORTED" for j in result.jobs.values()) and len(result.jobs) == 2
    assert result.event_kinds("run_finished")[-1].state == "CANCELLED"
    survived("cancellation (both running jobs aborted)")


def test_cancellation_before_any_job_starts_nothing(dss, record_path):
    cancel = threading.Event()
    at_plan = Trigger("plan_ready", lambda event: cancel.set())

    result = run_pipeline(dss, CLINICAL, build_config(), record_path, consumers=[at_plan], cancel=cancel)

    data = assert_run_settled(result, CLINICAL_RECIPES)
    assert data["state"] == "CANCELLED"
    assert set(result.states().values()) == {"NOT_RUN"}
    assert result.jobs == {}
    survived("cancellation before the first job")


# ----------------------------------------------------------------------------------------------- the API misbehaves


@pytest.mark.parametrize("mode", ["500", "drop"])
def test_burst_of_api_errors_during_the_run_fails_no_recipe(dss, record_path, mode):
    burst = Trigger("recipe_started", lambda event: dss.fail_requests(4, mode))

    result = run_pipeline(dss, CLINICAL, build_config(max_parallel=4), record_path, consumers=[burst])

    data = assert_run_settled(result, CLINICAL_RECIPES)
    assert burst.fired and dss.status()["faults"]["failingRequests"]["count"] == 0, "the burst was not consumed"
    assert data["state"] == "SUCCESS", result.states()
    assert all(r["attempts"] == 1 for r in data["recipes"]), "an API error was taken for a job failure"
    survived(f"burst of 4 requests answered {'HTTP 500' if mode == '500' else 'with a dropped connection'}")


def test_restart_that_loses_running_jobs_ends_them_aborted(dss, record_path):
    dss.hang_recipe(CLINICAL, LAB)
    dss.hang_recipe(CLINICAL, NOTES)
    lost = []
    restart = Trigger("recipe_started", lambda event: lost.extend(dss.restart()), nth=2)

    result = run_pipeline(
        dss, CLINICAL, build_config(max_parallel=4, on_failure="continue"), record_path, consumers=[restart]
    )

    data = assert_run_settled(result, CLINICAL_RECIPES)
    assert sorted(lost) == sorted(result.jobs), "the restart did not hit the run's jobs"
    assert data["state"] == "FAILED"
    assert result.states() == {LAB: "ABORTED", NOTES: "ABORTED", JOIN: "SKIPPED", TRAIN: "SKIPPED"}
    survived("DSS restart losing both running jobs")


def test_job_lost_to_a_restart_names_the_restart_and_is_retried(dss, record_path):
    dss.hang_recipe(CLINICAL, LAB)

    def restart_then_release(event):
        dss.restart()
        dss.clear_faults()  # the next attempt runs normally

    restart = Trigger("recipe_started", restart_then_release, recipe=LAB)
    result = run_pipeline(
        dss, CLINICAL, build_config(retries=1, on_failure="continue"), record_path, consumers=[restart]
    )

    assert_run_settled(result, CLINICAL_RECIPES)
    history = result.recipe(LAB)["attempt_history"]
    assert "restart" in history[0]["error"]["message"].lower(), history[0]["error"]
    assert result.states()[LAB] == "SUCCESS" and len(history) == 2


def test_slow_api_within_the_http_timeout_changes_nothing(dss, record_path):
    slow = Trigger("plan_ready", lambda event: dss.slow_requests(0.15, 6))

    result = run_pipeline(dss, CLINICAL, build_config(), record_path, consumers=[slow])

    data = assert_run_settled(result, CLINICAL_RECIPES)
    assert dss.status()["faults"]["slowRequests"]["count"] == 0
    assert data["state"] == "SUCCESS"
    assert all(r["attempts"] == 1 for r in data["recipes"])
    survived("slow API (0.15 s per request)")


def test_job_start_slower_than_the_http_timeout_leaves_no_untracked_job(dss, record_path):
    slow = Trigger("plan_ready", lambda event: dss.slow_requests(0.6, 1))
    gateway = gateway_for(dss, CLINICAL, timeout_s=0.3)
    before = set(emulator_jobs(dss, CLINICAL))

    result = run_pipeline(dss, CLINICAL, build_config(), record_path, consumers=[slow], gateway=gateway)
    with dss.state.lock:  # the timed-out start request is served 0.6 s after it was sent, maybe after the run
        dss.state.changed.wait_for(lambda: len(_lab_jobs(dss, before)) >= 2, timeout=3.0)
    result.jobs = {job_id: job for job_id, job in emulator_jobs(dss, CLINICAL).items() if job_id not in before}

    assert result.data["state"] == "SUCCESS"
    assert_run_settled(result, CLINICAL_RECIPES)  # fails: the timed-out start's job is on DSS, not in the record


def _lab_jobs(dss, before):
    return [
        job
        for job_id, job in emulator_jobs(dss, CLINICAL).items()
        if job_id not in before and "LAB_RESULTS_AGG" in job.outputs
    ]


def test_one_http_500_while_planning_does_not_fail_the_run(dss, record_path):
    dss.fail_requests(1, "500")

    result = run_pipeline(dss, CLINICAL, build_config(), record_path, raises=True)

    assert result.error is None, result.error
    assert assert_run_settled(result, CLINICAL_RECIPES)["state"] == "SUCCESS"


def test_api_outage_longer_than_the_limit_raises_with_the_record_written(dss, record_path):
    """DSS stops answering mid-run: the runner gives up after the outage limit, with a complete record."""
    gateway = gateway_for(dss, CLINICAL)
    config = build_config()
    plan = prepare_build(gateway, config)
    writes = []

    def sink(record):
        writes.append(record.to_dict())

    outage = Trigger("recipe_started", lambda event: dss.fail_requests(10_000, "500"))
    with pytest.raises(DSSAccessError, match="answered no job status request"):
        run_plan(plan, gateway, config.options, on_event=outage, record_sink=sink, api_outage_limit_s=0.5)
    dss.fail_requests(0)

    final = writes[-1]
    assert final["state"] == "FAILED" and final["ended_at"]
    assert [r["name"] for r in final["recipes"]] == [r.name for r in plan.recipes]
    assert all(r["state"] != "RUNNING" for r in final["recipes"])
    started = [r for r in final["recipes"] if r["attempts"]]
    assert started and all(r["state"] == "ABORTED" for r in started)
    survived("API outage beyond the limit (DSSAccessError, record written)")


def test_zz_fault_matrix_summary(capsys):
    """Prints the faults survived (this module's figure for the closing note)."""
    with capsys.disabled():
        print(f"\nfault matrix: {len(SURVIVED)} faults survived: " + "; ".join(SURVIVED))
    assert SURVIVED
