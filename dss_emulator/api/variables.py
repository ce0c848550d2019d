"""Project variables: ``{"standard": {...}, "local": {...}}``."""

from __future__ import annotations

import copy

from ..server import Request, Response, json_response
from ..state import bad_request


def get_variables(ctx, request: Request) -> Response:
    with ctx.state.lock:
        return json_response(copy.deepcopy(ctx.state.project(request.path_params["pk"]).variables))


def set_variables(ctx, request: Request) -> Response:
    body = request.json_object()
    for part in ("standard", "local"):
        if not isinstance(body.get(part), dict):
            raise bad_request(f"Project variables need a {part!r} object (got {body.get(part)!r})")
    with ctx.state.lock:
        project = ctx.state.project(request.path_params["pk"])
        project.variables = {"standard": copy.deepcopy(body["standard"]), "local": copy.deepcopy(body["local"])}
        return json_response({"msg": "Variables saved"})


ROUTES = [
    ("GET", "projects/{pk}/variables", get_variables),
    ("PUT", "projects/{pk}/variables", set_variables),
]
