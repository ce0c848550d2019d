"""Rules the runner keeps on every Flow: random DAGs (up to 60 recipes), durations, failures and transient failures."""

from __future__ import annotations

import random
from typing import Dict, List, Optional, Set, Tuple

from flow_orchestrator.config import RetryPolicy, RunOptions
from flow_orchestrator.polling import FIRST_RATIO
from flow_orchestrator.record import parse_utc, validate_record
from flow_orchestrator.runner import END_MARGIN, END_MARGIN_S, run_plan
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fakes import Behaviour, FakeDSS, VirtualClock, make_test_plan

DURATIONS = (0.2, 0.5, 1.0, 2.0, 3.5, 7.0, 15.0)


#: How a recipe's jobs go wrong: every pattern the runner handles, each on its own recipe.
PATTERNS = ("fails", "transient", "lost", "hangs", "refused")
PERMANENT_MESSAGE = "Error in Python process: At line 1: <class 'KeyError'>: 'x'"


@st.composite
def scenarios(draw):
    n = draw(st.integers(min_value=1, max_value=60))
    names = [f"r{i}" for i in range(n)]
    upstream: Dict[str, List[str]] = {}
    for i, name in enumerate(names):
        if i == 0:
            upstream[name] = []
            continue
        picks = draw(st.lists(st.integers(min_value=max(0, i - 12), max_value=i - 1), max_size=3, unique=True))
        upstream[name] = [names[j] for j in sorted(picks)]
    durations = {name: draw(st.sampled_from(DURATIONS)) for name in names}
    accurate = draw(st.booleans())  # plan knows the real durations, or has none (polled geometrically)
    troubled = draw(st.lists(st.sampled_from(names), max_size=max(1, n // 3), unique=True))
    patterns = {
        name: (draw(st.sampled_from(PATTERNS)), draw(st.integers(min_value=1, max_value=3))) for name in troubled
    }
    hangs = any(pattern == "hangs" for pattern, _ in patterns.values())
    options = RunOptions(
        max_parallel=draw(st.integers(min_value=1, max_value=6)),
        on_failure=draw(st.sampled_from(("fail-fast", "continue"))),
        retry=RetryPolicy(retries=draw(st.integers(min_value=0, max_value=2)), backoff_s=0.5, backoff_max_s=2.0),
        timeout_s=40.0 if hangs else draw(st.sampled_from((None, 100.0))),
    )
    return upstream, durations, accurate, patterns, options


def behaviour_of(duration: float, pattern: Optional[Tuple[str, int]]) -> Behaviour:
    kind, count = pattern or ("", 0)
    return Behaviour(
        duration_s=duration,
        fail_message=PERMANENT_MESSAGE if kind == "fails" else None,
        transient_failures=count if kind == "transient" else 0,
        lost_attempts=count if kind == "lost" else 0,
        hang=kind == "hangs",
        start_error=RuntimeError("ERR_DATASET_ACTION_FORBIDDEN: no WRITE_DATA on x") if kind == "refused" else None,
    )


def doomed_states(patterns: Dict[str, Tuple[str, int]], retries: int) -> Dict[str, str]:
    """The final state of each recipe that cannot succeed, whatever the scheduling."""
    out = {}
    for name, (kind, count) in patterns.items():
        if kind in ("fails", "refused"):
            out[name] = "FAILED"
        elif kind == "hangs":
            out[name] = "TIMED_OUT"
        elif kind == "transient" and count > retries:
            out[name] = "FAILED"
        elif kind == "lost" and count > retries:
            out[name] = "ABORTED"
    return out


def descendants(upstream: Dict[str, List[str]], roots: Set[str]) -> Set[str]:
    downstream: Dict[str, List[str]] = {name: [] for name in upstream}
    for name, ups in upstream.items():
        for up in ups:
            downstream[up].append(name)
    seen: Set[str] = set()
    stack = [d for r in roots for d in downstream[r]]
    while stack:
        name = stack.pop()
        if name not in seen:
            seen.add(name)
            stack.extend(downstream[name])
    return seen


@settings(max_examples=400, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_runner_rules_hold_on_random_flows(scenario):
    upstream, durations, accurate, patterns, options = scenario
    plan = make_test_plan(upstream, durations=durations if accurate else None)
    behaviours = {name: behaviour_of(durations[name], patterns.get(name)) for name in upstream}
    clock = VirtualClock()
    dss = FakeDSS(plan, clock, behaviours, max_parallel=options.max_parallel)
    record = run_plan(plan, dss, options, clock=clock, wait=clock.wait, rng=random.Random(3))
    validate_record(record.to_dict())
    retries = options.retry.retries
    doomed = doomed_states(patterns, retries)

    # no recipe starts before its upstream recipes are DONE; never more than max_parallel live jobs
    assert dss.violations == []
    assert dss.max_live_jobs <= options.max_parallel
    # every planned recipe exactly once, in plan order; every job the port started is in the record, once
    assert [r.name for r in record.recipes] == plan.names
    recorded_jobs = [job for run in record.recipes for job in run.job_ids]
    assert sorted(recorded_jobs) == sorted(dss.jobs)
    states = {r.name: r.state for r in record.recipes}
    for run in record.recipes:
        assert run.attempts <= 1 + retries
        assert run.attempts == len(run.job_ids) == len(run.attempt_history) == len(dss.starts_of(run.name))
        if run.attempts:
            # a recipe that started a job is never NOT_RUN or SKIPPED: its state is its last attempt's outcome
            assert run.state not in ("NOT_RUN", "SKIPPED"), (run.name, run.state, run.attempt_history)
            assert run.state == run.attempt_history[-1].state, (run.name, run.state, run.attempt_history)
            assert all(a.state != "RUNNING" for a in run.attempt_history)
    # nothing downstream of a failure starts; skips name failed recipes upstream of them
    failed = {name for name, state in states.items() if state in ("FAILED", "TIMED_OUT", "ABORTED")}
    started = set(dss.started_recipes())
    assert not (descendants(upstream, failed) & started)
    for run in record.recipes:
        if run.state == "SKIPPED":
            assert run.skipped_because and set(run.skipped_because) <= failed
    if options.on_failure == "continue":
        unreachable = descendants(upstream, set(doomed))
        for name, state in states.items():
            if name in unreachable:
                assert state == "SKIPPED", name
            elif name in doomed:
                assert state == doomed[name], name
            else:
                assert state == "SUCCESS", name
    else:
        # fail-fast: a recipe fails for good because it is doomed, or because the run stopped while it waited for
        # a retry (then it keeps its last attempt's outcome), or it is ABORTED by the stop itself
        for name in failed - set(doomed):
            run = record.recipe(name)
            assert run.state == "ABORTED" or "not retried" in (run.error.message if run.error else ""), name
        assert not doomed or record.state == "FAILED"
    if not doomed:
        assert record.state == "SUCCESS"
    assert (record.state == "SUCCESS") == all(state == "SUCCESS" for state in states.values())
    # no job the run started is left running
    assert dss.live_jobs() == []


@settings(max_examples=80, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    durations=st.lists(st.sampled_from((0.03, 0.3, 0.77, 1.6, 4.2, 9.0, 33.0, 120.0)), min_size=1, max_size=12),
    accurate=st.booleans(),
    max_parallel=st.integers(min_value=1, max_value=5),
    poll_max_s=st.sampled_from((1.0, 5.0, 60.0)),
)
def test_every_job_end_is_noticed_within_a_bounded_share_of_its_duration(durations, accurate, max_parallel, poll_max_s):
    names = [f"r{i}" for i in range(len(durations))]
    real = dict(zip(names, durations))
    plan = make_test_plan(dict.fromkeys(names, ()), durations=real if accurate else None)
    options = RunOptions(max_parallel=max_parallel, poll_max_s=poll_max_s)
    clock = VirtualClock()
    dss = FakeDSS(plan, clock, {n: Behaviour(duration_s=d) for n, d in real.items()}, max_parallel=max_parallel)
    record = run_plan(plan, dss, options, clock=clock, wait=clock.wait, wall=dss.wall_now)
    assert record.state == "SUCCESS"
    t0 = parse_utc(record.started_at)
    for run in record.recipes:
        start = dss.starts_of(run.name)[0].time - clock.start
        noticed = (parse_utc(run.attempt_history[-1].noticed_at) - t0).total_seconds()
        lag = noticed - (start + real[run.name])
        if accurate:  # checked just after the expected end, or poll_min_s after a request made just before it
            bound = END_MARGIN * real[run.name] + END_MARGIN_S + options.poll_min_s
        else:  # checked in step with the elapsed time, from the shortest duration of the run's recent jobs on
            # (the run's recent durations, shortest and median, are at most the longest of the others)
            longest_other = max((d for n, d in real.items() if n != run.name), default=0.0)
            spacing = FIRST_RATIO * max(real[run.name], longest_other)  # FIRST_RATIO before any job ended
            bound = max(min(max(spacing, options.poll_min_s), poll_max_s), longest_other - real[run.name])
        assert -0.002 <= lag <= bound + 0.002, (run.name, real[run.name], lag, bound)
        assert abs(run.attempt_history[0].job_duration_s - real[run.name]) <= 0.002  # DSS's times, in ms


@st.composite
def chained_scenarios(draw):
    """Like :func:`scenarios`, with long chains: most recipes read only the one before them."""
    upstream, durations, accurate, patterns, options = draw(scenarios())
    names = list(upstream)
    for i, name in enumerate(names[1:], 1):
        if draw(st.integers(min_value=0, max_value=2)):
            upstream[name] = [names[i - 1]]
    return upstream, durations, accurate, patterns, options


@settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(chained_scenarios())
def test_grouped_jobs_keep_the_rules_on_random_flows(scenario):
    upstream, durations, accurate, patterns, options = scenario
    plan = make_test_plan(upstream, durations=durations if accurate else None, strategy="grouped")
    behaviours = {name: behaviour_of(durations[name], patterns.get(name)) for name in upstream}
    clock = VirtualClock()
    dss = FakeDSS(plan, clock, behaviours, max_parallel=options.max_parallel, activities=True)
    record = run_plan(plan, dss, options, clock=clock, wait=clock.wait, rng=random.Random(3), wall=dss.wall_now)
    validate_record(record.to_dict())
    groups = [tuple(g) for g in record.plan["job_groups"]]
    group_of = {name: g for g in groups for name in g}
    retries = options.retry.retries
    doomed = doomed_states(patterns, retries)
    refused = {group for name, (kind, _) in patterns.items() if kind == "refused" for group in [group_of[name]]}
    # no recipe's activity starts before its upstream recipes are built; no two live jobs build one output
    assert dss.violations == []
    assert dss.max_live_jobs <= options.max_parallel
    assert [r.name for r in record.recipes] == plan.names
    # each job builds part of one job group (a chain, or what is left of it on a retry), in dependency order
    for start in dss.starts:
        group = group_of[start.recipes[0]]
        assert set(start.recipes) <= set(group) and len(start.recipes) == len(set(start.recipes))
        assert {o.id for o in start.outputs} == {f"{n}_out" for n in start.recipes}
    assert len(dss.starts) <= len(plan.recipes) * (1 + retries)
    # every job the port started is in the record; a recipe that started a job ends in its last attempt's state
    recorded_jobs = {job for run in record.recipes for job in run.job_ids}
    assert recorded_jobs == set(dss.jobs)
    for run in record.recipes:
        assert run.attempts <= 1 + retries
        assert run.attempts == len(run.job_ids) == len(run.attempt_history)
        assert (run.job_group is not None) == (len(group_of[run.name]) > 1)
        if run.attempts:
            assert run.state not in ("NOT_RUN", "SKIPPED"), (run.name, run.state, run.attempt_history)
            assert run.state == run.attempt_history[-1].state, (run.name, run.state, run.attempt_history)
            assert all(a.state != "RUNNING" for a in run.attempt_history)
        if run.state == "SUCCESS" and run.attempts:  # its own activity (or own job) did succeed in its last job
            job = dss.jobs[run.job_ids[-1]]
            assert dss.recipe_done(run.name, clock()), (run.name, job)
    states = {r.name: r.state for r in record.recipes}
    failed = {name for name, state in states.items() if state in ("FAILED", "TIMED_OUT", "ABORTED")}
    for run in record.recipes:
        if run.state == "SKIPPED":
            assert run.skipped_because and set(run.skipped_because) <= failed, (run.name, run.skipped_because)
    if options.on_failure == "continue":  # what one job per recipe gives, but DSS refuses a chain's job as a whole
        expected: Dict[str, str] = {}
        for name in plan.names:
            group = group_of[name]
            outside = [u for member in group for u in upstream[member] if u not in group]
            if group in refused:
                expected[name] = "FAILED" if all(expected[u] == "SUCCESS" for u in outside) else "SKIPPED"
            elif any(expected[u] != "SUCCESS" for u in upstream[name]):
                expected[name] = "SKIPPED"
            else:
                expected[name] = doomed.get(name, "SUCCESS")
        assert states == expected
    else:
        assert not (doomed or refused) or record.state == "FAILED"
    if not doomed and not refused:
        assert record.state == "SUCCESS"
    assert dss.live_jobs() == []


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_one_job_for_the_whole_plan_keeps_the_rules_on_random_flows(scenario):
    """Cost-aware grouped jobs with expensive jobs: the whole plan is one job of independent recipes (not a chain)."""
    from flow_orchestrator.job_costs import WHOLE_PLAN, JobOverhead
    from flow_orchestrator.plan import with_job_groups

    upstream, durations, accurate, patterns, options = scenario
    plan = make_test_plan(upstream, durations=durations if accurate else None, strategy="grouped")
    plan = with_job_groups(plan, overhead=JobOverhead(10_000.0, "setting"), max_parallel=options.max_parallel)
    whole = plan.grouping.kind == WHOLE_PLAN
    behaviours = {name: behaviour_of(durations[name], patterns.get(name)) for name in upstream}
    clock = VirtualClock()
    dss = FakeDSS(plan, clock, behaviours, max_parallel=options.max_parallel, activities=True)
    record = run_plan(plan, dss, options, clock=clock, wait=clock.wait, rng=random.Random(5), wall=dss.wall_now)
    validate_record(record.to_dict())
    assert dss.violations == [] and dss.live_jobs() == []
    assert len(dss.starts) <= len(plan.recipes) * (1 + options.retry.retries)
    recorded_jobs = {job for run in record.recipes for job in run.job_ids}
    assert recorded_jobs == set(dss.jobs)
    for run in record.recipes:
        assert run.attempts == len(run.job_ids) == len(run.attempt_history) <= 1 + options.retry.retries
        if run.attempts:
            assert run.state not in ("NOT_RUN", "SKIPPED"), (run.name, run.state, run.attempt_history)
            assert run.state == run.attempt_history[-1].state, (run.name, run.state, run.attempt_history)
        if run.state == "SUCCESS" and run.attempts:
            assert dss.recipe_done(run.name, clock()), run.name
    states = {r.name: r.state for r in record.recipes}
    failed = {name for name, state in states.items() if state in ("FAILED", "TIMED_OUT", "ABORTED")}
    for run in record.recipes:
        if run.state == "SKIPPED":
            assert run.skipped_because and set(run.skipped_because) <= failed, (run.name, run.skipped_because)
    simple = all(kind in ("fails", "transient") for kind, _ in patterns.values())
    if whole and simple and options.on_failure == "continue":  # what one job per recipe gives
        doomed = doomed_states(patterns, options.retry.retries)
        expected: Dict[str, str] = {}
        for name in plan.names:
            if any(expected[u] != "SUCCESS" for u in upstream[name]):
                expected[name] = "SKIPPED"
            else:
                expected[name] = doomed.get(name, "SUCCESS")
        assert states == expected
    if not patterns:
        assert record.state == "SUCCESS"
