"""Runs a BuildPlan through a BuildPort: parallel jobs under a cap, one polling loop, failures, retries, timeouts.

Which recipe may start is :mod:`.scheduler`'s (pure: counters of unfinished upstream recipes, a ready heap by
longest remaining path, a retry heap, skip propagation, ``drain_on_stop``); when to poll is :mod:`.polling`'s. This
module keeps the loop, the calls through the port, the record and the events.

Decisions worth knowing (also in :func:`run_plan`'s docstring):

- **Polling** (per run, not per job): one loop asks ``port.job_states`` for the jobs that are due, in one request
  (DSS's job list, as few of its newest items as reach back to the oldest job due); every job the answer shows
  counts as checked, so the next check of each counts from that answer, and two requests are at least
  ``poll_min_s`` apart, or ``poll_min_s`` x :func:`.polling.shared_scale` with more than ``SHARED_JOBS`` jobs running
  (one answer serves them all: the run may ask more often, its lag shares shrink alike, and a job that wants the
  next answer gets it at the run's pace rather than a floor after its own start). A job whose check is geometric
  and at most half its interval away joins a request made for another. A job of unknown duration (``None`` in the
  plan) is checked every 25 % of its elapsed time until a job of the run ended (``FIRST_RATIO``), then not before
  the shortest of the recent ones and every 7 % of the longer of its elapsed time and their median (the
  youngest job would otherwise set the pace of every request; a job much shorter than the recent ones is noticed
  later).
  A job whose expected duration is known (DSS's own job duration in the last run record) is checked just after
  it (+2 % + 5 ms), then every 5 % of its elapsed time while it overruns, and a longer job also before its end for
  early failures (from a quarter of it, 5 s at the earliest, at doubling times); the expected durations are scaled
  by the run's pace (:class:`.polling.Pace`: the median ratio of real to last durations of the jobs that ended), so
  a Flow whose jobs all run 4x faster than last time is checked near its new ends after its first few jobs. A job
  that starts running after waiting in DSS's queue restarts its schedule; every interval stays below
  ``poll_max_s``. With known durations this is about one request per job, against four for dataikuapi's waiter
  (0.2 s x 1.1^n) on jobs under a second and 14 on jobs of 2-8 s; with unknown ones, about a third of the
  waiter's on jobs of seconds: see the README's figures.
- **Failures**: the first FAILED / TIMED_OUT recipe (or one aborted outside the run) stops a ``fail-fast`` run:
  running jobs are aborted and recorded ABORTED once DSS confirms (or after 30 s, best effort); a job that ends DONE
  or FAILED meanwhile keeps that state. In both modes every recipe downstream of a failure is SKIPPED, naming the
  failed recipes at the root of the skip; recipes the run never reached are NOT_RUN.
- **Retries**: only failures :func:`failures.classify` calls transient, at most ``1 + retries`` attempts, waiting
  ``min(backoff_max_s, backoff_s * 2**(n-1))`` scaled by a random factor in [0.5, 1] ("equal jitter"); a waiting
  retry holds no slot. If the run stops meanwhile, the recipe keeps its last attempt's outcome (FAILED, or ABORTED
  for a job lost to a DSS restart), its error saying the retry was not attempted: a recipe that started a job is
  never NOT_RUN or SKIPPED.
- **Record**: ``record_sink`` gets every change within ``SINK_INTERVAL_S`` (a write closer to the last one is
  deferred, never dropped; failures at once), and is called again ``SINK_FOLLOW_UP_S`` after its last call (so a
  sink coalescing its own writes can catch up; ``record.version`` says whether anything changed); the record notes which recipes changed (``record.take_changes``) so a
  journal appends only those. Attempt and recipe times and durations are DSS's own (job start and end); a polling
  outage is noted per attempt (``status_gap_s``), and when the run noticed each end (``noticed_at``). Before
  each start the run waits for jobs started elsewhere that build the recipe's outputs (``waited_for_jobs``), from
  a list of DSS's running jobs at most ``RUNNING_JOBS_FRESH_S`` old, and adopts the jobs ``adopt`` names (resume).
- **Timeouts** (per attempt, counting the job's running time: a wait in DSS's queue, NOT_STARTED or activities
  waiting for a slot, does not count) abort the DSS job and are **not retried**: a
  recipe that ran too long once will most likely run too long again. The aborting job keeps its slot until DSS
  confirms it stopped. With ``strategy="single-job"`` the limit applies to the one job; with ``"grouped"`` to each
  recipe's own activity in its chain's job (read from the job's status when a limit is due).
- **Grouped jobs** (``strategy="grouped"``): each job group of the plan (:mod:`.grouping`: a chain, or one recipe)
  is one unit; a chain's job lists every output of its recipes. Each recipe takes its state, times and error from
  its own activity; recipes before a failure stay SUCCESS, the rest are SKIPPED naming it (NOT_RUN behind a recipe
  the run itself aborted). A transient failure retries the rest of the chain only, each recipe with its own budget
  (a job in which its activity never started is not one of its attempts). On resume, a job the earlier run left is
  adopted by one unit; any other unit holding recipes it built waits for it and takes their outcome from it.
- **Cancellation** (``cancel`` set): running jobs are aborted (confirmed within 30 s or best effort) and recorded
  ABORTED, the rest NOT_RUN, and the record comes back with state ``CANCELLED`` (no exception): the caller decides
  the exit code.
- **API errors**: a :class:`TransientAPIError` while polling or aborting is retried with backoff and never taken for
  a job's failure; if DSS answers no status request for ``api_outage_limit_s``, the run aborts its jobs (best
  effort), writes its record and raises :class:`DSSAccessError`. Starting a job is retried
  ``MAX_START_API_ERRORS`` times before the recipe fails. Any other error from ``start_job`` fails that recipe,
  except a permission refusal before any job of the run started (a key that may not run jobs): it is raised, no
  recipe failed.
- **Unexpected errors** (a bug, KeyboardInterrupt): jobs the run started are aborted without waiting, the record is
  completed and handed to ``record_sink``, and the error propagates.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import statistics
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Collection, Dict, List, Mapping, Optional, Sequence, Tuple

from .config.model import RunOptions
from .errors import DSSAccessError, DSSPermissionError, GraphError
from .events import EventConsumer, ProgressEvent, shielded
from .failures import classify, compile_patterns, extract_log_excerpt
from .grouping import GROUPED, split_groups
from .job_costs import WHOLE_PLAN
from .plan import BuildPlan, PlannedRecipe, per_recipe_job_type, with_job_groups
from .polling import (  # noqa: F401 - the polling constants are part of the runner's documented behaviour
    COALESCE_FRACTION,
    END_MARGIN,
    END_MARGIN_S,
    OVERRUN_RATIO,
    PRE_END_FRACTION,
    PRE_END_MIN_S,
    UNKNOWN_RATIO,
    Pace,
    is_due,
    next_check,
    shared_scale,
)
from .polling import (
    EPS as _EPS,
)
from .port import ActivitySnapshot, BuildPort, JobSnapshot, OutputRef, RunningJob, TransientAPIError
from .record import Attempt, RecipeError, RecipeRun, RunRecord, format_utc, new_record, parse_utc
from .redaction import redact
from .scheduler import Scheduler
from .states import FAILED_BY_ITSELF
from .text import one_line

logger = logging.getLogger(__name__)

#: Start requests that fail with a TransientAPIError before the recipe fails.
MAX_START_API_ERRORS = 5
#: Backoff between API calls that failed transiently: BASE, 2×BASE, 4×BASE... up to MAX.
API_BACKOFF_BASE_S = 0.5
API_BACKOFF_MAX_S = 10.0
#: How long the run waits for DSS to confirm an abort before recording it as done anyway.
ABORT_CONFIRM_S = 30.0
#: Without a single successful status request for this long, the run gives up (DSSAccessError).
API_OUTAGE_LIMIT_S = 900.0
#: Tries to fetch a failed job's log.
LOG_FETCH_TRIES = 3
#: Least time between two mid-run calls of ``record_sink`` (failures and the end are always written).
SINK_INTERVAL_S = 1.0
#: While the run goes, ``record_sink`` is called again this long after its last call even when nothing changed, so a
#: sink that coalesces its own writes (the run history) can write the latest record it had to hold back.
SINK_FOLLOW_UP_S = 2.0
#: A list of the jobs DSS runs this recent is used again before a start (no request per start); older, it is read
#: again. A job started elsewhere within that window before one of ours can go unseen.
RUNNING_JOBS_FRESH_S = 1.0
_STOP_VERBS = {"FAILED": "failed", "TIMED_OUT": "timed out", "ABORTED": "was aborted outside the run"}

RecordSink = Callable[[RunRecord], None]


class _Unit:
    """What one DSS job builds: a recipe (per-recipe strategy), a chain of recipes (grouped jobs) or the whole plan
    (single-job strategy)."""

    __slots__ = (
        "index",
        "name",
        "runs",
        "outputs",
        "job_type",
        "expected_s",
        "priority",
        "attempt",
        "start_errors",
        "first_start",
        "adopt_job",
        "activities",
        "dss_span",
        "error",
        "log_excerpt",
        "wait_step",
        "per_activity",
        "after_job",
        "timed_out",
    )

    def __init__(
        self,
        index: int,
        name: str,
        runs: List[RecipeRun],
        outputs: Tuple[OutputRef, ...],
        job_type: str,
        expected_s: Optional[float],
        priority: float,
    ):
        self.index = index
        self.name = name
        self.runs = runs
        self.outputs = outputs
        self.job_type = job_type
        self.expected_s = expected_s  # None: unknown (the planner's default), polled geometrically
        self.priority = priority
        self.attempt = 0  # DSS jobs started
        self.start_errors = 0  # consecutive TransientAPIErrors on start_job
        self.first_start: Optional[float] = None
        self.adopt_job: Optional[str] = None  # a job an earlier run started for it: watched instead of a new one
        self.activities: Optional[Tuple[ActivitySnapshot, ...]] = None  # of its last job, when DSS said
        self.dss_span: Optional[Tuple[int, int]] = None  # DSS's start of its first job, end of its last (ms)
        self.error: Optional[RecipeError] = None
        self.log_excerpt: Optional[str] = None
        self.wait_step: Optional[float] = None  # while a job started elsewhere builds its outputs: next look
        #: Grouped jobs: a chain whose recipes each take their outcome from their own activity (retries, time limits)
        self.per_activity = False
        #: Resume: the earlier run's job another unit adopts also built some of these outputs; wait for its end first
        self.after_job: Optional[str] = None
        #: Grouped jobs: the recipe whose activity ran out of time (the others running beside it were only aborted)
        self.timed_out: Optional[str] = None


class _Watch:
    """A DSS job the run started and still watches (it holds a parallel slot until DSS says it stopped)."""

    __slots__ = (
        "unit",
        "job_id",
        "attempt",
        "started",
        "ref",
        "deadline",
        "next_check",
        "scheduled_at",
        "exact",
        "queued",
        "abort_reason",
        "abort_sent",
        "abort_deadline",
        "abort_step",
        "decided",
        "queued_s",
        "run_seen",
        "gap_since",
        "gap_s",
        "accepted",
    )

    def __init__(
        self, unit: _Unit, job_id: str, attempt: Attempt, started: float, ref: float, deadline: Optional[float]
    ):
        self.unit = unit
        self.job_id = job_id
        self.attempt = attempt
        self.started = started
        self.ref = ref  # schedule reference: DSS accepted the job, or the moment it started running after a queue
        self.deadline = deadline
        self.next_check = ref
        self.scheduled_at = ref  # when next_check was set
        self.exact = False  # next_check aims at the expected end or the deadline: never moved earlier
        self.queued: Optional[float] = None  # last seen waiting in DSS (NOT_STARTED, COMPUTING_DEPS...)
        self.abort_reason: Optional[str] = None  # "fail-fast" | "cancel" | "timeout"
        self.abort_sent = False
        self.abort_deadline = 0.0
        self.abort_step = 0.0
        self.decided = False  # the unit's outcome is recorded (timeout): only waiting for DSS to stop the job
        self.queued_s: Optional[float] = None  # how long it waited in DSS's queue, as last measured
        self.run_seen: Optional[float] = None  # first seen RUNNING after being seen waiting (NOT_STARTED...)
        self.gap_since: Optional[float] = None  # first failed status request of the current outage
        self.gap_s = 0.0  # time without status answers while it ran (polling outages)
        self.accepted = ref  # DSS answered the start request: its job started no earlier


def partitioned_outputs_of(outputs: Sequence[OutputRef], partitioned: Collection[str], project_key: str) -> List[str]:
    """Ids of the outputs that are partitioned datasets of ``project_key``: those a job builds by partition."""
    return [o.id for o in outputs if o.id in partitioned and o.project_key in (None, project_key)]


def run_plan(
    plan: BuildPlan,
    port: BuildPort,
    options: RunOptions,
    *,
    run_id: Optional[str] = None,
    config_dict: Optional[dict] = None,
    dss_url: Optional[str] = None,
    on_event: Optional[EventConsumer] = None,
    cancel: Optional[threading.Event] = None,
    clock: Optional[Callable[[], float]] = None,
    wait: Optional[Callable[[float], object]] = None,
    rng: Optional[random.Random] = None,
    resumed_from: Optional[str] = None,
    record_sink: Optional[RecordSink] = None,
    api_outage_limit_s: float = API_OUTAGE_LIMIT_S,
    partitioned_outputs: Collection[str] = (),
    adopt: Optional[Mapping[str, str]] = None,
    wall: Optional[Callable[[], datetime]] = None,
) -> RunRecord:
    """Execute ``plan`` on DSS through ``port`` and return the completed run record.

    The strategy and build mode come from the plan (``plan.strategy``, ``plan.build_mode``); ``options`` give the
    cap, failure mode, retries, timeout and polling bounds. ``clock`` (seconds, default :func:`time.monotonic`) and
    ``wait(seconds)`` (default: ``cancel.wait``) are injectable so tests run on a virtual clock, and ``wall`` (the UTC
    time at the run's start, default now) so that a simulated DSS stamps on the same time line; ``rng`` draws the
    retry jitter. ``record_sink(record)`` is called when the run starts, as it progresses (failures at once, other
    changes at most every second) and at the end, including after a failure, a cancellation or an unexpected error.
    Cancellation returns the record with state ``CANCELLED``; see the module docstring for every other rule.
    ``partitioned_outputs`` names the run project's partitioned datasets: each job sends ``options.partitions`` with
    those of its outputs (the others are built whole), and each recipe building one records the spec.
    ``adopt`` maps recipe names to jobs an earlier run started for them (resume): each is watched as the recipe's
    first attempt, whether it still runs or already ended, instead of starting a second job for the same outputs.

    :raises ConfigError: invalid options (nothing started).
    :raises GraphError: a plan whose order or outputs cannot be run (nothing started).
    :raises DSSAccessError: DSS stopped answering status requests for ``api_outage_limit_s`` (record written).
    """
    run = _Run(
        plan,
        port,
        options,
        run_id=run_id,
        config_dict=config_dict,
        dss_url=dss_url,
        on_event=on_event,
        cancel=cancel,
        clock=clock,
        wait=wait,
        rng=rng,
        resumed_from=resumed_from,
        record_sink=record_sink,
        api_outage_limit_s=api_outage_limit_s,
        partitioned_outputs=partitioned_outputs,
        adopt=adopt,
        wall=wall,
    )
    return run.execute()


class _Run:
    """The state of one run; :meth:`execute` drives it to the end."""

    def __init__(
        self,
        plan: BuildPlan,
        port: BuildPort,
        options: RunOptions,
        *,
        run_id,
        config_dict,
        dss_url,
        on_event,
        cancel,
        clock,
        wait,
        rng,
        resumed_from,
        record_sink,
        api_outage_limit_s,
        partitioned_outputs=(),
        adopt=None,
        wall=None,
    ):
        self.partitioned = frozenset(partitioned_outputs) if options.partitions else frozenset()
        self.plan = plan
        self.port = port
        self.options = options
        self.patterns = compile_patterns(options.retry.transient_patterns)
        self.max_attempts = 1 + options.retry.retries
        self.cancel = cancel or threading.Event()
        self.clock = clock or time.monotonic
        self.wait = wait
        self.rng = rng or random.Random()
        self.record_sink = record_sink
        self.outage_limit = api_outage_limit_s
        self.emit = shielded(on_event)

        self.t0 = self.clock()
        self.wall0 = wall() if wall else datetime.now(timezone.utc)
        if plan.strategy == GROUPED and not plan.job_groups:
            plan = self.plan = with_job_groups(plan, self.partitioned)
        if plan.strategy == GROUPED and adopt:  # resume: a chain never mixes what an earlier job built and what not
            plan = self.plan = dataclasses.replace(
                plan, job_groups=tuple(split_groups(plan.job_groups, adopt)), _index={}
            )
        self.record = new_record(
            plan, run_id=run_id, started=self.wall0, config_dict=config_dict, dss_url=dss_url, resumed_from=resumed_from
        )
        for run_, planned in zip(self.record.recipes, plan.recipes):
            if self._partitions_of(planned.outputs):
                run_.partitions = options.partitions
        self.order = {r.name: i for i, r in enumerate(plan.recipes)}
        self.adopt = dict(adopt or {})
        self.adopt_owner: Dict[str, _Unit] = {}  # resume: each earlier job and the one unit adopting it
        self.units, self.sched = self._build_units()
        self.total = len(plan.recipes)
        self.done = 0

        self.jobs: Dict[str, _Watch] = {}  # job id -> watch, in start order
        self.stopping: Optional[str] = None  # None | "fail-fast" | "cancel" | "error"
        self.stop_cause: Optional[str] = None  # "X failed", "X timed out", "X was aborted outside the run"
        self.cancelled = False
        self.api_failures = 0
        self.last_api_ok = self.t0
        self.last_sink = float("-inf")
        self.sink_due: Optional[float] = None  # a deferred write of the record (never dropped)
        self.sink_follow_up = float("inf")  # the next call of record_sink with or without a change
        self.list_running = getattr(port, "running_jobs", None)  # feature detection: older ports lack it
        self.beyond_list = getattr(port, "beyond_list", None)  # a port without it: every check shares one answer
        self.running_seen: Tuple[float, list] = (float("-inf"), [])  # (when, the jobs DSS ran then)
        self.own_jobs = set(self.adopt.values())  # jobs this run started or adopts: never "someone else's"
        self.pace = Pace()  # how this run's jobs last against their last run's durations
        self.last_poll = float("-inf")  # when the run last asked DSS for job states
        self.adopted_ends: Dict[str, JobSnapshot] = {}  # resume: how each adopted job ended (shared by several units)

    # ---------------------------------------------------------------------------------------------------- set-up

    def _build_units(self) -> Tuple[List[_Unit], Scheduler]:
        plan = self.plan
        runs = self.record.recipes
        for recipe in plan.recipes:
            if not recipe.outputs and plan.strategy != "single-job":
                raise GraphError(f"Recipe {recipe.name!r} has no output to build; remove it from the selection")
        if plan.strategy == "single-job":
            units = [self._single_unit(runs)] if plan.recipes else []
            return units, Scheduler([()] * len(units), [u.priority for u in units])
        job_type = per_recipe_job_type(plan.build_mode)
        if plan.strategy == GROUPED:
            return self._grouped_units(runs, job_type)
        units = [
            _Unit(i, r.name, [runs[i]], tuple(r.outputs), job_type, r.expected_duration_s, float(r.bottom_level_s))
            for i, r in enumerate(plan.recipes)
        ]
        upstream: List[List[int]] = []
        for i, recipe in enumerate(plan.recipes):
            ups = []
            for name in dict.fromkeys(recipe.upstream):
                j = self.order.get(name)
                if j is None:
                    logger.debug("Upstream %s of %s is not in the plan: not waited for", name, recipe.name)
                    continue
                if j >= i:
                    raise GraphError(
                        f"The plan is not in dependency order: recipe {recipe.name!r} comes before its upstream "
                        f"{name!r} (or they form a cycle); rebuild the plan"
                    )
                ups.append(j)
            upstream.append(ups)
        self._adopt_once(units)
        return units, Scheduler(upstream, [u.priority for u in units])

    def _grouped_units(self, runs: List[RecipeRun], job_type: str) -> Tuple[List[_Unit], Scheduler]:
        """Grouped jobs: one unit per job group of the plan (a chain is one job listing every output of its recipes,
        in "Build only this" mode for the forced modes); a unit waits for the units holding its recipes' upstream."""
        plan = self.plan
        groups = plan.job_groups
        group_of = {name: g for g, group in enumerate(groups) for name in group}
        if (
            len(group_of) != len(plan.recipes)
            or sum(map(len, groups)) != len(plan.recipes)
            or any(name not in group_of for name in self.order)
        ):
            raise GraphError("The plan's job groups do not hold each planned recipe exactly once; rebuild the plan")
        units: List[_Unit] = []
        upstream: List[List[int]] = []
        for g, group in enumerate(groups):
            members = [plan.recipe(name) for name in group]
            known = all(r.expected_duration_s is not None for r in members)
            unit = _Unit(
                g,
                _group_name(group),
                [runs[self.order[name]] for name in group],
                tuple(dict.fromkeys(o for r in members for o in r.outputs)),
                job_type,
                self._group_expected_s(members) if known else None,
                max(float(r.bottom_level_s) for r in members),
            )
            unit.per_activity = len(group) > 1
            units.append(unit)
            upstream.append(self._group_upstream(g, members, group_of))
        self._adopt_once(units)
        return units, Scheduler(upstream, [u.priority for u in units])

    def _group_expected_s(self, members: Sequence[PlannedRecipe]) -> float:
        """Expected seconds of a group's job: the planner's estimate for one job holding the whole plan (it counts the
        job's overhead once, where recipes' durations learned from jobs of their own each include one), else its
        longest path of expected durations (a chain's sum: its recipes' own activity times) plus what a job costs
        DSS when the plan knows it (without it, polling would look for the end of a 3-recipe chain a job's start-up
        too early, then late: measured 1.6 s median lag on 3 s overheads)."""
        grouping = self.plan.grouping
        if grouping is not None and grouping.kind == WHOLE_PLAN and len(members) == len(self.plan.recipes):
            estimate = dict(grouping.estimates).get(WHOLE_PLAN)
            if estimate is not None:
                return estimate
        overhead = grouping.overhead_s if grouping is not None and len(members) > 1 else None
        return _longest_path_s(members) + (overhead or 0.0)

    def _group_upstream(self, g: int, members: Sequence[PlannedRecipe], group_of: Mapping[str, int]) -> List[int]:
        """The groups the recipes of group ``g`` wait for; a plan whose order or groups contradict the Flow fails."""
        ups: Dict[int, None] = {}
        for recipe in members:
            for name in dict.fromkeys(recipe.upstream):
                j = group_of.get(name)
                if j is None:
                    continue
                if self.order[name] >= self.order[recipe.name] or j > g:
                    raise GraphError(
                        f"The plan is not in dependency order: recipe {recipe.name!r} comes before its upstream "
                        f"{name!r} (or they form a cycle); rebuild the plan"
                    )
                if j != g:
                    ups[j] = None
        return list(ups)

    def _adopt_once(self, units: Sequence[_Unit]) -> None:
        """Resume: each job of the earlier run is adopted by one unit only (the first holding one of its recipes); any
        other unit holding one of its recipes waits for that job to end, then takes its own recipes' outcome from it
        instead of starting a second job on the same outputs."""
        claimed = self.adopt_owner
        for unit in units:
            job_id = next((self.adopt[run.name] for run in unit.runs if run.name in self.adopt), None)
            if job_id is None:
                continue
            if job_id in claimed:
                unit.after_job = job_id
                claimed[job_id].per_activity = True  # its job built other recipes too: its own activity decides
                continue
            claimed[job_id] = unit
            unit.adopt_job = job_id
            unit.priority = float("inf")  # already running on DSS: watched first

    def _single_unit(self, runs: List[RecipeRun]) -> _Unit:
        plan = self.plan
        targets = tuple(plan.targets)
        if not targets:
            has_downstream = {u for r in plan.recipes for u in r.upstream}
            outputs = [o for r in plan.recipes if r.name not in has_downstream for o in r.outputs]
            targets = tuple(dict.fromkeys(outputs))
        if not targets:
            raise GraphError("The single-job plan has no target to build; select target datasets or recipes")
        expected = max([plan.critical_path_s] + [r.bottom_level_s for r in plan.recipes] + [1.0])
        known = all(r.expected_duration_s is not None for r in plan.recipes)
        unit = _Unit(
            0, plan.recipes[0].name, list(runs), targets, plan.build_mode, expected if known else None, expected
        )
        unit.adopt_job = next((self.adopt[r.name] for r in plan.recipes if r.name in self.adopt), None)
        return unit

    def _partitions_of(self, outputs: Sequence[OutputRef]) -> Dict[str, str]:
        """The partition spec of each partitioned output of the run's project (empty: every output built whole)."""
        return dict.fromkeys(
            partitioned_outputs_of(outputs, self.partitioned, self.plan.project_key), self.options.partitions
        )

    # ---------------------------------------------------------------------------------------------------- helpers

    def _stamp(self, t: Optional[float]) -> Optional[str]:
        if t is None:
            return None
        return format_utc(self.wall0 + timedelta(seconds=t - self.t0))

    def _pause(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if self.wait is not None:
            self.wait(seconds)
        elif self.cancel.is_set():
            time.sleep(seconds)  # already cancelled: cancel.wait would return at once
        else:
            self.cancel.wait(seconds)

    def _event(self, kind: str, unit_run: Optional[RecipeRun] = None, **fields) -> None:
        self.emit(
            ProgressEvent(
                kind=kind,
                run_id=self.record.run_id,
                recipe=unit_run.name if unit_run else None,
                done=self.done,
                total=self.total,
                **fields,
            )
        )

    def _sink(self, force: bool = False) -> None:
        if self.record_sink is None:
            return
        now = self.clock()
        if not force and now - self.last_sink < SINK_INTERVAL_S:
            if self.sink_due is None:  # deferred, never dropped: the loop wakes up for it
                self.sink_due = self.last_sink + SINK_INTERVAL_S
            return
        self.last_sink = now
        self.sink_due = None
        self.sink_follow_up = now + SINK_FOLLOW_UP_S
        try:
            self.record_sink(self.record)
        except Exception:  # a full disk must not leave DSS jobs running; the final write raises instead
            logger.warning("Could not write the run record mid-run; the run goes on", exc_info=True)

    def _touch(self, unit: _Unit) -> None:
        """Tell the record which recipes changed (a journal appends only those)."""
        if self.plan.strategy != GROUPED:  # its recipes are consecutive in the plan (one recipe, or the whole plan)
            for k in range(len(unit.runs)):
                self.record.touch(unit.index + k)
            return
        for run in unit.runs:
            self.record.touch(self.order[run.name])

    def _job_url(self, job_id: str) -> Optional[str]:
        try:
            return self.port.job_url(job_id)
        except Exception:
            logger.debug("No URL for job %s", job_id, exc_info=True)
            return None

    # ---------------------------------------------------------------------------------------------------- main loop

    def execute(self) -> RunRecord:
        self._sink(force=True)
        plan = self.plan
        self._event(
            "plan_ready",
            message=(
                f"{self.total} recipe(s) in {len(plan.layers)} layer(s), strategy {plan.strategy}, "
                f"up to {self.options.max_parallel} job(s) at once, on failure {self.options.on_failure}"
            ),
        )
        try:
            self._loop()
        except BaseException as exc:
            self._emergency_stop(exc)
            raise
        return self._finish_run()

    def _loop(self) -> None:
        sched = self.sched
        while True:
            if self.cancel.is_set() and self.stopping != "cancel":
                self._begin_stop("cancel")
            now = self.clock()
            sink_at = self.sink_follow_up if self.sink_due is None else min(self.sink_due, self.sink_follow_up)
            if now + _EPS >= sink_at:
                self._sink(force=True)
            if self.stopping:
                self._drain(now)
            else:
                sched.release_due(now + _EPS)
                self._start_ready()
            if not self.jobs and sched.is_idle():
                return
            wake = self._next_wake()
            now = self.clock()
            if wake > now + _EPS:
                self._pause(wake - now)
                continue
            self._poll(now)

    def _next_wake(self) -> float:
        times = []
        if self.jobs:  # one status request answers for every job: two are at least _poll_min() apart
            floor = self.last_poll + self._poll_min()
            times.append(min(w.next_check if _at_deadline(w) else max(w.next_check, floor) for w in self.jobs.values()))
        retry = self.sched.next_retry_at()
        if retry is not None:
            times.append(retry)
        if self.sink_due is not None:
            times.append(self.sink_due)
        if times and self.record_sink is not None:  # not when nothing is left to wait for: the run ends
            times.append(self.sink_follow_up)
        return min(times) if times else self.clock()

    def _start_ready(self) -> None:
        while len(self.jobs) < self.options.max_parallel and not self.stopping and not self.cancel.is_set():
            node = self.sched.pop_ready()
            if node is None:
                return
            self._start(self.units[node])

    # ---------------------------------------------------------------------------------------------------- starting

    def _start(self, unit: _Unit) -> None:
        now = self.clock()
        if unit.after_job and self._after_adopted_job(unit, now):
            return
        try:
            partitions = self._partitions_of(unit.outputs)
            job_id = self._adoptable(unit)
            if job_id:  # an earlier run's job, still running or ended: watched, never started twice
                logger.info("Adopting job %s for %s: an earlier run started it", job_id, unit.name)
            elif self._built_elsewhere(unit, now):
                return  # waits (holding no slot) for the job started elsewhere to end
            elif partitions:
                job_id = self.port.start_job(unit.outputs, unit.job_type, partitions=partitions)
            else:
                job_id = self.port.start_job(unit.outputs, unit.job_type)
        except TransientAPIError as exc:
            unit.start_errors += 1
            if unit.start_errors >= MAX_START_API_ERRORS:
                error = RecipeError(
                    f"DSS did not accept the job building {_describe(unit.outputs)} after {unit.start_errors} "
                    f"tries: {redact(str(exc))}",
                    type(exc).__name__,
                    True,
                )
                unit.error = error
                self._finish(unit, "FAILED", now, error)
            else:
                delay = min(API_BACKOFF_MAX_S, API_BACKOFF_BASE_S * 2 ** (unit.start_errors - 1))
                logger.warning(
                    "Starting the job for %s failed (%s); trying again in %.1f s", unit.name, redact(str(exc)), delay
                )
                self.sched.retry_at(unit.index, now + delay)
            return
        except Exception as exc:  # permissions, unknown dataset...: this recipe cannot run
            if isinstance(exc, DSSPermissionError) and not any(u.attempt for u in self.units):
                raise _may_not_run_jobs(self.plan.project_key, exc) from exc  # no recipe failed, nothing ran
            error = RecipeError(
                f"DSS refused to start the job building {_describe(unit.outputs)}: {redact(str(exc))}",
                type(exc).__name__,
                False,
            )
            unit.error = error
            self._finish(unit, "FAILED", now, error)
            return

        accepted = self.clock()  # DSS starts running a job about when it answers the start request
        self.own_jobs.add(job_id)
        unit.start_errors = 0
        unit.attempt += 1
        unit.activities = None  # known again when this job ends
        unit.timed_out = None
        self.sched.started(unit.index)
        self.last_api_ok = max(self.last_api_ok, now)
        if unit.first_start is None:
            unit.first_start = now
        attempt = self._add_attempt(unit, job_id, now)
        for run in unit.runs:
            if run.started_at is None:
                run.started_at = self._stamp(now)
        self._touch(unit)
        timeout = self.options.timeout_s
        watch = _Watch(unit, job_id, attempt, now, accepted, now + timeout if timeout else None)
        self._schedule(watch, accepted)
        self.jobs[job_id] = watch
        of = f" (attempt {unit.attempt} of {self.max_attempts})" if unit.attempt > 1 else ""
        for run in unit.runs:
            self._event(
                "recipe_started",
                run,
                attempt=unit.attempt,
                job_id=job_id,
                message=f"{run.name} started as job {job_id}{of}",
            )
        self._sink()

    def _running_elsewhere(self, now: float) -> List[RunningJob]:
        """Jobs DSS runs that this run neither started nor adopts, from a list at most ``RUNNING_JOBS_FRESH_S`` old
        (read again when older; if DSS does not answer, the last list is used)."""
        if self.list_running is None:
            return []
        seen_at, jobs = self.running_seen
        if now - seen_at > RUNNING_JOBS_FRESH_S:
            try:
                jobs = list(self.list_running())
            except Exception as exc:  # an outage or a refusal: not a reason to fail the recipe
                logger.warning("Could not list the jobs DSS is running (%s); using the last list", redact(str(exc)))
            self.running_seen = (now, jobs)
        return [job for job in jobs if job.job_id not in self.own_jobs]

    def _built_elsewhere(self, unit: _Unit, now: float) -> bool:
        """Never two jobs building one output: when a job started elsewhere (a scenario, a colleague, a killed run
        not resumed) builds an output of ``unit``, the unit waits for it (a cancellable, slot-free wait), and the
        event and the record say so. False: nothing else builds its outputs, start it."""
        project = self.plan.project_key
        mine = {(o.project_key or project, o.id) for o in unit.outputs}
        for run in unit.runs:
            planned = self.plan.get(run.name)
            mine.update((o.project_key or project, o.id) for o in (planned.outputs if planned else ()))
        blockers = []
        for job in self._running_elsewhere(now):
            shared = sorted(o.id for o in job.outputs if (o.project_key or project, o.id) in mine)
            if shared:
                blockers.append((job, shared))
        if not blockers:
            unit.wait_step = None
            return False
        for job, shared in blockers:
            if job.job_id in unit.runs[0].waited_for_jobs:
                continue
            for run in unit.runs:
                run.waited_for_jobs.append(job.job_id)
            by = f" (started by {job.initiator})" if job.initiator else ""
            builds = ", ".join(shared[:3]) + (" and more" if len(shared) > 3 else "")
            self._event(
                "waiting_for_job",
                unit.runs[0] if len(unit.runs) == 1 or unit.per_activity else None,  # a chain: its first recipe
                job_id=job.job_id,
                message=f"{unit.name} waits for the DSS job {job.job_id}{by} to finish: it builds {builds}, "
                "which this run builds too",
            )
            self._touch(unit)
            self._sink()
        step = RUNNING_JOBS_FRESH_S if unit.wait_step is None else unit.wait_step * 2
        unit.wait_step = min(step, max(self.options.poll_max_s, RUNNING_JOBS_FRESH_S))
        self.sched.retry_at(unit.index, now + unit.wait_step)
        return True

    def _after_adopted_job(self, unit: _Unit, now: float) -> bool:
        """Resume, a unit whose recipes an earlier run's job (adopted by another unit) also built: wait while that job
        may still run (True, holding no slot). Once it ended, the job is this unit's first attempt too, each recipe
        taking its own activity's outcome from it (retried, or SUCCESS, as for a job of its own): True. False when
        the job was never watched (purged, or the adopting unit never started): start a job as usual."""
        job_id, owner = unit.after_job, self.adopt_owner.get(unit.after_job or "")
        if job_id in self.jobs or (job_id not in self.adopted_ends and owner and self.sched.final[owner.index] is None):
            self.sched.retry_at(unit.index, now + max(self.options.poll_min_s, RUNNING_JOBS_FRESH_S / 4))
            return True
        unit.after_job = None
        snapshot = self.adopted_ends.get(job_id or "")
        if job_id is None or snapshot is None or snapshot.activities is None:
            if job_id:
                self.own_jobs.discard(job_id)  # never watched: if DSS still runs it, wait for it as for anyone's
            return False
        unit.per_activity = True  # the job built other recipes too: each of these takes its own activity's outcome
        unit.attempt += 1
        unit.first_start = now
        self.sched.started(unit.index)
        attempt = self._add_attempt(unit, job_id, now)
        watch = _Watch(unit, job_id, attempt, now, now, None)
        self.jobs[job_id] = watch
        self._job_ended(watch, snapshot, now)
        return True

    def _add_attempt(self, unit: _Unit, job_id: str, now: float) -> Attempt:
        """The job is the next attempt of each of the unit's recipes (one Attempt, shared until its outcome)."""
        url = self._job_url(job_id)
        attempt = Attempt(attempt=unit.attempt, job_id=job_id, started_at=self._stamp(now))
        for run in unit.runs:
            run.job_ids.append(job_id)
            run.attempts = len(run.job_ids)
            run.job_urls.append(url)
            run.attempt_history.append(attempt)
        return attempt

    def _adoptable(self, unit: _Unit) -> Optional[str]:
        """The earlier run's job to adopt for ``unit``, if DSS still knows it (a purged job is started anew)."""
        job_id, unit.adopt_job = unit.adopt_job, None
        if not job_id:
            return None
        try:
            known = job_id in self.port.job_states([job_id])
        except TransientAPIError:
            return job_id  # cannot tell now: watching it is safe, starting a second job is not
        except Exception as exc:
            logger.warning("Job %s of the earlier run cannot be read (%s): starting a new one", job_id, exc)
            return None
        if not known:
            logger.warning("DSS no longer knows job %s of the earlier run: starting a new one", job_id)
        return job_id if known else None

    # ---------------------------------------------------------------------------------------------------- polling

    def _schedule(self, watch: _Watch, now: float) -> None:
        """Set when to check this job next (see :mod:`.polling`)."""
        opts = self.options
        until = None if watch.deadline is None else watch.deadline - now
        expected = self.pace.expect(watch.unit.expected_s)
        confirmed = self.pace.known
        # A job no list answer reaches is read on its own: checked as a job alone, not at the shared pace.
        alone = self.beyond_list is not None and self.beyond_list(watch.job_id)
        shared = 1.0 if alone else shared_scale(len(self.jobs))
        floor = opts.poll_min_s * shared
        shortest = self.pace.shortest_s
        check = next_check(
            now - watch.ref, expected, floor, opts.poll_max_s, until, confirmed, shared, shortest, self.pace.typical_s
        )
        at = now + check.delay
        if shared < 1.0 and not check.exact and check.delay <= floor + _EPS:
            # Many jobs share each answer: a job that wants the next one gets it at the run's pace (a floor after the
            # last request), not a floor after its own start or answer (which would stretch every poll cycle).
            at = max(min(at, self.last_poll + floor), now)
        watch.next_check, watch.scheduled_at, watch.exact = at, now, check.exact

    def _poll_min(self) -> float:
        """The shortest wait between two status requests: ``poll_min_s``, shorter when many jobs share each answer."""
        return self.options.poll_min_s * shared_scale(len(self.jobs))

    @staticmethod
    def _check_at(watch: _Watch, now: float, when: float) -> None:
        watch.next_check, watch.scheduled_at, watch.exact = when, now, False

    def _poll(self, now: float) -> None:
        due = [w for w in self.jobs.values() if is_due(w.next_check, w.scheduled_at, w.exact, now)]
        if not due or (now + _EPS < self.last_poll + self._poll_min() and not any(map(_at_deadline, due))):
            return  # requests stay _poll_min() apart, but a time limit is never overshot
        self.last_poll = now
        for watch in due:
            if watch.abort_reason and not watch.abort_sent:
                self._send_abort(watch)
        try:
            snapshots = self.port.job_states([w.job_id for w in due])
        except TransientAPIError as exc:
            self._api_trouble(due, now, exc)
            return
        now = self.clock()  # an end is noticed when DSS's answer arrives, not when the run asked
        self.api_failures = 0
        self.last_api_ok = now
        due_ids = set()
        later: List[Tuple[_Watch, JobSnapshot]] = []  # ends that need one more request (see _needs_whole_status)
        for watch in due:
            if watch.gap_since is not None:
                watch.gap_s += now - watch.gap_since
                watch.gap_since = None
            due_ids.add(watch.job_id)
            if watch.job_id in self.jobs:
                self._observe_or_defer(watch, snapshots.get(watch.job_id), now, later)
        for job_id, snapshot in snapshots.items():  # states the port gave for free (e.g. one list request)
            watch = self.jobs.get(job_id)
            if job_id in due_ids or watch is None or (watch.abort_reason and not snapshot.terminal):
                continue
            self._observe_or_defer(watch, snapshot, now, later)  # a check like any other: its next one counts from now
        if later:
            # The slots the other ends freed are not left idle while the grouped jobs' statuses are read.
            self._start_ready()
            for watch, snapshot in later:
                if watch.job_id in self.jobs:
                    self._observe(watch, snapshot, now)

    def _observe_or_defer(
        self, watch: _Watch, snapshot: Optional[JobSnapshot], now: float, later: List[Tuple[_Watch, JobSnapshot]]
    ) -> None:
        """Observe now, or, for a grouped job that ended without its activities in the answer (its recipes' outcomes
        and times need its own status: one more request), after the run has started what the other ends let start."""
        if snapshot is not None and snapshot.terminal and _needs_whole_status(watch.unit, snapshot):
            later.append((watch, snapshot))
        else:
            self._observe(watch, snapshot, now)

    def _observe(self, watch: _Watch, snapshot: Optional[JobSnapshot], now: float) -> None:
        if snapshot is None:  # not reported this time: ask again later, never guess
            self._schedule(watch, now)
            return
        if snapshot.terminal:
            if snapshot.state == "DONE":
                self.pace.add(_job_duration(snapshot), watch.unit.expected_s)
            self._job_ended(watch, snapshot, now)
            return
        if snapshot.state != "RUNNING":
            watch.queued = now
        elif watch.queued is not None:
            # It waited in DSS's queue: its expected duration counts from the earliest moment it can have started
            # (checking a little early costs one overrun check; checking late costs lag).
            watch.ref = watch.queued
            watch.queued = None
            watch.run_seen = now
        if watch.abort_reason:
            if now + _EPS >= watch.abort_deadline:
                self._abort_unconfirmed(watch, now)
            else:
                self._check_at(watch, now, now + watch.abort_step)
                watch.abort_step = min(watch.abort_step * 2, self.options.poll_max_s)
            return
        if watch.deadline is not None and now + _EPS >= watch.deadline and self._deadline_reached(watch, snapshot, now):
            return
        self._schedule(watch, now)

    def _deadline_reached(self, watch: _Watch, snapshot: JobSnapshot, now: float) -> bool:
        """The time limit counts running time, not the wait in DSS's queue: at the deadline, read the job's
        activities; if it waited for a slot, move the deadline by that wait (False); else time it out (True)."""
        detail = snapshot
        if snapshot.activities is None and snapshot.state == "RUNNING":
            try:  # one status read, only at a deadline: a job list item does not say whether activities run
                read = getattr(self.port, "job_status", None)  # feature detection: older ports lack it
                detail = (
                    read(watch.job_id) if read else self.port.job_states([watch.job_id]).get(watch.job_id)
                ) or snapshot
            except TransientAPIError:
                detail = snapshot
            if detail.terminal:
                self._job_ended(watch, detail, now)
                return True
        if watch.unit.per_activity and detail.state == "RUNNING":
            return self._activity_deadline_reached(watch, detail, now)
        timeout = self.options.timeout_s or 0.0
        first_ms = detail.first_activity_start_ms
        not_started = detail.state != "RUNNING" or (detail.activities is not None and first_ms is None)
        if not_started:  # still waiting: it cannot run out of time before now + the whole limit
            watch.queued_s = now - watch.started
            watch.deadline = now + timeout
            return False
        # seen waiting (NOT_STARTED) until at most run_seen: the limit gives the job the benefit of the doubt
        queued = (watch.run_seen - watch.started) if watch.run_seen is not None else 0.0
        if first_ms is not None and detail.started_at_ms:
            queued += max(first_ms - detail.started_at_ms, 0) / 1000.0  # waited for an activity slot
        watch.queued_s = queued
        limit = watch.started + queued + timeout
        if limit > now + _EPS:
            watch.deadline = limit
            return False
        self._time_out(watch, now)
        return True

    def _activity_deadline_reached(self, watch: _Watch, detail: JobSnapshot, now: float) -> bool:
        """Grouped job: the limit applies to each recipe's own activity, from its start in DSS's job status (not to
        the whole chain). At the limit the job is aborted and that recipe TIMED_OUT; else the deadline moves to the
        running activity's limit (False)."""
        timeout = self.options.timeout_s or 0.0
        if detail.activities is None:  # DSS did not say (the status read failed): look again soon
            watch.deadline = now + min(timeout, self.options.poll_max_s)
            return False
        names = {run.name for run in watch.unit.runs}
        running = [a for a in detail.activities if a.recipe in names and a.state == "RUNNING" and a.started_at_ms]
        if not running:  # none runs yet (job start-up, a wait for a slot): none can run out of time before then
            watch.deadline = now + timeout
            return False
        activity = min(running, key=lambda a: a.started_at_ms or 0)
        # counted from when DSS accepted the job (its start can only be later), plus the activity's offset in DSS's
        # own job times and any wait seen in DSS's queue: the recipe gets the benefit of the doubt
        queued = (watch.run_seen - watch.accepted) if watch.run_seen is not None else 0.0
        offset = max((activity.started_at_ms or 0) - detail.started_at_ms, 0) / 1000.0 if detail.started_at_ms else 0.0
        began = watch.accepted + max(queued, 0.0) + offset
        if began + timeout > now + _EPS:
            watch.deadline = began + timeout
            return False
        watch.unit.activities = detail.activities
        watch.unit.timed_out = activity.recipe
        error = RecipeError(
            f"Timed out: its activity in the DSS job {watch.job_id} ran {max(now - began, 0.0):.1f} s, over the "
            f"{timeout:g} s timeout (running time); the job was aborted"
        )
        self._time_out(watch, now, error)
        return True

    def _api_trouble(self, due: Sequence[_Watch], now: float, exc: Exception) -> None:
        """Status request failed transiently: back off, keep enforcing time limits, never fail a job for it."""
        self.api_failures += 1
        if now - self.last_api_ok >= self.outage_limit:
            raise DSSAccessError(
                f"DSS answered no job status request for {now - self.last_api_ok:.0f} s (last error: "
                f"{redact(str(exc))}); check that DSS is running and reachable, then resume the run"
            )
        delay = max(self.options.poll_min_s, min(API_BACKOFF_MAX_S, API_BACKOFF_BASE_S * 2 ** (self.api_failures - 1)))
        logger.warning("Job status request failed (%s); asking again in %.1f s", redact(str(exc)), delay)
        for watch in due:
            if watch.job_id not in self.jobs:
                continue
            if watch.gap_since is None:
                watch.gap_since = now
            if watch.abort_reason and now + _EPS >= watch.abort_deadline:
                self._abort_unconfirmed(watch, now)
                continue
            if not watch.abort_reason and watch.deadline is not None and now + _EPS >= watch.deadline:
                self._time_out(watch, now)  # the limit is the limit, even when DSS cannot tell us the state
            self._check_at(watch, now, now + delay)

    # ---------------------------------------------------------------------------------------------------- outcomes

    def _job_ended(self, watch: _Watch, snapshot: JobSnapshot, now: float) -> None:
        del self.jobs[watch.job_id]
        if watch.decided:  # timed out earlier: DSS confirms the job stopped, the slot is free again
            return
        unit, attempt = watch.unit, watch.attempt
        if _needs_whole_status(unit, snapshot):
            snapshot = self._whole_status(snapshot)
        if watch.job_id in self.adopt_owner:
            self.adopted_ends[watch.job_id] = snapshot
        attempt.ended_at = attempt.noticed_at = self._stamp(now)
        attempt.job_duration_s = _job_duration(snapshot)
        attempt.overhead_s = _job_overhead(snapshot)
        unit.activities = snapshot.activities
        self._take_dss_times(unit, watch, snapshot)
        if snapshot.state == "DONE":
            attempt.state = "SUCCESS"
            self._finish(unit, "SUCCESS", now)
        elif snapshot.state == "FAILED":
            error = self._job_error(snapshot)
            attempt.state, attempt.error = "FAILED", error
            unit.error = error
            excerpt = self._fetch_excerpt(watch.job_id)
            if excerpt:
                unit.log_excerpt = excerpt
            if error.transient and self._may_retry(unit) and not self.stopping:
                self._schedule_retry(unit, attempt, error, now)
            elif not self._continue_rest(unit, now, error):
                self._finish(unit, "FAILED", now, error)
        else:
            # DSS's own cause (a restart lost the job) wins over our abort request: it is what ended the job
            external = bool(snapshot.failure_message) or not watch.abort_reason
            if snapshot.failure_message:  # e.g. lost to a DSS restart: retried when the cause is transient
                error = RecipeError(
                    redact(f"The DSS job {watch.job_id} was aborted outside this run: {snapshot.failure_message}"),
                    redact(snapshot.failure_type),
                    classify(snapshot.failure_message, snapshot.failure_type, self.patterns),
                )
            elif watch.abort_reason:
                error = RecipeError(self._abort_message(watch.abort_reason))
            else:
                error = RecipeError(f"The DSS job {watch.job_id} was aborted outside this run")
            attempt.state, attempt.error = "ABORTED", error
            unit.error = error
            if external and error.transient and self._may_retry(unit) and not self.stopping:
                self._schedule_retry(unit, attempt, error, now)
            else:
                self._finish(unit, "ABORTED", now, error, external=external)

    def _whole_status(self, snapshot: JobSnapshot) -> JobSnapshot:
        """A grouped job ended and DSS's answer (a job-list item) did not list its activities: read its own status
        once, since each recipe's outcome and times are its activity's. The list item stands if DSS does not answer."""
        read = getattr(self.port, "job_status", None)  # feature detection: older ports lack it
        try:
            whole = read(snapshot.job_id) if read else self.port.job_states([snapshot.job_id]).get(snapshot.job_id)
        except Exception as exc:  # the job ended either way: its outcome is known, only the details are not
            logger.warning("Could not read the status of job %s (%s)", snapshot.job_id, redact(str(exc)))
            return snapshot
        return whole if whole is not None and whole.terminal and whole.activities is not None else snapshot

    def _take_dss_times(self, unit: _Unit, watch: _Watch, snapshot: JobSnapshot) -> None:
        """The attempt's times are DSS's own (its job start and end), not when the run asked and noticed; a polling
        outage that delayed the noticing is kept apart (``status_gap_s``)."""
        attempt = watch.attempt
        if snapshot.started_at_ms and snapshot.ended_at_ms and snapshot.ended_at_ms >= snapshot.started_at_ms:
            attempt.started_at = _utc_ms(snapshot.started_at_ms)
            attempt.ended_at = _utc_ms(snapshot.ended_at_ms)
            unit.dss_span = (unit.dss_span[0] if unit.dss_span else snapshot.started_at_ms, snapshot.ended_at_ms)
        if watch.gap_s >= self.options.poll_max_s:
            attempt.status_gap_s = round(watch.gap_s, 1)

    def _job_error(self, snapshot: JobSnapshot) -> RecipeError:
        message = snapshot.failure_message or (
            f"The DSS job {snapshot.job_id} failed without an error message; open its log in DSS"
        )
        transient = classify(snapshot.failure_message, snapshot.failure_type, self.patterns)
        return RecipeError(redact(message) or message, redact(snapshot.failure_type), transient)

    def _fetch_excerpt(self, job_id: str) -> Optional[str]:
        for attempt in range(LOG_FETCH_TRIES):
            try:
                return extract_log_excerpt(self.port.job_log(job_id)) or None
            except TransientAPIError as exc:
                logger.warning("Reading the log of job %s failed (%s)", job_id, redact(str(exc)))
                if attempt + 1 < LOG_FETCH_TRIES:
                    self._pause(API_BACKOFF_BASE_S * 2**attempt)
            except Exception as exc:
                logger.warning("Cannot read the log of job %s: %s", job_id, redact(str(exc)))
                return None
        return None

    def _schedule_retry(self, unit: _Unit, attempt: Attempt, error: RecipeError, now: float) -> None:
        if unit.per_activity and unit.activities is not None:
            self._settle_succeeded(unit, now, keep_one=True)
            self._drop_not_reached(unit)
        retry = self.options.retry
        base = min(retry.backoff_max_s, retry.backoff_s * 2 ** (unit.attempt - 1))
        delay = round(base * (0.5 + 0.5 * self.rng.random()), 3)
        attempt.retry_after_s = delay
        self.sched.retry_at(unit.index, now + delay, attempt.state)
        self._touch(unit)
        for run in unit.runs:
            run.error = error
            run.log_excerpt = unit.log_excerpt
            self._event(
                "recipe_retrying",
                run,
                attempt=unit.attempt + 1,
                job_id=attempt.job_id,
                message=(
                    f"{run.name} failed: {one_line(error.message)} (retrying in {delay:.1f}s, "
                    f"attempt {unit.attempt + 1} of {self.max_attempts})"
                ),
            )
        self._sink(force=True)

    def _time_out(self, watch: _Watch, now: float, error: Optional[RecipeError] = None) -> None:
        unit, attempt = watch.unit, watch.attempt
        queued = watch.queued_s or 0.0
        waited = f" after waiting {queued:.1f} s in DSS's queue" if queued >= 0.05 else ""
        error = error or RecipeError(
            f"Timed out: the DSS job {watch.job_id} ran {max(now - watch.started - queued, 0.0):.1f} s{waited}, "
            f"over the {self.options.timeout_s:g} s timeout (running time); it was aborted"
        )
        attempt.state, attempt.error, attempt.ended_at = "TIMED_OUT", error, self._stamp(now)
        unit.error = error
        watch.decided = True
        self._request_abort(watch, "timeout", now)
        self._finish(unit, "TIMED_OUT", now, error)

    def _abort_unconfirmed(self, watch: _Watch, now: float) -> None:
        del self.jobs[watch.job_id]
        logger.warning("DSS had not confirmed the abort of job %s after %.0f s", watch.job_id, ABORT_CONFIRM_S)
        if watch.decided:
            return
        error = RecipeError(
            self._abort_message(watch.abort_reason or "cancel")
            + f" (abort requested; DSS had not confirmed it after {ABORT_CONFIRM_S:.0f} s)"
        )
        watch.attempt.state, watch.attempt.error, watch.attempt.ended_at = "ABORTED", error, self._stamp(now)
        watch.unit.error = error
        self._finish(watch.unit, "ABORTED", now, error)

    def _abort_message(self, reason: str) -> str:
        if reason == "fail-fast":
            return f"Aborted: the run stopped after {self.stop_cause} (on failure: fail-fast)"
        if reason == "cancel":
            return "Aborted: the run was cancelled"
        return f"Aborted: the run stopped ({reason})"

    def _finish(
        self, unit: _Unit, state: str, now: float, error: Optional[RecipeError] = None, external: bool = False
    ) -> None:
        """Record the unit's final state, release or skip its downstream, stop a fail-fast run on a failure.

        A unit whose recipes each took their own activity's outcome succeeded when every one of them did (a job can
        end FAILED around activities that all succeeded, e.g. an adopted job that also built other recipes)."""
        self._record_final(unit, state, now, error)
        if unit.per_activity and unit.runs and all(run.state == "SUCCESS" for run in unit.runs):
            state = "SUCCESS"
        failed = state in FAILED_BY_ITSELF or (state == "ABORTED" and external)
        _, skipped = self.sched.finish(unit.index, state, failed)
        if skipped:
            self._record_skips(skipped)
        if failed and self.options.on_failure == "fail-fast" and not self.stopping:
            culprits = _culprits(unit)
            names = ", ".join(culprits[:3]) + ("..." if len(culprits) > 3 else "")
            self.stop_cause = f"{names} {_STOP_VERBS.get(state, 'failed')}"
            self._begin_stop("fail-fast")
        if state != "NOT_RUN":
            self._sink(force=state != "SUCCESS")

    def _continue_rest(self, unit: _Unit, now: float, error: RecipeError) -> bool:
        """A failed shared job holding independent recipes (one job for the whole plan), with ``on_failure`` continue:
        the recipes DSS never started and that wait for no recipe that did not succeed go on in a new job, as they
        would with a job each; the others end now with their own activities' outcomes. False when nothing goes on.

        Only for a unit no other unit waits for (its recipes' states are settled one by one)."""
        if self.options.on_failure != "continue" or self.stopping or not unit.per_activity or not unit.activities:
            return False
        if self.sched.downstream[unit.index]:
            return False
        own = _own_activities(unit.activities)
        names = {run.name for run in unit.runs}
        started = {n for n in names if own.get(n) is not None and own[n].started_at_ms}
        succeeded = {n for n in started if own[n].state in ("DONE", "SKIPPED")}
        if not started - succeeded:
            return False  # the job failed before (or besides) any activity: the job's own failure
        rest: Dict[str, RecipeRun] = {}
        for run in unit.runs:  # plan order: upstream recipes are decided first
            ups = [u for u in self.plan.recipe(run.name).upstream if u in names]
            if run.name not in started and all(u in succeeded or u in rest for u in ups):
                rest[run.name] = run
        if not rest:
            return False
        job_id = unit.runs[0].job_ids[-1] if unit.runs[0].job_ids else None
        unit.runs = [run for run in unit.runs if run.name not in rest]
        self._record_final(unit, "FAILED", now, error)  # each from its own activity (a shared job's unit)
        for run in rest.values():  # the failed job never ran them: not one of their attempts
            if run.job_ids and run.job_ids[-1] == job_id:
                _forget_last_attempt(run)
            elif not run.job_ids:
                run.started_at = None
        self._narrow(unit, list(rest.values()))
        unit.attempt = max(len(r.job_ids) for r in unit.runs)
        unit.first_start = unit.dss_span = unit.error = unit.log_excerpt = unit.activities = None
        logger.info("%s: going on in a new job without the recipes that did not succeed", unit.name)
        self.sched.retry_at(unit.index, now)
        self._sink(force=True)
        return True

    def _record_final(self, unit: _Unit, state: str, now: float, error: Optional[RecipeError] = None) -> None:
        """Write a unit's final state into its recipes' records and tell the event consumer."""
        ran = unit.first_start is not None
        for run in unit.runs:
            run.state = state
            if ran:  # DSS's start of its first job and end of its last, where DSS said them
                if run.attempt_history:
                    run.started_at = run.attempt_history[0].started_at or run.started_at
                run.ended_at = (run.attempt_history[-1].ended_at if run.attempt_history else None) or self._stamp(now)
                run.duration_s = round(now - unit.first_start, 3)
                if unit.dss_span:  # DSS's own time from its first job's start to its last job's end
                    run.duration_s = round((unit.dss_span[1] - unit.dss_span[0]) / 1000.0, 3)
            if state == "SUCCESS":  # an earlier failed attempt stays in attempt_history
                run.error = None
                run.log_excerpt = None
            else:
                run.error = error or unit.error
                run.log_excerpt = unit.log_excerpt
        if (len(unit.runs) > 1 or unit.per_activity) and unit.activities:
            self._apply_activities(unit, state)
        self.done += len(unit.runs)
        self._touch(unit)
        for run in unit.runs:
            self._event(
                "recipe_finished",
                run,
                attempt=run.attempts or None,
                state=run.state,
                job_id=run.job_ids[-1] if run.job_ids else None,
                message=self._finish_message(run, run.state),
            )

    def _apply_activities(self, unit: _Unit, job_state: str) -> None:
        """Single job: each recipe's state, times and error from its own activity in DSS's job status.

        In a job that did not succeed, a recipe whose activity succeeded is SUCCESS, one whose activity failed has
        that activity's error, and one whose activity never started did not run: SKIPPED behind a recipe that did not
        succeed, else NOT_RUN (no attempt). In a successful job a recipe without an activity was up to date."""
        own = _own_activities(unit.activities)
        runs = {run.name: run for run in unit.runs}
        for run in unit.runs:  # plan order: upstream recipes are decided first
            activity = own.get(run.name)
            _take_activity_times(run, activity)
            if job_state == "SUCCESS":
                continue
            if activity is not None and activity.state in ("DONE", "SKIPPED"):
                run.state, run.error, run.log_excerpt = "SUCCESS", None, None
            elif activity is not None and activity.state == "FAILED":
                message = activity.failure_message or f"The activity of {run.name} failed; open the job's log in DSS"
                run.state = "FAILED"
                run.error = RecipeError(
                    redact(message) or message,
                    redact(activity.failure_type),
                    classify(activity.failure_message, activity.failure_type, self.patterns),
                )
            elif activity is not None and activity.started_at_ms:  # ABORTED, or left RUNNING in an ended job
                beside = job_state == "TIMED_OUT" and unit.timed_out not in (None, run.name)
                run.state = "TIMED_OUT" if job_state == "TIMED_OUT" and not beside else "ABORTED"
                if beside:  # it ran beside the recipe that ran out of time in the same job (one job for the plan)
                    run.error = RecipeError(
                        f"Aborted: {unit.timed_out} ran out of time in the DSS job they shared "
                        f"({run.attempt_history[-1].job_id if run.attempt_history else 'its job'}), which was aborted"
                    )
                run.started_at = _utc_ms(activity.started_at_ms)
                if run.ended_at:
                    run.duration_s = max(
                        round((parse_utc(run.ended_at).timestamp() * 1000 - activity.started_at_ms) / 1000.0, 3), 0.0
                    )
            elif unit.per_activity and self._heads_chain(run, runs):
                # the first recipe a grouped job had to run: it takes the job's own outcome, as its own job would
                run.state = job_state if job_state in ("FAILED", "ABORTED", "TIMED_OUT") else "ABORTED"
            else:
                self._not_run_in_job(run, runs, stopped_only=unit.per_activity)
                continue
            _own_attempt(run)

    def _settle_succeeded(self, unit: _Unit, now: float, keep_one: bool) -> None:
        """Grouped job that did not succeed as a whole: recipes whose own activity succeeded are done now (SUCCESS,
        with this job as their attempt) and leave the unit; its next job builds only the outputs of the others.
        ``keep_one``: a retry keeps the unit's last recipes even if DSS said every activity succeeded."""
        own = _own_activities(unit.activities)
        settled = [r for r in unit.runs if own.get(r.name) is not None and own[r.name].state in ("DONE", "SKIPPED")]
        if not settled or (keep_one and len(settled) == len(unit.runs)):
            return
        for run in settled:
            _take_activity_times(run, own[run.name])
            run.state, run.error, run.log_excerpt = "SUCCESS", None, None
            _own_attempt(run, retry_after_s=None)
            self.done += 1
            self.record.touch(self.order[run.name])
            self._event(
                "recipe_finished",
                run,
                attempt=run.attempts or None,
                state="SUCCESS",
                job_id=run.job_ids[-1] if run.job_ids else None,
                message=self._finish_message(run, "SUCCESS"),
            )
        self._narrow(unit, [r for r in unit.runs if r not in settled])

    def _narrow(self, unit: _Unit, runs: List[RecipeRun]) -> None:
        """The unit goes on with ``runs`` only: its job's outputs and its name follow."""
        unit.runs = runs
        unit.outputs = tuple(dict.fromkeys(o for r in runs for o in self.plan.recipe(r.name).outputs))
        unit.name = _group_name([r.name for r in runs])

    def _drop_not_reached(self, unit: _Unit) -> None:
        """Grouped job about to be retried: a recipe whose activity never started in it did not run, so the job is
        not one of its attempts (its retry budget is its own, as with a job per recipe); if no activity started at
        all, the job stays the attempt of the chain's first recipe, for which it was started."""
        own = _own_activities(unit.activities)
        started = {r.name for r in unit.runs if own.get(r.name) is not None and own[r.name].started_at_ms}
        keep = started or {unit.runs[0].name}
        for run in unit.runs:
            if run.name not in keep and run.job_ids:
                _forget_last_attempt(run)

    def _may_retry(self, unit: _Unit) -> bool:
        """Attempts left: of the unit (one job per recipe, single job), or of each recipe that ended a grouped job
        (its own activity failed, or the first recipe when the job failed before any activity)."""
        if not unit.per_activity or unit.activities is None:
            return unit.attempt < self.max_attempts
        own = _own_activities(unit.activities)
        ended = [
            r
            for r in unit.runs
            if own.get(r.name) is not None
            and own[r.name].started_at_ms
            and own[r.name].state not in ("DONE", "SKIPPED")
        ] or unit.runs[:1]
        return all(len(r.job_ids) < self.max_attempts for r in ended)

    def _heads_chain(self, run: RecipeRun, runs: Dict[str, RecipeRun]) -> bool:
        """No recipe of the job comes before it: the job was started for it first."""
        planned = self.plan.get(run.name)
        return not any(u in runs for u in (planned.upstream if planned else ()))

    def _not_run_in_job(self, run: RecipeRun, runs: Dict[str, RecipeRun], stopped_only: bool = False) -> None:
        """A recipe of a single job whose activity never started: SKIPPED behind a recipe that did not succeed.

        ``stopped_only`` (grouped jobs, as with a job per recipe): behind a recipe the run itself aborted (fail-fast,
        cancellation) it was only never reached: NOT_RUN."""
        planned = self.plan.get(run.name)
        blocked = [runs[u] for u in (planned.upstream if planned else ()) if u in runs]
        if stopped_only:
            blocked = [u for u in blocked if not (u.state == "NOT_RUN" or _stopped_by_the_run(u))]
        roots = [r for u in blocked if u.state != "SUCCESS" for r in (u.skipped_because or [u.name])]
        run.state = "SKIPPED" if roots else "NOT_RUN"
        run.skipped_because = list(dict.fromkeys(roots))
        run.error = run.log_excerpt = None
        run.attempts, run.job_ids, run.job_urls, run.attempt_history = 0, [], [], []
        run.started_at = run.ended_at = run.duration_s = None

    def _finish_message(self, run: RecipeRun, state: str) -> str:
        gap = run.attempt_history[-1].status_gap_s if run.attempt_history else None
        late = f" (noticed {gap:.0f}s late: DSS answered no status request meanwhile)" if gap else ""
        if state == "SUCCESS":
            return f"{run.name} succeeded in {run.duration_s or 0:.1f}s{late}"
        if state == "SKIPPED":
            return f"{run.name} skipped because {', '.join(run.skipped_because)} failed"
        if state == "NOT_RUN":
            if self.cancelled:
                return f"{run.name} was not run: the run was cancelled"
            if self.stopping == "error":
                return f"{run.name} was not run: the run stopped on an unexpected error"
            if self.stopping:
                return f"{run.name} was not run: the run stopped after {self.stop_cause}"
            return f"{run.name} was not run"
        detail = run.error.message if run.error else state
        return f"{run.name} {state.lower().replace('_', ' ')}: {one_line(detail)}"

    def _record_skips(self, nodes: Sequence[int]) -> None:
        """Recipes the scheduler skipped (or whose skip gained a failed root): name the failed recipes at the root."""
        for node in nodes:
            unit = self.units[node]
            because = [name for root in self.sched.skip_causes(node) for name in _culprits(self.units[root])]
            newly = [run for run in unit.runs if run.state != "SKIPPED"]
            for run in unit.runs:
                run.skipped_because = because
                run.state = "SKIPPED"
            self.done += len(newly)
            self._touch(unit)
            for run in newly:
                self._event("recipe_finished", run, state="SKIPPED", message=self._finish_message(run, "SKIPPED"))

    # ---------------------------------------------------------------------------------------------------- stopping

    def _begin_stop(self, kind: str) -> None:
        """Start nothing new and abort every job the run started (fail-fast or cancellation)."""
        if kind == "cancel":
            self.cancelled = True
        if self.stopping is None or kind == "cancel":
            self.stopping = kind
        now = self.clock()
        for watch in list(self.jobs.values()):
            if not watch.abort_reason:
                self._request_abort(watch, kind, now)
        self._sink(force=True)

    def _request_abort(self, watch: _Watch, reason: str, now: float) -> None:
        watch.abort_reason = reason
        watch.abort_deadline = now + ABORT_CONFIRM_S
        watch.abort_step = self.options.poll_min_s
        self._check_at(watch, now, now + self.options.poll_min_s)
        self._send_abort(watch)

    def _send_abort(self, watch: _Watch) -> None:
        try:
            self.port.abort_job(watch.job_id)
            watch.abort_sent = True
        except TransientAPIError as exc:
            logger.warning("Aborting job %s failed (%s); trying again", watch.job_id, redact(str(exc)))
        except Exception as exc:
            watch.abort_sent = True  # best effort: DSS refuses; keep watching until it stops or the wait ends
            logger.warning("DSS refused to abort job %s: %s", watch.job_id, redact(str(exc)))

    def _drain(self, now: float) -> None:
        """While stopping: nothing waiting starts; each waiting recipe gets its true final state (a recipe waiting to
        retry keeps its last attempt's outcome, one that never started is NOT_RUN)."""
        note = "the run was cancelled" if self.cancelled else f"the run stopped after {self.stop_cause}"
        for node, state in self.sched.drain_on_stop():
            unit = self.units[node]
            error = unit.error if state != "NOT_RUN" else None
            if error is not None:
                error = RecipeError(f"{error.message} (not retried: {note})", error.type, error.transient)
            self._record_final(unit, state, now, error)

    def _emergency_stop(self, exc: BaseException) -> None:
        """An unexpected error: abort what runs (no waiting), complete the record, hand it over, let the error go."""
        try:
            self.stopping = "error"
            if isinstance(exc, KeyboardInterrupt):
                self.cancelled = True
            now = self.clock()
            reason = (
                "the run was cancelled"
                if self.cancelled
                else (
                    f"the run stopped on an unexpected error ({type(exc).__name__}: {one_line(redact(str(exc)) or '')})"
                )
            )
            for watch in list(self.jobs.values()):
                del self.jobs[watch.job_id]
                try:
                    self.port.abort_job(watch.job_id)
                except Exception:
                    logger.warning("Could not abort job %s while stopping", watch.job_id, exc_info=True)
                if watch.decided:
                    continue
                error = RecipeError(f"Aborted: {reason}")
                watch.attempt.state, watch.attempt.error, watch.attempt.ended_at = "ABORTED", error, self._stamp(now)
                watch.unit.error = error
                self._finish(watch.unit, "ABORTED", now, error)
            self._close_record(now)
            if self.record_sink is not None:
                self.record_sink(self.record)
        except Exception:
            logger.exception("Could not complete the run record after an unexpected error")

    def _close_record(self, now: float) -> None:
        self._drain(now)
        record = self.record
        if self.cancelled:
            record.state = "CANCELLED"
        elif all(run.state == "SUCCESS" for run in record.recipes):
            record.state = "SUCCESS"
        else:
            record.state = "FAILED"
        record.ended_at = self._stamp(now)
        record.duration_s = round(now - self.t0, 3)
        self._span_every_job(record)
        record.cause = self._run_cause() if record.state != "SUCCESS" else None
        record.job_overhead = _measured_overhead(record)
        counts = record.counts
        summary = ", ".join(f"{n} {state.lower().replace('_', ' ')}" for state, n in counts.items() if n)
        because = f". {record.cause}" if record.cause else ""
        self._event(
            "run_finished",
            state=record.state,
            message=f"Run {record.state.lower()}: {summary or 'nothing to do'}{because}",
        )

    @staticmethod
    def _span_every_job(record: RunRecord) -> None:
        """The run's start and end are its own clock's, widened to hold every job's times as DSS gave them (DSS's
        clock may run ahead of or behind this machine's): no timeline bar outside the run."""
        times = [(r.started_at, r.ended_at) for r in record.recipes if r.started_at]
        starts = [parse_utc(s) for s, _ in times]
        ends = [parse_utc(e) for _, e in times if e]
        first, last = parse_utc(record.started_at), parse_utc(record.ended_at)
        if starts and min(starts) < first:
            first = min(starts)
            record.started_at = format_utc(first)
        if ends and max(ends) > last:
            last = max(ends)
            record.ended_at = format_utc(last)
        if starts or ends:
            record.duration_s = max(record.duration_s or 0.0, round((last - first).total_seconds(), 3))

    def _run_cause(self) -> str:
        """One sentence naming why the run did not succeed: the first recipes that ended it and their errors."""
        if self.cancelled:
            return "The run was cancelled"
        if self.stopping == "error":
            return "The run stopped on an unexpected error"
        ended = [r for r in self.record.recipes if r.state in ("FAILED", "TIMED_OUT", "ABORTED")]
        roots = [r for r in ended if not (r.error and r.error.message.startswith("Aborted: the run stopped"))]
        if not roots:
            return "No recipe failed, yet not every recipe succeeded"
        first = roots[0]
        detail = one_line(first.error.message, 200) if first.error else first.state.lower()
        more = f" (and {len(roots) - 1} more recipe(s))" if len(roots) > 1 else ""
        return f"{first.name} {first.state.lower().replace('_', ' ')}{more}: {detail}"

    def _finish_run(self) -> RunRecord:
        self._close_record(self.clock())
        if self.record_sink is not None:
            self.record_sink(self.record)  # the final write: an error here reaches the caller
        return self.record


def _at_deadline(watch: _Watch) -> bool:
    """Its next check is its time limit: not held back to keep requests ``poll_min_s`` apart."""
    return watch.deadline is not None and watch.next_check >= watch.deadline - _EPS


def _own_activities(activities: Optional[Sequence[ActivitySnapshot]]) -> Dict[str, ActivitySnapshot]:
    """Each recipe's activity in a job status (of several, e.g. one per partition: the one that went worst)."""
    rank = {"FAILED": 0, "ABORTED": 1, "DONE": 2, "SKIPPED": 3}
    own: Dict[str, ActivitySnapshot] = {}
    for activity in activities or ():
        known = own.get(activity.recipe)
        if known is None or rank.get(activity.state, 9) < rank.get(known.state, 9):
            own[activity.recipe] = activity
    return own


def _stopped_by_the_run(run: RecipeRun) -> bool:
    """ABORTED by this run's own stop (fail-fast, cancellation, an unexpected error), not by a failure of its own."""
    return run.state == "ABORTED" and bool(run.error and run.error.message.startswith("Aborted: the run"))


def _culprits(unit: _Unit) -> List[str]:
    """The recipes of a unit that ended it (failed, timed out, aborted): in a grouped job, not the whole chain."""
    ended = [run.name for run in unit.runs if run.state in ("FAILED", "TIMED_OUT", "ABORTED")]
    return ended or [run.name for run in unit.runs]


def _needs_whole_status(unit: _Unit, snapshot: JobSnapshot) -> bool:
    """A grouped job's answer without its activities (a job-list item): its recipes' outcomes and times need the
    job's own status, one more request."""
    return unit.per_activity and snapshot.activities is None


def _take_activity_times(run: RecipeRun, activity: Optional[ActivitySnapshot]) -> None:
    """A recipe of a shared job takes its own activity's times (DSS's), when the activity started and ended."""
    if activity is not None and activity.started_at_ms and activity.ended_at_ms:
        run.started_at, run.ended_at = _utc_ms(activity.started_at_ms), _utc_ms(activity.ended_at_ms)
        run.duration_s = round((activity.ended_at_ms - activity.started_at_ms) / 1000.0, 3)


def _own_attempt(run: RecipeRun, **changes: Any) -> None:
    """The recipe's last attempt is its own activity's outcome (state, error, times), not its shared job's."""
    if run.attempt_history:
        last = run.attempt_history[-1]
        run.attempt_history[-1] = dataclasses.replace(
            last,
            state=run.state,
            error=run.error,
            started_at=run.started_at or last.started_at,
            ended_at=run.ended_at or last.ended_at,
            **changes,
        )


def _forget_last_attempt(run: RecipeRun) -> None:
    """A shared job that never reached the recipe's activity is not one of its attempts."""
    run.job_ids.pop()
    run.job_urls.pop()
    run.attempt_history.pop()
    run.attempts = len(run.job_ids)
    if not run.job_ids:
        run.started_at = None


def _group_name(names: Sequence[str]) -> str:
    """How events and logs name a job group: its recipe, or its first and last recipes."""
    if len(names) <= 1:
        return names[0] if names else ""
    return f"{names[0]} … {names[-1]} ({len(names)} recipes in one job)"


def _utc_ms(ms: int) -> Optional[str]:
    """DSS's epoch milliseconds as the record's UTC text."""
    return format_utc(datetime.fromtimestamp(ms / 1000.0, timezone.utc))


def _job_duration(snapshot: JobSnapshot) -> Optional[float]:
    """DSS's own run time of an ended job (its start and end times), free of our detection lag."""
    start, end = snapshot.started_at_ms, snapshot.ended_at_ms
    if not start or not end or end < start:
        return None
    return round((end - start) / 1000.0, 3)


def _measured_overhead(record: RunRecord) -> Optional[Dict[str, Any]]:
    """The median overhead of the run's successful jobs whose activities were read (``overhead_s`` of an attempt)."""
    samples = {a.job_id: a.overhead_s for r in record.recipes for a in r.attempt_history if a.overhead_s is not None}
    if not samples:
        return None
    return {"median_s": round(statistics.median(samples.values()), 3), "jobs": len(samples)}


def _longest_path_s(members: Sequence[PlannedRecipe]) -> float:
    """Expected seconds of a job holding ``members`` (in dependency order): its longest path of expected durations
    (a chain's sum; independent recipes of one job for the whole plan run side by side)."""
    finish: Dict[str, float] = {}
    for recipe in members:
        start = max((finish[u] for u in recipe.upstream if u in finish), default=0.0)
        finish[recipe.name] = start + (recipe.expected_duration_s or 0.0)
    return max(finish.values(), default=0.0)


def _job_overhead(snapshot: JobSnapshot) -> Optional[float]:
    """How long a successful job ran with none of its activities running: its DSS duration minus its activities' span."""
    duration = _job_duration(snapshot)
    ran = [a for a in snapshot.activities or () if a.started_at_ms and a.ended_at_ms]
    if snapshot.state != "DONE" or duration is None or not ran:
        return None
    span = (max(a.ended_at_ms for a in ran) - min(a.started_at_ms for a in ran)) / 1000.0
    return round(max(duration - span, 0.0), 3)


def _may_not_run_jobs(project_key: str, refusal: DSSPermissionError) -> DSSPermissionError:
    """The run's first job start was refused: the key (or user) may not run jobs, whichever recipe came first."""
    return DSSPermissionError(
        f"This API key may not run jobs on project {project_key}: DSS refused the run's first job start "
        f"({refusal.detail or refusal}). Running jobs needs the project permission 'Write project content': grant it "
        f"on project {project_key} (Security > Permissions) to the key or its user, or use a key that has it. "
        "Nothing was started.",
        detail=refusal.detail,
    )


def _describe(outputs: Sequence[OutputRef]) -> str:
    names = [o.id for o in outputs[:3]]
    return ", ".join(names) + (f" and {len(outputs) - 3} more" if len(outputs) > 3 else "")
