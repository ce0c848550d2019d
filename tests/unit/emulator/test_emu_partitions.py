"""Partitioned datasets in the emulator: rows per partition in storage, flow-file validation, partition specs."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from dss_emulator.execution.scheduler import expand_partition
from dss_emulator.flowfile import FlowFileError, load_flow
from dss_emulator.state import partitioning_json
from dss_emulator.storage import DatasetStorage

COLUMNS = [{"name": "id", "type": "string"}, {"name": "n", "type": "int"}]
DAY = [{"name": "day", "type": "time", "params": {"period": "DAY"}}]
FLOW = json.loads((Path(__file__).resolve().parents[3] / "examples" / "flows" / "partitioned.json").read_text())


def test_partitions_are_stored_read_counted_and_cleared_one_by_one():
    storage = DatasetStorage()
    storage.write("P", "d", COLUMNS, [["a", 1]], "2026-12-06")
    storage.write("P", "d", COLUMNS, [["b", 2], ["c", 3]], "2026-12-05")
    assert storage.partitions("P", "d") == ["2026-12-05", "2026-12-06"]
    assert storage.read("P", "d", ["2026-12-06"]) == (COLUMNS, [["a", 1]])
    assert storage.read("P", "d")[1] == [["b", 2], ["c", 3], ["a", 1]]  # partitions in id order
    assert storage.count("P", "d") == 3 and storage.count("P", "d", ["2026-12-05"]) == 2
    assert storage.has_data("P", "d", "2026-12-05") and not storage.has_data("P", "d", "2026-12-07")
    storage.write("P", "d", COLUMNS, [["z", 9]], "2026-12-05")  # rebuilding a partition replaces only it
    assert storage.read("P", "d")[1] == [["z", 9], ["a", 1]]
    storage.clear("P", "d", ["2026-12-05"])
    assert storage.partitions("P", "d") == ["2026-12-06"]
    assert storage.datasets("P") == ["d"]
    storage.clear("P", "d")
    assert not storage.has_data("P", "d")


def test_writing_a_whole_dataset_replaces_every_partition():
    storage = DatasetStorage()
    storage.write("P", "d", COLUMNS, [["a", 1]], "2026-12-06")
    storage.write("P", "d", COLUMNS, [["b", 2]])
    assert storage.partitions("P", "d") == [] and storage.read("P", "d")[1] == [["b", 2]]


def test_partitioning_as_dss_shows_it():
    assert partitioning_json("Filesystem", DAY)["filePathPattern"] == "%Y/%M/%D/.*"
    assert partitioning_json("Filesystem", [{"name": "country", "type": "value"}])["filePathPattern"] == (
        "%{country}/.*"
    )
    assert "filePathPattern" not in partitioning_json("PostgreSQL", DAY)
    assert partitioning_json("Filesystem", [])["dimensions"] == []


def test_ranges_of_days_expand_and_other_items_stay_ids():
    assert expand_partition("2026-11-30/2026-12-02", DAY) == ["2026-11-30", "2026-12-01", "2026-12-02"]
    assert expand_partition("2026-12-05", DAY) == ["2026-12-05"]
    assert expand_partition("FR/DE", [{"name": "c", "type": "value"}]) == ["FR/DE"]


def test_the_example_partitioned_flow_loads():
    flow = load_flow(copy.deepcopy(FLOW))
    orders = next(d for d in flow["datasets"] if d["name"] == "ORDERS")
    assert sorted(orders["partitions"]) == ["2026-12-05", "2026-12-06"] and orders["rows"] is None


def _problems(mutate) -> str:
    flow = copy.deepcopy(FLOW)
    mutate(flow)
    with pytest.raises(FlowFileError) as caught:
        load_flow(flow)
    return str(caught.value)


def test_partitioned_sources_take_rows_per_partition_only():
    message = _problems(lambda f: f["datasets"][0].update(rows=[["O9", "paris", 1.0]]))
    assert "datasets[0].rows" in message and "per partition" in message


def test_partition_ids_must_match_the_dimensions():
    message = _problems(lambda f: f["datasets"][0]["partitions"].update({"12/05/2026": []}))
    assert "12/05/2026" in message and "DAY" in message


def test_rows_per_partition_need_partitioning_and_partitioned_outputs_are_not_built_at_load():
    message = _problems(lambda f: f["datasets"][1].update(partitions={"x": [["a", "b"]]}))
    assert "datasets[1].partitions" in message and "partitioning" in message
    message = _problems(lambda f: f["datasets"][2].update(built=True))
    assert "datasets[2].built" in message and "ORDERS_CLEAN is a partitioned output" in message
