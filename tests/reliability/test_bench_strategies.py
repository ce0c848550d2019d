"""The strategies benchmark's smallest setup, run once so that ``make bench`` cannot rot (no timing asserted).

Every strategy the engine offers builds both generated Flows through the CLI against a served emulator with a job
overhead; the job counts come from the emulator's job list: one job per recipe, one job in all, or (grouped jobs)
one job per chain of the chain-heavy Flow.
"""

from __future__ import annotations

import pytest
from flow_orchestrator.config.model import STRATEGIES

from bench import strategies

pytestmark = pytest.mark.emulator_only


def test_the_smallest_setup_builds_every_flow_with_every_strategy(capsys):
    setup = strategies.SMOKE
    runs = strategies.measure_all(setup, STRATEGIES, progress=False)
    offered = list(STRATEGIES) + ([strategies.LEARNED] if strategies.GROUPED in STRATEGIES else [])
    assert [(r.flow, r.strategy) for r in runs] == [
        (flow, strategy) for flow in strategies.flows_of(setup) for strategy in offered
    ]
    assert [r.problem for r in runs] == [None] * len(runs)
    chains = -(-setup.recipes // setup.chain_length)
    for r in runs:
        assert r.makespan_s is not None and r.makespan_s > 0 and r.dss_span_s is not None
        if r.strategy == "per-recipe":
            assert r.jobs == setup.recipes, r.flow
        elif r.strategy == "single-job":
            assert r.jobs == 1, r.flow
        elif r.strategy == strategies.LEARNED:  # planned from the grouped run's record: chains or one job
            assert r.run.record["plan"]["grouping"]["reason"], r.flow
            assert r.jobs in (1, chains) if r.flow.startswith("chains") else 1 <= r.jobs <= setup.recipes, r.flow
        elif r.flow.startswith("chains"):  # grouped jobs: each chain of single readers is one job
            assert r.jobs == chains, (r.flow, r.strategy)
        else:
            assert 1 <= r.jobs <= setup.recipes, (r.flow, r.strategy)
    strategies.print_table(runs)
    table = capsys.readouterr().out
    assert all(strategy in table for strategy in offered)
    goals = strategies.goals_of(runs)
    assert len(goals) == (3 if strategies.GROUPED in STRATEGIES else 0)  # two Flows, one overhead, the chain goal
