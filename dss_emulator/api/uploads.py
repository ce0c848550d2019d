"""Uploaded-files datasets over HTTP: upload and list files, and the format detection ``autodetect_settings`` runs.

* ``POST .../datasets/{ds}/uploaded/files``: ``multipart/form-data`` with a part named ``file`` (what
  ``uploaded_add_file`` sends through ``requests``); a file of the same name is replaced. Empty answer.
* ``GET .../datasets/{ds}/uploaded/files``: ``[{"path": "/<name>", "name", "size", "lastModified"}]`` in path order.
* ``POST .../datasets/{ds}/actions/testAndDetectSettings/fsLike``: a future whose result is
  :func:`dss_emulator.uploads.detect_format`'s.

The multipart body is parsed with the standard library's ``email`` parser (``cgi`` is gone from Python 3.13).
"""

from __future__ import annotations

from typing import Tuple

from ..server import Request, Response, json_response
from ..state import (
    API_ILLEGAL_ARGUMENT,
    FS_LIKE_TYPES,
    INTERNAL_ERROR,
    MALFORMED_REQUEST,
    Dataset,
    DSSError,
    UploadedFile,
    now_ms,
)
from ..uploads import (
    UPLOADED_TYPE,
    FileDecodingError,
    clean_file_name,
    decode_text,
    detect_format,
    is_uploaded,
    refresh_rows,
    sorted_files,
)

FILE_PART = "file"
#: How long the detection request waits for its future before answering it unfinished (the client then polls).
DETECTION_WAIT_SECONDS = 10.0


def _uploaded_dataset(ctx, request: Request) -> Dataset:
    """The dataset of the path, which must be an uploaded-files dataset (lock held)."""
    dataset = ctx.state.dataset(request.path_params["pk"], request.path_params["ds"])
    if not is_uploaded(dataset):
        raise DSSError(
            400,
            API_ILLEGAL_ARGUMENT,
            f"Dataset {dataset.full_name} is not an uploaded-files dataset",
            f"Dataset {dataset.full_name} is of type {dataset.definition.get('type')}, not {UPLOADED_TYPE}: files "
            "can only be uploaded to and listed on a dataset created with project.create_upload_dataset()",
        )
    return dataset


def _file_part(request: Request, full_name: str) -> Tuple[str, bytes]:
    """(file name, bytes) of the request's multipart part named ``file``."""
    content_type = request.headers.get("Content-Type") or ""
    missing = DSSError(
        400,
        MALFORMED_REQUEST,
        f"Required request part 'file' is not present (upload to dataset {full_name})",
        f"Upload to dataset {full_name}: the request has no multipart/form-data part named 'file' (got Content-Type "
        f"{content_type or 'none'}); send the file as that part, as dataset.uploaded_add_file(fp, filename) does",
    )
    part = request.multipart_part(FILE_PART)
    if part is None:
        raise missing
    name = clean_file_name(part[0])
    if not name:
        raise DSSError(
            400,
            MALFORMED_REQUEST,
            f"The 'file' part uploaded to dataset {full_name} has no file name",
            f"The 'file' part uploaded to dataset {full_name} has no file name: give one, as in "
            "dataset.uploaded_add_file(fp, 'data.csv')",
        )
    return name, part[1]


def upload_file(ctx, request: Request) -> Response:
    with ctx.state.lock:
        full_name = _uploaded_dataset(ctx, request).full_name
    name, data = _file_part(request, full_name)
    try:
        decode_text(name, data)
    except FileDecodingError as exc:
        raise DSSError(
            400,
            API_ILLEGAL_ARGUMENT,
            f"File {name} uploaded to dataset {full_name} is not UTF-8 text",
            f"File {name} uploaded to dataset {full_name} is not UTF-8 text (byte 0x{exc.byte:02x} at offset "
            f"{exc.offset}): the emulator reads uploaded files as UTF-8 CSV; save the file as UTF-8 and upload it again",
        ) from None
    with ctx.state.lock:
        dataset = _uploaded_dataset(ctx, request)  # again: it may have been deleted while the body was parsed
        dataset.uploaded_files[name] = UploadedFile(name, data, now_ms())
        refresh_rows(ctx.state, dataset)
        ctx.state.touch_dataset(dataset)
    return Response(200, b"")


def list_files(ctx, request: Request) -> Response:
    with ctx.state.lock:
        return json_response([f.describe() for f in sorted_files(_uploaded_dataset(ctx, request))])


def _current_settings_detection(dataset: Dataset, has_data: bool) -> dict:
    """Detection on a files-based dataset that is not uploaded: its files are what the emulator wrote, in the format
    of its settings, so the answer is those settings (or "no files" before the first build)."""
    if not has_data:
        return {
            "connectionOK": True,
            "empty": True,
            "format": {"ok": False, "message": f"No files found in dataset {dataset.full_name}: build it first"},
        }
    schema = {"columns": dataset.columns, "userModified": False}
    return {
        "connectionOK": True,
        "empty": False,
        "format": {
            "ok": True,
            "type": dataset.definition.get("formatType") or "csv",
            "params": dict(dataset.definition.get("formatParams") or {}),
            "schemaDetection": {"newSchema": schema, "detectedSchema": dict(schema), "reasons": []},
        },
    }


def detect_settings(ctx, request: Request) -> Response:
    """A future detecting the format; the answer waits for it (as ``computeMetrics`` does in DSS 9), so the client
    usually gets ``hasResult: true`` at once and never polls. A detection still running after
    ``DETECTION_WAIT_SECONDS`` is answered unfinished and the client polls ``/futures/{id}`` as usual. The wait is on
    the state's condition, which releases the lock meanwhile; the detection itself works on a copy of the files."""
    body = request.json() or {}
    infer = bool(body.get("inferStorageTypes", False))
    with ctx.state.lock:
        dataset = ctx.state.dataset(request.path_params["pk"], request.path_params["ds"])
        dataset_type = dataset.definition.get("type")
        if dataset_type not in FS_LIKE_TYPES:
            raise DSSError(
                400,
                API_ILLEGAL_ARGUMENT,
                f"Dataset {dataset.full_name} is not a files-based dataset",
                f"Dataset {dataset.full_name} is of type {dataset_type}: fsLike detection applies to files-based "
                "datasets (Filesystem, UploadedFiles, S3...)",
            )
        full_name, uploaded = dataset.full_name, is_uploaded(dataset)
        files = [(f.name, f.data) for f in sorted_files(dataset)]
        current = None
        if not uploaded:
            current = _current_settings_detection(
                dataset, ctx.state.storage.has_data(dataset.project_key, dataset.name)
            )

    def work(_future) -> dict:
        if current is not None:
            return current
        try:
            return detect_format(full_name, files, infer)
        except FileDecodingError as exc:
            raise DSSError(500, INTERNAL_ERROR, f"Cannot detect the format of dataset {full_name}: {exc}") from None

    target = {
        "objectType": "DATASET",
        "projectKey": request.path_params["pk"],
        "objectId": request.path_params["ds"],
        "name": request.path_params["ds"],
    }
    future = ctx.state.new_future(
        f"Detecting the format of dataset {full_name}",
        request.path_params["pk"],
        work,
        action="test-and-detect-dataset-settings",
        target=target,
    )
    with ctx.state.lock:
        ctx.state.changed.wait_for(lambda: not future.alive, DETECTION_WAIT_SECONDS)
        answer = future.response()
        if answer["hasResult"]:
            # The answer delivers the result, as a non-peek read would: the future is done with.
            ctx.state.futures.pop(future.id, None)
        return json_response(answer)


ROUTES = [
    ("POST", "projects/{pk}/datasets/{ds}/uploaded/files", upload_file),
    ("GET", "projects/{pk}/datasets/{ds}/uploaded/files", list_files),
    ("POST", "projects/{pk}/datasets/{ds}/actions/testAndDetectSettings/fsLike", detect_settings),
]
