"""Checking a raw configuration against its JSON Schema of ``resource/schemas/``: one way for every config.

The build, propagate and verify parsers clean what DSS and argparse send (nulls, blank entries, integers as floats,
booleans as text), validate the whole of it, and word each problem the same way for the field the user typed.
``jsonschema`` is imported on the first check only: commands that validate nothing never pay for it.
"""

from __future__ import annotations

import functools
import math
import re
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from ..resources import load_schema, schema_validator

#: A problem as the schema sees it: the JSON path (the top-level key first) and the message.
Problem = Tuple[list, str]
#: A caller's own wording for some errors: ``(error, path) -> message``, or None for the common wording.
Describe = Callable[[object, list], Optional[str]]

_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off", ""}
_TYPE_WORDS = {
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "string": "text",
    "array": "a list",
    "object": "an object",
}


def schema_properties(name: str, definition: Optional[str] = None) -> Dict[str, dict]:
    """The properties a definition of the schema allows (the document's root when None), with those of the
    definitions it refers to, each property as written."""
    schema = load_schema(name)
    node = schema if definition is None else schema["$defs"][definition]
    properties: Dict[str, dict] = {}
    if "$ref" in node:
        properties.update(schema_properties(name, _definition_name(node["$ref"])))
    properties.update(node.get("properties", {}))
    return properties


@functools.cache
def property_types(name: str, definitions: Tuple[Optional[str], ...] = (None,)) -> Dict[str, Tuple[str, ...]]:
    """Each property's JSON types over ``definitions`` (``("array",)``, ``("array", "object")``; ``()`` for an enum).

    How a raw value is cleaned follows from them, so a new field needs its schema property and nothing more.
    """
    definitions_of = load_schema(name).get("$defs", {})
    types: Dict[str, Tuple[str, ...]] = {}
    for definition in definitions:
        for key, prop in schema_properties(name, definition).items():
            while "type" not in prop and "$ref" in prop:
                prop = definitions_of[_definition_name(prop["$ref"])]
            declared = prop.get("type", ())
            types[key] = (declared,) if isinstance(declared, str) else tuple(declared)
    return types


def _definition_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


# ---------------------------------------------------------------------------------------------------------------
# Cleaning: what DSS and argparse send, made into the JSON values the schema describes.


def clean_values(
    raw: Mapping,
    types: Mapping[str, Tuple[str, ...]],
    *,
    split: Optional[Mapping[str, Callable[[str], list]]] = None,
    keep_spaces: frozenset = frozenset(),
    normalize: Optional[Mapping[str, Callable[[str], str]]] = None,
) -> Dict[str, object]:
    """Drop nulls, blank texts and blank list entries; split texts given for lists; turn numeric and boolean texts
    into values. ``split``: how a text given for a list is split (else it is one entry); ``keep_spaces``: lists whose
    entries keep their spaces; ``normalize``: how a text is spelled for an enum. Wrong types are left as they are,
    for the schema to name."""
    split = split or {}
    normalize = normalize or {}
    values: Dict[str, object] = {}
    for key, value in raw.items():
        if key in normalize and isinstance(value, str):
            value = normalize[key](value) if value.strip() else None
        else:
            value = clean_value(value, types.get(key, ()), split.get(key), strip=key not in keep_spaces)
        if value is not None:
            values[key] = value
    return values


def clean_value(value, types: Sequence[str], split: Optional[Callable[[str], list]] = None, strip: bool = True):
    """One value cleaned for its JSON types; None for "not given" (the default applies).

    A value of several types is cleaned as a list when lists are one of them and it is not an object.
    """
    if value is None:
        return None
    kind = types[0] if len(types) == 1 else None
    if "array" in types and not isinstance(value, Mapping):
        kind = "array"
    if kind == "array":
        return clean_list(value, split, strip)
    if kind == "boolean":
        return _clean_bool(value)
    if kind in ("integer", "number"):
        return _clean_number(value, integer=kind == "integer")
    if kind == "string" and isinstance(value, str):
        return value.strip() or None
    return value


def clean_list(value, split: Optional[Callable[[str], list]] = None, strip: bool = True):
    """A list without None or blank entries; a text is split by ``split`` (else one entry)."""
    if isinstance(value, str):
        items = split(value) if split else [value]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        return value
    out = []
    for item in items:
        if item is None:
            continue
        if isinstance(item, str):
            if not item.strip():
                continue
            item = item.strip() if strip else item
        out.append(item)
    return out


def _clean_bool(value):
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value in (0, 1):
        return bool(value)
    return value


def _clean_number(value, integer: bool):
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            value = float(text)
        except ValueError:
            return value
    if isinstance(value, float) and integer and value.is_integer():
        return int(value)
    return value


# ---------------------------------------------------------------------------------------------------------------
# Validating: every problem at once, worded for the user.


@functools.cache
def _validator(name: str, definition: Optional[str]):
    if definition is None:
        return schema_validator(name)
    import jsonschema  # imported here so that modules not validating configs never pay for it

    schema = load_schema(name)
    return jsonschema.validators.validator_for(schema)({"$ref": f"#/$defs/{definition}", "$defs": schema["$defs"]})


def schema_problems(
    values: Mapping, name: str, definition: Optional[str] = None, describe: Optional[Describe] = None
) -> List[Problem]:
    """Every problem of cleaned ``values`` against the schema ``name`` (its ``definition``), sorted by path.

    A missing required property is named by its path; NaN and infinity in a number field get their own message
    (JSON Schema bounds let NaN through and word infinity confusingly). ``describe`` words some errors its own way.
    """
    numbers = {key for key, types in property_types(name, (definition,)).items() if {"integer", "number"} & set(types)}
    non_finite = {key for key in numbers if _non_finite(values.get(key))}
    problems: List[Problem] = [([key], f"must be a finite number (got {values[key]!r})") for key in non_finite]
    for error in _validator(name, definition).iter_errors(dict(values)):
        if error.validator == "required":  # one error for the object: each missing key is its own problem
            paths = [[key] for key in error.validator_value if key not in error.instance]
        else:
            paths = [list(error.absolute_path)]
        for path in paths:
            if path and path[0] in non_finite:
                continue
            problem = (path, (describe and describe(error, path)) or schema_message(error, path))
            if problem not in problems:
                problems.append(problem)
    return sorted(problems, key=lambda problem: [str(part) for part in problem[0]])


def wrong_fields(problems: Sequence[Problem]) -> frozenset:
    """The keys whose value as a whole the schema rejects: the checks in code skip them (one message per slip). A list
    with some wrong entries keeps its other entries checked, so every problem is listed at once."""
    return frozenset(path[0] for path, _ in problems if len(path) == 1)


def schema_message(error, path: list) -> str:
    """A jsonschema error in the user's words: ``must be a whole number (got 'x')``, ``must be at least 0 (got -1)``."""
    value = error.instance
    kind = error.validator
    schema = error.schema
    if kind == "required":
        return "is required"
    if kind == "enum":
        return "must be one of: {} (got {!r})".format(", ".join(str(v) for v in schema["enum"]), value)
    if kind == "type":
        wanted = schema["type"]
        what = " or ".join(_TYPE_WORDS.get(t, t) for t in (wanted if isinstance(wanted, list) else [wanted]))
        return f"must be {what} (got {value!r})"
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return f"{_bounds(schema, _unit(str(path[0]) if path else ''))} (got {value!r})"
    if kind == "minLength":
        return "must not be empty"
    return error.message


def _bounds(schema: Mapping, unit: str) -> str:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    if "exclusiveMinimum" in schema:
        return f"must be more than {low}{unit}" + (f" and at most {high}{unit}" if high is not None else "")
    if low is not None and high is not None:
        return f"must be between {low} and {high}{unit}"
    if low is not None:
        return f"must be at least {low}{unit}"
    return f"must be at most {high}{unit}"


def _unit(key: str) -> str:
    if key == "timeout_minutes":
        return " minutes"
    if key.endswith("_s") or key == "timeout":
        return " seconds"
    return ""


def _non_finite(value) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def checked_fields(
    raw: Optional[Mapping],
    name: str,
    definition: Optional[str] = None,
    *,
    names: Mapping[str, str],
    split: Optional[Mapping[str, Callable[[str], list]]] = None,
    describe: Optional[Describe] = None,
) -> Tuple[Dict[str, object], Dict[str, object], List[Tuple[str, str]]]:
    """A form's (or the flags') raw values for the schema ``name`` (its ``definition``) checked the common way:
    ``(values, valid, problems)`` — the cleaned values of the keys the schema has (others are not read), those the
    schema took as a whole (what the rules in code check), and the schema's problems named by field (``names``)."""
    types = property_types(name, (definition,))
    given = {key: value for key, value in dict(raw or {}).items() if key in types}
    values = clean_values(given, types, split=split)
    found = schema_problems(values, name, definition, describe=describe)
    wrong = wrong_fields(found)
    valid = {key: value for key, value in values.items() if key not in wrong}
    return values, valid, [(field_label(path, names), message) for path, message in found]


def field_label(path: Sequence, name_of: Union[Callable[[str], str], Mapping[str, str]] = str) -> str:
    """The field as the user knows it (``name_of`` gives the form field or the flag of a key; a mapping keeps the
    keys it lacks), then the place in it: ``stop_at[2]``, ``partition_values.day``; ``""`` for the whole config."""
    if not path:
        return ""
    key = str(path[0])
    name = name_of.get(key, key) if isinstance(name_of, Mapping) else name_of(key)
    return name + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path[1:])


def split_on(pattern: str) -> Callable[[str], list]:
    """A ``split`` for :func:`clean_values`: the text cut at each match of ``pattern``."""
    return re.compile(pattern).split


__all__ = [
    "Problem",
    "checked_fields",
    "clean_list",
    "clean_value",
    "clean_values",
    "field_label",
    "load_schema",
    "property_types",
    "schema_message",
    "schema_problems",
    "schema_properties",
    "split_on",
    "wrong_fields",
]
