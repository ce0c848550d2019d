"""The build use case (``pipeline``) over a fake flow port: planning from a graph payload, dry runs, resume, verify.

No DSS, no emulator: :class:`FlowPort` answers the few reads the pipeline makes and :class:`~tests.fakes.FakeDSS`
runs the jobs (zero-length ones, so that the run ends without a virtual clock).
"""

from __future__ import annotations

import concurrent.futures
from typing import List, Optional

from flow_orchestrator.config import BuildConfig, RunOptions, Selection
from flow_orchestrator.pipeline import prepare_build, run_build
from flow_orchestrator.record import resume_candidates

from tests.fakes import Behaviour, FakeDSS, VirtualClock, make_test_plan
from tests.unit.flow_payloads import flow

PROJECT = "PROJ"
#: recipe -> (inputs, outputs): a -> b -> c, and d beside them; recipe X builds X_out as in make_test_plan.
RECIPES = {
    "a": (["src"], ["a_out"]),
    "b": (["a_out"], ["b_out"]),
    "c": (["b_out"], ["c_out"]),
    "d": (["src"], ["d_out"]),
}


class FlowPort(FakeDSS):
    """FakeDSS plus the Flow reads of the pipeline: the graph payload, recipe types, zones, dataset listings."""

    dss_url = "https://dss.example.com"

    def __init__(self, behaviours=None):
        plan = make_test_plan({"a": [], "b": ["a"], "c": ["b"], "d": []}, project_key=PROJECT)
        super().__init__(plan, VirtualClock(), behaviours, project_key=PROJECT)
        self.access_checks = 0

    def check_access(self) -> dict:
        self.access_checks += 1
        return {}

    def flow_graph_payload(self) -> dict:
        payload = flow(RECIPES, project_key=PROJECT)
        for node in payload["nodes"].values():
            if node["type"] == "RUNNABLE_RECIPE":
                node["subType"] = "python"
        return payload

    def recipe_types_and_tags(self) -> List[dict]:
        return [{"name": name, "type": "python", "tags": []} for name in RECIPES]

    def flow_zones_payload(self) -> Optional[List[dict]]:
        return None

    def dataset_partitionings_in_background(self) -> concurrent.futures.Future:
        done: concurrent.futures.Future = concurrent.futures.Future()
        done.set_result([])
        return done

    def partitioned_datasets(self, *args, **kwargs) -> dict:
        return {}


def config(**changes) -> BuildConfig:
    options = RunOptions(poll_min_s=0.01, poll_max_s=0.05)
    return BuildConfig(**{"project_key": PROJECT, "options": options, **changes})


def instant() -> dict:
    return {name: Behaviour(duration_s=0.0) for name in RECIPES}


def test_prepare_build_plans_the_selection_from_the_graph_payload():
    port = FlowPort()
    plan = prepare_build(port, config(selection=Selection(targets=("b_out",))))
    assert [r.name for r in plan.recipes] == ["b"]
    everything = prepare_build(port, config())
    order = [r.name for r in everything.recipes]
    assert sorted(order) == sorted(RECIPES) and order.index("a") < order.index("b") < order.index("c")
    assert port.access_checks == 2 and port.starts == []


def test_a_dry_run_starts_no_job_and_returns_the_planned_record():
    port = FlowPort(instant())
    record = run_build(port, config(dry_run=True))
    assert record.state == "PLANNED"
    assert port.starts == []
    assert {r.name for r in record.recipes} == set(RECIPES)


def test_a_run_builds_each_recipe_once_and_without_verification_when_it_is_off():
    port = FlowPort(instant())
    record = run_build(port, config())
    assert record.state == "SUCCESS"
    assert sorted(port.started_recipes()) == sorted(RECIPES)
    assert record.verification is None and record.propagation is None


def test_resume_runs_only_what_the_previous_run_did_not_finish():
    behaviours = instant()
    behaviours["b"] = Behaviour(duration_s=0.0, fail_message="boom")
    first = run_build(FlowPort(behaviours), config(options=RunOptions(on_failure="continue", poll_min_s=0.01)))
    assert first.state == "FAILED"
    previous = first.to_dict()
    assert set(resume_candidates(previous)) == {"b", "c"}
    port = FlowPort(instant())
    again = run_build(port, config(resume_last_run=True), previous_record=previous)
    assert again.state == "SUCCESS" and again.resumed_from == first.run_id
    assert sorted(port.started_recipes()) == ["b", "c"]
