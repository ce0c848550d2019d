"""When to ask DSS about a running job next: pure functions of its elapsed time, expected duration and bounds.

A job whose expected duration is known (DSS's own job duration in the last run record) is checked just after it
(+2 % + 5 ms), then every 5 % of its elapsed time while it overruns; a longer job is also checked before its end for
early failures, from a quarter of it (5 s at the earliest) at doubling times. A job of unknown duration is checked
every 25 % of its elapsed time, so the detection lag stays a bounded share of its run time. Every interval stays
between ``poll_min_s`` and ``poll_max_s``; a time limit is never overshot.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

#: A job expected to run a long time is checked for early failures at this fraction of its expected duration, then
#: at twice the elapsed time, as long as that stays this fraction before the expected end.
PRE_END_FRACTION = 0.25
#: ... but never sooner than this after its start: early failures are rare and short jobs end soon anyway.
PRE_END_MIN_S = 5.0
#: The check at the expected end comes this fraction plus ``END_MARGIN_S`` later: DSS's job durations vary a little
#: from run to run, and a check just before the end catches nothing.
END_MARGIN = 0.02
END_MARGIN_S = 0.005
#: Past its expected duration, a job is checked every ``OVERRUN_RATIO`` of its elapsed time.
OVERRUN_RATIO = 0.05
#: A job of unknown duration is checked every ``UNKNOWN_RATIO`` of its elapsed time (lag at most that share).
UNKNOWN_RATIO = 0.25
#: A geometric check at most this fraction of its interval away joins a call made for another job.
COALESCE_FRACTION = 0.5
#: Times closer than this are equal (float rounding must never make a loop spin without the clock moving).
EPS = 1e-6


class Check(NamedTuple):
    """The next check of a job: ``delay`` seconds from now; ``exact`` when it aims at the expected end or the
    deadline (then it is never moved earlier to share another job's request)."""

    delay: float
    exact: bool


def next_check(
    elapsed: float,
    expected: Optional[float],
    poll_min_s: float,
    poll_max_s: float,
    until_deadline: Optional[float] = None,
) -> Check:
    """The next check of a job ``elapsed`` seconds into its run (``expected``: None when unknown)."""
    elapsed = max(elapsed, 0.0)
    exact = False
    if expected is None:
        step = UNKNOWN_RATIO * elapsed
    else:
        end = expected * (1 + END_MARGIN) + END_MARGIN_S
        if elapsed + EPS < end:
            early = max(2 * elapsed, expected * PRE_END_FRACTION, PRE_END_MIN_S)
            if early < end - expected * PRE_END_FRACTION:
                step = early - elapsed
            else:
                step, exact = end - elapsed, True
        else:
            step = OVERRUN_RATIO * elapsed
    step = max(step, poll_min_s)
    if step > poll_max_s:
        step, exact = poll_max_s, False
    if until_deadline is not None and until_deadline < step:
        step, exact = max(until_deadline, 0.0), True
    return Check(step, exact)


def is_due(next_at: float, scheduled_at: float, exact: bool, now: float) -> bool:
    """Due now, or a geometric check close enough (relative to its interval) to share a request made now."""
    if next_at <= now + EPS:
        return True
    return not exact and next_at - now <= COALESCE_FRACTION * (next_at - scheduled_at)
