"""Schema propagation, DSS's "propagate schema" flow tool: push a changed schema down the Flow.

Starting from source datasets, every downstream recipe (topological order) recomputes its output schemas with
:func:`dss_emulator.execution.schemas.output_schemas` from its inputs' current schemas, and the outputs whose schema
differs are updated. Options, as the client sends them:

* ``excludedRecipes`` (``stop_at``): the recipe is not updated and propagation does not go past it;
* ``markAsOkRecipes`` (``mark_recipe_as_ok``): the recipe is accepted as is (its outputs keep their schemas) and
  propagation continues downstream;
* ``autoRebuild``: each updated recipe is rebuilt right after its schemas change (one NON_RECURSIVE_FORCED_BUILD job
  per recipe, visible in the job list), so the next ones see fresh data.

It runs as a future. When a recipe's schema cannot be computed, or an auto-rebuild fails, the future fails: polling it
answers an HTTP error whose message names the recipe.
"""

from __future__ import annotations

import copy
from typing import Any, Dict, List, Optional, Set, Tuple

from ..state import CODED_EXCEPTION, DSSError, EmulatorState, Future, Recipe, bad_request, not_found, split_ref
from .scheduler import Scheduler

SCHEMA_ERROR_CODE = "ERR_RECIPE_CANNOT_CHECK_SCHEMA_CONSISTENCY"


def start_propagation(state: EmulatorState, scheduler: Scheduler, project_key: str, body: Any) -> Future:
    """Validate a ``POST /flow/tools/propagate-schema/`` body and start the propagation as a future."""
    if not isinstance(body, dict):
        raise bad_request("Schema propagation needs a JSON object {options, sources}")
    options = body.get("options") or {}
    sources = body.get("sources") or []
    if not isinstance(sources, list) or not sources:
        raise bad_request("sources must list at least one dataset {projectKey, id}")
    resolved: List[Tuple[str, str]] = []
    with state.lock:
        state.project(project_key)
        for source in sources:
            if not isinstance(source, dict) or not source.get("id"):
                raise bad_request(f"Each source must be an object {{projectKey, id}}, got {source!r}")
            pk = source.get("projectKey") or project_key
            pk, name = split_ref(pk, str(source["id"])) if not source.get("projectKey") else (pk, str(source["id"]))
            if state.find_dataset(pk, name) is None:
                raise not_found("dataset", pk, name)
            resolved.append((pk, name))
    names = ", ".join("{}.{}".format(*s) for s in resolved)
    return state.new_future(
        f"Propagating schema from {names}",
        project_key,
        lambda future: _propagate(state, scheduler, project_key, resolved, options, future),
    )


def _downstream(state: EmulatorState, sources: List[Tuple[str, str]], excluded: Set[str]) -> List[Recipe]:
    """Recipes reachable from the sources without passing an excluded recipe. Lock held."""
    reached: List[Recipe] = []
    frontier = list(sources)
    seen = set(frontier)
    while frontier:
        pk, name = frontier.pop(0)
        for recipe in state.consumers_of(pk, name):
            if recipe in reached or recipe.name in excluded:
                continue
            reached.append(recipe)
            for ref in recipe.output_refs():
                out = split_ref(recipe.project_key, ref)
                if out not in seen:
                    seen.add(out)
                    frontier.append(out)
    return reached


def _columns_diff(before: List[dict], after: List[dict]) -> Dict[str, List[str]]:
    old = {c.get("name"): c.get("type") for c in before}
    new = {c.get("name"): c.get("type") for c in after}
    return {
        "addedColumns": [n for n in new if n not in old],
        "removedColumns": [n for n in old if n not in new],
        "changedColumns": [n for n in new if n in old and old[n] != new[n]],
    }


def _propagate(
    state: EmulatorState,
    scheduler: Scheduler,
    project_key: str,
    sources: List[Tuple[str, str]],
    options: dict,
    future: Future,
) -> Optional[dict]:
    from .schemas import SchemaComputationError, output_schemas

    excluded = set(options.get("excludedRecipes") or [])
    mark_ok = set(options.get("markAsOkRecipes") or [])
    auto_rebuild = bool(options.get("autoRebuild", False))
    updated: List[dict] = []
    unchanged: List[str] = []
    rebuilt: List[str] = []
    job_ids: List[str] = []
    visited: List[str] = []
    marked: List[str] = []
    messages: List[dict] = []
    with state.lock:
        order = scheduler.topological(_downstream(state, sources, excluded))
    for recipe in order:
        if future.cancel.is_set():
            return None
        if recipe.name in mark_ok:
            marked.append(recipe.name)
            messages.append(
                _message(
                    "INFO",
                    "RECIPE_MARKED_AS_OK",
                    f"Recipe {recipe.name} marked as OK",
                    f"Outputs of {recipe.name} keep their schema",
                )
            )
            continue
        with state.lock:
            visited.append(recipe.name)
            input_schemas = {}
            for ref in recipe.input_refs():
                dataset = state.find_dataset(recipe.project_key, ref)
                if dataset is not None:
                    input_schemas[ref] = copy.deepcopy(dataset.columns)
            try:
                computed = output_schemas(recipe.executor_view(), input_schemas)
            except SchemaComputationError as exc:
                message = getattr(exc, "message", None) or str(exc)
                raise DSSError(
                    500,
                    CODED_EXCEPTION,
                    f"Cannot check schema consistency of recipe {recipe.name}: {message}",
                    f"Schema propagation failed at recipe {recipe.project_key}.{recipe.name}: {message}",
                    code=SCHEMA_ERROR_CODE,
                    title="Cannot check schema consistency",
                ) from None
            for ref in recipe.output_refs():
                dataset = state.find_dataset(recipe.project_key, ref)
                if dataset is None:
                    continue
                columns = computed.get(ref) or computed.get(dataset.name)
                if columns is None:
                    continue
                before = dataset.columns
                if [(c.get("name"), c.get("type")) for c in before] == [
                    (c.get("name"), c.get("type")) for c in columns
                ]:
                    unchanged.append(dataset.name)
                    continue
                dataset.set_columns(columns)
                state.touch_dataset(dataset)
                change = {
                    "projectKey": dataset.project_key,
                    "name": dataset.name,
                    "recipe": recipe.name,
                    "previousSchema": {"columns": before},
                    "newSchema": {"columns": copy.deepcopy(columns)},
                }
                change.update(_columns_diff(before, columns))
                updated.append(change)
                messages.append(
                    _message(
                        "INFO",
                        "SCHEMA_UPDATED",
                        f"Schema of {dataset.name} updated",
                        "Recipe {}: added {}, removed {}, changed {}".format(
                            recipe.name,
                            change["addedColumns"] or "none",
                            change["removedColumns"] or "none",
                            change["changedColumns"] or "none",
                        ),
                    )
                )
        if auto_rebuild:
            job_id = _rebuild(state, scheduler, recipe, future)
            if job_id is None:
                return None
            job_ids.append(job_id)
            rebuilt.extend(split_ref(recipe.project_key, ref)[1] for ref in recipe.output_refs())
    return {
        "anyMessage": bool(messages),
        "success": True,
        "warning": False,
        "error": False,
        "fatal": False,
        "maxSeverity": "INFO" if messages else "SUCCESS",
        "messages": messages,
        "updatedDatasets": updated,
        "unchangedDatasets": unchanged,
        "rebuiltDatasets": rebuilt,
        "visitedRecipes": visited,
        "excludedRecipes": sorted(excluded),
        "markedAsOkRecipes": marked,
        "jobIds": job_ids,
    }


def _rebuild(state: EmulatorState, scheduler: Scheduler, recipe: Recipe, future: Future) -> Optional[str]:
    """Rebuild one recipe's outputs; None when the future was aborted. Raises a DSSError naming the recipe."""
    outputs = []
    for ref in recipe.output_refs():
        pk, name = split_ref(recipe.project_key, ref)
        with state.lock:
            kind = "DATASET" if state.find_dataset(pk, name) is not None else "MANAGED_FOLDER"
        outputs.append({"id": name, "projectKey": pk, "type": kind, "partition": None})
    if not outputs:
        return ""
    job = scheduler.start_job(recipe.project_key, {"type": "NON_RECURSIVE_FORCED_BUILD", "outputs": outputs})
    while not job.finished.wait(0.1):
        if future.cancel.is_set():
            scheduler.abort_job(job.project_key, job.id, "schema propagation aborted")
            job.finished.wait(5.0)
            return None
    with state.lock:
        if job.state != "DONE":
            failures = [a.first_failure.get("message") for a in job.activities.values() if a.first_failure]
            detail = failures[0] if failures else f"job ended {job.state}"
            raise DSSError(
                500,
                CODED_EXCEPTION,
                f"Auto-rebuild of recipe {recipe.name} failed during schema propagation: {detail}",
                f"Schema propagation stopped at recipe {recipe.project_key}.{recipe.name}: its rebuild (job {job.id}) ended {job.state}: {detail}",
            )
    return job.id


def _message(severity: str, code: str, title: str, message: str) -> dict:
    return {"severity": severity, "isFatal": False, "code": code, "title": title, "message": message, "details": ""}
