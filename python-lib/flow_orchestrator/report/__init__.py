"""Reports of plans and runs: HTML fragments for DSS macro results and ``--html`` files, and terminal text.

Build reports::

    from flow_orchestrator.report import render_build_report, render_plan_report, html_document
    fragment = render_build_report(record_dict, dss_url="https://dss.example.com")  # a macro's HTML result
    page = html_document(fragment, title="Build of CLINICAL")                         # a standalone file

Writing another report in the same style (schema diff, verify)
---------------------------------------------------------------
Every report is one ``<div class="fo-report">`` holding its own ``<style>``; every CSS selector starts with
``.fo-report`` so nothing leaks into DSS's page, and no script or external resource is needed.

* ``render_page(title, body_html, subtitle=None)`` wraps a body in that shell (title and subtitle are escaped,
  ``body_html`` is trusted: build it only from escaped parts).
* Build the body with the shared Jinja2 environment (autoescape on): ``environment()`` or
  ``render_template(name, **context)`` for a template placed in ``report/templates/``. Templates import the
  macros with ``{% import "_base.html" as fo %}``: ``fo.facts([(label, value, url?)])``, ``fo.counts([(state, n)])``,
  ``fo.link(text, url)``, ``fo.job_links(jobs)``, ``fo.details_pre(summary, text, open=False)`` and
  ``fo.table(headers, rows, numeric=(column indexes,))`` where ``rows = [{"cells": [...], "class": "fo-row-fail"}]``.
  ``badge(state)``, ``state_tone(state)`` and ``format_duration(seconds)`` are template globals.
* From Python: ``badge(state) -> Markup`` (a coloured pill that always shows the state as text; tones for
  SUCCESS/PASS, FAILED/ERROR, WARN/TIMED_OUT, SKIPPED, ADDED/REMOVED/CHANGED... in ``STATE_TONES``),
  ``markupsafe.escape`` for any other text, ``safe_http_url(url)`` / ``dss_job_url(...)`` before putting a URL
  in an ``href``.
* CSS classes ready to use: ``fo-section`` (a block with an ``<h3>``), ``fo-banner fo-tone-<tone>`` (the state
  line at the top), ``fo-table`` in a ``fo-table-scroll`` div, row classes ``fo-row-fail`` / ``fo-row-warn`` /
  ``fo-row-skip``, ``fo-muted``, ``fo-name``, ``fo-error`` (a boxed error message), ``fo-log`` (preformatted),
  ``fo-marker`` (a small tag), ``fo-diff-added`` / ``fo-diff-removed`` / ``fo-diff-changed`` (schema diffs).

Terminal: ``format_summary_table(record, width=None)``, ``format_run_headline(record)`` and ``ProgressLine`` (a
progress-event consumer). The plan as text is ``format_plan_text`` elsewhere.
"""

from __future__ import annotations

import importlib

from ..text import format_duration
from .terminal import ProgressLine, clean_text, format_run_headline, format_summary_table

#: The HTML side, imported on first use (PEP 562): every command line run shows terminal progress, and loading
#: Jinja2 for it cost 50 ms of each start.
_HTML_NAMES = {
    "render_build_report": ".html",
    "render_plan_report": ".html",
    "STATE_TONES": ".page",
    "badge": ".page",
    "dss_job_url": ".page",
    "environment": ".page",
    "html_document": ".page",
    "render_page": ".page",
    "render_template": ".page",
    "safe_http_url": ".page",
    "state_tone": ".page",
}


def __getattr__(name: str):
    module = _HTML_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "STATE_TONES",
    "ProgressLine",
    "badge",
    "clean_text",
    "dss_job_url",
    "environment",
    "format_duration",
    "format_run_headline",
    "format_summary_table",
    "html_document",
    "render_build_report",
    "render_page",
    "render_plan_report",
    "render_template",
    "safe_http_url",
    "state_tone",
]
