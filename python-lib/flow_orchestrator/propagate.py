"""The "Propagate schema" use case: preview what a source's schema change does downstream, run DSS's propagation, diff.

Order of work, so that a bad input never changes anything: parse the form (:func:`parse_propagate_config`), read the
Flow and check every recipe name against it (:func:`check_against_flow`), snapshot the schemas downstream of the
source, compute the impact preview from the recipe definitions (nothing changes), then, unless ``preview_only``, run
``new_schema_propagation`` as a DSS future with our own time limit, snapshot again and diff.

The pure parts (:mod:`flow_orchestrator.schema`) do the reasoning; :class:`SchemaPropagationGateway` holds the few
DSS calls :class:`~flow_orchestrator.dss.DSSGateway` lacks, with the same error mapping.
"""

from __future__ import annotations

import difflib
import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from .dss import FutureError, split_dataset_ref
from .errors import ConfigError
from .graph import FlowGraph
from .schema import (
    ImpactPreview,
    PropagationError,
    SchemaDiff,
    preview_impact,
    propagation_error,
    propagation_failure,
    propagation_messages,
    summarise_propagation,
)
from .text import is_blank

log = logging.getLogger(__name__)

#: Default time limit of one propagation (auto-rebuild runs a job per recipe, so it can take a while).
DEFAULT_TIMEOUT_S = 3600.0
_JAVA_EXCEPTION_PREFIX = re.compile(r"^(?:[A-Za-z_$][\w$]*\.)+[A-Za-z_$][\w$]*(?:Exception|Error):\s*")

#: The form's field names; the CLI passes its own flags instead (``--source``...), so messages name what users typed.
FORM_FIELDS = {
    "source_dataset": "source_dataset",
    "auto_rebuild": "auto_rebuild",
    "stop_at": "stop_at",
    "mark_as_ok": "mark_as_ok",
    "partition_values": "partition_values",
    "preview_only": "preview_only",
    "timeout_s": "timeout_s",
}


# ------------------------------------------------------------------------------------------------ configuration


@dataclass(frozen=True)
class PropagateConfig:
    """What to propagate and how; ``partition_values`` are ``(dimension, value)`` defaults for partitioned datasets."""

    source_dataset: str
    auto_rebuild: bool = True
    stop_at: Tuple[str, ...] = ()
    mark_as_ok: Tuple[str, ...] = ()
    partition_values: Tuple[Tuple[str, str], ...] = ()
    preview_only: bool = False
    timeout_s: float = DEFAULT_TIMEOUT_S

    def to_dict(self) -> dict:
        return {
            "source_dataset": self.source_dataset,
            "auto_rebuild": self.auto_rebuild,
            "stop_at": list(self.stop_at),
            "mark_as_ok": list(self.mark_as_ok),
            "partition_values": {dimension: value for dimension, value in self.partition_values},
            "preview_only": self.preview_only,
            "timeout_s": self.timeout_s,
        }


def _flag(raw: Mapping, key: str, default: bool, name: str, problems: List[Tuple[str, str]]) -> bool:
    value = raw.get(key)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    problems.append((name, f"expected true or false; found {value!r}"))
    return default


def _names(raw: Mapping, key: str, name: str, problems: List[Tuple[str, str]]) -> Tuple[str, ...]:
    """A list of recipe names (STRINGS or MULTISELECT; a comma-separated text is accepted too), duplicates named."""
    value = raw.get(key)
    if is_blank(value):
        return ()
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, (list, tuple)):
        problems.append((name, f"expected a list of recipe names; found {type(value).__name__}"))
        return ()
    names: List[str] = []
    for index, item in enumerate(value):
        if is_blank(item):
            continue
        if not isinstance(item, str):
            problems.append((f"{name}[{index}]", f"expected a recipe name; found {item!r}"))
            continue
        text = item.strip()
        if text in names:
            problems.append((f"{name}[{index}]", f"recipe '{text}' is listed twice"))
            continue
        names.append(text)
    return tuple(names)


def _partition_values(raw: Mapping, name: str, problems: List[Tuple[str, str]]) -> Tuple[Tuple[str, str], ...]:
    """``{"dimension": "value"}`` or ``["dimension=value", ...]`` (a STRINGS field, or ``--partition`` flags)."""
    value = raw.get("partition_values")
    if is_blank(value):
        return ()
    pairs: List[Tuple[str, str]] = []
    if isinstance(value, Mapping):
        items = [(str(k), v, f"{name}.{k}") for k, v in value.items()]
    elif isinstance(value, (list, tuple, str)):
        items = []
        for index, text in enumerate([value] if isinstance(value, str) else value):
            if is_blank(text):
                continue
            dimension, separator, chosen = str(text).partition("=")
            if not separator:
                problems.append(
                    (f"{name}[{index}]", f"write 'dimension=value' (e.g. 'day=2024-05-01'); found {text!r}")
                )
                continue
            items.append((dimension, chosen, f"{name}[{index}]"))
    else:
        problems.append((name, "expected 'dimension=value' entries"))
        return ()
    for dimension, chosen, where in items:
        dimension = dimension.strip()
        chosen = "" if chosen is None else str(chosen).strip()
        if not dimension or not chosen:
            problems.append((where, "both the partition dimension and its value are needed ('dimension=value')"))
            continue
        if any(existing == dimension for existing, _ in pairs):
            problems.append((where, f"partition dimension '{dimension}' is given twice"))
            continue
        pairs.append((dimension, chosen))
    return tuple(pairs)


def parse_propagate_config(raw: Optional[Mapping], field_names: Optional[Mapping[str, str]] = None) -> PropagateConfig:
    """The propagation settings from a form (or the CLI), every problem named by its field; nothing is read from DSS.

    Keys: ``source_dataset`` (required), ``auto_rebuild`` (default true), ``stop_at`` and ``mark_as_ok`` (recipe
    names), ``partition_values`` (``dimension=value``), ``preview_only`` (default true, as on the form: nothing
    changes unless asked), ``timeout_s``. ``field_names`` maps these
    keys to the names the user typed (``{"source_dataset": "--source"}``) for the messages.
    """
    raw = dict(raw or {})
    names = dict(FORM_FIELDS)
    names.update(field_names or {})
    problems: List[Tuple[str, str]] = []
    source = raw.get("source_dataset")
    if is_blank(source):
        problems.append((names["source_dataset"], "choose the dataset whose schema changed (the propagation source)"))
        source = ""
    elif not isinstance(source, str):
        problems.append((names["source_dataset"], f"expected a dataset name; found {source!r}"))
        source = ""
    stop_at = _names(raw, "stop_at", names["stop_at"], problems)
    mark_as_ok = _names(raw, "mark_as_ok", names["mark_as_ok"], problems)
    for recipe in stop_at:
        if recipe in mark_as_ok:
            problems.append(
                (
                    names["mark_as_ok"],
                    f"recipe '{recipe}' is also in {names['stop_at']}: a recipe is either where the "
                    "propagation stops or one it passes as OK; keep it in one list",
                )
            )
    timeout_s = raw.get("timeout_s")
    if timeout_s is None:
        timeout_s = DEFAULT_TIMEOUT_S
    elif isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or timeout_s <= 0:
        problems.append((names["timeout_s"], f"expected a number of seconds > 0; found {timeout_s!r}"))
        timeout_s = DEFAULT_TIMEOUT_S
    config = PropagateConfig(
        source_dataset=str(source).strip(),
        auto_rebuild=_flag(raw, "auto_rebuild", True, names["auto_rebuild"], problems),
        stop_at=stop_at,
        mark_as_ok=mark_as_ok,
        partition_values=_partition_values(raw, names["partition_values"], problems),
        preview_only=_flag(raw, "preview_only", True, names["preview_only"], problems),
        timeout_s=float(timeout_s),
    )
    if problems:
        raise ConfigError(problems)
    return config


def _suggest(name: str, candidates: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    if not close:
        lowered = {candidate.lower(): candidate for candidate in candidates}
        if name.lower() in lowered:
            close = [lowered[name.lower()]]
    return f"; did you mean '{close[0]}'?" if close else ""


def check_against_flow(
    config: PropagateConfig, graph: FlowGraph, field_names: Optional[Mapping[str, str]] = None
) -> List[str]:
    """Check the source and every recipe name against the Flow before anything changes; returns notes.

    Unknown names raise :class:`ConfigError` with a did-you-mean; a listed recipe that is not downstream of the
    source is only a note (DSS would ignore it).
    """
    names = dict(FORM_FIELDS)
    names.update(field_names or {})
    problems: List[Tuple[str, str]] = []
    datasets = [key for key in graph.computables() if graph.node_type(key) == "COMPUTABLE_DATASET"]
    source = config.source_dataset
    if not graph.has_node(source) or graph.node_type(source) != "COMPUTABLE_DATASET":
        what = "is not a dataset of the Flow" if graph.has_node(source) else "is not in the Flow"
        problems.append((names["source_dataset"], f"dataset '{source}' {what}{_suggest(source, datasets)}"))
    recipes = list(graph.recipes)
    for key in ("stop_at", "mark_as_ok"):
        for index, recipe in enumerate(getattr(config, key)):
            if not graph.is_recipe(recipe):
                problems.append(
                    (f"{names[key]}[{index}]", f"recipe '{recipe}' is not in the Flow{_suggest(recipe, recipes)}")
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


class SchemaPropagationGateway:
    """The DSS calls of schema propagation that :class:`~flow_orchestrator.dss.DSSGateway` does not have.

    Every call goes through ``gateway._call`` so failures map to the same errors (transient, access).
    """

    def __init__(self, gateway, *, clock: Callable[[], float] = time.monotonic):
        self.gateway = gateway
        self._clock = clock

    @property
    def project_key(self) -> str:
        return self.gateway.project_key

    def read_flow(self) -> FlowGraph:
        payload = self.gateway.flow_graph_payload()
        return FlowGraph.from_payload(payload, self.gateway.list_recipes(), project_key=self.gateway.project_key)

    def schema(self, ref: str) -> List[dict]:
        """Columns of a dataset of this project, or of another one (``PROJECT.name``)."""
        owner, name = split_dataset_ref(ref, self.gateway.project_key)
        if owner == self.gateway.project_key:
            return [dict(column) for column in self.gateway.dataset_schema(name)]
        dataset = self.gateway.client.get_project(owner).get_dataset(name)
        schema = self.gateway._call(f"Reading schema of {ref}", dataset.get_schema)
        return [dict(column) for column in (schema or {}).get("columns") or []]

    def snapshot(self, refs: Sequence[str]) -> Dict[str, List[dict]]:
        return {ref: self.schema(ref) for ref in dict.fromkeys(refs)}

    def recipe_definitions(self, names: Sequence[str]) -> List[dict]:
        """``{name, type, inputs, outputs, params, payload}`` of each recipe (see ``DSSGateway.recipe_definition``)."""
        return [self.gateway.recipe_definition(name) for name in names]

    def start(self, config: PropagateConfig):
        """Start DSS's propagation from the source with the options set through the builder's (non-chainable) setters."""
        flow = self.gateway.project.get_flow()
        builder = flow.new_schema_propagation(config.source_dataset)
        builder.set_auto_rebuild(config.auto_rebuild)
        for recipe in config.stop_at:
            builder.stop_at(recipe)
        for recipe in config.mark_as_ok:
            builder.mark_recipe_as_ok(recipe)
        for dimension, value in config.partition_values:
            builder.set_default_partitioning_value(dimension, value)
        return self.gateway._call(f"Starting the schema propagation from {config.source_dataset}", builder.start)

    def wait(self, future, config: PropagateConfig, cancel: Optional[threading.Event] = None) -> Any:
        """The future's result within ``config.timeout_s``; a failed future becomes a :class:`PropagationError`.

        The polling (peek for progress, one non-peek read for the outcome) is the gateway's ``wait_future``."""
        source = config.source_dataset
        try:
            return self.gateway.wait_future(
                f"Schema propagation from '{source}'",
                future,
                timeout_s=config.timeout_s,
                cancel=cancel,
                clock=self._clock,
            )
        except FutureError as error:
            if error.kind == "failed" and error.detail:
                raise propagation_error(_JAVA_EXCEPTION_PREFIX.sub("", error.detail.strip()), source=source) from error
            if error.kind == "failed":
                raise propagation_error("the propagation ended without a result", source=source) from error
            if error.kind == "timeout":
                raise PropagationError(
                    f"Schema propagation from '{source}' did not finish within {config.timeout_s:.0f} s; it was "
                    "aborted. Datasets already updated keep their new schema; run it again with a longer time limit "
                    "(or without auto-rebuild)."
                ) from error
            if error.kind == "cancelled":
                raise PropagationError(
                    f"Schema propagation from '{source}' was cancelled; it was aborted in DSS"
                ) from error
            if error.kind == "aborted":
                raise PropagationError(
                    f"Schema propagation from '{source}' was aborted in DSS before it finished"
                ) from error
            raise PropagationError(
                f"Schema propagation from '{source}': DSS answered without a result or a future id; "
                "run it again or use the Flow's schema propagation tool"
            ) from error


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
    gateway,
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
    calls = SchemaPropagationGateway(gateway, clock=clock)
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


def run_propagate_macro(config: Mapping, plugin_config: Optional[Mapping] = None, *, client, project_key: str) -> str:
    """The Propagate schema macro: validate, preview (and propagate), return the HTML report.

    A propagation that stops raises :class:`PropagationError` (a macro that returns a report is shown as a success).
    """
    from .entrypoints import open_gateway, with_picked_objects
    from .report.schema_html import render_propagation_report

    config = with_picked_objects(config)
    settings = parse_propagate_config(config)
    gateway = open_gateway(dict(config), client=client, project_key=project_key)
    outcome = propagate_schema(gateway, settings)
    if outcome.error is not None:
        raise outcome.error
    return render_propagation_report(outcome.to_dict(), dss_url=gateway.dss_url)


__all__ = [
    "DEFAULT_TIMEOUT_S",
    "PropagateConfig",
    "PropagationOutcome",
    "SchemaPropagationGateway",
    "check_against_flow",
    "downstream_datasets",
    "downstream_recipes",
    "parse_propagate_config",
    "propagate_schema",
    "run_propagate_macro",
]
