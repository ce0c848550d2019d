"""Jobs: start, list, running, status, log (text), abort."""

from __future__ import annotations

import itertools

from ..server import Request, Response, json_response
from ..state import MALFORMED_REQUEST, DSSError


def start_job(ctx, request: Request) -> Response:
    job = ctx.scheduler.start_job(request.path_params["pk"], request.json(required=True))
    with ctx.state.lock:
        return json_response(job.definition)  # serialised here, under the lock: no copy needed


#: How many jobs DSS's job list returns when no ``limit`` is given: the newest ones (see docs/real-dss.md).
DEFAULT_JOB_LIST_LIMIT = 100


def list_jobs(ctx, request: Request) -> Response:
    limit = request.arg("limit")
    limit_value = DEFAULT_JOB_LIST_LIMIT
    if limit is not None:
        try:
            limit_value = int(limit)
        except ValueError:
            limit_value = 0
        if limit_value <= 0:
            raise DSSError(400, MALFORMED_REQUEST, "limit parameter must be positive")
    with ctx.state.lock:
        # Newest first, as DSS lists them; read from the end, not copied whole (a project keeps every job it ran).
        jobs = itertools.islice(reversed(ctx.state.project(request.path_params["pk"]).jobs.values()), limit_value)
        return json_response([job.list_item_json() for job in jobs])


def list_running_in_project(ctx, request: Request) -> Response:
    with ctx.state.lock:
        jobs = [j for j in ctx.state.project(request.path_params["pk"]).jobs.values() if not j.terminal]
        return json_response([j.list_item_json() for j in reversed(jobs)])


def list_running(ctx, request: Request) -> Response:
    with ctx.state.lock:
        jobs = [j for p in ctx.state.projects.values() for j in p.jobs.values() if not j.terminal]
        return json_response([j.list_item_json() for j in jobs])


def job_status(ctx, request: Request) -> Response:
    job = ctx.scheduler.get_job(request.path_params["pk"], request.path_params["job"])
    with ctx.state.lock:
        return json_response(job.status_json())


def job_log(ctx, request: Request) -> Response:
    job = ctx.scheduler.get_job(request.path_params["pk"], request.path_params["job"])
    with ctx.state.lock:
        # DSS sends job logs as text/plain without a charset (the bytes are UTF-8): clients must not guess.
        text = job.log_text(request.arg("activity") or None)
    return Response(200, text.encode("utf-8"), "text/plain")


def abort_job(ctx, request: Request) -> Response:
    ctx.scheduler.abort_job(request.path_params["pk"], request.path_params["job"])
    return json_response({"msg": "abort requested"})


ROUTES = [
    ("POST", "projects/{pk}/jobs", start_job),
    ("GET", "projects/{pk}/jobs", list_jobs),
    ("GET", "projects/{pk}/jobs/running", list_running_in_project),
    ("GET", "jobs/running", list_running),
    ("GET", "projects/{pk}/jobs/{job}", job_status),
    ("GET", "projects/{pk}/jobs/{job}/log", job_log),
    ("POST", "projects/{pk}/jobs/{job}/abort", abort_job),
]
