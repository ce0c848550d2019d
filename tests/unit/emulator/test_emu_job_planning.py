"""A job's activities depend on the selected recipes upstream of them, the same whether or not the walk upstream
stops early at recipes no deeper than every selected one (what keeps a job start O(its recipes) in a large Flow)."""

from __future__ import annotations

import random

import pytest

from dss_emulator.execution.scheduler import Scheduler
from dss_emulator.faults import FaultControls
from dss_emulator.flowfile import generate_flow, load_flow
from dss_emulator.loading import install_flow
from dss_emulator.state import EmulatorState
from dss_emulator.storage import DatasetStorage


def _scheduler(recipes: int, seed: int) -> Scheduler:
    state = EmulatorState(DatasetStorage(), FaultControls())
    install_flow(state, load_flow(generate_flow(recipes, width=6, seed=seed, project_key="GEN")))
    return Scheduler(state)


def _walk_everything(scheduler: Scheduler, recipe, selected) -> list:
    return sorted(scheduler._selected_upstream(recipe, selected, None))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_stopping_early_finds_the_same_upstream_recipes(seed):
    scheduler = _scheduler(120, seed)
    recipes = list(scheduler.state.project("GEN").recipes.values())
    rng = random.Random(seed)
    for size in (1, 2, 3, 8, 30, len(recipes)):
        chosen = rng.sample(recipes, size)
        selected = {r.name: r for r in chosen}
        floor = scheduler._selection_floor(selected)
        assert floor == min(scheduler._depths()[r] for r in chosen)
        for recipe in chosen:
            assert sorted(scheduler._selected_upstream(recipe, selected, floor)) == _walk_everything(
                scheduler, recipe, selected
            )


def test_depths_follow_a_changed_flow():
    scheduler = _scheduler(40, 5)
    project = scheduler.state.project("GEN")
    recipes = list(project.recipes.values())
    first = recipes[0]
    below = [r for r in recipes if scheduler._selected_upstream(r, {first.name: first}, None)]
    last = below[-1]
    assert scheduler._depths()[first] == 0 and scheduler._depths()[last] > 0
    # The first recipe now reads the output of one below it: both sit in a cycle and have no depth any more.
    first.definition["inputs"]["main"]["items"].append({"ref": last.output_refs()[0], "deps": []})
    project.structure_changed()
    depths = scheduler._depths()
    assert first not in depths and last not in depths
    selected = {first.name: first, last.name: last}
    assert scheduler._selection_floor(selected) is None  # nothing may be skipped: the walk goes everywhere
    assert scheduler._selected_upstream(first, selected, None) == [last.name]
