"""The build engine on a day-partitioned Flow (examples/flows/partitioned.json), through the real client: one
partition per run, job outputs carrying the partition, the run record and reports naming it, resume keeping it."""

from __future__ import annotations

import pytest
from flow_orchestrator.config import BuildConfig, Selection
from flow_orchestrator.errors import ConfigError
from flow_orchestrator.pipeline import run_build
from flow_orchestrator.record import validate_record
from flow_orchestrator.report.html import render_build_report

from dss_emulator import EmulatedDSS
from tests.reliability.harness import fast_example_flow, gateway_for, run_options

pytestmark = pytest.mark.emulator_only

DAILY = "DAILY"


@pytest.fixture
def dss():
    with EmulatedDSS.start(flows=[fast_example_flow("partitioned")]) as emulator:
        yield emulator


def _config(partitions=None, **fields) -> BuildConfig:
    return BuildConfig(
        selection=Selection(all=True),
        options=run_options(build_mode="NON_RECURSIVE_FORCED_BUILD", partitions=partitions),
        **fields,
    )


def _job_outputs(dss) -> dict:
    """Recipe name → the outputs (with their partitions) each job of the project asked for."""
    found = {}
    for job in dss.client().get_project(DAILY).list_jobs():
        for activity in dss.scheduler.get_job(DAILY, job["def"]["id"]).activities.values():
            found.setdefault(activity.recipe_name, []).append(activity.id)
    return found


def test_two_nightly_runs_build_one_partition_each(dss):
    gateway = gateway_for(dss, DAILY)
    first = run_build(gateway, _config("2026-12-05"))
    assert first.state == "SUCCESS", first.to_dict()
    second = run_build(gateway_for(dss, DAILY), _config("2026-12-06"))
    assert second.state == "SUCCESS"
    project = dss.client().get_project(DAILY)
    out = project.get_dataset("ORDERS_BY_STORE")
    assert out.list_partitions() == ["2026-12-05", "2026-12-06"]
    assert sorted(out.iter_rows(partitions="2026-12-05")) == [["lyon", 7.5, 1], ["paris", 15.0, 2]]
    assert list(out.iter_rows(partitions="2026-12-06")) == [["lyon", 5.0, 2]]
    assert project.get_dataset("ORDERS_CLEAN").list_partitions() == ["2026-12-05", "2026-12-06"]
    assert len(list(project.get_dataset("STORES_COPY").iter_rows())) == 2  # unpartitioned: built whole

    activities = _job_outputs(dss)
    assert sorted(activities["group_ORDERS_BY_STORE"]) == [
        "group_ORDERS_BY_STORE_2026-12-05",
        "group_ORDERS_BY_STORE_2026-12-06",
    ]
    assert activities["sync_STORES_COPY"] == ["sync_STORES_COPY_NP", "sync_STORES_COPY_NP"]

    record = second.to_dict()
    validate_record(record)
    assert record["config"]["partitions"] == "2026-12-06"
    by_name = {r["name"]: r for r in record["recipes"]}
    assert by_name["group_ORDERS_BY_STORE"]["partitions"] == "2026-12-06"
    assert by_name["sync_ORDERS_CLEAN"]["partitions"] == "2026-12-06"
    assert "partitions" not in by_name["sync_STORES_COPY"]
    html = render_build_report(record)
    assert "Partitions" in html and "ORDERS_BY_STORE (partitions 2026-12-06)" in html


def test_job_definitions_carry_the_partition_on_partitioned_outputs_only(dss):
    run_build(gateway_for(dss, DAILY), _config("2026-12-05,2026-12-06"))
    stored = {}
    for job in dss.client().get_project(DAILY).list_jobs():
        for output in job["def"]["outputs"]:
            stored[output["targetDataset"]] = output["targetPartition"]
    assert stored == {
        "ORDERS_CLEAN": "2026-12-05,2026-12-06",
        "ORDERS_BY_STORE": "2026-12-05,2026-12-06",
        "STORES_COPY": "NP",
    }
    assert dss.client().get_project(DAILY).get_dataset("ORDERS_BY_STORE").list_partitions() == [
        "2026-12-05",
        "2026-12-06",
    ]


def test_without_partitions_nothing_starts_and_the_error_names_the_datasets(dss):
    with pytest.raises(ConfigError) as caught:
        run_build(gateway_for(dss, DAILY), _config(None))
    message = str(caught.value)
    assert "partitions" in message and "ORDERS_CLEAN" in message and "ORDERS_BY_STORE" in message
    assert dss.job_starts(DAILY) == 0


def test_a_dry_run_shows_the_partitions_per_recipe(dss):
    record = run_build(gateway_for(dss, DAILY), _config("2026-12-05", dry_run=True)).to_dict()
    assert {r["name"]: r.get("partitions") for r in record["recipes"]} == {
        "sync_ORDERS_CLEAN": "2026-12-05",
        "group_ORDERS_BY_STORE": "2026-12-05",
        "sync_STORES_COPY": None,
    }
    assert dss.job_starts(DAILY) == 0


def test_resume_keeps_the_partitions_of_the_resumed_run(dss):
    dss.fail_recipe(DAILY, "group_ORDERS_BY_STORE", "disk full")
    failed = run_build(gateway_for(dss, DAILY), _config("2026-12-06")).to_dict()
    assert failed["state"] == "FAILED"
    dss.clear_faults()
    resumed = run_build(gateway_for(dss, DAILY), _config(None, resume_last_run=True), previous_record=failed).to_dict()
    assert resumed["state"] == "SUCCESS"
    assert resumed["config"]["partitions"] == "2026-12-06"
    assert [r["name"] for r in resumed["recipes"] if r["state"] == "SUCCESS"] == ["group_ORDERS_BY_STORE"]
    assert dss.client().get_project(DAILY).get_dataset("ORDERS_BY_STORE").list_partitions() == ["2026-12-06"]


def test_partitioning_missing_from_list_items_is_read_from_the_planned_outputs_settings(dss, monkeypatch):
    """Some DSS versions may answer shorter dataset list items: the planned outputs' own settings then tell."""
    gateway = gateway_for(dss, DAILY)
    full = gateway.list_datasets()
    short = [{k: v for k, v in item.items() if k != "partitioning"} for item in full]
    monkeypatch.setattr(gateway, "list_datasets", lambda: short)
    monkeypatch.setattr(gateway, "dataset_partitionings", lambda: [{"name": item["name"]} for item in short])
    expected = {item["name"] for item in full if (item.get("partitioning") or {}).get("dimensions")}
    assert expected and "ORDERS_BY_STORE" in expected

    assert set(gateway.partitioned_datasets(["ORDERS_BY_STORE"])) == {"ORDERS_BY_STORE"}
    assert gateway.partitioned_datasets([]) == {}  # nothing asked, nothing read
    record = run_build(gateway, _config("2026-12-05"))
    assert record.state == "SUCCESS", record.to_dict()
    assert dss.client().get_project(DAILY).get_dataset("ORDERS_BY_STORE").list_partitions() == ["2026-12-05"]


def test_verification_counts_the_partitions_the_run_built(dss):
    """DSS keeps metrics per partition: 'at least 3 rows' is judged on the day built (2 rows), not on ALL (5)."""
    gateway = gateway_for(dss, DAILY)
    assert run_build(gateway, _config("2026-12-05")).state == "SUCCESS"
    spec = '{"version": 1, "datasets": {"ORDERS_CLEAN": {"min_rows": 3}}}'
    config = _config("2026-12-06", verify_after_build=True, expectations=spec)
    record = run_build(gateway_for(dss, DAILY), config).to_dict()
    [check] = [
        r for r in record["verification"]["results"] if (r["dataset"], r["kind"]) == ("ORDERS_CLEAN", "min_rows")
    ]
    assert check["status"] == "failed" and "2" in check["message"], check
    assert any("partitions this run built (2026-12-06)" in note for note in record["verification"]["notes"])
