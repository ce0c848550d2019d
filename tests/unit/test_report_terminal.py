"""Terminal summary table and progress line."""

from __future__ import annotations

import io
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Optional

import pytest
from flow_orchestrator.report import ProgressLine, clean_text, format_run_headline, format_summary_table
from flow_orchestrator.report.terminal import display_width, fit
from hypothesis import given, settings
from hypothesis import strategies as st


def _recipe(name, state, attempts=1, duration=1.5, error=None, skipped_because=()):
    return {
        "name": name,
        "type": "python",
        "state": state,
        "attempts": attempts,
        "duration_s": duration,
        "error": None if error is None else {"message": error, "type": "JobFailed", "transient": False},
        "skipped_because": list(skipped_because),
        "attempt_history": [],
    }


RECORD = {
    "run_id": "20261125T123456Z-3f9a1c",
    "project_key": "CLINICAL",
    "state": "FAILED",
    "duration_s": 13.878,
    "counts": {"SUCCESS": 2, "FAILED": 1, "SKIPPED": 1, "ABORTED": 0, "TIMED_OUT": 0, "NOT_RUN": 0},
    "recipes": [
        _recipe("prepare_PATIENTS", "SUCCESS", duration=2.0),
        _recipe(
            "group_LAB_RESULTS_AGG",
            "FAILED",
            attempts=3,
            duration=125.0,
            error="Column LAB_VALUE not found in input dataset LAB_RESULTS\nTraceback (most recent call last): ...",
        ),
        _recipe("window_MEDICATIONS", "SUCCESS", duration=0.4),
        _recipe(
            "join_ML_TRAINING_DATA", "SKIPPED", attempts=0, duration=None, skipped_because=["group_LAB_RESULTS_AGG"]
        ),
    ],
}


def test_summary_table_is_aligned_with_one_line_per_recipe():
    lines = format_summary_table(RECORD, width=120).splitlines()
    assert lines[0].split() == ["RECIPE", "STATE", "ATTEMPTS", "DURATION", "NOTE"]
    assert len(lines) == 5
    state_col = lines[0].index("STATE")
    assert [line[state_col:].split()[0] for line in lines[1:]] == ["SUCCESS", "FAILED", "SUCCESS", "SKIPPED"]
    duration_end = lines[0].index("DURATION") + len("DURATION")
    assert [line[:duration_end].split()[-1] for line in lines[1:]] == ["2.0s", "05s", "0.4s", "–"]
    assert lines[2][:duration_end].endswith("3    2m 05s")
    assert lines[2].endswith("Column LAB_VALUE not found in input dataset LAB_RESULTS")  # first line of the error only
    assert lines[4].endswith("skipped: group_LAB_RESULTS_AGG failed")
    assert lines[1] == lines[1].rstrip()


def test_a_polling_outage_is_said_in_the_note_of_the_recipe_it_delayed():
    """As on the HTML timeline: the attempt whose end DSS could not report is named, after the recipe's error."""
    record = {**RECORD, "recipes": [dict(r) for r in RECORD["recipes"]]}
    record["recipes"][0]["attempt_history"] = [{"attempt": 1, "job_id": "j1", "state": "SUCCESS", "status_gap_s": 166}]
    failed = record["recipes"][1]
    failed["attempt_history"] = [
        {"attempt": n, "job_id": f"j{n}", "state": "FAILED", "status_gap_s": gap} for n, gap in ((1, None), (2, 12.0))
    ]
    lines = format_summary_table(record, width=240).splitlines()
    assert lines[1].endswith("end noticed 2m 46s late: DSS answered no status request meanwhile")
    assert "Column LAB_VALUE not found in input dataset LAB_RESULTS; end noticed 12.0s late (attempt 2)" in lines[2]
    assert "noticed" not in lines[3] and "noticed" not in lines[4]


def test_summary_table_truncates_to_the_width():
    lines = format_summary_table(RECORD, width=70).splitlines()
    assert all(display_width(line) <= 70 for line in lines)
    assert lines[2].endswith("…")
    assert "group_LAB_RESULTS_AGG" in lines[2]  # the recipe keeps its room, the error is cut


def test_summary_table_defaults_to_the_terminal_width(monkeypatch):
    monkeypatch.setenv("COLUMNS", "64")
    assert all(display_width(line) <= 64 for line in format_summary_table(RECORD).splitlines())


def test_control_characters_in_names_and_errors_cannot_drive_the_terminal():
    record = {"recipes": [_recipe("evil\x1b[2J\x1b[31mname\rX", "FAILED", error="bad\x07\x1b]0;title\x07 \u202eerr")]}
    out = format_summary_table(record, width=200)
    assert "\x1b" not in out and "\r" not in out and "\x07" not in out and "\u202e" not in out
    assert "evil?[2J?[31mname X" in out


@given(
    st.lists(
        st.tuples(
            st.text(max_size=80), st.sampled_from(["SUCCESS", "FAILED", "SKIPPED", "TIMED_OUT"]), st.text(max_size=200)
        ),
        max_size=8,
    ),
    st.integers(min_value=20, max_value=300),
)
@settings(max_examples=150, deadline=None)
def test_no_line_is_wider_than_the_width(rows, width):
    record = {"recipes": [_recipe(name, state, error=error or None) for name, state, error in rows]}
    lines = format_summary_table(record, width=width).splitlines()
    assert len(lines) == 1 + len(rows)
    assert all(display_width(line) <= width for line in lines)
    assert all(ch.isprintable() or ch == " " for line in lines for ch in line)


def test_fit_and_width_count_wide_characters():
    assert display_width("数据集") == 6
    assert fit("数据集ABC", 5) == "数据…"
    assert fit("short", 10) == "short"
    assert fit("abc", 0) == ""


@pytest.mark.parametrize(
    "text,columns",
    [
        ("⚙️", 2),  # U+FE0F asks for the two-column emoji form
        ("👩‍💻", 2),  # a ZWJ sequence is one glyph
        ("👍🏽", 2),  # a skin-tone modifier colours the emoji before it
        ("🇫🇷", 2),  # a flag: two regional indicators
        ("e\u0301", 1),  # a combining accent
        ("\u1100\u1161", 2),  # a Hangul syllable from its jamo
        ("集計_売上", 9),
    ],
)
def test_display_width_counts_glyphs_as_a_terminal_draws_them(text, columns):
    assert display_width(text) == columns


def test_fit_never_cuts_inside_a_glyph():
    assert fit("👩‍💻👩‍💻👩‍💻", 5) == "👩‍💻👩‍💻…"
    assert fit("a⚙️b", 3) == "a…"


def test_the_end_of_the_run_is_said_once():
    out = io.StringIO()
    ProgressLine(out)(SimpleNamespace(kind="run_finished", state="SUCCESS", message="Run success: 2 success"))
    assert out.getvalue() == "Run SUCCESS: 2 success\n"


def test_clean_text_keeps_one_readable_line():
    assert clean_text("a\nb\tc  d") == "a b c d"
    assert clean_text(None) == ""
    assert clean_text("é🙂") == "é🙂"


def test_run_headline():
    assert (
        format_run_headline(RECORD)
        == "Run 20261125T123456Z-3f9a1c of CLINICAL: FAILED in 13.9s (2 SUCCESS, 1 FAILED, 1 SKIPPED)"
    )


@dataclass(frozen=True)
class Event:
    kind: str
    run_id: str = "r1"
    recipe: Optional[str] = None
    attempt: Optional[int] = None
    state: Optional[str] = None
    message: Optional[str] = None
    done: int = 0
    total: int = 0
    job_id: Optional[str] = None


EVENTS = [
    Event("plan_ready", total=3),
    Event("recipe_started", recipe="a", attempt=1, total=3, job_id="job_a"),
    Event("recipe_started", recipe="b", attempt=1, total=3, job_id="job_b"),
    Event("recipe_finished", recipe="a", state="SUCCESS", done=1, total=3),
    Event(
        "recipe_retrying",
        recipe="b",
        attempt=1,
        done=1,
        total=3,
        message="b failed: HTTP 503 (retrying in 5.0s, attempt 2 of 3)",
    ),
    Event("recipe_started", recipe="b", attempt=2, done=1, total=3, job_id="job_b2"),
    Event("recipe_finished", recipe="b", state="FAILED", done=2, total=3, message="b failed: HTTP 503"),
    Event("recipe_finished", recipe="c", state="SKIPPED", done=3, total=3, message="skipped because b failed"),
    Event("run_finished", state="FAILED", done=3, total=3, message="1 failed, 1 skipped"),
]


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


def test_progress_line_prints_plain_lines_when_not_a_tty():
    out = io.StringIO()
    progress = ProgressLine(out)
    for event in EVENTS:
        progress(event)
    text = out.getvalue()
    assert "\r" not in text
    assert text.splitlines() == [
        "Plan ready: 3 recipes",
        "[0/3] started a job job_a",
        "[0/3] started b job job_b",
        "[1/3] a SUCCESS",
        "[1/3] retrying b: b failed: HTTP 503 (retrying in 5.0s, attempt 2 of 3)",
        "[1/3] started b (attempt 2) job job_b2",
        "[2/3] b FAILED: b failed: HTTP 503",
        "[3/3] c SKIPPED: skipped because b failed",
        "Run FAILED: 1 failed, 1 skipped",
    ]


def test_progress_line_rewrites_one_line_on_a_tty_and_keeps_problems_visible():
    out = FakeTTY()
    progress = ProgressLine(out, width=60)
    assert progress._tty
    for event in EVENTS:
        progress(event)
    text = out.getvalue()
    assert "\r[0/3] running 2: a, b" in text
    screen = _final_screen(text)
    assert screen == [
        "Plan ready: 3 recipes",
        "[1/3] retrying b: b failed: HTTP 503 (retrying in 5.0s, at…",
        "[2/3] b FAILED: b failed: HTTP 503",
        "[3/3] c SKIPPED: skipped because b failed",
        "Run FAILED: 1 failed, 1 skipped",
        "",
    ]
    assert all(display_width(line) <= 59 for line in text.replace("\r", "\n").splitlines())


def test_progress_line_close_ends_an_unfinished_status_line():
    out = FakeTTY()
    progress = ProgressLine(out, width=80)
    progress(EVENTS[0])
    progress(EVENTS[1])
    progress.close()
    assert out.getvalue().endswith("\n")
    assert _final_screen(out.getvalue())[-2] == "[0/3] running 1: a"
    progress.close()  # nothing more to end
    assert not out.getvalue().endswith("\n\n")


def test_progress_line_accepts_any_object_with_the_event_attributes():
    out = io.StringIO()
    ProgressLine(out, tty=False)(type("E", (), {"kind": "custom", "recipe": "r\x1b[0m", "done": 1, "total": 2})())
    assert out.getvalue() == "[1/2] custom r?[0m\n"


def _final_screen(text):
    """What a terminal shows after ``text``: carriage returns overwrite the current line."""
    screen, line = [], []
    col = 0
    for ch in text:
        if ch == "\r":
            col = 0
        elif ch == "\n":
            screen.append("".join(line).rstrip())
            line, col = [], 0
        else:
            if col < len(line):
                line[col] = ch
            else:
                line.append(ch)
            col += 1
    screen.append("".join(line).rstrip())
    return screen


@pytest.mark.parametrize("width", [20, 33, 200])
def test_progress_line_never_exceeds_the_width(width):
    out = FakeTTY()
    progress = ProgressLine(out, width=width)
    for event in EVENTS:
        progress(event)
    assert all(display_width(line) < width for line in out.getvalue().replace("\r", "\n").splitlines())


def test_a_recipe_that_waited_for_a_job_started_elsewhere_says_so_in_its_note():
    record = {**RECORD, "recipes": [dict(r) for r in RECORD["recipes"]]}
    record["recipes"][0]["waited_for_jobs"] = ["Build_PATIENTS_2026-12-06T21-40-00.123"]
    lines = format_summary_table(record, width=200).splitlines()
    assert lines[1].endswith("waited for DSS job Build_PATIENTS_2026-12-06T21-40-00.123 started elsewhere")
    assert "waited" not in "".join(lines[2:])


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=40), st.integers(min_value=0, max_value=45))
def test_ascii_text_is_measured_and_cut_as_glyph_by_glyph(text, width):
    from flow_orchestrator.report.terminal import _clusters

    glyphs = _clusters(text)
    assert display_width(text) == sum(w for _, w in glyphs) == len(text)
    if width and len(text) > width:
        assert fit(text, width) == "".join(g for g, _ in glyphs[: width - 1]) + "…"
    elif width:
        assert fit(text, width) == text
