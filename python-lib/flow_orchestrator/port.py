"""The small interface the runner needs from DSS, so the runner can be tested on an in-memory fake.

:mod:`flow_orchestrator.dss` implements it with ``dataikuapi``; unit tests implement it in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, NamedTuple, Optional, Protocol, Sequence, Set, Tuple

#: DSS job states after which a job never changes again.
TERMINAL_JOB_STATES = frozenset({"DONE", "FAILED", "ABORTED"})


def value_eq(self: tuple, other: object) -> bool:
    """``__eq__`` for NamedTuple-based value types: equal only to the same class with equal fields, like a dataclass.

    Plain tuple equality would also make ``OutputRef("a") == ("a", "DATASET", None)`` true.
    """
    if isinstance(other, tuple):  # answer for tuples too: Python asks the subclass first, and tuple would say yes
        return other.__class__ is self.__class__ and tuple.__eq__(self, other)
    return NotImplemented


def value_ne(self: tuple, other: object) -> bool:
    equal = value_eq(self, other)
    return equal if equal is NotImplemented else not equal


class OutputRef(NamedTuple):
    """Something a job builds: a dataset, managed folder, saved model... of a project.

    Immutable and hashable. A NamedTuple rather than a frozen dataclass because planning a large Flow creates one per
    output (~10^4), and a tuple is several times cheaper to build; equality stays that of a dataclass (only between
    OutputRefs, never with a plain tuple).
    """

    id: str
    type: str = "DATASET"  # DATASET, MANAGED_FOLDER, SAVED_MODEL, STREAMING_ENDPOINT, ...
    project_key: Optional[str] = None  # None: the run's project

    __eq__ = value_eq
    __ne__ = value_ne
    __hash__ = tuple.__hash__  # what a frozen dataclass hashes too: the tuple of its fields

    def to_dict(self) -> dict:
        return {"id": self.id, "type": self.type, "project_key": self.project_key}

    @classmethod
    def from_dict(cls, data: dict) -> OutputRef:
        return cls(id=data["id"], type=data.get("type") or "DATASET", project_key=data.get("project_key"))


class ActivitySnapshot(NamedTuple):
    """One activity (one recipe's part) of a job, from the job status: DSS's own state, times and failure."""

    recipe: str
    state: str  # NOT_STARTED, WAITING (for an activity slot), RUNNING, DONE, FAILED, ABORTED, SKIPPED
    started_at_ms: Optional[int] = None  # when it started running (after any wait for a slot)
    ended_at_ms: Optional[int] = None
    failure_message: Optional[str] = None
    failure_type: Optional[str] = None


@dataclass(frozen=True)
class JobSnapshot:
    """One observation of a DSS job's state, as the runner needs it."""

    job_id: str
    state: str  # NOT_STARTED, COMPUTING_DEPS, RUNNING, DONE, FAILED, ABORTED
    failure_message: Optional[str] = None  # first activity's firstFailure message, when FAILED
    failure_type: Optional[str] = None  # its errorType (a Java class name or an ERR_ code)
    started_at_ms: Optional[int] = None
    ended_at_ms: Optional[int] = None
    #: Its activities when the answer carried them (a job status does, a job list item does not): None = unknown.
    activities: Optional[Tuple[ActivitySnapshot, ...]] = None

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_JOB_STATES

    @property
    def first_activity_start_ms(self) -> Optional[int]:
        """When its first activity started running (DSS's clock); None if none has, or the activities are unknown."""
        starts = [a.started_at_ms for a in self.activities or () if a.started_at_ms]
        return min(starts) if starts else None


class RunningJob(NamedTuple):
    """A job DSS is running, as its running-jobs list shows it: what it builds, and who started it."""

    job_id: str
    outputs: Tuple[OutputRef, ...]
    initiator: Optional[str] = None


class TransientAPIError(Exception):
    """An API call failed in a way that says nothing about the job (HTTP 5xx, connection reset, time-out).

    The runner retries the call later and never counts it as a job failure.
    """


class BuildPort(Protocol):
    """What the runner asks of DSS. Every method may raise :class:`TransientAPIError`."""

    def start_job(
        self, outputs: Sequence[OutputRef], build_mode: str, partitions: Optional[Mapping[str, str]] = None
    ) -> str:
        """Start one DSS job building ``outputs`` in ``build_mode``; return its job id. ``partitions`` maps the id
        of each partitioned output to the DSS partition spec to build (the others are built whole)."""

    def job_states(self, job_ids: Sequence[str]) -> Dict[str, JobSnapshot]:
        """Current state of each of ``job_ids`` (as few HTTP requests as possible); the answer may hold the states
        of other jobs the port started that the same request showed (the runner counts them as checked)."""

    def job_status(self, job_id: str) -> JobSnapshot:
        """One job's whole status, activities included (read at a time limit). Optional: without it the runner
        asks ``job_states([job_id])``."""

    def abort_job(self, job_id: str) -> None:
        """Ask DSS to abort the job; returns without waiting for it to stop."""

    def job_log(self, job_id: str) -> str:
        """The job's full text log (may be long)."""

    def job_url(self, job_id: str) -> Optional[str]:
        """Link to the job's page in DSS, for reports (None when unknown)."""

    def running_jobs(self) -> List[RunningJob]:
        """Jobs of the project DSS is running now, whoever started them (checked before the first start)."""


class SchemaPropagationPort(Protocol):
    """What the propagate use case asks of DSS (``dss.schema_propagation.SchemaPropagationGateway``)."""

    project_key: str

    def read_flow(self) -> Any:
        """The project's :class:`~flow_orchestrator.graph.FlowGraph`."""

    def snapshot(self, refs: Sequence[str]) -> Dict[str, List[dict]]:
        """The schema columns of each dataset (``name`` or ``PROJECT.name``)."""

    def recipe_definitions(self, names: Sequence[str]) -> List[dict]:
        """``{name, type, inputs, outputs, params, payload}`` of each recipe."""

    def start(self, config: Any) -> Any:
        """Start DSS's propagation as the config says; returns the DSS future."""

    def wait(self, future: Any, config: Any, cancel: Any = None) -> Any:
        """The future's result within the config's time limit; raises ``PropagationError`` when it stops."""


class DatasetFactsPort(Protocol):
    """What the verify use case asks of DSS (``dss.dataset_facts.VerificationGateway``)."""

    project_key: str
    notes: List[str]  # what the reads could not do as asked, in plain words

    def exists(self, ref: str) -> bool:
        """The dataset exists (``name`` or ``PROJECT.name``)."""

    def dataset_names(self, owner: Optional[str] = None) -> Set[str]:
        """Dataset names of a project (this one by default)."""

    def facts(self, needs: Mapping[str, Any], run_started_at_ms: Optional[int] = None) -> Dict[str, Any]:
        """Exactly the facts each dataset's expectations need (``expectations.DatasetFacts``)."""


class ProjectPort(Protocol):
    """A project as the use cases see it: where the propagate and verify reads come from."""

    project_key: str

    def schema_propagation(self, *, clock: Callable[[], float] = ...) -> SchemaPropagationPort:
        """The schema-propagation calls on this project."""

    def dataset_facts(self, *, built_partitions: Optional[Mapping[str, Sequence[str]]] = None) -> DatasetFactsPort:
        """The verification reads on this project."""


def split_dataset_ref(ref: str, project_key: str) -> Tuple[str, str]:
    """``(project key, name)`` of a dataset named ``name`` (this project) or ``PROJECT.name`` (another one)."""
    if "." in ref:
        owner, name = ref.split(".", 1)
        return owner, name
    return project_key, ref
