"""Flow-graph payloads shaped like DSS's ``GET /projects/{pk}/flow/graph/`` answer, built from a recipe table."""

from __future__ import annotations

from typing import Dict, Iterable, Mapping, Optional, Sequence, Tuple

COMPUTABLE_TYPES = {
    "folder": "COMPUTABLE_FOLDER",
    "model": "COMPUTABLE_SAVED_MODEL",
    "stream": "COMPUTABLE_STREAMING_ENDPOINT",
    "mes": "COMPUTABLE_MODEL_EVALUATION_STORE",
}


def flow(
    recipes: Mapping[str, Tuple[Sequence[str], Sequence[str]]],
    project_key: str = "P",
    kinds: Optional[Mapping[str, str]] = None,
    extra_nodes: Optional[Iterable[Tuple[str, dict]]] = None,
) -> dict:
    """Payload for ``{recipe: (inputs, outputs)}`` in Flow order; ``kinds`` maps a computable to folder/model/...

    Names with a dot are foreign objects (``OTHER.customers``). Edges are listed on both ends, as DSS does.
    """
    kinds = kinds or {}
    nodes: Dict[str, dict] = {}

    def node(key: str, node_type: str) -> dict:
        if key not in nodes:
            full_id = key if "." in key else f"{project_key}.{key}"
            nodes[key] = {"type": node_type, "ref": key, "fullId": full_id, "predecessors": [], "successors": []}
        return nodes[key]

    def computable(key: str) -> dict:
        return node(key, COMPUTABLE_TYPES.get(kinds.get(key, ""), "COMPUTABLE_DATASET"))

    for name, (inputs, outputs) in recipes.items():
        for key in inputs:
            computable(key)
        recipe = node(name, "RUNNABLE_RECIPE")
        for key in inputs:
            recipe["predecessors"].append(key)
            nodes[key]["successors"].append(name)
        for key in outputs:
            out = computable(key)
            recipe["successors"].append(key)
            out["predecessors"].append(name)
    for key, extra in extra_nodes or ():
        nodes[key] = extra
    return {
        "nodes": nodes,
        "recipes": [k for k, n in nodes.items() if n["type"] == "RUNNABLE_RECIPE"],
        "datasets": [k for k, n in nodes.items() if n["type"] == "COMPUTABLE_DATASET"],
        "implicitRecipes": [],
        "folders": [],
        "models": [],
        "stores": [],
        "evaluationStores": [],
        "streamingEndpoints": [],
    }


def clinical() -> dict:
    """The seed's clinical flow: two aggregations, a join, then training."""
    return flow(
        {
            "group_LAB_RESULTS_AGG": (["LAB_RESULTS"], ["LAB_RESULTS_AGG"]),
            "group_CLINICAL_NOTES_AGG": (["CLINICAL_NOTES"], ["CLINICAL_NOTES_AGG"]),
            "join_ML_TRAINING_DATA": (["LAB_RESULTS_AGG", "CLINICAL_NOTES_AGG", "PATIENTS"], ["ML_TRAINING_DATA"]),
            "train_RISK_MODEL": (["ML_TRAINING_DATA"], ["risk_model"]),
        },
        project_key="CLINICAL",
        kinds={"risk_model": "model"},
    )


def chain(length: int) -> dict:
    """d0 -> r0 -> d1 -> r1 -> ... -> d{length}, built directly (fast enough for 100,000 recipes)."""
    nodes: Dict[str, dict] = {"d0": {"type": "COMPUTABLE_DATASET", "ref": "d0", "predecessors": [], "successors": []}}
    for i in range(length):
        r, d_in, d_out = f"r{i}", f"d{i}", f"d{i + 1}"
        nodes[d_in]["successors"].append(r)
        nodes[r] = {"type": "RUNNABLE_RECIPE", "ref": r, "predecessors": [d_in], "successors": [d_out]}
        nodes[d_out] = {"type": "COMPUTABLE_DATASET", "ref": d_out, "predecessors": [r], "successors": []}
    return {"nodes": nodes}
