from __future__ import annotations

import copy
import gc

import pytest
from flow_orchestrator.errors import GraphError
from flow_orchestrator.graph import FlowGraph, gc_paused, job_output_type
from flow_orchestrator.port import OutputRef

from tests.unit.flow_payloads import chain, clinical, flow

# The example of dss-response-shapes.md §2, verbatim in shape (a foreign dataset, no subType).
DSS_EXAMPLE = {
    "nodes": {
        "orders": {
            "type": "COMPUTABLE_DATASET",
            "ref": "orders",
            "fullId": "PROJ.orders",
            "predecessors": [],
            "successors": ["compute_orders_prepared"],
        },
        "compute_orders_prepared": {
            "type": "RUNNABLE_RECIPE",
            "ref": "compute_orders_prepared",
            "fullId": "PROJ.compute_orders_prepared",
            "predecessors": ["orders", "OTHER.customers"],
            "successors": ["orders_prepared"],
        },
        "OTHER.customers": {
            "type": "COMPUTABLE_DATASET",
            "ref": "OTHER.customers",
            "fullId": "OTHER.customers",
            "predecessors": [],
            "successors": ["compute_orders_prepared"],
        },
        "orders_prepared": {
            "type": "COMPUTABLE_DATASET",
            "ref": "orders_prepared",
            "fullId": "PROJ.orders_prepared",
            "predecessors": ["compute_orders_prepared"],
            "successors": [],
        },
    },
    "datasets": ["orders", "OTHER.customers", "orders_prepared"],
    "recipes": ["compute_orders_prepared"],
    "implicitRecipes": [],
    "folders": [],
    "models": [],
    "stores": [],
    "evaluationStores": [],
    "streamingEndpoints": [],
}


def diamond() -> FlowGraph:
    return FlowGraph.from_payload(
        flow(
            {
                "a": (["src"], ["A"]),
                "b": (["A"], ["B"]),
                "c": (["A"], ["C"]),
                "d": (["B", "C"], ["D"]),
            }
        )
    )


def test_dss_example_payload_with_a_foreign_dataset():
    graph = FlowGraph.from_payload(DSS_EXAMPLE, project_key="PROJ")
    assert graph.recipes == ("compute_orders_prepared",)
    assert graph.inputs("compute_orders_prepared") == ("orders", "OTHER.customers")
    assert graph.outputs("compute_orders_prepared") == (OutputRef("orders_prepared", "DATASET", None),)
    assert graph.is_foreign("OTHER.customers") and not graph.is_foreign("orders")
    assert graph.output_ref("OTHER.customers") == OutputRef("customers", "DATASET", "OTHER")
    assert graph.producer("OTHER.customers") is None
    assert graph.computables() == ["orders", "OTHER.customers", "orders_prepared"]
    assert graph.readers("orders_prepared") == () and graph.producer("orders_prepared") == "compute_orders_prepared"


def test_foreign_objects_are_recognised_without_a_project_key():
    graph = FlowGraph.from_payload(DSS_EXAMPLE)
    assert graph.is_foreign("OTHER.customers")
    assert graph.output_ref("OTHER.customers").project_key == "OTHER"


def test_clinical_flow_order_layers_and_critical_path():
    graph = FlowGraph.from_payload(clinical(), project_key="CLINICAL")
    assert graph.recipes == (
        "group_LAB_RESULTS_AGG",
        "group_CLINICAL_NOTES_AGG",
        "join_ML_TRAINING_DATA",
        "train_RISK_MODEL",
    )
    assert graph.layers() == [
        ["group_LAB_RESULTS_AGG", "group_CLINICAL_NOTES_AGG"],
        ["join_ML_TRAINING_DATA"],
        ["train_RISK_MODEL"],
    ]
    assert graph.upstream("join_ML_TRAINING_DATA") == ("group_LAB_RESULTS_AGG", "group_CLINICAL_NOTES_AGG")
    assert graph.outputs("train_RISK_MODEL") == (OutputRef("risk_model", "SAVED_MODEL", None),)
    path, length = graph.critical_path({"group_CLINICAL_NOTES_AGG": 10.0})
    assert path == ("group_CLINICAL_NOTES_AGG", "join_ML_TRAINING_DATA", "train_RISK_MODEL")
    assert length == 12.0
    assert [r for r in graph.recipes if not graph.upstream(r)] == ["group_LAB_RESULTS_AGG", "group_CLINICAL_NOTES_AGG"]
    assert [r for r in graph.recipes if not graph.downstream(r)] == ["train_RISK_MODEL"]


def test_topological_order_breaks_ties_by_flow_order_not_by_name():
    graph = FlowGraph.from_payload(
        flow(
            {
                "zeta": (["s"], ["Z"]),
                "alpha": (["s"], ["A"]),
                "mid": (["Z", "A"], ["M"]),
                "beta": (["s"], ["B"]),
            }
        )
    )
    assert graph.recipes == ("zeta", "alpha", "beta", "mid")
    assert graph.layer_map["beta"] == 0 and graph.layer_map["mid"] == 1


def test_outputs_list_datasets_first_with_job_output_types():
    graph = FlowGraph.from_payload(
        flow(
            {"r": (["in"], ["fld", "mdl", "ds", "st", "ev"])},
            kinds={"fld": "folder", "mdl": "model", "st": "stream", "ev": "mes"},
        )
    )
    assert graph.outputs("r") == (
        OutputRef("ds", "DATASET"),
        OutputRef("fld", "MANAGED_FOLDER"),
        OutputRef("mdl", "SAVED_MODEL"),
        OutputRef("st", "STREAMING_ENDPOINT"),
        OutputRef("ev", "MODEL_EVALUATION_STORE"),
    )
    assert graph.output_keys("r") == ("ds", "fld", "mdl", "st", "ev")


def test_job_output_type_of_unknown_computable_strips_the_prefix():
    assert job_output_type("COMPUTABLE_RETRIEVABLE_KNOWLEDGE") == "RETRIEVABLE_KNOWLEDGE"
    assert job_output_type("COMPUTABLE_SOMETHING_NEW") == "SOMETHING_NEW"


def test_implicit_recipes_are_passed_through_and_never_scheduled():
    payload = flow({"fill": (["raw"], ["fld"])}, kinds={"fld": "folder"})
    nodes = payload["nodes"]
    implicit = "FilesInFolder->P.tx"
    nodes["fld"]["successors"].append(implicit)
    nodes[implicit] = {
        "type": "RUNNABLE_IMPLICIT_RECIPE",
        "ref": implicit,
        "predecessors": ["fld"],
        "successors": ["tx"],
    }
    nodes["tx"] = {"type": "COMPUTABLE_DATASET", "ref": "tx", "predecessors": [implicit], "successors": ["use"]}
    nodes["use"] = {"type": "RUNNABLE_RECIPE", "ref": "use", "predecessors": ["tx"], "successors": ["out"]}
    nodes["out"] = {"type": "COMPUTABLE_DATASET", "ref": "out", "predecessors": ["use"], "successors": []}
    graph = FlowGraph.from_payload(payload, project_key="P")
    assert graph.recipes == ("fill", "use")
    assert not graph.is_recipe(implicit) and not graph.is_foreign(implicit)
    assert graph.upstream("use") == ("fill",)
    assert graph.producer("tx") is None
    assert graph.producers("tx") == ("fill",)
    assert graph.readers("fld") == ("use",)
    assert graph.downstream_computables("raw") == ["fld", "tx", "out"]


def test_recipe_without_outputs_is_in_the_graph_but_not_runnable():
    graph = FlowGraph.from_payload(flow({"a": (["s"], ["A"]), "dangling_sink": (["A"], [])}))
    assert graph.recipes == ("a", "dangling_sink")
    assert graph.runnable_recipes == ("a",)
    assert not graph.is_runnable("dangling_sink")
    assert graph.outputs("dangling_sink") == ()


def test_recipe_types_and_tags_from_list_items_then_subtype():
    payload = flow({"a": (["s"], ["A"]), "b": (["A"], ["B"])})
    payload["nodes"]["b"]["subType"] = "python"
    items = [{"name": "a", "type": "grouping", "tags": ["nightly", None]}, {"name": "not_in_flow", "type": "join"}]
    graph = FlowGraph.from_payload(payload, items)
    assert graph.recipe_type("a") == "grouping" and graph.recipe_tags("a") == ("nightly",)
    assert graph.recipe_type("b") == "python" and graph.recipe_tags("b") == ()
    assert graph.all_tags() == ["nightly"]
    assert not graph.has_node("not_in_flow")


def test_closures_and_depth_limits():
    graph = FlowGraph.from_payload(flow({f"r{i}": ([f"d{i}"], [f"d{i + 1}"]) for i in range(5)}))
    assert graph.upstream_closure(["r4"]) == {"r0", "r1", "r2", "r3"}
    assert graph.upstream_closure(["r4"], depth=2) == {"r2", "r3"}
    assert graph.downstream_closure(["r1"]) == {"r2", "r3", "r4"}
    assert graph.downstream_closure(["r1"], depth=1) == {"r2"}
    assert graph.upstream_closure(["r2", "r4"]) == {"r0", "r1", "r2", "r3"}  # r2 is upstream of r4
    assert graph.in_topological_order({"r3", "r0"}) == ["r0", "r3"]


def test_bottom_levels_follow_the_longest_remaining_path():
    graph = diamond()
    levels = graph.bottom_levels({"a": 1, "b": 5, "c": 2, "d": 1})
    assert levels == {"a": 7.0, "b": 6.0, "c": 3.0, "d": 1.0}
    assert graph.critical_path({"a": 1, "b": 5, "c": 2, "d": 1}) == (("a", "b", "d"), 7.0)
    assert graph.bottom_levels() == {"a": 3.0, "b": 2.0, "c": 2.0, "d": 1.0}


def test_downstream_computables_in_dependency_order():
    graph = diamond()
    assert graph.downstream_computables("A") == ["B", "C", "D"]
    assert graph.downstream_computables("D") == []
    with pytest.raises(GraphError, match="'nope' is not in the Flow graph"):
        graph.downstream_computables("nope")


def test_cycle_names_the_path_and_the_datasets():
    payload = flow({"r1": (["B"], ["A"]), "r2": (["A"], ["B"]), "r3": (["A"], ["C"])})
    with pytest.raises(GraphError) as info:
        FlowGraph.from_payload(payload)
    text = str(info.value)
    assert "cycle" in text
    assert "r1 → r2 → r1" in text or "r2 → r1 → r2" in text
    assert "r2 reads A written by r1" in text


def test_cycle_through_implicit_recipes_only_is_reported():
    nodes = {
        "x": {"type": "COMPUTABLE_DATASET", "ref": "x", "predecessors": ["i2"], "successors": ["i1", "r"]},
        "i1": {"type": "RUNNABLE_IMPLICIT_RECIPE", "ref": "i1", "predecessors": ["x"], "successors": ["y"]},
        "y": {"type": "COMPUTABLE_DATASET", "ref": "y", "predecessors": ["i1"], "successors": ["i2"]},
        "i2": {"type": "RUNNABLE_IMPLICIT_RECIPE", "ref": "i2", "predecessors": ["y"], "successors": ["x"]},
        "r": {"type": "RUNNABLE_RECIPE", "ref": "r", "predecessors": ["x"], "successors": ["out"]},
        "out": {"type": "COMPUTABLE_DATASET", "ref": "out", "predecessors": ["r"], "successors": []},
    }
    with pytest.raises(GraphError, match=r"cycle: .*i2 → x"):
        FlowGraph.from_payload({"nodes": nodes})


@pytest.mark.parametrize("field", ["successors", "predecessors"])
def test_dangling_reference_names_node_and_missing_key(field):
    payload = flow({"a": (["s"], ["A"])})
    payload["nodes"]["a"][field].append("ghost")
    with pytest.raises(GraphError) as info:
        FlowGraph.from_payload(payload)
    assert "'a'" in str(info.value) and "'ghost'" in str(info.value) and field in str(info.value)


def test_edges_listed_on_one_end_only_are_still_followed():
    payload = flow({"a": (["s"], ["A"]), "b": (["A"], ["B"])})
    payload["nodes"]["b"]["predecessors"] = []  # only A's successors still say A -> b
    graph = FlowGraph.from_payload(payload)
    assert graph.upstream("b") == ("a",)
    assert graph.inputs("b") == ("A",)


def test_a_dangling_predecessor_is_found_when_a_duplicate_successor_evens_the_link_counts():
    payload = flow({"a": (["s"], ["A"]), "b": (["A"], ["B"])})
    payload["nodes"]["A"]["successors"].append("b")  # A -> b listed twice on A's end...
    payload["nodes"]["b"]["predecessors"].append("ghost")  # ...and a dangling link on b's end: same link counts
    with pytest.raises(GraphError, match=r"'b' lists 'ghost' in its predecessors"):
        FlowGraph.from_payload(payload)


def test_duplicate_links_are_read_once():
    payload = flow({"a": (["s"], ["A"]), "b": (["A"], ["B"])})
    payload["nodes"]["A"]["successors"].append("b")
    graph = FlowGraph.from_payload(payload)
    assert graph.readers("A") == ("b",)
    assert graph.upstream("b") == ("a",)


def test_topological_order_of_any_share_of_the_flow():
    graph = diamond()
    assert graph.in_topological_order(["d", "c", "b", "a"]) == ["a", "b", "c", "d"]
    assert graph.in_topological_order(["d", "a", "d"]) == ["a", "d"]
    with pytest.raises(KeyError):
        graph.in_topological_order(["a", "b", "c", "d", "not_a_recipe"])


@pytest.mark.parametrize(
    "payload, message",
    [
        ({}, "no 'nodes' map"),
        ({"nodes": []}, "no 'nodes' map"),
        ({"nodes": {"a": "x"}}, "'a' is not an object"),
        ({"nodes": {"a": {"type": "RUNNABLE_RECIPE", "predecessors": "s"}}}, "not lists"),
    ],
)
def test_malformed_payloads(payload, message):
    with pytest.raises(GraphError, match=message):
        FlowGraph.from_payload(payload)


def test_building_does_not_modify_the_payload():
    payload = clinical()
    before = copy.deepcopy(payload)
    FlowGraph.from_payload(payload)
    assert payload == before


def test_a_100000_deep_chain_is_built_and_sorted_without_recursion():
    graph = FlowGraph.from_payload(chain(100_000))
    assert len(graph) == 100_000
    assert graph.recipes[0] == "r0" and graph.recipes[-1] == "r99999"
    assert graph.layer_map["r99999"] == 99_999
    assert len(graph.upstream_closure(["r99999"])) == 99_999
    path, length = graph.critical_path()
    assert len(path) == 100_000 and length == 100_000.0
    assert graph.downstream_computables("d99990") == [f"d{i}" for i in range(99_991, 100_001)]


def test_gc_paused_restores_the_collector_and_keeps_the_application_frozen_objects_frozen():
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    sentinel = ["an application object frozen before the build"]
    gc.freeze()
    try:
        with gc_paused():
            [[] for _ in range(100)]
        # Frozen objects are invisible to gc.get_objects(); an unfreeze() would bring the sentinel back into view.
        # (Not the freeze count: other threads may free frozen objects meanwhile.)
        assert not any(obj is sentinel for obj in gc.get_objects())
    finally:
        gc.unfreeze()
    assert any(obj is sentinel for obj in gc.get_objects())
    with pytest.raises(ValueError), gc_paused():
        raise ValueError("errors re-enable it too")
    assert gc.isenabled()


class GeneralPathOnly(FlowGraph):
    """The graph built without the plain-Flow fast path: the reference the fast path must agree with."""

    def _link_plain_flow(self) -> bool:
        return False


def public_views(graph: FlowGraph) -> dict:
    """Everything a caller can read from a graph, for comparing two builds of the same payload."""
    names = graph.recipes
    return {
        "recipes": names,
        "runnable": graph.runnable_recipes,
        "layers": graph.layers(),
        "layer": {r: graph.layer_map[r] for r in names},
        "upstream": {r: graph.upstream(r) for r in names},
        "downstream": {r: graph.downstream(r) for r in names},
        "outputs": {r: graph.outputs(r) for r in names},
        "outputs_of": graph.outputs_of(names),
        "inputs": {r: graph.inputs(r) for r in names},
        "types": {r: graph.recipe_type(r) for r in names},
        "critical_path": graph.critical_path(),
        "foreign": [k for k in graph.computables() if graph.is_foreign(k)],
        "readers": {k: graph.readers(k) for k in graph.computables()},
        "producers": {k: graph.producers(k) for k in graph.computables()},
    }


def implicit_flow() -> dict:
    payload = flow({"fill": (["raw"], ["fld"]), "use": (["tx"], ["out"])}, kinds={"fld": "folder"})
    nodes = payload["nodes"]
    nodes["fld"]["successors"].append("FilesInFolder->P.tx")
    nodes["tx"]["predecessors"].append("FilesInFolder->P.tx")
    nodes["FilesInFolder->P.tx"] = {
        "type": "RUNNABLE_IMPLICIT_RECIPE",
        "ref": "FilesInFolder->P.tx",
        "predecessors": ["fld"],
        "successors": ["tx"],
    }
    return payload


def writes_a_foreign_dataset() -> dict:
    return flow({"a": (["s"], ["A", "OTHER.shared"]), "b": (["A", "OTHER.shared"], ["B"])})


def listed_out_of_order() -> dict:
    payload = flow({"a": (["s"], ["A"]), "b": (["A"], ["B"]), "c": (["A", "B"], ["C"]), "d": (["s"], ["D"])})
    payload["nodes"] = dict(reversed(list(payload["nodes"].items())))  # every reader listed before its producer
    return payload


@pytest.mark.parametrize(
    "payload, project_key",
    [
        (clinical(), "CLINICAL"),
        (DSS_EXAMPLE, "PROJ"),
        (implicit_flow(), "P"),
        (writes_a_foreign_dataset(), "P"),
        (listed_out_of_order(), "P"),
        (
            flow(
                {"r": (["in"], ["fld", "mdl", "ds"]), "s": (["ds", "mdl"], [])}, kinds={"fld": "folder", "mdl": "model"}
            ),
            "P",
        ),
        (chain(50), "P"),
    ],
)
def test_the_plain_flow_fast_path_and_the_general_path_build_the_same_graph(payload, project_key):
    items = [{"name": key, "type": "python", "tags": ["t"]} for key in payload["nodes"]]
    fast = FlowGraph.from_payload(copy.deepcopy(payload), items, project_key=project_key)
    general = GeneralPathOnly.from_payload(copy.deepcopy(payload), items, project_key=project_key)
    assert public_views(fast) == public_views(general)


def test_a_recipe_writing_a_foreign_dataset_names_it_in_its_project():
    graph = FlowGraph.from_payload(writes_a_foreign_dataset(), project_key="P")
    assert graph.outputs("a") == (OutputRef("A", "DATASET", None), OutputRef("shared", "DATASET", "OTHER"))
    assert graph.upstream("b") == ("a",)


def test_a_flow_listed_out_of_order_gets_the_same_order_and_layers():
    graph = FlowGraph.from_payload(listed_out_of_order())
    assert graph.layers() == [["d", "a"], ["b"], ["c"]]  # each layer in Flow (payload) order
    assert graph.recipes == ("d", "a", "b", "c")
    assert graph.downstream("a") == ("c", "b")  # readers in Flow order too


def test_a_dangling_input_of_a_plain_flow_is_reported_like_any_other():
    payload = flow({"a": (["s"], ["A"]), "b": (["A"], ["B"])})
    payload["nodes"]["b"]["predecessors"] = ["ghost"]
    payload["nodes"]["A"]["successors"] = []
    with pytest.raises(GraphError, match=r"'b' lists 'ghost' in its predecessors"):
        FlowGraph.from_payload(payload)


def test_outputs_of_many_recipes_at_once_match_outputs():
    graph = FlowGraph.from_payload(flow({"a": (["s"], ["A"]), "b": (["A"], []), "c": (["A"], ["C1", "C2"])}))
    assert graph.outputs_of(["c", "b", "a"]) == [graph.outputs("c"), (), graph.outputs("a")]


def takes_the_plain_path(payload: dict, project_key: str = "P") -> bool:
    graph = FlowGraph()
    graph.project_key = project_key
    graph._nodes = payload["nodes"]
    return graph._link_plain_flow()


def with_a_dataset_writing_a_dataset(payload: dict) -> dict:
    """The payload with a link from dataset B to a new dataset X: one more link between two non-recipes, which
    evens the link counts of a link between two recipes (counted on both of its recipe ends)."""
    payload["nodes"]["B"]["successors"].append("X")
    payload["nodes"]["X"] = {"type": "COMPUTABLE_DATASET", "ref": "X", "predecessors": ["B"], "successors": []}
    return payload


def a_recipe_reading_a_recipe() -> dict:
    """Regular (each link listed on both ends) but not plain: b reads a's output A and a itself."""
    payload = flow({"a": ([], ["A"]), "b": (["A"], ["B"])})
    payload["nodes"]["a"]["successors"].append("b")
    payload["nodes"]["b"]["predecessors"].append("a")
    return with_a_dataset_writing_a_dataset(payload)


def a_recipe_whose_only_output_is_a_recipe() -> dict:
    """Regular, not plain: a (without inputs) writes nothing but b, which reads nothing else."""
    payload = flow({"b": ([], ["B"])})
    payload["nodes"] = {
        "a": {"type": "RUNNABLE_RECIPE", "ref": "a", "predecessors": [], "successors": ["b"]},
        **payload["nodes"],
    }
    payload["nodes"]["b"]["predecessors"].append("a")
    return with_a_dataset_writing_a_dataset(payload)


def inputs_listed_on_the_wrong_ends() -> dict:
    """Link counts even, every output listed on both ends, but s and t each list the other's reader."""
    payload = flow({"a": (["s"], ["A"]), "b": (["t"], ["B"])})
    payload["nodes"]["s"]["successors"] = ["b"]
    payload["nodes"]["t"]["successors"] = ["a"]
    return payload


def an_input_listed_twice() -> dict:
    """b lists A twice; A's extra successor B (not listing A) evens the link counts."""
    payload = flow({"a": (["s"], ["A"]), "b": (["A"], ["B"])})
    payload["nodes"]["b"]["predecessors"].append("A")
    payload["nodes"]["A"]["successors"].append("B")
    return payload


def listed_out_of_order_with_an_implicit_producer() -> dict:
    payload = implicit_flow()
    payload["nodes"] = dict(reversed(list(payload["nodes"].items())))
    return payload


@pytest.mark.parametrize(
    "payload",
    [
        a_recipe_reading_a_recipe(),
        a_recipe_whose_only_output_is_a_recipe(),
        inputs_listed_on_the_wrong_ends(),
        an_input_listed_twice(),
        implicit_flow(),
        listed_out_of_order_with_an_implicit_producer(),
    ],
)
def test_a_flow_that_is_not_plain_or_not_regular_takes_the_general_path(payload):
    assert not takes_the_plain_path(copy.deepcopy(payload))
    items = [{"name": key, "type": "python"} for key in payload["nodes"]]
    fast = FlowGraph.from_payload(copy.deepcopy(payload), items, project_key="P")
    general = GeneralPathOnly.from_payload(copy.deepcopy(payload), items, project_key="P")
    assert public_views(fast) == public_views(general)


def test_a_plain_flow_listed_out_of_order_takes_the_plain_path():
    assert takes_the_plain_path(listed_out_of_order())
    assert takes_the_plain_path(clinical(), "CLINICAL")


@pytest.mark.parametrize("payload", [a_recipe_reading_a_recipe(), a_recipe_whose_only_output_is_a_recipe()])
def test_a_recipe_reading_a_recipe_waits_for_it(payload):
    graph = FlowGraph.from_payload(payload)
    assert graph.upstream("b") == ("a",)
    assert graph.recipes == ("a", "b")
