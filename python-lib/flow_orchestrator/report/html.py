"""HTML renderings of a run record or a plan: self-contained fragments for DSS macro results and ``--html`` files.

Everything here is pure: plain dicts in (the run record of ``record.py`` / ``BuildPlan.to_dict()``), a string out.
Templates use Jinja2 with autoescape on, so every value from a record (names, errors, logs, job ids) is escaped;
links are only ever built from http(s) URLs. A large run's report carries one script of our own
(``templates/folded_rows.js``), which builds its folded rows with DOM calls only.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
from datetime import datetime, timezone
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple
from urllib.parse import quote

from markupsafe import Markup

from ..grouping import shared_groups
from ..states import FAILED_BY_ITSELF, SHOWN_ORDER, RecipeState
from ..text import format_duration, plural
from .page import (
    TEMPLATES_DIR,
    badge,
    dss_job_url,
    dss_jobs_url,
    link_base,
    render_page,
    render_template,
    safe_link,
    state_tone,
)
from .schema_html import render_diffs
from .terminal import job_group_label
from .verify_html import render_results_table

_GLYPHS = {"ok": "✓", "fail": "✗", "warn": "!", "aborted": "⊘", "skip": "–", "info": "…", "other": "•"}
_TICK_STEPS_S = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200)
_MAX_FAILURES_LISTED = 20
_MAX_CAUSED_SKIPS_LISTED = 10
_MIN_BAR_PCT = 0.25
#: A run with more recipes is a large run: its timeline draws only the recipes that did not succeed and the longest
#: of those that did (``_TIMELINE_ROWS`` rows in all), and its table shows only the recipes that need attention; the
#: others sit in one closed section per state (``_FOLDED``), as data the browser loads as text and turns into rows
#: when the section is opened, so that a 20,000-recipe report opens in about a second (bench ``report_open``).
_LARGE_RUN = 2000
_TIMELINE_ROWS = 500
_FOLDED = (
    (RecipeState.SKIPPED.value, "skipped because an upstream recipe failed"),
    (RecipeState.NOT_RUN.value, "not run"),
    (RecipeState.SUCCESS.value, "that succeeded"),
)
_FOLDED_STATES = frozenset(state for state, _words in _FOLDED)
#: A large run's table lists at most this many recipes that need attention (in run order); when more failed (DSS
#: down for part of the run), the others sit in closed sections per state too, before the ones above.
_MAX_LISTED = 1000
_ATTENTION_WORDS = {
    RecipeState.FAILED.value: "that failed",
    RecipeState.TIMED_OUT.value: "that timed out",
    RecipeState.ABORTED.value: "that were aborted",
}
#: What each line of a folded section holds (its first line says so, for readers without scripts).
_FOLDED_FIELDS = ("#", "recipe", "attempts", "duration", "type", "outputs", "job group", "jobs", "details")
_HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


# ---------------------------------------------------------------------------------------------- build report


def render_build_report(record: Mapping[str, Any], *, dss_url: Optional[str] = None) -> str:
    """The HTML report of a run record (the contract's dict): failures first, counts, timeline, one row per recipe.

    Job ids link to ``{dss_url}/projects/{project_key}/jobs/{job_id}/``; without ``dss_url`` the record's own
    ``dss_url`` is used. A dry run (state PLANNED) shows the plan by layers instead of a timeline.
    """
    project_key = _text(record.get("project_key")) or "?"
    base_url = dss_url if dss_url is not None else record.get("dss_url")
    recipes = [r for r in (record.get("recipes") or []) if isinstance(r, Mapping)]
    state = _text(record.get("state")) or "UNKNOWN"
    dry_run = state == "PLANNED" or bool(record.get("dry_run"))

    rows = [_recipe_row(i + 1, r, project_key, base_url) for i, r in enumerate(recipes)]
    large = len(rows) > _LARGE_RUN and not dry_run
    shown, folded = rows, []
    if large:
        job_pages = dss_jobs_url(base_url, project_key)
        attention = [r for r in rows if r["state"] not in _FOLDED_STATES]
        # most of the run failed (DSS down): the table stays a table, the other failures fold like the rest
        shown, overflow = attention[:_MAX_LISTED], attention[_MAX_LISTED:]
        folded = _folded_sections(overflow, job_pages, _overflow_kinds(overflow), noun="more recipe")
        folded += _folded_sections(rows, job_pages, _FOLDED)
    counts = _counts(record, recipes)
    plan_dict = record.get("plan") if isinstance(record.get("plan"), Mapping) else None
    plan_view = _plan_view(plan_dict, run_facts=False) if dry_run and plan_dict else None

    failures = [r for r in rows if r["state"] in FAILED_BY_ITSELF]
    caused = _caused_skips(recipes)
    for failure in failures:
        names = caused.get(failure["name"], [])
        failure["caused_skips"] = names[:_MAX_CAUSED_SKIPS_LISTED]
        failure["caused_skips_more"] = max(0, len(names) - _MAX_CAUSED_SKIPS_LISTED)

    propagation = record.get("propagation") if isinstance(record.get("propagation"), Mapping) else None
    verification = record.get("verification") if isinstance(record.get("verification"), Mapping) else None
    headline = _headline(record, state, dry_run, counts, len(recipes), plan_view)
    headline = _steps_headline(headline, propagation, verification, counts, len(recipes), dry_run)
    body = render_template(
        "build.html",
        banner={
            "state": "PLANNED" if dry_run else state,
            "tone": state_tone("PLANNED" if dry_run else state),
            "headline": headline,
        },
        step_problems=_step_problems(propagation, verification),
        schema_section=_schema_section(propagation),
        checks_section=_checks_section(verification),
        failures=failures[:_MAX_FAILURES_LISTED],
        failures_more=max(0, len(failures) - _MAX_FAILURES_LISTED),
        open_logs=len(failures) <= 3,
        counts=counts,
        facts=_run_facts(record, project_key, base_url),
        plan=plan_view,
        timeline=None if dry_run else _timeline(record, _timeline_recipes(recipes) if large else recipes),
        rows=shown,
        folded=folded,
        folded_rows_script=_folded_rows_script() if folded else "",
        zone_groups=_zone_groups(plan_dict, rows, shown) if not dry_run else [],
    )
    if dry_run:
        title = f"Build plan of {project_key} (dry run)"
    else:
        title = f"Build of {project_key}"
    subtitle = "Run {}".format(_text(record.get("run_id")) or "?")
    started = _display_time(record.get("started_at"))
    if started:
        subtitle += f" · started {started}"
    return render_page(title, body, subtitle=subtitle)


# ---------------------------------------------------------------------------- propagate first, verify after build


def _steps_headline(
    headline: str,
    propagation: Optional[Mapping[str, Any]],
    verification: Optional[Mapping[str, Any]],
    counts,
    n_recipes: int,
    dry_run: bool,
) -> str:
    """The banner sentence once the optional steps are counted: a stopped propagation or failed checks lead."""
    if propagation is not None:
        changed = len(propagation.get("changed_datasets") or [])
        if dry_run:
            breaking = {b.get("recipe") for r in propagation.get("results") or [] for b in r.get("breaks") or []}
            headline += " Schema preview: {} would change{}.".format(
                plural(changed, "dataset"),
                ", {} would break".format(plural(len(breaking), "recipe")) if breaking else "",
            )
        elif propagation.get("state") == "FAILED":
            where = propagation.get("stopped_at")
            return "Schema propagation stopped{}; no recipe was run.".format(f" at recipe {where}" if where else "")
        elif propagation.get("state") == "CANCELLED":
            return "Cancelled during the schema propagation; no recipe was run."
    if verification is None:
        return headline
    tally = verification.get("counts") if isinstance(verification.get("counts"), Mapping) else {}
    total, errors, warns = tally.get("total", 0), tally.get("failed_error", 0), tally.get("failed_warn", 0)
    state = verification.get("state")
    if state == "ERROR":
        return headline + " The outputs could not be verified."
    if state == "FAILED":
        failed_recipes = sum(n for s, n in counts if s in FAILED_BY_ITSELF)
        checks = "{} of {} failed".format(errors, plural(total, "output check"))
        if not failed_recipes:
            return "{} built, but {}.".format(plural(n_recipes, "recipe"), checks)
        return headline + " " + checks[0].upper() + checks[1:] + "."
    if state == "WARN":
        return headline + " Output checks passed with {}.".format(plural(warns, "warning"))
    return headline + " All {} passed.".format(plural(total, "output check"))


def _step_problems(propagation: Optional[Mapping[str, Any]], verification: Optional[Mapping[str, Any]]) -> Markup:
    """Failure-first blocks: where the propagation stopped, why verification could not run, failed ERROR checks."""

    parts: List[Markup] = []
    if propagation is not None and propagation.get("state") in ("FAILED", "CANCELLED") and propagation.get("error"):
        parts.append(
            Markup(
                '<section class="fo-section fo-failures fo-propagation-failure"><h3>Schema propagation '
                'stopped</h3><pre class="fo-error">{}</pre></section>'
            ).format(propagation["error"])
        )
    if verification is not None and verification.get("state") == "ERROR":
        parts.append(
            Markup(
                '<section class="fo-section fo-failures fo-verification-failure"><h3>Output checks could '
                'not run</h3><pre class="fo-error">{}</pre></section>'
            ).format(verification.get("error"))
        )
    failed = (
        [
            r
            for r in verification.get("results") or []
            if isinstance(r, Mapping) and r.get("status") == "failed" and r.get("severity") == "ERROR"
        ]
        if verification is not None
        else []
    )
    if failed:
        title = "Failed output check" if len(failed) == 1 else f"{len(failed)} failed output checks"
        parts.append(
            Markup('<section class="fo-section fo-failures fo-check-failures"><h3>{}</h3>{}</section>').format(
                title, render_results_table(failed)
            )
        )
    return Markup("").join(parts)


def _schema_section(propagation: Optional[Mapping[str, Any]]) -> Markup:
    """ "Schema changes": per source, the diffs of the propagation (or of its preview) and the recipes that break."""
    if propagation is None:
        return Markup("")

    preview = bool(propagation.get("preview"))
    sources = propagation.get("sources") or []
    if preview:
        intro = "Preview of the schema propagation from the plan's sources (nothing was changed)."
    else:
        intro = "Schemas propagated from the plan's sources before the build (without rebuilding)."
    parts = [
        Markup('<p class="fo-muted">{} Sources: {}.</p>').format(
            intro, ", ".join(str(name) for name in sources) or "none"
        )
    ]
    for result in propagation.get("results") or []:
        if not isinstance(result, Mapping):
            continue
        head = Markup('<p class="fo-dataset-head">From <span class="fo-name">{}</span> {}</p>').format(
            result.get("source"), badge(result.get("state"))
        )
        block = [head]
        breaks = [b for b in result.get("breaks") or [] if isinstance(b, Mapping)]
        if breaks:
            rows = Markup("").join(
                Markup(
                    '<tr class="fo-row-fail" data-recipe="{}"><td class="fo-name">{}</td><td><code>{}</code></td>'
                    "<td><code>{}</code></td><td>{}</td></tr>"
                ).format(b.get("recipe"), b.get("recipe"), b.get("column"), b.get("input"), b.get("usage"))
                for b in breaks
            )
            block.append(
                Markup(
                    '<div class="fo-table-scroll"><table class="fo-table fo-breaks"><thead><tr>'
                    "<th>Recipe that would break</th><th>Missing column</th><th>Of input</th>"
                    "<th>Used as</th></tr></thead><tbody>{}</tbody></table></div>"
                ).format(rows)
            )
        block.append(render_diffs([d for d in result.get("changes") or [] if isinstance(d, Mapping)]))
        for note in result.get("notes") or []:
            block.append(Markup('<p class="fo-muted">{}</p>').format(note))
        parts.append(
            Markup('<div class="fo-propagation-source" data-source="{}">{}</div>').format(
                result.get("source"), Markup("").join(block)
            )
        )
    return Markup('<section class="fo-section fo-schema-changes"><h3>Schema changes</h3>{}</section>').format(
        Markup("").join(parts)
    )


def _checks_section(verification: Optional[Mapping[str, Any]]) -> Markup:
    """ "Output checks": counts, one row per expectation (failures first), and what was not verified."""
    if verification is None:
        return Markup("")

    tally = verification.get("counts") if isinstance(verification.get("counts"), Mapping) else {}
    pairs = [
        ("PASSED", tally.get("passed", 0)),
        ("FAILED", tally.get("failed_error", 0)),
        ("WARN", tally.get("failed_warn", 0)),
        ("SKIPPED", tally.get("skipped", 0)),
    ]
    parts = [
        Markup('<ul class="fo-counts">{}</ul>').format(
            Markup("").join(
                Markup('<li><span class="fo-count">{}</span>{}</li>').format(n, badge(state)) for state, n in pairs
            )
        )
    ]
    if verification.get("default_checks"):
        parts.append(
            Markup(
                '<p class="fo-muted">No expectations were given: each output of a recipe that succeeded '
                "must exist and have been built during this run.</p>"
            )
        )
    results = [r for r in verification.get("results") or [] if isinstance(r, Mapping)]
    if results:
        parts.append(render_results_table(results))
    elif verification.get("state") != "ERROR":
        parts.append(Markup('<p class="fo-muted">No output was checked.</p>'))
    notes = verification.get("notes") or []
    if notes:
        parts.append(
            Markup('<ul class="fo-notes">{}</ul>').format(
                Markup("").join(Markup("<li>{}</li>").format(note) for note in notes)
            )
        )
    return Markup('<section class="fo-section fo-output-checks"><h3>Output checks</h3>{}</section>').format(
        Markup("").join(parts)
    )


def render_plan_report(plan: Mapping[str, Any]) -> str:
    """The HTML report of a plan (``BuildPlan.to_dict()``): layers, dependencies and the critical path."""
    view = _plan_view(plan)
    project_key = _text(plan.get("project_key")) or "?"
    n = len(plan.get("recipes") or [])
    headline = "Dry run: {} recipe{} in {} layer{} would run; nothing was built.".format(
        n, "" if n == 1 else "s", len(view["layers"]), "" if len(view["layers"]) == 1 else "s"
    )
    body = render_template("plan.html", plan=view, headline=headline)
    return render_page(f"Build plan of {project_key}", body, subtitle="Dry run")


# ---------------------------------------------------------------------------------------------- view models


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _first_line(text: str, limit: int = 300) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _parse_time(value: Any) -> Optional[float]:
    """ISO 8601 (``...Z`` or with an offset) to epoch seconds; None when missing or malformed."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text[-1] in "Zz":
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _display_time(value: Any) -> str:
    seconds = _parse_time(value)
    if seconds is None:
        return _text(value)
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _number(value: Any) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return None
    return float(value)


def _outputs_text(outputs: Any) -> str:
    parts = []
    for out in outputs or []:
        if isinstance(out, Mapping):
            ident = _text(out.get("id"))
            if out.get("project_key"):
                ident = "{}.{}".format(out.get("project_key"), ident)
            kind = _text(out.get("type") or "DATASET")
            parts.append(ident if kind == "DATASET" else "{} ({})".format(ident, kind.lower().replace("_", " ")))
        else:
            parts.append(_text(out))
    return ", ".join(parts)


def _error_message(error: Any) -> str:
    if isinstance(error, Mapping):
        return _text(error.get("message"))
    return _text(error)


def _error_kind(error: Any) -> str:
    """The error's type and whether it was transient, e.g. ``JobFailed, transient`` ('' when unknown)."""
    if not isinstance(error, Mapping):
        return ""
    parts = [_text(error.get("type"))] if error.get("type") else []
    if error.get("transient"):
        parts.append("transient")
    return ", ".join(parts)


def _jobs(recipe: Mapping[str, Any], project_key: str, base_url: Any) -> List[Dict[str, Any]]:
    """Job ids of a recipe in attempt order, each linked to its DSS page when a link can be built safely."""
    history = [a for a in (recipe.get("attempt_history") or []) if isinstance(a, Mapping)]
    ids: List[Tuple[Optional[int], str]] = [
        (a.get("attempt"), _text(a.get("job_id"))) for a in history if a.get("job_id")
    ]
    if not ids:
        ids = [(None, _text(j)) for j in (recipe.get("job_ids") or []) if j]
    record_urls = dict(zip((_text(j) for j in recipe.get("job_ids") or []), recipe.get("job_urls") or []))
    jobs, seen = [], set()
    for attempt, job_id in ids:
        if job_id in seen:
            continue
        seen.add(job_id)
        url = dss_job_url(base_url, project_key, job_id) or safe_link(record_urls.get(job_id))
        label = f"attempt {attempt}" if len(ids) > 1 and attempt is not None else None
        jobs.append({"id": job_id, "url": url, "label": label})
    return jobs


def _recipe_row(position: int, recipe: Mapping[str, Any], project_key: str, base_url: Any) -> Dict[str, Any]:
    state = _text(recipe.get("state")) or "UNKNOWN"
    error = _error_message(recipe.get("error")) if recipe.get("error") else ""
    attempts = recipe.get("attempts")
    attempts = attempts if isinstance(attempts, int) and not isinstance(attempts, bool) else 0
    history = [a for a in (recipe.get("attempt_history") or []) if isinstance(a, Mapping)]
    earlier = [a for a in history[:-1] if a.get("error")]
    retries_text = ""
    if attempts > 1:
        retries_text = "{} retr{}".format(attempts - 1, "y" if attempts == 2 else "ies")
        if earlier:
            retries_text += " after: " + _first_line(_error_message(earlier[-1].get("error")), 200)
    skipped_because = [_text(s) for s in (recipe.get("skipped_because") or [])]
    return {
        "position": position,
        "name": _text(recipe.get("name")),
        "type": _text(recipe.get("type")),
        "state": state,
        "tone": state_tone(state),
        "attempts": attempts,
        "attempts_text": "{} attempt{}".format(attempts, "" if attempts == 1 else "s") if attempts else "",
        "duration": format_duration(recipe.get("duration_s")),
        "outputs": _outputs_text(recipe.get("outputs"))
        + (f" (partitions {_text(recipe.get('partitions'))})" if recipe.get("partitions") else ""),
        "jobs": _jobs(recipe, project_key, base_url),
        "error": error,
        "error_summary": _first_line(error) if error else "",
        "error_kind": _error_kind(recipe.get("error")),
        "log_excerpt": _text(recipe.get("log_excerpt")) if recipe.get("log_excerpt") else "",
        "skipped_because": skipped_because,
        "retries_text": retries_text,
        "job_group": job_group_label(recipe.get("job_group")),
        "waited_for_jobs": [_text(j) for j in recipe.get("waited_for_jobs") or [] if j],
        "caused_skips": [],
        "caused_skips_more": 0,
    }


def _folded_sections(
    rows: Sequence[Dict[str, Any]], job_pages: Optional[str], kinds: Sequence[Tuple[str, str]], noun: str = "recipe"
) -> List[Dict[str, Any]]:
    """A large run's closed sections, one per ``(state, words)`` of ``kinds`` that has rows: a summary (``N {noun}s
    {words}``) and the rows as lines. With ``job_pages`` (where DSS job pages are), the lines carry job ids only and
    the page builds each link."""
    sections = []
    for state, words in kinds:
        members = [row for row in rows if row["state"] == state]
        if members:
            lines = [json.dumps(_FOLDED_FIELDS, ensure_ascii=False)]
            lines += [_folded_line(row, job_pages is not None) for row in members]
            sections.append(
                {
                    "state": state,
                    "tone": state_tone(state),
                    "summary": f"{plural(len(members), noun)} {words}",
                    "job_pages": job_pages,
                    "data": _pre_text("\n".join(lines)),
                }
            )
    return sections


def _overflow_kinds(rows: Sequence[Mapping[str, Any]]) -> List[Tuple[str, str]]:
    """The sections of the recipes needing attention that the table does not list: one per state, in the order
    states first appear."""
    beyond = f"beyond the first {_MAX_LISTED:,} recipes that need attention listed in the table"
    states = dict.fromkeys(row["state"] for row in rows)
    return [(state, f"{_ATTENTION_WORDS.get(state, 'in state ' + state)}, {beyond}") for state in states]


def _folded_line(row: Mapping[str, Any], linked_by_page: bool) -> str:
    """One recipe of a folded section as a JSON array (``_FOLDED_FIELDS``): what its table row shows, no markup.

    Jobs are ``[id, link, attempt label]``, trailing empties dropped; the link is left out when the page builds it
    (``linked_by_page``). Details keep only what the row has."""
    jobs = []
    for job in row["jobs"]:
        item = [job["id"], None if linked_by_page else job["url"], job["label"]]
        while len(item) > 1 and not item[-1]:
            item.pop()
        jobs.append(item)
    details = {
        key: value
        for key, value in (
            ("skipped_because", row["skipped_because"]),
            ("waited_for_jobs", row["waited_for_jobs"]),
            ("retries", row["retries_text"]),
            ("log", row["log_excerpt"]),
        )
        if value
    }
    if row["error"]:
        details["error"] = row["error_summary"]
    line = [row["position"], row["name"], row["attempts"], row["duration"], row["type"], row["outputs"]]
    line += [row["job_group"], jobs] + ([details] if details else [])
    return json.dumps(line, ensure_ascii=False, separators=(",", ":"))


def _pre_text(text: str) -> Markup:
    """``text`` as the content of an element (a ``<pre>``): ``&``, ``<`` and ``>`` escaped, quotes kept as they are
    (they mean nothing outside a tag, and a folded section's JSON is full of them)."""
    return Markup(text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


@functools.lru_cache(maxsize=1)
def _folded_rows_script() -> Markup:
    """The script that turns a folded section's lines into table rows when it is opened (DOM calls only)."""
    with open(os.path.join(TEMPLATES_DIR, "folded_rows.js"), encoding="utf-8") as handle:
        return Markup(handle.read().strip())


def _shared_job_groups(plan: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """The plan's chains run as one DSS job each (grouped jobs), numbered as the record numbers them."""
    groups = [g for g in plan.get("job_groups") or [] if isinstance(g, list) and len(g) > 1]
    return [{"number": n, "recipes": [_text(name) for name in g]} for n, g in enumerate(groups, 1)]


def _counts(record: Mapping[str, Any], recipes: Sequence[Mapping[str, Any]]) -> List[Tuple[str, int]]:
    counts = record.get("counts")
    if not isinstance(counts, Mapping):
        counts = {}
        for recipe in recipes:
            key = _text(recipe.get("state")) or "UNKNOWN"
            counts[key] = counts.get(key, 0) + 1
    ordered = [s for s in SHOWN_ORDER if s in counts] + sorted(_text(s) for s in counts if s not in SHOWN_ORDER)
    return [(s, counts[s]) for s in ordered if isinstance(counts[s], int) and counts[s] > 0]


def _safe_color(value: Any) -> str:
    """A zone colour fit for a style attribute: ``#RRGGBB`` only, anything else dropped."""
    text = _text(value)
    return text if _HEX_COLOR.match(text) else ""


def _plan_zones(plan: Optional[Mapping[str, Any]]) -> List[Mapping[str, Any]]:
    zones = plan.get("zones") if isinstance(plan, Mapping) else None
    return [z for z in zones or [] if isinstance(z, Mapping) and isinstance(z.get("recipes"), list)]


def _zone_groups(
    plan: Optional[Mapping[str, Any]], rows: Sequence[Dict[str, Any]], listed: Sequence[Dict[str, Any]]
) -> List[Dict[str, Any]]:
    """The recipe rows grouped by the plan's Flow zones, each group with its counts by state; [] without zones.

    ``listed``: the rows the table lists (a large run's are not all): each group holds those, while its counts (and
    ``total``) are the whole zone's, so that a header never calls a zone of 3,000 recipes one of 2. Groups with no
    row to list are left out.
    """
    zones = _plan_zones(plan)
    if not zones:
        return []
    by_name = {row["name"]: row for row in rows}
    listed_names = {row["name"] for row in listed}
    groups: List[Dict[str, Any]] = []
    placed: set = set()

    def group(name: str, color: str, members: List[Dict[str, Any]]) -> Dict[str, Any]:
        shown = [row for row in members if row["name"] in listed_names]
        return {"name": name, "color": color, "rows": shown, "total": len(members), "counts": _row_counts(members)}

    for zone in zones:
        members = [by_name[n] for n in map(_text, zone["recipes"]) if n in by_name and n not in placed]
        placed.update(row["name"] for row in members)
        groups.append(group(_text(zone.get("name")) or _text(zone.get("id")), _safe_color(zone.get("color")), members))
    rest = [row for row in rows if row["name"] not in placed]
    if rest:
        groups.append(group("Other recipes", "", rest))
    return [g for g in groups if g["rows"]]


def _row_counts(rows: Sequence[Mapping[str, Any]]) -> List[Tuple[str, int]]:
    counts: Dict[str, int] = {}
    for row in rows:
        counts[row["state"]] = counts.get(row["state"], 0) + 1
    ordered = [s for s in SHOWN_ORDER if s in counts] + sorted(s for s in counts if s not in SHOWN_ORDER)
    return [(s, counts[s]) for s in ordered]


def _caused_skips(recipes: Iterable[Mapping[str, Any]]) -> Dict[str, List[str]]:
    """For each failed recipe, the recipes skipped because of it (inverse of ``skipped_because``)."""
    caused: Dict[str, List[str]] = {}
    for recipe in recipes:
        for cause in recipe.get("skipped_because") or []:
            caused.setdefault(_text(cause), []).append(_text(recipe.get("name")))
    return caused


def _headline(record, state, dry_run, counts, n_recipes, plan_view) -> str:
    count = dict(counts)
    duration = format_duration(record.get("duration_s"))
    if dry_run:
        layers = len(plan_view["layers"]) if plan_view else 0
        return "Dry run: {} in {} would run; nothing was built.".format(
            plural(n_recipes, "recipe"), plural(layers, "layer")
        )
    others = []
    for key, word in (("SKIPPED", "skipped"), ("ABORTED", "aborted"), ("NOT_RUN", "not run"), ("RUNNING", "running")):
        if count.get(key):
            others.append(f"{count[key]} {word}")
    if count.get("SUCCESS"):
        others.append("{} succeeded".format(count["SUCCESS"]))
    failed = count.get("FAILED", 0) + count.get("TIMED_OUT", 0)
    if state == "SUCCESS" and count.get("SUCCESS", 0) == n_recipes:
        return "All {} built successfully in {}.".format(plural(n_recipes, "recipe"), duration)
    if state == "RUNNING":
        done = n_recipes - count.get("RUNNING", 0) - count.get("NOT_RUN", 0)
        return "Running: {} of {} finished so far.".format(done, plural(n_recipes, "recipe"))
    if failed:
        timed_out = " ({} timed out)".format(count["TIMED_OUT"]) if count.get("TIMED_OUT") else ""
        head = "{} of {} failed{}".format(failed, plural(n_recipes, "recipe"), timed_out)
    elif state == "CANCELLED":
        head = f"Run cancelled after {duration}"
    else:
        head = "Run {} after {}".format(state.lower().replace("_", " "), duration)
    return head + ("; " + ", ".join(others) if others else "") + "."


def _run_facts(record: Mapping[str, Any], project_key: str, base_url: Any) -> List[Tuple[str, str, Optional[str]]]:
    base = link_base(base_url)
    project_url = "{}/projects/{}/flow/".format(base, quote(project_key, safe="")) if base is not None else None
    facts: List[Tuple[str, str, Optional[str]]] = [
        ("Project", project_key, project_url),
        ("Run id", _text(record.get("run_id")), None),
        ("Started", _display_time(record.get("started_at")) or "–", None),
        ("Ended", _display_time(record.get("ended_at")) or "still running", None),
        ("Duration", format_duration(record.get("duration_s")), None),
    ]
    if record.get("resumed_from"):
        facts.append(("Resumed from run", _text(record.get("resumed_from")), None))
    plan = record.get("plan") if isinstance(record.get("plan"), Mapping) else {}
    config = record.get("config") if isinstance(record.get("config"), Mapping) else {}
    options = config  # the flat config_to_dict form
    build_mode = plan.get("build_mode") or options.get("build_mode")
    if build_mode:
        facts.append(("Build mode", _text(build_mode), None))
    strategy = plan.get("strategy") or options.get("strategy")
    if strategy:
        facts.append(("Strategy", _text(strategy), None))
    groups = _shared_job_groups(plan)
    if groups:
        text = "; ".join("{}: {}".format(g["number"], " → ".join(g["recipes"])) for g in groups)
        facts.append(("Job groups (one DSS job each)", text, None))
    grouping = plan.get("grouping")
    if isinstance(grouping, Mapping) and grouping.get("reason"):
        facts.append(("Grouping", _text(grouping["reason"]), None))
    for key, label in (
        ("max_parallel", "Max parallel jobs"),
        ("on_failure", "On failure"),
        ("retries", "Retries per recipe"),
    ):
        if options.get(key) is not None:
            facts.append((label, _text(options.get(key)), None))
    if _number(options.get("timeout_s")):
        facts.append(("Timeout per attempt", format_duration(options.get("timeout_s")), None))
    if options.get("partitions"):
        facts.append(("Partitions", _text(options.get("partitions")), None))
    return facts


def _plan_view(plan: Mapping[str, Any], *, run_facts: bool = True) -> Dict[str, Any]:
    """Plan dict → layers of rows with the critical path marked, plus summary facts.

    ``run_facts=False`` leaves out project, build mode and strategy (a build report already shows them).
    """
    recipes = [r for r in (plan.get("recipes") or []) if isinstance(r, Mapping)]
    by_name = {_text(r.get("name")): (i + 1, r) for i, r in enumerate(recipes)}
    critical = [_text(n) for n in (plan.get("critical_path") or [])]
    critical_set = set(critical)
    layer_names = plan.get("layers")
    if not isinstance(layer_names, list) or not layer_names:
        layer_names = []
        for recipe in recipes:
            layer = recipe.get("layer") if isinstance(recipe.get("layer"), int) else 0
            while len(layer_names) <= layer:
                layer_names.append([])
            layer_names[layer].append(recipe.get("name"))
    group_of = shared_groups([g for g in plan.get("job_groups") or [] if isinstance(g, list)])
    layers = []
    for index, names in enumerate(layer_names):
        rows = []
        for name in names or []:
            position, recipe = by_name.get(_text(name), (None, {"name": name}))
            rows.append(
                {
                    "position": position or "",
                    "name": _text(name),
                    "type": _text(recipe.get("type")),
                    "outputs": _outputs_text(recipe.get("outputs")),
                    "upstream": ", ".join(_text(u) for u in recipe.get("upstream") or []),
                    "expected": format_duration(recipe.get("expected_duration_s")),
                    "critical": _text(name) in critical_set,
                    "job_group": job_group_label(group_of.get(_text(name))),
                }
            )
        layers.append({"index": index, "recipes": rows})
    project_key = _text(plan.get("project_key")) or "?"
    facts: List[Tuple[str, str, Optional[str]]] = [("Project", project_key, None)] if run_facts else []
    facts.append(("Recipes", str(len(recipes)), None))
    facts.append(
        ("Layers", "{} (widest: {})".format(len(layers), max((len(x["recipes"]) for x in layers), default=0)), None)
    )
    for key, label in (("build_mode", "Build mode"), ("strategy", "Strategy")) if run_facts else ():
        if plan.get(key):
            facts.append((label, _text(plan.get(key)), None))
    if _number(plan.get("total_work_s")) is not None:
        facts.append(("Expected total work", format_duration(plan.get("total_work_s")), None))
    targets = _outputs_text(plan.get("targets"))
    if targets:
        facts.append(("Targets", targets, None))
    zones = [
        {
            "name": _text(z.get("name")) or _text(z.get("id")),
            "color": _safe_color(z.get("color")),
            "recipes": [_text(n) for n in z["recipes"]],
        }
        for z in _plan_zones(plan)
    ]
    return {
        "layers": layers,
        "zones": zones,
        "critical_path": critical,
        "critical_path_s": format_duration(plan.get("critical_path_s")),
        "notes": [_text(n) for n in plan.get("notes") or []],
        "facts": facts,
        "job_groups": _shared_job_groups(plan),
        "grouping": _grouping(plan),
    }


def _grouping(plan: Mapping[str, Any]) -> Dict[str, Any]:
    """Grouped jobs: whether the whole plan is one DSS job (cost-aware choice) and why this grouping."""
    grouping = plan.get("grouping") if isinstance(plan.get("grouping"), Mapping) else {}
    return {"whole_plan": grouping.get("kind") == "whole-plan", "reason": _text(grouping.get("reason") or "")}


# ---------------------------------------------------------------------------------------------- timeline


def _row_geometry(n_rows: int) -> Tuple[int, int, int]:
    """(row height, bar height, label characters): compact rows for big runs so 1,000 recipes stay scrollable."""
    if n_rows <= 40:
        return 22, 14, 30
    if n_rows <= 200:
        return 16, 10, 34
    return 12, 8, 42


def _attempt_spans(recipe: Mapping[str, Any]) -> List[Tuple[float, Optional[float], Mapping[str, Any]]]:
    spans = []
    for attempt in recipe.get("attempt_history") or []:
        if not isinstance(attempt, Mapping):
            continue
        start = _parse_time(attempt.get("started_at"))
        if start is not None:
            spans.append((start, _parse_time(attempt.get("ended_at")), attempt))
    if not spans:
        start = _parse_time(recipe.get("started_at"))
        if start is not None:
            spans.append((start, _parse_time(recipe.get("ended_at")), recipe))
    return spans


def _ticks(span_s: float) -> List[Dict[str, Any]]:
    step = next((s for s in _TICK_STEPS_S if span_s / s <= 8), None)
    if step is None:
        step = 86400.0 * math.ceil(span_s / 8 / 86400.0)
    ticks = []
    count = int(math.floor(span_s / step + 1e-9))
    for i in range(count + 1):
        x = 100.0 * i * step / span_s
        anchor = "start" if x < 3 else ("end" if x > 97 else "middle")
        ticks.append({"x": f"{x:.3f}", "anchor": anchor, "label": _tick_label(i * step)})
    return ticks


def _tick_label(seconds: float) -> str:
    if seconds == 0:
        return "0"
    if seconds < 60:
        return f"{round(seconds, 1):g}s"
    if seconds < 3600:
        minutes, secs = divmod(int(round(seconds)), 60)
        return f"{minutes}m" if secs == 0 else f"{minutes}m{secs:02d}s"
    hours, rest = divmod(int(round(seconds)), 3600)
    return f"{hours}h" if rest == 0 else f"{hours}h{rest // 60:02d}m"


def _timeline_recipes(recipes: Sequence[Mapping[str, Any]]) -> List[Mapping[str, Any]]:
    """A large run's timeline rows, in run order: every recipe that did not succeed, then the longest successful
    ones up to ``_TIMELINE_ROWS`` in all (nobody reads 20,000 bars; the table lists every recipe)."""
    others = [i for i, r in enumerate(recipes) if r.get("state") != "SUCCESS"]
    room = max(_TIMELINE_ROWS - len(others), 0)
    done = [i for i, r in enumerate(recipes) if r.get("state") == "SUCCESS"]
    longest = sorted(done, key=lambda i: -(_number(recipes[i].get("duration_s")) or 0.0))[:room]
    return [recipes[i] for i in sorted(others[:_TIMELINE_ROWS] + longest)]


def _timeline(record: Mapping[str, Any], recipes: Sequence[Mapping[str, Any]]) -> Optional[Dict[str, Any]]:
    """Bars of every attempt placed in percent of the run's span; None when no job has started."""
    spans = [_attempt_spans(r) for r in recipes]
    starts = [s for rows in spans for (s, _e, _a) in rows]
    if not starts:
        return None
    ends = [e for rows in spans for (_s, e, _a) in rows if e is not None]
    run_start = _parse_time(record.get("started_at"))
    origin = min([run_start] + starts) if run_start is not None else min(starts)
    run_end = _parse_time(record.get("ended_at"))
    if run_end is None and run_start is not None and _number(record.get("duration_s")) is not None:
        run_end = run_start + float(record["duration_s"])
    horizon = max([run_end or origin] + starts + ends)
    span = max(horizon - origin, 0.001)

    def pct(moment: float) -> float:
        return min(100.0, max(0.0, 100.0 * (moment - origin) / span))

    row_h, bar_h, label_chars = _row_geometry(len(recipes))
    rows, legend, has_waits = [], set(), False
    for index, (recipe, attempts) in enumerate(zip(recipes, spans)):
        name = _text(recipe.get("name"))
        state = _text(recipe.get("state")) or "UNKNOWN"
        tone = state_tone(state)
        top = index * row_h
        bars, waits = [], []
        previous_end: Optional[float] = None
        for number, (start, end, attempt) in enumerate(attempts, start=1):
            attempt_state = _text(attempt.get("state")) or ("RUNNING" if end is None else state)
            finished = end if end is not None else horizon
            x = pct(start)
            width = max(pct(finished) - x, _MIN_BAR_PCT)
            x = min(x, 100.0 - width)
            legend.add(attempt_state)
            if previous_end is not None and start > previous_end:
                has_waits = True
                waits.append(
                    {
                        "x1": f"{pct(previous_end):.3f}",
                        "x2": f"{pct(start):.3f}",
                        "title": "{}: waited {} before attempt {}".format(
                            name, format_duration(start - previous_end), attempt.get("attempt") or number
                        ),
                    }
                )
            previous_end = finished
            bars.append(
                {
                    "x": f"{x:.3f}",
                    "w": f"{width:.3f}",
                    "tone": state_tone(attempt_state),
                    "state": attempt_state,
                    "title": _bar_title(name, attempt, number, len(attempts), attempt_state, start, end, origin),
                }
            )
        note = ""
        if not attempts:
            skipped_because = [_text(s) for s in recipe.get("skipped_because") or []]
            if skipped_because:
                note = "skipped: {} failed".format(", ".join(skipped_because))
            else:
                note = state.lower().replace("_", " ")
            if len(note) > 120:
                note = note[:119] + "…"
        label = name if len(name) <= label_chars else name[: label_chars - 1] + "…"
        rows.append(
            {
                "name": name,
                "label": label,
                "state": state,
                "tone": tone,
                "glyph": _GLYPHS.get(tone, "•"),
                "text_y": top + int(row_h * 0.72),
                "bar_y": top + (row_h - bar_h) // 2,
                "mid_y": top + row_h // 2,
                "bars": bars,
                "waits": waits,
                "note": note,
            }
        )
    legend_order = [s for s in SHOWN_ORDER if s in legend] + sorted(s for s in legend if s not in SHOWN_ORDER)
    return {
        "rows": rows,
        "row_h": row_h,
        "bar_h": bar_h,
        "height": max(row_h, row_h * len(rows)),
        "ticks": _ticks(span),
        "legend": legend_order,
        "has_waits": has_waits,
        "total": len(record.get("recipes") or ()),
    }


def _bar_title(name, attempt, number, total, state, start, end, origin) -> str:
    attempt_no = attempt.get("attempt") or number
    parts = ["{} · attempt {} of {}: {}".format(name, attempt_no, total, state.replace("_", " "))]
    if end is None:
        parts.append(f"started at +{format_duration(start - origin)}, still running")
    else:
        parts.append(
            f"+{format_duration(start - origin)} → +{format_duration(end - origin)} ({format_duration(end - start)})"
        )
    if attempt.get("job_id"):
        parts.append("job {}".format(_text(attempt.get("job_id"))))
    if _number(attempt.get("status_gap_s")):
        gap = format_duration(attempt.get("status_gap_s"))
        parts.append(f"DSS answered no status request for {gap} meanwhile: the end was noticed late")
    if attempt.get("error"):
        parts.append(_first_line(_error_message(attempt.get("error")), 300))
    return "\n".join(parts)
