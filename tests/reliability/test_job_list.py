"""Issue 14.1: DSS's job list returns only the newest jobs; polling must not depend on a full list."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from flow_orchestrator.dss.gateway import JOB_LIST_LIMIT_MAX, WHOLE_LIST_RUNNING_MAX
from flow_orchestrator.port import OutputRef

from dss_emulator.api.jobs import DEFAULT_JOB_LIST_LIMIT
from dss_emulator.flowfile import generate_flow
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


def test_a_poll_lists_only_the_newest_jobs_back_to_its_oldest_job_and_keeps_room_for_jobs_of_others(wide_emulator):
    """Issue 14.5: a status poll costs a few list items, not DSS's default list; states match DSS's own jobs."""
    dss = wide_emulator
    key = clinical_project(dss, group_LAB_RESULTS_AGG=600.0)  # runs until the test aborts it
    gateway = gateway_for(dss, key)
    limits = []

    def note_list(response, *args, **kwargs):
        request = response.request
        if request.method == "GET" and request.path_url.split("?")[0].endswith(f"/projects/{key}/jobs/"):
            limits.append(parse_qs(urlsplit(request.path_url).query).get("limit"))

    gateway.client._session.hooks["response"].append(note_list)
    build = "NON_RECURSIVE_FORCED_BUILD"
    slow = gateway.start_job([OutputRef("LAB_RESULTS_AGG")], build)
    quick = gateway.start_job([OutputRef("CLINICAL_NOTES_AGG")], build)
    dss.wait_for_job(key, quick)
    limits.clear()  # the first start lists the jobs that were there before (once): not a poll
    states = gateway.job_states([slow])  # two jobs back: the answer shows the quick one too, given for free
    assert limits == [["2"]]
    assert (states[slow].state, states[quick].state) == ("RUNNING", "DONE") and states[quick].ended_at_ms

    colleague = dss.client().get_project(key).new_job(build).with_output("CLINICAL_NOTES_AGG").start()
    dss.wait_for_job(key, colleague.id)
    again = gateway.start_job([OutputRef("CLINICAL_NOTES_AGG")], build)
    dss.wait_for_job(key, again)
    states = gateway.job_states([slow, again])  # back to the slow job: 3 of ours; the colleague's pushes it out
    assert limits[1] == ["3"]
    last = gateway.start_job([OutputRef("CLINICAL_NOTES_AGG")], build)
    dss.wait_for_job(key, last)
    newest = gateway.job_states([last])
    # few jobs of ours run: back to the slow one (4 of ours, the colleague's among them), checked for free
    assert limits[2] == ["5"] and newest[slow].state == "RUNNING"
    truth = emulator_jobs(dss, key)
    assert {job_id: s.state for job_id, s in states.items()} == {slow: truth[slow].state, again: "DONE"}
    assert truth[slow].state == "RUNNING" and states[again].ended_at_ms == truth[again].ended_ms
    gateway.abort_job(slow)
    assert dss.wait_for_job(key, slow) == "ABORTED"


def test_a_failed_job_the_list_shows_is_left_for_its_own_status_read_which_says_why(wide_emulator):
    dss = wide_emulator
    key = clinical_project(dss, group_LAB_RESULTS_AGG=600.0)  # runs until the test aborts it
    dss.fail_recipe(key, "group_CLINICAL_NOTES_AGG", "note_len is not a column")
    gateway = gateway_for(dss, key)
    build = "NON_RECURSIVE_FORCED_BUILD"
    slow = gateway.start_job([OutputRef("LAB_RESULTS_AGG")], build)
    failing = gateway.start_job([OutputRef("CLINICAL_NOTES_AGG")], build)
    assert dss.wait_for_job(key, failing) == "FAILED"
    states = gateway.job_states([slow])
    assert set(states) == {slow} and states[slow].state == "RUNNING"  # the list shows the failure, not its cause
    failed = gateway.job_states([failing])[failing]
    assert failed.state == "FAILED" and "note_len" in (failed.failure_message or "")
    gateway.abort_job(slow)
    assert dss.wait_for_job(key, slow) == "ABORTED"


def test_with_more_than_ten_jobs_running_a_poll_lists_only_back_to_its_oldest_due_job(wide_emulator):
    """With few jobs running, a poll's list reaches back to the oldest of them (each answer checks them all); with
    more, only to the oldest job due, so that a poll stays a few items however many run."""
    dss = wide_emulator
    flow = generate_flow(24, width=24, seed=1, min_duration=600.0, max_duration=600.0, project_key="MANYRUN")
    dss.load_flow(flow)
    firsts = [r["outputs"][0] for r in flow["recipes"] if all(i.startswith("src") for i in r["inputs"])]
    assert len(firsts) > WHOLE_LIST_RUNNING_MAX
    gateway = gateway_for(dss, "MANYRUN")
    limits = []

    def note_list(response, *args, **kwargs):
        request = response.request
        if request.method == "GET" and request.path_url.split("?")[0].endswith("/projects/MANYRUN/jobs/"):
            limits.append(parse_qs(urlsplit(request.path_url).query).get("limit"))

    gateway.client._session.hooks["response"].append(note_list)
    jobs = [gateway.start_job([OutputRef(name)], "NON_RECURSIVE_FORCED_BUILD") for name in firsts[:11]]
    limits.clear()
    gateway.job_states([jobs[-1]])
    assert limits == [["1"]], "eleven running: only back to the job due"
    for job_id in jobs[2:-1]:
        gateway.abort_job(job_id)
        assert dss.wait_for_job("MANYRUN", job_id) == "ABORTED"
    gateway.job_states(jobs[2:-1])  # the run learns they ended
    limits.clear()
    states = gateway.job_states([jobs[-1]])
    assert limits == [["11"]], "three running: back to the oldest of them"
    assert states[jobs[0]].state == states[jobs[1]].state == "RUNNING"
    for job_id in (jobs[0], jobs[1], jobs[-1]):
        gateway.abort_job(job_id)
        assert dss.wait_for_job("MANYRUN", job_id) == "ABORTED"


def test_a_job_started_more_than_a_list_ago_is_said_to_cost_a_request_of_its_own(wide_emulator):
    """A long job among many short ones: once more than ``JOB_LIST_LIMIT_MAX`` jobs started after it, no poll's
    list reaches it and its check is a status read of its own, which the gateway tells the runner (``beyond_list``)
    so that its checks are spaced as a job's alone."""
    dss = wide_emulator
    key = clinical_project(dss, group_LAB_RESULTS_AGG=600.0)  # runs until the test aborts it
    gateway = gateway_for(dss, key)
    paths = []
    gateway.client._session.hooks["response"].append(lambda response, *a, **k: paths.append(response.request.path_url))
    build = "NON_RECURSIVE_FORCED_BUILD"
    slow = gateway.start_job([OutputRef("LAB_RESULTS_AGG")], build)
    quick = []
    for n in range(JOB_LIST_LIMIT_MAX):
        quick.append(gateway.start_job([OutputRef("CLINICAL_NOTES_AGG")], build))
        dss.wait_for_job(key, quick[-1])
        gateway.job_states([quick[-1]])  # the run sees each end, as it would
        assert gateway.beyond_list(slow) == (n + 2 > JOB_LIST_LIMIT_MAX), n  # a list of n + 2 items reaches it
    assert not gateway.beyond_list(quick[-1])
    paths.clear()
    states = gateway.job_states([slow])
    assert states[slow].state == "RUNNING" == emulator_jobs(dss, key)[slow].state
    assert any(path.split("?")[0].endswith(f"/jobs/{slow}/") for path in paths), "its own status read"
    gateway.abort_job(slow)
    assert dss.wait_for_job(key, slow) == "ABORTED"
