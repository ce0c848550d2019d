"""What a person sees: the build report of a 3-branch run with one failure, loaded in headless Chromium.

The page wraps the report fragment the way DSS shows a macro result (inside a page with its own content and
scripts). A canary script of the page proves scripts do run in this harness, so "the payloads did not run" means
something; a probe script reads computed styles to check the report's CSS applies inside and leaks nowhere.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flow_orchestrator.report import render_build_report, render_plan_report

from tests.browser import ARTIFACTS_DIR, dump_dom, requires_chromium, screenshot

pytestmark = [pytest.mark.browser, requires_chromium]

T0 = datetime(2026, 11, 25, 1, 0, 0, tzinfo=timezone.utc)

# Each payload would change the page if it ever ran: the probe below looks for these marks.
NAME_PAYLOAD = "<script>document.title='PWNED-name'</script>"
SVG_PAYLOAD = "</title></text></svg><img src=x onerror=\"document.body.setAttribute('data-pwned','svg')\">"
ERROR_PAYLOAD = "\"><img src=x onerror=\"document.body.setAttribute('data-pwned','error')\">"
LOG_PAYLOAD = "</style><b id=\"pwned-style\">x</b><script>document.body.setAttribute('data-pwned','log')</script>"
JOB_PAYLOAD = "job'><svg onload=\"document.body.setAttribute('data-pwned','job')\">"
DATASET_PAYLOAD = "DS<iframe srcdoc=\"<script>parent.document.title='PWNED-ds'</script>\">"

FAILED = "group_LAB_RESULTS_AGG " + ERROR_PAYLOAD
SKIPPED = ("join_ML_TRAINING_DATA", "score_RISK " + SVG_PAYLOAD)


def _iso(offset_s):
    moment = T0 + timedelta(seconds=offset_s)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _recipe(name, state, attempts=(), *, error=None, log=None, skipped_because=(), outputs=("OUT",)):
    history = [
        {
            "attempt": i + 1,
            "job_id": job or f"build_{name.split()[0]}_{i + 1}",
            "started_at": _iso(start),
            "ended_at": _iso(end),
            "state": st,
            "error": {"message": err, "type": "JobFailed", "transient": bool(retry)} if err else None,
            "retry_after_s": retry,
        }
        for i, (start, end, st, err, retry, job) in enumerate(attempts)
    ]
    return {
        "name": name,
        "type": "grouping" if name.startswith("group") else "python",
        "state": state,
        "attempts": len(history),
        "job_ids": [a["job_id"] for a in history],
        "job_urls": [],
        "outputs": [{"id": o, "type": "DATASET", "project_key": None} for o in outputs],
        "started_at": history[0]["started_at"] if history else None,
        "ended_at": history[-1]["ended_at"] if history else None,
        "duration_s": (attempts[-1][1] - attempts[0][0]) if attempts else None,
        "error": {"message": error, "type": "JobFailed", "transient": False} if error else None,
        "log_excerpt": log,
        "skipped_because": list(skipped_because),
        "attempt_history": history,
    }


def three_branch_record():
    """prepare → {vitals, lab (fails after a retry), medications}; lab → join → score are skipped."""
    recipes = [
        _recipe("prepare_PATIENTS " + NAME_PAYLOAD, "SUCCESS", [(0.2, 3.0, "SUCCESS", None, None, None)]),
        _recipe("group_VITALS_AGG", "SUCCESS", [(3.2, 11.5, "SUCCESS", None, None, None)], outputs=(DATASET_PAYLOAD,)),
        _recipe(
            FAILED,
            "FAILED",
            [
                (3.2, 5.0, "FAILED", "Connection reset by peer", 2.0, None),
                (7.0, 9.4, "FAILED", "Column LAB_VALUE not found " + ERROR_PAYLOAD, None, JOB_PAYLOAD),
            ],
            error="Column LAB_VALUE not found in dataset LAB_RESULTS " + ERROR_PAYLOAD,
            log="[01:00:07] INFO Grouping by PATIENT_ID\n[01:00:09] ERROR Column LAB_VALUE not found\n" + LOG_PAYLOAD,
        ),
        _recipe("window_MEDICATIONS", "SUCCESS", [(3.3, 8.0, "SUCCESS", None, None, None)]),
        _recipe(SKIPPED[0], "SKIPPED", skipped_because=[FAILED]),
        _recipe(SKIPPED[1], "SKIPPED", skipped_because=[FAILED]),
    ]
    names = [r["name"] for r in recipes]
    return {
        "record_version": 1,
        "run_id": "20261125T010000Z-3f9a1c",
        "project_key": "CLINICAL",
        "dss_url": "http://127.0.0.1:5000",
        "started_at": _iso(0),
        "ended_at": _iso(12.0),
        "duration_s": 12.0,
        "state": "FAILED",
        "dry_run": False,
        "resumed_from": None,
        "config": {"max_parallel": 4, "on_failure": "continue", "retries": 1, "timeout_s": 600.0},
        "plan": {
            "project_key": "CLINICAL",
            "build_mode": "NON_RECURSIVE_FORCED_BUILD",
            "strategy": "per-recipe",
            "recipes": [{"name": n, "type": "python", "outputs": [], "upstream": [], "layer": 0} for n in names],
            "layers": [names[:1], names[1:4], names[4:5], names[5:]],
            "targets": [],
            "critical_path": [names[0], names[2], names[4], names[5]],
            "critical_path_s": 20.0,
            "total_work_s": 30.0,
            "notes": ["note " + NAME_PAYLOAD],
        },
        "counts": {"SUCCESS": 3, "FAILED": 1, "SKIPPED": 2, "ABORTED": 0, "TIMED_OUT": 0, "NOT_RUN": 0},
        "recipes": recipes,
    }


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>fo-report-test</title></head>
<body style="margin: 16px">
<h2 id="outside-heading">A page around the report</h2>
<table id="outside-table"><tr><td id="outside-cell">outside cell</td></tr></table>
<p id="outside-p">Outside paragraph.</p>
{fragment}
<pre id="probe"></pre>
<script>
document.body.setAttribute("data-canary", "ran");
var report = document.querySelector(".fo-report");
var badge = report.querySelector(".fo-badge");
var bars = Array.prototype.slice.call(report.querySelectorAll("rect.fo-bar"));
var scroller = report.querySelector(".fo-tl-scroll");
var reportBox = report.getBoundingClientRect();
var escaped = Array.prototype.slice.call(report.querySelectorAll("*")).filter(function (el) {{
  var box = el.getBoundingClientRect();
  return box.width > 0 && (box.right > reportBox.right + 1 || box.left < reportBox.left - 1) && !el.closest(".fo-table-scroll, .fo-tl-scroll, pre");
}}).map(function (el) {{ return el.tagName + "." + el.getAttribute("class"); }});
document.getElementById("probe").textContent = JSON.stringify({{
  title: document.title,
  outsideHeadingFontSize: getComputedStyle(document.getElementById("outside-heading")).fontSize,
  outsideCellPadding: getComputedStyle(document.getElementById("outside-cell")).paddingTop,
  outsideParagraphMargin: getComputedStyle(document.getElementById("outside-p")).marginTop,
  badgeRadius: getComputedStyle(badge).borderTopLeftRadius,
  reportFont: getComputedStyle(report).fontSize,
  barWidths: bars.map(function (r) {{ return r.getBoundingClientRect().width; }}),
  reportWidth: reportBox.width,
  viewportWidth: document.documentElement.clientWidth,
  escaped: escaped,
  timelineScrollHeight: scroller ? scroller.getBoundingClientRect().height : null
}});
</script>
</body></html>
"""


class _Elements(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elements = []
        self.body_attrs = {}
        self._probe = False
        self.probe = ""

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.elements.append((tag, attrs))
        if tag == "body":
            self.body_attrs = attrs
        self._probe = attrs.get("id") == "probe"

    def handle_endtag(self, tag):
        if tag == "pre":
            self._probe = False

    def handle_data(self, data):
        if self._probe:
            self.probe += data


def _load(fragment: str, name: str, tmp_path: Path):
    page = tmp_path / f"{name}.html"
    page.write_text(PAGE.format(fragment=fragment), encoding="utf-8")
    parser = _Elements()
    parser.feed(dump_dom(page))
    return page, parser, json.loads(parser.probe) if parser.probe.strip() else {}


def test_three_branch_failure_report_as_a_person_sees_it(tmp_path):
    fragment = render_build_report(three_branch_record(), dss_url="http://127.0.0.1:5000")
    page, dom, probe = _load(fragment, "build-report", tmp_path)

    # Scripts run in this page (the canary), yet none of the injected payloads did.
    assert "data-pwned" not in dom.body_attrs, f"a payload ran: {dom.body_attrs}"
    assert dom.body_attrs.get("data-canary") == "ran", "the page's own script did not run: the report broke the page"
    assert probe, "the probe script did not finish: the report broke the page"
    assert probe["title"] == "fo-report-test"
    tags = [t for t, _ in dom.elements]
    assert tags.count("script") == 1 and "img" not in tags and "iframe" not in tags and "b" not in tags
    assert not [a for t, a in dom.elements if any(k.startswith("on") for k in a)]
    assert all(re.match(r"^https?://", a["href"]) for t, a in dom.elements if t == "a")

    # The report's CSS applies inside it and nowhere else.
    assert probe["badgeRadius"] == "10px" and probe["reportFont"] == "13px"
    assert probe["outsideHeadingFontSize"] == "24px"
    assert probe["outsideCellPadding"] == "1px"
    assert probe["outsideParagraphMargin"] == "16px"
    assert probe["escaped"] == [], "elements drawn outside the report: {}".format(probe["escaped"])
    assert probe["reportWidth"] <= probe["viewportWidth"]

    # The timeline: one visible bar per attempt (the failed recipe's retry is a second bar).
    bars = [a for t, a in dom.elements if t == "rect" and "fo-bar" in a.get("class", "")]
    assert [(b["data-recipe"], b["data-state"]) for b in bars] == [
        ("prepare_PATIENTS " + NAME_PAYLOAD, "SUCCESS"),
        ("group_VITALS_AGG", "SUCCESS"),
        (FAILED, "FAILED"),
        (FAILED, "FAILED"),
        ("window_MEDICATIONS", "SUCCESS"),
    ]
    assert all(width >= 2 for width in probe["barWidths"]), probe["barWidths"]

    # The failed row and the skipped rows of the table.
    rows = {a["data-recipe"]: a for t, a in dom.elements if t == "tr" and "data-recipe" in a}
    assert rows[FAILED]["data-state"] == "FAILED" and "fo-row-fail" in rows[FAILED]["class"]
    assert [rows[name]["data-state"] for name in SKIPPED] == ["SKIPPED", "SKIPPED"]

    shot = screenshot(page, ARTIFACTS_DIR / "build-report-3-branches.png", width=1280, height=1500)
    assert shot.stat().st_size > 10_000


def test_plan_report_renders_and_runs_no_payload(tmp_path):
    fragment = render_plan_report(three_branch_record()["plan"])
    page, dom, probe = _load(fragment, "plan-report", tmp_path)
    assert "data-pwned" not in dom.body_attrs and dom.body_attrs.get("data-canary") == "ran" and probe
    assert probe["title"] == "fo-report-test" and probe["escaped"] == []
    critical = [a for t, a in dom.elements if t == "tr" and "fo-critical" in a.get("class", "")]
    assert len(critical) == 4
    screenshot(page, ARTIFACTS_DIR / "plan-report.png", width=1280, height=900)
