"""Cost-aware grouped jobs: what a DSS job costs (learned from a record), the makespan estimate, the choice."""

from __future__ import annotations

from dataclasses import replace
from typing import Dict, List

import pytest
from flow_orchestrator.grouping import GROUPED, job_groups
from flow_orchestrator.job_costs import (
    CHAINS,
    TIE_FRACTION,
    WHOLE_PLAN,
    GroupingChoice,
    JobOverhead,
    choose_grouping,
    estimate_makespan,
    learn_job_overhead,
    recipe_work_from_record,
)
from flow_orchestrator.plan import BuildPlan, expected_durations_from_record, format_plan_text, with_job_groups
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fakes import make_test_plan


def stamp(seconds: float) -> str:
    whole = int(seconds)
    return f"2026-12-06T10:{whole // 60:02d}:{whole % 60:02d}.{int(round((seconds - whole) * 1000)):03d}Z"


def attempt(job: str, start: float, end: float, **extra) -> dict:
    return {
        "attempt": 1,
        "job_id": job,
        "started_at": stamp(start),
        "ended_at": stamp(end),
        "state": "SUCCESS",
        "job_duration_s": round(end - start, 3),
        **extra,
    }


def item(name: str, job: dict, start: float = None, end: float = None, **extra) -> dict:
    """A successful recipe of a record: its own times (an activity's) when given, else its job's."""
    own = start is not None
    return {
        "name": name,
        "state": "SUCCESS",
        "started_at": stamp(start) if own else job["started_at"],
        "ended_at": stamp(end) if own else job["ended_at"],
        "duration_s": round(end - start, 3) if own else job["job_duration_s"],
        "attempt_history": [job],
        **extra,
    }


def grouped_record() -> dict:
    """Two chains of two recipes (jobs of 3 s overhead: 2 s before, 1 s after) and one recipe in a job of its own."""
    j1, j2, j3 = attempt("J1", 0, 8), attempt("J2", 0, 9), attempt("J3", 0, 5)
    return {
        "run_id": "20261206T100000Z-abc123",
        "plan": {"strategy": GROUPED},
        "recipes": [
            item("a", j1, 2, 4, job_group=1),
            item("b", j1, 4, 7, job_group=1),
            item("c", j2, 2, 3, job_group=2),
            item("d", j2, 3, 8, job_group=2),
            item("e", j3),  # its job's own times: says nothing of the overhead
        ],
    }


# ------------------------------------------------------------------------------------------ learning


def test_the_overhead_is_each_shared_job_minus_its_activities_span_median_over_jobs():
    learned = learn_job_overhead(grouped_record())
    assert learned == JobOverhead(3.0, "run 20261206T100000Z-abc123", 2)
    assert "learned from run 20261206T100000Z-abc123, 2 job(s)" in learned.describe()


def test_a_per_recipe_record_cannot_tell_the_overhead():
    jobs = [attempt(f"J{i}", 0, 3) for i in range(3)]
    record = {
        "run_id": "R",
        "plan": {"strategy": "per-recipe"},
        "recipes": [item(f"r{i}", j) for i, j in enumerate(jobs)],
    }
    assert learn_job_overhead(record) is None
    assert learn_job_overhead(None) is None and learn_job_overhead({}) is None


def test_an_attempt_that_says_its_overhead_is_taken_as_is_even_for_a_job_of_its_own():
    record = grouped_record()
    record["recipes"][4]["attempt_history"] = [attempt("J3", 0, 5, overhead_s=4.0)]
    assert learn_job_overhead(record).seconds == 3.0  # median of 3, 3, 4
    assert learn_job_overhead(record).jobs == 3


def test_failed_jobs_and_unsuccessful_recipes_say_nothing():
    record = grouped_record()
    for recipe in record["recipes"][:2]:
        recipe["state"] = "FAILED"
        recipe["attempt_history"] = [dict(recipe["attempt_history"][0], state="FAILED")]
    assert learn_job_overhead(record) == JobOverhead(3.0, "run 20261206T100000Z-abc123", 1)


def test_a_single_job_record_tells_the_overhead_and_each_recipe_s_duration():
    job = attempt("S1", 0, 20)
    record = {
        "run_id": "S",
        "plan": {"strategy": "single-job"},
        "recipes": [item("a", job, 3, 5), item("b", job, 3, 9), item("c", job, 9, 16), item("d", job)],
    }
    assert learn_job_overhead(record).seconds == 7.0  # 20 s job, activities from 3 s to 16 s
    # a recipe whose times are the job's (no activity read, or up to date) gives no duration
    assert expected_durations_from_record(record) == {"a": 2.0, "b": 6.0, "c": 7.0}


def test_recipe_work_is_its_activity_or_its_job_less_the_overhead():
    work = recipe_work_from_record(grouped_record(), 3.0)
    assert work == {"a": 2.0, "b": 3.0, "c": 1.0, "d": 5.0, "e": 2.0}
    assert recipe_work_from_record(grouped_record(), None)["e"] == 5.0
    assert recipe_work_from_record(None, 1.0) == {}


# ------------------------------------------------------------------------------------------ estimate and choice


def layered(width: int, depth: int) -> Dict[str, List[str]]:
    """``depth`` layers of ``width`` recipes, each reading two of the layer above: no chain at all."""
    upstream: Dict[str, List[str]] = {}
    for level in range(depth):
        for i in range(width):
            ups = [] if not level else [f"l{level - 1}_{i}", f"l{level - 1}_{(i + 1) % width}"]
            upstream[f"l{level}_{i}"] = sorted(set(ups))
    return upstream


def test_a_chain_costs_one_overhead_plus_its_work():
    plan = make_test_plan({"a": [], "b": ["a"], "c": ["b"]})
    assert (
        estimate_makespan(plan.recipes, [("a", "b", "c")], work={}, default_s=1.0, overhead_s=2.0, max_parallel=4) == 5
    )
    per_recipe = [("a",), ("b",), ("c",)]
    assert (
        estimate_makespan(plan.recipes, per_recipe, work={"b": 4.0}, default_s=1.0, overhead_s=2.0, max_parallel=4)
        == 12
    )


def test_jobs_and_activities_share_the_cap():
    plan = make_test_plan({f"r{i}": [] for i in range(8)})
    singles = [(name,) for name in plan.names]
    assert estimate_makespan(plan.recipes, singles, work={}, default_s=1.0, overhead_s=3.0, max_parallel=4) == 8
    whole = [tuple(plan.names)]
    assert estimate_makespan(plan.recipes, whole, work={}, default_s=1.0, overhead_s=3.0, max_parallel=4) == 5


def test_expensive_jobs_on_a_layered_flow_choose_one_job_and_say_why():
    plan = make_test_plan(layered(10, 5), strategy=GROUPED)
    chains = job_groups(plan.recipes)
    overhead = JobOverhead(3.0, "run R1", 4)
    groups, choice = choose_grouping(plan.recipes, chains, overhead=overhead, work={}, default_s=1.0, max_parallel=10)
    assert choice.kind == WHOLE_PLAN and groups == (tuple(plan.names),)
    estimates = dict(choice.estimates)
    assert estimates == {CHAINS: 20.0, WHOLE_PLAN: 8.0}  # 5 layers of (3 + 1) s, against 3 + 5 × 1 s
    assert choice.reason == (
        "one job for the whole plan: jobs cost ~3.0 s to start (learned from run R1, 4 job(s)); "
        "estimated 8.0s against 20.0s as chains"
    )


def test_cheap_jobs_keep_the_chains():
    plan = make_test_plan(layered(10, 5), strategy=GROUPED)
    chains = job_groups(plan.recipes)
    overhead = JobOverhead(0.0, "setting")
    groups, choice = choose_grouping(plan.recipes, chains, overhead=overhead, work={}, default_s=1.0, max_parallel=10)
    assert choice.kind == CHAINS and groups == tuple(chains)
    assert choice.reason.startswith("jobs as chains: jobs cost ~0.0 s to start (set in 'DSS job start-up cost')")


def test_an_unknown_overhead_keeps_the_chains_and_says_how_to_weigh():
    plan = make_test_plan(layered(10, 5), strategy=GROUPED)
    chains = job_groups(plan.recipes)
    groups, choice = choose_grouping(plan.recipes, chains, overhead=None, work={}, default_s=1.0, max_parallel=4)
    assert groups == tuple(chains) and choice.kind == CHAINS and choice.estimates == ()
    assert "unknown" in choice.reason and "DSS job start-up cost" in choice.reason


def test_a_near_tie_keeps_the_finer_grouping():
    # two independent recipes of 10 s under 2 jobs at once: chains 1 + 10, one job 1 + 10: a tie
    plan = make_test_plan({"a": [], "b": []}, strategy=GROUPED)
    chains = job_groups(plan.recipes)
    work = {"a": 10.0, "b": 10.0}
    _, choice = choose_grouping(
        plan.recipes, chains, overhead=JobOverhead(1.0, "setting"), work=work, default_s=1.0, max_parallel=2
    )
    assert choice.kind == CHAINS and dict(choice.estimates) == {CHAINS: 11.0, WHOLE_PLAN: 11.0}


def test_one_job_is_not_a_candidate_when_it_cannot_hold_the_plan():
    plan = make_test_plan(layered(10, 5), strategy=GROUPED)
    chains = job_groups(plan.recipes)
    overhead = JobOverhead(3.0, "setting")
    _, choice = choose_grouping(
        plan.recipes, chains, overhead=overhead, work={}, default_s=1.0, max_parallel=10, whole_plan_allowed=False
    )
    assert choice.kind == CHAINS and dict(choice.estimates) == {CHAINS: 20.0}


def test_with_job_groups_keeps_the_choice_in_the_plan_and_its_text():
    plan = make_test_plan(layered(4, 3), strategy=GROUPED)
    chosen = with_job_groups(plan, overhead=JobOverhead(3.0, "run R1", 2), max_parallel=4)
    assert chosen.job_groups == (tuple(plan.names),) and chosen.grouping.kind == WHOLE_PLAN
    again = BuildPlan.from_dict(chosen.to_dict())
    assert again.grouping == chosen.grouping and again.job_groups == chosen.job_groups
    text = format_plan_text(again)
    assert "Grouping: one job for the whole plan: jobs cost ~3.0 s to start (learned from run R1, 2 job(s))" in text
    assert "one DSS job for the whole plan (12 recipes" in text
    # outputs built by partition and whole cannot share a job; nor can a list run in its own order
    assert (
        with_job_groups(plan, ["l0_0_out"], overhead=JobOverhead(3.0, "setting"), max_parallel=4).grouping.kind
        == CHAINS
    )
    ordered = replace(plan, ordered=True, _index={})
    assert with_job_groups(ordered, overhead=JobOverhead(3.0, "setting"), max_parallel=4).grouping.kind == CHAINS
    assert with_job_groups(replace(plan, strategy="per-recipe", _index={})).grouping is None


def test_a_grouping_choice_reads_back_from_its_dict():
    choice = GroupingChoice(CHAINS, "why", 1.5, "run R", ((CHAINS, 3.0), (WHOLE_PLAN, 4.0)))
    assert GroupingChoice.from_dict(choice.to_dict()) == choice


# ------------------------------------------------------------------------------------------ properties


@st.composite
def flows(draw):
    n = draw(st.integers(min_value=1, max_value=30))
    names = [f"r{i}" for i in range(n)]
    upstream: Dict[str, List[str]] = {}
    for i, name in enumerate(names):
        window = draw(st.integers(min_value=1, max_value=5))
        picks = (
            draw(st.lists(st.integers(min_value=max(0, i - window), max_value=i - 1), max_size=3, unique=True))
            if i
            else []
        )
        upstream[name] = [names[j] for j in sorted(picks)]
    work = draw(st.dictionaries(st.sampled_from(names), st.floats(min_value=0, max_value=20), max_size=n))
    overhead = draw(st.floats(min_value=0, max_value=10))
    cap = draw(st.integers(min_value=1, max_value=8))
    return upstream, work, overhead, cap


def assert_valid_grouping(upstream: Dict[str, List[str]], groups) -> None:
    """A partition of the plan, each group convex (no path leaves it and comes back), the group graph acyclic."""
    members = [name for group in groups for name in group]
    assert sorted(members) == sorted(upstream) and len(members) == len(set(members))
    group_of = {name: g for g, group in enumerate(groups) for name in group}
    edges = {(group_of[u], group_of[n]) for n, ups in upstream.items() for u in ups if group_of[u] != group_of[n]}
    reach = {g: set() for g in range(len(groups))}  # groups reachable from each group, by a walk of the group graph
    for g in range(len(groups)):
        stack = [b for a, b in edges if a == g]
        while stack:
            h = stack.pop()
            if h not in reach[g]:
                reach[g].add(h)
                stack.extend(b for a, b in edges if a == h)
    assert all(g not in reach[g] for g in reach)  # acyclic, hence every group convex


@settings(max_examples=200, deadline=None, derandomize=True)
@given(flows())
def test_every_candidate_is_a_valid_grouping_and_the_choice_is_never_clearly_worse(flow):
    upstream, work, overhead, cap = flow
    plan = make_test_plan(upstream, strategy=GROUPED)
    chains = job_groups(plan.recipes)
    candidates = {CHAINS: chains, WHOLE_PLAN: [tuple(plan.names)]}
    for groups in candidates.values():
        assert_valid_grouping(upstream, groups)
    groups, choice = choose_grouping(
        plan.recipes, chains, overhead=JobOverhead(overhead, "setting"), work=work, default_s=1.0, max_parallel=cap
    )
    assert_valid_grouping(upstream, groups)
    estimates = {
        kind: estimate_makespan(plan.recipes, g, work=work, default_s=1.0, overhead_s=overhead, max_parallel=cap)
        for kind, g in candidates.items()
    }
    chosen = dict(choice.estimates)[choice.kind]
    assert chosen == pytest.approx(estimates[choice.kind], abs=1e-3)
    assert all(chosen <= e / (1 - TIE_FRACTION) + 1e-3 for e in estimates.values())
    # never below what any grouping must take: one job's overhead plus the longest path of work
    longest: Dict[str, float] = {}
    for name, ups in upstream.items():
        longest[name] = work.get(name, 1.0) + max((longest[u] for u in ups), default=0.0)
    assert chosen >= overhead + max(longest.values()) - 1e-3


def test_a_compacted_record_still_tells_the_overhead_and_the_shared_recipes_work():
    """The project variable keeps a compacted record (no attempt history for successful recipes): the record's own
    summary says the overhead, and a recipe that shared a grouped job keeps its activity's duration_s."""
    record = grouped_record()
    record["job_overhead"] = {"median_s": 2.5, "jobs": 3}
    for item in record["recipes"]:
        item.pop("attempt_history")
    assert learn_job_overhead(record) == JobOverhead(2.5, "run 20261206T100000Z-abc123", 3)
    assert recipe_work_from_record(record, 2.5) == {"a": 2.0, "b": 3.0, "c": 1.0, "d": 5.0, "e": 2.5}
    assert expected_durations_from_record(record) == {"a": 2.0, "b": 3.0, "c": 1.0, "d": 5.0, "e": 5.0}


def test_a_recipe_of_a_shared_job_whose_activity_was_not_read_gives_no_work():
    job = attempt("S1", 0, 20)
    record = {"run_id": "S", "plan": {"strategy": "single-job"}, "recipes": [item("a", job, 3, 5), item("b", job)]}
    assert recipe_work_from_record(record, 7.0) == {"a": 2.0}


def test_the_html_report_says_which_grouping_and_why_escaped():
    from flow_orchestrator.record import new_record
    from flow_orchestrator.report.html import render_build_report

    plan = with_job_groups(
        make_test_plan(layered(4, 3), strategy=GROUPED), overhead=JobOverhead(3.0, "run <b>R1</b>", 2), max_parallel=4
    )
    html = render_build_report(new_record(plan).to_dict())
    assert "one job for the whole plan: jobs cost ~3.0 s to start (learned from run &lt;b&gt;R1&lt;/b&gt;" in html
    assert "<b>R1</b>" not in html
    dry = render_build_report(new_record(plan, dry_run=True).to_dict())  # the plan section of a dry run
    assert "The whole plan runs as one DSS job" in dry and "Each chain below" not in dry
    assert "learned from run &lt;b&gt;R1&lt;/b&gt;" in dry
