"""The build gateway: every DSS call the build, the history and the planner need, through the public ``dataikuapi``.

It turns HTTP answers into plain data and failures into the library's errors: :class:`~flow_orchestrator.port.TransientAPIError`
for what is worth retrying and :class:`~flow_orchestrator.errors.DSSAccessError` for what the user must fix.
The schema-propagation and dataset-facts calls live beside it (:meth:`DSSGateway.schema_propagation`,
:meth:`DSSGateway.dataset_facts`).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import logging
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import requests

from ..errors import DSSAccessError, DSSPermissionError
from ..port import JobSnapshot, OutputRef, RunningJob, TransientAPIError, split_dataset_ref
from ..redaction import public_url, register_secret, register_url_credentials
from ..text import close_names
from .client import (
    ADOPTION_WAIT_MAX_S,
    DEFAULT_HTTP_TIMEOUT_S,
    FUTURE_POLL_FIRST_S,
    FUTURE_POLL_MAX_S,
    LISTING_CHUNK_BYTES,
    METRIC_TIMEOUT_S,
    READ_RETRY_PAUSES_S,
    START_ADOPTION_SLACK_MS,
    FutureError,
    StatusTracker,
    TimeoutAdapter,
    exception_text,
    is_dss_answer,
    is_not_found,
    is_transient_answer,
    settle_environment,
)
from .listing import iter_json_array
from .payloads import dataset_partitioning, dimensions_of, output_ref_of, raw_zone, recipe_summary, snapshot_from_status

if TYPE_CHECKING:  # imported where used: a plan or a build without verification never loads them
    from .dataset_facts import VerificationGateway
    from .schema_propagation import SchemaPropagationGateway

log = logging.getLogger(__name__)

#: The most job-list items a status poll asks for (DSS's own default): a job of ours further back gets a status read.
JOB_LIST_LIMIT_MAX = 100
#: With at most this many jobs of ours running, a poll's list reaches back to the oldest of them, not only to the
#: oldest job due: a few items more, and every running job is checked by each answer (an older job, more likely to
#: have ended, is otherwise seen only at its own next check). With more, the due jobs already span most of them.
WHOLE_LIST_RUNNING_MAX = 10


class DSSGateway:
    """A project of a DSS instance as the library needs it; implements :class:`~flow_orchestrator.port.BuildPort`."""

    def __init__(
        self, client, project_key: str, *, dss_url: Optional[str] = None, timeout_s: float = DEFAULT_HTTP_TIMEOUT_S
    ):
        self.client = client
        self.project_key = project_key
        self.project = client.get_project(project_key)
        for secret in (getattr(client, "api_key", None), getattr(client, "internal_ticket", None)):
            register_secret(secret if isinstance(secret, str) else None)  # a macro's own client carries them too
        register_url_credentials(dss_url or getattr(client, "host", None))
        # Links go to the user's browser: absolute only for an instance named by URL (a preset, the CLI). The local
        # instance's client points at the backend's internal address, so its links are root-relative ("").
        self.dss_url: str = public_url((dss_url or "").rstrip("/")) or ""
        self.instance_url = (
            self.dss_url or public_url((getattr(client, "host", "") or "").rstrip("/")) or "the DSS instance"
        )
        self._status = StatusTracker()
        self._access_summary: Optional[dict] = None  # the project summary, once check_access proved access
        session = getattr(client, "_session", None)
        self._adapter: Optional[TimeoutAdapter] = None
        if session is not None:
            adapter = self._adapter = TimeoutAdapter(timeout_s, pool_maxsize=32)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.hooks.setdefault("response", []).append(self._status.hook)
            settle_environment(session, str(getattr(client, "host", "") or ""))
        self.request_count = 0
        self._http_timeout_s = timeout_s
        self._started_jobs: set = set()  # ids of the jobs this gateway started
        self._live_jobs: Dict[str, int] = {}  # jobs this gateway started and has not seen end -> start sequence
        self._starts = 0  # jobs this gateway started (the sequence of the next one)
        self._foreign_newest = 0  # jobs of others among the newest in the last job list: room kept for them
        self._jobs_before: Optional[set] = None  # ids of the jobs that existed before this gateway's first start
        self._unanswered_starts: Dict[frozenset, tuple] = {}  # outputs → (since when in DSS's clock, wait s)

    # ------------------------------------------------------------------ error mapping
    def call(self, what: str, fn, *args, **kwargs):
        """Run one client call, translating failures into transient or access errors."""
        from dataikuapi.utils import DataikuException

        self._status.reset()
        self.request_count += 1
        try:
            return fn(*args, **kwargs)
        except (
            requests.exceptions.ConnectionError,
            requests.exceptions.Timeout,
            requests.exceptions.ChunkedEncodingError,
        ) as exc:
            raise TransientAPIError(
                f"{what}: DSS did not answer ({exc.__class__.__name__}: {exception_text(exc)})"
            ) from exc
        except DataikuException as exc:
            status = self._status.last_status
            message = exception_text(exc)
            if is_transient_answer(status, message):
                raise TransientAPIError(f"{what}: DSS answered HTTP {status}: {message}") from exc
            if status == 403 or (status is None and "PermissionDenied" in message):
                raise DSSPermissionError(
                    f"{what}: permission denied on project {self.project_key} ({message}). Give the API key (or "
                    "the user) the project permission 'Read project content' to plan and verify, and 'Write project "
                    "content' to run jobs, propagate schemas or write a run history folder.",
                    detail=message,
                ) from exc
            if status == 401 and "project" in message.lower():
                raise self._project_unreadable(message) from exc
            if status == 401 or (status is None and "authentication" in message.lower()):
                raise DSSAccessError(
                    f"{what}: DSS rejected the API key ({message}). Check the key (the DSS_API_KEY variable, the "
                    "'DSS instance' preset or --api-key)."
                ) from exc
            exc.request_description = what  # for a one-line message naming the object, wherever it is reported
            raise
        except ValueError as exc:  # a non-JSON 200 answer (a proxy page): the instance is not a DSS API
            status = self._status.last_status
            raise TransientAPIError(
                f"{what}: unexpected answer from DSS (HTTP {status}): {exception_text(exc)}"
            ) from exc

    def _read(self, what: str, fn, *args, **kwargs):
        """A read that may be repeated: transient failures (see ``is_transient_answer``, dropped connections) are retried a few times."""
        for attempt, pause in enumerate(READ_RETRY_PAUSES_S + (None,)):
            try:
                return self.call(what, fn, *args, **kwargs)
            except TransientAPIError as exc:
                if pause is None:
                    raise
                log.info("%s failed (%s); retrying in %.1f s (attempt %d)", what, exc, pause, attempt + 2)
                time.sleep(pause)

    def _project_unreadable(self, message: str) -> DSSAccessError:
        keys: List[str] = []
        try:
            keys = sorted(self.call("Listing projects", self.client.list_project_keys))
        except Exception:  # noqa: BLE001 - only used to suggest a fix
            keys = []
        # Project keys are upper case by convention: "clinical" is most likely CLINICAL, which difflib does not see.
        close = close_names(self.project_key, keys)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        visible = f" Projects this key can read: {', '.join(keys[:20])}." if keys else ""
        return DSSAccessError(
            f"Project {self.project_key!r} does not exist on {self.instance_url}, or this API key cannot read it "
            f"({message}).{hint}{visible}"
        )

    def check_access(self) -> dict:
        """Read the project summary: proves the URL, the key and the project before anything starts.

        Once proven, the summary is kept: the entry points check first (their errors say what to fix), and the
        pipeline checks again when called on its own; one request serves both.
        """
        from dataikuapi.utils import DataikuException

        if self._access_summary is not None:
            return self._access_summary
        try:
            self._access_summary = self._read(f"Reading project {self.project_key}", self.project.get_summary)
            return self._access_summary
        except TransientAPIError as exc:
            raise DSSAccessError(
                f"Cannot reach DSS at {self.instance_url}: {exc}. Check the URL and that the instance is running."
            ) from exc
        except DataikuException as exc:
            message = exception_text(exc)
            if "NotFound" in message or "does not exist" in message or "not found" in message.lower():
                raise self._project_unreadable(message) from exc
            raise DSSAccessError(f"Cannot read project {self.project_key!r}: {message}") from exc

    # ------------------------------------------------------------------ futures
    def schema_propagation(self, *, clock: Callable[[], float] = time.monotonic) -> SchemaPropagationGateway:
        """The schema-propagation calls on this project (same session, same error mapping)."""
        from .schema_propagation import SchemaPropagationGateway

        return SchemaPropagationGateway(self, clock=clock)

    def dataset_facts(self, *, built_partitions: Optional[Mapping[str, Sequence[str]]] = None) -> VerificationGateway:
        """The verification reads on this project; ``built_partitions``: dataset ref -> partitions a run built."""
        from .dataset_facts import VerificationGateway

        return VerificationGateway(self, built_partitions=built_partitions)

    def wait_future(
        self,
        what: str,
        future,
        *,
        timeout_s: float,
        cancel: Optional[threading.Event] = None,
        clock=time.monotonic,
    ) -> Any:
        """The result of a DSS future (a ``DSSFuture`` just started), within ``timeout_s``.

        DSS answers a peek with the progress only (``hasResult`` then means "no longer running", never the result);
        only a non-peek read gives the result, or the error of a failed future, and forgets the future. So: peek while
        it runs, then read it once. A future still running at the time limit, or when ``cancel`` is set, is aborted.
        ``dataikuapi``'s own ``wait_for_result`` is not used: it never gives up.
        Raises :class:`FutureError` (``kind`` failed, aborted, timeout, cancelled or lost) or TransientAPIError.
        """
        from dataikuapi.utils import DataikuException

        state = getattr(future, "state", None) or {}
        if state.get("hasResult") and "result" in state:
            return state.get("result")  # finished within the request that started it
        if not getattr(future, "job_id", None):
            raise FutureError("lost", f"{what}: DSS answered without a result or a future id")
        deadline = clock() + timeout_s
        delay = FUTURE_POLL_FIRST_S
        waiter = cancel or threading.Event()
        while state.get("alive", True) is not False:
            if cancel is not None and cancel.is_set():
                self._abort_future(what, future)
                raise FutureError("cancelled", f"{what} was cancelled; it was aborted in DSS")
            if clock() >= deadline:
                self._abort_future(what, future)
                raise FutureError("timeout", f"{what} did not finish within {timeout_s:.0f} s; it was aborted in DSS")
            waiter.wait(delay)
            delay = min(delay * 1.5, FUTURE_POLL_MAX_S)
            state = self._read(f"{what} (progress)", future.peek_state) or {}
        try:  # not retried: the first non-peek read of a finished future takes it away
            final = self.call(f"{what} (outcome)", future.get_state) or {}
        except DataikuException as error:
            raise FutureError("failed", exception_text(error), detail=exception_text(error)) from error
        except TransientAPIError as error:
            if isinstance(error.__cause__, DataikuException) and self._status.last_status == 500:
                raise FutureError(
                    "failed", exception_text(error.__cause__), detail=exception_text(error.__cause__)
                ) from error
            raise
        if final.get("hasResult"):
            return final.get("result")
        if final.get("aborted") or state.get("aborted"):
            raise FutureError("aborted", f"{what} was aborted in DSS before it finished")
        raise FutureError("failed", f"{what} ended without a result")

    def _abort_future(self, what: str, future) -> None:
        try:
            self.call(f"Aborting: {what}", future.abort)
        except Exception as error:  # noqa: BLE001 - the time-out or the cancellation is the error to report
            log.warning("Could not abort %s: %s", what, error)

    # ------------------------------------------------------------------ flow
    def flow_graph_payload(self) -> dict:
        """The raw flow graph (one GET), for :class:`~flow_orchestrator.graph.FlowGraph`.

        Parsed with the garbage collector paused, as the graph is then built: the payload is a few hundred thousand
        containers with no cycle (20,000 recipes: 7 MB), which the collector would otherwise rescan while they pile up
        (it tripled the parse time).
        """
        from ..graph import gc_paused

        with gc_paused():
            graph = self._read("Reading the Flow graph", self.project.get_flow().get_graph)
        return graph.data

    def flow_zones_payload(self) -> Optional[List[dict]]:
        """The project's Flow zones as DSS answers them (one GET), or None where zones cannot be read.

        Feature detection: a client without ``DSSProjectFlow.list_zones`` or an instance answering 404 means no zone
        information (every recipe in the default zone). Each zone's raw object comes through
        ``DSSFlowZone.get_settings().get_raw()``, public in dataikuapi 12 to 15, so object types an older client does
        not know (``zone.items`` raises on them) never break the read.
        """
        from dataikuapi.utils import DataikuException

        flow = self.project.get_flow()
        if not callable(getattr(flow, "list_zones", None)):
            return None
        try:
            zones = self._read("Listing Flow zones", flow.list_zones)
        except DataikuException:
            if self._status.last_status == 404:
                return None
            raise
        return [dict(raw_zone(zone)) for zone in zones]

    def list_recipes(self) -> List[dict]:
        items = self._read("Listing recipes", self.project.list_recipes)
        return [dict(item) for item in items]

    def recipe_types_and_tags(self) -> List[dict]:
        """``{name, type, tags}`` of every recipe of the project (one listing), all a Flow graph needs of it.

        The listing holds whole recipe definitions (15 MB for 20,000 recipes): it is parsed as it arrives and only
        these keys are kept, so that its size never sits in memory (see :meth:`_listing_items`).
        """
        return self._listing_items(
            "Listing recipes", f"/projects/{self.project_key}/recipes/", {}, recipe_summary, self.list_recipes
        )

    def list_datasets(self) -> List[dict]:
        items = self._read("Listing datasets", self.project.list_datasets)
        return [dict(item) for item in items]

    def dataset_partitionings(self) -> List[dict]:
        """``{name, partitioning}`` of every dataset of the project (one listing; ``partitioning`` only when listed).

        Dataset list items are whole dataset definitions (2 KB each: 40 MB for 20,000 datasets); like
        :meth:`recipe_types_and_tags`, they are parsed as they arrive and only these two keys are kept.
        """
        return self._listing_items(
            "Listing datasets",
            f"/projects/{self.project_key}/datasets/",
            {"foreign": False, "tags": []},  # what project.list_datasets() sends
            dataset_partitioning,
            self.list_datasets,
        )

    def _listing_items(
        self,
        what: str,
        path: str,
        params: dict,
        keep: Callable[[dict], Optional[dict]],
        whole: Callable[[], List[dict]],
    ) -> List[dict]:
        """``keep(item)`` of each item of a project listing (items it maps to None are dropped), read as it arrives.

        A listing of a large project is tens of megabytes of JSON; parsed whole, it costs five times that in memory
        and most of the time of a ``plan``. Here the answer is streamed through the client's own request method
        (its authentication, TLS settings and error handling) and decoded item by item, so memory stays bounded by
        one chunk and one item. A client without that method (none is known) gets ``whole()``: the public listing.
        """
        perform_raw = getattr(self.client, "_perform_raw", None)
        if perform_raw is None:
            return [kept for kept in map(keep, whole()) if kept is not None]

        def fetch() -> List[dict]:
            response = perform_raw("GET", path, params=params)
            try:
                chunks = response.iter_content(chunk_size=LISTING_CHUNK_BYTES)
                return [kept for kept in map(keep, iter_json_array(chunks)) if kept is not None]
            finally:
                response.close()

        return self._read(what, fetch)

    def dataset_partitionings_in_background(self) -> concurrent.futures.Future[List[dict]]:
        """:meth:`dataset_partitionings` started in a thread: its future (an error is raised by ``result()``).

        The build asks for it as soon as the Flow graph has come, so that DSS preparing a large listing (40 MB for
        20,000 datasets) and our building of the Flow and the plan overlap instead of adding up.
        """
        future: concurrent.futures.Future = concurrent.futures.Future()

        def run() -> None:
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(self.dataset_partitionings())
                except BaseException as exc:  # noqa: BLE001 - handed to whoever reads the result
                    future.set_exception(exc)

        threading.Thread(target=run, name="dss-dataset-listing", daemon=True).start()
        return future

    def partitioned_datasets(
        self, candidates: Sequence[str] = (), listing: Optional[Sequence[dict]] = None
    ) -> Dict[str, List[str]]:
        """The project's partitioned datasets and their dimension names, from one dataset listing.

        Listing items carry ``partitioning`` on the instances we know; a candidate (a dataset the plan builds) whose
        item lacks it is read from its own settings, so that a DSS answering shorter items costs one request per
        planned output instead of building partitioned datasets without their partitions. ``listing``: the answer of
        :meth:`dataset_partitionings` when it was read already (else it is read here).
        """
        found: Dict[str, List[str]] = {}
        described = set()
        for item in self.dataset_partitionings() if listing is None else listing:
            name = item.get("name")
            if not name or "partitioning" not in item:
                continue
            described.add(name)
            partitioning = item["partitioning"]
            if type(partitioning) is dict and not partitioning.get("dimensions"):
                continue  # most datasets (20,000 in a large listing): not partitioned, no call
            found.update(dimensions_of(name, item))
        from dataikuapi.utils import DataikuException

        for name in dict.fromkeys(candidates):
            if name in described:
                continue
            try:
                raw = self._read(f"Reading the settings of dataset {name}", self._dataset_raw, name)
            except DataikuException as exc:
                if not is_not_found(self._status.last_status, exception_text(exc)):
                    raise
                raise DSSAccessError(
                    f"Dataset {name}, an output the plan builds, does not exist in project {self.project_key} "
                    f"({exception_text(exc)}): it was deleted while the recipe writing it remains. Recreate the dataset "
                    "or delete that recipe, or leave it out of the selection."
                ) from exc
            found.update(dimensions_of(name, raw))
        return found

    def _dataset_raw(self, name: str) -> dict:
        return dict(self.project.get_dataset(name).get_settings().get_raw())

    def recipe_definition(self, name: str) -> dict:
        """``{name, type, inputs, outputs, params, payload}`` of a recipe, payload decoded when it is JSON."""

        settings = self._read(f"Reading recipe {name}", self.project.get_recipe(name).get_settings)
        raw = dict(settings.get_recipe_raw_definition())
        payload = settings.get_payload()
        try:
            raw["payload"] = json.loads(payload) if payload and payload.lstrip().startswith("{") else payload
        except ValueError:
            raw["payload"] = payload
        return raw

    # ------------------------------------------------------------------ datasets
    def dataset_schema(self, name: str) -> List[dict]:
        return self._read(f"Reading schema of {name}", self.project.get_dataset(name).get_schema).get("columns", [])

    def set_dataset_schema(self, name: str, columns: List[dict]) -> None:
        self.call(f"Writing schema of {name}", self.project.get_dataset(name).set_schema, {"columns": columns})

    # ------------------------------------------------------------------ metrics
    def last_metric_value(self, ref: str, metric_id: str, partition: str = "NP") -> Tuple[Optional[str], Optional[int]]:
        """(value, when DSS computed it in epoch ms) of a dataset's last value of a metric; (None, None) if never.

        ``partition``: ``NP`` for an unpartitioned dataset, ``ALL`` for the whole of a partitioned one, or a partition
        id. DSS stamps each value point with ``computed`` (epoch ms)."""
        owner, name = split_dataset_ref(ref, self.project_key)
        dataset = self.client.get_project(owner).get_dataset(name)
        read = (
            dataset.get_last_metric_values if partition == "NP" else lambda: dataset.get_last_metric_values(partition)
        )
        metrics = self._read(f"Reading metrics of {ref}", read)
        raw = metrics.get_raw() if hasattr(metrics, "get_raw") else metrics
        for metric in (raw or {}).get("metrics") or []:
            if (metric.get("metric") or {}).get("id") != metric_id:
                continue
            values = metric.get("lastValues") or []
            wanted = ("NP", "ALL") if partition in ("NP", "ALL") else (partition,)
            chosen = next((v for v in values if v.get("partition") in wanted), None)
            if chosen is None or chosen.get("value") is None:
                return None, None
            return str(chosen["value"]), chosen.get("computed")
        return None, None

    def compute_metric(
        self, ref: str, metric_id: str, *, partition: str = "NP", timeout_s: float = METRIC_TIMEOUT_S
    ) -> Tuple[Optional[str], float]:
        """(value, seconds taken) of a metric DSS computes now; the value None when DSS computed nothing for it.

        DSS answers the request once it has computed (minutes for a count on a large file dataset), so the request
        gets ``timeout_s`` instead of the ordinary HTTP time-out; an answer that is a running future is waited for
        within what is left of it. Not retried: a time-out would only start the same long count again."""
        owner, name = split_dataset_ref(ref, self.project_key)
        dataset = self.client.get_project(owner).get_dataset(name)
        what = f"Computing {metric_id} of {ref}" + ("" if partition == "NP" else f" (partition {partition})")
        started = time.monotonic()
        longer = self._adapter.longer_timeout(timeout_s) if self._adapter else contextlib.nullcontext()
        with longer:
            report = self.call(
                what, dataset.compute_metrics, partition="" if partition == "NP" else partition, metric_ids=[metric_id]
            )
        if isinstance(report, Mapping) and "result" not in report and report.get("jobId"):
            from dataikuapi.dss.future import DSSFuture

            left = max(1.0, timeout_s - (time.monotonic() - started))
            future = DSSFuture(self.client, report["jobId"], state=dict(report))
            result = self.wait_future(what, future, timeout_s=left)
        else:
            result = (report or {}).get("result") if isinstance(report, Mapping) else None
        for item in (result or {}).get("computed") or []:
            if item.get("metricId") == metric_id and item.get("value") is not None:
                return str(item["value"]), time.monotonic() - started
        return None, time.monotonic() - started

    def data_quality_rule_results(self, ref: str) -> Optional[List[dict]]:
        """The last results of a dataset's data-quality rules; None where they are not offered: by the client
        (``get_data_quality_rules`` appeared in client 12.6) or by the instance (no such endpoint)."""
        from dataikuapi.utils import DataikuException

        owner, name = split_dataset_ref(ref, self.project_key)
        dataset = self.client.get_project(owner).get_dataset(name)
        if not hasattr(dataset, "get_data_quality_rules"):
            return None
        rules = dataset.get_data_quality_rules()
        try:
            results = self.call(f"Reading the data-quality rules of {ref}", rules.get_last_rules_results)
        except (DataikuException, TransientAPIError) as error:
            text = str(error)
            offered = not (
                self._status.last_status in (404, 405, 501) or "NotFound" in text or "No public API endpoint" in text
            )
            if offered or not is_dss_answer(error):
                raise
            return None
        return [dict(item.get_raw() if hasattr(item, "get_raw") else item) for item in results or []]

    # ------------------------------------------------------------------ variables
    def get_variables(self) -> dict:
        return self._read("Reading project variables", self.project.get_variables)

    def update_variables(self, values: dict, kind: str = "standard") -> None:
        variables = self.get_variables()
        variables.setdefault(kind, {}).update(values)
        variables.setdefault("standard", {})
        variables.setdefault("local", {})
        self.call("Writing project variables", self.project.set_variables, variables)

    # ------------------------------------------------------------------ managed folders
    def list_managed_folders(self) -> List[dict]:
        """The project's managed folders (their definitions: ``id``, ``name``, ``type``...)."""
        items = self._read("Listing managed folders", self.project.list_managed_folders)
        return [dict(item) for item in items]

    def _folder_call(self, what: str, folder_id: str, fn, *args):
        """A folder call that may be repeated (reads, and writes of a whole file), with the folder's errors named."""
        from dataikuapi.utils import DataikuException

        try:
            return self._read(what, fn, *args)
        except DataikuException as exc:
            message = exception_text(exc)
            if is_not_found(self._status.last_status, message):
                raise DSSAccessError(
                    f"{what}: project {self.project_key} has no managed folder with id {folder_id!r} ({message}); "
                    "it was deleted or renamed: choose another folder"
                ) from exc
            raise

    def list_folder_files(self, folder_id: str) -> List[dict]:
        """``{path, size, lastModified}`` of every file of a managed folder (paths as DSS gives them: ``/a/b``)."""
        folder = self.project.get_managed_folder(folder_id)
        answer = self._folder_call(f"Listing managed folder {folder_id}", folder_id, folder.list_contents)
        return [dict(item) for item in (answer or {}).get("items") or []]

    def get_folder_file(self, folder_id: str, path: str) -> Optional[bytes]:
        """The bytes of a file of a managed folder, or None when the folder has no such file."""
        from dataikuapi.utils import DataikuException

        folder = self.project.get_managed_folder(folder_id)

        def fetch() -> Optional[bytes]:
            try:
                response = folder.get_file(path)
            except DataikuException as exc:
                # A missing file is an answer, not a failure (some DSS versions send it as an HTTP 500): no retry.
                if is_not_found(self._status.last_status, exception_text(exc)):
                    return None
                raise
            try:
                return response.content  # streamed: read it all, then give the connection back
            finally:
                response.close()

        return self._read(f"Reading {path} in managed folder {folder_id}", fetch)

    def put_folder_file(self, folder_id: str, path: str, data: bytes) -> dict:
        """Write (or overwrite) a file of a managed folder; retried on transient errors, since a put is idempotent."""
        folder = self.project.get_managed_folder(folder_id)
        what = f"Writing {path} in managed folder {folder_id}"
        with self._folder_write_permission(what, folder_id):
            return self._folder_call(what, folder_id, folder.put_file, path, data)

    def delete_folder_file(self, folder_id: str, path: str) -> bool:
        """Delete one file of a managed folder; False when it was not there (deleted already: nothing to do).

        Retried on transient errors (deleting twice is harmless). A directory path would delete every file under
        it: pass file paths only.
        """
        from dataikuapi.utils import DataikuException

        folder = self.project.get_managed_folder(folder_id)
        what = f"Deleting {path} in managed folder {folder_id}"

        def delete() -> bool:
            try:
                folder.delete_file(path)
            except DataikuException as exc:
                if is_not_found(self._status.last_status, exception_text(exc)):
                    return False  # deleted already (whatever status the version answers it with): no retry
                raise
            return True

        with self._folder_write_permission(what, folder_id):
            return self._read(what, delete)

    @contextlib.contextmanager
    def _folder_write_permission(self, what: str, folder_id: str):
        """A refused write or delete in a managed folder says which permission that needs (not the run's ones)."""
        try:
            yield
        except DSSPermissionError as exc:
            raise DSSPermissionError(
                f"{what}: permission denied on project {self.project_key} ({exc.detail}). Writing and deleting files "
                f"of managed folder {folder_id} needs the project permission 'Write project content': grant it on "
                f"project {self.project_key} (Security > Permissions) to the API key, or to the user running the "
                "macro or the scenario.",
                detail=exc.detail,
            ) from exc.__cause__

    # ------------------------------------------------------------------ BuildPort
    def start_job(
        self, outputs: Sequence[OutputRef], build_mode: str, partitions: Optional[Mapping[str, str]] = None
    ) -> str:
        """Start a job; a start whose answer was lost is looked for before starting again (no duplicate jobs).

        ``partitions`` maps partitioned outputs' ids to the partition spec sent with them (DSS's ``partition``)."""
        wanted = self._target_set(outputs)
        pending = self._unanswered_starts.get(wanted)
        if pending is not None:
            since_ms, wait_s = pending
            deadline = time.monotonic() + wait_s  # DSS may still be handling a request it received
            adopted = self._find_started_job(wanted, since_ms)
            while adopted is None and time.monotonic() < deadline:
                time.sleep(0.2)
                adopted = self._find_started_job(wanted, since_ms)
            del self._unanswered_starts[wanted]
            if adopted is not None:
                log.warning("Adopting job %s: DSS started it although its start request got no answer", adopted)
                self._started_jobs.add(adopted)
                self._note_started(adopted)
                return adopted
        if self._jobs_before is None:  # once: jobs that existed before our first start are never ours
            try:
                self._jobs_before = {
                    self._job_id_of(item) for item in self.call("Listing jobs", self.project.list_jobs)
                }
            except TransientAPIError:
                self._jobs_before = None
        builder = self.project.new_job(build_mode)
        for out in outputs:
            builder.with_output(
                out.id,
                object_type=out.type or "DATASET",
                object_project_key=out.project_key,
                partition=(partitions or {}).get(out.id),
            )
        names = ", ".join(o.id for o in outputs)
        # Where a job DSS started for this request must lie in DSS's clock: after our previous start, and not
        # before the moment we send (our clock, corrected by the offset seen in DSS's answers).
        since_ms = int(time.time() * 1000) + (self._status.clock_offset_ms or 0) - START_ADOPTION_SLACK_MS
        if self._status.last_start_ms is not None:
            since_ms = max(since_ms, self._status.last_start_ms + 1)
        try:
            job = self.call(f"Starting a job for {names}", builder.start)
        except TransientAPIError as exc:
            cause = exc.__cause__
            if isinstance(cause, (requests.exceptions.ReadTimeout, requests.exceptions.ChunkedEncodingError)):
                # DSS received the request: give it a moment to show the job (bounded: the runner waits meanwhile)
                self._unanswered_starts[wanted] = (since_ms, min(ADOPTION_WAIT_MAX_S, max(1.0, self._http_timeout_s)))
            elif isinstance(cause, requests.exceptions.ConnectionError) and "aborted" in str(cause).lower():
                self._unanswered_starts[wanted] = (since_ms, 0.0)  # dropped: maybe before, maybe after DSS saw it
            raise
        self._unanswered_starts.pop(wanted, None)
        self._started_jobs.add(job.id)
        self._note_started(job.id)
        return job.id

    def _note_started(self, job_id: str) -> None:
        self._live_jobs[job_id] = self._starts
        self._starts += 1

    @staticmethod
    def _job_id_of(item: dict) -> Optional[str]:
        return item.get("jobId") or (item.get("def") or {}).get("id")

    def _target_set(self, outputs: Sequence[OutputRef]) -> frozenset:
        return frozenset((o.project_key or self.project_key, o.id) for o in outputs)

    def _find_started_job(self, wanted: frozenset, since_ms: int) -> Optional[str]:
        """The newest job on exactly these outputs, started since ``since_ms`` and not already ours."""
        try:
            items = self.call("Looking for a job whose start got no answer", self.project.list_jobs)
        except TransientAPIError:
            return None
        found = []
        for item in items:
            definition = item.get("def") or {}
            job_id = item.get("jobId") or definition.get("id")
            started = definition.get("initiationTimestamp") or 0
            if not job_id or job_id in self._started_jobs or job_id in (self._jobs_before or ()) or started < since_ms:
                continue
            targets = frozenset(
                (
                    o.get("targetDatasetProjectKey") or o.get("targetManagedFolderProjectKey") or self.project_key,
                    o.get("targetDataset") or o.get("targetManagedFolder") or o.get("savedModelId") or o.get("id"),
                )
                for o in definition.get("outputs") or []
            )
            if targets == wanted:
                found.append((started, job_id))
        log.debug("Looking for a job on %s started since %s: %d found", sorted(wanted), since_ms, len(found))
        return max(found)[1] if found else None

    def job_states(self, job_ids: Sequence[str]) -> Dict[str, JobSnapshot]:
        """States of many jobs in one request: the newest jobs of the project's job list, as many as reach back to
        the oldest of ``job_ids`` this gateway started (plus room for the jobs others started meanwhile). The answer
        also gives the states of the other jobs it shows that this gateway started and has not seen end (one list
        answers for all: the runner counts them as checked). A status read only for failed and aborted jobs (their
        cause) and for jobs the list does not show; a single job with no other job of ours running: its status."""
        ids = list(job_ids)
        if not ids:
            return {}
        listed: Dict[str, dict] = {}
        others = [job_id for job_id in self._live_jobs if job_id not in ids]
        for item in self._newest_jobs(ids, bool(others)):
            job_id = self._job_id_of(item)
            if job_id:
                listed[job_id] = item
        result: Dict[str, JobSnapshot] = {}
        for job_id in ids:
            result[job_id] = self._listed_snapshot(job_id, listed.get(job_id)) or self.job_status(job_id)
        for job_id in others:
            snapshot = self._listed_snapshot(job_id, listed.get(job_id))
            if snapshot is not None:  # FAILED / ABORTED ones wait for their own (status) read: it says why
                result[job_id] = snapshot
        for job_id, snapshot in result.items():
            if snapshot.terminal:
                self._live_jobs.pop(job_id, None)
        return result

    def beyond_list(self, job_id: str) -> bool:
        """Whether a check of this running job costs a request of its own: it started more than ``JOB_LIST_LIMIT_MAX``
        jobs ago (a long job among many short ones), so no poll's list reaches it (the runner spaces its checks as
        for a job alone, not at the shared pace of the jobs one answer serves)."""
        start = self._live_jobs.get(job_id)
        return start is not None and self._items_to_reach(start) > JOB_LIST_LIMIT_MAX

    def _items_to_reach(self, start: int) -> int:
        """How many of the newest jobs a list must hold to show our job of start sequence ``start`` (the jobs we
        started since, plus room for the jobs others started meanwhile)."""
        return self._starts - start + self._foreign_newest

    def job_status(self, job_id: str) -> JobSnapshot:
        """One job's whole status (its activities too: a job-list item does not say whether they run yet)."""
        return snapshot_from_status(job_id, self.call(f"Reading job {job_id}", self.project.get_job(job_id).get_status))

    @staticmethod
    def _listed_snapshot(job_id: str, item: Optional[dict]) -> Optional[JobSnapshot]:
        """A job-list item as a snapshot; None when its status must be read (not listed, FAILED or ABORTED)."""
        if item is None:
            return None
        state = item.get("state") if item.get("stableState", True) else None
        started = item.get("startTime") or None
        if state is None or state not in ("DONE", "FAILED", "ABORTED"):
            return JobSnapshot(job_id=job_id, state=state or "RUNNING", started_at_ms=started)
        if state == "DONE":
            return JobSnapshot(
                job_id=job_id, state=state, started_at_ms=started, ended_at_ms=item.get("endTime") or None
            )
        return None

    def _newest_jobs(self, ids: Sequence[str], others_run: bool) -> List[dict]:
        """The project's newest jobs, enough of them to reach the oldest of ``ids`` this gateway started (and the
        oldest of its running jobs when they are few: ``WHOLE_LIST_RUNNING_MAX``; none when a list would not save a
        request: one job alone, or only jobs of ours beyond ``JOB_LIST_LIMIT_MAX``).

        DSS's job list takes a ``limit`` (newest first; DSS 9.0.5 controller code, docs/real-dss.md) that no client
        method passes: it is sent through the client's own request method (its authentication and error handling),
        so a poll costs a few items instead of the default list (100 items, about 62 KB). A client without that
        method (none is known) gets ``project.list_jobs()``, as do jobs this gateway did not start (adopted)."""
        needed = [self._items_to_reach(self._live_jobs[job_id]) for job_id in ids if job_id in self._live_jobs]
        reachable = [n for n in needed if n <= JOB_LIST_LIMIT_MAX]
        if reachable and len(self._live_jobs) <= WHOLE_LIST_RUNNING_MAX:
            oldest = self._items_to_reach(min(self._live_jobs.values()))
            if oldest <= JOB_LIST_LIMIT_MAX:
                reachable.append(oldest)
        perform_json = getattr(self.client, "_perform_json", None)
        if len(needed) < len(ids) and len(ids) > 1 and (perform_json is None or not reachable):
            return list(self.call("Listing jobs", self.project.list_jobs))  # jobs of an earlier run among them
        if not reachable or (len(ids) == 1 and not others_run):
            return []
        if perform_json is None:
            return list(self.call("Listing jobs", self.project.list_jobs))
        path = f"/projects/{self.project_key}/jobs/"
        items = self.call("Listing jobs", perform_json, "GET", path, params={"limit": max(reachable)})
        self._foreign_newest = min(
            JOB_LIST_LIMIT_MAX // 2, sum(1 for item in items if self._job_id_of(item) not in self._started_jobs)
        )
        return items

    def running_jobs(self) -> List[RunningJob]:
        """Jobs of the project DSS runs now: its running-jobs list where the client has it, else the job list's
        items that are not in a final state (DSS lists only the newest jobs; running ones are among them)."""
        lister = getattr(self.project, "list_running_jobs", None)
        if lister is not None:
            items = self.call("Listing running jobs", lister)
        else:
            items = [
                item
                for item in self.call("Listing jobs", self.project.list_jobs)
                if not (item.get("stableState", True) and item.get("state") in ("DONE", "FAILED", "ABORTED"))
            ]
        out = []
        for item in items:
            definition = item.get("def") or {}
            job_id = self._job_id_of(item)
            if job_id:
                outputs = tuple(output_ref_of(o, self.project_key) for o in definition.get("outputs") or [])
                out.append(RunningJob(job_id, outputs, definition.get("initiator")))
        return out

    def abort_job(self, job_id: str) -> None:
        self.call(f"Aborting job {job_id}", self.project.get_job(job_id).abort)

    def job_log(self, job_id: str) -> str:
        """The job's log. DSS sends it as ``text/plain`` without a charset, which ``requests`` decodes as ISO-8859-1
        (HTTP's old default): the text is taken back to its bytes and decoded as the UTF-8 it is."""
        text = self.call(f"Reading the log of job {job_id}", self.project.get_job(job_id).get_log)
        if isinstance(text, str) and "charset" not in self._status.last_content_type.lower():
            try:
                return text.encode("latin-1").decode("utf-8", errors="replace")
            except UnicodeEncodeError:  # not decoded as ISO-8859-1 after all: keep it as it is
                return text
        return text

    def job_url(self, job_id: str) -> Optional[str]:
        """The job's page: root-relative on the local instance, absolute on an instance named by URL."""
        from urllib.parse import quote

        return f"{self.dss_url}/projects/{quote(self.project_key, safe='')}/jobs/{quote(job_id, safe='')}/"


__all__ = [
    "DSSGateway",
]
