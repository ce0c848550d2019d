"""Rules the runner keeps on every Flow: random DAGs (up to 60 recipes), durations, failures and transient failures."""

from __future__ import annotations

import random
from typing import Dict, List, Set

from flow_orchestrator.config import RetryPolicy, RunOptions
from flow_orchestrator.record import parse_utc, validate_record
from flow_orchestrator.runner import END_MARGIN, END_MARGIN_S, UNKNOWN_RATIO, run_plan
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fakes import Behaviour, FakeDSS, VirtualClock, make_test_plan

DURATIONS = (0.2, 0.5, 1.0, 2.0, 3.5, 7.0, 15.0)


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
    accurate = draw(st.booleans())  # plan knows the real durations, or uses the default 1 s
    failing = draw(st.sets(st.sampled_from(names), max_size=max(1, n // 6)))
    flaky = draw(st.sets(st.sampled_from(names), max_size=max(1, n // 4)))
    transient = {name: draw(st.integers(min_value=1, max_value=3)) for name in sorted(flaky)}
    options = RunOptions(
        max_parallel=draw(st.integers(min_value=1, max_value=6)),
        on_failure=draw(st.sampled_from(("fail-fast", "continue"))),
        retry=RetryPolicy(retries=draw(st.integers(min_value=0, max_value=2)), backoff_s=0.5, backoff_max_s=2.0),
    )
    return upstream, durations, accurate, failing, transient, options


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


@settings(max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_runner_rules_hold_on_random_flows(scenario):
    upstream, durations, accurate, failing, transient, options = scenario
    plan = make_test_plan(upstream, durations=durations if accurate else None)
    behaviours = {
        name: Behaviour(
            duration_s=durations[name],
            fail_message="Error in Python process: At line 1: <class 'KeyError'>: 'x'" if name in failing else None,
            transient_failures=transient.get(name, 0),
        )
        for name in upstream
    }
    clock = VirtualClock()
    dss = FakeDSS(plan, clock, behaviours, max_parallel=options.max_parallel)
    record = run_plan(plan, dss, options, clock=clock, wait=clock.wait, rng=random.Random(3))
    validate_record(record.to_dict())

    # no recipe starts before its upstream recipes are DONE; never more than max_parallel live jobs
    assert dss.violations == []
    assert dss.max_live_jobs <= options.max_parallel
    # every planned recipe exactly once, in plan order
    assert [r.name for r in record.recipes] == plan.names
    states = {r.name: r.state for r in record.recipes}
    retries = options.retry.retries
    for run in record.recipes:
        assert run.attempts <= 1 + retries
        assert run.attempts == len(run.job_ids) == len(dss.starts_of(run.name))
    # nothing downstream of a failure starts
    failed = {name for name, state in states.items() if state in ("FAILED", "TIMED_OUT")}
    started = set(dss.started_recipes())
    assert not (descendants(upstream, failed) & started)
    # every recipe that fails for good is expected to (permanent failure, or more transient failures than retries)
    doomed = set(failing) | {name for name, count in transient.items() if count > retries}
    assert failed <= doomed
    # skips name failed recipes upstream of them
    for run in record.recipes:
        if run.state == "SKIPPED":
            assert run.skipped_because and set(run.skipped_because) <= failed
    if options.on_failure == "continue":
        unreachable = descendants(upstream, doomed)
        for name, state in states.items():
            if name in doomed and name not in unreachable:
                assert state == "FAILED"
            elif name in unreachable:
                assert state == "SKIPPED"
            else:
                assert state == "SUCCESS"
    else:
        assert not doomed or record.state == "FAILED"
        assert set(states.values()) <= {"SUCCESS", "FAILED", "SKIPPED", "ABORTED", "NOT_RUN"}
    if not doomed:
        assert record.state == "SUCCESS"
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
    record = run_plan(plan, dss, options, clock=clock, wait=clock.wait)
    assert record.state == "SUCCESS"
    t0 = parse_utc(record.started_at)
    for run in record.recipes:
        start = dss.starts_of(run.name)[0].time - clock.start
        noticed = (parse_utc(run.ended_at) - t0).total_seconds()
        lag = noticed - (start + real[run.name])
        if accurate:  # checked just after the expected end
            bound = max(END_MARGIN * real[run.name] + END_MARGIN_S, options.poll_min_s)
        else:  # checked in step with the elapsed time
            bound = min(max(UNKNOWN_RATIO * real[run.name], options.poll_min_s), poll_max_s)
        assert -0.002 <= lag <= bound + 0.002, (run.name, real[run.name], lag, bound)
        assert abs(run.attempt_history[0].job_duration_s - real[run.name]) <= 0.002  # DSS's times, in ms
