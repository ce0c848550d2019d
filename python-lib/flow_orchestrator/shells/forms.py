"""The plugin's forms mapped to the config model: presets under form values, remote instances, the gateway.

Shell layer: the macros and steps (:mod:`.macros`, :mod:`.steps`) and the form choices start here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterable, Mapping, Optional

from ..config import BuildConfig, parse_build_config
from ..dss import DSSGateway, connect
from ..errors import ConfigError
from ..text import is_blank

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
    ("targets", "recipes", "zones", "select", "exclude", "build_mode", "strategy", "job_overhead_s")
    + POLICY_FIELDS
    + ("dry_run", "resume_last_run", "record_folder", "partitions")
    + SCHEMA_AND_VERIFY_FIELDS
)


#: Step fields that make its build configuration (``recipes`` is the ordered pipeline).
STEP_FIELDS = (
    ("recipes", "zones", "reorder", "build_mode", "strategy", "job_overhead_s", "parallel")
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
    "job_overhead_s": ("DOUBLE", "INT"),
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


def _clean_form_list(value) -> list:
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
            value = _clean_form_list(value)
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
    api_key = _personal_api_key(preset) or str(preset.get(SHARED_KEY_PARAM) or "").strip()
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


__all__ = [
    "FIELD_TYPES",
    "INSTANCE_PRESET_TYPES",
    "LIBRARY_LOGGER",
    "MACRO_FIELDS",
    "PERSONAL_KEY_PARAM",
    "POLICY_FIELDS",
    "PRESET_FIELDS",
    "REMOTE_PICKERS",
    "RemoteInstance",
    "SCHEMA_AND_VERIFY_FIELDS",
    "SHARED_KEY_PARAM",
    "STEP_FIELDS",
    "STEP_ONLY_FIELDS",
    "configure_logging",
    "macro_build_config",
    "merge_policy",
    "open_gateway",
    "raw_build_form",
    "remote_instance",
    "step_build_config",
    "step_form",
    "with_picked_objects",
]
