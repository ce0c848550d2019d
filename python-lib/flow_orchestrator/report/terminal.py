"""Terminal renderings of a run: the summary table printed at the end and the live progress line.

Text from a record (recipe names, errors) may hold control characters; they are replaced so a name can never move
the cursor or change the terminal's colours.
"""

from __future__ import annotations

import shutil
import sys
import threading
import unicodedata
from typing import Any, Dict, List, Mapping, Optional, TextIO, Tuple

from ..states import DID_NOT_RUN, FAILED_OR_ABORTED, RunState
from ..text import format_duration

_HEADERS = ("RECIPE", "STATE", "ATTEMPTS", "DURATION", "NOTE")
_GAP = "  "
_MIN_RECIPE_W = 12
_MAX_RECIPE_W = 60
_MIN_ERROR_W = 10
#: Recipe ends worth a line of their own while a run goes on (successes only move the progress count).
_PROBLEM_STATES = FAILED_OR_ABORTED | DID_NOT_RUN | {RunState.CANCELLED.value}


def clean_text(value: Any) -> str:
    """``value`` as one line of printable text: newlines and tabs become spaces; control, format (bidi overrides),
    unassigned and private characters become ``?``."""
    text = "" if value is None else str(value)
    out = []
    for char in text:
        if char in "\r\n\t\v\f":
            out.append(" ")
        elif (unicodedata.category(char)[0] == "C" or unicodedata.category(char) in ("Zl", "Zp")) and char != "\u200d":
            out.append("?")
        else:
            out.append(char)
    return " ".join("".join(out).split())


_ZWJ, _EMOJI_PRESENTATION = "\u200d", "\ufe0f"


def _char_width(char: str) -> int:
    """Columns of one code point on its own: 2 for wide and full-width, 0 for marks and invisible formatting."""
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return 0
    if "\u1160" <= char <= "\u11ff":  # Hangul medial vowels and final consonants join the syllable before them
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def _clusters(text: str) -> List[Tuple[str, int]]:
    """``text`` split into what a terminal draws as one glyph, each with its width in columns.

    Marks join the character before them; ``U+FE0F`` asks for the emoji form, two columns wide; a zero-width joiner
    fuses the next emoji into the same glyph (``👩‍💻``), and a skin-tone modifier colours the emoji before it.
    """
    clusters: List[List] = []
    joined = False
    for char in text:
        width = _char_width(char)
        if clusters and (joined or width == 0 or "\U0001f3fb" <= char <= "\U0001f3ff"):
            cluster = clusters[-1]
            cluster[0] += char
            if char == _EMOJI_PRESENTATION and cluster[1] == 1:
                cluster[1] = 2
            joined = char == _ZWJ
            continue
        clusters.append([char, width])
        joined = False
    return [(glyph, width) for glyph, width in clusters]


def display_width(text: str) -> int:
    """Columns ``text`` takes on a terminal (wide East Asian characters and emoji take two, marks none)."""
    if text.isascii():  # one column per character (a 20,000-row summary is mostly ASCII names)
        return len(text)
    return sum(width for _, width in _clusters(text))


def fit(text: str, width: int) -> str:
    """``text`` cut to at most ``width`` columns, ending with ``…`` when cut (never inside a glyph)."""
    if width <= 0:
        return ""
    if display_width(text) <= width:
        return text
    if text.isascii():
        return text[: width - 1] + "…"
    out, used = [], 0
    for glyph, w in _clusters(text):
        if used + w > width - 1:
            break
        out.append(glyph)
        used += w
    return "".join(out) + "…"


def _pad(text: str, width: int, right: bool = False) -> str:
    text = fit(text, width)
    fill = " " * (width - display_width(text))
    return fill + text if right else text + fill


def _terminal_width(width: Optional[int]) -> int:
    if width is not None:
        return max(20, int(width))
    return max(20, shutil.get_terminal_size(fallback=(120, 24)).columns)


def _error_cell(recipe: Mapping[str, Any]) -> str:
    error = recipe.get("error")
    if isinstance(error, Mapping) and error.get("message"):
        return clean_text(
            str(error.get("message")).strip().splitlines()[0] if str(error.get("message")).strip() else ""
        )
    if error and not isinstance(error, Mapping):
        return clean_text(error)
    skipped = recipe.get("skipped_because") or []
    if skipped:
        return "skipped: {} failed".format(", ".join(clean_text(s) for s in skipped))
    return ""


def _outage_note(recipe: Mapping[str, Any]) -> str:
    """A polling outage that delayed noticing an attempt's end (``status_gap_s``), as the HTML timeline says it."""
    history = [a for a in recipe.get("attempt_history") or [] if isinstance(a, Mapping)]
    gaps = [(a.get("attempt"), a.get("status_gap_s")) for a in history]
    gaps = [(n, g) for n, g in gaps if isinstance(g, (int, float)) and not isinstance(g, bool) and g > 0]
    if not gaps:
        return ""
    which = "" if len(history) == 1 else " (attempt {})".format(", ".join(str(n) for n, _ in gaps))
    longest = format_duration(max(g for _, g in gaps))
    return f"end noticed {longest} late{which}: DSS answered no status request meanwhile"


def job_group_label(number: Any) -> str:
    """Grouped jobs: "job group N", the chain whose DSS job built a recipe (shared with the other recipes of that job
    group), in the terminal and HTML reports alike; "" for a recipe with a job of its own."""
    return f"job group {number}" if isinstance(number, int) and not isinstance(number, bool) else ""


def _waited_note(recipe: Mapping[str, Any]) -> str:
    """Jobs started elsewhere that built an output of the recipe when the run was to start it: it waited for them."""
    jobs = [clean_text(j) for j in recipe.get("waited_for_jobs") or [] if j]
    return "waited for DSS job {} started elsewhere".format(", ".join(jobs)) if jobs else ""


def _note_cell(recipe: Mapping[str, Any]) -> str:
    parts = (_error_cell(recipe), _outage_note(recipe), _waited_note(recipe), job_group_label(recipe.get("job_group")))
    return "; ".join(part for part in parts if part)


def format_summary_table(record: Mapping[str, Any], width: Optional[int] = None) -> str:
    """One aligned line per recipe of a run record: recipe, state, attempts, duration and a note (its error, why it
    was skipped, a polling outage that delayed noticing its end); no line exceeds width.

    ``width`` defaults to the terminal's width (120 when it is unknown).
    """
    total_width = _terminal_width(width)
    rows: List[List[str]] = []
    recipes = [r for r in record.get("recipes") or [] if isinstance(r, Mapping)]
    zones = _zone_sections(record, recipes)
    if zones:
        recipes = [recipe for _, members in zones for recipe in members]
    for recipe in recipes:
        attempts = recipe.get("attempts")
        rows.append(
            [
                clean_text(recipe.get("name")),
                clean_text(recipe.get("state") or "UNKNOWN"),
                str(attempts) if isinstance(attempts, int) and not isinstance(attempts, bool) else "0",
                format_duration(recipe.get("duration_s")),
                _note_cell(recipe),
            ]
        )
    state_w = max([len(_HEADERS[1])] + [display_width(r[1]) for r in rows])
    attempts_w, duration_w = len(_HEADERS[2]), max([len(_HEADERS[3])] + [display_width(r[3]) for r in rows])
    fixed = state_w + attempts_w + duration_w + 4 * len(_GAP)
    recipe_w = min(_MAX_RECIPE_W, max([len(_HEADERS[0])] + [display_width(r[0]) for r in rows]))
    error_w = total_width - fixed - recipe_w
    if error_w < _MIN_ERROR_W:
        recipe_w = max(min(recipe_w, _MIN_RECIPE_W), recipe_w - (_MIN_ERROR_W - error_w))
        error_w = max(_MIN_ERROR_W, total_width - fixed - recipe_w)
    widths = (recipe_w, state_w, attempts_w, duration_w, error_w)
    right = (False, False, True, True, False)
    lines = []
    headings = {}  # row index -> zone heading line printed before it
    start = 0
    for heading, members in zones:
        headings[start] = heading
        start += len(members)
    for index, cells in enumerate([list(_HEADERS)] + rows):
        if index - 1 in headings:
            lines.append(fit(headings[index - 1], total_width))
        line = _GAP.join(_pad(c, w, r) for c, w, r in zip(cells, widths, right))
        lines.append(fit(line.rstrip(), total_width))
    return "\n".join(lines)


def _zone_sections(record: Mapping[str, Any], recipes: List[Mapping[str, Any]]) -> List[Tuple[str, List[Mapping]]]:
    """The record's recipes grouped by the plan's Flow zones, each with a heading line; [] when the plan has none."""
    plan = record.get("plan") if isinstance(record.get("plan"), Mapping) else {}
    zones = [z for z in plan.get("zones") or [] if isinstance(z, Mapping) and isinstance(z.get("recipes"), list)]
    if not zones:
        return []
    by_name = {clean_text(r.get("name")): r for r in recipes}
    sections: List[Tuple[str, List[Mapping]]] = []
    placed = set()
    groups = [(clean_text(z.get("name") or z.get("id")), [clean_text(n) for n in z["recipes"]]) for z in zones]
    groups.append(("Other recipes", list(by_name)))
    for name, members in groups:
        found = [by_name[m] for m in members if m in by_name and m not in placed]
        placed.update(members)
        if not found:
            continue
        states: Dict[str, int] = {}
        for recipe in found:
            state = clean_text(recipe.get("state") or "UNKNOWN")
            states[state] = states.get(state, 0) + 1
        summary = ", ".join(f"{n} {state}" for state, n in states.items())
        sections.append((f"── Zone {name}: {len(found)} recipe(s) ({summary})", found))
    return sections


def format_run_headline(record: Mapping[str, Any]) -> str:
    """One line naming the run, its state, duration and counts, e.g. ``Run X of P: FAILED in 13.9s (3 SUCCESS, ...)``."""
    counts = record.get("counts") if isinstance(record.get("counts"), Mapping) else {}
    parts = [f"{n} {clean_text(s)}" for s, n in counts.items() if isinstance(n, int) and n > 0]
    config = record.get("config") if isinstance(record.get("config"), Mapping) else {}
    partitions = config.get("partitions")
    return "Run {} of {}{}: {} in {}{}".format(
        clean_text(record.get("run_id") or "?"),
        clean_text(record.get("project_key") or "?"),
        f" (partitions {clean_text(partitions)})" if partitions else "",
        clean_text(record.get("state") or "UNKNOWN"),
        format_duration(record.get("duration_s")),
        " ({})".format(", ".join(parts)) if parts else "",
    )


class ProgressLine:
    """A progress-event consumer for terminals: one line rewritten in place on a TTY, one line per event otherwise.

    Use it as ``on_event`` (it is callable). On a TTY, retries, failures and the end of the run are printed on
    lines of their own above the status line, so they stay visible; call :meth:`close` if the run ends abnormally.
    """

    def __init__(self, stream: Optional[TextIO] = None, *, tty: Optional[bool] = None, width: Optional[int] = None):
        self._stream = stream if stream is not None else sys.stderr
        if tty is None:
            isatty = getattr(self._stream, "isatty", None)
            tty = bool(isatty()) if callable(isatty) else False
        self._tty = tty
        self._width = width
        self._shown = 0  # columns of the status line currently on screen (TTY only)
        self._running: Dict[str, Optional[int]] = {}
        self._done = 0
        self._total = 0
        self._lock = threading.Lock()

    def __call__(self, event: Any) -> None:
        self.handle(event)

    def handle(self, event: Any) -> None:
        """Show one progress event (any object with kind, recipe, state, done, total, message, attempt, job_id)."""
        kind = clean_text(getattr(event, "kind", "") or "")
        recipe = clean_text(getattr(event, "recipe", None) or "")
        done, total = getattr(event, "done", None), getattr(event, "total", None)
        with self._lock:
            if isinstance(done, int):
                self._done = done
            if isinstance(total, int) and total:
                self._total = total
            if kind == "recipe_started" and recipe:
                self._running[recipe] = getattr(event, "attempt", None)
            elif kind in ("recipe_finished", "recipe_retrying"):
                self._running.pop(recipe, None)
            line = self._event_line(kind, recipe, event)
            if not self._tty:
                self._write(line + "\n")
                return
            if kind == "run_finished":
                self._permanent(line)
                self._shown = 0
                return
            state = clean_text(getattr(event, "state", None) or "")
            if kind in ("plan_ready", "recipe_retrying") or (kind == "recipe_finished" and state in _PROBLEM_STATES):
                self._permanent(line)
            self._status()

    def close(self) -> None:
        """End the status line on a TTY (the next output starts on a fresh line)."""
        with self._lock:
            if self._tty and self._shown:
                self._write("\n")
                self._shown = 0

    # -- rendering

    def _columns(self) -> int:
        return _terminal_width(self._width) - 1  # the last column would wrap on some terminals

    def _event_line(self, kind: str, recipe: str, event: Any) -> str:
        counter = f"[{self._done}/{self._total}]" if self._total else f"[{self._done}]"
        message = clean_text(getattr(event, "message", None) or "")
        state = clean_text(getattr(event, "state", None) or "")
        if kind == "plan_ready":
            # The runner's sentence counts the recipes itself ("4 recipe(s) in 3 layer(s), ..."): count them once.
            line = (
                "Plan ready"
                if message
                else "Plan ready: {} recipe{}".format(self._total, "" if self._total == 1 else "s")
            )
        elif kind == "recipe_started":
            attempt = getattr(event, "attempt", None)
            job_id = clean_text(getattr(event, "job_id", None) or "")
            line = "{} started {}{}{}".format(
                counter,
                recipe,
                f" (attempt {attempt})" if isinstance(attempt, int) and attempt > 1 else "",
                f" job {job_id}" if job_id else "",
            )
            message = ""
        elif kind == "recipe_retrying":
            line = f"{counter} retrying {recipe}"
        elif kind == "recipe_finished":
            line = "{} {} {}".format(counter, recipe, state or "finished")
            if state == "SUCCESS":
                message = ""
        elif kind == "run_finished":
            line = "Run {}".format(state or "finished")
            said = f"{line.lower()}:"  # the runner's sentence starts by saying the state again: say it once
            if message.lower().startswith(said):
                message = message[len(said) :].strip()
        else:
            line = "{} {}{}".format(counter, kind or "event", " " + recipe if recipe else "")
        return line + (": " + message if message else "")

    def _status(self) -> None:
        counter = f"[{self._done}/{self._total}]" if self._total else f"[{self._done}]"
        names = list(self._running)
        text = f"{counter} running {len(names)}" + (": " + ", ".join(names) if names else "")
        text = fit(text, self._columns())
        self._write("\r" + text + " " * max(0, self._shown - display_width(text)))
        self._shown = display_width(text)

    def _permanent(self, line: str) -> None:
        line = fit(line, self._columns())
        clear = "\r" + " " * self._shown + "\r" if self._shown else ""
        self._write(clear + line + "\n")
        self._shown = 0

    def _write(self, text: str) -> None:
        self._stream.write(text)
        flush = getattr(self._stream, "flush", None)
        if callable(flush):
            flush()
