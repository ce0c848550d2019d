"""The expectations language: the model, a JSON spec or form fields parsed into it, every problem named by its path.

A contract (bottom layer): configs parse it, the judge (:mod:`.judge`) evaluates it. The JSON spec format is
``resource/schemas/expectations.schema.json``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from ..errors import ConfigError
from ..resources import load_schema, schema_validator
from ..text import close_names

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


def expectations_schema() -> Dict[str, Any]:
    """The JSON Schema of expectation specs (the plugin's ``resource/schemas/``, or the installed package's copy)."""
    return load_schema(_SCHEMA_FILE)


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


def found(instance: Any) -> str:
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
        return [(_path_text(path), f"expected {_expected(error.schema)}; found {found(instance)}")]
    if validator == "type":
        return [(_path_text(path), f"expected {_expected(error.schema)}; found {found(instance)}")]
    if validator == "const":
        extra = " (the only spec version)" if path == ["version"] else ""
        return [(_path_text(path), f"expected {json.dumps(error.validator_value)}{extra}; found {found(instance)}")]
    if validator == "enum":
        allowed = ", ".join(json.dumps(value) for value in error.validator_value)
        return [(_path_text(path), f"expected one of {allowed}; found {found(instance)}")]
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
            hint = close_names(name, allowed, n=1)
            suggestion = f'did you mean "{hint[0]}"? ' if hint else ""
            problems.append(
                (
                    _path_text(path + [name]),
                    "unknown field; {}expected one of {}".format(suggestion, ", ".join(allowed)),
                )
            )
        return problems
    if validator == "minimum":
        return [(_path_text(path), f"expected a number >= {error.validator_value}; found {found(instance)}")]
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
    close = close_names(lowered, KNOWN_COLUMN_TYPES, n=1, cutoff=0.75)
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
                                f"expected an ISO 8601 time such as 2024-05-01T06:00:00Z; found {found(after)}",
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
    problems: List[Tuple[str, str]] = []
    for error in schema_validator(_SCHEMA_FILE).iter_errors(spec):
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
        problems.append(("severity", f"expected one of {', '.join(SEVERITIES)}; found {found(severity)}"))
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
        problems.append(("min_rows", f"expected a whole number >= 0; found {found(min_rows)}"))
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


__all__ = [
    "SEVERITIES",
    "KINDS",
    "KNOWN_COLUMN_TYPES",
    "SPEC_VERSION",
    "ROW_COUNT_METRIC",
    "expectations_schema",
    "ColumnSpec",
    "ColumnsExpectation",
    "BuiltExpectation",
    "Expectation",
    "ExpectationSet",
    "merge_expectations",
    "found",
    "parse_time_ms",
    "format_time_ms",
    "validate_spec",
    "parse_expectations",
    "parse_column_text",
    "expectations_from_form",
]
