"""The load benchmark's correctness check on a smaller flow (60 recipes, 20 jobs at once); ``make bench`` runs 500.

Timing is not asserted here (a loaded 2-core machine must pass): only that the record is right and DSS saw exactly
one job per recipe, none left running.
"""

from __future__ import annotations

import pytest

from bench.load_500 import build_under_load, check_run
from dss_emulator.flowfile import generate_flow
from tests.reliability.harness import FAST_POLL

pytestmark = pytest.mark.emulator_only


def test_sixty_recipes_twenty_at_once_complete_with_a_correct_record(wide_emulator):
    flow = generate_flow(60, width=24, seed=60, min_duration=0.01, max_duration=0.05, project_key="LOAD60")
    wide_emulator.load_flow(flow)
    recipes = [r["name"] for r in flow["recipes"]]
    outputs = {r["name"]: r["outputs"][0] for r in flow["recipes"]}

    # one job per recipe: sixty jobs twenty at once is the load this test puts on DSS
    run = build_under_load(wide_emulator.url, wide_emulator.api_key, "LOAD60", 20, strategy="per-recipe", **FAST_POLL)

    assert check_run(run, recipes, outputs) == []
    assert len(run.jobs) == 60
