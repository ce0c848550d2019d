"""Progress events of a run: what the macros, the scenario step and the command line show while it runs.

Consumers are plain callables ``on_event(ProgressEvent) -> None``. A consumer that raises is logged and skipped:
a broken progress bar must never stop a build or leave a DSS job running.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Callable, Iterable, Optional

logger = logging.getLogger(__name__)

EventConsumer = Callable[["ProgressEvent"], None]


@dataclass(frozen=True)
class ProgressEvent:
    """One step of a run's progress."""

    kind: str  # plan_ready, waiting_for_job, recipe_started, recipe_retrying, recipe_finished, run_finished; "waiting_for_job": a job started elsewhere builds an output of the plan
    run_id: str
    recipe: Optional[str] = None
    attempt: Optional[int] = None
    state: Optional[str] = None  # recipe state for recipe_finished, run state for run_finished
    message: Optional[str] = None  # a human sentence
    done: int = 0  # recipes finished so far
    total: int = 0  # recipes in the plan
    job_id: Optional[str] = None

    def to_dict(self) -> dict:
        return asdict(self)


def fan_out(consumers: Iterable[Optional[EventConsumer]]) -> EventConsumer:
    """One consumer that hands each event to every consumer in turn, shielding the run from their exceptions."""
    targets = [c for c in consumers if c is not None]

    def deliver(event: ProgressEvent) -> None:
        for consumer in targets:
            try:
                consumer(event)
            except Exception:  # a consumer's bug must not break the run
                logger.warning(
                    "Progress consumer %r failed on a %s event; the run goes on", consumer, event.kind, exc_info=True
                )

    return deliver


def shielded(consumer: Optional[EventConsumer]) -> EventConsumer:
    """``consumer`` (or a no-op when None) that logs instead of raising."""
    return fan_out([consumer])
