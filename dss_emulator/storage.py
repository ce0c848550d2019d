"""Rows of the emulated datasets, kept in one in-memory SQLite database.

Each dataset (keyed by project key and name) gets its own table; a catalog table maps the key to that table and keeps
the columns the rows were written with. Values come back exactly as written: SQLite keeps None, int, float and unicode
text natively, and anything it would alter (booleans, integers wider than 64 bits, NaN, lists, dicts) is stored as a
JSON blob and decoded on read.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
from typing import Any, List, Tuple

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
            " columns TEXT NOT NULL, row_count INTEGER NOT NULL, UNIQUE (project, name))"
        )

    def _table_id(self, project_key: str, name: str):
        row = self._conn.execute(
            "SELECT id FROM catalog WHERE project = ? AND name = ?", (project_key, name)
        ).fetchone()
        return None if row is None else row[0]

    def write(self, project_key: str, name: str, columns: List[dict], rows: List[list]) -> None:
        """Replace the dataset's contents with ``rows`` (each a list aligned with ``columns``)."""
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
            self._conn.execute("BEGIN")
            try:
                self._drop(project_key, name)
                cursor = self._conn.execute(
                    "INSERT INTO catalog (project, name, columns, row_count) VALUES (?, ?, ?, ?)",
                    (project_key, name, columns_json, len(rows)),
                )
                table = f"ds_{cursor.lastrowid}"
                # Columns without a declared type have no affinity: SQLite keeps every value's own type.
                column_defs = ", ".join([f"c{i}" for i in range(width)] or ["placeholder"])
                self._conn.execute(f"CREATE TABLE {table} ({column_defs})")
                if width and encoded:
                    self._conn.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * width)})", encoded)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def read(self, project_key: str, name: str) -> Tuple[List[dict], List[list]]:
        """Return ``(columns, rows)`` in the order written; ``([], [])`` when the dataset holds no data."""
        with self._lock:
            found = self._conn.execute(
                "SELECT id, columns, row_count FROM catalog WHERE project = ? AND name = ?", (project_key, name)
            ).fetchone()
            if found is None:
                return [], []
            table_id, columns_json, row_count = found
            columns = json.loads(columns_json)
            if not columns:
                return columns, [[] for _ in range(row_count)]
            fetched = self._conn.execute(f"SELECT * FROM ds_{table_id} ORDER BY rowid").fetchall()
        return columns, [[_decode(value) for value in row] for row in fetched]

    def count(self, project_key: str, name: str) -> int:
        """Number of rows stored (0 when the dataset holds no data)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT row_count FROM catalog WHERE project = ? AND name = ?", (project_key, name)
            ).fetchone()
        return 0 if row is None else row[0]

    def clear(self, project_key: str, name: str) -> None:
        """Forget the dataset's data (as DSS's "clear"): afterwards ``has_data`` is False."""
        with self._lock:
            self._drop(project_key, name)

    def has_data(self, project_key: str, name: str) -> bool:
        """True once rows were written (even zero rows) and until the dataset is cleared."""
        with self._lock:
            return self._table_id(project_key, name) is not None

    def datasets(self, project_key: str) -> List[str]:
        """Names of the project's datasets that hold data, sorted."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT name FROM catalog WHERE project = ? ORDER BY name", (project_key,)
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

    def _drop(self, project_key: str, name: str) -> None:
        table_id = self._table_id(project_key, name)
        if table_id is None:
            return
        self._conn.execute(f"DROP TABLE IF EXISTS ds_{table_id}")
        self._conn.execute("DELETE FROM catalog WHERE id = ?", (table_id,))
