"""The library side of the plugin's shells (macros, scenario step, dynamic form choices).

``runnable.py``, ``step.py`` and ``resource/choices.py`` only fetch what DSS gives them (the form, a client, the
project key, the scenario handle) and call one function here, so everything they do is testable without DSS:
merging presets under form values, choosing the instance, keeping the last run record where the next run can
resume from it, and turning a run record into a report, scenario variables or a failure message.
Nothing here imports ``dataiku``; API keys never reach logs, records, reports or messages.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Tuple

from .config import BuildConfig, parse_build_config
from .dss import DSSGateway, connect
from .errors import ConfigError, FlowOrchestratorError
from .history import RecordLocation, RunHistory, last_run_variable
from .redaction import redact, redact_log_handlers
from .text import is_blank

log = logging.getLogger(__name__)

#: The library's own logger: entry points configure it, never the root logger DSS has already set up.
LIBRARY_LOGGER = "flow_orchestrator"
_LOG_FORMAT = "flow-orchestrator %(levelname)s %(message)s"


def configure_logging(level: int = logging.INFO) -> None:
    """Log the library's messages at ``level`` without touching the root logger: DSS configured it already, and its
    handlers write the macro's or the step's log. Only a process whose root logger has no handler gets one of ours
    (standard error). ``urllib3`` stays at WARNING so each HTTP connection is not logged. Safe to call at every run."""
    logger = logging.getLogger(LIBRARY_LOGGER)
    logger.setLevel(level)
    if not logging.getLogger().handlers and not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(_LOG_FORMAT))
        logger.addHandler(handler)
        logger.propagate = False
    logging.getLogger("urllib3").setLevel(logging.WARNING)


def add_report_item(scenario, object_ref: str, partition: str, item: dict) -> bool:
    """Add one item to the scenario's report. DSS may refuse items of a custom type: that is logged and the step goes
    on (a report item is a courtesy, never a reason to fail a step); False when refused."""
    try:
        scenario.add_report_item(object_ref, partition, item)
    except Exception as error:  # noqa: BLE001 - whatever DSS answers, the step's outcome must not depend on it
        log.warning("DSS did not accept the scenario report item for %s (%s): %s", object_ref, item.get("type"), error)
        return False
    return True


#: Name the build macro keeps its last run record under (``flow_orchestrator.last_run.build-pipeline``).
MACRO_RECORD_NAME = "build-pipeline"
#: Default record name of the Run recipes step (its ``record_name`` field).
STEP_RECORD_NAME = "run-recipes"

#: Form fields whose blank value is taken from the ``pipeline_policy`` preset (same names in both).
POLICY_FIELDS = (
    "max_parallel",
    "on_failure",
    "retries",
    "retry_backoff_s",
    "transient_patterns",
    "timeout_minutes",
    "keep_runs",
)
#: Fields of the optional steps around the build: propagate schemas first, verify the outputs after it.
SCHEMA_AND_VERIFY_FIELDS = (
    "propagate_schema_first",
    "verify_after_build",
    "expectations",
    "expected_columns",
    "min_rows",
)
#: Form fields of the Build pipeline macro that make its build configuration.
MACRO_FIELDS = (
    ("targets", "recipes", "zones", "select", "exclude", "build_mode", "strategy")
    + POLICY_FIELDS
    + ("dry_run", "resume_last_run", "record_folder", "partitions")
    + SCHEMA_AND_VERIFY_FIELDS
)
#: Step fields that make its build configuration (``recipes`` is the ordered pipeline).
STEP_FIELDS = (
    ("recipes", "zones", "reorder", "build_mode", "parallel")
    + POLICY_FIELDS
    + ("resume_last_run", "record_folder", "partitions")
    + SCHEMA_AND_VERIFY_FIELDS
)
#: PRESET fields: DSS resolves them to the preset's values (a dict).
PRESET_FIELDS = ("dss_instance", "pipeline_policy")
#: Fields of the step that only the shell side reads.
STEP_ONLY_FIELDS = ("record_name",)
#: The DSS parameter types this module can read each field as (the descriptor tests hold the forms to it).
FIELD_TYPES = {
    "targets": ("DATASETS",),
    "recipes": ("MULTISELECT", "STRINGS"),
    "zones": ("MULTISELECT",),
    "select": ("STRING",),
    "exclude": ("STRING",),
    "build_mode": ("SELECT",),
    "strategy": ("SELECT",),
    "max_parallel": ("INT",),
    "on_failure": ("SELECT",),
    "retries": ("INT",),
    "retry_backoff_s": ("DOUBLE", "INT"),
    "transient_patterns": ("STRINGS",),
    "timeout_minutes": ("DOUBLE", "INT"),
    "dry_run": ("BOOLEAN",),
    "resume_last_run": ("BOOLEAN",),
    "reorder": ("BOOLEAN",),
    "parallel": ("BOOLEAN",),
    "record_name": ("STRING",),
    "record_folder": ("MANAGED_FOLDER", "SELECT"),
    "keep_runs": ("INT",),
    "partitions": ("STRING",),
    "propagate_schema_first": ("BOOLEAN",),
    "verify_after_build": ("BOOLEAN",),
    "expectations": ("TEXTAREA",),
    "expected_columns": ("STRINGS",),
    "min_rows": ("INT",),
    "dss_instance": ("PRESET",),
    "pipeline_policy": ("PRESET",),
}
#: Values the ``dss_instance`` preset provides, with their DSS types.
INSTANCE_PRESET_TYPES = {
    "url": ("STRING",),
    "user_api_key": ("CREDENTIAL_REQUEST",),
    "verify_tls": ("BOOLEAN",),
    "project_key": ("STRING",),
}
#: The instance preset's per-user credential (each user's own API key), and the admin-only shared key (pluginParams).
PERSONAL_KEY_PARAM = "user_api_key"
SHARED_KEY_PARAM = "api_key"

#: Recipe states a run record uses, in the order the step reports them.
RECIPE_STATES = ("SUCCESS", "FAILED", "TIMED_OUT", "ABORTED", "SKIPPED", "NOT_RUN")
#: States that mean "this recipe itself went wrong" (skips and never-run are consequences).
FAILED_STATES = ("FAILED", "TIMED_OUT", "ABORTED")

_CAUSE_CHARS_SHOWN = 300  # per recipe cause in the step's failure message


class RecipesFailed(FlowOrchestratorError):
    """A run ended with failed, timed-out or aborted recipes; the message names each one and its cause."""


# --------------------------------------------------------------------------- forms and presets


def _preset_values(form: dict, field: str) -> dict:
    """The values of a PRESET field, ``{}`` when none is chosen; an unresolved preset is a clear error."""
    value = form.get(field)
    if is_blank(value):
        return {}
    if not isinstance(value, dict):
        raise ConfigError((field, f"expected the preset's values, got {type(value).__name__}; choose a preset again"))
    if value.get("mode") in ("PRESET", "INLINE") and set(value) <= {"mode", "name", "params"}:
        name = value.get("name") or "?"
        raise ConfigError(
            (
                field,
                f"the preset {name!r} was not resolved by DSS; check that it exists and that "
                "you may use it (plugin settings > presets)",
            )
        )
    return value


def merge_policy(form: dict, policy: Optional[dict]) -> dict:
    """The policy fields: a value typed in the form wins, a blank one takes the preset's; blanks stay out."""
    policy = policy or {}
    merged = {}
    for field in POLICY_FIELDS:
        value = form.get(field)
        if is_blank(value):
            value = policy.get(field)
        if not is_blank(value):
            merged[field] = value
    return merged


def _clean_list(value) -> list:
    """A list field without blank entries (the choices fallback has an empty value)."""
    if is_blank(value):
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        return value  # the schema check names the field and the expected type
    return [item.strip() if isinstance(item, str) else item for item in value if not is_blank(item)]


def raw_build_form(form: dict, fields: Iterable[str]) -> dict:
    """The form's build fields with the pipeline policy merged under them, blanks removed."""
    raw = {}
    for field in fields:
        if field in POLICY_FIELDS:
            continue
        value = form.get(field)
        if field in ("targets", "recipes", "zones", "transient_patterns", "expected_columns"):
            value = _clean_list(value)
        if not is_blank(value):
            raw[field] = value
    raw.update(merge_policy(form, _preset_values(form, "pipeline_policy")))
    return raw


#: Object pickers of this instance (DSS fills them from a Flow selection) and their dynamic twins, which list the
#: objects of the project the ``dss_instance`` preset names; with a preset chosen, only the twin is shown and read.
REMOTE_PICKERS = {"targets": "remote_targets", "source_dataset": "remote_source_dataset", "datasets": "remote_datasets"}


def with_picked_objects(form: Mapping) -> dict:
    """The form with each object picker holding what the user picked where the run acts: the twin's value when a
    DSS instance preset is chosen (the native picker lists this instance's objects, not the remote project's)."""
    picked = dict(form)
    instance = form.get("dss_instance")  # the preset's values, or DSS's {"mode": "NONE"} when none is chosen
    if is_blank(instance) or (isinstance(instance, dict) and instance.get("mode") == "NONE"):
        return picked
    for native, remote in REMOTE_PICKERS.items():
        if native in picked or remote in picked:
            picked[native] = picked.get(remote)
    return picked


def macro_build_config(form: dict) -> BuildConfig:
    """The Build pipeline macro's form as a validated config; raises ConfigError naming each bad field."""
    return parse_build_config(raw_build_form(with_picked_objects(form), MACRO_FIELDS), source="macro")


def step_form(step_config: Optional[dict], plugin_config: Optional[dict]) -> dict:
    """One dict of the step's parameters with presets resolved.

    DSS gives a step its plain parameters in ``get_step_config()`` and the resolved PRESET values only in
    ``get_plugin_config()["config"]`` (plugin-conventions §3.2), so presets are taken from there.
    """
    form = dict(step_config or {})
    resolved = (plugin_config or {}).get("config") or {}
    for field in PRESET_FIELDS:
        if isinstance(resolved.get(field), dict):
            form[field] = resolved[field]
    for field, value in resolved.items():
        form.setdefault(field, value)
    return with_picked_objects(form)


def step_build_config(form: dict) -> BuildConfig:
    """The Run recipes step's parameters as a validated config (the recipe list is an ordered pipeline)."""
    return parse_build_config(raw_build_form(form, STEP_FIELDS), source="step")


# --------------------------------------------------------------------------- instance


@dataclass(frozen=True)
class RemoteInstance:
    """The ``dss_instance`` preset: another instance to orchestrate. ``repr`` hides the key."""

    url: str
    api_key: str
    verify_tls: bool = True
    project_key: Optional[str] = None

    def __repr__(self) -> str:
        return f"RemoteInstance(url={self.url!r}, verify_tls={self.verify_tls}, project_key={self.project_key!r})"


def remote_instance(form: dict) -> Optional[RemoteInstance]:
    """The instance chosen in the form's ``dss_instance`` preset, or None for the local instance."""
    preset = _preset_values(form, "dss_instance")
    if not preset:
        return None
    url = str(preset.get("url") or "").strip()
    api_key = _personal_api_key(preset) or str(preset.get("api_key") or "").strip()
    problems = []
    if not url:
        problems.append(("dss_instance.url", "the DSS instance preset has no URL; fill it in the preset"))
    if not api_key:
        problems.append(
            (
                "dss_instance.user_api_key",
                "no API key for the DSS instance preset: enter your own personal API key of that instance in your "
                "profile (Profile > Credentials, the preset's 'Your API key' line), or ask an administrator to "
                "define a shared key in the plugin's settings",
            )
        )
    if problems:
        raise ConfigError(problems)
    verify = preset.get("verify_tls")
    return RemoteInstance(
        url=url.rstrip("/"),
        api_key=api_key,
        verify_tls=True if verify is None else bool(verify),
        project_key=str(preset.get("project_key") or "").strip() or None,
    )


def _personal_api_key(preset: dict) -> str:
    """The key the current user entered for the preset's ``user_api_key`` credential request (DSS hands per-user
    credentials to the plugin under the preset's ``__credentials``), or ``""``."""
    credentials = preset.get("__credentials")
    value = credentials.get(PERSONAL_KEY_PARAM) if isinstance(credentials, dict) else None
    if isinstance(value, dict):  # a credential handed as an object: its secret field
        value = next((value.get(k) for k in ("password", "value", "secret", "token") if value.get(k)), None)
    return str(value or "").strip()


def open_gateway(form: dict, *, client, project_key: str) -> DSSGateway:
    """The project to orchestrate: the preset's instance when one is chosen, else ``client`` (the current user)."""
    remote = remote_instance(form)
    if remote is None:
        return DSSGateway(client, project_key)
    log.info("Orchestrating project %s on %s", remote.project_key or project_key, remote.url)
    remote_client = connect(remote.url, remote.api_key, verify_tls=remote.verify_tls)
    return DSSGateway(remote_client, remote.project_key or project_key, dss_url=remote.url)


# --------------------------------------------------------------------------- running


def progress_reporter(progress_callback: Optional[Callable[[int], None]]) -> Callable:
    """An ``on_event`` consumer: logs each event's sentence and reports the finished-recipe count to DSS."""

    def on_event(event) -> None:
        if getattr(event, "message", None):
            log.info("%s", event.message)
        if progress_callback is not None and event.kind in ("recipe_finished", "run_finished"):
            progress_callback(event.done)

    return on_event


def _run(
    gateway: DSSGateway, config: BuildConfig, record_name: str, progress_callback=None
) -> Tuple[dict, Optional[RecordLocation]]:
    """Run the build with the last record as resume point and duration history; keep the new record.

    Returns the record and where it was kept (None for a dry run, which keeps nothing). The history folder, when one
    is chosen, is checked before anything runs; the record is kept whatever the end of the run, an error included.
    """
    from .pipeline import run_build

    gateway.check_access()  # URL, key and project first: their errors say what to fix
    history = RunHistory.open(gateway, record_name, config.record_folder, keep_runs=config.keep_runs)
    previous = history.load_last()
    keeper = None if config.dry_run else history.keeper()
    try:
        record = run_build(
            gateway, config, previous_record=previous, on_event=progress_reporter(progress_callback), record_sink=keeper
        )
    except BaseException:
        if keeper is not None:
            keeper.flush()  # the runner completed the record before raising: keep it, and its report
        raise
    data = record.to_dict()
    location = None if config.dry_run else history.save(data, final=True)
    return data, location


def run_build_macro(
    config: dict,
    plugin_config: Optional[dict] = None,
    *,
    client,
    project_key: str,
    progress_callback: Optional[Callable[[int], None]] = None,
) -> str:
    """The Build pipeline macro: validate, run (or plan), keep the record, return the HTML report.

    Invalid input raises before any job starts; failed recipes do not raise: the report shows them first.
    """
    from .report.html import render_build_report

    redact_log_handlers()  # the macro's log is shown in DSS
    build_config = macro_build_config(config)
    gateway = open_gateway(config, client=client, project_key=project_key)
    data, _ = _run(gateway, build_config, MACRO_RECORD_NAME, progress_callback)
    return render_build_report(data, dss_url=gateway.dss_url)


def max_progress(config: dict, plugin_config: Optional[dict] = None, *, client, project_key: str) -> Optional[int]:
    """How many recipes the macro will run (its progress target), or None when that cannot be known yet.

    Never raises: a bad form or an unreachable instance is reported by :func:`run_build_macro` instead.
    """
    from .pipeline import prepare_build

    try:
        build_config = macro_build_config(config)
        gateway = open_gateway(config, client=client, project_key=project_key)
        previous = None
        if build_config.resume_last_run:
            previous = RunHistory.open(gateway, MACRO_RECORD_NAME, build_config.record_folder).load_last()
        return len(prepare_build(gateway, build_config, previous_record=previous).recipes)
    except Exception as exc:  # noqa: BLE001 - progress is optional; run() reports the problem clearly
        log.info("No progress target: %s", exc)
        return None


def run_recipes_step(
    step_config: Optional[dict], plugin_config: Optional[dict], *, client, project_key: str, scenario
) -> None:
    """The Run recipes step: run the list, publish variables and report items, raise when recipes failed."""
    redact_log_handlers()  # DSS shows the step's log to everyone who can see the scenario
    form = step_form(step_config, plugin_config)
    build_config = step_build_config(form)
    record_name = str(form.get("record_name") or "").strip() or STEP_RECORD_NAME
    gateway = open_gateway(form, client=client, project_key=project_key)
    data, location = _run(gateway, build_config, record_name)
    location = location or RecordLocation(variable=last_run_variable(record_name))
    publish_step_outcome(scenario, data, project_key=gateway.project_key, location=location)
    message = failure_message(data, location=location)
    if message:
        raise RecipesFailed(message)


# --------------------------------------------------------------------------- step outcome


def state_counts(record: dict) -> Dict[str, int]:
    """Recipes per state, every state present (0 when none)."""
    counts = {state: 0 for state in RECIPE_STATES}
    for item in record.get("recipes") or []:
        counts[item.get("state") or "NOT_RUN"] = counts.get(item.get("state") or "NOT_RUN", 0) + 1
    return counts


def failed_recipes(record: dict) -> List[str]:
    return [item["name"] for item in record.get("recipes") or [] if item.get("state") in FAILED_STATES]


def scenario_variables(
    record: dict,
    *,
    project_key: str,
    variable: Optional[str] = None,
    location: Optional[RecordLocation] = None,
) -> dict:
    """The scenario variables the step sets: run state, counts per state, failed recipes, record location.

    With a history folder that got this run's files: the folder's id and the paths of the record and the report.
    """
    if location is not None and variable is None:
        variable = location.variable
    values = {
        "flow_orchestrator_state": record.get("state"),
        "flow_orchestrator_run_id": record.get("run_id"),
        "flow_orchestrator_failed_recipes": ", ".join(failed_recipes(record)),
        "flow_orchestrator_run_record_project": project_key,
        "flow_orchestrator_run_record_variable": variable,
    }
    if location is not None and location.folder is not None and location.record_path:
        values["flow_orchestrator_run_record_folder"] = location.folder.id
        values["flow_orchestrator_run_record_path"] = location.record_path
        if location.report_path:
            values["flow_orchestrator_run_report_path"] = location.report_path
    for state, count in state_counts(record).items():
        values[f"flow_orchestrator_{state.lower()}_count"] = count
    propagation = record.get("propagation")
    if isinstance(propagation, dict):
        values["flow_orchestrator_propagation_state"] = propagation.get("state")
        values["flow_orchestrator_schema_changed_datasets"] = ", ".join(propagation.get("changed_datasets") or [])
    verification = record.get("verification")
    if isinstance(verification, dict):
        counts = verification.get("counts") or {}
        values.update(
            {
                "flow_orchestrator_verify_state": verification.get("state"),
                "flow_orchestrator_verify_total": counts.get("total", 0),
                "flow_orchestrator_verify_failed_error": counts.get("failed_error", 0),
                "flow_orchestrator_verify_failed_warn": counts.get("failed_warn", 0),
                "flow_orchestrator_verify_skipped": counts.get("skipped", 0),
                "flow_orchestrator_verify_failures": "; ".join(
                    f"{r.get('dataset')} {r.get('kind')}: {r.get('message')}" for r in _failed_checks(verification)
                ),
            }
        )
    return values


def _failed_checks(verification: dict, severity: Optional[str] = None) -> List[dict]:
    return [
        r
        for r in verification.get("results") or []
        if isinstance(r, dict) and r.get("status") == "failed" and (severity is None or r.get("severity") == severity)
    ]


def check_report_items(record: dict, *, project_key: str) -> List[Tuple[str, str, dict]]:
    """One ``(object_ref, partition, item)`` per output check of "verify after build", for the step's report."""
    verification = record.get("verification")
    items = []
    for result in (verification.get("results") or []) if isinstance(verification, dict) else []:
        dataset = str(result.get("dataset") or "")
        object_ref = dataset if "." in dataset else f"{project_key}.{dataset}"
        items.append(
            (
                object_ref,
                "NP",
                {
                    "type": "FLOW_ORCHESTRATOR_EXPECTATION",
                    "kind": result.get("kind"),
                    "severity": result.get("severity"),
                    "status": result.get("status"),
                    "expected": result.get("expected"),
                    "subject": result.get("subject"),
                    "message": result.get("message"),
                },
            )
        )
    return items


def report_items(record: dict, *, project_key: str) -> List[Tuple[str, str, dict]]:
    """One ``(object_ref, partition, item)`` per recipe that ran or was skipped, for the step's report."""
    items = []
    for recipe in record.get("recipes") or []:
        if recipe.get("state") == "NOT_RUN":
            continue
        outputs = recipe.get("outputs") or []
        first = outputs[0] if outputs else {}
        owner = first.get("project_key") or project_key
        object_ref = f"{owner}.{first['id']}" if first.get("id") else f"{project_key}.{recipe['name']}"
        item = {
            "type": "FLOW_ORCHESTRATOR_RECIPE",
            "recipe": recipe.get("name"),
            "recipeType": recipe.get("type"),
            "state": recipe.get("state"),
            "attempts": recipe.get("attempts"),
            "jobIds": list(recipe.get("job_ids") or []),
            "durationS": recipe.get("duration_s"),
            "message": _recipe_cause(recipe),
        }
        items.append((object_ref, "NP", item))
    return items


def publish_step_outcome(
    scenario,
    record: dict,
    *,
    project_key: str,
    variable: Optional[str] = None,
    location: Optional[RecordLocation] = None,
) -> None:
    """Set the scenario variables and add one report item per recipe (failures never hide the variables)."""
    values = scenario_variables(record, project_key=project_key, variable=variable, location=location)
    scenario.set_scenario_variables(**values)
    for object_ref, partition, item in report_items(record, project_key=project_key):
        add_report_item(scenario, object_ref, partition, item)
    for object_ref, partition, item in check_report_items(record, project_key=project_key):
        add_report_item(scenario, object_ref, partition, item)
    verification = record.get("verification")
    if isinstance(verification, dict):
        for result in _failed_checks(verification, "WARN"):
            log.warning(
                "Output check %s %s (WARN): %s", result.get("dataset"), result.get("kind"), result.get("message")
            )


def _recipe_cause(recipe: dict) -> Optional[str]:
    state = recipe.get("state")
    if state == "SKIPPED":
        because = recipe.get("skipped_because") or []
        return ("skipped because " + ", ".join(because) + " failed") if because else "skipped"
    error = recipe.get("error")
    if isinstance(error, dict) and error.get("message"):
        return " ".join(str(error["message"]).split())
    if state == "TIMED_OUT":
        return "exceeded the time limit"
    if state == "ABORTED":
        return "aborted"
    return None


def failure_message(
    record: dict, *, variable: Optional[str] = None, location: Optional[RecordLocation] = None
) -> Optional[str]:
    """None when the run succeeded (or only planned); else one line per failed recipe with its cause.

    The last line says where the run record was kept (``location``, or just the project ``variable``).
    """
    state = record.get("state")
    if state in ("SUCCESS", "PLANNED"):
        return None
    counts = state_counts(record)
    total = sum(counts.values())
    bad = [r for r in record.get("recipes") or [] if r.get("state") in FAILED_STATES]
    propagation = record.get("propagation") if isinstance(record.get("propagation"), dict) else {}
    if propagation.get("state") in ("FAILED", "CANCELLED") and propagation.get("error"):
        return f"No recipe was run: {propagation['error']}"
    verification = record.get("verification") if isinstance(record.get("verification"), dict) else {}
    check_lines = _check_failure_lines(verification)
    head = f"{len(bad)} of {total} recipes did not succeed" if bad else f"The run ended {state}"
    extras = [f"{counts[s]} {s.lower().replace('_', ' ')}" for s in ("SKIPPED", "NOT_RUN") if counts[s]]
    if not bad and not extras and check_lines:
        return "\n".join(check_lines)
    lines = [head + (f" ({', '.join(extras)})" if extras else "") + ":"]
    for recipe in bad:
        cause = _recipe_cause(recipe) or "no cause reported"
        if len(cause) > _CAUSE_CHARS_SHOWN:
            cause = cause[:_CAUSE_CHARS_SHOWN] + "…"
        attempts = recipe.get("attempts") or 0
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        lines.append(f"- {recipe.get('name')} {recipe.get('state')}{tries}: {cause}")
    lines.extend(check_lines)
    where = (location or RecordLocation(variable=variable)).sentence()
    if where:
        lines.append(
            f"The run record is in {where}; fix the cause and run again with "
            "'Resume last run' to re-run only what did not succeed."
        )
    return "\n".join(lines)


def _check_failure_lines(verification: dict) -> List[str]:
    """The failed ERROR output checks, one line each (or why verification could not run)."""
    if verification.get("state") == "ERROR":
        return [str(verification.get("error") or "The outputs could not be verified")]
    failed = _failed_checks(verification, "ERROR")
    if not failed:
        return []
    total = (verification.get("counts") or {}).get("total", len(failed))
    lines = [f"{len(failed)} of {total} output checks failed:"]
    for result in failed:
        subject = f" [{result.get('subject')}]" if result.get("subject") else ""
        lines.append(f"- {result.get('dataset')} {result.get('kind')}{subject}: {result.get('message')}")
    return lines


# --------------------------------------------------------------------------- dynamic choices


def recipe_choices(gateway: DSSGateway) -> List[dict]:
    """Recipes in Flow order, labelled ``name (type → outputs)``."""
    from .pipeline import read_flow

    graph = read_flow(gateway)
    choices = []
    for name in graph.recipes:
        outputs = list(graph.output_keys(name))
        shown = ", ".join(outputs[:3]) + (f" +{len(outputs) - 3} more" if len(outputs) > 3 else "")
        kind = graph.recipe_type(name) or "recipe"
        choices.append({"value": name, "label": f"{name} ({kind} → {shown or 'no output'})"})
    return choices


def folder_choices(gateway: DSSGateway) -> List[dict]:
    """The project's managed folders (value: the folder id), after a first "none" choice."""
    items = sorted(gateway.list_managed_folders(), key=lambda f: str(f.get("name") or f.get("id") or "").lower())
    choices = [{"value": "", "label": "(none: keep the record in a project variable only)"}]
    for item in items:
        if item.get("id"):
            choices.append({"value": item["id"], "label": f"{item.get('name') or item['id']} ({item['id']})"})
    return choices


def dataset_choices(gateway: DSSGateway) -> List[dict]:
    """The project's datasets by name, labelled ``name (type)``."""
    items = sorted(gateway.list_datasets(), key=lambda d: str(d.get("name", "")).lower())
    return [
        {"value": d["name"], "label": f"{d['name']} ({d.get('type') or 'dataset'})"} for d in items if d.get("name")
    ]


def zone_choices(gateway: DSSGateway) -> List[dict]:
    """The project's Flow zones (the default zone first), labelled ``name (N recipes)``; the value is the zone id."""
    from .pipeline import read_flow

    graph = read_flow(gateway)
    counts: Dict[str, int] = {}
    for recipe in graph.recipes:
        zone_id = graph.zones.zone_of(recipe).id
        counts[zone_id] = counts.get(zone_id, 0) + 1
    return [
        {
            "value": zone.id,
            "label": f"{zone.name} ({counts.get(zone.id, 0)} recipe{'' if counts.get(zone.id) == 1 else 's'})",
        }
        for zone in graph.zones.zones
    ]


#: Which list each choice-backed form field shows.
CHOICE_PROVIDERS = {
    "recipes": ("recipes", recipe_choices),
    "zones": ("Flow zones", zone_choices),
    "datasets": ("datasets", dataset_choices),
    "remote_targets": ("datasets", dataset_choices),
    "remote_source_dataset": ("datasets", dataset_choices),
    "remote_datasets": ("datasets", dataset_choices),
    "record_folder": ("managed folders", folder_choices),
}


def form_choices(parameter_name: str, config: Optional[dict], *, client, project_key: str) -> dict:
    """The ``{"choices": [...]}`` answer for a form field; never raises (a readable placeholder instead)."""
    what, provider = CHOICE_PROVIDERS.get(parameter_name, (parameter_name, None))
    try:
        if provider is None:
            raise ValueError(f"no list is defined for the field {parameter_name!r}")
        gateway = open_gateway(config or {}, client=client, project_key=project_key)
        return {"choices": provider(gateway)}
    except Exception as exc:  # noqa: BLE001 - the form must keep working whatever happened
        return {"choices": [unavailable_choice(what, exc)]}


def unavailable_choice(what: str, exc: BaseException) -> dict:
    """The one choice shown when a list cannot be read: empty value, the reason as label."""
    reason = " ".join((redact(str(exc)) or "").split()) or exc.__class__.__name__
    if len(reason) > 160:
        reason = reason[:160] + "…"
    return {"value": "", "label": f"(could not list {what}: {reason})"}
