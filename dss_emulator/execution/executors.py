"""Real execution of recipes on real rows, one compiler per recipe type.

Each recipe type is *compiled* against its input schemas first: that step computes the output schemas and finds every
configuration problem (a missing column, a bad join) without data. Running the compiled recipe then only moves rows.
``schemas.output_schemas`` uses the same compilers, so a computed schema always agrees with the rows a build writes.

Rows are lists aligned with the columns; outputs keep a deterministic order (input order, groups in order of first
appearance, join matches in right-table order).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from dss_emulator.execution.formulas import FormulaError, compile_formula, kind_of_column_type, to_number, to_text

Columns = List[dict]
Rows = List[list]
RowsByName = Dict[str, Rows]

CONFIG_ERROR_TYPE = "com.dataiku.dip.exceptions.DSSIllegalArgumentException"
INPUT_NOT_READY_ERROR_TYPE = "com.dataiku.dip.exceptions.DataStoreIOException"
PYTHON_ERROR_TYPE = "com.dataiku.common.server.APIError$SerializedErrorException"

VISUAL_RECIPE_TYPES = ("grouping", "join", "sync", "shaker", "split")
INTEGER_TYPES = ("int", "bigint", "smallint", "tinyint")
DECIMAL_TYPES = ("double", "float")


class RecipeExecutionError(Exception):
    """A failed recipe run: ``message`` and ``error_type`` become the activity's ``firstFailure``, ``log_lines`` go
    to the job log (raw message lines, without the log4j prefix)."""

    def __init__(
        self,
        message: str,
        error_type: str = CONFIG_ERROR_TYPE,
        log_lines: Optional[List[str]] = None,
        code: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.error_type = error_type
        self.log_lines = list(log_lines or [])
        self.code = code


class RecipeConfigError(Exception):
    """A recipe whose configuration does not fit its input schemas (found without data)."""

    def __init__(self, recipe: str, message: str, column: Optional[str] = None, input_name: Optional[str] = None):
        super().__init__(message)
        self.recipe = recipe
        self.message = message
        self.column = column
        self.input_name = input_name


class InputNotReadyError(RecipeConfigError):
    """An input dataset the recipe needs has no data (never built, or cleared)."""


class _PythonFailure(Exception):
    """A python recipe asked to fail: carries the exception class, message and line as a real child process would."""

    def __init__(self, exception: str, message: str, line: int) -> None:
        super().__init__(message)
        self.exception = exception
        self.message = message
        self.line = line


class CompiledRecipe:
    """A recipe bound to its input schemas: ``outputs`` maps each output name to its columns; ``run`` maps input
    rows by name to output rows by name."""

    def __init__(self, outputs: Dict[str, Columns], run: Callable[[RowsByName], RowsByName]) -> None:
        self.outputs = outputs
        self.run = run


# -- recipe definition helpers -------------------------------------------------------------------------------------


def ref_names(items: Any) -> List[str]:
    """Names of a recipe's inputs or outputs, whether given as names, ``{"ref": name}`` items or DSS's roles map."""
    if items is None:
        return []
    if isinstance(items, dict):
        names: List[str] = []
        for role in items.values():
            names.extend(ref_names((role or {}).get("items", [])))
        return names
    names = []
    for item in items:
        names.append(item["ref"] if isinstance(item, dict) else str(item))
    return names


def payload_object(recipe: dict) -> dict:
    """The payload of a visual recipe as a dict (the flow file stores an object, clients send JSON text)."""
    payload = recipe.get("payload")
    if payload is None:
        return {}
    if isinstance(payload, dict):
        return payload
    if isinstance(payload, str):
        if not payload.strip():
            return {}
        try:
            parsed = json.loads(payload)
        except ValueError as error:
            raise RecipeConfigError(
                recipe.get("name", "?"),
                f"the payload of {recipe.get('type')} recipe {recipe.get('name')} is not valid JSON ({error}): save it "
                "as a JSON object",
            ) from None
        if not isinstance(parsed, dict):
            raise RecipeConfigError(
                recipe.get("name", "?"),
                f"the payload of {recipe.get('type')} recipe {recipe.get('name')} must be a JSON object, not "
                f"{type(parsed).__name__}",
            )
        return parsed
    raise RecipeConfigError(
        recipe.get("name", "?"), f"the payload of recipe {recipe.get('name')} must be a JSON object or text"
    )


def _column_index(recipe: str, columns: Columns, name: Any, input_name: str, purpose: str) -> int:
    for index, column in enumerate(columns):
        if column.get("name") == name:
            return index
    available = ", ".join(column.get("name", "?") for column in columns) or "no columns"
    raise RecipeConfigError(
        recipe,
        f"Column '{name}' not found in input dataset {input_name} of recipe {recipe} ({purpose}). Available columns: "
        f"{available}. Fix the recipe or update the input schema.",
        column=str(name),
        input_name=input_name,
    )


def _check_unique(recipe: str, columns: Columns, what: str) -> None:
    seen = set()
    for column in columns:
        if column["name"] in seen:
            raise RecipeConfigError(
                recipe,
                f"Column '{column['name']}' appears twice in the output of {what} {recipe}: rename one of them",
                column=column["name"],
            )
        seen.add(column["name"])


def _hashable(value: Any) -> Any:
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True)
    return value


def _cast_to_type(value: Any, dss_type: str) -> Any:
    """Store a value the way a dataset of that column type holds it."""
    if value is None:
        return None
    if dss_type in INTEGER_TYPES:
        number = to_number(value)
        return None if number is None or (isinstance(number, float) and not math.isfinite(number)) else int(number)
    if dss_type in DECIMAL_TYPES:
        number = to_number(value)
        return None if number is None else float(number)
    if dss_type == "boolean":
        if isinstance(value, str):
            return value.strip().lower() == "true"
        return bool(value)
    if dss_type == "string":
        return to_text(value)
    return value


def _dataset_inputs(recipe: dict, input_schemas: Dict[str, Columns], required: bool) -> List[str]:
    """The recipe's inputs that are datasets (folders are not in ``input_schemas``); visual recipes need them all."""
    names = ref_names(recipe.get("inputs"))
    present = [name for name in names if name in input_schemas]
    if required:
        for name in names:
            if name not in input_schemas:
                raise InputNotReadyError(
                    recipe["name"],
                    f"Input dataset {name} of recipe {recipe['name']} is not available: build it first",
                    input_name=name,
                )
    return present


def _first_input(recipe: dict, input_schemas: Dict[str, Columns]) -> str:
    names = _dataset_inputs(recipe, input_schemas, required=True)
    if not names:
        raise RecipeConfigError(
            recipe["name"], f"{recipe.get('type')} recipe {recipe['name']} has no input dataset: add one"
        )
    return names[0]


# -- copy (sync and types without a dedicated executor) ------------------------------------------------------------


def _compile_copy(recipe: dict, input_schemas: Dict[str, Columns], required: bool) -> CompiledRecipe:
    inputs = _dataset_inputs(recipe, input_schemas, required=required)
    outputs = ref_names(recipe.get("outputs"))
    if not inputs:
        return CompiledRecipe({name: [] for name in outputs}, lambda rows: {name: [] for name in outputs})
    source = inputs[0]
    columns = [dict(column) for column in input_schemas[source]]

    def run(rows: RowsByName) -> RowsByName:
        return {name: [list(row) for row in rows[source]] for name in outputs}

    return CompiledRecipe({name: [dict(c) for c in columns] for name in outputs}, run)


def _compile_sync(recipe: dict, input_schemas: Dict[str, Columns]) -> CompiledRecipe:
    _first_input(recipe, input_schemas)
    return _compile_copy(recipe, input_schemas, required=True)


# -- grouping ------------------------------------------------------------------------------------------------------

# (payload flag, output suffix) in the order the aggregates of one column appear in the output.
GROUPING_AGGREGATES = (
    ("min", "min"),
    ("max", "max"),
    ("avg", "avg"),
    ("sum", "sum"),
    ("count", "count"),
    ("countDistinct", "distinct"),
    ("first", "first"),
    ("last", "last"),
    ("stddev", "std"),
    ("concat", "concat"),
    ("concatDistinct", "concat_distinct"),
    ("sum2", "sum2"),
)


def _aggregate_type(aggregate: str, column_type: str) -> str:
    if aggregate in ("min", "max", "first", "last"):
        return column_type
    if aggregate == "sum":
        return "bigint" if column_type in INTEGER_TYPES else "double"
    if aggregate in ("count", "countDistinct"):
        return "bigint"
    if aggregate in ("concat", "concatDistinct"):
        return "string"
    return "double"


def _aggregate(aggregate: str, values: List[Any], column_type: str, not_null_only: bool) -> Any:
    present = [value for value in values if value is not None]
    if aggregate == "count":
        return len(present)
    if aggregate == "countDistinct":
        return len({_hashable(value) for value in present})
    if aggregate in ("first", "last"):
        pool = present if not_null_only else values
        if not pool:
            return None
        return pool[0] if aggregate == "first" else pool[-1]
    if aggregate in ("concat", "concatDistinct"):
        texts = [to_text(value) for value in present]
        if aggregate == "concatDistinct":
            texts = list(dict.fromkeys(texts))
        return ",".join(texts) if texts else None
    numeric_column = column_type in INTEGER_TYPES or column_type in DECIMAL_TYPES
    if aggregate in ("min", "max"):
        if numeric_column:
            numbers = [n for n in (to_number(value) for value in present) if n is not None]
            if not numbers:
                return None
            return _cast_to_type(min(numbers) if aggregate == "min" else max(numbers), column_type)
        texts = [value if isinstance(value, str) else to_text(value) for value in present]
        if not texts:
            return None
        chosen = min(texts) if aggregate == "min" else max(texts)
        return present[texts.index(chosen)]
    numbers = [n for n in (to_number(value) for value in present) if n is not None]
    if not numbers:
        return None
    if aggregate == "sum":
        total = sum(numbers)
        return int(total) if column_type in INTEGER_TYPES else float(total)
    if aggregate == "avg":
        return float(sum(numbers)) / len(numbers)
    if aggregate == "sum2":
        return float(sum(n * n for n in numbers))
    if len(numbers) < 2:
        return None
    mean = float(sum(numbers)) / len(numbers)
    return math.sqrt(sum((n - mean) ** 2 for n in numbers) / (len(numbers) - 1))


def _compile_grouping(recipe: dict, input_schemas: Dict[str, Columns]) -> CompiledRecipe:
    name = recipe["name"]
    payload = payload_object(recipe)
    source = _first_input(recipe, input_schemas)
    columns = input_schemas[source]
    outputs = ref_names(recipe.get("outputs"))

    key_indexes: List[int] = []
    output_columns: Columns = []
    for position, key in enumerate(payload.get("keys") or []):
        key_name = key.get("column") if isinstance(key, dict) else key
        index = _column_index(name, columns, key_name, source, f"grouping key {position}")
        key_indexes.append(index)
        output_columns.append({"name": columns[index]["name"], "type": columns[index].get("type") or "string"})

    aggregates: List[Tuple[int, str, str, bool]] = []  # (input index, aggregate, column type, first/last not null)
    for position, value in enumerate(payload.get("values") or []):
        column_name = value.get("column")
        index = _column_index(name, columns, column_name, source, f"aggregated value {position}")
        column_type = columns[index].get("type") or "string"
        for flag, suffix in GROUPING_AGGREGATES:
            if value.get(flag):
                aggregates.append((index, flag, column_type, bool(value.get("firstLastNotNull"))))
                output_columns.append({"name": f"{column_name}_{suffix}", "type": _aggregate_type(flag, column_type)})
    global_count = bool(payload.get("globalCount"))
    if global_count:
        output_columns.append({"name": "count", "type": "bigint"})
    overrides = payload.get("outputColumnNameOverrides") or {}
    for column in output_columns:
        renamed = overrides.get(column["name"])
        if renamed:
            column["name"] = renamed
    _check_unique(name, output_columns, "grouping recipe")

    def run(rows: RowsByName) -> RowsByName:
        groups: Dict[tuple, List[list]] = {}
        for row in rows[source]:
            key = tuple(_hashable(row[i]) for i in key_indexes)
            group = groups.get(key)
            if group is None:
                groups[key] = group = []
            group.append(row)
        if not key_indexes and not groups:
            groups[()] = []
        result = []
        for group_rows in groups.values():
            out = [group_rows[0][i] for i in key_indexes]
            for index, aggregate, column_type, not_null in aggregates:
                out.append(_aggregate(aggregate, [row[index] for row in group_rows], column_type, not_null))
            if global_count:
                out.append(len(group_rows))
            result.append(out)
        return {output: [list(row) for row in result] for output in outputs}

    return CompiledRecipe({output: [dict(c) for c in output_columns] for output in outputs}, run)


# -- join ----------------------------------------------------------------------------------------------------------

JOIN_TYPES = ("INNER", "LEFT", "RIGHT", "FULL", "CROSS", "LEFT_ANTI", "RIGHT_ANTI")
CONDITION_TYPES = ("EQ", "NE", "LT", "LTE", "GT", "GTE")


def _condition_normaliser(numeric: bool, as_text: bool) -> Callable[[Any], Any]:
    """How both sides of a join condition are read before comparing: as numbers, as text, or as they are."""
    if numeric:
        return to_number
    if as_text:
        return lambda value: None if value is None else to_text(value)
    return lambda value: value


def _condition_test(kind: str, normalise: Callable[[Any], Any]) -> Callable[[Any, Any], bool]:
    def test(left: Any, right: Any) -> bool:
        x, y = normalise(left), normalise(right)
        if x is None or y is None:
            return False
        if kind == "EQ":
            return x == y
        if kind == "NE":
            return x != y
        if type(x) is not type(y) and not (isinstance(x, (int, float)) and isinstance(y, (int, float))):
            x, y = to_text(x), to_text(y)
        if kind == "LT":
            return x < y
        if kind == "LTE":
            return x <= y
        if kind == "GT":
            return x > y
        return x >= y

    return test


def _compile_join(recipe: dict, input_schemas: Dict[str, Columns]) -> CompiledRecipe:
    name = recipe["name"]
    payload = payload_object(recipe)
    inputs = _dataset_inputs(recipe, input_schemas, required=True)
    outputs = ref_names(recipe.get("outputs"))
    if not inputs:
        raise RecipeConfigError(name, f"join recipe {name} has no input dataset: add two or more")
    virtual_inputs = payload.get("virtualInputs") or [{"index": i} for i in range(len(inputs))]
    tables: List[str] = []  # virtual table index -> input name
    prefixes: List[str] = []
    for position, virtual in enumerate(virtual_inputs):
        index = virtual.get("index", position)
        if not isinstance(index, int) or not 0 <= index < len(inputs):
            raise RecipeConfigError(
                name,
                f"virtualInputs[{position}].index of join recipe {name} is {index!r} but the recipe "
                f"has {len(inputs)} inputs: fix the index",
            )
        tables.append(inputs[index])
        prefixes.append(virtual.get("prefix") or "")
    schemas = [input_schemas[table] for table in tables]
    autocast = bool(payload.get("enableAutoCastInJoinConditions"))

    def describe(table: int) -> str:
        return f"{tables[table]} (table {table})"

    def table_index(value: Any, where: str) -> int:
        if not isinstance(value, int) or not 0 <= value < len(tables):
            raise RecipeConfigError(
                name,
                f"{where} of join recipe {name} refers to table {value!r} but the recipe "
                f"has {len(tables)} tables: fix the table index",
            )
        return value

    joins = payload.get("joins") or []
    if len(tables) > 1 and not joins:
        raise RecipeConfigError(
            name, f"join recipe {name} has {len(tables)} inputs but no join: add a join between them"
        )
    joined = {table_index(joins[0].get("table1", 0), "joins[0].table1")} if joins else {0}
    steps = []  # (table2, join type, conditions mode, [(left table, left index, right index, test)])
    for number, join in enumerate(joins):
        where = f"joins[{number}]"
        table2 = table_index(join.get("table2"), where + ".table2")
        if table2 in joined:
            raise RecipeConfigError(
                name,
                f"{where}.table2 of join recipe {name} joins table {table2} twice: each join must bring a new table",
            )
        join_type = join.get("type", "LEFT")
        if join_type not in JOIN_TYPES:
            supported = ", ".join(JOIN_TYPES)
            raise RecipeConfigError(
                name,
                f"{where} of join recipe {name} has type {join_type!r}, which the emulator "
                f"does not run (supported: {supported})",
            )
        conditions = []
        if join_type != "CROSS":
            if not join.get("on"):
                raise RecipeConfigError(
                    name,
                    f"{where} of join recipe {name} ({join_type}) has no condition: add an "
                    "`on` condition or use a CROSS join",
                )
            for position, condition in enumerate(join.get("on") or []):
                cwhere = f"{where}.on[{position}]"
                sides = []
                for key in ("column1", "column2"):
                    side = condition.get(key) or {}
                    table = table_index(side.get("table"), f"{cwhere}.{key}.table")
                    if table != table2 and table not in joined:
                        raise RecipeConfigError(
                            name,
                            f"{cwhere}.{key} of join recipe {name} refers to {describe(table)}, which is not "
                            "joined yet at that point: reorder the joins",
                        )
                    index = _column_index(
                        name, schemas[table], side.get("name"), describe(table), f"join condition {cwhere}"
                    )
                    sides.append((table, index))
                if (sides[0][0] == table2) == (sides[1][0] == table2):
                    raise RecipeConfigError(
                        name,
                        f"{cwhere} of join recipe {name} must compare a column of {describe(table2)} with a "
                        "column of an earlier table",
                    )
                if sides[0][0] == table2:
                    sides.reverse()
                kind = condition.get("type", "EQ")
                if kind not in CONDITION_TYPES:
                    supported = ", ".join(CONDITION_TYPES)
                    raise RecipeConfigError(
                        name,
                        f"{cwhere} of join recipe {name} has condition type {kind!r}, which "
                        f"the emulator does not run (supported: {supported})",
                    )
                left_type = schemas[sides[0][0]][sides[0][1]].get("type")
                right_type = schemas[table2][sides[1][1]].get("type")
                numeric = kind_of_column_type(left_type) in ("int", "double") and kind_of_column_type(right_type) in (
                    "int",
                    "double",
                )
                normalise = _condition_normaliser(numeric, autocast or left_type != right_type)
                conditions.append(
                    (sides[0][0], sides[0][1], sides[1][1], kind, normalise, _condition_test(kind, normalise))
                )
        mode = join.get("conditionsMode", "AND")
        if mode not in ("AND", "OR"):
            raise RecipeConfigError(name, f"{where}.conditionsMode of join recipe {name} is {mode!r}: use AND or OR")
        steps.append((table2, join_type, mode, conditions))
        joined.add(table2)
    if len(joined) < len(tables):
        missing = [describe(t) for t in range(len(tables)) if t not in joined]
        never = ", ".join(missing)
        raise RecipeConfigError(name, f"join recipe {name} never joins {never}: add a join for each input")

    selections: List[Tuple[int, int]] = []
    output_columns: Columns = []
    selected = payload.get("selectedColumns")
    if selected:
        for position, column in enumerate(selected):
            table = table_index(column.get("table", 0), f"selectedColumns[{position}].table")
            index = _column_index(
                name, schemas[table], column.get("name"), describe(table), f"selectedColumns[{position}]"
            )
            source_column = schemas[table][index]
            out_name = column.get("alias") or (
                f"{prefixes[table]}_{source_column['name']}" if prefixes[table] else source_column["name"]
            )
            selections.append((table, index))
            output_columns.append({"name": out_name, "type": source_column.get("type") or "string"})
        _check_unique(name, output_columns, "join recipe")
    else:
        # Automatic selection: every column of every table, skipping names already taken (AUTO_NON_CONFLICTING).
        taken = set()
        for table, schema in enumerate(schemas):
            for index, source_column in enumerate(schema):
                out_name = f"{prefixes[table]}_{source_column['name']}" if prefixes[table] else source_column["name"]
                if out_name in taken:
                    continue
                taken.add(out_name)
                selections.append((table, index))
                output_columns.append({"name": out_name, "type": source_column.get("type") or "string"})

    first_table = min(joined) if not joins else joins[0].get("table1", 0)
    width = len(tables)

    def run(rows: RowsByName) -> RowsByName:
        table_rows = [rows[table] for table in tables]
        combined: List[list] = []
        for row in table_rows[first_table]:
            slot: list = [None] * width
            slot[first_table] = row
            combined.append(slot)
        for table2, join_type, mode, conditions in steps:
            combined = _join_step(combined, table_rows[table2], table2, join_type, mode, conditions, width)
        result = []
        for slot in combined:
            result.append([None if slot[table] is None else slot[table][index] for table, index in selections])
        return {output: [list(row) for row in result] for output in outputs}

    return CompiledRecipe({output: [dict(c) for c in output_columns] for output in outputs}, run)


def _join_step(
    combined: List[list], right_rows: Rows, table2: int, join_type: str, mode: str, conditions: list, width: int
) -> List[list]:
    """Join the rows built so far with one more table, keeping left order and right order within matches."""
    if join_type == "CROSS":
        out = []
        for slot in combined:
            for right in right_rows:
                new = list(slot)
                new[table2] = right
                out.append(new)
        return out

    hashable_eq = mode == "AND" and all(condition[3] == "EQ" for condition in conditions)
    index: Dict[tuple, List[int]] = {}
    if hashable_eq:
        for position, right in enumerate(right_rows):
            key = tuple(_hashable(normalise(right[r])) for _, _, r, _, normalise, _ in conditions)
            if any(part is None for part in key):
                continue
            index.setdefault(key, []).append(position)

    def matches(slot: list) -> List[int]:
        if hashable_eq:
            key = []
            for left_table, left_index, _, _, normalise, _ in conditions:
                left_row = slot[left_table]
                part = None if left_row is None else _hashable(normalise(left_row[left_index]))
                if part is None:
                    return []
                key.append(part)
            return index.get(tuple(key), [])
        found = []
        for position, right in enumerate(right_rows):
            results = []
            for left_table, left_index, right_index, _, _, test in conditions:
                left_row = slot[left_table]
                results.append(left_row is not None and test(left_row[left_index], right[right_index]))
            if all(results) if mode == "AND" else any(results):
                found.append(position)
        return found

    out: List[list] = []
    matched_right = set()
    for slot in combined:
        found = matches(slot)
        matched_right.update(found)
        if join_type == "LEFT_ANTI":
            if not found:
                out.append(list(slot))
            continue
        if join_type == "RIGHT_ANTI":
            continue
        for position in found:
            new = list(slot)
            new[table2] = right_rows[position]
            out.append(new)
        if not found and join_type in ("LEFT", "FULL"):
            out.append(list(slot))
    if join_type in ("RIGHT", "FULL", "RIGHT_ANTI"):
        for position, right in enumerate(right_rows):
            if position not in matched_right:
                new: list = [None] * width
                new[table2] = right
                out.append(new)
    return out


# -- shaker (Prepare) ----------------------------------------------------------------------------------------------

SHAKER_PROCESSORS = (
    "ColumnRenamer",
    "ColumnsSelector",
    "ColumnReorder",
    "FilterOnValue",
    "FilterOnNumericalRange",
    "CreateColumnWithGREL",
    "FindReplace",
)

RowStep = Callable[[Rows], Rows]


def _flatten_steps(steps: Sequence[dict], prefix: str) -> List[Tuple[str, dict]]:
    flat = []
    for position, step in enumerate(steps or []):
        where = f"{prefix}[{position}]"
        if step.get("disabled"):
            continue
        if step.get("metaType") == "GROUP":
            flat.extend(_flatten_steps(step.get("steps") or [], where + ".steps"))
        else:
            flat.append((where, step))
    return flat


def _step_columns(recipe: str, seen_as: str, columns: Columns, params: dict, where: str, processor: str) -> List[int]:
    applies_to = params.get("appliesTo", "SINGLE_COLUMN")
    if applies_to == "ALL":
        return list(range(len(columns)))
    if applies_to not in ("SINGLE_COLUMN", "COLUMNS"):
        raise RecipeConfigError(
            recipe,
            f"{where} ({processor}) of prepare recipe {recipe} applies to "
            f"{applies_to!r}, which the emulator does not run (use SINGLE_COLUMN, "
            "COLUMNS or ALL)",
        )
    names = params.get("columns") or []
    if not names:
        raise RecipeConfigError(
            recipe, f"{where} ({processor}) of prepare recipe {recipe} lists no column: set params.columns"
        )
    return [_column_index(recipe, columns, column, seen_as, f"{where} {processor}") for column in names]


def _row_filter(action: str, match: Callable[[list], bool], recipe: str, where: str, processor: str) -> RowStep:
    if action == "REMOVE_ROW":
        return lambda rows: [row for row in rows if not match(row)]
    if action == "KEEP_ROW":
        return lambda rows: [row for row in rows if match(row)]
    raise RecipeConfigError(
        recipe, f"{where} ({processor}) of prepare recipe {recipe} has action {action!r}: use KEEP_ROW or REMOVE_ROW"
    )


def _normaliser(mode: str) -> Callable[[str], str]:
    if mode == "EXACT":
        return lambda text: text
    return lambda text: text.strip().lower()


def _compile_shaker_step(recipe: str, source: str, columns: Columns, where: str, step: dict) -> Tuple[Columns, RowStep]:
    """One Prepare step: the columns after it and what it does to rows. ``source`` names the recipe's input."""
    seen_as = f"{source} (as seen by {where})"
    processor = step.get("type")
    params = step.get("params") or {}
    if processor == "ColumnRenamer":
        new_columns = [dict(column) for column in columns]
        for position, renaming in enumerate(params.get("renamings") or []):
            index = _column_index(
                recipe, columns, renaming.get("from"), seen_as, f"{where}.params.renamings[{position}]"
            )
            target = renaming.get("to")
            if not target:
                raise RecipeConfigError(
                    recipe, f"{where}.params.renamings[{position}] of prepare recipe {recipe} has no `to` name"
                )
            new_columns[index]["name"] = target
        _check_unique(recipe, new_columns, "prepare recipe")
        return new_columns, lambda rows: rows
    if processor == "ColumnsSelector":
        indexes = set(_step_columns(recipe, seen_as, columns, params, where, processor))
        keep = bool(params.get("keep", False))
        kept = [i for i in range(len(columns)) if (i in indexes) == keep]
        return [dict(columns[i]) for i in kept], lambda rows: [[row[i] for i in kept] for row in rows]
    if processor == "ColumnReorder":
        moved = _step_columns(
            recipe, seen_as, columns, dict(params, appliesTo=params.get("appliesTo", "COLUMNS")), where, processor
        )
        rest = [i for i in range(len(columns)) if i not in moved]
        action = params.get("reorderAction", "AT_START")
        if action == "AT_START":
            order = moved + rest
        elif action == "AT_END":
            order = rest + moved
        elif action in ("BEFORE_COLUMN", "AFTER_COLUMN"):
            reference = _column_index(
                recipe, columns, params.get("referenceColumn"), seen_as, where + " referenceColumn"
            )
            if reference in moved:
                raise RecipeConfigError(
                    recipe,
                    f"{where} (ColumnReorder) of prepare recipe {recipe} moves its own "
                    "reference column: choose another referenceColumn",
                )
            at = rest.index(reference) + (1 if action == "AFTER_COLUMN" else 0)
            order = rest[:at] + moved + rest[at:]
        else:
            raise RecipeConfigError(
                recipe,
                f"{where} (ColumnReorder) of prepare recipe {recipe} has reorderAction "
                f"{action!r}: use AT_START, AT_END, BEFORE_COLUMN or AFTER_COLUMN",
            )
        return [dict(columns[i]) for i in order], lambda rows: [[row[i] for i in order] for row in rows]
    if processor == "FilterOnValue":
        indexes = _step_columns(recipe, seen_as, columns, params, where, processor)
        normalise = _normaliser(params.get("normalizationMode", "EXACT"))
        wanted = [normalise(to_text(value)) for value in params.get("values") or []]
        matching = params.get("matchingMode", "FULL_STRING")
        if matching == "FULL_STRING":
            wanted_set = set(wanted)

            def cell_matches(value: Any) -> bool:
                return value is not None and normalise(to_text(value)) in wanted_set
        elif matching == "SUBSTRING":

            def cell_matches(value: Any) -> bool:
                return value is not None and any(w in normalise(to_text(value)) for w in wanted)
        else:
            raise RecipeConfigError(
                recipe,
                f"{where} (FilterOnValue) of prepare recipe {recipe} has matchingMode "
                f"{matching!r}: use FULL_STRING or SUBSTRING",
            )
        combine = any if params.get("booleanMode", "AND") == "OR" else all
        match = lambda row: combine(cell_matches(row[i]) for i in indexes)  # noqa: E731
        return [dict(c) for c in columns], _row_filter(
            params.get("action", "KEEP_ROW"), match, recipe, where, processor
        )
    if processor == "FilterOnNumericalRange":
        indexes = _step_columns(recipe, seen_as, columns, params, where, processor)
        low = to_number(params.get("min"))
        high = to_number(params.get("max"))

        def in_range(value: Any) -> bool:
            number = to_number(value)
            return number is not None and (low is None or number >= low) and (high is None or number <= high)

        combine = any if params.get("booleanMode", "AND") == "OR" else all
        match = lambda row: combine(in_range(row[i]) for i in indexes)  # noqa: E731
        return [dict(c) for c in columns], _row_filter(
            params.get("action", "KEEP_ROW"), match, recipe, where, processor
        )
    if processor == "CreateColumnWithGREL":
        target = params.get("column")
        if not target:
            raise RecipeConfigError(
                recipe,
                f"{where} (CreateColumnWithGREL) of prepare recipe {recipe} has no output column: set params.column",
            )
        try:
            formula = compile_formula(params.get("expression", ""), columns)
        except FormulaError as error:
            raise RecipeConfigError(
                recipe,
                f"{where} (CreateColumnWithGREL) of prepare recipe {recipe}: {error.message}",
                column=error.column,
            ) from None
        new_columns = [dict(c) for c in columns]
        existing = [i for i, c in enumerate(columns) if c["name"] == target]
        column = {"name": target, "type": formula.output_type}
        if existing:
            position = existing[0]
            new_columns[position] = column

            def replace(rows: Rows) -> Rows:
                out = []
                for row in rows:
                    new = list(row)
                    new[position] = formula.evaluate(row)
                    out.append(new)
                return out

            return new_columns, replace
        new_columns.append(column)
        return new_columns, lambda rows: [list(row) + [formula.evaluate(row)] for row in rows]
    if processor == "FindReplace":
        indexes = _step_columns(recipe, seen_as, columns, params, where, processor)
        normalise = _normaliser(params.get("normalization", "EXACT"))
        mapping = [(to_text(m.get("from")), to_text(m.get("to"))) for m in params.get("mapping") or []]
        matching = params.get("matching", "FULL_STRING")
        if matching not in ("FULL_STRING", "SUBSTRING"):
            raise RecipeConfigError(
                recipe,
                f"{where} (FindReplace) of prepare recipe {recipe} has matching "
                f"{matching!r}: use FULL_STRING or SUBSTRING",
            )
        if params.get("output"):
            raise RecipeConfigError(
                recipe,
                f"{where} (FindReplace) of prepare recipe {recipe} writes to another "
                "column, which the emulator does not run: leave params.output empty",
            )

        flags = 0 if params.get("normalization", "EXACT") == "EXACT" else re.IGNORECASE
        patterns = [(re.compile(re.escape(source), flags), target) for source, target in mapping if source]

        def replace_text(value: Any) -> Any:
            if value is None:
                return None
            text = to_text(value)
            if matching == "FULL_STRING":
                for source, target in mapping:
                    if normalise(text) == normalise(source):
                        return target
                return text
            for pattern, target in patterns:
                replaced = pattern.sub(lambda _match, t=target: t, text)
                if replaced != text and params.get("stopAfterFirstMatch"):
                    return replaced
                text = replaced
            return text

        new_columns = [dict(c) for c in columns]
        for i in indexes:
            new_columns[i]["type"] = "string"

        def find_replace(rows: Rows) -> Rows:
            out = []
            for row in rows:
                new = list(row)
                for i in indexes:
                    new[i] = replace_text(row[i])
                out.append(new)
            return out

        return new_columns, find_replace
    supported = ", ".join(SHAKER_PROCESSORS)
    raise RecipeConfigError(
        recipe,
        f"{where} of prepare recipe {recipe} uses processor {processor!r}, which the "
        f"emulator does not run (supported: {supported})",
    )


def _compile_shaker(recipe: dict, input_schemas: Dict[str, Columns]) -> CompiledRecipe:
    name = recipe["name"]
    payload = payload_object(recipe)
    source = _first_input(recipe, input_schemas)
    outputs = ref_names(recipe.get("outputs"))
    columns = [dict(c) for c in input_schemas[source]]
    row_steps: List[RowStep] = []
    for where, step in _flatten_steps(payload.get("steps") or [], "steps"):
        columns, row_step = _compile_shaker_step(name, source, columns, where, step)
        row_steps.append(row_step)

    def run(rows: RowsByName) -> RowsByName:
        current = [list(row) for row in rows[source]]
        for row_step in row_steps:
            current = row_step(current)
        return {output: [list(row) for row in current] for output in outputs}

    return CompiledRecipe({output: [dict(c) for c in columns] for output in outputs}, run)


# -- split ---------------------------------------------------------------------------------------------------------


def _compile_split(recipe: dict, input_schemas: Dict[str, Columns]) -> CompiledRecipe:
    name = recipe["name"]
    payload = payload_object(recipe)
    source = _first_input(recipe, input_schemas)
    columns = input_schemas[source]
    outputs = ref_names(recipe.get("outputs"))
    default_index = payload.get("defaultOutputIndex", 1 if len(outputs) > 1 else -1)

    def check_output(index: Any, where: str) -> int:
        if not isinstance(index, int) or not -1 <= index < len(outputs):
            raise RecipeConfigError(
                name,
                f"{where} of split recipe {name} is {index!r} but the recipe has "
                f"{len(outputs)} outputs: "
                f"use an index from 0 to {len(outputs) - 1}, or -1 to drop the rows",
            )
        return index

    check_output(default_index, "defaultOutputIndex")
    mode = payload.get("mode", "FILTERS")
    routes: List[Tuple[Callable[[list], bool], int]] = []
    if mode == "VALUES":
        index = _column_index(name, columns, payload.get("column"), source, "split column")
        for position, split in enumerate(payload.get("valueSplits") or []):
            target = check_output(split.get("outputIndex"), f"valueSplits[{position}].outputIndex")
            wanted = to_text(split.get("value"))
            routes.append((lambda row, i=index, w=wanted: row[i] is not None and to_text(row[i]) == w, target))
    elif mode == "FILTERS":
        for position, split in enumerate(payload.get("filterSplits") or []):
            target = check_output(split.get("outputIndex"), f"filterSplits[{position}].outputIndex")
            condition = split.get("filter") or {}
            if condition.get("enabled") is False:
                continue
            expression = condition.get("expression")
            if not expression:
                raise RecipeConfigError(
                    name,
                    f"filterSplits[{position}].filter of split recipe {name} has no "
                    "expression: write a formula such as `amount > 100`",
                )
            try:
                formula = compile_formula(expression, columns)
            except FormulaError as error:
                raise RecipeConfigError(
                    name,
                    f"filterSplits[{position}] of split recipe {name}: {error.message}",
                    column=error.column,
                    input_name=source,
                ) from None
            routes.append((lambda row, f=formula: f.evaluate(row) is True, target))
    else:
        raise RecipeConfigError(
            name, f"split recipe {name} uses mode {mode!r}, which the emulator does not run (use VALUES or FILTERS)"
        )

    def run(rows: RowsByName) -> RowsByName:
        result: Dict[str, Rows] = {output: [] for output in outputs}
        for row in rows[source]:
            target = default_index
            for matches, index in routes:
                if matches(row):
                    target = index
                    break
            if target >= 0:
                result[outputs[target]].append(list(row))
        return result

    return CompiledRecipe({output: [dict(c) for c in columns] for output in outputs}, run)


# -- python --------------------------------------------------------------------------------------------------------

PYTHON_TRANSFORMS = ("copy", "formula", "logistic_score")


def _python_failure(spec: Any, code: str) -> _PythonFailure:
    if isinstance(spec, str):
        exception, _, message = spec.partition(":")
        return _PythonFailure(exception.strip() or "Exception", message.strip(), _default_line(code))
    return _PythonFailure(
        str(spec.get("exception", "Exception")),
        str(spec.get("message", "")),
        int(spec.get("line") or _default_line(code)),
    )


def _default_line(code: str) -> int:
    lines = code.splitlines()
    for number in range(len(lines), 0, -1):
        if lines[number - 1].strip() and not lines[number - 1].lstrip().startswith("#"):
            return number
    return 1


def _compile_python(recipe: dict, input_schemas: Dict[str, Columns]) -> CompiledRecipe:
    name = recipe["name"]
    params = recipe.get("params") or {}
    transform = params.get("transform")
    code = recipe.get("payload") if isinstance(recipe.get("payload"), str) else ""
    outputs = ref_names(recipe.get("outputs"))
    if transform is None:
        return _compile_copy(recipe, input_schemas, required=False)
    if not isinstance(transform, dict):
        raise RecipeConfigError(
            name, f'params.transform of python recipe {name} must be an object such as {{"type": "copy"}}'
        )
    failure = transform.get("fail_with")
    kind = transform.get("type", "copy")
    if kind not in PYTHON_TRANSFORMS:
        choices = ", ".join(PYTHON_TRANSFORMS)
        raise RecipeConfigError(
            name, f"params.transform.type of python recipe {name} is {kind!r}: use one of {choices}"
        )
    inputs = _dataset_inputs(recipe, input_schemas, required=False)
    if kind == "copy":
        compiled = _compile_copy(recipe, input_schemas, required=False)
    elif not inputs:
        raise RecipeConfigError(name, f"python recipe {name} uses transform {kind!r} but has no input dataset: add one")
    elif kind == "formula":
        compiled = _compile_python_formula(recipe, transform, inputs[0], input_schemas[inputs[0]], outputs)
    else:
        compiled = _compile_logistic_score(recipe, transform, inputs[0], input_schemas[inputs[0]], outputs)
    if failure is None:
        return compiled
    failure_error = _python_failure(failure, code)

    def fail(rows: RowsByName) -> RowsByName:
        raise failure_error

    return CompiledRecipe(compiled.outputs, fail)


def _compile_python_formula(
    recipe: dict, transform: dict, source: str, columns: Columns, outputs: List[str]
) -> CompiledRecipe:
    name = recipe["name"]
    keep = transform.get("keep")
    keep_indexes = (
        list(range(len(columns)))
        if keep is None
        else [_column_index(name, columns, column, source, "params.transform.keep") for column in keep]
    )
    output_columns = [dict(columns[i]) for i in keep_indexes]
    formulas = []
    for position, spec in enumerate(transform.get("columns") or []):
        where = f"params.transform.columns[{position}]"
        if not spec.get("name"):
            raise RecipeConfigError(name, f"{where} of python recipe {name} has no name")
        try:
            formula = compile_formula(spec.get("expression", ""), columns)
        except FormulaError as error:
            raise RecipeConfigError(
                name, f"{where} of python recipe {name}: {error.message}", column=error.column, input_name=source
            ) from None
        declared = spec.get("type") or formula.output_type
        formulas.append((formula, declared))
        output_columns.append({"name": spec["name"], "type": declared})
    _check_unique(name, output_columns, "python recipe")
    condition = None
    if transform.get("filter"):
        try:
            condition = compile_formula(transform["filter"], columns)
        except FormulaError as error:
            raise RecipeConfigError(
                name,
                f"params.transform.filter of python recipe {name}: {error.message}",
                column=error.column,
                input_name=source,
            ) from None

    def run(rows: RowsByName) -> RowsByName:
        result = []
        for row in rows[source]:
            if condition is not None and condition.evaluate(row) is not True:
                continue
            out = [row[i] for i in keep_indexes]
            out.extend(_cast_to_type(formula.evaluate(row), declared) for formula, declared in formulas)
            result.append(out)
        return {output: [list(row) for row in result] for output in outputs}

    return CompiledRecipe({output: [dict(c) for c in output_columns] for output in outputs}, run)


def _compile_logistic_score(
    recipe: dict, transform: dict, source: str, columns: Columns, outputs: List[str]
) -> CompiledRecipe:
    """A deterministic stand-in for a trained model: standardised features, fixed weights, a logistic link."""
    name = recipe["name"]
    id_columns = transform.get("id_columns") or []
    id_indexes = [_column_index(name, columns, column, source, "params.transform.id_columns") for column in id_columns]
    features = transform.get("features")
    if features is None:
        feature_indexes = [
            i
            for i, c in enumerate(columns)
            if i not in id_indexes and kind_of_column_type(c.get("type")) in ("int", "double")
        ]
    else:
        feature_indexes = [
            _column_index(name, columns, column, source, "params.transform.features") for column in features
        ]
    if not feature_indexes:
        raise RecipeConfigError(
            name,
            f"python recipe {name} has no numeric feature column for logistic_score: list params.transform.features",
        )
    weights_spec = transform.get("weights") or {}
    weights = []
    for position, index in enumerate(feature_indexes):
        default = (1.0 if position % 2 == 0 else -1.0) / (position + 1)
        weights.append(float(weights_spec.get(columns[index]["name"], default)))
    bias = float(transform.get("bias", 0.0))
    threshold = float(transform.get("threshold", 0.5))
    score_name = transform.get("output", "score")
    label_name = transform.get("label", "prediction")
    output_columns = [dict(columns[i]) for i in id_indexes]
    output_columns.append({"name": score_name, "type": "double"})
    if label_name:
        output_columns.append({"name": label_name, "type": "bigint"})
    _check_unique(name, output_columns, "python recipe")

    def run(rows: RowsByName) -> RowsByName:
        data = rows[source]
        stats = []
        for index in feature_indexes:
            numbers = [n for n in (to_number(row[index]) for row in data) if n is not None]
            mean = float(sum(numbers)) / len(numbers) if numbers else 0.0
            variance = sum((n - mean) ** 2 for n in numbers) / len(numbers) if numbers else 0.0
            stats.append((mean, math.sqrt(variance) or 1.0))
        result = []
        for row in data:
            z = bias
            for (mean, deviation), index, weight in zip(stats, feature_indexes, weights):
                number = to_number(row[index])
                if number is not None:
                    z += weight * (number - mean) / deviation
            score = round(1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z)))), 6)
            out = [row[i] for i in id_indexes] + [score]
            if label_name:
                out.append(1 if score >= threshold else 0)
            result.append(out)
        return {output: [list(row) for row in result] for output in outputs}

    return CompiledRecipe({output: [dict(c) for c in output_columns] for output in outputs}, run)


# -- entry points --------------------------------------------------------------------------------------------------

_COMPILERS = {
    "grouping": _compile_grouping,
    "join": _compile_join,
    "sync": _compile_sync,
    "shaker": _compile_shaker,
    "prepare": _compile_shaker,
    "split": _compile_split,
    "python": _compile_python,
}


def compile_recipe(recipe: dict, input_schemas: Dict[str, Columns]) -> CompiledRecipe:
    """Bind a recipe to its input schemas; raise RecipeConfigError when its configuration does not fit them.

    Types without a dedicated executor (``sql_query``, ``pyspark``, ...) copy their first input to every output.
    """
    compiler = _COMPILERS.get(recipe.get("type", ""))
    if compiler is None:
        return _compile_copy(recipe, input_schemas, required=False)
    return compiler(recipe, input_schemas)


def execute_recipe(recipe: dict, inputs: Dict[str, Tuple[Columns, Rows]]) -> Dict[str, Tuple[Columns, Rows]]:
    """Run a recipe on real rows: ``inputs`` maps input names to ``(columns, rows)``; returns the same per output.

    Raises RecipeExecutionError with a DSS-like message naming the recipe (and the column or input at fault).
    """
    name = recipe.get("name", "?")
    schemas = {input_name: list(columns) for input_name, (columns, _) in inputs.items()}
    try:
        compiled = compile_recipe(recipe, schemas)
    except RecipeConfigError as error:
        error_type = INPUT_NOT_READY_ERROR_TYPE if isinstance(error, InputNotReadyError) else CONFIG_ERROR_TYPE
        if recipe.get("type") == "python" and error.column is not None:
            failure = _PythonFailure(
                "KeyError",
                f"{error.column!r}",
                _default_line(recipe.get("payload") if isinstance(recipe.get("payload"), str) else ""),
            )
            raise _python_error(recipe, failure) from None
        raise RecipeExecutionError(
            error.message,
            error_type,
            [f"Recipe {name} failed to start", f"{error_type}: {error.message}"],
        ) from None
    try:
        produced = compiled.run({input_name: rows for input_name, (_, rows) in inputs.items()})
    except _PythonFailure as failure:
        raise _python_error(recipe, failure) from None
    return {output: ([dict(c) for c in compiled.outputs[output]], produced[output]) for output in compiled.outputs}


def _python_error(recipe: dict, failure: _PythonFailure) -> RecipeExecutionError:
    """The error a failing Python child process reports, with the traceback DSS's wrapper prints."""
    code = recipe.get("payload") if isinstance(recipe.get("payload"), str) else ""
    code_lines = code.splitlines()
    source_line = code_lines[failure.line - 1].strip() if 0 < failure.line <= len(code_lines) else ""
    described = (
        f"<class '{failure.exception}'>: {failure.message}" if failure.message else f"<class '{failure.exception}'>"
    )
    message = f"Error in Python process: At line {failure.line}: {described}"
    log_lines = [
        "*************** Recipe code failed **************",
        "Begin Python stack",
        "Traceback (most recent call last):",
        '  File "/opt/dataiku/python/dataiku/container/exec_py_recipe.py", line 19, in <module>',
        "    exec(fd.read())",
        f'  File "<string>", line {failure.line}, in <module>',
    ]
    if source_line:
        log_lines.append("    " + source_line)
    log_lines.append(f"{failure.exception}: {failure.message}" if failure.message else failure.exception)
    log_lines.append("End Python stack")
    return RecipeExecutionError(message, PYTHON_ERROR_TYPE, log_lines)
