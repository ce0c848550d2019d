"""The build report, the step's failure message and its variables with "propagate schema first" and "verify after
build" in the record: schema changes, output checks failures first, everything escaped."""

from __future__ import annotations

from flow_orchestrator.config import BuildConfig
from flow_orchestrator.expectations import DatasetFacts, evaluate, parse_expectations
from flow_orchestrator.graph import FlowGraph
from flow_orchestrator.plan import make_plan
from flow_orchestrator.record import new_record, validate_record
from flow_orchestrator.report.html import render_build_report
from flow_orchestrator.schema import RecipeBreak, diff_schemas
from flow_orchestrator.shells.publish import check_report_items, failure_message, scenario_variables

from tests.unit.flow_payloads import flow

EVIL = '<script>alert("x")</script>'


def base_record(state="SUCCESS"):
    payload = flow({"agg": (["raw"], ["agg_out"]), "join": (["agg_out"], ["joined"])})
    graph = FlowGraph.from_payload(
        payload, [{"name": "agg", "type": "grouping"}, {"name": "join", "type": "join"}], project_key="P"
    )
    record = new_record(make_plan(graph, BuildConfig(), "P"))
    for item in record.recipes:
        item.state = "SUCCESS"
    record.state = state
    record.ended_at, record.duration_s = record.started_at, 1.0
    return record


def verification(spec: dict, facts: dict) -> dict:
    result = evaluate(parse_expectations({"version": 1, "datasets": spec}), facts)
    state = "FAILED" if not result.passed else ("WARN" if result.counts["failed_warn"] else "PASSED")
    return dict(
        result.to_dict(),
        state=state,
        error=None,
        datasets=list(spec),
        not_verified=[],
        default_checks=False,
        duration_s=0.2,
    )


FAILING = verification(
    {"agg_out": {"min_rows": 100, "exists": True}, "joined": {"not_empty": {"value": True, "severity": "WARN"}}},
    {"agg_out": DatasetFacts(exists=True, row_count=7), "joined": DatasetFacts(exists=True, row_count=0)},
)


def propagation(state="SUCCESS", preview=False, error=None, stopped_at=None):
    diff = diff_schemas(
        [{"name": "d", "type": "date"}], [{"name": "d", "type": "string"}, {"name": EVIL, "type": "int"}], "agg_out"
    ).to_dict()
    breaks = [RecipeBreak("join", "join", "agg_out", "patient_id", "join condition").to_dict()] if preview else []
    return {
        "state": state,
        "preview": preview,
        "sources": ["raw"],
        "changed_datasets": ["agg_out"],
        "stopped_at": stopped_at,
        "error": error,
        "duration_s": 0.5,
        "results": [
            {
                "source": "raw",
                "state": "PREVIEW" if preview else state,
                "ran": not preview,
                "changes": [diff],
                "breaks": breaks,
                "unchecked": [],
                "stops_at": None,
                "error": None,
                "notes": [],
                "summary": "s",
                "duration_s": 0.5,
            }
        ],
    }


def test_the_record_with_both_sections_is_valid_and_round_trips():
    record = base_record("FAILED")
    record.propagation, record.verification = propagation(), FAILING
    data = record.to_dict()
    validate_record(data)
    assert type(record).from_dict(data).to_dict() == data
    assert "propagation" not in base_record().to_dict()  # optional: absent when the step did not run


def test_failed_checks_lead_the_report_and_everything_is_escaped():
    record = base_record("FAILED")
    record.propagation, record.verification = propagation(), FAILING
    html = render_build_report(record.to_dict())
    assert "2 recipes built, but 1 of 3 output checks failed." in html
    assert "Failed output check" in html and "Schema changes" in html and "Output checks" in html
    assert html.index("Failed output check") < html.index("Summary") < html.index("Schema changes")
    assert html.index("Schema changes") < html.index("Recipes") < html.index("<h3>Output checks")
    assert "expected at least 100 rows, found 7" in html
    checks = html[html.index("<h3>Output checks") :]
    assert checks.index('data-state="FAILED"') < checks.index('data-state="WARN"') < checks.index('data-state="PASSED"')
    assert EVIL not in html and "&lt;script&gt;" in html
    assert "date → string" in html


def test_a_stopped_propagation_is_the_headline():
    record = base_record("FAILED")
    for item in record.recipes:
        item.state = "NOT_RUN"
    message = "Schema propagation from 'raw' stopped at recipe 'join': " + EVIL
    record.propagation = propagation("FAILED", error=message, stopped_at="join")
    html = render_build_report(record.to_dict())
    assert "Schema propagation stopped at recipe join; no recipe was run." in html
    assert html.index("Schema propagation stopped</h3>") < html.index("Summary")
    assert EVIL not in html
    assert failure_message(record.to_dict()) == "No recipe was run: " + message


def test_a_dry_run_shows_the_preview_and_the_recipes_that_would_break():
    record = base_record("PLANNED")
    record.dry_run = True
    record.propagation = propagation("PREVIEW", preview=True)
    html = render_build_report(record.to_dict())
    assert "Schema preview: 1 dataset would change, 1 recipe would break." in html
    assert "Recipe that would break" in html and "join condition" in html and "nothing was changed" in html


def test_passing_and_warning_checks_are_said_in_the_headline():
    record = base_record()
    record.verification = verification(
        {"agg_out": {"min_rows": 5}}, {"agg_out": DatasetFacts(exists=True, row_count=7)}
    )
    assert "All 1 output check passed." in render_build_report(record.to_dict())
    record.verification = verification(
        {"agg_out": {"min_rows": {"value": 50, "severity": "WARN"}}},
        {"agg_out": DatasetFacts(exists=True, row_count=7)},
    )
    assert "Output checks passed with 1 warning." in render_build_report(record.to_dict())
    assert failure_message(record.to_dict()) is None


def test_the_step_fails_naming_each_failed_expectation_and_sets_the_counts():
    record = base_record("FAILED")
    record.verification = FAILING
    data = record.to_dict()
    message = failure_message(data, variable="flow_orchestrator.last_run.x")
    assert message.splitlines()[0] == "1 of 3 output checks failed:"
    assert "- agg_out min_rows: expected at least 100 rows, found 7" in message
    assert "joined" not in message  # WARN failures are reported, not fatal
    values = scenario_variables(data, project_key="P", variable="v")
    assert values["flow_orchestrator_verify_state"] == "FAILED"
    assert values["flow_orchestrator_verify_total"] == 3 and values["flow_orchestrator_verify_failed_error"] == 1
    assert values["flow_orchestrator_verify_failed_warn"] == 1
    assert "agg_out min_rows" in values["flow_orchestrator_verify_failures"]
    items = check_report_items(data, project_key="P")
    assert [(ref, item["kind"], item["status"]) for ref, _, item in items] == [
        ("P.agg_out", "exists", "passed"),
        ("P.agg_out", "min_rows", "failed"),
        ("P.joined", "not_empty", "failed"),
    ]


def test_recipe_failures_and_check_failures_are_both_named():
    record = base_record("FAILED")
    record.recipes[1].state = "FAILED"
    record.verification = FAILING
    message = failure_message(record.to_dict())
    assert message.startswith("1 of 2 recipes did not succeed:")
    assert "- join FAILED" in message and "1 of 3 output checks failed:" in message
