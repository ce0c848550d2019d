"""Fault controls (methods and the /emulator/ admin API), the activity cap, aborts, restarts, and authentication."""

from __future__ import annotations

import dataikuapi
import pytest
import requests
from dataikuapi.utils import DataikuException

from dss_emulator import EmulatedDSS

TERMINAL = ("DONE", "FAILED", "ABORTED")


def _start(project, dataset, mode="NON_RECURSIVE_FORCED_BUILD"):
    return project.new_job(mode).with_output(dataset, object_type="DATASET").start()


def test_abort_stops_a_long_activity_and_leaves_outputs_alone(dss, project):
    project.get_recipe("group_LAB_RESULTS_AGG").run()
    before = project.get_dataset("LAB_RESULTS_AGG").get_info().get_raw()["lastBuild"]
    dss.set_duration("CLINICAL", "group_LAB_RESULTS_AGG", 600)
    job = _start(project, "LAB_RESULTS_AGG")
    dss.wait_for_activity_state("CLINICAL", job.id, "group_LAB_RESULTS_AGG_NP", ["RUNNING"])
    assert job.get_status()["baseStatus"]["state"] == "RUNNING"
    if hasattr(project.client, "list_running_jobs"):  # absent from client 12.0
        assert [j.job_id for j in project.client.list_running_jobs()] == [job.id]
    assert job.abort() == {"msg": "abort requested"}
    assert dss.wait_for_job("CLINICAL", job.id, timeout=10) == "ABORTED"
    status = job.get_status()["baseStatus"]
    assert status["activities"]["group_LAB_RESULTS_AGG_NP"]["state"] == "ABORTED"
    assert project.get_dataset("LAB_RESULTS_AGG").get_info().get_raw()["lastBuild"] == before


def test_hang_until_admin_abort(dss, project):
    dss.hang_recipe("CLINICAL", "group_CLINICAL_NOTES_AGG")
    job = _start(project, "CLINICAL_NOTES_AGG")
    dss.wait_for_activity_state("CLINICAL", job.id, "group_CLINICAL_NOTES_AGG_NP", ["RUNNING"])
    dss.abort_job("CLINICAL", job.id)
    assert dss.wait_for_job("CLINICAL", job.id) == "ABORTED"


def test_clear_faults_releases_a_hang(dss, project):
    dss.hang_recipe("CLINICAL", "group_CLINICAL_NOTES_AGG")
    job = _start(project, "CLINICAL_NOTES_AGG")
    dss.wait_for_activity_state("CLINICAL", job.id, "group_CLINICAL_NOTES_AGG_NP", ["RUNNING"])
    dss.clear_faults()
    assert dss.wait_for_job("CLINICAL", job.id) == "DONE"


def test_fail_recipe_a_limited_number_of_times(dss, project):
    dss.fail_recipe("CLINICAL", "group_LAB_RESULTS_AGG", "flaky storage", times=2)
    states = [
        project.get_recipe("group_LAB_RESULTS_AGG").run(no_fail=True).get_status()["baseStatus"]["state"]
        for _ in range(3)
    ]
    assert states == ["FAILED", "FAILED", "DONE"]


def test_independent_activities_run_in_parallel(dss, project):
    dss.hang_recipe("CLINICAL", "group_LAB_RESULTS_AGG")
    dss.hang_recipe("CLINICAL", "group_CLINICAL_NOTES_AGG")
    job = _start(project, "ML_TRAINING_DATA", "RECURSIVE_FORCED_BUILD")
    dss.wait_for_activity_state("CLINICAL", job.id, "group_LAB_RESULTS_AGG_NP", ["RUNNING"])
    dss.wait_for_activity_state("CLINICAL", job.id, "group_CLINICAL_NOTES_AGG_NP", ["RUNNING"])
    assert job.get_status()["baseStatus"]["activities"]["join_ML_TRAINING_DATA_NP"]["state"] == "NOT_STARTED"
    dss.clear_faults()
    assert dss.wait_for_job("CLINICAL", job.id) == "DONE"


def test_activity_cap_makes_concurrent_jobs_queue(clinical_flow):
    with EmulatedDSS.start(flows=[clinical_flow], activity_cap=1) as dss:
        project = dss.client().get_project("CLINICAL")
        dss.hang_recipe("CLINICAL", "group_LAB_RESULTS_AGG")
        first = _start(project, "LAB_RESULTS_AGG")
        dss.wait_for_activity_state("CLINICAL", first.id, "group_LAB_RESULTS_AGG_NP", ["RUNNING"])
        second = _start(project, "CLINICAL_NOTES_AGG")
        dss.wait_for_activity_state("CLINICAL", second.id, "group_CLINICAL_NOTES_AGG_NP", ["WAITING"])
        first.abort()
        assert dss.wait_for_job("CLINICAL", second.id) == "DONE"
        assert dss.wait_for_job("CLINICAL", first.id) == "ABORTED"


@pytest.mark.parametrize("mode", ["500", "503"])
def test_fail_requests_then_recover(dss, project, mode):
    dss.fail_requests(2, mode=mode)
    for _ in range(2):
        with pytest.raises(DataikuException, match=f"Unknown error: .*HTTP ERROR {mode}"):
            project.get_variables()
    assert "standard" in project.get_variables()


def test_fail_requests_drop_closes_the_connection(dss, project):
    dss.fail_requests(1, mode="drop")
    with pytest.raises(requests.exceptions.ConnectionError):
        project.get_summary()
    assert project.get_summary()["projectKey"] == "CLINICAL"


def test_slow_requests_are_consumed(dss, project):
    dss.slow_requests(0.05, 2)
    assert project.get_summary()["projectKey"] == "CLINICAL"
    assert project.get_summary()["projectKey"] == "CLINICAL"
    assert dss.status()["faults"]["slowRequests"]["count"] == 0


def test_restart_loses_running_jobs(fresh_dss, fresh_project):
    fresh_dss.hang_recipe("CLINICAL", "group_LAB_RESULTS_AGG")
    job = _start(fresh_project, "LAB_RESULTS_AGG")
    fresh_dss.wait_for_activity_state("CLINICAL", job.id, "group_LAB_RESULTS_AGG_NP", ["RUNNING"])
    assert fresh_dss.restart() == [job.id]
    status = job.get_status()["baseStatus"]
    assert status["state"] == "ABORTED"
    assert "restarted" in status["unexpectedFailure"]["message"]
    assert status["activities"]["group_LAB_RESULTS_AGG_NP"]["state"] == "ABORTED"


def test_job_starts_counts_only_started_jobs(fresh_dss, fresh_project):
    assert fresh_dss.job_starts("CLINICAL") == 0
    fresh_project.list_jobs()
    fresh_project.get_flow().get_graph()
    assert fresh_dss.job_starts("CLINICAL") == 0
    fresh_project.get_recipe("group_LAB_RESULTS_AGG").run()
    assert fresh_dss.job_starts("CLINICAL") == 1


def test_admin_http_endpoint(dss, project, read_only_key):
    auth = (dss.api_key, "")
    base = dss.url + "/emulator/"
    before = requests.get(base + "job-starts/CLINICAL", auth=auth).json()["jobStarts"]
    response = requests.post(
        base + "fail-recipe",
        auth=auth,
        data='{"projectKey": "CLINICAL", "recipe": "group_LAB_RESULTS_AGG", "message": "admin says no", "times": 1}',
    )
    assert response.status_code == 200
    job = project.get_recipe("group_LAB_RESULTS_AGG").run(no_fail=True)
    failure = job.get_status()["baseStatus"]["activities"]["group_LAB_RESULTS_AGG_NP"]["firstFailure"]
    assert failure["message"] == "admin says no"
    assert requests.get(base + "job-starts/CLINICAL", auth=auth).json()["jobStarts"] == before + 1
    negative = {"projectKey": "CLINICAL", "recipe": "group_LAB_RESULTS_AGG", "seconds": -1}
    assert requests.post(base + "set-duration", auth=auth, json=negative).status_code == 400
    # A fault for an unknown project or recipe would never fire: 404 naming what is unknown, nothing set.
    faults_before = requests.get(base + "status", auth=auth).json()["faults"]
    for route, body in (
        ("fail-recipe", {"projectKey": "CLINICAL", "recipe": "group_LAB_RESULT_AGG", "message": "typo"}),
        ("hang-recipe", {"projectKey": "CLINCAL", "recipe": "group_LAB_RESULTS_AGG"}),
        ("set-duration", {"projectKey": "CLINICAL", "recipe": "x", "seconds": 1}),
    ):
        answer = requests.post(base + route, auth=auth, json=body)
        assert answer.status_code == 404, (route, answer.text)
        unknown = body["projectKey"] if body["projectKey"] == "CLINCAL" else body["recipe"]
        assert f"'{unknown}'" in answer.json()["message"], answer.text
    assert requests.get(base + "status", auth=auth).json()["faults"] == faults_before
    assert requests.post(base + "clear-faults", auth=auth).status_code == 200
    assert requests.get(base + "status", auth=(read_only_key, "")).status_code == 403
    assert requests.post(base + "restart", auth=("wrong", "")).status_code == 401
    status = requests.get(base + "status", auth=auth).json()
    assert status["projects"][0] == "CLINICAL" and status["requestCount"] > 0


def test_load_flow_at_runtime(dss, clinical_flow):
    flow = clinical_flow
    flow["projectKey"] = "CLINICAL_COPY"
    assert dss.load_flow(flow) == "CLINICAL_COPY"
    project = dss.client().get_project("CLINICAL_COPY")
    assert project.get_recipe("group_LAB_RESULTS_AGG").run().get_status()["baseStatus"]["state"] == "DONE"
    project.delete()


def test_wrong_key_is_an_authentication_error(dss):
    client = dataikuapi.DSSClient(dss.url, "not-the-key")
    with pytest.raises(DataikuException, match="NotAuthenticatedException: Unknown API Key"):
        client.list_projects()


def test_read_only_key_reads_but_cannot_write_or_build(dss, read_only_key):
    reader = dss.client(api_key=read_only_key)
    project = reader.get_project("CLINICAL")
    assert set(project.get_variables()) == {"standard", "local"}
    assert project.get_flow().get_graph().nodes
    starts = dss.job_starts("CLINICAL")
    with pytest.raises(DataikuException, match="UnauthorizedException: Permission denied"):
        project.get_recipe("group_LAB_RESULTS_AGG").run()
    with pytest.raises(DataikuException, match="UnauthorizedException: Permission denied"):
        project.set_variables({"standard": {"x": 1}, "local": {}})
    assert dss.job_starts("CLINICAL") == starts


def test_each_call_needs_its_project_permission_per_api_key(fresh_dss):
    """Reads need Read project content, every write the plugin makes (metrics included) Write project content."""
    fresh_dss.add_api_key("nobody", [])
    fresh_dss.add_api_key("reader", ["READ_CONF"])
    fresh_dss.add_api_key("writer", ["READ_CONF", "WRITE_CONF"])
    with pytest.raises(DataikuException, match=r"needs (the project permission )?READ_CONF"):
        fresh_dss.client("nobody").get_project("CLINICAL").get_summary()
    reader = fresh_dss.client("reader").get_project("CLINICAL")
    assert reader.get_summary()["projectKey"] == "CLINICAL"
    with pytest.raises(DataikuException, match=r"needs (the project permission )?WRITE_CONF"):
        reader.get_dataset("LAB_RESULTS").compute_metrics(metric_ids=["records:COUNT_RECORDS"])
    writer = fresh_dss.client("writer").get_project("CLINICAL")
    assert writer.get_dataset("LAB_RESULTS").compute_metrics(metric_ids=["records:COUNT_RECORDS"])["hasResult"]
