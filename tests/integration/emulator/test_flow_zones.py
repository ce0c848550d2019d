"""Flow zones through the real dataikuapi client: list, get, items, shared, graph, create, add_item, settings, delete.

The clinical example declares three zones (docs/flow-file.md); the calls and shapes are those of dataikuapi 12 to 15
(docs/real-dss.md, "Flow zones").
"""

from __future__ import annotations

import pytest
from dataikuapi.utils import DataikuException

from dss_emulator.zones import zone_id_for


def _zones_by_name(flow):
    return {zone.name: zone for zone in flow.list_zones()}


def _item_names(zone):
    return sorted(item.id if hasattr(item, "id") else item.name for item in zone.items)


def test_list_zones_has_the_default_zone_first_then_the_flow_file_zones(project):
    zones = project.get_flow().list_zones()
    assert [(z.id, z.name) for z in zones] == [
        ("default", "Default"),
        (zone_id_for("CLINICAL", "Lab results"), "Lab results"),
        (zone_id_for("CLINICAL", "Clinical notes"), "Clinical notes"),
        (zone_id_for("CLINICAL", "Machine learning"), "Machine learning"),
    ]
    default = zones[0]
    assert default.color == "#2ab1ac" and default._raw["items"] == [] and default._raw["shared"] == []


def test_zone_items_are_native_objects_and_shared_items_are_listed(project):
    ml = _zones_by_name(project.get_flow())["Machine learning"]
    assert _item_names(ml) == ["ML_TRAINING_DATA", "MODEL_SCORES", "join_ML_TRAINING_DATA", "train_MODEL_SCORES"]
    assert sorted(d.name for d in ml.shared) == ["CLINICAL_NOTES_AGG", "LAB_RESULTS_AGG"]
    assert ml._raw["items"][0] == {"objectId": "ML_TRAINING_DATA", "objectType": "DATASET"}  # smart-ref key order


def test_get_zone_and_zone_of_object(project):
    flow = project.get_flow()
    lab_id = zone_id_for("CLINICAL", "Lab results")
    assert flow.get_zone(lab_id).name == "Lab results"
    assert flow.get_zone_of_object(project.get_recipe("group_LAB_RESULTS_AGG")).id == lab_id
    assert flow.get_zone_of_object(project.get_dataset("LAB_RESULTS_AGG")).id == lab_id
    assert flow.get_default_zone().id == "default"


def test_unknown_zone_is_a_not_found_naming_the_zones(project):
    # client 12.0 shows the error's message, later clients its detailedMessage (which names the zones)
    detailed = "Flow zone .nope. does not exist in project CLINICAL \\(zones: default \\(Default\\)"
    with pytest.raises(DataikuException, match=f"{detailed}|Flow zone does not exist: CLINICAL.nope"):
        project.get_flow().get_zone("nope")


def test_zone_graph_marks_what_belongs_to_the_zone(project):
    ml = _zones_by_name(project.get_flow())["Machine learning"]
    graph = ml.get_graph()
    belongs = {key: node["belongsToZone"] for key, node in graph.nodes.items()}
    assert belongs == {
        "LAB_RESULTS_AGG": False,
        "CLINICAL_NOTES_AGG": False,
        "ML_TRAINING_DATA": True,
        "MODEL_SCORES": True,
        "join_ML_TRAINING_DATA": True,
        "train_MODEL_SCORES": True,
    }
    assert graph.nodes["LAB_RESULTS_AGG"]["predecessors"] == []  # its recipe is in another zone: cut
    assert [r["ref"] for r in graph.get_source_computables()] == ["LAB_RESULTS_AGG", "CLINICAL_NOTES_AGG"]


def test_create_zone_add_item_moves_the_recipe_and_its_outputs_then_delete_returns_them(fresh_dss):
    project = fresh_dss.client().get_project("CLINICAL")
    flow = project.get_flow()
    reporting = flow.create_zone("Reporting", color="#123456")
    assert reporting.name == "Reporting" and reporting.color == "#123456" and len(reporting.id) == 7
    reporting.add_item(project.get_dataset("MODEL_SCORES"))
    assert _item_names(reporting) == ["MODEL_SCORES", "train_MODEL_SCORES"]
    assert flow.get_zone_of_object(project.get_recipe("train_MODEL_SCORES")).id == reporting.id
    ml = _zones_by_name(flow)["Machine learning"]
    assert _item_names(ml) == ["ML_TRAINING_DATA", "join_ML_TRAINING_DATA"]

    reporting.add_shared(project.get_dataset("ML_TRAINING_DATA"))
    assert [d.name for d in reporting.shared] == ["ML_TRAINING_DATA"]
    reporting.remove_shared(project.get_dataset("ML_TRAINING_DATA"))
    assert reporting.shared == []

    settings = reporting.get_settings()
    settings.name = "Reports"
    settings.save()
    assert flow.get_zone(reporting.id).name == "Reports"

    reporting.delete()
    assert "Reports" not in _zones_by_name(flow)
    assert flow.get_zone_of_object(project.get_recipe("train_MODEL_SCORES")).id == "default"
    assert "train_MODEL_SCORES" in flow.get_default_zone().get_graph().nodes


def test_add_items_and_moving_back_to_the_default_zone(fresh_dss):
    project = fresh_dss.client().get_project("CLINICAL")
    flow = project.get_flow()
    lab = _zones_by_name(flow)["Lab results"]
    lab.add_items([project.get_recipe("group_CLINICAL_NOTES_AGG"), project.get_dataset("CLINICAL_NOTES")])
    assert "group_CLINICAL_NOTES_AGG" in _item_names(lab) and "CLINICAL_NOTES_AGG" in _item_names(lab)
    assert _item_names(_zones_by_name(flow)["Clinical notes"]) == []
    flow.get_default_zone().add_item(project.get_dataset("CLINICAL_NOTES"))
    assert flow.get_zone_of_object(project.get_dataset("CLINICAL_NOTES")).id == "default"


def test_zone_errors_name_the_problem(fresh_dss):
    project = fresh_dss.client().get_project("CLINICAL")
    flow = project.get_flow()
    with pytest.raises(DataikuException, match="Dataset does not exist: CLINICAL.NOPE"):
        flow.get_default_zone().add_item(project.get_dataset("NOPE"))
    with pytest.raises(DataikuException, match="default Flow zone cannot be deleted"):
        flow.get_default_zone().delete()


def test_deleted_and_renamed_objects_leave_or_keep_their_zone(fresh_dss):
    project = fresh_dss.client().get_project("CLINICAL")
    flow = project.get_flow()
    project.get_recipe("train_MODEL_SCORES").delete()
    ml = _zones_by_name(flow)["Machine learning"]
    assert "train_MODEL_SCORES" not in _item_names(ml)
    dataset = project.get_dataset("MODEL_SCORES")
    if not hasattr(dataset, "rename"):  # DSSDataset.rename is absent from client 12.0
        return
    dataset.rename("SCORES")
    assert "SCORES" in _item_names(_zones_by_name(flow)["Machine learning"])
