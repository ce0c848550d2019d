"""Cost-aware grouped jobs: which grouping of a plan into DSS jobs should finish first, given what a job costs.

Every DSS job pays a fixed start-up and tear-down (RUNNING with no activity running) on top of its recipes' work.
With cheap jobs, chains (:func:`~flow_orchestrator.grouping.job_groups`) keep the most control for the least
waiting; with expensive jobs and many branches, one job for the whole plan wins. This module learns that cost from a
previous run record, estimates each candidate grouping's makespan by list scheduling, and picks the lowest, keeping
the finer grouping on a near tie and whenever the cost is unknown.

Pure: recipes are any objects with ``name`` and ``upstream`` in a topological order (a plan's ``recipes``); records
are the dicts :meth:`~flow_orchestrator.record.RunRecord.to_dict` writes.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import datetime, timezone
from statistics import median
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from .text import format_duration

#: Candidate groupings, from the finest to the coarsest (a tie keeps the first).
CHAINS = "chains"
WHOLE_PLAN = "whole-plan"
KIND_TEXT = {CHAINS: "as chains", WHOLE_PLAN: "as one job for the whole plan"}
#: A coarser grouping must be estimated at least this much faster to be chosen: a job per chain keeps more control
#: (parallelism under the cap, a time limit and a retry per job) and the estimate is only an estimate.
TIE_FRACTION = 0.05


@dataclass(frozen=True)
class JobOverhead:
    """What one DSS job costs besides its recipes' work, and where that figure comes from."""

    seconds: float
    source: str  # "setting", or "run <run id>" (learned from that run's record)
    jobs: int = 0  # jobs it was learned from (0 for the setting)

    def describe(self) -> str:
        if self.source == "setting":
            return "set in 'DSS job start-up cost'"
        return f"learned from {self.source}, {self.jobs} job(s)"


@dataclass(frozen=True)
class GroupingChoice:
    """The grouping a plan's jobs follow, the candidates' estimated makespans and why this one was chosen."""

    kind: str  # CHAINS or WHOLE_PLAN
    reason: str
    overhead_s: Optional[float] = None  # None: unknown
    overhead_source: Optional[str] = None
    estimates: Tuple[Tuple[str, float], ...] = ()  # (kind, estimated seconds) per candidate, finest first

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "reason": self.reason,
            "job_overhead_s": self.overhead_s,
            "job_overhead_source": self.overhead_source,
            "estimates_s": {kind: seconds for kind, seconds in self.estimates},
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> GroupingChoice:
        estimates = data.get("estimates_s") or {}
        return cls(
            kind=str(data.get("kind", CHAINS)),
            reason=str(data.get("reason", "")),
            overhead_s=_seconds(data.get("job_overhead_s")),
            overhead_source=data.get("job_overhead_source"),
            estimates=tuple((str(k), float(v)) for k, v in estimates.items() if _seconds(v) is not None),
        )


# ------------------------------------------------------------------------------------------ learning from a record


def learn_job_overhead(record: Optional[Mapping]) -> Optional[JobOverhead]:
    """The median per-job overhead of the successful jobs of a run record, or None when the record cannot tell.

    The record's own summary (``job_overhead``, kept by a compacted record) comes first. Else a job tells when its
    attempt says it (``overhead_s``: the runner read the job's activities), or when its recipes' times are their own
    activities' (a shared job: grouped jobs, single job): DSS's job duration minus the span of those activities. A
    recipe whose times are its job's own (one job per recipe) says nothing.
    """
    run_id = (record or {}).get("run_id")
    source = f"run {run_id}" if run_id else "the last run"
    summary = (record or {}).get("job_overhead")
    if isinstance(summary, Mapping) and _seconds(summary.get("median_s")) is not None:
        jobs = summary.get("jobs")
        return JobOverhead(float(summary["median_s"]), source, jobs if isinstance(jobs, int) else 0)
    samples: Dict[str, float] = {}
    jobs: Dict[str, Tuple[float, str, str]] = {}  # job id -> (DSS duration, job start, job end)
    spans: Dict[str, List[Tuple[datetime, datetime]]] = {}
    for item in (record or {}).get("recipes") or ():
        if not isinstance(item, Mapping):
            continue
        for attempt in item.get("attempt_history") or ():
            if not isinstance(attempt, Mapping) or attempt.get("state") != "SUCCESS" or not attempt.get("job_id"):
                continue
            job = str(attempt["job_id"])
            if _seconds(attempt.get("overhead_s")) is not None:
                samples[job] = float(attempt["overhead_s"])
            duration = _seconds(attempt.get("job_duration_s"))
            if duration is not None:
                jobs[job] = (duration, attempt.get("started_at"), attempt.get("ended_at"))
        own = own_activity_span(item)
        if own is not None:
            spans.setdefault(own[0], []).append(own[1:])
    for job, times in spans.items():
        if job in samples or job not in jobs:
            continue
        span = (max(end for _, end in times) - min(start for start, _ in times)).total_seconds()
        samples[job] = max(jobs[job][0] - span, 0.0)
    if not samples:
        return None
    return JobOverhead(round(median(samples.values()), 3), source, len(samples))


def own_activity_span(item: Mapping) -> Optional[Tuple[str, datetime, datetime]]:
    """(job id, start, end) of a successful recipe whose record times are its own activity's in its last job, not
    that job's (a recipe that shared its job); None otherwise."""
    history = item.get("attempt_history") or ()
    if item.get("state") != "SUCCESS" or not history or not isinstance(history[-1], Mapping):
        return None
    last = history[-1]
    start, end = _utc(item.get("started_at")), _utc(item.get("ended_at"))
    if start is None or end is None or end < start or not last.get("job_id"):
        return None
    if (item.get("started_at"), item.get("ended_at")) == (last.get("started_at"), last.get("ended_at")):
        return None  # the job's own times: its activity was not read
    return str(last["job_id"]), start, end


def own_duration_s(item: Mapping, shared: bool) -> Optional[float]:
    """Seconds of a successful recipe's own activity, where the record says it: its times differ from its job's, or a
    compacted record (no attempt history) keeps the ``duration_s`` of a recipe that ``shared`` a grouped job (taken
    from its activity; a single-job record's could be the whole job's). None otherwise."""
    own = own_activity_span(item)
    if own is not None:
        return (own[2] - own[1]).total_seconds()
    if shared and not item.get("attempt_history"):
        return _seconds(item.get("duration_s"))
    return None


def recipe_work_from_record(record: Optional[Mapping], overhead_s: Optional[float]) -> Dict[str, float]:
    """Seconds of work each successful recipe of a record did, without its job's overhead: its own activity's time
    where the record has it, else its job's DSS duration minus ``overhead_s`` (a job of its own)."""
    out: Dict[str, float] = {}
    items = [i for i in (record or {}).get("recipes") or () if isinstance(i, Mapping) and i.get("state") == "SUCCESS"]
    sharing: Dict[object, int] = {}  # last job id -> recipes it built
    for item in items:
        history = item.get("attempt_history") or ()
        if history and isinstance(history[-1], Mapping):
            sharing[history[-1].get("job_id")] = sharing.get(history[-1].get("job_id"), 0) + 1
    for item in items:
        name = str(item.get("name"))
        own = own_duration_s(item, bool(item.get("job_group")))
        if own is not None:
            out[name] = own
            continue
        history = item.get("attempt_history") or ()
        last = history[-1] if history and isinstance(history[-1], Mapping) else {}
        if sharing.get(last.get("job_id"), 0) > 1:
            continue  # a shared job's time is not this recipe's work
        duration = _seconds(last.get("job_duration_s"))
        if duration is None:
            duration = _seconds(item.get("duration_s"))
        if duration is not None:
            known = _seconds(last.get("overhead_s"))
            out[name] = max(duration - (known if known is not None else overhead_s or 0.0), 0.0)
    return out


# ------------------------------------------------------------------------------------------ estimating a grouping


def estimate_makespan(
    recipes: Sequence,
    groups: Sequence[Sequence[str]],
    *,
    work: Mapping[str, float],
    default_s: float,
    overhead_s: float,
    max_parallel: int,
) -> float:
    """Seconds from the first job's start to the last job's end when each group is one DSS job.

    List scheduling of the jobs under ``max_parallel``; a job costs ``overhead_s`` plus the span of its recipes, run in
    dependency order with up to ``max_parallel`` at once (DSS's activity slots assumed to allow it). A recipe's work is
    ``work[name]``, else ``default_s``.
    """
    cap = max(int(max_parallel), 1)
    group_of = {name: g for g, group in enumerate(groups) for name in group}
    by_name = {r.name: r for r in recipes}
    costs: List[float] = []
    deps: List[List[int]] = []
    for g, group in enumerate(groups):
        position = {name: i for i, name in enumerate(group)}
        inner = [
            (
                _seconds(work.get(name)) if _seconds(work.get(name)) is not None else default_s,
                [position[u] for u in dict.fromkeys(by_name[name].upstream) if u in position],
            )
            for name in group
        ]
        costs.append(overhead_s + _list_schedule([c for c, _ in inner], [d for _, d in inner], cap))
        ups = {group_of[u] for name in group for u in by_name[name].upstream if u in group_of and group_of[u] != g}
        deps.append(sorted(ups))
    return _list_schedule(costs, deps, cap)


def _list_schedule(costs: Sequence[float], deps: Sequence[Sequence[int]], cap: int) -> float:
    """Makespan of tasks (each after its ``deps``, an acyclic graph) on ``cap`` workers, the longest path first."""
    n = len(costs)
    if not n:
        return 0.0
    downstream: List[List[int]] = [[] for _ in range(n)]
    waiting = [0] * n
    for i, ups in enumerate(deps):
        waiting[i] = len(ups)
        for u in ups:
            downstream[u].append(i)
    order = [i for i in range(n) if not waiting[i]]  # a topological order (Kahn), for the bottom levels
    left = list(waiting)
    for i in order:
        for d in downstream[i]:
            left[d] -= 1
            if not left[d]:
                order.append(d)
    if len(order) != n:
        raise ValueError("the job groups depend on each other in a cycle")
    bottom = list(costs)
    for i in reversed(order):
        if downstream[i]:
            bottom[i] = costs[i] + max(bottom[d] for d in downstream[i])
    ready = [(-bottom[i], i) for i in range(n) if not waiting[i]]
    heapq.heapify(ready)
    running: List[Tuple[float, int]] = []
    now = end = 0.0
    while ready or running:
        while ready and len(running) < cap:
            _, i = heapq.heappop(ready)
            heapq.heappush(running, (now + costs[i], i))
        now, i = heapq.heappop(running)
        end = max(end, now)
        for d in downstream[i]:
            waiting[d] -= 1
            if not waiting[d]:
                heapq.heappush(ready, (-bottom[d], d))
    return end


# ------------------------------------------------------------------------------------------ choosing


def choose_grouping(
    recipes: Sequence,
    chains: Sequence[Tuple[str, ...]],
    *,
    overhead: Optional[JobOverhead],
    work: Mapping[str, float],
    default_s: float,
    max_parallel: int,
    whole_plan_allowed: bool = True,
) -> Tuple[Tuple[Tuple[str, ...], ...], GroupingChoice]:
    """The groups to run and why: chains, or the whole plan as one job when that is estimated clearly faster.

    :param chains: the plan's chains (:func:`~flow_orchestrator.grouping.job_groups`)
    :param overhead: what a DSS job costs; None (unknown) keeps the chains
    :param whole_plan_allowed: False when one job cannot hold the plan (outputs built by partition and whole, a list
        to run in its own order)
    """
    chains = tuple(tuple(group) for group in chains)
    if overhead is None:
        reason = (
            "jobs as chains: what a DSS job costs to start is unknown (no earlier run says it; "
            "set 'DSS job start-up cost' to weigh one job for the whole plan)"
        )
        return chains, GroupingChoice(CHAINS, reason)
    candidates = {CHAINS: chains}
    if whole_plan_allowed and len(chains) > 1:
        candidates[WHOLE_PLAN] = (tuple(r.name for r in recipes),)
    estimates = {
        kind: round(
            estimate_makespan(
                recipes, groups, work=work, default_s=default_s, overhead_s=overhead.seconds, max_parallel=max_parallel
            ),
            3,
        )
        for kind, groups in candidates.items()
    }
    kind = CHAINS
    if WHOLE_PLAN in estimates and estimates[WHOLE_PLAN] < estimates[CHAINS] * (1 - TIE_FRACTION):
        kind = WHOLE_PLAN
    cost = f"jobs cost ~{overhead.seconds:.1f} s to start ({overhead.describe()})"
    others = [k for k in estimates if k != kind]
    against = (
        " against " + ", ".join(f"{format_duration(estimates[k])} {KIND_TEXT[k]}" for k in others) if others else ""
    )
    head = "one job for the whole plan" if kind == WHOLE_PLAN else "jobs as chains"
    reason = f"{head}: {cost}; estimated {format_duration(estimates[kind])}{against}"
    choice = GroupingChoice(kind, reason, overhead.seconds, overhead.source, tuple(estimates.items()))
    return candidates[kind], choice


def _seconds(value) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value < 0:
        return None
    return float(value)


def _utc(text) -> Optional[datetime]:
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
