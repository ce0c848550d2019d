"""Projects: list, create, summary, metadata, settings, delete."""

from __future__ import annotations

import copy
import re

from ..server import Request, Response, json_response
from ..state import API_ILLEGAL_ARGUMENT, DSSError, Project, bad_request

_PROJECT_KEY = re.compile(r"^[A-Za-z0-9_]+$")


def list_projects(ctx, request: Request) -> Response:
    with ctx.state.lock:
        return json_response([p.summary() for p in ctx.state.projects.values()])


def create_project(ctx, request: Request) -> Response:
    body = request.json_object()
    key = body.get("projectKey")
    if not key:
        raise bad_request("Required field 'projectKey' is missing.")
    if not _PROJECT_KEY.match(str(key)):
        raise bad_request(f"Invalid project key {key!r}: use letters, digits and underscores only")
    with ctx.state.lock:
        if key in ctx.state.projects:
            raise DSSError(400, API_ILLEGAL_ARGUMENT, f"Project {key} already exists")
        project = Project(key, body.get("name") or key, body.get("description") or "", body.get("owner") or "admin")
        project.metadata["tags"] = list(body.get("tags") or [])
        ctx.state.projects[key] = project
    # The client reads this answer as text.
    return json_response({"projectKey": key})


def get_project(ctx, request: Request) -> Response:
    with ctx.state.lock:
        return json_response(ctx.state.project(request.path_params["pk"]).summary())


def delete_project(ctx, request: Request) -> Response:
    key = request.path_params["pk"]
    with ctx.state.lock:
        project = ctx.state.project(key)
        running = [job.id for job in project.jobs.values() if not job.terminal]
    for job_id in running:
        ctx.scheduler.abort_job(key, job_id, "project deleted")
    with ctx.state.lock:
        ctx.state.projects.pop(key, None)
        ctx.state.storage.clear_project(key)
    return json_response({"msg": f"Project {key} deleted"})


def get_metadata(ctx, request: Request) -> Response:
    with ctx.state.lock:
        return json_response(copy.deepcopy(ctx.state.project(request.path_params["pk"]).metadata))


def set_metadata(ctx, request: Request) -> Response:
    body = request.json_object()
    with ctx.state.lock:
        project = ctx.state.project(request.path_params["pk"])
        project.metadata = copy.deepcopy(body)
        return json_response({"msg": "Metadata saved"})


def get_settings(ctx, request: Request) -> Response:
    with ctx.state.lock:
        return json_response(copy.deepcopy(ctx.state.project(request.path_params["pk"]).settings))


def set_settings(ctx, request: Request) -> Response:
    body = request.json_object()
    with ctx.state.lock:
        ctx.state.project(request.path_params["pk"]).settings = copy.deepcopy(body)
        return json_response({"msg": "Settings saved"})


ROUTES = [
    ("GET", "projects", list_projects),
    ("POST", "projects", create_project),
    ("GET", "projects/{pk}", get_project),
    ("DELETE", "projects/{pk}", delete_project),
    ("GET", "projects/{pk}/metadata", get_metadata),
    ("PUT", "projects/{pk}/metadata", set_metadata),
    ("GET", "projects/{pk}/settings", get_settings),
    ("PUT", "projects/{pk}/settings", set_settings),
]
