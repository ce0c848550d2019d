"""Flow-file zones and job overhead: validation with named problems, and where each object lands."""

from __future__ import annotations

from dss_emulator.flowfile import load_flow, zone_placement
from dss_emulator.zones import zone_id_for
from tests.unit.emulator.test_emu_flowfile import assert_problem, base_flow


def zoned_flow():
    flow = base_flow()
    flow["zones"] = [{"name": "Prep"}, {"name": "Reporting", "id": "rep", "color": "#112233", "shared": ["AGG"]}]
    return flow


def test_zones_are_normalised_with_stable_ids_and_default_colour():
    flow = load_flow(zoned_flow())
    prep, reporting = flow["zones"]
    assert prep == {"id": zone_id_for("TEST", "Prep"), "name": "Prep", "color": "#2ab1ac", "shared": []}
    assert len(prep["id"]) == 7 and zone_id_for("TEST", "Prep") == prep["id"]
    assert reporting == {"id": "rep", "name": "Reporting", "color": "#112233", "shared": ["AGG"]}
    assert flow["emulation"] == {"jobOverhead": None}


def test_a_recipe_takes_its_outputs_along_and_sources_keep_their_own_zone():
    raw = zoned_flow()
    raw["datasets"][0]["zone"] = "Prep"
    raw["recipes"][0]["zone"] = "Prep"
    raw["datasets"][2]["zone"] = "rep"  # declared on the output only: its recipe follows
    placed = zone_placement(load_flow(raw))
    prep = zone_id_for("TEST", "Prep")
    assert placed == {
        ("DATASET", "SRC"): prep,
        ("RECIPE", "group_AGG"): prep,
        ("DATASET", "AGG"): prep,
        ("RECIPE", "sync_COPY"): "rep",
        ("DATASET", "COPY"): "rep",
    }


def test_default_zone_by_name_places_nothing():
    raw = zoned_flow()
    raw["recipes"][1]["zone"] = "Default"
    assert zone_placement(load_flow(raw)) == {}


def test_unknown_zone_suggests_the_close_name():
    raw = zoned_flow()
    raw["recipes"][1]["zone"] = "Reportng"
    assert_problem(raw, "recipes[1].zone", "did you mean 'Reporting'?")


def test_recipe_and_output_in_different_zones_is_refused():
    raw = zoned_flow()
    raw["recipes"][1]["zone"] = "Prep"
    raw["datasets"][2]["zone"] = "Reporting"
    assert_problem(raw, "recipes[1].zone", "a recipe and its outputs are in one zone")


def test_duplicate_zone_names_and_the_reserved_default():
    raw = zoned_flow()
    raw["zones"].append({"name": "Prep"})
    raw["zones"].append({"name": "Default"})
    assert_problem(raw, "zones[2].name", "already used by zones[0]")
    assert_problem(raw, "zones[3].name", "is the default zone")


def test_shared_item_must_exist_and_overhead_must_be_positive():
    raw = zoned_flow()
    raw["zones"][0]["shared"] = ["NOPE"]
    assert_problem(raw, "zones[0].shared[0]", "'NOPE' is not a dataset, folder or recipe")
    raw = base_flow()
    raw["emulation"] = {"jobOverhead": -1}
    assert_problem(raw, "emulation.jobOverhead", "")
    raw["emulation"] = {"jobOverhead": 1.5}
    assert load_flow(raw)["emulation"] == {"jobOverhead": 1.5}
