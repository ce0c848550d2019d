"""The shared text helpers: one way to suggest a name, to print a duration, to shorten a message."""

from __future__ import annotations

import math

from flow_orchestrator.text import close_names, did_you_mean, format_duration, is_blank, one_line, plural


def test_close_names_put_a_case_only_difference_first_then_difflib():
    assert close_names("Clinical", ["CLINICAL", "CLINICA", "Clinica"]) == ["CLINICAL", "Clinica"]
    assert close_names("orders_raww", ["orders_raw", "customers"], n=1) == ["orders_raw"]
    assert close_names("zzz", ["orders_raw"]) == []
    assert close_names("datetme", ["date", "datetime"], n=1, cutoff=0.75) == ["datetime"]


def test_did_you_mean_is_one_sentence_or_nothing():
    assert (
        did_you_mean("join_orders", ["join_order", "join_others", "x"])
        == "; did you mean 'join_order' or 'join_others'?"
    )
    assert did_you_mean("join_orders", ["join_others", "join_order"], n=1) == "; did you mean 'join_order'?"
    assert did_you_mean("nothing", ["else"]) == ""


def test_durations_read_the_same_in_every_report():
    assert [format_duration(s) for s in (0.4, 12.34, 59.96, 152, 3600 + 125)] == [
        "0.4s",
        "12.3s",
        "1m 00s",
        "2m 32s",
        "1h 02m",
    ]
    assert format_duration(None) == format_duration(math.nan) == format_duration(True) == "–"


def test_one_line_collapses_whitespace_and_cuts_with_an_ellipsis():
    assert one_line("a\n  b\tc") == "a b c"
    assert one_line("x" * 10, 4) == "xxxx…"
    assert one_line(ValueError("no\nsuch dataset")) == "no such dataset"


def test_blank_form_values_and_plurals():
    assert all(is_blank(v) for v in (None, "", "  ", [], (), {}))
    assert not any(is_blank(v) for v in (0, False, "x", [None]))
    assert plural(1, "row") == "1 row" and plural(2, "row") == "2 rows"
