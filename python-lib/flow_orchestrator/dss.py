"""The one module that talks to DSS, through the public ``dataikuapi`` client.

Everything else in the library works on plain data; this adapter turns HTTP answers into that data and
HTTP failures into the library's errors: :class:`~flow_orchestrator.port.TransientAPIError` for what is
worth retrying (5xx, 429, dropped connections, time-outs) and :class:`~flow_orchestrator.errors.DSSAccessError`
for what the user must fix (URL, API key, permissions, unknown project).
"""

from __future__ import annotations

import logging
import threading
from typing import Dict, List, Optional, Sequence

import requests
from requests.adapters import HTTPAdapter

from .errors import DSSAccessError
from .port import JobSnapshot, OutputRef, TransientAPIError

log = logging.getLogger(__name__)

#: Seconds to wait for any single HTTP answer; dataikuapi itself never times out.
DEFAULT_HTTP_TIMEOUT_S = 60.0


class _TimeoutAdapter(HTTPAdapter):
    """Gives every request of the client's session a time-out, so a hung DSS cannot hang a run."""

    def __init__(self, timeout_s: float, **kwargs):
        self._timeout_s = timeout_s
        super().__init__(**kwargs)

    def send(self, request, **kwargs):
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout_s
        return super().send(request, **kwargs)


class _StatusTracker:
    """Remembers, per thread, the HTTP status of the last answer: dataikuapi drops it from its exceptions."""

    def __init__(self):
        self._local = threading.local()

    def hook(self, response, *args, **kwargs):
        self._local.status = response.status_code
        return response

    def reset(self) -> None:
        self._local.status = None

    @property
    def last_status(self) -> Optional[int]:
        return getattr(self._local, "status", None)


def connect(url: str, api_key: str, *, verify_tls: bool = True, timeout_s: float = DEFAULT_HTTP_TIMEOUT_S):
    """A ``dataikuapi.DSSClient`` for ``url`` (no HTTP yet); bad URLs are rejected with the fix."""
    import dataikuapi

    if not url or not str(url).startswith(("http://", "https://")):
        raise DSSAccessError(
            f"DSS URL {url!r} is not valid: give the instance's base URL, e.g. https://dss.example.com:11200 "
            "(--url, DSS_URL or the 'DSS instance' preset)."
        )
    if not api_key:
        raise DSSAccessError("No API key: give one with --api-key, DSS_API_KEY or the 'DSS instance' preset.")
    client = dataikuapi.DSSClient(str(url).rstrip("/"), api_key, no_check_certificate=not verify_tls)
    return client


def _describe(exc: BaseException) -> str:
    text = str(exc) or exc.__class__.__name__
    return text if len(text) <= 2000 else text[:2000] + "…"


class DSSGateway:
    """A project of a DSS instance as the library needs it; implements :class:`~flow_orchestrator.port.BuildPort`."""

    def __init__(self, client, project_key: str, *, dss_url: Optional[str] = None,
                 timeout_s: float = DEFAULT_HTTP_TIMEOUT_S):
        self.client = client
        self.project_key = project_key
        self.project = client.get_project(project_key)
        self.dss_url = (dss_url or getattr(client, "host", "") or "").rstrip("/") or None
        self._status = _StatusTracker()
        session = getattr(client, "_session", None)
        if session is not None:
            adapter = _TimeoutAdapter(timeout_s, pool_maxsize=32)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.hooks.setdefault("response", []).append(self._status.hook)
        self.request_count = 0

    # ------------------------------------------------------------------ error mapping
    def _call(self, what: str, fn, *args, **kwargs):
        """Run one client call, translating failures into transient or access errors."""
        from dataikuapi.utils import DataikuException

        self._status.reset()
        self.request_count += 1
        try:
            return fn(*args, **kwargs)
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                requests.exceptions.ChunkedEncodingError) as exc:
            raise TransientAPIError(f"{what}: DSS did not answer ({exc.__class__.__name__}: {_describe(exc)})") from exc
        except DataikuException as exc:
            status = self._status.last_status
            message = _describe(exc)
            if status is not None and (status >= 500 or status == 429):
                raise TransientAPIError(f"{what}: DSS answered HTTP {status}: {message}") from exc
            if status == 401 or "authentication" in message.lower() or "Unauthorized" in message:
                raise DSSAccessError(
                    f"{what}: DSS rejected the API key ({message}). Check the key (DSS_API_KEY, --api-key or the "
                    "'DSS instance' preset)."
                ) from exc
            if status == 403 or "PermissionDenied" in message or "permission" in message.lower():
                raise DSSAccessError(
                    f"{what}: permission denied on project {self.project_key} ({message}). The API key or user needs "
                    "the project's 'Run jobs' (and 'Read project content') permissions."
                ) from exc
            raise
        except ValueError as exc:  # a non-JSON 200 answer (a proxy page): the instance is not a DSS API
            status = self._status.last_status
            raise TransientAPIError(f"{what}: unexpected answer from DSS (HTTP {status}): {_describe(exc)}") from exc

    def check_access(self) -> dict:
        """Read the project summary: proves the URL, the key and the project before anything starts."""
        from dataikuapi.utils import DataikuException

        try:
            return self._call(f"Reading project {self.project_key}", self.project.get_summary)
        except TransientAPIError as exc:
            raise DSSAccessError(
                f"Cannot reach DSS at {self.dss_url}: {exc}. Check the URL and that the instance is running."
            ) from exc
        except DataikuException as exc:
            message = _describe(exc)
            if "NotFound" in message or "does not exist" in message or "not found" in message.lower():
                keys = []
                try:
                    keys = self.client.list_project_keys()
                except Exception:  # noqa: BLE001 - only used to suggest a fix
                    keys = []
                hint = f" Projects visible to this key: {', '.join(sorted(keys)[:20])}." if keys else ""
                raise DSSAccessError(f"Project {self.project_key!r} was not found on {self.dss_url}.{hint}") from exc
            raise DSSAccessError(f"Cannot read project {self.project_key!r}: {message}") from exc

    # ------------------------------------------------------------------ flow
    def flow_graph_payload(self) -> dict:
        """The raw flow graph (one GET), for :class:`~flow_orchestrator.graph.FlowGraph`."""
        graph = self._call("Reading the Flow graph", self.project.get_flow().get_graph)
        return graph.data

    def list_recipes(self) -> List[dict]:
        items = self._call("Listing recipes", self.project.list_recipes)
        return [dict(item) for item in items]

    def list_datasets(self) -> List[dict]:
        items = self._call("Listing datasets", self.project.list_datasets)
        return [dict(item) for item in items]

    def recipe_definition(self, name: str) -> dict:
        """``{name, type, inputs, outputs, params, payload}`` of a recipe, payload decoded when it is JSON."""
        import json

        settings = self._call(f"Reading recipe {name}", self.project.get_recipe(name).get_settings)
        raw = dict(settings.get_recipe_raw_definition())
        payload = settings.get_payload()
        try:
            raw["payload"] = json.loads(payload) if payload and payload.lstrip().startswith("{") else payload
        except ValueError:
            raw["payload"] = payload
        return raw

    # ------------------------------------------------------------------ datasets
    def dataset_schema(self, name: str) -> List[dict]:
        return self._call(f"Reading schema of {name}", self.project.get_dataset(name).get_schema).get("columns", [])

    def set_dataset_schema(self, name: str, columns: List[dict]) -> None:
        self._call(f"Writing schema of {name}", self.project.get_dataset(name).set_schema, {"columns": columns})

    def dataset_exists(self, name: str) -> bool:
        names = {d.get("name") for d in self.list_datasets()}
        return name in names

    def dataset_last_build(self, name: str) -> Optional[dict]:
        info = self._call(f"Reading build info of {name}", self.project.get_dataset(name).get_info)
        last = (info.get_raw() if hasattr(info, "get_raw") else info).get("lastBuild") or {}
        if not last:
            return None
        return {
            "start_ms": last.get("buildStartTime") or None,
            "end_ms": last.get("buildEndTime") or None,
            "success": bool(last.get("buildSuccess", False)),
        }

    def dataset_row_count(self, name: str, *, compute: bool = True) -> Optional[int]:
        """The ``records:COUNT_RECORDS`` metric; computed first when ``compute`` (it may be stale)."""
        dataset = self.project.get_dataset(name)
        if compute:
            self._call(f"Computing metrics of {name}", dataset.compute_metrics,
                       metric_ids=["records:COUNT_RECORDS"])
        metrics = self._call(f"Reading metrics of {name}", dataset.get_last_metric_values)
        try:
            value = metrics.get_global_value("records:COUNT_RECORDS")
        except Exception:  # noqa: BLE001 - metric absent
            return None
        return int(value) if value is not None else None

    # ------------------------------------------------------------------ variables
    def get_variables(self) -> dict:
        return self._call("Reading project variables", self.project.get_variables)

    def update_variables(self, values: dict, kind: str = "standard") -> None:
        variables = self.get_variables()
        variables.setdefault(kind, {}).update(values)
        variables.setdefault("standard", {})
        variables.setdefault("local", {})
        self._call("Writing project variables", self.project.set_variables, variables)

    # ------------------------------------------------------------------ BuildPort
    def start_job(self, outputs: Sequence[OutputRef], build_mode: str) -> str:
        builder = self.project.new_job(build_mode)
        for out in outputs:
            builder.with_output(out.id, object_type=out.type or "DATASET", object_project_key=out.project_key)
        names = ", ".join(o.id for o in outputs)
        job = self._call(f"Starting a job for {names}", builder.start)
        return job.id

    def job_states(self, job_ids: Sequence[str]) -> Dict[str, JobSnapshot]:
        """States of many jobs in one request (the project's job list); a status read only for failed jobs
        (to get their cause) and for jobs the list does not show."""
        ids = list(job_ids)
        if not ids:
            return {}
        listed: Dict[str, dict] = {}
        if len(ids) > 1:
            for item in self._call("Listing jobs", self.project.list_jobs):
                job_id = item.get("jobId") or (item.get("def") or {}).get("id")
                if job_id:
                    listed[job_id] = item
        result: Dict[str, JobSnapshot] = {}
        for job_id in ids:
            item = listed.get(job_id)
            if item is not None:
                state = item.get("state") if item.get("stableState", True) else None
                if state is None or state not in ("DONE", "FAILED", "ABORTED"):
                    result[job_id] = JobSnapshot(job_id=job_id, state=state or "RUNNING",
                                                 started_at_ms=item.get("startTime") or None)
                    continue
                if state in ("DONE", "ABORTED"):
                    result[job_id] = JobSnapshot(job_id=job_id, state=state,
                                                 started_at_ms=item.get("startTime") or None,
                                                 ended_at_ms=item.get("endTime") or None)
                    continue
            status = self._call(f"Reading job {job_id}", self.project.get_job(job_id).get_status)
            result[job_id] = snapshot_from_status(job_id, status)
        return result

    def abort_job(self, job_id: str) -> None:
        self._call(f"Aborting job {job_id}", self.project.get_job(job_id).abort)

    def job_log(self, job_id: str) -> str:
        return self._call(f"Reading the log of job {job_id}", self.project.get_job(job_id).get_log)

    def job_url(self, job_id: str) -> Optional[str]:
        if not self.dss_url:
            return None
        return f"{self.dss_url}/projects/{self.project_key}/jobs/{job_id}/"


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
    if message is None and state == "FAILED":
        unexpected = status.get("unexpectedFailure") or base.get("unexpectedFailure") or {}
        message = unexpected.get("detailedMessage") or unexpected.get("message") or "The job failed (DSS gave no cause)."
        failure_type = unexpected.get("errorType")
    return JobSnapshot(
        job_id=job_id,
        state=state,
        failure_message=message,
        failure_type=failure_type,
        started_at_ms=base.get("jobStartTime") or None,
        ended_at_ms=base.get("jobEndTime") or None,
    )
