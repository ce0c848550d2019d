from __future__ import annotations

import pytest
from flow_orchestrator.config import Selection
from flow_orchestrator.errors import SelectionError
from flow_orchestrator.graph import FlowGraph
from flow_orchestrator.selection import (
    SelectorSpec,
    order_by_preference,
    parse_selector,
    resolve_selection,
    select_recipes,
    split_expressions,
)

from tests.unit.flow_payloads import clinical, flow

NON_RECURSIVE = "NON_RECURSIVE_FORCED_BUILD"


@pytest.fixture(scope="module")
def clinic() -> FlowGraph:
    return FlowGraph.from_payload(clinical(), project_key="CLINICAL")


@pytest.fixture(scope="module")
def shop() -> FlowGraph:
    """prep -> (group_Y, other) ; group_Y -> join_X ; join_X -> report ; lonely ; shared input from OTHER."""
    payload = flow(
        {
            "prep": (["raw", "OTHER.customers"], ["PREP"]),
            "group_Y": (["PREP"], ["GROUP_Y_OUT"]),
            "other": (["PREP"], ["OTHER_OUT", "OTHER_SIDE"]),
            "join_X": (["GROUP_Y_OUT", "OTHER_OUT"], ["JOINED"]),
            "report": (["JOINED"], ["REPORT"]),
            "side_reader": (["OTHER_SIDE"], ["SIDE"]),
            "lonely": (["raw2"], ["LONELY"]),
            "no_output": (["JOINED"], []),
        },
        project_key="SHOP",
    )
    items = [
        {"name": "prep", "type": "shaker", "tags": ["nightly"]},
        {"name": "group_Y", "type": "grouping", "tags": ["nightly", "agg"]},
        {"name": "join_X", "type": "join", "tags": []},
        {"name": "report", "type": "python", "tags": ["reporting"]},
    ]
    return FlowGraph.from_payload(payload, items, project_key="SHOP")


def resolve(graph, mode=NON_RECURSIVE, **kwargs):
    return resolve_selection(graph, Selection(**kwargs), mode)


def names(graph, *expressions):
    return select_recipes(graph, expressions)


# -- parsing -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, spec",
    [
        ("x", SelectorSpec("x", "x")),
        ("+x", SelectorSpec("+x", "x", upstream=True)),
        ("x+", SelectorSpec("x+", "x", downstream=True)),
        ("+x+", SelectorSpec("+x+", "x", upstream=True, downstream=True)),
        ("2+x+1", SelectorSpec("2+x+1", "x", upstream=True, upstream_depth=2, downstream=True, downstream_depth=1)),
        ("@x", SelectorSpec("@x", "x", at=True)),
        ("tag:nightly+", SelectorSpec("tag:nightly+", "nightly", method="tag", downstream=True)),
        ("+type:python", SelectorSpec("+type:python", "python", method="type", upstream=True)),
        ("OTHER.customers+", SelectorSpec("OTHER.customers+", "OTHER.customers", downstream=True)),
    ],
)
def test_parse_selector(text, spec):
    assert parse_selector(text) == spec


@pytest.mark.parametrize(
    "text, message",
    [
        ("@+x", "'@' cannot be combined"),
        ("++x", "not a valid selector"),
        ("x++", "not a valid selector"),
        ("path:a/b", "unknown selector method 'path'"),
        ("tag:", "tag: needs a value"),
    ],
)
def test_parse_selector_errors_name_the_field(text, message):
    with pytest.raises(SelectionError, match=message) as info:
        parse_selector(text, "exclude")
    assert info.value.problems[0][0] == "exclude"


def test_split_expressions_on_commas_and_spaces():
    assert split_expressions(["a+, +b  c", "", "  d"]) == ["a+", "+b", "c", "d"]


# -- dbt-style operators -------------------------------------------------------------------------------------------


def test_graph_operators_on_recipe_names(shop):
    assert names(shop, "join_X") == {"join_X"}
    assert names(shop, "+join_X") == {"join_X", "group_Y", "other", "prep"}
    assert names(shop, "join_X+") == {"join_X", "report", "no_output"}
    assert names(shop, "+join_X+") == {"join_X", "group_Y", "other", "prep", "report", "no_output"}
    assert names(shop, "1+join_X") == {"join_X", "group_Y", "other"}
    assert names(shop, "prep+1") == {"prep", "group_Y", "other"}
    assert names(shop, "@group_Y") == {"group_Y", "join_X", "report", "no_output", "prep", "other"}


def test_dataset_names_stand_for_their_producer(shop):
    assert names(shop, "GROUP_Y_OUT") == {"group_Y"}
    assert names(shop, "+GROUP_Y_OUT") == {"group_Y", "prep"}
    # Downstream of a dataset: its readers, not the readers of its producer's other outputs.
    assert names(shop, "OTHER_SIDE+") == {"other", "side_reader"}
    assert names(shop, "raw+") == names(shop, "prep+")
    assert names(shop, "OTHER.customers+1") == {"prep"}


def test_tags_types_and_unions(shop):
    assert names(shop, "tag:nightly") == {"prep", "group_Y"}
    assert names(shop, "tag:agg+") == {"group_Y", "join_X", "report", "no_output"}
    assert names(shop, "type:python") == {"report"}
    assert names(shop, "group_Y, lonely") == {"group_Y", "lonely"}
    assert names(shop, "group_Y lonely", "report") == {"group_Y", "lonely", "report"}


def test_unknown_names_suggest_close_matches(shop):
    with pytest.raises(SelectionError) as info:
        names(shop, "join_x+", "tag:nightlly")
    problems = info.value.problems
    assert problems[0] == (
        "select",
        "'join_x+': 'join_x' is neither a recipe nor a dataset of the Flow; did you mean 'join_X'?",
    )
    assert "no recipe has the tag 'nightlly'; did you mean 'nightly'?" in problems[1][1]


def test_a_source_dataset_alone_is_not_buildable(shop):
    with pytest.raises(SelectionError, match="no recipe writes it"):
        names(shop, "raw")
    with pytest.raises(SelectionError, match="belongs to project OTHER"):
        names(shop, "OTHER.customers")


# -- resolve_selection ---------------------------------------------------------------------------------------------


def test_empty_selection_is_every_runnable_recipe(shop):
    resolved = resolve(shop)
    assert resolved.recipes == ("prep", "lonely", "group_Y", "other", "join_X", "side_reader", "report")
    assert "no_output" not in resolved.recipes
    assert not resolved.ordered


def test_targets_resolve_to_their_producers(clinic):
    resolved = resolve(clinic, targets=("ML_TRAINING_DATA",))
    assert resolved.recipes == ("join_ML_TRAINING_DATA",)


def test_recursive_modes_add_every_upstream_recipe(clinic):
    resolved = resolve(clinic, "RECURSIVE_FORCED_BUILD", targets=("ML_TRAINING_DATA",))
    assert resolved.recipes == ("group_LAB_RESULTS_AGG", "group_CLINICAL_NOTES_AGG", "join_ML_TRAINING_DATA")
    assert resolved.notes == (
        "RECURSIVE_FORCED_BUILD adds 2 upstream recipe(s): group_LAB_RESULTS_AGG, group_CLINICAL_NOTES_AGG",
    )
    assert resolve(clinic, "RECURSIVE_BUILD", recipes=("train_RISK_MODEL",)).recipes[-1] == "train_RISK_MODEL"
    assert len(resolve(clinic, "RECURSIVE_MISSING_ONLY_BUILD", recipes=("train_RISK_MODEL",)).recipes) == 4


def test_exclusions_apply_last_even_in_recursive_modes(clinic):
    resolved = resolve(
        clinic, "RECURSIVE_FORCED_BUILD", recipes=("train_RISK_MODEL",), exclude=("group_LAB_RESULTS_AGG",)
    )
    assert "group_LAB_RESULTS_AGG" not in resolved.recipes
    assert any(n.startswith("Excluded 1 recipe(s): group_LAB_RESULTS_AGG") for n in resolved.notes)


def test_exclude_on_everything(shop):
    resolved = resolve(shop, exclude=("prep+",))
    assert resolved.recipes == ("lonely",)


def test_selection_that_resolves_to_nothing_is_an_error(shop):
    with pytest.raises(SelectionError, match="every selected recipe is excluded"):
        resolve(shop, recipes=("report",), exclude=("report",))


def test_unknown_names_in_every_field_are_reported_together(shop):
    with pytest.raises(SelectionError) as info:
        resolve(shop, targets=("JOINDE",), recipes=("reprot", "JOINED"), select=("+nothing",), exclude=("lonley",))
    fields = [field for field, _ in info.value.problems]
    assert fields == ["targets", "recipes", "recipes", "select", "exclude"]
    text = str(info.value)
    assert "targets: 'JOINDE' is neither a recipe nor a dataset of the Flow; did you mean 'JOINED'" in text
    assert "recipes: 'reprot' is not a recipe of the Flow; did you mean 'report'" in text
    assert "'JOINED' is a dataset, not a recipe; it is written by recipe 'join_X'" in text
    assert "exclude: 'lonley' is neither a recipe nor a dataset of the Flow; did you mean 'lonely'?" in text


def test_case_only_typo_is_suggested_first(shop):
    with pytest.raises(SelectionError, match="did you mean 'prep' or 'PREP'"):
        resolve(shop, targets=("Prep",))


def test_recipe_given_as_a_target_is_accepted(shop):
    assert resolve(shop, targets=("report",)).recipes == ("report",)


def test_explicit_recipe_without_output_is_an_error(shop):
    with pytest.raises(SelectionError, match="'no_output' has no output in the Flow"):
        resolve(shop, recipes=("no_output",))


def test_foreign_and_source_targets_explain_why(shop):
    with pytest.raises(SelectionError) as info:
        resolve(shop, targets=("OTHER.customers", "raw"))
    text = str(info.value)
    assert "belongs to project OTHER and can only be built there" in text
    assert "no recipe writes it (it is a source of the Flow)" in text


# -- ordered lists (the scenario step's pipeline) --------------------------------------------------------------------


def test_ordered_list_in_a_valid_order_is_kept(clinic):
    listed = ("group_CLINICAL_NOTES_AGG", "group_LAB_RESULTS_AGG", "join_ML_TRAINING_DATA")
    resolved = resolve(clinic, recipes=listed, ordered=True)
    assert resolved.recipes == listed and resolved.ordered


def test_ordered_list_contradicting_the_flow_names_both_recipes(shop):
    with pytest.raises(SelectionError) as info:
        resolve(shop, recipes=("join_X", "group_Y"), ordered=True)
    assert info.value.problems == [
        (
            "recipes",
            "join_X is listed before group_Y, but join_X reads GROUP_Y_OUT which group_Y produces; "
            "reorder the list or allow reordering ('Fix the order' in the step, --reorder on the command line)",
        )
    ]


def test_ordered_list_contradiction_through_unlisted_recipes_shows_the_path(shop):
    with pytest.raises(
        SelectionError,
        match=r"report is listed before prep, but report depends on prep through "
        r"the Flow \(prep → group_Y → join_X → report\)",
    ):
        resolve(shop, recipes=("report", "prep"), ordered=True)


def test_reorder_fixes_the_list_and_says_so(shop):
    resolved = resolve(shop, recipes=("report", "lonely", "join_X", "group_Y"), ordered=True, reorder=True)
    assert resolved.recipes == ("lonely", "group_Y", "join_X", "report")
    assert resolved.ordered
    assert resolved.notes[0].startswith("Reordered the recipe list to follow the Flow (")
    assert "group_Y now runs before join_X" in resolved.notes[0]


def test_duplicates_in_an_ordered_list_are_an_error(clinic):
    with pytest.raises(SelectionError, match="'train_RISK_MODEL' is listed more than once"):
        resolve(clinic, recipes=("train_RISK_MODEL", "train_RISK_MODEL"), ordered=True)


def test_ordered_list_in_recursive_mode_puts_added_upstream_first(clinic):
    resolved = resolve(clinic, "RECURSIVE_FORCED_BUILD", recipes=("train_RISK_MODEL",), ordered=True)
    assert resolved.recipes[-1] == "train_RISK_MODEL" and len(resolved.recipes) == 4


def test_order_by_preference_keeps_valid_preferences(shop):
    assert order_by_preference(shop, ["group_Y", "other"], ["other", "group_Y"]) == ["other", "group_Y"]
    assert order_by_preference(shop, ["report", "prep"], ["report", "prep"]) == ["prep", "report"]


def test_names_qualified_with_the_own_project_key_are_accepted(shop):
    assert resolve(shop, targets=("SHOP.JOINED",), recipes=("SHOP.report",)).recipes == ("join_X", "report")
    assert names(shop, "+SHOP.GROUP_Y_OUT") == {"group_Y", "prep"}
