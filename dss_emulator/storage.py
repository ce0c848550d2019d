"""Rows of the emulated datasets, kept in one in-memory SQLite database.

A catalog table has one entry per stored dataset (keyed by project key and name), one per partition for a partitioned
dataset, with the columns the rows were written with; the rows live in one table per row width (``rows_<width>``),
tagged with their entry. Not a table per dataset: SQLite's schema changes cost O(tables), so creating one per build
made every job slower as the instance grew (4.5 ms a write at 20,000 datasets). Unpartitioned
data uses the partition id ``""`` (DSS's ``NP``); methods given no ``partition``/``partitions`` act on the whole dataset. Values come back exactly as written: SQLite keeps None, int, float and unicode
text natively, and anything it would alter (booleans, integers wider than 64 bits, NaN, lists, dicts) is stored as a
JSON blob and decoded on read.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
from typing import Any, List, Optional, Sequence, Tuple

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


def _encode(value: Any) -> Any:
    """Turn a row value into something SQLite stores without changing it."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return json.dumps(value).encode("utf-8")
    if isinstance(value, int):
        if _INT64_MIN <= value <= _INT64_MAX:
            return value
        return json.dumps(value).encode("utf-8")
    if isinstance(value, float):
        if math.isnan(value):
            return b"NaN"
        return value
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


def _decode(value: Any) -> Any:
    if isinstance(value, bytes):
        return json.loads(value.decode("utf-8"))
    return value


class DatasetStorage:
    """Thread-safe row store: one SQLite in-memory connection shared by every thread, guarded by a lock."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        self._conn.execute(
            "CREATE TABLE catalog (id INTEGER PRIMARY KEY AUTOINCREMENT, project TEXT NOT NULL, name TEXT NOT NULL,"
            " partition TEXT NOT NULL DEFAULT '', columns TEXT NOT NULL, row_count INTEGER NOT NULL,"
            " UNIQUE (project, name, partition))"
        )
        self._widths: set = set()  # widths whose rows table exists

    def _entries(self, project_key: str, name: str, partitions: Optional[Sequence[str]] = None) -> List[tuple]:
        """``(id, partition, columns, row_count)`` of the dataset's stored partitions (all, or those asked for)."""
        rows = self._conn.execute(
            "SELECT id, partition, columns, row_count FROM catalog WHERE project = ? AND name = ? ORDER BY partition",
            (project_key, name),
        ).fetchall()
        if partitions is not None:
            wanted = set(partitions)
            rows = [row for row in rows if row[1] in wanted]
        return rows

    def _rows_table(self, width: int) -> str:
        """The table of every stored row ``width`` values wide (created on first use, with an index on the entry)."""
        table = f"rows_{width}"
        if width not in self._widths:
            # Columns without a declared type have no affinity: SQLite keeps every value's own type.
            values = ", ".join(f"c{i}" for i in range(width))
            self._conn.execute(f"CREATE TABLE IF NOT EXISTS {table} (entry INTEGER NOT NULL, {values})")
            self._conn.execute(f"CREATE INDEX IF NOT EXISTS {table}_entry ON {table} (entry)")
            self._widths.add(width)
        return table

    def write(
        self, project_key: str, name: str, columns: List[dict], rows: List[list], partition: Optional[str] = None
    ) -> None:
        """Replace the dataset's contents with ``rows`` (each a list aligned with ``columns``); with ``partition``,
        replace only that partition's rows."""
        width = len(columns)
        for index, row in enumerate(rows):
            if len(row) != width:
                raise ValueError(
                    f"row {index} of dataset {project_key}.{name} has {len(row)} values but the schema "
                    f"has {width} columns"
                )
        columns_json = json.dumps([dict(column) for column in columns], ensure_ascii=False)
        encoded = [[_encode(value) for value in row] for row in rows]
        with self._lock:
            # Created outside the transaction: a rollback must not undo a table ``_widths`` says exists.
            table = self._rows_table(width) if width and encoded else None
            self._conn.execute("BEGIN")
            try:
                self._drop(project_key, name, None if partition is None else [partition])
                cursor = self._conn.execute(
                    "INSERT INTO catalog (project, name, partition, columns, row_count) VALUES (?, ?, ?, ?, ?)",
                    (project_key, name, partition or "", columns_json, len(rows)),
                )
                entry = cursor.lastrowid
                if table is not None:  # rows without columns are only counted (row_count)
                    self._conn.executemany(
                        f"INSERT INTO {table} VALUES (?, {', '.join('?' * width)})", [[entry, *row] for row in encoded]
                    )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def read(
        self, project_key: str, name: str, partitions: Optional[Sequence[str]] = None
    ) -> Tuple[List[dict], List[list]]:
        """Return ``(columns, rows)`` in the order written (partitions in id order, each seen through the columns of
        the last one); ``([], [])`` when the dataset (or the partitions asked for) holds no data."""
        with self._lock:
            entries = self._entries(project_key, name, partitions)
            if not entries:
                return [], []
            columns = json.loads(entries[-1][2])
            names = [column.get("name") for column in columns]
            result: List[list] = []
            for entry, _, columns_json, row_count in entries:
                stored = json.loads(columns_json)
                if not stored:
                    result.extend([None] * len(names) for _ in range(row_count))
                    continue
                values = ", ".join(f"c{i}" for i in range(len(stored)))
                fetched = self._conn.execute(
                    f"SELECT {values} FROM {self._rows_table(len(stored))} WHERE entry = ? ORDER BY rowid", (entry,)
                ).fetchall()
                decoded = [[_decode(value) for value in row] for row in fetched]
                stored_names = [column.get("name") for column in stored]
                if stored_names != names:
                    positions = {n: i for i, n in enumerate(stored_names)}
                    picks = [positions.get(n) for n in names]
                    decoded = [[row[p] if p is not None else None for p in picks] for row in decoded]
                result.extend(decoded)
        if not columns:
            return columns, [[] for _ in result]
        return columns, result

    def count(self, project_key: str, name: str, partitions: Optional[Sequence[str]] = None) -> int:
        """Number of rows stored (0 when the dataset holds no data)."""
        with self._lock:
            return sum(entry[3] for entry in self._entries(project_key, name, partitions))

    def clear(self, project_key: str, name: str, partitions: Optional[Sequence[str]] = None) -> None:
        """Forget the dataset's data (as DSS's "clear"), or only some partitions of it."""
        with self._lock:
            self._drop(project_key, name, partitions)

    def has_data(self, project_key: str, name: str, partition: Optional[str] = None) -> bool:
        """True once rows were written (even zero rows) and until the dataset is cleared; with ``partition``, for that
        partition only."""
        with self._lock:
            return bool(self._entries(project_key, name, None if partition is None else [partition]))

    def partitions(self, project_key: str, name: str) -> List[str]:
        """Ids of the partitions holding data, sorted (unpartitioned data is left out)."""
        with self._lock:
            return [entry[1] for entry in self._entries(project_key, name) if entry[1]]

    def datasets(self, project_key: str) -> List[str]:
        """Names of the project's datasets that hold data, sorted."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT DISTINCT name FROM catalog WHERE project = ? ORDER BY name", (project_key,)
            ).fetchall()
        return [row[0] for row in rows]

    def clear_project(self, project_key: str) -> None:
        """Forget the data of every dataset of a project (used when a project is deleted)."""
        with self._lock:
            for name in self.datasets(project_key):
                self._drop(project_key, name)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _drop(self, project_key: str, name: str, partitions: Optional[Sequence[str]] = None) -> None:
        for entry, _, columns_json, row_count in self._entries(project_key, name, partitions):
            width = len(json.loads(columns_json))
            if width and row_count:
                self._conn.execute(f"DELETE FROM {self._rows_table(width)} WHERE entry = ?", (entry,))
            self._conn.execute("DELETE FROM catalog WHERE id = ?", (entry,))
