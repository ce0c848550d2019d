"""The plan, the terminal summary and the HTML report say which recipes share a DSS job (grouped jobs)."""

from __future__ import annotations

import random

from flow_orchestrator.config import RunOptions
from flow_orchestrator.plan import BuildPlan, format_plan_text, with_job_groups
from flow_orchestrator.record import RunRecord, load_record
from flow_orchestrator.report import format_summary_table
from flow_orchestrator.report.html import render_build_report
from flow_orchestrator.runner import run_plan

from tests.fakes import FakeDSS, VirtualClock, make_test_plan

EVIL = "<img src=x onerror=alert(1)>"


def grouped_run(names=("a", "b", "c")) -> RunRecord:
    upstream = {names[0]: [], names[1]: [names[0]], names[2]: [names[1]], "x": []}
    plan = make_test_plan(upstream, strategy="grouped")
    clock = VirtualClock()
    dss = FakeDSS(plan, clock, activities=True)
    return run_plan(plan, dss, RunOptions(), clock=clock, wait=clock.wait, rng=random.Random(1), wall=dss.wall_now)


def test_the_plan_text_lists_each_job_group():
    plan = with_job_groups(make_test_plan({"a": [], "b": ["a"], "x": []}, strategy="grouped"))
    text = format_plan_text(plan)
    assert "Grouped jobs: 1 chain(s) run as one DSS job each, 2 job(s) in all" in text
    assert "job group 1: a → b" in text
    assert text.count("· job group 1") == 2
    assert BuildPlan.from_dict(plan.to_dict()).job_groups == (("a", "b"), ("x",))


def test_the_record_numbers_shared_groups_and_old_records_stay_readable():
    record = grouped_run()
    data = record.to_dict()
    assert [r.get("job_group") for r in data["recipes"]] == [1, 1, 1, None]
    assert data["plan"]["job_groups"] == [["a", "b", "c"], ["x"]]
    assert load_record(data).recipe("b").job_group == 1
    for recipe in data["recipes"]:  # a record written before grouped jobs
        recipe.pop("job_group", None)
    data["plan"].pop("job_groups")
    old = load_record(data)
    assert old.recipe("b").job_group is None and BuildPlan.from_dict(data["plan"]).job_groups == ()


def test_the_summary_table_and_the_html_report_show_the_job_group_escaped():
    record = grouped_run((EVIL, "b", "c"))
    data = record.to_dict()
    table = format_summary_table(data, width=160)
    assert table.count("job group 1") == 3
    html = render_build_report(data)
    assert EVIL not in html and "&lt;img" in html
    assert "Job groups (one DSS job each)" in html and html.count('fo-job-group">job group 1<') == 3
    assert "1: &lt;img src=x onerror=alert(1)&gt; → b → c" in html
    dry = dict(data, dry_run=True, state="PLANNED")  # the plan section of a dry run lists the chains
    assert "<h3>Grouped jobs</h3>" in render_build_report(dry)
