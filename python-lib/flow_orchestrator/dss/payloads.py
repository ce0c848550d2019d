"""DSS answers turned into the library's plain data: job snapshots, last builds, listings' items, zones.

Pure functions over the JSON DSS returns (no client): the gateway feeds them.
"""

from __future__ import annotations

from collections import abc
from typing import Any, Dict, List, Mapping, Optional

from ..port import ActivitySnapshot, JobSnapshot, OutputRef


def raw_zone(zone) -> dict:
    settings = getattr(zone, "get_settings", None)
    if callable(settings):
        return settings().get_raw()
    return getattr(zone, "_raw", {}) or {}


def output_ref_of(output: Mapping, project_key: str) -> OutputRef:
    """What a job definition's output names (``targetDataset``, ``targetManagedFolder``, ``savedModelId``...)."""
    if output.get("targetManagedFolder"):
        return OutputRef(
            output["targetManagedFolder"], "MANAGED_FOLDER", output.get("targetManagedFolderProjectKey") or project_key
        )
    if output.get("savedModelId"):
        return OutputRef(output["savedModelId"], "SAVED_MODEL", output.get("savedModelProjectKey") or project_key)
    name = output.get("targetDataset") or output.get("id") or ""
    return OutputRef(name, output.get("type") or "DATASET", output.get("targetDatasetProjectKey") or project_key)


def last_build_from_info(info) -> Optional[dict]:
    """``{start_ms, end_ms, success}`` of a dataset's last build from its ``get_info()`` answer; None if never built."""
    raw = info.get_raw() if hasattr(info, "get_raw") else info
    last = (raw or {}).get("lastBuild") or {}
    if not last:
        return None
    return {
        "start_ms": last.get("buildStartTime") or None,
        "end_ms": last.get("buildEndTime") or None,
        "success": bool(last.get("buildSuccess", False)),
    }


def snapshot_from_status(job_id: str, status: dict) -> JobSnapshot:
    """A :class:`JobSnapshot` from a job status answer: state, times and the first failure of any activity."""
    base = status.get("baseStatus") or {}
    state = base.get("state") or "RUNNING"  # DSS omits the state while the job is not in a stable state
    message = failure_type = None
    activities = base.get("activities") or {}
    for activity in activities.values():
        failure = activity.get("firstFailure")
        if failure:
            message = failure.get("detailedMessage") or failure.get("message")
            failure_type = failure.get("errorType") or failure.get("code")
            break
    if message is None and state in ("FAILED", "ABORTED"):  # ABORTED: a restart or crash says why here
        unexpected = status.get("unexpectedFailure") or base.get("unexpectedFailure") or {}
        message = unexpected.get("detailedMessage") or unexpected.get("message")
        if message is None and state == "FAILED":
            message = "The job failed (DSS gave no cause)."
        failure_type = unexpected.get("errorType")
    return JobSnapshot(
        job_id=job_id,
        state=state,
        failure_message=message,
        failure_type=failure_type,
        started_at_ms=base.get("jobStartTime") or None,
        ended_at_ms=base.get("jobEndTime") or None,
        activities=tuple(_activity_of(a) for a in activities.values() if isinstance(a, Mapping)),
    )


def _activity_of(activity: Mapping) -> ActivitySnapshot:
    """An activity of a job status: its recipe, state, start and end (DSS's clock, ms) and first failure."""
    failure = activity.get("firstFailure") or {}
    return ActivitySnapshot(
        recipe=activity.get("recipeName") or "",
        state=activity.get("state") or "NOT_STARTED",
        started_at_ms=activity.get("startTime") or None,
        ended_at_ms=activity.get("endTime") or None,
        failure_message=failure.get("detailedMessage") or failure.get("message") or None,
        failure_type=failure.get("errorType") or failure.get("code"),
    )


def dimensions_of(name: str, definition: Mapping) -> Dict[str, List[str]]:
    """``{name: [dimension names]}`` when the dataset definition is partitioned, else ``{}``."""
    partitioning = definition.get("partitioning") if isinstance(definition, abc.Mapping) else None
    dimensions = partitioning.get("dimensions") if isinstance(partitioning, abc.Mapping) else None
    if not dimensions:  # most datasets: no typing-module isinstance per dataset (20,000 of them in a listing)
        return {}
    names = [str(d.get("name")) for d in dimensions if isinstance(d, abc.Mapping)]
    return {name: names} if names else {}


def recipe_summary(item: Any) -> Optional[dict]:
    """What a Flow graph reads of a recipe list item (:meth:`FlowGraph.from_payload`): name, type, tags."""
    if not isinstance(item, dict):
        return None
    return {"name": item.get("name"), "type": item.get("type"), "tags": item.get("tags")}


def dataset_partitioning(item: Any) -> Optional[dict]:
    """What the partition check reads of a dataset list item: its name and, when listed, its partitioning."""
    if not isinstance(item, dict):
        return None
    kept = {"name": item.get("name")}
    if "partitioning" in item:
        kept["partitioning"] = item["partitioning"]
    return kept


__all__ = [
    "raw_zone",
    "output_ref_of",
    "last_build_from_info",
    "snapshot_from_status",
    "dimensions_of",
    "recipe_summary",
    "dataset_partitioning",
]
