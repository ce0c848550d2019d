"""Recipe and run states, defined once: the enums and the named sets every layer reads.

Values are the plain strings of run records (``RecipeState.FAILED == "FAILED"``, JSON writes ``"FAILED"``), so
records, the run-record schema and older code comparing strings keep working. Two other vocabularies live elsewhere
on purpose: DSS's *job* states (``port.TERMINAL_JOB_STATES``) and the scheduler's node statuses (``scheduler.py``).
"""

from __future__ import annotations

from enum import Enum


class _StateText(str, Enum):
    """A state that prints as its value (``f"{RecipeState.FAILED}"`` is ``FAILED`` on every Python)."""

    def __str__(self) -> str:
        return str(self.value)

    __format__ = str.__format__


class RecipeState(_StateText):
    """How a recipe of a run ended; the order is the display and count order (problems right after successes)."""

    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"
    ABORTED = "ABORTED"
    SKIPPED = "SKIPPED"
    NOT_RUN = "NOT_RUN"


class RunState(_StateText):
    """Where a run is: planned (a dry run), running, or one of the three final states."""

    PLANNED = "PLANNED"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


#: Every recipe state, in display order (record counts, scenario ``flow_orchestrator_<state>_count`` variables).
RECIPE_STATES = tuple(state.value for state in RecipeState)
#: The recipe's own job failed or overran its time limit: the report's failure list and headline, and what
#: stops a fail-fast run (an ABORTED recipe was stopped by the run itself or by someone in DSS).
FAILED_BY_ITSELF = frozenset({RecipeState.FAILED.value, RecipeState.TIMED_OUT.value})
#: Started and did not succeed, aborted included: the step's failure message and ``flow_orchestrator_failed_recipes``.
FAILED_OR_ABORTED = FAILED_BY_ITSELF | {RecipeState.ABORTED.value}
#: Never started: skipped because an upstream recipe failed, or not run because the run stopped.
DID_NOT_RUN = frozenset({RecipeState.SKIPPED.value, RecipeState.NOT_RUN.value})
#: What a resumed run runs again: everything but a success.
RESUMABLE = frozenset(RECIPE_STATES) - {RecipeState.SUCCESS.value}
#: A run that ended (its record is final).
FINAL_RUN_STATES = frozenset({RunState.SUCCESS.value, RunState.FAILED.value, RunState.CANCELLED.value})
#: Order of per-state counts in reports: the recipe states, then recipes still running.
SHOWN_ORDER = RECIPE_STATES + (RunState.RUNNING.value,)

__all__ = [
    "DID_NOT_RUN",
    "FAILED_BY_ITSELF",
    "FAILED_OR_ABORTED",
    "FINAL_RUN_STATES",
    "RECIPE_STATES",
    "RESUMABLE",
    "SHOWN_ORDER",
    "RecipeState",
    "RunState",
]
