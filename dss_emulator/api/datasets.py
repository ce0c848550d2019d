"""Datasets: list, create, settings, schema, metadata, info, clear, metrics, rows (``iter_rows``), rename.

Uploaded-files datasets (their files, detection) are served by :mod:`dss_emulator.api.uploads`; here their rows are
re-read from the files when their settings or schema are saved.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import uuid
from typing import Iterator, List

from ..server import Request, Response, json_response, stream_response
from ..state import (
    API_ILLEGAL_ARGUMENT,
    DATASTORE_IO,
    SQL_DATASET_TYPES,
    Dataset,
    DSSError,
    bad_request,
    dataset_definition,
    now_ms,
)
from ..uploads import UPLOADED_TYPE, is_uploaded, refresh_rows, uploaded_definition
from ..zones import forget, renamed
from .flow_objects import VOLATILE_KEYS, comparable, metadata_response, save_metadata

ROWS_PER_CHUNK = 500
KNOWN_METRICS = (
    ("basic:COUNT_COLUMNS", "basic", "COUNT_COLUMNS", "Basic data"),
    ("basic:COUNT_FILES", "basic", "COUNT_FILES", "Basic data"),
    ("basic:SIZE", "basic", "SIZE", "Basic data"),
    ("records:COUNT_RECORDS", "records", "COUNT_RECORDS", "Record count"),
)


def _dataset(ctx, request: Request) -> Dataset:
    return ctx.state.dataset(request.path_params["pk"], request.path_params["ds"])


#: Datasets serialised per hold of the lock when a listing is streamed.
LISTING_BATCH = 500


def list_datasets(ctx, request: Request) -> Response:
    """The project's dataset definitions, streamed: each batch is serialised under the lock, then sent without it.

    A large project's listing is tens of megabytes (2 KB per dataset): serialised whole under the lock, it would
    stop every other request (job starts, status polls) for a second, and the client could not parse it as it comes.
    The set of datasets is the one at the request; each item is its definition at the time its batch is written.
    """
    wanted_tags = set(request.args("tags"))
    with ctx.state.lock:
        datasets = list(ctx.state.project(request.path_params["pk"]).datasets.values())

    def chunks() -> Iterator[bytes]:
        separator = b"["
        for start in range(0, len(datasets), LISTING_BATCH):
            with ctx.state.lock:
                parts = [
                    dataset.listing_json()
                    for dataset in datasets[start : start + LISTING_BATCH]
                    if not wanted_tags or wanted_tags.intersection(dataset.definition.get("tags") or [])
                ]
            if parts:
                yield separator + b", ".join(parts)
                separator = b", "
        yield b"]" if separator == b", " else b"[]"

    return stream_response(chunks(), "application/json;charset=utf-8")


def create_dataset(ctx, request: Request) -> Response:
    body = request.json_object()
    pk = request.path_params["pk"]
    name = body.get("name")
    if not name:
        raise bad_request("Required field 'name' is missing.")
    if not body.get("type"):
        raise bad_request("Required field 'type' is missing.")
    params = dict(body.get("params") or {})
    with ctx.state.lock:
        project = ctx.state.project(pk)
        _check_new_name(project, name)
        definition = dataset_definition(
            pk, name, body["type"], params.pop("connection", "filesystem_managed"), False, [], extra_params=params
        )
        if body.get("formatType") and body["type"] not in SQL_DATASET_TYPES:
            definition["formatType"] = body["formatType"]
            definition["formatParams"].update(body.get("formatParams") or {})
        if body["type"] == UPLOADED_TYPE:
            uploaded_definition(definition, dict(body.get("params") or {}), bool(body.get("formatType")))
        project.datasets[name] = Dataset(pk, name, definition, ctx.state.next_version())
        project.structure_changed()
        return json_response(copy.deepcopy(definition))


def create_managed_dataset(ctx, request: Request) -> Response:
    body = request.json_object()
    pk = request.path_params["pk"]
    name = body.get("name")
    if not name:
        raise bad_request("Required field 'name' is missing.")
    settings = body.get("creationSettings") or {}
    connection = settings.get("connectionId") or "filesystem_managed"
    with ctx.state.lock:
        project = ctx.state.project(pk)
        _check_new_name(project, name)
        dataset_type = project.connections.get(connection) or (
            settings.get("typeOptionId") if settings.get("typeOptionId") in SQL_DATASET_TYPES else "Filesystem"
        )
        definition = dataset_definition(pk, name, dataset_type, connection, True, [])
        project.datasets[name] = Dataset(pk, name, definition, ctx.state.next_version())
        project.structure_changed()
        return json_response(copy.deepcopy(definition))


def _check_new_name(project, name: str) -> None:
    if name in project.datasets:
        raise DSSError(400, API_ILLEGAL_ARGUMENT, f"Dataset {project.key}.{name} already exists")
    if name in project.recipes:
        raise DSSError(
            400,
            API_ILLEGAL_ARGUMENT,
            f"A recipe named {name} already exists in {project.key}: datasets and recipes need distinct names",
        )


def get_settings(ctx, request: Request) -> Response:
    with ctx.state.lock:
        return json_response(copy.deepcopy(_dataset(ctx, request).definition))


def save_settings(ctx, request: Request) -> Response:
    body = request.json_object()
    if not body.get("type"):
        raise bad_request("Required field 'type' is missing.")
    with ctx.state.lock:
        dataset = _dataset(ctx, request)
        new = copy.deepcopy(body)
        new["projectKey"] = dataset.project_key
        new["name"] = dataset.name
        if comparable(new) != comparable(dataset.definition):
            for key in VOLATILE_KEYS:
                new[key] = dataset.definition.get(key)
            dataset.definition = new
            if is_uploaded(dataset):  # new format or schema: the files read differently
                refresh_rows(ctx.state, dataset)
            ctx.state.touch_dataset(dataset)
        return json_response({"msg": "Dataset settings saved"})


def delete_dataset(ctx, request: Request) -> Response:
    with ctx.state.lock:
        dataset = _dataset(ctx, request)
        project = ctx.state.project(dataset.project_key)
        users = [
            r.name
            for r in project.recipes.values()
            if dataset.name in r.input_refs() or dataset.name in r.output_refs()
        ]
        del project.datasets[dataset.name]
        forget(project.zones, "DATASET", dataset.name)
        project.structure_changed()
        # With or without dropData the rows (and an uploaded dataset's files) become unreachable: the emulator
        # forgets them, so a dataset created again under the same name starts empty.
        ctx.state.storage.clear(dataset.project_key, dataset.name)
        dataset.uploaded_files.clear()
        return json_response({"msg": "Dataset deleted", "usedByRecipes": users})


def get_schema(ctx, request: Request) -> Response:
    with ctx.state.lock:
        schema = copy.deepcopy(_dataset(ctx, request).definition.get("schema") or {"columns": []})
        schema.setdefault("columns", [])
        return json_response(schema)


def set_schema(ctx, request: Request) -> Response:
    body = request.json_object()
    columns = body.get("columns")
    if not isinstance(columns, list):
        raise bad_request("A schema needs a 'columns' list")
    for index, column in enumerate(columns):
        if not isinstance(column, dict) or not column.get("name") or not column.get("type"):
            raise bad_request(f"Schema column {index} needs a name and a type, got {column!r}")
    with ctx.state.lock:
        dataset = _dataset(ctx, request)
        if columns != dataset.columns:
            dataset.definition["schema"] = copy.deepcopy(body)
            dataset.definition["schema"].setdefault("userModified", True)
            if is_uploaded(dataset):
                refresh_rows(ctx.state, dataset)
            ctx.state.touch_dataset(dataset)
        return json_response({"msg": "Schema updated"})


def get_metadata(ctx, request: Request) -> Response:
    with ctx.state.lock:
        return metadata_response(_dataset(ctx, request))


def set_metadata(ctx, request: Request) -> Response:
    body = request.json_object()
    with ctx.state.lock:
        return save_metadata(_dataset(ctx, request), body)


def get_info(ctx, request: Request) -> Response:
    with ctx.state.lock:
        dataset = _dataset(ctx, request)
        ready = ctx.state.storage.has_data(dataset.project_key, dataset.name)
        info = {
            "dataset": copy.deepcopy(dataset.definition),
            "ready": ready,
            "records": ctx.state.storage.count(dataset.project_key, dataset.name) if ready else 0,
            "partitioned": dataset.partitioned,
        }
        if dataset.last_build is not None:
            info["lastBuild"] = copy.deepcopy(dataset.last_build)
        return json_response(info)


def clear_data(ctx, request: Request) -> Response:
    with ctx.state.lock:
        dataset = _dataset(ctx, request)
        partitions = [p for p in request.args("partitions") if p] or None
        ctx.state.storage.clear(dataset.project_key, dataset.name, partitions if dataset.partitioned else None)
        if partitions is None or not dataset.partitioned:
            dataset.uploaded_files.clear()  # an uploaded dataset's data is its files
        ctx.state.touch_dataset(dataset)
        return json_response({"msg": f"Dataset {dataset.full_name} cleared", "partitions": request.args("partitions")})


def _not_ready(dataset: Dataset) -> DSSError:
    if is_uploaded(dataset):
        problem = "has no files" if not dataset.uploaded_files else "has no readable format"
        return DSSError(
            500,
            DATASTORE_IO,
            f"Uploaded dataset {dataset.full_name} {problem}",
            f"Uploaded dataset {dataset.full_name} {problem}: upload a CSV file (dataset.uploaded_add_file) and save "
            "its detected format (dataset.autodetect_settings().save())",
            code="ERR_DATASET_NOT_READY",
        )
    return DSSError(
        500,
        DATASTORE_IO,
        f"Root path of the dataset {dataset.full_name} does not exist",
        f"Root path of the dataset {dataset.full_name} does not exist: it was never built or was cleared. Build it first.",
        code="ERR_DATASET_NOT_READY",
    )


def read_rows(ctx, request: Request) -> Response:
    wanted = request.args("columns")
    partitions = [p for item in request.args("partitions") for p in item.split(",") if p.strip()] or None
    with ctx.state.lock:
        dataset = _dataset(ctx, request)
        if not ctx.state.storage.has_data(dataset.project_key, dataset.name):
            raise _not_ready(dataset)
        if partitions is not None and dataset.partitioned:
            stored = set(ctx.state.storage.partitions(dataset.project_key, dataset.name))
            missing = [p for p in partitions if p.strip() not in stored]
            if missing:
                raise DSSError(
                    500,
                    DATASTORE_IO,
                    f"Partition {', '.join(missing)} of dataset {dataset.full_name} does not exist",
                    code="ERR_DATASET_PARTITION_NOT_READY",
                )
            columns, rows = ctx.state.read_dataset(dataset.project_key, dataset.name, [p.strip() for p in partitions])
        else:
            columns, rows = ctx.state.read_dataset(dataset.project_key, dataset.name)
    names = [c.get("name") for c in columns]
    if wanted:
        missing = [w for w in wanted if w not in names]
        if missing:
            raise bad_request(
                "Unknown columns {} in dataset {} (columns: {})".format(
                    ", ".join(missing), dataset.full_name, ", ".join(names)
                )
            )
        picks = [names.index(w) for w in wanted]
        rows = [[row[i] for i in picks] for row in rows]
    return stream_response(_tsv_chunks(rows), "text/tab-separated-values;charset=utf-8")


def _tsv_value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _tsv_chunks(rows: List[list]) -> Iterator[bytes]:
    for start in range(0, len(rows), ROWS_PER_CHUNK):
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter="\t", quotechar='"', doublequote=True, lineterminator="\n")
        for row in rows[start : start + ROWS_PER_CHUNK]:
            writer.writerow([_tsv_value(v) for v in row])
        yield buffer.getvalue().encode("utf-8")


def finish_streaming(ctx, request: Request) -> Response:
    with ctx.state.lock:
        _dataset(ctx, request)
    return json_response({"readSessionId": request.arg("readSessionId"), "ok": True})


def _metric_partition(dataset: Dataset, requested: str) -> str:
    """The partition id DSS files a computation's values under: ``NP`` unpartitioned, ``ALL`` or an id otherwise."""
    if not dataset.partitioned:
        return "NP"
    return "ALL" if requested in ("", "NP", "ALL") else requested


def compute_metrics(ctx, request: Request) -> Response:
    """Synchronous, as on DSS: the answer comes once the metrics are computed; counting takes time on large data
    (``state.count_rows_per_s``), during which the request is simply not answered."""
    body = request.json()
    metric_ids = None
    if request.segments[-1] == "computeMetricsFromIds":
        metric_ids = list((body or {}).get("metricIds") or [])
    start = now_ms()
    with ctx.state.lock:
        dataset = _dataset(ctx, request)
        partition = _metric_partition(dataset, request.arg("partition") or "")
        parts = None if partition in ("NP", "ALL") else [partition]
        if not ctx.state.storage.has_data(dataset.project_key, dataset.name, None if parts is None else partition):
            raise _not_ready(dataset)
        count = ctx.state.storage.count(dataset.project_key, dataset.name, parts)
        counting_s = count / ctx.state.count_rows_per_s if ctx.state.count_rows_per_s > 0 else 0.0
    if counting_s > 0.001 and (metric_ids is None or "records:COUNT_RECORDS" in metric_ids):
        ctx.state.stopping.wait(counting_s)
    with ctx.state.lock:
        values = {
            "records:COUNT_RECORDS": str(count),
            "basic:COUNT_COLUMNS": str(len(dataset.columns)),
            "basic:COUNT_FILES": str(len(dataset.uploaded_files) if is_uploaded(dataset) else 1),
        }
        computed, skipped = [], []
        end = now_ms()
        for metric_id, value in values.items():
            if metric_ids is not None and metric_id not in metric_ids:
                continue
            dataset.record_metric(metric_id, partition, value, end)
            computed.append({"metricId": metric_id, "value": value, "dataType": "BIGINT"})
        for metric_id in metric_ids or []:
            if metric_id not in values:
                skipped.append({"metricId": metric_id, "reason": "Unknown metric"})
        result = {
            "target": {"type": "DATASET", "projectKey": dataset.project_key, "datasetName": dataset.name},
            "partition": partition,
            "startTime": start,
            "endTime": end,
            "computed": computed,
            "skipped": skipped,
            "runs": [
                {"engine": "DSS", "engineType": "DSS", "computations": [], "logTail": {"lines": [], "totalLines": 0}}
            ],
        }
    return json_response(
        {
            "hasResult": True,
            "aborted": False,
            "alive": False,
            "unknown": False,
            "jobId": uuid.uuid4().hex[:8],
            "startTime": start,
            "runningTime": end - start,
            "result": result,
        }
    )


def last_metrics(ctx, request: Request) -> Response:
    """Each value point carries ``partition``, ``value`` and ``computed`` (epoch ms), as DSS's do."""
    with ctx.state.lock:
        dataset = _dataset(ctx, request)
        partition = request.path_params.get("partition") or "NP"
        if dataset.partitioned and partition == "NP":
            partition = "ALL"
        metrics = []
        for metric_id, probe, metric_type, label in KNOWN_METRICS:
            entry = {
                "metric": {"id": metric_id, "type": probe, "metricType": metric_type, "dataType": "BIGINT"},
                "meta": {"name": label, "level": 0},
                "displayedAsMetric": True,
                "computingProbe": probe,
                "lastValues": [],
            }
            point = dataset.metric_values.get(metric_id, {}).get(partition)
            if point is not None:
                entry["lastValues"].append({"partition": partition, **point})
            metrics.append(entry)
        return json_response({"metrics": metrics})


def metric_history(ctx, request: Request) -> Response:
    metric_id = request.arg("metricLookup")
    if not metric_id:
        raise bad_request("metricLookup is required")
    with ctx.state.lock:
        dataset = _dataset(ctx, request)
        partition = request.path_params.get("partition") or "NP"
        if dataset.partitioned and partition == "NP":
            partition = "ALL"
        values = copy.deepcopy(dataset.metric_history.get(metric_id, {}).get(partition, []))
        body = {
            "metricId": metric_id,
            "metric": {"id": metric_id, "dataType": "BIGINT"},
            "values": values,
            "from": values[0]["time"] if values else 0,
            "to": values[-1]["time"] if values else 0,
        }
        if values:
            body["lastValue"] = values[-1]
        return json_response(body)


def list_partitions(ctx, request: Request) -> Response:
    with ctx.state.lock:
        dataset = _dataset(ctx, request)
        if not dataset.partitioned:
            return json_response([])
        return json_response(ctx.state.storage.partitions(dataset.project_key, dataset.name))


def usages(ctx, request: Request) -> Response:
    with ctx.state.lock:
        dataset = _dataset(ctx, request)
        found = []
        for recipe in ctx.state.consumers_of(dataset.project_key, dataset.name):
            found.append({"type": "RECIPE", "projectKey": recipe.project_key, "objectId": recipe.name, "role": "input"})
        producer = ctx.state.producer_of(dataset.project_key, dataset.name)
        if producer is not None:
            found.append(
                {"type": "RECIPE", "projectKey": producer.project_key, "objectId": producer.name, "role": "output"}
            )
        return json_response(found)


def rename_dataset(ctx, request: Request) -> Response:
    body = request.json_object()
    old, new = body.get("oldName"), body.get("newName")
    if not old or not new:
        raise bad_request("Renaming a dataset needs oldName and newName")
    pk = request.path_params["pk"]
    with ctx.state.lock:
        project = ctx.state.project(pk)
        dataset = ctx.state.dataset(pk, old)
        _check_new_name(project, new)
        storage = ctx.state.storage
        if storage.has_data(pk, old):
            for part in storage.partitions(pk, old) or [None]:
                columns, rows = storage.read(pk, old, None if part is None else [part])
                storage.write(pk, new, columns, rows, part)
            storage.clear(pk, old)
        project.datasets = type(project.datasets)((new if k == old else k, v) for k, v in project.datasets.items())
        dataset.name = new
        dataset.definition["name"] = new
        renamed(project.zones, "DATASET", old, new)
        for recipe in project.recipes.values():
            for roles in (recipe.definition.get("inputs") or {}, recipe.definition.get("outputs") or {}):
                for role in roles.values():
                    for item in role.get("items") or []:
                        if item.get("ref") == old:
                            item["ref"] = new
        project.structure_changed()
        return json_response({"msg": "Dataset renamed"})


ROUTES = [
    ("GET", "projects/{pk}/datasets", list_datasets),
    ("POST", "projects/{pk}/datasets", create_dataset),
    ("POST", "projects/{pk}/datasets/managed", create_managed_dataset),
    ("GET", "projects/{pk}/datasets/{ds}", get_settings),
    ("PUT", "projects/{pk}/datasets/{ds}", save_settings),
    ("DELETE", "projects/{pk}/datasets/{ds}", delete_dataset),
    ("GET", "projects/{pk}/datasets/{ds}/schema", get_schema),
    ("PUT", "projects/{pk}/datasets/{ds}/schema", set_schema),
    ("GET", "projects/{pk}/datasets/{ds}/metadata", get_metadata),
    ("PUT", "projects/{pk}/datasets/{ds}/metadata", set_metadata),
    ("GET", "projects/{pk}/datasets/{ds}/info", get_info),
    ("DELETE", "projects/{pk}/datasets/{ds}/data", clear_data),
    ("GET", "projects/{pk}/datasets/{ds}/data", read_rows),
    ("GET", "projects/{pk}/datasets/{ds}/finish-streaming", finish_streaming),
    ("POST", "projects/{pk}/datasets/{ds}/actions/computeMetrics", compute_metrics),
    ("POST", "projects/{pk}/datasets/{ds}/actions/computeMetricsFromIds", compute_metrics),
    ("GET", "projects/{pk}/datasets/{ds}/metrics/last/{partition}", last_metrics),
    ("GET", "projects/{pk}/datasets/{ds}/metrics/history/{partition}", metric_history),
    ("GET", "projects/{pk}/datasets/{ds}/partitions", list_partitions),
    ("GET", "projects/{pk}/datasets/{ds}/usages", usages),
    ("POST", "projects/{pk}/actions/renameDataset", rename_dataset),
]
