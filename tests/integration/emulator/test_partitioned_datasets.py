"""Partitioned datasets and partitioned builds, through the real ``dataikuapi`` client (examples/flows/partitioned.json)."""

from __future__ import annotations

import pytest

from dss_emulator import EmulatedDSS
from tests.reliability.harness import fast_example_flow


@pytest.fixture
def project():
    with EmulatedDSS.start(flows=[fast_example_flow("partitioned")]) as dss:
        yield dss.client().get_project("DAILY")


def _activities(job) -> dict:
    return job.get_status()["baseStatus"]["activities"]


def test_partitioned_dataset_settings_list_and_partitions(project):
    items = {item["name"]: item for item in project.list_datasets()}
    dimensions = items["ORDERS"]["partitioning"]["dimensions"]
    assert dimensions == [{"name": "day", "type": "time", "params": {"period": "DAY"}}]
    assert items["ORDERS"]["partitioning"]["filePathPattern"] == "%Y/%M/%D/.*"
    assert items["STORES"]["partitioning"]["dimensions"] == []
    settings = project.get_dataset("ORDERS").get_settings().get_raw()
    assert settings["partitioning"]["dimensions"] == dimensions
    assert project.get_dataset("ORDERS").list_partitions() == ["2026-12-05", "2026-12-06"]
    assert project.get_dataset("ORDERS_CLEAN").list_partitions() == []
    rows = list(project.get_dataset("ORDERS").iter_rows(partitions="2026-12-06"))
    assert rows == [["O4", "lyon", 2.0], ["O5", "lyon", 3.0]]
    assert len(list(project.get_dataset("ORDERS").iter_rows())) == 5


def test_building_one_partition_runs_one_activity_per_recipe_and_partition(project):
    job = project.new_job("RECURSIVE_FORCED_BUILD").with_output("ORDERS_BY_STORE", partition="2026-12-05")
    job = job.start_and_wait()
    activities = _activities(job)
    assert set(activities) == {"sync_ORDERS_CLEAN_2026-12-05", "group_ORDERS_BY_STORE_2026-12-05"}
    group = activities["group_ORDERS_BY_STORE_2026-12-05"]
    assert group["dependencies"] == ["sync_ORDERS_CLEAN_2026-12-05"]
    assert group["targets"][0]["partition"] == {"id": "2026-12-05"}
    out = project.get_dataset("ORDERS_BY_STORE")
    assert out.list_partitions() == ["2026-12-05"]
    assert sorted(out.iter_rows(partitions="2026-12-05")) == [["lyon", 7.5, 1], ["paris", 15.0, 2]]


def test_a_list_and_a_range_of_partitions(project):
    job = project.new_job("NON_RECURSIVE_FORCED_BUILD").with_output("ORDERS_CLEAN", partition="2026-12-05,2026-12-06")
    job.start_and_wait()
    assert project.get_dataset("ORDERS_CLEAN").list_partitions() == ["2026-12-05", "2026-12-06"]
    job = project.new_job("NON_RECURSIVE_FORCED_BUILD").with_output(
        "ORDERS_BY_STORE", partition="2026-12-05/2026-12-06"
    )
    job = job.start_and_wait()
    assert set(_activities(job)) == {"group_ORDERS_BY_STORE_2026-12-05", "group_ORDERS_BY_STORE_2026-12-06"}
    assert list(project.get_dataset("ORDERS_BY_STORE").iter_rows(partitions="2026-12-06")) == [["lyon", 5.0, 2]]
    project.get_dataset("ORDERS_CLEAN").clear(partitions="2026-12-05")
    assert project.get_dataset("ORDERS_CLEAN").list_partitions() == ["2026-12-06"]


def test_a_partitioned_output_without_partition_fails_naming_the_dataset(project):
    job = project.new_job("NON_RECURSIVE_FORCED_BUILD").with_output("ORDERS_CLEAN").start_and_wait(no_fail=True)
    status = job.get_status()["baseStatus"]
    assert status["state"] == "FAILED"
    failure = status["activities"]["sync_ORDERS_CLEAN_NP"]["firstFailure"]
    assert "DAILY.ORDERS_CLEAN is partitioned" in failure["message"]
    assert "partition" in failure["message"] and "must be specified" in failure["message"]
    assert project.get_dataset("ORDERS_CLEAN").list_partitions() == []


def test_a_partition_of_an_unpartitioned_output_is_ignored(project):
    job = project.new_job("NON_RECURSIVE_FORCED_BUILD").with_output("STORES_COPY", partition="2026-12-05")
    job = job.start_and_wait()
    assert list(_activities(job)) == ["sync_STORES_COPY_NP"]
    assert len(list(project.get_dataset("STORES_COPY").iter_rows())) == 2


def test_a_missing_input_partition_fails_its_activity(project):
    job = project.new_job("NON_RECURSIVE_FORCED_BUILD").with_output("ORDERS_CLEAN", partition="2026-12-07")
    status = job.start_and_wait(no_fail=True).get_status()["baseStatus"]
    assert status["state"] == "FAILED"
    message = status["activities"]["sync_ORDERS_CLEAN_2026-12-07"]["firstFailure"]["message"]
    assert "DAILY.ORDERS" in message and "2026-12-07" in message
