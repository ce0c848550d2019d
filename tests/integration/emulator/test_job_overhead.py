"""The per-job overhead: a job stays RUNNING with no activity started before its first activity and after its last.

Checked through the real client on the job status, as docs/real-dss.md ("Per-job overhead") describes DSS doing.
"""

from __future__ import annotations

import pytest
import requests

from dss_emulator import EmulatedDSS
from tests.reliability.harness import fast_clinical_flow

OVERHEAD_S = 0.25


def test_overhead_before_the_first_activity_and_after_the_last():
    with EmulatedDSS.start(flows=[fast_clinical_flow()], job_overhead=OVERHEAD_S) as dss:
        project = dss.client().get_project("CLINICAL")
        status = project.get_recipe("group_LAB_RESULTS_AGG").run().get_status()["baseStatus"]
        (activity,) = status["activities"].values()
        assert status["state"] == "DONE" and activity["state"] == "DONE"
        assert activity["startTime"] - status["jobStartTime"] >= OVERHEAD_S * 1000
        assert status["jobEndTime"] - activity["endTime"] >= OVERHEAD_S * 1000


def test_the_job_is_running_with_no_activity_started_during_the_overhead():
    with EmulatedDSS.start(flows=[fast_clinical_flow()], job_overhead=60.0) as dss:
        project = dss.client().get_project("CLINICAL")
        job = project.get_recipe("group_LAB_RESULTS_AGG").run(wait=False)
        with dss.state.lock:
            emulated = dss.scheduler.get_job("CLINICAL", job.id)
            assert dss.state.changed.wait_for(lambda: emulated.state == "RUNNING", 30)
        status = job.get_status()
        assert status["baseStatus"]["state"] == "RUNNING" and status["baseStatus"]["jobStartTime"] > 0
        assert [a["state"] for a in status["baseStatus"]["activities"].values()] == ["NOT_STARTED"]
        assert status["globalState"]["running"] == 0 and status["globalState"]["notStarted"] == 1
        job.abort()
        assert dss.wait_for_job("CLINICAL", job.id) == "ABORTED"
        (activity,) = job.get_status()["baseStatus"]["activities"].values()
        assert activity["state"] == "NOT_STARTED" and not activity.get("startTime") and not activity.get("endTime")


def test_the_job_is_still_running_after_its_last_activity():
    with EmulatedDSS.start(flows=[fast_clinical_flow()]) as dss:
        project = dss.client().get_project("CLINICAL")
        dss.hang_recipe("CLINICAL", "group_LAB_RESULTS_AGG")
        job = project.get_recipe("group_LAB_RESULTS_AGG").run(wait=False)
        activity_id = next(iter(dss.scheduler.get_job("CLINICAL", job.id).activities))
        dss.wait_for_activity_state("CLINICAL", job.id, activity_id, ["RUNNING"])
        dss.job_overhead = 60.0  # the tear-down reads the overhead when it begins
        dss.clear_faults()
        dss.wait_for_activity_state("CLINICAL", job.id, activity_id, ["DONE"])
        status = job.get_status()
        assert status["baseStatus"]["state"] == "RUNNING" and status["baseStatus"]["jobEndTime"] == 0
        assert status["globalState"]["done"] == 1
        job.abort()
        assert dss.wait_for_job("CLINICAL", job.id) == "ABORTED"


def test_a_flow_file_overhead_wins_over_the_instance_one():
    flow = fast_clinical_flow()
    flow["emulation"] = {"jobOverhead": OVERHEAD_S}
    with EmulatedDSS.start(flows=[flow], job_overhead=0.0) as dss:
        status = dss.client().get_project("CLINICAL").get_recipe("group_LAB_RESULTS_AGG").run().get_status()
        (activity,) = status["baseStatus"]["activities"].values()
        assert activity["startTime"] - status["baseStatus"]["jobStartTime"] >= OVERHEAD_S * 1000


def test_a_negative_overhead_is_refused():
    with pytest.raises(ValueError, match="job_overhead must be zero or more seconds"):
        EmulatedDSS(job_overhead=-1)


def test_the_admin_api_sets_the_overhead(fresh_dss):
    auth = (fresh_dss.api_key, "")
    base = fresh_dss.url + "/emulator/"
    answer = requests.post(base + "job-overhead", auth=auth, json={"seconds": OVERHEAD_S})
    assert answer.status_code == 200 and answer.json()["jobOverhead"] == OVERHEAD_S
    assert requests.get(base + "status", auth=auth).json()["jobOverhead"] == OVERHEAD_S
    status = fresh_dss.client().get_project("CLINICAL").get_recipe("group_LAB_RESULTS_AGG").run().get_status()
    (activity,) = status["baseStatus"]["activities"].values()
    assert activity["startTime"] - status["baseStatus"]["jobStartTime"] >= OVERHEAD_S * 1000
    refused = requests.post(base + "job-overhead", auth=auth, json={"seconds": -2})
    assert refused.status_code == 400 and "zero or more seconds" in refused.json()["message"]
