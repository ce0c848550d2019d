"""What a person sees: the build report of a 3-branch run with one failure, loaded in headless Chromium.

The page wraps the report fragment the way DSS shows a macro result (inside a page with its own content and
scripts). A canary script of the page proves scripts do run in this harness, so "the payloads did not run" means
something; a probe script reads computed styles to check the report's CSS applies inside and leaks nowhere.
"""

from __future__ import annotations

import html
import json
import re
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flow_orchestrator.report import html as report_html
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


# ---------------------------------------------------------------------------------------------- a large run

FOLD_PAYLOAD = "</script><script>document.title='PWNED-fold'</script>"
QUOTED_JOB = "build_(é)/ !'*~_1"  # quoted into its link by the page's script exactly as the report quotes it


def _large_record(size=2010):
    """``size`` recipes, over the 2,000 that make a large run; the first six carry every part of a folded row."""
    special = [
        _recipe(
            "prepare_PATIENTS " + NAME_PAYLOAD,
            "SUCCESS",
            [(0.1, 1.0, "FAILED", "HTTP 503 " + ERROR_PAYLOAD, 1.0, None), (2.0, 3.0, "SUCCESS", None, None, None)],
            log="retried once\n" + LOG_PAYLOAD,
        ),
        _recipe(FOLD_PAYLOAD, "SUCCESS", [(0.2, 2.0, "SUCCESS", None, None, JOB_PAYLOAD)], outputs=(DATASET_PAYLOAD,)),
        _recipe(FAILED, "FAILED", [(0.3, 4.0, "FAILED", "Column X not found", None, None)], error="Column X not found"),
        _recipe(SKIPPED[1], "SKIPPED", skipped_because=[FAILED]),
        _recipe("export_" + FOLD_PAYLOAD, "NOT_RUN"),
        _recipe("window_MEDICATIONS", "SUCCESS", [(0.5, 3.5, "SUCCESS", None, None, QUOTED_JOB)]),
    ]
    special[5].update(waited_for_jobs=["Build_elsewhere " + JOB_PAYLOAD], job_group=2, partitions="2026-11-25")
    rest = [
        _recipe(f"compute_{i:04d}", "SUCCESS", [(i % 9, i % 9 + 2.0, "SUCCESS", None, None, None)])
        for i in range(size - 6)
    ]
    record = three_branch_record()
    recipes = special + rest
    counts = {}
    for r in recipes:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
    record.update(recipes=recipes, counts=counts, state="CANCELLED")
    record["plan"] = dict(record["plan"], recipes=[], layers=[], critical_path=[])
    return record


FOLD_PROBE = """
<pre id="fold-probe"></pre>
<script>
var reports = document.querySelectorAll(".fo-report");
var small = reports[0], large = reports[1];
function rowsOf(scope) {
  var out = {};
  Array.prototype.forEach.call(scope.querySelectorAll("tr[data-recipe]"), function (tr) {
    tr.scrollIntoView();
    out[tr.getAttribute("data-recipe")] = {html: tr.outerHTML, height: tr.getBoundingClientRect().height};
  });
  return out;
}
function sectionsOf() {
  return Array.prototype.map.call(large.querySelectorAll("details.fo-folded"), function (s) {
    return {state: s.getAttribute("data-state"), open: s.open, rows: s.querySelectorAll("tr[data-recipe]").length,
            text: s.querySelector(".fo-rows-data").hidden, note: s.querySelector(".fo-folded-note").hidden,
            table: s.querySelector(".fo-folded-rows").hidden};
  });
}
var before = sectionsOf();
var notRun = large.querySelector('details.fo-folded[data-state="NOT_RUN"]');
notRun.addEventListener("toggle", function () {  /* after the report's own listener: as find-in-page opens it */
  document.getElementById("fold-probe").textContent = JSON.stringify({
    before: before, after: sectionsOf(), small: rowsOf(small), large: rowsOf(large), title: document.title,
    injected: document.querySelectorAll("img, iframe, u, b, #pwned-style").length
  });
});
Array.prototype.forEach.call(large.querySelectorAll('details.fo-folded:not([data-state="NOT_RUN"]) summary'),
  function (summary) { summary.click(); });  /* as a person opens them */
notRun.open = true;
</script>
"""


def test_a_large_runs_folded_sections_open_into_the_rows_the_report_renders(tmp_path):
    """Opening a folded section shows its recipes as the very rows a small report renders (the same markup, links
    and text, visible), whether opened by a click or by the browser (find-in-page sets ``open``); no payload runs."""
    record = _large_record()
    small_record = dict(record, recipes=record["recipes"][:6])
    small = render_build_report(small_record, dss_url="http://127.0.0.1:5000")
    large = render_build_report(record, dss_url="http://127.0.0.1:5000")
    page = tmp_path / "large-report.html"
    page.write_text(PAGE.format(fragment=small + "\n" + large + FOLD_PROBE), encoding="utf-8")
    dom = dump_dom(page, settle_ms=5000)
    parser = _Elements()
    parser.feed(dom)
    assert "data-pwned" not in parser.body_attrs and parser.body_attrs.get("data-canary") == "ran"
    found = re.search(r'<pre id="fold-probe">(.*?)</pre>', dom, flags=re.S)
    assert found and found.group(1).strip(), "the probe did not run after the section opened"
    probe = json.loads(html.unescape(found.group(1)))
    assert probe["title"] == "fo-report-test" and probe["injected"] == 0

    # Closed at first: the lines are there as text, the table is not built.
    assert [(s["state"], s["open"], s["rows"], s["text"], s["table"]) for s in probe["before"]] == [
        ("SKIPPED", False, 0, False, True),
        ("NOT_RUN", False, 0, False, True),
        ("SUCCESS", False, 0, False, True),
    ]
    # Opened: every recipe is a row, the text and its note are hidden.
    assert [(s["state"], s["open"], s["rows"], s["text"], s["note"], s["table"]) for s in probe["after"]] == [
        ("SKIPPED", True, 1, True, True, False),
        ("NOT_RUN", True, 1, True, True, False),
        ("SUCCESS", True, 2007, True, True, False),
    ]
    expected, shown = probe["small"], probe["large"]
    for recipe in record["recipes"][:6]:
        name = recipe["name"]
        if recipe["state"] == "FAILED":
            continue  # in the large report's own table, rendered there
        assert shown[name]["html"] == expected[name]["html"], name
        assert shown[name]["height"] > 0, f"{name} is not visible"
    assert 'href="http://127.0.0.1:5000/projects/CLINICAL/jobs/build_%28%C3%A9%29%2F%20%21%27%2A~_1/"' in (
        shown["window_MEDICATIONS"]["html"].replace("&amp;", "&")
    )
    assert len(shown) == len(record["recipes"])


HOST_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>fo-report-test</title></head>
<body style="margin: 16px">
<div id="host"></div>
<pre id="host-probe"></pre>
<script type="application/json" id="fragment">{fragment}</script>
<script>
var host = document.getElementById("host");
host.innerHTML = JSON.parse(document.getElementById("fragment").textContent);  /* scripts inserted so never run */
if ({run_scripts}) {{  /* then run them the way jQuery's html() does: a copy, appended to the head */
  Array.prototype.forEach.call(host.querySelectorAll("script"), function (old) {{
    var copy = document.createElement("script");
    copy.text = old.textContent;
    document.head.appendChild(copy).parentNode.removeChild(copy);
  }});
}}
var sections = Array.prototype.slice.call(host.querySelectorAll("details.fo-folded"));
sections.forEach(function (s) {{ s.querySelector("summary").click(); }});
document.getElementById("host-probe").textContent = JSON.stringify(sections.map(function (s) {{
  return [s.getAttribute("data-state"), s.open, s.querySelectorAll("tr[data-recipe]").length,
          s.querySelector(".fo-rows-data").hidden, s.querySelector(".fo-rows-data").getBoundingClientRect().height > 0];
}}));
</script>
</body></html>
"""


@pytest.mark.parametrize("run_scripts", [True, False], ids=["scripts-run-out-of-place", "innerHTML-only"])
def test_a_host_page_inserting_a_large_report_shows_its_folded_recipes(tmp_path, run_scripts):
    """Inserted by a host page (as DSS inlines a macro's HTML): when the host runs the report's script out of place
    the sections still open into rows; when scripts never run, an opened section shows its recipes as text lines."""
    fragment = render_build_report(_large_record(), dss_url="http://127.0.0.1:5000")
    page = tmp_path / "host.html"
    embedded = json.dumps(fragment).replace("<", "\\u003c")
    page.write_text(HOST_PAGE.format(fragment=embedded, run_scripts="true" if run_scripts else "false"), "utf-8")
    dom = dump_dom(page)
    found = re.search(r'<pre id="host-probe">(.*?)</pre>', dom, flags=re.S)
    assert found and found.group(1).strip(), "the host page's probe did not run"
    sections = json.loads(html.unescape(found.group(1)))
    if run_scripts:
        expected = [
            ["SKIPPED", True, 1, True, False],
            ["NOT_RUN", True, 1, True, False],
            ["SUCCESS", True, 2007, True, False],
        ]
    else:
        expected = [
            ["SKIPPED", True, 0, False, True],
            ["NOT_RUN", True, 0, False, True],
            ["SUCCESS", True, 0, False, True],
        ]
    assert sections == expected
    assert "data-pwned" not in dom.split("<body", 1)[1].split(">", 1)[0] and "PWNED" not in dom.split("</title>")[0]


def test_failures_beyond_the_listed_ones_open_into_the_rows_the_report_renders(tmp_path, monkeypatch):
    """A large run where more recipes failed than its table lists (here: the table lists none): the failed recipe
    sits in a section of its own, and opening it shows the row a small report renders, error text included."""
    monkeypatch.setattr(report_html, "_MAX_LISTED", 0)
    record = _large_record()
    small = render_build_report(dict(record, recipes=record["recipes"][:6]), dss_url="http://127.0.0.1:5000")
    large = render_build_report(record, dss_url="http://127.0.0.1:5000")
    page = tmp_path / "large-report.html"
    page.write_text(PAGE.format(fragment=small + "\n" + large + FOLD_PROBE), encoding="utf-8")
    dom = dump_dom(page, settle_ms=5000)
    found = re.search(r'<pre id="fold-probe">(.*?)</pre>', dom, flags=re.S)
    assert found and found.group(1).strip(), "the probe did not run after the section opened"
    probe = json.loads(html.unescape(found.group(1)))
    assert probe["injected"] == 0
    assert [(s["state"], s["open"], s["rows"]) for s in probe["after"]] == [
        ("FAILED", True, 1),
        ("SKIPPED", True, 1),
        ("NOT_RUN", True, 1),
        ("SUCCESS", True, 2007),
    ]
    expected, shown = probe["small"], probe["large"]
    assert shown[FAILED]["html"] == expected[FAILED]["html"] and shown[FAILED]["height"] > 0
    assert "Column X not found" in shown[FAILED]["html"]
    assert len(shown) == len(record["recipes"])
