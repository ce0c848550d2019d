"""HTML report of an output verification (or of a capture), in the build report's style.

Input is :meth:`flow_orchestrator.verification.VerificationOutcome.to_dict`. One row per expectation with the reason
for each result; failures first (ERROR, then WARN), then skipped, then passed. A capture shows the spec to paste into
the ``expectations`` field. Every value is escaped.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence

from markupsafe import Markup

from ..text import format_duration
from .page import badge, join, render_page

_KIND_LABELS = {
    "exists": "exists",
    "built": "built",
    "columns": "columns",
    "min_rows": "min rows",
    "max_rows": "max rows",
    "not_empty": "not empty",
    "dss_rules": "DSS rule",
}


def _rank(result: Mapping[str, Any]) -> int:
    status, severity = result.get("status"), result.get("severity")
    if status == "failed":
        return 0 if severity == "ERROR" else 1
    return 2 if status == "skipped" else 3


def ordered_results(results: Sequence[Mapping[str, Any]]) -> List[Mapping[str, Any]]:
    """Failures first (ERROR before WARN), then skipped, then passed; the spec's order within each group."""
    return sorted(results, key=_rank)


def _result_state(result: Mapping[str, Any]) -> str:
    if result.get("status") == "failed":
        return "FAILED" if result.get("severity") == "ERROR" else "WARN"
    return "SKIPPED" if result.get("status") == "skipped" else "PASSED"


_ROW_CLASS: Dict[str, str] = {"FAILED": "fo-row-fail", "WARN": "fo-row-warn", "SKIPPED": "fo-row-skip", "PASSED": ""}


def _row(result: Mapping[str, Any]) -> Markup:
    state = _result_state(result)
    kind = _KIND_LABELS.get(str(result.get("kind")), str(result.get("kind")))
    subject = result.get("subject")
    what = Markup("{}{}").format(kind, Markup(" <code>{}</code>").format(subject) if subject else "")
    return Markup(
        '<tr class="fo-expectation {}" data-dataset="{}" data-kind="{}" data-state="{}">'
        '<td>{}</td><td class="fo-name">{}</td><td>{}</td><td>{}</td><td class="fo-muted">{}</td>'
        "<td>{}</td></tr>"
    ).format(
        _ROW_CLASS[state],
        result.get("dataset"),
        result.get("kind"),
        state,
        badge(state),
        result.get("dataset"),
        what,
        result.get("severity"),
        result.get("expected") or "",
        result.get("message") or "",
    )


def render_results_table(results: Sequence[Mapping[str, Any]]) -> Markup:
    """One row per expectation result, failures first: the verification report's table (the build report uses it too)."""
    rows = [_row(item) for item in ordered_results(results)]
    return Markup(
        '<div class="fo-table-scroll"><table class="fo-table fo-expectations"><thead><tr>'
        "<th>Result</th><th>Dataset</th><th>Expectation</th><th>Severity</th><th>Expected</th>"
        "<th>Found / reason</th></tr></thead><tbody>{}</tbody></table></div>"
    ).format(join(rows))


def _counts(counts: Mapping[str, int]) -> Markup:
    pairs = [
        ("PASSED", counts.get("passed", 0)),
        ("FAILED", counts.get("failed_error", 0)),
        ("WARN", counts.get("failed_warn", 0)),
        ("SKIPPED", counts.get("skipped", 0)),
    ]
    items = (Markup('<li><span class="fo-count">{}</span>{}</li>').format(n, badge(state)) for state, n in pairs)
    return Markup('<ul class="fo-counts">{}</ul>').format(join(items))


def _banner(state: str, text: str) -> Markup:
    tone = {"PASSED": "ok", "FAILED": "fail", "WARN": "warn"}.get(state, "info")
    return Markup('<section class="fo-banner fo-tone-{}" role="status">{} <strong>{}</strong></section>').format(
        tone, badge(state), text
    )


def _notes(notes: Sequence[str]) -> Markup:
    if not notes:
        return Markup("")
    items = join(Markup("<li>{}</li>").format(note) for note in notes)
    return Markup(
        '<section class="fo-section fo-notes-section"><h3>Notes</h3><ul class="fo-notes">{}</ul></section>'
    ).format(items)


def _capture_body(outcome: Mapping[str, Any]) -> Markup:
    datasets = outcome.get("datasets") or []
    text = "Captured the current state of {} dataset{}".format(len(datasets), "" if len(datasets) == 1 else "s")
    return _banner("CAPTURED", text) + Markup(
        '<section class="fo-section fo-capture"><h3>Expectations spec</h3>'
        "<p>Copy this JSON into the <em>Expectations</em> field (edit it to taste), then run the verification.</p>"
        '<pre class="fo-log fo-spec">{}</pre></section>'
    ).format(outcome.get("captured_spec") or "")


def render_verification_report(outcome: Mapping[str, Any], *, title: Optional[str] = None) -> str:
    """The macro's HTML result (and ``--html`` body) of a verification or a capture."""
    project_key = outcome.get("project_key") or ""
    result = outcome.get("result")
    if result is None:
        body = _capture_body(outcome)
        return render_page(title or "Capture of expected outputs", str(body), subtitle=project_key)
    counts = result.get("counts") or {}
    state = outcome.get("state") or ("PASSED" if result.get("passed") else "FAILED")
    if state == "FAILED":
        text = "{} of {} expectations failed".format(counts.get("failed_error", 0), counts.get("total", 0))
    elif state == "WARN":
        text = "Passed with {} warning{}".format(
            counts.get("failed_warn", 0), "" if counts.get("failed_warn", 0) == 1 else "s"
        )
    else:
        text = "All {} expectations passed".format(counts.get("total", 0))
    table = render_results_table(result.get("results") or [])
    facts = Markup(
        '<dl class="fo-facts"><dt>Project</dt><dd>{}</dd><dt>Datasets</dt><dd>{}</dd><dt>Duration</dt><dd>{}</dd></dl>'
    ).format(project_key, len(outcome.get("datasets") or []), format_duration(outcome.get("duration_s")))
    body = (
        _banner(state, text)
        + Markup('<section class="fo-section fo-summary"><h3>Summary</h3>{}{}</section>').format(_counts(counts), facts)
        + Markup('<section class="fo-section fo-results"><h3>Expectations</h3>{}</section>').format(table)
        + _notes(result.get("notes") or [])
    )
    return render_page(title or "Output verification", str(body), subtitle=project_key)


__all__ = ["ordered_results", "render_results_table", "render_verification_report"]
