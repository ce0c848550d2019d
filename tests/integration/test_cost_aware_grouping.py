"""Cost-aware grouped jobs through the real dataikuapi client against the emulator with a per-job overhead.

The clinical Flow is layered: two independent aggregations, a join of both, then a model trained on the join (a
chain of two). The first grouped run knows nothing of what a job costs and runs chains: three jobs. Its record tells
the overhead (each job RUNNING with no activity before its first and after its last); the next run, planned from it,
hands the whole plan to DSS as one job, and each recipe still takes its outcome and times from its own activity.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from flow_orchestrator.job_costs import CHAINS, WHOLE_PLAN

from dss_emulator import EmulatedDSS
from tests.reliability.harness import (
    CLINICAL_RECIPES,
    JOIN,
    LAB,
    NOTES,
    TRAIN,
    assert_run_settled,
    build_config,
    fast_clinical_flow,
    fast_example_flow,
    load_copy,
    run_pipeline,
)

OVERHEAD_S = 0.3
OUTPUTS = {LAB: "LAB_RESULTS_AGG", NOTES: "CLINICAL_NOTES_AGG", JOIN: "ML_TRAINING_DATA", TRAIN: "MODEL_SCORES"}
PERMANENT = "ERR_RECIPE_COMPUTATION_FAILED: column 'amount' cannot be cast to bigint"


@pytest.fixture(scope="module")
def emulator():
    with EmulatedDSS.start(job_overhead=OVERHEAD_S) as dss:
        yield dss


def layered_project(dss: EmulatedDSS) -> str:
    return load_copy(dss, fast_clinical_flow(), "COSTED")


def test_a_run_planned_from_the_last_one_runs_the_layered_plan_as_one_job(emulator, tmp_path):
    key = layered_project(emulator)
    config = build_config(max_parallel=2)
    first = run_pipeline(emulator, key, config, tmp_path / "first.json")
    data = assert_run_settled(first)
    assert data["state"] == "SUCCESS" and len(first.jobs) == 3  # no overhead known yet: chains
    assert data["plan"]["job_groups"] == [[LAB], [NOTES], [JOIN, TRAIN]]
    assert data["plan"]["grouping"]["kind"] == CHAINS and "unknown" in data["plan"]["grouping"]["reason"]
    # the chain's job: its activities are read once it ends, for each recipe's times and for the job's overhead
    chain_job = first.recipe(JOIN)["attempt_history"][-1]
    assert chain_job["job_id"] == first.recipe(TRAIN)["job_ids"][-1]
    assert 2 * OVERHEAD_S <= chain_job["overhead_s"] < 2 * OVERHEAD_S + 0.5
    assert first.recipe(JOIN)["started_at"] != chain_job["started_at"]  # its own activity's start, not the job's
    assert 2 * OVERHEAD_S <= data["job_overhead"]["median_s"] < 2 * OVERHEAD_S + 0.5  # kept by a compacted record

    second = run_pipeline(emulator, key, config, tmp_path / "second.json", previous_record=first.data)
    data = assert_run_settled(second)
    (job,) = second.jobs.values()  # the emulator's own job list: one job for the whole plan
    assert set(job.outputs) == set(OUTPUTS.values()) and job.state == "DONE"
    grouping = data["plan"]["grouping"]
    assert grouping["kind"] == WHOLE_PLAN and data["plan"]["job_groups"] == [list(CLINICAL_RECIPES)]
    # each job is RUNNING OVERHEAD_S before its first activity and OVERHEAD_S after its last one
    assert 2 * OVERHEAD_S <= grouping["job_overhead_s"] < 2 * OVERHEAD_S + 0.5
    assert grouping["job_overhead_source"] == f"run {first.data['run_id']}"
    assert grouping["reason"].startswith("one job for the whole plan: jobs cost ~")
    assert grouping["estimates_s"][WHOLE_PLAN] < grouping["estimates_s"][CHAINS]
    assert data["state"] == "SUCCESS"
    for name, state, start_ms, end_ms in job.activities:  # each recipe's own activity, not the job's times
        recipe = second.recipe(name)
        assert state == "DONE" and recipe["state"] == "SUCCESS" and recipe["job_ids"] == [job.id]
        assert recipe["job_group"] == 1
        assert recipe["duration_s"] == round((end_ms - start_ms) / 1000, 3)
    assert {name for name, *_ in job.activities} == set(CLINICAL_RECIPES)


def test_the_setting_wins_over_what_the_last_run_learned(emulator, tmp_path):
    key = layered_project(emulator)
    first = run_pipeline(emulator, key, build_config(max_parallel=2), tmp_path / "first.json")
    assert len(first.jobs) == 3
    free = build_config(max_parallel=2, job_overhead_s=0.0)  # "jobs cost nothing here": keep the chains
    second = run_pipeline(emulator, key, free, tmp_path / "second.json", previous_record=first.data)
    data = assert_run_settled(second)
    assert len(second.jobs) == 3 and data["plan"]["grouping"]["kind"] == CHAINS
    assert "set in 'DSS job start-up cost'" in data["plan"]["grouping"]["reason"]
    dry = run_pipeline(
        emulator, key, replace(build_config(max_parallel=2, job_overhead_s=5.0), dry_run=True), tmp_path / "dry.json"
    )
    assert dry.jobs == {} and dry.data["plan"]["grouping"]["kind"] == WHOLE_PLAN


PREPARE, FACT, STORES = "prepare_SALES_CLEAN", "sync_SALES_FACT", "sync_STORES_DIM"


def warehouse_project(dss: EmulatedDSS) -> str:
    """prepare -> fact (a chain) beside stores (independent): prepare runs long enough for stores to fail first."""
    key = load_copy(dss, fast_example_flow("etl_warehouse"), "WAREHOUSE", **{PREPARE: 0.4})
    dss.fail_recipe(key, STORES, PERMANENT)
    return key


def test_one_job_for_the_plan_goes_on_without_a_failed_branch_when_asked_to_continue(emulator, tmp_path):
    key = warehouse_project(emulator)
    config = build_config(max_parallel=1, job_overhead_s=5.0, on_failure="continue")
    result = run_pipeline(emulator, key, config, tmp_path / "record.json")
    data = assert_run_settled(result)
    assert data["plan"]["grouping"]["kind"] == WHOLE_PLAN
    first, second = result.jobs.values()  # the emulator's own job list
    assert set(first.outputs) == {"SALES_CLEAN", "SALES_FACT", "STORES_DIM"} and first.state == "FAILED"
    assert {name: state for name, state, *_ in first.activities} == {
        PREPARE: "DONE",
        STORES: "FAILED",
        FACT: "NOT_STARTED",  # DSS starts nothing more in a job once an activity failed
    }
    assert set(second.outputs) == {"SALES_FACT"} and second.state == "DONE"  # what a job of its own would run
    assert result.states() == {PREPARE: "SUCCESS", FACT: "SUCCESS", STORES: "FAILED"}
    assert data["state"] == "FAILED"
    assert result.recipe(PREPARE)["job_ids"] == [first.id] and result.recipe(STORES)["job_ids"] == [first.id]
    fact = result.recipe(FACT)
    assert fact["job_ids"] == [second.id] and [a["state"] for a in fact["attempt_history"]] == ["SUCCESS"]
    assert "amount" in result.recipe(STORES)["error"]["message"]


def test_one_job_for_the_plan_stops_with_the_failure_on_fail_fast(emulator, tmp_path):
    key = warehouse_project(emulator)
    config = build_config(max_parallel=1, job_overhead_s=5.0)
    result = run_pipeline(emulator, key, config, tmp_path / "record.json")
    assert_run_settled(result)
    (job,) = result.jobs.values()
    assert result.states() == {PREPARE: "SUCCESS", FACT: "NOT_RUN", STORES: "FAILED"}
    assert result.recipe(FACT)["job_ids"] == []  # DSS never started it: the failed job is not its attempt


def test_in_one_job_for_the_plan_only_the_recipe_out_of_time_is_timed_out(emulator, tmp_path):
    key = load_copy(emulator, fast_clinical_flow(), "COSTED", **{LAB: 30.0, NOTES: 30.0})  # aborted long before
    config = build_config(max_parallel=2, job_overhead_s=5.0, timeout_s=0.5)
    result = run_pipeline(emulator, key, config, tmp_path / "record.json")
    data = assert_run_settled(result)
    assert data["plan"]["grouping"]["kind"] == WHOLE_PLAN
    (job,) = result.jobs.values()
    assert job.state == "ABORTED"
    states = result.states()
    (late,) = [name for name in (LAB, NOTES) if states[name] == "TIMED_OUT"]  # the first activity to run out of time
    (beside,) = {LAB, NOTES} - {late}
    assert states[beside] == "ABORTED" and states[JOIN] == states[TRAIN] == "SKIPPED"
    assert result.recipe(beside)["error"]["message"].startswith(f"Aborted: {late} ran out of time in the DSS job")
