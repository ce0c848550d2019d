"""Uploaded-files datasets through the real client: upload and list files, autodetect the format, typed rows after
the settings are saved, metrics, recipes reading them, and DSS-style errors.

The set-up follows ``real_dss_setup.create_source_dataset``: ``create_upload_dataset``, ``uploaded_add_file``,
``autodetect_settings()`` then ``settings.save()`` with a typed schema.
"""

from __future__ import annotations

import io
import json
import re

import pytest
import requests
from dataikuapi.utils import DataikuException

from dss_emulator import EmulatedDSS
from dss_emulator.api import uploads as upload_api

PROJECT = "UPLOADS"
LAB_CSV = (
    "patient_id,test_name,value,abnormal\n"
    "P001,glucose,5.4,false\n"
    'P001,"hba1c, fasting",6.9,true\n'
    "P002,glucose,7.8,true\n"
    "P002,creatinine,,false\n"
)
LAB_SCHEMA = [
    {"name": "patient_id", "type": "string"},
    {"name": "test_name", "type": "string"},
    {"name": "value", "type": "double"},
    {"name": "abnormal", "type": "boolean"},
]
LAB_ROWS = [
    ["P001", "glucose", 5.4, False],
    ["P001", "hba1c, fasting", 6.9, True],
    ["P002", "glucose", 7.8, True],
    ["P002", "creatinine", None, False],
]
ILLEGAL_ARGUMENT = "com.dataiku.dip.exceptions.APIIllegalArgumentException"
MALFORMED = "com.dataiku.common.server.DKUControllerBase$MalformedRequestException"


@pytest.fixture
def emulator():
    with EmulatedDSS.start() as dss:
        dss.client().create_project(PROJECT, "Uploaded datasets", "admin")
        yield dss


@pytest.fixture
def project(emulator):
    return emulator.client().get_project(PROJECT)


def _upload(project, name, text, filename="data.csv"):
    dataset = project.create_upload_dataset(name)
    dataset.uploaded_add_file(io.BytesIO(text.encode("utf-8")), filename)
    return dataset


def _save_detected(dataset, schema=None, infer_storage_types=False):
    settings = dataset.autodetect_settings(infer_storage_types=infer_storage_types)
    if schema is not None:
        settings.get_raw()["schema"] = {"columns": schema, "userModified": True}
    settings.save()
    return settings


def _group_lab_by_patient(project):
    """A grouping of LAB by patient_id into LAB_AGG, created as a user would, with the builder's group key."""
    return (
        project.new_recipe("grouping", "group_LAB")
        .with_input("LAB")
        .with_new_output("LAB_AGG", "filesystem_managed")
        .with_group_key("patient_id")
        .create()
    )


def _post_file(emulator, name, files):
    """The upload request as ``uploaded_add_file`` sends it, with requests, to see the HTTP status."""
    return requests.post(
        f"{emulator.url}/dip/publicapi/projects/{PROJECT}/datasets/{name}/uploaded/files",
        files=files,
        auth=(emulator.api_key, ""),
        timeout=10,
    )


# -- files ------------------------------------------------------------------------------------------------------------


def test_uploaded_files_are_listed_in_path_order_and_replaced_by_name(project):
    dataset = _upload(project, "LAB", LAB_CSV, "b_lab.csv")
    dataset.uploaded_add_file(io.BytesIO(b"patient_id\nP9\n"), "a_more.csv")
    dataset.uploaded_add_file(io.BytesIO(b"patient_id\nP8\nP7\n"), "a_more.csv")

    files = dataset.uploaded_list_files()

    assert [(f["path"], f["name"], f["size"]) for f in files] == [
        ("/a_more.csv", "a_more.csv", len(b"patient_id\nP8\nP7\n")),
        ("/b_lab.csv", "b_lab.csv", len(LAB_CSV.encode())),
    ]
    assert all(isinstance(f["lastModified"], int) and f["lastModified"] > 0 for f in files)


def test_a_new_uploaded_dataset_has_no_files_and_no_format(project):
    dataset = project.create_upload_dataset("EMPTY")
    raw = dataset.get_settings().get_raw()
    assert raw["type"] == "UploadedFiles" and raw["managed"] is False
    assert "formatType" not in raw and "connection" not in raw["params"]
    assert dataset.uploaded_list_files() == []
    assert project.create_upload_dataset("WITH_CONN", connection="uploads").get_settings().get_raw()["params"][
        "uploadConnection"
    ] == ("uploads")


def test_file_names_and_contents_keep_non_ascii_crlf_and_bom(project):
    text = "\ufeffpatient_id;note\r\nP001;fièvre légère\r\nP002;北京\r\n"
    dataset = project.create_upload_dataset("NOTES")
    dataset.uploaded_add_file(io.BytesIO(text.encode("utf-8")), "dir/notes é.csv")
    assert [f["name"] for f in dataset.uploaded_list_files()] == ["notes é.csv"]
    _save_detected(dataset)
    assert list(dataset.iter_rows()) == [["P001", "fièvre légère"], ["P002", "北京"]]


# -- detection --------------------------------------------------------------------------------------------------------


def test_autodetect_gives_csv_with_string_columns(project):
    settings = _upload(project, "LAB", LAB_CSV).autodetect_settings()
    raw = settings.get_raw()
    assert raw["formatType"] == "csv"
    params = raw["formatParams"]
    assert (params["separator"], params["quoteChar"], params["charset"], params["style"]) == (",", '"', "utf8", "excel")
    assert params["parseHeaderRow"] is True and params["escapeChar"] == "\\"
    assert raw["schema"]["columns"] == [
        {"name": n, "type": "string"} for n in ("patient_id", "test_name", "value", "abnormal")
    ]


def test_autodetect_with_inferred_storage_types(project):
    text = (
        "id,code,count,big,ratio,flag,seen_at,label,empty\n"
        "1,007,12,3000000000,0.5,true,2024-01-05T10:00:00.000Z,a,\n"
        "2,010,-3,-4,1e3,FALSE,2024-02-01T00:00:00Z,b,\n"
    )
    columns = _upload(project, "TYPED", text).autodetect_settings(infer_storage_types=True).get_raw()["schema"]
    assert [(c["name"], c["type"]) for c in columns["columns"]] == [
        ("id", "int"),
        ("code", "string"),  # leading zeros: an identifier, not a number
        ("count", "int"),
        ("big", "bigint"),
        ("ratio", "double"),
        ("flag", "boolean"),
        ("seen_at", "date"),
        ("label", "string"),
        ("empty", "string"),
    ]


@pytest.mark.parametrize(("separator", "expected"), [(";", ";"), ("\t", "\t"), ("|", "|")])
def test_autodetect_finds_the_separator_from_the_header(project, separator, expected):
    text = LAB_CSV.replace('"hba1c, fasting"', "hba1c").replace(",", separator)
    dataset = _upload(project, "SEP", text)
    settings = _save_detected(dataset, LAB_SCHEMA)
    assert settings.get_raw()["formatParams"]["separator"] == expected
    assert [row[0] for row in dataset.iter_rows()] == ["P001", "P001", "P002", "P002"]


def test_autodetect_without_files_fails_as_on_dss(project):
    dataset = project.create_upload_dataset("EMPTY")
    with pytest.raises(DataikuException, match="Format detection failed") as failure:
        dataset.autodetect_settings()
    answer = json.loads(str(failure.value).split("complete response is ", 1)[1])
    assert answer["format"]["ok"] is False
    assert "UPLOADS.EMPTY" in answer["format"]["message"]


def test_detection_answers_a_finished_future_and_forgets_it(emulator, project):
    _upload(project, "LAB", LAB_CSV)
    answer = emulator.client()._perform_json(
        "POST",
        f"/projects/{PROJECT}/datasets/LAB/actions/testAndDetectSettings/fsLike",
        body={"detectPossibleFormats": True, "inferStorageTypes": False},
    )
    assert answer["hasResult"] is True and answer["alive"] is False
    assert answer["result"]["format"]["type"] == "csv"
    assert answer["payload"]["targets"] == [
        {"objectType": "DATASET", "projectKey": PROJECT, "objectId": "LAB", "name": "LAB"}
    ]
    with pytest.raises(DataikuException, match="No future by that id"):
        emulator.client().get_future(answer["jobId"]).get_state()


def test_a_detection_answered_unfinished_is_polled_to_the_same_result(project, monkeypatch):
    monkeypatch.setattr(upload_api, "DETECTION_WAIT_SECONDS", 0)
    settings = _upload(project, "LAB", LAB_CSV).autodetect_settings(infer_storage_types=True)
    assert [c["type"] for c in settings.get_raw()["schema"]["columns"]] == ["string", "string", "double", "boolean"]


# -- rows -------------------------------------------------------------------------------------------------------------


def test_rows_are_readable_typed_after_saving_the_settings(emulator, project):
    dataset = _upload(project, "LAB", LAB_CSV)
    _save_detected(dataset, LAB_SCHEMA)

    assert list(dataset.iter_rows()) == LAB_ROWS
    # Stored typed, as recipes see them (the client would cast text anyway).
    assert emulator.state.read_dataset(PROJECT, "LAB")[1] == LAB_ROWS
    info = dataset.get_info().get_raw()
    assert info["ready"] is True and info["records"] == 4 and "lastBuild" not in info


def test_count_records_and_files_metrics(project):
    dataset = _upload(project, "LAB", LAB_CSV)
    dataset.uploaded_add_file(io.BytesIO(b"patient_id,test_name,value,abnormal\nP003,glucose,5.1,false\n"), "z.csv")
    _save_detected(dataset, LAB_SCHEMA)

    computed = dataset.compute_metrics(metric_ids=["records:COUNT_RECORDS", "basic:COUNT_FILES"])["result"]["computed"]
    assert {m["metricId"]: m["value"] for m in computed} == {"records:COUNT_RECORDS": "5", "basic:COUNT_FILES": "2"}
    assert dataset.get_last_metric_values().get_metric_by_id("records:COUNT_RECORDS")["lastValues"][0]["value"] == "5"


def test_rows_are_re_read_when_the_schema_or_the_files_change(project):
    dataset = _upload(project, "LAB", LAB_CSV)
    _save_detected(dataset, LAB_SCHEMA)
    assert list(dataset.iter_rows())[0] == ["P001", "glucose", 5.4, False]

    dataset.set_schema({"columns": [{"name": "patient_id", "type": "string"}, {"name": "test", "type": "string"}]})
    assert list(dataset.iter_rows())[1] == ["P001", "hba1c, fasting"]

    dataset.uploaded_add_file(io.BytesIO(b"patient_id,test_name\nP005,ldl\n"), "zz.csv")
    assert [row[0] for row in dataset.iter_rows()] == ["P001", "P001", "P002", "P002", "P005"]


def test_an_uploaded_dataset_cannot_be_read_before_its_format_is_saved(project):
    dataset = _upload(project, "LAB", LAB_CSV)
    with pytest.raises(DataikuException, match="Uploaded dataset UPLOADS.LAB has no readable format"):
        list(dataset.iter_rows())
    with pytest.raises(DataikuException, match="UPLOADS.LAB"):
        dataset.compute_metrics(metric_ids=["records:COUNT_RECORDS"])


def test_a_grouping_recipe_on_an_uploaded_dataset_builds_real_rows(project):
    dataset = _upload(project, "LAB", LAB_CSV)
    _save_detected(dataset, LAB_SCHEMA)
    recipe = _group_lab_by_patient(project)
    settings = recipe.get_settings()
    payload = settings.get_json_payload()
    payload["keys"] = [{"column": "patient_id", "type": "string"}]
    payload["values"] = [{"column": "value", "type": "double", "avg": True, "max": True}]
    payload["globalCount"] = True
    settings.set_json_payload(payload)
    settings.save()
    recipe.compute_schema_updates().apply()

    assert recipe.run(no_fail=True).get_status()["baseStatus"]["state"] == "DONE"
    aggregated = project.get_dataset("LAB_AGG")
    names = [c["name"] for c in aggregated.get_schema()["columns"]]
    assert names == ["patient_id", "value_max", "value_avg", "count"]
    rows = [tuple(row) for row in aggregated.iter_rows()]
    assert rows == [("P001", 6.9, pytest.approx(6.15), 2), ("P002", 7.8, 7.8, 2)]  # P002's empty value is null

    # A new file changes the source: the smart build reruns the recipe on the new rows.
    dataset.uploaded_add_file(io.BytesIO(b"patient_id,test_name,value,abnormal\nP003,glucose,5.0,false\n"), "z.csv")
    job = project.new_job("RECURSIVE_BUILD").with_output("LAB_AGG").start_and_wait(no_fail=True)
    assert job.get_status()["baseStatus"]["state"] == "DONE"
    assert [row[0] for row in aggregated.iter_rows()] == ["P001", "P002", "P003"]


def test_deleting_the_dataset_removes_its_files(project):
    _save_detected(_upload(project, "LAB", LAB_CSV), LAB_SCHEMA)
    project.get_dataset("LAB").delete(drop_data=True)

    again = project.create_upload_dataset("LAB")
    assert again.uploaded_list_files() == []
    with pytest.raises(DataikuException, match="Uploaded dataset UPLOADS.LAB has no files"):
        list(again.iter_rows())


# -- errors -----------------------------------------------------------------------------------------------------------


def test_uploading_to_a_dataset_that_is_not_uploaded_files_is_refused(emulator, project):
    project.new_managed_dataset("MANAGED").with_store_into("filesystem_managed").create()
    with pytest.raises(
        DataikuException,
        match=f"{ILLEGAL_ARGUMENT}: .*UPLOADS.MANAGED (is of type Filesystem|is not an uploaded-files dataset)",
    ):
        project.get_dataset("MANAGED").uploaded_add_file(io.BytesIO(b"a\n1\n"), "a.csv")
    with pytest.raises(DataikuException, match="UPLOADS.MANAGED"):
        project.get_dataset("MANAGED").uploaded_list_files()

    response = _post_file(emulator, "MANAGED", {"file": ("a.csv", io.BytesIO(b"a\n1\n"))})
    assert response.status_code == 400
    assert response.json()["errorType"] == ILLEGAL_ARGUMENT
    assert "UPLOADS.MANAGED" in response.json()["message"]


def test_an_upload_without_a_file_part_is_refused(emulator, project):
    project.create_upload_dataset("LAB")
    response = _post_file(emulator, "LAB", {"attachment": ("a.csv", io.BytesIO(b"a\n1\n"))})
    assert response.status_code == 400
    body = response.json()
    assert body["errorType"] == MALFORMED
    assert "'file'" in body["message"] and "UPLOADS.LAB" in body["message"]
    with pytest.raises(DataikuException, match=re.escape(MALFORMED) + ": .*UPLOADS.LAB"):
        emulator.client()._perform_empty("POST", f"/projects/{PROJECT}/datasets/LAB/uploaded/files", body={})
    assert project.get_dataset("LAB").uploaded_list_files() == []


def test_a_file_part_without_a_name_is_refused(emulator, project):
    project.create_upload_dataset("LAB")
    response = _post_file(emulator, "LAB", {"file": (None, b"a\n1\n")})
    assert response.status_code == 400
    assert response.json()["errorType"] == MALFORMED and "UPLOADS.LAB" in response.json()["message"]


def test_a_file_that_is_not_utf8_is_refused(emulator, project):
    dataset = project.create_upload_dataset("LAB")
    latin1 = "patient_id,note\nP001,fièvre\n".encode("latin-1")
    with pytest.raises(DataikuException, match=r"latin\.csv uploaded to dataset UPLOADS\.LAB is not UTF-8"):
        dataset.uploaded_add_file(io.BytesIO(latin1), "latin.csv")
    response = _post_file(emulator, "LAB", {"file": ("latin.csv", io.BytesIO(latin1))})
    assert response.status_code == 400
    assert response.json()["errorType"] == ILLEGAL_ARGUMENT
    assert "byte 0xe8 at offset 23" in response.json()["detailedMessage"]
    assert dataset.uploaded_list_files() == []


def test_uploading_to_a_missing_dataset_is_not_found(emulator, project):
    response = _post_file(emulator, "NOPE", {"file": ("a.csv", io.BytesIO(b"a\n1\n"))})
    assert response.status_code == 404
    assert "UPLOADS.NOPE" in response.json()["message"]


def test_settings_the_emulator_cannot_read_save_but_leave_no_data(project):
    dataset = _upload(project, "LAB", LAB_CSV)
    settings = dataset.autodetect_settings()
    settings.get_raw()["formatParams"]["separator"] = "::"
    settings.save()
    assert dataset.get_settings().get_raw()["formatParams"]["separator"] == "::"
    with pytest.raises(DataikuException, match="UPLOADS.LAB has no readable format"):
        list(dataset.iter_rows())

    _save_detected(dataset, LAB_SCHEMA)
    assert list(dataset.iter_rows()) == LAB_ROWS


def test_detection_on_a_managed_dataset_answers_its_own_settings(project):
    _save_detected(_upload(project, "LAB", LAB_CSV), LAB_SCHEMA)
    recipe = project.new_recipe("sync", "copy_LAB").with_input("LAB").with_new_output("LAB_COPY", "filesystem_managed")
    recipe = recipe.create()
    recipe.compute_schema_updates().apply()
    copy = project.get_dataset("LAB_COPY")
    with pytest.raises(DataikuException, match="No files found in dataset UPLOADS.LAB_COPY"):
        copy.autodetect_settings()

    assert recipe.run(no_fail=True).get_status()["baseStatus"]["state"] == "DONE"
    before = copy.get_settings().get_raw()
    detected = copy.autodetect_settings().get_raw()
    assert (detected["formatType"], detected["formatParams"]) == (before["formatType"], before["formatParams"])
    assert detected["schema"]["columns"] == LAB_SCHEMA


def test_detection_on_a_sql_dataset_is_refused(emulator, project):
    project.create_dataset("SQL", "PostgreSQL", params={"connection": "pg"})
    with pytest.raises(
        DataikuException,
        match=re.escape(ILLEGAL_ARGUMENT) + ": Dataset UPLOADS.SQL (is of type PostgreSQL|is not a files-based)",
    ):
        emulator.client()._perform_json(
            "POST", f"/projects/{PROJECT}/datasets/SQL/actions/testAndDetectSettings/fsLike", body={}
        )


def test_a_grouping_created_with_a_group_key_groups_by_it_and_counts(project):
    _save_detected(_upload(project, "LAB", LAB_CSV), LAB_SCHEMA)
    recipe = _group_lab_by_patient(project)
    payload = recipe.get_settings().get_json_payload()
    assert payload["keys"] == [{"column": "patient_id", "type": "string"}]
    assert [v["column"] for v in payload["values"]] == ["test_name", "value", "abnormal"]
    assert not any(flag for v in payload["values"] for k, flag in v.items() if k not in ("column", "type"))
    assert payload["globalCount"] is True
    # The output schema DSS would compute from it: the key and the row count.
    assert [c["name"] for c in project.get_dataset("LAB_AGG").get_schema()["columns"]] == ["patient_id", "count"]
    assert recipe.run(no_fail=True).get_status()["baseStatus"]["state"] == "DONE"
    assert [tuple(row) for row in project.get_dataset("LAB_AGG").iter_rows()] == [("P001", 2), ("P002", 2)]


def test_a_recipe_reading_an_uploaded_dataset_without_a_format_fails_naming_the_fix(project):
    _upload(project, "LAB", LAB_CSV)  # uploaded, but its detected format never saved
    recipe = project.new_recipe("sync", "sync_LAB").with_input("LAB").with_new_output("LAB_COPY", "filesystem_managed")
    recipe = recipe.create()
    status = recipe.run(no_fail=True).get_status()
    assert status["baseStatus"]["state"] == "FAILED"
    failure = status["baseStatus"]["activities"]
    message = next(iter(failure.values()))["firstFailure"]["message"]
    assert "uploaded dataset has no readable format" in message
    assert "save its detected format" in message and "never built" not in message
