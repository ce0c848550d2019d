"""The ``/emulator/`` admin API: the fault controls of :class:`dss_emulator.EmulatedDSS` over HTTP, so an emulator
started with ``python -m dss_emulator serve`` can be driven by another process. Needs the admin (read-write) key.

    GET  /emulator/status                      requests served, projects, running jobs, pending faults
    POST /emulator/set-duration                {"projectKey", "recipe", "seconds"}
    POST /emulator/job-overhead                {"seconds"}: the per-job overhead (read as each job phase begins)
    POST /emulator/fail-recipe                 {"projectKey", "recipe", "message", "times"?, "errorType"?}
    POST /emulator/hang-recipe                 {"projectKey", "recipe"}
    POST /emulator/fail-requests               {"count", "mode": "500" | "503" | "drop"}
    POST /emulator/slow-requests               {"seconds", "count"}
    POST /emulator/abort-job                   {"projectKey", "jobId"}
    POST /emulator/restart                     {}
    POST /emulator/clear-faults                {}
    GET  /emulator/job-starts/{projectKey}     {"projectKey", "jobStarts"}
    POST /emulator/load-flow                   a flow file's JSON (or {"path": "..."}) -> {"projectKey"}
"""

from __future__ import annotations

from ..server import Request, Response, json_response
from ..state import bad_request


def _fields(request: Request, *names: str) -> dict:
    body = request.json(required=False) or {}
    if not isinstance(body, dict):
        raise bad_request("The admin API takes a JSON object")
    missing = [n for n in names if body.get(n) in (None, "")]
    if missing:
        raise bad_request("Missing field(s) {} for {}".format(", ".join(missing), request.path))
    return body


def _call(action):
    try:
        return action()
    except ValueError as exc:
        raise bad_request(str(exc)) from None


def status(ctx, request: Request) -> Response:
    return json_response(ctx.status())


def set_duration(ctx, request: Request) -> Response:
    body = _fields(request, "projectKey", "recipe", "seconds")
    _call(lambda: ctx.set_duration(body["projectKey"], body["recipe"], float(body["seconds"])))
    return json_response({"msg": "ok"})


def set_job_overhead(ctx, request: Request) -> Response:
    """The instance's per-job overhead, for emulators served as a separate process (``serve --job-overhead``)."""
    body = _fields(request, "seconds")

    def apply() -> None:
        ctx.job_overhead = float(body["seconds"])

    _call(apply)
    return json_response({"msg": "ok", "jobOverhead": ctx.job_overhead})


def fail_recipe(ctx, request: Request) -> Response:
    body = _fields(request, "projectKey", "recipe", "message")
    _call(
        lambda: ctx.fail_recipe(
            body["projectKey"], body["recipe"], body["message"], body.get("times"), body.get("errorType")
        )
    )
    return json_response({"msg": "ok"})


def hang_recipe(ctx, request: Request) -> Response:
    body = _fields(request, "projectKey", "recipe")
    _call(lambda: ctx.hang_recipe(body["projectKey"], body["recipe"]))
    return json_response({"msg": "ok"})


def fail_requests(ctx, request: Request) -> Response:
    body = _fields(request, "count")
    _call(lambda: ctx.fail_requests(int(body["count"]), str(body.get("mode") or "500")))
    return json_response({"msg": "ok"})


def slow_requests(ctx, request: Request) -> Response:
    body = _fields(request, "seconds", "count")
    _call(lambda: ctx.slow_requests(float(body["seconds"]), int(body["count"])))
    return json_response({"msg": "ok"})


def abort_job(ctx, request: Request) -> Response:
    body = _fields(request, "projectKey", "jobId")
    ctx.abort_job(body["projectKey"], body["jobId"])
    return json_response({"msg": "abort requested"})


def restart(ctx, request: Request) -> Response:
    lost = ctx.restart()
    return json_response({"msg": "restarted", "lostJobs": lost})


def clear_faults(ctx, request: Request) -> Response:
    ctx.clear_faults()
    return json_response({"msg": "ok"})


def job_starts(ctx, request: Request) -> Response:
    key = request.path_params["pk"]
    return json_response({"projectKey": key, "jobStarts": ctx.job_starts(key)})


def load_flow(ctx, request: Request) -> Response:
    from ..flowfile import FlowFileError

    body = request.json_object()
    source = body["path"] if set(body) == {"path"} else body
    try:
        key = ctx.load_flow(source)
    except (FlowFileError, ValueError, OSError) as exc:
        raise bad_request(f"Cannot load the flow: {exc}") from None
    return json_response({"projectKey": key})


ROUTES = [
    ("GET", "status", status),
    ("POST", "set-duration", set_duration),
    ("POST", "job-overhead", set_job_overhead),
    ("POST", "fail-recipe", fail_recipe),
    ("POST", "hang-recipe", hang_recipe),
    ("POST", "fail-requests", fail_requests),
    ("POST", "slow-requests", slow_requests),
    ("POST", "abort-job", abort_job),
    ("POST", "restart", restart),
    ("POST", "clear-faults", clear_faults),
    ("GET", "job-starts/{pk}", job_starts),
    ("POST", "load-flow", load_flow),
]
