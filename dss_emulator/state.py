"""The emulated DSS instance: projects with their datasets, folders, recipes, jobs and futures, under one lock.

Everything here is plain Python objects; nothing knows about HTTP. Handlers in :mod:`dss_emulator.api` read and change
this state under :attr:`EmulatorState.lock`; the scheduler (:mod:`dss_emulator.execution.scheduler`) runs jobs on it.
Dataset rows live in :class:`dss_emulator.storage.DatasetStorage`, not here.

Every change that matters for "is this output out of date?" bumps a version number taken from one instance-wide
counter: a dataset's version moves when its data, schema or settings change, a recipe's when its settings change.
"""

from __future__ import annotations

import copy
import json
import threading
import time
import uuid
from collections import OrderedDict
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from .faults import FaultControls
from .zones import FlowZones

# --- DSS error types (Java class names as real DSS sends them in ``errorType``) ------------------------------------
NOT_FOUND = "com.dataiku.dip.server.controllers.NotFoundException"
NOT_AUTHENTICATED = "com.dataiku.dip.exceptions.NotAuthenticatedException"
UNAUTHORIZED = "com.dataiku.dip.exceptions.UnauthorizedException"
ILLEGAL_ARGUMENT = "java.lang.IllegalArgumentException"
API_ILLEGAL_ARGUMENT = "com.dataiku.dip.exceptions.APIIllegalArgumentException"
MALFORMED_REQUEST = "com.dataiku.common.server.DKUControllerBase$MalformedRequestException"
INTERNAL_ERROR = "com.dataiku.dip.exceptions.DSSInternalErrorException"
DATASTORE_IO = "com.dataiku.dip.exceptions.DataStoreIOException"
CODED_EXCEPTION = "com.dataiku.dip.exceptions.CodedException"
PYTHON_PROCESS_FAILED = "com.dataiku.common.server.APIError$SerializedErrorException"
PROCESS_FAILED = "com.dataiku.dip.exceptions.ExternalProcessFailedException"

SQL_DATASET_TYPES = frozenset(
    {
        "PostgreSQL",
        "MySQL",
        "Oracle",
        "SQLServer",
        "Redshift",
        "Snowflake",
        "BigQuery",
        "Vertica",
        "Synapse",
        "Teradata",
        "Greenplum",
        "Netezza",
        "SAPHANA",
        "Athena",
        "JDBC",
    }
)
CODE_RECIPE_TYPES = frozenset(
    {
        "python",
        "r",
        "sql_script",
        "sql_query",
        "pyspark",
        "sparkr",
        "spark_scala",
        "shell",
        "spark_sql_query",
        "hive",
        "impala",
    }
)
INSTANCE_USER = "admin"


class DSSError(Exception):
    """An error the API answers with an HTTP status and a DSS error object ``{errorType, message, detailedMessage}``."""

    def __init__(
        self,
        status: int,
        error_type: str,
        message: str,
        detailed_message: Optional[str] = None,
        code: Optional[str] = None,
        title: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.detailed_message = detailed_message or message
        self.code = code
        self.title = title

    def to_json(self) -> dict:
        body = {"errorType": self.error_type, "message": self.message, "detailedMessage": self.detailed_message}
        if self.code:
            body["code"] = self.code
        if self.title:
            body["title"] = self.title
        return body


def not_found(kind: str, project_key: str, name: str) -> DSSError:
    return DSSError(404, NOT_FOUND, f"{kind} does not exist: {project_key}.{name}")


def bad_request(message: str) -> DSSError:
    return DSSError(400, API_ILLEGAL_ARGUMENT, message)


def now_ms() -> int:
    return int(time.time() * 1000)


def version_tag(when: Optional[int] = None, number: int = 0) -> dict:
    return {
        "versionNumber": number,
        "lastModifiedBy": {"login": INSTANCE_USER},
        "lastModifiedOn": when if when is not None else now_ms(),
    }


def split_ref(default_project: str, ref: str) -> Tuple[str, str]:
    """``"PROJ.name"`` → (PROJ, name); a bare name belongs to ``default_project``."""
    if "." in ref:
        project_key, name = ref.split(".", 1)
        if project_key and name:
            return project_key, name
    return default_project, ref


def smart_ref(project_key: str, owner_project: str, name: str) -> str:
    """How DSS names an object seen from ``owner_project``: bare inside it, ``PROJ.name`` across projects."""
    return name if project_key == owner_project else f"{project_key}.{name}"


# --- objects -----------------------------------------------------------------------------------------------------
class UploadedFile:
    """One file of an uploaded-files dataset: its name (no directory), its bytes and when it was uploaded."""

    def __init__(self, name: str, data: bytes, last_modified: int) -> None:
        self.name = name
        self.data = data
        self.last_modified = last_modified

    def describe(self) -> dict:
        """The entry ``GET .../uploaded/files`` lists for this file."""
        return {"path": "/" + self.name, "name": self.name, "size": len(self.data), "lastModified": self.last_modified}


class Dataset:
    """A dataset's definition (the JSON DSS stores), metadata, metrics and build information."""

    def __init__(self, project_key: str, name: str, definition: dict, version: int) -> None:
        self.project_key = project_key
        self.name = name
        self.definition = definition
        self.metadata: dict = {
            "label": name,
            "tags": list(definition.get("tags", [])),
            "custom": {"kv": {}},
            "checklists": {"checklists": []},
        }
        self.version = version
        self.last_build: Optional[dict] = None  # {"buildStartTime", "buildEndTime", "buildSuccess", "jobId"?}
        #: metric id -> partition (``NP``, ``ALL`` or a partition id) -> last point ``{value, dataType, computed}``
        self.metric_values: Dict[str, Dict[str, dict]] = {}
        self.metric_history: Dict[str, Dict[str, List[dict]]] = {}  # metric id -> partition -> [{time, value}]
        #: Files of an ``UploadedFiles`` dataset by file name; they live and die with the dataset (see uploads.py).
        self.uploaded_files: Dict[str, UploadedFile] = {}
        self._listed: Optional[Tuple[dict, bytes]] = None  # (copy of the definition, its JSON): see listing_json

    def listing_json(self) -> bytes:
        """The definition as a listing's item (UTF-8 JSON), kept while the definition stays equal to what was written.

        A DSS answers a 20,000-dataset listing (40 MB) in a fraction of a second; serialising it here takes a second
        and more, which a ``plan`` of a large Flow would wait for. Comparing the definition with a copy of what was
        serialised costs a sixth of serialising it and notices any change, in place or by replacement (the handlers
        change definitions both ways), so the listing never says what a dataset was. Equality holds between 1, 1.0
        and True: a change that is only such a retyping keeps the earlier text. A definition holding a tuple never
        equals its copy (a list): it is serialised at every listing, as before.
        """
        listed = self._listed
        if listed is not None and listed[0] == self.definition:
            return listed[1]
        text = json.dumps(self.definition, ensure_ascii=False)
        self._listed = (json.loads(text), text.encode("utf-8"))  # the copy from the text: a deepcopy costs 3x more
        return self._listed[1]

    @property
    def full_name(self) -> str:
        return f"{self.project_key}.{self.name}"

    @property
    def columns(self) -> List[dict]:
        return list((self.definition.get("schema") or {}).get("columns") or [])

    @property
    def dimensions(self) -> List[dict]:
        """The partitioning dimensions (``[]``: not partitioned)."""
        return list((self.definition.get("partitioning") or {}).get("dimensions") or [])

    @property
    def partitioned(self) -> bool:
        return bool(self.dimensions)

    def record_metric(self, metric_id: str, partition: str, value: str, when_ms: int) -> None:
        """A new last value of a metric, stamped ``computed`` as DSS stamps its points, and its history point."""
        self.metric_values.setdefault(metric_id, {})[partition] = {
            "value": value,
            "dataType": "BIGINT",
            "computed": when_ms,
        }
        self.metric_history.setdefault(metric_id, {}).setdefault(partition, []).append(
            {"time": when_ms, "value": value}
        )

    def set_columns(self, columns: List[dict]) -> None:
        schema = self.definition.setdefault("schema", {})
        schema["columns"] = copy.deepcopy(columns)
        schema.setdefault("userModified", False)


class FolderFile:
    """One file of a managed folder: its bytes and when they were last written (ms since the epoch)."""

    __slots__ = ("data", "last_modified")

    def __init__(self, data: bytes, last_modified: int) -> None:
        self.data = data
        self.last_modified = last_modified

    def item(self, path: str) -> dict:
        """The file as ``list_contents`` and ``put_file`` describe it."""
        return {"path": path, "size": len(self.data), "lastModified": self.last_modified}


class Folder:
    """A managed folder: its place in the Flow, whether its producing recipe ran, and its files (in memory).

    ``files`` maps a path as DSS lists it (``/runs/r1/run-record.json``: leading slash, ``/`` separators) to its
    contents. Recipes reading or writing the folder ignore the files; the folder API reads and writes them.
    """

    def __init__(
        self,
        project_key: str,
        folder_id: str,
        name: str,
        version: int,
        built: bool,
        folder_type: str = "Filesystem",
        connection: str = "filesystem_folders",
    ) -> None:
        self.project_key = project_key
        self.id = folder_id
        self.name = name
        self.version = version
        self.built = built
        self.last_build: Optional[dict] = None
        self.type = folder_type
        self.connection = connection
        self.description = ""
        self.tags: List[str] = []
        self.files: Dict[str, FolderFile] = {}
        self.creation_ms = now_ms()
        self.settings_version = 1

    def definition(self) -> dict:
        return {
            "projectKey": self.project_key,
            "id": self.id,
            "name": self.name,
            "type": self.type,
            "description": self.description,
            "params": {"connection": self.connection, "path": f"${{projectKey}}/{self.id}"},
            "tags": list(self.tags),
            "partitioning": {"dimensions": []},
            "flowOptions": {"virtualizable": False, "rebuildBehavior": "NORMAL"},
            "metrics": {"probes": [], "engineConfig": {}, "displayedState": {"metrics": []}},
            "checks": [],
            "versionTag": version_tag(self.creation_ms, self.settings_version),
            "creationTag": version_tag(self.creation_ms, 0),
        }


class RecipeRun:
    """What a recipe's last successful run saw: its own version and the versions of its inputs and outputs."""

    def __init__(
        self, recipe_version: int, input_versions: Dict[str, int], output_versions: Dict[str, int], end_ms: int
    ) -> None:
        self.recipe_version = recipe_version
        self.input_versions = input_versions
        self.output_versions = output_versions
        self.end_ms = end_ms


class Recipe:
    """A recipe as DSS stores it: ``{"recipe": {...}, "payload": "..."}`` plus emulation knobs and run history."""

    def __init__(self, project_key: str, name: str, definition: dict, payload: Optional[str], version: int) -> None:
        self.project_key = project_key
        self.name = name
        self.definition = definition
        self.payload = payload
        self.version = version
        self.metadata: dict = {
            "label": name,
            "tags": list(definition.get("tags", [])),
            "custom": {"kv": {}},
            "checklists": {"checklists": []},
        }
        self.last_run: Optional[RecipeRun] = None

    @property
    def type(self) -> str:
        return self.definition.get("type") or ""

    def input_refs(self) -> List[str]:
        return _flat_refs(self.definition.get("inputs"))

    def output_refs(self) -> List[str]:
        return _flat_refs(self.definition.get("outputs"))

    def executor_view(self) -> dict:
        """The recipe as the executors and schema computers take it (flat input/output names, parsed payload)."""
        payload: Any = self.payload
        if isinstance(payload, str) and self.type not in CODE_RECIPE_TYPES:
            try:
                payload = json.loads(payload) if payload.strip() else {}
            except ValueError:
                pass
        return {
            "name": self.name,
            "type": self.type,
            "projectKey": self.project_key,
            "inputs": self.input_refs(),
            "outputs": self.output_refs(),
            "payload": payload,
            "params": copy.deepcopy(self.definition.get("params") or {}),
        }


def _flat_refs(roles: Any) -> List[str]:
    refs: List[str] = []
    if isinstance(roles, dict):
        for role in roles.values():
            for item in (role or {}).get("items") or []:
                ref = item.get("ref") if isinstance(item, dict) else None
                if ref and ref not in refs:
                    refs.append(ref)
    return refs


class Project:
    """One DSS project and everything in it."""

    def __init__(self, key: str, name: str, description: str = "", owner: str = INSTANCE_USER) -> None:
        self.key = key
        self.name = name
        self.owner = owner
        self.creation_ms = now_ms()
        self.metadata: dict = {
            "label": name,
            "description": description,
            "shortDesc": "",
            "tags": [],
            "custom": {"kv": {}},
            "checklists": {"checklists": []},
        }
        self.settings: dict = {
            "settings": {"flowBuildSettings": {"maxRunningActivities": 5}},
            "exposedObjects": {"objects": []},
        }
        self.variables: dict = {"standard": {}, "local": {}}
        self.connections: Dict[str, str] = {}
        self.datasets: OrderedDict[str, Dataset] = OrderedDict()
        self.folders: OrderedDict[str, Folder] = OrderedDict()
        self.recipes: OrderedDict[str, Recipe] = OrderedDict()
        self.implicit_recipes: List[dict] = []
        self.zones = FlowZones()
        #: Seconds each job spends RUNNING before its first activity and after its last (None: the instance's).
        self.job_overhead: Optional[float] = None
        self.jobs: OrderedDict[str, Any] = OrderedDict()  # job id -> execution.scheduler.Job
        self.job_starts = 0
        self.structure_version = 0  # bumped when recipes' inputs/outputs or the set of objects change
        self._producers: Optional[Tuple[int, Dict[str, Recipe]]] = None
        self._positions: Optional[Tuple[Tuple[int, int], Dict[str, int]]] = None
        self._answers: Dict[str, Tuple[Any, bytes]] = {}

    def structure_changed(self) -> None:
        self.structure_version += 1

    def producers(self) -> Dict[str, Recipe]:
        """Output ref (bare name, folder id or name) -> the recipe writing it; cached until the structure changes."""
        if self._producers is None or self._producers[0] != self.structure_version:
            index: Dict[str, Recipe] = {}
            for recipe in self.recipes.values():
                for ref in recipe.output_refs():
                    index.setdefault(ref, recipe)
                    folder = self.folders.get(ref) or next((f for f in self.folders.values() if f.name == ref), None)
                    if folder is not None:
                        index.setdefault(folder.id, recipe)
                        index.setdefault(folder.name, recipe)
            self._producers = (self.structure_version, index)
        return self._producers[1]

    def recipe_positions(self) -> Dict[str, int]:
        """Recipe name -> its place in the Flow's declaration order; cached until the structure or the count changes
        (a flow file adds recipes without a structure change: the project is new)."""
        key = (self.structure_version, len(self.recipes))
        if self._positions is None or self._positions[0] != key:
            self._positions = (key, {name: index for index, name in enumerate(self.recipes)})
        return self._positions[1]

    def cached_answer(self, name: str, key: Any, build: Callable[[], bytes]) -> bytes:
        """The serialised answer ``name`` made by ``build()``, kept while ``key`` stays equal. Lock held.

        For answers a large Flow makes expensive to rebuild on every request (20,000 recipes: the Flow graph costs
        about a second of building and serialising), with ``key`` covering everything they depend on.
        """
        kept = self._answers.get(name)
        if kept is None or kept[0] != key:
            kept = self._answers[name] = (key, build())
        return kept[1]

    def summary(self) -> dict:
        return {
            "projectKey": self.key,
            "name": self.name,
            "owner": self.owner,
            "shortDesc": self.metadata.get("shortDesc", ""),
            "description": self.metadata.get("description", ""),
            "tags": list(self.metadata.get("tags", [])),
            "projectStatus": "",
            "versionTag": version_tag(self.creation_ms, 1),
            "creationTag": version_tag(self.creation_ms, 0),
        }


class Future:
    """A long-running task (schema propagation, format detection), polled through ``/futures/{id}``.

    ``action`` and ``target`` fill the response's ``payload`` (DSS's ``FutureResponse.payload``): the action name and
    the object worked on, the project itself unless a dataset is named.
    """

    def __init__(
        self,
        future_id: str,
        display_name: str,
        project_key: str,
        action: str = "propagate-schema",
        target: Optional[dict] = None,
    ) -> None:
        self.id = future_id
        self.display_name = display_name
        self.project_key = project_key
        self.action = action
        self.target = target or {"objectType": "PROJECT", "projectKey": project_key, "objectId": project_key}
        self.start_ms = now_ms()
        self.end_ms: Optional[int] = None
        self.result: Any = None
        self.error: Optional[DSSError] = None
        self.aborted = False
        self.cancel = threading.Event()
        self.progress_name = display_name

    @property
    def alive(self) -> bool:
        return self.end_ms is None

    def response(self) -> dict:
        running = (self.end_ms or now_ms()) - self.start_ms
        body = {
            "jobId": self.id,
            "jobDisplayName": self.display_name,
            "hasResult": False,
            "alive": self.alive,
            "aborted": self.aborted,
            "unknown": False,
            "startTime": self.start_ms,
            "runningTime": running,
            "owner": INSTANCE_USER,
            "payload": {
                "action": self.action,
                "displayName": self.display_name,
                "targets": [dict(self.target)],
                "extras": {},
            },
        }
        if self.alive:
            body["progress"] = {
                "states": [
                    {
                        "name": self.progress_name,
                        "unit": "NONE",
                        "target": -1.0,
                        "cur": 0.0,
                        "important": True,
                        "depth": 0,
                        "msSinceStart": running,
                    }
                ]
            }
        elif not self.aborted and self.error is None:
            body["hasResult"] = True
            body["result"] = self.result
        return body

    def peek_response(self) -> dict:
        """A peek's answer: the progress, ``hasResult`` true once the future stopped running (whatever its outcome),
        never the result (DSS's futures controller answers a peek with ``getProgress``)."""
        body = self.response()
        body.pop("result", None)
        body["hasResult"] = not self.alive
        return body


# --- dataset/recipe definitions in DSS's shape -------------------------------------------------------------------
FS_LIKE_TYPES = frozenset(
    {"Filesystem", "UploadedFiles", "FilesInFolder", "HDFS", "S3", "Azure", "GCS", "FTP", "SCP", "SFTP"}
)


def dataset_definition(
    project_key: str,
    name: str,
    dataset_type: str,
    connection: str,
    managed: bool,
    columns: List[dict],
    tags: Iterable[str] = (),
    extra_params: Optional[dict] = None,
    dimensions: Optional[List[dict]] = None,
) -> dict:
    """A dataset's stored JSON as DSS returns it from ``GET /datasets/{name}`` (filesystem or SQL flavour)."""
    created = now_ms()
    definition: dict = {"projectKey": project_key, "name": name, "type": dataset_type, "managed": managed}
    if dataset_type in SQL_DATASET_TYPES:
        definition["params"] = {
            "connection": connection,
            "mode": "table",
            "table": f"${{projectKey}}_{name}",
            "tableCreationMode": "auto",
            "notReadyIfEmpty": False,
            "normalizeDoubles": True,
        }
    else:
        definition["params"] = {
            "connection": connection,
            "path": f"${{projectKey}}/{name}",
            "notReadyIfEmpty": False,
            "filesSelectionRules": {"mode": "ALL", "excludeRules": [], "includeRules": [], "explicitFiles": []},
        }
        definition["formatType"] = "csv"
        definition["formatParams"] = {
            "style": "unix",
            "charset": "utf8",
            "separator": "\t",
            "quoteChar": '"',
            "escapeChar": "\\",
            "dateSerializationFormat": "ISO",
            "arrayMapFormat": "json",
            "parseHeaderRow": False,
            "compress": "gz",
        }
    if extra_params:
        definition["params"].update(extra_params)
    definition.update(
        {
            "schema": {"columns": copy.deepcopy(list(columns)), "userModified": False},
            "partitioning": partitioning_json(dataset_type, dimensions or []),
            "flowOptions": {
                "virtualizable": False,
                "rebuildBehavior": "NORMAL",
                "crossProjectBuildBehavior": "DEFAULT",
            },
            "readWriteOptions": {
                "preserveOrder": False,
                "writeBuckets": 1,
                "forceSingleOutputFile": False,
                "defaultReadOrdering": {"enabled": False, "rules": []},
            },
            "metrics": {
                "probes": [
                    {
                        "type": "basic",
                        "enabled": True,
                        "computeOnBuildMode": "PARTITION",
                        "meta": {"name": "Basic data", "level": 0},
                        "configuration": {},
                    },
                    {
                        "type": "records",
                        "enabled": True,
                        "computeOnBuildMode": "NO",
                        "meta": {"name": "Record count", "level": 0},
                        "configuration": {},
                    },
                ],
                "engineConfig": {"padRunsWithMetrics": False},
                "displayedState": {
                    "columns": [],
                    "metrics": ["basic:COUNT_COLUMNS", "basic:COUNT_FILES", "basic:SIZE", "records:COUNT_RECORDS"],
                },
            },
            "metricsChecks": {"runOnBuild": False, "checks": [], "displayedState": {"checks": []}},
            "checks": [],
            "customMeta": {"kv": {}},
            "checklists": {"checklists": []},
            "dkuProperties": [],
            "tags": list(tags),
            "customFields": {},
            "versionTag": version_tag(created, 1),
            "creationTag": version_tag(created, 0),
        }
    )
    return definition


def partitioning_json(dataset_type: str, dimensions: List[dict]) -> dict:
    """A dataset's ``partitioning`` as DSS stores it; file-based datasets also get a ``filePathPattern``."""
    body: dict = {
        "ignoreNonMatchingFile": False,
        "considerMissingRequestedPartitionsAsEmpty": False,
        "dimensions": copy.deepcopy(list(dimensions)),
    }
    if dimensions and dataset_type not in SQL_DATASET_TYPES:
        parts = []
        for dimension in dimensions:
            if dimension.get("type") == "time":
                period = (dimension.get("params") or {}).get("period", "DAY")
                parts.append(
                    {"YEAR": "%Y", "MONTH": "%Y/%M", "DAY": "%Y/%M/%D", "HOUR": "%Y/%M/%D/%H"}.get(period, "%Y")
                )
            else:
                parts.append("%{" + str(dimension.get("name")) + "}")
        body["filePathPattern"] = "/".join(parts) + "/.*"
    return body


def recipe_definition(
    project_key: str,
    name: str,
    recipe_type: str,
    inputs: List[str],
    outputs: List[str],
    params: Optional[dict] = None,
    tags: Iterable[str] = (),
) -> dict:
    """A recipe's stored JSON (the ``recipe`` half of ``GET /recipes/{name}``)."""
    created = now_ms()
    default_params: dict = {}
    if recipe_type in ("python", "r", "pyspark"):
        default_params = {
            "envSelection": {"envMode": "INHERIT"},
            "containerSelection": {"containerMode": "INHERIT"},
            "skipPrerunValidate": False,
        }
    elif recipe_type == "sync":
        default_params = {"schemaMode": "FREE_SCHEMA_NAME_BASED"}
    merged = dict(default_params)
    merged.update(params or {})
    return {
        "projectKey": project_key,
        "name": name,
        "type": recipe_type,
        "params": merged,
        "inputs": {"main": {"items": [{"ref": ref, "deps": []} for ref in inputs]}},
        "outputs": {"main": {"items": [{"ref": ref, "appendMode": False} for ref in outputs]}},
        "neverRecomputeExistingPartitions": False,
        "optionalDependencies": False,
        "redispatchPartitioning": False,
        "maxRunningActivities": 0,
        "variables": {},
        "dkuProperties": [],
        "customMeta": {"kv": {}},
        "labels": [],
        "tags": list(tags),
        "customFields": {},
        "checklists": {"checklists": []},
        "versionTag": version_tag(created, 1),
        "creationTag": version_tag(created, 0),
    }


def payload_text(payload: Any) -> Optional[str]:
    """DSS keeps a recipe payload as text: code as is, visual settings as indented JSON."""
    if payload is None:
        return None
    if isinstance(payload, str):
        return payload
    return json.dumps(payload, indent=2, ensure_ascii=False)


# --- the instance ------------------------------------------------------------------------------------------------
#: Rows a metric computation counts per second (DSS reads a file dataset's files to count them: minutes for billions).
COUNT_ROWS_PER_S = 2_000_000


class EmulatorState:
    """All projects and futures of one emulated instance, plus the row storage and fault controls they use."""

    def __init__(self, storage: Any, faults: FaultControls) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)  # notified whenever a job or future changes state
        self.storage = storage
        self.faults = faults
        self.projects: OrderedDict[str, Project] = OrderedDict()
        self.futures: OrderedDict[str, Future] = OrderedDict()
        #: How fast a metric computation counts rows: a count answers after ``rows / count_rows_per_s`` seconds.
        self.count_rows_per_s = COUNT_ROWS_PER_S
        self.stopping = threading.Event()  # set when the emulator stops: long waits of request handlers end
        self._version = 0
        self.request_count = 0
        self.started_ms = now_ms()

    # -- versions -----------------------------------------------------------------------------------------------------
    def flow_shape(self) -> tuple:
        """What a Flow graph answer depends on, as a value that changes whenever any of it may have. Lock held.

        A graph shows the project's objects, its recipes' types and links, and objects of other projects it reads: the
        instance-wide version (a recipe's settings, a dataset's or folder's creation), and per project its identity,
        structure version (links, renames, deletions) and object counts (a flow file adds objects without a
        structure change).
        """
        return (
            self._version,
            tuple(
                (
                    key,
                    id(project),
                    project.structure_version,
                    len(project.datasets),
                    len(project.folders),
                    len(project.recipes),
                    len(project.implicit_recipes),
                )
                for key, project in self.projects.items()
            ),
        )

    def next_version(self) -> int:
        with self.lock:
            self._version += 1
            return self._version

    # -- lookups (call with the lock held) ----------------------------------------------------------------------------
    def project(self, key: str) -> Project:
        project = self.projects.get(key)
        if project is None:
            raise DSSError(
                401,
                UNAUTHORIZED,
                "Failed to read project permissions",
                f"Failed to read project permissions: project {key} does not exist or cannot be read with this API key",
            )
        return project

    def dataset(self, project_key: str, name: str) -> Dataset:
        dataset = self.project(project_key).datasets.get(name)
        if dataset is None:
            raise not_found("dataset", project_key, name)
        return dataset

    def recipe(self, project_key: str, name: str) -> Recipe:
        recipe = self.project(project_key).recipes.get(name)
        if recipe is None:
            raise not_found("recipe", project_key, name)
        return recipe

    def find_dataset(self, project_key: str, ref: str) -> Optional[Dataset]:
        pk, name = split_ref(project_key, ref)
        project = self.projects.get(pk)
        return project.datasets.get(name) if project else None

    def find_folder(self, project_key: str, ref: str) -> Optional[Folder]:
        pk, name = split_ref(project_key, ref)
        project = self.projects.get(pk)
        if project is None:
            return None
        folder = project.folders.get(name)
        if folder is None:
            folder = next((f for f in project.folders.values() if f.name == name), None)
        return folder

    def object_version(self, project_key: str, ref: str) -> int:
        """Version of a dataset or folder named by ``ref`` (0 when unknown)."""
        dataset = self.find_dataset(project_key, ref)
        if dataset is not None:
            return dataset.version
        folder = self.find_folder(project_key, ref)
        return folder.version if folder is not None else 0

    def producer_of(self, project_key: str, ref: str) -> Optional[Recipe]:
        """The recipe that writes the dataset or folder named by ``ref`` (None for a source)."""
        pk, name = split_ref(project_key, ref)
        project = self.projects.get(pk)
        if project is None:
            return None
        return project.producers().get(name)

    def consumers_of(self, project_key: str, name: str) -> List[Recipe]:
        """Recipes of any project that read ``project_key.name``."""
        found = []
        for project in self.projects.values():
            for recipe in project.recipes.values():
                for ref in recipe.input_refs():
                    if split_ref(project.key, ref) == (project_key, name):
                        found.append(recipe)
                        break
        return found

    def upstream_recipes(self, recipe: Recipe) -> List[Recipe]:
        """Recipes producing ``recipe``'s inputs (one level)."""
        found = []
        for ref in recipe.input_refs():
            producer = self.producer_of(recipe.project_key, ref)
            if producer is not None and producer not in found:
                found.append(producer)
        return found

    def is_ready(self, project_key: str, ref: str) -> bool:
        """Does the dataset or folder named by ``ref`` hold data (built, or a source with rows)?"""
        pk, name = split_ref(project_key, ref)
        dataset = self.find_dataset(pk, name)
        if dataset is not None:
            return bool(self.storage.has_data(pk, name))
        folder = self.find_folder(pk, name)
        return bool(folder and folder.built)

    def read_dataset(
        self, project_key: str, name: str, partitions: Optional[List[str]] = None
    ) -> Tuple[List[dict], List[list]]:
        """Rows of a dataset (or of some of its partitions), seen through its current schema: columns the schema lost
        are dropped, new ones are null.

        This is how a schema edit on a source (a renamed or removed column) reaches the recipes that read it.
        """
        dataset = self.dataset(project_key, name)
        stored_columns, rows = self.storage.read(project_key, name, partitions)
        schema = dataset.columns
        if not schema:
            return stored_columns, rows
        positions = {column.get("name"): i for i, column in enumerate(stored_columns)}
        picks = [positions.get(column.get("name")) for column in schema]
        if picks == list(range(len(stored_columns))):
            return copy.deepcopy(schema), rows
        projected = [[row[p] if p is not None and p < len(row) else None for p in picks] for row in rows]
        return copy.deepcopy(schema), projected

    # -- changes ------------------------------------------------------------------------------------------------------
    def touch_dataset(self, dataset: Dataset) -> None:
        """Record that a dataset's data, schema or settings changed (downstream recipes become out of date)."""
        dataset.version = self.next_version()
        tag = dataset.definition.get("versionTag") or version_tag()
        dataset.definition["versionTag"] = version_tag(now_ms(), int(tag.get("versionNumber", 0)) + 1)

    def touch_recipe(self, recipe: Recipe) -> None:
        recipe.version = self.next_version()
        tag = recipe.definition.get("versionTag") or version_tag()
        recipe.definition["versionTag"] = version_tag(now_ms(), int(tag.get("versionNumber", 0)) + 1)

    def record_basic_metrics(self, dataset: Dataset, when: int) -> None:
        """Metrics DSS computes on every build (the ``basic`` probe): column count, size, files."""
        whole = "ALL" if dataset.partitioned else "NP"
        dataset.record_metric("basic:COUNT_COLUMNS", whole, str(len(dataset.columns)), when)
        dataset.record_metric("basic:COUNT_FILES", whole, "1", when)

    def new_future(
        self,
        display_name: str,
        project_key: str,
        work: Callable[[Future], Any],
        action: str = "propagate-schema",
        target: Optional[dict] = None,
    ) -> Future:
        """Run ``work(future)`` in a daemon thread; its return value becomes the result, a DSSError the failure."""
        future = Future(uuid.uuid4().hex[:8], display_name, project_key, action, target)
        with self.lock:
            self.futures[future.id] = future

        def run() -> None:
            result: Any = None
            error: Optional[DSSError] = None
            try:
                result = work(future)
            except DSSError as exc:
                error = exc
            except Exception as exc:  # noqa: BLE001 - a bug in a future must surface as a DSS error, not a hang
                error = DSSError(500, INTERNAL_ERROR, "Internal error", f"Internal error: {exc}")
            with self.lock:
                future.result = result
                future.error = error
                future.aborted = future.cancel.is_set() and error is None and result is None
                future.end_ms = now_ms()
                self.changed.notify_all()

        threading.Thread(target=run, name=f"future-{future.id}", daemon=True).start()
        return future
