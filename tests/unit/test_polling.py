"""Poll timing alone: a pure function of elapsed time, expected duration and bounds."""

from __future__ import annotations

import pytest
from flow_orchestrator.polling import END_MARGIN, END_MARGIN_S, PRE_END_MIN_S, UNKNOWN_RATIO, is_due, next_check


def test_a_known_short_job_is_checked_just_after_its_expected_end():
    check = next_check(0.0, 2.0, 0.05, 5.0)
    assert check.exact and check.delay == pytest.approx(2.0 * (1 + END_MARGIN) + END_MARGIN_S)


def test_a_measured_one_second_is_a_real_duration_not_unknown():
    assert next_check(0.0, 1.0, 0.05, 5.0).exact
    assert not next_check(0.0, None, 0.05, 5.0).exact


def test_a_long_job_is_checked_early_for_failures_at_doubling_times():
    first = next_check(0.0, 100.0, 0.05, 60.0)
    assert not first.exact and first.delay == 25.0
    assert next_check(25.0, 100.0, 0.05, 60.0).delay == 25.0  # at 50 s
    assert next_check(50.0, 100.0, 0.05, 60.0).exact  # then the end


def test_an_unknown_job_is_checked_in_step_with_its_elapsed_time_within_bounds():
    assert next_check(0.0, None, 0.05, 5.0).delay == 0.05
    assert next_check(4.0, None, 0.05, 5.0).delay == UNKNOWN_RATIO * 4.0
    assert next_check(400.0, None, 0.05, 5.0).delay == 5.0


def test_a_deadline_is_never_overshot():
    check = next_check(0.0, 60.0, 0.05, 120.0, until_deadline=2.5)
    assert check == (2.5, True)
    assert next_check(0.0, PRE_END_MIN_S, 0.05, 5.0, until_deadline=-1.0).delay == 0.0


def test_geometric_checks_join_a_nearby_request_exact_ones_do_not():
    assert is_due(10.0, 0.0, False, 10.0)
    assert is_due(10.0, 0.0, False, 6.0)  # within half of its interval
    assert not is_due(10.0, 0.0, False, 4.0)
    assert not is_due(10.0, 0.0, True, 6.0)
