"""Grouped jobs through the real dataikuapi client against the emulator with a per-job overhead.

The clean_transform Flow is one chain (prepare -> group -> join -> split): with grouped jobs it is one DSS job listing
its five outputs in "Build only this" mode. Each test checks the record against the emulator's own job list: how many
jobs, which outputs each built, and what each recipe's activity did.
"""

from __future__ import annotations

from dataclasses import replace

import dataikuapi
import pytest
from flow_orchestrator.pipeline import run_build
from flow_orchestrator.record import load_record, write_record

from dss_emulator import EmulatedDSS
from tests.reliability.harness import (
    assert_run_settled,
    build_config,
    emulator_jobs,
    fast_example_flow,
    gateway_for,
    load_copy,
    run_pipeline,
)

OVERHEAD_S = 0.2
PREPARE, GROUP, JOIN, SPLIT = (
    "prepare_ORDERS_PREPARED",
    "group_ORDERS_BY_CUSTOMER",
    "join_CUSTOMER_SUMMARY",
    "split_CUSTOMER_SEGMENTS",
)
CHAIN = (PREPARE, GROUP, JOIN, SPLIT)
OUTPUTS = {
    PREPARE: ("ORDERS_PREPARED",),
    GROUP: ("ORDERS_BY_CUSTOMER",),
    JOIN: ("CUSTOMER_SUMMARY",),
    SPLIT: ("CUSTOMERS_ENTERPRISE", "CUSTOMERS_OTHER"),
}
TRANSIENT = "java.net.SocketException: Connection reset by peer"
PERMANENT = "ERR_RECIPE_COMPUTATION_FAILED: column 'amount' cannot be cast to bigint"


@pytest.fixture(scope="module")
def emulator():
    with EmulatedDSS.start(job_overhead=OVERHEAD_S) as dss:
        yield dss


def chain_project(dss: EmulatedDSS, **durations: float) -> str:
    """A fresh copy of the clean_transform chain under its own key; ``durations`` override recipes' seconds."""
    return load_copy(dss, fast_example_flow("clean_transform"), "GROUPED", **durations)


def outputs_of(*recipes: str) -> set:
    return {o for r in recipes for o in OUTPUTS[r]}


def activity_states(job) -> dict:
    return {name: state for name, state, _, _ in job.activities}


def test_a_chain_is_one_job_and_each_recipe_keeps_its_own_activity(emulator, tmp_path):
    key = chain_project(emulator)
    result = run_pipeline(emulator, key, build_config(), tmp_path / "record.json")
    data = assert_run_settled(result)
    (job,) = result.jobs.values()  # one DSS job for the whole chain, not four
    assert set(job.outputs) == outputs_of(*CHAIN) and job.state == "DONE"
    assert data["state"] == "SUCCESS" and data["plan"]["job_groups"] == [list(CHAIN)]
    for name, state, start_ms, end_ms in job.activities:
        recipe = result.recipe(name)
        assert state == "DONE" and recipe["state"] == "SUCCESS" and recipe["job_ids"] == [job.id]
        assert recipe["job_group"] == 1
        assert recipe["duration_s"] == round((end_ms - start_ms) / 1000, 3)  # its own activity, not the job


def test_a_failure_in_the_middle_of_a_chain_skips_the_rest_naming_it(emulator, tmp_path):
    key = chain_project(emulator)
    emulator.fail_recipe(key, GROUP, PERMANENT)
    result = run_pipeline(emulator, key, build_config(on_failure="continue"), tmp_path / "record.json")
    data = assert_run_settled(result)
    (job,) = result.jobs.values()
    assert set(job.outputs) == outputs_of(*CHAIN) and job.state == "FAILED"
    assert activity_states(job) == {PREPARE: "DONE", GROUP: "FAILED", JOIN: "NOT_STARTED", SPLIT: "NOT_STARTED"}
    assert result.states() == {PREPARE: "SUCCESS", GROUP: "FAILED", JOIN: "SKIPPED", SPLIT: "SKIPPED"}
    assert "amount" in result.recipe(GROUP)["error"]["message"]
    assert result.recipe(PREPARE)["error"] is None
    for name in (JOIN, SPLIT):
        assert result.recipe(name)["skipped_because"] == [GROUP] and result.recipe(name)["attempts"] == 0
    assert data["cause"].startswith(GROUP)


def test_a_transient_failure_retries_only_the_rest_of_the_chain(emulator, tmp_path):
    key = chain_project(emulator)
    emulator.fail_recipe(key, JOIN, TRANSIENT, times=1)
    result = run_pipeline(emulator, key, build_config(retries=1), tmp_path / "record.json")
    data = assert_run_settled(result)
    first, second = result.jobs.values()
    assert set(first.outputs) == outputs_of(*CHAIN) and first.state == "FAILED"
    assert set(second.outputs) == outputs_of(JOIN, SPLIT) and second.state == "DONE"  # only what had not succeeded
    assert data["state"] == "SUCCESS"
    for name in (PREPARE, GROUP):  # succeeded in the first job: kept with that attempt, never rebuilt
        recipe = result.recipe(name)
        assert recipe["job_ids"] == [first.id] and recipe["attempt_history"][0]["state"] == "SUCCESS"
    join = result.recipe(JOIN)
    assert join["job_ids"] == [first.id, second.id]
    assert [a["state"] for a in join["attempt_history"]] == ["FAILED", "SUCCESS"]
    assert result.recipe(SPLIT)["job_ids"] == [second.id]  # it never started in the first job


def test_the_time_limit_applies_to_each_recipe_activity_not_the_whole_chain(emulator, tmp_path):
    key = chain_project(emulator, **{PREPARE: 0.6})
    emulator.hang_recipe(key, GROUP)
    config = build_config(timeout_s=0.8)
    result = run_pipeline(emulator, key, config, tmp_path / "record.json")
    assert_run_settled(result)
    (job,) = result.jobs.values()
    assert job.state == "ABORTED"
    assert result.states() == {PREPARE: "SUCCESS", GROUP: "TIMED_OUT", JOIN: "SKIPPED", SPLIT: "SKIPPED"}
    timed_out = result.recipe(GROUP)
    assert "its activity" in timed_out["error"]["message"] and "0.8 s timeout" in timed_out["error"]["message"]
    activities = {name: (state, start, end) for name, state, start, end in job.activities}
    assert activities[PREPARE][0] == "DONE" and activities[GROUP][0] == "ABORTED"
    # the chain ran past the limit (overhead + prepare), yet the hung recipe got its whole limit of its own, counted
    # (as the run must) from when DSS accepted the job: its activity's running time plus DSS's own pick-up delay
    state, start, end = activities[GROUP]
    assert (end - start) + (job.started_ms - job.created_ms) >= 800
    assert activities[GROUP][2] - job.started_ms > 800 + 600


def test_resume_adopts_the_chain_job_of_a_killed_run_once(emulator, tmp_path):
    """A run killed while its chain job ran lists the job on each recipe of the chain: the resumed run watches it
    once and starts no second job on its outputs."""
    key = chain_project(emulator, **{PREPARE: 0.5})
    gateway = gateway_for(emulator, key)
    config = build_config()
    planned = run_build(gateway, replace(config, dry_run=True))
    builder = (
        dataikuapi.DSSClient(emulator.url, emulator.api_key).get_project(key).new_job("NON_RECURSIVE_FORCED_BUILD")
    )
    for output in sorted(outputs_of(*CHAIN)):
        builder.with_output(output)
    killed_job = builder.start().id  # what the killed run had started
    data = planned.to_dict()
    data["state"], data["dry_run"] = "RUNNING", False
    for recipe in data["recipes"]:
        recipe["attempts"], recipe["job_ids"], recipe["job_urls"] = 1, [killed_job], [None]
        recipe["attempt_history"] = [{"attempt": 1, "job_id": killed_job, "state": "RUNNING"}]
    write_record(data, tmp_path / "killed.json")
    previous = load_record(tmp_path / "killed.json").to_dict()

    resumed = run_pipeline(
        emulator,
        key,
        replace(config, resume_last_run=True),
        tmp_path / "resumed.json",
        gateway=gateway,
        previous_record=previous,
    )
    assert resumed.data["state"] == "SUCCESS" and resumed.jobs == {}  # nothing new started on DSS
    jobs = emulator_jobs(emulator, key)
    assert list(jobs) == [killed_job], "resume started a second job on the chain's outputs"
    assert resumed.states() == dict.fromkeys(CHAIN, "SUCCESS")
    for name in CHAIN:
        assert resumed.recipe(name)["job_ids"] == [killed_job]


def test_resume_reruns_only_the_rest_of_a_failed_chain_in_one_job(emulator, tmp_path):
    key = chain_project(emulator)
    emulator.fail_recipe(key, JOIN, PERMANENT, times=1)
    first = run_pipeline(emulator, key, build_config(), tmp_path / "first.json")
    assert first.states() == {PREPARE: "SUCCESS", GROUP: "SUCCESS", JOIN: "FAILED", SPLIT: "SKIPPED"}
    resumed = run_pipeline(
        emulator,
        key,
        replace(build_config(), resume_last_run=True),
        tmp_path / "resumed.json",
        previous_record=first.data,
    )
    data = assert_run_settled(resumed)
    (job,) = resumed.jobs.values()
    assert set(job.outputs) == outputs_of(JOIN, SPLIT)
    assert [r["name"] for r in data["recipes"]] == [JOIN, SPLIT]
    assert resumed.states() == {JOIN: "SUCCESS", SPLIT: "SUCCESS"}
