"""How the DSS adapter turns job-list items and job status answers into JobSnapshots (times included).

The answers below have the shapes of ``/work/shared/reference/dss-response-shapes.md`` §1.3 and §1.4; the stand-in
project only hands them over, so these tests cover the parsing and the request count, not dataikuapi.
"""

from __future__ import annotations

from typing import Dict, List

from flow_orchestrator.dss import DSSGateway
from flow_orchestrator.dss.payloads import snapshot_from_status


class _Job:
    def __init__(self, project: _Project, job_id: str):
        self.project, self.job_id = project, job_id

    def get_status(self) -> dict:
        self.project.requests.append(f"status {self.job_id}")
        return self.project.statuses[self.job_id]


class _Project:
    def __init__(self, items: List[dict], statuses: Dict[str, dict]):
        self.items, self.statuses = items, statuses
        self.requests: List[str] = []

    def list_jobs(self) -> List[dict]:
        self.requests.append("list")
        return self.items

    def get_job(self, job_id: str) -> _Job:
        return _Job(self, job_id)


class _Client:
    host = "http://dss.test:11200"

    def __init__(self, project: _Project):
        self.project = project

    def get_project(self, key: str) -> _Project:
        return self.project


def _item(job_id: str, **fields) -> dict:
    return {"def": {"id": job_id, "projectKey": "P"}, "warningsCount": 0, **fields}


def _status(state=None, start=0, end=0, activities=None) -> dict:
    base = {"jobStartTime": start, "jobEndTime": end, "activities": activities or {}}
    if state is not None:
        base["state"] = state
    return {"baseStatus": base}


def test_one_list_request_gives_states_and_dss_times_of_many_jobs():
    """One list for all; only an ABORTED job gets its status read, to learn why (a DSS restart is retried)."""
    items = [
        _item("running", stableState=False, startTime=1000, endTime=0),  # DSS leaves the state out while running
        _item("done", state="DONE", stableState=True, startTime=1000, endTime=3500),
        _item("aborted", state="ABORTED", stableState=True, startTime=0, endTime=0),
        _item("other", state="DONE", stableState=True, startTime=5, endTime=6),
    ]
    lost = {"errorType": "ProcessDiedException", "message": "Job was lost: DSS was restarted"}
    project = _Project(items, {"aborted": dict(_status("ABORTED"), unexpectedFailure=lost)})
    snapshots = DSSGateway(_Client(project), "P").job_states(["running", "done", "aborted"])
    assert project.requests == ["list", "status aborted"]
    assert snapshots["aborted"].failure_message == "Job was lost: DSS was restarted"
    assert set(snapshots) == {"running", "done", "aborted"}
    assert (snapshots["running"].state, snapshots["running"].started_at_ms, snapshots["running"].ended_at_ms) == (
        "RUNNING",
        1000,
        None,
    )
    assert (snapshots["done"].state, snapshots["done"].started_at_ms, snapshots["done"].ended_at_ms) == (
        "DONE",
        1000,
        3500,
    )
    assert (snapshots["aborted"].state, snapshots["aborted"].started_at_ms) == ("ABORTED", None)  # 0: unknown


def test_failed_and_unlisted_jobs_get_a_status_read_and_a_single_job_only_that():
    failure = {"firstFailure": {"message": "boom", "detailedMessage": "boom in detail", "errorType": "ERR_X"}}
    statuses = {
        "failed": _status("FAILED", 1000, 2000, {"a_NP": failure}),
        "gone": _status("DONE", 1000, 1800),
        "alone": _status(None, 1000),  # no stable state yet
    }
    items = [_item("failed", state="FAILED", stableState=True, startTime=1000, endTime=2000)]
    project = _Project(items, statuses)
    gateway = DSSGateway(_Client(project), "P")
    snapshots = gateway.job_states(["failed", "gone"])
    assert project.requests == ["list", "status failed", "status gone"]
    assert (snapshots["failed"].failure_message, snapshots["failed"].failure_type) == ("boom in detail", "ERR_X")
    assert (snapshots["gone"].state, snapshots["gone"].ended_at_ms) == ("DONE", 1800)
    project.requests.clear()
    alone = gateway.job_states(["alone"])["alone"]
    assert project.requests == ["status alone"]
    assert (alone.state, alone.started_at_ms, alone.ended_at_ms) == ("RUNNING", 1000, None)


def test_a_status_answer_gives_dss_times_and_the_unexpected_failure_when_no_activity_failed():
    snapshot = snapshot_from_status(
        "j",
        {
            "baseStatus": {"state": "FAILED", "jobStartTime": 10, "jobEndTime": 20},
            "unexpectedFailure": {"message": "lost", "errorType": "ProcessDied"},
        },
    )
    assert (snapshot.state, snapshot.started_at_ms, snapshot.ended_at_ms) == ("FAILED", 10, 20)
    assert (snapshot.failure_message, snapshot.failure_type) == ("lost", "ProcessDied")
