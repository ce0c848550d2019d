"""The scheduler alone: ready order, retries, skips and the final states a stop gives (no clock, no DSS)."""

from __future__ import annotations

import pytest
from flow_orchestrator.scheduler import FINISHED, READY, RETRY_WAIT, RUNNING, Scheduler
from hypothesis import given, settings
from hypothesis import strategies as st


def diamond() -> Scheduler:
    # 0 -> 1, 0 -> 2, (1, 2) -> 3; 4 alone
    return Scheduler([(), (0,), (0,), (1, 2), ()], [5.0, 3.0, 4.0, 1.0, 2.0])


def test_ready_nodes_pop_by_priority_then_index():
    sched = Scheduler([(), (), ()], [1.0, 3.0, 3.0])
    assert [sched.pop_ready(), sched.pop_ready(), sched.pop_ready(), sched.pop_ready()] == [1, 2, 0, None]
    assert sched.running == 3


def test_success_releases_downstream_once_every_upstream_succeeded():
    sched = diamond()
    assert sched.pop_ready() == 0 and sched.pop_ready() == 4
    assert sched.finish(0, "SUCCESS") == ([1, 2], [])
    assert sched.pop_ready() == 2 and sched.pop_ready() == 1
    assert sched.finish(2, "SUCCESS") == ([], [])
    assert sched.finish(1, "SUCCESS") == ([3], [])


def test_failure_skips_everything_downstream_naming_each_failed_root():
    sched = diamond()
    sched.pop_ready(), sched.pop_ready()
    sched.finish(0, "SUCCESS")
    one, two = sched.pop_ready(), sched.pop_ready()
    assert sched.finish(one, "FAILED", failed=True) == ([], [3])
    assert sched.finish(two, "FAILED", failed=True) == ([], [3])  # one more root named
    assert sched.skip_causes(3) == [1, 2] and sched.final[3] == "SKIPPED"


def test_a_failed_root_does_not_hold_back_other_branches():
    sched = Scheduler([(), (), (1,)], [1.0, 2.0, 1.0])
    sched.pop_ready()  # 1
    sched.finish(1, "SUCCESS")  # 2 ready
    sched.finish(0, "FAILED", failed=True)  # not running: nothing below 0 anyway
    assert sched.pop_ready() == 2


def test_retries_wait_until_due_and_hold_no_ready_slot():
    sched = Scheduler([()], [1.0])
    node = sched.pop_ready()
    sched.started(node)
    sched.retry_at(node, 10.0, "FAILED")
    assert sched.status[node] == RETRY_WAIT and sched.next_retry_at() == 10.0 and sched.running == 0
    assert sched.release_due(9.9) == 0 and sched.pop_ready() is None
    assert sched.release_due(10.0) == 1 and sched.status[node] == READY
    assert sched.pop_ready() == node and sched.status[node] == RUNNING


def test_drain_on_stop_gives_a_waiting_retry_its_last_attempts_outcome():
    """The bug of issue 10.1: a retry due when fail-fast stops the run was dropped with the ready set (NOT_RUN)."""
    sched = Scheduler([(), (), (), ()], [4.0, 3.0, 2.0, 1.0])
    a, b, c = sched.pop_ready(), sched.pop_ready(), sched.pop_ready()
    for node in (a, b, c):
        sched.started(node)
    sched.retry_at(a, 5.0, "FAILED")  # waits for its retry
    sched.retry_at(b, 1.0, "ABORTED")  # lost to a restart, retry already due
    sched.release_due(2.0)
    assert sched.drain_on_stop() == [(a, "FAILED"), (b, "ABORTED"), (3, "NOT_RUN")]
    assert sched.status[c] == RUNNING and not sched.is_idle()
    assert sched.pop_ready() is None  # nothing starts once stopped
    sched.finish(c, "SUCCESS")
    assert sched.is_idle() and sched.unfinished == 0


def test_a_start_that_never_reached_dss_is_not_run_after_a_stop():
    sched = Scheduler([()], [1.0])
    node = sched.pop_ready()
    sched.retry_at(node, 3.0)  # the start request failed: no attempt
    assert sched.drain_on_stop() == [(node, "NOT_RUN")]


def test_pending_nodes_behind_a_running_upstream_wait_for_its_outcome():
    sched = Scheduler([(), (0,), (1,)], [3.0, 2.0, 1.0])
    sched.started(sched.pop_ready())
    assert sched.drain_on_stop() == []  # 1 and 2 wait behind 0, still running
    assert sched.finish(0, "FAILED", failed=True) == ([], [1, 2])
    assert sched.drain_on_stop() == [] and sched.is_idle()


def test_success_while_stopped_releases_nothing_and_the_last_drain_closes_all():
    sched = Scheduler([(), (0,)], [2.0, 1.0])
    sched.started(sched.pop_ready())
    sched.drain_on_stop()
    assert sched.finish(0, "SUCCESS") == ([], [])
    assert sched.drain_on_stop() == [(1, "NOT_RUN")]
    assert sched.status == [FINISHED, FINISHED]


def test_nodes_must_come_in_topological_order():
    with pytest.raises(ValueError, match="topological"):
        Scheduler([(1,), ()], [1.0, 1.0])


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.data())
def test_every_node_ends_exactly_once_whatever_the_events(data):
    n = data.draw(st.integers(min_value=1, max_value=30))
    upstream = [data.draw(st.lists(st.integers(0, i - 1), max_size=3)) if i else [] for i in range(n)]
    sched = Scheduler(upstream, [data.draw(st.floats(0, 10)) for _ in range(n)])
    now, ended = 0.0, {}
    stop_after = data.draw(st.integers(min_value=0, max_value=2 * n))
    for step in range(10 * n):
        if step == stop_after:
            ended.update(sched.drain_on_stop())
        node = sched.pop_ready()
        if node is None:
            now = sched.next_retry_at() or now
            sched.release_due(now)
            if sched.stopped:
                ended.update(sched.drain_on_stop())
            if sched.is_idle():
                break
            continue
        sched.started(node)
        outcome = data.draw(st.sampled_from(("SUCCESS", "FAILED", "RETRY")))
        if outcome == "RETRY" and sched.attempts[node] < 3:
            sched.retry_at(node, now + 1.0, "FAILED")
            continue
        _, skipped = sched.finish(node, "SUCCESS" if outcome == "SUCCESS" else "FAILED", outcome != "SUCCESS")
        ended[node] = sched.final[node]
        ended.update((s, "SKIPPED") for s in skipped)
    ended.update(sched.drain_on_stop())
    assert sched.unfinished == 0 and set(ended) == set(range(n))
    for node in range(n):
        if sched.attempts[node]:
            assert sched.final[node] not in ("NOT_RUN", "SKIPPED")
