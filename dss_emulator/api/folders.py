"""Managed folders: list, create, definition (GET/PUT), and their files (list, read, upload, delete).

What ``dataikuapi`` sends (``dss/project.py``, ``dss/managedfolder.py``) and what the emulator answers::

    GET    /projects/{pk}/managedfolders/                        list_managed_folders(): [definition, ...]
    POST   /projects/{pk}/managedfolders/                        create_managed_folder(name): the definition, with
                                                                 its new 8-character ``id``
    GET    /projects/{pk}/managedfolders/{id}                    get_definition(), get_settings()
    PUT    /projects/{pk}/managedfolders/{id}                    set_definition(), settings.save(): name,
                                                                 description, tags (id and projectKey are fixed)
    GET    /projects/{pk}/managedfolders/{id}/contents           list_contents(): {"items": [{path, size,
                                                                 lastModified}]}, paths as "/dir/file", sorted
    GET    /projects/{pk}/managedfolders/{id}/contents/{path}    get_file(path): the bytes, streamed (chunked)
    POST   /projects/{pk}/managedfolders/{id}/contents/{path}    put_file(path, f): a multipart/form-data upload
                                                                 (field "file"); overwrites; answers {path, size,
                                                                 lastModified}
    DELETE /projects/{pk}/managedfolders/{id}/contents/{path}    delete_file(path): the file, or every file under a
                                                                 directory path; no error when nothing is there

``{path}`` keeps its slashes (``requests.utils.quote`` leaves them alone): ``runs/r1/report.html`` and
``/runs/r1/report.html`` name the same file. Folders are found by id only, as in DSS (the name is a label).
Errors: an unknown folder answers 404 ``NotFoundException`` "managed folder does not exist: PK.id", an unknown file
404 "File /x does not exist in managed folder PK.id", a path with ``..`` or a body that is not a multipart upload
400; the read-only API key is refused every write with 403 (by the server, as for every other write).
"""

from __future__ import annotations

import copy
import mimetypes
import secrets
import string

from ..server import Request, Response, json_response, stream_response
from ..state import MALFORMED_REQUEST, NOT_FOUND, DSSError, Folder, FolderFile, bad_request, not_found, now_ms

#: Characters of a new folder's id (DSS makes 8 random letters and digits).
_ID_ALPHABET = string.ascii_letters + string.digits
#: Size of the chunks a file is streamed in.
CHUNK_BYTES = 64 * 1024
#: Settings a PUT of the definition may change.
_EDITABLE = ("name", "description", "tags")


def _folder(ctx, request: Request) -> Folder:
    """The folder named by the URL (call with the lock held); 404 when the project has none with that id."""
    pk, folder_id = request.path_params["pk"], request.path_params["folder"]
    folder = ctx.state.project(pk).folders.get(folder_id)
    if folder is None:
        raise not_found("managed folder", pk, folder_id)
    return folder


def file_path(raw: str) -> str:
    """A path inside a folder as DSS lists it: ``/a/b.json`` (leading slash, no empty, ``.`` or ``..`` part)."""
    parts = [part for part in raw.replace("\\", "/").split("/") if part not in ("", ".")]
    if not parts:
        raise bad_request("A file path inside the managed folder is required")
    if ".." in parts:
        raise bad_request(f"Invalid path {raw!r}: '..' is not allowed in a managed folder path")
    return "/" + "/".join(parts)


def uploaded_file(request: Request, field: str = "file") -> bytes:
    """The bytes of the ``field`` part of a multipart/form-data body (what ``folder.put_file`` sends)."""
    part = request.multipart_part(field)
    if part is None:
        content_type = request.headers.get("Content-Type") or ""
        raise DSSError(
            400,
            MALFORMED_REQUEST,
            f"Expected a multipart/form-data upload with a '{field}' part",
            f"Expected a multipart/form-data upload with a '{field}' part, got Content-Type {content_type or 'none'!r}",
        )
    return part[1]


# ----------------------------------------------------------------------------------------------------- folders


def list_folders(ctx, request: Request) -> Response:
    with ctx.state.lock:
        project = ctx.state.project(request.path_params["pk"])
        return json_response([folder.definition() for folder in project.folders.values()])


def create_folder(ctx, request: Request) -> Response:
    body = request.json_object()
    pk = request.path_params["pk"]
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise bad_request("Required field 'name' is missing: a managed folder needs a name")
    params = body.get("params") if isinstance(body.get("params"), dict) else {}
    with ctx.state.lock:
        project = ctx.state.project(pk)
        folder_id = _new_id(project)
        folder = Folder(
            pk,
            folder_id,
            name.strip(),
            ctx.state.next_version(),
            built=True,
            folder_type=body.get("type") or "Filesystem",
            connection=params.get("connection") or "filesystem_folders",
        )
        project.folders[folder_id] = folder
        project.structure_changed()
        return json_response(folder.definition())


def _new_id(project) -> str:
    while True:
        candidate = "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))
        taken = candidate in project.folders or candidate in project.datasets or candidate in project.recipes
        if not taken:
            return candidate


def get_folder(ctx, request: Request) -> Response:
    with ctx.state.lock:
        return json_response(_folder(ctx, request).definition())


def save_folder(ctx, request: Request) -> Response:
    body = request.json_object()
    with ctx.state.lock:
        folder = _folder(ctx, request)
        for key in ("id", "projectKey"):
            if key in body and body[key] != getattr(folder, "id" if key == "id" else "project_key"):
                raise bad_request(f"The {key} of a managed folder cannot be changed")
        if "name" in body and (not isinstance(body["name"], str) or not body["name"].strip()):
            raise bad_request("A managed folder's name cannot be empty")
        if "tags" in body and not isinstance(body["tags"], list):
            raise bad_request("'tags' must be a list of strings")
        changed = False
        for key in _EDITABLE:
            if key in body:
                value = body[key].strip() if key == "name" else copy.deepcopy(body[key])
                changed = changed or value != getattr(folder, key)
                setattr(folder, key, value)
        if changed:
            folder.settings_version += 1
        return json_response({"msg": "Managed folder saved"})


# ----------------------------------------------------------------------------------------------------- files


def list_contents(ctx, request: Request) -> Response:
    with ctx.state.lock:
        folder = _folder(ctx, request)
        return json_response({"items": [folder.files[path].item(path) for path in sorted(folder.files)]})


def get_file(ctx, request: Request) -> Response:
    with ctx.state.lock:
        folder = _folder(ctx, request)
        path = file_path(request.path_params["path"])
        found = folder.files.get(path)
        if found is None:
            if any(p.startswith(path + "/") for p in folder.files):
                raise bad_request(f"{path} is a directory of managed folder {folder.project_key}.{folder.id}")
            raise DSSError(
                404, NOT_FOUND, f"File {path} does not exist in managed folder {folder.project_key}.{folder.id}"
            )
        data = found.data
    content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    return stream_response((data[i : i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)), content_type)


def put_file(ctx, request: Request) -> Response:
    with ctx.state.lock:
        _folder(ctx, request)  # an unknown folder is a 404 before the body is looked at
    data = uploaded_file(request)
    path = file_path(request.path_params["path"])
    with ctx.state.lock:
        folder = _folder(ctx, request)
        where = f"managed folder {folder.project_key}.{folder.id}"
        if any(p.startswith(path + "/") for p in folder.files):
            raise bad_request(f"Cannot write {path}: it is a directory of {where}")
        parents = ["/".join(path.split("/")[:n]) for n in range(2, path.count("/") + 1)]
        clash = next((p for p in parents if p in folder.files), None)
        if clash is not None:
            raise bad_request(f"Cannot write {path}: {clash} is a file of {where}, not a directory")
        stored = FolderFile(bytes(data), now_ms())
        folder.files[path] = stored
        folder.version = ctx.state.next_version()
        return json_response(stored.item(path))


def delete_file(ctx, request: Request) -> Response:
    with ctx.state.lock:
        folder = _folder(ctx, request)
        path = file_path(request.path_params["path"])
        doomed = [p for p in folder.files if p == path or p.startswith(path + "/")]
        for p in doomed:
            del folder.files[p]
        if doomed:
            folder.version = ctx.state.next_version()
        return json_response({"msg": f"Deleted {len(doomed)} file(s)"})


ROUTES = [
    ("GET", "projects/{pk}/managedfolders", list_folders),
    ("POST", "projects/{pk}/managedfolders", create_folder),
    ("GET", "projects/{pk}/managedfolders/{folder}", get_folder),
    ("PUT", "projects/{pk}/managedfolders/{folder}", save_folder),
    ("GET", "projects/{pk}/managedfolders/{folder}/contents", list_contents),
    ("GET", "projects/{pk}/managedfolders/{folder}/contents/{path*}", get_file),
    ("POST", "projects/{pk}/managedfolders/{folder}/contents/{path*}", put_file),
    ("DELETE", "projects/{pk}/managedfolders/{folder}/contents/{path*}", delete_file),
]
