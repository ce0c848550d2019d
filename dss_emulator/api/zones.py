"""Flow zones: list, create, read, rename, delete, move items into a zone, share items, and a zone's graph.

The paths and bodies are those of ``DSSProjectFlow`` / ``DSSFlowZone`` in dataikuapi 12 to 15 (unchanged across these
releases, see docs/real-dss.md "Flow zones"); every call that changes a zone answers the zone, which the client
keeps as its new ``_raw``.
"""

from __future__ import annotations

from ..server import Request, Response, json_response
from ..state import NOT_FOUND, DSSError, Project, bad_request, not_found
from ..zones import DEFAULT_ZONE_COLOR, DEFAULT_ZONE_ID, FlowZones, Zone, item_exists, parse_item
from .flow import flow_graph


def _zone(ctx, request: Request) -> tuple:
    """(project, zones, zone) of the request, lock held; an unknown zone id is a 404."""
    project = ctx.state.project(request.path_params["pk"])
    zone = project.zones.get(request.path_params["zone"])
    if zone is None:
        known = ", ".join(f"{z.id} ({z.name})" for z in project.zones.zones.values())
        raise DSSError(
            404,
            NOT_FOUND,
            f"Flow zone does not exist: {project.key}.{request.path_params['zone']}",
            f"Flow zone {request.path_params['zone']!r} does not exist in project {project.key} (zones: {known})",
        )
    return project, project.zones, zone


def _item(project: Project, body: object) -> tuple:
    try:
        key = parse_item(project.key, body)
    except ValueError as exc:
        raise bad_request(str(exc)) from None
    if not item_exists(project, key):
        kind = {"DATASET": "Dataset", "MANAGED_FOLDER": "Managed folder", "RECIPE": "Recipe"}[key[0]]
        raise not_found(kind, project.key, key[1])
    return key


def list_zones(ctx, request: Request) -> Response:
    with ctx.state.lock:
        project = ctx.state.project(request.path_params["pk"])
        return json_response([project.zones.describe(project, z) for z in project.zones.zones.values()])


def create_zone(ctx, request: Request) -> Response:
    body = request.json_object()
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise bad_request("A Flow zone needs a name")
    color = body.get("color") or DEFAULT_ZONE_COLOR
    with ctx.state.lock:
        project = ctx.state.project(request.path_params["pk"])
        zone = project.zones.create(name, str(color))
        return json_response(project.zones.describe(project, zone))


def get_zone(ctx, request: Request) -> Response:
    with ctx.state.lock:
        project, zones, zone = _zone(ctx, request)
        return json_response(zones.describe(project, zone))


def save_zone(ctx, request: Request) -> Response:
    """``DSSFlowZoneSettings.save``: name and colour change; items and shares only through their own calls."""
    body = request.json_object()
    with ctx.state.lock:
        _project, _zones, zone = _zone(ctx, request)
        name = body.get("name", zone.name)
        if not isinstance(name, str) or not name.strip():
            raise bad_request("A Flow zone needs a name")
        zone.name = name
        zone.color = str(body.get("color") or zone.color)
        return json_response({"msg": "Flow zone saved"})


def delete_zone(ctx, request: Request) -> Response:
    with ctx.state.lock:
        _project, zones, zone = _zone(ctx, request)
        if zone.id == DEFAULT_ZONE_ID:
            raise bad_request("The default Flow zone cannot be deleted")
        zones.delete(zone.id)
        return json_response({"msg": "Flow zone deleted"})


def _move(project: Project, zones: FlowZones, zone: Zone, body: object) -> None:
    zones.move(project, _item(project, body), zone.id)


def add_item(ctx, request: Request) -> Response:
    body = request.json(required=True)
    with ctx.state.lock:
        project, zones, zone = _zone(ctx, request)
        _move(project, zones, zone, body)
        return json_response(zones.describe(project, zone))


def add_items(ctx, request: Request) -> Response:
    body = request.json(required=True)
    if not isinstance(body, list):
        raise bad_request("add-items takes a list of object references {objectType, objectId}")
    with ctx.state.lock:
        project, zones, zone = _zone(ctx, request)
        keys = [_item(project, entry) for entry in body]  # all checked before anything moves
        for key in keys:
            zones.move(project, key, zone.id)
        return json_response(zones.describe(project, zone))


def add_shared(ctx, request: Request) -> Response:
    body = request.json(required=True)
    with ctx.state.lock:
        project, zones, zone = _zone(ctx, request)
        zones.share(zone.id, _item(project, body))
        return json_response(zones.describe(project, zone))


def remove_shared(ctx, request: Request) -> Response:
    with ctx.state.lock:
        project, zones, zone = _zone(ctx, request)
        key = (request.path_params["type"], request.path_params["id"])
        zones.unshare(zone.id, key)
        return json_response(zones.describe(project, zone))


def zone_graph(ctx, request: Request) -> Response:
    """The Flow graph cut to a zone: its own objects (``belongsToZone`` true), plus the objects shared into it and the
    neighbours of its recipes in other zones (false); links only between the nodes kept."""
    with ctx.state.lock:
        project, zones, zone = _zone(ctx, request)
        full = flow_graph(ctx.state, project)
        own = {key[1] for key in zones.items_of(project, zone.id)}
        shown = set(own) | {key[1] for key in zone.shared if item_exists(project, key)}
        for name in own:
            node = full["nodes"].get(name)
            if node is not None and node["type"] == "RUNNABLE_RECIPE":
                shown.update(node["predecessors"])
                shown.update(node["successors"])
        nodes = {}
        for key, node in full["nodes"].items():
            if key not in shown:
                continue
            copy_ = dict(node)
            copy_["predecessors"] = [p for p in node["predecessors"] if p in shown]
            copy_["successors"] = [s for s in node["successors"] if s in shown]
            copy_["belongsToZone"] = key in own
            nodes[key] = copy_
        body = {
            key: ([v for v in value if v in shown] if isinstance(value, list) else value) for key, value in full.items()
        }
        body["nodes"] = nodes
        return json_response(body)


ROUTES = [
    ("GET", "projects/{pk}/flow/zones", list_zones),
    ("POST", "projects/{pk}/flow/zones", create_zone),
    ("GET", "projects/{pk}/flow/zones/{zone}", get_zone),
    ("PUT", "projects/{pk}/flow/zones/{zone}", save_zone),
    ("DELETE", "projects/{pk}/flow/zones/{zone}", delete_zone),
    ("POST", "projects/{pk}/flow/zones/{zone}/items", add_item),
    ("POST", "projects/{pk}/flow/zones/{zone}/add-items", add_items),
    ("POST", "projects/{pk}/flow/zones/{zone}/shared", add_shared),
    ("DELETE", "projects/{pk}/flow/zones/{zone}/shared/{type}/{id}", remove_shared),
    ("GET", "projects/{pk}/flow/zones/{zone}/graph", zone_graph),
]
