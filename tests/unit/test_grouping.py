"""Job groups of the grouped-jobs strategy: chains become one job, branches and merges stay jobs of their own."""

from __future__ import annotations

from typing import Dict, List, Sequence

from flow_orchestrator.grouping import job_groups, shared_groups, split_groups
from flow_orchestrator.plan import PlannedRecipe
from flow_orchestrator.port import OutputRef
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fakes import make_test_plan


def recipe(name: str, upstream: Sequence[str] = (), *, outputs: Sequence[str] = (), inputs: Sequence[str] = ()):
    return PlannedRecipe(
        name=name,
        type="python",
        outputs=tuple(OutputRef(o) for o in (outputs or [f"{name}_out"])),
        inputs=tuple(inputs or [f"{u}_out" for u in upstream]),
        upstream=tuple(upstream),
    )


def test_a_chain_is_one_group_in_dependency_order():
    recipes = [recipe("a"), recipe("b", ["a"]), recipe("c", ["b"]), recipe("d", ["c"])]
    assert job_groups(recipes) == [("a", "b", "c", "d")]


def test_a_branch_and_a_merge_end_chains():
    # a -> b -> (c, d) ; c, d -> e -> f
    recipes = [
        recipe("a"),
        recipe("b", ["a"]),
        recipe("c", ["b"]),
        recipe("d", ["b"]),
        recipe("e", ["c", "d"]),
        recipe("f", ["e"]),
    ]
    assert job_groups(recipes) == [("a", "b"), ("c",), ("d",), ("e", "f")]


def test_independent_branches_stay_separate_groups():
    recipes = [recipe("a"), recipe("x"), recipe("b", ["a"]), recipe("y", ["x"])]
    assert job_groups(recipes) == [("a", "b"), ("x", "y")]


def test_a_second_reader_of_any_output_ends_the_chain():
    recipes = [
        recipe("a", outputs=["a1", "a2"]),
        recipe("b", ["a"], inputs=["a1"]),
        recipe("c", ["a"], inputs=["a2"]),
    ]
    assert job_groups(recipes) == [("a",), ("b",), ("c",)]


def test_a_recipe_reached_through_one_left_out_of_the_plan_is_not_chained():
    # b reads x_out, built by a recipe outside the plan that reads a's output: DSS would not order a before b
    recipes = [recipe("a"), recipe("b", ["a"], inputs=["x_out"])]
    assert job_groups(recipes) == [("a",), ("b",)]


def test_partitioned_and_whole_outputs_are_not_chained():
    recipes = [recipe("a"), recipe("b", ["a"]), recipe("c", ["b"])]
    assert job_groups(recipes, partitioned={"a_out", "b_out"}, project_key="P") == [("a", "b"), ("c",)]
    # another project's dataset of the same name is not the run project's partitioned output
    foreign = [
        recipe("a"),
        PlannedRecipe("b", "python", (OutputRef("a_out", project_key="OTHER"),), ("a_out",), ("a",)),
    ]
    assert job_groups(foreign, partitioned={"a_out"}, project_key="P") == [("a",), ("b",)]


def test_an_ordered_list_chains_only_neighbours():
    recipes = [recipe("a"), recipe("x"), recipe("b", ["a"])]
    assert job_groups(recipes, ordered=True) == [("a",), ("x",), ("b",)]
    assert job_groups(recipes) == [("a", "b"), ("x",)]


def test_shared_groups_number_only_groups_of_several():
    assert shared_groups([("a", "b"), ("x",), ("c", "d", "e")]) == {"a": 1, "b": 1, "c": 2, "d": 2, "e": 2}


@st.composite
def flows(draw):
    n = draw(st.integers(min_value=1, max_value=40))
    names = [f"r{i}" for i in range(n)]
    upstream: Dict[str, List[str]] = {}
    for i, name in enumerate(names):
        if i == 0:
            upstream[name] = []
            continue
        window = draw(st.integers(min_value=1, max_value=4))
        picks = draw(st.lists(st.integers(min_value=max(0, i - window), max_value=i - 1), max_size=2, unique=True))
        upstream[name] = [names[j] for j in sorted(picks)]
    partitioned = draw(st.sets(st.sampled_from([f"{name}_out" for name in names])))
    return upstream, partitioned


@settings(max_examples=300, deadline=None, derandomize=True)
@given(flows())
def test_groups_partition_the_plan_into_chains_with_an_acyclic_group_graph(flow):
    upstream, partitioned = flow
    plan = make_test_plan(upstream)
    groups = job_groups(plan.recipes, partitioned=partitioned, project_key="PROJ")
    members = [name for group in groups for name in group]
    assert sorted(members) == sorted(plan.names) and len(members) == len(set(members))  # a partition of the plan
    group_of = {name: g for g, group in enumerate(groups) for name in group}
    readers: Dict[str, List[str]] = {name: [] for name in upstream}
    for name, ups in upstream.items():
        for up in ups:
            readers[up].append(name)
    for group in groups:  # each a path in dependency order, every link the only way between its two ends
        for previous, following in zip(group, group[1:]):
            assert upstream[following] == [previous] and readers[previous] == [following]
            assert (f"{previous}_out" in partitioned) == (f"{following}_out" in partitioned)
    builders: Dict[OutputRef, int] = {}
    for r in plan.recipes:  # no output built by two groups
        for output in r.outputs:
            assert builders.setdefault(output, group_of[r.name]) == group_of[r.name]
    # the group-level graph is acyclic: groups in plan order only wait for earlier groups
    for name, ups in upstream.items():
        for up in ups:
            assert group_of[up] <= group_of[name]
            if group_of[up] == group_of[name]:
                assert groups[group_of[name]].index(up) < groups[group_of[name]].index(name)
    # a maximal split: a link that qualifies is always taken
    for name, ups in upstream.items():
        if len(ups) == 1 and readers[ups[0]] == [name]:
            if (f"{ups[0]}_out" in partitioned) == (f"{name}_out" in partitioned):
                assert group_of[ups[0]] == group_of[name]


def test_resume_splits_a_chain_where_an_earlier_job_built_only_part_of_it():
    groups = [("a", "b", "c", "d"), ("x",)]
    assert split_groups(groups, {"a": "J1", "b": "J1"}) == [("a", "b"), ("c", "d"), ("x",)]
    assert split_groups(groups, {}) == groups
