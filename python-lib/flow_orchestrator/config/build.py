"""Parsing build configs: one path for the macro form, the scenario step and the command line.

Raw input (a form's config dict, a step config, argparse results) is validated once against the JSON Schemas in
``resource/schemas/`` and turned into the :mod:`.model` dataclasses; every error names its field.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import List, Mapping, Optional, Sequence, Tuple

from ..errors import ConfigError
from .model import (
    BUILD_MODE_LABELS,
    SOURCES,
    BuildConfig,
    RunOptions,
)
from .validation import (
    clean_values,
    field_label,
    property_types,
    schema_problems,
    schema_properties,
    split_on,
)

# ---------------------------------------------------------------------------------------------------------------
# Parsing: one path for the macro form, the scenario step and the command line.

_SCHEMA = "build-config.schema.json"
#: How a plain text given for a list field is split (any other is one entry).
_LIST_SPLITS = {
    "targets": split_on(r"[,\s]+"),
    "recipes": split_on(r"[,\s]+"),
    "transient_patterns": str.splitlines,
    "expected_columns": split_on(r"[,\n]+"),
}
#: The verification fields, checked with the Verify outputs rules (spec problems are named by their JSON path).
_VERIFY_FIELDS = ("expectations", "expected_columns", "min_rows")

#: The command-line flags not spelled ``--`` + the field with dashes (errors name the flag the user typed).
_CLI_FLAGS = {
    "build_mode": "--mode",
    "retry_backoff_s": "--retry-backoff",
    "transient_patterns": "--transient-pattern",
    "timeout_s": "--timeout",
    "project_key": "--project",
    "verify_after_build": "--verify",
    "expected_columns": "--expect-columns",
}


def _cli_flag(key: str) -> str:
    return _CLI_FLAGS.get(key, "--" + key.replace("_", "-"))


def _field_types():
    """Each build field's JSON types over every source (how a raw value is cleaned follows from them)."""
    return property_types(_SCHEMA, ("common",) + SOURCES)


def build_fields(source: str) -> frozenset:
    """The build fields a source may give (its schema's properties): what a shell passes on from its own input."""
    return frozenset(schema_properties(_SCHEMA, source))


def parse_build_config(raw: Optional[Mapping], source: str = "macro") -> BuildConfig:
    """Validate a macro form, a step config or argparse results and turn them into a :class:`BuildConfig`.

    Values are accepted the way DSS sends them: missing keys and ``None`` mean "default", integers may arrive as
    floats, blank entries of STRINGS lists are dropped. ``source`` says which field names to expect:

    - ``"macro"``: ``targets, recipes, zones, select, exclude, build_mode, strategy, max_parallel, on_failure, retries,
      retry_backoff_s, transient_patterns, timeout_minutes (0 = none), dry_run, resume_last_run, reorder``, and
      ``propagate_schema_first``, ``verify_after_build`` with its ``expectations`` (JSON spec text),
      ``expected_columns`` and ``min_rows`` (0 = not checked; all three ignored unless ``verify_after_build``),
      ``record_folder`` (the id of a managed folder keeping the run history) and ``keep_runs`` (how many runs it
      keeps, 0 = all);
    - ``"step"``: the same, with ``recipes`` an ordered list and ``parallel`` (false: one recipe at a time);
    - ``"cli"``: argparse names: ``project, mode, timeout`` (seconds), ``select``/``exclude`` lists, ``all``,
      ``ordered``; it also reads back :func:`config_to_dict` output (``build_mode``, ``timeout_s``, ``project_key``).

    :raises ConfigError: listing every problem, each with the field as the user knows it
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, not {source!r}")
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(("", f"the configuration must be a JSON object, not {type(raw).__name__}"))
    values = _clean(raw)
    found = schema_problems(values, _SCHEMA, source, describe=_build_mode_message)
    problems = [(_field(source, path), message) for path, message in found]
    problems += [(_field(source, [key]), message) for key, message in _semantic_problems(values, source)]
    problems += [(_field(source, [key]), message) for key, message in _empty_selection_problems(raw, source)]
    mistyped = {path[0] for path, _ in found if path}
    problems += _verification_problems(values, source, skip=mistyped)  # one message per slip
    if problems:
        raise ConfigError(problems)
    return _build(values, source)


def config_to_dict(cfg: BuildConfig) -> dict:
    """The config as flat JSON for the run record (no secrets); :func:`config_from_dict` reads it back.

    Every leaf field of the model under its flat key (``field.metadata["key"]``, else its name), tuples as lists.
    """
    flat: dict = {}
    for item in dataclasses.fields(cfg):
        value = getattr(cfg, item.name)
        if dataclasses.is_dataclass(value):
            flat.update(config_to_dict(value))
        else:
            flat[item.metadata.get("key", item.name)] = list(value) if isinstance(value, tuple) else value
    return flat


def config_from_dict(data: Mapping) -> BuildConfig:
    """Inverse of :func:`config_to_dict` (e.g. the ``config`` of a previous run record), validated again."""
    return parse_build_config(data, source="cli")


def build_expectations(cfg: BuildConfig, output_datasets: Sequence[str]):
    """The expectations of "verify after build": the spec, plus the simple fields applied to ``output_datasets``.

    Returns ``(ExpectationSet, default)``: with no spec nor simple field, ``default`` is True and every output is
    expected to exist and to have been built within this run. The config was validated when parsed.
    """
    from ..expectations.spec import ExpectationSet, expectations_from_form
    from .verify import parse_verify_config

    datasets = list(dict.fromkeys(output_datasets))
    asked = bool(cfg.expectations) or bool(cfg.expected_columns) or cfg.min_rows is not None
    if not asked:
        if not datasets:
            return ExpectationSet(), True
        return expectations_from_form(datasets, within_run=True), True
    if not datasets and not cfg.expectations:
        return ExpectationSet(), False
    form = {
        "datasets": datasets,
        "expectations": cfg.expectations,
        "expected_columns": list(cfg.expected_columns),
        "min_rows": cfg.min_rows,
    }
    if not datasets:
        form.update(expected_columns=[], min_rows=None)  # nothing to apply them to; the spec alone is checked
    return parse_verify_config(form).expectations, False


def normalize_build_mode(value: str) -> str:
    """``RECURSIVE_BUILD`` from ``recursive-build``, ``recursive build`` or its label ``Build only modified``."""
    text = value.strip()
    key = re.sub(r"[\s-]+", "_", text).upper()
    if key in BUILD_MODE_LABELS:
        return key
    for mode, label in BUILD_MODE_LABELS.items():
        if text.lower() == label.lower():
            return mode
    return text


def _normalize_choice(value: str) -> str:
    """``fail-fast`` from ``FAIL_FAST`` or ``fail fast``; ``per-recipe`` from ``per_recipe``."""
    return re.sub(r"[\s_]+", "-", value.strip()).lower()


def _clean(raw: Mapping) -> dict:
    """The raw values as the schema describes them (nulls and blanks dropped, texts made lists, numbers, booleans),
    with build modes and choices in their canonical spelling; wrong types are left for the schema to report."""
    return clean_values(
        raw,
        _field_types(),
        split=_LIST_SPLITS,
        keep_spaces=frozenset({"transient_patterns"}),
        normalize={
            "build_mode": normalize_build_mode,
            "mode": normalize_build_mode,
            "strategy": _normalize_choice,
            "on_failure": _normalize_choice,
        },
    )


def _build_mode_message(error, path: list) -> Optional[str]:
    """An unknown build mode is answered with every mode and its label in the DSS interface."""
    if path and path[0] in ("build_mode", "mode") and error.validator == "enum":
        return "unknown build mode {!r}; use one of: {}".format(
            error.instance, ", ".join(f'{m} ("{label}")' for m, label in BUILD_MODE_LABELS.items())
        )
    return None


def _semantic_problems(values: Mapping, source: str) -> List[Tuple[str, str]]:
    """Rules JSON Schema cannot say well: regular expressions, duplicates, contradictory fields."""
    problems: List[Tuple[str, str]] = []
    patterns = values.get("transient_patterns")
    if isinstance(patterns, list):
        for index, pattern in enumerate(patterns):
            if not isinstance(pattern, str):
                continue
            try:
                re.compile(pattern)
            except re.error as exc:
                problems.append(
                    ("transient_patterns", f"entry {index + 1}, {pattern!r}, is not a valid regular expression ({exc})")
                )
    recipes = values.get("recipes")
    if _is_ordered(values, source) and isinstance(recipes, list):
        seen = set()
        for name in recipes:
            if isinstance(name, str) and name in seen:
                problems.append(("recipes", f"{name!r} is listed more than once; list each recipe once"))
            seen.add(name)
    if values.get("all") is True and any(values.get(k) for k in ("targets", "recipes", "select", "zones")):
        problems.append(
            ("all", "'all' selects every recipe: leave targets, recipes, zones and select empty, or untick it")
        )
    low, high = values.get("retry_backoff_s"), values.get("retry_backoff_max_s")
    if _is_number(low) and _is_number(high) and high < low:
        problems.append(("retry_backoff_max_s", f"must be at least retry_backoff_s ({low}) (got {high})"))
    low, high = values.get("poll_min_s"), values.get("poll_max_s")
    if _is_number(low) and _is_number(high) and high < low:
        problems.append(("poll_max_s", f"must be at least poll_min_s ({low}) (got {high})"))
    spec = values.get("partitions")
    if isinstance(spec, str):
        problems.extend(("partitions", message) for message in partition_spec_problems(spec))
    return problems


#: The selection fields, and what each one names.
_SELECTION_FIELDS = {
    "targets": "dataset",
    "recipes": "recipe",
    "zones": "Flow zone",
    "select": "expression",
    "exclude": "expression",
}


def _empty_selection_problems(raw: Mapping, source: str) -> List[Tuple[str, str]]:
    """Selection fields given but naming nothing (``--recipes ""`` from an unset variable, a Selection of ``,``).

    "Everything" is asked for by ``all`` or by leaving every field out, never by an empty value: an empty list that
    silently built the whole Flow is the worst outcome of a CI typo. A form field left blank is not given (DSS sends
    None, "" or [] for it); on the command line any value given counts.
    """
    problems: List[Tuple[str, str]] = []
    for key, kind in _SELECTION_FIELDS.items():
        value = raw.get(key)
        items = [value] if isinstance(value, str) else list(value) if isinstance(value, (list, tuple)) else None
        if not items:
            continue
        texts = [item for item in items if isinstance(item, str)]
        if len(texts) < len(items):
            continue  # not text: the schema names the type problem
        if source != "cli" and not any(text.strip() for text in texts):
            continue  # a blank form field: not given
        if any(term for text in texts for term in re.split(r"[,\s]+", text)):
            continue
        shown = " ".join(repr(text) for text in texts)
        if source == "cli":
            fix = (
                f"name at least one {kind}; to build every recipe of the Flow give --all or no selection option"
                if key != "exclude"
                else "name what to leave out, or drop --exclude"
            )
            problems.append((key, f"{shown} names no {kind} (an unset variable?): {fix}"))
        else:
            if key == "exclude":
                problems.append((key, f"{shown} names no {kind}, so it excludes nothing: leave the field empty"))
            else:
                fix = "leave the field empty (and every other selection field) to build every recipe"
                problems.append((key, f"{shown} names no {kind}, so it selects nothing: {fix}"))
    return problems


def partition_spec_problems(spec: str) -> List[str]:
    """What is wrong with a DSS partition spec: items separated by commas, none empty; a range ``A/B`` has both
    ends; several dimensions of one partition are joined by ``|``, none empty."""
    problems: List[str] = []
    items = spec.split(",")
    for index, item in enumerate(items, 1):
        text = item.strip()
        if not text:
            problems.append(
                f"item {index} of {spec!r} is empty: give partition ids separated by commas, "
                "e.g. 2026-12-05 or 2026-12-01,2026-12-02"
            )
            continue
        if text.count("/") > 1 or (text.count("/") == 1 and not all(end.strip() for end in text.split("/"))):
            problems.append(f"{text!r} is not a range: write FIRST/LAST, e.g. 2026-12-01/2026-12-05")
        elif any(not value.strip() for value in text.split("|")):
            problems.append(f"{text!r} has an empty dimension value: join the values of each dimension with |")
    return problems


def normalize_partition_spec(spec) -> Optional[str]:
    """A validated spec with the blanks around its items removed (None for none)."""
    if not isinstance(spec, str) or not spec.strip():
        return None
    return ",".join(item.strip() for item in spec.split(","))


def _verification_problems(values: Mapping, source: str, skip=frozenset()) -> List[Tuple[str, str]]:
    """The verification fields checked as the Verify outputs macro checks them, before anything runs.

    Only when ``verify_after_build`` is on: the fields are hidden (and ignored) otherwise. Spec problems are named
    ``expectations (JSON path)``; the simple fields are checked against a stand-in dataset, since the plan's outputs
    are not known yet. Fields in ``skip`` already have a type problem reported.
    """
    if values.get("verify_after_build") is not True:
        return []
    from .verify import parse_verify_config

    names = {key: (_cli_flag(key) if source == "cli" else key) for key in _VERIFY_FIELDS}
    spec = values.get("expectations")
    if isinstance(spec, Mapping):
        spec = json.dumps(spec)
    form = {
        "datasets": ["the plan's outputs"],
        "expectations": spec,
        "expected_columns": values.get("expected_columns"),
        "min_rows": values.get("min_rows"),
    }
    form.update({key: None for key in _VERIFY_FIELDS if key in skip})
    try:
        parse_verify_config(form, names)
    except ConfigError as error:
        redundant = f"{names['expectations']} (expectations)"  # a JSON syntax error is about the whole text
        return [(names["expectations"] if field == redundant else field, message) for field, message in error.problems]
    return []


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_ordered(values: Mapping, source: str) -> bool:
    return source == "step" or values.get("ordered") is True


def _field(source: str, path: list) -> str:
    """The field as the user knows it: the form field name, or the command-line flag."""
    return field_label(path, _cli_flag if source == "cli" else str)


def _build(values: Mapping, source: str) -> BuildConfig:
    """The model from validated, cleaned values: each leaf field from its flat key, else its default.

    Only the source variants and the defaults that follow another field are spelled out here; a new field of the
    model needs nothing (its schema property validates it, its type converts it).
    """
    flat = dict(values)
    defaults = RunOptions()
    if source == "cli":
        flat["build_mode"] = values.get("mode", values.get("build_mode", defaults.build_mode))  # the flag first
        timeout = values.get("timeout", values.get("timeout_s"))
        flat["project_key"] = values.get("project", values.get("project_key"))
    else:
        minutes = values.get("timeout_minutes")
        timeout = None if minutes is None else float(minutes) * 60.0
    flat["timeout_s"] = float(timeout) if timeout else None
    if source == "step" and values.get("parallel", True) is False:
        flat["max_parallel"] = 1
    flat["ordered"] = _is_ordered(values, source)
    backoff_s = float(values.get("retry_backoff_s", 0.0))
    flat.setdefault("retry_backoff_max_s", max(defaults.retry.backoff_max_s, backoff_s))
    flat.setdefault("poll_max_s", max(defaults.poll_max_s, float(values.get("poll_min_s", 0.0))))
    flat["partitions"] = normalize_partition_spec(values.get("partitions"))
    if values.get("job_overhead_s") is not None:
        flat["job_overhead_s"] = float(values["job_overhead_s"])
    for key in _VERIFY_FIELDS:
        flat.pop(key, None)
    flat.update(_verification_settings(values))
    return _model(BuildConfig, flat)


def _model(cls, flat: Mapping):
    """An instance of a model dataclass from flat values: nested models recursively, tuples and floats as declared."""
    kwargs = {}
    for item in dataclasses.fields(cls):
        default = item.default_factory() if item.default_factory is not dataclasses.MISSING else item.default
        if dataclasses.is_dataclass(default):
            kwargs[item.name] = _model(type(default), flat)
            continue
        key = item.metadata.get("key", item.name)
        if key not in flat:
            continue
        value = flat[key]
        if isinstance(default, tuple):
            value = tuple(value)
        elif isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        kwargs[item.name] = value
    return cls(**kwargs)


def _verification_settings(values: Mapping) -> dict:
    """The verification fields of :class:`BuildConfig`; blank (and ignored) unless ``verify_after_build``."""
    if values.get("verify_after_build") is not True:
        return {"verify_after_build": False}
    spec = values.get("expectations")
    if isinstance(spec, Mapping):
        spec = json.dumps(spec, ensure_ascii=False)
    elif isinstance(spec, str) and not spec.strip():
        spec = None
    min_rows = values.get("min_rows")
    return {
        "verify_after_build": True,
        "expectations": spec,
        "expected_columns": tuple(values.get("expected_columns", ())),
        "min_rows": int(min_rows) if min_rows else None,  # 0: not checked, as on the Verify outputs form
    }


__all__ = [
    "build_fields",
    "parse_build_config",
    "config_to_dict",
    "config_from_dict",
    "normalize_build_mode",
    "normalize_partition_spec",
    "partition_spec_problems",
    "build_expectations",
]
