"""``dataiku.runnables`` as macros see it: the ``Runnable`` base class DSS scans for, and ``ResultTable``."""

from __future__ import annotations


class Runnable:
    """Base class of a macro: DSS instantiates the one strict subclass found in ``runnable.py``."""

    def __init__(self, project_key, config, plugin_config):
        self.project_key = project_key
        self.config = config
        self.plugin_config = plugin_config

    def get_progress_target(self):
        """``None`` or ``(target, unit)`` with unit in SIZE, FILES, RECORDS, NONE."""
        return None

    def run(self, progress_callback):
        raise Exception("unimplemented")


class ResultTable:
    """A table result (``resultType: RESULT_TABLE``), sent to DSS through ``to_json()``."""

    def __init__(self):
        self.columns = []
        self.records = []
        self.header = None
        self.name = None

    def add_column(self, name, display_name, type="STRING"):  # noqa: A002 - DSS's own parameter name
        self.columns.append({"name": name, "displayName": display_name, "type": type})

    def add_record(self, record):
        if len(record) != len(self.columns):
            raise ValueError(f"record has {len(record)} values for {len(self.columns)} columns")
        self.records.append(list(record))

    def set_header(self, header):
        self.header = header

    def set_name(self, name):
        self.name = name

    def to_json(self):
        return {"header": self.header, "columns": self.columns, "records": self.records, "name": self.name}
