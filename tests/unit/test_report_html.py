"""HTML build and plan reports rendered from plain record/plan dicts (the run-record contract)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser

import pytest
from flow_orchestrator.report import (
    badge,
    dss_job_url,
    environment,
    format_duration,
    html_document,
    render_build_report,
    render_page,
    render_plan_report,
    safe_http_url,
)
from flow_orchestrator.report.html import _folded_rows_script as folded_rows_script
from flow_orchestrator.report.page import stylesheet
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import Markup

T0 = datetime(2026, 11, 25, 12, 34, 56, 123000, tzinfo=timezone.utc)
DSS = "http://127.0.0.1:5000"


def iso(offset_s):
    moment = T0 + timedelta(seconds=offset_s)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def attempt(n, start, end, state, *, job_id=None, error=None, transient=False, retry_after_s=None):
    return {
        "attempt": n,
        "job_id": job_id,
        "started_at": iso(start),
        "ended_at": None if end is None else iso(end),
        "state": state,
        "error": None if error is None else {"message": error, "type": "JobFailed", "transient": transient},
        "retry_after_s": retry_after_s,
    }


def recipe(name, state, attempts=(), *, rtype="python", outputs=None, error=None, log=None, skipped_because=()):
    history = [dict(a, job_id=a["job_id"] or "build_{}_NP_{}".format(name, a["attempt"])) for a in attempts]
    starts = [a["started_at"] for a in history]
    ends = [a["ended_at"] for a in history if a["ended_at"]]
    duration = None
    if history and ends:
        duration = round((_t(ends[-1]) - _t(starts[0])), 3)
    return {
        "name": name,
        "type": rtype,
        "state": state,
        "attempts": len(history),
        "job_ids": [a["job_id"] for a in history],
        "job_urls": [],
        "outputs": outputs
        if outputs is not None
        else [{"id": name.upper() + "_OUT", "type": "DATASET", "project_key": None}],
        "started_at": starts[0] if starts else None,
        "ended_at": ends[-1] if ends else None,
        "duration_s": duration,
        "error": None if error is None else {"message": error, "type": "JobFailed", "transient": False},
        "log_excerpt": log,
        "skipped_because": list(skipped_because),
        "attempt_history": history,
    }


def _t(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def plan_for(names_and_upstream, project_key="CLINICAL", critical=()):
    layer = {}
    recipes = []
    for name, upstream in names_and_upstream:
        layer[name] = 1 + max((layer[u] for u in upstream), default=-1)
        recipes.append(
            {
                "name": name,
                "type": "python",
                "outputs": [{"id": name.upper() + "_OUT", "type": "DATASET", "project_key": None}],
                "inputs": [],
                "upstream": list(upstream),
                "layer": layer[name],
                "expected_duration_s": 2.0,
                "bottom_level_s": 2.0,
            }
        )
    layers = []
    for r in recipes:
        while len(layers) <= r["layer"]:
            layers.append([])
        layers[r["layer"]].append(r["name"])
    return {
        "project_key": project_key,
        "build_mode": "NON_RECURSIVE_FORCED_BUILD",
        "strategy": "per-recipe",
        "recipes": recipes,
        "layers": layers,
        "targets": [],
        "critical_path": list(critical),
        "critical_path_s": 2.0 * len(critical),
        "total_work_s": 2.0 * len(recipes),
        "notes": [],
    }


def run_record(recipes, state, *, plan=None, end=None, dry_run=False, resumed_from=None, project_key="CLINICAL"):
    counts = {s: 0 for s in ("SUCCESS", "FAILED", "SKIPPED", "ABORTED", "TIMED_OUT", "NOT_RUN")}
    for r in recipes:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
    if end is None:
        ends = [_t(r["ended_at"]) - T0.timestamp() for r in recipes if r["ended_at"]]
        end = max(ends, default=0.5) + 0.2
    return {
        "record_version": 1,
        "run_id": "20261125T123456Z-3f9a1c",
        "project_key": project_key,
        "dss_url": DSS,
        "started_at": iso(0),
        "ended_at": None if state == "RUNNING" else iso(end),
        "duration_s": round(end, 3),
        "state": state,
        "dry_run": dry_run,
        "resumed_from": resumed_from,
        "config": {
            "project_key": project_key,
            "build_mode": "NON_RECURSIVE_FORCED_BUILD",
            "strategy": "per-recipe",
            "max_parallel": 4,
            "on_failure": "continue",
            "retries": 2,
            "timeout_s": None,
            "dry_run": dry_run,
        },
        "plan": plan or plan_for([(r["name"], ()) for r in recipes], project_key),
        "counts": counts,
        "recipes": recipes,
    }


def success_record():
    recipes = [
        recipe("prepare_PATIENTS", "SUCCESS", [attempt(1, 0.1, 2.0, "SUCCESS")], rtype="prepare"),
        recipe("group_LAB_RESULTS_AGG", "SUCCESS", [attempt(1, 2.1, 6.0, "SUCCESS")], rtype="grouping"),
        recipe("join_ML_TRAINING_DATA", "SUCCESS", [attempt(1, 6.1, 9.0, "SUCCESS")], rtype="join"),
    ]
    plan = plan_for(
        [
            ("prepare_PATIENTS", ()),
            ("group_LAB_RESULTS_AGG", ("prepare_PATIENTS",)),
            ("join_ML_TRAINING_DATA", ("group_LAB_RESULTS_AGG",)),
        ]
    )
    return run_record(recipes, "SUCCESS", plan=plan)


def three_branch_failure_record():
    """Three branches from one source; the middle branch fails and its two downstream recipes are skipped."""
    recipes = [
        recipe("prepare_PATIENTS", "SUCCESS", [attempt(1, 0.1, 2.0, "SUCCESS")], rtype="prepare"),
        recipe("group_VITALS_AGG", "SUCCESS", [attempt(1, 2.1, 7.0, "SUCCESS")], rtype="grouping"),
        recipe(
            "group_LAB_RESULTS_AGG",
            "FAILED",
            [attempt(1, 2.1, 4.5, "FAILED", error="Column LAB_VALUE not found")],
            rtype="grouping",
            error="Column LAB_VALUE not found",
            log="[12:34:58] INFO Starting\n[12:35:00] ERROR Column LAB_VALUE not found in input LAB_RESULTS",
        ),
        recipe("window_MEDICATIONS", "SUCCESS", [attempt(1, 2.2, 5.0, "SUCCESS")], rtype="window"),
        recipe("join_ML_TRAINING_DATA", "SKIPPED", rtype="join", skipped_because=["group_LAB_RESULTS_AGG"]),
        recipe("score_RISK", "SKIPPED", rtype="prediction_scoring", skipped_because=["group_LAB_RESULTS_AGG"]),
    ]
    plan = plan_for(
        [
            ("prepare_PATIENTS", ()),
            ("group_VITALS_AGG", ("prepare_PATIENTS",)),
            ("group_LAB_RESULTS_AGG", ("prepare_PATIENTS",)),
            ("window_MEDICATIONS", ("prepare_PATIENTS",)),
            ("join_ML_TRAINING_DATA", ("group_LAB_RESULTS_AGG", "group_VITALS_AGG")),
            ("score_RISK", ("join_ML_TRAINING_DATA",)),
        ],
        critical=("prepare_PATIENTS", "group_LAB_RESULTS_AGG", "join_ML_TRAINING_DATA", "score_RISK"),
    )
    return run_record(recipes, "FAILED", plan=plan)


def retries_record():
    recipes = [
        recipe(
            "sync_EXTERNAL",
            "SUCCESS",
            [
                attempt(1, 0.1, 1.0, "FAILED", error="HTTP 503 from source", transient=True, retry_after_s=2.0),
                attempt(2, 3.0, 4.0, "FAILED", error="HTTP 503 from source", transient=True, retry_after_s=4.0),
                attempt(3, 8.0, 9.5, "SUCCESS"),
            ],
            rtype="sync",
        ),
    ]
    return run_record(recipes, "SUCCESS")


def timeout_record():
    recipes = [
        recipe(
            "python_SLOW_MODEL",
            "TIMED_OUT",
            [attempt(1, 0.1, 60.1, "TIMED_OUT", error="Timed out after 1m 00s")],
            error="Timed out after 1m 00s: job aborted",
        ),
        recipe("export_REPORT", "SKIPPED", skipped_because=["python_SLOW_MODEL"]),
    ]
    return run_record(recipes, "FAILED")


def dry_run_record():
    plan = plan_for(
        [("a_PREP", ()), ("b_LEFT", ("a_PREP",)), ("c_RIGHT", ("a_PREP",)), ("d_JOIN", ("b_LEFT", "c_RIGHT"))],
        critical=("a_PREP", "b_LEFT", "d_JOIN"),
    )
    recipes = [recipe(r["name"], "NOT_RUN") for r in plan["recipes"]]
    record = run_record(recipes, "PLANNED", plan=plan, dry_run=True, end=0.05)
    record["counts"] = {"NOT_RUN": 4}
    return record


def thousand_record(n=1000):
    recipes = []
    for i in range(n):
        start = (i % 50) * 0.7 + (i // 50) * 4.0
        state = "FAILED" if i % 97 == 5 else "SUCCESS"
        recipes.append(
            recipe(
                f"recipe_{i:04d}_compute_SOMETHING",
                state,
                [attempt(1, start, start + 3.0, state)],
                error="boom" if state == "FAILED" else None,
            )
        )
    return run_record(recipes, "FAILED")


# ---------------------------------------------------------------------------------------------- HTML inspection


class _Collector(HTMLParser):
    """Every start tag with its attributes, plus the raw text of <style> and <script> elements."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags = []
        self.styles = []
        self.scripts = []
        self._in = None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in = {"style": self.styles, "script": self.scripts}.get(tag)
        if self._in is not None:
            self._in.append("")

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag in ("style", "script"):
            self._in = None

    def handle_data(self, data):
        if self._in is not None:
            self._in[-1] += data


ALLOWED_TAGS = {
    "div",
    "style",
    "header",
    "h2",
    "h3",
    "p",
    "section",
    "strong",
    "span",
    "ol",
    "ul",
    "li",
    "pre",
    "details",
    "summary",
    "dl",
    "dt",
    "dd",
    "table",
    "thead",
    "tbody",
    "colgroup",
    "col",
    "tr",
    "th",
    "td",
    "code",
    "a",
    "br",
    "svg",
    "text",
    "title",
    "line",
    "rect",
}


def parse(html_text):
    collector = _Collector()
    collector.feed(html_text)
    collector.close()
    return collector


def assert_structurally_safe(html_text):
    """Only our own tags, no event handler attributes, only http(s) links, exactly one <style> (ours), and no
    <script> but ours (a large run's, at most one)."""
    doc = parse(html_text)
    tags = {t for t, _ in doc.tags}
    assert tags - {"script"} <= ALLOWED_TAGS, tags - ALLOWED_TAGS
    assert doc.scripts in ([], [str(folded_rows_script())]), "a <script> that is not the report's own"
    for tag, attrs in doc.tags:
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name, value)
            assert name != "style", (tag, name)
            assert name != "src", (tag, name)
        if "href" in attrs:
            assert re.match(r"^https?://[^\s\"'<>]+$", attrs["href"]), attrs["href"]
    assert len(doc.styles) == 1
    assert doc.styles[0].strip() == str(stylesheet())
    return doc


def rows_by_recipe(html_text):
    return {
        attrs["data-recipe"]: attrs for tag, attrs in parse(html_text).tags if tag == "tr" and "data-recipe" in attrs
    }


def bars(html_text):
    return [attrs for tag, attrs in parse(html_text).tags if tag == "rect" and "fo-bar" in attrs.get("class", "")]


# ---------------------------------------------------------------------------------------------- build report


def test_success_run_shows_banner_counts_timeline_and_rows():
    out = render_build_report(success_record())
    assert_structurally_safe(out)
    assert out.startswith('<div class="fo-report">')
    assert "All 3 recipes built successfully in 9.2s." in out
    assert "fo-failures" not in out
    assert [b["data-recipe"] for b in bars(out)] == [
        "prepare_PATIENTS",
        "group_LAB_RESULTS_AGG",
        "join_ML_TRAINING_DATA",
    ]
    rows = rows_by_recipe(out)
    assert list(rows) == ["prepare_PATIENTS", "group_LAB_RESULTS_AGG", "join_ML_TRAINING_DATA"]
    assert all(r["data-state"] == "SUCCESS" for r in rows.values())
    assert "Run 20261125T123456Z-3f9a1c" in out and "CLINICAL" in out
    assert "2026-11-25 12:34:56 UTC" in out


def test_bars_are_placed_relative_to_run_start():
    out = render_build_report(success_record())
    first, second, third = bars(out)
    run_span = 9.0 + 0.2  # last end + 0.2 s until the run ended
    assert float(first["x"].rstrip("%")) == pytest.approx(100 * 0.1 / run_span, abs=0.01)
    assert float(second["x"].rstrip("%")) == pytest.approx(100 * 2.1 / run_span, abs=0.01)
    assert float(third["width"].rstrip("%")) == pytest.approx(100 * 2.9 / run_span, abs=0.01)


def test_a_polling_outage_is_shown_on_the_bar_of_the_attempt_it_delayed():
    record = success_record()
    record["recipes"][1]["attempt_history"][0]["status_gap_s"] = 166.0
    out = render_build_report(record)
    assert_structurally_safe(out)
    titles = [t for t in re.findall(r"<title>(.*?)</title>", out, re.S) if "group_LAB_RESULTS_AGG" in t]
    assert any("no status request for 2m 46s" in t and "noticed late" in t for t in titles), titles
    assert sum("no status request" in t for t in re.findall(r"<title>(.*?)</title>", out, re.S)) == 1


def test_failure_comes_first_with_error_log_and_the_recipes_it_skipped():
    out = render_build_report(three_branch_failure_record(), dss_url="https://dss.example.com")
    assert_structurally_safe(out)
    assert "1 of 6 recipes failed; 2 skipped, 3 succeeded." in out
    failures_at = out.index('class="fo-section fo-failures"')
    assert failures_at < out.index('class="fo-section fo-summary"') < out.index('class="fo-section fo-timeline"')
    failure_block = out[failures_at : out.index('class="fo-section fo-summary"')]
    assert "group_LAB_RESULTS_AGG" in failure_block
    assert "Column LAB_VALUE not found" in failure_block
    assert "Not run because of it: <code>join_ML_TRAINING_DATA</code>, <code>score_RISK</code>" in failure_block
    assert "<details open><summary>Log excerpt</summary>" in failure_block
    assert 'href="https://dss.example.com/projects/CLINICAL/jobs/build_group_LAB_RESULTS_AGG_NP_1/"' in failure_block

    rows = rows_by_recipe(out)
    assert rows["group_LAB_RESULTS_AGG"]["class"] == "fo-recipe-row fo-row-fail"
    assert rows["join_ML_TRAINING_DATA"]["data-state"] == "SKIPPED"
    assert rows["score_RISK"]["data-state"] == "SKIPPED"
    assert out.count("Skipped because <code>group_LAB_RESULTS_AGG</code> failed.") == 2
    assert "skipped: group_LAB_RESULTS_AGG failed" in out  # note on the timeline rows that have no bar
    assert len(bars(out)) == 4


def test_parallel_branches_overlap_on_the_timeline():
    out = render_build_report(three_branch_failure_record())
    spans = {b["data-recipe"]: (float(b["x"][:-1]), float(b["x"][:-1]) + float(b["width"][:-1])) for b in bars(out)}
    vitals, lab = spans["group_VITALS_AGG"], spans["group_LAB_RESULTS_AGG"]
    assert vitals[0] < lab[1] and lab[0] < vitals[1]


def test_job_links_use_the_record_dss_url_when_none_is_given():
    out = render_build_report(three_branch_failure_record())
    assert 'href="http://127.0.0.1:5000/projects/CLINICAL/jobs/build_prepare_PATIENTS_NP_1/"' in out
    assert 'href="http://127.0.0.1:5000/projects/CLINICAL/flow/"' in out


def test_retries_show_one_bar_per_attempt_and_the_waits_between_them():
    out = render_build_report(retries_record())
    assert [b["data-state"] for b in bars(out)] == ["FAILED", "FAILED", "SUCCESS"]
    waits = [a for t, a in parse(out).tags if t == "line" and a.get("class") == "fo-wait"]
    assert len(waits) == 2
    assert "sync_EXTERNAL: waited 2.0s before attempt 2" in out
    assert "sync_EXTERNAL: waited 4.0s before attempt 3" in out
    assert "2 retries after: HTTP 503 from source" in out
    assert ">attempt 1</span>" in out and ">attempt 3</span>" in out
    assert "fo-failures" not in out  # succeeded in the end: not a failure


def test_timeout_is_reported_as_a_failure_with_its_own_state():
    out = render_build_report(timeout_record())
    assert "1 of 2 recipes failed (1 timed out); 1 skipped." in out
    assert '<span class="fo-badge fo-tone-warn">TIMED OUT</span>' in out
    assert rows_by_recipe(out)["python_SLOW_MODEL"]["class"] == "fo-recipe-row fo-row-warn"
    assert "Timed out after 1m 00s: job aborted" in out


def test_dry_run_shows_the_plan_by_layers_instead_of_a_timeline():
    out = render_build_report(dry_run_record())
    assert_structurally_safe(out)
    assert "Build plan of CLINICAL (dry run)" in out
    assert "Dry run: 4 recipes in 3 layers would run; nothing was built." in out
    assert 'class="fo-tl-bars"' not in out and not bars(out)
    assert out.index("Layer 0") < out.index("Layer 1") < out.index("Layer 2")
    critical_rows = [a for t, a in parse(out).tags if t == "tr" and "fo-critical" in a.get("class", "")]
    assert len(critical_rows) == 3
    assert "<code>a_PREP</code> → <code>b_LEFT</code> → <code>d_JOIN</code>" in out


def test_render_plan_report_from_a_plan_dict():
    plan = dry_run_record()["plan"]
    plan["notes"] = ["Reordered: c_RIGHT runs before b_LEFT in the Flow"]
    out = render_plan_report(plan)
    assert_structurally_safe(out)
    assert "Build plan of CLINICAL" in out and "Layer 2 · 1 recipe" in out and "Layer 1 · 2 recipes" in out
    assert "Reordered: c_RIGHT runs before b_LEFT in the Flow" in out
    assert "Waits for" in out and "b_LEFT, c_RIGHT" in out


def test_resumed_run_names_the_run_it_resumed():
    record = success_record()
    record["resumed_from"] = "20261124T010000Z-aaaaaa"
    out = render_build_report(record)
    assert "<dt>Resumed from run</dt><dd>20261124T010000Z-aaaaaa</dd>" in out


def test_running_record_draws_unfinished_attempts_to_the_horizon():
    recipes = [recipe("long_RUNNING", "RUNNING", [attempt(1, 0.5, None, "RUNNING")]), recipe("next_ONE", "NOT_RUN")]
    record = run_record(recipes, "RUNNING", end=10.0)
    out = render_build_report(record)
    (bar,) = bars(out)
    assert bar["data-state"] == "RUNNING"
    assert float(bar["x"][:-1]) + float(bar["width"][:-1]) == pytest.approx(100.0, abs=0.01)
    assert "Running: 0 of 2 recipes finished so far." in out
    assert "still running" in out


def test_minimal_and_odd_records_still_render():
    out = render_build_report({"recipes": [{"name": "x"}, "not a recipe", {"name": 3, "state": None, "attempts": "2"}]})
    assert_structurally_safe(out)
    assert "No DSS job was started in this run." in out
    out = render_build_report(
        {
            "state": "SUCCESS",
            "started_at": "garbage",
            "recipes": [{"name": "x", "state": "SUCCESS", "attempt_history": [{"started_at": "not a time"}, "junk"]}],
        }
    )
    assert_structurally_safe(out)


def test_a_thousand_recipes_render_compactly():
    record = thousand_record()
    out = render_build_report(record)
    assert_structurally_safe(out)
    assert len(bars(out)) == 1000
    assert len(rows_by_recipe(out)) == 1000
    assert 'class="fo-tl-body fo-tl-rows-12"' in out  # compact rows
    assert 'height="12000"' in out
    assert len(out.encode("utf-8")) < 2_000 * 1000  # under 2 kB per recipe, timeline and table together
    assert "… and 0 more" not in out
    assert out.count('class="fo-failure"') == len([r for r in record["recipes"] if r["state"] == "FAILED"])


def test_a_large_run_draws_what_did_not_succeed_and_lists_what_needs_attention():
    """Over 2,000 recipes the timeline draws every recipe that did not succeed and the longest successful ones
    (500 rows), and the table lists the failed recipes; the others are in closed sections (test_report_large_runs)."""
    record = thousand_record(3000)
    record["recipes"][7]["name"] = "<img src=x onerror=alert(1)>"
    record["recipes"][7]["state"] = "SUCCESS"
    record["recipes"][7]["duration_s"] = 999.0  # the longest: drawn
    out = render_build_report(record)
    assert_structurally_safe(out)
    failed = [r["name"] for r in record["recipes"] if r["state"] == "FAILED"]
    drawn = {b["data-recipe"] for b in bars(out)}
    assert len(drawn) == 500 and set(failed) <= drawn and "<img src=x onerror=alert(1)>" in drawn
    assert "the timeline draws 500 of the 3000 recipes" in out
    assert list(rows_by_recipe(out)) == failed
    assert "2969 recipes that succeeded" in out
    assert "<img src=x" not in out


def test_a_run_of_two_thousand_recipes_is_not_large():
    out = render_build_report(thousand_record(2000))
    classes = " ".join(a.get("class", "") for _, a in parse(out).tags).split()
    assert not {"fo-folded", "fo-tl-partial", "fo-deferred"} & set(classes)
    assert "<script" not in out
    assert len(bars(out)) == 2000 and len(rows_by_recipe(out)) == 2000


def test_many_failures_are_capped_in_the_failure_section():
    recipes = [recipe(f"r{i}", "FAILED", [attempt(1, i, i + 1, "FAILED")], error=f"e{i}") for i in range(25)]
    out = render_build_report(run_record(recipes, "FAILED"))
    assert out.count('class="fo-failure"') == 20
    assert "… and 5 more failed recipes in the table below." in out
    assert "<details><summary>Log excerpt</summary>" not in out.split("fo-failures")[1].split("fo-summary")[0]


# ---------------------------------------------------------------------------------------------- escaping

PAYLOADS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "</style><b>x</b>",
    "javascript:alert(1)",
    "'><svg onload=alert(1)>",
    "</title></text></svg><img src=x onerror=alert(2)>",
    "{{ 7*7 }}{% raw %}",
]


def xss_record(payload):
    record = three_branch_failure_record()
    failed = record["recipes"][2]
    failed["name"] = "group_" + payload
    failed["type"] = payload
    failed["error"] = {"message": "failed: " + payload, "type": payload, "transient": False}
    failed["log_excerpt"] = "log line\n" + payload
    failed["outputs"] = [{"id": "DS_" + payload, "type": "DATASET", "project_key": payload}]
    for a in failed["attempt_history"]:
        a["job_id"] = "job_" + payload
        a["error"] = {"message": payload, "type": None, "transient": False}
    failed["job_ids"] = ["job_" + payload]
    failed["job_urls"] = [payload]
    for skipped in record["recipes"][4:]:
        skipped["skipped_because"] = [failed["name"]]
    record["recipes"][0]["name"] = payload
    record["run_id"] = payload
    record["resumed_from"] = payload
    record["plan"]["notes"] = [payload]
    failed["partitions"] = payload  # a partition spec is the user's text too (value dimensions take any id)
    record.setdefault("config", {}).setdefault("options", {})["partitions"] = payload
    return record


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payloads_are_escaped_everywhere(payload):
    record = xss_record(payload)
    for out in (render_build_report(record), render_build_report(record, dss_url=payload)):
        assert_structurally_safe(out)
        assert "<script" not in out and "<img" not in out and "<svg onload" not in out and "<b>" not in out
        assert out.count("</style>") == 1
        assert "7*7" not in payload or "{{ 7*7 }}" in out  # rendered as text, never evaluated
    dry = dict(record, state="PLANNED", dry_run=True)
    assert_structurally_safe(render_build_report(dry))
    assert_structurally_safe(render_plan_report(record["plan"]))


_HOSTILE_TEXT = st.lists(
    st.sampled_from(
        list("<>\"'&/=:;{}%#`\\ \n\tabcxyz()!-")
        + [
            "</style>",
            "<script>",
            "javascript:",
            "onerror=",
            "]]>",
            "<!--",
            "\u202e",
            "\x00",
            "</title>",
            "</svg>",
            "{{",
        ]
    ),
    max_size=20,
).map("".join)


@given(_HOSTILE_TEXT, _HOSTILE_TEXT, _HOSTILE_TEXT, _HOSTILE_TEXT)
@settings(max_examples=60, deadline=None)
def test_any_text_in_a_record_stays_text(name, error, log, job_id):
    record = xss_record("x")
    failed = record["recipes"][2]
    failed["name"], failed["log_excerpt"] = name, log
    failed["error"] = {"message": error, "type": job_id, "transient": True}
    failed["attempt_history"][0]["job_id"] = job_id
    record["recipes"][4]["skipped_because"] = [name]
    out = render_build_report(record, dss_url="https://dss.example.com")
    assert_structurally_safe(out)
    assert sum(1 for t, a in parse(out).tags if t == "tr" and "data-recipe" in a) == 6


def test_escaped_text_is_still_readable():
    out = render_build_report(xss_record("<script>alert(1)</script>"))
    assert "group_&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert "failed: &lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert "log line\n&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert "(partitions &lt;script&gt;alert(1)&lt;/script&gt;)" in out


def test_job_ids_are_quoted_into_the_job_url_path():
    out = render_build_report(xss_record('"><img src=x onerror=alert(1)>'), dss_url="https://dss.example.com/")
    hrefs = [a["href"] for t, a in parse(out).tags if t == "a"]
    assert (
        "https://dss.example.com/projects/CLINICAL/jobs/job_%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E/"
        in hrefs
    )


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        " javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:x",
        'http://x/"onmouseover=alert(1)',
        "http:///nohost",
        "//evil.example.com",
        "ftp://dss.example.com",
        "http://exa mple.com",
        "http://exa\nmple.com",
        "http://example.com/\x00",
        "http://[::1",
        None,
        42,
    ],
)
def test_unsafe_dss_urls_give_no_links(url):
    record = success_record()
    record["dss_url"] = url
    for r in record["recipes"]:
        r["job_urls"] = [url]
    out = render_build_report(record, dss_url=url)
    assert not [a for t, a in parse(out).tags if t == "a"]
    assert safe_http_url(url) is None


def test_credentials_in_the_dss_url_never_reach_the_report():
    out = render_build_report(success_record(), dss_url="https://admin:s3cr3t-key@dss.example.com:11200")
    assert "s3cr3t" not in out and "admin" not in out
    assert 'href="https://dss.example.com:11200/projects/CLINICAL/jobs/build_prepare_PATIENTS_NP_1/"' in out


@given(st.text())
def test_safe_http_url_only_returns_plain_http_urls(text):
    result = safe_http_url(text)
    if result is not None:
        assert re.match(r"^https?://[^\s\"'<>`\\@]+$", result), result


@given(st.text(), st.text(min_size=1))
def test_job_urls_stay_under_the_dss_base(project_key, job_id):
    url = dss_job_url("https://dss.example.com", project_key or "P", job_id)
    assert url.startswith("https://dss.example.com/projects/")
    assert re.match(r"^https://dss\.example\.com/projects/[^/?#]+/jobs/[^/?#]+/$", url), url


# ---------------------------------------------------------------------------------------------- shared blocks


def test_css_is_scoped_under_the_report_root_and_self_contained():
    css = str(stylesheet())
    assert "@import" not in css and "url(" not in css and "<" not in css
    rules = re.findall(r"([^{}]+)\{[^{}]*\}", css)
    assert len(rules) > 50
    for selectors in rules:
        for selector in selectors.split(","):
            assert selector.strip().startswith(".fo-report"), selector


def test_render_page_escapes_title_and_subtitle_and_keeps_the_body():
    out = render_page("<b>T</b>", Markup("<p class='x'>body</p>"), subtitle="<i>s</i>")
    assert "&lt;b&gt;T&lt;/b&gt;" in out and "&lt;i&gt;s&lt;/i&gt;" in out and "<p class='x'>body</p>" in out
    assert out.startswith('<div class="fo-report">') and out.rstrip().endswith("</div>")


def test_badge_shows_state_as_text_and_escapes_it():
    assert badge("SUCCESS") == Markup('<span class="fo-badge fo-tone-ok">SUCCESS</span>')
    assert badge("NOT_RUN") == Markup('<span class="fo-badge fo-tone-skip">NOT RUN</span>')
    assert badge("<x>") == Markup('<span class="fo-badge fo-tone-other">&lt;x&gt;</span>')
    assert badge(None) == Markup('<span class="fo-badge fo-tone-other">UNKNOWN</span>')


def test_base_macros_for_other_reports_escape_cells():
    template = environment().from_string(
        '{% import "_base.html" as fo %}{{ fo.table(["Dataset", "Result"], rows, numeric=(1,)) }}'
        '{{ fo.facts([("Source", src, url)]) }}{{ fo.counts([("PASS", 2), ("FAIL", 1)]) }}'
    )
    out = template.render(
        rows=[{"cells": ["<DS>", badge("FAIL")], "class": "fo-row-fail"}, {"cells": ["ok", badge("PASS")]}],
        src="<src>",
        url=safe_http_url("https://dss.example.com/projects/P/"),
    )
    assert "<td>&lt;DS&gt;</td>" in out
    assert '<td class="fo-num"><span class="fo-badge fo-tone-fail">FAIL</span></td>' in out
    assert '<tr class="fo-row-fail">' in out
    assert (
        '<a href="https://dss.example.com/projects/P/" target="_blank" rel="noopener noreferrer">&lt;src&gt;</a>' in out
    )
    page = render_page("Verify", out)
    assert_structurally_safe(page)


def test_html_document_wraps_a_fragment_in_a_full_page():
    fragment = render_build_report(success_record())
    page = html_document(fragment, title="<Build>")
    assert page.startswith("<!DOCTYPE html>") and "<title>&lt;Build&gt;</title>" in page and fragment in page


@pytest.mark.parametrize(
    "seconds, text",
    [
        (None, "–"),
        ("3", "–"),
        (True, "–"),
        (float("nan"), "–"),
        (-1, "0.0s"),
        (0.44, "0.4s"),
        (59.94, "59.9s"),
        (125, "2m 05s"),
        (59.96, "1m 00s"),
        (3599.6, "1h 00m"),
        (3720, "1h 02m"),
    ],
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


# ---------------------------------------------------------------------------------------------- contract


def test_run_options_from_the_record_config_are_listed():
    record = success_record()
    record["config"]["timeout_s"] = 1800.0
    out = render_build_report(record)
    for fact in (
        "<dt>Max parallel jobs</dt><dd>4</dd>",
        "<dt>On failure</dt><dd>continue</dd>",
        "<dt>Retries per recipe</dt><dd>2</dd>",
        "<dt>Timeout per attempt</dt><dd>30m 00s</dd>",
        "<dt>Build mode</dt><dd>NON_RECURSIVE_FORCED_BUILD</dd>",
        "<dt>Strategy</dt><dd>per-recipe</dd>",
    ):
        assert fact in out


def test_record_job_urls_are_used_when_no_dss_url_is_known():
    record = retries_record()
    record["dss_url"] = None
    (only,) = record["recipes"]
    only["job_urls"] = [None, "https://dss.example.com/projects/CLINICAL/jobs/second/", "javascript:alert(1)"]
    hrefs = [a["href"] for t, a in parse(render_build_report(record)).tags if t == "a"]
    assert hrefs == ["https://dss.example.com/projects/CLINICAL/jobs/second/"]


def test_renders_a_record_built_by_the_record_module():
    """Guards the contract: a RunRecord.to_dict() (with its exact shapes) renders with bars, errors and skips."""
    from flow_orchestrator.plan import BuildPlan, PlannedRecipe
    from flow_orchestrator.port import OutputRef
    from flow_orchestrator.record import Attempt, RecipeError, new_record

    plan = BuildPlan(
        project_key="CLINICAL",
        recipes=(
            PlannedRecipe("prep", "prepare", (OutputRef("PREP"),)),
            PlannedRecipe("agg", "grouping", (OutputRef("AGG"),), upstream=("prep",), layer=1),
            PlannedRecipe("join", "join", (OutputRef("JOINED"),), upstream=("agg",), layer=2),
        ),
        critical_path=("prep", "agg", "join"),
    )
    record = new_record(plan, started=T0, dss_url=DSS, config_dict={"max_parallel": 2})
    prep, agg, join = record.recipes
    prep.state, prep.attempts, prep.job_ids = "SUCCESS", 1, ["job_prep"]
    prep.attempt_history = [Attempt(1, "job_prep", iso(0.1), iso(2.0), "SUCCESS")]
    agg.state, agg.attempts, agg.job_ids = "FAILED", 1, ["job_agg"]
    agg.error = RecipeError("Column X not found", "JobFailed")
    agg.attempt_history = [Attempt(1, "job_agg", iso(2.1), iso(3.0), "FAILED", error=agg.error)]
    join.state, join.skipped_because = "SKIPPED", ["agg"]
    record.state, record.ended_at, record.duration_s = "FAILED", iso(3.2), 3.2
    out = render_build_report(record.to_dict())
    assert_structurally_safe(out)
    assert [b["data-recipe"] for b in bars(out)] == ["prep", "agg"]
    assert "1 of 3 recipes failed; 1 skipped, 1 succeeded." in out
    assert "Skipped because <code>agg</code> failed." in out
    assert 'href="http://127.0.0.1:5000/projects/CLINICAL/jobs/job_agg/"' in out

    dry = new_record(plan, started=T0, dry_run=True).to_dict()
    out = render_build_report(dry)
    assert "Dry run: 3 recipes in 3 layers would run; nothing was built." in out
    assert out.count('<tr class="fo-plan-row fo-critical">') == 3


def test_a_recipe_that_waited_for_a_job_started_elsewhere_says_which_escaped():
    record = success_record()
    record["recipes"][1]["waited_for_jobs"] = ["Build_LAB_2026-12-06T21-40-00.123", "<script>alert(1)</script>"]
    out = render_build_report(record)
    assert_structurally_safe(out)
    assert "Waited for DSS jobs <code>Build_LAB_2026-12-06T21-40-00.123</code>, <code>&lt;script&gt;" in out
    assert "they were building an output of this recipe" in out
    assert out.count("Waited for DSS job") == 1  # only the recipe that waited
