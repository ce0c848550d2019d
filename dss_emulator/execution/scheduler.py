"""Jobs as DSS runs them: resolve outputs to recipes, choose what to rebuild by build mode, run activities.

A job is NOT_STARTED when created, RUNNING once its thread picks it up, and ends DONE, FAILED or ABORTED. It has one
activity per recipe to run (id ``<recipe>_NP``), or for a recipe with partitioned outputs one per requested partition
(id ``<recipe>_<partition id>``), computed from the same partition of its partitioned inputs ("equals" dependency)
and the whole of its unpartitioned ones. Activities start in dependency order, independent ones in parallel,
and every activity of every job first takes a slot of the instance-wide cap (default 5, like DSS's
``maxRunningActivities``): while it waits it is WAITING. All waits are on events or conditions with time-outs, so an
abort stops a running activity at once. Once an activity failed or the job was aborted, no other activity is launched:
those never launched stay NOT_STARTED, without times, in the ended job.

Build modes pick the recipes:

* ``NON_RECURSIVE_FORCED_BUILD``: only the recipes producing the requested outputs;
* ``RECURSIVE_FORCED_BUILD``: those and every upstream recipe of the same project;
* ``RECURSIVE_BUILD``: of those, the out-of-date ones: an output never built, the recipe changed, an input or an
  output changed since the recipe's last successful run, or an upstream recipe of the job runs;
* ``RECURSIVE_MISSING_ONLY_BUILD``: of those, only the ones with an output never built.

Nothing here knows about HTTP; :mod:`dss_emulator.api.jobs` translates requests into :meth:`Scheduler.start_job`.
"""

from __future__ import annotations

import _thread
import copy
import datetime as dt
import heapq
import itertools
import threading
import time
from collections import OrderedDict, deque
from datetime import datetime
from typing import Callable, Dict, List, Optional, Tuple

from ..state import (
    DATASTORE_IO,
    ILLEGAL_ARGUMENT,
    INSTANCE_USER,
    NOT_FOUND,
    PROCESS_FAILED,
    PYTHON_PROCESS_FAILED,
    Dataset,
    DSSError,
    EmulatorState,
    Recipe,
    RecipeRun,
    bad_request,
    now_ms,
    split_ref,
)
from ..uploads import is_uploaded

BUILD_MODES = (
    "NON_RECURSIVE_FORCED_BUILD",
    "RECURSIVE_BUILD",
    "RECURSIVE_FORCED_BUILD",
    "RECURSIVE_MISSING_ONLY_BUILD",
)
TERMINAL_STATES = frozenset({"DONE", "FAILED", "ABORTED"})
PYTHON_LIKE_TYPES = frozenset({"python", "pyspark"})
OUTPUT_TYPES = (
    "DATASET",
    "MANAGED_FOLDER",
    "SAVED_MODEL",
    "STREAMING_ENDPOINT",
    "MODEL_EVALUATION_STORE",
    "RETRIEVABLE_KNOWLEDGE",
)

_thread_numbers = itertools.count(40)


def log_line(thread: str, level: str, logger: str, ndc: str, message: str, when: Optional[float] = None) -> str:
    """One line in DSS's log4j layout: ``[yyyy/MM/dd-HH:mm:ss.SSS] [thread] [LEVEL] [logger] NDC - message``."""
    moment = datetime.fromtimestamp(time.time() if when is None else when)
    stamp = moment.strftime("%Y/%m/%d-%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"
    return f"[{stamp}] [{thread}] [{level}] [{logger}] {ndc} - {message}"


def job_id_for(first_target: str, partition: str, when_ms: int) -> Tuple[str, str]:
    """(id, name) as DSS makes them: ``build_<target>_<partition>`` and ``<name>_<yyyy-MM-dd>T<HH-mm-ss.SSS>``."""
    name = f"build_{first_target}_{partition}"
    moment = datetime.fromtimestamp(when_ms / 1000.0)
    return f"{name}_{moment.strftime('%Y-%m-%dT%H-%M-%S')}.{when_ms % 1000:03d}", name


class ActivitySlots:
    """The instance-wide cap on running activities, granted first come, first served."""

    def __init__(self, cap: int) -> None:
        if cap < 1:
            raise ValueError(f"activity_cap must be at least 1, got {cap!r}")
        self.cap = cap
        self._in_use = 0
        self._queue: deque = deque()
        self._cond = threading.Condition()

    def enqueue(self) -> object:
        """A place in the queue (for :meth:`acquire`), taken when an activity is launched: slots are granted in launch
        order, whichever activity's thread runs first."""
        ticket = object()
        with self._cond:
            self._queue.append(ticket)
        return ticket

    def acquire(self, ticket: object, cancelled: Callable[[], bool]) -> bool:
        """Wait for a slot in the place ``ticket`` (from :meth:`enqueue`) holds; False (and no slot) when
        ``cancelled()`` becomes true first."""
        with self._cond:
            try:
                while self._queue[0] is not ticket or self._in_use >= self.cap:
                    if cancelled():
                        return False
                    self._cond.wait(0.5)
                if cancelled():
                    return False
                self._in_use += 1
                return True
            finally:
                self._queue.remove(ticket)
                self._cond.notify_all()

    def release(self) -> None:
        with self._cond:
            self._in_use -= 1
            self._cond.notify_all()

    def wake_all(self) -> None:
        """Make waiters re-check whether they were cancelled."""
        with self._cond:
            self._cond.notify_all()

    @property
    def in_use(self) -> int:
        with self._cond:
            return self._in_use


class ActivityFailure(Exception):
    """Why an activity failed: the ``firstFailure`` object and the log lines that explain it."""

    def __init__(self, first_failure: dict, log_lines: Optional[List[str]] = None) -> None:
        super().__init__(first_failure.get("message"))
        self.first_failure = first_failure
        self.log_lines = log_lines or []


class Activity:
    """One recipe run inside a job."""

    def __init__(self, job: Job, recipe: Recipe, reason: dict, partition: Optional[str] = None) -> None:
        self.job = job
        self.partition = partition  # None: not partitioned (NP)
        self.id = f"{recipe.name}_{activity_partition_id(partition)}"
        self.recipe_name = recipe.name
        self.recipe_type = recipe.type
        self.project_key = recipe.project_key
        self.required_reason = reason
        self.deps: List[str] = []
        self.state = "NOT_STARTED"
        self.start_ms = 0
        self.end_ms = 0
        self.waiting_ms = 0
        self.message = ""
        self.first_failure: Optional[dict] = None
        self.log: List[str] = []
        self.thread_name = f"ActivityExecutor-{next(_thread_numbers)}"
        self.targets: List[dict] = []
        self.sources: List[dict] = []
        self.records: Dict[str, int] = {}

    def to_json(self) -> dict:
        targets = []
        for target in self.targets:
            item = dict(target)
            item["records"] = self.records.get(target["id"], 0)
            targets.append(item)
        body = {
            "activityId": self.id,
            "activityType": "RECIPE",
            "recipeName": self.recipe_name,
            "recipeType": self.recipe_type,
            "def": {"recipeProjectKey": self.project_key},
            "state": self.state,
            "startTime": self.start_ms,
            "endTime": self.end_ms,
            "message": self.message,
            "targets": targets,
            "sources": copy.deepcopy(self.sources),
            "requiredReason": copy.deepcopy(self.required_reason),
            "dependencies": list(self.deps),
            "warnings": {"totalCount": 0, "warnings": {}},
            "totalTime": self._running_ms() + self.waiting_ms,
            "preparingTime": 0,
            "waitingTime": self.waiting_ms,
            "runningTime": self._running_ms(),
        }
        if self.first_failure is not None:
            body["firstFailure"] = copy.deepcopy(self.first_failure)
        return body

    def _running_ms(self) -> int:
        if not self.start_ms:
            return 0
        return (self.end_ms or now_ms()) - self.start_ms


class Job:
    """A DSS job: its stored definition, state, activities and log."""

    def __init__(self, project_key: str, job_id: str, definition: dict, lock: Optional[threading.RLock] = None) -> None:
        self.project_key = project_key
        self.id = job_id
        self.definition = definition
        self.state = "NOT_STARTED"
        self.start_ms = 0
        self.end_ms = 0
        self.activities: OrderedDict[str, Activity] = OrderedDict()
        self.header_log: List[str] = []
        self.footer_log: List[str] = []
        self.abort_event = threading.Event()
        self.abort_reason: Optional[str] = None
        self.unexpected_failure: Optional[dict] = None
        self.thread_name = f"FRT-{next(_thread_numbers)}-FlowRunnable"
        self.resolve_ms = 0
        self.finished = threading.Event()
        #: Notified (with the instance lock, ``lock``) when this job's activities or abort change: the job's own thread
        #: waits on it, so that a change wakes one thread, not every running job's.
        self.changed = threading.Condition(lock)

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    def log(self, level: str, message: str, logger: str = "dku.flow.jobrunner") -> None:
        self.header_log.append(log_line(self.thread_name, level, logger, "", message))

    def log_text(self, activity: Optional[str] = None) -> str:
        if activity is not None:
            found = self.activities.get(activity)
            if found is None:
                raise DSSError(
                    500,
                    "java.lang.IllegalArgumentException",
                    "File does not exist",
                    "File does not exist: no activity {!r} in job {} (activities: {})".format(
                        activity, self.id, ", ".join(self.activities) or "none"
                    ),
                )
            return "\n".join(found.log) + ("\n" if found.log else "")
        lines = list(self.header_log)
        for act in self.activities.values():
            if act.log:
                lines.append(
                    log_line(
                        self.thread_name,
                        "INFO",
                        "dku.flow.jobrunner",
                        "",
                        f"---------- Activity {act.id} ({act.state}) ----------",
                        when=(act.start_ms or act.end_ms or now_ms()) / 1000.0,
                    )
                )
                lines.extend(act.log)
        lines.extend(self.footer_log)
        return "\n".join(lines) + "\n"

    def global_state(self) -> dict:
        counts = {"notStarted": 0, "running": 0, "done": 0, "failed": 0, "aborted": 0, "waiting": 0, "skipped": 0}
        key = {
            "NOT_STARTED": "notStarted",
            "RUNNING": "running",
            "DONE": "done",
            "FAILED": "failed",
            "ABORTED": "aborted",
            "WAITING": "waiting",
            "SKIPPED": "skipped",
        }
        for act in self.activities.values():
            counts[key[act.state]] += 1
        counts["total"] = len(self.activities)
        return counts

    def status_json(self) -> dict:
        """The job's status answer. Its parts are the job's own objects, not copies: every caller serialises it at once,
        under the instance lock (a deep copy of the definition per answer was most of a poll's cost)."""
        base = {
            "def": self.definition,
            "state": self.state,
            "jobStartTime": self.start_ms,
            "jobEndTime": self.end_ms,
            "resolveDuration": self.resolve_ms,
            "execDuration": ((self.end_ms or now_ms()) - self.start_ms) if self.start_ms else 0,
            "activities": OrderedDict((a.id, a.to_json()) for a in self.activities.values()),
            "warningsCount": 0,
        }
        body = {
            "baseStatus": base,
            "globalState": self.global_state(),
            "initiator": {"login": INSTANCE_USER, "displayName": "Administrator"},
            "runtimeSummary": {
                "jobType": self.definition.get("type"),
                "triggerType": "API",
                "activities": [
                    {
                        "activityId": a.id,
                        "state": a.state,
                        "activityType": "RECIPE",
                        "engineType": "DSS",
                        "totalTime": a.to_json()["totalTime"],
                        "preparingTime": 0,
                        "waitingTime": a.waiting_ms,
                        "runningTime": a.to_json()["runningTime"],
                    }
                    for a in self.activities.values()
                ],
            },
            "stateByGraphNodeId": {},
            "removed": False,
        }
        if self.unexpected_failure is not None:
            base["unexpectedFailure"] = copy.deepcopy(self.unexpected_failure)
        return body

    def list_item_json(self) -> dict:
        """A job list item; like :meth:`status_json`, serialised at once under the lock by every caller."""
        item = {
            "def": self.definition,
            "stableState": self.terminal,
            "startTime": self.start_ms,
            "endTime": self.end_ms,
            "warningsCount": 0,
        }
        if self.terminal:
            # DSS leaves ``state`` out while a job is not in a stable state.
            item["state"] = self.state
        return item


def _spawn(target, *args) -> None:
    """Run ``target(*args)`` on a thread of its own, without waiting for it to start.

    ``threading.Thread.start`` waits until the new thread runs, a hand-over of the interpreter that costs about a
    millisecond in a busy emulator, twice per job (its thread and its activity's), all inside the start request. Like
    a daemon thread, it does not keep the process alive."""
    _thread.start_new_thread(target, args)


class Scheduler:
    """Starts, runs and aborts the jobs of one emulator instance."""

    def __init__(self, state: EmulatorState, activity_cap: int = 5, job_overhead: float = 0.0) -> None:
        self.state = state
        self.slots = ActivitySlots(activity_cap)
        #: Seconds a job stays RUNNING before its first activity starts and after its last ends (a project's
        #: flow-file ``emulation.jobOverhead`` wins): DSS computes the job graph, prepares and cleans up.
        self.job_overhead = job_overhead
        #: (structure key, depths) of :meth:`_depths`: recomputed only when a project's recipes or links change.
        self._depth_cache: Optional[Tuple[tuple, Dict[Recipe, int]]] = None

    def _changed(self, job: Job) -> None:
        """A job or one of its activities changed state (lock held): wake its thread and whoever waits on the
        instance (tests waiting for a state, futures)."""
        job.changed.notify_all()
        self.state.changed.notify_all()

    def overhead_of(self, project_key: str) -> float:
        """The per-job overhead for a project's jobs (lock held)."""
        project = self.state.projects.get(project_key)  # a project deleted under a running job: the instance's
        own = project.job_overhead if project is not None else None
        return float(self.job_overhead if own is None else own)

    # -- starting -----------------------------------------------------------------------------------------------------
    def start_job(self, project_key: str, request: dict) -> Job:
        """Validate a job definition (as ``POST /jobs/`` receives it), plan it and start running it."""
        if not isinstance(request, dict):
            raise bad_request("Job definition must be a JSON object")
        job_type = request.get("type") or "NON_RECURSIVE_FORCED_BUILD"
        if job_type not in BUILD_MODES:
            raise bad_request("Unknown job type {!r}: use one of {}".format(job_type, ", ".join(BUILD_MODES)))
        outputs = request.get("outputs")
        if outputs is None:
            raise DSSError(500, ILLEGAL_ARGUMENT, "outputs is null")  # DSS: an IllegalArgumentException, HTTP 500
        if not isinstance(outputs, list) or not outputs:
            raise bad_request("outputs must be a non-empty list of {id, type, projectKey, partition}")
        with self.state.lock:
            project = self.state.project(project_key)
            targets = [self._target(project_key, output) for output in outputs]
            when = now_ms()
            first = targets[0]
            job_id, job_name = job_id_for(first["id"], first["partition"], when)
            while job_id in project.jobs:
                when += 1
                job_id, job_name = job_id_for(first["id"], first["partition"], when)
            definition = {
                "projectKey": project_key,
                "id": job_id,
                "name": job_name,
                "type": job_type,
                "initiator": INSTANCE_USER,
                "initiationTimestamp": when,
                "triggeredFrom": "API",
                "mailNotification": False,
                "refreshHiveMetastore": bool(request.get("refreshHiveMetastore", False)),
                "refreshIntermediateMirrors": True,
                "refreshTargetMirrors": True,
                "autoUpdateSchemaBeforeEachRecipeRun": bool(request.get("autoUpdateSchemaBeforeEachRecipeRun", False)),
                "outputs": [t["stored"] for t in targets],
            }
            job = Job(project_key, job_id, definition, self.state.lock)
            resolve_start = time.time()
            self._plan(job, targets, job_type)
            job.resolve_ms = int((time.time() - resolve_start) * 1000)
            project.jobs[job_id] = job
            project.job_starts += 1
            self.state.changed.notify_all()
        _spawn(self._run_job, job)
        return job

    def _target(self, project_key: str, output: dict) -> dict:
        if not isinstance(output, dict):
            raise bad_request(f"Each job output must be an object with an id, got {output!r}")
        target_id = output.get("id")
        if target_id is None or str(target_id).strip() == "":
            raise DSSError(500, ILLEGAL_ARGUMENT, "id in output is null")
        target_id = str(target_id)
        target_project = output.get("projectKey") or project_key
        if "." in target_id and not output.get("projectKey"):
            target_project, target_id = split_ref(project_key, target_id)
        object_type = output.get("type") or "DATASET"
        if object_type not in OUTPUT_TYPES:
            raise bad_request("Unknown output type {!r}: use one of {}".format(object_type, ", ".join(OUTPUT_TYPES)))
        partition = output.get("partition")
        if isinstance(partition, (list, tuple)):
            requested = [str(p).strip() for p in partition if p and str(p).strip()]
        else:
            requested = [p.strip() for p in str(partition or "").split(",") if p.strip()]
        if isinstance(partition, (list, tuple)):
            partition = "|".join(str(p) for p in partition if p)
        partition = str(partition).replace("/", "-").replace("#", "-").replace("?", "-") if partition else "NP"
        self.state.project(target_project)
        if object_type == "DATASET":
            if self.state.find_dataset(target_project, target_id) is None:
                raise DSSError(500, NOT_FOUND, f"dataset does not exist: {target_project}.{target_id}")  # 500, as DSS
            stored = {
                "targetDataset": target_id,
                "targetDatasetProjectKey": target_project,
                "targetPartition": partition,
                "type": "DATASET",
            }
        elif object_type == "MANAGED_FOLDER":
            folder = self.state.find_folder(target_project, target_id)
            if folder is None:
                raise DSSError(500, NOT_FOUND, f"managed folder does not exist: {target_project}.{target_id}")
            target_id = folder.id
            stored = {
                "targetManagedFolder": target_id,
                "targetManagedFolderProjectKey": target_project,
                "targetPartition": partition,
                "type": "MANAGED_FOLDER",
            }
        else:
            raise DSSError(
                404,
                NOT_FOUND,
                "{} does not exist: {}.{} (the emulator only builds datasets and managed folders)".format(
                    object_type.lower().replace("_", " "), target_project, target_id
                ),
            )
        return {
            "project": target_project,
            "id": target_id,
            "type": object_type,
            "partition": partition,
            "requested": requested,
            "stored": stored,
        }

    # -- planning (lock held) ----------------------------------------------------------------------------------------
    def _plan(self, job: Job, targets: List[dict], job_type: str) -> None:
        job.log(
            "INFO",
            "Computing job {} ({}) for {}".format(
                job.id, job_type, ", ".join("{}.{}".format(t["project"], t["id"]) for t in targets)
            ),
        )
        producers: List[Recipe] = []
        for target in targets:
            producer = self.state.producer_of(target["project"], target["id"])
            if producer is None:
                job.log(
                    "INFO",
                    "{}.{} is not produced by any recipe (a source): nothing to build for it".format(
                        target["project"], target["id"]
                    ),
                )
            elif producer not in producers:
                producers.append(producer)
        if job_type == "NON_RECURSIVE_FORCED_BUILD":
            chosen = [(r, {"type": "NON_RECURSIVE_FORCED_BUILD"}) for r in producers]
        else:
            closure = self._upstream_closure(producers, job.project_key)
            chosen = self._choose(closure, job_type)
        ordered = self.topological([r for r, _ in chosen])
        reasons = {id(r): reason for r, reason in chosen}
        requested: List[str] = []
        for target in targets:
            requested.extend(p for p in target["requested"] if p not in requested)
        by_recipe: Dict[str, List[Activity]] = {}
        for recipe in ordered:
            for partition in self._recipe_partitions(recipe, requested):
                activity = Activity(job, recipe, reasons[id(recipe)], partition)
                activity.targets = [
                    self._stats_ref(recipe.project_key, ref, target=True, partition=partition)
                    for ref in recipe.output_refs()
                ]
                activity.sources = [
                    self._stats_ref(recipe.project_key, ref, target=False, partition=partition)
                    for ref in recipe.input_refs()
                ]
                job.activities[activity.id] = activity
                by_recipe.setdefault(recipe.name, []).append(activity)
        selected = {r.name: r for r in ordered}
        floor = self._selection_floor(selected)
        for recipe in ordered:
            deps = self._selected_upstream(recipe, selected, floor)
            for activity in by_recipe[recipe.name]:
                for dep in deps:
                    upstream = by_recipe[dep]
                    same = [a for a in upstream if a.partition == activity.partition]
                    activity.deps.extend(a.id for a in (same or upstream))
        if not job.activities:
            job.log("INFO", "Nothing to do: every requested output is up to date or a source")
        else:
            job.log("INFO", f"Job has {len(job.activities)} activities: {', '.join(job.activities)}")

    def _recipe_partitions(self, recipe: Recipe, requested: List[str]) -> List[Optional[str]]:
        """The partitions a recipe's activities build: the requested ones when an output is partitioned (ranges
        expanded), else one unpartitioned activity (DSS builds an unpartitioned dataset whole)."""
        dimensions = self._output_dimensions(recipe)
        if not dimensions or not requested:
            return [None]  # a partitioned output without a partition fails when the activity runs
        found: List[Optional[str]] = []
        for item in requested:
            for partition in expand_partition(item, dimensions):
                if partition not in found:
                    found.append(partition)
        return found

    def _output_dimensions(self, recipe: Recipe) -> List[dict]:
        for ref in recipe.output_refs():
            pk, name = split_ref(recipe.project_key, ref)
            dataset = self.state.find_dataset(pk, name)
            if dataset is not None and dataset.partitioned:
                return dataset.dimensions
        return []

    def _stats_ref(self, project_key: str, ref: str, target: bool, partition: Optional[str] = None) -> dict:
        pk, name = split_ref(project_key, ref)
        dataset = self.state.find_dataset(pk, name)
        folder = self.state.find_folder(pk, name) if dataset is None else None
        kind = "MANAGED_FOLDER" if folder is not None else "DATASET"
        full = f"{pk}.{folder.id if folder is not None else name}"
        part = partition if (partition and dataset is not None and dataset.partitioned) else "NP"
        if target:
            return {"type": kind, "id": full, "partition": {"id": part}, "bytes": 0}
        return {
            "type": kind,
            "id": full,
            "statsType": "NONE",
            "partitions": [{"id": part, "totalFiles": 1, "totalSize": 0, "readBytes": 0}],
            "totalReadBytes": 0,
        }

    def _upstream_closure(self, producers: List[Recipe], project_key: str) -> List[Recipe]:
        """The producers and every recipe upstream of them in the job's project (DSS stops at project borders)."""
        seen: List[Recipe] = []
        seen_ids = set()  # a set beside the list: a membership test per recipe, not a scan of the closure
        stack = list(producers)
        while stack:
            recipe = stack.pop()
            if id(recipe) in seen_ids:
                continue
            seen.append(recipe)
            seen_ids.add(id(recipe))
            for upstream in self.state.upstream_recipes(recipe):
                if upstream.project_key == project_key and id(upstream) not in seen_ids:
                    stack.append(upstream)
        return self.topological(seen)

    def _choose(self, closure: List[Recipe], job_type: str) -> List[Tuple[Recipe, dict]]:
        chosen: List[Tuple[Recipe, dict]] = []
        if job_type == "RECURSIVE_FORCED_BUILD":
            return [(r, {"type": "FORCED_RECURSIVE_BUILD"}) for r in closure]
        chosen_names = set()
        for recipe in closure:  # upstream first
            if job_type == "RECURSIVE_MISSING_ONLY_BUILD":
                reason = self._never_built(recipe)
            else:
                reason = self.out_of_date_reason(recipe)
                if reason is None and any(u.name in chosen_names for u in self.state.upstream_recipes(recipe)):
                    reason = {"type": "HAS_REQUIRED_DEPS"}
            if reason is not None:
                chosen.append((recipe, reason))
                chosen_names.add(recipe.name)
        return chosen

    def _never_built(self, recipe: Recipe) -> Optional[dict]:
        for ref in recipe.output_refs():
            if not self.state.is_ready(recipe.project_key, ref):
                return {"type": "NEVER_EXECUTED"}
        return None

    def out_of_date_reason(self, recipe: Recipe) -> Optional[dict]:
        """Why ``recipe`` must run in a RECURSIVE_BUILD (None when it is up to date). Lock held."""
        never = self._never_built(recipe)
        last = recipe.last_run
        if never is not None or last is None:
            return {"type": "NEVER_EXECUTED"}
        if recipe.version != last.recipe_version:
            return {"type": "RECIPE_HAS_CHANGED", "previousRecordTime": last.end_ms}
        for ref in recipe.input_refs():
            if self.state.object_version(recipe.project_key, ref) != last.input_versions.get(ref):
                pk, name = split_ref(recipe.project_key, ref)
                return {
                    "type": "SOURCE_DATASET_HAS_CHANGED",
                    "sourceFullName": f"{pk}.{name}",
                    "previousRecordTime": last.end_ms,
                }
        for ref in recipe.output_refs():
            if self.state.object_version(recipe.project_key, ref) != last.output_versions.get(ref):
                pk, name = split_ref(recipe.project_key, ref)
                return {
                    "type": "TARGET_DATASET_SETTINGS_HAVE_CHANGED",
                    "targetFullName": f"{pk}.{name}",
                    "previousRecordTime": last.end_ms,
                }
        return None

    def topological(self, recipes: List[Recipe]) -> List[Recipe]:
        """``recipes`` upstream first (stable: ties keep the Flow's declaration order)."""
        names = {r.name: r for r in recipes}
        indegree = {r.name: 0 for r in recipes}
        downstream: Dict[str, List[str]] = {r.name: [] for r in recipes}
        floor = self._selection_floor(names)
        for recipe in recipes:
            for upstream in self._selected_upstream(recipe, names, floor):
                indegree[recipe.name] += 1
                downstream[upstream].append(recipe.name)
        order = {r.name: i for i, r in enumerate(self._declaration_order(recipes))}
        ready = [(order[n], n) for n, d in indegree.items() if d == 0]
        heapq.heapify(ready)  # the earliest declared ready recipe first, as a sorted list would give it
        result: List[Recipe] = []
        while ready:
            _, name = heapq.heappop(ready)
            result.append(names[name])
            for nxt in downstream[name]:
                indegree[nxt] -= 1
                if indegree[nxt] == 0:
                    heapq.heappush(ready, (order[nxt], nxt))
        if len(result) != len(recipes):  # a cycle: keep the remaining ones in declaration order
            placed = {id(r) for r in result}
            result.extend(r for r in recipes if id(r) not in placed)
        return result

    def _declaration_order(self, recipes: List[Recipe]) -> List[Recipe]:
        projects = {key: index for index, key in enumerate(self.state.projects)}
        unknown = (len(projects), 0)  # a recipe of a deleted project: last, as before

        def rank(recipe: Recipe) -> Tuple[int, int]:
            project = self.state.projects.get(recipe.project_key)
            position = project.recipe_positions().get(recipe.name) if project is not None else None
            return unknown if position is None else (projects[recipe.project_key], position)

        return sorted(recipes, key=rank)

    def _depths(self) -> Dict[Recipe, int]:
        """Each recipe's longest chain of upstream recipes (0: it reads only sources), across projects; a recipe in
        or below a cycle has none. Computed once per shape of the Flows (lock held): start_job uses it to stop
        walking upstream where no selected recipe can be, which keeps a job start O(its recipes), not O(the Flow)."""
        key = tuple((p.key, p.structure_version, len(p.recipes)) for p in self.state.projects.values())
        if self._depth_cache is not None and self._depth_cache[0] == key:
            return self._depth_cache[1]
        recipes = [r for p in self.state.projects.values() for r in p.recipes.values()]
        upstream = {r: self.state.upstream_recipes(r) for r in recipes}
        waiting = {r: len(ups) for r, ups in upstream.items()}
        downstream: Dict[Recipe, List[Recipe]] = {r: [] for r in recipes}
        for recipe, ups in upstream.items():
            for up in ups:
                downstream.setdefault(up, []).append(recipe)
        depths: Dict[Recipe, int] = {}
        todo = deque(r for r in recipes if waiting[r] == 0)
        while todo:
            recipe = todo.popleft()
            depths[recipe] = max((depths[u] + 1 for u in upstream.get(recipe, ())), default=0)
            for nxt in downstream.get(recipe, ()):
                waiting[nxt] -= 1
                if waiting[nxt] == 0:
                    todo.append(nxt)
        self._depth_cache = (key, depths)
        return depths

    def _selection_floor(self, selected: Dict[str, Recipe]) -> Optional[int]:
        """The smallest depth of the selected recipes (None when one has no depth: nothing may be skipped)."""
        depths = self._depths()
        floor: Optional[int] = None
        for recipe in selected.values():
            depth = depths.get(recipe)
            if depth is None:
                return None
            floor = depth if floor is None else min(floor, depth)
        return floor

    def _selected_upstream(self, recipe: Recipe, selected: Dict[str, Recipe], floor: Optional[int] = None) -> List[str]:
        """Names of the selected recipes ``recipe`` depends on, directly or through unselected ones.

        ``floor`` (:meth:`_selection_floor` of ``selected``): an unselected recipe no deeper than every selected one
        has no selected recipe upstream (its upstream recipes are all shallower), so the walk stops there."""
        depths = self._depths() if floor is not None else {}
        found: List[str] = []
        seen = set()
        stack = list(self.state.upstream_recipes(recipe))
        while stack:
            upstream = stack.pop()
            key = (upstream.project_key, upstream.name)
            if key in seen:
                continue
            seen.add(key)
            if selected.get(upstream.name) is upstream:
                if upstream.name not in found:
                    found.append(upstream.name)
                continue
            depth = depths.get(upstream)
            if floor is not None and depth is not None and depth <= floor:
                continue
            stack.extend(self.state.upstream_recipes(upstream))
        return found

    # -- running ------------------------------------------------------------------------------------------------------
    def _run_job(self, job: Job) -> None:
        lock = self.state.lock
        with lock:
            if job.abort_event.is_set():
                self._finish_job(job)
                return
            job.state = "RUNNING"
            job.start_ms = now_ms()
            job.log("INFO", f"Job {job.id} is running")
            overhead = self.overhead_of(job.project_key)
            self._changed(job)
        if overhead > 0:
            with lock:
                job.log("INFO", "Computing the job graph and preparing activities")
            job.abort_event.wait(overhead)  # RUNNING, no activity started: DSS's start-up cost of a job
        launched = set()
        with lock:
            while True:
                stopping = job.abort_event.is_set() or any(a.state == "FAILED" for a in job.activities.values())
                if not stopping:
                    for act in job.activities.values():
                        if act.id in launched or act.state != "NOT_STARTED":
                            continue
                        if all(job.activities[d].state == "DONE" for d in act.deps):
                            launched.add(act.id)
                            act.state = "WAITING"
                            act.message = "Waiting for an activity slot"
                            _spawn(self._run_activity, job, act, self.slots.enqueue())
                            self._changed(job)
                active = [a for a in job.activities.values() if a.state in ("WAITING", "RUNNING")]
                if not active:
                    break
                job.changed.wait(1.0)
            teardown = self.overhead_of(job.project_key)  # read again: a change applies from the next phase on
            if teardown > 0 and not job.abort_event.is_set():
                job.log("INFO", "Activities over: writing the job state and cleaning up")
        if teardown > 0:
            job.abort_event.wait(teardown)  # still RUNNING after the last activity: DSS's tear-down of a job
        with lock:
            self._finish_job(job)

    def _finish_job(self, job: Job) -> None:
        """Set the final state (lock held)."""
        aborted = job.abort_event.is_set()
        for act in job.activities.values():
            # Activities the job never launched stay NOT_STARTED, as after a failure (docs/real-dss.md, "Jobs
            # with several outputs"); a launched one still waiting or running when the job ends is aborted.
            if aborted and act.state in ("WAITING", "RUNNING"):
                act.state = "ABORTED"
                act.message = "Aborted"
                act.end_ms = act.end_ms or now_ms()
        if aborted:
            job.state = "ABORTED"
        elif any(a.state == "FAILED" for a in job.activities.values()):
            job.state = "FAILED"
        else:
            job.state = "DONE"
        job.start_ms = job.start_ms or now_ms()
        job.end_ms = now_ms()
        failed = [a.id for a in job.activities.values() if a.state == "FAILED"]
        if job.state == "FAILED":
            job.footer_log.append(
                log_line(
                    job.thread_name,
                    "ERROR",
                    "dku.flow.jobrunner",
                    "",
                    "Job failed: activities failed: {}".format(", ".join(failed)),
                )
            )
        else:
            job.footer_log.append(
                log_line(job.thread_name, "INFO", "dku.flow.jobrunner", "", f"Job {job.id} finished: {job.state}")
            )
        job.finished.set()
        self._changed(job)

    def _run_activity(self, job: Job, act: Activity, ticket: object) -> None:
        lock = self.state.lock
        ndc = f"act.{act.id}"
        waiting_since = time.time()
        if not self.slots.acquire(ticket, job.abort_event.is_set):
            with lock:
                act.state = "ABORTED"
                act.message = "Aborted while waiting for an activity slot"
                act.end_ms = now_ms()
                self._changed(job)
            return
        try:
            with lock:
                act.waiting_ms = int((time.time() - waiting_since) * 1000)
                act.state = "RUNNING"
                act.message = "Running"
                act.start_ms = now_ms()
                act.log.append(
                    log_line(act.thread_name, "INFO", "dku.flow.activity", f"running {act.id}", "Run activity")
                )
                act.log.append(
                    log_line(
                        job.thread_name,
                        "INFO",
                        "dku.flow.activity",
                        ndc,
                        "Executing default pre-activity lifecycle hook",
                    )
                )
                act.log.append(
                    log_line(
                        job.thread_name,
                        "INFO",
                        "dku.flow.recipe",
                        ndc,
                        f"Running recipe {act.recipe_name} ({act.recipe_type})",
                    )
                )
                self._changed(job)
            outcome = self._execute(job, act)
        except ActivityFailure as failure:
            outcome = failure
        except Exception as exc:  # noqa: BLE001 - an emulator bug must end the activity, not hang the job
            outcome = ActivityFailure(
                {
                    "errorType": "com.dataiku.dip.exceptions.DSSInternalErrorException",
                    "message": f"Internal error: {exc}",
                    "detailedMessage": f"Internal error: {exc}",
                }
            )
        finally:
            self.slots.release()
        with lock:
            act.end_ms = now_ms()
            if isinstance(outcome, ActivityFailure):
                act.state = "FAILED"
                act.message = "Failed"
                act.first_failure = outcome.first_failure
                act.log.extend(outcome.log_lines)
                act.log.append(
                    log_line(
                        job.thread_name,
                        "ERROR",
                        "dku.flow.activity",
                        ndc,
                        "Activity failed: {}".format(outcome.first_failure.get("message")),
                    )
                )
                act.log.append(
                    log_line(act.thread_name, "INFO", "dku.flow.activity", f"running {act.id}", "Activity failed")
                )
            elif outcome == "ABORTED":
                act.state = "ABORTED"
                act.message = "Aborted"
                act.log.append(
                    log_line(
                        act.thread_name,
                        "WARN",
                        "dku.flow.activity",
                        f"running {act.id}",
                        "Activity was aborted: %s" % (job.abort_reason or "abort requested"),
                    )
                )
            else:
                act.state = "DONE"
                act.message = "Done"
                act.log.append(
                    log_line(
                        act.thread_name, "INFO", "dku.flow.activity", f"running {act.id}", "Activity is successful"
                    )
                )
            self._changed(job)

    def _execute(self, job: Job, act: Activity) -> str:
        """Run one activity; returns "DONE" or "ABORTED", raises ActivityFailure."""
        lock = self.state.lock
        ndc = f"act.{act.id}"
        faults = self.state.faults.plan_run(act.project_key, act.recipe_name)
        if job.abort_event.wait(faults.duration):
            return "ABORTED"
        if faults.hang:
            with lock:
                act.log.append(
                    log_line(
                        job.thread_name,
                        "INFO",
                        "dku.flow.recipe",
                        ndc,
                        "Waiting for the recipe's external process (it does not answer)",
                    )
                )
            while not job.abort_event.wait(0.05):
                if not self.state.faults.still_hanging(act.project_key, act.recipe_name):
                    break
            if job.abort_event.is_set():
                return "ABORTED"
        with lock:
            recipe = self.state.project(act.project_key).recipes.get(act.recipe_name)
            if recipe is None:
                raise ActivityFailure(
                    {
                        "errorType": NOT_FOUND,
                        "message": f"recipe does not exist: {act.project_key}.{act.recipe_name}",
                        "detailedMessage": f"recipe does not exist: {act.project_key}.{act.recipe_name} (deleted while the job ran)",
                    }
                )
            self._check_partition(recipe, act.partition)
            self._check_inputs_ready(recipe, act.partition)
        if faults.failure is not None:
            message, error_type = faults.failure
            raise injected_failure(recipe, job, act, message, error_type)
        with lock:
            inputs, input_versions = read_inputs(self.state, recipe, act.partition)
            view = recipe.executor_view()
            recipe_version = recipe.version
        outputs = run_executor(recipe, view, inputs, job, act)
        with lock:
            if job.abort_event.is_set():
                return "ABORTED"
            counts = store_outputs(
                self.state,
                recipe,
                outputs,
                input_versions,
                recipe_version,
                act.start_ms,
                now_ms(),
                job.id,
                update_schema=True,
                partition=act.partition,
            )
            for ref, count in counts.items():
                pk, name = split_ref(recipe.project_key, ref)
                act.records[f"{pk}.{name}"] = count
                act.log.append(
                    log_line(job.thread_name, "INFO", "dku.flow.recipe", ndc, f"Wrote {count} rows to {pk}.{name}")
                )
        return "DONE"

    def _check_partition(self, recipe: Recipe, partition: Optional[str]) -> None:
        """A partitioned output is built one partition at a time: without a partition, the activity fails."""
        if partition is not None:
            return
        for ref in recipe.output_refs():
            pk, name = split_ref(recipe.project_key, ref)
            dataset = self.state.find_dataset(pk, name)
            if dataset is not None and dataset.partitioned:
                dims = ", ".join(str(d.get("name")) for d in dataset.dimensions)
                message = (
                    f"Dataset {pk}.{name} is partitioned (by {dims}): a partition to build must be specified "
                    f"(e.g. 2026-12-05), none was requested"
                )
                raise ActivityFailure(
                    {
                        "errorType": "com.dataiku.dip.exceptions.UnspecifiedPartitionException",
                        "message": message,
                        "detailedMessage": "Job failed: " + message,
                        "code": "ERR_PARTITION_NOT_SPECIFIED",
                        "fixability": "USER_CONFIG",
                    }
                )

    def _check_inputs_ready(self, recipe: Recipe, partition: Optional[str] = None) -> None:
        for ref in recipe.input_refs():
            pk, name = split_ref(recipe.project_key, ref)
            dataset = self.state.find_dataset(pk, name)
            if partition is not None and dataset is not None and dataset.partitioned:
                if self.state.storage.has_data(pk, name, partition):
                    continue
                message = (
                    f"Input dataset {pk}.{name} of recipe {recipe.name} has no partition {partition}: "
                    f"build that partition of {name} first"
                )
                raise ActivityFailure(
                    {
                        "errorType": DATASTORE_IO,
                        "message": message,
                        "detailedMessage": "Job failed: " + message,
                        "code": "ERR_JOB_INPUT_DATASET_NOT_READY_NO_FILES",
                        "title": "Input partition is not ready",
                        "fixability": "USER_CONFIG_OR_BUILD",
                    }
                )
            if self.state.is_ready(recipe.project_key, ref):
                continue
            if dataset is None and self.state.find_folder(pk, name) is None:
                raise ActivityFailure(
                    {
                        "errorType": NOT_FOUND,
                        "message": f"Input {pk}.{name} of recipe {recipe.name} does not exist",
                        "detailedMessage": f"Input {pk}.{name} of recipe {recipe.name} does not exist",
                    }
                )
            if dataset is not None and is_uploaded(dataset):  # a source: nothing to build, its files are missing
                problem = "has no files" if not dataset.uploaded_files else "has no readable format"
                message = (
                    f"Input dataset {pk}.{name} of recipe {recipe.name} is not ready: the uploaded dataset {problem}. "
                    f"Upload a CSV file to {name} and save its detected format."
                )
            else:
                message = (
                    f"Input dataset {pk}.{name} of recipe {recipe.name} is not ready: it was never built (root path of "
                    f"the dataset does not exist). Build {name} first."
                )
            raise ActivityFailure(
                {
                    "errorType": DATASTORE_IO,
                    "message": message,
                    "detailedMessage": "Job failed: " + message,
                    "code": "ERR_JOB_INPUT_DATASET_NOT_READY_NO_FILES",
                    "title": "Input dataset is not ready (no files found)",
                    "fixability": "USER_CONFIG_OR_BUILD",
                }
            )

    # -- aborting -----------------------------------------------------------------------------------------------------
    def abort_job(self, project_key: str, job_id: str, reason: str = "abort requested") -> Job:
        with self.state.lock:
            job = self.get_job(project_key, job_id)
            if not job.terminal and not job.abort_event.is_set():
                job.abort_reason = reason
                job.log("INFO", f"Abort requested ({reason})")
                job.abort_event.set()
                self._changed(job)
        self.slots.wake_all()
        return job

    def get_job(self, project_key: str, job_id: str) -> Job:
        with self.state.lock:
            job = self.state.project(project_key).jobs.get(job_id)
            if job is None:
                raise DSSError(404, NOT_FOUND, f"Job not found: {project_key}.{job_id}")
            return job

    def restart(self, timeout: float = 10.0) -> List[Job]:
        """What a DSS restart does to jobs: the running ones are lost and end ABORTED with an unexpected failure."""
        with self.state.lock:
            running = [
                job for project in self.state.projects.values() for job in project.jobs.values() if not job.terminal
            ]
            for job in running:
                job.unexpected_failure = {
                    "errorType": "com.dataiku.dip.exceptions.ProcessDiedException",
                    "message": "Job was lost: DSS was restarted while it was running",
                    "detailedMessage": "Job was lost: the DSS backend was restarted while the job was running",
                }
                job.abort_reason = "DSS was restarted"
                job.abort_event.set()
                job.changed.notify_all()
            self.state.changed.notify_all()
        self.slots.wake_all()
        deadline = time.time() + timeout
        for job in running:
            job.finished.wait(max(0.0, deadline - time.time()))
        return running


# --- shared with loading (recipes built when a flow file is loaded) ----------------------------------------------
def read_inputs(
    state: EmulatorState, recipe: Recipe, partition: Optional[str] = None
) -> Tuple[Dict[str, tuple], Dict[str, int]]:
    """Rows of each dataset input (folders are left out) and the input versions they came from; with ``partition``,
    only that partition of the partitioned inputs ("equals" dependency). Lock held."""
    inputs: Dict[str, tuple] = {}
    versions: Dict[str, int] = {}
    for ref in recipe.input_refs():
        pk, name = split_ref(recipe.project_key, ref)
        dataset = state.find_dataset(pk, name)
        if dataset is not None:
            wanted = [partition] if (partition is not None and dataset.partitioned) else None
            inputs[ref] = state.read_dataset(pk, name, wanted)
        versions[ref] = state.object_version(recipe.project_key, ref)
    return inputs, versions


def run_executor(
    recipe: Recipe, view: dict, inputs: dict, job: Optional[Job] = None, act: Optional[Activity] = None
) -> dict:
    """Compute a recipe's output rows with EMU-DATA's executors; their errors become ActivityFailure."""
    from .executors import RecipeExecutionError, execute_recipe

    try:
        return execute_recipe(view, inputs)
    except RecipeExecutionError as exc:
        raise execution_failure(recipe, job, act, exc) from None


def store_outputs(
    state: EmulatorState,
    recipe: Recipe,
    outputs: dict,
    input_versions: Dict[str, int],
    recipe_version: int,
    start_ms: int,
    end_ms: int,
    job_id: Optional[str],
    update_schema: bool = True,
    partition: Optional[str] = None,
) -> Dict[str, int]:
    """Write a successful run's rows (into ``partition`` of partitioned outputs), update schemas, lastBuild and
    versions. Lock held. Returns row counts."""
    counts: Dict[str, int] = {}
    for ref in recipe.output_refs():
        pk, name = split_ref(recipe.project_key, ref)
        dataset = state.find_dataset(pk, name)
        if dataset is not None:
            columns, rows = outputs.get(ref) or outputs.get(name) or (dataset.columns, [])
            part = partition if dataset.partitioned else None
            state.storage.write(pk, name, list(columns), list(rows), part)
            if update_schema and _schema_signature(columns) != _schema_signature(dataset.columns):
                dataset.set_columns(list(columns))
            state.touch_dataset(dataset)
            dataset.last_build = {"buildStartTime": start_ms, "buildEndTime": end_ms, "buildSuccess": True}
            if job_id:
                dataset.last_build["jobId"] = job_id
            state.record_basic_metrics(dataset, end_ms)
            counts[ref] = len(rows)
            continue
        folder = state.find_folder(pk, name)
        if folder is not None:
            folder.built = True
            folder.version = state.next_version()
            folder.last_build = {"buildStartTime": start_ms, "buildEndTime": end_ms, "buildSuccess": True}
    output_versions = {ref: state.object_version(recipe.project_key, ref) for ref in recipe.output_refs()}
    recipe.last_run = RecipeRun(recipe_version, dict(input_versions), output_versions, end_ms)
    return counts


def _schema_signature(columns: List[dict]) -> List[Tuple[str, str]]:
    return [(c.get("name"), c.get("type")) for c in columns or []]


# --- partitions -------------------------------------------------------------------------------------------------
def activity_partition_id(partition: Optional[str]) -> str:
    """How a partition shows in an activity id: ``NP`` when not partitioned, ``|`` between dimensions kept."""
    return partition.replace("/", "-") if partition else "NP"


def expand_partition(item: str, dimensions: List[dict]) -> List[str]:
    """One item of a partition spec: an id, or for a single DAY dimension a range ``2026-12-01/2026-12-05``."""
    if "/" not in item:
        return [item]
    start, _, end = item.partition("/")
    dimension = dimensions[0] if len(dimensions) == 1 else {}
    if dimension.get("type") != "time" or (dimension.get("params") or {}).get("period", "DAY") != "DAY":
        return [item]  # not a range the emulator expands: an (unknown) partition id
    try:
        first = dt.date.fromisoformat(start.strip())
        last = dt.date.fromisoformat(end.strip())
    except ValueError:
        return [item]
    days = []
    while first <= last:
        days.append(first.isoformat())
        first += dt.timedelta(days=1)
    return days


# --- failures as DSS reports them -----------------------------------------------------------------------------------
def python_failure(
    recipe: Recipe,
    job: Optional[Job],
    act: Optional[Activity],
    exc_class: str,
    exc_message: str,
    line: int,
    extra_log: Optional[List[str]] = None,
) -> ActivityFailure:
    """A Python recipe failure: ``Error in Python process: At line N: <class 'X'>: msg`` and a traceback in the log."""
    short = f"At line {line}: <class '{exc_class}'>: {exc_message}"
    first_failure = {
        "errorType": PYTHON_PROCESS_FAILED,
        "message": "Error in Python process: " + short,
        "detailedMessage": "Job failed: Error in Python process: " + short,
        "fixability": "USER_CONFIG",
    }
    job_id = job.id if job else "load"
    act_id = act.id if act else f"{recipe.name}_NP"
    thread_err = f"null-err-{next(_thread_numbers)}"
    stack = [
        "*************** Recipe code failed **************",
        "Begin Python stack",
        "Traceback (most recent call last):",
        f'  File "/data/dataiku/dss_data/jobs/{recipe.project_key}/{job_id}/{act_id}/python-exec-wrapper.py", line 206, in <module>',
        "    exec(f.read())",
        f'  File "<string>", line {line}, in <module>',
        f"{exc_class}: {exc_message}",
        "End Python stack",
    ]
    lines = [log_line(thread_err, "INFO", "dku.utils", "", s) for s in (extra_log or [])]
    lines.extend(log_line(thread_err, "INFO", "dku.utils", "", s) for s in stack)
    return ActivityFailure(first_failure, lines)


def injected_failure(
    recipe: Recipe, job: Job, act: Activity, message: str, error_type: Optional[str]
) -> ActivityFailure:
    """A failure asked for by ``fail_recipe`` or the flow file's ``emulation.fail``."""
    if recipe.type in PYTHON_LIKE_TYPES and not error_type:
        return python_failure(recipe, job, act, "Exception", message, 12)
    error_type = error_type or PROCESS_FAILED
    lines = [log_line(job.thread_name, "ERROR", "dku.flow.recipe", f"act.{act.id}", f"{error_type}: {message}")]
    return ActivityFailure(
        {"errorType": error_type, "message": message, "detailedMessage": "Job failed: " + message}, lines
    )


def execution_failure(recipe: Recipe, job: Optional[Job], act: Optional[Activity], exc) -> ActivityFailure:
    """A RecipeExecutionError from an executor, as DSS reports it: firstFailure, and the child's lines in the log."""
    message = getattr(exc, "message", None) or str(exc)
    error_type = getattr(exc, "error_type", None) or PROCESS_FAILED
    code = getattr(exc, "code", None)
    first_failure = {"errorType": error_type, "message": message, "detailedMessage": "Job failed: " + message}
    if code:
        first_failure["code"] = code
    extra = list(getattr(exc, "log_lines", None) or [])
    if error_type == PYTHON_PROCESS_FAILED:
        # The Python child's stderr, re-logged by DSS line by line (empty NDC, ``null-err-N`` thread).
        first_failure["fixability"] = "USER_CONFIG"
        thread_err = f"null-err-{next(_thread_numbers)}"
        lines = [log_line(thread_err, "INFO", "dku.utils", "", s) for s in extra]
    else:
        thread = job.thread_name if job else "loader"
        ndc = f"act.{act.id}" if act else ""
        lines = [log_line(thread, "INFO", "dku.flow.recipe", ndc, s) for s in extra]
        lines.append(log_line(thread, "ERROR", "dku.flow.recipe", ndc, f"{error_type}: {message}"))
    return ActivityFailure(first_failure, lines)


__all__ = [
    "ActivityFailure",
    "ActivitySlots",
    "BUILD_MODES",
    "Dataset",
    "Job",
    "Scheduler",
    "log_line",
    "read_inputs",
    "run_executor",
    "store_outputs",
]
