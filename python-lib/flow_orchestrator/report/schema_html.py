"""HTML report of a schema propagation or its preview, in the build report's style (same shell, CSS and badges).

Input is :meth:`flow_orchestrator.propagate.PropagationOutcome.to_dict` (plain data). Breaks come first (what would
stop DSS, or where it stopped), then the diff per dataset, colour-coded: added columns green, removed red, type changes
amber. Every value is escaped (``Markup.format`` escapes its arguments).
"""

from __future__ import annotations

from typing import Any, Iterable, List, Mapping, Optional, Sequence

from markupsafe import Markup

from ..text import format_duration, plural
from .page import badge, join, render_page, safe_http_url

_MAX_COLUMNS_SHOWN = 200  # per dataset diff; wider diffs end with a "... and N more" row


def _code_list(names: Sequence[Any]) -> Markup:
    if not names:
        return Markup('<span class="fo-muted">none</span>')
    return join((Markup("<code>{}</code>").format(name) for name in names), ", ")


def _facts(items: Sequence[tuple]) -> Markup:
    rows = (Markup("<dt>{}</dt><dd>{}</dd>").format(label, value) for label, value in items)
    return Markup('<dl class="fo-facts">{}</dl>').format(join(rows))


def _section(css_class: str, title: str, body: Markup) -> Markup:
    return Markup('<section class="fo-section {}"><h3>{}</h3>{}</section>').format(css_class, title, body)


def _table(headers: Sequence[str], rows: Sequence[Markup], css_class: str = "") -> Markup:
    head = join(Markup("<th>{}</th>").format(h) for h in headers)
    return Markup(
        '<div class="fo-table-scroll"><table class="fo-table {}"><thead><tr>{}</tr></thead>'
        "<tbody>{}</tbody></table></div>"
    ).format(css_class, head, join(rows))


# ------------------------------------------------------------------------------------------------ diff blocks


def _diff_rows(diff: Mapping[str, Any]) -> List[Markup]:
    rows: List[Markup] = []
    for column in diff.get("added") or []:
        rows.append(
            Markup(
                '<tr class="fo-diff-added" data-change="added"><td><code>{}</code></td><td>{}</td><td>{}</td></tr>'
            ).format(column.get("name"), badge("ADDED"), column.get("type") or "?")
        )
    for column in diff.get("removed") or []:
        rows.append(
            Markup(
                '<tr class="fo-diff-removed" data-change="removed"><td><code>{}</code></td><td>{}</td><td>{}</td></tr>'
            ).format(column.get("name"), badge("REMOVED"), column.get("type") or "?")
        )
    for column in diff.get("type_changed") or []:
        rows.append(
            Markup(
                '<tr class="fo-diff-changed" data-change="type_changed"><td><code>{}</code></td><td>{}</td>'
                "<td>{} → {}</td></tr>"
            ).format(column.get("name"), badge("TYPE_CHANGED"), column.get("old") or "?", column.get("new") or "?")
        )
    if len(rows) > _MAX_COLUMNS_SHOWN:
        more = len(rows) - _MAX_COLUMNS_SHOWN
        rows = rows[:_MAX_COLUMNS_SHOWN] + [
            Markup('<tr><td colspan="3" class="fo-muted">… and {} more column changes</td></tr>').format(more)
        ]
    return rows


def _diff_block(diff: Mapping[str, Any]) -> Markup:
    """One dataset: its name, counts, then a row per changed column; a reorder shows both orders."""
    dataset = diff.get("dataset")
    counts = []
    if not diff.get("existed_before", True):
        counts.append(Markup("{} ").format(badge("ADDED")))
    if not diff.get("exists_after", True):
        counts.append(Markup("{} ").format(badge("REMOVED")))
    for key, word in (("added", "added"), ("removed", "removed"), ("type_changed", "type changed")):
        if diff.get(key):
            counts.append(Markup('<span class="fo-muted">{} {}</span> ').format(len(diff[key]), word))
    parts = [Markup('<p class="fo-dataset-head"><span class="fo-name">{}</span> {}</p>').format(dataset, join(counts))]
    rows = _diff_rows(diff)
    if rows:
        parts.append(_table(("Column", "Change", "Type"), rows, "fo-diff-table"))
    if diff.get("reordered"):
        parts.append(
            Markup('<p class="fo-diff-changed" data-change="reordered">{} Column order: {} → {}</p>').format(
                badge("REORDERED"), ", ".join(diff.get("old_order") or []), ", ".join(diff.get("new_order") or [])
            )
        )
    for note in diff.get("notes") or []:
        parts.append(Markup('<p class="fo-muted">{}</p>').format(note))
    return Markup('<div class="fo-dataset-diff" data-dataset="{}">{}</div>').format(dataset, join(parts))


def render_diffs(diffs: Iterable[Mapping[str, Any]]) -> Markup:
    """The per-dataset diff blocks (also usable by the build report for a "propagate first" step)."""
    blocks = [_diff_block(diff) for diff in diffs]
    if not blocks:
        return Markup('<p class="fo-muted">No dataset schema changed.</p>')
    return join(blocks)


# ------------------------------------------------------------------------------------------------ sections


def _breaks_section(preview: Mapping[str, Any], ran: bool) -> Markup:
    breaks = preview.get("breaks") or []
    if not breaks:
        return Markup("")
    rows = [
        Markup(
            '<tr class="fo-row-fail" data-recipe="{}"><td><span class="fo-name">{}</span><br>'
            '<span class="fo-muted fo-small">{}</span></td><td><code>{}</code></td><td><code>{}</code></td>'
            "<td>{}</td></tr>"
        ).format(
            item.get("recipe"),
            item.get("recipe"),
            item.get("recipe_type"),
            item.get("column"),
            item.get("input"),
            item.get("usage"),
        )
        for item in breaks
    ]
    recipes = list(dict.fromkeys(item.get("recipe") for item in breaks))
    title = "Recipes the preview flagged" if ran else "Recipes that would break"
    intro = Markup(
        "<p>{} would use a column that no longer exists; DSS's propagation stops at <code>{}</code>. "
        "Fix the recipe, or add it to <em>Stop at</em> or <em>Mark as OK</em>.</p>"
    ).format(", ".join(recipes), preview.get("stops_at"))
    return _section("fo-breaks", title, intro + _table(("Recipe", "Missing column", "Of input", "Used as"), rows))


def _unchecked_section(preview: Mapping[str, Any]) -> Markup:
    unchecked = preview.get("unchecked") or []
    if not unchecked:
        return Markup("")
    rows = [
        Markup('<tr class="fo-row-warn"><td class="fo-name">{}</td><td>{}</td><td>{}</td></tr>').format(
            item.get("recipe"), item.get("recipe_type"), item.get("reason")
        )
        for item in unchecked
    ]
    intro = Markup(
        '<p class="fo-muted">Their outputs are taken as unchanged by the preview; check them after the '
        "propagation (code recipes set their schema when they run).</p>"
    )
    return _section("fo-unchecked", "Recipes the preview cannot check", intro + _table(("Recipe", "Type", "Why"), rows))


def _messages_section(messages: Sequence[Mapping[str, Any]]) -> Markup:
    if not messages:
        return Markup("")
    rows = []
    for message in messages:
        severity = str(message.get("severity") or "INFO")
        tone = {"ERROR": "fo-row-fail", "WARNING": "fo-row-warn"}.get(severity.upper(), "")
        rows.append(
            Markup('<tr class="{}"><td>{}</td><td><code>{}</code></td><td>{}</td></tr>').format(
                tone, badge(severity), message.get("code") or "", message.get("text") or ""
            )
        )
    return _section("fo-messages", "Messages from DSS", _table(("Severity", "Code", "Message"), rows))


def _headline(outcome: Mapping[str, Any]) -> tuple:
    """(badge state, tone, sentence) of the banner."""
    preview = outcome.get("preview") or {}
    source = (outcome.get("config") or {}).get("source_dataset")
    state = outcome.get("state")
    if state == "FAILED":
        recipe = (outcome.get("error") or {}).get("recipe")
        where = f" at recipe {recipe}" if recipe else ""
        return "FAILED", "fail", f"Schema propagation from {source} stopped{where}"
    if state == "PREVIEW":
        downstream = [name for name in (preview.get("changes") or {}) if name != source]
        breaks = list(dict.fromkeys(item.get("recipe") for item in preview.get("breaks") or []))
        text = "Preview (nothing was changed): {} would change".format(plural(len(downstream), "downstream dataset"))
        if breaks:
            return "WARN", "warn", text + ", {} would break".format(plural(len(breaks), "recipe"))
        return "PREVIEW", "info", text + ", no recipe would break"
    changes = outcome.get("changes") or []
    return (
        "SUCCESS",
        "ok",
        "Schema propagation from {} finished: {} changed".format(source, plural(len(changes), "dataset")),
    )


def render_propagation_report(outcome: Mapping[str, Any], *, dss_url: Optional[str] = None) -> str:
    """The macro's HTML result (and ``--html`` body) for a propagation or a preview."""
    config = outcome.get("config") or {}
    preview = outcome.get("preview") or {}
    ran = bool(outcome.get("ran"))
    state, tone, headline = _headline(outcome)
    parts = [
        Markup('<section class="fo-banner fo-tone-{}" role="status">{} <strong>{}</strong></section>').format(
            tone, badge(state), headline
        )
    ]
    error = outcome.get("error")
    if error:
        parts.append(
            _section(
                "fo-failures", "Where it stopped", Markup('<pre class="fo-error">{}</pre>').format(error.get("message"))
            )
        )
    parts.append(_breaks_section(preview, ran))
    if ran:
        parts.append(_section("fo-changes", "Schema changes", render_diffs(outcome.get("changes") or [])))
        predicted = list((preview.get("changes") or {}).values())
        if predicted:
            body = Markup("<details><summary>{}</summary>{}</details>").format(
                "What the preview predicted ({})".format(plural(len(predicted), "dataset")), render_diffs(predicted)
            )
            parts.append(_section("fo-predicted", "Preview", body))
    else:
        parts.append(
            _section(
                "fo-changes",
                "Schema changes the propagation would make",
                render_diffs(list((preview.get("changes") or {}).values())),
            )
        )
    parts.append(_unchecked_section(preview))
    unchanged = outcome.get("unchanged") or []
    if ran and unchanged:
        parts.append(_section("fo-unchanged", "Unchanged datasets", Markup("<p>{}</p>").format(_code_list(unchanged))))
    parts.append(_messages_section(outcome.get("messages") or []))
    partitions = config.get("partition_values") or {}
    facts = [
        ("Project", outcome.get("project_key") or "–"),
        ("Source dataset", config.get("source_dataset") or "–"),
        ("Mode", "preview only" if not ran else "propagate" + (" and rebuild" if config.get("auto_rebuild") else "")),
        ("Stop at", ", ".join(config.get("stop_at") or []) or "–"),
        ("Mark as OK", ", ".join(config.get("mark_as_ok") or []) or "–"),
        ("Partition values", ", ".join(f"{k}={v}" for k, v in partitions.items()) or "–"),
        ("Duration", format_duration(outcome.get("duration_s"))),
    ]
    instance = safe_http_url(dss_url)
    if instance:
        facts.append(("DSS", instance))
    settings = _facts(facts)
    notes = list(outcome.get("notes") or []) + list(preview.get("notes") or [])
    if notes:
        settings += Markup('<ul class="fo-notes">{}</ul>').format(join(Markup("<li>{}</li>").format(n) for n in notes))
    parts.append(_section("fo-summary", "Settings", settings))
    title = "Schema propagation preview" if not ran else "Schema propagation"
    subtitle = "{} · from {}".format(outcome.get("project_key") or "", config.get("source_dataset") or "")
    return render_page(title, str(join(parts)), subtitle=subtitle)


__all__ = ["render_diffs", "render_propagation_report"]
