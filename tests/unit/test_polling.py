"""Poll timing alone: a pure function of elapsed time, expected duration and bounds."""

from __future__ import annotations

import pytest
from flow_orchestrator.polling import (
    END_MARGIN,
    END_MARGIN_S,
    FIRST_RATIO,
    PACE_MAX,
    PACE_WINDOW,
    PRE_END_MIN_S,
    SHARED_JOBS,
    SHARED_MIN_SCALE,
    UNCONFIRMED_FRACTION,
    UNKNOWN_RATIO,
    Pace,
    is_due,
    next_check,
    shared_scale,
)


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


def test_many_jobs_sharing_each_answer_shorten_the_run_intervals_within_a_bound():
    assert shared_scale(1) == shared_scale(SHARED_JOBS) == 1.0
    assert shared_scale(2 * SHARED_JOBS) == pytest.approx(0.5)
    assert shared_scale(1000) == SHARED_MIN_SCALE
    half = shared_scale(2 * SHARED_JOBS)
    assert next_check(4.0, None, 0.05, 5.0, shared=half, shortest=1.0).delay == pytest.approx(UNKNOWN_RATIO * half * 4)
    assert next_check(0.0, None, 0.05 * half, 5.0, shared=half).delay == pytest.approx(0.05 * half)
    overrun = next_check(20.0, 10.0, 0.05, 5.0)
    assert next_check(20.0, 10.0, 0.05, 5.0, shared=half).delay == pytest.approx(overrun.delay * half)
    end = next_check(0.0, 0.4, 0.05, 5.0)
    assert next_check(0.0, 0.4, 0.05, 5.0, shared=half) == end  # a check aimed at the expected end does not move


def test_an_unknown_job_is_checked_in_step_with_its_elapsed_time_within_bounds():
    assert next_check(0.0, None, 0.05, 5.0).delay == 0.05
    assert next_check(4.0, None, 0.05, 5.0).delay == FIRST_RATIO * 4.0  # no job of the run ended yet
    assert next_check(4.0, None, 0.05, 5.0, shortest=0.5).delay == UNKNOWN_RATIO * 4.0  # one did
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


def test_a_check_aimed_at_the_expected_end_is_not_pushed_back_to_the_poll_floor():
    check = next_check(1.99, 2.0, 0.05, 5.0)  # the run, not the job, keeps polls poll_min_s apart
    assert check.exact and check.delay == pytest.approx(2.0 * END_MARGIN + END_MARGIN_S + 0.01)
    assert next_check(0.01, None, 0.05, 5.0).delay == 0.05  # geometric checks keep the floor


def test_the_pace_of_a_run_is_the_median_ratio_of_its_recent_jobs():
    pace = Pace()
    assert pace.ratio == 1.0 and pace.expect(8.0) == 8.0 and pace.expect(None) is None
    for real in (2.0, 2.2, 1.8):
        pace.add(real, 8.0)  # about 4x faster than last time
    assert pace.ratio == pytest.approx(0.25) and pace.expect(4.0) == pytest.approx(1.0)
    pace.add(None, 8.0)
    pace.add(1.0, None)  # unknown either way: no evidence
    assert pace.ratio == pytest.approx(0.25)


def test_the_pace_forgets_old_jobs_and_stays_bounded():
    pace = Pace()
    for _ in range(PACE_WINDOW):
        pace.add(1.0, 4.0)
    for _ in range(PACE_WINDOW // 2 + 1):
        pace.add(4.0, 4.0)  # the run's jobs now last as long as last time
    assert pace.ratio == 1.0
    for _ in range(PACE_WINDOW):
        pace.add(1e6, 1.0)
    assert pace.ratio == PACE_MAX


def test_before_any_job_of_the_run_ended_a_known_job_is_also_checked_halfway():
    assert next_check(0.0, 2.0, 0.05, 5.0, confirmed=False) == (2.0 * UNCONFIRMED_FRACTION, False)
    assert next_check(1.0, 2.0, 0.05, 5.0, confirmed=False).exact  # then at its expected end
    assert next_check(0.0, 2.0, 0.05, 5.0).exact  # once the run's pace is known: the end only


def test_a_job_of_unknown_duration_is_not_checked_before_the_shortest_recent_job_of_the_run():
    assert next_check(0.1, None, 0.05, 5.0, shortest=2.0).delay == pytest.approx(1.9)
    assert next_check(1.99, None, 0.05, 5.0, shortest=2.0).delay == pytest.approx(UNKNOWN_RATIO * 1.99)  # near it
    assert next_check(3.0, None, 0.05, 5.0, shortest=2.0).delay == pytest.approx(UNKNOWN_RATIO * 3.0)  # past it
    assert next_check(0.1, None, 0.05, 5.0).delay == 0.05  # nothing ended yet: from its start on
    assert next_check(0.1, 0.2, 0.05, 5.0, shortest=2.0).exact  # a known job: its own expected end


def test_a_young_job_of_unknown_duration_is_checked_at_a_share_of_the_typical_duration_not_of_its_age():
    assert next_check(2.5, None, 0.05, 5.0, shortest=2.0, typical=5.0).delay == pytest.approx(UNKNOWN_RATIO * 5.0)
    assert next_check(8.0, None, 0.05, 5.0, shortest=2.0, typical=5.0).delay == pytest.approx(
        UNKNOWN_RATIO * 8.0
    )  # older
    half = shared_scale(2 * SHARED_JOBS)
    assert next_check(2.5, None, 0.05, 5.0, shared=half, shortest=2.0, typical=5.0).delay == pytest.approx(
        UNKNOWN_RATIO * half * 5.0
    )


def test_the_run_s_recent_durations_count_every_ended_job_and_forget_old_ones():
    pace = Pace()
    assert pace.shortest_s is None and pace.typical_s is None
    pace.add(3.0, None)  # no expected duration: no pace, but a duration all the same
    pace.add(0.0, 1.0)  # not a duration
    assert pace.shortest_s == pace.typical_s == 3.0 and not pace.known
    pace.add(1.5, 1.0)
    pace.add(9.0, 1.0)
    assert pace.shortest_s == 1.5 and pace.typical_s == 3.0
    for _ in range(PACE_WINDOW):
        pace.add(4.0, 4.0)
    assert pace.shortest_s == pace.typical_s == 4.0
