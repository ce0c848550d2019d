"""The Flow graph answer is serialised once per Flow shape: a change made through the client is seen at once.

The emulator keeps the serialised graph of a project (a 20,000-recipe graph costs about a second to build and
serialise) until anything it shows may have changed; each test changes the Flow one way through the real client
and reads the graph again, as ``plan`` would.
"""

from __future__ import annotations


def _graph(project) -> dict:
    return project.get_flow().get_graph().data


def _node(project, key: str) -> dict:
    return _graph(project)["nodes"][key]


def test_an_unchanged_flow_answers_the_same_graph_twice(fresh_dss, fresh_project):
    first = _graph(fresh_project)
    assert _graph(fresh_project) == first
    # Served from one serialisation (the second read did not build it again).
    assert list(fresh_dss.state.project("CLINICAL")._answers) == ["flow graph"]


def test_changed_links_are_seen(fresh_project):
    assert _node(fresh_project, "join_ML_TRAINING_DATA")["predecessors"] == ["LAB_RESULTS_AGG", "CLINICAL_NOTES_AGG"]
    join = fresh_project.get_recipe("join_ML_TRAINING_DATA").get_settings()
    main = join.get_recipe_inputs()["main"]
    main["items"] = [item for item in main["items"] if item["ref"] == "LAB_RESULTS_AGG"]
    join.save()
    assert _node(fresh_project, "join_ML_TRAINING_DATA")["predecessors"] == ["LAB_RESULTS_AGG"]
    assert _node(fresh_project, "CLINICAL_NOTES_AGG")["successors"] == []


def test_a_renamed_dataset_and_a_deleted_recipe_are_seen(fresh_project):
    _graph(fresh_project)
    fresh_project.get_dataset("MODEL_SCORES").rename("SCORES")
    nodes = _graph(fresh_project)["nodes"]
    assert "MODEL_SCORES" not in nodes
    assert nodes["train_MODEL_SCORES"]["successors"] == ["SCORES"]
    fresh_project.get_recipe("train_MODEL_SCORES").delete()
    graph = _graph(fresh_project)
    assert "train_MODEL_SCORES" not in graph["nodes"]
    assert "train_MODEL_SCORES" not in graph["recipes"]
    assert graph["nodes"]["ML_TRAINING_DATA"]["successors"] == []


def test_a_new_dataset_and_a_changed_recipe_type_are_seen(fresh_project):
    assert _node(fresh_project, "train_MODEL_SCORES")["subType"] == "python"
    fresh_project.create_dataset("EXTRA", "Filesystem", params={"connection": "filesystem_managed", "path": "EXTRA"})
    assert _node(fresh_project, "EXTRA")["type"] == "COMPUTABLE_DATASET"
    settings = fresh_project.get_recipe("train_MODEL_SCORES").get_settings()
    settings.get_recipe_raw_definition()["type"] = "r"
    settings.save()
    assert _node(fresh_project, "train_MODEL_SCORES")["subType"] == "r"
