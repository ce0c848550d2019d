"""Which recipes may start now: the run's scheduling state, pure (no clock, no I/O, no DSS).

In the spirit of :class:`graphlib.TopologicalSorter` and dbt's ``GraphQueue``: nodes are plan indexes; each keeps
a counter of unfinished upstream nodes, and a finished node only touches its direct downstream (O(out-degree)).
Ready nodes wait in a heap, the one with the longest remaining path (its bottom level) first; nodes waiting to
retry wait in a heap ordered by due time. Every event costs O(log n) plus the edges it touches; nothing scans all
nodes except :meth:`Scheduler.drain_on_stop` once nothing runs any more.

The caller (the runner) owns time and DSS: it pops ready nodes, says when an attempt started and how it ended,
and asks for due retries with the current time.
"""

from __future__ import annotations

import heapq
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

PENDING, READY, RUNNING, RETRY_WAIT, FINISHED = "PENDING", "READY", "RUNNING", "RETRY_WAIT", "FINISHED"


class Scheduler:
    """Scheduling state of one run over nodes ``0..n-1`` given in a topological order.

    ``upstream[i]`` lists the nodes node ``i`` waits for (each smaller than ``i``); ``priority[i]`` orders ready
    nodes (higher first, then lower index). A node's life: PENDING → READY → RUNNING → (RETRY_WAIT → READY →
    RUNNING)* → FINISHED; a failure finishes everything downstream as SKIPPED, naming the failed roots.
    """

    def __init__(self, upstream: Sequence[Iterable[int]], priority: Sequence[float]):
        n = len(upstream)
        self.status: List[str] = [PENDING] * n
        self.final: List[Optional[str]] = [None] * n
        self.attempts: List[int] = [0] * n  # attempts started (jobs DSS accepted)
        self.last_outcome: List[Optional[str]] = [None] * n  # outcome of the last ended attempt
        self.causes: List[Optional[Dict[int, None]]] = [None] * n  # failed roots of a skip, in plan order
        self.downstream: List[List[int]] = [[] for _ in range(n)]
        self.waiting_on: List[int] = [0] * n
        self._priority = priority
        self._ready: List[Tuple[float, int]] = []
        self._retry: List[Tuple[float, int]] = []
        self.running = 0
        self.unfinished = n
        self.stopped = False
        self._swept = False  # every PENDING node was drained once nothing ran: none can appear again
        for i, ups in enumerate(upstream):
            for j in dict.fromkeys(ups):
                if not 0 <= j < i:
                    raise ValueError(f"node {i} waits for node {j}: nodes must be given in a topological order")
                self.downstream[j].append(i)
                self.waiting_on[i] += 1
        for i in range(n):
            if self.waiting_on[i] == 0:
                self._make_ready(i)

    # ------------------------------------------------------------------------------------------------ queries

    def has_ready(self) -> bool:
        while self._ready and self.status[self._ready[0][1]] != READY:
            heapq.heappop(self._ready)  # skipped meanwhile
        return bool(self._ready)

    def next_retry_at(self) -> Optional[float]:
        """Due time of the earliest waiting retry, None when none waits."""
        return self._retry[0][0] if self._retry else None

    def is_idle(self) -> bool:
        """Nothing ready, nothing waiting to retry, nothing running: the run can end."""
        return not self.has_ready() and not self._retry and self.running == 0

    # ------------------------------------------------------------------------------------------------ events

    def pop_ready(self) -> Optional[int]:
        """The ready node to start next (it becomes RUNNING), or None. Nothing pops once stopped."""
        while self._ready and not self.stopped:
            _, node = heapq.heappop(self._ready)
            if self.status[node] == READY:  # else skipped meanwhile: a stale entry
                self.status[node] = RUNNING
                self.running += 1
                return node
        return None

    def started(self, node: int) -> None:
        """DSS accepted a job for ``node``: one more attempt."""
        self.attempts[node] += 1

    def retry_at(self, node: int, due: float, outcome: Optional[str] = None) -> None:
        """``node`` stops running and starts again at ``due``. ``outcome``: its attempt's state (FAILED,
        ABORTED), or None when only the start request failed (no attempt)."""
        self._leave_running(node)
        if outcome is not None:
            self.last_outcome[node] = outcome
        self.status[node] = RETRY_WAIT
        heapq.heappush(self._retry, (due, node))

    def release_due(self, now: float) -> int:
        """Move retries due at ``now`` to the ready set; how many moved."""
        moved = 0
        while self._retry and self._retry[0][0] <= now:
            _, node = heapq.heappop(self._retry)
            if self.status[node] == RETRY_WAIT:
                self._make_ready(node)
                moved += 1
        return moved

    def finish(self, node: int, state: str, failed: bool = False) -> Tuple[List[int], List[int]]:
        """``node`` ended for good in ``state``; ``failed`` skips everything downstream.

        Returns ``(ready, skipped)``: nodes that became ready, and nodes whose skip causes changed (newly SKIPPED or
        already SKIPPED with one more failed root; see :meth:`skip_causes`).
        """
        if self.status[node] == RUNNING:
            self._leave_running(node)
        self._finalize(node, state)
        if state != "SKIPPED" and self.attempts[node]:
            self.last_outcome[node] = state
        if state == "SUCCESS":
            ready = []
            for down in self.downstream[node]:
                self.waiting_on[down] -= 1
                if self.waiting_on[down] == 0 and self.status[down] == PENDING:
                    if not self.stopped:
                        self._make_ready(down)
                        ready.append(down)
            return ready, []
        if failed:
            return [], self._skip_downstream(node)
        return [], []

    def drain_on_stop(self) -> List[Tuple[int, str]]:
        """Start nothing more and give every waiting node its true final state: ``[(node, state)]``.

        A node with an ended attempt (waiting to retry, or ready again for its retry) keeps that attempt's outcome;
        a node that never started is NOT_RUN. Ready and retry-waiting nodes are drained at once; PENDING nodes
        (behind a running upstream, whose failure would make them SKIPPED) once nothing runs any more.
        """
        self.stopped = True
        out: List[Tuple[int, str]] = []
        waiting = [node for _, node in self._ready] + [node for _, node in self._retry]
        self._ready.clear()
        self._retry.clear()
        if self.running == 0 and not self._swept:
            self._swept = True
            waiting.extend(i for i, status in enumerate(self.status) if status == PENDING)
        for node in sorted(set(waiting)):
            if self.status[node] in (FINISHED, RUNNING):
                continue
            state = self.last_outcome[node] if self.attempts[node] else "NOT_RUN"
            self._finalize(node, state or "NOT_RUN")
            out.append((node, self.final[node]))
        return out

    def skip_causes(self, node: int) -> List[int]:
        """The failed nodes at the root of ``node``'s skip, in plan order."""
        return sorted(self.causes[node] or ())

    # ------------------------------------------------------------------------------------------------ internals

    def _make_ready(self, node: int) -> None:
        self.status[node] = READY
        heapq.heappush(self._ready, (-self._priority[node], node))

    def _leave_running(self, node: int) -> None:
        if self.status[node] == RUNNING:
            self.running -= 1

    def _finalize(self, node: int, state: str) -> None:
        if self.status[node] != FINISHED:
            self.unfinished -= 1
        self.status[node] = FINISHED
        self.final[node] = state

    def _skip_downstream(self, root: int) -> List[int]:
        """Mark everything downstream of ``root`` SKIPPED (iterative); nodes already finished otherwise stay."""
        changed: List[int] = []
        stack = list(self.downstream[root])
        while stack:
            node = stack.pop()
            if self.status[node] == FINISHED and self.final[node] != "SKIPPED":
                continue
            causes = self.causes[node]
            if causes is None:
                causes = self.causes[node] = {}
            if root in causes:
                continue
            causes[root] = None
            if self.status[node] != FINISHED:
                if self.status[node] == RUNNING:  # cannot happen in a DAG run in order; kept safe
                    self._leave_running(node)
                self._finalize(node, "SKIPPED")
            changed.append(node)
            stack.extend(self.downstream[node])
        return changed
