from __future__ import annotations

import pytest
from flow_orchestrator.config import BuildConfig, RunOptions, Selection
from flow_orchestrator.errors import SelectionError
from flow_orchestrator.graph import FlowGraph
from flow_orchestrator.plan import (
    BuildPlan,
    PlannedRecipe,
    expected_durations_from_record,
    format_plan_text,
    make_plan,
    per_recipe_job_type,
)
from flow_orchestrator.port import OutputRef

from tests.unit.flow_payloads import clinical, flow


def cfg(mode="NON_RECURSIVE_FORCED_BUILD", strategy="per-recipe", **selection) -> BuildConfig:
    return BuildConfig(selection=Selection(**selection), options=RunOptions(build_mode=mode, strategy=strategy))


@pytest.fixture(scope="module")
def clinic() -> FlowGraph:
    return FlowGraph.from_payload(
        clinical(), [{"name": "train_RISK_MODEL", "type": "prediction_training"}], project_key="CLINICAL"
    )


@pytest.fixture(scope="module")
def line() -> FlowGraph:
    """a -> b -> c -> d, plus e reading A (a side branch)."""
    return FlowGraph.from_payload(
        flow(
            {
                "a": (["src"], ["A"]),
                "b": (["A"], ["B"]),
                "c": (["B"], ["C"]),
                "d": (["C"], ["D"]),
                "e": (["A"], ["E"]),
            }
        )
    )


def test_whole_flow_plan(clinic):
    plan = make_plan(clinic, cfg(), "CLINICAL")
    assert plan.names == [
        "group_LAB_RESULTS_AGG",
        "group_CLINICAL_NOTES_AGG",
        "join_ML_TRAINING_DATA",
        "train_RISK_MODEL",
    ]
    assert plan.layers == [
        ["group_LAB_RESULTS_AGG", "group_CLINICAL_NOTES_AGG"],
        ["join_ML_TRAINING_DATA"],
        ["train_RISK_MODEL"],
    ]
    join = plan.recipe("join_ML_TRAINING_DATA")
    assert join.upstream == ("group_LAB_RESULTS_AGG", "group_CLINICAL_NOTES_AGG")
    assert join.inputs == ("LAB_RESULTS_AGG", "CLINICAL_NOTES_AGG", "PATIENTS")
    assert join.outputs == (OutputRef("ML_TRAINING_DATA"),)
    assert plan.recipe("train_RISK_MODEL").type == "prediction_training"
    assert plan.critical_path == ("group_LAB_RESULTS_AGG", "join_ML_TRAINING_DATA", "train_RISK_MODEL")
    assert plan.critical_path_s == 3.0
    assert plan.targets == (OutputRef("risk_model", "SAVED_MODEL"),)
    assert plan.project_key == "CLINICAL" and not plan.ordered


def test_unselected_recipes_in_between_keep_the_dependency(line):
    plan = make_plan(line, cfg(recipes=("a", "d")), "P")
    assert plan.names == ["a", "d"]
    assert plan.recipe("d").upstream == ("a",)  # through b and c, which are not run
    assert plan.recipe("d").layer == 1
    assert plan.targets == (OutputRef("D"),)


def test_expected_durations_drive_bottom_levels_and_critical_path(line):
    plan = make_plan(line, cfg(), "P", expected_durations={"a": 2, "b": 1, "c": 1, "d": 1, "e": 10})
    assert plan.recipe("a").bottom_level_s == 12.0
    assert plan.recipe("e").bottom_level_s == 10.0
    assert plan.recipe("b").bottom_level_s == 3.0
    assert plan.critical_path == ("a", "e") and plan.critical_path_s == 12.0
    assert plan.total_work_s == 15.0


def test_unknown_or_invalid_durations_are_unknown_and_weigh_one_second_in_priorities(line):
    plan = make_plan(line, cfg(), "P", expected_durations={"a": -3, "b": "slow", "zzz": 4})
    assert {r.expected_duration_s for r in plan.recipes} == {None}
    assert plan.total_work_s == len(plan.recipes) * 1.0
    assert "duration unknown" in format_plan_text(plan)


def test_a_measured_duration_of_one_second_stays_known(line):
    """1.0 s is a real measurement, not the "unknown" sentinel it used to be: the runner polls it at its end."""
    plan = make_plan(line, cfg(), "P", expected_durations={"a": 1.0})
    assert plan.recipe("a").expected_duration_s == 1.0
    assert plan.recipe("b").expected_duration_s is None
    assert BuildPlan.from_dict(plan.to_dict()) == plan


def test_single_job_targets(clinic):
    recursive = make_plan(
        clinic, cfg("RECURSIVE_FORCED_BUILD", "single-job", targets=("ML_TRAINING_DATA",)), "CLINICAL"
    )
    assert recursive.targets == (OutputRef("ML_TRAINING_DATA"),)
    flat = make_plan(clinic, cfg("NON_RECURSIVE_FORCED_BUILD", "single-job"), "CLINICAL")
    assert flat.targets == (
        OutputRef("LAB_RESULTS_AGG"),
        OutputRef("CLINICAL_NOTES_AGG"),
        OutputRef("ML_TRAINING_DATA"),
        OutputRef("risk_model", "SAVED_MODEL"),
    )
    assert any("every planned recipe" in note for note in flat.notes)


def test_ordered_plan_keeps_the_list_order(clinic):
    listed = ("group_CLINICAL_NOTES_AGG", "group_LAB_RESULTS_AGG", "join_ML_TRAINING_DATA")
    plan = make_plan(clinic, cfg(recipes=listed, ordered=True), "CLINICAL")
    assert tuple(plan.names) == listed and plan.ordered
    assert plan.layers == [["group_CLINICAL_NOTES_AGG", "group_LAB_RESULTS_AGG"], ["join_ML_TRAINING_DATA"]]


def test_resume_plans_only_the_given_recipes_with_their_dependencies(line):
    plan = make_plan(line, cfg(), "P", only=["d", "b", "gone"])
    assert plan.names == ["b", "d"]
    assert plan.recipe("d").upstream == ("b",)
    assert plan.notes[0] == "Resume: re-running 2 recipe(s) that did not succeed in the previous run"
    assert "left out 1 recipe(s) no longer runnable in the Flow: gone" in plan.notes[1]


def test_resume_with_nothing_to_do_is_an_empty_plan(line):
    plan = make_plan(line, cfg(), "P", only=[])
    assert plan.recipes == () and plan.critical_path == () and plan.targets == ()
    assert "Nothing to run." in format_plan_text(plan)


def test_resume_follows_the_ordered_list(clinic):
    listed = ("group_CLINICAL_NOTES_AGG", "group_LAB_RESULTS_AGG", "join_ML_TRAINING_DATA")
    plan = make_plan(
        clinic, cfg(recipes=listed, ordered=True), "CLINICAL", only=["join_ML_TRAINING_DATA", "group_LAB_RESULTS_AGG"]
    )
    assert plan.names == ["group_LAB_RESULTS_AGG", "join_ML_TRAINING_DATA"] and plan.ordered


def test_invalid_selection_raises_before_planning(line):
    with pytest.raises(SelectionError):
        make_plan(line, cfg(recipes=("nope",)), "P")


def test_plan_round_trips_through_its_dict(clinic):
    plan = make_plan(
        clinic,
        cfg("RECURSIVE_BUILD", recipes=("train_RISK_MODEL",), ordered=True),
        "CLINICAL",
        expected_durations={"train_RISK_MODEL": 30.5},
    )
    again = BuildPlan.from_dict(plan.to_dict())
    assert again == plan
    assert again.recipe("train_RISK_MODEL").expected_duration_s == 30.5
    assert plan.to_dict()["layers"] == plan.layers


def test_expected_durations_from_record_keeps_successes_only():
    record = {
        "recipes": [
            {"name": "a", "state": "SUCCESS", "duration_s": 12.5},
            {"name": "b", "state": "FAILED", "duration_s": 3.0},
            {"name": "c", "state": "SUCCESS", "duration_s": None},
            {"name": "d", "state": "SUCCESS", "duration_s": True},
            {"name": "e", "state": "SUCCESS", "duration_s": 4},
            "garbage",
        ]
    }
    assert expected_durations_from_record(record) == {"a": 12.5, "e": 4.0}
    assert expected_durations_from_record({}) == {}


def test_format_plan_text_lists_layers_and_critical_path(clinic):
    plan = make_plan(
        clinic,
        cfg("RECURSIVE_FORCED_BUILD", targets=("risk_model",)),
        "CLINICAL",
        expected_durations={"join_ML_TRAINING_DATA": 150},
    )
    text = format_plan_text(plan)
    lines = text.splitlines()
    assert lines[0] == "Plan for project CLINICAL: 4 recipe(s) in 3 layer(s)"
    assert lines[1] == "Build mode: Build all upstream (RECURSIVE_FORCED_BUILD) · strategy: per-recipe"
    assert lines[2] == (
        "Critical path: group_LAB_RESULTS_AGG → join_ML_TRAINING_DATA → train_RISK_MODEL "
        "(2m 32s expected; total work 2m 33s)"
    )
    assert "Layer 0 (2 recipe(s))" in lines
    assert (
        "  * join_ML_TRAINING_DATA → ML_TRAINING_DATA · ~2m 30s · after group_LAB_RESULTS_AGG, "
        "group_CLINICAL_NOTES_AGG" in lines
    )
    assert (
        "  * train_RISK_MODEL [prediction_training] → risk_model (saved model) · duration unknown · after "
        "join_ML_TRAINING_DATA" in lines
    )
    assert "    group_CLINICAL_NOTES_AGG → CLINICAL_NOTES_AGG · duration unknown" in lines
    assert (
        "  - RECURSIVE_FORCED_BUILD adds 3 upstream recipe(s): group_LAB_RESULTS_AGG, group_CLINICAL_NOTES_AGG, "
        "join_ML_TRAINING_DATA" in lines
    )


def test_per_recipe_job_type():
    assert per_recipe_job_type("RECURSIVE_FORCED_BUILD") == "NON_RECURSIVE_FORCED_BUILD"
    assert per_recipe_job_type("NON_RECURSIVE_FORCED_BUILD") == "NON_RECURSIVE_FORCED_BUILD"
    assert per_recipe_job_type("RECURSIVE_BUILD") == "RECURSIVE_BUILD"
    assert per_recipe_job_type("RECURSIVE_MISSING_ONLY_BUILD") == "RECURSIVE_MISSING_ONLY_BUILD"


def test_output_refs_and_planned_recipes_are_values_equal_only_to_their_own_kind():
    ref = OutputRef("orders")
    assert ref == OutputRef("orders", "DATASET", None) and hash(ref) == hash(OutputRef(id="orders"))
    assert ref != ("orders", "DATASET", None) and ("orders", "DATASET", None) != ref
    assert not ref == ("orders", "DATASET", None)
    assert ref != OutputRef("orders", "MANAGED_FOLDER")
    assert repr(ref) == "OutputRef(id='orders', type='DATASET', project_key=None)"
    recipe = PlannedRecipe(name="r", type="python", outputs=(ref,), upstream=("q",), layer=1)
    copy = PlannedRecipe.from_dict(recipe.to_dict())
    assert recipe == copy and len({recipe, copy}) == 1
    assert recipe != tuple(recipe)
    assert OutputRef.from_dict(ref.to_dict()) == ref
    with pytest.raises(AttributeError):
        ref.id = "other"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        recipe.layer = 3  # type: ignore[misc]
