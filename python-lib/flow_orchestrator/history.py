"""The run history: where the Build pipeline macro, the Run recipes step and the command line keep their run records.

- **Project variable** (macro and step, always): the last record, compacted, in the local project variable
  ``flow_orchestrator.last_run.<record name>``, rewritten while the run goes and at its end. Scenario variables and
  links point at it, and it is what *Resume last run* reads when no folder is chosen.
- **Managed folder** (when one is chosen: the ``record_folder`` field, ``--record-folder``), in that folder::

      runs/<run_id>/run-record.json   the full record: logs, excerpts and attempt history included
      runs/<run_id>/report.html       the HTML report of the run (the one the macro returns, as a whole page)
      last_run/<record name>.json     the record *Resume last run* reads (the same JSON as the run's record)

  The two JSON files are rewritten while the run goes (at most every 10 s) and at its end, whatever the end
  (success, failure, cancellation, or an error that stopped the run); the report is written at the end. A run that
  was only planned (dry run) writes nothing. Records carry no secret: API keys and tickets are redacted when the
  record is made.

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
from typing import Callable, List, Optional

from .config import is_blank
from .errors import ConfigError, DSSAccessError
from .port import TransientAPIError

log = logging.getLogger(__name__)

#: Local project variable prefix holding a component's last run record (compact JSON text).
LAST_RUN_VARIABLE_PREFIX = "flow_orchestrator.last_run."
#: Folders and files of the run history inside the chosen managed folder.
RUNS_DIR = "runs"
LAST_RUN_DIR = "last_run"
RECORD_FILE = "run-record.json"
REPORT_FILE = "report.html"

_ERROR_CHARS_KEPT = 500  # per recipe error in the variable's record: enough to recognise it, small enough to store
_SAVE_EVERY_S = 10.0  # shortest interval between two saves of a running record
#: Run states of a record the run will not change any more (its report is written then).
FINAL_STATES = ("SUCCESS", "FAILED", "CANCELLED")
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
    from .report.html import html_document, render_build_report

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

    def __init__(self, gateway, record_name: str, folder: Optional[RecordFolder] = None, *, variable: bool = True):
        self.gateway = gateway
        self.record_name = record_name
        self.folder = folder
        self.variable = last_run_variable(record_name) if variable else None

    @classmethod
    def open(
        cls,
        gateway,
        record_name: str,
        folder: Optional[str] = None,
        *,
        variable: bool = True,
        folder_field: str = "record_folder",
        name_field: str = "record_name",
    ) -> RunHistory:
        """Check the chosen folder (and that the record name can be a file name in it) before anything runs."""
        chosen = None
        if not is_blank(folder):
            chosen = resolve_record_folder(gateway, folder, field=folder_field)
            check_record_name(record_name, field=name_field)
            log.info("Keeping the run history in %s", chosen.describe())
        return cls(gateway, record_name, chosen, variable=variable)

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

        A folder write that fails is logged and left out of the returned location (the run's outcome stands); a
        failed variable write raises, as it always did.
        """
        record_path = report_path = None
        if self.folder is not None and record.get("run_id"):
            record_path, report_path = self._save_to_folder(record, final)
        if self.variable:
            save_last_record(self.gateway, self.record_name, record)
        return RecordLocation(self.variable, self.folder, record_path, report_path)

    def _save_to_folder(self, record: dict, final: bool):
        """(record path, report path) of what was written; each file on its own, so one failure loses one file."""
        run_id = str(record["run_id"])
        text = (json.dumps(record, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
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
        try:
            self.gateway.put_folder_file(self.folder.id, path, content())
            return path
        except Exception as exc:  # noqa: BLE001 - the run is over (or goes on): its history is not worth failing it
            log.warning("Could not write %s in %s: %s", path, self.folder.describe(), exc)
            return None

    def keeper(self, clock: Callable[[], float] = time.monotonic) -> RecordKeeper:
        """A ``record_sink`` saving the running record now and then (see :class:`RecordKeeper`)."""
        return RecordKeeper(self, clock)


class RecordKeeper:
    """``record_sink`` of a run: saves the running record at most every 10 s, so a killed run can still be resumed.

    The end of the run is saved once, by the caller (:meth:`RunHistory.save`), or by :meth:`flush` when the run
    stopped on an error: the keeper remembers the last record the run handed it.
    """

    def __init__(self, history: RunHistory, clock: Callable[[], float] = time.monotonic):
        self._history, self._clock = history, clock
        self._last_save: Optional[float] = None
        self.latest = None

    def __call__(self, record) -> None:
        self.latest = record
        if _state(record) in FINAL_STATES:
            return  # the final record: saved once by the caller, with its report
        now = self._clock()
        if self._last_save is not None and now - self._last_save < _SAVE_EVERY_S:
            return
        self._last_save = now
        try:
            self._history.save(_as_dict(record), final=False)
        except Exception as exc:  # noqa: BLE001 - a failed intermediate save must not stop the run
            log.warning("Could not save the running record in %s: %s", self._history.variable or "the folder", exc)

    def flush(self) -> Optional[RecordLocation]:
        """Save the last record the run handed over (when it stopped on an error); never raises."""
        if self.latest is None:
            return None
        data = _as_dict(self.latest)
        try:
            return self._history.save(data, final=data.get("state") in FINAL_STATES)
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
