"""Issue 14.1: DSS's job list returns only the newest jobs; polling must not depend on a full list."""

from __future__ import annotations

from dss_emulator.api.jobs import DEFAULT_JOB_LIST_LIMIT
from tests.reliability.harness import emulator_jobs, gateway_for
from tests.reliability.test_honest_records import clinical_project


def test_the_job_list_holds_the_newest_jobs_only_and_polling_still_sees_older_ones(wide_emulator):
    dss = wide_emulator
    key = clinical_project(dss)
    project = dss.client().get_project(key)
    first = project.new_job("NON_RECURSIVE_FORCED_BUILD").with_output("LAB_RESULTS_AGG").start()
    dss.wait_for_job(key, first.id)
    for _ in range(DEFAULT_JOB_LIST_LIMIT):
        dss.wait_for_job(
            key, project.new_job("NON_RECURSIVE_FORCED_BUILD").with_output("CLINICAL_NOTES_AGG").start().id
        )
    listed = [item.job_id for item in project.list_jobs()]
    every = list(emulator_jobs(dss, key))
    assert len(every) == DEFAULT_JOB_LIST_LIMIT + 1
    assert listed == list(reversed(every))[:DEFAULT_JOB_LIST_LIMIT], "the newest 100, newest first"
    assert first.id not in listed

    newest = listed[0]
    states = gateway_for(dss, key).job_states([first.id, newest])  # one list request + a status read for the old one
    assert {job_id: s.state for job_id, s in states.items()} == {first.id: "DONE", newest: "DONE"}
    assert states[first.id].started_at_ms and states[first.id].ended_at_ms
