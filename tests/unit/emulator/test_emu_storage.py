"""DatasetStorage keeps rows faithfully, per (project, dataset), across threads."""

from __future__ import annotations

import math
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dss_emulator.storage import DatasetStorage

COLUMNS = [{"name": "id", "type": "string"}, {"name": "value", "type": "double"}, {"name": "flag", "type": "boolean"}]


def test_round_trip_keeps_values_order_and_types():
    storage = DatasetStorage()
    rows = [["P001", 4.2, True], ["Pé-ü 北京", None, False], [None, -0.5, None], ["big", 2**70, True]]
    storage.write("PROJ", "LAB", COLUMNS, rows)
    columns, read = storage.read("PROJ", "LAB")
    assert columns == COLUMNS
    assert read == rows
    assert [type(v) for v in read[0]] == [str, float, bool]
    assert read[3][1] == 2**70
    assert storage.count("PROJ", "LAB") == 4


def test_complex_values_and_nan_survive():
    storage = DatasetStorage()
    storage.write(
        "P",
        "d",
        [{"name": "a", "type": "array"}, {"name": "f", "type": "double"}],
        [[[1, "x", None], float("nan")], [{"k": [1, 2]}, float("inf")]],
    )
    _, rows = storage.read("P", "d")
    assert rows[0][0] == [1, "x", None] and math.isnan(rows[0][1])
    assert rows[1] == [{"k": [1, 2]}, float("inf")]


def test_unknown_dataset_reads_empty_and_has_no_data():
    storage = DatasetStorage()
    assert storage.read("P", "missing") == ([], [])
    assert storage.count("P", "missing") == 0
    assert not storage.has_data("P", "missing")


def test_write_replaces_contents_and_schema():
    storage = DatasetStorage()
    storage.write("P", "d", COLUMNS, [["a", 1.0, True]] * 5)
    storage.write("P", "d", [{"name": "only", "type": "int"}], [[1], [2]])
    assert storage.read("P", "d") == ([{"name": "only", "type": "int"}], [[1], [2]])
    assert storage.count("P", "d") == 2


def test_zero_rows_is_data_and_clear_forgets_it():
    storage = DatasetStorage()
    storage.write("P", "empty", COLUMNS, [])
    assert storage.has_data("P", "empty")
    assert storage.read("P", "empty") == (COLUMNS, [])
    storage.clear("P", "empty")
    assert not storage.has_data("P", "empty")
    storage.clear("P", "empty")  # clearing twice is harmless


def test_projects_are_separate():
    storage = DatasetStorage()
    storage.write("A", "d", COLUMNS, [["a", 1.0, True]])
    storage.write("B", "d", COLUMNS, [["b", 2.0, False], ["c", 3.0, True]])
    assert storage.count("A", "d") == 1 and storage.count("B", "d") == 2
    storage.clear_project("A")
    assert not storage.has_data("A", "d") and storage.has_data("B", "d")
    assert storage.datasets("B") == ["d"]


def test_row_width_mismatch_is_refused_and_previous_data_kept():
    storage = DatasetStorage()
    storage.write("P", "d", COLUMNS, [["a", 1.0, True]])
    with pytest.raises(ValueError, match="row 1 of dataset P.d has 2 values but the schema has 3 columns"):
        storage.write("P", "d", COLUMNS, [["a", 1.0, True], ["b", 2.0]])
    assert storage.count("P", "d") == 1


def test_schema_without_columns():
    storage = DatasetStorage()
    storage.write("P", "nocols", [], [[], []])
    assert storage.read("P", "nocols") == ([], [[], []])


def test_many_datasets():
    storage = DatasetStorage()
    for number in range(500):
        storage.write("BIG", f"ds{number:04d}", COLUMNS, [[f"k{i}", float(i), i % 2 == 0] for i in range(6)])
    assert len(storage.datasets("BIG")) == 500
    assert storage.read("BIG", "ds0499")[1][5] == ["k5", 5.0, False]


def test_datasets_of_one_width_share_a_table_but_not_rows():
    storage = DatasetStorage()
    storage.write("P", "a", COLUMNS, [["a1", 1.0, True], ["a2", 2.0, False]])
    storage.write("P", "b", COLUMNS, [["b1", 3.0, True]], partition="2026-01-01")
    storage.write("P", "a", COLUMNS, [["a3", 3.0, True]])  # rewritten after b's rows: a's are still a's, in order
    storage.write("P", "b", COLUMNS, [["b0", 0.0, False], ["b9", 9.0, True]], partition="2025-12-31")
    assert storage.read("P", "a")[1] == [["a3", 3.0, True]]
    assert storage.read("P", "b")[1] == [["b0", 0.0, False], ["b9", 9.0, True], ["b1", 3.0, True]]
    storage.clear("P", "b", ["2025-12-31"])
    assert storage.read("P", "b")[1] == [["b1", 3.0, True]] and storage.count("P", "a") == 1


def test_a_failed_write_of_a_new_width_leaves_storage_usable():
    storage = DatasetStorage()
    wide = [{"name": f"c{i}", "type": "string"} for i in range(5)]
    with pytest.raises(UnicodeEncodeError):  # SQLite cannot take a lone surrogate: the write is rolled back
        storage.write("P", "w", wide, [["x", "y", "z", "u", "\ud800"]])
    assert not storage.has_data("P", "w")
    storage.write("P", "w", wide, [["1", "2", "3", "4", "5"]])
    assert storage.read("P", "w")[1] == [["1", "2", "3", "4", "5"]]


def test_concurrent_writers_and_readers():
    storage = DatasetStorage()
    start = threading.Barrier(8)
    errors = []

    def work(worker: int) -> None:
        try:
            start.wait()
            for round_number in range(30):
                rows = [[f"w{worker}", float(round_number), True]] * (round_number % 5)
                storage.write("P", f"d{worker}", COLUMNS, rows)
                columns, read = storage.read("P", f"d{worker}")
                assert read == rows
        except Exception as error:  # collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(storage.datasets("P")) == [f"d{n}" for n in range(8)]


scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text())


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.lists(scalar, min_size=3, max_size=3), max_size=8))
def test_any_json_scalar_round_trips(rows):
    storage = DatasetStorage()
    storage.write("P", "d", COLUMNS, rows)
    read = storage.read("P", "d")[1]
    assert read == rows
    assert [[type(v) for v in row] for row in read] == [[type(v) for v in row] for row in rows]
