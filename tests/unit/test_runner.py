"""The runner on a simulated DSS with a virtual clock: scheduling, failures, retries, timeouts, cancellation."""

from __future__ import annotations

import math
import random
import re
import statistics
import threading
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import pytest
from flow_orchestrator.config import RetryPolicy, RunOptions
from flow_orchestrator.errors import DSSAccessError, GraphError
from flow_orchestrator.events import ProgressEvent
from flow_orchestrator.plan import BuildPlan, PlannedRecipe, expected_durations_from_record
from flow_orchestrator.polling import FIRST_RATIO
from flow_orchestrator.port import OutputRef
from flow_orchestrator.record import RunRecord, parse_utc, resume_candidates, validate_record
from flow_orchestrator.runner import ABORT_CONFIRM_S, MAX_START_API_ERRORS, OVERRUN_RATIO, UNKNOWN_RATIO, run_plan

from tests.fakes import Behaviour, FakeDSS, VirtualClock, make_test_plan

CLINICAL = {
    "prepare_LABS": [],
    "prepare_VISITS": [],
    "group_LAB_RESULTS_AGG": ["prepare_LABS"],
    "group_VISITS_AGG": ["prepare_VISITS"],
    "join_ML_TRAINING_DATA": ["group_LAB_RESULTS_AGG", "group_VISITS_AGG"],
    "train_MODEL": ["join_ML_TRAINING_DATA"],
}


@dataclass
class Outcome:
    record: RunRecord
    dss: FakeDSS
    clock: VirtualClock
    events: List[ProgressEvent]
    sunk: List[dict] = field(default_factory=list)

    def state(self, name: str) -> str:
        return self.record.recipe(name).state

    def states(self) -> Dict[str, str]:
        return {r.name: r.state for r in self.record.recipes}


def execute(
    plan: BuildPlan,
    behaviours: Optional[Dict[str, Behaviour]] = None,
    options: Optional[RunOptions] = None,
    *,
    abort_delay_s: float = 0.0,
    prepare=None,
    **kwargs,
) -> Outcome:
    options = options or RunOptions()
    clock = VirtualClock()
    dss = FakeDSS(plan, clock, behaviours, max_parallel=options.max_parallel, abort_delay_s=abort_delay_s)
    if prepare:
        prepare(dss, clock)
    events: List[ProgressEvent] = []
    sunk: List[dict] = []
    record = run_plan(
        plan,
        dss,
        options,
        clock=clock,
        wait=clock.wait,
        rng=random.Random(7),
        on_event=events.append,
        record_sink=lambda r: sunk.append(r.to_dict()),
        **kwargs,
    )
    validate_record(record.to_dict())
    assert dss.violations == []
    assert [r.name for r in record.recipes] == plan.names
    return Outcome(record, dss, clock, events, sunk)


def test_everything_succeeds_in_dependency_order_with_parallel_branches():
    plan = make_test_plan(
        CLINICAL,
        durations={
            "prepare_LABS": 4,
            "prepare_VISITS": 2,
            "group_LAB_RESULTS_AGG": 6,
            "group_VISITS_AGG": 3,
            "join_ML_TRAINING_DATA": 5,
            "train_MODEL": 8,
        },
    )
    out = execute(plan, options=RunOptions(max_parallel=2))
    assert out.record.state == "SUCCESS"
    assert set(out.states().values()) == {"SUCCESS"}
    assert out.dss.max_live_jobs == 2
    # the two aggregations overlap in time, the join starts after both
    starts = {s.recipes[0]: s.time for s in out.dss.starts}
    lab_end = starts["group_LAB_RESULTS_AGG"] + 6
    assert starts["group_VISITS_AGG"] < lab_end
    assert starts["join_ML_TRAINING_DATA"] >= lab_end
    for run in out.record.recipes:
        assert run.attempts == 1 and len(run.job_ids) == 1 and run.job_urls[0].endswith(run.job_ids[0] + "/")
        assert run.error is None and run.log_excerpt is None and run.duration_s > 0
    assert out.record.counts["SUCCESS"] == 6
    kinds = [e.kind for e in out.events]
    assert kinds[0] == "plan_ready" and kinds[-1] == "run_finished"
    assert kinds.count("recipe_started") == 6 and kinds.count("recipe_finished") == 6
    assert out.events[-1].done == out.events[-1].total == 6


def test_ready_recipes_start_by_longest_remaining_path():
    plan = make_test_plan(
        {"short": [], "long_head": [], "long_tail": ["long_head"], "medium": []},
        durations={"short": 1, "long_head": 2, "long_tail": 10, "medium": 5},
    )
    out = execute(plan, options=RunOptions(max_parallel=1))
    assert out.dss.started_recipes() == ["long_head", "long_tail", "medium", "short"]


def test_all_outputs_of_a_recipe_are_built_in_one_non_recursive_job():
    recipe = PlannedRecipe(name="split", type="split", outputs=(OutputRef("left"), OutputRef("right")))
    plan = BuildPlan(project_key="PROJ", recipes=(recipe,), build_mode="RECURSIVE_FORCED_BUILD")
    out = execute(plan)
    (start,) = out.dss.starts
    assert start.outputs == (OutputRef("left"), OutputRef("right"))
    assert start.build_mode == "NON_RECURSIVE_FORCED_BUILD"


def test_permanent_failure_is_not_retried_and_explains_itself():
    plan = make_test_plan(CLINICAL)
    behaviours = {
        "group_LAB_RESULTS_AGG": Behaviour(
            fail_message="Error in Python process: At line 7: <class 'KeyError'>: 'amount'"
        )
    }
    out = execute(plan, behaviours, RunOptions(max_parallel=4, on_failure="continue", retry=RetryPolicy(retries=3)))
    failed = out.record.recipe("group_LAB_RESULTS_AGG")
    assert failed.state == "FAILED" and failed.attempts == 1
    assert failed.error.message.endswith("<class 'KeyError'>: 'amount'")
    assert failed.error.type == "com.dataiku.dip.exceptions.ExternalProcessFailedException"
    assert failed.error.transient is False
    assert "KeyError: 'amount'" in failed.log_excerpt
    assert "tkt_8f1c2a9b77e04d5c" not in failed.log_excerpt and "***" in failed.log_excerpt
    assert out.dss.log_requests == failed.job_ids  # the log is read once per failed attempt
    assert failed.attempt_history[0].state == "FAILED" and failed.attempt_history[0].retry_after_s is None
    assert out.record.state == "FAILED"


def test_transient_failure_is_retried_with_backoff_then_succeeds():
    plan = make_test_plan({"flaky": [], "after": ["flaky"]})
    behaviours = {"flaky": Behaviour(duration_s=2, transient_failures=2)}
    options = RunOptions(retry=RetryPolicy(retries=3, backoff_s=4, backoff_max_s=5))
    out = execute(plan, behaviours, options)
    flaky = out.record.recipe("flaky")
    assert flaky.state == "SUCCESS" and flaky.attempts == 3 and len(set(flaky.job_ids)) == 3
    assert flaky.error is None  # the earlier failures stay in the history
    history = flaky.attempt_history
    assert [a.state for a in history] == ["FAILED", "FAILED", "SUCCESS"]
    assert all(a.error.transient for a in history[:2])
    assert 2.0 <= history[0].retry_after_s <= 4.0  # 4 s with jitter in [0.5, 1]
    assert 2.5 <= history[1].retry_after_s <= 5.0  # 8 s capped at 5
    gaps = [b.time - (a.time + 2) for a, b in zip(out.dss.starts_of("flaky"), out.dss.starts_of("flaky")[1:])]
    assert gaps[0] >= history[0].retry_after_s and gaps[1] >= history[1].retry_after_s
    retrying = [e for e in out.events if e.kind == "recipe_retrying"]
    assert [e.attempt for e in retrying] == [2, 3]
    assert "attempt 2 of 4" in retrying[0].message
    assert out.state("after") == "SUCCESS"


def test_transient_failures_beyond_the_retry_budget_fail():
    plan = make_test_plan({"flaky": []})
    out = execute(
        plan, {"flaky": Behaviour(transient_failures=5)}, RunOptions(retry=RetryPolicy(retries=2, backoff_s=1))
    )
    flaky = out.record.recipe("flaky")
    assert flaky.state == "FAILED" and flaky.attempts == 3 and flaky.error.transient is True
    assert len(out.dss.log_requests) == 3


def test_a_waiting_retry_does_not_hold_a_slot():
    plan = make_test_plan({"flaky": [], "other": []}, durations={"flaky": 5, "other": 3})
    behaviours = {"flaky": Behaviour(duration_s=1, transient_failures=1)}
    out = execute(
        plan, behaviours, RunOptions(max_parallel=1, retry=RetryPolicy(retries=1, backoff_s=60, backoff_max_s=60))
    )
    first_flaky, second_flaky = out.dss.starts_of("flaky")
    (other,) = out.dss.starts_of("other")
    assert first_flaky.time < other.time < second_flaky.time
    assert out.record.state == "SUCCESS"


def test_timeout_aborts_the_job_and_is_not_retried():
    plan = make_test_plan({"slow": [], "after": ["slow"], "side": []})
    behaviours = {"slow": Behaviour(hang=True), "side": Behaviour(duration_s=8)}
    out = execute(
        plan,
        behaviours,
        RunOptions(on_failure="continue", timeout_s=10, retry=RetryPolicy(retries=2)),
        abort_delay_s=1.0,
    )
    slow = out.record.recipe("slow")
    assert slow.state == "TIMED_OUT" and slow.attempts == 1
    assert "timeout" in slow.error.message and slow.attempt_history[0].state == "TIMED_OUT"
    (abort_time, job_id) = out.dss.abort_requests[0]
    assert job_id == slow.job_ids[0]
    assert 10 <= abort_time - out.dss.starts_of("slow")[0].time <= 10.5
    assert out.dss.state_of(job_id) == "ABORTED"
    assert out.state("after") == "SKIPPED" and out.record.recipe("after").skipped_because == ["slow"]
    assert out.state("side") == "SUCCESS"
    assert out.dss.live_jobs() == []


def test_the_time_limit_counts_running_time_not_the_wait_in_dss_queue():
    """10.5: a job that waits 3 s in DSS's queue then runs 1 s is within a 2.5 s limit; a job that waits 1 s then
    hangs is timed out 2.5 s after it started running, and the message says how long it queued and ran."""
    plan = make_test_plan({"queued": [], "stuck": []})
    behaviours = {"queued": Behaviour(duration_s=1.0, queue_s=3.0), "stuck": Behaviour(hang=True, queue_s=1.0)}
    out = execute(plan, behaviours, RunOptions(max_parallel=2, on_failure="continue", timeout_s=2.5))
    assert out.state("queued") == "SUCCESS"
    stuck = out.record.recipe("stuck")
    assert stuck.state == "TIMED_OUT"
    abort_time, _ = out.dss.abort_requests[0]
    started = out.dss.starts_of("stuck")[0].time
    assert 3.5 <= abort_time - started <= 3.5 + 0.3  # 1 s queued + 2.5 s running (+ one polling step)
    assert re.search(r"ran 2\.\d s after waiting 1\.\d s in DSS's queue", stuck.error.message), stuck.error.message


def test_times_are_dss_own_and_a_polling_outage_is_shown_as_such():
    """10.5: a 3 s job ends during a 2-minute outage of status requests: its attempt and duration are DSS's 3 s, and
    the attempt says how long DSS did not answer (the run noticed the end that much later)."""
    plan = make_test_plan({"short": []})
    clock = VirtualClock()
    dss = FakeDSS(plan, clock, {"short": Behaviour(duration_s=3.0)})
    clock.at(0.5, lambda: setattr(dss, "api_down_until", clock() + 120.0))
    record = run_plan(plan, dss, RunOptions(), clock=clock, wait=clock.wait)
    run = record.recipe("short")
    assert run.state == "SUCCESS" and run.duration_s == pytest.approx(3.0, abs=0.002)
    attempt = run.attempt_history[0]
    span = (parse_utc(attempt.ended_at) - parse_utc(attempt.started_at)).total_seconds()
    assert span == pytest.approx(3.0, abs=0.002)
    assert attempt.status_gap_s is not None and attempt.status_gap_s >= 100
    assert run.ended_at == attempt.ended_at and run.started_at == attempt.started_at  # the recipe's times are DSS's
    assert (parse_utc(attempt.noticed_at) - parse_utc(attempt.ended_at)).total_seconds() >= 100  # noticed late


def test_resume_adopts_the_jobs_an_earlier_run_left_and_starts_a_new_one_only_for_a_purged_job():
    plan = make_test_plan({"a": [], "b": ["a"], "c": []})
    clock = VirtualClock()
    dss = FakeDSS(plan, clock, {"a": Behaviour(duration_s=4.0), "b": Behaviour(duration_s=1.0)})
    left = dss.start_job((OutputRef("a_out"),), "NON_RECURSIVE_FORCED_BUILD")  # the killed run's job, still running
    events: List[ProgressEvent] = []
    record = run_plan(
        plan,
        dss,
        RunOptions(max_parallel=2),
        clock=clock,
        wait=clock.wait,
        on_event=events.append,
        adopt={"a": left, "c": "build_c_out_purged"},
    )
    assert record.state == "SUCCESS"
    assert record.recipe("a").job_ids == [left] and len(dss.starts_of("a")) == 1  # adopted, not started again
    assert len(dss.starts_of("c")) == 1 and record.recipe("c").job_ids == [dss.starts_of("c")[0].job_id]
    assert dss.starts_of("b")[0].time >= dss.jobs[left].natural_end  # downstream waits for the adopted job
    assert not [e for e in events if e.kind == "waiting_for_job"]  # an adopted job is not "someone else's"


def test_a_job_started_elsewhere_on_a_planned_output_is_waited_for_before_its_recipe_starts():
    plan = make_test_plan({"a": [], "b": []})
    clock = VirtualClock()
    dss = FakeDSS(plan, clock, {"a": Behaviour(duration_s=1.0), "b": Behaviour(duration_s=1.0)})
    other = dss.start_job((OutputRef("a_out"),), "NON_RECURSIVE_FORCED_BUILD")  # a colleague's 1 s job
    events: List[ProgressEvent] = []
    record = run_plan(plan, dss, RunOptions(max_parallel=2), clock=clock, wait=clock.wait, on_event=events.append)
    assert record.state == "SUCCESS"
    (wait,) = [e for e in events if e.kind == "waiting_for_job"]
    assert wait.job_id == other and "a_out" in wait.message and "colleague" in wait.message
    ours = [s for s in dss.starts_of("a") if s.job_id != other]
    assert len(ours) == 1 and ours[0].time >= dss.jobs[other].natural_end
    assert other not in {j for r in record.recipes for j in r.job_ids}


def _colleague_on_b_during_a(cancel_at: Optional[float] = None):
    """a (1 s) then b; a colleague starts a 3 s job building b's output while a runs."""
    plan = make_test_plan({"a": [], "b": ["a"]})
    clock = VirtualClock()
    dss = FakeDSS(plan, clock, {"a": Behaviour(duration_s=1.0), "b": Behaviour(duration_s=3.0)})
    other: List[str] = []
    clock.at(0.5, lambda: other.append(dss.start_job((OutputRef("b_out"),), "NON_RECURSIVE_FORCED_BUILD")))
    cancel = threading.Event()
    if cancel_at is not None:
        clock.at(cancel_at, cancel.set)
    events: List[ProgressEvent] = []
    options = RunOptions(max_parallel=2)
    record = run_plan(plan, dss, options, clock=clock, wait=clock.wait, on_event=events.append, cancel=cancel)
    return record, dss, other[0], [e for e in events if e.kind == "waiting_for_job"]


def test_a_job_started_elsewhere_mid_run_is_waited_for_before_the_recipe_that_builds_its_output():
    """Every start is checked, not only the first: b waits for the colleague's job, never builds b_out beside it."""
    record, dss, other, waits = _colleague_on_b_during_a()
    assert record.state == "SUCCESS"
    assert [(e.recipe, e.job_id) for e in waits] == [("b", other)] and "b_out" in waits[0].message
    ours = [s for s in dss.starts_of("b") if s.job_id != other]
    assert len(ours) == 1 and ours[0].time >= dss.jobs[other].natural_end
    assert record.recipe("b").waited_for_jobs == [other] and record.recipe("a").waited_for_jobs == []
    validate_record(record.to_dict())


def test_waiting_for_a_job_started_elsewhere_can_be_cancelled_and_starts_nothing():
    record, dss, other, waits = _colleague_on_b_during_a(cancel_at=2.0)
    assert record.state == "CANCELLED" and len(waits) == 1
    assert [s.job_id for s in dss.starts_of("b")] == [other]  # only the colleague's job ever built b_out
    b = record.recipe("b")
    assert b.state == "NOT_RUN" and b.job_ids == [] and b.waited_for_jobs == [other]


def test_fail_fast_aborts_running_siblings_and_starts_nothing_new():
    plan = make_test_plan(CLINICAL)
    behaviours = {
        "prepare_LABS": Behaviour(duration_s=1),
        "group_LAB_RESULTS_AGG": Behaviour(duration_s=2, fail_message="Column 'LAB_ID' does not exist"),
        "prepare_VISITS": Behaviour(duration_s=1),
        "group_VISITS_AGG": Behaviour(duration_s=100),
    }
    out = execute(plan, behaviours, RunOptions(max_parallel=4, on_failure="fail-fast"), abort_delay_s=0.5)
    assert out.states() == {
        "prepare_LABS": "SUCCESS",
        "prepare_VISITS": "SUCCESS",
        "group_LAB_RESULTS_AGG": "FAILED",
        "group_VISITS_AGG": "ABORTED",
        "join_ML_TRAINING_DATA": "SKIPPED",
        "train_MODEL": "SKIPPED",
    }
    visits = out.record.recipe("group_VISITS_AGG")
    assert "group_LAB_RESULTS_AGG failed" in visits.error.message and "fail-fast" in visits.error.message
    assert visits.attempt_history[0].state == "ABORTED"
    assert out.record.recipe("train_MODEL").skipped_because == ["group_LAB_RESULTS_AGG"]
    assert out.dss.live_jobs() == []
    assert not any(s.recipes[0] in ("join_ML_TRAINING_DATA", "train_MODEL") for s in out.dss.starts)
    assert out.record.state == "FAILED"


def test_fail_fast_leaves_unrelated_recipes_not_run():
    plan = make_test_plan({"bad": [], "later": [], "later2": ["later"]}, durations={"bad": 5, "later": 1})
    out = execute(plan, {"bad": Behaviour(duration_s=1, fail_message="boom")}, RunOptions(max_parallel=1))
    assert out.states() == {"bad": "FAILED", "later": "NOT_RUN", "later2": "NOT_RUN"}
    assert out.record.recipe("later").skipped_because == []
    assert [e.state for e in out.events if e.kind == "recipe_finished"].count("NOT_RUN") == 2


def test_continue_skips_only_downstream_naming_the_root_causes():
    plan = make_test_plan(
        {
            "a": [],
            "b": ["a"],
            "c": ["b"],  # a fails: b and c skipped because of a
            "x": [],
            "y": [],  # both fail
            "z": ["x", "y", "c"],  # skipped because of a, x and y
            "ok1": [],
            "ok2": ["ok1"],  # independent branch succeeds
        }
    )
    behaviours = {
        "a": Behaviour(duration_s=1, fail_message="boom a"),
        "x": Behaviour(duration_s=2, fail_message="boom x"),
        "y": Behaviour(duration_s=9, fail_message="boom y"),
        "ok1": Behaviour(duration_s=5),
    }
    out = execute(plan, behaviours, RunOptions(max_parallel=3, on_failure="continue"))
    assert out.states() == {
        "a": "FAILED",
        "b": "SKIPPED",
        "c": "SKIPPED",
        "x": "FAILED",
        "y": "FAILED",
        "z": "SKIPPED",
        "ok1": "SUCCESS",
        "ok2": "SUCCESS",
    }
    assert out.record.recipe("c").skipped_because == ["a"]
    assert out.record.recipe("z").skipped_because == ["a", "x", "y"]
    skipped_events = [e for e in out.events if e.kind == "recipe_finished" and e.state == "SKIPPED"]
    assert sorted(e.recipe for e in skipped_events) == ["b", "c", "z"]  # each recipe finishes once
    assert "skipped because a failed" in next(e.message for e in skipped_events if e.recipe == "c")
    assert out.record.counts == {"SUCCESS": 2, "FAILED": 3, "SKIPPED": 3, "ABORTED": 0, "TIMED_OUT": 0, "NOT_RUN": 0}


def test_api_errors_while_polling_are_retried_and_never_fail_a_job():
    plan = make_test_plan({"a": [], "b": ["a"]}, durations={"a": 5, "b": 5})

    def prepare(dss, clock):
        dss.fail_next_polls = 4
        clock.at(6, lambda: setattr(dss, "api_down_until", clock() + 20))

    out = execute(plan, options=RunOptions(timeout_s=100), prepare=prepare)
    assert out.record.state == "SUCCESS"
    assert all(r.attempts == 1 for r in out.record.recipes)
    assert out.dss.fail_next_polls == 0


def test_api_outage_longer_than_the_limit_stops_the_run_with_a_record():
    plan = make_test_plan({"a": [], "b": ["a"]}, durations={"a": 50})
    clock = VirtualClock()
    dss = FakeDSS(plan, clock)
    clock.at(5, lambda: setattr(dss, "api_down_until", float("inf")))
    sunk = []
    with pytest.raises(DSSAccessError, match="answered no job status request"):
        run_plan(
            plan,
            dss,
            RunOptions(),
            clock=clock,
            wait=clock.wait,
            record_sink=lambda r: sunk.append(r.to_dict()),
            api_outage_limit_s=120,
        )
    final = sunk[-1]
    validate_record(final)
    assert final["state"] == "FAILED"
    assert [r["state"] for r in final["recipes"]] == ["ABORTED", "NOT_RUN"]
    assert "unexpected error (DSSAccessError" in final["recipes"][0]["error"]["message"]


def test_start_api_errors_are_retried_then_fail_the_recipe_clearly():
    plan = make_test_plan({"a": []})
    out = execute(plan, prepare=lambda dss, clock: setattr(dss, "fail_next_starts", 2))
    assert out.state("a") == "SUCCESS" and out.record.recipe("a").attempts == 1

    out = execute(plan, prepare=lambda dss, clock: setattr(dss, "fail_next_starts", 99))
    a = out.record.recipe("a")
    assert a.state == "FAILED" and a.attempts == 0 and a.job_ids == []
    assert f"after {MAX_START_API_ERRORS} tries" in a.error.message and "a_out" in a.error.message


def test_a_refused_start_fails_that_recipe_with_the_message():
    plan = make_test_plan({"a": [], "b": []})
    behaviours = {
        "a": Behaviour(
            start_error=DSSAccessError(
                "com.dataiku.dip.exceptions.UnauthorizedException: Insufficient rights (api_key=sk_live_123456)"
            )
        )
    }
    out = execute(plan, behaviours, RunOptions(on_failure="continue"))
    a = out.record.recipe("a")
    assert a.state == "FAILED" and "Insufficient rights" in a.error.message
    assert "sk_live_123456" not in a.error.message and a.error.type == "DSSAccessError"
    assert out.state("b") == "SUCCESS"


def test_cancellation_aborts_started_jobs_and_returns_a_cancelled_record():
    plan = make_test_plan(CLINICAL, durations={name: 10 for name in CLINICAL})
    cancel = threading.Event()
    out = execute(
        plan,
        options=RunOptions(max_parallel=2),
        cancel=cancel,
        abort_delay_s=1.0,
        prepare=lambda dss, clock: clock.at(15, cancel.set),
    )
    assert out.record.state == "CANCELLED"
    assert out.states() == {
        "prepare_LABS": "SUCCESS",
        "prepare_VISITS": "SUCCESS",
        "group_LAB_RESULTS_AGG": "ABORTED",
        "group_VISITS_AGG": "ABORTED",
        "join_ML_TRAINING_DATA": "NOT_RUN",
        "train_MODEL": "NOT_RUN",
    }
    assert out.record.recipe("group_VISITS_AGG").error.message == "Aborted: the run was cancelled"
    assert out.dss.live_jobs() == []
    assert len(out.dss.abort_requests) == 2
    assert out.sunk[-1]["state"] == "CANCELLED"
    assert out.events[-1].kind == "run_finished" and out.events[-1].state == "CANCELLED"


def test_an_abort_dss_never_confirms_is_recorded_after_the_wait():
    plan = make_test_plan({"a": [], "b": []})
    behaviours = {"a": Behaviour(duration_s=1, fail_message="boom"), "b": Behaviour(duration_s=1000)}
    out = execute(
        plan,
        behaviours,
        abort_delay_s=ABORT_CONFIRM_S + 100,
        prepare=lambda dss, clock: setattr(dss, "fail_next_aborts", 1),
    )
    b = out.record.recipe("b")
    assert b.state == "ABORTED" and "had not confirmed" in b.error.message
    assert len(out.dss.abort_requests) == 1  # the first abort request failed and was sent again


def test_single_job_strategy_maps_one_job_to_every_recipe():
    plan = make_test_plan(CLINICAL, build_mode="RECURSIVE_FORCED_BUILD", strategy="single-job")
    out = execute(plan)
    (start,) = out.dss.starts
    assert start.build_mode == "RECURSIVE_FORCED_BUILD"
    assert start.outputs == (OutputRef("train_MODEL_out"),)
    job_ids = {tuple(r.job_ids) for r in out.record.recipes}
    assert job_ids == {(start.job_id,)}
    assert out.record.state == "SUCCESS" and set(out.states().values()) == {"SUCCESS"}

    # the fake lists one activity per recipe, as DSS's job status does: each recipe takes its own activity's outcome
    failing = execute(plan, {"group_VISITS_AGG": Behaviour(fail_message="boom")})
    assert failing.states() == {
        "prepare_LABS": "SUCCESS",
        "prepare_VISITS": "SUCCESS",
        "group_LAB_RESULTS_AGG": "SUCCESS",
        "group_VISITS_AGG": "FAILED",
        "join_ML_TRAINING_DATA": "SKIPPED",
        "train_MODEL": "SKIPPED",
    }
    assert failing.record.recipe("group_VISITS_AGG").error.message == "boom"
    assert failing.record.recipe("train_MODEL").skipped_because == ["group_VISITS_AGG"]


def test_resume_runs_only_what_did_not_succeed():
    plan = make_test_plan(CLINICAL)
    first = execute(plan, {"group_VISITS_AGG": Behaviour(fail_message="boom")}, RunOptions(on_failure="continue"))
    todo = resume_candidates(first.record)
    assert todo == ["group_VISITS_AGG", "join_ML_TRAINING_DATA", "train_MODEL"]
    subset = make_test_plan({name: [u for u in CLINICAL[name] if u in todo] for name in todo})
    second = execute(subset, resumed_from=first.record.run_id)
    assert second.record.state == "SUCCESS" and second.record.resumed_from == first.record.run_id
    assert second.dss.started_recipes() == todo


def test_record_sink_sees_the_run_start_and_end_and_failures_at_once():
    plan = make_test_plan({"a": [], "b": ["a"]})
    out = execute(plan, {"a": Behaviour(fail_message="boom")})
    assert out.sunk[0]["state"] == "RUNNING" and out.sunk[0]["ended_at"] is None
    assert any(s["state"] == "RUNNING" and s["recipes"][0]["state"] == "FAILED" for s in out.sunk)
    assert out.sunk[-1]["state"] == "FAILED" and out.sunk[-1]["ended_at"] is not None
    for snapshot in out.sunk:
        validate_record(snapshot)


def test_a_crash_inside_the_loop_aborts_jobs_and_leaves_a_record():
    plan = make_test_plan({"a": [], "b": []}, durations={"a": 10, "b": 10})
    clock = VirtualClock()
    dss = FakeDSS(plan, clock)

    def broken_states(job_ids):
        raise RuntimeError("bug in the port")

    dss.job_states = broken_states
    sunk = []
    with pytest.raises(RuntimeError, match="bug in the port"):
        run_plan(plan, dss, RunOptions(), clock=clock, wait=clock.wait, record_sink=lambda r: sunk.append(r.to_dict()))
    assert sunk[-1]["state"] == "FAILED"
    assert {r["state"] for r in sunk[-1]["recipes"]} == {"ABORTED"}
    assert dss.live_jobs() == []


def test_a_broken_progress_consumer_does_not_break_the_run():
    plan = make_test_plan({"a": [], "b": ["a"]})
    clock = VirtualClock()
    dss = FakeDSS(plan, clock)

    def consumer(event):
        raise ValueError("progress bar bug")

    record = run_plan(plan, dss, RunOptions(), clock=clock, wait=clock.wait, on_event=consumer)
    assert record.state == "SUCCESS"


def test_jobs_waiting_in_the_dss_queue_are_followed_until_they_finish():
    plan = make_test_plan({"a": [], "b": ["a"]}, durations={"a": 3, "b": 3})
    out = execute(plan, {"a": Behaviour(duration_s=3, queue_s=20)})
    assert out.record.state == "SUCCESS"
    b_start = out.dss.starts_of("b")[0].time
    a_end = out.dss.starts_of("a")[0].time + 23
    assert 0 <= b_start - a_end <= 3 * 0.1 + 0.05


@pytest.mark.parametrize("poll_max_s,reads_per_job", [(60.0, 3), (5.0, 6)])
def test_polling_is_sparse_when_expected_durations_are_right_and_detection_is_prompt(poll_max_s, reads_per_job):
    durations = {f"r{i}": 5.0 + 7 * i for i in range(6)}
    plan = make_test_plan({f"r{i}": ([f"r{i - 1}"] if i else []) for i in range(6)}, durations=durations)
    out = execute(plan, options=RunOptions(max_parallel=1, poll_max_s=poll_max_s))
    assert out.dss.status_job_reads <= reads_per_job * len(durations)
    # dataikuapi's waiter (0.2 s x 1.1^n, up to 15 s) polls each job ceil(log(1 + T/2) / log(1.1)) times
    waiter = sum(math.ceil(math.log(1 + t / 2) / math.log(1.1)) for t in durations.values())
    assert out.dss.status_job_reads * 3 <= waiter
    lags = []
    starts = out.dss.starts
    for start, following in zip(starts, starts[1:]):
        duration = durations[start.recipes[0]]
        lags.append((following.time - (start.time + duration)) / duration)
    assert statistics.median(lags) <= 0.05


@pytest.mark.parametrize(
    "expected,share,first_share", [(2.0, OVERRUN_RATIO, OVERRUN_RATIO), (None, UNKNOWN_RATIO, FIRST_RATIO)]
)
def test_overrunning_jobs_and_jobs_of_unknown_duration_are_noticed_within_a_share_of_their_run_time(
    expected, share, first_share
):
    """(Unknown: the first job, before any job of the run ended, at its own share; each next one is longer than
    those before it, so neither the run's shortest nor its median duration holds its checks back.)"""
    durations = {f"r{i}": 3.0 + 11 * i for i in range(5)}
    chain = {f"r{i}": ([f"r{i - 1}"] if i else []) for i in range(5)}
    plan = make_test_plan(chain, durations=dict.fromkeys(chain, expected) if expected else None)  # None: unknown
    options = RunOptions(max_parallel=1)
    out = execute(plan, {k: Behaviour(duration_s=v) for k, v in durations.items()}, options)
    starts = out.dss.starts
    for i, (start, following) in enumerate(zip(starts, starts[1:])):
        duration = durations[start.recipes[0]]
        assert following.time - (start.time + duration) <= (share if i else first_share) * duration + options.poll_min_s


def test_short_jobs_of_unknown_duration_are_noticed_soon_after_they_end():
    durations = {"a": 0.05, "b": 0.3, "c": 0.9, "d": 0.4}
    plan = make_test_plan({"a": [], "b": ["a"], "c": ["b"], "d": ["c"]})  # no previous run: durations unknown
    options = RunOptions(max_parallel=1)
    out = execute(plan, {k: Behaviour(duration_s=v) for k, v in durations.items()}, options)
    starts = out.dss.starts
    for start, following in zip(starts, starts[1:]):
        duration = durations[start.recipes[0]]
        assert following.time - (start.time + duration) <= max(UNKNOWN_RATIO * duration, options.poll_min_s) + 1e-6


def test_the_record_keeps_dss_job_durations_and_polls_of_a_repeat_run_stay_near_the_end():
    chain = {f"r{i}": ([f"r{i - 1}"] if i else []) for i in range(6)}
    durations = {f"r{i}": 0.3 + 0.17 * i for i in range(6)}
    behaviours = {k: Behaviour(duration_s=v) for k, v in durations.items()}
    first = execute(make_test_plan(chain), behaviours, RunOptions(max_parallel=1))
    learned = expected_durations_from_record(first.record.to_dict())
    assert learned == pytest.approx(durations, abs=0.002)  # DSS's own times, not our detection times
    second = execute(make_test_plan(chain, durations=learned), behaviours, RunOptions(max_parallel=1))
    assert second.dss.status_job_reads <= len(chain) + 1  # about one status read per job
    assert second.dss.status_job_reads < first.dss.status_job_reads
    starts = second.dss.starts
    for start, following in zip(starts, starts[1:]):
        duration = durations[start.recipes[0]]
        assert following.time - (start.time + duration) <= 0.05 * duration
    again = expected_durations_from_record(second.record.to_dict())
    assert again == pytest.approx(durations, abs=0.002)  # no drift from one run to the next


def test_a_plan_out_of_dependency_order_is_rejected():
    recipes = (
        PlannedRecipe(name="b", type="python", outputs=(OutputRef("b_out"),), upstream=("a",)),
        PlannedRecipe(name="a", type="python", outputs=(OutputRef("a_out"),)),
    )
    with pytest.raises(GraphError, match="'b' comes before its upstream 'a'"):
        run_plan(
            BuildPlan(project_key="P", recipes=recipes),
            FakeDSS(BuildPlan(project_key="P", recipes=recipes), VirtualClock()),
            RunOptions(),
        )


def test_an_empty_plan_succeeds_without_jobs():
    out = execute(make_test_plan({}))
    assert out.record.state == "SUCCESS" and out.record.recipes == [] and out.dss.starts == []


def test_transient_patterns_from_the_options_make_an_error_retryable():
    plan = make_test_plan({"a": []})
    behaviours = {
        "a": Behaviour(transient_failures=1, transient_message="Quota exhausted, come back later", transient_type=None)
    }
    plain = execute(plan, behaviours, RunOptions(retry=RetryPolicy(retries=1)))
    assert plain.state("a") == "FAILED"
    patterned = execute(plan, behaviours, RunOptions(retry=RetryPolicy(retries=1, transient_patterns=("quota",))))
    assert patterned.state("a") == "SUCCESS" and patterned.record.recipe("a").attempts == 2


def _independent_unknown(durations: Dict[str, float]):
    """Independent recipes lasting ``durations`` that the plan does not know (a first run): plan and behaviours."""
    return make_test_plan(dict.fromkeys(durations, [])), {k: Behaviour(duration_s=v) for k, v in durations.items()}


def _noting_poll_times(times: List[float]):
    def prepare(dss: FakeDSS, clock: VirtualClock) -> None:
        dss.list_answers = True  # one answer shows every job, as DSS's job list does
        ask = dss.job_states

        def job_states(job_ids):
            times.append(clock())
            return ask(job_ids)

        dss.job_states = job_states

    return prepare


def test_one_answer_refreshes_every_job_it_shows_and_polls_stay_poll_min_apart():
    durations = {f"r{i}": 0.6 + 0.37 * i for i in range(12)}
    plan, behaviours = _independent_unknown(durations)
    options = RunOptions(max_parallel=4)
    alone = execute(plan, behaviours, options)  # answers only for the jobs asked
    times: List[float] = []
    shared = execute(plan, behaviours, options, prepare=_noting_poll_times(times))
    assert shared.dss.status_calls <= alone.dss.status_calls
    assert min(b - a for a, b in zip(times, times[1:])) >= options.poll_min_s - 1e-9
    for start in shared.dss.starts:
        duration = durations[start.recipes[0]]
        noticed = parse_utc(shared.record.recipe(start.recipes[0]).attempt_history[-1].noticed_at).timestamp()
        lag = noticed - (start.time + duration + shared.dss.wall_offset_s)
        assert 0 <= lag <= UNKNOWN_RATIO * duration + options.poll_min_s + 1e-3


def _lags(out: Outcome, durations: Dict[str, float]) -> List[float]:
    lags = []
    for start in out.dss.starts:
        name = start.recipes[0]
        noticed = parse_utc(out.record.recipe(name).attempt_history[-1].noticed_at).timestamp()
        lags.append(noticed - (start.time + durations[name] + out.dss.wall_offset_s))
    return lags


def test_many_short_jobs_sharing_each_answer_are_noticed_sooner_at_a_bounded_request_rate(monkeypatch):
    """Under a high cap one job-list answer checks every running job: the run asks more often (never more than
    1 / SHARED_MIN_SCALE as often as one job alone would) and a freed slot idles less."""
    from flow_orchestrator import polling

    durations = {f"r{i}": 0.3 + 0.9 * ((i * 7) % 40) / 40 for i in range(120)}
    plan, behaviours = _independent_unknown(durations)
    options = RunOptions(max_parallel=40)
    times: List[float] = []
    shared = execute(plan, behaviours, options, prepare=_noting_poll_times(times))
    monkeypatch.setattr(polling, "SHARED_JOBS", 10**6)  # each job polled as if it ran alone
    alone_times: List[float] = []
    alone = execute(plan, behaviours, options, prepare=_noting_poll_times(alone_times))
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert min(gaps) >= options.poll_min_s * polling.SHARED_MIN_SCALE - 1e-9
    assert min(b - a for a, b in zip(alone_times, alone_times[1:])) >= options.poll_min_s - 1e-9
    shared_lags, alone_lags = _lags(shared, durations), _lags(alone, durations)
    for name, lag in zip((s.recipes[0] for s in shared.dss.starts), shared_lags):  # stamps keep milliseconds
        assert -1e-3 <= lag <= UNKNOWN_RATIO * durations[name] + options.poll_min_s + 1e-3
    assert statistics.mean(shared_lags) <= 0.6 * statistics.mean(alone_lags)
    assert len(times) <= len(alone_times) / polling.SHARED_MIN_SCALE
    assert shared.clock() < alone.clock()  # the whole run is shorter too


def test_jobs_four_times_faster_than_last_run_are_noticed_near_their_new_end_after_the_first():
    chain = {f"r{i}": ([f"r{i - 1}"] if i else []) for i in range(10)}
    last_run = {f"r{i}": 4.0 + 0.4 * i for i in range(10)}
    behaviours = {k: Behaviour(duration_s=v / 4) for k, v in last_run.items()}
    out = execute(make_test_plan(chain, durations=last_run), behaviours, RunOptions(max_parallel=1))
    starts = out.dss.starts
    lags = []
    for start, following in zip(starts, starts[1:]):
        duration = last_run[start.recipes[0]] / 4
        lags.append((following.time - (start.time + duration)) / duration)
    assert lags[0] == pytest.approx(1.0, abs=0.01)  # nothing ended yet: checked at half its last time (2x its own)
    assert max(lags[1:]) <= 0.05  # then the run's pace says "4x faster" and the checks follow
    assert out.dss.status_job_reads <= 2 * len(chain)


def test_the_time_limit_is_kept_to_the_poll_while_other_jobs_keep_the_run_polling():
    """Requests stay poll_min_s apart, except the check at a time limit: the job is timed out when it is due."""
    plan = make_test_plan({"stuck": [], "other": []})
    behaviours = {"stuck": Behaviour(hang=True), "other": Behaviour(duration_s=1.0)}
    options = RunOptions(max_parallel=2, on_failure="continue", timeout_s=0.3, poll_min_s=0.2)
    times: List[float] = []
    out = execute(plan, behaviours, options, prepare=_noting_poll_times(times))
    stuck = out.record.recipe("stuck")
    started = out.dss.starts_of("stuck")[0].time
    assert stuck.state == "TIMED_OUT"
    timed_out = parse_utc(stuck.attempt_history[0].ended_at).timestamp() - out.dss.wall_offset_s
    assert timed_out == pytest.approx(started + 0.3, abs=1e-3)  # not at the next poll (0.4 s)
    closer = [b - a for a, b in zip(times, times[1:]) if 0 < b - a < options.poll_min_s - 1e-9]
    assert len(closer) == 1, closer  # the check at the limit only


def test_on_a_first_run_young_jobs_are_checked_at_the_pace_of_the_run_s_typical_duration_not_of_their_age(
    monkeypatch,
):
    """Without durations, the youngest running job would set the pace of every request (a share of a few tenths of
    a second); once jobs ended, a job is not checked before the shortest of them, then at a share of their median."""
    from flow_orchestrator import polling, runner

    durations = {f"r{i}": 2.0 + 6.0 * ((i * 7) % 24) / 24 for i in range(24)}
    plan, behaviours = _independent_unknown(durations)
    options = RunOptions(max_parallel=4)
    paced: List[float] = []
    first = execute(plan, behaviours, options, prepare=_noting_poll_times(paced))
    spread = max(durations.values()) / min(durations.values())
    bound = max(FIRST_RATIO, UNKNOWN_RATIO * spread)  # first jobs at their own share; the shortest ones wait longer
    # Without the run's recent durations (the two last arguments), every job at a share of its own age all along:
    monkeypatch.setattr(runner, "next_check", lambda *args: polling.next_check(*args[:7]))
    monkeypatch.setattr(polling, "FIRST_RATIO", UNKNOWN_RATIO)
    by_age: List[float] = []
    execute(plan, behaviours, options, prepare=_noting_poll_times(by_age))
    assert len(paced) <= 0.4 * len(by_age)
    lags = [lag / durations[s.recipes[0]] for lag, s in zip(_lags(first, durations), first.dss.starts)]
    assert statistics.median(lags) <= 0.05
    assert min(lags) >= -1e-3 and max(lags) <= bound


def _checks_of_a_long_job(beyond: bool):
    """A 5 s job among 400 jobs of 0.3 s at 20 in parallel (DSS's job list answering for all): how many polls asked
    about it, and how late its end was noticed."""
    upstream = {"long": [], **{f"s{i:03d}": [] for i in range(400)}}
    plan = make_test_plan(upstream)
    clock = VirtualClock()
    behaviours = {"long": Behaviour(duration_s=5.0), **{f"s{i:03d}": Behaviour(duration_s=0.3) for i in range(400)}}
    dss = FakeDSS(plan, clock, behaviours, max_parallel=20)
    dss.list_answers = True
    asked: List[List[str]] = []
    answer = dss.job_states

    def job_states(job_ids):
        asked.append(list(job_ids))
        return answer(job_ids)

    dss.job_states = job_states
    if beyond:
        dss.beyond_list = lambda job_id: dss.jobs[job_id].recipes == ("long",)
    record = run_plan(plan, dss, RunOptions(max_parallel=20), clock=clock, wait=clock.wait, wall=dss.wall_now)
    assert record.state == "SUCCESS"
    long_job = record.recipe("long").job_ids[0]
    attempt = record.recipe("long").attempt_history[0]
    lag = (parse_utc(attempt.noticed_at) - parse_utc(attempt.ended_at)).total_seconds()
    return sum(long_job in ids for ids in asked), lag


def test_a_job_no_list_answer_reaches_is_checked_as_a_job_alone():
    """The port says a check of the long job costs a request of its own (it started too many jobs ago for a poll's
    list): it is asked about at a job's own pace, not at every answer the short jobs share, and still noticed soon."""
    shared_checks, _ = _checks_of_a_long_job(beyond=False)
    alone_checks, lag = _checks_of_a_long_job(beyond=True)
    assert alone_checks * 1.5 <= shared_checks  # its checks twice as far apart (shared_scale: 0.5 at 20 running)
    assert lag <= UNKNOWN_RATIO * 5.0 + 0.05
