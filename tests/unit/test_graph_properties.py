"""Rules that hold for every Flow: checked on random DAGs against brute-force definitions."""

from __future__ import annotations

import copy
import itertools
import random
from typing import Dict, List, Set, Tuple

import pytest
from flow_orchestrator.config import BuildConfig, RunOptions, Selection
from flow_orchestrator.errors import GraphError, SelectionError
from flow_orchestrator.graph import FlowGraph
from flow_orchestrator.plan import make_plan
from flow_orchestrator.selection import resolve_selection, select_recipes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.flow_payloads import flow
from tests.unit.test_graph import GeneralPathOnly, public_views

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def damage(payload: dict, rnd: random.Random) -> None:
    """One random change of the kind a plain-Flow shortcut could miss: a link listed on one end only, twice, or
    removed from one end; a link between two recipes or two other nodes (on both ends); and changes that keep the
    link counts even: two readers swapped on their inputs' ends, a link between two recipes with one between two
    other nodes, an input listed twice with an extra successor on its other end."""
    nodes = payload["nodes"]
    keys = list(nodes)
    recipes = [k for k in keys if nodes[k]["type"] == "RUNNABLE_RECIPE"]
    others = [k for k in keys if k not in recipes]
    lists = [nodes[k][f] for k in keys for f in ("predecessors", "successors") if nodes[k][f]]
    kind = rnd.randrange(8)
    if kind == 0:  # one end only
        nodes[rnd.choice(keys)][rnd.choice(["predecessors", "successors"])].append(rnd.choice(keys))
    elif kind == 1:  # listed twice on one end
        listed = rnd.choice(lists)
        listed.append(rnd.choice(listed))
    elif kind == 2:  # removed from one end
        listed = rnd.choice(lists)
        listed.remove(rnd.choice(listed))
    elif kind in (3, 4, 5):  # recipe -> recipe, other -> other, or both, on both ends
        for pool in ([recipes], [others], [recipes, others])[kind - 3]:
            a, b = rnd.choice(pool), rnd.choice(pool)
            nodes[a]["successors"].append(b)
            nodes[b]["predecessors"].append(a)
    elif kind == 6:  # two recipes swapped on the far ends of their inputs (or outputs)
        near, far = rnd.choice([("predecessors", "successors"), ("successors", "predecessors")])
        r1, r2 = rnd.sample(recipes, 2) if len(recipes) > 1 else (recipes[0], recipes[0])
        c1, c2 = rnd.choice(nodes[r1][near] or [None]), rnd.choice(nodes[r2][near] or [None])
        ends = nodes[c1][far] if c1 else [], nodes[c2][far] if c2 else []
        if c1 != c2 and r1 in ends[0] and r2 not in ends[0] and r2 in ends[1] and r1 not in ends[1]:
            ends[0][ends[0].index(r1)] = r2
            ends[1][ends[1].index(r2)] = r1
    else:  # an input listed twice, and an extra successor of that input listed on its end only
        r = rnd.choice(recipes)
        c = rnd.choice(nodes[r]["predecessors"])
        nodes[r]["predecessors"].append(c)
        nodes[c]["successors"].append(rnd.choice(others))


def built_or_refused(cls, payload: dict):
    try:
        return public_views(cls.from_payload(copy.deepcopy(payload)))
    except GraphError as exc:
        return str(exc)


def _random_recipes(rnd: random.Random, n: int) -> Dict[str, Tuple[List[str], List[str]]]:
    """``n`` recipes (inputs, outputs) in creation order, each reading one to three datasets made before it."""
    available = ["src0", "src1"]
    recipes: Dict[str, Tuple[List[str], List[str]]] = {}
    for i in range(n):
        outputs = [f"ds{i}"] + ([f"ds{i}b"] if rnd.random() < 0.25 else [])
        recipes[f"r{i}"] = (rnd.sample(available, rnd.randint(1, min(3, len(available)))), outputs)
        available.extend(outputs)
    return recipes


@pytest.mark.parametrize("seed", range(300))
def test_a_damaged_payload_is_read_as_the_general_path_reads_it(seed):
    rnd = random.Random(seed)
    n, damages = rnd.randint(1, 12), rnd.randint(1, 3)
    payload = flow(_random_recipes(rnd, n))
    for _ in range(damages):
        damage(payload, rnd)
    assert built_or_refused(FlowGraph, payload) == built_or_refused(GeneralPathOnly, payload)


@st.composite
def random_flows(draw, max_recipes: int = 14):
    """A random Flow: recipe i reads outputs of earlier recipes and sources; nodes listed in a shuffled order."""
    n = draw(st.integers(1, max_recipes))
    seed = draw(st.integers(0, 2**32 - 1))
    rnd = random.Random(seed)
    recipes: Dict[str, Tuple[List[str], List[str]]] = {}
    available = ["src0", "src1"]
    for i in range(n):
        inputs = rnd.sample(available, rnd.randint(1, min(3, len(available))))
        outputs = [f"ds{i}"] + ([f"ds{i}b"] if rnd.random() < 0.25 else [])
        recipes[f"r{i}"] = (inputs, outputs)
        available.extend(outputs)
    payload = flow(recipes)
    keys = list(payload["nodes"])
    rnd.shuffle(keys)  # the Flow's order is not a topological order
    payload["nodes"] = {k: payload["nodes"][k] for k in keys}
    durations = {name: float(rnd.randint(1, 20)) for name in recipes}
    return FlowGraph.from_payload(payload), recipes, durations, rnd


@FAST
@given(st.integers(1, 14), st.integers(0, 2**32 - 1), st.booleans())
def test_the_fast_path_agrees_with_the_general_path_in_any_payload_order(n, seed, shuffled):
    rnd = random.Random(seed)
    payload = flow(_random_recipes(rnd, n))
    if shuffled:
        keys = list(payload["nodes"])
        rnd.shuffle(keys)
        payload["nodes"] = {k: payload["nodes"][k] for k in keys}
    fast = FlowGraph.from_payload(copy.deepcopy(payload))
    general = GeneralPathOnly.from_payload(copy.deepcopy(payload))
    assert public_views(fast) == public_views(general)
    config = BuildConfig()
    assert make_plan(fast, config, "P").to_dict() == make_plan(general, config, "P").to_dict()


def direct_upstream(recipes) -> Dict[str, Set[str]]:
    producer = {out: name for name, (_, outs) in recipes.items() for out in outs}
    return {name: {producer[i] for i in ins if i in producer} for name, (ins, _) in recipes.items()}


def ancestors(up: Dict[str, Set[str]], name: str) -> Set[str]:
    seen: Set[str] = set()
    todo = list(up[name])
    while todo:
        r = todo.pop()
        if r not in seen:
            seen.add(r)
            todo.extend(up[r])
    return seen


@FAST
@given(random_flows())
def test_order_layers_and_adjacency_match_the_definition(data):
    graph, recipes, _, _ = data
    up = direct_upstream(recipes)
    assert sorted(graph.recipes) == sorted(recipes)
    position = {r: i for i, r in enumerate(graph.recipes)}
    for r in recipes:
        assert set(graph.upstream(r)) == up[r]
        for u in up[r]:
            assert position[u] < position[r]
            assert graph.layer_map[u] < graph.layer_map[r]
            assert r in graph.downstream(u)
        assert graph.layer_map[r] == (1 + max(graph.layer_map[u] for u in up[r]) if up[r] else 0)
    flat = [r for layer in graph.layers() for r in layer]
    assert sorted(flat) == sorted(recipes) and len(flat) == len(set(flat))


@FAST
@given(random_flows())
def test_closures_are_consistent(data):
    graph, recipes, _, _ = data
    up = direct_upstream(recipes)
    for r in recipes:
        assert graph.upstream_closure([r]) == ancestors(up, r)
        for other in recipes:
            assert (other in graph.downstream_closure([r])) == (r in graph.upstream_closure([other]))
    for a, b in itertools.islice(itertools.combinations(recipes, 2), 20):
        assert graph.upstream_closure([a, b]) >= graph.upstream_closure([a]) - {b}


@FAST
@given(random_flows())
def test_bottom_levels_and_critical_path(data):
    graph, recipes, durations, _ = data
    levels = graph.bottom_levels(durations)
    for r in recipes:
        downs = graph.downstream(r)
        assert levels[r] == durations[r] + max((levels[d] for d in downs), default=0.0)
        for d in downs:
            assert levels[r] >= durations[r] + levels[d]
    path, length = graph.critical_path(durations)
    assert length == max(levels.values())
    assert sum(durations[r] for r in path) == length
    assert not graph.upstream(path[0]) and not graph.downstream(path[-1])
    for a, b in zip(path, path[1:]):
        assert a in graph.upstream(b)


@FAST
@given(random_flows())
def test_selector_operator_algebra(data):
    graph, recipes, _, rnd = data
    x = rnd.choice(sorted(recipes))

    def sel(*expr):
        return select_recipes(graph, expr)

    assert sel(f"+{x}") == {x} | graph.upstream_closure([x])
    assert sel(f"{x}+") == {x} | graph.downstream_closure([x])
    assert sel(f"+{x}+") == sel(f"+{x}") | sel(f"{x}+")
    assert sel(f"{x}") <= sel(f"1+{x}") <= sel(f"2+{x}") <= sel(f"+{x}")
    assert sel(f"{x}+1") <= sel(f"{x}+2") <= sel(f"{x}+")
    at = sel(f"@{x}")
    assert sel(f"{x}+") <= at
    assert at == sel(f"{x}+") | graph.upstream_closure(sel(f"{x}+"))
    y = rnd.choice(sorted(recipes))
    assert sel(f"{x},+{y}") == sel(f"{x}") | sel(f"+{y}") == sel(f"{x}", f"+{y}")
    dataset = recipes[x][1][0]
    assert sel(dataset) == {x}
    assert sel(f"+{dataset}") == sel(f"+{x}")


@FAST
@given(random_flows())
def test_exclude_and_build_mode_interplay(data):
    graph, recipes, _, rnd = data
    chosen = tuple(rnd.sample(sorted(recipes), rnd.randint(1, len(recipes))))
    flat = resolve_selection(graph, Selection(recipes=chosen), "NON_RECURSIVE_FORCED_BUILD")
    assert set(flat.recipes) == set(chosen)
    deep = resolve_selection(graph, Selection(recipes=chosen), "RECURSIVE_FORCED_BUILD")
    assert set(deep.recipes) == set(chosen) | graph.upstream_closure(chosen)
    x = chosen[0]
    if set(chosen) <= select_recipes(graph, [f"{x}+"]):
        with pytest.raises(SelectionError):
            resolve_selection(graph, Selection(recipes=chosen, exclude=(f"{x}+",)))
    else:
        kept = resolve_selection(graph, Selection(recipes=chosen, exclude=(f"{x}+",)))
        assert set(kept.recipes) == set(chosen) - select_recipes(graph, [f"{x}+"])


@FAST
@given(random_flows())
def test_ordered_lists_are_checked_and_reordered(data):
    graph, recipes, _, rnd = data
    listed = rnd.sample(sorted(recipes), rnd.randint(1, len(recipes)))
    up = direct_upstream(recipes)
    valid = all(b not in ancestors(up, a) for i, a in enumerate(listed) for b in listed[i + 1 :])
    selection = Selection(recipes=tuple(listed), ordered=True)
    if valid:
        assert list(resolve_selection(graph, selection).recipes) == listed
    else:
        with pytest.raises(SelectionError, match="is listed before"):
            resolve_selection(graph, selection)
    fixed = resolve_selection(graph, Selection(recipes=tuple(listed), ordered=True, reorder=True)).recipes
    assert sorted(fixed) == sorted(listed)
    for i, a in enumerate(fixed):
        assert not (ancestors(up, a) & set(fixed[i + 1 :]))
    if valid:
        assert list(fixed) == listed


@FAST
@given(random_flows())
def test_plan_dependencies_preserve_reachability_among_planned_recipes(data):
    graph, recipes, durations, rnd = data
    chosen = tuple(rnd.sample(sorted(recipes), rnd.randint(1, len(recipes))))
    plan = make_plan(
        graph, BuildConfig(selection=Selection(recipes=chosen), options=RunOptions()), "P", expected_durations=durations
    )
    up = direct_upstream(recipes)
    planned = set(plan.names)
    plan_up = {r.name: set(r.upstream) for r in plan.recipes}
    position = {n: i for i, n in enumerate(plan.names)}
    for r in plan.recipes:
        assert plan_up[r.name] <= planned
        for u in r.upstream:
            assert position[u] < position[r.name]
            assert plan.recipe(u).layer < r.layer
            assert plan.recipe(u).bottom_level_s >= plan.recipe(u).expected_duration_s + r.bottom_level_s
        # Waiting for the nearest planned ancestors is waiting for every planned ancestor.
        assert ancestors(plan_up, r.name) == ancestors(up, r.name) & planned
    assert plan.critical_path_s == max(r.bottom_level_s for r in plan.recipes)
    assert sum(len(layer) for layer in plan.layers) == len(plan.recipes)
