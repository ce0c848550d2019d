"""Flow files: the JSON description of one DSS project that the emulator loads (format: docs/flow-file.md).

``load_flow`` validates a flow file (JSON Schema, then the rules a schema cannot say: names that exist, one producer
per dataset, no cycle, rows as wide as their schema) and returns it normalised: defaults filled, ``prepare`` stored as
``shaker``, generated rows materialised, recipe output schemas computed. ``generate_flow`` builds large synthetic flows
for tests and benchmarks.
"""

from __future__ import annotations

import copy
import datetime
import difflib
import graphlib
import json
import os
import random
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import jsonschema

from dss_emulator.execution.executors import VISUAL_RECIPE_TYPES
from dss_emulator.execution.schemas import SchemaComputationError, output_schemas
from dss_emulator.zones import DEFAULT_ZONE_COLOR, DEFAULT_ZONE_ID, DEFAULT_ZONE_NAME, zone_id_for

SCHEMA_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "flowfile.schema.json")

DEFAULT_CONNECTION = "filesystem_managed"
DEFAULT_DURATION = 0.05
DEFAULT_FAIL_ERROR_TYPE = "com.dataiku.common.server.APIError$SerializedErrorException"

# Recipe types whose payload is code text rather than a JSON object.
CODE_RECIPE_TYPES = (
    "python",
    "r",
    "sql_query",
    "sql_script",
    "pyspark",
    "sparkr",
    "spark_scala",
    "spark_sql_query",
    "shell",
    "julia",
    "hive",
    "impala",
)
SQL_DATASET_TYPES = (
    "PostgreSQL",
    "MySQL",
    "Oracle",
    "SQLServer",
    "Redshift",
    "Snowflake",
    "BigQuery",
    "Vertica",
    "Synapse",
    "Teradata",
    "Greenplum",
    "Netezza",
    "SAPHANA",
    "Athena",
    "JDBC",
)

_RECIPE_PARAM_DEFAULTS: Dict[str, dict] = {
    "python": {
        "envSelection": {"envMode": "INHERIT"},
        "containerSelection": {"containerMode": "INHERIT"},
        "skipPrerunValidate": False,
    },
    "sync": {"schemaMode": "FREE_SCHEMA_NAME_BASED"},
    "sql_query": {
        "allowMultipleConnections": False,
        "displayExecutionPlan": True,
        "sqlPipelineParams": {"pipelineAllowStart": True, "pipelineAllowMerge": True},
        "skipPrerunValidate": False,
    },
}


class FlowFileError(Exception):
    """An invalid flow file. ``problems`` lists ``(json_path, message)``; each message says what is wrong and how to
    fix it."""

    def __init__(self, problems: List[Tuple[str, str]], source: str = "flow file") -> None:
        self.problems = list(problems)
        self.source = source
        lines = [f"{path}: {message}" for path, message in self.problems]
        count = len(self.problems)
        header = f"{source} is invalid ({count} problem{'' if count == 1 else 's'}):"
        super().__init__(header + "\n  " + "\n  ".join(lines))


def json_path(parts: Any) -> str:
    """``recipes[3].inputs[0]`` style path of a location inside the flow file ("(root)" for the document itself)."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif re.match(r"^[A-Za-z_$][A-Za-z0-9_$]*$", str(part)):
            text += ("." if text else "") + str(part)
        else:
            text += f"[{json.dumps(part, ensure_ascii=False)}]"
    return text or "(root)"


_VALIDATOR: Optional[jsonschema.Draft202012Validator] = None


def _validator() -> jsonschema.Draft202012Validator:
    global _VALIDATOR
    if _VALIDATOR is None:
        with open(SCHEMA_PATH, encoding="utf-8") as handle:
            schema = json.load(handle)
        jsonschema.Draft202012Validator.check_schema(schema)
        # The schema has no recursion: inlining its $refs keeps the same rules and makes large flows validate faster.
        _VALIDATOR = jsonschema.Draft202012Validator(_inline_refs(schema, schema.get("$defs", {})))
    return _VALIDATOR


def _inline_refs(node: Any, definitions: dict) -> Any:
    if isinstance(node, dict):
        if set(node) == {"$ref"} and node["$ref"].startswith("#/$defs/"):
            return _inline_refs(definitions[node["$ref"][len("#/$defs/") :]], definitions)
        return {key: _inline_refs(value, definitions) for key, value in node.items() if key != "$defs"}
    if isinstance(node, list):
        return [_inline_refs(item, definitions) for item in node]
    return node


def _schema_problem(error: jsonschema.ValidationError) -> Tuple[str, str]:
    """Turn one JSON Schema error into (path, message with the fix)."""
    path = list(error.absolute_path)
    validator = error.validator
    schema = error.schema if isinstance(error.schema, dict) else {}
    if validator == "required":
        missing = [
            key for key in error.validator_value if isinstance(error.instance, dict) and key not in error.instance
        ]
        return json_path(path), f"required key {', '.join(repr(k) for k in missing)} is missing: add it"
    if validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(schema.get("properties", {}))
        patterns = list(schema.get("patternProperties", {}))
        unknown = [key for key in error.instance if key not in allowed and not any(re.search(p, key) for p in patterns)]
        key = unknown[0] if unknown else "?"
        hint = f"allowed keys: {', '.join(allowed)}" if allowed else "no keys are allowed here"
        return json_path(path + [key]), f"unknown key {key!r}: remove it or fix its spelling ({hint})"
    if validator == "type":
        expected = error.validator_value
        expected_text = " or ".join(expected) if isinstance(expected, list) else expected
        return json_path(path), f"must be of type {expected_text}, not {_json_type(error.instance)}: change the value"
    if validator == "enum":
        choices = ", ".join(json.dumps(v) for v in error.validator_value)
        return json_path(path), f"{json.dumps(error.instance)} is not allowed: use one of {choices}"
    if validator == "pattern":
        described = schema.get("description") or f"it must match {error.validator_value}"
        return json_path(path), f"{json.dumps(error.instance, ensure_ascii=False)} is not a valid value: {described}"
    if validator == "minItems":
        return json_path(path), f"needs at least {error.validator_value} item(s): add one"
    if validator == "minLength":
        return json_path(path), "must not be empty: give a value"
    if validator in ("minimum", "maximum"):
        bound = "at least" if validator == "minimum" else "at most"
        return json_path(path), f"{error.instance!r} is out of range: use a value {bound} {error.validator_value}"
    if validator == "oneOf" and error.context:
        best = jsonschema.exceptions.best_match(error.context)
        return _schema_problem(best)
    return json_path(path), f"{error.message}: fix this value"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _read_source(source: Any) -> Tuple[dict, str]:
    if isinstance(source, dict):
        return source, "flow file"  # never modified: normalisation copies what it keeps
    path = os.fspath(source)
    label = f"flow file {path}"
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as error:
        raise FlowFileError([("(root)", f"cannot read the file ({error.strerror}): check the path")], label) from None
    try:
        document = json.loads(text)
    except ValueError as error:
        line = getattr(error, "lineno", "?")
        column = getattr(error, "colno", "?")
        message = getattr(error, "msg", str(error))
        raise FlowFileError(
            [("(root)", f"not valid JSON at line {line}, column {column} ({message}): fix the syntax")], label
        ) from None
    if not isinstance(document, dict):
        raise FlowFileError([("(root)", "a flow file is a JSON object with projectKey, datasets and recipes")], label)
    return document, label


def load_flow(source: Union[str, os.PathLike[str], dict]) -> dict:
    """Read, validate and normalise a flow file (a path or an already parsed dict).

    Raises FlowFileError listing every problem with its JSON path. The result has every key documented in
    docs/flow-file.md filled in; datasets carry ``rows`` (a list, or None when the dataset has no data yet).
    """
    document, label = _read_source(source)
    problems = sorted(
        (_schema_problem(error) for error in _validator().iter_errors(document)), key=lambda problem: problem[0]
    )
    if problems:
        raise FlowFileError(_dedupe(problems), label)
    flow = _normalise(document)
    problems = _semantic_problems(document, flow)
    if problems:
        raise FlowFileError(_dedupe(problems), label)
    problems = _materialise(flow)
    if problems:
        raise FlowFileError(_dedupe(problems), label)
    return flow


def _dedupe(problems: List[Tuple[str, str]]) -> List[Tuple[str, str]]:
    return list(dict.fromkeys(problems))


# -- normalisation -------------------------------------------------------------------------------------------------


def _normalise(document: dict) -> dict:
    project_key = document["projectKey"]
    connections = [dict(c, params=dict(c.get("params") or {})) for c in document.get("connections") or []]
    for connection in connections:
        connection.pop("$comment", None)
    if not any(c["name"] == DEFAULT_CONNECTION for c in connections):
        connections.insert(0, {"name": DEFAULT_CONNECTION, "type": "Filesystem", "params": {}})
    connection_types = {c["name"]: c["type"] for c in connections}
    variables = document.get("variables") or {}

    recipes = []
    for recipe in document.get("recipes") or []:
        recipe_type = "shaker" if recipe["type"] == "prepare" else recipe["type"]
        params = copy.deepcopy(_RECIPE_PARAM_DEFAULTS.get(recipe_type, {}))
        params.update(copy.deepcopy(recipe.get("params") or {}))
        emulation = recipe.get("emulation") or {}
        fail = emulation.get("fail")
        if fail is not None:
            fail = {
                "message": fail["message"],
                "errorType": fail.get("errorType", DEFAULT_FAIL_ERROR_TYPE),
                "times": fail.get("times"),
            }
        payload = copy.deepcopy(recipe.get("payload"))
        if recipe_type in VISUAL_RECIPE_TYPES and isinstance(payload, str) and payload.strip():
            try:
                parsed = json.loads(payload)
            except ValueError:
                parsed = payload  # reported by the semantic checks
            payload = parsed
        recipes.append(
            {
                "name": recipe["name"],
                "type": recipe_type,
                "description": recipe.get("description", ""),
                "inputs": list(recipe.get("inputs") or []),
                "outputs": list(recipe.get("outputs") or []),
                "payload": payload,
                "params": params,
                "tags": list(recipe.get("tags") or []),
                "emulation": {
                    "duration": float(emulation.get("duration", DEFAULT_DURATION)),
                    "fail": fail,
                    "hang": bool(emulation.get("hang", False)),
                },
            }
        )
        if "zone" in recipe:
            recipes[-1]["zone"] = recipe["zone"]
    produced = {output for recipe in recipes for output in recipe["outputs"]}
    for recipe in recipes:
        if recipe["type"] == "python" and recipe["payload"] is None:
            recipe["payload"] = python_code_text(recipe)

    datasets = []
    for dataset in document.get("datasets") or []:
        connection = dataset.get("connection", DEFAULT_CONNECTION)
        dataset_type = dataset.get("type") or connection_types.get(connection, "Filesystem")
        is_output = dataset["name"] in produced
        has_data = "rows" in dataset or "generate" in dataset
        normalised = {
            "name": dataset["name"],
            "type": dataset_type,
            "connection": connection,
            "managed": bool(dataset.get("managed", is_output)),
            "description": dataset.get("description", ""),
            "schema": [dict(column) for column in dataset.get("schema") or []],
            "schemaDeclared": "schema" in dataset,
            "rows": [
                copy.deepcopy(row) if any(isinstance(v, (list, dict)) for v in row) else list(row)
                for row in dataset["rows"]
            ]
            if "rows" in dataset
            else None,
            "params": _dataset_params(
                project_key, dataset["name"], dataset_type, connection, dataset.get("params") or {}
            ),
            "tags": list(dataset.get("tags") or []),
            "built": bool(dataset.get("built", has_data and not is_output)),
        }
        if "generate" in dataset:
            normalised["generate"] = copy.deepcopy(dataset["generate"])
        if "zone" in dataset:
            normalised["zone"] = dataset["zone"]
        if dataset.get("partitioning"):
            normalised["partitioning"] = copy.deepcopy(dataset["partitioning"])
        if "partitions" in dataset:
            normalised["partitions"] = copy.deepcopy(dataset["partitions"])
            normalised["built"] = bool(dataset.get("built", not is_output))
        datasets.append(normalised)

    folders = []
    for folder in document.get("folders") or []:
        normalised_folder = {
            "id": folder["id"],
            "name": folder.get("name", folder["id"]),
            "type": folder.get("type", "Filesystem"),
            "connection": folder.get("connection", DEFAULT_CONNECTION),
            "tags": list(folder.get("tags") or []),
        }
        if "built" in folder:
            normalised_folder["built"] = folder["built"]
        if "zone" in folder:
            normalised_folder["zone"] = folder["zone"]
        folders.append(normalised_folder)
    implicit_recipes = [
        {"id": entry["id"], "inputs": list(entry.get("inputs") or []), "outputs": list(entry.get("outputs") or [])}
        for entry in document.get("implicitRecipes") or []
    ]
    return {
        "projectKey": project_key,
        "name": document.get("name", project_key),
        "description": document.get("description", ""),
        "tags": list(document.get("tags") or []),
        "variables": {
            "standard": copy.deepcopy(variables.get("standard") or {}),
            "local": copy.deepcopy(variables.get("local") or {}),
        },
        "connections": connections,
        "datasets": datasets,
        "folders": folders,
        "recipes": recipes,
        "implicitRecipes": implicit_recipes,
        "zones": [
            {
                "id": zone.get("id") or zone_id_for(project_key, zone["name"]),
                "name": zone["name"],
                "color": zone.get("color", DEFAULT_ZONE_COLOR),
                "shared": list(zone.get("shared") or []),
            }
            for zone in document.get("zones") or []
        ],
        "emulation": {"jobOverhead": (document.get("emulation") or {}).get("jobOverhead")},
    }


def _dataset_params(project_key: str, name: str, dataset_type: str, connection: str, given: dict) -> dict:
    """DSS-like dataset params: a path for files, a table for SQL; what the flow file gives wins."""
    if dataset_type in SQL_DATASET_TYPES:
        params: dict = {
            "connection": connection,
            "mode": "table",
            "table": "${projectKey}_" + name,
            "tableCreationMode": "auto",
            "notReadyIfEmpty": False,
        }
    else:
        params = {
            "connection": connection,
            "path": "${projectKey}/" + name,
            "notReadyIfEmpty": False,
            "filesSelectionRules": {"mode": "ALL", "excludeRules": [], "includeRules": [], "explicitFiles": []},
        }
    params.update(copy.deepcopy(given))
    return params


def python_code_text(recipe: dict) -> str:
    """A plausible DSS python recipe script for a recipe without one (what clients see as its payload)."""

    def variable(name: str) -> str:
        return re.sub(r"\W", "_", name.split(".")[-1]).lower()

    transform = (recipe.get("params") or {}).get("transform") or {}
    lines = [
        "# -*- coding: utf-8 -*-",
        "import dataiku",
        "import pandas as pd, numpy as np",
        "from dataiku import pandasutils as pdu",
        "",
        "# Read recipe inputs",
    ]
    inputs = recipe.get("inputs") or []
    for name in inputs:
        lines.append(f'{variable(name)} = dataiku.Dataset("{name}")')
        lines.append(f"{variable(name)}_df = {variable(name)}.get_dataframe()")
    source = f"{variable(inputs[0])}_df" if inputs else "pd.DataFrame()"
    lines.append("")
    kind = transform.get("type", "copy")
    if kind == "logistic_score":
        lines.append("# Score every row with the trained logistic model")
        lines.append(f"features = {source}.select_dtypes(include=[np.number])")
        lines.append("z = ((features - features.mean()) / features.std(ddof=0)).fillna(0).dot(weights)")
        lines.append(f"result_df = {source}[{transform.get('id_columns') or []!r}].copy()")
        lines.append(f"result_df[{transform.get('output', 'score')!r}] = 1 / (1 + np.exp(-z))")
    elif kind == "formula":
        lines.append(f"result_df = {source}.copy()")
        for column in transform.get("columns") or []:
            lines.append(f"result_df[{column.get('name')!r}] = result_df.eval({column.get('expression', '')!r})")
    else:
        lines.append(f"result_df = {source}.copy()")
    lines.append("")
    lines.append("# Write recipe outputs")
    for name in recipe.get("outputs") or []:
        lines.append(f'{variable(name)} = dataiku.Dataset("{name}")')
        lines.append(f"{variable(name)}.write_with_schema(result_df)")
    return "\n".join(lines) + "\n"


def payload_text(recipe: dict) -> Optional[str]:
    """The payload as DSS sends it to clients: JSON text for visual recipes, the code for code recipes, None if none."""
    payload = recipe.get("payload")
    if payload is None:
        return None
    if isinstance(payload, str):
        return payload
    return json.dumps(payload, indent=2, ensure_ascii=False)


# -- semantic checks -----------------------------------------------------------------------------------------------


def _semantic_problems(document: dict, flow: dict) -> List[Tuple[str, str]]:
    problems: List[Tuple[str, str]] = []
    project_key = flow["projectKey"]
    seen_connections: Dict[str, int] = {}
    for index, connection in enumerate(document.get("connections") or []):
        if connection["name"] in seen_connections:
            problems.append(
                (
                    f"connections[{index}].name",
                    f"connection {connection['name']!r} is already defined by "
                    f"connections[{seen_connections[connection['name']]}]: keep one",
                )
            )
        seen_connections.setdefault(connection["name"], index)
    connection_types = {connection["name"]: connection["type"] for connection in flow["connections"]}

    dataset_index: Dict[str, int] = {}
    for index, dataset in enumerate(flow["datasets"]):
        raw = document["datasets"][index]
        if dataset["name"] in dataset_index:
            problems.append(
                (
                    f"datasets[{index}].name",
                    f"dataset name {dataset['name']!r} is already used by "
                    f"datasets[{dataset_index[dataset['name']]}]: rename one of them",
                )
            )
        else:
            dataset_index[dataset["name"]] = index
        if dataset["connection"] not in connection_types:
            known = ", ".join(sorted(connection_types))
            problems.append(
                (
                    f"datasets[{index}].connection",
                    f"connection {dataset['connection']!r} is not defined: add it to connections or use one of {known}",
                )
            )
        elif "type" in raw and raw["type"] != connection_types[dataset["connection"]]:
            problems.append(
                (
                    f"datasets[{index}].type",
                    f"dataset type {raw['type']!r} does not match connection {dataset['connection']!r} of "
                    f"type {connection_types[dataset['connection']]!r}: use that type or another connection",
                )
            )
        if "rows" in raw and "generate" in raw:
            problems.append((f"datasets[{index}]", "has both rows and generate: keep only one source of data"))
        problems.extend(_partition_problems(raw, index, dataset))
        width = len(dataset["schema"])
        for row_number, row in enumerate(raw.get("rows") or []):
            if len(row) != width:
                problems.append(
                    (
                        f"datasets[{index}].rows[{row_number}]",
                        f"has {len(row)} values but the schema of {dataset['name']} has {width} columns: "
                        "give one value per column, in schema order",
                    )
                )
        if "generate" in raw:
            names = {column["name"] for column in dataset["schema"]}
            for column_name, spec in (raw["generate"].get("columns") or {}).items():
                column_path = json_path(["datasets", index, "generate", "columns", column_name])
                if column_name not in names:
                    problems.append(
                        (
                            column_path,
                            f"column {column_name!r} is not in the schema of {dataset['name']}: "
                            "add it to the schema or remove its generator",
                        )
                    )
                problems.extend(_generator_problems(spec, column_path))
            if not dataset["schema"]:
                problems.append(
                    (
                        f"datasets[{index}].generate",
                        "generates rows but the dataset has no schema: declare its columns in schema",
                    )
                )

    folder_ids: Dict[str, int] = {}
    for index, folder in enumerate(flow["folders"]):
        if folder["id"] in folder_ids:
            problems.append(
                (
                    f"folders[{index}].id",
                    f"folder id {folder['id']!r} is already used by "
                    f"folders[{folder_ids[folder['id']]}]: give each folder its own id",
                )
            )
        elif folder["id"] in dataset_index:
            problems.append(
                (
                    f"folders[{index}].id",
                    f"folder id {folder['id']!r} is also a dataset name "
                    f"(datasets[{dataset_index[folder['id']]}]): rename one of them",
                )
            )
        folder_ids.setdefault(folder["id"], index)

    recipe_index: Dict[str, int] = {}
    producer: Dict[str, Tuple[int, int]] = {}
    local_objects = set(dataset_index) | set(folder_ids)
    for index, recipe in enumerate(flow["recipes"]):
        where = f"recipes[{index}]"
        if recipe["name"] in recipe_index:
            problems.append(
                (
                    f"{where}.name",
                    f"recipe name {recipe['name']!r} is already used by "
                    f"recipes[{recipe_index[recipe['name']]}]: rename one of them",
                )
            )
        else:
            recipe_index[recipe["name"]] = index
        if recipe["name"] in dataset_index:
            problems.append(
                (
                    f"{where}.name",
                    f"recipe name {recipe['name']!r} is also a dataset name "
                    f"(datasets[{dataset_index[recipe['name']]}]): rename the recipe, e.g. "
                    f"compute_{recipe['name']}",
                )
            )
        for position, ref in enumerate(recipe["inputs"]):
            local = _local_name(ref, project_key)
            if local is not None and local not in local_objects:
                problems.append((f"{where}.inputs[{position}]", _unknown_ref_message(ref, "input")))
        for position, ref in enumerate(recipe["outputs"]):
            local = _local_name(ref, project_key)
            if local is None:
                problems.append(
                    (
                        f"{where}.outputs[{position}]",
                        f"output {ref!r} belongs to another project: a recipe writes into its own project",
                    )
                )
                continue
            if local not in local_objects:
                problems.append((f"{where}.outputs[{position}]", _unknown_ref_message(ref, "output")))
                continue
            if local in producer:
                other, other_position = producer[local]
                problems.append(
                    (
                        f"{where}.outputs[{position}]",
                        f"{local} is already the output of recipe {flow['recipes'][other]['name']} "
                        f"(recipes[{other}].outputs[{other_position}]): a dataset has one producing recipe; "
                        "write to another dataset",
                    )
                )
            else:
                producer[local] = (index, position)
            if local in recipe["inputs"] or f"{project_key}.{local}" in recipe["inputs"]:
                problems.append(
                    (
                        f"{where}.outputs[{position}]",
                        f"{local} is both an input and an output of recipe {recipe['name']}: write to another dataset",
                    )
                )
        problems.extend(_payload_problems(recipe, where))

    for index, entry in enumerate(flow["implicitRecipes"]):
        for role in ("inputs", "outputs"):
            for position, ref in enumerate(entry[role]):
                local = _local_name(ref, project_key)
                if local is not None and local not in local_objects:
                    problems.append(
                        (f"implicitRecipes[{index}].{role}[{position}]", _unknown_ref_message(ref, role[:-1]))
                    )

    for name, (recipe_number, _position) in producer.items():
        if name in dataset_index:
            dataset_number = dataset_index[name]
            raw = document["datasets"][dataset_number]
            for key in ("rows", "generate", "partitions"):
                if key in raw:
                    problems.append(
                        (
                            f"datasets[{dataset_number}].{key}",
                            f"{name} is the output of recipe {flow['recipes'][recipe_number]['name']}: its "
                            f'rows come from the recipe; remove {key} (set "built": true to compute them '
                            "when the flow loads)",
                        )
                    )
            if raw.get("built") and (raw.get("partitioning") or {}).get("dimensions"):
                problems.append(
                    (
                        f"datasets[{dataset_number}].built",
                        f"{name} is a partitioned output: the emulator does not build it at load; remove built and "
                        "build its partitions with a job",
                    )
                )
    problems.extend(_zone_problems(flow))
    if not problems:
        problems.extend(_cycle_problems(flow, project_key))
    return problems


def _zone_index(flow: dict) -> Dict[str, str]:
    """Zone reference (id or name) -> zone id; ``default`` and ``Default`` name the default zone."""
    index = {DEFAULT_ZONE_ID: DEFAULT_ZONE_ID, DEFAULT_ZONE_NAME: DEFAULT_ZONE_ID}
    for zone in flow.get("zones") or []:
        index.setdefault(zone["name"], zone["id"])
        index.setdefault(zone["id"], zone["id"])
    return index


def _zone_problems(flow: dict) -> List[Tuple[str, str]]:
    """Zones with one name and one id each, known zone references, and a recipe in the zone of its outputs."""
    problems: List[Tuple[str, str]] = []
    seen: Dict[Tuple[str, str], int] = {}
    for index, zone in enumerate(flow["zones"]):
        for key in ("name", "id"):
            value = zone[key]
            if value in (DEFAULT_ZONE_ID, DEFAULT_ZONE_NAME):
                problems.append(
                    (
                        f"zones[{index}].{key}",
                        f"{value!r} is the default zone, which always exists: "
                        "use another name (objects without a zone are in the default zone)",
                    )
                )
            elif (key, value) in seen:
                problems.append(
                    (
                        f"zones[{index}].{key}",
                        f"zone {key} {value!r} is already used by "
                        f"zones[{seen[(key, value)]}]: give each zone its own {key}",
                    )
                )
            seen.setdefault((key, value), index)
    index_of = _zone_index(flow)
    names = [z["name"] for z in flow["zones"]]
    for kind in ("datasets", "folders", "recipes"):
        for position, entry in enumerate(flow[kind]):
            ref = entry.get("zone")
            if ref is not None and ref not in index_of:
                problems.append((f"{kind}[{position}].zone", _unknown_zone_message(ref, names)))
    objects = {d["name"] for d in flow["datasets"]} | {f["id"] for f in flow["folders"]}
    objects |= {r["name"] for r in flow["recipes"]}
    for index, zone in enumerate(flow["zones"]):
        for position, name in enumerate(zone["shared"]):
            if name not in objects:
                problems.append(
                    (
                        f"zones[{index}].shared[{position}]",
                        f"{name!r} is not a dataset, folder or recipe of this flow file",
                    )
                )
    if problems:
        return problems
    where = {d["name"]: f"datasets[{i}]" for i, d in enumerate(flow["datasets"])}
    where.update({f["id"]: f"folders[{i}]" for i, f in enumerate(flow["folders"])})
    declared = {d["name"]: d.get("zone") for d in flow["datasets"]}
    declared.update({f["id"]: f.get("zone") for f in flow["folders"]})
    for position, recipe in enumerate(flow["recipes"]):
        outputs = [o for o in (_local_name(r, flow["projectKey"]) for r in recipe["outputs"]) if o in declared]
        zoned = {index_of[declared[o]] for o in outputs if declared[o] is not None}
        own = index_of[recipe["zone"]] if recipe.get("zone") is not None else None
        if (own is not None and zoned - {own}) or (own is None and len(zoned) > 1):
            clashing = ", ".join(f"{o} ({declared[o]})" for o in outputs if declared[o] is not None)
            problems.append(
                (
                    f"recipes[{position}].zone",
                    f"recipe {recipe['name']} "
                    f"({recipe.get('zone') or 'no zone'}) writes {clashing}: in DSS a recipe and its outputs "
                    "are in one zone; give them the same zone or set it on the recipe only",
                )
            )
    return problems


def _unknown_zone_message(ref: str, names: List[str]) -> str:
    close = difflib.get_close_matches(ref, names, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    known = ", ".join(repr(n) for n in names) or "none"
    return f"zone {ref!r} is not defined in zones (zones: {known}){hint}: add it to zones or fix the name"


def zone_placement(flow: dict) -> Dict[Tuple[str, str], str]:
    """(objectType, objectId) -> zone id for every object outside the default zone of a validated flow.

    A recipe is in its own zone, else in the zone declared on its outputs; its outputs follow it.
    """
    index_of = _zone_index(flow)
    placed: Dict[Tuple[str, str], str] = {}
    for dataset in flow["datasets"]:
        if dataset.get("zone") is not None:
            placed[("DATASET", dataset["name"])] = index_of[dataset["zone"]]
    for folder in flow["folders"]:
        if folder.get("zone") is not None:
            placed[("MANAGED_FOLDER", folder["id"])] = index_of[folder["zone"]]
    datasets = {d["name"] for d in flow["datasets"]}
    for recipe in flow["recipes"]:
        outputs = [_local_name(r, flow["projectKey"]) for r in recipe["outputs"]]
        keys = [("DATASET" if o in datasets else "MANAGED_FOLDER", o) for o in outputs if o is not None]
        zone = index_of[recipe["zone"]] if recipe.get("zone") is not None else None
        zone = zone or next((placed[k] for k in keys if k in placed), DEFAULT_ZONE_ID)
        for key in [("RECIPE", recipe["name"])] + keys:
            placed[key] = zone
    return {key: zone for key, zone in placed.items() if zone != DEFAULT_ZONE_ID}


def _local_name(ref: str, project_key: str) -> Optional[str]:
    """Name inside this project of a reference, or None when it points into another project."""
    if "." in ref:
        owner, name = ref.split(".", 1)
        return name if owner == project_key else None
    return ref


def _unknown_ref_message(ref: str, role: str) -> str:
    return (
        f"{role} {ref!r} is not a dataset or folder of this flow: declare it in datasets (or folders), or fix the name"
    )


def _generator_problems(spec: dict, where: str) -> List[Tuple[str, str]]:
    problems = []
    if "min" in spec and "max" in spec and spec["min"] > spec["max"]:
        problems.append((f"{where}.min", f"min {spec['min']} is greater than max {spec['max']}: swap them"))
    if "weights" in spec and len(spec["weights"]) != len(spec.get("values") or []):
        problems.append((f"{where}.weights", "needs one weight per value: give as many weights as values"))
    if spec.get("kind") == "date" and "start" in spec:
        try:
            _parse_date(spec["start"])
        except ValueError:
            problems.append((f"{where}.start", f"{spec['start']!r} is not a date: write it as YYYY-MM-DD"))
    return problems


def _payload_problems(recipe: dict, where: str) -> List[Tuple[str, str]]:
    payload = recipe["payload"]
    recipe_type = recipe["type"]
    if recipe_type in VISUAL_RECIPE_TYPES:
        if isinstance(payload, str):
            return [
                (
                    f"{where}.payload",
                    f"the payload of {recipe_type} recipe {recipe['name']} is not valid JSON: "
                    "write it as a JSON object",
                )
            ]
        if recipe_type != "sync" and not payload:
            return [
                (
                    f"{where}.payload",
                    f"{recipe_type} recipe {recipe['name']} needs a payload: add the "
                    f"{recipe_type} settings (see docs/flow-file.md)",
                )
            ]
    elif recipe_type in CODE_RECIPE_TYPES and isinstance(payload, dict):
        return [
            (
                f"{where}.payload",
                f"the payload of {recipe_type} recipe {recipe['name']} is its code text, not an "
                "object: give a string (put emulation settings of python recipes in params.transform)",
            )
        ]
    transform = recipe["params"].get("transform")
    if recipe_type == "python" and transform is not None:
        if not isinstance(transform, dict):
            return [(f"{where}.params.transform", 'must be an object such as {"type": "copy"}')]
        if transform.get("type", "copy") not in ("copy", "formula", "logistic_score"):
            return [
                (
                    f"{where}.params.transform.type",
                    f"{transform.get('type')!r} is not a built-in transform: use copy, formula or logistic_score",
                )
            ]
        fail_with = transform.get("fail_with")
        if fail_with is not None and not isinstance(fail_with, (str, dict)):
            return [
                (
                    f"{where}.params.transform.fail_with",
                    'must be text such as "KeyError: \'amount\'" or an object {"exception", "message", "line"}',
                )
            ]
    return []


def _recipe_graph(flow: dict, project_key: str) -> Dict[str, List[str]]:
    """recipe name -> names of the recipes producing its inputs (graphlib's predecessor map)."""
    producers = {}
    for recipe in flow["recipes"]:
        for ref in recipe["outputs"]:
            producers[_local_name(ref, project_key)] = recipe["name"]
    graph = {}
    for recipe in flow["recipes"]:
        graph[recipe["name"]] = sorted(
            {
                producers[name]
                for name in (_local_name(ref, project_key) for ref in recipe["inputs"])
                if name in producers
            }
        )
    return graph


def _cycle_problems(flow: dict, project_key: str) -> List[Tuple[str, str]]:
    try:
        list(graphlib.TopologicalSorter(_recipe_graph(flow, project_key)).static_order())
    except graphlib.CycleError as error:
        cycle = list(reversed(error.args[1]))
        positions = {recipe["name"]: index for index, recipe in enumerate(flow["recipes"])}
        return [
            (
                f"recipes[{positions[cycle[0]]}]",
                f"recipes {' -> '.join(cycle)} form a cycle: each reads what the next writes; break the cycle by "
                "writing to a new dataset",
            )
        ]
    return []


def recipe_order(flow: dict) -> List[str]:
    """Names of the flow's recipes in dependency order (producers before consumers; ties by file order)."""
    graph = _recipe_graph(flow, flow["projectKey"])
    positions = {recipe["name"]: index for index, recipe in enumerate(flow["recipes"])}
    sorter = graphlib.TopologicalSorter(graph)
    sorter.prepare()
    order: List[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=positions.__getitem__)
        order.extend(ready)
        sorter.done(*ready)
    return order


_DAY_ID = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME_ID_FORMATS = {
    "YEAR": re.compile(r"^\d{4}$"),
    "MONTH": re.compile(r"^\d{4}-\d{2}$"),
    "DAY": _DAY_ID,
    "HOUR": re.compile(r"^\d{4}-\d{2}-\d{2}-\d{2}$"),
}


def _partition_problems(raw: dict, index: int, dataset: dict) -> List[Tuple[str, str]]:
    """A partitioned dataset's data comes per partition (``partitions``), with ids matching its dimensions."""
    problems: List[Tuple[str, str]] = []
    dimensions = (raw.get("partitioning") or {}).get("dimensions") or []
    where = f"datasets[{index}]"
    if "partitions" in raw and not dimensions:
        problems.append((f"{where}.partitions", "rows per partition need partitioning.dimensions: declare them"))
    if dimensions:
        for key in ("rows", "generate"):
            if key in raw:
                problems.append(
                    (f"{where}.{key}", f"{dataset['name']} is partitioned: give its rows per partition in partitions")
                )
    width = len(dataset["schema"])
    for partition, rows in (raw.get("partitions") or {}).items():
        values = partition.split("|")
        if dimensions and len(values) != len(dimensions):
            problems.append(
                (
                    json_path(["datasets", index, "partitions", partition]),
                    f"partition id {partition!r} needs one value per dimension ({len(dimensions)}), joined by |",
                )
            )
        for value, dimension in zip(values, dimensions):
            period = (dimension.get("params") or {}).get("period", "DAY")
            pattern = _TIME_ID_FORMATS.get(period, _DAY_ID)
            if dimension.get("type") == "time" and not pattern.match(value):
                problems.append(
                    (
                        json_path(["datasets", index, "partitions", partition]),
                        f"{value!r} is not a {period} partition of dimension {dimension.get('name')} "
                        "(e.g. 2026-12-05 for DAY)",
                    )
                )
        for row_number, row in enumerate(rows):
            if len(row) != width:
                problems.append(
                    (
                        json_path(["datasets", index, "partitions", partition, row_number]),
                        f"has {len(row)} values but the schema of {dataset['name']} has {width} columns",
                    )
                )
    return problems


# -- materialisation: generated rows and computed output schemas ---------------------------------------------------


def _materialise(flow: dict) -> List[Tuple[str, str]]:
    problems: List[Tuple[str, str]] = []
    for dataset in flow["datasets"]:
        if "generate" in dataset:
            dataset["rows"] = generate_rows(dataset["schema"], dataset["generate"], dataset["name"])
    datasets = {dataset["name"]: dataset for dataset in flow["datasets"]}
    positions = {recipe["name"]: index for index, recipe in enumerate(flow["recipes"])}
    recipes = {recipe["name"]: recipe for recipe in flow["recipes"]}
    project_key = flow["projectKey"]
    for name in recipe_order(flow):
        recipe = recipes[name]
        outputs = [_local_name(ref, project_key) for ref in recipe["outputs"]]
        undeclared = [o for o in outputs if o in datasets and not datasets[o]["schemaDeclared"]]
        if not undeclared:
            continue
        input_schemas = {}
        external = False
        for ref in recipe["inputs"]:
            local = _local_name(ref, project_key)
            if local is None:
                external = True
            elif local in datasets:
                input_schemas[ref] = datasets[local]["schema"]
        if external:
            continue  # the inputs' schemas live in another project: the output keeps an empty schema
        try:
            computed = output_schemas(recipe, input_schemas)
        except SchemaComputationError as error:
            problems.append(
                (
                    f"recipes[{positions[name]}].payload",
                    f"cannot compute the schema of {', '.join(undeclared)}: {error.message} (or declare the "
                    "output schema in datasets)",
                )
            )
            continue
        for ref, local in zip(recipe["outputs"], outputs):
            if local in undeclared:
                datasets[local]["schema"] = computed.get(ref, [])
    for dataset in flow["datasets"]:
        dataset.pop("schemaDeclared", None)
    problems.extend(_built_output_problems(flow))
    return problems


def _built_output_problems(flow: dict) -> List[Tuple[str, str]]:
    """A recipe output marked built is computed at load, so everything it reads must have data by then."""
    project_key = flow["projectKey"]
    datasets = {dataset["name"]: (index, dataset) for index, dataset in enumerate(flow["datasets"])}
    has_data = {
        name for name, (_, dataset) in datasets.items() if dataset["rows"] is not None or dataset.get("partitions")
    }
    producers = {}
    for recipe in flow["recipes"]:
        for ref in recipe["outputs"]:
            producers[_local_name(ref, project_key)] = recipe
    problems = []
    recipes = {recipe["name"]: recipe for recipe in flow["recipes"]}
    for name in recipe_order(flow):
        recipe = recipes[name]
        built_outputs = [
            _local_name(ref, project_key)
            for ref in recipe["outputs"]
            if _local_name(ref, project_key) in datasets and datasets[_local_name(ref, project_key)][1]["built"]
        ]
        if not built_outputs:
            continue
        missing = [
            ref
            for ref in recipe["inputs"]
            if _local_name(ref, project_key) in datasets and _local_name(ref, project_key) not in has_data
        ]
        if missing:
            index = datasets[built_outputs[0]][0]
            problems.append(
                (
                    f"datasets[{index}].built",
                    f"{built_outputs[0]} is marked built but recipe {name} reads {', '.join(missing)}, which "
                    'has no data at load: give it rows, mark it built too, or set "built": false',
                )
            )
        else:
            has_data.update(built_outputs)
    return problems


# -- synthetic rows ------------------------------------------------------------------------------------------------

_DEFAULT_WORDS = (
    "patient",
    "reports",
    "mild",
    "pain",
    "stable",
    "follow-up",
    "scheduled",
    "normal",
    "review",
    "medication",
    "adjusted",
    "symptoms",
    "improving",
    "fever",
    "cough",
    "résumé",
    "naïve",
    "Müller",
)


def _parse_date(value: Any) -> datetime.datetime:
    text = str(value)[:10]
    return datetime.datetime.strptime(text, "%Y-%m-%d")


def _default_generator(column_type: str) -> dict:
    if column_type in ("int", "bigint", "smallint", "tinyint"):
        return {"kind": "int", "min": 0, "max": 100}
    if column_type in ("double", "float"):
        return {"kind": "double", "min": 0, "max": 100, "decimals": 2}
    if column_type == "boolean":
        return {"kind": "boolean", "probability": 0.5}
    if column_type in ("date", "dateonly", "datetimenotz"):
        return {"kind": "date", "start": "2024-01-01", "days": 365}
    return {"kind": "text"}


def _column_values(spec: dict, column: dict, rows: int, rng: random.Random) -> List[Any]:
    kind = spec["kind"]
    column_type = column.get("type", "string")
    if kind == "id":
        distinct = int(spec.get("distinct", max(1, rows)))
        width = int(spec.get("width", max(3, len(str(distinct)))))
        prefix = spec.get("prefix", "")
        return [f"{prefix}{rng.randrange(1, distinct + 1):0{width}d}" for _ in range(rows)]
    if kind == "sequence":
        start = spec.get("start", 1)
        step = spec.get("step", 1)
        prefix = spec.get("prefix")
        width = int(spec.get("width", max(4, len(str(int(start + step * max(rows - 1, 0)))))))
        values: List[Any] = []
        for i in range(rows):
            number = start + step * i
            values.append(f"{prefix}{int(number):0{width}d}" if prefix is not None else number)
        return values
    if kind == "int":
        low, high = int(spec.get("min", 0)), int(spec.get("max", 100))
        return [rng.randint(low, high) for _ in range(rows)]
    if kind == "double":
        low, high = float(spec.get("min", 0.0)), float(spec.get("max", 1.0))
        decimals = int(spec.get("decimals", 2))
        return [round(rng.uniform(low, high), decimals) for _ in range(rows)]
    if kind == "choice":
        values = list(spec["values"])
        weights = spec.get("weights")
        return [rng.choices(values, weights=weights)[0] for _ in range(rows)]
    if kind == "date":
        start = _parse_date(spec.get("start", "2024-01-01"))
        days = int(spec.get("days", 365))
        dates = [start + datetime.timedelta(days=rng.randrange(days)) for _ in range(rows)]
        if column_type == "dateonly":
            return [d.strftime("%Y-%m-%d") for d in dates]
        return [d.strftime("%Y-%m-%dT00:00:00.000Z") for d in dates]
    if kind == "text":
        if "phrases" in spec:
            pool, joiner, default_low, default_high = spec["phrases"], " ", 1, 3
        else:
            pool, joiner, default_low, default_high = spec.get("words") or _DEFAULT_WORDS, " ", 3, 8
        low = int(spec.get("min", default_low))
        high = int(spec.get("max", default_high))
        return [joiner.join(rng.choice(pool) for _ in range(rng.randint(low, max(low, high)))) for _ in range(rows)]
    if kind == "boolean":
        probability = float(spec.get("probability", 0.5))
        return [rng.random() < probability for _ in range(rows)]
    return [copy.deepcopy(spec["value"]) for _ in range(rows)]


def generate_rows(schema: List[dict], spec: dict, dataset_name: str = "") -> List[list]:
    """Deterministic synthetic rows for a schema: each column has its own seeded random stream, so adding a column
    does not change the others."""
    rows = int(spec["rows"])
    seed = spec.get("seed", 0)
    generators = spec.get("columns") or {}
    columns_values = []
    for column in schema:
        column_spec = generators.get(column["name"]) or _default_generator(column.get("type", "string"))
        rng = random.Random(f"{seed}:{dataset_name}:{column['name']}")
        values = _column_values(column_spec, column, rows, rng)
        null_rate = float(column_spec.get("nullRate", 0.0))
        if null_rate:
            null_rng = random.Random(f"{seed}:{dataset_name}:{column['name']}:nulls")
            values = [None if null_rng.random() < null_rate else value for value in values]
        columns_values.append(values)
    return [list(values) for values in zip(*columns_values)] if columns_values else [[] for _ in range(rows)]


# -- synthetic flows -----------------------------------------------------------------------------------------------

GENERATED_SCHEMA = (
    {"name": "key", "type": "string"},
    {"name": "grp", "type": "string"},
    {"name": "v", "type": "bigint"},
    {"name": "x", "type": "double"},
)
GENERATED_SOURCE_ROWS = 6
_GENERATED_TYPES = ("grouping", "sync", "shaker")


def _generated_payload(recipe_type: str, join_type: str = "LEFT") -> Optional[dict]:
    """Payloads that keep the generated schema (key, grp, v, x) so any recipe can feed any other."""
    if recipe_type == "grouping":
        return {
            "keys": [{"column": "key", "type": "string"}, {"column": "grp", "type": "string"}],
            "values": [{"column": "v", "type": "bigint", "sum": True}, {"column": "x", "type": "double", "avg": True}],
            "globalCount": False,
            "outputColumnNameOverrides": {"v_sum": "v", "x_avg": "x"},
            "computedColumns": [],
            "preFilter": {"distinct": False, "enabled": False},
            "postFilter": {"distinct": False, "enabled": False},
        }
    if recipe_type == "shaker":
        return {
            "columnsSelection": {"mode": "ALL"},
            "origin": "PREPARE_RECIPE",
            "steps": [
                {
                    "metaType": "PROCESSOR",
                    "type": "CreateColumnWithGREL",
                    "preview": False,
                    "disabled": False,
                    "params": {"column": "x", "expression": "x * 1.5 + 1"},
                },
                {
                    "metaType": "PROCESSOR",
                    "type": "FilterOnNumericalRange",
                    "preview": False,
                    "disabled": False,
                    "params": {
                        "appliesTo": "SINGLE_COLUMN",
                        "columns": ["v"],
                        "min": 0,
                        "max": 95,
                        "action": "KEEP_ROW",
                        "booleanMode": "AND",
                    },
                },
            ],
        }
    if recipe_type == "join":
        return {
            "virtualInputs": [{"index": 0, "autoSelectColumns": False}, {"index": 1, "autoSelectColumns": False}],
            "joins": [
                {
                    "table1": 0,
                    "table2": 1,
                    "type": join_type,
                    "conditionsMode": "AND",
                    "on": [
                        {"column1": {"name": "key", "table": 0}, "column2": {"name": "key", "table": 1}, "type": "EQ"}
                    ],
                }
            ],
            "selectedColumns": [
                {"name": "key", "type": "string", "table": 0},
                {"name": "grp", "type": "string", "table": 0},
                {"name": "v", "type": "bigint", "table": 0},
                {"name": "x", "type": "double", "table": 1},
            ],
            "computedColumns": [],
            "enableAutoCastInJoinConditions": False,
        }
    return None


def _component_layers(size: int, layer_width: int, rng: random.Random) -> List[int]:
    """Sizes of the successive layers of one independent branch; the first two layers hold the diamond motif."""
    layers: List[int] = []
    remaining = size
    while remaining > 0:
        low = max(1, layer_width // 2)
        count = min(remaining, rng.randint(low, layer_width))
        if not layers and size >= 3 and layer_width >= 2:
            count = max(count, 2)
        if len(layers) == 1 and remaining > 0:
            count = max(count, 1)
        layers.append(count)
        remaining -= count
    return layers


def _check_generator_arguments(recipes, min_duration: float, max_duration: float, project_key: str) -> None:
    """What every generated Flow needs: a recipe count, ordered durations and a DSS project key."""
    if not isinstance(recipes, int) or recipes < 0:
        raise ValueError(f"recipes must be a non-negative integer, got {recipes!r}")
    if min_duration < 0 or max_duration < min_duration:
        raise ValueError(f"durations need 0 <= min_duration <= max_duration, got {min_duration} and {max_duration}")
    if not re.match(r"^[A-Z][A-Z0-9_]*$", project_key):
        raise ValueError(f"project_key must be upper-case letters, digits and underscores, got {project_key!r}")


def generate_flow(
    recipes: int,
    width: int = 8,
    seed: int = 0,
    min_duration: float = 0.05,
    max_duration: float = 0.2,
    project_key: str = "GENERATED",
    zones: int = 0,
) -> dict:
    """A synthetic flow of ``recipes`` recipes, deterministic from ``seed``.

    It has independent branches (one set of sources each), fan-out (several recipes read one dataset), fan-in and
    diamonds (joins of two branches of a common ancestor). At most ``width`` recipes share a depth. Durations are
    uniform in [min_duration, max_duration]. Every recipe is a sync, grouping, shaker or join that runs on the
    generated rows. Recipes are named ``r0001_<type>``, their outputs ``ds0001``, sources ``src0001``. With
    ``zones`` > 0 the depths are cut into that many Flow zones ``Stage 1``, ``Stage 2``… (sources in the first), as
    teams stage a large Flow.
    """
    if not isinstance(zones, int) or zones < 0:
        raise ValueError(f"zones must be a non-negative integer, got {zones!r}")
    if not isinstance(width, int) or width < 1:
        raise ValueError(f"width must be a positive integer, got {width!r}")
    _check_generator_arguments(recipes, min_duration, max_duration, project_key)
    rng = random.Random(seed)
    digits = max(4, len(str(recipes)))
    branches = 1 if recipes < 8 or width < 4 else min(max(2, recipes // 40), width // 2, 16)
    branch_widths = [width // branches + (1 if b < width % branches else 0) for b in range(branches)]
    branch_sizes = [recipes // branches + (1 if b < recipes % branches else 0) for b in range(branches)]
    branch_layers = [_component_layers(size, bw, rng) for size, bw in zip(branch_sizes, branch_widths)]

    datasets: List[dict] = []
    keys = [f"K{number:02d}" for number in range(1, GENERATED_SOURCE_ROWS + 1)]

    def add_source(branch: int) -> str:
        name = f"src{len([d for d in datasets if d['name'].startswith('src')]) + 1:0{digits}d}"
        datasets.append(_generated_source(name, f"branch{branch + 1}", rng, keys))
        return name

    sources = [[add_source(b), add_source(b)] for b in range(branches)]
    available: List[List[str]] = [list(names) for names in sources]  # per branch: every dataset built so far
    previous_layer: List[List[str]] = [list(names) for names in sources]
    generated_recipes: List[dict] = []
    depth = max((len(layers) for layers in branch_layers), default=0)
    for level in range(depth):
        new_layers: List[List[str]] = [[] for _ in range(branches)]
        for branch in range(branches):
            if level >= len(branch_layers[branch]):
                continue
            for slot in range(branch_layers[branch][level]):
                number = len(generated_recipes) + 1
                output = f"ds{number:0{digits}d}"
                if level == 0 and slot < 2 and branch_layers[branch][0] >= 2:
                    inputs = [sources[branch][0]]  # fan-out: the two first recipes share a source
                    recipe_type = _GENERATED_TYPES[slot % len(_GENERATED_TYPES)]
                elif level == 1 and slot == 0 and len(previous_layer[branch]) >= 2 and branch_layers[branch][0] >= 2:
                    inputs = previous_layer[branch][:2]  # diamond: join the two branches of that shared source
                    recipe_type = "join"
                else:
                    primary = rng.choice(previous_layer[branch])
                    pool = available[branch]
                    if len(pool) > 1 and rng.random() < 0.3:
                        position = rng.randrange(len(pool))
                        if pool[position] == primary:
                            position = (position + 1) % len(pool)
                        inputs = [primary, pool[position]]
                        recipe_type = "join"
                    else:
                        inputs = [primary]
                        recipe_type = rng.choice(_GENERATED_TYPES)
                join_type = rng.choice(("LEFT", "LEFT", "INNER")) if recipe_type == "join" else "LEFT"
                duration = min(max_duration, max(min_duration, round(rng.uniform(min_duration, max_duration), 4)))
                recipe, dataset = _generated_step(
                    f"r{number:0{digits}d}", recipe_type, inputs, output, f"branch{branch + 1}", duration, join_type
                )
                generated_recipes.append(recipe)
                datasets.append(dataset)
                new_layers[branch].append(output)
        for branch in range(branches):
            if new_layers[branch]:
                available[branch].extend(new_layers[branch])
                previous_layer[branch] = new_layers[branch]
    flow = {
        "projectKey": project_key,
        "name": f"Generated flow ({recipes} recipes, width {width}, seed {seed})",
        "description": "Synthetic flow from dss_emulator generate: independent branches, fan-in, fan-out, diamonds.",
        "variables": {"standard": {}, "local": {}},
        "connections": [{"name": "filesystem_managed", "type": "Filesystem"}],
        "datasets": datasets,
        "recipes": generated_recipes,
    }
    if zones:
        _stage_zones(flow, zones)
    return flow


def _generated_source(name: str, tag: str, rng: random.Random, keys: Sequence[str]) -> dict:
    """A source dataset of a generated Flow: ``GENERATED_SOURCE_ROWS`` rows drawn from ``rng``."""
    rows = [[key, rng.choice(("a", "b", "c")), rng.randint(1, 100), round(rng.uniform(0, 10), 2)] for key in keys]
    return {
        "name": name,
        "type": "Filesystem",
        "connection": "filesystem_managed",
        "managed": False,
        "schema": [dict(c) for c in GENERATED_SCHEMA],
        "rows": rows,
        "tags": ["source", tag],
    }


def _generated_step(
    prefix: str, recipe_type: str, inputs: List[str], output: str, tag: str, duration: float, join_type: str = "LEFT"
) -> Tuple[dict, dict]:
    """A recipe of a generated Flow (named ``<prefix>_<short type>``) and the managed dataset it writes."""
    short_type = {"grouping": "group", "shaker": "prepare"}.get(recipe_type, recipe_type)
    recipe = {
        "name": f"{prefix}_{short_type}",
        "type": recipe_type,
        "inputs": inputs,
        "outputs": [output],
        "tags": [tag],
        "emulation": {"duration": duration},
    }
    payload = _generated_payload(recipe_type, join_type)
    if payload is not None:
        recipe["payload"] = payload
    dataset = {
        "name": output,
        "type": "Filesystem",
        "connection": "filesystem_managed",
        "managed": True,
        "schema": [dict(c) for c in GENERATED_SCHEMA],
        "tags": [tag],
    }
    return recipe, dataset


def generate_chain_flow(
    recipes: int,
    chain_length: int = 10,
    seed: int = 0,
    min_duration: float = 0.05,
    max_duration: float = 0.2,
    project_key: str = "CHAINS",
) -> dict:
    """A chain-heavy synthetic flow: ``recipes`` recipes in chains of ``chain_length`` (the last may be shorter).

    Each chain starts from its own source and every dataset is read by one recipe only, the next of its chain, with
    the same (no) partitioning: the shape a Flow's cleaning and enrichment steps take, and the one DSS can run as one
    job with several outputs. Names, types and durations as in :func:`generate_flow`, deterministic from ``seed``.
    """
    if not isinstance(chain_length, int) or chain_length < 1:
        raise ValueError(f"chain_length must be a positive integer, got {chain_length!r}")
    _check_generator_arguments(recipes, min_duration, max_duration, project_key)
    rng = random.Random(seed)
    digits = max(4, len(str(recipes)))
    keys = [f"K{number:02d}" for number in range(1, GENERATED_SOURCE_ROWS + 1)]
    datasets: List[dict] = []
    generated_recipes: List[dict] = []
    previous = ""
    for number in range(1, recipes + 1):
        chain = (number - 1) // chain_length + 1
        if (number - 1) % chain_length == 0:
            previous = f"src{chain:0{digits}d}"
            datasets.append(_generated_source(previous, f"chain{chain}", rng, keys))
        recipe_type = rng.choice(_GENERATED_TYPES)
        output = f"ds{number:0{digits}d}"
        duration = min(max_duration, max(min_duration, round(rng.uniform(min_duration, max_duration), 4)))
        recipe, dataset = _generated_step(
            f"r{number:0{digits}d}", recipe_type, [previous], output, f"chain{chain}", duration
        )
        generated_recipes.append(recipe)
        datasets.append(dataset)
        previous = output
    return {
        "projectKey": project_key,
        "name": f"Generated chains ({recipes} recipes, chains of {chain_length}, seed {seed})",
        "description": "Synthetic flow from dss_emulator: independent chains of single-reader recipes.",
        "variables": {"standard": {}, "local": {}},
        "connections": [{"name": "filesystem_managed", "type": "Filesystem"}],
        "datasets": datasets,
        "recipes": generated_recipes,
    }


def _stage_zones(flow: dict, zones: int) -> None:
    """Cut a generated flow's depths into ``zones`` Flow zones, in order; sources go to the first."""
    depth: Dict[str, int] = {}
    producer_depth = {}
    for recipe in flow["recipes"]:  # generated recipes come upstream first
        level = 1 + max((producer_depth.get(ref, -1) for ref in recipe["inputs"]), default=-1)
        depth[recipe["name"]] = level
        for output in recipe["outputs"]:
            producer_depth[output] = level
    levels = 1 + max(depth.values(), default=0)
    count = min(zones, levels)
    flow["zones"] = [{"name": f"Stage {k + 1}"} for k in range(count)]
    for recipe in flow["recipes"]:
        recipe["zone"] = f"Stage {depth[recipe['name']] * count // levels + 1}"
    for dataset in flow["datasets"]:
        if dataset["name"] not in producer_depth:
            dataset["zone"] = "Stage 1"
