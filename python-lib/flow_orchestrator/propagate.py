"""The "Propagate schema" use case: preview what a source's schema change does downstream, run DSS's propagation, diff.

Order of work, so that a bad input never changes anything: parse the form (:func:`~flow_orchestrator.config.propagate.parse_propagate_config`), read the
Flow and check every recipe name against it (:func:`check_against_flow`), snapshot the schemas downstream of the
source, compute the impact preview from the recipe definitions (nothing changes), then, unless ``preview_only``, run
``new_schema_propagation`` as a DSS future with our own time limit, snapshot again and diff.

The pure parts (:mod:`flow_orchestrator.schema`) do the reasoning; the gateway's ``schema_propagation()``
(:class:`~flow_orchestrator.dss.schema_propagation.SchemaPropagationGateway`) makes the DSS calls.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from .config.propagate import PROPAGATE_FORM_FIELDS, PropagateConfig
from .errors import ConfigError
from .graph import FlowGraph
from .port import ProjectPort
from .schema import (
    ImpactPreview,
    PropagationError,
    SchemaDiff,
    preview_impact,
    propagation_failure,
    propagation_messages,
    summarise_propagation,
)
from .text import did_you_mean

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------------ configuration


def check_against_flow(
    config: PropagateConfig, graph: FlowGraph, field_names: Optional[Mapping[str, str]] = None
) -> List[str]:
    """Check the source and every recipe name against the Flow before anything changes; returns notes.

    Unknown names raise :class:`ConfigError` with a did-you-mean; a listed recipe that is not downstream of the
    source is only a note (DSS would ignore it).
    """
    names = dict(PROPAGATE_FORM_FIELDS)
    names.update(field_names or {})
    problems: List[Tuple[str, str]] = []
    datasets = [key for key in graph.computables() if graph.node_type(key) == "COMPUTABLE_DATASET"]
    source = config.source_dataset
    if not graph.has_node(source) or graph.node_type(source) != "COMPUTABLE_DATASET":
        what = "is not a dataset of the Flow" if graph.has_node(source) else "is not in the Flow"
        problems.append((names["source_dataset"], f"dataset '{source}' {what}{did_you_mean(source, datasets, n=1)}"))
    recipes = list(graph.recipes)
    for key in ("stop_at", "mark_as_ok"):
        for index, recipe in enumerate(getattr(config, key)):
            if not graph.is_recipe(recipe):
                problems.append(
                    (
                        f"{names[key]}[{index}]",
                        f"recipe '{recipe}' is not in the Flow{did_you_mean(recipe, recipes, n=1)}",
                    )
                )
    if problems:
        raise ConfigError(problems)
    downstream = set(downstream_recipes(graph, source))
    notes = []
    for key in ("stop_at", "mark_as_ok"):
        for recipe in getattr(config, key):
            if recipe not in downstream:
                notes.append(f"{names[key]}: recipe '{recipe}' is not downstream of '{source}', so it has no effect")
    return notes


def downstream_recipes(graph: FlowGraph, source: str) -> List[str]:
    """The recipes a schema change of ``source`` may reach, in topological order."""
    readers = graph.readers(source)
    return graph.in_topological_order(set(readers) | graph.downstream_closure(readers))


def downstream_datasets(graph: FlowGraph, source: str) -> List[str]:
    """The datasets of this project a propagation from ``source`` may change, source first, in Flow order."""
    found = [source]
    for key in graph.downstream_computables(source):
        if graph.node_type(key) == "COMPUTABLE_DATASET" and not graph.is_foreign(key):
            found.append(key)
    return found


# ------------------------------------------------------------------------------------------------ DSS calls


# ------------------------------------------------------------------------------------------------ the use case


@dataclass(frozen=True)
class PropagationOutcome:
    """Everything a report needs: the preview, what changed, DSS's messages and the error if it stopped."""

    project_key: str
    config: PropagateConfig
    preview: ImpactPreview
    ran: bool = False
    changes: Tuple[SchemaDiff, ...] = ()  # datasets whose schema actually changed, Flow order
    unchanged: Tuple[str, ...] = ()  # downstream datasets the propagation left as they were
    messages: Tuple[Dict[str, Any], ...] = ()
    error: Optional[PropagationError] = None
    notes: Tuple[str, ...] = ()
    duration_s: Optional[float] = None
    datasets: Tuple[str, ...] = ()  # source and downstream datasets, Flow order

    @property
    def state(self) -> str:
        if self.error is not None:
            return "FAILED"
        if not self.ran:
            return "PREVIEW"
        return "SUCCESS"

    @property
    def stopped_at(self) -> Optional[str]:
        return self.error.recipe if self.error is not None else None

    def summary(self) -> str:
        source = self.config.source_dataset
        if not self.ran:
            return f"Preview of a schema propagation from '{source}' (nothing was changed).\n{self.preview.summary()}"
        changed = ", ".join(diff.dataset for diff in self.changes) or "none"
        if self.error is not None:
            return f"{self.error}\nSchemas changed before it stopped: {changed}."
        return "Schema propagation from '{}' finished: {} dataset{} changed ({}).".format(
            source, len(self.changes), "" if len(self.changes) == 1 else "s", changed
        )

    def to_dict(self) -> dict:
        return {
            "project_key": self.project_key,
            "state": self.state,
            "config": self.config.to_dict(),
            "preview": self.preview.to_dict(),
            "ran": self.ran,
            "changes": [diff.to_dict() for diff in self.changes],
            "unchanged": list(self.unchanged),
            "messages": [dict(message) for message in self.messages],
            "error": None
            if self.error is None
            else {"message": str(self.error), "recipe": self.error.recipe, "code": self.error.code},
            "notes": list(self.notes),
            "duration_s": self.duration_s,
            "datasets": list(self.datasets),
            "summary": self.summary(),
        }


def _preview_order(graph: FlowGraph, config: PropagateConfig) -> List[str]:
    """Recipes the preview re-derives: DSS does not update stop_at recipes nor those it passes as OK."""
    skipped = set(config.stop_at) | set(config.mark_as_ok)
    return [recipe for recipe in downstream_recipes(graph, config.source_dataset) if recipe not in skipped]


def propagate_schema(
    gateway: ProjectPort,
    config: PropagateConfig,
    *,
    new_source_columns: Optional[Sequence[Mapping[str, Any]]] = None,
    cancel: Optional[threading.Event] = None,
    field_names: Optional[Mapping[str, str]] = None,
    clock: Callable[[], float] = time.monotonic,
) -> PropagationOutcome:
    """Preview, then (unless ``config.preview_only``) propagate and diff. Never raises for a failed propagation.

    ``new_source_columns``: preview a schema the source does not have yet (``None``: the source already has its new
    schema and the datasets below it are stale, the usual case). A propagation that stops is returned with ``error``
    set (and the schemas that changed before); bad names raise :class:`ConfigError` before anything changes.
    """
    started = clock()
    calls = gateway.schema_propagation(clock=clock)
    graph = calls.read_flow()
    notes = check_against_flow(config, graph, field_names)
    source = config.source_dataset
    datasets = downstream_datasets(graph, source)
    order = _preview_order(graph, config)
    side_inputs = [
        ref for recipe in order for ref in graph.inputs(recipe) if graph.node_type(ref) == "COMPUTABLE_DATASET"
    ]
    before = calls.snapshot(datasets + side_inputs)
    preview = preview_impact(source, new_source_columns, before, calls.recipe_definitions(order), order)
    if new_source_columns is not None and not config.preview_only:
        notes.append("the source's proposed schema was only previewed: set it on the dataset before propagating")
    if config.preview_only or new_source_columns is not None:
        return PropagationOutcome(
            project_key=gateway.project_key,
            config=config,
            preview=preview,
            ran=False,
            notes=tuple(notes),
            duration_s=clock() - started,
            datasets=tuple(datasets),
        )
    error: Optional[PropagationError] = None
    result: Any = None
    try:
        future = calls.start(config)
        result = calls.wait(future, config, cancel)
        error = propagation_failure(result, source=source)
    except PropagationError as failure:
        error = failure
    after = calls.snapshot(datasets)
    before_diffed = {name: before[name] for name in datasets}
    changes = tuple(summarise_propagation(before_diffed, after, result if isinstance(result, Mapping) else None))
    changed = {diff.dataset for diff in changes}
    if error is not None and changed:
        error = PropagationError(
            "{} Schemas already updated before it stopped: {}.".format(
                str(error).rstrip(), ", ".join(diff.dataset for diff in changes)
            ),
            recipe=error.recipe,
            code=error.code,
            dss_message=error.dss_message,
        )
    return PropagationOutcome(
        project_key=gateway.project_key,
        config=config,
        preview=preview,
        ran=True,
        changes=changes,
        unchanged=tuple(name for name in datasets if name not in changed and name != source),
        messages=tuple(propagation_messages(result if isinstance(result, Mapping) else None)),
        error=error,
        notes=tuple(notes),
        duration_s=clock() - started,
        datasets=tuple(datasets),
    )


# ------------------------------------------------------------------------------------------------ plugin shells


__all__ = [
    "PropagationOutcome",
    "check_against_flow",
    "downstream_datasets",
    "downstream_recipes",
    "propagate_schema",
]
