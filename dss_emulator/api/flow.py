"""The Flow: graph (``nodes`` keyed by bare names) and the schema propagation tool (a future); zones are in zones.py."""

from __future__ import annotations

from collections import OrderedDict

from ..execution.propagation import start_propagation
from ..server import Request, Response, json_response
from ..state import EmulatorState, Project, smart_ref, split_ref


def flow_graph(state: EmulatorState, project: Project) -> dict:
    """DSS's SerializedFlowGraph for a project. Lock held.

    Own objects are keyed by bare name, foreign ones by ``PROJ.name``; a recipe's successors list datasets before
    folders, because ``recipe.run()`` builds the first successor.
    """
    nodes: OrderedDict[str, dict] = OrderedDict()
    datasets, folders, recipes = [], [], []

    def computable(key: str, node_type: str, full_id: str) -> dict:
        if key not in nodes:
            nodes[key] = {"type": node_type, "ref": key, "fullId": full_id, "predecessors": [], "successors": []}
            (datasets if node_type == "COMPUTABLE_DATASET" else folders).append(key)
        return nodes[key]

    for dataset in project.datasets.values():
        computable(dataset.name, "COMPUTABLE_DATASET", dataset.full_name)
    for folder in project.folders.values():
        computable(folder.id, "COMPUTABLE_FOLDER", f"{project.key}.{folder.id}")

    def node_for_ref(ref: str):
        if "." not in ref:  # an own object already listed above (the usual case): no lookups
            known = nodes.get(ref)
            if known is not None:
                return known
        pk, name = split_ref(project.key, ref)
        dataset = state.find_dataset(pk, name)
        if dataset is not None:
            return computable(smart_ref(pk, project.key, dataset.name), "COMPUTABLE_DATASET", dataset.full_name)
        folder = state.find_folder(pk, name)
        if folder is not None:
            return computable(smart_ref(pk, project.key, folder.id), "COMPUTABLE_FOLDER", f"{pk}.{folder.id}")
        return computable(smart_ref(pk, project.key, name), "COMPUTABLE_DATASET", f"{pk}.{name}")

    for recipe in project.recipes.values():
        node = {
            "type": "RUNNABLE_RECIPE",
            "subType": recipe.type,
            "ref": recipe.name,
            "fullId": f"{project.key}.{recipe.name}",
            "predecessors": [],
            "successors": [],
        }
        for ref in recipe.input_refs():
            source = node_for_ref(ref)
            if source["ref"] not in node["predecessors"]:
                node["predecessors"].append(source["ref"])
            if recipe.name not in source["successors"]:
                source["successors"].append(recipe.name)
        outputs = [node_for_ref(ref) for ref in recipe.output_refs()]
        outputs.sort(key=lambda n: 0 if n["type"] == "COMPUTABLE_DATASET" else 1)
        for target in outputs:
            if target["ref"] not in node["successors"]:
                node["successors"].append(target["ref"])
            if recipe.name not in target["predecessors"]:
                target["predecessors"].append(recipe.name)
        nodes[recipe.name] = node
        recipes.append(recipe.name)
    implicit = []
    for entry in project.implicit_recipes:
        key = entry.get("id") or entry.get("name")
        if not key:
            continue
        node = {
            "type": "RUNNABLE_IMPLICIT_RECIPE",
            "ref": key,
            "fullId": f"{project.key}.{key}",
            "predecessors": [node_for_ref(r)["ref"] for r in entry.get("inputs") or []],
            "successors": [node_for_ref(r)["ref"] for r in entry.get("outputs") or []],
        }
        for pred in node["predecessors"]:
            nodes[pred]["successors"].append(key)
        for succ in node["successors"]:
            nodes[succ]["predecessors"].append(key)
        nodes[key] = node
        implicit.append(key)
    return {
        "nodes": nodes,
        "datasets": datasets,
        "recipes": recipes,
        "implicitRecipes": implicit,
        "folders": folders,
        "models": [],
        "stores": [],
        "evaluationStores": [],
        "streamingEndpoints": [],
    }


def get_graph(ctx, request: Request) -> Response:
    """The project's graph, serialised once per Flow shape (:meth:`EmulatorState.flow_shape`): a ``plan`` of 20,000
    recipes otherwise waits about a second for it on every call."""
    with ctx.state.lock:
        project = ctx.state.project(request.path_params["pk"])
        body = project.cached_answer(
            "flow graph", ctx.state.flow_shape(), lambda: json_response(flow_graph(ctx.state, project)).body
        )
        return Response(200, body)


def propagate_schema(ctx, request: Request) -> Response:
    future = start_propagation(ctx.state, ctx.scheduler, request.path_params["pk"], request.json(required=True))
    with ctx.state.lock:
        return json_response(future.response())


ROUTES = [
    ("GET", "projects/{pk}/flow/graph", get_graph),
    ("POST", "projects/{pk}/flow/tools/propagate-schema", propagate_schema),
]
