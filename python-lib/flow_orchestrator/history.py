"""The run history: where the Build pipeline macro, the Run recipes step and the command line keep their run records.

- **Project variable** (macro and step, always): the last record, compacted, in the local project variable
  ``flow_orchestrator.last_run.<record name>``, rewritten while the run goes and at its end. Scenario variables and
  links point at it, and it is what *Resume last run* reads when no folder is chosen.
- **Managed folder** (when one is chosen: the ``record_folder`` field, ``--record-folder``), in that folder::

      runs/<run_id>/run-record.json   the full record: logs, excerpts and attempt history included
      runs/<run_id>/report.html       the HTML report of the run (the one the macro returns, as a whole page)
      last_run/<record name>.json     the record *Resume last run* reads (the same JSON as the run's record)

  The two JSON files are rewritten while the run goes (within about 2 s of each job's start and end, coalesced;
  not when nothing changed; less often for a record so large that saving it takes over a tenth of that time, and
  never over 10 s behind) and at its end, whatever the end
  (success, failure, cancellation, or an error that stopped the run); the report is written at the end. A run that
  was only planned (dry run) writes nothing. Records carry no secret: API keys and tickets are redacted when the
  record is made.

**Retention** (``keep_runs``, ``--keep-runs``; default 30, 0 keeps every run): after a run's final write to the
folder, the runs beyond the newest ``keep_runs`` lose their files (:func:`plan_retention` chooses them from one
listing of the folder; :meth:`RunHistory.prune` deletes them). Only what the plugin writes is deleted: the
``run-record.json`` and ``report.html`` of a ``runs/<run_id>/`` directory whose name is a run id. ``last_run/``,
the run just written and any other file are left alone (other files under ``runs/`` are logged, once per run). The
count is per folder, whatever macro, step or command wrote the runs: give the same value to everything sharing a
folder. A listing or a delete that fails is logged and never fails the run; the next run deletes what is left.

A folder the key may not write to (HTTP 403: the project permission *Write project content* is missing) is reported
once, naming the folder, the permission and the fix, and not written again for the rest of the run; the run goes on
and keeps its record in the project variable.

Resume reads the folder's ``last_run/<record name>.json`` when a folder is chosen and falls back to the project
variable when the folder has none (first run with the folder) or holds an older run than the variable (the last
write to the folder failed); the log says which one it used. The folder is checked before anything runs: an unknown
folder id is a :class:`~flow_orchestrator.errors.ConfigError` naming the field.

Only :mod:`flow_orchestrator.dss` talks to DSS: this module goes through the gateway's folder and variable methods.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass
from typing import Callable, Iterable, List, Mapping, Optional, Tuple

from .config.model import BuildConfig
from .errors import ConfigError, DSSAccessError, DSSPermissionError
from .events import EventConsumer
from .pipeline import run_build
from .port import TransientAPIError
from .record import RUN_ID_PATTERN, record_json
from .states import FINAL_RUN_STATES
from .text import is_blank

log = logging.getLogger(__name__)

#: Local project variable prefix holding a component's last run record (compact JSON text).
LAST_RUN_VARIABLE_PREFIX = "flow_orchestrator.last_run."
#: Folders and files of the run history inside the chosen managed folder.
RUNS_DIR = "runs"
LAST_RUN_DIR = "last_run"
RECORD_FILE = "run-record.json"
REPORT_FILE = "report.html"
#: The files of a ``runs/<run_id>/`` directory the plugin writes, hence the only ones retention deletes.
RUN_FILES = (RECORD_FILE, REPORT_FILE)
_FOREIGN_SHOWN = 5  # paths named in the one log line about files under runs/ the plugin did not write

_ERROR_CHARS_KEPT = 500  # per recipe error in the variable's record: enough to recognise it, small enough to store
#: Saves of a running record: at most one per ``max(_SAVE_EVERY_S, _SAVE_COST_RATIO x the last save's time)``, at
#: most ``_SAVE_MAX_GAP_S`` apart while the record changes: a run spends at most 1 / ratio of its time saving.
_SAVE_EVERY_S = 2.0
_SAVE_COST_RATIO = 10.0
_SAVE_MAX_GAP_S = 10.0
#: Run states of a record the run will not change any more (its report is written then).
#: A record name that is also a safe file name in the folder: no slash, backslash or control character.
_FILE_NAME = re.compile(r"^[^/\\\x00-\x1f\x7f]+$")


# --------------------------------------------------------------------------------------------------------- paths


def last_run_variable(record_name: str) -> str:
    """The local project variable holding the last run record of a macro or step."""
    return LAST_RUN_VARIABLE_PREFIX + record_name


def run_record_path(run_id: str) -> str:
    """``runs/<run_id>/run-record.json``: a run's full record in the history folder."""
    return f"{RUNS_DIR}/{run_id}/{RECORD_FILE}"


def run_report_path(run_id: str) -> str:
    """``runs/<run_id>/report.html``: a run's HTML report in the history folder."""
    return f"{RUNS_DIR}/{run_id}/{REPORT_FILE}"


def last_run_path(record_name: str) -> str:
    """``last_run/<record name>.json``: the record resume reads from the history folder."""
    return f"{LAST_RUN_DIR}/{record_name}.json"


# --------------------------------------------------------------------------------------------------------- folder


@dataclass(frozen=True)
class RecordFolder:
    """The managed folder chosen for the run history: its id (what the API takes) and its name (what users see)."""

    id: str
    name: str

    def describe(self) -> str:
        if self.name and self.name != self.id:
            return f"managed folder {self.name!r} ({self.id})"
        return f"managed folder {self.id}"


def resolve_record_folder(gateway, value: str, *, field: str = "record_folder") -> RecordFolder:
    """The folder a form or the command line names, checked against the project's folders (one request).

    ``value`` is a folder id as DSS's folder field gives it (``PROJECT.id`` is accepted for this project); a name is
    accepted when exactly one folder has it (the command line). Raises :class:`ConfigError` naming ``field``.
    """
    text = str(value).strip()
    folders = gateway.list_managed_folders()
    candidates = [text]
    owner, dot, rest = text.partition(".")
    if dot and owner == gateway.project_key and rest:
        candidates.append(rest)
    for candidate in candidates:
        for folder in folders:
            if folder.get("id") == candidate:
                return RecordFolder(str(folder["id"]), str(folder.get("name") or folder["id"]))
    named = [f for f in folders if f.get("id") and f.get("name") in candidates]
    if len(named) == 1:
        return RecordFolder(str(named[0]["id"]), str(named[0]["name"]))
    listing = ", ".join(f"{f.get('name')} ({f.get('id')})" for f in folders[:20]) + (" …" if len(folders) > 20 else "")
    if len(named) > 1:
        raise ConfigError(
            (
                field,
                f"{len(named)} managed folders of project {gateway.project_key} are named {text!r}: give the id of "
                f"one ({', '.join(str(f['id']) for f in named)})",
            )
        )
    hint = f"choose one of its folders: {listing}" if folders else "it has none: create a managed folder first"
    raise ConfigError(
        (
            field,
            f"project {gateway.project_key} has no managed folder with id {text!r} to keep the run history in; {hint}",
        )
    )


def check_record_name(record_name: str, *, field: str = "record_name") -> None:
    """A record name must also be a file name in the history folder (``last_run/<name>.json``)."""
    if not _FILE_NAME.match(record_name) or record_name in (".", ".."):
        raise ConfigError(
            (
                field,
                f"{record_name!r} cannot name a file of the run history folder: use letters, digits, '-', '_' or "
                "'.', without '/' or '\\'",
            )
        )


# --------------------------------------------------------------------------------------------------------- retention


@dataclass(frozen=True)
class RetentionPlan:
    """What retention does to one listing of the history folder (see :func:`plan_retention`)."""

    delete: Tuple[str, ...] = ()  # files to delete, oldest run first: runs/<run_id>/run-record.json, report.html
    expired: Tuple[str, ...] = ()  # run ids whose files are deleted, oldest first
    kept: Tuple[str, ...] = ()  # run ids kept, newest first (the run just written always among them)
    foreign: Tuple[str, ...] = ()  # files under runs/ the plugin did not write: never deleted


def plan_retention(
    listing: Iterable[Mapping], keep_runs: int, *, current_run_id: Optional[str] = None
) -> RetentionPlan:
    """Which files to delete so that ``runs/`` keeps the newest ``keep_runs`` runs (0: keep all, delete nothing).

    ``listing`` is the folder's ``list_contents`` items (``{path, size, lastModified}``, paths with or without the
    leading ``/``). A run is a ``runs/<run_id>/`` directory whose name is a run id (``RUN_ID_PATTERN``) holding a
    ``run-record.json`` or a ``report.html``; only those two files of a run are ever deleted. Anything else under
    ``runs/`` (other files in a run's directory, files beside the runs, deeper paths) is ``foreign``: left alone.
    ``last_run/`` and the rest of the folder are not looked at. ``current_run_id``, the run just written, is kept
    whatever its rank.

    Runs are ordered by their run id, which starts with the run's start time in UTC to the second
    (:func:`flow_orchestrator.record.new_run_id`): it is the record's ``started_at`` without the milliseconds, read
    from the path itself, so one listing is enough (reading every record to get ``started_at`` would cost one
    request per run, for records that can weigh megabytes). The run id is written once, when the run starts, and
    never changes. A file's ``lastModified`` does: it is the time of the run's last write (its end, not its start),
    and copying the folder (a project bundle, a move to another connection, a restore) sets it to the copy's time
    for every file at once, after which it would order the runs at random and retention would delete the wrong ones.
    ``lastModified`` only breaks ties between runs started within the same second (the newest of a run's files
    counts), then the run id itself.
    """
    if keep_runs <= 0:
        return RetentionPlan()
    runs: dict = {}  # run id -> {file name: lastModified}
    foreign: List[str] = []
    for item in listing:
        path = str(item.get("path") or "").lstrip("/")
        if not path.startswith(RUNS_DIR + "/"):
            continue
        parts = path.split("/")
        if len(parts) == 3 and RUN_ID_PATTERN.match(parts[1]) and parts[2] in RUN_FILES:
            runs.setdefault(parts[1], {})[parts[2]] = _millis(item.get("lastModified"))
        else:
            foreign.append(path)

    def newest_first(run_id: str):
        return run_id[:16], max(runs[run_id].values()), run_id  # "YYYYMMDDTHHMMSSZ", then lastModified, then id

    ordered = sorted(runs, key=newest_first, reverse=True)
    kept = ordered[:keep_runs]
    if current_run_id in runs and current_run_id not in kept:
        kept.append(current_run_id)  # an odd clock put it lower: it is still the run just written
    expired = [run_id for run_id in reversed(ordered) if run_id not in kept]
    delete = tuple(f"{RUNS_DIR}/{run_id}/{name}" for run_id in expired for name in RUN_FILES if name in runs[run_id])
    return RetentionPlan(delete, tuple(expired), tuple(kept), tuple(sorted(foreign)))


def _millis(value) -> int:
    """A listing's ``lastModified`` (ms since the epoch) as a number; 0 when missing or not a number."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


# --------------------------------------------------------------------------------------------------------- variable


def compact_record(record: dict) -> dict:
    """The record without what resume and planning never read (logs, long errors, job links, plan details).

    It stays a valid run record (the schema's required keys are kept), only smaller: a variable is rewritten
    at every save, and a Flow of 1,000 recipes must not make it megabytes.
    """
    compact = dict(record)
    plan = record.get("plan")
    if isinstance(plan, dict):
        keep = ("name", "type", "layer", "upstream")
        compact["plan"] = dict(plan, recipes=[{k: r[k] for k in keep if k in r} for r in plan.get("recipes") or []])
    recipes = []
    for item in record.get("recipes") or []:
        item = dict(item)
        item["log_excerpt"] = None
        item.pop("job_urls", None)
        error = item.get("error")
        if isinstance(error, dict) and len(str(error.get("message") or "")) > _ERROR_CHARS_KEPT:
            item["error"] = dict(error, message=str(error["message"])[:_ERROR_CHARS_KEPT] + "…")
        if item.get("state") == "SUCCESS":
            item.pop("attempt_history", None)  # one clean attempt: its times are the recipe's own
        else:
            item["attempt_history"] = [_compact_attempt(a) for a in item.get("attempt_history") or []]
        recipes.append(item)
    compact["recipes"] = recipes
    return compact


def _compact_attempt(attempt: dict) -> dict:
    attempt = dict(attempt)
    if isinstance(attempt.get("error"), dict):
        attempt["error"] = dict(attempt["error"], message=str(attempt["error"].get("message") or "")[:200])
    return attempt


def _as_record(value, where: str) -> Optional[dict]:
    """A parsed run record, or None (logged) when ``value`` is not one."""
    try:
        record = json.loads(value) if isinstance(value, (str, bytes)) else value
    except ValueError as exc:
        log.warning("Ignoring %s: it is not a run record (%s)", where, exc)
        return None
    if not isinstance(record, dict) or "recipes" not in record:
        log.warning("Ignoring %s: it is not a run record", where)
        return None
    return record


def load_last_record(gateway, record_name: str) -> Optional[dict]:
    """The last run record kept in this macro's or step's project variable, or None (none yet, or unreadable)."""
    variables = gateway.get_variables()
    name = last_run_variable(record_name)
    text = (variables.get("local") or {}).get(name)
    if text is None:
        text = (variables.get("standard") or {}).get(name)
    if is_blank(text):
        return None
    return _as_record(text, f"project variable {name}")


def save_last_record(gateway, record_name: str, record: dict) -> str:
    """Keep ``record`` (compacted) in the project's local variables; returns the variable's name."""
    name = last_run_variable(record_name)
    text = json.dumps(compact_record(record), separators=(",", ":"), sort_keys=True)
    gateway.update_variables({name: text}, kind="local")
    return name


# --------------------------------------------------------------------------------------------------------- history


def report_document(record: dict, *, dss_url: Optional[str]) -> str:
    """The run's HTML report (``render_build_report``) as a whole page, for a file."""
    from .report import html_document, render_build_report

    title = f"Flow Orchestrator run {record.get('run_id')} ({record.get('project_key')})"
    return html_document(render_build_report(record, dss_url=dss_url), title=title)


@dataclass(frozen=True)
class RecordLocation:
    """Where a run's record was kept: the project variable, and the folder paths when the folder got them."""

    variable: Optional[str] = None
    folder: Optional[RecordFolder] = None
    record_path: Optional[str] = None  # runs/<run_id>/run-record.json, when written
    report_path: Optional[str] = None  # runs/<run_id>/report.html, when written

    def sentence(self) -> Optional[str]:
        """Where to find the record, for a failure message (None when it was kept nowhere)."""
        places: List[str] = []
        if self.folder is not None and self.record_path:
            where = f"{self.folder.describe()} at {self.record_path}"
            if self.report_path:
                where += f" (report: {self.report_path})"
            places.append(where)
        if self.variable:
            places.append(f"project variable {self.variable}")
        return " and in ".join(places) or None


class RunHistory:
    """The records of one macro, step or command: a project variable and/or a managed folder (see the module)."""

    def __init__(
        self,
        gateway,
        record_name: str,
        folder: Optional[RecordFolder] = None,
        *,
        variable: bool = True,
        keep_runs: int = 0,
    ):
        self.gateway = gateway
        self.record_name = record_name
        self.folder = folder
        self.variable = last_run_variable(record_name) if variable else None
        self.keep_runs = keep_runs  # 0: retention off (callers pass the config's value, 30 unless told)
        self._refused: Optional[DSSPermissionError] = None  # the folder refused a write: not tried again this run

    @classmethod
    def open(
        cls,
        gateway,
        record_name: str,
        folder: Optional[str] = None,
        *,
        variable: bool = True,
        keep_runs: int = 0,
        folder_field: str = "record_folder",
        name_field: str = "record_name",
    ) -> RunHistory:
        """Check the chosen folder (and that the record name can be a file name in it) before anything runs."""
        chosen = None
        if not is_blank(folder):
            chosen = resolve_record_folder(gateway, folder, field=folder_field)
            check_record_name(record_name, field=name_field)
            kept = f"the newest {keep_runs} runs" if keep_runs > 0 else "every run"
            log.info("Keeping the run history in %s (%s)", chosen.describe(), kept)
        return cls(gateway, record_name, chosen, variable=variable, keep_runs=keep_runs)

    # ------------------------------------------------------------------ reading

    def load_last(self) -> Optional[dict]:
        """The last run's record: the folder's ``last_run/<name>.json``, else (or when newer) the project variable."""
        from_folder = self._load_from_folder() if self.folder is not None else None
        from_variable = load_last_record(self.gateway, self.record_name) if self.variable else None
        where_folder = f"{last_run_path(self.record_name)} in {self.folder.describe()}" if self.folder else None
        if from_folder is not None and from_variable is not None and _started(from_variable) > _started(from_folder):
            log.warning(
                "Project variable %s holds a newer run (%s) than %s (%s): the last write to the folder failed; "
                "using the project variable",
                self.variable,
                from_variable.get("run_id"),
                where_folder,
                from_folder.get("run_id"),
            )
            return from_variable
        if from_folder is not None:
            log.info("Last run record: run %s, read from %s", from_folder.get("run_id"), where_folder)
            return from_folder
        if from_variable is not None:
            if self.folder is not None:
                log.info(
                    "No run record at %s yet; using project variable %s (run %s)",
                    where_folder,
                    self.variable,
                    from_variable.get("run_id"),
                )
            else:
                log.info(
                    "Last run record: run %s, read from project variable %s", from_variable.get("run_id"), self.variable
                )
            return from_variable
        return None

    def _load_from_folder(self) -> Optional[dict]:
        path = last_run_path(self.record_name)
        try:
            data = self.gateway.get_folder_file(self.folder.id, path)
        except (DSSAccessError, TransientAPIError) as exc:
            log.warning("Could not read %s in %s (%s); trying the project variable", path, self.folder.describe(), exc)
            return None
        if data is None:
            return None
        text = data.decode("utf-8", errors="replace")
        return _as_record(text, f"{path} in {self.folder.describe()}")

    # ------------------------------------------------------------------ writing

    def save(self, record: dict, *, final: bool = True) -> RecordLocation:
        """Keep ``record``: the folder's files first (the report too when ``final``), then the project variable.

        After the final write of a run whose record reached the folder, the runs beyond the newest ``keep_runs``
        are deleted (:meth:`prune`). A folder write or delete that fails is logged and left out of the returned
        location (the run's outcome stands); a failed variable write raises, as it always did.
        """
        record_path = report_path = None
        if self.folder is not None and record.get("run_id"):
            record_path, report_path = self._save_to_folder(record, final)
            if final and record_path and self.keep_runs > 0:
                self.prune(str(record["run_id"]))
        if self.variable:
            save_last_record(self.gateway, self.record_name, record)
        return RecordLocation(self.variable, self.folder, record_path, report_path)

    def _save_to_folder(self, record: dict, final: bool):
        """(record path, report path) of what was written; each file on its own, so one failure loses one file."""
        run_id = str(record["run_id"])
        text = "".join(record_json(record)).encode("utf-8")
        record_path = self._put(run_record_path(run_id), lambda: text)
        self._put(last_run_path(self.record_name), lambda: text)
        report_path = None
        if final:
            dss_url = getattr(self.gateway, "dss_url", None)
            report_path = self._put(
                run_report_path(run_id), lambda: report_document(record, dss_url=dss_url).encode("utf-8")
            )
        return record_path, report_path

    def _put(self, path: str, content: Callable[[], bytes]) -> Optional[str]:
        if self._refused is not None:
            return None  # said once already: the permission will not appear during the run
        try:
            self.gateway.put_folder_file(self.folder.id, path, content())
            return path
        except DSSPermissionError as exc:
            kept = f" (its last record is still kept in project variable {self.variable})" if self.variable else ""
            self._folder_refused(exc, f"This run's history is not kept in %s: %s The run goes on{kept}")
            return None
        except Exception as exc:  # noqa: BLE001 - the run is over (or goes on): its history is not worth failing it
            log.warning("Could not write %s in %s: %s", path, self.folder.describe(), exc)
            return None

    def _folder_refused(self, exc: DSSPermissionError, sentence: str) -> None:
        """Say once (``sentence``: the folder, then the error) that the folder refuses writes; none is tried again."""
        self._refused = exc
        log.warning(
            sentence + "; to stop using the folder, leave the run history folder empty.", self.folder.describe(), exc
        )

    def prune(self, run_id: str) -> Optional[RetentionPlan]:
        """Delete the files of the runs beyond the newest ``keep_runs`` (never ``run_id``, the run just written).

        One listing of the folder, then one delete per file (:func:`plan_retention` says which). Never raises: a
        failed listing or delete is logged, and what is left is deleted by the next run. Returns what was planned
        (None when the folder could not be listed).
        """
        if self._refused is not None or self.folder is None or self.keep_runs <= 0:
            return None
        where = self.folder.describe()
        try:
            listing = self.gateway.list_folder_files(self.folder.id)
        except Exception as exc:  # noqa: BLE001 - an old run left behind is not worth failing this one
            log.warning("Could not list %s to delete the runs beyond the newest %d: %s", where, self.keep_runs, exc)
            return None
        plan = plan_retention(listing, self.keep_runs, current_run_id=run_id)
        if plan.foreign:
            shown = ", ".join(plan.foreign[:_FOREIGN_SHOWN]) + (" …" if len(plan.foreign) > _FOREIGN_SHOWN else "")
            log.info(
                "Left %d file(s) under %s/ of %s that the plugin did not write (%s): retention only deletes the %s "
                "of runs/<run id>/ directories",
                len(plan.foreign),
                RUNS_DIR,
                where,
                shown,
                " and ".join(RUN_FILES),
            )
        deleted, failed, first_error = 0, [], None
        for index, path in enumerate(plan.delete):
            try:
                self.gateway.delete_folder_file(self.folder.id, path)
                deleted += 1
            except DSSPermissionError as exc:  # every other delete would be refused too: said once, stop
                self._folder_refused(exc, "Old runs are not deleted from %s: %s Its runs/ keeps growing")
                failed.extend(plan.delete[index:])
                break
            except Exception as exc:  # noqa: BLE001 - one warning below for all of them
                failed.append(path)
                first_error = first_error or exc
        if deleted:
            log.info(
                "Deleted %d file(s) of the %d run(s) beyond the newest %d in %s (the oldest was %s)",
                deleted,
                len(plan.expired),
                self.keep_runs,
                where,
                plan.expired[0],
            )
        if first_error is not None:
            log.warning(
                "Could not delete %d old file(s) in %s (the first: %s): %s; the next run tries again",
                len(failed),
                where,
                failed[0],
                first_error,
            )
        return plan

    def keeper(self, clock: Callable[[], float] = time.monotonic) -> RecordKeeper:
        """A ``record_sink`` saving the running record now and then (see :class:`RecordKeeper`)."""
        return RecordKeeper(self, clock)


class RecordKeeper:
    """``record_sink`` of a run: saves the running record soon after it changes, so a killed run can be resumed.

    Saves are coalesced, never dropped: a change arriving within ``interval_s`` of the last save waits for a later
    call (the runner calls its sink again ``SINK_FOLLOW_UP_S`` after the last call, changed or not). A record whose
    ``version`` did not move since the last save is not saved again. ``interval_s`` grows with what a save costs
    (a 2,000-recipe record is megabytes, rewritten twice), so saving never takes over a tenth of the run's time.
    The end of the run is saved once, by the caller (:meth:`RunHistory.save`), or by :meth:`flush` when the run
    stopped on an error: the keeper remembers the last record the run handed it.
    """

    def __init__(self, history: RunHistory, clock: Callable[[], float] = time.monotonic):
        self._history, self._clock = history, clock
        self._last_save: Optional[float] = None
        self._saved_version: Optional[int] = None
        self.interval_s = _SAVE_EVERY_S
        self.saves = 0
        self.latest = None

    def __call__(self, record) -> None:
        self.latest = record
        if _state(record) in FINAL_RUN_STATES:
            return  # the final record: saved once by the caller, with its report
        version = getattr(record, "version", None)  # a dict has none: always taken as changed
        if version is not None and version == self._saved_version:
            return  # nothing changed since the last save
        now = self._clock()
        if self._last_save is not None and now - self._last_save < self.interval_s:
            return  # held back, not dropped: a later call (at the latest the runner's follow-up) saves it
        self._last_save, self._saved_version = now, version
        try:
            self._history.save(_as_dict(record), final=False)
            self.saves += 1
        except Exception as exc:  # noqa: BLE001 - a failed intermediate save must not stop the run
            log.warning("Could not save the running record in %s: %s", self._history.variable or "the folder", exc)
        cost = self._clock() - now
        self.interval_s = min(_SAVE_MAX_GAP_S, max(_SAVE_EVERY_S, _SAVE_COST_RATIO * cost))

    def flush(self) -> Optional[RecordLocation]:
        """Save the last record the run handed over (when it stopped on an error); never raises."""
        if self.latest is None:
            return None
        data = _as_dict(self.latest)
        try:
            return self._history.save(data, final=data.get("state") in FINAL_RUN_STATES)
        except Exception as exc:  # noqa: BLE001 - the run's own error is the one to report
            log.warning("Could not save the record of the interrupted run: %s", exc)
            return None


def _as_dict(record) -> dict:
    return record if isinstance(record, dict) else record.to_dict()


def _state(record) -> Optional[str]:
    return record.get("state") if isinstance(record, dict) else getattr(record, "state", None)


def _started(record: dict) -> str:
    """Sort key of a record by start (ISO 8601 UTC text sorts in time order), then run id."""
    return f"{record.get('started_at') or ''}|{record.get('run_id') or ''}"


def run_and_keep(
    gateway, config: BuildConfig, record_name: str, *, on_event: Optional[EventConsumer] = None
) -> Tuple[dict, Optional[RecordLocation]]:
    """The macro's and the step's run: the last record as resume point and duration history, the new one kept.

    Returns the record and where it was kept (None for a dry run, which keeps nothing). The history folder, when one
    is chosen, is checked before anything runs; the record is kept whatever the end of the run, an error included.
    """
    gateway.check_access()  # URL, key and project first: their errors say what to fix
    history = RunHistory.open(gateway, record_name, config.record_folder, keep_runs=config.keep_runs)
    previous = history.load_last()
    record = run_keeping_record(gateway, config, history, previous_record=previous, on_event=on_event)
    data = record.to_dict()
    location = None if config.dry_run else history.save(data, final=True)
    return data, location


def run_keeping_record(
    gateway,
    config: BuildConfig,
    history: Optional[RunHistory],
    *,
    previous_record: Optional[dict] = None,
    on_event: Optional[EventConsumer] = None,
    cancel=None,
    also: Optional[Callable] = None,
):
    """Run the build while ``history`` keeps its record current (and ``also`` sees each version first).

    Shared by the macro, the step and the CLI. A dry run keeps nothing; a run that raises leaves its last record kept
    (the runner completed it before raising). The final save is the caller's: it comes after its own outputs.
    """
    keeper = None if (history is None or config.dry_run) else history.keeper()

    def sink(record) -> None:
        if also is not None:
            also(record)
        if keeper is not None:
            keeper(record)

    try:
        return run_build(
            gateway, config, previous_record=previous_record, on_event=on_event, cancel=cancel, record_sink=sink
        )
    except BaseException:
        if keeper is not None:
            keeper.flush()
        raise
