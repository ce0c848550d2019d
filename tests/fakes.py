"""A deterministic simulated DSS implementing BuildPort on a virtual clock, for runner tests and benchmarks.

Jobs have durations, may wait in a queue, fail permanently, fail transiently N times, hang until aborted; the API
can be made to fail (TransientAPIError) for a while or for the next N calls. The fake checks the runner's promises
as it goes (no recipe starts before its upstream recipes are DONE, never more than ``max_parallel`` live jobs) and
keeps what the tests need to assert on (starts, status requests, aborts).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from flow_orchestrator.errors import DSSAccessError
from flow_orchestrator.plan import BuildPlan, PlannedRecipe
from flow_orchestrator.port import ActivitySnapshot, JobSnapshot, OutputRef, RunningJob, TransientAPIError

PYTHON_FAILURE_LOG = """\
[2026/09/02-14:34:00.100] [FRT-76-FlowRunnable] [INFO] [dku.flow.jobrunner] act.{act} - Allocated a slot for this activity
[2026/09/02-14:34:00.150] [FRT-76-FlowRunnable] [INFO] [dku.flow.activity] act.{act} - Run activity
[2026/09/02-14:34:00.200] [FRT-76-FlowRunnable] [INFO] [dku.security.process] act.{act} - Starting process with ticket X-DKU-APITicket: tkt_8f1c2a9b77e04d5c
[2026/09/02-14:34:00.900] [FRT-76-FlowRunnable] [INFO] [dku.flow.python] act.{act} - Starting execution of user's Python code
[2026/09/02-14:34:01.500] [null-err-85] [INFO] [dku.utils]  - 2026-09-02 14:34:01,499 INFO Setup complete, ready to execute Python code
[2026/09/02-14:34:01.800] [null-err-85] [INFO] [dku.utils]  - *************** Recipe code failed **************
[2026/09/02-14:34:01.801] [null-err-85] [INFO] [dku.utils]  - Begin Python stack
[2026/09/02-14:34:01.802] [null-err-85] [INFO] [dku.utils]  - Traceback (most recent call last):
[2026/09/02-14:34:01.803] [null-err-85] [INFO] [dku.utils]  -   File "<string>", line 7, in <module>
[2026/09/02-14:34:01.804] [null-err-85] [INFO] [dku.utils]  -     df["total"] = df["amount"] * df["qty"]
[2026/09/02-14:34:01.805] [null-err-85] [INFO] [dku.utils]  - KeyError: 'amount'
[2026/09/02-14:34:01.806] [null-err-85] [INFO] [dku.utils]  - End Python stack
[2026/09/02-14:34:02.000] [FRT-76-FlowRunnable] [ERROR] [dku.flow.activity] act.{act} - Activity failed
[2026/09/02-14:34:02.466] [ActivityExecutor-66] [INFO] [dku.flow.activity] running {act} - Activity is finished
"""

SUCCESS_LOG = """\
[2026/09/02-14:34:00.100] [FRT-76-FlowRunnable] [INFO] [dku.flow.activity] act.{act} - Run activity
[2026/09/02-14:34:02.466] [ActivityExecutor-66] [INFO] [dku.flow.activity] running {act} - Activity is successful
"""


RESTART_MESSAGE = "Job was lost: the DSS backend was restarted while the job was running"
RESTART_TYPE = "com.dataiku.dip.exceptions.ProcessDiedException"


class VirtualClock:
    """Time that moves only when the runner waits; ``at(t, action)`` runs actions when time passes ``t``."""

    def __init__(self, start: float = 1000.0, limit_s: float = 10_000_000.0):
        self.now = start
        self.start = start
        self.limit = start + limit_s
        self.waits: List[float] = []
        self._actions: List[Tuple[float, int, Callable[[], None]]] = []

    def __call__(self) -> float:
        return self.now

    def elapsed(self) -> float:
        return self.now - self.start

    def at(self, elapsed_s: float, action: Callable[[], None]) -> None:
        """Run ``action`` once the clock reaches ``start + elapsed_s`` (checked after each wait)."""
        self._actions.append((self.start + elapsed_s, len(self._actions), action))
        self._actions.sort()

    def wait(self, seconds: float) -> bool:
        assert seconds >= 0, seconds
        self.waits.append(seconds)
        self.now += seconds
        if self.now > self.limit:
            raise RuntimeError("virtual clock ran past its limit: the run never ends")
        while self._actions and self._actions[0][0] <= self.now:
            _, _, action = self._actions.pop(0)
            action()
        return False


@dataclass
class Behaviour:
    """How a recipe's jobs behave in the fake."""

    duration_s: float = 1.0
    fail_message: Optional[str] = None  # every attempt fails with this message (permanent unless it looks transient)
    fail_type: Optional[str] = "com.dataiku.dip.exceptions.ExternalProcessFailedException"
    transient_failures: int = 0  # the first N attempts fail with transient_message
    transient_message: str = "Failed to connect to the database: ERR_SQL_DB_UNREACHABLE: Connection refused"
    transient_type: Optional[str] = "java.net.ConnectException"
    hang: bool = False  # runs until aborted
    lost_attempts: int = 0  # the first N attempts are lost to a DSS restart halfway (ABORTED with its cause)
    queue_s: float = 0.0  # waits NOT_STARTED this long before running
    start_error: Optional[Exception] = None  # start_job raises this for the recipe
    log: Optional[str] = None


@dataclass
class FakeActivity:
    """One recipe's activity in a job of several recipes (``activities=True``): when it starts and ends (virtual time,
    None: never starts; math.inf: hangs) and how it ends on its own."""

    recipe: str
    start: Optional[float]
    end: Optional[float]
    outcome: str  # DONE | FAILED | ABORTED (lost to a DSS restart)
    message: Optional[str] = None
    error_type: Optional[str] = None


@dataclass
class FakeJob:
    job_id: str
    recipes: Tuple[str, ...]
    build_mode: str
    outputs: Tuple[OutputRef, ...]
    attempt: int
    started: float
    queue_s: float
    duration_s: float  # math.inf when it hangs
    outcome: str  # DONE | FAILED | ABORTED (lost to a DSS restart)
    failure_message: Optional[str] = None
    failure_type: Optional[str] = None
    log: Optional[str] = None
    abort_requested: Optional[float] = None
    activities: Optional[List[FakeActivity]] = None  # several recipes with activities=True: each its own

    @property
    def natural_end(self) -> float:
        return self.started + self.queue_s + self.duration_s

    def state_at(self, now: float, abort_delay_s: float) -> str:
        if self.abort_requested is not None:
            aborted_at = self.abort_requested + abort_delay_s
            if aborted_at < self.natural_end and now >= aborted_at:
                return "ABORTED"
        if now >= self.natural_end:
            return self.outcome
        if now < self.started + self.queue_s:
            return "NOT_STARTED"
        return "RUNNING"

    def ended_at(self, abort_delay_s: float) -> float:
        if self.abort_requested is not None:
            return min(self.natural_end, self.abort_requested + abort_delay_s)
        return self.natural_end

    def aborted_at(self, abort_delay_s: float) -> Optional[float]:
        if self.abort_requested is None or self.abort_requested + abort_delay_s >= self.natural_end:
            return None
        return self.abort_requested + abort_delay_s

    def activity_state(
        self, act: FakeActivity, now: float, abort_delay_s: float
    ) -> Tuple[str, Optional[float], Optional[float]]:
        """(state, start, end) of an activity at ``now``, as DSS's job status shows it."""
        aborted = self.aborted_at(abort_delay_s)
        ended = self.state_at(now, abort_delay_s) in ("DONE", "FAILED", "ABORTED")
        if act.start is None or now < act.start or (aborted is not None and aborted <= act.start):
            return ("ABORTED" if ended and aborted is not None else "NOT_STARTED"), None, None
        end = act.end if act.end is not None else math.inf
        if aborted is not None and aborted < end:
            return ("ABORTED", act.start, aborted) if now >= aborted else ("RUNNING", act.start, None)
        if now < end:
            return "RUNNING", act.start, None
        return act.outcome, act.start, end

    def activity_started(self, recipe: str, now: float, abort_delay_s: float) -> bool:
        for act in self.activities or ():
            if act.recipe == recipe:
                return self.activity_state(act, now, abort_delay_s)[1] is not None
        return False


@dataclass
class StartRecord:
    time: float
    job_id: str
    recipes: Tuple[str, ...]
    build_mode: str
    outputs: Tuple[OutputRef, ...]
    partitions: Optional[Dict[str, str]] = None  # output id -> partition spec, as the runner sent it


class FakeDSS:
    """In-memory BuildPort over a plan's recipes (outputs identify recipes)."""

    def __init__(
        self,
        plan: BuildPlan,
        clock: VirtualClock,
        behaviours: Optional[Dict[str, Behaviour]] = None,
        *,
        max_parallel: Optional[int] = None,
        abort_delay_s: float = 0.0,
        project_key: str = "PROJ",
        activities: bool = True,
    ):
        self.plan = plan
        self.clock = clock
        self.behaviours = dict(behaviours or {})
        self.max_parallel = max_parallel
        self.abort_delay_s = abort_delay_s
        self.project_key = project_key
        #: A job of several recipes runs one activity per recipe (in dependency order), each with its own outcome,
        #: and its status lists them, as DSS does; the runner's grouped jobs need it.
        self.with_activities = activities
        #: Virtual time + this = epoch seconds: DSS's job times (ms) fall where the run's wall clock is.
        self.wall_offset_s = time.time() - clock()
        self.recipes: Dict[str, PlannedRecipe] = {r.name: r for r in plan.recipes}
        self.producer: Dict[str, str] = {o.id: r.name for r in plan.recipes for o in r.outputs}
        self.jobs: Dict[str, FakeJob] = {}
        self.starts: List[StartRecord] = []
        self.violations: List[str] = []
        self.status_calls = 0
        self.status_job_reads = 0
        self.list_answers = False  # True: job_states also answers for every other job (a list request)
        self.abort_requests: List[Tuple[float, str]] = []
        self.log_requests: List[str] = []
        self.max_live_jobs = 0
        # API faults
        self.api_down_until = -math.inf  # every call raises TransientAPIError before this time
        self.fail_next_polls = 0
        self.fail_next_starts = 0
        self.fail_next_aborts = 0
        self.fail_next_logs = 0

    # ------------------------------------------------------------------------------------------------ BuildPort

    def wall_now(self) -> datetime:
        """The UTC time this simulated DSS stamps now: pass it as the runner's ``wall`` so both share one time line."""
        return datetime.fromtimestamp(self.clock() + self.wall_offset_s, timezone.utc)

    def start_job(
        self, outputs: Sequence[OutputRef], build_mode: str, partitions: Optional[Dict[str, str]] = None
    ) -> str:
        now = self.clock()
        self._api_check()
        if self.fail_next_starts > 0:
            self.fail_next_starts -= 1
            raise TransientAPIError("HTTP 503 Service Unavailable on POST /jobs/")
        outputs = tuple(outputs)
        covered = self._covered(outputs, build_mode)
        for name in covered:
            error = self.behaviour(name).start_error
            if error is not None:
                raise error
        self._check_promises(covered, now)
        attempt = 1 + sum(1 for s in self.starts if s.recipes == covered)
        if self.with_activities and len(covered) == 1:  # also its activities that started in jobs of several
            attempt += sum(1 for j in self.jobs.values() if j.activity_started(covered[0], now, self.abort_delay_s))
        job = self._make_job(covered, outputs, build_mode, attempt, now)
        self.jobs[job.job_id] = job
        self.starts.append(
            StartRecord(now, job.job_id, covered, build_mode, outputs, dict(partitions) if partitions else None)
        )
        self.max_live_jobs = max(self.max_live_jobs, len(self.live_jobs()))
        return job.job_id

    def job_states(self, job_ids: Sequence[str]) -> Dict[str, JobSnapshot]:
        now = self.clock()
        self.status_calls += 1
        self.status_job_reads += len(job_ids)
        self._api_check()
        if self.fail_next_polls > 0:
            self.fail_next_polls -= 1
            raise TransientAPIError("HTTP 502 Bad Gateway on GET /jobs/")
        out = {}
        if self.list_answers:  # one list answer shows every job, as DSS's job list does
            job_ids = list(job_ids) + [j for j in self.jobs if j not in job_ids]
        for job_id in job_ids:
            job = self.jobs.get(job_id)
            if job is None:
                continue
            state = job.state_at(now, self.abort_delay_s)
            failed = state == "FAILED" or (state == "ABORTED" and job.outcome == "ABORTED")
            out[job_id] = JobSnapshot(
                job_id=job_id,
                state=state,
                failure_message=job.failure_message if failed else None,
                failure_type=job.failure_type if failed else None,
                started_at_ms=int((job.started + self.wall_offset_s) * 1000),
                ended_at_ms=int((job.ended_at(self.abort_delay_s) + self.wall_offset_s) * 1000)
                if state in ("DONE", "FAILED", "ABORTED")
                else None,
                activities=None if self.list_answers else self._activity_snapshots(job, now),  # a list item: none
            )
        return out

    def job_status(self, job_id: str) -> JobSnapshot:
        """One job's whole status, activities included (what a list answer leaves out)."""
        answer = self.job_states([job_id]) if not self.list_answers else None
        if answer is None:
            self.list_answers = False
            try:
                answer = self.job_states([job_id])
            finally:
                self.list_answers = True
        return answer[job_id]

    def abort_job(self, job_id: str) -> None:
        now = self.clock()
        self._api_check()
        if self.fail_next_aborts > 0:
            self.fail_next_aborts -= 1
            raise TransientAPIError("Connection reset by peer on POST /abort/")
        self.abort_requests.append((now, job_id))
        job = self.jobs[job_id]
        if job.abort_requested is None:
            job.abort_requested = now

    def job_log(self, job_id: str) -> str:
        self._api_check()
        if self.fail_next_logs > 0:
            self.fail_next_logs -= 1
            raise TransientAPIError("HTTP 500 on GET /log/")
        self.log_requests.append(job_id)
        job = self.jobs[job_id]
        act = f"compute_{job.outputs[0].id}_NP" if job.outputs else "x"
        if job.log is not None:
            return job.log
        return (PYTHON_FAILURE_LOG if job.outcome == "FAILED" else SUCCESS_LOG).format(act=act)

    def job_url(self, job_id: str) -> Optional[str]:
        return f"http://dss.test:11200/projects/{self.project_key}/jobs/{job_id}/"

    def running_jobs(self) -> List[RunningJob]:
        self._api_check()
        return [RunningJob(j.job_id, j.outputs, "colleague") for j in self.live_jobs()]

    # ------------------------------------------------------------------------------------------------ inspection

    def behaviour(self, recipe: str) -> Behaviour:
        expected = self.recipes[recipe].expected_duration_s
        return self.behaviours.get(recipe) or Behaviour(duration_s=1.0 if expected is None else expected)

    def live_jobs(self, now: Optional[float] = None) -> List[FakeJob]:
        now = self.clock() if now is None else now
        return [
            j for j in self.jobs.values() if j.state_at(now, self.abort_delay_s) not in ("DONE", "FAILED", "ABORTED")
        ]

    def starts_of(self, recipe: str) -> List[StartRecord]:
        return [s for s in self.starts if recipe in s.recipes]

    def started_recipes(self) -> List[str]:
        return [name for s in self.starts for name in s.recipes]

    def state_of(self, job_id: str) -> str:
        return self.jobs[job_id].state_at(self.clock(), self.abort_delay_s)

    # ------------------------------------------------------------------------------------------------ internals

    def _api_check(self) -> None:
        if self.clock() < self.api_down_until:
            raise TransientAPIError("HTTPConnectionPool(host='dss.test', port=11200): Connection refused")

    def _covered(self, outputs: Tuple[OutputRef, ...], build_mode: str) -> Tuple[str, ...]:
        names = []
        for output in outputs:
            name = self.producer.get(output.id)
            if name is None:
                raise DSSAccessError(
                    f"com.dataiku.dip.server.controllers.NotFoundException: dataset does not exist: "
                    f"{self.project_key}.{output.id}"
                )
            names.append(name)
        if build_mode.startswith("RECURSIVE"):
            stack = list(names)
            seen = set(names)
            while stack:
                for up in self.recipes[stack.pop()].upstream:
                    if up not in seen:
                        seen.add(up)
                        stack.append(up)
            names = list(seen)
        order = {r.name: i for i, r in enumerate(self.plan.recipes)}
        return tuple(sorted(dict.fromkeys(names), key=order.__getitem__))

    def _activity_snapshots(self, job: FakeJob, now: float) -> Optional[Tuple[ActivitySnapshot, ...]]:
        if job.activities is None:
            return None
        out = []

        def ms(t: Optional[float]) -> Optional[int]:
            return None if t is None else int((t + self.wall_offset_s) * 1000)

        for act in job.activities:
            state, start, end = job.activity_state(act, now, self.abort_delay_s)
            failed = state == "FAILED" or (state == "ABORTED" and act.outcome == "ABORTED" and end == act.end)
            out.append(
                ActivitySnapshot(
                    act.recipe,
                    state,
                    ms(start),
                    ms(end),
                    act.message if failed else None,
                    act.error_type if failed else None,
                )
            )
        return tuple(out)

    def recipe_done(self, recipe: str, now: float) -> bool:
        """Some job built the recipe: its own job ended DONE, or its activity in a job of several did."""
        for s in self.starts_of(recipe):
            job = self.jobs[s.job_id]
            if job.activities is None:
                if job.state_at(now, self.abort_delay_s) == "DONE":
                    return True
                continue
            act = next(a for a in job.activities if a.recipe == recipe)
            if job.activity_state(act, now, self.abort_delay_s)[0] == "DONE":
                return True
        return False

    def _check_promises(self, covered: Tuple[str, ...], now: float) -> None:
        if self.with_activities:
            for name in covered:
                for up in self.recipes[name].upstream:
                    if up in self.recipes and up not in covered and not self.recipe_done(up, now):
                        self.violations.append(f"{name} started at {now:.3f} before its upstream {up} was DONE")
            for name in covered:  # no two jobs build one output
                for job in self.live_jobs(now):
                    if name in job.recipes:
                        self.violations.append(f"{name} started at {now:.3f} while job {job.job_id} builds it")
        elif len(covered) == 1:
            recipe = self.recipes[covered[0]]
            for up in recipe.upstream:
                if up not in self.recipes:
                    continue
                done = any(self.jobs[s.job_id].state_at(now, self.abort_delay_s) == "DONE" for s in self.starts_of(up))
                if not done:
                    self.violations.append(f"{recipe.name} started at {now:.3f} before its upstream {up} was DONE")
        live = len(self.live_jobs(now))
        if self.max_parallel is not None and live >= self.max_parallel:
            self.violations.append(f"a job started at {now:.3f} while {live} jobs were live (max {self.max_parallel})")

    def _make_job(self, covered, outputs, build_mode, attempt, now) -> FakeJob:
        if self.with_activities and len(covered) > 1:
            return self._make_job_of_activities(covered, outputs, build_mode, attempt, now)
        behaviours = [self.behaviour(name) for name in covered]
        duration = self._duration(covered)
        job_id = f"build_{outputs[0].id if outputs else 'nothing'}_NP_{len(self.starts) + 1:05d}"
        outcome, message, error_type, hang, log = "DONE", None, None, False, None
        for b in behaviours:
            if b.fail_message is not None:
                outcome, message, error_type, log = "FAILED", b.fail_message, b.fail_type, b.log
                break
            if attempt <= b.transient_failures:
                outcome, message, error_type, log = "FAILED", b.transient_message, b.transient_type, b.log
                break
            if attempt <= b.lost_attempts:
                outcome, message, error_type = "ABORTED", RESTART_MESSAGE, RESTART_TYPE
                break
            if b.hang:
                hang = True
        return FakeJob(
            job_id=job_id,
            recipes=covered,
            build_mode=build_mode,
            outputs=outputs,
            attempt=attempt,
            started=now,
            queue_s=max(b.queue_s for b in behaviours) if behaviours else 0.0,
            duration_s=math.inf if hang and outcome == "DONE" else (duration / 2 if outcome == "ABORTED" else duration),
            outcome=outcome,
            failure_message=message,
            failure_type=error_type,
            log=log,
        )

    def _make_job_of_activities(self, covered, outputs, build_mode, attempt, now) -> FakeJob:
        """A job of several recipes: each activity starts when its upstream activities of the job are DONE and ends
        on its own behaviour (its attempt: how many earlier activities of it started); after a failure DSS starts no
        more activity, and the job ends when the last running one does."""
        queue = max(self.behaviour(name).queue_s for name in covered)
        inside = set(covered)
        acts: Dict[str, FakeActivity] = {}
        for name in covered:
            b = self.behaviour(name)
            ups = [acts[u] for u in self.recipes[name].upstream if u in inside]
            if any(u.start is None or u.outcome != "DONE" or u.end == math.inf for u in ups):
                acts[name] = FakeActivity(name, None, None, "DONE")
                continue
            start = max((u.end for u in ups), default=now + queue)
            tries = 1 + sum(1 for j in self.jobs.values() if j.activity_started(name, now, self.abort_delay_s))
            tries += sum(1 for j in self.jobs.values() if j.activities is None and name in j.recipes)
            act = FakeActivity(name, start, start + b.duration_s, "DONE")
            if b.fail_message is not None:
                act.outcome, act.message, act.error_type = "FAILED", b.fail_message, b.fail_type
            elif tries <= b.transient_failures:
                act.outcome, act.message, act.error_type = "FAILED", b.transient_message, b.transient_type
            elif tries <= b.lost_attempts:
                act.outcome, act.message, act.error_type = "ABORTED", RESTART_MESSAGE, RESTART_TYPE
                act.end = start + b.duration_s / 2
            elif b.hang:
                act.end = math.inf
            acts[name] = act
        failures = [a for a in acts.values() if a.start is not None and a.outcome != "DONE"]
        stop = min((a.end for a in failures), default=math.inf)
        for act in acts.values():
            if act.start is not None and act not in failures and (act.start > stop or act.start == stop < act.end):
                act.start = act.end = None  # DSS starts nothing after a failure
        first = min(failures, key=lambda a: a.end, default=None)
        lost = first is not None and first.outcome == "ABORTED"
        started = [a for a in acts.values() if a.start is not None]
        end = first.end if lost else max((a.end for a in started), default=now + queue)
        return FakeJob(
            job_id=f"build_{outputs[0].id}_NP_{len(self.starts) + 1:05d}",
            recipes=covered,
            build_mode=build_mode,
            outputs=outputs,
            attempt=attempt,
            started=now,
            queue_s=queue,
            duration_s=end - now - queue,
            outcome="DONE" if first is None else ("ABORTED" if lost else "FAILED"),
            failure_message=first.message if first else None,
            failure_type=first.error_type if first else None,
            log=self.behaviour(first.recipe).log if first else None,
            activities=list(acts.values()),
        )

    def _duration(self, covered: Tuple[str, ...]) -> float:
        """Longest path of durations over the covered recipes (DSS runs independent activities in parallel)."""
        inside = set(covered)
        finish: Dict[str, float] = {}
        for name in covered:  # covered is in plan (topological) order
            start = max((finish[u] for u in self.recipes[name].upstream if u in inside), default=0.0)
            finish[name] = start + self.behaviour(name).duration_s
        return max(finish.values(), default=0.0)


# ---------------------------------------------------------------------------------------------------- plan helpers


def make_test_plan(
    upstream: Dict[str, Sequence[str]],
    *,
    durations: Optional[Dict[str, float]] = None,
    project_key: str = "PROJ",
    build_mode: str = "NON_RECURSIVE_FORCED_BUILD",
    strategy: str = "per-recipe",
) -> BuildPlan:
    """A BuildPlan from ``{recipe: [upstream recipes]}`` given in topological order; recipe X builds dataset X_out.

    Layers, bottom levels and the critical path are computed here so tests do not depend on the planner.
    """
    durations = durations or {}
    names = list(upstream)
    layer: Dict[str, int] = {}
    for name in names:
        layer[name] = 1 + max((layer[u] for u in upstream[name]), default=-1)
    downstream: Dict[str, List[str]] = {n: [] for n in names}
    for name in names:
        for up in upstream[name]:
            downstream[up].append(name)
    bottom: Dict[str, float] = {}
    for name in reversed(names):
        bottom[name] = durations.get(name, 1.0) + max((bottom[d] for d in downstream[name]), default=0.0)
    path: List[str] = []
    if names:
        current: Optional[str] = max(names, key=lambda n: (bottom[n], -names.index(n)))
        while current is not None:
            path.append(current)
            current = max(downstream[current], key=lambda n: bottom[n], default=None)
    recipes = tuple(
        PlannedRecipe(
            name=name,
            type="python",
            outputs=(OutputRef(f"{name}_out"),),
            inputs=tuple(f"{u}_out" for u in upstream[name]),
            upstream=tuple(upstream[name]),
            layer=layer[name],
            expected_duration_s=durations.get(name),
            bottom_level_s=bottom[name],
        )
        for name in names
    )
    sinks = tuple(OutputRef(f"{n}_out") for n in names if not downstream[n])
    return BuildPlan(
        project_key=project_key,
        recipes=recipes,
        build_mode=build_mode,
        strategy=strategy,
        targets=sinks,
        critical_path=tuple(path),
        critical_path_s=bottom[path[0]] if path else 0.0,
    )
