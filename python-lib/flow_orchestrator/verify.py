"""Output expectations: parse them (form fields or a JSON spec), evaluate them against facts, capture them.

Pure logic: the adapter reads what :func:`needed_facts` asks for from DSS (schemas, last builds, row counts, data-quality
rule results) into :class:`DatasetFacts`, and :func:`evaluate` judges them, one result per expectation with the reason
for each failure in plain words. The JSON spec format is ``resource/schemas/expectations.schema.json``.
"""

from __future__ import annotations

import difflib
import functools
import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from .errors import ConfigError
from .resources import schema_path

SEVERITIES = ("ERROR", "WARN")
#: Expectation kinds, in the order a dataset's results are listed.
KINDS = ("exists", "built", "columns", "min_rows", "max_rows", "not_empty", "dss_rules")
#: DSS column storage types (9.0.5 enum, plus ``dateonly`` / ``datetimenotz`` of DSS 13+).
KNOWN_COLUMN_TYPES = (
    "string", "int", "bigint", "smallint", "tinyint", "float", "double", "boolean", "date", "dateonly",
    "datetimenotz", "geopoint", "geometry", "array", "map", "object",
)  # fmt: skip
#: Names people write for DSS types; an unknown type is rejected only when it looks like a slip for a known one.
_TYPE_ALIASES = {
    "integer": "int or bigint", "long": "bigint", "str": "string", "text": "string", "varchar": "string",
    "bool": "boolean", "datetime": "date", "timestamp": "date", "number": "double", "decimal": "double",
}  # fmt: skip
SPEC_VERSION = 1
ROW_COUNT_METRIC = "records:COUNT_RECORDS"

_SCHEMA_FILE = "expectations.schema.json"


@functools.lru_cache(maxsize=1)
def expectations_schema() -> Dict[str, Any]:
    """The JSON Schema of expectation specs (the plugin's ``resource/schemas/``, or the installed package's copy)."""
    return json.loads(schema_path(_SCHEMA_FILE).read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class ColumnSpec:
    """One expected column; ``type`` None means any type."""

    name: str
    type: Optional[str] = None

    def to_spec(self) -> Dict[str, str]:
        return {"name": self.name, "type": self.type} if self.type else {"name": self.name}

    def text(self) -> str:
        return f"{self.name}:{self.type}" if self.type else self.name


@dataclass(frozen=True)
class ColumnsExpectation:
    mode: str = "exact"  # "exact": these columns and no other; "contains": at least these
    ordered: bool = False
    items: Tuple[ColumnSpec, ...] = ()


@dataclass(frozen=True)
class BuiltExpectation:
    success: bool = True  # the last build must have succeeded
    after: Optional[str] = None  # ISO text as written in the spec
    after_ms: Optional[int] = None  # the same, in epoch milliseconds
    within_run: bool = False  # the last build must have started during the current run


@dataclass(frozen=True)
class Expectation:
    """One thing to check on one dataset.

    ``value`` depends on ``kind``: bool for exists / not_empty / dss_rules, int for min_rows / max_rows,
    :class:`BuiltExpectation` for built, :class:`ColumnsExpectation` for columns.
    """

    dataset: str
    kind: str
    value: Any = True
    severity: str = "ERROR"

    def describe(self) -> str:
        """What is expected, in words (a report's "expectation" column)."""
        value = self.value
        if self.kind == "exists":
            return "exists" if value else "does not exist"
        if self.kind == "built":
            parts = ["last build succeeded" if value.success else "was built"]
            if value.after:
                parts.append(f"started at or after {value.after}")
            if value.within_run:
                parts.append("during this run")
            return ", ".join(parts)
        if self.kind == "columns":
            names = ", ".join(item.text() for item in value.items)
            return "{} {}{}".format(
                "has exactly the columns" if value.mode == "exact" else "has the columns",
                names,
                " in this order" if value.ordered else "",
            )
        if self.kind == "min_rows":
            return f"at least {value} rows"
        if self.kind == "max_rows":
            return f"at most {value} rows"
        if self.kind == "not_empty":
            return "has at least one row"
        return "its DSS data-quality rules pass"

    def to_spec_value(self) -> Any:
        """This expectation as it is written in a JSON spec (its severity included when not ERROR)."""
        if self.kind == "built":
            written: Dict[str, Any] = {"success": self.value.success}
            if self.value.after:
                written["after"] = self.value.after
            if self.value.within_run:
                written["within_run"] = True
            if self.severity != "ERROR":
                written["severity"] = self.severity
            return written
        if self.kind == "columns":
            written = {
                "mode": self.value.mode,
                "ordered": self.value.ordered,
                "items": [item.to_spec() for item in self.value.items],
            }
            if self.severity != "ERROR":
                written["severity"] = self.severity
            return written
        if self.severity != "ERROR":
            return {"value": self.value, "severity": self.severity}
        return self.value


@dataclass(frozen=True)
class ExpectationSet:
    """Expectations grouped by dataset (first-seen order), kinds in :data:`KINDS` order; one per (dataset, kind)."""

    expectations: Tuple[Expectation, ...] = ()
    description: Optional[str] = None

    @property
    def datasets(self) -> Tuple[str, ...]:
        return tuple(dict.fromkeys(item.dataset for item in self.expectations))

    @property
    def is_empty(self) -> bool:
        return not self.expectations

    def for_dataset(self, dataset: str) -> Tuple[Expectation, ...]:
        return tuple(item for item in self.expectations if item.dataset == dataset)

    def get(self, dataset: str, kind: str) -> Optional[Expectation]:
        return next((item for item in self.expectations if item.dataset == dataset and item.kind == kind), None)

    def to_spec(self) -> Dict[str, Any]:
        """A JSON spec (valid against the schema) that parses back to this set."""
        spec: Dict[str, Any] = {"version": SPEC_VERSION}
        if self.description:
            spec["description"] = self.description
        spec["datasets"] = {
            dataset: {item.kind: item.to_spec_value() for item in self.for_dataset(dataset)}
            for dataset in self.datasets
        }
        return spec


def _ordered(expectations: Iterable[Expectation]) -> Tuple[Expectation, ...]:
    """Keep the last expectation per (dataset, kind); datasets in first-seen order, kinds in KINDS order."""
    latest: Dict[Tuple[str, str], Expectation] = {}
    datasets: Dict[str, None] = {}
    for item in expectations:
        datasets.setdefault(item.dataset, None)
        latest[(item.dataset, item.kind)] = item
    return tuple(latest[(d, k)] for d in datasets for k in KINDS if (d, k) in latest)


def merge_expectations(*sets: ExpectationSet) -> ExpectationSet:
    """Union of several sets; for the same dataset and kind the later set wins (pass form, then spec)."""
    description = next((item.description for item in reversed(sets) if item.description), None)
    return ExpectationSet(
        _ordered(item for expectation_set in sets for item in expectation_set.expectations), description
    )


# ------------------------------------------------------------------------------------ parsing a JSON spec


def _path_text(path: Iterable[Any]) -> str:
    """``datasets.ML_TRAINING_DATA.columns[2].type``; keys that are not plain names are quoted."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(part)):
            text += ("." if text else "") + str(part)
        else:
            text += f"[{json.dumps(str(part))}]"
    return text


def _found(instance: Any) -> str:
    if instance is None:
        return "null"
    if isinstance(instance, bool):
        return "true" if instance else "false"
    if isinstance(instance, (int, float)):
        return repr(instance)
    if isinstance(instance, str):
        shown = instance if len(instance) <= 40 else instance[:37] + "..."
        return "the text " + json.dumps(shown)
    if isinstance(instance, list):
        return f"a list of {len(instance)} item{'' if len(instance) == 1 else 's'}"
    return "an object"


def _resolve(schema: Any) -> Any:
    """Follow a local ``$ref`` (``#/$defs/x``) of the expectations schema."""
    while isinstance(schema, Mapping) and isinstance(schema.get("$ref"), str) and schema["$ref"].startswith("#/"):
        target: Any = expectations_schema()
        for part in schema["$ref"][2:].split("/"):
            target = target[part]
        schema = target
    return schema


def _expected(schema: Any) -> str:
    """What a (sub)schema accepts, in words."""
    schema = _resolve(schema)
    if not isinstance(schema, Mapping):
        return "a valid value"
    if "const" in schema:
        return json.dumps(schema["const"])
    if "enum" in schema:
        return "one of " + ", ".join(json.dumps(value) for value in schema["enum"])
    if "anyOf" in schema:
        return ", or ".join(_expected(branch) for branch in schema["anyOf"])
    kind = schema.get("type")
    if isinstance(kind, list):
        return " or ".join(_expected(dict(schema, type=item)) for item in kind)
    if kind == "boolean":
        return "true or false"
    if kind == "integer":
        return "a whole number" + (f" >= {schema['minimum']}" if "minimum" in schema else "")
    if kind == "string":
        return "a text"
    if kind == "null":
        return "null"
    if kind == "array":
        return "a list"
    if kind == "object":
        required = schema.get("required") or []
        if required:
            return "an object with {}".format(", ".join(f'"{name}"' for name in required))
        return "an object"
    return "a valid value"


def _json_type_matches(schema: Any, instance: Any) -> bool:
    schema = _resolve(schema)
    if not isinstance(schema, Mapping):
        return False
    if "anyOf" in schema:
        return any(_json_type_matches(branch, instance) for branch in schema["anyOf"])
    if "const" in schema:
        return type(schema["const"]) is type(instance) or (
            isinstance(instance, bool) and isinstance(schema["const"], bool)
        )
    kinds = schema.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    checks = {
        "boolean": lambda: isinstance(instance, bool),
        "integer": lambda: isinstance(instance, int) and not isinstance(instance, bool),
        "string": lambda: isinstance(instance, str),
        "null": lambda: instance is None,
        "array": lambda: isinstance(instance, list),
        "object": lambda: isinstance(instance, dict),
    }
    return any(checks[kind]() for kind in kinds if kind in checks)


def _describe_error(error) -> List[Tuple[str, str]]:
    """Plain problems for one jsonschema error: (JSON path, what is expected and what was found)."""
    path = list(error.absolute_path)
    validator = error.validator
    instance = error.instance
    if validator in ("anyOf", "oneOf"):
        # Inside an object or a list, the branch of the same JSON type says precisely what is wrong; for a plain
        # value, listing every accepted form is clearer.
        branches = enumerate(error.validator_value) if isinstance(instance, (dict, list)) else ()
        for index, branch in branches:
            if _json_type_matches(branch, instance):
                branch_errors = [item for item in error.context if item.relative_schema_path[0] == index]
                problems: List[Tuple[str, str]] = []
                for item in branch_errors:
                    problems.extend(_describe_error(item))
                if problems:
                    return problems
        return [(_path_text(path), f"expected {_expected(error.schema)}; found {_found(instance)}")]
    if validator == "type":
        return [(_path_text(path), f"expected {_expected(error.schema)}; found {_found(instance)}")]
    if validator == "const":
        extra = " (the only spec version)" if path == ["version"] else ""
        return [(_path_text(path), f"expected {json.dumps(error.validator_value)}{extra}; found {_found(instance)}")]
    if validator == "enum":
        allowed = ", ".join(json.dumps(value) for value in error.validator_value)
        return [(_path_text(path), f"expected one of {allowed}; found {_found(instance)}")]
    if validator == "required":
        missing = [name for name in error.validator_value if isinstance(instance, dict) and name not in instance]
        where = _path_text(path) or "(spec)"
        return [(where, f'missing the required field "{name}"') for name in missing]
    if validator == "additionalProperties":
        allowed = list((error.schema.get("properties") or {}).keys())
        problems = []
        for name in instance:
            if name in allowed:
                continue
            hint = difflib.get_close_matches(name, allowed, n=1)
            suggestion = f'did you mean "{hint[0]}"? ' if hint else ""
            problems.append(
                (
                    _path_text(path + [name]),
                    "unknown field; {}expected one of {}".format(suggestion, ", ".join(allowed)),
                )
            )
        return problems
    if validator == "minimum":
        return [(_path_text(path), f"expected a number >= {error.validator_value}; found {_found(instance)}")]
    if validator == "minLength":
        return [(_path_text(path), "expected a non-empty text")]
    if validator == "minItems":
        return [(_path_text(path), f"expected at least {error.validator_value} item(s); found an empty list")]
    if validator == "minProperties":
        what = "dataset" if path == ["datasets"] else "field"
        return [(_path_text(path), f"expected at least {error.validator_value} {what}; found none")]
    if validator == "propertyNames":
        return [(_path_text(path), "dataset names must not be empty")]
    return [(_path_text(path) or "(spec)", error.message)]


def _load_json(text: str) -> Any:
    duplicates: List[str] = []

    def no_duplicates(pairs):
        seen: Dict[str, Any] = {}
        for key, value in pairs:
            if key in seen:
                duplicates.append(key)
            seen[key] = value
        return seen

    try:
        data = json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as error:
        raise ConfigError(
            ("expectations", f"not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}")
        ) from None
    if duplicates:
        raise ConfigError(
            [("expectations", f'the key "{key}" appears twice in the same object; keep one') for key in duplicates]
        )
    return data


def parse_time_ms(text: str) -> int:
    """Epoch milliseconds of an ISO 8601 time; no zone means UTC, a date alone its midnight UTC."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(round(moment.timestamp() * 1000))


def format_time_ms(ms: Optional[int]) -> str:
    if ms is None:
        return "at an unknown time"
    return datetime.fromtimestamp(ms / 1000.0, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_column_type(column_type: Optional[str]) -> Optional[str]:
    """A message when ``column_type`` looks like a slip for a DSS type; new DSS types pass."""
    if column_type is None or column_type in KNOWN_COLUMN_TYPES:
        return None
    lowered = column_type.lower()
    if lowered in KNOWN_COLUMN_TYPES:
        return f'DSS type names are lower case: write "{lowered}"'
    if lowered in _TYPE_ALIASES:
        return f'"{column_type}" is not a DSS type; did you mean {_TYPE_ALIASES[lowered]}?'
    close = difflib.get_close_matches(lowered, KNOWN_COLUMN_TYPES, n=1, cutoff=0.75)
    if close:
        return f'unknown DSS type "{column_type}"; did you mean "{close[0]}"?'
    return None


def _severity(written: Any, *defaults: Optional[str]) -> str:
    if isinstance(written, Mapping) and written.get("severity"):
        return written["severity"]
    return next((item for item in defaults if item), "ERROR")


def _columns_from_spec(written: Any, path: List[Any], problems: List[Tuple[str, str]]) -> ColumnsExpectation:
    if isinstance(written, list):
        items_written, mode, ordered, items_path = written, "exact", False, path
    else:
        items_written = written["items"]
        mode, ordered, items_path = written.get("mode", "exact"), written.get("ordered", False), path + ["items"]
    items = []
    seen = set()
    for index, item in enumerate(items_written):
        if item["name"] in seen:
            problems.append((_path_text(items_path + [index, "name"]), f'column "{item["name"]}" is listed twice'))
        seen.add(item["name"])
        type_problem = _check_column_type(item.get("type"))
        if type_problem:
            problems.append((_path_text(items_path + [index, "type"]), type_problem))
        items.append(ColumnSpec(item["name"], item.get("type")))
    return ColumnsExpectation(mode=mode, ordered=ordered, items=tuple(items))


def _expectations_from_valid_spec(spec: Mapping[str, Any]) -> ExpectationSet:
    problems: List[Tuple[str, str]] = []
    expectations: List[Expectation] = []
    top_severity = spec.get("severity")
    for dataset, written in spec["datasets"].items():
        base = ["datasets", dataset]
        dataset_severity = written.get("severity")
        kinds = [kind for kind in KINDS if kind in written]
        exists = written.get("exists")
        exists_value = exists.get("value") if isinstance(exists, Mapping) else exists
        if exists_value is False and len(kinds) > 1:
            others = ", ".join(kind for kind in kinds if kind != "exists")
            problems.append(
                (_path_text(base + ["exists"]), f"false (must not exist) cannot be combined with {others}; remove one")
            )
        for kind in kinds:
            raw = written[kind]
            severity = _severity(raw, dataset_severity, top_severity)
            path = base + [kind]
            if kind == "built":
                details = raw if isinstance(raw, Mapping) else {}
                after = details.get("after")
                after_ms = None
                if after is not None:
                    try:
                        after_ms = parse_time_ms(after)
                    except ValueError:
                        problems.append(
                            (
                                _path_text(path + ["after"]),
                                f"expected an ISO 8601 time such as 2024-05-01T06:00:00Z; found {_found(after)}",
                            )
                        )
                value: Any = BuiltExpectation(
                    success=details.get("success", True),
                    after=after,
                    after_ms=after_ms,
                    within_run=details.get("within_run", False),
                )
            elif kind == "columns":
                value = _columns_from_spec(raw, path, problems)
            else:
                value = raw["value"] if isinstance(raw, Mapping) else raw
            if kind in ("not_empty", "dss_rules") and value is False:
                continue  # "false: not checked"
            expectations.append(Expectation(dataset, kind, value, severity))
        minimum, maximum = written.get("min_rows"), written.get("max_rows")
        if minimum is not None and maximum is not None:
            low = minimum["value"] if isinstance(minimum, Mapping) else minimum
            high = maximum["value"] if isinstance(maximum, Mapping) else maximum
            if high < low:
                problems.append(
                    (_path_text(base + ["max_rows"]), f"{high} is below min_rows ({low}); no row count fits")
                )
    if problems:
        raise ConfigError(problems)
    return ExpectationSet(_ordered(expectations), spec.get("description"))


def validate_spec(spec: Any) -> List[Tuple[str, str]]:
    """Every schema problem of a decoded spec as (JSON path, message), sorted by path; ``[]`` when valid."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(expectations_schema())
    problems: List[Tuple[str, str]] = []
    for error in validator.iter_errors(spec):
        for problem in _describe_error(error):
            if problem not in problems:
                problems.append(problem)
    return sorted(problems)


def parse_expectations(spec: Union[str, Mapping[str, Any], None]) -> ExpectationSet:
    """Read a JSON spec (text or decoded). Blank text means no spec: an empty set.

    Malformed JSON raises :class:`ConfigError` naming the line and column; schema violations raise one
    :class:`ConfigError` listing every problem at its JSON path (``datasets.X.columns[2].type``).
    """
    if spec is None or (isinstance(spec, str) and not spec.strip()):
        return ExpectationSet()
    data = _load_json(spec) if isinstance(spec, str) else spec
    problems = validate_spec(data)
    if problems:
        raise ConfigError(problems)
    return _expectations_from_valid_spec(data)


def parse_column_text(text: str) -> ColumnSpec:
    """``"name"`` or ``"name:type"`` (the form's expected-columns field); the type is after the last colon."""
    name, separator, column_type = text.strip().rpartition(":")
    if not separator:
        return ColumnSpec(text.strip())
    return ColumnSpec(name.strip(), column_type.strip() or None)


def expectations_from_form(
    datasets: Sequence[str],
    expected_columns: Sequence[str] = (),
    min_rows: Optional[int] = None,
    not_empty: bool = False,
    *,
    exists: bool = True,
    built: bool = False,
    within_run: bool = False,
    severity: str = "ERROR",
) -> ExpectationSet:
    """Expectations from the simple form fields, applied to every selected dataset.

    ``expected_columns`` entries are ``"name"`` or ``"name:type"`` and must all be present (mode "contains", any
    order). Each selected dataset is also expected to exist, unless ``exists`` is False.
    """
    problems: List[Tuple[str, str]] = []
    names = [name.strip() for name in datasets or () if isinstance(name, str) and name.strip()]
    if severity not in SEVERITIES:
        problems.append(("severity", f"expected one of {', '.join(SEVERITIES)}; found {_found(severity)}"))
    columns: List[ColumnSpec] = []
    seen = set()
    for index, text in enumerate(expected_columns or ()):
        if not isinstance(text, str) or not text.strip():
            continue
        column = parse_column_text(text)
        field_name = f"expected_columns[{index}]"
        if not column.name:
            problems.append((field_name, f'"{text}" has no column name; write "name" or "name:type"'))
            continue
        type_problem = _check_column_type(column.type)
        if type_problem:
            problems.append((field_name, type_problem))
        if column.name in seen:
            problems.append((field_name, f'column "{column.name}" is listed twice'))
        seen.add(column.name)
        columns.append(column)
    if min_rows is not None and (isinstance(min_rows, bool) or not isinstance(min_rows, int) or min_rows < 0):
        problems.append(("min_rows", f"expected a whole number >= 0; found {_found(min_rows)}"))
    asked = bool(columns) or min_rows is not None or not_empty or built
    if asked and not names:
        problems.append(("datasets", "the expectations apply to the selected datasets, but no dataset is selected"))
    if problems:
        raise ConfigError(problems)
    expectations: List[Expectation] = []
    for dataset in names:
        if exists:
            expectations.append(Expectation(dataset, "exists", True, severity))
        if built or within_run:
            expectations.append(Expectation(dataset, "built", BuiltExpectation(within_run=within_run), severity))
        if columns:
            value = ColumnsExpectation(mode="contains", ordered=False, items=tuple(columns))
            expectations.append(Expectation(dataset, "columns", value, severity))
        if min_rows is not None:
            expectations.append(Expectation(dataset, "min_rows", min_rows, severity))
        if not_empty:
            expectations.append(Expectation(dataset, "not_empty", True, severity))
    return ExpectationSet(_ordered(expectations))


# ----------------------------------------------------------------------------------------------- facts


@dataclass(frozen=True)
class LastBuild:
    """The dataset's last build, as DSS reports it (epoch milliseconds)."""

    start_ms: Optional[int] = None
    end_ms: Optional[int] = None
    success: bool = True

    @classmethod
    def from_value(cls, value: Union[LastBuild, Mapping[str, Any], None]) -> Optional[LastBuild]:
        if value is None or isinstance(value, LastBuild):
            return value
        return cls(start_ms=value.get("start_ms"), end_ms=value.get("end_ms"), success=bool(value.get("success")))


@dataclass(frozen=True)
class DatasetFacts:
    """What the adapter found out about one dataset (only what :func:`needed_facts` asked for)."""

    exists: bool
    columns: Optional[Sequence[Mapping[str, Any]]] = None  # DSS schema columns; None: not read
    last_build: Optional[LastBuild] = None  # a dict {start_ms, end_ms, success} is accepted too
    row_count: Optional[int] = None  # records:COUNT_RECORDS; None: unknown
    row_count_stale: bool = False  # the metric is older than the last build (and was not recomputed)
    row_count_computed: bool = False  # the metric was computed for this verification
    dss_rule_results: Optional[Sequence[Mapping[str, Any]]] = None  # None: the instance has no data-quality rules
    run_started_at_ms: Optional[int] = None  # start of the current run, for built.within_run

    def __post_init__(self):
        object.__setattr__(self, "last_build", LastBuild.from_value(self.last_build))


@dataclass(frozen=True)
class FactsNeeded:
    """What to read from DSS for one dataset; existence is always needed."""

    columns: bool = False
    last_build: bool = False
    row_count: bool = False
    dss_rules: bool = False


def needed_facts(expectations: ExpectationSet) -> Dict[str, FactsNeeded]:
    """Per dataset, which facts the expectations need: row counts only for min/max rows and not_empty, etc."""
    needs: Dict[str, FactsNeeded] = {}
    for dataset in expectations.datasets:
        kinds = {item.kind for item in expectations.for_dataset(dataset)}
        needs[dataset] = FactsNeeded(
            columns="columns" in kinds,
            last_build="built" in kinds,
            row_count=bool(kinds & {"min_rows", "max_rows", "not_empty"}),
            dss_rules="dss_rules" in kinds,
        )
    return needs


# -------------------------------------------------------------------------------------------- evaluation

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"


@dataclass(frozen=True)
class ExpectationResult:
    """The outcome of one expectation (or of one DSS data-quality rule), with its reason in plain words."""

    dataset: str
    kind: str
    severity: str
    status: str  # passed | failed | skipped
    message: str
    expected: str = ""  # what was expected, in words
    subject: Optional[str] = None  # the DSS rule name, for kind "dss_rules"

    @property
    def passed(self) -> bool:
        return self.status != FAILED

    def to_dict(self) -> dict:
        return {
            "dataset": self.dataset,
            "kind": self.kind,
            "severity": self.severity,
            "status": self.status,
            "passed": self.passed,
            "expected": self.expected,
            "subject": self.subject,
            "message": self.message,
        }


@dataclass(frozen=True)
class VerificationResult:
    results: Tuple[ExpectationResult, ...] = ()
    notes: Tuple[str, ...] = ()  # things worth knowing that are not failures (stale metrics, skipped checks)

    @property
    def failures(self) -> Tuple[ExpectationResult, ...]:
        return tuple(item for item in self.results if item.status == FAILED)

    @property
    def errors(self) -> Tuple[ExpectationResult, ...]:
        return tuple(item for item in self.failures if item.severity == "ERROR")

    @property
    def passed(self) -> bool:
        """No ERROR expectation failed."""
        return not self.errors

    @property
    def warnings(self) -> Tuple[str, ...]:
        """Failed WARN expectations, then notes: what a scenario step logs as warnings."""
        failed = tuple(f"{item.dataset}: {item.message}" for item in self.failures if item.severity != "ERROR")
        return failed + self.notes

    @property
    def counts(self) -> Dict[str, int]:
        failures = self.failures
        return {
            "total": len(self.results),
            "passed": sum(1 for item in self.results if item.status == PASSED),
            "failed": len(failures),
            "failed_error": sum(1 for item in failures if item.severity == "ERROR"),
            "failed_warn": sum(1 for item in failures if item.severity != "ERROR"),
            "skipped": sum(1 for item in self.results if item.status == SKIPPED),
        }

    def summary(self) -> str:
        counts = self.counts
        text = "{} expectation{}: {} passed, {} failed ({} ERROR, {} WARN), {} skipped".format(
            counts["total"],
            "" if counts["total"] == 1 else "s",
            counts["passed"],
            counts["failed"],
            counts["failed_error"],
            counts["failed_warn"],
            counts["skipped"],
        )
        return ("PASSED - " if self.passed else "FAILED - ") + text

    def to_dict(self) -> dict:
        return {
            "passed": self.passed,
            "counts": self.counts,
            "summary": self.summary(),
            "results": [item.to_dict() for item in self.results],
            "warnings": list(self.warnings),
            "notes": list(self.notes),
        }


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _quoted(names: Iterable[str]) -> str:
    return ", ".join(f'"{name}"' for name in names)


def _check_columns(expected: ColumnsExpectation, actual_columns: Sequence[Mapping[str, Any]]) -> Tuple[bool, str]:
    actual = {}
    for column in actual_columns:
        actual.setdefault(column.get("name"), column)
    lowered = {str(name).lower(): name for name in actual}
    problems = []
    missing = [item for item in expected.items if item.name not in actual]
    if missing:
        described = []
        for item in missing:
            twin = lowered.get(item.name.lower())
            described.append(f'"{item.name}" (found "{twin}": names are case-sensitive)' if twin else f'"{item.name}"')
        problems.append("missing {}: {}".format("column" if len(missing) == 1 else "columns", ", ".join(described)))
    wrong_types = [
        f'"{item.name}" has type {actual[item.name].get("type")}, expected {item.type}'
        for item in expected.items
        if item.name in actual and item.type and actual[item.name].get("type") != item.type
    ]
    problems.extend(wrong_types)
    expected_names = [item.name for item in expected.items]
    if expected.mode == "exact":
        extra = [name for name in actual if name not in set(expected_names)]
        if extra:
            problems.append("unexpected {}: {}".format("column" if len(extra) == 1 else "columns", _quoted(extra)))
    if expected.ordered:
        present = [name for name in expected_names if name in actual]
        found_order = [name for name in actual if name in set(present)]
        if present != found_order:
            problems.append(
                "columns in a different order: expected {}; found {}".format(", ".join(present), ", ".join(found_order))
            )
    if problems:
        return False, "; ".join(problems)
    if expected.mode == "exact":
        return True, "the schema has exactly the {}{}".format(
            _plural(len(expected.items), "expected column"), " in order" if expected.ordered else ""
        )
    return True, "all {} present{}".format(
        _plural(len(expected.items), "expected column"), " in order" if expected.ordered else ""
    )


def _check_built(expected: BuiltExpectation, facts: DatasetFacts, notes: List[str], dataset: str):
    build = facts.last_build
    if build is None:
        return FAILED, f"no build of {dataset} was found (never built)"
    started = build.start_ms if build.start_ms is not None else build.end_ms
    problems = []
    if expected.success and not build.success:
        problems.append(f"the last build failed (started {format_time_ms(started)})")
    if expected.after_ms is not None:
        if started is None:
            problems.append(f"expected a build started at or after {expected.after}; the last build's time is unknown")
        elif started < expected.after_ms:
            problems.append(
                f"expected a build started at or after {expected.after}; the last build started {format_time_ms(started)}"
            )
    skipped_run_check = False
    if expected.within_run:
        if facts.run_started_at_ms is None:
            skipped_run_check = True
            notes.append(f"{dataset}: 'built within this run' not checked: the verification is not part of a run")
        elif started is None or started < facts.run_started_at_ms:
            problems.append(
                f"expected a build during this run (started {format_time_ms(facts.run_started_at_ms)}); the last build started {format_time_ms(started)}"
            )
    if problems:
        return FAILED, "; ".join(problems)
    message = "the last build {} (started {})".format(
        "succeeded" if build.success else "finished", format_time_ms(started)
    )
    if skipped_run_check:
        message += "; 'within this run' not checked outside a run"
    return PASSED, message


def _rule_results(expectation: Expectation, facts: DatasetFacts, notes: List[str]) -> List[ExpectationResult]:
    dataset = expectation.dataset
    expected = expectation.describe()
    if facts.dss_rule_results is None:
        message = "this DSS instance offers no data-quality rules (DSS 12.6 or later): nothing to check"
        notes.append(f"{dataset}: {message}")
        return [ExpectationResult(dataset, "dss_rules", expectation.severity, SKIPPED, message, expected)]
    if not facts.dss_rule_results:
        return [
            ExpectationResult(
                dataset,
                "dss_rules",
                expectation.severity,
                PASSED,
                "no data-quality rule is defined on the dataset",
                expected,
            )
        ]
    results = []
    for rule in facts.dss_rule_results:
        name = str(rule.get("name") or rule.get("displayName") or rule.get("id") or "unnamed rule")
        outcome = str(rule.get("outcome") or "UNKNOWN").upper()
        detail = rule.get("message")
        text = f'rule "{name}" returned {outcome}' + (f": {detail}" if detail else "")
        if outcome == "OK":
            status, severity = PASSED, expectation.severity
        elif outcome == "WARNING":
            status, severity = FAILED, "WARN"
        elif outcome == "ERROR":
            status, severity = FAILED, expectation.severity
        else:
            status, severity = SKIPPED, expectation.severity
            notes.append(f"{dataset}: {text}")
        results.append(ExpectationResult(dataset, "dss_rules", severity, status, text, expected, subject=name))
    return results


def _row_count_result(expectation: Expectation, facts: DatasetFacts, notes: List[str]) -> Tuple[str, str]:
    dataset = expectation.dataset
    count = facts.row_count
    if count is None:
        return FAILED, f"the row count of {dataset} is unknown (the {ROW_COUNT_METRIC} metric could not be read)"
    if facts.row_count_stale and not facts.row_count_computed:
        notes.append(f"{dataset}: the row count comes from a {ROW_COUNT_METRIC} metric older than the last build")
    if expectation.kind == "min_rows":
        if count < expectation.value:
            return FAILED, f"expected at least {_plural(expectation.value, 'row')}, found {count}"
        return PASSED, f"{_plural(count, 'row')} (at least {expectation.value} expected)"
    if expectation.kind == "max_rows":
        if count > expectation.value:
            return FAILED, f"expected at most {_plural(expectation.value, 'row')}, found {count}"
        return PASSED, f"{_plural(count, 'row')} (at most {expectation.value} expected)"
    if count == 0:
        return FAILED, "expected at least one row, found 0 (the dataset is empty)"
    return PASSED, f"{_plural(count, 'row')}"


def _judge(expectation: Expectation, facts: Optional[DatasetFacts], notes: List[str]) -> Tuple[str, str]:
    """(status, reason) of one expectation other than ``dss_rules``."""
    dataset, kind = expectation.dataset, expectation.kind
    if facts is None:
        return FAILED, f"nothing could be read about {dataset}"
    if kind == "exists":
        if expectation.value:
            return (PASSED, "the dataset exists") if facts.exists else (FAILED, f"dataset {dataset} does not exist")
        if facts.exists:
            return FAILED, f"dataset {dataset} exists but is expected not to"
        return PASSED, "the dataset does not exist, as expected"
    if not facts.exists:
        return FAILED, f"cannot check: dataset {dataset} does not exist"
    if kind == "built":
        return _check_built(expectation.value, facts, notes, dataset)
    if kind == "columns":
        if facts.columns is None:
            return FAILED, f"the schema of {dataset} could not be read"
        passed, message = _check_columns(expectation.value, facts.columns)
        return (PASSED if passed else FAILED), message
    return _row_count_result(expectation, facts, notes)


def evaluate(expectations: ExpectationSet, facts: Mapping[str, DatasetFacts]) -> VerificationResult:
    """Judge every expectation against the facts; a dataset without facts fails its expectations."""
    results: List[ExpectationResult] = []
    notes: List[str] = []
    for expectation in expectations.expectations:
        dataset_facts = facts.get(expectation.dataset)
        if expectation.kind == "dss_rules" and dataset_facts is not None and dataset_facts.exists:
            results.extend(_rule_results(expectation, dataset_facts, notes))
            continue
        status, message = _judge(expectation, dataset_facts, notes)
        results.append(
            ExpectationResult(
                expectation.dataset, expectation.kind, expectation.severity, status, message, expectation.describe()
            )
        )
    return VerificationResult(tuple(results), tuple(dict.fromkeys(notes)))


# ----------------------------------------------------------------------------------------- capture current


def capture_current(facts: Mapping[str, DatasetFacts], *, row_tolerance: float = 0.5) -> Dict[str, Any]:
    """A spec of today's reality, so that verifying the unchanged Flow passes and users start from facts.

    Per dataset: exists; its exact columns with types, in order; a successful last build; ``not_empty`` and
    ``min_rows = floor(count * (1 - row_tolerance))`` from its row count; its DSS rules when none is in ERROR now.
    """
    if isinstance(row_tolerance, bool) or not isinstance(row_tolerance, (int, float)) or not 0 <= row_tolerance <= 1:
        raise ConfigError(("row_tolerance", f"expected a number between 0 and 1; found {_found(row_tolerance)}"))
    if not facts:
        raise ConfigError(("datasets", "select at least one dataset to capture"))
    datasets: Dict[str, Any] = {}
    for dataset, dataset_facts in facts.items():
        if not dataset_facts.exists:
            datasets[dataset] = {"exists": False}
            continue
        written: Dict[str, Any] = {"exists": True}
        build = dataset_facts.last_build
        if build is not None and build.success:
            written["built"] = {"success": True}
        items = [
            {"name": column["name"], "type": column["type"]} if column.get("type") else {"name": column["name"]}
            for column in dataset_facts.columns or []
            if isinstance(column.get("name"), str) and column["name"]
        ]
        unique = list({item["name"]: item for item in reversed(items)}.values())[::-1]
        if unique:
            written["columns"] = {"mode": "exact", "ordered": True, "items": unique}
        count = dataset_facts.row_count
        if count is not None and count > 0:
            minimum = int(math.floor(count * (1 - row_tolerance)))
            if minimum >= 1:
                written["min_rows"] = minimum
            written["not_empty"] = True
        rules = dataset_facts.dss_rule_results
        if rules and not any(str(rule.get("outcome") or "").upper() == "ERROR" for rule in rules):
            written["dss_rules"] = True
        datasets[dataset] = written
    return {
        "version": SPEC_VERSION,
        "description": "Captured from the current Flow: exact schemas, successful builds and row counts "
        f"(min_rows allows {int(round(row_tolerance * 100))}% fewer rows). Edit to taste.",
        "datasets": datasets,
    }


__all__ = [
    "KINDS",
    "KNOWN_COLUMN_TYPES",
    "SEVERITIES",
    "BuiltExpectation",
    "ColumnSpec",
    "ColumnsExpectation",
    "DatasetFacts",
    "Expectation",
    "ExpectationResult",
    "ExpectationSet",
    "FactsNeeded",
    "LastBuild",
    "VerificationResult",
    "capture_current",
    "evaluate",
    "expectations_from_form",
    "expectations_schema",
    "merge_expectations",
    "needed_facts",
    "parse_column_text",
    "parse_expectations",
    "validate_spec",
]
