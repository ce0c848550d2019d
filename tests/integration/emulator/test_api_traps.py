"""The traps of dataikuapi-surface.md §10, each checked on the wire or through the real client."""

from __future__ import annotations

import base64
import http.client
import json

import dataikuapi
import pytest
import requests
from dataikuapi.utils import DataikuException


def _raw(dss, method, path, body=None, headers=None, key=None):
    """One request with http.client, so nothing adds a Content-Type or fixes the path for us."""
    connection = http.client.HTTPConnection("127.0.0.1", dss.port, timeout=10)
    auth = base64.b64encode(("%s:" % (key or dss.api_key)).encode()).decode()
    all_headers = {"Authorization": "Basic " + auth}
    all_headers.update(headers or {})
    connection.request(method, path, body=body, headers=all_headers)
    response = connection.getresponse()
    data = response.read()
    result = (response.status, dict(response.getheaders()), data)
    connection.close()
    return result


def test_both_prefixes_and_both_slash_forms(dss):
    for path in (
        "/dip/publicapi/projects/",
        "/dip/publicapi/projects",
        "/public/api/projects/",
        "/public/api/projects",
        "//dip/publicapi/projects/",
        "/dip/publicapi/projects/CLINICAL/",
        "/dip/publicapi/projects/CLINICAL/flow/graph",
        "/dip/publicapi/projects/CLINICAL/variables",
    ):
        status, _, _ = _raw(dss, "GET", path)
        assert status == 200, path


def test_host_with_trailing_slash_sends_double_slash(dss):
    client = dataikuapi.DSSClient(dss.url + "/", dss.api_key)
    assert "CLINICAL" in client.list_project_keys()


def test_body_without_content_type_is_json(dss):
    project = dss.client().get_project("CLINICAL")
    original = project.get_variables()
    body = json.dumps({"standard": {"threshold": 3}, "local": {}})
    status, _, _ = _raw(dss, "PUT", "/dip/publicapi/projects/CLINICAL/variables/", body=body)
    assert status == 200
    assert project.get_variables()["standard"] == {"threshold": 3}
    project.set_variables(original)
    assert project.get_variables() == original


def test_json_mode_writes_answer_json(project):
    dataset = project.get_dataset("LAB_RESULTS")
    assert isinstance(dataset.set_schema(dataset.get_schema()), dict)
    assert isinstance(dataset.set_metadata(dataset.get_metadata()), dict)
    recipe = project.get_recipe("group_LAB_RESULTS_AGG")
    assert isinstance(recipe.set_metadata(recipe.get_metadata()), dict)
    assert isinstance(recipe.get_settings().save(), dict)


def test_error_objects_carry_dss_error_types(project, dss):
    with pytest.raises(DataikuException) as raised:
        project.get_dataset("NOPE").get_settings()
    assert str(raised.value) == (
        "com.dataiku.dip.server.controllers.NotFoundException: dataset does not exist: CLINICAL.NOPE"
    )
    status, headers, data = _raw(dss, "GET", "/dip/publicapi/projects/CLINICAL/datasets/NOPE")
    assert status == 404
    body = json.loads(data)
    assert set(body) >= {"errorType", "message", "detailedMessage"}
    assert headers["Content-Type"].startswith("application/json")
    assert project.get_dataset("NOPE").exists() is False


def test_unknown_project_and_unknown_job(dss):
    with pytest.raises(DataikuException, match="UnauthorizedException: Failed to read project permissions"):
        dss.client().get_project("NOPE").get_summary()
    with pytest.raises(DataikuException, match="NotFoundException: Job not found"):
        dss.client().get_project("CLINICAL").get_job("build_x_NP_2020-01-01T00-00-00.000").get_status()


def test_job_log_is_utf8_text_without_a_charset(dss, project):
    """As DSS sends it: ``text/plain`` with no charset, UTF-8 bytes (a client must not guess ISO-8859-1)."""
    dss.fail_recipe("CLINICAL", "group_LAB_RESULTS_AGG", "valeur illisible: héllo ✓", times=1)
    job = project.get_recipe("group_LAB_RESULTS_AGG").run(no_fail=True)
    status, headers, data = _raw(dss, "GET", f"/dip/publicapi/projects/CLINICAL/jobs/{job.id}/log")
    assert status == 200 and headers["Content-Type"] == "text/plain"
    assert "héllo ✓" in data.decode("utf-8")


def test_log_of_one_activity(project):
    job = project.get_recipe("group_LAB_RESULTS_AGG").run()
    log = job.get_log(activity="group_LAB_RESULTS_AGG_NP")
    assert "running group_LAB_RESULTS_AGG_NP - Activity is successful" in log
    assert "Computing job" not in log
    with pytest.raises(DataikuException, match="File does not exist"):
        job.get_log(activity="nope_NP")


def test_non_ascii_names_are_percent_decoded(dss):
    client = dss.client()
    client.create_project("NONASCII", "Non ASCII", "admin")
    project = client.get_project("NONASCII")
    project.create_dataset("données_été", "Filesystem", params={"connection": "filesystem_managed"})
    assert [d["name"] for d in project.list_datasets()] == ["données_été"]
    assert project.get_dataset("données_été").get_settings().get_raw()["name"] == "données_été"
    project.delete()


def test_query_booleans_true_false(dss):
    status, _, data = _raw(dss, "GET", "/dip/publicapi/projects/?includeLocation=False")
    assert status == 200 and json.loads(data)
    status, _, _ = _raw(dss, "GET", "/dip/publicapi/projects/CLINICAL/datasets/?foreign=True&tags=source")
    assert status == 200


def test_job_outputs_with_explicit_nulls_and_dataset_build(project):
    job_id = project.start_job(
        {
            "type": "NON_RECURSIVE_FORCED_BUILD",
            "outputs": [{"type": None, "id": "LAB_RESULTS_AGG", "projectKey": None, "partition": None}],
        }
    ).id
    assert "/" not in job_id and "#" not in job_id and "?" not in job_id
    assert job_id.startswith("build_LAB_RESULTS_AGG_NP_")
    assert project.get_dataset("LAB_RESULTS_AGG").build().get_status()["baseStatus"]["state"] == "DONE"


def test_start_job_and_wait_returns_state_string(dss, project):
    dss.fail_recipe("CLINICAL", "group_LAB_RESULTS_AGG", "nope", times=1)
    state = project.start_job_and_wait(
        {"type": "NON_RECURSIVE_FORCED_BUILD", "outputs": [{"id": "LAB_RESULTS_AGG"}]}, no_fail=True
    )
    assert state == "FAILED"


def test_job_definition_errors(project):
    with pytest.raises(DataikuException, match="outputs is null"):
        project.start_job({"type": "NON_RECURSIVE_FORCED_BUILD"})
    with pytest.raises(DataikuException, match="id in output is null"):
        project.start_job({"outputs": [{"id": ""}]})
    with pytest.raises(DataikuException, match="dataset does not exist: CLINICAL.NOPE"):
        project.start_job({"outputs": [{"id": "NOPE"}]})


def test_deterministic_errors_answer_500_with_their_error_type(dss):
    """DSS answers illegal arguments and unknown objects in a job definition with HTTP 500 and an errorType."""
    for body, error_type in (
        ({"outputs": [{"id": "NOPE"}]}, "com.dataiku.dip.server.controllers.NotFoundException"),
        ({"outputs": [{"id": ""}]}, "java.lang.IllegalArgumentException"),
    ):
        status, _, data = _raw(dss, "POST", "/dip/publicapi/projects/CLINICAL/jobs/", json.dumps(body))
        assert (status, json.loads(data)["errorType"]) == (500, error_type)
    status, _, data = _raw(dss, "GET", "/dip/publicapi/futures/nosuchfuture")
    assert (status, json.loads(data)["errorType"]) == (500, "java.lang.IllegalArgumentException")


def test_recipe_run_uses_first_successor_dataset(project):
    graph = project.get_flow().get_graph()
    node = graph.nodes["join_ML_TRAINING_DATA"]
    assert node["successors"] == ["ML_TRAINING_DATA"]
    assert node["predecessors"] == ["LAB_RESULTS_AGG", "CLINICAL_NOTES_AGG"]
    assert [d.dataset_name for d in graph.get_source_datasets()] == ["LAB_RESULTS", "CLINICAL_NOTES"]
    order = [n["ref"] for n in graph.get_items_in_traversal_order()]
    assert (
        order.index("group_LAB_RESULTS_AGG") < order.index("join_ML_TRAINING_DATA") < order.index("train_MODEL_SCORES")
    )
    for key, value in graph.nodes.items():
        assert value["ref"] == key
        for other in value["predecessors"] + value["successors"]:
            assert other in graph.nodes


def test_iter_rows_is_streamed_without_gzip(dss, project, build_all):
    build_all(project)
    response = requests.get(
        dss.url + "/dip/publicapi/projects/CLINICAL/datasets/LAB_RESULTS/data/",
        params={"format": "tsv-excel-noheader"},
        auth=(dss.api_key, ""),
        stream=True,
        headers={"Accept-Encoding": "gzip, deflate"},
    )
    assert response.status_code == 200
    assert "Content-Encoding" not in response.headers
    assert response.headers.get("Transfer-Encoding") == "chunked"
    lines = response.raw.read().decode("utf-8").splitlines()
    assert len(lines) == 300


def test_keep_alive_session_survives_many_calls(dss):
    session = requests.Session()
    session.auth = (dss.api_key, "")
    for _ in range(30):
        assert session.get(dss.url + "/dip/publicapi/projects/CLINICAL/variables/").status_code == 200
    assert session.get(dss.url + "/dip/publicapi/projects/CLINICAL/datasets/NOPE").status_code == 404
    assert session.get(dss.url + "/dip/publicapi/projects/").status_code == 200


def test_futures_polling_peek_and_removal(dss, project):
    propagation = project.get_flow().new_schema_propagation("LAB_RESULTS")
    propagation.set_auto_rebuild(False)
    future_id = propagation.start().job_id
    assert future_id
    with dss.state.lock:
        assert dss.state.changed.wait_for(lambda: not dss.state.futures[future_id].alive, 10)
    handle = dss.client().get_future(future_id)
    peeked = handle.peek_state()
    assert peeked["hasResult"] is True and "result" not in peeked  # a peek answers the progress, never the result
    assert handle.peek_state()["hasResult"] is True  # peeking keeps it
    assert handle.get_state()["result"]["success"] is True  # a non-peek read of a finished future removes it
    with pytest.raises(DataikuException, match="No future by that id"):
        handle.get_state()


def test_metrics_records_count(project):
    dataset = project.get_dataset("LAB_RESULTS")
    report = dataset.compute_metrics()
    assert {"metricId": "records:COUNT_RECORDS", "value": "300", "dataType": "BIGINT"} in report["result"]["computed"]
    assert dataset.get_last_metric_values().get_global_value("records:COUNT_RECORDS") == 300


def test_list_jobs_and_running(project):
    project.get_recipe("group_LAB_RESULTS_AGG").run()
    jobs = project.list_jobs()
    assert jobs[0]["state"] == "DONE"
    if hasattr(jobs[0], "job_id"):  # list items are objects from client 12.1 on, plain dicts in 12.0
        assert jobs[0].job_id == jobs[0]["def"]["id"]
    if hasattr(project.client, "list_running_jobs"):  # absent from client 12.0
        assert isinstance(project.client.list_running_jobs(), list)
