"""When to ask DSS about a running job next: pure functions of its elapsed time, expected duration and bounds.

A job whose expected duration is known (DSS's own job duration in the last run record, scaled by how this run's
jobs compare with their last durations so far: :class:`Pace`) is checked just after it (+2 % + 5 ms), then every
5 % of its elapsed time while it overruns; a longer job is also checked before its end for early failures, from a
quarter of it (5 s at the earliest) at doubling times. A job of unknown duration is checked every
``FIRST_RATIO`` of its elapsed time until a job of the run ended, then every ``UNKNOWN_RATIO``, so the detection lag
stays a bounded share of its run time; once jobs of the run have ended, it is also not checked before it has run as
long as the shortest of the recent ones (:attr:`Pace.shortest_s`), and checked every ``UNKNOWN_RATIO`` of the longer
of its elapsed time and their median (:attr:`Pace.typical_s`): on a first run the youngest jobs would otherwise set
the pace of every request (one answer checks them all); a job much shorter than the run's recent ones is noticed
later. Geometric intervals stay between ``poll_min_s`` and ``poll_max_s``; a check aimed at the expected end is
not pushed back to ``poll_min_s`` (the runner keeps its requests that far apart); a time limit is never overshot.
With many jobs running, one answer serves them all: :func:`shared_scale` shortens the run's floor and lag shares
alike.
"""

from __future__ import annotations

import bisect
from typing import List, NamedTuple, Optional

#: A job expected to run a long time is checked for early failures at this fraction of its expected duration, then
#: at twice the elapsed time, as long as that stays this fraction before the expected end.
PRE_END_FRACTION = 0.25
#: ... but never sooner than this after its start: early failures are rare and short jobs end soon anyway.
PRE_END_MIN_S = 5.0
#: The check at the expected end comes this fraction plus ``END_MARGIN_S`` later: DSS's job durations vary a little
#: from run to run, and a check just before the end catches nothing.
END_MARGIN = 0.02
END_MARGIN_S = 0.005
#: While no job of the run has ended, a job is also checked at this fraction of its expected duration: a run whose
#: jobs all end much sooner than last time (a cache, a smaller input) learns it at half the cost of waiting.
UNCONFIRMED_FRACTION = 0.5
#: Past its expected duration, a job is checked every ``OVERRUN_RATIO`` of its elapsed time.
OVERRUN_RATIO = 0.05
#: A job of unknown duration is checked every ``UNKNOWN_RATIO`` of its elapsed time, or of the run's typical
#: duration (:attr:`Pace.typical_s`) while it is younger. Catching half the ends within 5 % of their job's duration
#: with ends nobody can predict takes a request every ~10 % of a typical duration; 7 % leaves room for the jobs
#: shorter than typical (benchmarked: bench/engine.py).
UNKNOWN_RATIO = 0.07
#: ... and, while no job of the run has ended (nothing says yet how long its jobs last), every ``FIRST_RATIO`` of
#: its elapsed time: the first few jobs' ends are noticed a little later, at a third of the requests.
FIRST_RATIO = 0.25
#: A geometric check at most this fraction of its interval away joins a call made for another job.
COALESCE_FRACTION = 0.5
#: With more jobs than this running, one answer serves so many that the run may ask more often: its shortest wait
#: between requests and its lag shares (``UNKNOWN_RATIO``, ``OVERRUN_RATIO``) are scaled by ``SHARED_JOBS / running``,
#: never below ``SHARED_MIN_SCALE``. Short jobs under a high cap then wait less for their end to be noticed (the lag
#: is what a freed slot idles) while the requests per job and per second of its run stay about the same.
SHARED_JOBS = 10
SHARED_MIN_SCALE = 0.3
#: Times closer than this are equal (float rounding must never make a loop spin without the clock moving).
EPS = 1e-6
#: The pace of a run is the median of the last this many ended jobs' ratios (real / expected duration).
PACE_WINDOW = 15
#: ... never taken beyond these bounds (a job 16 times faster or slower than last time is polled as unknown would be).
PACE_MIN, PACE_MAX = 1 / 16, 16.0


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
    confirmed: bool = True,
    shared: float = 1.0,
    shortest: Optional[float] = None,
    typical: Optional[float] = None,
) -> Check:
    """The next check of a job ``elapsed`` seconds into its run (``expected``: None when unknown; ``confirmed``:
    False while no job of the run has ended, so nothing says yet whether last run's durations still hold;
    ``shared``: :func:`shared_scale`, applied to the lag shares of unknown and overrunning jobs; ``shortest`` and
    ``typical``: the shortest and median durations of the run's recent jobs, for jobs of unknown duration)."""
    elapsed = max(elapsed, 0.0)
    exact = False
    if expected is None:
        step = (FIRST_RATIO if shortest is None else UNKNOWN_RATIO) * shared * max(elapsed, typical or 0.0)
        if shortest is not None and elapsed + step < shortest:
            step = shortest - elapsed
    else:
        end = expected * (1 + END_MARGIN) + END_MARGIN_S
        if elapsed + EPS < end:
            early = max(2 * elapsed, expected * PRE_END_FRACTION, PRE_END_MIN_S)
            if not confirmed and elapsed + EPS < expected * UNCONFIRMED_FRACTION:
                early = min(early, expected * UNCONFIRMED_FRACTION)
            if early < end - expected * PRE_END_FRACTION or early <= expected * UNCONFIRMED_FRACTION + EPS:
                step = early - elapsed
            else:
                step, exact = end - elapsed, True
        else:
            step = OVERRUN_RATIO * shared * elapsed
    if not exact:  # a check aimed at the expected end may come sooner: polls are spaced by the run, not per job
        step = max(step, poll_min_s)
    if step > poll_max_s:
        step, exact = poll_max_s, False
    if until_deadline is not None and until_deadline < step:
        step, exact = max(until_deadline, 0.0), True
    return Check(step, exact)


def shared_scale(running: int) -> float:
    """How much shorter than one job alone the run's polling intervals are with ``running`` jobs sharing each answer
    (1.0 up to ``SHARED_JOBS``; see there)."""
    if running <= SHARED_JOBS:
        return 1.0
    return max(SHARED_JOBS / running, SHARED_MIN_SCALE)


def is_due(next_at: float, scheduled_at: float, exact: bool, now: float) -> bool:
    """Due now, or a geometric check close enough (relative to its interval) to share a request made now."""
    if next_at <= now + EPS:
        return True
    return not exact and next_at - now <= COALESCE_FRACTION * (next_at - scheduled_at)


class Pace:
    """How this run's jobs last compared with their last run: the median ratio (real / expected) of the last
    ``PACE_WINDOW`` jobs that ended. A Flow whose jobs all run 4x faster than last time (a cache, a smaller input)
    is then polled near its new ends after its first few jobs, instead of at the old ones."""

    def __init__(self) -> None:
        self._recent: List[float] = []  # ratios in arrival order
        self._sorted: List[float] = []
        self._durations: List[float] = []  # real durations of the last PACE_WINDOW jobs, in arrival order
        self.shortest_s: Optional[float] = None
        """The shortest of the last ``PACE_WINDOW`` jobs' real durations (None before one ended): a job of unknown
        duration is hardly going to end sooner, and checking it before costs requests that find nothing."""
        self.typical_s: Optional[float] = None
        """Their median: how far apart the run's checks of young jobs of unknown duration are (``UNKNOWN_RATIO`` of
        it), whatever their number."""

    def add(self, real_s: Optional[float], expected_s: Optional[float]) -> None:
        if real_s and real_s > 0:
            self._durations.append(real_s)
            if len(self._durations) > PACE_WINDOW:
                del self._durations[0]
            ordered = sorted(self._durations)  # once per ended job; read at every check
            self.shortest_s, self.typical_s = ordered[0], ordered[(len(ordered) - 1) // 2]
        if not real_s or not expected_s or real_s <= 0 or expected_s <= 0:
            return
        ratio = min(max(real_s / expected_s, PACE_MIN), PACE_MAX)
        self._recent.append(ratio)
        bisect.insort(self._sorted, ratio)
        if len(self._recent) > PACE_WINDOW:
            self._sorted.remove(self._recent.pop(0))

    @property
    def known(self) -> bool:
        """Whether a job of the run ended (with an expected duration to compare with)."""
        return bool(self._sorted)

    @property
    def ratio(self) -> float:
        """1.0 until a job ended; then the median ratio."""
        if not self._sorted:
            return 1.0
        n = len(self._sorted)
        return self._sorted[n // 2] if n % 2 else (self._sorted[n // 2 - 1] + self._sorted[n // 2]) / 2

    def expect(self, expected_s: Optional[float]) -> Optional[float]:
        """The expected duration of a job this run, from its last one (None stays unknown)."""
        return None if expected_s is None else expected_s * self.ratio
