"""generate_flow: deterministic, acyclic, bounded width, the required shapes, and every recipe executable."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dss_emulator.execution.executors import execute_recipe
from dss_emulator.flowfile import generate_chain_flow, generate_flow, load_flow, recipe_order


def depths(flow):
    """Longest path (in recipes) from a source to each recipe."""
    producer = {recipe["outputs"][0]: recipe["name"] for recipe in flow["recipes"]}
    by_name = {recipe["name"]: recipe for recipe in flow["recipes"]}
    depth = {}
    for name in recipe_order(flow):
        parents = [producer[ref] for ref in by_name[name]["inputs"] if ref in producer]
        depth[name] = 1 + max((depth[p] for p in parents), default=-1)
    return depth


def ancestors(flow):
    producer = {recipe["outputs"][0]: recipe for recipe in flow["recipes"]}
    memo = {}

    def of(dataset):
        if dataset not in memo:
            found = {dataset}
            if dataset in producer:
                for parent in producer[dataset]["inputs"]:
                    found |= of(parent)
            memo[dataset] = found
        return memo[dataset]

    return of


def components(flow):
    parent = {}

    def find(x):
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    for recipe in flow["recipes"]:
        for ref in recipe["inputs"] + recipe["outputs"]:
            parent[find(ref)] = find(recipe["outputs"][0])
    return {find(x) for x in parent}


def run_all(flow):
    data = {d["name"]: (d["schema"], d["rows"]) for d in flow["datasets"] if d["rows"] is not None}
    by_name = {recipe["name"]: recipe for recipe in flow["recipes"]}
    for name in recipe_order(flow):
        recipe = by_name[name]
        data.update(execute_recipe(recipe, {ref: data[ref] for ref in recipe["inputs"]}))
    return data


def test_sizes_and_names():
    flow = generate_flow(120, width=6, seed=4)
    assert len(flow["recipes"]) == 120
    outputs = [recipe["outputs"][0] for recipe in flow["recipes"]]
    assert outputs == [f"ds{n:04d}" for n in range(1, 121)]
    assert all(recipe["name"].startswith(f"r{n:04d}_") for n, recipe in enumerate(flow["recipes"], 1))
    sources = [d for d in flow["datasets"] if d["name"].startswith("src")]
    assert len(flow["datasets"]) == 120 + len(sources) and all(len(d["rows"]) == 6 for d in sources)
    assert {recipe["type"] for recipe in flow["recipes"]} == {"sync", "grouping", "shaker", "join"}


def test_deterministic_from_seed():
    assert json.dumps(generate_flow(80, seed=9)) == json.dumps(generate_flow(80, seed=9))
    assert json.dumps(generate_flow(80, seed=9)) != json.dumps(generate_flow(80, seed=10))


def test_required_shapes_are_present():
    flow = load_flow(generate_flow(60, width=8, seed=0))
    readers = defaultdict(int)
    for recipe in flow["recipes"]:
        for ref in recipe["inputs"]:
            readers[ref] += 1
    assert any(count >= 2 for count in readers.values()), "fan-out"
    joins = [recipe for recipe in flow["recipes"] if len(recipe["inputs"]) == 2]
    assert joins, "fan-in"
    of = ancestors(flow)
    assert any(of(j["inputs"][0]) & of(j["inputs"][1]) for j in joins), "diamond"
    assert len(components(flow)) >= 2, "independent branches"


def test_durations_within_bounds():
    flow = generate_flow(200, seed=1, min_duration=0.01, max_duration=0.03)
    durations = [recipe["emulation"]["duration"] for recipe in flow["recipes"]]
    assert all(0.01 <= d <= 0.03 for d in durations)
    assert len(set(durations)) > 10


def test_ten_thousand_recipes():
    flow = generate_flow(10000, width=12, seed=2)
    assert len(flow["recipes"]) == 10000
    assert flow["recipes"][-1]["name"].startswith("r10000_")
    assert max(depths(flow).values()) >= 10000 // 12 - 1


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"recipes": -1}, "recipes must be a non-negative integer"),
        ({"recipes": 5, "width": 0}, "width must be a positive integer"),
        ({"recipes": 5, "min_duration": 0.5, "max_duration": 0.1}, "0 <= min_duration <= max_duration"),
        ({"recipes": 5, "project_key": "bad key"}, "project_key must be upper-case"),
        ({"recipes": 5, "zones": -1}, "zones must be a non-negative integer"),
    ],
)
def test_bad_arguments(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        generate_flow(**kwargs)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(recipes=st.integers(0, 70), width=st.integers(1, 10), seed=st.integers(0, 10**6))
def test_generated_flows_are_valid_bounded_and_executable(recipes, width, seed):
    flow = load_flow(generate_flow(recipes, width=width, seed=seed))  # validates: no cycle, known names
    assert len(flow["recipes"]) == recipes
    per_depth = defaultdict(int)
    for depth in depths(flow).values():
        per_depth[depth] += 1
    assert all(count <= width for count in per_depth.values())
    data = run_all(flow)
    assert all(recipe["outputs"][0] in data for recipe in flow["recipes"])


def test_zones_cut_the_depths_in_order_and_the_flow_stays_valid():
    plain = generate_flow(120, width=6, seed=3)
    flow = generate_flow(120, width=6, seed=3, zones=4)
    assert "zones" not in plain and [r["name"] for r in flow["recipes"]] == [r["name"] for r in plain["recipes"]]
    assert [z["name"] for z in flow["zones"]] == ["Stage 1", "Stage 2", "Stage 3", "Stage 4"]
    loaded = load_flow(flow)
    zone_of = {r["name"]: int(r["zone"].split()[1]) for r in loaded["recipes"]}
    producer = {o: r["name"] for r in loaded["recipes"] for o in r["outputs"]}
    for recipe in loaded["recipes"]:  # a zone never reads from a later zone
        for ref in recipe["inputs"]:
            if ref in producer:
                assert zone_of[producer[ref]] <= zone_of[recipe["name"]]
    assert set(zone_of.values()) == {1, 2, 3, 4}
    assert all(d.get("zone") == "Stage 1" for d in loaded["datasets"] if d["name"].startswith("src"))


def test_more_zones_than_depths_makes_one_zone_per_depth():
    flow = generate_flow(3, width=8, seed=1, zones=10)
    assert len(flow["zones"]) == 1 and {r["zone"] for r in flow["recipes"]} == {"Stage 1"}


def test_chain_flows_are_chains_of_single_readers_and_executable():
    flow = load_flow(generate_chain_flow(23, chain_length=5, seed=2, min_duration=0.1, max_duration=0.4))
    assert len(flow["recipes"]) == 23 and json.dumps(generate_chain_flow(23, 5, 2)) == json.dumps(
        generate_chain_flow(23, 5, 2)
    )
    readers = defaultdict(list)
    for recipe in flow["recipes"]:
        assert len(recipe["inputs"]) == 1 and len(recipe["outputs"]) == 1
        assert 0.1 <= recipe["emulation"]["duration"] <= 0.4
        readers[recipe["inputs"][0]].append(recipe["name"])
    assert all(len(names) == 1 for names in readers.values())  # every dataset has one reader at most
    assert [len(c) for c in sorted(components_members(flow).values(), key=len, reverse=True)] == [5, 5, 5, 5, 3]
    assert max(depths(flow).values()) == 4
    data = run_all(flow)
    assert all(recipe["outputs"][0] in data for recipe in flow["recipes"])


def components_members(flow):
    """Recipes of each independent chain, keyed by the chain's source."""
    producer = {recipe["outputs"][0]: recipe for recipe in flow["recipes"]}
    members = defaultdict(list)
    for recipe in flow["recipes"]:
        ref = recipe["inputs"][0]
        while ref in producer:
            ref = producer[ref]["inputs"][0]
        members[ref].append(recipe["name"])
    return members


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"recipes": -1}, "recipes must be a non-negative integer"),
        ({"recipes": 5, "chain_length": 0}, "chain_length must be a positive integer"),
        ({"recipes": 5, "min_duration": 0.5, "max_duration": 0.1}, "0 <= min_duration <= max_duration"),
        ({"recipes": 5, "project_key": "bad key"}, "project_key must be upper-case"),
    ],
)
def test_bad_chain_arguments(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        generate_chain_flow(**kwargs)
