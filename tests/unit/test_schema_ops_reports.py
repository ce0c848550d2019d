"""HTML reports of schema propagation and verification: escaping, colour coding, failures and breaks first."""

from __future__ import annotations

from flow_orchestrator.config.propagate import PropagateConfig
from flow_orchestrator.expectations import ExpectationResult, VerificationResult
from flow_orchestrator.propagate import PropagationOutcome
from flow_orchestrator.report.schema_html import render_diffs, render_propagation_report
from flow_orchestrator.report.verify_html import ordered_results, render_verification_report
from flow_orchestrator.schema import ImpactPreview, PropagationError, RecipeBreak, UncheckedRecipe, diff_schemas
from flow_orchestrator.verification import VerificationOutcome
from hypothesis import given
from hypothesis import strategies as st

HOSTILE = '<script>alert("x")</script>'


def cols(*pairs):
    return [{"name": name, "type": kind} for name, kind in pairs]


def outcome(**changes) -> PropagationOutcome:
    diff = diff_schemas(
        cols(("id", "string"), ("amount", "int"), ("old", "string")),
        cols(("id", "string"), ("amount", "double"), ("new", "date")),
        dataset="ORDERS",
    )
    preview = ImpactPreview(
        source="RAW",
        changes={"ORDERS": diff},
        breaks=(RecipeBreak("join_X", "join", "RAW", "old", "selected column"),),
        unchecked=(UncheckedRecipe("py", "python", "its code sets the output schema when it runs"),),
    )
    values = dict(project_key="P", config=PropagateConfig("RAW", stop_at=("s",)), preview=preview)
    values.update(changes)
    return PropagationOutcome(**values)


def test_the_diff_is_colour_coded_per_change():
    html = str(render_diffs([outcome().preview.changes["ORDERS"].to_dict()]))
    assert 'class="fo-diff-added" data-change="added"><td><code>new</code>' in html
    assert 'class="fo-diff-removed" data-change="removed"><td><code>old</code>' in html
    assert 'class="fo-diff-changed" data-change="type_changed"><td><code>amount</code>' in html
    assert "int → double" in html


def test_a_preview_lists_breaks_before_changes_and_unchecked_recipes():
    html = render_propagation_report(outcome().to_dict())
    assert html.index("Recipes that would break") < html.index("Schema changes the propagation would make")
    assert "Recipes the preview cannot check" in html and "fo-tone-warn" in html
    assert "nothing was changed" in html


def test_a_failed_run_shows_where_it_stopped_first():
    failed = outcome(ran=True, error=PropagationError("stopped at recipe 'join_X': boom", recipe="join_X"))
    html = render_propagation_report(failed.to_dict())
    assert "stopped at recipe join_X" in html and "fo-tone-fail" in html
    assert html.index("Where it stopped") < html.index("Schema changes")


def test_a_reorder_shows_both_orders():
    diff = diff_schemas(cols(("a", "string"), ("b", "string")), cols(("b", "string"), ("a", "string")), dataset="D")
    html = str(render_diffs([diff.to_dict()]))
    assert 'data-change="reordered"' in html and "a, b → b, a" in html


@given(st.text(min_size=1, max_size=30))
def test_every_name_is_escaped(name):
    hostile = HOSTILE + name
    diff = diff_schemas(cols(("x", "string")), cols(("x", "string"), (hostile, hostile)), dataset=hostile)
    preview = ImpactPreview(
        source=hostile, changes={hostile: diff}, breaks=(RecipeBreak(hostile, hostile, hostile, hostile, hostile),)
    )
    html = render_propagation_report(PropagationOutcome(hostile, PropagateConfig(hostile), preview).to_dict())
    assert "<script>" not in html


def results():
    return (
        ExpectationResult("A", "exists", "ERROR", "passed", "the dataset exists", "exists"),
        ExpectationResult("A", "max_rows", "WARN", "failed", "expected at most 1 row, found 2", "at most 1 row"),
        ExpectationResult("B", "dss_rules", "ERROR", "skipped", "not offered", "rules pass"),
        ExpectationResult("B", "min_rows", "ERROR", "failed", "expected at least 5 rows, found 2", "at least 5"),
    )


def test_failures_come_first_errors_before_warnings():
    ordered = ordered_results([item.to_dict() for item in results()])
    assert [(item["dataset"], item["kind"]) for item in ordered] == [
        ("B", "min_rows"),
        ("A", "max_rows"),
        ("B", "dss_rules"),
        ("A", "exists"),
    ]


def test_the_verification_report_has_one_row_per_expectation_with_its_reason():
    html = render_verification_report(VerificationOutcome("P", result=VerificationResult(results())).to_dict())
    assert html.count('class="fo-expectation') == 4
    assert "1 of 4 expectations failed" in html
    assert 'data-state="FAILED"' in html and 'data-state="WARN"' in html
    assert "expected at least 5 rows, found 2" in html


def test_the_verification_report_escapes_everything():
    hostile = ExpectationResult(HOSTILE, "columns", "ERROR", "failed", HOSTILE, HOSTILE, subject=HOSTILE)
    html = render_verification_report(
        VerificationOutcome(HOSTILE, result=VerificationResult((hostile,), (HOSTILE,))).to_dict()
    )
    assert "<script>" not in html


def test_a_capture_report_shows_the_spec_escaped():
    html = render_verification_report(VerificationOutcome("P", captured_spec='{"a": "<b>"}', datasets=("A",)).to_dict())
    assert "Expectations spec" in html and "&lt;b&gt;" in html and "CAPTURED" in html
