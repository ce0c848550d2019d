"""The run record: a JSON document of what a run did, in the spirit of dbt's ``run_results.json``.

Written while the run goes (so a crash leaves one behind) and at its end, even when it failed or was cancelled;
read back to resume a run (:func:`resume_candidates`) and to render reports. Its JSON Schema is
``resource/schemas/run-record.schema.json``. While the run state is ``RUNNING``, a recipe that has started but not
finished shows ``NOT_RUN`` with a ``started_at`` and no ``ended_at``; its ``attempt_history`` says ``RUNNING``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Union

from .errors import ConfigError
from .grouping import shared_groups
from .plan import BuildPlan
from .port import OutputRef
from .redaction import public_url, scrub
from .resources import load_schema, schema_validator
from .states import FINAL_RUN_STATES, RECIPE_STATES, RESUMABLE
from .textfiles import read_text

RECORD_VERSION = 1
#: Recipe states a resumed run runs again (like ``dbt retry``).


# --------------------------------------------------------------------------------------------------------------------
# Time and ids
# --------------------------------------------------------------------------------------------------------------------


def format_utc(moment: Optional[datetime]) -> Optional[str]:
    """``2026-11-25T12:34:56.123Z`` (ISO 8601, UTC, milliseconds), or None."""
    if moment is None:
        return None
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_utc(text: Optional[str]) -> Optional[datetime]:
    """Inverse of :func:`format_utc` (accepts any ISO 8601 form with a zone, ``Z`` included)."""
    if not text:
        return None
    moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


#: What :func:`new_run_id` makes (the ``run_id`` pattern of ``run-record.schema.json``).
RUN_ID_PATTERN = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}$")


def new_run_id(now: Optional[datetime] = None) -> str:
    """``YYYYMMDDTHHMMSSZ-<6 hex>``: sorts by start time, unique enough for concurrent runs."""
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


# --------------------------------------------------------------------------------------------------------------------
# Dataclasses
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class RecipeError:
    """Why a recipe (or one attempt) failed."""

    message: str
    type: Optional[str] = None
    transient: bool = False

    def to_dict(self) -> dict:
        return {"message": self.message, "type": self.type, "transient": self.transient}

    @classmethod
    def from_dict(cls, data: Optional[dict]) -> Optional[RecipeError]:
        if data is None:
            return None
        return cls(message=data["message"], type=data.get("type"), transient=bool(data.get("transient", False)))


@dataclass
class Attempt:
    """One DSS job started for a recipe."""

    attempt: int
    job_id: str
    started_at: Optional[str] = None
    ended_at: Optional[str] = None
    state: str = "RUNNING"  # RUNNING while it runs, then SUCCESS | FAILED | ABORTED | TIMED_OUT
    error: Optional[RecipeError] = None
    retry_after_s: Optional[float] = None  # wait before the next attempt, when this one is retried
    #: How long DSS says the job ran (its jobStartTime to jobEndTime), free of the run's detection lag: the next
    #: run's expected duration. None when DSS did not say (timed out, aborted unconfirmed, old records).
    job_duration_s: Optional[float] = None
    #: How long DSS answered no status request while the job ran (a polling outage), when it did not answer at all.
    status_gap_s: Optional[float] = None
    #: When the run noticed the job had ended (its own clock): ``noticed_at - ended_at`` is the detection lag.
    noticed_at: Optional[str] = None
    #: How long the successful job ran with none of its activities running (before its first, after its last):
    #: DSS's fixed cost of a job, which the next run's grouped jobs weigh. None when its activities were not read.
    overhead_s: Optional[float] = None

    def to_dict(self) -> dict:
        gap = {"status_gap_s": self.status_gap_s} if self.status_gap_s is not None else {}
        if self.noticed_at is not None:
            gap["noticed_at"] = self.noticed_at
        if self.overhead_s is not None:
            gap["overhead_s"] = self.overhead_s
        return {
            "attempt": self.attempt,
            "job_id": self.job_id,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "state": self.state,
            "error": self.error.to_dict() if self.error else None,
            "retry_after_s": self.retry_after_s,
            "job_duration_s": self.job_duration_s,
            **gap,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Attempt:
        return cls(
            attempt=int(data["attempt"]),
            job_id=data["job_id"],
            started_at=data.get("started_at"),
            ended_at=data.get("ended_at"),
            state=data.get("state", "RUNNING"),
            error=RecipeError.from_dict(data.get("error")),
            retry_after_s=data.get("retry_after_s"),
            job_duration_s=data.get("job_duration_s"),
            status_gap_s=data.get("status_gap_s"),
            noticed_at=data.get("noticed_at"),
            overhead_s=data.get("overhead_s"),
        )


@dataclass
class RecipeRun:
    """What happened to one recipe of the plan."""

    name: str
    type: str = ""
    state: str = "NOT_RUN"
    attempts: int = 0
    job_ids: List[str] = field(default_factory=list)
    job_urls: List[Optional[str]] = field(default_factory=list)  # aligned with job_ids (None when unknown)
    outputs: List[OutputRef] = field(default_factory=list)
    started_at: Optional[str] = None
    ended_at: Optional[str] = None
    duration_s: Optional[float] = None
    error: Optional[RecipeError] = None
    log_excerpt: Optional[str] = None
    skipped_because: List[str] = field(default_factory=list)
    attempt_history: List[Attempt] = field(default_factory=list)
    partitions: Optional[str] = None  # the partition spec sent with its partitioned outputs; None: built whole
    #: Jobs started elsewhere that built one of its outputs when it was due to start: it waited for them to end.
    waited_for_jobs: List[str] = field(default_factory=list)
    #: Grouped jobs: the number (1-based, in plan order) of the chain whose DSS job also builds this recipe's outputs;
    #: None when the recipe has a job of its own (and in records written before grouped jobs).
    job_group: Optional[int] = None

    def to_dict(self) -> dict:
        data = {
            "name": self.name,
            "type": self.type,
            "state": self.state,
            "attempts": self.attempts,
            "job_ids": list(self.job_ids),
            "job_urls": list(self.job_urls),
            "outputs": [o.to_dict() for o in self.outputs],
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "duration_s": self.duration_s,
            "error": self.error.to_dict() if self.error else None,
            "log_excerpt": self.log_excerpt,
            "skipped_because": list(self.skipped_because),
            "attempt_history": [a.to_dict() for a in self.attempt_history],
        }
        if self.partitions is not None:
            data["partitions"] = self.partitions
        if self.waited_for_jobs:
            data["waited_for_jobs"] = list(self.waited_for_jobs)
        if self.job_group is not None:
            data["job_group"] = self.job_group
        return data

    @classmethod
    def from_dict(cls, data: dict) -> RecipeRun:
        return cls(
            name=data["name"],
            type=data.get("type") or "",
            state=data.get("state", "NOT_RUN"),
            attempts=int(data.get("attempts", 0)),
            job_ids=list(data.get("job_ids", [])),
            job_urls=list(data.get("job_urls", [])),
            outputs=[OutputRef.from_dict(o) for o in data.get("outputs", [])],
            started_at=data.get("started_at"),
            ended_at=data.get("ended_at"),
            duration_s=data.get("duration_s"),
            error=RecipeError.from_dict(data.get("error")),
            log_excerpt=data.get("log_excerpt"),
            skipped_because=list(data.get("skipped_because", [])),
            attempt_history=[Attempt.from_dict(a) for a in data.get("attempt_history", [])],
            partitions=data.get("partitions"),
            waited_for_jobs=list(data.get("waited_for_jobs", [])),
            job_group=data.get("job_group") if isinstance(data.get("job_group"), int) else None,
        )


@dataclass
class RunRecord:
    """What one run did, recipe by recipe (``recipes`` in plan order, each planned recipe exactly once)."""

    run_id: str
    project_key: str
    started_at: str
    state: str = "RUNNING"
    dss_url: Optional[str] = None
    ended_at: Optional[str] = None
    duration_s: Optional[float] = None
    dry_run: bool = False
    resumed_from: Optional[str] = None
    config: Dict[str, Any] = field(default_factory=dict)
    plan: Dict[str, Any] = field(default_factory=dict)
    recipes: List[RecipeRun] = field(default_factory=list)
    record_version: int = RECORD_VERSION
    propagation: Optional[Dict[str, Any]] = None  # "propagate schema first": per source, diffs or the preview
    verification: Optional[Dict[str, Any]] = None  # "verify after build": one result per expectation
    cause: Optional[str] = None  # why a FAILED or CANCELLED run did not succeed, in one sentence
    #: What this run's successful jobs cost besides their activities (``median_s`` over ``jobs``): what the next
    #: grouped run weighs. A top-level summary, so a compacted record (no attempt history) still tells it.
    job_overhead: Optional[Dict[str, Any]] = None
    #: Indexes of recipes changed since the last :meth:`take_changes` (what a journal appends; not serialised).
    changed: set = field(default_factory=set, init=False, repr=False, compare=False)
    #: Grows at every :meth:`touch`: a sink that keeps its own copy (the run history) skips an unchanged record.
    version: int = field(default=0, init=False, repr=False, compare=False)
    #: The :class:`~flow_orchestrator.plan.BuildPlan` that ``plan`` was written from (not serialised): printing a dry
    #: run reads it, instead of rebuilding 20,000 recipe entries from the dict.
    built_plan: Optional[BuildPlan] = field(default=None, repr=False, compare=False)

    def touch(self, index: int) -> None:
        """Note that ``recipes[index]`` changed (the runner calls it; :class:`RecordFile` journals it)."""
        self.changed.add(index)
        self.version += 1

    def take_changes(self) -> List[int]:
        """Indexes of the recipes changed since the last call, in plan order."""
        out = sorted(self.changed)
        self.changed.clear()
        return out

    @property
    def counts(self) -> Dict[str, int]:
        counts = {state: 0 for state in RECIPE_STATES}
        for recipe in self.recipes:
            counts[recipe.state] = counts.get(recipe.state, 0) + 1
        return counts

    def recipe(self, name: str) -> RecipeRun:
        for recipe in self.recipes:
            if recipe.name == name:
                return recipe
        raise KeyError(f"Recipe {name!r} is not in run {self.run_id}")

    def to_dict(self) -> dict:
        optional = {
            key: value
            for key, value in (
                ("propagation", self.propagation),
                ("verification", self.verification),
                ("cause", self.cause),
                ("job_overhead", self.job_overhead),
            )
            if value is not None
        }
        return scrub(  # the one door of every record's way out (files, history folder, reports, summaries)
            {
                "record_version": self.record_version,
                "run_id": self.run_id,
                "project_key": self.project_key,
                "dss_url": self.dss_url,
                "started_at": self.started_at,
                "ended_at": self.ended_at,
                "duration_s": self.duration_s,
                "state": self.state,
                "dry_run": self.dry_run,
                "resumed_from": self.resumed_from,
                "config": self.config,
                "plan": self.plan,
                "counts": self.counts,
                "recipes": [r.to_dict() for r in self.recipes],
                **optional,
            }
        )

    @classmethod
    def from_dict(cls, data: dict) -> RunRecord:
        return cls(
            record_version=int(data.get("record_version", RECORD_VERSION)),
            run_id=data["run_id"],
            project_key=data["project_key"],
            dss_url=data.get("dss_url"),
            started_at=data["started_at"],
            ended_at=data.get("ended_at"),
            duration_s=data.get("duration_s"),
            state=data["state"],
            dry_run=bool(data.get("dry_run", False)),
            resumed_from=data.get("resumed_from"),
            config=dict(data.get("config") or {}),
            plan=dict(data.get("plan") or {}),
            recipes=[RecipeRun.from_dict(r) for r in data.get("recipes", [])],
            propagation=data.get("propagation"),
            verification=data.get("verification"),
            cause=data.get("cause"),
            job_overhead=data.get("job_overhead") if isinstance(data.get("job_overhead"), dict) else None,
        )


def new_record(
    plan: BuildPlan,
    *,
    run_id: Optional[str] = None,
    started: Optional[datetime] = None,
    config_dict: Optional[dict] = None,
    dss_url: Optional[str] = None,
    dry_run: bool = False,
    resumed_from: Optional[str] = None,
) -> RunRecord:
    """A record for ``plan`` with every recipe NOT_RUN: RUNNING for a run about to start, PLANNED for a dry run."""
    started = started or datetime.now(timezone.utc)
    group_of = shared_groups(plan.job_groups)
    return RunRecord(
        run_id=run_id or new_run_id(started),
        project_key=plan.project_key,
        dss_url=public_url(dss_url),
        started_at=format_utc(started) or "",
        ended_at=format_utc(started) if dry_run else None,
        duration_s=0.0 if dry_run else None,
        state="PLANNED" if dry_run else "RUNNING",
        dry_run=dry_run,
        resumed_from=resumed_from,
        config=scrub(dict(config_dict or {})),
        plan=plan.to_dict(),
        recipes=[
            RecipeRun(name=r.name, type=r.type, outputs=list(r.outputs), job_group=group_of.get(r.name))
            for r in plan.recipes
        ],
        built_plan=plan,
    )


def planned_record(
    plan: BuildPlan,
    *,
    run_id: Optional[str] = None,
    config_dict: Optional[dict] = None,
    dss_url: Optional[str] = None,
    resumed_from: Optional[str] = None,
) -> RunRecord:
    """The record of a dry run: state PLANNED, every recipe NOT_RUN, nothing started."""
    return new_record(
        plan, run_id=run_id, config_dict=config_dict, dss_url=dss_url, dry_run=True, resumed_from=resumed_from
    )


def resume_candidates(record: Union[RunRecord, dict]) -> List[str]:
    """Recipes a resumed run must run again, in plan order: failed, skipped, aborted, timed out or never run."""
    if isinstance(record, dict):
        record = RunRecord.from_dict(record)
    return [r.name for r in record.recipes if r.state in RESUMABLE]


# --------------------------------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------------------------------


def write_record(record: Union[RunRecord, dict], path: Union[str, Path]) -> Path:
    """Write the record as JSON atomically (temp file + rename), so readers never see half a record.

    Streamed to the file: the text of a 20,000-recipe record (tens of megabytes, and the list of its pieces that
    ``json.dumps`` joins) is never held whole in memory."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = record if isinstance(record, dict) else record.to_dict()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.writelines(record_json(data))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


#: One-shot encoding of a value: C-accelerated (``json.dump`` and any ``indent`` use the pure-Python encoder, ten
#: times slower: seconds for a 20,000-recipe record).
_COMPACT = json.JSONEncoder(ensure_ascii=False).encode


def record_json(data: Any, depth: int = 0) -> Iterator[str]:
    """The JSON text of a record, in pieces, ending with a newline at the top: its keys, each recipe entry and each
    planned recipe on a line of their own (indented two spaces per level), every value deeper on that line.

    Readable and diff-able line by line like an indented dump, at the speed of the C encoder, and streamed: the
    text of a 20,000-recipe record is never held whole."""
    pad = "  " * depth
    if isinstance(data, dict) and data and depth < 2 and all(isinstance(key, str) for key in data):
        yield "{"
        for i, (key, value) in enumerate(data.items()):
            yield ("," if i else "") + "\n" + pad + "  " + _COMPACT(key) + ": "
            yield from record_json(value, depth + 1)
        yield "\n" + pad + "}"
    elif isinstance(data, list) and data and depth < 3 and isinstance(data[0], (dict, list)):
        yield "["
        for i, value in enumerate(data):
            yield ("," if i else "") + "\n" + pad + "  " + _COMPACT(value)
        yield "\n" + pad + "]"
    else:
        yield _COMPACT(data)
    if depth == 0:
        yield "\n"


#: The journal of a running record: ``<record file>`` + this suffix, beside it.
JOURNAL_SUFFIX = ".journal"


def journal_path(path: Union[str, Path]) -> Path:
    path = Path(path)
    return path.with_name(path.name + JOURNAL_SUFFIX)


class RecordFile:
    """A ``record_sink`` keeping a record file current at the cost of what changed, not of the whole record.

    The first call writes the whole record (atomically) and starts an append-only journal beside it (JSON lines:
    a header naming the run, then one line per changed recipe with its whole entry); later calls append the
    recipes the runner touched. A final record (SUCCESS, FAILED, CANCELLED) is written whole, atomically, and the
    journal removed. A run killed meanwhile leaves the record and its journal: :func:`load_record` folds them.
    ``bytes_written`` counts what the run wrote (the bench reports it per recipe).
    """

    def __init__(self, path: Union[str, Path]):
        self.path = Path(path)
        self.journal = journal_path(self.path)
        self.bytes_written = 0
        self._handle = None

    def __call__(self, record: RunRecord) -> None:
        if record.state in FINAL_RUN_STATES or record.state == "PLANNED":
            self.close(record)
            return
        if self._handle is None:
            record.take_changes()
            self._write_whole(record)
            self._handle = open(self.journal, "w", encoding="utf-8")  # noqa: SIM115 - open for the run
            self._append(json.dumps({"journal_of": record.run_id}) + "\n")
            return
        changed = record.take_changes()
        if changed:
            recipes = record.recipes
            self._append(
                "".join(
                    json.dumps({"index": i, "recipe": recipes[i].to_dict()}, ensure_ascii=False) + "\n" for i in changed
                )
            )

    def close(self, record: Optional[RunRecord] = None) -> None:
        """Write the final record whole and drop the journal (``record`` None: only close the journal)."""
        if record is not None:
            record.take_changes()
            self._write_whole(record)
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if record is not None and self.journal.exists():
            self.journal.unlink()

    def _write_whole(self, record: RunRecord) -> None:
        write_record(record, self.path)
        self.bytes_written += self.path.stat().st_size

    def _append(self, text: str) -> None:
        self._handle.write(text)
        self._handle.flush()  # in the OS's hands: a killed process loses nothing it wrote
        self.bytes_written += len(text.encode("utf-8"))


def fold_journal(data: dict, journal: Union[str, Path]) -> dict:
    """``data`` (a RUNNING record) with the recipe entries its journal holds; an unfinished last line is ignored
    (the run was killed while writing it), and a journal of another run is not used."""
    try:
        lines = Path(journal).read_text(encoding="utf-8").splitlines()
    except OSError:
        return data
    entries = []
    for number, line in enumerate(lines):
        try:
            entries.append(json.loads(line))
        except ValueError:
            if number < len(lines) - 1:
                raise ConfigError(("record", f"{journal} line {number + 1} is not valid JSON")) from None
    if not entries or entries[0].get("journal_of") != data.get("run_id"):
        return data
    recipes = list(data.get("recipes") or [])
    for entry in entries[1:]:
        index = entry.get("index")
        if (
            isinstance(index, int)
            and 0 <= index < len(recipes)
            and recipes[index].get("name") == entry["recipe"].get("name")
        ):
            recipes[index] = entry["recipe"]
    counts = {state: 0 for state in RECIPE_STATES}
    for recipe in recipes:
        counts[recipe.get("state", "NOT_RUN")] = counts.get(recipe.get("state", "NOT_RUN"), 0) + 1
    return {**data, "recipes": recipes, "counts": counts}


_SCHEMA = "run-record.schema.json"


def record_schema() -> dict:
    """The run record's JSON Schema."""
    return load_schema(_SCHEMA)


def _json_path(parts) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(record)"


def validate_record(data: dict, source: str = "run record") -> None:
    """Raise ConfigError naming the JSON path of every problem (up to 10) when ``data`` is not a valid record."""
    errors = sorted(
        schema_validator(_SCHEMA).iter_errors(data), key=lambda e: (list(map(str, e.absolute_path)), e.message)
    )
    if errors:
        problems = [(_json_path(e.absolute_path), f"{e.message} (in {source})") for e in errors[:10]]
        if len(errors) > 10:
            problems.append(("", f"... and {len(errors) - 10} more problems in {source}"))
        raise ConfigError(problems)


def load_record(path_or_dict: Union[str, Path, dict]) -> RunRecord:
    """Read and validate a run record (a file path or an already parsed dict)."""
    if isinstance(path_or_dict, dict):
        data, source = path_or_dict, "run record"
    else:
        path = Path(path_or_dict)
        source = str(path)
        if not path.exists():
            raise ConfigError(
                ("record", f"Run record file {source} does not exist; pass the --json file written by a previous build")
            )
        text = read_text(path, "record", "the --json file written by a previous build")
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ConfigError(
                ("record", f"{source} is not valid JSON ({exc}); pass a run record written by flow-orchestrator")
            ) from None
    if not isinstance(data, dict):
        raise ConfigError(("record", f"{source} must be a JSON object (a run record), not {type(data).__name__}"))
    if not isinstance(path_or_dict, dict) and data.get("state") == "RUNNING":
        journal = journal_path(path_or_dict)
        if journal.exists():  # the run was killed: what it wrote after the whole record is in its journal
            data = fold_journal(data, journal)
    validate_record(data, source)
    return RunRecord.from_dict(data)
