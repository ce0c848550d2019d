"""The "Verify outputs" use case: expectations from a form or a JSON spec, the facts they need read from DSS, a verdict.

Only the facts the expectations need are read (:func:`~flow_orchestrator.expectations.needed_facts`): a schema for
``columns``, the last build for ``built``, the ``records:COUNT_RECORDS`` metric for row counts (computed first when it
is missing or older than the last build), the last data-quality rule results for ``dss_rules`` (an instance without
them, such as DSS before 12.6 or the emulator, gives a "not offered" note instead). The judging is
:func:`~flow_orchestrator.expectations.evaluate`; "capture current" writes a spec of today's reality.

:func:`verify_outputs` is also what the build engine calls once a run is over.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Sequence, Tuple

from .config.verify import VerifyConfig
from .errors import ConfigError
from .expectations import (
    ExpectationSet,
    FactsNeeded,
    VerificationResult,
    capture_current,
    evaluate,
    needed_facts,
)
from .port import ProjectPort, split_dataset_ref
from .text import did_you_mean

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------------ configuration


# ------------------------------------------------------------------------------------------------ DSS reads


# ------------------------------------------------------------------------------------------------ the use case


def verify_outputs(
    gateway: ProjectPort,
    expectations: ExpectationSet,
    run_started_at_ms: Optional[int] = None,
    built_partitions: Optional[Mapping[str, Sequence[str]]] = None,
) -> VerificationResult:
    """Read what the expectations need and judge them; notes say what could not be read and why.

    ``built_partitions`` (dataset → partition ids a run built): row counts of those partitioned datasets are taken
    on those partitions."""
    reads = gateway.dataset_facts(built_partitions=built_partitions)
    facts = reads.facts(needed_facts(expectations), run_started_at_ms)
    result = evaluate(expectations, facts)
    if not reads.notes:
        return result
    return VerificationResult(result.results, tuple(dict.fromkeys(tuple(reads.notes) + result.notes)))


def capture_spec(gateway: ProjectPort, datasets: Sequence[str], *, row_tolerance: float = 0.5) -> str:
    """A JSON spec (text) of the datasets as they are now, to paste into the ``expectations`` field."""
    everything = FactsNeeded(columns=True, last_build=True, row_count=True, dss_rules=True)
    reads = gateway.dataset_facts()
    problems = []
    for index, ref in enumerate(dict.fromkeys(datasets)):
        if not reads.exists(ref):
            owner, name = split_dataset_ref(ref, reads.project_key)
            hint = did_you_mean(name, reads.dataset_names(owner), n=1)
            problems.append((f"datasets[{index}]", f"dataset '{ref}' does not exist in project {owner}{hint}"))
    if problems:
        raise ConfigError(problems)
    facts = reads.facts({name: everything for name in dict.fromkeys(datasets)})
    spec = capture_current(facts, row_tolerance=row_tolerance)
    return json.dumps(spec, indent=2, ensure_ascii=False)


@dataclass(frozen=True)
class VerificationOutcome:
    """A verification (or a capture) as the reports, the step and the CLI use it."""

    project_key: str
    result: Optional[VerificationResult] = None
    captured_spec: Optional[str] = None
    datasets: Tuple[str, ...] = ()
    duration_s: Optional[float] = None

    @property
    def state(self) -> str:
        if self.result is None:
            return "CAPTURED"
        if not self.result.passed:
            return "FAILED"
        return "WARN" if self.result.counts["failed_warn"] else "PASSED"

    def to_dict(self) -> dict:
        return {
            "project_key": self.project_key,
            "state": self.state,
            "datasets": list(self.datasets),
            "result": None if self.result is None else self.result.to_dict(),
            "captured_spec": self.captured_spec,
            "duration_s": self.duration_s,
        }


def run_verification(
    gateway: ProjectPort, config: VerifyConfig, *, clock: Callable[[], float] = time.monotonic
) -> VerificationOutcome:
    """Capture the current state (``capture_current``) or verify the expectations."""
    started = clock()
    if config.capture_current:
        datasets = config.capture_datasets
        text = capture_spec(gateway, datasets)
        return VerificationOutcome(
            gateway.project_key, captured_spec=text, datasets=datasets, duration_s=clock() - started
        )
    result = verify_outputs(gateway, config.expectations)
    return VerificationOutcome(
        gateway.project_key, result=result, datasets=config.expectations.datasets, duration_s=clock() - started
    )


def failure_message(result: VerificationResult) -> Optional[str]:
    """None when no ERROR expectation failed; else one line per failure with its reason."""
    errors = result.errors
    if not errors:
        return None
    lines = ["{} of {} expectations failed:".format(len(errors), result.counts["total"])]
    for item in errors:
        subject = f" [{item.subject}]" if item.subject else ""
        lines.append(f"- {item.dataset} {item.kind}{subject}: {item.message}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ plugin shells


__all__ = [
    "VerificationOutcome",
    "capture_spec",
    "failure_message",
    "run_verification",
    "verify_outputs",
]
