"""Harness of the reliability suite: fast run options, emulator views, event triggers, and the checks every run must
pass.

Every pipeline here runs for real: ``run_build`` over a :class:`~flow_orchestrator.dss.DSSGateway` and the unmodified
``dataikuapi`` client, against :class:`dss_emulator.EmulatedDSS`. Faults are injected from progress-event consumers
(``recipe_started`` ...), so a test never sleeps: it reacts to what the run reports.

:func:`run_pipeline` records everything a check needs (the returned record, the record file the sink wrote, the
events, the jobs the emulator saw start); :func:`assert_run_settled` holds a run to the rules that must survive any
fault: a complete, schema-valid record written to disk, every planned recipe exactly once in a final state, every job
the run started known to the record and finished on DSS (no orphan, nothing RUNNING).
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from flow_orchestrator.config import BuildConfig, RetryPolicy, RunOptions, Selection
from flow_orchestrator.dss import DSSGateway, connect
from flow_orchestrator.pipeline import run_build
from flow_orchestrator.record import load_record, write_record
from flow_orchestrator.states import FINAL_RUN_STATES, RECIPE_STATES

from dss_emulator import EmulatedDSS

ROOT = Path(__file__).resolve().parents[2]
CLINICAL_FLOW = ROOT / "examples" / "flows" / "clinical.json"
CLINICAL = "CLINICAL"
CLINICAL_RECIPES = ("group_LAB_RESULTS_AGG", "group_CLINICAL_NOTES_AGG", "join_ML_TRAINING_DATA", "train_MODEL_SCORES")
LAB, NOTES, JOIN, TRAIN = CLINICAL_RECIPES
READ_ONLY_KEY = "reliability-read-only-key"
#: Activity length of every clinical recipe in this suite (the faults, not the recipes, make the runs long).
FAST_SECONDS = 0.01
#: Poll often: recipes last milliseconds here, and the runner's default schedule is tuned for minutes.
FAST_POLL = {"poll_min_s": 0.02, "poll_max_s": 0.05}
#: Retries wait milliseconds, not the production default of 5 s.
FAST_RETRY = {"backoff_s": 0.01, "backoff_max_s": 0.05}
#: Final states of a run, and the DSS job state each attempt state must match on the emulator.
ATTEMPT_TO_JOB_STATE = {"SUCCESS": "DONE", "FAILED": "FAILED", "ABORTED": "ABORTED", "TIMED_OUT": "ABORTED"}
TERMINAL_JOB_STATES = ("DONE", "FAILED", "ABORTED")


# ------------------------------------------------------------------------------------------------ configuration


def run_options(*, retries: int = 0, transient_patterns: Sequence[str] = (), **fields) -> RunOptions:
    """RunOptions with fast polling and fast retries; ``fields`` override anything else."""
    values = dict(FAST_POLL)
    values.update(fields)
    retry = RetryPolicy(retries=retries, transient_patterns=tuple(transient_patterns), **FAST_RETRY)
    return RunOptions(retry=retry, **values)


def build_config(*, selection: Optional[Selection] = None, dry_run: bool = False, **option_fields) -> BuildConfig:
    return BuildConfig(selection=selection or Selection(), options=run_options(**option_fields), dry_run=dry_run)


def fast_example_flow(name: str) -> dict:
    """``examples/flows/<name>.json`` with 10 ms recipes (a fresh copy each call)."""
    flow = json.loads((ROOT / "examples" / "flows" / f"{name}.json").read_text(encoding="utf-8"))
    for recipe in flow["recipes"]:
        recipe.setdefault("emulation", {})["duration"] = FAST_SECONDS
    return flow


def fast_clinical_flow() -> dict:
    """The clinical example flow with 10 ms recipes (a fresh copy each call)."""
    return fast_example_flow(CLINICAL_FLOW.stem)


_project_keys = itertools.count(1)


def load_copy(dss, flow: dict, prefix: str, **durations: float) -> str:
    """``flow`` loaded under a new key ``<prefix>NN`` (unique in the test session); ``durations`` override recipes'
    seconds. Returns the key."""
    key = flow["projectKey"] = f"{prefix}{next(_project_keys):02d}"
    for recipe in flow["recipes"]:
        if recipe["name"] in durations:
            recipe["emulation"]["duration"] = durations[recipe["name"]]
    dss.load_flow(flow)
    return key


def clinical_project(dss, **durations) -> str:
    """A fresh copy of the clinical Flow under a new key; ``durations`` override recipes' seconds."""
    return load_copy(dss, fast_clinical_flow(), "HONEST", **durations)


# ------------------------------------------------------------------------------------------------ emulator views


@dataclass(frozen=True)
class JobView:
    """One job as the emulator knows it (times in epoch milliseconds, 0 when not reached)."""

    id: str
    state: str
    created_ms: int
    started_ms: int
    ended_ms: int
    outputs: tuple
    activities: tuple  # (recipe name, state, start ms, end ms)

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_JOB_STATES


def emulator_jobs(dss: EmulatedDSS, project_key: str) -> Dict[str, JobView]:
    """Every job of a project on the emulator, in creation order."""
    with dss.state.lock:
        project = dss.state.projects[project_key]
        views = {}
        for job in project.jobs.values():
            outputs = tuple(o.get("targetDataset") or o.get("targetManagedFolder") for o in job.definition["outputs"])
            activities = tuple((a.recipe_name, a.state, a.start_ms, a.end_ms) for a in job.activities.values())
            views[job.id] = JobView(
                job.id,
                job.state,
                int(job.definition.get("initiationTimestamp") or 0),
                job.start_ms,
                job.end_ms,
                outputs,
                activities,
            )
        return views


def running_jobs(dss: EmulatedDSS, project_key: Optional[str] = None) -> List[dict]:
    return [j for j in dss.status()["runningJobs"] if project_key is None or j["projectKey"] == project_key]


def settle(dss: EmulatedDSS, timeout: float = 10.0) -> None:
    """Clear every fault and wait until no job runs, so the next test starts on a quiet instance."""
    dss.clear_faults()
    for job in running_jobs(dss):
        dss.wait_for_job(job["projectKey"], job["jobId"], timeout)


# ------------------------------------------------------------------------------------------------ events


class Trigger:
    """A progress consumer that calls ``action(event)`` once, on the ``nth`` event of ``kind`` (for ``recipe``)."""

    def __init__(self, kind: str, action: Callable, *, recipe: Optional[str] = None, nth: int = 1):
        self.kind, self.action, self.recipe, self.nth = kind, action, recipe, nth
        self.seen = 0
        self.fired = False

    def __call__(self, event) -> None:
        if self.fired or event.kind != self.kind or (self.recipe is not None and event.recipe != self.recipe):
            return
        self.seen += 1
        if self.seen == self.nth:
            self.fired = True
            self.action(event)


# ------------------------------------------------------------------------------------------------ running


@dataclass
class RunResult:
    record: Optional[object]  # RunRecord, None when run_build raised
    error: Optional[BaseException]
    record_path: Path
    sink_writes: int
    events: List[object] = field(default_factory=list)
    jobs: Dict[str, JobView] = field(default_factory=dict)  # jobs the emulator saw start during the run

    @property
    def data(self) -> dict:
        """The record as written on disk, validated against the run-record JSON Schema."""
        return load_record(self.record_path).to_dict()

    def recipe(self, name: str) -> dict:
        return next(r for r in self.data["recipes"] if r["name"] == name)

    def states(self) -> Dict[str, str]:
        return {r["name"]: r["state"] for r in self.data["recipes"]}

    def event_kinds(self, kind: str) -> List[object]:
        return [e for e in self.events if e.kind == kind]


def gateway_for(
    dss: EmulatedDSS, project_key: str, *, api_key: Optional[str] = None, timeout_s: Optional[float] = None
) -> DSSGateway:
    client = connect(dss.url, api_key or dss.api_key)
    if timeout_s is None:
        return DSSGateway(client, project_key)
    return DSSGateway(client, project_key, timeout_s=timeout_s)


def run_pipeline(
    dss: EmulatedDSS,
    project_key: str,
    config: BuildConfig,
    record_path: Path,
    *,
    consumers: Sequence[Callable] = (),
    cancel: Optional[threading.Event] = None,
    gateway: Optional[DSSGateway] = None,
    raises: bool = False,
    previous_record: Optional[dict] = None,
) -> RunResult:
    """Run a build for real and capture what every check needs; an exception is kept when ``raises``."""
    before = set(emulator_jobs(dss, project_key))
    events: List[object] = []
    writes = [0]

    def on_event(event) -> None:
        events.append(event)
        for consumer in consumers:
            consumer(event)

    def sink(record) -> None:
        writes[0] += 1
        write_record(record, record_path)

    record = error = None
    try:
        record = run_build(
            gateway or gateway_for(dss, project_key),
            config,
            previous_record=previous_record,
            on_event=on_event,
            cancel=cancel,
            record_sink=sink,
        )
    except Exception as exc:  # noqa: BLE001 - kept for the test to inspect
        if not raises:
            raise
        error = exc
    jobs = {job_id: view for job_id, view in emulator_jobs(dss, project_key).items() if job_id not in before}
    return RunResult(record, error, record_path, writes[0], events, jobs)


def assert_run_settled(result: RunResult, planned: Optional[Sequence[str]] = None) -> dict:
    """The rules every run keeps, whatever happened: returns the record read back from its file."""
    assert result.record_path.is_file(), "the run record was never written"
    data = result.data  # load_record validates against resource/schemas/run-record.schema.json
    if result.record is not None:
        assert data == json.loads(json.dumps(result.record.to_dict())), "the last record written is not the final one"
    names = [r["name"] for r in data["recipes"]]
    plan_names = [r["name"] for r in data["plan"]["recipes"]]
    assert len(names) == len(set(names)), f"a recipe appears twice in the record: {names}"
    assert names == plan_names, "the record's recipes are not the plan's, in plan order"
    if planned is not None:
        assert sorted(names) == sorted(planned)
    assert data["state"] in FINAL_RUN_STATES, f"run ended in state {data['state']}"
    assert data["ended_at"] is not None and data["duration_s"] is not None
    counts = {state: 0 for state in RECIPE_STATES}
    record_jobs: Dict[str, str] = {}
    single = data["plan"].get("strategy") in ("single-job", "grouped")
    own_attempts: List[tuple] = []  # single or grouped job: (job id, recipe, attempt state): its own activity
    for recipe in data["recipes"]:
        counts[recipe["state"]] += 1
        history = recipe["attempt_history"]
        assert recipe["attempts"] == len(recipe["job_ids"]) == len(history), recipe["name"]
        assert [a["job_id"] for a in history] == recipe["job_ids"], recipe["name"]
        for attempt in history:
            assert attempt["state"] != "RUNNING", f"{recipe['name']}: attempt {attempt['attempt']} still RUNNING"
            record_jobs[attempt["job_id"]] = attempt["state"]
            own_attempts.append((attempt["job_id"], recipe["name"], attempt["state"]))
        if recipe["state"] in ("SKIPPED", "NOT_RUN"):
            assert recipe["attempts"] == 0, f"{recipe['name']} is {recipe['state']} but started a job"
        if recipe["state"] == "SKIPPED":
            assert recipe["skipped_because"], f"{recipe['name']} skipped without naming the failed upstream"
        if recipe["state"] not in ("SUCCESS", "SKIPPED", "NOT_RUN"):
            assert recipe["error"] and recipe["error"]["message"], (
                f"{recipe['name']} is {recipe['state']} without error"
            )
    assert data["counts"] == counts
    untracked = sorted(set(result.jobs) - set(record_jobs))
    unknown = sorted(set(record_jobs) - set(result.jobs))
    assert not untracked and not unknown, (
        f"jobs on DSS and in the record differ: started but untracked {untracked}, recorded but unknown {unknown}"
    )
    still = {job_id: view.state for job_id, view in result.jobs.items() if not view.terminal}
    assert not still, f"jobs the run started are still running on DSS after it returned: {still}"
    if single:  # a recipe sharing a job: its attempt is what its own activity did (none: up to date in a job that
        # succeeded); a recipe grouped alone has jobs of its own, judged as with one job per recipe
        grouped = data["plan"].get("strategy") == "grouped"
        chained = {name for group in data["plan"].get("job_groups") or () if len(group) > 1 for name in group}
        for job_id, name, attempt_state in own_attempts:
            view = result.jobs[job_id]
            if grouped and name not in chained:
                assert view.state == ATTEMPT_TO_JOB_STATE[attempt_state], (
                    f"job {job_id}: the record says {name} {attempt_state}, DSS says {view.state}"
                )
                continue
            states = {a[1] for a in view.activities if a[0] == name} or {view.state}
            assert ATTEMPT_TO_JOB_STATE[attempt_state] in states, (
                f"job {job_id}: the record says {name} {attempt_state}, its activity says {sorted(states)}"
            )
        return data
    for job_id, attempt_state in record_jobs.items():
        assert result.jobs[job_id].state == ATTEMPT_TO_JOB_STATE[attempt_state], (
            f"job {job_id}: the record says {attempt_state}, DSS says {result.jobs[job_id].state}"
        )
    return data
