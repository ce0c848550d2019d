"""Futures: poll (``peek`` or not), abort, list.

As in DSS, a peek answers the progress only: ``hasResult`` says the future is no longer running (failed ones
included) and the ``result`` is never sent. A non-peek read of a finished future answers the result and removes it;
a non-peek read of a failed future answers the stored error (the only way a future can report a failure to
``dataikuapi``) and removes it too.
"""

from __future__ import annotations

from ..server import Request, Response, json_response
from ..state import ILLEGAL_ARGUMENT, DSSError


def _missing(future_id: str) -> DSSError:
    return DSSError(500, ILLEGAL_ARGUMENT, "No future by that id", f"No future by that id: {future_id}")


def get_future(ctx, request: Request) -> Response:
    future_id = request.path_params["future"]
    peek = request.flag("peek", False)
    with ctx.state.lock:
        future = ctx.state.futures.get(future_id)
        if future is None:
            raise _missing(future_id)
        if peek:
            return json_response(future.peek_response())
        if future.alive:
            return json_response(future.response())
        del ctx.state.futures[future_id]
        if future.error is not None:
            raise future.error
        return json_response(future.response())


def abort_future(ctx, request: Request) -> Response:
    future_id = request.path_params["future"]
    with ctx.state.lock:
        future = ctx.state.futures.get(future_id)
        if future is None:
            raise _missing(future_id)
        future.cancel.set()
    return json_response({"msg": "abort requested"})


def list_futures(ctx, request: Request) -> Response:
    with ctx.state.lock:
        return json_response([f.response() for f in ctx.state.futures.values() if f.alive])


ROUTES = [
    ("GET", "futures", list_futures),
    ("GET", "futures/{future}", get_future),
    ("DELETE", "futures/{future}", abort_future),
]
