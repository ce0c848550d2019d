"""The configuration model: what a build asks for, as frozen dataclasses, and the vocabulary of its choices.

Bottom layer: the parsers (:mod:`.build`) fill it, plans and the runner read it; it imports nothing of the library.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Tuple

BUILD_MODES = (
    "NON_RECURSIVE_FORCED_BUILD",
    "RECURSIVE_BUILD",
    "RECURSIVE_FORCED_BUILD",
    "RECURSIVE_MISSING_ONLY_BUILD",
)
#: The words DSS's build dialog uses for each job type (v12+), which users know better than the API names.
BUILD_MODE_LABELS = {
    "NON_RECURSIVE_FORCED_BUILD": "Build only this",
    "RECURSIVE_BUILD": "Build only modified",
    "RECURSIVE_FORCED_BUILD": "Build all upstream",
    "RECURSIVE_MISSING_ONLY_BUILD": "Missing data only",
}
#: How recipes map to DSS jobs: one job per recipe, grouped jobs (a chain of recipes that can only run one after
#: another is one job, independent branches stay separate jobs), or one job for the whole plan.
STRATEGIES = ("per-recipe", "grouped", "single-job")
ON_FAILURE_MODES = ("fail-fast", "continue")
#: Runs a run history folder keeps when nothing says otherwise (``keep_runs``): a month of nightly runs.
DEFAULT_KEEP_RUNS = 30


SOURCES = ("macro", "step", "cli")


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
    zones: Tuple[str, ...] = ()  # Flow zones (ids or names) whose recipes run: the forms' "Flow zones" field

    @property
    def is_everything(self) -> bool:
        return self.all or not (self.targets or self.recipes or self.select or self.zones)


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of transient failures only, with exponential backoff and jitter."""

    retries: int = 0
    #: ``metadata["key"]``: the field's name in the flat config (forms, CLI, run records) when it is not the field's.
    backoff_s: float = field(default=5.0, metadata={"key": "retry_backoff_s"})  # first wait; doubles each attempt
    backoff_max_s: float = field(default=120.0, metadata={"key": "retry_backoff_max_s"})
    transient_patterns: Tuple[str, ...] = ()  # extra regular expressions that mark an error as transient


@dataclass(frozen=True)
class RunOptions:
    """How the runner executes a plan."""

    build_mode: str = "NON_RECURSIVE_FORCED_BUILD"
    #: Grouped jobs by default: on a Flow without chains it runs exactly one job per recipe, with chains fewer jobs
    strategy: str = "grouped"
    max_parallel: int = 4
    #: Grouped jobs: seconds a DSS job costs besides its recipes' work (start-up and tear-down), weighed to choose
    #: between a job per chain and one job for the whole plan. None: learned from the last run record.
    job_overhead_s: Optional[float] = None
    on_failure: str = "fail-fast"
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout_s: Optional[float] = None  # per recipe (per attempt); None: no limit
    poll_min_s: float = 0.05  # shortest wait between two polls (x 10 / running jobs, >= 0.3x, above 10 jobs)
    poll_max_s: float = 5.0  # longest wait between two polls
    #: A DSS partition spec (``2026-12-05``, ``2026-12-01,2026-12-02``, ``2026-12-01/2026-12-05``) sent with every
    #: partitioned output of a job; unpartitioned outputs are built whole. None: no partition.
    partitions: Optional[str] = None


@dataclass(frozen=True)
class BuildConfig:
    """Everything the Build pipeline macro, the Run recipes step and ``flow-orchestrator build`` need."""

    project_key: Optional[str] = None  # None: the current project (DSS) or --project (CLI)
    selection: Selection = field(default_factory=Selection)
    options: RunOptions = field(default_factory=RunOptions)
    dry_run: bool = False
    resume_last_run: bool = False
    #: Before the first job, propagate schemas from each source dataset feeding the plan (no auto-rebuild);
    #: a dry run previews the impact instead.
    propagate_schema_first: bool = False
    #: After the build, check the outputs; the three fields below are the expectations (none: every output of a
    #: successful recipe exists and was built within this run). They are only kept when verification is on.
    verify_after_build: bool = False
    expectations: Optional[str] = None  # a JSON spec (resource/schemas/expectations.schema.json), as text
    expected_columns: Tuple[str, ...] = ()  # "name" or "name:type", for every output dataset of the plan
    min_rows: Optional[int] = None  # for every output dataset of the plan; None: not checked
    #: Id of a managed folder of the project keeping the run history (records and reports, see history.py);
    #: None: the last record is kept in a project variable only.
    record_folder: Optional[str] = None
    #: How many runs ``runs/`` of the history folder keeps: after each run's final write, the runs beyond the newest
    #: ``keep_runs`` are deleted (history.plan_retention). 0: keep them all. Unused without a folder.
    keep_runs: int = DEFAULT_KEEP_RUNS


__all__ = [
    "BUILD_MODES",
    "BUILD_MODE_LABELS",
    "STRATEGIES",
    "ON_FAILURE_MODES",
    "DEFAULT_KEEP_RUNS",
    "SOURCES",
    "Selection",
    "RetryPolicy",
    "RunOptions",
    "BuildConfig",
]
