"""``dataiku.scenario.Scenario`` as a custom step uses it; every call is recorded for assertions.

The real methods send JSON to the DSS backend, so values that are not JSON-serialisable fail here too.
"""

from __future__ import annotations

import json
import os

#: Every call of a ``Scenario`` method, in order: ``(method name, arguments dict)``. Tests clear it.
RECORDED_CALLS = []
#: Report item types the backend refuses (DSS may refuse items of a custom type); tests fill and clear it.
REFUSED_REPORT_ITEM_TYPES = set()


class Scenario:
    """Handle to the running scenario (the double records instead of calling the backend)."""

    def __init__(self):
        self.project_key = os.environ.get("DKU_CURRENT_PROJECT_KEY")

    def set_scenario_variables(self, **kwargs):
        json.dumps(kwargs)
        RECORDED_CALLS.append(("set_scenario_variables", dict(kwargs)))

    def add_report_item(self, object_ref, partition, report_item):
        json.dumps(report_item)
        if report_item.get("type") in REFUSED_REPORT_ITEM_TYPES:
            raise Exception(f"Failed to add report item: unknown report item type {report_item.get('type')}")
        RECORDED_CALLS.append(
            ("add_report_item", {"object_ref": object_ref, "partition": partition, "report_item": report_item})
        )

    def set_project_variables(self, project_key=None, **kwargs):
        json.dumps(kwargs)
        RECORDED_CALLS.append(("set_project_variables", {"project_key": project_key, "variables": dict(kwargs)}))


def recorded_variables() -> dict:
    """All scenario variables set so far, later calls overriding earlier ones."""
    merged = {}
    for name, args in RECORDED_CALLS:
        if name == "set_scenario_variables":
            merged.update(args)
    return merged


def recorded_report_items() -> list:
    return [args for name, args in RECORDED_CALLS if name == "add_report_item"]
