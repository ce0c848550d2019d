"""Schema propagation in DSS: the Flow, schemas of any project, recipe definitions, and the propagation future.

Part of the adapter: the use case (:mod:`flow_orchestrator.propagate`) reaches it through
:meth:`~flow_orchestrator.dss.gateway.DSSGateway.schema_propagation`; a failed future becomes a
:class:`~flow_orchestrator.schema.messages.PropagationError` in DSS's own words.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

from ..graph import FlowGraph
from ..port import split_dataset_ref
from ..schema.messages import PropagationError, propagation_error
from .client import FutureError

_JAVA_EXCEPTION_PREFIX = re.compile(r"^(?:[A-Za-z_$][\w$]*\.)+[A-Za-z_$][\w$]*(?:Exception|Error):\s*")


class SchemaPropagationGateway:
    """The DSS calls of schema propagation, beside the build gateway (:meth:`DSSGateway.schema_propagation`).

    Every call goes through ``gateway.call`` so failures map to the same errors (transient, access).
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
        schema = self.gateway.call(f"Reading schema of {ref}", dataset.get_schema)
        return [dict(column) for column in (schema or {}).get("columns") or []]

    def snapshot(self, refs: Sequence[str]) -> Dict[str, List[dict]]:
        return {ref: self.schema(ref) for ref in dict.fromkeys(refs)}

    def recipe_definitions(self, names: Sequence[str]) -> List[dict]:
        """``{name, type, inputs, outputs, params, payload}`` of each recipe (see ``DSSGateway.recipe_definition``)."""
        return [self.gateway.recipe_definition(name) for name in names]

    def start(self, config):
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
        return self.gateway.call(f"Starting the schema propagation from {config.source_dataset}", builder.start)

    def wait(self, future, config, cancel: Optional[threading.Event] = None) -> Any:
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


__all__ = ["SchemaPropagationGateway"]
