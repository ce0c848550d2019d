"""Impact preview: simulate DSS's schema propagation down the Flow, changing nothing.

It re-derives the output schema of each visual recipe downstream of a source from the recipe's payload, the way DSS
does when it saves the recipe, and reports which datasets would change and which recipe settings would point at
columns that no longer exist (where DSS's automatic propagation would stop). Pure: plain data in, a preview out.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

from .diff import SchemaDiff, by_name, diff_schemas

#: Recipes whose output schema is set by their code when it runs: DSS itself cannot check them.
CODE_RECIPE_TYPES = frozenset(
    {"python", "r", "pyspark", "sparkr", "spark_scala", "shell", "sql_script", "julia", "cpython", "ksql"}
)
#: Recipes whose output schema the database computes when the recipe is validated.
DATABASE_SCHEMA_RECIPE_TYPES = frozenset({"sql_query", "hive", "impala", "sparksql_query", "spark_sql_query"})
#: Visual recipes the preview re-derives (their output schema follows from the payload and the inputs).
SIMULATED_RECIPE_TYPES = frozenset({"sync", "sampling", "sort", "grouping", "distinct", "join", "shaker", "split"})


# ------------------------------------------------------------------------------------------- impact preview


@dataclass(frozen=True)
class RecipeBreak:
    """A recipe setting that would point at a column that no longer exists: DSS's propagation stops there."""

    recipe: str
    recipe_type: str
    input: str
    column: str
    usage: str  # where the recipe uses the column: "join condition a = b", "grouping key", ...

    @property
    def message(self) -> str:
        return (
            f"{self.recipe_type} recipe '{self.recipe}' uses column '{self.column}' of '{self.input}' "
            f"({self.usage}), which would no longer exist"
        )

    def to_dict(self) -> dict:
        return {
            "recipe": self.recipe,
            "recipe_type": self.recipe_type,
            "input": self.input,
            "column": self.column,
            "usage": self.usage,
            "message": self.message,
        }


@dataclass(frozen=True)
class UncheckedRecipe:
    """A recipe whose output schema cannot be derived here; its outputs are taken as unchanged."""

    recipe: str
    recipe_type: str
    reason: str

    def to_dict(self) -> dict:
        return {"recipe": self.recipe, "recipe_type": self.recipe_type, "reason": self.reason}


@dataclass(frozen=True)
class ImpactPreview:
    """What changing a source's schema would do downstream, computed without changing anything.

    DSS's automatic propagation stops at the first broken recipe (``stops_at``); the changes listed below it show
    what the rest of the Flow would get once that recipe is fixed.
    """

    source: str
    changes: Dict[str, SchemaDiff] = field(default_factory=dict)  # datasets whose schema would change, Flow order
    new_schemas: Dict[str, List[Dict[str, Any]]] = field(default_factory=dict)  # their simulated new columns
    breaks: Tuple[RecipeBreak, ...] = ()
    unchecked: Tuple[UncheckedRecipe, ...] = ()
    checked_recipes: Tuple[str, ...] = ()  # affected recipes whose output schema was re-derived
    notes: Tuple[str, ...] = ()

    @property
    def safe(self) -> bool:
        """No recipe would break (code recipes may still fail at run time: see ``unchecked``)."""
        return not self.breaks

    @property
    def stops_at(self) -> Optional[str]:
        """The first recipe, in Flow order, where DSS's automatic propagation would stop."""
        return self.breaks[0].recipe if self.breaks else None

    @property
    def changed_datasets(self) -> Tuple[str, ...]:
        return tuple(self.changes)

    def summary(self) -> str:
        downstream = [name for name in self.changes if name != self.source]
        lines = []
        if self.source in self.changes:
            lines.append(f"Schema of '{self.source}': {self.changes[self.source].summary()}.")
        if downstream:
            lines.append(
                "{} downstream dataset{} would change: {}.".format(
                    len(downstream),
                    "" if len(downstream) == 1 else "s",
                    "; ".join(f"{name} ({self.changes[name].summary()})" for name in downstream),
                )
            )
        else:
            lines.append("No downstream dataset would change.")
        if self.breaks:
            recipes = sorted({item.recipe for item in self.breaks})
            lines.append(
                "{} recipe{} would break, propagation would stop at '{}': {}.".format(
                    len(recipes),
                    "" if len(recipes) == 1 else "s",
                    self.stops_at,
                    "; ".join(item.message for item in self.breaks),
                )
            )
        else:
            lines.append("No recipe would break.")
        if self.unchecked:
            lines.append(
                "Cannot be checked (outputs taken as unchanged): {}.".format(
                    "; ".join(f"'{item.recipe}' ({item.recipe_type}: {item.reason})" for item in self.unchecked)
                )
            )
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "safe": self.safe,
            "stops_at": self.stops_at,
            "changes": {name: diff.to_dict() for name, diff in self.changes.items()},
            "new_schemas": {name: [dict(column) for column in columns] for name, columns in self.new_schemas.items()},
            "breaks": [item.to_dict() for item in self.breaks],
            "unchecked": [item.to_dict() for item in self.unchecked],
            "checked_recipes": list(self.checked_recipes),
            "notes": list(self.notes),
            "summary": self.summary(),
        }


@dataclass(frozen=True)
class _Missing:
    """A column a recipe refers to that its input (at that point) does not have."""

    input: str
    column: str
    usage: str


@dataclass
class _Derived:
    """A recipe's derived outputs: columns, names whose type is a guess, and dangling references."""

    outputs: Dict[str, List[Dict[str, Any]]] = field(default_factory=dict)
    uncertain_types: Set[str] = field(default_factory=set)
    missing: List[_Missing] = field(default_factory=list)
    approximate: bool = False  # some step was not understood: apply the change as a delta, do not trust the whole
    order_certain: bool = False  # the derived column order is the order DSS writes
    notes: List[str] = field(default_factory=list)


def _lookup(mapping: Mapping[str, Any], ref: str) -> Any:
    """Find ``ref`` in a snapshot, also as a bare name when it is ``PROJECT.name``."""
    if ref in mapping:
        return mapping[ref]
    if "." in ref:
        return mapping.get(ref.split(".", 1)[1])
    return None


def _same_dataset(ref: str, name: str) -> bool:
    return ref == name or ("." in ref and ref.split(".", 1)[1] == name)


def _normalise_recipe(recipe: Mapping[str, Any]) -> Dict[str, Any]:
    """Accept both the flat recipe dict and DSS's ``{"recipe": {...}, "payload": "..."}`` answer."""
    if isinstance(recipe.get("recipe"), Mapping):
        merged = dict(recipe["recipe"])
        if "payload" in recipe:
            merged["payload"] = recipe["payload"]
        return merged
    return dict(recipe)


def _role_refs(endpoints: Any, role: Optional[str] = None) -> List[str]:
    refs = []
    for role_name, role_value in (endpoints or {}).items():
        if role is not None and role_name != role:
            continue
        for item in (role_value or {}).get("items") or []:
            ref = item.get("ref")
            if isinstance(ref, str):
                refs.append(ref)
    return refs


def _parse_payload(payload: Any) -> Dict[str, Any]:
    if payload is None or payload == "":
        return {}
    if isinstance(payload, Mapping):
        return dict(payload)
    parsed = json.loads(payload)
    if not isinstance(parsed, dict):
        raise ValueError("the payload is not a JSON object")
    return parsed


def _col(name: str, column_type: Optional[str]) -> Dict[str, Any]:
    return {"name": name, "type": column_type}


def _with_computed(columns: List[Dict[str, Any]], computed: Any, derived: _Derived) -> List[Dict[str, Any]]:
    """Add a visual recipe's computed columns (``{"name", "type", "expr"}``) to a column list."""
    result = list(columns)
    names = {column["name"] for column in result}
    for item in computed or []:
        name = item.get("name")
        if not isinstance(name, str) or not name:
            continue
        column_type = item.get("type")
        if isinstance(column_type, str):
            column_type = column_type.lower()
        else:
            derived.uncertain_types.add(name)
            column_type = "string"
        if name in names:
            result = [_col(name, column_type) if column["name"] == name else column for column in result]
        else:
            result.append(_col(name, column_type))
            names.add(name)
    return result


def _check_filter(filter_spec: Any, input_ref: str, available: Set[str], usage: str, derived: _Derived) -> None:
    """Visual filters keep their conditions in ``uiData.conditions[].input`` when built in the UI."""
    if not isinstance(filter_spec, Mapping) or not filter_spec.get("enabled"):
        return
    ui_data = filter_spec.get("uiData") or {}
    for condition in ui_data.get("conditions") or []:
        column = condition.get("input") if isinstance(condition, Mapping) else None
        if isinstance(column, str) and column and column not in available:
            derived.missing.append(_Missing(input_ref, column, usage))


def _derive_passthrough(recipe, payload, inputs, main_inputs) -> _Derived:
    derived = _Derived(order_certain=True)
    source = main_inputs[0] if main_inputs else None
    columns = [dict(column) for column in inputs.get(source) or []] if source else []
    for output in _role_refs(recipe.get("outputs")):
        derived.outputs[output] = [dict(column) for column in columns]
    return derived


_AGGREGATES = (
    # (payload flag, output suffix, output type: None = the input column's type, "?" = depends on the input)
    ("countDistinct", "distinct", "bigint"),
    ("min", "min", None),
    ("max", "max", None),
    ("avg", "avg", "double"),
    ("sum", "sum", "?"),
    ("concat", "concat", "string"),
    ("concatDistinct", "concat_distinct", "string"),
    ("stddev", "std", "double"),
    ("count", "count", "bigint"),
    ("first", "first", None),
    ("last", "last", None),
    ("sum2", "sum2", "?"),
)
_INTEGER_TYPES = frozenset({"tinyint", "smallint", "int", "bigint"})


def _rename(columns: List[Dict[str, Any]], overrides: Any, derived: _Derived) -> List[Dict[str, Any]]:
    if not isinstance(overrides, Mapping) or not overrides:
        return columns
    renamed = []
    for column in columns:
        new_name = overrides.get(column["name"])
        if isinstance(new_name, str) and new_name:
            if column["name"] in derived.uncertain_types:
                derived.uncertain_types.add(new_name)
            column = dict(column, name=new_name)
        renamed.append(column)
    return renamed


def _filtered_main_input(payload, inputs, main_inputs, derived: _Derived) -> Tuple[str, List[Dict[str, Any]], Dict]:
    """(name, columns, columns by name) of the main input with its computed columns; its pre-filter checked."""
    source = main_inputs[0] if main_inputs else ""
    columns = _with_computed(list(inputs.get(source) or []), payload.get("computedColumns"), derived)
    available = by_name(columns)
    _check_filter(payload.get("preFilter"), source, set(available), "pre-filter condition", derived)
    return source, columns, available


def _write_grouped_outputs(recipe, payload, output: List[Dict[str, Any]], derived: _Derived) -> _Derived:
    """The global count column and the renamed columns, the same for every output (grouping and distinct)."""
    if payload.get("globalCount"):
        output.append(_col("count", "bigint"))
    output = _rename(output, payload.get("outputColumnNameOverrides"), derived)
    for target in _role_refs(recipe.get("outputs")):
        derived.outputs[target] = [dict(column) for column in output]
    return derived


def _derive_grouping(recipe, payload, inputs, main_inputs) -> _Derived:
    derived = _Derived()
    source, _, available = _filtered_main_input(payload, inputs, main_inputs, derived)
    output: List[Dict[str, Any]] = []
    for key in payload.get("keys") or []:
        name = key.get("column")
        if not isinstance(name, str):
            continue
        if name not in available:
            derived.missing.append(_Missing(source, name, "grouping key"))
            continue
        output.append(_col(name, available[name].get("type")))
    for value in payload.get("values") or []:
        name = value.get("column")
        custom_name = value.get("customName")
        if value.get("customExpr") and isinstance(custom_name, str):
            output.append(_col(custom_name, "string"))
            derived.uncertain_types.add(custom_name)
            continue
        flags = [spec for spec in _AGGREGATES if value.get(spec[0]) is True]
        if not isinstance(name, str) or not flags:
            continue
        if name not in available:
            derived.missing.append(
                _Missing(source, name, "aggregated column ({})".format(", ".join(flag for flag, _, _ in flags)))
            )
            continue
        input_type = available[name].get("type")
        for _, suffix, out_type in flags:
            out_name = f"{name}_{suffix}"
            if out_type is None:
                out_type = input_type
            elif out_type == "?":
                out_type = "bigint" if input_type in _INTEGER_TYPES else "double"
                derived.uncertain_types.add(out_name)
            output.append(_col(out_name, out_type))
    return _write_grouped_outputs(recipe, payload, output, derived)


def _derive_distinct(recipe, payload, inputs, main_inputs) -> _Derived:
    derived = _Derived()
    source, columns, available = _filtered_main_input(payload, inputs, main_inputs, derived)
    keys = [key.get("column") for key in payload.get("keys") or [] if isinstance(key.get("column"), str)]
    if keys:
        output = []
        for name in keys:
            if name not in available:
                derived.missing.append(_Missing(source, name, "distinct key"))
            else:
                output.append(_col(name, available[name].get("type")))
    else:
        output = [dict(column) for column in columns]
        derived.order_certain = True
    return _write_grouped_outputs(recipe, payload, output, derived)


def _derive_split(recipe, payload, inputs, main_inputs) -> _Derived:
    derived = _Derived(order_certain=True)
    source = main_inputs[0] if main_inputs else ""
    columns = list(inputs.get(source) or [])
    with_computed = _with_computed(columns, payload.get("computedColumns"), derived)
    available = set(by_name(with_computed))
    _check_filter(payload.get("preFilter"), source, available, "pre-filter condition", derived)
    mode = payload.get("mode") or "FILTERS"
    column = payload.get("column")
    if mode in ("VALUES", "RANGE", "CENTILE") and isinstance(column, str) and column and column not in available:
        derived.missing.append(_Missing(source, column, f"split column ({mode} mode)"))
    for index, split in enumerate(payload.get("filterSplits") or []):
        _check_filter(split.get("filter"), source, available, f"filter of split {index + 1}", derived)
    written = with_computed if payload.get("writeComputedColumnsInOutput") else columns
    for target in _role_refs(recipe.get("outputs")):
        derived.outputs[target] = [dict(item) for item in written]
    return derived


def _derive_join(recipe, payload, inputs, main_inputs) -> _Derived:
    derived = _Derived()
    virtual_inputs = payload.get("virtualInputs") or [{"index": index} for index in range(len(main_inputs))]
    tables: List[Tuple[str, Dict[str, Mapping[str, Any]], Mapping[str, Any]]] = []
    for position, virtual in enumerate(virtual_inputs):
        index = virtual.get("index", position)
        ref = main_inputs[index] if isinstance(index, int) and 0 <= index < len(main_inputs) else f"input #{index}"
        columns = _with_computed(list(inputs.get(ref) or []), virtual.get("computedColumns"), derived)
        tables.append((ref, by_name(columns), virtual))
        _check_filter(virtual.get("preFilter"), ref, set(by_name(columns)), "pre-filter condition", derived)

    def table(number: Any):
        if isinstance(number, int) and 0 <= number < len(tables):
            return tables[number]
        return None

    for join in payload.get("joins") or []:
        for condition in join.get("on") or []:
            left = condition.get("column1") or {}
            right = condition.get("column2") or {}
            usage = "join condition {} {} {}".format(
                left.get("name"),
                {"EQ": "="}.get(condition.get("type"), condition.get("type") or "="),
                right.get("name"),
            )
            for side in (left, right):
                side_table = table(side.get("table"))
                name = side.get("name")
                if side_table is not None and isinstance(name, str) and name not in side_table[1]:
                    derived.missing.append(_Missing(side_table[0], name, usage))

    selected = [item for item in payload.get("selectedColumns") or [] if isinstance(item, Mapping)]
    output: List[Dict[str, Any]] = []
    names: Set[str] = set()
    for number, (ref, columns, virtual) in enumerate(tables):
        automatic = (
            virtual.get("autoSelectColumns") is True
            or virtual.get("outputColumnsSelectionMode") == "AUTO_NON_CONFLICTING"
        )
        if automatic:
            for name, column in columns.items():
                if name not in names:
                    output.append(_col(name, column.get("type")))
                    names.add(name)
            continue
        for item in selected:
            if item.get("table") != number or not isinstance(item.get("name"), str):
                continue
            name = item["name"]
            if name not in columns:
                derived.missing.append(_Missing(ref, name, "selected column"))
                continue
            out_name = item.get("alias") or name
            if out_name not in names:
                output.append(_col(out_name, columns[name].get("type")))
                names.add(out_name)
    output = _with_computed(output, payload.get("computedColumns"), derived)
    for target in _role_refs(recipe.get("outputs")):
        derived.outputs[target] = [dict(column) for column in output]
    return derived


_GREL_VALUE_REF = re.compile(r"\b(?:val|strval|numval|cells\[)\s*\(?\s*[\"']([^\"']+)[\"']")
_GREL_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_GREL_STRING = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'")


def _formula_refs(expression: Any, vocabulary: Set[str]) -> List[str]:
    """Columns a GREL formula reads: ``val("x")``-style calls, and bare names that are known column names."""
    if not isinstance(expression, str):
        return []
    refs = _GREL_VALUE_REF.findall(expression)
    without_strings = _GREL_STRING.sub(" ", expression)
    for token in _GREL_TOKEN.findall(without_strings):
        if token in vocabulary and token not in refs:
            refs.append(token)
    return refs


def _step_columns(params: Mapping[str, Any]) -> List[str]:
    """The columns a Prepare processor applies to (patterns and "all columns" name none)."""
    if params.get("appliesTo", "SINGLE_COLUMN") not in ("SINGLE_COLUMN", "COLUMNS"):
        return []
    columns = params.get("columns")
    if isinstance(columns, list):
        return [name for name in columns if isinstance(name, str) and name]
    column = params.get("column")
    return [column] if isinstance(column, str) and column else []


#: Prepare processors that only filter rows or rewrite the values of the columns they apply to.
_INPLACE_PROCESSORS = frozenset(
    {
        "FilterOnValue",
        "FilterOnNumericalRange",
        "FilterOnBadType",
        "FilterOnDate",
        "RemoveRowsOnEmpty",
        "FillEmptyWithValue",
        "StringTransformer",
        "FlagOnValue",
    }
)


class _PrepareState:
    """The columns flowing through a Prepare recipe, step after step."""

    def __init__(self, columns: Sequence[Mapping[str, Any]], source: str, derived: _Derived):
        self.columns: List[Dict[str, Any]] = [dict(column) for column in columns]
        self.source = source
        self.derived = derived
        self.checking = True  # False once a step was not understood: later references cannot be judged

    def need(self, columns: Iterable[Optional[str]], usage: str) -> None:
        """Record the columns a step reads that are not there at this point."""
        if not self.checking:
            return
        for name in columns:
            if isinstance(name, str) and name and not self.has(name):
                self.derived.missing.append(_Missing(self.source, name, usage))

    def names(self) -> List[str]:
        return [column["name"] for column in self.columns]

    def has(self, name: str) -> bool:
        return any(column["name"] == name for column in self.columns)

    def add(self, name: str, column_type: Optional[str], after: Optional[str] = None) -> None:
        if self.has(name):
            self.columns = [
                dict(column, type=column_type) if column["name"] == name else column for column in self.columns
            ]
            return
        new = _col(name, column_type)
        position = len(self.columns)
        if after is not None and self.has(after):
            position = self.names().index(after) + 1
        self.columns.insert(position, new)

    def remove(self, names: Iterable[str]) -> None:
        dropped = set(names)
        self.columns = [column for column in self.columns if column["name"] not in dropped]


def _flatten_steps(steps: Any) -> List[Mapping[str, Any]]:
    flat = []
    for step in steps or []:
        if not isinstance(step, Mapping) or step.get("disabled"):
            continue
        if step.get("metaType") == "GROUP":
            flat.extend(_flatten_steps(step.get("steps")))
        else:
            flat.append(step)
    return flat


def _derive_shaker(recipe, payload, inputs, main_inputs, vocabulary: Set[str]) -> _Derived:
    derived = _Derived()
    source = main_inputs[0] if main_inputs else ""
    state = _PrepareState(inputs.get(source) or [], source, derived)
    for number, step in enumerate(_flatten_steps(payload.get("steps")), start=1):
        kind = step.get("type") or "?"
        params = step.get("params") or {}
        where = f"step {number} ({kind})"
        if kind == "ColumnRenamer":
            renamings = [item for item in params.get("renamings") or [] if isinstance(item, Mapping)]
            state.need([item.get("from") for item in renamings], where)
            mapping = {item.get("from"): item.get("to") for item in renamings if item.get("to")}
            state.columns = [
                dict(column, name=mapping[column["name"]]) if column["name"] in mapping else column
                for column in state.columns
            ]
        elif kind == "ColumnsSelector":
            applies_to = params.get("appliesTo", "SINGLE_COLUMN")
            if applies_to in ("SINGLE_COLUMN", "COLUMNS"):
                listed = _step_columns(params)
                state.need(listed, where)
                if params.get("keep"):
                    state.columns = [column for column in state.columns if column["name"] in set(listed)]
                else:
                    state.remove(listed)
            elif applies_to == "ALL":
                if params.get("keep") is False:
                    state.columns = []
            else:
                derived.approximate = True
                derived.notes.append(f"{where} selects columns by pattern: not simulated")
                state.checking = False
        elif kind == "CreateColumnWithGREL":
            state.need(_formula_refs(params.get("expression"), vocabulary), f"formula of {where}")
            target = params.get("column")
            if isinstance(target, str) and target:
                if not state.has(target):
                    derived.uncertain_types.add(target)
                state.add(target, next((c["type"] for c in state.columns if c["name"] == target), "string"))
        elif kind == "DateParser":
            columns = _step_columns(params)
            state.need(columns, where)
            out_column = params.get("outCol")
            if isinstance(out_column, str) and out_column:
                state.add(out_column, "date", after=columns[0] if columns else None)
            else:
                for name in columns:
                    if state.has(name):
                        state.add(name, "date")
        elif kind == "FindReplace":
            columns = _step_columns(params)
            state.need(columns, where)
            out_column = params.get("output")
            if isinstance(out_column, str) and out_column and columns:
                state.add(out_column, "string", after=columns[0])
        elif kind == "ColumnReorder":
            moved = _step_columns(params)
            reference = params.get("referenceColumn")
            action = params.get("reorderAction") or "AT_START"
            relative = action in ("BEFORE_COLUMN", "AFTER_COLUMN")
            state.need(moved + ([reference] if relative else []), where)
            moving = [column for column in state.columns if column["name"] in set(moved)]
            rest = [column for column in state.columns if column["name"] not in set(moved)]
            if action == "AT_END":
                state.columns = rest + moving
            elif action in ("BEFORE_COLUMN", "AFTER_COLUMN") and any(c["name"] == reference for c in rest):
                at = [c["name"] for c in rest].index(reference) + (1 if action == "AFTER_COLUMN" else 0)
                state.columns = rest[:at] + moving + rest[at:]
            else:
                state.columns = moving + rest
        elif kind in _INPLACE_PROCESSORS:
            state.need(_step_columns(params), where)
        elif kind in ("FilterOnCustomFormula", "FlagOnCustomFormula"):
            state.need(_formula_refs(params.get("expression"), vocabulary), f"formula of {where}")
        else:
            derived.approximate = True
            derived.notes.append(f"{where} is not simulated: later steps of this recipe are not checked")
            state.checking = False
    derived.order_certain = not derived.approximate
    for target in _role_refs(recipe.get("outputs")):
        derived.outputs[target] = [dict(column) for column in state.columns]
    return derived


def _derive(recipe: Mapping[str, Any], payload: Dict[str, Any], inputs: Dict[str, List[Dict]], vocabulary: Set[str]):
    kind = recipe.get("type")
    main_inputs = _role_refs(recipe.get("inputs"), "main") or _role_refs(recipe.get("inputs"))
    if kind in ("sync", "sampling", "sort"):
        return _derive_passthrough(recipe, payload, inputs, main_inputs)
    if kind == "grouping":
        return _derive_grouping(recipe, payload, inputs, main_inputs)
    if kind == "distinct":
        return _derive_distinct(recipe, payload, inputs, main_inputs)
    if kind == "join":
        return _derive_join(recipe, payload, inputs, main_inputs)
    if kind == "split":
        return _derive_split(recipe, payload, inputs, main_inputs)
    if kind == "shaker":
        return _derive_shaker(recipe, payload, inputs, main_inputs, vocabulary)
    raise AssertionError(f"recipe type {kind} is not simulated")


def _insert_new(placed: List[Dict[str, Any]], derived_order: List[Dict[str, Any]], new_names: Set[str]):
    """Insert the derived columns named in ``new_names`` after their nearest predecessor already placed."""
    result = list(placed)
    for position, column in enumerate(derived_order):
        if column["name"] not in new_names:
            continue
        at = 0
        for previous in reversed(derived_order[:position]):
            names = [item["name"] for item in result]
            if previous["name"] in names:
                at = names.index(previous["name"]) + 1
                break
        result.insert(at, dict(column))
    return result


def _merge(current: List[Dict], derived: List[Dict], uncertain: Set[str], keep_current_order: bool) -> List[Dict]:
    """The new schema of an output: derived names and sure types, current column details otherwise."""
    if not current:
        return [dict(column) for column in derived]
    existing = by_name(current)
    merged = []
    for column in derived:
        name = column["name"]
        if name in existing:
            kept = dict(existing[name])
            if name not in uncertain and column.get("type") != kept.get("type"):
                kept["type"] = column.get("type")
            merged.append(kept)
        else:
            merged.append(dict(column))
    if not keep_current_order:
        return merged
    merged_by_name = by_name(merged)
    placed = [dict(merged_by_name[name]) for name in existing if name in merged_by_name]
    return _insert_new(placed, merged, {name for name in merged_by_name if name not in existing})


def _patch(current: List[Dict], before: List[Dict], after: List[Dict], uncertain: Set[str]) -> List[Dict]:
    """Apply to ``current`` only what changed between two derivations (when a derivation is approximate)."""
    delta = diff_schemas(before, after)
    removed = set(delta.removed_names)
    retyped = {name: new for name, _, new in delta.type_changed if name not in uncertain}
    placed = [
        dict(column, type=retyped[column["name"]]) if column.get("name") in retyped else dict(column)
        for column in current
        if column.get("name") not in removed
    ]
    present = {column.get("name") for column in placed}
    return _insert_new(placed, after, {name for name in delta.added_names if name not in present})


def _unchecked_reason(kind: str) -> str:
    if kind in CODE_RECIPE_TYPES or kind.startswith("CustomCode_"):
        return "its code sets the output schema when it runs"
    if kind in DATABASE_SCHEMA_RECIPE_TYPES:
        return "the database computes its output schema when the recipe is validated"
    return f"recipes of type '{kind}' are not simulated"


@dataclass
class _Propagation:
    """The preview's running state: the schemas as they would become, the datasets changed so far, the findings."""

    source: str
    source_known: bool  # False: the source already has its new schema and the datasets below it are stale
    current: Dict[str, List[Dict]]
    simulated: Dict[str, List[Dict]]
    dirty: Set[str] = field(default_factory=set)
    changes: Dict[str, SchemaDiff] = field(default_factory=dict)
    new_schemas: Dict[str, List[Dict]] = field(default_factory=dict)
    breaks: List[RecipeBreak] = field(default_factory=list)
    unchecked: List[UncheckedRecipe] = field(default_factory=list)
    checked: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)

    def is_dirty(self, ref: str) -> bool:
        return any(_same_dataset(ref, name) for name in self.dirty)


def preview_impact(
    source: str,
    new_source_columns: Optional[Sequence[Mapping[str, Any]]],
    snapshot: Mapping[str, Sequence[Mapping[str, Any]]],
    recipes: Sequence[Mapping[str, Any]],
    downstream_order: Sequence[str],
) -> ImpactPreview:
    """Simulate propagating ``source``'s schema down the Flow, changing nothing.

    ``snapshot`` holds the current columns of the source and of every input and output of the recipes in
    ``downstream_order`` (the recipes downstream of the source, in topological order); ``recipes`` are their
    definitions with payloads. ``new_source_columns`` is the schema the source would get; ``None`` means the source
    already has its new schema (the user changed it) and the datasets below it are stale.
    """
    source_known = new_source_columns is not None
    if not source_known and _lookup(snapshot, source) is None:
        raise ValueError(f"the snapshot has no schema for the source '{source}': read it before previewing")
    current: Dict[str, List[Dict]] = {name: [dict(column) for column in columns] for name, columns in snapshot.items()}
    state = _Propagation(source, source_known, current, dict(current))
    source_columns = [
        dict(column) for column in (new_source_columns if source_known else _lookup(current, source) or [])
    ]
    state.simulated[source] = source_columns
    source_diff = diff_schemas(_lookup(current, source) or [], source_columns, dataset=source)
    if not source_known or source_diff.changed:
        state.dirty.add(source)
    if source_diff.changed:
        state.changes[source] = source_diff
        state.new_schemas[source] = source_columns
    definitions = {}
    for raw in recipes:
        recipe = _normalise_recipe(raw)
        if isinstance(recipe.get("name"), str):
            definitions[recipe["name"]] = recipe
    for name in downstream_order:
        recipe = definitions.get(name)
        if recipe is None:
            state.unchecked.append(UncheckedRecipe(name, "?", "its definition was not provided"))
        else:
            _check_recipe(state, name, recipe)
    return ImpactPreview(
        source=source,
        changes=state.changes,
        new_schemas=state.new_schemas,
        breaks=tuple(state.breaks),
        unchecked=tuple(state.unchecked),
        checked_recipes=tuple(state.checked),
        notes=tuple(state.notes),
    )


def _check_recipe(state: _Propagation, name: str, recipe: Mapping[str, Any]) -> None:
    """Re-derive one recipe's outputs from its new inputs (when one of them changed) and record what it finds."""
    input_refs = _role_refs(recipe.get("inputs"))
    if not any(state.is_dirty(ref) for ref in input_refs):
        return
    kind = str(recipe.get("type") or "?")
    if kind not in SIMULATED_RECIPE_TYPES:
        state.unchecked.append(UncheckedRecipe(name, kind, _unchecked_reason(kind)))
        return
    missing_inputs = [ref for ref in input_refs if _lookup(state.simulated, ref) is None]
    if missing_inputs:
        reason = "the schema of input {} is unknown".format(", ".join(f"'{ref}'" for ref in missing_inputs))
        state.unchecked.append(UncheckedRecipe(name, kind, reason))
        return
    try:
        payload = _parse_payload(recipe.get("payload"))
    except ValueError as error:
        state.unchecked.append(UncheckedRecipe(name, kind, f"its payload cannot be read ({error})"))
        return
    new_inputs = {ref: _lookup(state.simulated, ref) for ref in input_refs}
    old_inputs = {ref: _lookup(state.current, ref) or [] for ref in input_refs}
    vocabulary = {c["name"] for cols in list(new_inputs.values()) + list(old_inputs.values()) for c in cols}
    derived_new = _derive(recipe, payload, new_inputs, vocabulary)
    derived_old = _derive(recipe, payload, old_inputs, vocabulary)
    state.checked.append(name)
    state.notes.extend(f"recipe '{name}': {note}" for note in derived_new.notes)

    # A dangling reference is a break only if the change caused it: one that exists against today's inputs
    # too is the recipe's own business (e.g. a column computed by an unsimulated step), except for the
    # source when its previous schema is unknown.
    known_before = {
        (item.input, item.column, item.usage)
        for item in derived_old.missing
        if state.source_known or not _same_dataset(item.input, state.source)
    }
    for item in derived_new.missing:
        if (item.input, item.column, item.usage) not in known_before:
            state.breaks.append(RecipeBreak(name, kind, item.input, item.column, item.usage))

    for output, columns in derived_new.outputs.items():
        now = list(_lookup(state.current, output) or [])
        if derived_new.approximate:
            new = _patch(now, derived_old.outputs.get(output, []), columns, derived_new.uncertain_types)
        else:
            new = _merge(now, columns, derived_new.uncertain_types, not derived_new.order_certain)
        diff = diff_schemas(now, new, dataset=output)
        state.simulated[output] = new
        if diff.changed:
            state.dirty.add(output)
            state.changes[output] = diff
            state.new_schemas[output] = new


__all__ = [
    "CODE_RECIPE_TYPES",
    "DATABASE_SCHEMA_RECIPE_TYPES",
    "SIMULATED_RECIPE_TYPES",
    "RecipeBreak",
    "UncheckedRecipe",
    "ImpactPreview",
    "preview_impact",
]
