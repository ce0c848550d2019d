"""How the adapter reads Flow zones across dataikuapi releases (12 to 15), by feature detection, never by version.

Each client shape is reproduced on the real 15.x client: a client without ``list_zones``, an instance answering 404 on
the zone listing, and a client that cannot turn some zone item into an object (12.0 to 12.6.0 raise ``ValueError`` on
``RETRIEVABLE_KNOWLEDGE`` items): the adapter reads raw zones only, so none of these breaks planning.
"""

from __future__ import annotations

import dataikuapi.dss.flow as dss_flow
import pytest
from flow_orchestrator.config import BuildConfig, Selection
from flow_orchestrator.pipeline import read_flow
from flow_orchestrator.plan import make_plan

from dss_emulator.zones import zone_id_for
from tests.reliability.harness import CLINICAL, gateway_for


def test_zones_are_read_from_the_raw_listing(dss):
    graph = read_flow(gateway_for(dss, CLINICAL))
    assert graph.zones.zone_of("join_ML_TRAINING_DATA").id == zone_id_for(CLINICAL, "Machine learning")
    assert [z.name for z in graph.zones.zones] == ["Default", "Lab results", "Clinical notes", "Machine learning"]


def test_a_client_without_list_zones_puts_every_recipe_in_the_default_zone(dss, monkeypatch):
    monkeypatch.delattr(dss_flow.DSSProjectFlow, "list_zones")
    gateway = gateway_for(dss, CLINICAL)
    assert gateway.flow_zones_payload() is None
    graph = read_flow(gateway)
    assert not graph.zones.in_use and graph.zones.zone_of("join_ML_TRAINING_DATA").name == "Default"
    assert make_plan(graph, BuildConfig(), CLINICAL).zones == ()


def test_an_instance_without_the_zone_endpoint_is_read_as_no_zones(dss, monkeypatch):
    def list_zones_of_an_older_instance(self):
        return self.client._perform_json("GET", f"/projects/{self.project.project_key}/flow/no-such-zones")

    monkeypatch.setattr(dss_flow.DSSProjectFlow, "list_zones", list_zones_of_an_older_instance)
    assert gateway_for(dss, CLINICAL).flow_zones_payload() is None


def test_zone_items_the_client_cannot_convert_do_not_break_the_read(dss, monkeypatch):
    def unknown_object_type(self, zone_item):
        raise ValueError(f"Cannot transform to DSS object: {zone_item}")

    monkeypatch.setattr(dss_flow.DSSFlowZone, "_to_native_obj", unknown_object_type)
    with pytest.raises(ValueError):  # what zone.items does on such a client
        _ = dss.client().get_project(CLINICAL).get_flow().list_zones()[1].items
    graph = read_flow(gateway_for(dss, CLINICAL))
    plan = make_plan(graph, BuildConfig(selection=Selection(select=("zone:Lab_results",))), CLINICAL)
    assert plan.names == ["group_LAB_RESULTS_AGG"]
