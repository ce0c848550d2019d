"""HTTP handlers, one module per DSS resource; each module lists its ``ROUTES`` as (method, pattern, handler).

Handlers take ``(context, request)``: the context is the running :class:`dss_emulator.EmulatedDSS` (its ``state``,
``scheduler`` and ``faults``), the request a :class:`dss_emulator.server.Request`. They translate HTTP to calls on the
state and scheduler and back, and never hold the state lock while waiting.
"""

from __future__ import annotations

from typing import Tuple

from ..server import Router
from . import admin, datasets, flow, folders, futures, jobs, projects, recipes, uploads, variables, zones


def build_routers() -> Tuple[Router, Router]:
    """(public API router, ``/emulator/`` admin router)."""
    public = Router()
    for module in (projects, variables, datasets, uploads, recipes, jobs, flow, zones, futures, folders):
        public.add_all(module.ROUTES)
    admin_router = Router()
    admin_router.add_all(admin.ROUTES)
    return public, admin_router
