"""The grouped-jobs strategy on the simulated DSS: chains as one job, each recipe its own outcome, retries, time limits,
fail-fast and resume with the same semantics as one job per recipe."""

from __future__ import annotations

import random
from typing import Dict, List, Optional

from flow_orchestrator.config import RetryPolicy, RunOptions
from flow_orchestrator.events import ProgressEvent
from flow_orchestrator.port import OutputRef
from flow_orchestrator.record import validate_record
from flow_orchestrator.runner import run_plan

from tests.fakes import Behaviour, FakeDSS, VirtualClock, make_test_plan

CHAIN = {"a": [], "b": ["a"], "c": ["b"], "x": []}
PERMANENT = "Error in Python process: At line 1: <class 'KeyError'>: 'x'"


def run(
    upstream,
    behaviours=None,
    options: Optional[RunOptions] = None,
    *,
    strategy="grouped",
    adopt=None,
    prep=None,
    lists=False,
):
    plan = make_test_plan(upstream, strategy=strategy)
    clock = VirtualClock()
    options = options or RunOptions()
    dss = FakeDSS(plan, clock, behaviours, max_parallel=options.max_parallel, activities=True)
    dss.list_answers = lists
    adopt = prep(dss) if prep else adopt
    events: List[ProgressEvent] = []
    record = run_plan(
        plan,
        dss,
        options,
        clock=clock,
        wait=clock.wait,
        rng=random.Random(5),
        wall=dss.wall_now,
        adopt=adopt,
        on_event=events.append,
    )
    validate_record(record.to_dict())
    assert dss.violations == [] and dss.live_jobs() == []
    return record, dss, clock, events


def states(record) -> Dict[str, str]:
    return {r.name: r.state for r in record.recipes}


def test_a_chain_is_one_job_and_an_independent_recipe_another():
    record, dss, _, _ = run(CHAIN)
    assert [s.recipes for s in dss.starts] == [("a", "b", "c"), ("x",)] or [s.recipes for s in dss.starts] == [
        ("x",),
        ("a", "b", "c"),
    ]
    chain = next(s for s in dss.starts if len(s.recipes) == 3)
    assert chain.build_mode == "NON_RECURSIVE_FORCED_BUILD"
    assert chain.outputs == (OutputRef("a_out"), OutputRef("b_out"), OutputRef("c_out"))
    assert states(record) == dict.fromkeys(CHAIN, "SUCCESS")
    a, b = record.recipe("a"), record.recipe("b")
    assert a.job_ids == b.job_ids == [chain.job_id] and a.ended_at <= b.started_at  # each its own activity's times
    assert a.duration_s == b.duration_s == 1.0


def test_grouped_runs_exactly_like_per_recipe_on_a_flow_without_chains():
    flow = {"a": [], "b": [], "c": ["a", "b"], "d": ["c"], "e": ["c"]}
    behaviours = {"b": Behaviour(fail_message=PERMANENT)}
    options = RunOptions(on_failure="continue")
    grouped, g_dss, _, _ = run(flow, behaviours, options)
    per_recipe, p_dss, _, _ = run(flow, behaviours, options, strategy="per-recipe")
    assert [s.recipes for s in g_dss.starts] == [s.recipes for s in p_dss.starts]
    assert states(grouped) == states(per_recipe)
    assert [r.skipped_because for r in grouped.recipes] == [r.skipped_because for r in per_recipe.recipes]


def test_a_failure_mid_chain_keeps_what_succeeded_and_skips_the_rest_naming_it():
    record, dss, _, _ = run(CHAIN, {"b": Behaviour(fail_message=PERMANENT)}, RunOptions(on_failure="continue"))
    assert states(record) == {"a": "SUCCESS", "b": "FAILED", "c": "SKIPPED", "x": "SUCCESS"}
    assert record.recipe("b").error.message == PERMANENT and record.recipe("a").error is None
    assert record.recipe("c").skipped_because == ["b"] and record.recipe("c").attempts == 0
    assert record.cause.startswith("b failed")


def test_a_transient_failure_retries_only_the_rest_of_the_chain():
    options = RunOptions(retry=RetryPolicy(retries=1, backoff_s=0.5))
    record, dss, _, events = run(CHAIN, {"b": Behaviour(transient_failures=1)}, options)
    chain_starts = [s for s in dss.starts if "x" not in s.recipes]
    assert [s.recipes for s in chain_starts] == [("a", "b", "c"), ("b", "c")]
    assert chain_starts[1].outputs == (OutputRef("b_out"), OutputRef("c_out"))
    assert states(record) == dict.fromkeys(CHAIN, "SUCCESS")
    a, b, c = (record.recipe(n) for n in "abc")
    assert a.job_ids == [chain_starts[0].job_id] and [h.state for h in a.attempt_history] == ["SUCCESS"]
    assert b.job_ids == [s.job_id for s in chain_starts] and [h.state for h in b.attempt_history] == [
        "FAILED",
        "SUCCESS",
    ]
    assert c.job_ids == [chain_starts[1].job_id]  # it never started in the first job: not one of its attempts
    finished_a = [e for e in events if e.kind == "recipe_finished" and e.recipe == "a"]
    retrying = [e for e in events if e.kind == "recipe_retrying"]
    assert len(finished_a) == 1 and {e.recipe for e in retrying} == {"b", "c"}


def test_each_recipe_of_a_chain_has_its_own_retry_budget_as_with_a_job_each():
    options = RunOptions(retry=RetryPolicy(retries=1, backoff_s=0.5))
    behaviours = {"a": Behaviour(transient_failures=1), "b": Behaviour(transient_failures=1)}
    grouped, _, _, _ = run({"a": [], "b": ["a"]}, behaviours, options)
    assert states(grouped) == {"a": "SUCCESS", "b": "SUCCESS"}
    assert [r.attempts for r in grouped.recipes] == [2, 2]


def test_the_time_limit_applies_to_each_activity_not_to_the_chain():
    options = RunOptions(timeout_s=2.0)
    behaviours = {"a": Behaviour(duration_s=1.5), "b": Behaviour(hang=True)}
    record, dss, clock, _ = run(CHAIN, behaviours, options)
    assert states(record) == {"a": "SUCCESS", "b": "TIMED_OUT", "c": "SKIPPED", "x": "SUCCESS"}
    (abort_at, job_id) = dss.abort_requests[0]
    chain = next(s for s in dss.starts if len(s.recipes) == 3)
    assert job_id == chain.job_id
    # b started 1.5 s into the job and ran its own 2 s: the whole chain ran 3.5 s before the abort
    assert 3.5 <= abort_at - chain.time <= 3.5 + 0.2
    assert "its activity" in record.recipe("b").error.message
    assert record.recipe("c").skipped_because == ["b"]


def test_fail_fast_aborts_a_chain_job_and_what_it_never_reached_is_not_run():
    flow = {"a": [], "b": ["a"], "c": ["b"], "x": []}
    behaviours = {
        "a": Behaviour(duration_s=1.0),
        "b": Behaviour(duration_s=5.0),
        "x": Behaviour(fail_message=PERMANENT, duration_s=2.0),
    }
    record, dss, _, _ = run(flow, behaviours, RunOptions(on_failure="fail-fast"))
    assert states(record) == {"a": "SUCCESS", "b": "ABORTED", "c": "NOT_RUN", "x": "FAILED"}
    assert record.recipe("b").error.message.startswith("Aborted: the run stopped after x failed")


def test_resume_adopts_a_job_shared_by_several_units_once():
    """A killed single job built a, b and c; resumed with grouped jobs (a branches, so three units), the job is
    adopted once, and the units whose recipes it built start nothing."""
    flow = {"a": [], "b": ["a"], "c": ["a"]}

    def prep(dss):
        outputs = (OutputRef("a_out"), OutputRef("b_out"), OutputRef("c_out"))
        job = dss.start_job(outputs, "NON_RECURSIVE_FORCED_BUILD")
        return dict.fromkeys(flow, job)

    record, dss, _, _ = run(flow, prep=prep)
    (job,) = dss.jobs
    assert len(dss.starts) == 1, "a second job was started on outputs the adopted job builds"
    assert states(record) == dict.fromkeys(flow, "SUCCESS")
    assert [r.job_ids for r in record.recipes] == [[job]] * 3


def test_resume_starts_a_job_only_for_what_the_shared_adopted_job_did_not_build():
    flow = {"a": [], "b": ["a"], "c": ["a"]}

    def prep(dss):
        dss.behaviours["b"] = Behaviour(transient_failures=1)
        job = dss.start_job((OutputRef("a_out"), OutputRef("b_out"), OutputRef("c_out")), "NON_RECURSIVE_FORCED_BUILD")
        return dict.fromkeys(flow, job)

    record, dss, _, _ = run(flow, prep=prep, options=RunOptions(on_failure="continue"))
    adopted = dss.starts[0].job_id
    assert record.recipe("a").job_ids == [adopted] and record.recipe("a").state == "SUCCESS"
    assert record.recipe("b").state == "FAILED"  # its activity failed in the adopted job: no retry budget given
    assert [s.recipes for s in dss.starts[1:]] == []


def test_resume_adopts_a_job_that_built_the_head_of_a_chain_and_runs_the_rest_in_a_job_of_their_own():
    def prep(dss):
        return {"a": dss.start_job((OutputRef("a_out"),), "NON_RECURSIVE_FORCED_BUILD")}

    record, dss, _, _ = run({"a": [], "b": ["a"], "c": ["b"]}, prep=prep)
    adopted, rest = dss.starts
    assert rest.recipes == ("b", "c") and rest.time >= dss.jobs[adopted.job_id].natural_end
    assert states(record) == dict.fromkeys("abc", "SUCCESS")
    assert record.recipe("a").job_ids == [adopted.job_id] and record.recipe("c").job_ids == [rest.job_id]
    assert record.plan["job_groups"] == [["a"], ["b", "c"]]


def test_a_chain_job_seen_ended_in_a_list_answer_is_read_once_for_its_activities():
    """DSS's job list does not list activities: each recipe's times and outcome still come from its own activity."""
    options = RunOptions(on_failure="continue")
    record, dss, _, _ = run(CHAIN, {"b": Behaviour(fail_message=PERMANENT, duration_s=2.0)}, options, lists=True)
    assert states(record) == {"a": "SUCCESS", "b": "FAILED", "c": "SKIPPED", "x": "SUCCESS"}
    assert record.recipe("a").duration_s == 1.0 and record.recipe("b").duration_s == 2.0


def test_a_slot_freed_in_the_same_answer_is_filled_before_a_chain_job_is_read_for_its_activities():
    """One list answer shows a chain job and a job of its own ended: the recipe waiting for the latter starts before
    the extra request that reads the chain's activities (a freed slot does not idle behind it)."""
    flow = {"a": [], "b": ["a"], "x": [], "z": [], "y": ["x", "z"]}
    reads_at_start: List[int] = []

    def watch_reads(dss):
        read = dss.job_status

        def job_status(job_id):
            reads_at_start.append(len(dss.starts))
            return read(job_id)

        dss.job_status = job_status
        return None

    behaviours = {"x": Behaviour(duration_s=2.0), "z": Behaviour(duration_s=0.5)}
    options = RunOptions(max_parallel=3)
    record, dss, _, _ = run(flow, behaviours, options, lists=True, prep=watch_reads)
    assert states(record) == dict.fromkeys(flow, "SUCCESS")
    first = {s.recipes: s.time for s in dss.starts}
    start = first[("a", "b")]
    assert first[("x",)] == start and first[("y",)] >= start + 2.0  # the chain and x end together
    assert reads_at_start == [4]  # the chain's one read came after y's start (chain, x, z, then y)
    assert record.recipe("a").duration_s == record.recipe("b").duration_s == 1.0  # still each its own activity


def test_cancelling_during_a_chain_keeps_what_succeeded_aborts_the_running_recipe_and_runs_nothing_more():
    import threading

    plan = make_test_plan({"a": [], "b": ["a"], "c": ["b"]}, strategy="grouped")
    clock, cancel = VirtualClock(), threading.Event()
    dss = FakeDSS(plan, clock, {"b": Behaviour(duration_s=5.0)})
    clock.at(2.5, cancel.set)
    record = run_plan(plan, dss, RunOptions(), clock=clock, wait=clock.wait, cancel=cancel, wall=dss.wall_now)
    assert record.state == "CANCELLED" and len(dss.starts) == 1 and dss.live_jobs() == []
    assert states(record) == {"a": "SUCCESS", "b": "ABORTED", "c": "NOT_RUN"}
    assert record.recipe("b").error.message == "Aborted: the run was cancelled"
    assert record.recipe("c").attempts == 0 and record.recipe("c").skipped_because == []


def test_a_chain_job_is_expected_to_last_its_recipes_work_plus_what_a_job_costs_dss():
    """Polling aims at a chain job's end: its recipes' own activity times (learned per recipe) plus the job's start-up
    and tear-down the plan learned (without it the end was looked for a start-up too early, then found late)."""
    import dataclasses

    from flow_orchestrator.job_costs import CHAINS, GroupingChoice
    from flow_orchestrator.plan import with_job_groups
    from flow_orchestrator.runner import _Run

    durations = {"a": 0.5, "b": 0.25, "c": 0.25, "x": 2.0}
    plan = with_job_groups(make_test_plan(CHAIN, durations=durations, strategy="grouped"))
    plan = dataclasses.replace(plan, grouping=GroupingChoice(CHAINS, "learned", 6.0, "run R"), _index={})
    clock = VirtualClock()

    def units_of(plan):
        dss = FakeDSS(plan, clock, activities=True)
        unit_run = _Run(
            plan,
            dss,
            RunOptions(),
            run_id=None,
            config_dict=None,
            dss_url=None,
            on_event=None,
            cancel=None,
            clock=clock,
            wait=clock.wait,
            rng=random.Random(1),
            resumed_from=None,
            record_sink=None,
            api_outage_limit_s=900.0,
            wall=dss.wall_now,
        )
        return {tuple(r.name for r in u.runs): u.expected_s for u in unit_run.units}

    assert units_of(plan) == {("a", "b", "c"): 7.0, ("x",): 2.0}  # a recipe alone: its own job's time already
    unknown = dataclasses.replace(plan, grouping=GroupingChoice(CHAINS, "unknown"), _index={})
    assert units_of(unknown) == {("a", "b", "c"): 1.0, ("x",): 2.0}
