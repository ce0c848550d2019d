"""Recipes: list, create, settings (``{"recipe": ..., "payload": "..."}``), status, schema updates, rename, delete."""

from __future__ import annotations

import copy
from typing import List

from ..server import Request, Response, json_response
from ..state import (
    API_ILLEGAL_ARGUMENT,
    CODE_RECIPE_TYPES,
    CODED_EXCEPTION,
    Dataset,
    DSSError,
    Recipe,
    bad_request,
    dataset_definition,
    payload_text,
    recipe_definition,
    split_ref,
)
from ..zones import forget, renamed
from .flow_objects import VOLATILE_KEYS, comparable, metadata_response, save_metadata


def _recipe(ctx, request: Request) -> Recipe:
    return ctx.state.recipe(request.path_params["pk"], request.path_params["r"])


def _list_item(recipe: Recipe) -> dict:
    """The recipe as the API shows it; shares the definition's values, so serialise it before releasing the lock."""
    item = dict(recipe.definition)
    item["projectKey"] = recipe.project_key
    item["name"] = recipe.name
    return item


def list_recipes(ctx, request: Request) -> Response:
    with ctx.state.lock:
        project = ctx.state.project(request.path_params["pk"])
        return json_response([_list_item(r) for r in project.recipes.values()])


def get_recipe(ctx, request: Request) -> Response:
    with ctx.state.lock:
        recipe = _recipe(ctx, request)
        body = {"recipe": _list_item(recipe)}
        if recipe.payload is not None:
            body["payload"] = recipe.payload
        return json_response(body)


def _flat(roles) -> List[str]:
    refs = []
    if isinstance(roles, dict):
        for role in roles.values():
            if not isinstance(role, dict) or not isinstance(role.get("items", []), list):
                raise bad_request(f'Recipe roles must be {{role: {{"items": [{{"ref": ...}}]}}}}, got {role!r}')
            for item in role.get("items") or []:
                if not isinstance(item, dict) or not item.get("ref"):
                    raise bad_request(f"Each recipe input/output item needs a 'ref', got {item!r}")
                refs.append(item["ref"])
    elif roles is not None:
        raise bad_request(f"Recipe inputs/outputs must be an object keyed by role, got {roles!r}")
    return refs


def _check_refs(ctx, project_key: str, recipe_name: str, inputs: List[str], outputs: List[str]) -> None:
    state = ctx.state
    for ref in inputs + outputs:
        if state.find_dataset(project_key, ref) is None and state.find_folder(project_key, ref) is None:
            pk, name = split_ref(project_key, ref)
            raise DSSError(
                404,
                "com.dataiku.dip.server.controllers.NotFoundException",
                f"dataset does not exist: {pk}.{name}",
                f"dataset does not exist: {pk}.{name} (used by recipe {recipe_name})",
            )
    for ref in outputs:
        producer = state.producer_of(project_key, ref)
        if producer is not None and producer.name != recipe_name:
            raise DSSError(400, API_ILLEGAL_ARGUMENT, f"{ref} is already the output of recipe {producer.name}")


def save_recipe(ctx, request: Request) -> Response:
    body = request.json_object()
    new_def = body.get("recipe")
    if not isinstance(new_def, dict):
        raise bad_request('Recipe settings must be {"recipe": {...}, "payload": "..."}')
    payload = body.get("payload")
    if payload is not None and not isinstance(payload, str):
        raise bad_request("The recipe payload must be a string (JSON text for visual recipes)")
    with ctx.state.lock:
        recipe = _recipe(ctx, request)
        inputs, outputs = _flat(new_def.get("inputs")), _flat(new_def.get("outputs"))
        _check_refs(ctx, recipe.project_key, recipe.name, inputs, outputs)
        merged = copy.deepcopy(new_def)
        merged["projectKey"] = recipe.project_key
        merged["name"] = recipe.name
        if not merged.get("type"):
            merged["type"] = recipe.type
        for key in VOLATILE_KEYS:
            merged[key] = recipe.definition.get(key)
        changed = comparable(merged) != comparable(recipe.definition) or payload != recipe.payload
        structure = (inputs, outputs) != (recipe.input_refs(), recipe.output_refs())
        recipe.definition = merged
        recipe.payload = payload
        if changed:
            ctx.state.touch_recipe(recipe)
        if structure:
            ctx.state.project(recipe.project_key).structure_changed()
        return json_response({"msg": "Recipe saved", "versionTag": copy.deepcopy(recipe.definition["versionTag"])})


def create_recipe(ctx, request: Request) -> Response:
    body = request.json_object()
    proto = body.get("recipePrototype")
    settings = body.get("creationSettings") or {}
    if not isinstance(proto, dict) or not proto.get("type"):
        raise bad_request("Creating a recipe needs recipePrototype with a type")
    pk = request.path_params["pk"]
    inputs, outputs = _flat(proto.get("inputs")), _flat(proto.get("outputs"))
    with ctx.state.lock:
        project = ctx.state.project(pk)
        name = proto.get("name") or "compute_%s" % (split_ref(pk, outputs[0])[1] if outputs else proto["type"])
        base, index = name, 1
        while not proto.get("name") and (name in project.recipes or name in project.datasets):
            index += 1
            name = f"{base}_{index}"
        if name in project.recipes or name in project.datasets:
            raise DSSError(400, API_ILLEGAL_ARGUMENT, f"A recipe or dataset named {name} already exists in {pk}")
        if settings.get("createOutputDataset"):
            out_settings = settings.get("outputDatasetSettings") or {}
            connection = out_settings.get("connectionId") or "filesystem_managed"
            for ref in outputs:
                if ctx.state.find_dataset(pk, ref) is None and ctx.state.find_folder(pk, ref) is None:
                    dataset_type = project.connections.get(connection) or "Filesystem"
                    project.datasets[ref] = Dataset(
                        pk,
                        ref,
                        dataset_definition(pk, ref, dataset_type, connection, True, []),
                        ctx.state.next_version(),
                    )
        _check_refs(ctx, pk, name, inputs, outputs)
        definition = recipe_definition(pk, name, proto["type"], inputs, outputs)
        for role_key in ("inputs", "outputs"):
            if isinstance(proto.get(role_key), dict) and proto[role_key]:
                definition[role_key] = copy.deepcopy(proto[role_key])
        payload = settings.get("script")
        if payload is None and proto["type"] not in CODE_RECIPE_TYPES:
            payload = payload_text(_initial_payload(ctx, pk, proto["type"], inputs, settings))
        recipe = Recipe(pk, name, definition, payload, ctx.state.next_version())
        project.recipes[name] = recipe
        project.structure_changed()
        _fill_empty_output_schemas(ctx, recipe)
        return json_response({"name": name, "projectKey": pk})


def _initial_payload(ctx, pk: str, recipe_type: str, inputs: List[str], settings: dict) -> dict:
    """The payload DSS makes for a new visual recipe from its creation settings (empty when they say nothing).

    A grouping created with ``with_group_key(column)`` (``creationSettings.groupKey``) groups by that column, lists
    every other input column with no aggregate ticked, and counts the rows of each group, as DSS's creation does.
    """
    key = settings.get("groupKey")
    if recipe_type != "grouping" or not isinstance(key, str) or not key or not inputs:
        return {}
    from ..execution.executors import GROUPING_AGGREGATES

    dataset = ctx.state.find_dataset(pk, inputs[0])
    columns = dataset.columns if dataset is not None else []
    key_type = next((c.get("type") or "string" for c in columns if c.get("name") == key), "string")
    no_aggregate = {flag: False for flag, _ in GROUPING_AGGREGATES}
    values = [
        dict({"column": c["name"], "type": c.get("type") or "string"}, **no_aggregate)
        for c in columns
        if c.get("name") != key
    ]
    return {
        "keys": [{"column": key, "type": key_type}],
        "values": values,
        "globalCount": True,
        "outputColumnNameOverrides": {},
        "computedColumns": [],
        "preFilter": {"distinct": False, "enabled": False},
        "postFilter": {"distinct": False, "enabled": False},
    }


def _fill_empty_output_schemas(ctx, recipe: Recipe) -> None:
    from ..execution.schemas import SchemaComputationError, output_schemas

    inputs = {}
    for ref in recipe.input_refs():
        dataset = ctx.state.find_dataset(recipe.project_key, ref)
        if dataset is not None:
            inputs[ref] = dataset.columns
    try:
        computed = output_schemas(recipe.executor_view(), inputs)
    except (SchemaComputationError, Exception):  # noqa: BLE001 - a new recipe may not be computable yet
        return
    for ref in recipe.output_refs():
        dataset = ctx.state.find_dataset(recipe.project_key, ref)
        if dataset is not None and not dataset.columns and computed.get(ref):
            dataset.set_columns(computed[ref])


def delete_recipe(ctx, request: Request) -> Response:
    with ctx.state.lock:
        recipe = _recipe(ctx, request)
        project = ctx.state.project(recipe.project_key)
        del project.recipes[recipe.name]
        forget(project.zones, "RECIPE", recipe.name)
        project.structure_changed()
        return json_response({"msg": "Recipe deleted"})


def get_metadata(ctx, request: Request) -> Response:
    with ctx.state.lock:
        return metadata_response(_recipe(ctx, request))


def set_metadata(ctx, request: Request) -> Response:
    body = request.json_object()
    with ctx.state.lock:
        return save_metadata(_recipe(ctx, request), body)


def _computed_schemas(ctx, recipe: Recipe) -> dict:
    """Output schemas the recipe would produce now; a coded DSS error naming the recipe when it cannot say."""
    from ..execution.schemas import SchemaComputationError, output_schemas

    inputs = {}
    for ref in recipe.input_refs():
        dataset = ctx.state.find_dataset(recipe.project_key, ref)
        if dataset is not None:
            inputs[ref] = copy.deepcopy(dataset.columns)
    try:
        return output_schemas(recipe.executor_view(), inputs)
    except SchemaComputationError as exc:
        message = getattr(exc, "message", None) or str(exc)
        raise DSSError(
            500,
            CODED_EXCEPTION,
            f"Cannot check schema consistency of recipe {recipe.name}: {message}",
            code="ERR_RECIPE_CANNOT_CHECK_SCHEMA_CONSISTENCY",
            title="Cannot check schema consistency",
        ) from None


def get_status(ctx, request: Request) -> Response:
    with ctx.state.lock:
        recipe = _recipe(ctx, request)
        messages = []
        output_columns: list = []
        try:
            computed = _computed_schemas(ctx, recipe)
            outputs = recipe.output_refs()
            output_columns = computed.get(outputs[0], []) if outputs else []
            for ref in outputs:
                dataset = ctx.state.find_dataset(recipe.project_key, ref)
                if dataset is None or ref not in computed:
                    continue
                if _signature(dataset.columns) != _signature(computed[ref]):
                    messages.append(
                        {
                            "severity": "WARNING",
                            "isFatal": False,
                            "code": "WARN_RECIPE_SCHEMA_MISMATCH",
                            "title": "Output schema is not up to date",
                            "message": f"The schema of {ref} does not match what recipe {recipe.name} produces",
                            "details": "Run schema propagation or apply the recipe's schema update",
                        }
                    )
        except DSSError as error:
            messages.append(
                {
                    "severity": "ERROR",
                    "isFatal": True,
                    "code": error.code or "ERR_RECIPE",
                    "title": error.title or "Recipe cannot run",
                    "message": error.message,
                    "details": "",
                }
            )
        severity = "SUCCESS"
        if any(m["severity"] == "ERROR" for m in messages):
            severity = "ERROR"
        elif messages:
            severity = "WARNING"
        engine = {
            "type": "DSS",
            "label": "In-Memory",
            "isSelectable": True,
            "statusWarnLevel": "OK",
            "statusMessage": "",
            "recommended": True,
        }
        return json_response(
            {
                "selectedEngine": engine,
                "engines": [engine],
                "allMessagesForFrontend": {
                    "maxSeverity": severity,
                    "anyMessage": bool(messages),
                    "success": severity == "SUCCESS",
                    "warning": severity == "WARNING",
                    "error": severity == "ERROR",
                    "fatal": severity == "ERROR",
                    "messages": messages,
                },
                "outputSchema": {"columns": output_columns},
            }
        )


def _signature(columns) -> list:
    return [(c.get("name"), c.get("type")) for c in columns or []]


def schema_update(ctx, request: Request) -> Response:
    with ctx.state.lock:
        recipe = _recipe(ctx, request)
        computed = _computed_schemas(ctx, recipe)
        computables = []
        for ref in recipe.output_refs():
            dataset = ctx.state.find_dataset(recipe.project_key, ref)
            if dataset is None or ref not in computed:
                continue
            if _signature(dataset.columns) == _signature(computed[ref]):
                continue
            old = {c.get("name"): c.get("type") for c in dataset.columns}
            new = {c.get("name"): c.get("type") for c in computed[ref]}
            incompatibilities = [f"Column {n} is missing from the new schema" for n in old if n not in new]
            incompatibilities += [
                f"Column {n} changes type from {old[n]} to {new[n]}" for n in new if n in old and old[n] != new[n]
            ]
            incompatibilities += [f"Column {n} is new" for n in new if n not in old]
            computables.append(
                {
                    "type": "DATASET",
                    "id": dataset.name,
                    "datasetName": dataset.name,
                    "newSchema": {"columns": computed[ref]},
                    "incompatibilities": incompatibilities,
                    "previousSchemaWasEmpty": not dataset.columns,
                    "isPartitioned": False,
                    "isHDFS": False,
                    "lostComplexTypes": [],
                    "messages": [],
                }
            )
        return json_response(
            {
                "totalIncompatibilities": sum(len(c["incompatibilities"]) for c in computables),
                "computables": computables,
                "recipeChanges": [],
            }
        )


def update_output_schema(ctx, request: Request) -> Response:
    body = request.json_object()
    computable = body.get("computableId")
    schema = body.get("newSchema")
    if (body.get("computableType") or "DATASET") != "DATASET":
        raise bad_request("Only DATASET computables have a schema, got {!r}".format(body.get("computableType")))
    if not computable or not isinstance(schema, dict) or not isinstance(schema.get("columns"), list):
        raise bad_request("updateOutputSchema needs computableId and newSchema {columns}")
    with ctx.state.lock:
        recipe = _recipe(ctx, request)
        if computable not in recipe.output_refs():
            raise bad_request(f"{computable} is not an output of recipe {recipe.name}")
        dataset = ctx.state.dataset(*split_ref(recipe.project_key, computable))
        if _signature(dataset.columns) != _signature(schema["columns"]):
            dataset.set_columns(schema["columns"])
            ctx.state.touch_dataset(dataset)
        return json_response({"msg": f"Schema of {dataset.full_name} updated"})


def rename_recipe(ctx, request: Request) -> Response:
    body = request.json_object()
    old, new = body.get("oldName"), body.get("newName")
    if not old or not new:
        raise bad_request("Renaming a recipe needs oldName and newName")
    pk = request.path_params["pk"]
    with ctx.state.lock:
        project = ctx.state.project(pk)
        recipe = ctx.state.recipe(pk, old)
        if new in project.recipes or new in project.datasets:
            raise DSSError(400, API_ILLEGAL_ARGUMENT, f"A recipe or dataset named {new} already exists in {pk}")
        project.recipes = type(project.recipes)((new if k == old else k, v) for k, v in project.recipes.items())
        recipe.name = new
        recipe.definition["name"] = new
        renamed(project.zones, "RECIPE", old, new)
        ctx.state.faults.rename_recipe(pk, old, new)
        project.structure_changed()
        return json_response({"msg": "Recipe renamed"})


ROUTES = [
    ("GET", "projects/{pk}/recipes", list_recipes),
    ("POST", "projects/{pk}/recipes", create_recipe),
    ("GET", "projects/{pk}/recipes/{r}", get_recipe),
    ("PUT", "projects/{pk}/recipes/{r}", save_recipe),
    ("DELETE", "projects/{pk}/recipes/{r}", delete_recipe),
    ("GET", "projects/{pk}/recipes/{r}/metadata", get_metadata),
    ("PUT", "projects/{pk}/recipes/{r}/metadata", set_metadata),
    ("GET", "projects/{pk}/recipes/{r}/status", get_status),
    ("GET", "projects/{pk}/recipes/{r}/schema-update", schema_update),
    ("POST", "projects/{pk}/recipes/{r}/actions/updateOutputSchema", update_output_schema),
    ("POST", "projects/{pk}/actions/renameRecipe", rename_recipe),
]
