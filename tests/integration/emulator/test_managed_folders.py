"""Managed folders and their files, through the real ``dataikuapi`` client (``dss/project.py``, ``dss/managedfolder.py``).

Each test uses a fresh emulator: a new folder is a Flow object, and the shared emulator's Flow must not change.
"""

from __future__ import annotations

import io
import json

import pytest
import requests
from dataikuapi.utils import DataikuException

from dss_emulator.server import Router

EVERY_BYTE = bytes(range(256))
AWKWARD = b"crlf\r\nlf\ncr\r" + EVERY_BYTE + b"\r\n--boundary-lookalike\r\n" + "é€".encode() + b"\r\n"


@pytest.fixture
def dss(fresh_dss):
    return fresh_dss


@pytest.fixture
def project(fresh_project):
    return fresh_project


@pytest.fixture
def folder(project):
    return project.create_managed_folder("Run history")


def _paths(folder) -> list:
    return [item["path"] for item in folder.list_contents()["items"]]


def _read(folder, path: str) -> bytes:
    with folder.get_file(path) as response:
        return response.content


def _raw(dss, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(method, f"{dss.url}/dip/publicapi{path}", auth=(dss.api_key, ""), **kwargs)


def test_create_list_and_read_the_definition(project, folder):
    definition = folder.get_definition()
    assert len(folder.id) == 8 and folder.id.isalnum()
    assert definition["id"] == folder.id and definition["name"] == "Run history"
    assert definition["projectKey"] == "CLINICAL" and definition["type"] == "Filesystem"
    assert definition["params"]["connection"] == "filesystem_folders"
    assert folder.get_settings().get_raw() == definition
    listed = {item["id"]: item for item in project.list_managed_folders()}
    assert listed[folder.id]["name"] == "Run history"
    node = project.get_flow().get_graph().data["nodes"][folder.id]
    assert node["type"] == "COMPUTABLE_FOLDER", "a new folder is a Flow object, as in DSS"


def test_settings_save_and_set_definition(folder):
    settings = folder.get_settings()
    settings.get_raw()["description"] = "nightly run records"
    settings.get_raw()["tags"] = ["history"]
    settings.save()
    definition = folder.get_definition()
    assert definition["description"] == "nightly run records" and definition["tags"] == ["history"]
    assert definition["versionTag"]["versionNumber"] == 2
    definition["name"] = "Run history (archive)"
    assert folder.set_definition(definition) == {"msg": "Managed folder saved"}
    assert folder.get_definition()["name"] == "Run history (archive)"


def test_put_get_list_round_trip_keeps_every_byte(folder):
    answer = folder.put_file("runs/r1/data.bin", AWKWARD)
    assert answer["path"] == "/runs/r1/data.bin" and answer["size"] == len(AWKWARD)
    assert isinstance(answer["lastModified"], int)
    assert _read(folder, "runs/r1/data.bin") == AWKWARD
    assert _read(folder, "/runs/r1/data.bin") == AWKWARD, "a leading slash names the same file"


@pytest.mark.parametrize(
    "content",
    [
        pytest.param("texte é", id="str"),
        pytest.param(io.BytesIO("octets é".encode()), id="BytesIO"),
        pytest.param(io.StringIO("flux texte é"), id="text stream (spooled by the client)"),
    ],
)
def test_put_file_accepts_what_dataikuapi_accepts(folder, content):
    expected = content if isinstance(content, str) else content.getvalue()
    expected = expected.encode("utf-8") if isinstance(expected, str) else expected
    folder.put_file("notes.txt", content)
    assert _read(folder, "notes.txt") == expected


def test_put_file_from_a_real_file_and_a_large_one_streamed_back(folder, tmp_path, dss):
    source = tmp_path / "big.bin"
    source.write_bytes(EVERY_BYTE * 1024)  # 256 KB: several chunks
    with open(source, "rb") as handle:
        assert folder.put_file("big.bin", handle)["size"] == 256 * 1024
    with folder.get_file("big.bin") as response:
        assert response.headers.get("Transfer-Encoding") == "chunked"
        assert b"".join(response.iter_content(10_000)) == source.read_bytes()


def test_list_contents_sorted_with_dss_paths(folder):
    for path in ("runs/r2/report.html", "last_run/run-recipes.json", "runs/r1/run-record.json", "é/ü.txt"):
        folder.put_file(path, b"{}")
    items = folder.list_contents()["items"]
    assert [i["path"] for i in items] == [
        "/last_run/run-recipes.json",
        "/runs/r1/run-record.json",
        "/runs/r2/report.html",
        "/é/ü.txt",
    ]
    assert all(set(i) == {"path", "size", "lastModified"} and i["size"] == 2 for i in items)


def test_overwrite_replaces_the_contents(folder):
    folder.put_file("last_run/x.json", json.dumps({"run": 1}))
    folder.put_file("last_run/x.json", json.dumps({"run": 2, "more": True}))
    assert json.loads(_read(folder, "last_run/x.json")) == {"run": 2, "more": True}
    assert _paths(folder) == ["/last_run/x.json"]


def test_get_file_sends_a_content_type(folder):
    folder.put_file("runs/r1/report.html", b"<p>ok</p>")
    with folder.get_file("runs/r1/report.html") as response:
        assert response.headers["Content-Type"].startswith("text/html")


def test_delete_a_file_a_directory_and_nothing(folder):
    for path in ("runs/r1/a.json", "runs/r1/b.html", "runs/r2/a.json", "keep.txt"):
        folder.put_file(path, b"x")
    folder.delete_file("runs/r1/a.json")
    assert _paths(folder) == ["/keep.txt", "/runs/r1/b.html", "/runs/r2/a.json"]
    folder.delete_file("runs")
    assert _paths(folder) == ["/keep.txt"]
    folder.delete_file("never/was.txt")  # "No error is raised if the file doesn't exist"
    assert _paths(folder) == ["/keep.txt"]


def test_missing_folder_and_missing_file_are_dss_errors(project, folder, dss):
    folder.put_file("runs/r1/a.json", b"{}")
    ghost = project.get_managed_folder("nOsUcHiD")
    for call in (
        ghost.get_definition,
        ghost.list_contents,
        lambda: ghost.get_file("a"),
        lambda: ghost.put_file("a", b""),
    ):
        with pytest.raises(
            DataikuException, match=r"NotFoundException: managed folder does not exist: CLINICAL\.nOsUcHiD"
        ):
            call()
    with pytest.raises(DataikuException, match=r"NotFoundException: File /runs/r9/a.json does not exist"):
        folder.get_file("runs/r9/a.json")

    response = _raw(dss, "GET", "/projects/CLINICAL/managedfolders/nOsUcHiD/contents")
    assert response.status_code == 404
    assert set(response.json()) == {"errorType", "message", "detailedMessage"}
    assert _raw(dss, "GET", f"/projects/CLINICAL/managedfolders/{folder.id}/contents/nope.txt").status_code == 404
    directory = _raw(dss, "GET", f"/projects/CLINICAL/managedfolders/{folder.id}/contents/runs/r1")
    assert directory.status_code == 400 and "is a directory" in directory.json()["message"]


def test_bad_uploads_and_paths_are_refused(folder, dss):
    base = f"/projects/CLINICAL/managedfolders/{folder.id}/contents"
    not_multipart = _raw(dss, "POST", base + "/a.txt", data=b"plain body")
    assert not_multipart.status_code == 400 and "multipart/form-data" in not_multipart.json()["detailedMessage"]
    wrong_part = _raw(dss, "POST", base + "/a.txt", files={"other": ("a.txt", b"x")})
    assert wrong_part.status_code == 400 and "'file' part" in wrong_part.json()["message"]
    dot_dot = _raw(dss, "POST", base + "/%2E%2E/escape.txt", files={"file": ("", b"x")})
    assert dot_dot.status_code == 400 and "'..'" in dot_dot.json()["message"]
    folder.put_file("runs/r1/a.json", b"{}")
    under_a_file = _raw(dss, "POST", base + "/runs/r1/a.json/b.txt", files={"file": ("", b"x")})
    assert under_a_file.status_code == 400 and "not a directory" in under_a_file.json()["message"]
    over_a_directory = _raw(dss, "POST", base + "/runs", files={"file": ("", b"x")})
    assert over_a_directory.status_code == 400
    assert _paths(folder) == ["/runs/r1/a.json"]


def test_the_read_only_key_reads_but_never_writes(dss, folder, read_only_key):
    folder.put_file("a.txt", b"original")
    reader = dss.client(read_only_key).get_project("CLINICAL")
    mirror = reader.get_managed_folder(folder.id)
    assert _read(mirror, "a.txt") == b"original" and _paths(mirror) == ["/a.txt"]
    assert folder.id in {f["id"] for f in reader.list_managed_folders()}
    writes = (
        lambda: mirror.put_file("a.txt", b"changed"),
        lambda: mirror.put_file("b.txt", b"new"),
        lambda: mirror.delete_file("a.txt"),
        lambda: reader.create_managed_folder("Sneaky"),
        lambda: mirror.set_definition(dict(mirror.get_definition(), name="renamed")),
    )
    for write in writes:
        with pytest.raises(DataikuException, match="UnauthorizedException: .*read-only"):
            write()
    assert _read(folder, "a.txt") == b"original" and _paths(folder) == ["/a.txt"]
    assert folder.get_definition()["name"] == "Run history"
    assert "Sneaky" not in {f["name"] for f in reader.list_managed_folders()}


def test_a_rest_of_path_route_never_shadows_a_fixed_one():
    router = Router()
    router.add("GET", "items/{id}/contents", lambda ctx, request: "list")
    router.add("GET", "items/{id}/contents/{path*}", lambda ctx, request: "file")
    router.add("GET", "items/{id}/contents/special", lambda ctx, request: "special")
    handler, params = router.resolve("GET", ["items", "a", "contents"])
    assert handler(None, None) == "list" and params == {"id": "a"}
    handler, params = router.resolve("GET", ["items", "a", "contents", "x", "y.json"])
    assert handler(None, None) == "file" and params == {"id": "a", "path": "x/y.json"}
    handler, _ = router.resolve("GET", ["items", "a", "contents", "special"])
    assert handler(None, None) == "special"
