"""Loading a validated flow file into the emulator's state: objects, source rows, computed schemas, built outputs.

Above the state (it creates its objects) and the execution engine (it builds the outputs marked ``"built": true``):
the state itself imports neither, so the state, the scheduler and uploads form no circle.
"""

from __future__ import annotations

import copy
from typing import List

from .execution.scheduler import ActivityFailure, read_inputs, run_executor, store_outputs
from .execution.schemas import SchemaComputationError, output_schemas
from .flowfile import zone_placement
from .state import (
    Dataset,
    EmulatorState,
    Folder,
    Project,
    Recipe,
    dataset_definition,
    now_ms,
    payload_text,
    recipe_definition,
)


def install_flow(state: EmulatorState, flow: dict) -> Project:
    """Create the project a validated flow file describes: objects, source rows, computed schemas, and the
    outputs marked ``"built": true`` (their recipes run now, upstream first)."""
    key = flow["projectKey"]
    with state.lock:
        if key in state.projects:
            raise ValueError(f"Project {key} is already loaded: each flow file needs its own projectKey")
        project = Project(key, flow.get("name") or key, flow.get("description") or "")
        variables = flow.get("variables") or {}
        project.variables = {
            "standard": copy.deepcopy(variables.get("standard") or {}),
            "local": copy.deepcopy(variables.get("local") or {}),
        }
        for connection in flow.get("connections") or []:
            project.connections[connection["name"]] = connection.get("type") or "Filesystem"
        built_outputs = set()
        for entry in flow.get("datasets") or []:
            _install_dataset(state, project, entry, built_outputs)
        for entry in flow.get("folders") or []:
            folder_id = entry.get("id") or entry.get("name")
            folder = Folder(
                key,
                folder_id,
                entry.get("name") or folder_id,
                state.next_version(),
                built=entry.get("built", True) is not False,
                folder_type=entry.get("type") or "Filesystem",
                connection=entry.get("connection") or "filesystem_folders",
            )
            folder.tags = list(entry.get("tags") or [])
            project.folders[folder_id] = folder
        for entry in flow.get("recipes") or []:
            _install_recipe(state, project, entry)
        project.implicit_recipes = copy.deepcopy(flow.get("implicitRecipes") or [])
        _install_zones(project, flow)
        project.job_overhead = (flow.get("emulation") or {}).get("jobOverhead")
        for ref in project.producers():
            folder = project.folders.get(ref)
            if folder is not None and not any(f.get("id") == ref and f.get("built") for f in flow.get("folders") or []):
                folder.built = False
        state.projects[key] = project
        try:
            _complete_schemas(state, project)
            _build_at_load(state, project, built_outputs)
        except Exception:
            del state.projects[key]
            state.storage.clear_project(key)
            raise
        for dataset in project.datasets.values():  # serialised once now, as DSS holds its datasets ready to list
            dataset.listing_json()
        return project


def _install_zones(project: Project, flow: dict) -> None:
    for entry in flow.get("zones") or []:
        project.zones.create(entry["name"], entry["color"], entry["id"])
    project.zones.placed.update(zone_placement(flow))
    kinds = {name: "DATASET" for name in project.datasets}
    kinds.update({folder_id: "MANAGED_FOLDER" for folder_id in project.folders})
    kinds.update({name: "RECIPE" for name in project.recipes})
    for entry in flow.get("zones") or []:
        for name in entry["shared"]:
            project.zones.share(entry["id"], (kinds[name], name))


def _install_dataset(state: EmulatorState, project: Project, entry: dict, built_outputs: set) -> None:
    name = entry["name"]
    connection = entry.get("connection") or "filesystem_managed"
    dataset_type = entry.get("type") or project.connections.get(connection) or "Filesystem"
    columns = [dict(c) for c in entry.get("schema") or []]
    definition = dataset_definition(
        project.key,
        name,
        dataset_type,
        connection,
        bool(entry.get("managed", True)),
        columns,
        entry.get("tags") or [],
        entry.get("params"),
        (entry.get("partitioning") or {}).get("dimensions") or [],
    )
    dataset = Dataset(project.key, name, definition, state.next_version())
    if entry.get("description"):
        dataset.definition["description"] = entry["description"]
    project.datasets[name] = dataset
    rows = entry.get("rows")  # load_flow already turned ``generate`` into rows
    for partition, partition_rows in (entry.get("partitions") or {}).items():
        state.storage.write(project.key, name, columns, [list(r) for r in partition_rows], partition)
    if entry.get("built") and not entry.get("partitions"):
        if rows is not None:
            state.storage.write(project.key, name, columns, [list(r) for r in rows])
        else:
            built_outputs.add(name)


def _install_recipe(state: EmulatorState, project: Project, entry: dict) -> None:
    name = entry["name"]
    recipe_type = entry.get("type") or "sync"
    if recipe_type == "prepare":
        recipe_type = "shaker"
    definition = recipe_definition(
        project.key,
        name,
        recipe_type,
        list(entry.get("inputs") or []),
        list(entry.get("outputs") or []),
        entry.get("params"),
        entry.get("tags") or [],
    )
    if entry.get("description"):
        definition["description"] = entry["description"]
    project.recipes[name] = Recipe(
        project.key, name, definition, payload_text(entry.get("payload")), state.next_version()
    )
    state.faults.register_recipe(project.key, name, entry.get("emulation"))


def _complete_schemas(state: EmulatorState, project: Project) -> None:
    """Outputs declared without a schema get the one their recipe computes (upstream first)."""
    for recipe in _recipes_upstream_first(state, project):
        outputs = [state.find_dataset(project.key, ref) for ref in recipe.output_refs()]
        missing = [d for d in outputs if d is not None and not d.columns]
        if not missing:
            continue
        inputs = {}
        for ref in recipe.input_refs():
            dataset = state.find_dataset(project.key, ref)
            if dataset is not None:
                inputs[ref] = dataset.columns
        try:
            computed = output_schemas(recipe.executor_view(), inputs)
        except SchemaComputationError as exc:
            raise ValueError(
                "Flow {}: cannot compute the output schema of recipe {}: {}".format(
                    project.key, recipe.name, getattr(exc, "message", exc)
                )
            ) from None
        for dataset in missing:
            columns = computed.get(dataset.name)
            if columns:
                dataset.set_columns(columns)


def _build_at_load(state: EmulatorState, project: Project, built_outputs: set) -> None:
    produced = set(project.producers())
    for name in built_outputs - produced:  # a source declared built without rows: empty but ready
        state.storage.write(project.key, name, project.datasets[name].columns, [])
    for recipe in _recipes_upstream_first(state, project):
        if not built_outputs.intersection(recipe.output_refs()):
            continue
        for ref in recipe.input_refs():
            if not state.is_ready(project.key, ref):
                raise ValueError(
                    f"Flow {project.key}: output of recipe {recipe.name} is marked built but its input {ref} has no data"
                )
        inputs, versions = read_inputs(state, recipe)
        start = now_ms()
        try:
            outputs = run_executor(recipe, recipe.executor_view(), inputs)
        except ActivityFailure as failure:
            raise ValueError(
                "Flow {}: building recipe {} at load failed: {}".format(
                    project.key, recipe.name, failure.first_failure.get("message")
                )
            ) from None
        store_outputs(state, recipe, outputs, versions, recipe.version, start, now_ms(), None)


def _recipes_upstream_first(state: EmulatorState, project: Project) -> List[Recipe]:
    remaining = list(project.recipes.values())
    done: set = set()
    ordered: List[Recipe] = []
    while remaining:
        progressed = False
        for recipe in list(remaining):
            ups = [u for u in state.upstream_recipes(recipe) if u.project_key == project.key]
            if all(u.name in done for u in ups):
                ordered.append(recipe)
                done.add(recipe.name)
                remaining.remove(recipe)
                progressed = True
        if not progressed:
            names = ", ".join(r.name for r in remaining)
            raise ValueError(f"Flow {project.key} has a cycle between recipes: {names}")
    return ordered


__all__ = ["install_flow"]
