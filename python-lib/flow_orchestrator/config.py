"""One configuration model for the macros, the scenario step and the command line.

Raw input (a form's config dict, a step config, argparse results) is validated once against the JSON
Schemas in ``resource/schemas/`` and turned into these frozen dataclasses; every error names its field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Tuple

ON_FAILURE_MODES = ("fail-fast", "continue")


@dataclass(frozen=True)
class Selection:
    """Which recipes a run covers. All empty means every recipe of the Flow."""

    targets: Tuple[str, ...] = ()  # dataset (or folder/model) ids to build
    recipes: Tuple[str, ...] = ()  # recipe names
    ordered: bool = False  # ``recipes`` is an ordered list (the step's pipeline): check it against the Flow
    reorder: bool = False  # accept a list order that contradicts the Flow by reordering it
    select: Tuple[str, ...] = ()  # dbt-style expressions: +X, X+, +X+, @X, tag:T, unions by comma
    exclude: Tuple[str, ...] = ()  # dbt-style expressions removed from the selection
    all: bool = False  # explicit "every recipe"

    @property
    def is_everything(self) -> bool:
        return self.all or not (self.targets or self.recipes or self.select)


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of transient failures only, with exponential backoff and jitter."""

    retries: int = 0
    backoff_s: float = 5.0  # first wait; doubles each attempt
    backoff_max_s: float = 120.0
    transient_patterns: Tuple[str, ...] = ()  # extra regular expressions that mark an error as transient


@dataclass(frozen=True)
class RunOptions:
    """How the runner executes a plan."""

    build_mode: str = "NON_RECURSIVE_FORCED_BUILD"
    strategy: str = "per-recipe"
    max_parallel: int = 4
    on_failure: str = "fail-fast"
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout_s: Optional[float] = None  # per recipe (per attempt); None: no limit
    poll_min_s: float = 0.05  # shortest wait between two polls of running jobs
    poll_max_s: float = 5.0  # longest wait between two polls


@dataclass(frozen=True)
class BuildConfig:
    """Everything the Build pipeline macro, the Run recipes step and ``flow-orchestrator build`` need."""

    project_key: Optional[str] = None  # None: the current project (DSS) or --project (CLI)
    selection: Selection = field(default_factory=Selection)
    options: RunOptions = field(default_factory=RunOptions)
    dry_run: bool = False
    resume_last_run: bool = False
