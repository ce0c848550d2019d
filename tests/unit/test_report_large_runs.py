"""A large run's HTML report (over 2,000 recipes): the table lists what needs attention, and the recipes that
succeeded, were skipped or were not run sit in closed sections, one per state, as JSON lines in a <pre> (text for the
browser's parser, readable without scripts) that the report's script turns into table rows when a section opens.
What the rows look like once opened is checked in Chromium (tests/integration/test_report_browser.py)."""

from __future__ import annotations

import html
import json
import re
from unittest import mock

from flow_orchestrator.report import html as report_html
from flow_orchestrator.report import render_build_report
from hypothesis import given, settings

from tests.unit.test_report_html import (
    _HOSTILE_TEXT,
    DSS,
    assert_structurally_safe,
    attempt,
    bars,
    parse,
    recipe,
    rows_by_recipe,
    run_record,
)

FIELDS = ["#", "recipe", "attempts", "duration", "type", "outputs", "job group", "jobs", "details"]
SCRIPT_PAYLOAD = "</script><script>alert(1)</script>"
PRE_PAYLOAD = "</pre><img src=x onerror=alert(1)>"


def large_record(n=2100, *, names=None):
    """``n`` recipes: every 97th fails and the next one is skipped because of it, the last 30 were not run (the
    run was cancelled), the others succeeded; ``names`` renames the first recipes."""
    recipes = []
    for i in range(n):
        start = (i % 50) * 0.7 + (i // 50) * 4.0
        name = f"recipe_{i:04d}"
        if i >= n - 30:
            recipes.append(recipe(name, "NOT_RUN"))
        elif i % 97 == 5:
            recipes.append(recipe(name, "FAILED", [attempt(1, start, start + 3.0, "FAILED")], error="boom"))
        elif i % 97 == 6:
            recipes.append(recipe(name, "SKIPPED", skipped_because=[recipes[-1]["name"]]))
        else:
            recipes.append(recipe(name, "SUCCESS", [attempt(1, start, start + 3.0, "SUCCESS")]))
    for index, name in enumerate(names or ()):
        old = recipes[index]["name"]
        recipes[index]["name"] = name
        for other in recipes:
            other["skipped_because"] = [name if s == old else s for s in other["skipped_because"]]
    return run_record(recipes, "CANCELLED")


def folded(out):
    """{state: (summary, the folded section's attributes, its lines decoded)} in page order."""
    sections = {}
    pattern = (
        r'<details class="fo-folded"([^>]*)><summary>(.*?)</summary>.*?<pre class="fo-log fo-rows-data">(.*?)</pre>'
    )
    for attrs_text, summary, data in re.findall(pattern, out, flags=re.S):
        attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', attrs_text))
        lines = html.unescape(data).split("\n")
        assert json.loads(lines[0]) == FIELDS, "the first line names the fields"
        sections[attrs["data-state"]] = (html.unescape(summary), attrs, [json.loads(line) for line in lines[1:]])
    return sections


def test_a_large_run_lists_what_needs_attention_and_folds_the_rest_by_state():
    record = large_record()
    out = render_build_report(record)
    assert_structurally_safe(out)
    by_state = {}
    for r in record["recipes"]:
        by_state.setdefault(r["state"], []).append(r["name"])
    assert list(rows_by_recipe(out)) == by_state["FAILED"]
    sections = folded(out)
    assert list(sections) == ["SKIPPED", "NOT_RUN", "SUCCESS"]
    assert (
        sections["SKIPPED"][0] == "22 recipes skipped because an upstream recipe failed (a large run: shown on demand)"
    )
    assert sections["NOT_RUN"][0] == "30 recipes not run (a large run: shown on demand)"
    assert sections["SUCCESS"][0] == "2026 recipes that succeeded (a large run: shown on demand)"
    for state, (_summary, attrs, lines) in sections.items():
        assert [line[1] for line in lines] == by_state[state], "every recipe once, in run order"
        assert attrs["data-tone"] == {"SKIPPED": "skip", "NOT_RUN": "skip", "SUCCESS": "ok"}[state]
    # the script that opens them comes once, after them; the sections below the first screen are laid out on demand
    assert out.count("<script>") == 1 and out.index("<script>") > out.rindex('<details class="fo-folded"')
    assert 'class="fo-section fo-recipes fo-deferred"' in out and 'class="fo-section fo-timeline fo-deferred"' in out


def test_folded_lines_hold_what_the_table_rows_show():
    record = large_record()
    success, skipped = record["recipes"][0], record["recipes"][6]
    success.update(
        attempt_history=[
            attempt(1, 0.0, 1.0, "FAILED", job_id="job_a", error="HTTP 503\nfrom source"),
            attempt(2, 2.0, 3.0, "SUCCESS", job_id="job_b"),
        ],
        attempts=2,
        job_ids=["job_a", "job_b"],
        job_group=3,
        partitions="2026-12-01",
        waited_for_jobs=["Build_X_elsewhere"],
        log_excerpt="line 1\nline 2",
        outputs=[{"id": "OUT", "type": "DATASET", "project_key": None}, {"id": "F", "type": "MANAGED_FOLDER"}],
        duration_s=3.0,
        type="python",
    )
    sections = folded(render_build_report(record))
    first = sections["SUCCESS"][2][0]
    assert first == [
        1,
        "recipe_0000",
        2,
        "3.0s",
        "python",
        "OUT, F (managed folder) (partitions 2026-12-01)",
        "job group 3",
        [["job_a", None, "attempt 1"], ["job_b", None, "attempt 2"]],
        {
            "waited_for_jobs": ["Build_X_elsewhere"],
            "retries": "1 retry after: HTTP 503",
            "log": "line 1\nline 2",
        },
    ]
    assert sections["SKIPPED"][2][0] == [
        7,
        skipped["name"],
        0,
        "–",
        "python",
        "RECIPE_0006_OUT",
        "",
        [],
        {"skipped_because": ["recipe_0005"]},
    ]
    assert sections["NOT_RUN"][2][0][7:] == [[]], "nothing to add: no details"


def test_folded_job_links_are_built_by_the_page_from_one_checked_prefix():
    record = large_record()
    sections = folded(render_build_report(record))
    assert {attrs.get("data-job-pages") for _s, attrs, _l in sections.values()} == {DSS + "/projects/CLINICAL/jobs/"}
    assert sections["SUCCESS"][2][0][7] == [["build_recipe_0000_NP_1"]]

    local = folded(render_build_report(record, dss_url=""))  # the local instance: root-relative links
    assert local["SUCCESS"][1]["data-job-pages"] == "/projects/CLINICAL/jobs/"

    record["dss_url"] = None  # no base: each job keeps the record's own link, when it is a safe one
    record["recipes"][0]["job_urls"] = ["https://dss.example.com/projects/CLINICAL/jobs/build_recipe_0000_NP_1/"]
    record["recipes"][1]["job_urls"] = ["javascript:alert(1)"]
    sections = folded(render_build_report(record))
    assert "data-job-pages" not in sections["SUCCESS"][1]
    first, second = sections["SUCCESS"][2][:2]
    assert first[7] == [
        ["build_recipe_0000_NP_1", "https://dss.example.com/projects/CLINICAL/jobs/build_recipe_0000_NP_1/"]
    ]
    assert second[7] == [["build_recipe_0001_NP_1"]]

    hostile = folded(render_build_report(record, dss_url='http://x"><script>alert(1)</script>'))
    assert "data-job-pages" not in hostile["SUCCESS"][1]


def test_hostile_names_in_folded_rows_stay_text():
    names = [
        SCRIPT_PAYLOAD,
        PRE_PAYLOAD,
        "tab\tnew\nline\r\u2028\u2029",
        "&amp; &lt;b&gt;",
        '"quoted" \\ back',
    ]
    record = large_record(names=names)
    record["recipes"][5]["name"] = "failed " + SCRIPT_PAYLOAD  # the failure the next recipe was skipped for
    record["recipes"][6]["skipped_because"] = ["failed " + SCRIPT_PAYLOAD]
    record["recipes"][0]["attempt_history"][0]["job_id"] = "job " + PRE_PAYLOAD
    record["recipes"][1]["log_excerpt"] = "log </script><!-- " + PRE_PAYLOAD
    out = render_build_report(record)
    assert_structurally_safe(out)
    assert "<img" not in out and out.count("<script") == 1 and out.count("</script") == 1
    assert out.count("</pre>") == out.count("<pre "), "no text closed a <pre> early"
    success = {line[1]: line for line in folded(out)["SUCCESS"][2]}
    assert set(names) <= set(success), "each name decodes back to itself"
    assert success[SCRIPT_PAYLOAD][7] == [["job " + PRE_PAYLOAD]]
    assert success[PRE_PAYLOAD][8]["log"] == "log </script><!-- " + PRE_PAYLOAD
    assert folded(out)["SKIPPED"][2][0][8] == {"skipped_because": ["failed " + SCRIPT_PAYLOAD]}


@given(_HOSTILE_TEXT, _HOSTILE_TEXT, _HOSTILE_TEXT)
@settings(max_examples=60, deadline=None)
def test_any_text_in_a_folded_row_stays_text(name, job_id, log):
    with mock.patch.object(report_html, "_LARGE_RUN", 2):  # three recipes make a large run here
        record = large_record(3, names=["first"])
        record["recipes"] = [
            recipe(name, "SUCCESS", [attempt(1, 0.0, 1.0, "SUCCESS", job_id=job_id or "j")], log=log),
            recipe("other", "SUCCESS", [attempt(1, 0.0, 1.0, "SUCCESS")]),
            recipe("third", "SKIPPED", skipped_because=[name]),
        ]
        out = render_build_report(record, dss_url="https://dss.example.com")
    assert_structurally_safe(out)
    sections = folded(out)
    (line, _other) = sections["SUCCESS"][2]
    assert line[1] == name and line[7] == [[job_id or "j"]]
    assert sections["SKIPPED"][2][0][8] == {"skipped_because": [name]}


def test_the_script_cannot_be_cut_short_by_the_page_and_builds_rows_without_markup():
    script = str(report_html._folded_rows_script())
    assert not re.search(r"</script|<!--|<script", script, flags=re.I)
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script and "document.write" not in script
    assert "outerHTML" not in script and "eval(" not in script


def test_a_large_run_where_every_recipe_succeeded_has_no_empty_table():
    record = large_record()
    for r in record["recipes"]:
        r.update(state="SUCCESS", skipped_because=[], error=None)
    record["counts"] = {"SUCCESS": len(record["recipes"])}
    out = render_build_report(record)
    assert_structurally_safe(out)
    assert rows_by_recipe(out) == {} and "<tbody>" not in out
    assert "No recipe failed, timed out or was aborted: every recipe is in a section below." in out
    assert list(folded(out)) == ["SUCCESS"]


def test_a_large_dry_run_keeps_its_plan_view():
    record = large_record()
    for r in record["recipes"]:
        r.update(state="NOT_RUN", attempt_history=[], skipped_because=[])
    record.update(state="PLANNED", dry_run=True)
    out = render_build_report(record)
    assert "fo-folded" not in " ".join(a.get("class", "") for _t, a in parse(out).tags)
    assert "<script" not in out and not bars(out)


def test_a_large_run_zone_headers_count_every_recipe_of_the_zone_not_only_those_listed():
    record = large_record()
    names = [r["name"] for r in record["recipes"]]
    zones = {"ingest": names[:1000], "train": names[1000:]}
    record["plan"] = dict(record.get("plan") or {})
    record["plan"]["zones"] = [
        {"id": f"z{i}", "name": name, "color": "#2ab1ac", "recipes": members}
        for i, (name, members) in enumerate(zones.items())
    ]
    out = render_build_report(record)
    headers = dict(
        re.findall(r'<tr class="fo-layer-row fo-zone-row" data-zone="([^"]*)"><th colspan="7">(.*?)</th>', out)
    )
    assert list(headers) == ["ingest", "train"]
    state_of = {r["name"]: r["state"] for r in record["recipes"]}
    for zone, members in zones.items():
        text = re.sub(r"<[^>]+>", "", headers[zone])
        counts = {}
        for name in members:
            counts[state_of[name]] = counts.get(state_of[name], 0) + 1
        listed = counts.get("FAILED", 0)
        assert text.startswith(f"Zone {zone} · {len(members)} recipes"), text
        for state, n in counts.items():
            assert f" · {n} {state}" in text, (state, text)
        assert text.endswith(f" · {listed} listed here, the others in the sections below"), text
    # the rows under each header are the zone's recipes that need attention, in run order
    assert list(rows_by_recipe(out)) == [n for n in names if state_of[n] == "FAILED"]


def test_a_small_run_zone_headers_say_nothing_of_sections():
    recipes = [
        recipe("a", "SUCCESS", [attempt(1, 0, 1, "SUCCESS")]),
        recipe("b", "FAILED", [attempt(1, 0, 1, "FAILED")]),
    ]
    record = run_record(recipes, "FAILED")
    record["plan"] = dict(record.get("plan") or {})
    record["plan"]["zones"] = [{"id": "z", "name": "all", "color": "", "recipes": ["a", "b"]}]
    out = render_build_report(record)
    header = re.search(r'data-zone="all"><th colspan="7">(.*?)</th>', out).group(1)
    assert re.sub(r"<[^>]+>", "", header) == "Zone all · 2 recipes · 1 SUCCESS · 1 FAILED"


def test_a_large_run_where_most_recipes_failed_lists_a_bounded_table_and_folds_the_rest_of_the_failures():
    """A DSS outage in a 2,600-recipe run: 1,500 recipes failed or timed out. The table lists the first
    ``_MAX_LISTED`` of them in run order; the others sit in closed sections per state, before the skipped ones."""
    recipes = []
    for i in range(2600):
        name = f"recipe_{i:04d}"
        if i < 1400:
            recipes.append(recipe(name, "FAILED", [attempt(1, i * 0.01, i * 0.01 + 1, "FAILED")], error="DSS is down"))
        elif i < 1500:
            recipes.append(recipe(name, "TIMED_OUT", [attempt(1, i * 0.01, i * 0.01 + 1, "ABORTED")]))
        else:
            recipes.append(recipe(name, "SKIPPED", skipped_because=["recipe_0000"]))
    record = run_record(recipes, "FAILED")
    out = render_build_report(record)
    assert_structurally_safe(out)
    limit = report_html._MAX_LISTED
    names = [r["name"] for r in recipes]
    assert list(rows_by_recipe(out)) == names[:limit]
    sections = folded(out)
    assert list(sections) == ["FAILED", "TIMED_OUT", "SKIPPED"]
    summary, attrs, lines = sections["FAILED"]
    assert summary == (
        f"{1400 - limit} more recipes that failed, beyond the first {limit:,} recipes that need attention listed in "
        "the table (a large run: shown on demand)"
    )
    assert [line[1] for line in lines] == names[limit:1400] and attrs["data-tone"] == "fail"
    assert [line[1] for line in sections["TIMED_OUT"][2]] == names[1400:1500]
    assert sections["SKIPPED"][0].startswith("1100 recipes skipped")
    every = [line[1] for _s, _a, lines in sections.values() for line in lines] + list(rows_by_recipe(out))
    assert sorted(every) == sorted(names), "every recipe once, in the table or in a section"


def test_a_large_run_with_zones_lists_only_the_table_rows_under_their_zones_when_failures_overflow():
    recipes = [
        recipe(f"r{i:04d}", "FAILED", [attempt(1, 0, 1, "FAILED")], error="down")
        if i % 2 == 0
        else recipe(f"r{i:04d}", "SUCCESS", [attempt(1, 0, 1, "SUCCESS")])
        for i in range(2 * (report_html._MAX_LISTED + 200))
    ]
    record = run_record(recipes, "FAILED")
    names = [r["name"] for r in recipes]
    record["plan"] = dict(record.get("plan") or {})
    record["plan"]["zones"] = [{"id": "z", "name": "all", "color": "", "recipes": names}]
    out = render_build_report(record)
    header = re.search(r'data-zone="all"><th colspan="7">(.*?)</th>', out).group(1)
    limit = report_html._MAX_LISTED
    failed = limit + 200
    assert re.sub(r"<[^>]+>", "", header) == (
        f"Zone all · {len(names)} recipes · {failed} SUCCESS · {failed} FAILED · {limit} listed here, the others in "
        "the sections below"
    )
    assert len(rows_by_recipe(out)) == limit
