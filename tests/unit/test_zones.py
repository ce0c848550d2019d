"""Flow zones as plain values, and the ``zone:`` selector and the "Flow zones" field of the selection."""

from __future__ import annotations

import re

import pytest
from flow_orchestrator.config import BuildConfig, Selection
from flow_orchestrator.errors import SelectionError
from flow_orchestrator.graph import FlowGraph
from flow_orchestrator.plan import BuildPlan, PlanZone, format_plan_text, make_plan
from flow_orchestrator.record import new_record
from flow_orchestrator.report.html import render_build_report
from flow_orchestrator.report.terminal import format_summary_table
from flow_orchestrator.selection import parse_selector, resolve_selection, select_recipes, split_expressions
from flow_orchestrator.zones import DEFAULT_ZONE, FlowZone, FlowZones

from tests.unit.flow_payloads import flow

NON_RECURSIVE = "NON_RECURSIVE_FORCED_BUILD"

# Raw zones as GET /projects/{key}/flow/zones answers them (dataikuapi 12-15 read the same fields).
RAW_ZONES = [
    {"id": "default", "name": "Default", "color": "#2ab1ac", "items": [], "shared": []},
    {
        "id": "z1prep0",
        "name": "Data preparation",
        "color": "#4f8ad6",
        "items": [
            {"objectId": "raw", "objectType": "DATASET"},
            {"objectId": "prep", "objectType": "RECIPE"},
            {"objectId": "prep_b", "objectType": "RECIPE"},
        ],
        "shared": [],
    },
    {
        "id": "z2repor",
        "name": "Reporting",
        "color": "#3aa76d",
        "items": [
            {"objectId": "report", "objectType": "RECIPE"},
            {"objectId": "REPORT", "objectType": "DATASET"},
            {"projectKey": "OTHER", "objectId": "elsewhere", "objectType": "RECIPE"},
        ],
        "shared": [{"objectId": "JOINED", "objectType": "DATASET"}],
    },
    {"id": "z3empty", "name": "Archive", "color": "#999999", "items": [], "shared": []},
]


@pytest.fixture(scope="module")
def graph() -> FlowGraph:
    """prep, prep_b (Data preparation) -> join (default) -> report (Reporting) ; after_report (default)."""
    payload = flow(
        {
            "prep": (["raw"], ["PREP"]),
            "prep_b": (["raw"], ["PREP_B"]),
            "join": (["PREP", "PREP_B"], ["JOINED"]),
            "report": (["JOINED"], ["REPORT"]),
            "after_report": (["REPORT"], ["FINAL"]),
        },
        project_key="SHOP",
    )
    graph = FlowGraph.from_payload(payload, project_key="SHOP")
    graph.zones = FlowZones.from_payload(RAW_ZONES, "SHOP")
    return graph


def resolve(graph, **kwargs):
    return resolve_selection(graph, Selection(**kwargs), NON_RECURSIVE)


def test_membership_comes_from_the_zones_items_and_defaults_to_the_default_zone(graph):
    zones = graph.zones
    assert [z.id for z in zones.zones] == ["default", "z1prep0", "z2repor", "z3empty"]
    assert zones.zone_of("prep").name == "Data preparation"
    assert zones.zone_of("join") == FlowZone("default", "Default", "#2ab1ac")
    assert "elsewhere" not in zones.recipe_zone  # another project's recipe
    assert zones.in_use


def test_the_default_zone_listing_its_items_or_not_gives_the_same_membership():
    listed = [dict(z) for z in RAW_ZONES]
    listed[0] = dict(listed[0], items=[{"objectId": "join", "objectType": "RECIPE"}])
    assert FlowZones.from_payload(listed, "SHOP").recipe_zone == FlowZones.from_payload(RAW_ZONES, "SHOP").recipe_zone


def test_no_zone_information_puts_every_recipe_in_the_default_zone():
    for raw in (None, []):
        zones = FlowZones.from_payload(raw, "SHOP")
        assert zones.zones == (DEFAULT_ZONE,) and zones.zone_of("anything") == DEFAULT_ZONE and not zones.in_use
    # a listing without the default zone still gets one, first
    zones = FlowZones.from_payload(RAW_ZONES[1:], "SHOP")
    assert zones.zones[0].id == "default"


def test_find_by_id_exact_name_case_and_loose_spelling(graph):
    find = graph.zones.find
    assert [z.id for z in find("z2repor")] == ["z2repor"]
    assert [z.id for z in find("Reporting")] == ["z2repor"]
    assert [z.id for z in find("reporting")] == ["z2repor"]
    assert [z.id for z in find("data_preparation")] == ["z1prep0"]
    assert [z.id for z in find("DATA-PREPARATION")] == ["z1prep0"]
    assert find("Reportng") == []


def test_group_keeps_zone_order_and_recipe_order(graph):
    groups = graph.zones.group(["report", "join", "prep_b", "prep"])
    assert [(z.name, names) for z, names in groups] == [
        ("Default", ["join"]),
        ("Data preparation", ["prep_b", "prep"]),
        ("Reporting", ["report"]),
    ]


def test_zone_selector_and_its_graph_operators(graph):
    assert select_recipes(graph, ["zone:Reporting"]) == {"report"}
    assert select_recipes(graph, ["+zone:Reporting"]) == {"report", "join", "prep", "prep_b"}
    assert select_recipes(graph, ["zone:data_preparation+"]) == {"prep", "prep_b", "join", "report", "after_report"}
    assert select_recipes(graph, ["zone:z1prep0"]) == {"prep", "prep_b"}


def test_quoted_zone_names_keep_their_spaces():
    assert split_expressions(['zone:"Data preparation"+, report']) == ['zone:"Data preparation"+', "report"]
    spec = parse_selector('+zone:"Data preparation"')
    assert (spec.method, spec.value, spec.upstream) == ("zone", "Data preparation", True)
    assert split_expressions(["zone:'A, B' x"]) == ["zone:'A, B'", "x"]


def test_quoted_zone_selects(graph):
    assert select_recipes(graph, ['zone:"Data preparation"']) == {"prep", "prep_b"}


def test_unknown_zone_suggests_and_lists(graph):
    with pytest.raises(SelectionError) as caught:
        select_recipes(graph, ["zone:Reportng"])
    assert caught.value.problems == [
        ("select", "'zone:Reportng': 'Reportng' is not a Flow zone of the project; did you mean 'Reporting'?")
    ]
    with pytest.raises(SelectionError, match="known: Default, Data preparation, Reporting, Archive"):
        select_recipes(graph, ["zone:Finance"])


def test_a_zone_without_recipes_is_an_error_naming_it(graph):
    with pytest.raises(SelectionError, match="zone 'Archive' has no recipe"):
        select_recipes(graph, ["zone:Archive"])


def test_zone_needs_a_value():
    with pytest.raises(SelectionError, match="zone: needs a value"):
        parse_selector("zone:")


def test_the_zones_field_selects_by_id_or_name_and_unites_with_the_rest(graph):
    assert resolve(graph, zones=("z1prep0",)).recipes == ("prep", "prep_b")
    assert resolve(graph, zones=("Reporting",), recipes=("after_report",)).recipes == ("report", "after_report")
    assert resolve(graph, zones=("z1prep0",), exclude=("prep_b",)).recipes == ("prep",)


def test_the_zones_field_reports_a_deleted_zone_under_its_field(graph):
    with pytest.raises(SelectionError) as caught:
        resolve(graph, zones=("zGONE00",))
    ((field, message),) = caught.value.problems
    assert field == "zones" and "'zGONE00' is not a Flow zone of the project" in message


def test_exclude_a_zone(graph):
    assert resolve(graph, select=("zone:data_preparation+",), exclude=("zone:Reporting",)).recipes == (
        "prep",
        "prep_b",
        "join",
        "after_report",
    )


# -- the plan and the reports group recipes by zone ---------------------------------------------------------------


def _plan(graph, **selection):
    return make_plan(graph, BuildConfig(selection=Selection(**selection)), "SHOP")


def test_the_plan_lists_its_zones_in_project_order_and_survives_the_record(graph):
    plan = _plan(graph, select=("+zone:Reporting",))
    assert plan.zones == (
        PlanZone("default", "Default", "#2ab1ac", ("join",)),
        PlanZone("z1prep0", "Data preparation", "#4f8ad6", ("prep", "prep_b")),
        PlanZone("z2repor", "Reporting", "#3aa76d", ("report",)),
    )
    assert BuildPlan.from_dict(plan.to_dict()) == plan
    text = format_plan_text(plan)
    assert (
        "By Flow zone (3 zone(s)):\n  Default (1 recipe(s)): join\n  Data preparation (2 recipe(s)): prep, prep_b"
        in text
    )


def test_a_project_without_zones_plans_no_zone_grouping():
    payload = flow({"a": (["src"], ["A"])}, project_key="P")
    plain = FlowGraph.from_payload(payload, project_key="P")
    plan = make_plan(plain, BuildConfig(), "P")
    assert plan.zones == () and plan.to_dict()["zones"] == [] and "By Flow zone" not in format_plan_text(plan)


def _record(graph, states):
    record = new_record(_plan(graph, select=("zone:Default", "zone:Reporting", "zone:z1prep0"))).to_dict()
    record["state"] = "FAILED"
    for recipe in record["recipes"]:
        recipe["state"] = states.get(recipe["name"], "SUCCESS")
    return record


def test_the_html_report_groups_rows_by_zone_with_counts(graph):
    html = render_build_report(_record(graph, {"prep_b": "FAILED", "report": "SKIPPED"}))
    headings = re.findall(r'<tr class="fo-layer-row fo-zone-row"[^>]*><th colspan="7">(.*?)</th>', html)
    assert [re.sub(r"<[^>]+>", "", h) for h in headings] == [
        "Zone Default · 2 recipes · 2 SUCCESS",
        "Zone Data preparation · 2 recipes · 1 SUCCESS · 1 FAILED",
        "Zone Reporting · 1 recipe · 1 SKIPPED",
    ]
    order = re.findall(r'<tr class="fo-recipe-row[^"]*" data-recipe="([^"]+)"', html)
    assert order == ["join", "after_report", "prep", "prep_b", "report"]


def test_zone_names_are_escaped_and_colours_checked(graph):
    record = _record(graph, {})
    record["plan"]["zones"][0]["name"] = "<script>alert(1)</script>"
    record["plan"]["zones"][0]["color"] = "red;background:url(x)"
    html = render_build_report(record)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "url(x)" not in html
    record["dry_run"], record["state"] = True, "PLANNED"
    plan_html = render_build_report(record)
    assert "By Flow zone" in plan_html and "<script>alert(1)" not in plan_html and "url(x)" not in plan_html


def test_the_terminal_table_groups_rows_by_zone(graph):
    lines = format_summary_table(_record(graph, {"prep_b": "FAILED"}), width=100).splitlines()
    assert [line.split()[0] for line in lines[1:]] == [
        "──",
        "join",
        "after_report",
        "──",
        "prep",
        "prep_b",
        "──",
        "report",
    ]
    assert lines[4] == "── Zone Data preparation: 2 recipe(s) (1 SUCCESS, 1 FAILED)"
